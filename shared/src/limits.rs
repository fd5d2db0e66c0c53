//! Per-tenant ingest limits, with Pyroscope's names and defaults (api.md, "Limits"): from the
//! server configuration's `limits` section, with `overrides` per tenant; a component reads
//! them from [`TenantLimits::ENV`] and [`TenantLimits::ENV_OVERRIDES`] (JSON).
//!
//! Parsing an upload checks only what makes it an upload (label names, formats); these limits
//! are applied afterwards, per tenant, by [`IngestLimits::apply`], so that a tenant can be
//! given more than the defaults as well as less. `0` means no limit, as in Pyroscope.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::ingest::IngestError;
use crate::profile::{Profile, ProfileError};
use crate::tenant::Tenant;
use crate::{Error, Result};

/// The limits one tenant's uploads are held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestLimits {
    /// Samples (distinct stacks and labels) a profile may have; more is a 413.
    pub max_profile_stacktrace_samples: usize,
    /// Frames kept of a stack: deeper stacks lose their leaf-most frames.
    pub max_profile_stacktrace_depth: usize,
    /// Labels a series may have; more is a 400.
    pub max_label_names_per_series: usize,
    /// Bytes a label value may have; more is a 400.
    pub max_label_value_length: usize,
}

impl Default for IngestLimits {
    /// Pyroscope's defaults.
    fn default() -> Self {
        IngestLimits {
            max_profile_stacktrace_samples: 16_000,
            max_profile_stacktrace_depth: 1000,
            max_label_names_per_series: 30,
            max_label_value_length: 2048,
        }
    }
}

/// `limit` unless it is 0 (no limit).
fn bound(limit: usize) -> usize {
    if limit == 0 { usize::MAX } else { limit }
}

impl IngestLimits {
    /// The limits' names, as configured (Pyroscope's): what a configuration's `limits`
    /// section holds of them (other keys are Pyroscope's own, not applied here).
    pub fn names() -> Vec<String> {
        match serde_json::to_value(IngestLimits::default()) {
            Ok(serde_json::Value::Object(fields)) => fields.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// Holds parsed profiles to these limits: refuses the upload if one has too many samples,
    /// labels or too long a label value (naming the limit and the value); cuts deep stacks.
    pub fn apply(&self, mut profiles: Vec<Profile>) -> Result<Vec<Profile>> {
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
            let depth = bound(self.max_profile_stacktrace_depth);
            for s in &mut profile.samples {
                s.stack.truncate(depth);
            }
        }
        Ok(profiles)
    }
}

/// Every tenant's limits: the defaults, and whole or partial overrides by tenant id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantLimits {
    defaults: IngestLimits,
    overrides: BTreeMap<String, IngestLimits>,
}

impl TenantLimits {
    /// Environment variable: the defaults, a JSON object of any of [`IngestLimits`]' fields.
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
        let object = |name: &'static str| -> Result<serde_json::Map<String, serde_json::Value>> {
            match get(name).filter(|v| !v.trim().is_empty()) {
                None => Ok(serde_json::Map::new()),
                Some(v) => serde_json::from_str(&v).map_err(|_| bad(name, &v)),
            }
        };
        // Builds limits from the built-in defaults with `layers` laid over them in turn.
        let merged = |layers: &[&serde_json::Map<String, serde_json::Value>], name, text: &str| {
            let mut all = match serde_json::to_value(IngestLimits::default()) {
                Ok(serde_json::Value::Object(all)) => all,
                _ => serde_json::Map::new(),
            };
            for layer in layers {
                all.extend(layer.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            serde_json::from_value::<IngestLimits>(serde_json::Value::Object(all))
                .map_err(|e| bad(name, &format!("{text} ({e})")))
        };
        let defaults_json = object(Self::ENV)?;
        let defaults_text = get(Self::ENV).unwrap_or_default();
        let defaults = merged(&[&defaults_json], Self::ENV, &defaults_text)?;
        let mut overrides = BTreeMap::new();
        for (tenant, layer) in object(Self::ENV_OVERRIDES)? {
            let text = layer.to_string();
            let serde_json::Value::Object(layer) = layer else {
                return Err(bad(Self::ENV_OVERRIDES, &text));
            };
            let limits = merged(&[&defaults_json, &layer], Self::ENV_OVERRIDES, &text)?;
            overrides.insert(tenant, limits);
        }
        Ok(TenantLimits {
            defaults,
            overrides,
        })
    }

    /// The limits of `tenant`.
    pub fn of(&self, tenant: &Tenant) -> IngestLimits {
        self.overrides
            .get(tenant.as_str())
            .copied()
            .unwrap_or(self.defaults)
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
        assert!(cut[0].samples.iter().all(|s| s.stack.len() == 1000));
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
        let none = IngestLimits {
            max_profile_stacktrace_samples: 0,
            max_profile_stacktrace_depth: 0,
            max_label_names_per_series: 0,
            max_label_value_length: 0,
        };
        assert!(none.apply(vec![profile(40, 17_000, 1, 3000)]).is_ok());
        let all = none.apply(vec![profile(1, 1, 1100, 1)]).unwrap();
        assert_eq!(all[0].samples[0].stack.len(), 1100);
    }

    #[test]
    fn tenants_get_the_defaults_with_their_overrides_laid_over() {
        let env = |name: &str| {
            match name {
            TenantLimits::ENV => Some(r#"{"max_label_names_per_series": 40}"#.to_string()),
            TenantLimits::ENV_OVERRIDES => Some(
                r#"{"big": {"max_profile_stacktrace_samples": 100000}, "small": {"max_label_names_per_series": 5}}"#
                    .to_string(),
            ),
            _ => None,
        }
        };
        let limits = TenantLimits::from_config(env).unwrap();
        let of = |t: &str| limits.of(&Tenant::from_header(Some(t)).unwrap());
        assert_eq!(of("other").max_label_names_per_series, 40);
        assert_eq!(of("other").max_profile_stacktrace_samples, 16_000);
        assert_eq!(of("big").max_profile_stacktrace_samples, 100_000);
        assert_eq!(of("big").max_label_names_per_series, 40);
        assert_eq!(of("small").max_label_names_per_series, 5);
        // Unset: the defaults.
        assert_eq!(
            TenantLimits::from_config(|_| None)
                .unwrap()
                .of(&Tenant::from_header(None).unwrap()),
            IngestLimits::default()
        );
        // A misspelt or mistyped limit names the variable and the value.
        for (name, value) in [
            (TenantLimits::ENV, r#"{"max_samples": 5}"#),
            (TenantLimits::ENV, r#"{"max_label_names_per_series": -1}"#),
            (TenantLimits::ENV_OVERRIDES, r#"{"a": 5}"#),
            (TenantLimits::ENV, "[1]"),
        ] {
            let e = TenantLimits::from_config(|n| (n == name).then(|| value.to_string()))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(&format!("{name}=")), "{e}");
        }
    }
}
