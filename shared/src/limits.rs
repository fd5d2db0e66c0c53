//! Per-tenant limits, with Pyroscope's names and defaults (api.md, "Limits"): from the
//! server configuration's `limits` section, with `overrides` per tenant; a component reads
//! them from [`TenantLimits::ENV`] and [`TenantLimits::ENV_OVERRIDES`] (JSON, one object of
//! ingest and query limits by name).
//!
//! Parsing an upload checks only what makes it an upload (label names, formats) and bounds
//! decompression by [`IngestLimits::max_profile_bytes`]; the other ingest limits are applied
//! afterwards, per tenant, by [`IngestLimits::apply`], so that a tenant can be given more
//! than the defaults as well as less. The query limits bound every query's range and flame
//! graph ([`crate::query::QueryContext`]). `0` means no limit, as in Pyroscope.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::ingest::IngestError;
use crate::profile::{Dictionary, Profile, ProfileError};
use crate::render::flamebearer::{DEFAULT_MAX_NODES, MAX_MAX_NODES};
use crate::tenant::Tenant;
use crate::wire::body::MAX_BODY_BYTES;
use crate::{Error, Result};

/// Pyroscope's default `max_profile_size_bytes`.
pub const DEFAULT_MAX_PROFILE_BYTES: usize = 4 << 20;

/// The limits one tenant's uploads are held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestLimits {
    /// Bytes a profile may have once decompressed; more is a 413.
    pub max_profile_size_bytes: usize,
    /// Samples (distinct stacks and labels) a profile may have; more is a 413.
    pub max_profile_stacktrace_samples: usize,
    /// Frames kept of a stack: deeper stacks lose their leaf-most frames.
    pub max_profile_stacktrace_depth: usize,
    /// Bytes kept of a symbol (function, system and file names, mappings' files and build
    /// ids): longer ones keep their last bytes, as the reference server cuts them.
    pub max_profile_symbol_value_length: usize,
    /// Series one tenant may have; a request with more distinct series alone is a 429. (The
    /// reference counts the tenant's active series across requests; that needs a running
    /// count no stateless function keeps yet.)
    pub max_global_series_per_tenant: usize,
    /// Labels a series may have; more is a 400.
    pub max_label_names_per_series: usize,
    /// Bytes a label name may have; more is a 400.
    pub max_label_name_length: usize,
    /// Bytes a label value may have; more is a 400.
    pub max_label_value_length: usize,
}

impl Default for IngestLimits {
    /// Pyroscope's defaults.
    fn default() -> Self {
        IngestLimits {
            max_profile_size_bytes: DEFAULT_MAX_PROFILE_BYTES,
            max_profile_stacktrace_samples: 16_000,
            max_profile_stacktrace_depth: 1000,
            max_profile_symbol_value_length: 65_535,
            max_global_series_per_tenant: 5000,
            max_label_names_per_series: 30,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
        }
    }
}

/// The limits one tenant's queries are held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryLimits {
    /// The longest range a query may span (ns; `None`: no limit); a longer one is a 400.
    #[serde(with = "duration_limit")]
    pub max_query_length: Option<i64>,
    /// How far back a query may reach (ns; `None`: no limit); an earlier start is clamped.
    #[serde(with = "duration_limit")]
    pub max_query_lookback: Option<i64>,
    /// Flame-graph nodes when a request names no limit.
    pub max_flamegraph_nodes_default: usize,
    /// The largest node limit a request may ask for; more is a 400.
    pub max_flamegraph_nodes_max: usize,
}

impl Default for QueryLimits {
    /// Pyroscope's, except the range limits: off, as this project answers 30-day ranges
    /// quickly (api.md), and a maximum node limit where Pyroscope has none.
    fn default() -> Self {
        QueryLimits {
            max_query_length: None,
            max_query_lookback: None,
            max_flamegraph_nodes_default: DEFAULT_MAX_NODES,
            max_flamegraph_nodes_max: MAX_MAX_NODES,
        }
    }
}

impl QueryLimits {
    /// With the tenant's retention `period` (ns; `None` keeps everything) as a lookback too:
    /// a query never reaches data older than the retention, even before it is deleted.
    pub fn with_retention(mut self, period: Option<i64>) -> Self {
        self.max_query_lookback = match (self.max_query_lookback, period) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self
    }

    /// The largest node limit a request may ask for.
    pub fn max_nodes_max(&self) -> usize {
        bound(self.max_flamegraph_nodes_max)
    }

