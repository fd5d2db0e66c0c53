//! The flame-graph encoding Pyroscope clients draw: `names` plus `levels` of 4-number groups
//! `[x, total, self, nameIndex]`, x delta-encoded per level.
//!
//! Order rules (the reference server's): within a parent, the parent's self comes first, then its children
//! ordered by name, then `other` (children whose total is below the max-nodes threshold).
//! Names are numbered in a depth-first walk that visits children from last to first; the root
//! is `total` (index 0).

use serde::Serialize;

use std::collections::HashMap;

use crate::profile::ProfileType;
use crate::tree::{OTHER, ROOT, Tree, threshold};

/// Default `maxNodes`.
pub const DEFAULT_MAX_NODES: usize = 8192;
/// Largest `maxNodes` accepted; more is a 400.
pub const MAX_MAX_NODES: usize = 1_048_576;

/// `metadata` of a render answer: how to read the graph's values.
#[derive(Debug, Clone, Serialize)]
pub struct RenderMetadata {
    /// `single`, or `double` for a diff.
    pub format: &'static str,
    /// The profiler's name (empty).
    #[serde(rename = "spyName")]
    pub spy_name: String,
    /// Ticks per second of the values.
    #[serde(rename = "sampleRate")]
    pub sample_rate: u64,
    /// Unit name.
    pub units: &'static str,
    /// The sample type.
    pub name: String,
}

impl RenderMetadata {
    /// The metadata of a flame graph of `profile_type`: `format` is `single`, or `double`
    /// for a diff.
    pub fn of(profile_type: &ProfileType, format: &'static str) -> Self {
        let (units, sample_rate) = profile_type.render_units();
        RenderMetadata {
            format,
            spy_name: String::new(),
            sample_rate,
            units,
            name: profile_type.sample_type.clone(),
        }
    }
}

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

/// A diff flame graph (`format: "double"`): groups of 7 numbers
/// `[xL, totalL, selfL, xR, totalR, selfR, nameIndex]`, each x column delta-encoded on its own;
/// `numTicks` is left plus right.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffGraph {
    /// Names, levels, total and largest self value, as in a single graph.
    #[serde(flatten)]
    pub graph: FlameGraph,
    /// The left tree's total.
    #[serde(rename = "leftTicks")]
    pub left_ticks: i64,
    /// The right tree's total.
    #[serde(rename = "rightTicks")]
    pub right_ticks: i64,
}

#[derive(Clone, Copy)]
enum Shown<const K: usize> {
    Node(usize),
    /// Folded children: their totals per column.
    Other([i64; K]),
}

/// Encodes a tree, folding nodes below the `max_nodes` threshold into `other`.
pub fn encode(tree: &Tree, max_nodes: usize) -> FlameGraph {
    let selfs: Vec<[i64; 1]> = tree.nodes().iter().map(|n| [n.self_value]).collect();
    let (names, levels, max_self) = encode_columns(tree, &selfs, max_nodes);
    FlameGraph {
        names,
        levels,
        total: tree.totals()[ROOT],
        max_self,
    }
}

/// Encodes the diff of two trees: one tree of the union of their stacks, each node with its
/// left and right values. The max-nodes threshold applies to left + right totals.
pub fn encode_diff(left: &Tree, right: &Tree, max_nodes: usize) -> DiffGraph {
    let mut union = Tree::new();
    let mut selfs: Vec<[i64; 2]> = vec![[0, 0]];
    for (side, tree) in [left, right].into_iter().enumerate() {
        // Parents precede children in a tree, so each parent is mapped before its children.
        let mut to_union = vec![ROOT; tree.nodes().len()];
        for (i, n) in tree.nodes().iter().enumerate().skip(1) {
            let u = union.child(to_union[n.parent], tree.name(i));
            to_union[i] = u;
            if selfs.len() <= u {
                selfs.resize(u + 1, [0, 0]);
            }
            selfs[u][side] = selfs[u][side].saturating_add(n.self_value);
            union.add_self(u, n.self_value);
        }
    }
    selfs.resize(union.nodes().len(), [0, 0]);
    let (names, levels, max_self) = encode_columns(&union, &selfs, max_nodes);
    let (left_ticks, right_ticks) = (left.totals()[ROOT], right.totals()[ROOT]);
    DiffGraph {
        graph: FlameGraph {
            names,
            levels,
            total: left_ticks.saturating_add(right_ticks),
            max_self,
        },
        left_ticks,
        right_ticks,
    }
}

