//! The counters of rules over a range of a tenant's profiles: per rule, the matching series'
//! totals (`node: total`) or the values of their stacks the pattern or function filter
//! selects, split by the group-by labels. Read through the query path, so exact before,
//! during and after compaction and whichever host wrote the data (storage.md,
//! *Exported-metric counters*). Scrapes sum them per day through [`super::cache`]; the
//! remote-write sums them per window.

use std::collections::{BTreeMap, BTreeSet};

use crate::Result;
use crate::query::{SampleFilter, Source, Wanted, select_from};
use crate::selector::{Matcher, Op, Selector};
use crate::storage::store::SharedStore;
use crate::tenant::Tenant;
use crate::time::TimeRange;
use crate::tree::{ROOT, Tree};

use super::counters::Counters;
use super::rules::{ExportRule, NodeMatch};

/// The counters of `rules` over the tenant's whole history in one computation: what the
/// per-day cache must equal (the tests' reference).
#[cfg(test)]
pub fn stored_counters(
    store: &SharedStore,
    tenant: &Tenant,
    rules: &[ExportRule],
) -> Result<Counters> {
    let days = crate::storage::manifest::data_days(store.as_ref(), tenant)?;
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return Ok(Counters::default());
    };
    let range = TimeRange {
        from: first.start_nanos(),
        until: last.start_nanos() + crate::storage::keys::DAY_NANOS - 1,
    };
    counters_over(store, tenant, rules, &range)
}

/// The counters of `rules` over the tenant's profiles in `range` (a recording rule's window).
pub fn counters_over(
    store: &SharedStore,
    tenant: &Tenant,
    rules: &[ExportRule],
    range: &TimeRange,
) -> Result<Counters> {
    counters_from(store, tenant, Source::Live, rules, range)
}

/// [`counters_over`] the segments `source` names (a filing day's, for the per-day cache).
pub fn counters_from(
    store: &SharedStore,
    tenant: &Tenant,
    source: Source<'_>,
    rules: &[ExportRule],
    range: &TimeRange,
) -> Result<Counters> {
    let mut counters = Counters::default();
    for rule in rules {
        add_rule(store, tenant, source, rule, range, &mut counters)?;
    }
    Ok(counters)
}

fn add_rule(
    store: &SharedStore,
    tenant: &Tenant,
    source: Source<'_>,
    rule: &ExportRule,
    range: &TimeRange,
    counters: &mut Counters,
) -> Result<()> {
    let select = |selector: &Selector, wanted| {
        select_from(
            store,
            tenant,
            source,
            selector,
            range,
            &SampleFilter::default(),
            wanted,
        )
    };
    let totals = select(&rule.selector, Wanted::TOTALS)?;
    let group_of = |series: u32| -> Vec<String> {
        let s = &totals.series[series as usize];
        rule.group_by
            .iter()
            .map(|l| s.label(l).unwrap_or_default())
            .collect()
    };
    match &rule.node {
        NodeMatch::Total => {
            let mut sums: BTreeMap<Vec<String>, i64> = BTreeMap::new();
            for (&(series, _), &v) in &totals.profile_totals {
                *sums.entry(group_of(series)).or_default() += v;
            }
            for (group, v) in sums.into_iter().filter(|(_, v)| *v != 0) {
                *counters
                    .values
                    .entry((rule.key.clone(), group))
                    .or_default() += v;
            }
        }
        NodeMatch::Stack(_) | NodeMatch::Function(_) => {
            let groups: BTreeSet<Vec<String>> = totals
                .profile_totals
                .keys()
                .map(|&(s, _)| group_of(s))
                .collect();
            for group in groups {
                // The group's series only: the rule's selector and its group-by values
                // (an empty value matches series without the label).
                let mut selector = rule.selector.clone();
                for (label, value) in rule.group_by.iter().zip(&group) {
                    selector.matchers.push(Matcher::new(label, Op::Eq, value)?);
                }
                let merged = select(&selector, Wanted::TREE)?;
                let v = matching_self(&merged.tree, &rule.node);
                if v != 0 {
                    *counters
                        .values
                        .entry((rule.key.clone(), group))
                        .or_default() += v;
                }
            }
        }
    }
    Ok(())
}

/// The sum of the self values of the tree's nodes that `node` selects: those whose path (root
/// first, `;`-joined, without the synthetic root) a pattern finds a match in, or that have the
/// function on their path. A node's self value is the value of the stacks that end there, so
/// each stack counts once.
fn matching_self(tree: &Tree, node: &NodeMatch) -> i64 {
    let nodes = tree.nodes();
    let mut sum = 0;
    // (node, the length of its parent's path, whether it has a parent below the root, whether
    // the function is on the path above it).
    let mut work: Vec<(usize, usize, bool, bool)> = nodes[ROOT]
        .children
        .iter()
        .map(|&c| (c, 0, false, false))
        .collect();
    let mut path = String::new();
    while let Some((n, len, nested, above)) = work.pop() {
        let name = tree.name(n);
        let (matches, through) = match node {
            NodeMatch::Total => (true, above),
            NodeMatch::Function(f) => {
                let through = above || name == f;
                (through, through)
            }
            NodeMatch::Stack(pattern) => {
                path.truncate(len);
                if nested {
                    path.push(';');
                }
                path.push_str(name);
                (nodes[n].self_value != 0 && pattern.is_match(&path), false)
            }
        };
        if matches {
            sum += nodes[n].self_value;
        }
        let here = path.len();
        work.extend(nodes[n].children.iter().map(|&c| (c, here, true, through)));
    }
    sum
}