    /// Flame-graph nodes when a request names no limit (at most the maximum).
    pub fn max_nodes_default(&self) -> usize {
        bound(self.max_flamegraph_nodes_default).min(self.max_nodes_max())
    }
}

/// A duration limit as configured: `24h`, `7d`; `0` (or `0s`) for none.
mod duration_limit {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    use crate::time::NANOS_PER_SECOND;

    pub fn serialize<S: Serializer>(value: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            None => s.serialize_str("0"),
            Some(n) => s.serialize_str(&format!("{}s", n / NANOS_PER_SECOND)),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Text {
            Text(String),
            Number(u64),
        }
        let text = match Text::deserialize(d)? {
            Text::Text(t) => t,
            Text::Number(n) => n.to_string(),
        };
        match crate::time::parse_duration(&text) {
            _ if text == "0" => Ok(None),
            Some(0) => Ok(None),
            Some(n) if n > 0 => Ok(Some(n)),
            _ => Err(D::Error::custom(format!(
                "`{text}` is not a duration such as 24h or 7d"
            ))),
        }
    }
}

/// One tenant's limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// What its uploads are held to.
    pub ingest: IngestLimits,
    /// What its queries are held to.
    pub query: QueryLimits,
}

type Object = serde_json::Map<String, serde_json::Value>;

/// The fields of a limits struct as a JSON object.
fn fields(limits: impl Serialize) -> Object {
    match serde_json::to_value(limits) {
        Ok(serde_json::Value::Object(fields)) => fields,
        _ => Object::new(),
    }
}

impl Limits {
    /// The limits' names, as configured (Pyroscope's): what a configuration's `limits`
    /// section holds of them (other keys are Pyroscope's own, not applied here).
    pub fn names() -> Vec<String> {
        let mut names: Vec<String> = fields(IngestLimits::default()).keys().cloned().collect();
        names.extend(fields(QueryLimits::default()).keys().cloned());
        names
    }

    /// The defaults with `layers` laid over them in turn; a key that names no limit, or a
    /// value of the wrong kind, is an error saying which.
    fn layered(layers: &[&Object]) -> std::result::Result<Self, String> {
        let mut ingest = fields(IngestLimits::default());
        let mut query = fields(QueryLimits::default());
        for layer in layers {
            for (k, v) in layer.iter() {
                let into = if ingest.contains_key(k) {
                    &mut ingest
                } else {
                    // An unknown key fails there, named by serde.
                    &mut query
                };
                into.insert(k.clone(), v.clone());
            }
        }
        let ingest = serde_json::from_value(serde_json::Value::Object(ingest));
        let query = serde_json::from_value(serde_json::Value::Object(query));
        Ok(Limits {
            ingest: ingest.map_err(|e| e.to_string())?,
            query: query.map_err(|e| e.to_string())?,
        })
    }
}

/// `limit` unless it is 0 (no limit).
fn bound(limit: usize) -> usize {
    if limit == 0 { usize::MAX } else { limit }
}

/// At most 64 characters of `text`, marked when cut: an error names a long value this way.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

impl IngestLimits {
    /// Bytes a profile may decompress to: the limit, or when there is none the request
    /// body's, which bounds what any request can make a function allocate.
    pub fn max_profile_bytes(&self) -> usize {
        match self.max_profile_size_bytes {
            0 => MAX_BODY_BYTES,
            n => n,
        }
    }

    /// Refuses a request of `series` distinct series if that is over the limit (a request
    /// that names its series, a Push, is checked before its profiles are decoded).
    pub fn check_series(&self, series: usize) -> Result<()> {
        let max = bound(self.max_global_series_per_tenant);
        if series > max {
            return Err(IngestError::TooManySeries { series, max }.into());
        }
        Ok(())
    }

