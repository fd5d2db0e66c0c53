//! `metrics-export-rules`: each maps a Prometheus metric name to `expr` (a selector that names
//! a profile type, in the legacy `app.cpu{env="prod"}` form or the current one), `node`
//! (`total`, empty, or an unanchored regular expression over the `;`-joined stack, root
//! first) and `group_by` (label names; Pyroscope's documentation spells it `labels`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::profile::{ProfileType, validate_label_name};
use crate::selector::Selector;

/// The environment variable through which the host hands the rules of its configuration file
/// to the components: the `metrics-export-rules` map as JSON.
pub const RULES_ENV: &str = "FLAMELET_METRICS_EXPORT_RULES";

/// A rule as written in the configuration file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// The selector.
    pub expr: String,
    /// `total`, empty, or a regular expression over the stack.
    #[serde(default)]
    pub node: String,
    /// The labels whose values split the counter.
    #[serde(default)]
    pub group_by: Vec<String>,
    /// The same as `group_by`, as Pyroscope's documentation spells it.
    #[serde(default)]
    pub labels: Vec<String>,
}

/// Why a rule was refused; each names the rule and the bad value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// The metric name is not a Prometheus metric name.
    #[error(
        "metrics-export-rules: `{name}` is not a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)"
    )]
    MetricName {
        /// The name.
        name: String,
    },
    /// The selector does not parse.
    #[error("metrics-export-rules: {name}: expr `{expr}`: {reason}")]
    Expr {
        /// The rule.
        name: String,
        /// Its selector.
        expr: String,
        /// What the parser said.
        reason: String,
    },
    /// The selector names no profile type, so the counter's unit would be unknown.
    #[error(
        "metrics-export-rules: {name}: expr `{expr}` names no profile type (write `app.cpu{{…}}` or `process_cpu:cpu:nanoseconds:cpu:nanoseconds{{…}}`)"
    )]
    NoProfileType {
        /// The rule.
        name: String,
        /// Its selector.
        expr: String,
    },
    /// `node` is not a regular expression.
    #[error("metrics-export-rules: {name}: node `{node}` is not a regular expression: {reason}")]
    Node {
        /// The rule.
        name: String,
        /// Its pattern.
        node: String,
        /// What the regex parser said.
        reason: String,
    },
    /// A group-by name is not a label name.
    #[error("metrics-export-rules: {name}: group_by `{label}` is not a label name")]
    GroupBy {
        /// The rule.
        name: String,
        /// The bad label name.
        label: String,
    },
}

/// Which samples of a matching series a rule counts.
#[derive(Debug, Clone)]
pub enum NodeMatch {
    /// All of them.
    Total,
    /// Those whose `;`-joined stack (root first) the expression finds a match in.
    Stack(regex::Regex),
    /// Those whose stack has a frame of this function (a recording rule's
    /// `stacktrace_filter`); a stack counts once however often the function recurs in it.
    Function(String),
}

/// A validated rule: an export rule of the configuration file, or a recording rule
/// ([`super::recording`]) counted the same way.
#[derive(Debug, Clone)]
pub struct ExportRule {
    /// What tells the rule's counters apart from other rules': an export rule's metric name,
    /// `recording/<id>` for a recording rule (several of which may share a metric name).
    pub key: String,
    /// The metric name.
    pub name: String,
    /// The selector, which names a profile type.
    pub selector: Selector,
    /// The profile type the selector names (its unit decides the counter's).
    pub profile_type: ProfileType,
    /// Which samples count.
    pub node: NodeMatch,
    /// The labels whose values split the counter, in the order given.
    pub group_by: Vec<String>,
    /// Labels every counter of the rule carries (a recording rule's `external_labels`).
    pub external_labels: Vec<(String, String)>,
    /// Whether CPU time is exposed in seconds (export rules) or as stored (recording rules,
    /// as the reference server sends them).
    pub in_seconds: bool,
    /// The `# HELP` text.
    pub help: String,
    /// What decides the rule's stored sums (its selector, node and group-by as written, not
    /// its name or labels), hashed: the key of its counters in the per-day cache.
    pub fingerprint: String,
}

/// A fingerprint of what decides a rule's sums: the parts, each length-prefixed, hashed.
pub(crate) fn fingerprint<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut text = String::new();
    for part in parts {
        text.push_str(&format!("{}:{part};", part.len()));
    }
    format!("{:032x}", twox_hash::XxHash3_128::oneshot(text.as_bytes()))
}

/// Tells whether `name` may label an exposed counter: a label name that does not start with
/// `__` (Prometheus keeps those for itself).
pub fn is_exposed_label_name(name: &str) -> bool {
    validate_label_name(name).is_ok() && !name.starts_with("__")
}

/// Tells whether `name` is a Prometheus metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

