//! Metrics from profiles: Pyroscope's `metrics-export-rules` (a metric name → a selector, a
//! stack pattern and group-by labels), evaluated over profiles into exact counters.
//!
//! [`rules`] parses and validates the rules; [`recording`] keeps Pyroscope 2.x's recording
//! rules, counted the same way, and [`remote_write`] sends their samples; [`counters`] holds
//! their values; [`export`] computes them over a range of a tenant's profiles and writes them
//! in the Prometheus text format; [`cache`] keeps them per day for scrapes; [`retired`] keeps
//! those of the days retention deleted.

pub mod cache;
pub mod counters;
pub mod export;
pub mod recording;
pub mod remote_write;
pub mod retired;
pub mod rules;
#[cfg(test)]
pub(crate) mod testing;

pub use cache::cached_counters;
pub use counters::Counters;
pub use export::{CONTENT_TYPE, ExpositionError, counters_from, counters_over, exposition};
pub use recording::RecordingRuleError;
pub use rules::{ExportRule, ExportRules, NodeMatch, RULES_ENV, RuleError, RuleSpec};

/// What can go wrong in the metrics part: a rule refused, rules a component cannot read from
/// its environment, or the exposition.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// A rule is invalid.
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// The rules handed to a component are not the JSON map the host writes.
    #[error("{name}: not a JSON map of metrics-export-rules: {reason}")]
    Env {
        /// The variable.
        name: &'static str,
        /// What the JSON parser said.
        reason: String,
    },
    /// The text format could not be written.
    #[error(transparent)]
    Exposition(#[from] ExpositionError),
}

/// The rules whose counters a tenant's `/exported-metrics` serves (and retention retires):
/// the configured export rules, then the tenant's recording rules (provisioned and stored),
/// from the component's environment through `get`.
pub fn counted_rules(
    store: &crate::storage::store::SharedStore,
    tenant: &crate::tenant::Tenant,
    get: impl Fn(&str) -> Option<String>,
) -> crate::Result<Vec<ExportRule>> {
    let mut rules: Vec<ExportRule> = ExportRules::from_env(&get)?.rules;
    let recording =
        recording::service::RulesConfig::from_env(&get)?.rules(store.as_ref(), tenant)?;
    rules.extend(recording.iter().map(|(rule, _)| rule.counting_rule()));
    Ok(rules)
}
