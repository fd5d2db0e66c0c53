//! Metrics from profiles: Pyroscope's `metrics-export-rules` (a metric name → a selector, a
//! stack pattern and group-by labels), evaluated over profiles into exact counters.
//!
//! [`rules`] parses and validates the rules; [`counters`] evaluates them over a profile and
//! adds the results up. Where the counters live between requests, and how they are served, is
//! the storage's and the components' part.

pub mod counters;
pub mod rules;

pub use counters::Counters;
pub use rules::{ExportRule, ExportRules, NodeMatch, RuleError, RuleSpec};
