//! The flame-graph encoding Pyroscope clients draw: `names` plus `levels` of 4-number groups
//! `[x, total, self, nameIndex]`, x delta-encoded per level.
//!
//! Order rules (api.md): within a parent, the parent's self comes first, then its children
//! ordered by name, then `other` (children whose total is below the max-nodes threshold).
//! Names are numbered in a depth-first walk that visits children from last to first; the root
//! is `total` (index 0).

use serde::Serialize;

use crate::tree::{ROOT, Tree};

/// Default `maxNodes`.
pub const DEFAULT_MAX_NODES: usize = 8192;
/// Largest `maxNodes` accepted; more is a 400.
pub const MAX_MAX_NODES: usize = 1_048_576;

/// A flame graph in Pyroscope's encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlameGraph {
    /// Function names; index 0 is `total`.
    pub names: Vec<String>,
    /// One list of 4-number groups per depth.
    pub levels: Vec<Vec<i64>>,
    /// The root's total.
    #[serde(rename = "numTicks")]
    pub total: i64,
    /// The largest self value of any node.
    #[serde(rename = "maxSelf")]
    pub max_self: i64,
}

#[derive(Clone, Copy)]
enum Shown {
    Node(usize),
    Other(i64),
}

/// Encodes a tree, folding nodes below the `max_nodes` threshold into `other`.
pub fn encode(tree: &Tree, max_nodes: usize) -> FlameGraph {
    let totals = tree.totals();
    let min_value = tree.min_value(&totals, max_nodes);
    let nodes = tree.nodes();

    // Children as shown: kept ones by name, then `other`.
    let shown_children = |node: usize| -> Vec<Shown> {
        let mut kept: Vec<usize> = Vec::new();
        let mut other = 0i64;
        for &c in &nodes[node].children {
            if totals[c] == 0 {
                continue;
            }
            if totals[c] >= min_value && tree.name(c) != "other" {
                kept.push(c);
            } else {
                other = other.saturating_add(totals[c]);
            }
        }
        kept.sort_by(|a, b| tree.name(*a).cmp(tree.name(*b)));
        let mut out: Vec<Shown> = kept.into_iter().map(Shown::Node).collect();
        if other != 0 {
            out.push(Shown::Other(other));
        }
        out
    };
    let name_of = |s: Shown| -> &str {
        match s {
            Shown::Node(n) => tree.name(n),
            Shown::Other(_) => "other",
        }
    };

    // Pass 1: names, depth first, children from last to first.
    let mut names: Vec<String> = Vec::new();
    let mut name_index: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    let mut index_of = |name: &str, names: &mut Vec<String>| -> i64 {
        if let Some(i) = name_index.get(name) {
            return *i;
        }
        let i = names.len() as i64;
        names.push(name.to_string());
        name_index.insert(name.to_string(), i);
        i
    };
    index_of("total", &mut names);
    let mut stack: Vec<Shown> = vec![Shown::Node(ROOT)];
    let mut indexes: std::collections::HashMap<usize, i64> = std::collections::HashMap::new();
    let mut other_index = None;
    while let Some(s) = stack.pop() {
        match s {
            Shown::Node(ROOT) => {}
            Shown::Node(n) => {
                indexes.insert(n, index_of(name_of(s), &mut names));
            }
            Shown::Other(_) => {
                other_index.get_or_insert_with(|| index_of("other", &mut names));
            }
        }
        if let Shown::Node(n) = s {
            // Pushing first-to-last pops last-to-first.
            stack.extend(shown_children(n));
        }
    }

    // Pass 2: levels, depth first, children from first to last, so each level is in x order.
    let mut levels: Vec<Vec<i64>> = Vec::new();
    let mut max_self = 0i64;
    let mut work: Vec<(Shown, usize, i64)> = vec![(Shown::Node(ROOT), 0, 0)];
    while let Some((s, depth, x)) = work.pop() {
        let (total, self_value, name) = match s {
            Shown::Node(n) => (
                totals[n],
                nodes[n].self_value,
                if n == ROOT { 0 } else { indexes[&n] },
            ),
            Shown::Other(t) => (t, t, other_index.unwrap_or(0)),
        };
        max_self = max_self.max(self_value);
        if levels.len() == depth {
            levels.push(Vec::new());
        }
        levels[depth].extend_from_slice(&[x, total, self_value, name]);
        if let Shown::Node(n) = s {
            let mut child_x = x + self_value;
            let mut children = Vec::new();
            for c in shown_children(n) {
                let t = match c {
                    Shown::Node(c) => totals[c],
                    Shown::Other(t) => t,
                };
                children.push((c, depth + 1, child_x));
                child_x += t;
            }
            work.extend(children.into_iter().rev());
        }
    }
    for level in &mut levels {
        let mut prev_end = 0;
        for group in level.chunks_exact_mut(4) {
            let x = group[0];
            group[0] = x - prev_end;
            prev_end = x + group[1];
        }
    }
    FlameGraph {
        names,
        levels,
        total: totals[ROOT],
        max_self,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(scale: i64) -> Tree {
        let mut t = Tree::new();
        t.add_stack(&["a", "b", "e"], scale);
        t.add_stack(&["a", "c"], 2 * scale);
        t.add_stack(&["a", "c", "d"], scale);
        t
    }

    #[test]
    fn worked_example_of_api_md() {
        let fg = encode(&example(1), DEFAULT_MAX_NODES);
        assert_eq!(fg.names, ["total", "a", "c", "d", "b", "e"]);
        assert_eq!(
            fg.levels,
            vec![
                vec![0, 4, 0, 0],
                vec![0, 4, 0, 1],
                vec![0, 1, 0, 4, 0, 3, 2, 2],
                vec![0, 1, 1, 5, 2, 1, 1, 3],
            ]
        );
        assert_eq!((fg.total, fg.max_self), (4, 2));
    }

    #[test]
    fn max_nodes_folds_into_other() {
        // Totals: a=4, c=3, b=1, e=1, d=1. With 2 nodes the threshold is 3: b folds into
        // `other` under a; d (1) folds under c.
        let fg = encode(&example(1), 2);
        assert_eq!(fg.names, ["total", "a", "other", "c"]);
        assert_eq!(
            fg.levels,
            vec![
                vec![0, 4, 0, 0],
                vec![0, 4, 0, 1],
                vec![0, 3, 2, 3, 0, 1, 1, 2],
                vec![2, 1, 1, 2]
            ]
        );
    }

    #[test]
    fn empty_tree() {
        let fg = encode(&Tree::new(), 10);
        assert_eq!(fg.names, ["total"]);
        assert_eq!(fg.levels, vec![vec![0, 0, 0, 0]]);
    }
}
