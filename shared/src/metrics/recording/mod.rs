//! Recording rules (`settings.v1.RecordingRulesService`, Pyroscope 2.x): per tenant, a
//! Prometheus metric name, selectors that name a profile type, group-by labels, external
//! labels and an optional function a stack must pass through. Kept in the bucket
//! ([`store`]), changed through the Connect API ([`service`]), provisioned read-only from the
//! server's configuration file ([`provisioned_from_env`]), and counted like export rules
//! ([`RecordingRule::counting_rule`]): per matching profile its total, or the value of its
//! stacks through the function, summed per group-by value set.

pub mod service;
pub mod store;

use crate::ErrorKind;
use crate::profile::{PROFILE_TYPE_LABEL, ProfileType};
use crate::selector::{Op, Selector};
use crate::wire::proto::settings::v1 as pb;

use super::rules::{ExportRule, NodeMatch, is_exposed_label_name, is_metric_name};

/// Every recording rule's metric name starts with this (the reference server's rule).
pub const METRIC_PREFIX: &str = "profiles_recorded_";
/// The environment variable through which the host hands the configuration file's
/// `recording-rules` to the components: a JSON list of `RecordingRule`s (protojson).
pub const RECORDING_RULES_ENV: &str = "FLAMELET_RECORDING_RULES";
/// The environment variable that sets how many rules a tenant may store.
pub const MAX_RULES_ENV: &str = "FLAMELET_MAX_RECORDING_RULES";
/// How many rules a tenant may store by default (the reference server's limit).
pub const DEFAULT_MAX_RULES: usize = 25;
/// How long a generated id is, in letters.
const ID_LETTERS: usize = 10;
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Why a recording-rules call was refused; each names the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordingRuleError {
    /// A field of the rule is invalid.
    #[error("invalid recording rule: {field} `{value}` {reason}")]
    Invalid {
        /// The field (`metric_name`, `matchers`, …).
        field: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No rule has this id.
    #[error("no recording rule with id `{id}`")]
    NotFound {
        /// The id.
        id: String,
    },
    /// An update was based on a version of the rule that is no longer the stored one.
    #[error(
        "recording rule `{id}`: generation {sent} is not the stored {stored}; read the rule again and retry"
    )]
    StaleGeneration {
        /// The rule.
        id: String,
        /// The generation the request sent.
        sent: i64,
        /// The stored one.
        stored: i64,
    },
    /// The rule comes from the server's configuration file.
    #[error(
        "recording rule `{id}` is provisioned by the server's configuration and cannot be changed through the API"
    )]
    Provisioned {
        /// The rule.
        id: String,
    },
    /// The tenant has as many rules as it may.
    #[error("a tenant may store at most {limit} recording rules")]
    TooMany {
        /// The limit.
        limit: usize,
    },
    /// The rules or the limit handed to a component cannot be read.
    #[error("{name}: {reason}")]
    Env {
        /// The variable.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl RecordingRuleError {
    /// The kind that decides the Connect code and HTTP status.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RecordingRuleError::Invalid { .. } => ErrorKind::BadInput,
            RecordingRuleError::NotFound { .. } => ErrorKind::NotFound,
            RecordingRuleError::StaleGeneration { .. } | RecordingRuleError::Provisioned { .. } => {
                ErrorKind::FailedPrecondition
            }
            RecordingRuleError::TooMany { .. } => ErrorKind::TooLarge,
            RecordingRuleError::Env { .. } => ErrorKind::Internal,
        }
    }
}

