//! The data model: profile types, label sets (series) and profiles.
//!
//! A series is a label set that always has `service_name` and `__name__`; its profile type
//! (`name:sample_type:sample_unit:period_type:period_unit`) also shows as the private labels
//! `__profile_type__`, `__type__`, `__unit__`, `__period_type__`, `__period_unit__`. A profile
//! is one upload for one series at one time: stacks (root first) with values.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

mod dictionary;

pub(crate) use dictionary::Ids;
pub use dictionary::{Dictionary, Frame, Function, Link, Mapping, Stack};

use crate::{FastMap, Result};

/// Why a profile type or a label set is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    /// A profile type ID does not have its five parts.
    #[error(
        "invalid profile type `{id}`: expected name:sample_type:sample_unit:period_type:period_unit"
    )]
    InvalidProfileType {
        /// The ID sent.
        id: String,
    },
    /// A label name has characters outside ASCII letters, digits and `_`.
    #[error("invalid label name `{name}`: use ASCII letters, digits and `_`")]
    InvalidLabelName {
        /// The name (escaped).
        name: String,
    },
    /// A series has more labels than allowed.
    #[error("series has {labels} labels, more than {max}")]
    TooManyLabels {
        /// Its labels.
        labels: usize,
        /// The limit.
        max: usize,
    },
    /// A label name is longer than allowed.
    #[error("label name `{name}` is {bytes} bytes, more than {max}")]
    LabelNameTooLong {
        /// The name (its start, if long).
        name: String,
        /// Its length.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// A label value is longer than allowed.
    #[error("value of label `{name}` is {bytes} bytes, more than {max}")]
    LabelValueTooLong {
        /// The label.
        name: String,
        /// The value's length.
        bytes: usize,
        /// The limit.
        max: usize,
    },
}

/// The label that holds the service (application) name.
pub const SERVICE_NAME: &str = "service_name";
/// The label that holds the profile metric name (`process_cpu`, `memory`, …).
pub const METRIC_NAME: &str = "__name__";
/// The private label that holds the profile type ID.
pub const PROFILE_TYPE_LABEL: &str = "__profile_type__";

/// A profile type: what was measured, in which unit, sampled how.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ProfileType {
    /// The metric name, also `__name__` (`process_cpu`, `memory`, …).
    pub name: String,
    /// The sample type (`cpu`, `alloc_objects`, …).
    pub sample_type: String,
    /// The sample unit (`nanoseconds`, `count`, `bytes`, …).
    pub sample_unit: String,
    /// The period type (may be empty).
    pub period_type: String,
    /// The period unit (may be empty).
    pub period_unit: String,
}

impl ProfileType {
    /// Builds a profile type from its five parts.
    pub fn new(
        name: &str,
        sample_type: &str,
        sample_unit: &str,
        period_type: &str,
        period_unit: &str,
    ) -> Self {
        ProfileType {
            name: name.into(),
            sample_type: sample_type.into(),
            sample_unit: sample_unit.into(),
            period_type: period_type.into(),
            period_unit: period_unit.into(),
        }
    }

    /// Parses an ID `name:sample_type:sample_unit:period_type:period_unit`.
    pub fn parse(id: &str) -> Result<Self> {
        let parts: Vec<&str> = id.split(':').collect();
        if parts.len() != 5 || parts[..3].iter().any(|p| p.is_empty()) {
            return Err(ProfileError::InvalidProfileType { id: id.to_string() }.into());
        }
        Ok(ProfileType::new(
            parts[0], parts[1], parts[2], parts[3], parts[4],
        ))
    }

    /// Returns the ID `name:sample_type:sample_unit:period_type:period_unit`.
    pub fn id(&self) -> String {
        self.to_string()
    }

    /// Maps a legacy application-name suffix (`app.cpu`, `app.alloc_objects`…) to its profile
    /// type, and tells whether values are sample counts to scale by 1e9/sampleRate.
    /// `None` for an unknown suffix.
    pub fn from_legacy_suffix(suffix: Option<&str>) -> Option<(Self, bool)> {
        let t = |a, b, c, d, e| ProfileType::new(a, b, c, d, e);
        Some(match suffix {
            None | Some("cpu") | Some("itimer") => (
                t("process_cpu", "cpu", "nanoseconds", "cpu", "nanoseconds"),
                true,
            ),
            Some("wall") => (t("wall", "wall", "nanoseconds", "cpu", "nanoseconds"), true),
            Some(s @ ("inuse_space" | "alloc_space")) => (t("memory", s, "bytes", "", ""), false),
            Some(s @ ("inuse_objects" | "alloc_objects")) => {
                (t("memory", s, "count", "", ""), false)
            }
            Some("goroutines") => (t("goroutine", "goroutines", "count", "", ""), false),
            Some("mutex_count") => (t("mutex", "contentions", "count", "", ""), false),
            Some("mutex_duration") => (t("mutex", "delay", "nanoseconds", "", ""), false),
            Some("block_count") => (t("block", "contentions", "count", "", ""), false),
            Some("block_duration") => (t("block", "delay", "nanoseconds", "", ""), false),
            Some(_) => return None,
        })
    }

