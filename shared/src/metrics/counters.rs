//! The counters of the export rules: per rule and per value set of its group-by labels, the
//! sum of the matching samples' values, in stored units (exact integers;
//! [`ExportRule::exposed`] turns them into the exposed unit). Counters of disjoint sets of profiles add up, which is
//! what lets every segment carry its own and compaction sum them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::profile::Profile;

use super::rules::{ExportRule, ExportRules, NodeMatch};

/// One counter's identity: the metric name and its group-by label values, in the rule's
/// `group_by` order (a missing label counts as the empty value).
pub type CounterKey = (String, Vec<String>);

/// Counter values by key; stored as a list of entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Vec<Entry>", from = "Vec<Entry>")]
pub struct Counters {
    /// Sum of stored sample values per counter.
    pub values: BTreeMap<CounterKey, i64>,
}

/// One counter in the stored form.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    metric: String,
    labels: Vec<String>,
    value: i64,
}

impl From<Counters> for Vec<Entry> {
    fn from(c: Counters) -> Self {
        c.values
            .into_iter()
            .map(|((metric, labels), value)| Entry {
                metric,
                labels,
                value,
            })
            .collect()
    }
}

impl From<Vec<Entry>> for Counters {
    /// Entries of one counter listed twice add up, as merging would.
    fn from(entries: Vec<Entry>) -> Self {
        let mut c = Counters::default();
        for e in entries {
            *c.values.entry((e.metric, e.labels)).or_default() += e.value;
        }
        c
    }
}

impl Counters {
    /// Adds what `rules` count in `profile`.
    pub fn add_profile(&mut self, rules: &ExportRules, profile: &Profile) {
        for rule in &rules.rules {
            if !rule.selector.matches(&profile.series) {
                continue;
            }
            let sum = matching_sum(rule, profile);
            if sum == 0 {
                continue;
            }
            let values = rule
                .group_by
                .iter()
                .map(|l| profile.series.label(l).unwrap_or_default())
                .collect();
            *self.values.entry((rule.name.clone(), values)).or_default() += sum;
        }
    }

    /// Adds another set of counters (of other profiles) to these.
    pub fn merge(&mut self, other: &Counters) {
        for (key, v) in &other.values {
            *self.values.entry(key.clone()).or_default() += v;
        }
    }

    /// Nothing counted.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// The sum of the samples of `profile` that `rule` counts; a stack is joined (root first,
/// with `;`) only when the rule has a pattern.
fn matching_sum(rule: &ExportRule, profile: &Profile) -> i64 {
    match &rule.node {
        NodeMatch::Total => profile.samples.iter().map(|s| s.value).sum(),
        NodeMatch::Stack(pattern) => {
            let mut stack = String::new();
            profile
                .samples
                .iter()
                .filter(|s| {
                    stack.clear();
                    for (i, name) in profile.names(s).enumerate() {
                        if i > 0 {
                            stack.push(';');
                        }
                        stack.push_str(name);
                    }
                    pattern.is_match(&stack)
                })
                .map(|s| s.value)
                .sum()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{IngestRequest, parse};
    use crate::metrics::rules::RuleSpec;

    /// Profiles as `/ingest` parses a folded upload named `name`.
    fn folded(name: &str, body: &str) -> Vec<Profile> {
        let params = vec![("name".to_string(), name.to_string())];
        let req = IngestRequest {
            params: &params,
            content_type: None,
            body: body.as_bytes(),
        };
        parse(&req, 1_700_000_000_000_000_000).unwrap()
    }

    fn rules(specs: &[(&str, &str, &str, &[&str])]) -> ExportRules {
        let specs = specs
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
        ExportRules::new(&specs).unwrap()
    }

    fn value(c: &Counters, name: &str, labels: &[&str]) -> Option<i64> {
        let key = (
            name.to_string(),
            labels.iter().map(|s| s.to_string()).collect(),
        );
        c.values.get(&key).copied()
    }

    #[test]
    fn totals_patterns_and_groups_as_the_reference_documents() {
        // The rules of api.md's example, over two environments.
        let r = rules(&[
            ("a_total", "app.cpu", "total", &[]),
            ("a_slow_prod", "app.cpu{env=\"prod\"}", "slowFunction", &[]),
            ("a_slow", "app.cpu", "slowFunction", &["env"]),
        ]);
        let mut c = Counters::default();
        // 100 Hz samples: 1 sample = 10 ms = 10_000_000 ns.
        for p in folded(
            "app.cpu{env=prod}",
            "main;slowFunction 12\nmain;fastFunction 3\n",
        ) {
            c.add_profile(&r, &p);
        }
        for p in folded(
            "app.cpu{env=staging}",
            "main;slowFunction;work 17\nmain 4\n",
        ) {
            c.add_profile(&r, &p);
        }
        // Another service and another type count nowhere.
        for p in folded("other.cpu{env=prod}", "main;slowFunction 100\n") {
            c.add_profile(&r, &p);
        }
        let ms10 = 10_000_000;
        assert_eq!(value(&c, "a_total", &[]), Some(36 * ms10));
        assert_eq!(value(&c, "a_slow_prod", &[]), Some(12 * ms10));
        assert_eq!(value(&c, "a_slow", &["prod"]), Some(12 * ms10));
        assert_eq!(value(&c, "a_slow", &["staging"]), Some(17 * ms10));
        assert_eq!(c.values.len(), 4, "{c:?}");
        // Exposed in seconds.
        assert_eq!(r.rules[0].exposed(36 * ms10), 0.36);
    }

    #[test]
    fn the_pattern_is_unanchored_over_the_whole_stack() {
        let r = rules(&[
            ("a", "app.cpu", "^main;work", &[]),
            ("b", "app.cpu", "io$", &[]),
            ("c", "app.cpu", "nothing", &[]),
        ]);
        let mut c = Counters::default();
        for p in folded(
            "app.cpu",
            "main;work;io 1\nmain;work 2\nmain;io 4\nidle;main;work 8\n",
        ) {
            c.add_profile(&r, &p);
        }
        let ms10 = 10_000_000;
        assert_eq!(value(&c, "a", &[]), Some(3 * ms10));
        assert_eq!(value(&c, "b", &[]), Some(5 * ms10));
        // A rule that matched nothing has no counter yet.
        assert_eq!(value(&c, "c", &[]), None);
    }

    #[test]
    fn a_missing_group_label_is_the_empty_value_and_counters_add_up() {
        let r = rules(&[("a", "app.cpu", "", &["env", "region"])]);
        let (mut one, mut two) = (Counters::default(), Counters::default());
        for p in folded("app.cpu{env=prod}", "main 1\n") {
            one.add_profile(&r, &p);
        }
        for p in folded("app.cpu{env=prod}", "main 2\n") {
            two.add_profile(&r, &p);
        }
        one.merge(&two);
        assert_eq!(value(&one, "a", &["prod", ""]), Some(30_000_000));
        // Counters survive a round trip through their stored form.
        let json = serde_json::to_string(&one).unwrap();
        assert_eq!(serde_json::from_str::<Counters>(&json).unwrap(), one);
    }
}