    /// Holds parsed profiles to these limits: refuses the upload if one has too many samples,
    /// labels or too long a label name or value (naming the limit and the value); cuts deep
    /// stacks and long symbols.
    pub fn apply(&self, mut profiles: Vec<Profile>) -> Result<Vec<Profile>> {
        if profiles.len() > bound(self.max_global_series_per_tenant) {
            let series: HashSet<_> = profiles.iter().map(|p| &p.series).collect();
            self.check_series(series.len())?;
        }
        // The profiles of one upload share a dictionary: each is measured and cut once.
        let mut cut: Vec<(*const Dictionary, Option<Arc<Dictionary>>)> = Vec::new();
        let mut depths: Vec<(*const Dictionary, Vec<u32>)> = Vec::new();
        let max_symbol = bound(self.max_profile_symbol_value_length);
        for profile in &mut profiles {
            let labels = &profile.series.labels;
            let max = bound(self.max_label_names_per_series);
            if labels.len() > max {
                return Err(ProfileError::TooManyLabels {
                    labels: labels.len(),
                    max,
                }
                .into());
            }
            let max = bound(self.max_label_name_length);
            if let Some(name) = labels.keys().find(|k| k.len() > max) {
                return Err(ProfileError::LabelNameTooLong {
                    name: excerpt(name),
                    bytes: name.len(),
                    max,
                }
                .into());
            }
            let max = bound(self.max_label_value_length);
            if let Some((name, value)) = labels.iter().find(|(_, v)| v.len() > max) {
                return Err(ProfileError::LabelValueTooLong {
                    name: name.clone(),
                    bytes: value.len(),
                    max,
                }
                .into());
            }
            let max = bound(self.max_profile_stacktrace_samples);
            if profile.samples.len() > max {
                return Err(IngestError::TooManySamples {
                    samples: profile.samples.len(),
                    max,
                }
                .into());
            }
            let depth = u32::try_from(bound(self.max_profile_stacktrace_depth)).unwrap_or(u32::MAX);
            // A dictionary with no more stacks than the limit has no stack deeper than it.
            if profile.dict.stack_count() > depth as usize {
                let key = Arc::as_ptr(&profile.dict);
                let known = depths.iter().position(|(k, _)| *k == key);
                let at = known.unwrap_or_else(|| {
                    depths.push((key, profile.dict.stack_depths()));
                    depths.len() - 1
                });
                let of = &depths[at].1;
                for s in &mut profile.samples {
                    // Keeps the `depth` frames nearest the root.
                    let d = s
                        .stack
                        .index()
                        .and_then(|i| of.get(i))
                        .copied()
                        .unwrap_or(0);
                    if d > depth {
                        s.stack = profile.dict.ancestor(s.stack, d - depth);
                    }
                }
            }
            // Once per dictionary: its cut copy, or `None` when no symbol is over the limit.
            let key = Arc::as_ptr(&profile.dict);
            let seen = cut.iter().find(|(k, _)| *k == key).map(|(_, d)| d.clone());
            let replacement = seen.unwrap_or_else(|| {
                let replacement = (profile.dict.longest_symbol() > max_symbol).then(|| {
                    let mut dict = Dictionary::clone(&profile.dict);
                    dict.cut_symbols(max_symbol);
                    Arc::new(dict)
                });
                cut.push((key, replacement.clone()));
                replacement
            });
            if let Some(dict) = replacement {
                profile.dict = dict;
            }
        }
        Ok(profiles)
    }
}

/// Every tenant's limits: the defaults, and whole or partial overrides by tenant id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantLimits {
    defaults: Limits,
    overrides: BTreeMap<String, Limits>,
}

impl TenantLimits {
    /// Environment variable: the defaults, a JSON object of any of the limits by name.
    pub const ENV: &str = "FLAMELET_LIMITS";
    /// Environment variable: per-tenant overrides, a JSON object of tenant id → such object.
    pub const ENV_OVERRIDES: &str = "FLAMELET_LIMITS_OVERRIDES";

