//! Metrics from profiles: Pyroscope's `metrics-export-rules` (a metric name → a selector, a
//! stack pattern and group-by labels), evaluated over profiles into exact counters.
//!
//! [`rules`] parses and validates the rules; [`recording`] keeps Pyroscope 2.x's recording
//! rules, counted the same way, and [`remote_write`] sends their samples; [`counters`] holds
//! their values; [`export`] computes them over a range of a tenant's profiles and writes them
//! in the Prometheus text format; [`cache`] keeps them per day for scrapes.

pub mod cache;
pub mod counters;
pub mod export;
pub mod recording;
pub mod remote_write;
pub mod rules;
#[cfg(test)]
mod testing;

pub use cache::cached_counters;
pub use counters::Counters;
pub use export::{CONTENT_TYPE, ExpositionError, counters_over, exposition};
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