impl ExportRule {
    /// Validates one rule of the file.
    pub fn new(name: &str, spec: &RuleSpec) -> Result<Self, RuleError> {
        if !is_metric_name(name) {
            return Err(RuleError::MetricName {
                name: name.to_string(),
            });
        }
        let expr_error = |reason: String| RuleError::Expr {
            name: name.to_string(),
            expr: spec.expr.clone(),
            reason,
        };
        let selector = Selector::parse(&spec.expr).map_err(|e| expr_error(e.to_string()))?;
        let profile_type =
            selector
                .profile_type
                .clone()
                .ok_or_else(|| RuleError::NoProfileType {
                    name: name.to_string(),
                    expr: spec.expr.clone(),
                })?;
        let node = match spec.node.trim() {
            "" | "total" => NodeMatch::Total,
            pattern => {
                NodeMatch::Stack(regex::Regex::new(pattern).map_err(|e| {
                    // The parser's message draws the pattern over lines; its last says why.
                    let text = e.to_string();
                    let why = text.lines().last().unwrap_or_default().trim();
                    RuleError::Node {
                        name: name.to_string(),
                        node: spec.node.clone(),
                        reason: why.trim_start_matches("error: ").to_string(),
                    }
                })?)
            }
        };
        let mut group_by = Vec::new();
        for label in spec.group_by.iter().chain(&spec.labels) {
            if !is_exposed_label_name(label) {
                return Err(RuleError::GroupBy {
                    name: name.to_string(),
                    label: label.clone(),
                });
            }
            if !group_by.contains(label) {
                group_by.push(label.clone());
            }
        }
        let fingerprint = fingerprint(
            ["expr", spec.expr.as_str(), spec.node.trim()]
                .into_iter()
                .chain(group_by.iter().map(String::as_str)),
        );
        Ok(ExportRule {
            key: name.to_string(),
            name: name.to_string(),
            selector,
            profile_type,
            node,
            group_by,
            external_labels: Vec::new(),
            in_seconds: true,
            help: format!("metrics-export-rules: {name}"),
            fingerprint,
        })
    }

    /// A stored sum in the counter's unit: for export rules CPU time (nanoseconds) in
    /// seconds, everything else as stored.
    pub fn exposed(&self, stored: i64) -> f64 {
        if self.in_seconds && self.profile_type.sample_unit == "nanoseconds" {
            stored as f64 / 1e9
        } else {
            stored as f64
        }
    }
}

/// The rules of one configuration, by metric name.
#[derive(Debug, Clone, Default)]
pub struct ExportRules {
    /// Sorted by name.
    pub rules: Vec<ExportRule>,
}

impl ExportRules {
    /// Validates the `metrics-export-rules` map; the first bad rule (by name) is the error.
    pub fn new(specs: &BTreeMap<String, RuleSpec>) -> Result<Self, RuleError> {
        let rules = specs
            .iter()
            .map(|(name, spec)| ExportRule::new(name, spec))
            .collect::<Result<_, _>>()?;
        Ok(ExportRules { rules })
    }

    /// The rules the host handed over in [`RULES_ENV`] (none when it is unset or blank).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, super::MetricsError> {
        let Some(json) = get(RULES_ENV).filter(|v| !v.trim().is_empty()) else {
            return Ok(ExportRules::default());
        };
        let specs: BTreeMap<String, RuleSpec> =
            serde_json::from_str(&json).map_err(|e| super::MetricsError::Env {
                name: RULES_ENV,
                reason: e.to_string(),
            })?;
        Ok(ExportRules::new(&specs)?)
    }

    /// No rules at all.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(expr: &str, node: &str, group_by: &[&str]) -> RuleSpec {
        RuleSpec {
            expr: expr.into(),
            node: node.into(),
            group_by: group_by.iter().map(|s| s.to_string()).collect(),
            labels: vec![],
        }
    }

    #[test]
    fn both_selector_forms_name_the_type_and_the_service() {
        let legacy = ExportRule::new("a_total", &spec("app.cpu", "total", &[])).unwrap();
        assert_eq!(
            legacy.profile_type.id(),
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
        );
        assert!(matches!(legacy.node, NodeMatch::Total));
        assert_eq!(legacy.exposed(1_500_000_000), 1.5);
        let current = ExportRule::new(
            "heap",
            &spec(
                "memory:inuse_space:bytes:space:bytes{service_name=\"app\"}",
                "",
                &["env"],
            ),
        )
        .unwrap();
        assert_eq!(current.exposed(4096), 4096.0);
        assert_eq!(current.group_by, ["env"]);
    }

    #[test]
    fn labels_is_group_by_too() {
        let mut s = spec("app.cpu", "slowFunction", &["env"]);
        s.labels = vec!["env".into(), "region".into()];
        let r = ExportRule::new("a_slow", &s).unwrap();
        assert_eq!(r.group_by, ["env", "region"]);
    }

    #[test]
    fn bad_rules_name_the_rule_and_the_value() {
        let e = |name: &str, s: RuleSpec| ExportRule::new(name, &s).unwrap_err().to_string();
        assert!(e("1bad", spec("app.cpu", "", &[])).contains("`1bad`"));
        assert!(e("a", spec("app.cpu{env=", "", &[])).contains("expr `app.cpu{env=`"));
        assert!(e("a", spec("{env=\"x\"}", "", &[])).contains("names no profile type"));
        let node = e("a", spec("app.cpu", "main;(", &[]));
        assert!(
            node.ends_with("node `main;(` is not a regular expression: unclosed group"),
            "{node}"
        );
        assert!(e("a", spec("app.cpu", "", &["bad-label"])).contains("`bad-label`"));
        assert!(e("a", spec("app.cpu", "", &["__name__"])).contains("`__name__`"));
    }

    #[test]
    fn the_file_form_reads_as_pyroscope_writes_it() {
        let text = r#"{"a_slow": {"expr": "app.cpu", "node": "slowFunction", "labels": ["env"]}}"#;
        let specs: BTreeMap<String, RuleSpec> = serde_json::from_str(text).unwrap();
        let rules = ExportRules::new(&specs).unwrap();
        assert_eq!(rules.rules[0].group_by, ["env"]);
        let unknown = r#"{"a": {"expr": "app.cpu", "nodes": "x"}}"#;
        assert!(serde_json::from_str::<BTreeMap<String, RuleSpec>>(unknown).is_err());
    }
}