/// The content type of [`exposition`]'s text (Prometheus' text format 0.0.4).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Errors of the exposition itself (a rule set that names one metric twice cannot happen:
/// rules are keyed by name).
#[derive(Debug, thiserror::Error)]
#[error("exported metrics: {reason}")]
pub struct ExpositionError {
    reason: String,
}

impl From<prometheus::Error> for ExpositionError {
    fn from(e: prometheus::Error) -> Self {
        ExpositionError {
            reason: e.to_string(),
        }
    }
}

/// The counters in the Prometheus text format: one counter family per metric name (those that
/// have counted nothing yet too, without samples), one sample per rule and group-by value set,
/// in the rule's unit. Rules that share a name (recording rules of several services, say)
/// share the family; its label names are all their group-by and external labels, a rule's
/// sample leaving the others empty, which Prometheus reads as absent.
pub fn exposition(
    rules: &[ExportRule],
    counters: &Counters,
) -> std::result::Result<String, ExpositionError> {
    let mut families: BTreeMap<&str, Vec<&ExportRule>> = BTreeMap::new();
    for rule in rules {
        families.entry(&rule.name).or_default().push(rule);
    }
    let registry = prometheus::Registry::new();
    for (name, rules) in families {
        let mut labels: Vec<&str> = Vec::new();
        for rule in &rules {
            let names = rule
                .group_by
                .iter()
                .chain(rule.external_labels.iter().map(|(n, _)| n));
            for label in names {
                if !labels.contains(&label.as_str()) {
                    labels.push(label);
                }
            }
        }
        let family =
            prometheus::CounterVec::new(prometheus::Opts::new(name, &rules[0].help), &labels)?;
        registry.register(Box::new(family.clone()))?;
        for rule in rules {
            let start = (rule.key.clone(), Vec::new());
            for ((_, group), &stored) in counters
                .values
                .range(start..)
                .take_while(|((key, _), _)| *key == rule.key)
            {
                let value_of = |label: &str| {
                    let external = rule.external_labels.iter().find(|(n, _)| n == label);
                    let grouped = rule.group_by.iter().position(|g| g == label);
                    match (external, grouped) {
                        (Some((_, v)), _) => v.as_str(),
                        (None, Some(i)) => group[i].as_str(),
                        (None, None) => "",
                    }
                };
                let values: Vec<&str> = labels.iter().map(|l| value_of(l)).collect();
                family
                    .get_metric_with_label_values(&values)?
                    .inc_by(rule.exposed(stored.max(0)));
            }
        }
    }
    let mut out = String::new();
    prometheus::TextEncoder::new().encode_utf8(&registry.gather(), &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::metrics::cache::cached_counters;
    use crate::metrics::testing::{ingest_folded, rules, value};
    use crate::storage::store::MemoryStore;

    /// A store holding folded uploads, as `/ingest` stores them (100 Hz: one sample is
    /// 10 ms).
    fn stored(uploads: &[(&str, &str)]) -> (SharedStore, Tenant) {
        let store: SharedStore = Arc::new(MemoryStore::default());
        let tenant = Tenant::from_header(None).unwrap();
        for (name, body) in uploads {
            ingest_folded(&store, &tenant, name, 1_700_000_000, body);
        }
        (store, tenant)
    }

    const MS10: i64 = 10_000_000;

    #[test]
    fn totals_patterns_and_groups_as_the_reference_documents() {
        // The rules of api.md's example, over two environments.
        let r = rules(&[
            ("a_total", "app.cpu", "total", &[]),
            ("a_slow_prod", "app.cpu{env=\"prod\"}", "slowFunction", &[]),
            ("a_slow", "app.cpu", "slowFunction", &["env"]),
        ]);
        let (store, tenant) = stored(&[
            (
                "app.cpu{env=prod}",
                "main;slowFunction 12\nmain;fastFunction 3\n",
            ),
            (
                "app.cpu{env=staging}",
                "main;slowFunction;work 17\nmain 4\n",
            ),
            // Another service counts nowhere.
            ("other.cpu{env=prod}", "main;slowFunction 100\n"),
        ]);
        let c = cached_counters(&store, &tenant, &r).unwrap();
        assert_eq!(value(&c, "a_total", &[]), Some(36 * MS10));
        assert_eq!(value(&c, "a_slow_prod", &[]), Some(12 * MS10));
        assert_eq!(value(&c, "a_slow", &["prod"]), Some(12 * MS10));
        assert_eq!(value(&c, "a_slow", &["staging"]), Some(17 * MS10));
        assert_eq!(c.values.len(), 4, "{c:?}");
        // Exposed in seconds.
        assert_eq!(r[0].exposed(36 * MS10), 0.36);
    }

    #[test]
    fn the_pattern_is_unanchored_over_the_whole_stack() {
        let r = rules(&[
            ("a", "app.cpu", "^main;work", &[]),
            ("b", "app.cpu", "io$", &[]),
            ("c", "app.cpu", "nothing", &[]),
        ]);
        let (store, tenant) = stored(&[(
            "app.cpu",
            "main;work;io 1\nmain;work 2\nmain;io 4\nidle;main;work 8\n",
        )]);
        let c = cached_counters(&store, &tenant, &r).unwrap();
        assert_eq!(value(&c, "a", &[]), Some(3 * MS10));
        assert_eq!(value(&c, "b", &[]), Some(5 * MS10));
        // A rule that matched nothing has no counter yet.
        assert_eq!(value(&c, "c", &[]), None);
    }

    #[test]
    fn a_missing_group_label_is_the_empty_value() {
        let r = rules(&[
            ("a", "app.cpu", "", &["env", "region"]),
            ("b", "app.cpu", "main", &["region"]),
        ]);
        let (store, tenant) = stored(&[
            ("app.cpu{env=prod}", "main 1\n"),
            ("app.cpu{env=prod}", "main 2\n"),
            ("app.cpu{region=eu}", "main 4\n"),
        ]);
        let c = cached_counters(&store, &tenant, &r).unwrap();
        assert_eq!(value(&c, "a", &["prod", ""]), Some(3 * MS10));
        assert_eq!(value(&c, "a", &["", "eu"]), Some(4 * MS10));
        // With a pattern, the group without the label is its own tree.
        assert_eq!(value(&c, "b", &[""]), Some(3 * MS10));
        assert_eq!(value(&c, "b", &["eu"]), Some(4 * MS10));
    }

    #[test]
    fn nothing_stored_is_no_counters() {
        let r = rules(&[("a", "app.cpu", "", &[])]);
        let (store, tenant) = stored(&[]);
        assert!(
            cached_counters(&store, &tenant, &r)
                .unwrap()
                .values
                .is_empty()
        );
    }

    #[test]
    fn the_text_format_names_each_counter_as_its_rule() {
        let r = rules(&[
            ("a_total", "app.cpu", "total", &[]),
            ("a_slow", "app.cpu", "slowFunction", &["env"]),
            ("heap", "memory:inuse_space:bytes:space:bytes{}", "", &[]),
        ]);
        let mut c = Counters::default();
        c.values
            .insert(("a_total".into(), vec![]), 3_768_000_000_000);
        c.values
            .insert(("a_slow".into(), vec!["prod".into()]), 1_260_000_000_000);
        c.values
            .insert(("a_slow".into(), vec!["staging".into()]), 1_701_000_000_000);
        let text = exposition(&r, &c).unwrap();
        assert!(
            text.contains("# TYPE a_total counter\na_total 3768\n"),
            "{text}"
        );
        assert!(text.contains("a_slow{env=\"prod\"} 1260\n"), "{text}");
        assert!(text.contains("a_slow{env=\"staging\"} 1701\n"), "{text}");
        // A rule that counted nothing has its family but no sample yet.
        assert!(!text.contains("\nheap "), "{text}");
    }

    #[test]
    fn a_pattern_matches_the_paths_of_the_tree() {
        let mut tree = Tree::new();
        tree.add_stack(&["main", "slowFunction"], 5);
        tree.add_stack(&["main", "slowFunction", "work"], 7);
        tree.add_stack(&["main", "fast"], 11);
        let p = |s: &str| NodeMatch::Stack(regex::Regex::new(s).unwrap());
        assert_eq!(matching_self(&tree, &p("slowFunction")), 12);
        assert_eq!(matching_self(&tree, &p("slowFunction$")), 5);
        assert_eq!(matching_self(&tree, &p("^main;fast$")), 11);
        assert_eq!(matching_self(&tree, &p("^total")), 0);
        // A function filter: every stack through it, once however often it recurs.
        tree.add_stack(&["main", "slowFunction", "x", "slowFunction"], 13);
        tree.add_stack(&["slowFunction"], 17);
        let f = |s: &str| NodeMatch::Function(s.to_string());
        assert_eq!(matching_self(&tree, &f("slowFunction")), 5 + 7 + 13 + 17);
        assert_eq!(matching_self(&tree, &f("x")), 13);
        assert_eq!(matching_self(&tree, &f("slow")), 0, "names match whole");
        assert_eq!(
            matching_self(&tree, &NodeMatch::Total),
            5 + 7 + 11 + 13 + 17
        );
    }
}