/// The flame-graph encoding with K value columns per node (self values in `selfs`, by node):
/// levels of `[x, total, self]` per column then the name index; nodes whose summed total is
/// below the max-nodes threshold fold into `other`. Returns names, levels and the largest
/// self value.
fn encode_columns<const K: usize>(
    tree: &Tree,
    selfs: &[[i64; K]],
    max_nodes: usize,
) -> (Vec<String>, Vec<Vec<i64>>, i64) {
    let shape = Shape::new(tree, selfs, max_nodes);
    let names = shape.number_names();
    let (mut levels, max_self) = shape.levels(selfs, &names);
    delta_encode::<K>(&mut levels);
    (names.names, levels, max_self)
}

/// What a flame graph shows of a tree: per-column totals, and which children are kept under
/// the node limit (the rest fold into `other`).
struct Shape<'a, const K: usize> {
    tree: &'a Tree,
    col_totals: Vec<[i64; K]>,
    totals: Vec<i64>,
    min_value: i64,
}

/// Name indexes in the order the reference encoder numbers them.
struct Names {
    names: Vec<String>,
    of_node: HashMap<usize, i64>,
    other: Option<i64>,
}

impl<'a, const K: usize> Shape<'a, K> {
    fn new(tree: &'a Tree, selfs: &[[i64; K]], max_nodes: usize) -> Self {
        let nodes = tree.nodes();
        // Per-column totals, children added to parents (children come after their parents).
        let mut col_totals: Vec<[i64; K]> = selfs.to_vec();
        for i in (1..nodes.len()).rev() {
            let parent = nodes[i].parent;
            let child = col_totals[i];
            for (p, c) in col_totals[parent].iter_mut().zip(child) {
                *p = p.saturating_add(c);
            }
        }
        let totals: Vec<i64> = col_totals
            .iter()
            .map(|t| t.iter().fold(0i64, |a, v| a.saturating_add(*v)))
            .collect();
        let min_value = threshold(&totals, max_nodes);
        Shape {
            tree,
            col_totals,
            totals,
            min_value,
        }
    }

    /// Children as shown: kept ones by name, then `other`.
    fn shown_children(&self, node: usize) -> Vec<Shown<K>> {
        let tree = self.tree;
        let mut kept: Vec<usize> = Vec::new();
        let mut other = [0i64; K];
        let mut folded = false;
        for &c in &tree.nodes()[node].children {
            if self.totals[c] == 0 {
                continue;
            }
            if self.totals[c] >= self.min_value && tree.name(c) != OTHER {
                kept.push(c);
            } else {
                folded = true;
                for (o, v) in other.iter_mut().zip(self.col_totals[c]) {
                    *o = o.saturating_add(v);
                }
            }
        }
        kept.sort_by(|a, b| tree.name(*a).cmp(tree.name(*b)));
        let mut out: Vec<Shown<K>> = kept.into_iter().map(Shown::Node).collect();
        if folded {
            out.push(Shown::Other(other));
        }
        out
    }

    /// Pass 1: names, depth first, children from last to first.
    fn number_names(&self) -> Names {
        let mut names = Names {
            names: vec!["total".to_string()],
            of_node: HashMap::new(),
            other: None,
        };
        let mut index: HashMap<String, i64> = HashMap::from([("total".to_string(), 0)]);
        let mut index_of = |name: &str, names: &mut Vec<String>| -> i64 {
            if let Some(i) = index.get(name) {
                return *i;
            }
            let i = names.len() as i64;
            names.push(name.to_string());
            index.insert(name.to_string(), i);
            i
        };
        let mut stack: Vec<Shown<K>> = vec![Shown::Node(ROOT)];
        while let Some(s) = stack.pop() {
            match s {
                Shown::Node(ROOT) => stack.extend(self.shown_children(ROOT)),
                Shown::Node(n) => {
                    let i = index_of(self.tree.name(n), &mut names.names);
                    names.of_node.insert(n, i);
                    // Pushing first-to-last pops last-to-first.
                    stack.extend(self.shown_children(n));
                }
                Shown::Other(_) => {
                    if names.other.is_none() {
                        names.other = Some(index_of(OTHER, &mut names.names));
                    }
                }
            }
        }
        names
    }