    /// Returns the `units` and `sampleRate` a flame-graph client expects for this type.
    pub fn render_units(&self) -> (&'static str, u64) {
        match self.sample_type.as_str() {
            "cpu" => ("samples", 1_000_000_000),
            "inuse_objects" | "alloc_objects" | "goroutine" | "goroutines" | "samples" => {
                ("objects", 100)
            }
            _ => (unit_name(&self.sample_unit), 100),
        }
    }

    /// Returns the private labels that describe this type (`__profile_type__`, `__type__`…).
    pub fn private_labels(&self) -> [(&'static str, String); 5] {
        [
            (PROFILE_TYPE_LABEL, self.id()),
            ("__type__", self.sample_type.clone()),
            ("__unit__", self.sample_unit.clone()),
            ("__period_type__", self.period_type.clone()),
            ("__period_unit__", self.period_unit.clone()),
        ]
    }
}

fn unit_name(unit: &str) -> &'static str {
    match unit {
        "bytes" => "bytes",
        "nanoseconds" => "nanoseconds",
        "microseconds" => "microseconds",
        "milliseconds" => "milliseconds",
        "seconds" => "seconds",
        "count" => "objects",
        _ => "",
    }
}

impl fmt::Display for ProfileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}:{}:{}",
            self.name, self.sample_type, self.sample_unit, self.period_type, self.period_unit
        )
    }
}

/// A series' labels, sorted by name. Always includes `service_name` and `__name__`.
pub type Labels = BTreeMap<String, String>;

/// One series: a label set and its profile type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Series {
    /// The profile type.
    pub profile_type: ProfileType,
    /// The labels, including `service_name` and `__name__` (but not the private type labels).
    pub labels: Labels,
}

impl Series {
    /// Returns the value of a label, including the private labels derived from the type.
    pub fn label(&self, name: &str) -> Option<String> {
        if let Some(v) = self.labels.get(name) {
            return Some(v.clone());
        }
        self.profile_type
            .private_labels()
            .into_iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

/// Checks a label name: ASCII letters, digits and `_`, not starting with a digit.
pub fn validate_label_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(ProfileError::InvalidLabelName {
            name: name.escape_default().to_string(),
        }
        .into())
    }
}

/// Makes a label name from a client's into one Flamelet can select on: any character other
/// than ASCII letters, digits and `_` becomes `_` (OpenTelemetry's `otel.scope.name` becomes
/// `otel_scope_name`), and a leading digit gets a `_` before it.
pub fn sanitize_label_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Checks a label set's names (the per-tenant limits on how many and how long come after
/// parsing: [`crate::limits::IngestLimits::apply`]).
pub fn validate_labels(labels: &Labels) -> Result<()> {
    labels.keys().try_for_each(|name| validate_label_name(name))
}

/// One stack and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// A stack of the profile's dictionary.
    pub stack: Stack,
    /// The sample's value in the type's unit.
    pub value: i64,
    /// Link id of the profile's dictionary (0: none).
    pub link: u32,
}

/// A stack of function names, root first, and its value: what the text, legacy, speedscope
/// and JFR formats carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedSample {
    /// Function names, root first.
    pub stack: Vec<String>,
    /// The sample's value in the type's unit.
    pub value: i64,
}

/// One upload for one series at one time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The series it belongs to.
    pub series: Series,
    /// When it was taken, in nanoseconds since the epoch.
    pub time_nanos: i64,
    /// The sampling period in the profile type's period unit (pprof `period`), 0 if unknown.
    pub period: i64,
    /// The symbols its samples refer to (shared by the profiles of one upload).
    pub dict: Arc<Dictionary>,
    /// Its samples.
    pub samples: Vec<Sample>,
}

