//! Helpers of the metrics tests: rules from their file form, folded uploads stored as
//! `/ingest` stores them, a counter's value.

use std::collections::BTreeMap;

use super::counters::Counters;
use super::rules::{ExportRule, ExportRules, RuleSpec};
use crate::ingest::{IngestRequest, ingest};
use crate::storage::store::SharedStore;
use crate::tenant::Tenant;

/// Export rules from (name, expr, node, group_by), as the file gives them.
pub fn rules(specs: &[(&str, &str, &str, &[&str])]) -> Vec<ExportRule> {
    let specs: BTreeMap<String, RuleSpec> = specs
        .iter()
        .map(|(name, expr, node, group_by)| {
            let spec = RuleSpec {
                expr: expr.to_string(),
                node: node.to_string(),
                group_by: group_by.iter().map(|s| s.to_string()).collect(),
                labels: vec![],
            };
            (name.to_string(), spec)
        })
        .collect();
    ExportRules::new(&specs).unwrap().rules
}

/// Stores folded stacks under `name` at unix second `at`, as `/ingest` does (100 Hz for
/// `.cpu`: a sample is 10 ms).
pub fn ingest_folded(store: &SharedStore, tenant: &Tenant, name: &str, at: i64, body: &str) {
    let params = vec![
        ("name".to_string(), name.to_string()),
        ("from".to_string(), at.to_string()),
    ];
    let req = IngestRequest {
        params: &params,
        content_type: None,
        body: body.as_bytes(),
    };
    ingest(store.as_ref(), tenant, &Default::default(), &req, 0).unwrap();
}

/// The value of the counter of rule `key` and group-by values `group`.
pub fn value(c: &Counters, key: &str, group: &[&str]) -> Option<i64> {
    let key = (
        key.to_string(),
        group.iter().map(|s| s.to_string()).collect(),
    );
    c.values.get(&key).copied()
}
