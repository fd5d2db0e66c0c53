//! The counters of the export rules: per rule and per value set of its group-by labels, the
//! sum of the matching samples' values, in stored units (exact integers;
//! [`super::ExportRule::exposed`] turns them into the exposed unit).

use std::collections::BTreeMap;

/// One counter's identity: the metric name and its group-by label values, in the rule's
/// `group_by` order (a missing label counts as the empty value).
pub type CounterKey = (String, Vec<String>);

/// Counter values by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Sum of stored sample values per counter.
    pub values: BTreeMap<CounterKey, i64>,
}