impl Profile {
    /// Builds a profile from stacks of function names.
    pub fn from_named(series: Series, time_nanos: i64, named: Vec<NamedSample>) -> Profile {
        let mut dict = Dictionary::default();
        let mut ids: FastMap<String, u32> = FastMap::default();
        let samples = named
            .into_iter()
            .map(|s| {
                let mut stack = Stack::EMPTY;
                for name in s.stack {
                    let frame = match ids.get(&name) {
                        Some(id) => *id,
                        None => {
                            let id = dict.named_frame(&name);
                            ids.insert(name, id);
                            id
                        }
                    };
                    stack = dict.push(stack, frame);
                }
                Sample {
                    stack,
                    value: s.value,
                    link: 0,
                }
            })
            .collect();
        Profile {
            series,
            time_nanos,
            period: 0,
            dict: Arc::new(dict),
            samples,
        }
    }

    /// Returns a sample's function names, root first.
    pub fn names<'a>(&'a self, sample: &Sample) -> impl Iterator<Item = &'a str> + 'a {
        let frames = self.dict.frames_of(sample.stack);
        frames.into_iter().map(|f| self.dict.frame_name(f))
    }

    /// Returns each sample as its stack of function names (`a;b;c`) and value.
    pub fn folded(&self) -> impl Iterator<Item = (String, i64)> + '_ {
        self.samples
            .iter()
            .map(|s| (self.names(s).collect::<Vec<_>>().join(";"), s.value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print_ids() {
        let id = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
        assert_eq!(ProfileType::parse(id).unwrap().id(), id);
        assert_eq!(
            ProfileType::parse("memory:alloc_objects:count::")
                .unwrap()
                .period_type,
            ""
        );
        assert!(ProfileType::parse("cpu").is_err());
        assert!(ProfileType::parse("a:b:c:d").is_err());
    }

    #[test]
    fn suffix_table() {
        let id = |s| ProfileType::from_legacy_suffix(s).map(|(t, scaled)| (t.id(), scaled));
        assert_eq!(
            id(None),
            Some(("process_cpu:cpu:nanoseconds:cpu:nanoseconds".into(), true))
        );
        assert_eq!(
            id(Some("itimer")).unwrap().0,
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
        );
        assert_eq!(
            id(Some("wall")),
            Some(("wall:wall:nanoseconds:cpu:nanoseconds".into(), true))
        );
        assert_eq!(
            id(Some("alloc_objects")),
            Some(("memory:alloc_objects:count::".into(), false))
        );
        assert_eq!(
            id(Some("inuse_space")).unwrap().0,
            "memory:inuse_space:bytes::"
        );
        assert_eq!(
            id(Some("goroutines")).unwrap().0,
            "goroutine:goroutines:count::"
        );
        assert_eq!(
            id(Some("mutex_count")).unwrap().0,
            "mutex:contentions:count::"
        );
        assert_eq!(
            id(Some("mutex_duration")).unwrap().0,
            "mutex:delay:nanoseconds::"
        );
        assert_eq!(
            id(Some("block_count")).unwrap().0,
            "block:contentions:count::"
        );
        assert_eq!(
            id(Some("block_duration")).unwrap().0,
            "block:delay:nanoseconds::"
        );
        assert_eq!(id(Some("bogus")), None);
    }

    #[test]
    fn units() {
        let u = |id: &str| ProfileType::parse(id).unwrap().render_units();
        assert_eq!(
            u("process_cpu:cpu:nanoseconds:cpu:nanoseconds"),
            ("samples", 1_000_000_000)
        );
        assert_eq!(u("memory:alloc_objects:count::"), ("objects", 100));
        assert_eq!(u("memory:alloc_space:bytes::"), ("bytes", 100));
        assert_eq!(
            u("process_cpu:samples:count:cpu:nanoseconds"),
            ("objects", 100)
        );
    }

    #[test]
    fn sanitized_label_names_are_valid() {
        for (raw, clean) in [
            ("otel.scope.name", "otel_scope_name"),
            ("a-b", "a_b"),
            ("1x", "_1x"),
            ("ok_1", "ok_1"),
        ] {
            assert_eq!(sanitize_label_name(raw), clean);
            assert!(validate_label_name(clean).is_ok());
        }
    }

    #[test]
    fn label_names() {
        assert!(validate_label_name("env_1").is_ok());
        for bad in ["", "1x", "a-b", "a.b", "é"] {
            assert!(validate_label_name(bad).is_err(), "{bad}");
        }
    }
}