    /// Pass 2: levels with absolute x, depth first, children from first to last, so each
    /// level is in x order; and the largest self value.
    fn levels(&self, selfs: &[[i64; K]], names: &Names) -> (Vec<Vec<i64>>, i64) {
        let mut levels: Vec<Vec<i64>> = Vec::new();
        let mut max_self = 0i64;
        let mut work: Vec<(Shown<K>, usize, [i64; K])> = vec![(Shown::Node(ROOT), 0, [0; K])];
        while let Some((s, depth, x)) = work.pop() {
            let (total, self_value, name) = match s {
                Shown::Node(n) => (
                    self.col_totals[n],
                    selfs[n],
                    if n == ROOT { 0 } else { names.of_node[&n] },
                ),
                Shown::Other(t) => (t, t, names.other.unwrap_or(0)),
            };
            if levels.len() == depth {
                levels.push(Vec::new());
            }
            for k in 0..K {
                max_self = max_self.max(self_value[k]);
                levels[depth].extend_from_slice(&[x[k], total[k], self_value[k]]);
            }
            levels[depth].push(name);
            if let Shown::Node(n) = s {
                let mut child_x = [0i64; K];
                for k in 0..K {
                    child_x[k] = x[k] + self_value[k];
                }
                let mut children = Vec::new();
                for c in self.shown_children(n) {
                    let t = match c {
                        Shown::Node(c) => self.col_totals[c],
                        Shown::Other(t) => t,
                    };
                    children.push((c, depth + 1, child_x));
                    for k in 0..K {
                        child_x[k] += t[k];
                    }
                }
                work.extend(children.into_iter().rev());
            }
        }
        (levels, max_self)
    }
}

/// Delta-encodes each x column per level: x minus the previous group's end in that column.
fn delta_encode<const K: usize>(levels: &mut [Vec<i64>]) {
    for level in levels {
        let mut prev_end = [0i64; K];
        for group in level.chunks_exact_mut(3 * K + 1) {
            for k in 0..K {
                let x = group[3 * k];
                group[3 * k] = x - prev_end[k];
                prev_end[k] = x + group[3 * k + 1];
            }
        }
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
    fn worked_example_of_the_reference_encoding() {
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
    fn diff_of_a_tree_with_itself_and_with_another() {
        let same = encode_diff(&example(1), &example(1), DEFAULT_MAX_NODES);
        assert_eq!(same.graph.names, ["total", "a", "c", "d", "b", "e"]);
        assert_eq!(
            (same.left_ticks, same.right_ticks, same.graph.total),
            (4, 4, 8)
        );
        // Each group is the single graph's group, twice: [x, total, self] left and right.
        let single = encode(&example(1), DEFAULT_MAX_NODES);
        for (d, s) in same.graph.levels.iter().zip(&single.levels) {
            for (g7, g4) in d.chunks(7).zip(s.chunks(4)) {
                assert_eq!(g7, [g4[0], g4[1], g4[2], g4[0], g4[1], g4[2], g4[3]]);
            }
        }
        // Left has a;b;e=1, a;c=2, a;c;d=1; right only a;x=5.
        let mut right = Tree::new();
        right.add_stack(&["a", "x"], 5);
        let diff = encode_diff(&example(1), &right, DEFAULT_MAX_NODES);
        assert_eq!((diff.left_ticks, diff.right_ticks), (4, 5));
        assert_eq!(diff.graph.levels[0], [0, 4, 0, 0, 5, 0, 0]);
        // Level 2 under a: b (left 1), c (left 3), x (right 5), in name order.
        let names = |i: i64| diff.graph.names[i as usize].as_str();
        let level2: Vec<(&str, i64, i64)> = diff.graph.levels[2]
            .chunks(7)
            .map(|g| (names(g[6]), g[1], g[4]))
            .collect();
        assert_eq!(level2, [("b", 1, 0), ("c", 3, 0), ("x", 0, 5)]);
        // x columns: left x of x is after b and c (4, delta 0), right x of c is 0.
        assert_eq!(
            diff.graph.levels[2][..7],
            [0, 1, 0, 0, 0, 0, diff.graph.levels[2][6]]
        );
    }

    #[test]
    fn empty_tree() {
        let fg = encode(&Tree::new(), 10);
        assert_eq!(fg.names, ["total"]);
        assert_eq!(fg.levels, vec![vec![0, 0, 0, 0]]);
    }
}