fn invalid(field: &'static str, value: &str, reason: impl Into<String>) -> RecordingRuleError {
    RecordingRuleError::Invalid {
        field,
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// A rule's content, checked: what the API stores and the counters evaluate.
#[derive(Debug, Clone)]
pub struct RecordingRule {
    /// Letters only.
    pub id: String,
    /// The Prometheus metric name, starting with [`METRIC_PREFIX`].
    pub metric_name: String,
    /// The selectors as sent; together they must hold one `__profile_type__="…"` matcher.
    pub matchers: Vec<String>,
    /// Label names whose values split the series.
    pub group_by: Vec<String>,
    /// Labels every series of the rule carries.
    pub external_labels: Vec<(String, String)>,
    /// Changes with every update; an update must name the stored one.
    pub generation: i64,
    /// Only stacks through this function count.
    pub function_name: Option<String>,
    /// The profile type the matchers name.
    pub profile_type: ProfileType,
    /// The matchers as one selector, typed.
    selector: Selector,
}

impl RecordingRule {
    /// Checks a rule as the reference server does: the id letters only, the metric name a
    /// Prometheus name with [`METRIC_PREFIX`], the matchers selectors with exactly one
    /// `__profile_type__` equality matcher naming a known type, group-by and external label
    /// names legal and distinct.
    pub fn new(fields: pb::RecordingRuleStore) -> Result<Self, RecordingRuleError> {
        let id = fields.id.trim().to_string();
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(invalid("id", &id, "must be letters only"));
        }
        let metric_name = fields.metric_name.trim().to_string();
        if !is_metric_name(&metric_name) {
            return Err(invalid(
                "metric_name",
                &metric_name,
                "is not a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)",
            ));
        }
        if !metric_name.starts_with(METRIC_PREFIX) {
            return Err(invalid(
                "metric_name",
                &metric_name,
                format!("must start with `{METRIC_PREFIX}`"),
            ));
        }
        let mut selector = Selector {
            profile_type: None,
            matchers: Vec::new(),
        };
        let mut profile_type = None;
        for text in &fields.matchers {
            let parsed =
                Selector::parse(text).map_err(|e| invalid("matchers", text, e.to_string()))?;
            if parsed.profile_type.is_some() {
                return Err(invalid(
                    "matchers",
                    text,
                    format!("must name the profile type as a `{PROFILE_TYPE_LABEL}` matcher"),
                ));
            }
            for m in parsed.matchers {
                if m.name == PROFILE_TYPE_LABEL {
                    if m.op != Op::Eq {
                        return Err(invalid(
                            "matchers",
                            text,
                            format!("`{PROFILE_TYPE_LABEL}` must be matched with `=`"),
                        ));
                    }
                    if profile_type.is_some() {
                        return Err(invalid(
                            "matchers",
                            text,
                            format!("name `{PROFILE_TYPE_LABEL}` more than once"),
                        ));
                    }
                    profile_type = Some(
                        ProfileType::parse(&m.value)
                            .map_err(|e| invalid("matchers", text, e.to_string()))?,
                    );
                }
                selector.matchers.push(m);
            }
        }
        let Some(profile_type) = profile_type else {
            return Err(invalid(
                "matchers",
                &fields.matchers.join(", "),
                format!("must include a `{PROFILE_TYPE_LABEL}=\"…\"` matcher"),
            ));
        };
        selector.profile_type = Some(profile_type.clone());
        let mut group_by: Vec<String> = Vec::new();
        for label in &fields.group_by {
            if !is_exposed_label_name(label) {
                return Err(invalid("group_by", label, "is not a label name"));
            }
            if !group_by.contains(label) {
                group_by.push(label.clone());
            }
        }
        let mut external_labels: Vec<(String, String)> = Vec::new();
        for pair in &fields.external_labels {
            if !is_exposed_label_name(&pair.name) {
                return Err(invalid(
                    "external_labels",
                    &pair.name,
                    "is not a label name",
                ));
            }
            if group_by.contains(&pair.name) || external_labels.iter().any(|(n, _)| *n == pair.name)
            {
                return Err(invalid(
                    "external_labels",
                    &pair.name,
                    "is named twice (among the group-by and external labels)",
                ));
            }
            external_labels.push((pair.name.clone(), pair.value.clone()));
        }
        if fields.generation < 0 {
            return Err(invalid(
                "generation",
                &fields.generation.to_string(),
                "must not be negative",
            ));
        }
        let function_name = fields
            .stacktrace_filter
            .and_then(|f| f.function_name)
            .map(|f| f.function_name);
        if function_name
            .as_deref()
            .is_some_and(|f| f.trim().is_empty())
        {
            return Err(invalid("stacktrace_filter.function_name", "", "is empty"));
        }
        Ok(RecordingRule {
            id,
            metric_name,
            matchers: fields.matchers,
            group_by,
            external_labels,
            generation: fields.generation,
            function_name,
            profile_type,
            selector,
        })
    }

    /// The rule as the API answers it.
    pub fn to_api(&self, provisioned: bool) -> pb::RecordingRule {
        let stored = self.to_store();
        pb::RecordingRule {
            id: stored.id,
            metric_name: stored.metric_name,
            profile_type: self.profile_type.id(),
            matchers: stored.matchers,
            group_by: stored.group_by,
            external_labels: stored.external_labels,
            generation: stored.generation,
            stacktrace_filter: stored.stacktrace_filter,
            provisioned,
        }
    }

    /// The rule as it is stored.
    pub fn to_store(&self) -> pb::RecordingRuleStore {
        pb::RecordingRuleStore {
            id: self.id.clone(),
            metric_name: self.metric_name.clone(),
            prometheus_data_source: String::new(),
            matchers: self.matchers.clone(),
            group_by: self.group_by.clone(),
            external_labels: self
                .external_labels
                .iter()
                .map(|(name, value)| crate::wire::proto::types::v1::LabelPair {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
            generation: self.generation,
            stacktrace_filter: self.function_name.as_ref().map(|f| pb::StacktraceFilter {
                function_name: Some(pb::StacktraceFilterFunctionName {
                    function_name: f.clone(),
                    metric_type: pb::MetricType::Total as i32,
                }),
            }),
        }
    }

    /// The rule as a counter over stored profiles (`/exported-metrics`): values as stored,
    /// as the reference server records them.
    pub fn counting_rule(&self) -> ExportRule {
        ExportRule {
            key: format!("recording/{}", self.id),
            name: self.metric_name.clone(),
            selector: self.selector.clone(),
            profile_type: self.profile_type.clone(),
            node: match &self.function_name {
                Some(f) => NodeMatch::Function(f.clone()),
                None => NodeMatch::Total,
            },
            group_by: self.group_by.clone(),
            external_labels: self.external_labels.clone(),
            in_seconds: false,
            help: format!("recording rule {}", self.id),
            fingerprint: super::rules::fingerprint(
                ["matchers"]
                    .into_iter()
                    .chain(self.matchers.iter().map(String::as_str))
                    .chain(["function", self.function_name.as_deref().unwrap_or("")])
                    .chain(["group_by"])
                    .chain(self.group_by.iter().map(String::as_str)),
            ),
        }
    }
}

/// A new rule's id: letters drawn from a fresh ULID's random bits.
pub fn generate_id() -> String {
    letters(ulid::Ulid::new().random())
}

/// A provisioned rule's id when the file gives none: letters of a hash of its content, so
/// that it stays the same across restarts and hosts.
fn content_id(rule: &pb::RecordingRule) -> String {
    let mut text = String::new();
    text.push_str(&rule.metric_name);
    for part in rule.matchers.iter().chain(&rule.group_by) {
        text.push('\0');
        text.push_str(part);
    }
    for l in &rule.external_labels {
        text.push('\0');
        text.push_str(&l.name);
        text.push('=');
        text.push_str(&l.value);
    }
    if let Some(f) = rule
        .stacktrace_filter
        .as_ref()
        .and_then(|f| f.function_name.as_ref())
    {
        text.push('\0');
        text.push_str(&f.function_name);
    }
    letters(twox_hash::XxHash3_128::oneshot(text.as_bytes()))
}

fn letters(mut bits: u128) -> String {
    (0..ID_LETTERS)
        .map(|_| {
            let c = ALPHABET[(bits % ALPHABET.len() as u128) as usize];
            bits /= ALPHABET.len() as u128;
            c as char
        })
        .collect()
}

/// The rules of the configuration file (`recording-rules`), checked: each must be valid, ids
/// (given or derived from the content) distinct.
pub fn provisioned(
    rules: Vec<pb::RecordingRule>,
) -> Result<Vec<RecordingRule>, RecordingRuleError> {
    let mut out: Vec<RecordingRule> = Vec::new();
    for rule in rules {
        let id = if rule.id.trim().is_empty() {
            content_id(&rule)
        } else {
            rule.id.clone()
        };
        let checked = RecordingRule::new(pb::RecordingRuleStore {
            id,
            metric_name: rule.metric_name,
            prometheus_data_source: String::new(),
            matchers: rule.matchers,
            group_by: rule.group_by,
            external_labels: rule.external_labels,
            generation: rule.generation,
            stacktrace_filter: rule.stacktrace_filter,
        })?;
        if out.iter().any(|r| r.id == checked.id) {
            return Err(invalid(
                "id",
                &checked.id,
                "is given to two provisioned rules",
            ));
        }
        out.push(checked);
    }
    Ok(out)
}

/// The provisioned rules the host handed over in [`RECORDING_RULES_ENV`] (none when it is
/// unset or blank).
pub fn provisioned_from_env(
    get: impl Fn(&str) -> Option<String>,
) -> Result<Vec<RecordingRule>, RecordingRuleError> {
    let Some(json) = get(RECORDING_RULES_ENV).filter(|v| !v.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    let rules: Vec<pb::RecordingRule> =
        serde_json::from_str(&json).map_err(|e| RecordingRuleError::Env {
            name: RECORDING_RULES_ENV,
            reason: format!("not a JSON list of recording rules: {e}"),
        })?;
    provisioned(rules)
}

/// How many rules a tenant may store: [`MAX_RULES_ENV`], else [`DEFAULT_MAX_RULES`].
pub fn max_rules_from_env(
    get: impl Fn(&str) -> Option<String>,
) -> Result<usize, RecordingRuleError> {
    match get(MAX_RULES_ENV).filter(|v| !v.trim().is_empty()) {
        None => Ok(DEFAULT_MAX_RULES),
        Some(v) => v.trim().parse().map_err(|_| RecordingRuleError::Env {
            name: MAX_RULES_ENV,
            reason: format!("`{v}` is not a number of rules"),
        }),
    }
}

#[cfg(test)]
mod tests;