    /// Reads the limits from configuration values by name (the environment in a component).
    pub fn from_config(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let bad = |name: &'static str, value: &str| -> Error {
            ConfigError {
                name,
                value: value.to_string(),
                expected: "a JSON object of limits by their Pyroscope names",
            }
            .into()
        };
        let object = |name: &'static str| -> Result<Object> {
            match get(name).filter(|v| !v.trim().is_empty()) {
                None => Ok(Object::new()),
                Some(v) => serde_json::from_str(&v).map_err(|_| bad(name, &v)),
            }
        };
        let layered = |layers: &[&Object], name, text: &str| {
            Limits::layered(layers).map_err(|e| bad(name, &format!("{text} ({e})")))
        };
        let defaults_json = object(Self::ENV)?;
        let defaults_text = get(Self::ENV).unwrap_or_default();
        let defaults = layered(&[&defaults_json], Self::ENV, &defaults_text)?;
        let mut overrides = BTreeMap::new();
        for (tenant, layer) in object(Self::ENV_OVERRIDES)? {
            let text = layer.to_string();
            let serde_json::Value::Object(layer) = layer else {
                return Err(bad(Self::ENV_OVERRIDES, &text));
            };
            let limits = layered(&[&defaults_json, &layer], Self::ENV_OVERRIDES, &text)?;
            overrides.insert(tenant, limits);
        }
        Ok(TenantLimits {
            defaults,
            overrides,
        })
    }

    /// The limits of `tenant`.
    pub fn of(&self, tenant: &Tenant) -> Limits {
        self.overrides
            .get(tenant.as_str())
            .copied()
            .unwrap_or(self.defaults)
    }

    /// The limits of a tenant without overrides.
    pub fn defaults(&self) -> Limits {
        self.defaults
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Labels, NamedSample, ProfileType, Series};

    fn profile(labels: usize, samples: usize, depth: usize, value_bytes: usize) -> Profile {
        let mut l = Labels::new();
        l.insert("service_name".into(), "v".repeat(value_bytes));
        for i in 1..labels {
            l.insert(format!("l{i}"), "v".into());
        }
        let series = Series {
            profile_type: ProfileType::parse("process_cpu:cpu:nanoseconds:cpu:nanoseconds")
                .unwrap(),
            labels: l,
        };
        let named = (0..samples)
            .map(|i| NamedSample {
                stack: (0..depth).map(|d| format!("f{i}_{d}")).collect(),
                value: 1,
            })
            .collect();
        Profile::from_named(series, 0, named)
    }

    #[test]
    fn the_defaults_are_pyroscopes_and_each_limit_names_itself() {
        let limits = IngestLimits::default();
        assert!(limits.apply(vec![profile(30, 16_000, 1, 2048)]).is_ok());
        let cut = limits.apply(vec![profile(1, 2, 1200, 1)]).unwrap();
        for (i, s) in cut[0].samples.iter().enumerate() {
            // The 1000 frames nearest the root stay.
            let names: Vec<&str> = cut[0].names(s).collect();
            let kept: Vec<String> = (0..1000).map(|d| format!("f{i}_{d}")).collect();
            assert_eq!(names, kept);
        }
        let err = |p| limits.apply(vec![p]).unwrap_err().to_string();
        assert_eq!(
            err(profile(31, 1, 1, 1)),
            "series has 31 labels, more than 30"
        );
        assert_eq!(
            err(profile(1, 1, 1, 2049)),
            "value of label `service_name` is 2049 bytes, more than 2048"
        );
        assert!(err(profile(1, 16_001, 1, 1)).contains("16001"));
        let mut long_name = profile(1, 1, 1, 1);
        let name = format!("n{}", "x".repeat(1024));
        long_name.series.labels.insert(name, "v".into());
        let e = limits.apply(vec![long_name.clone()]).unwrap_err();
        assert_eq!(e.reject_reason(), Some("max_label_name_length"));
        assert_eq!(
            e.to_string(),
            format!(
                "label name `n{}…` is 1025 bytes, more than 1024",
                "x".repeat(63)
            )
        );
        // Series: distinct label sets of one request; repeats of one series count once.
        let series = |n: usize| -> Vec<Profile> {
            (0..n)
                .map(|i| {
                    let mut p = profile(1, 1, 1, 1);
                    p.series
                        .labels
                        .insert("pod".into(), format!("p{}", i % 5001));
                    p
                })
                .collect()
        };
        assert!(limits.apply(series(5000)).is_ok());
        let e = limits.apply(series(5001)).unwrap_err();
        assert_eq!(e.kind().http_status(), 429);
        assert_eq!(e.reject_reason(), Some("max_global_series_per_tenant"));
        assert_eq!(
            e.to_string(),
            "request has 5001 series, more than the tenant's 5000"
        );
        assert!(limits.apply(series(6000)).is_err());
        let mut repeated = series(5000);
        repeated.extend(series(10));
        assert!(limits.apply(repeated).is_ok());
        let none = IngestLimits {
            max_profile_size_bytes: 0,
            max_profile_stacktrace_samples: 0,
            max_profile_stacktrace_depth: 0,
            max_profile_symbol_value_length: 0,
            max_global_series_per_tenant: 0,
            max_label_names_per_series: 0,
            max_label_name_length: 0,
            max_label_value_length: 0,
        };
        assert!(none.apply(vec![profile(40, 17_000, 1, 3000)]).is_ok());
        assert!(none.apply(vec![long_name]).is_ok());
        let all = none.apply(vec![profile(1, 1, 1100, 1)]).unwrap();
        assert_eq!(all[0].names(&all[0].samples[0]).count(), 1100);
        assert_eq!(none.max_profile_bytes(), MAX_BODY_BYTES);
        assert_eq!(limits.max_profile_bytes(), 4 << 20);
    }

    #[test]
    fn long_symbols_keep_their_last_bytes_once_per_shared_dictionary() {
        let long = format!("{}é{}", "a".repeat(70_000), "z".repeat(65_534));
        let mut p = profile(1, 1, 1, 1);
        let mut dict = Dictionary::clone(&p.dict);
        let id = dict.function(crate::profile::Function {
            name: long.clone(),
            filename: "short.go".into(),
            ..Default::default()
        });
        let dict = Arc::new(dict);
        p.dict = dict.clone();
        let twin = p.clone();
        let out = IngestLimits::default().apply(vec![p, twin]).unwrap();
        let name = &out[0].dict.functions[id as usize].name;
        // 65535 bytes from the end would split `é`: the cut moves past it.
        assert_eq!(name, &"z".repeat(65_534));
        assert_eq!(out[0].dict.functions[id as usize].filename, "short.go");
        assert!(Arc::ptr_eq(&out[0].dict, &out[1].dict), "cut once, shared");
        assert!(
            !Arc::ptr_eq(&out[0].dict, &dict),
            "the upload's own is left"
        );
        let wide = IngestLimits {
            max_profile_symbol_value_length: 0,
            ..IngestLimits::default()
        };
        let kept = wide.apply(vec![out[0].clone()]).unwrap();
        assert!(Arc::ptr_eq(&kept[0].dict, &out[0].dict), "nothing to cut");
        let mut exact = Dictionary::clone(&dict);
        exact.cut_symbols(65_536);
        assert_eq!(
            exact.functions[id as usize].name,
            format!("é{}", "z".repeat(65_534))
        );
    }

    #[test]
    fn tenants_get_the_defaults_with_their_overrides_laid_over() {
        let env = |name: &str| {
            match name {
            TenantLimits::ENV => Some(r#"{"max_label_names_per_series": 40, "max_query_length": "1d"}"#.to_string()),
            TenantLimits::ENV_OVERRIDES => Some(
                r#"{"big": {"max_profile_stacktrace_samples": 100000, "max_flamegraph_nodes_max": 0}, "small": {"max_label_names_per_series": 5, "max_query_length": "0", "max_query_lookback": "7d"}}"#
                    .to_string(),
            ),
            _ => None,
        }
        };
        let limits = TenantLimits::from_config(env).unwrap();
        let of = |t: &str| limits.of(&Tenant::from_header(Some(t)).unwrap());
        let day = 86_400 * crate::time::NANOS_PER_SECOND;
        assert_eq!(of("other").ingest.max_label_names_per_series, 40);
        assert_eq!(of("other").ingest.max_profile_stacktrace_samples, 16_000);
        assert_eq!(of("other").query.max_query_length, Some(day));
        assert_eq!(of("other"), limits.defaults());
        assert_eq!(of("big").ingest.max_profile_stacktrace_samples, 100_000);
        assert_eq!(of("big").ingest.max_label_names_per_series, 40);
        assert_eq!(of("big").query.max_nodes_max(), usize::MAX);
        assert_eq!(of("big").query.max_nodes_default(), 8192);
        assert_eq!(of("small").ingest.max_label_names_per_series, 5);
        assert_eq!(of("small").query.max_query_length, None);
        assert_eq!(of("small").query.max_query_lookback, Some(7 * day));
        // Unset: the defaults.
        assert_eq!(
            TenantLimits::from_config(|_| None)
                .unwrap()
                .of(&Tenant::from_header(None).unwrap()),
            Limits::default()
        );
        assert_eq!(Limits::names().len(), 12);
        // A misspelt or mistyped limit names the variable and the value.
        for (name, value) in [
            (TenantLimits::ENV, r#"{"max_samples": 5}"#),
            (TenantLimits::ENV, r#"{"max_label_names_per_series": -1}"#),
            (TenantLimits::ENV, r#"{"max_query_length": "soon"}"#),
            (TenantLimits::ENV, r#"{"max_query_lookback": 5}"#),
            (TenantLimits::ENV_OVERRIDES, r#"{"a": 5}"#),
            (TenantLimits::ENV, "[1]"),
        ] {
            let e = TenantLimits::from_config(|n| (n == name).then(|| value.to_string()))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(&format!("{name}=")), "{e}");
        }
        let e = TenantLimits::from_config(|n| {
            (n == TenantLimits::ENV).then(|| r#"{"max_query_length": "soon"}"#.into())
        })
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("`soon` is not a duration such as 24h or 7d"),
            "{e}"
        );
    }
}
