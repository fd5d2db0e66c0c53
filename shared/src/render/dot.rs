//! Graphviz output (`format=dot`): one node per function with flat and cumulative values, one
//! edge per caller → callee pair, in the style of `pprof -dot`.

use std::collections::HashMap;
use std::fmt::Write;

use crate::tree::{ROOT, Tree};

/// Per function: flat (self) and cumulative values, and the value of each caller → callee
/// edge.
struct Functions<'a> {
    flat: HashMap<&'a str, i64>,
    cum: HashMap<&'a str, i64>,
    edges: HashMap<(&'a str, &'a str), i64>,
}

impl<'a> Functions<'a> {
    /// Walks the tree depth first with the names on the current path, so that recursion
    /// counts once in `cum`.
    fn of(tree: &'a Tree, totals: &[i64]) -> Self {
        let nodes = tree.nodes();
        let mut f = Functions {
            flat: HashMap::new(),
            cum: HashMap::new(),
            edges: HashMap::new(),
        };
        let mut work: Vec<(usize, usize)> = nodes[ROOT].children.iter().map(|c| (*c, 0)).collect();
        let mut path: Vec<&str> = Vec::new();
        while let Some((n, depth)) = work.pop() {
            path.truncate(depth);
            let name = tree.name(n);
            *f.flat.entry(name).or_default() += nodes[n].self_value;
            if !path.contains(&name) {
                *f.cum.entry(name).or_default() += totals[n];
            }
            if let Some(caller) = path.last() {
                *f.edges.entry((*caller, name)).or_default() += totals[n];
            }
            path.push(name);
            work.extend(nodes[n].children.iter().map(|c| (*c, depth + 1)));
        }
        f
    }

    fn flat_of(&self, name: &str) -> i64 {
        self.flat.get(name).copied().unwrap_or(0)
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Renders a tree as a Graphviz digraph, keeping the `max_nodes` functions with the largest
/// cumulative values (0 keeps all). `title` names what the values measure.
pub fn render(tree: &Tree, max_nodes: usize, title: &str) -> String {
    let totals = tree.totals();
    let grand_total = totals[ROOT];
    let functions = Functions::of(tree, &totals);
    let mut kept: Vec<(&str, i64)> = functions.cum.iter().map(|(k, v)| (*k, *v)).collect();
    kept.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    if max_nodes > 0 {
        kept.truncate(max_nodes);
    }
    let ids: HashMap<&str, usize> = kept
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (*n, i + 1))
        .collect();
    let pct = |v: i64| {
        if grand_total == 0 {
            0.0
        } else {
            v as f64 * 100.0 / grand_total as f64
        }
    };
    let mut out = String::new();
    write_header(&mut out, title, &kept, &functions, grand_total, &pct);
    write_nodes(&mut out, &kept, &functions, &ids, &pct);
    write_edges(&mut out, functions.edges, &ids, &pct);
    out.push_str("}\n");
    out
}

// Writing to a String cannot fail: the `fmt::Result`s below are always `Ok`.

fn write_header(
    out: &mut String,
    title: &str,
    kept: &[(&str, i64)],
    functions: &Functions<'_>,
    grand_total: i64,
    pct: &dyn Fn(i64) -> f64,
) {
    let shown: i64 = kept.iter().map(|(n, _)| functions.flat_of(n)).sum();
    let _ = writeln!(out, "digraph \"unnamed\" {{");
    let _ = writeln!(out, "node [style=filled fillcolor=\"#f8f8f8\"]");
    let _ = writeln!(
        out,
        "subgraph cluster_L {{ \"Type: {t}\" [shape=box fontsize=16 label=\"Type: {t}\\lShowing nodes accounting for {shown}, {p:.2}% of {grand_total} total\\l\"] }}",
        t = escape(title),
        p = pct(shown)
    );
}

fn write_nodes(
    out: &mut String,
    kept: &[(&str, i64)],
    functions: &Functions<'_>,
    ids: &HashMap<&str, usize>,
    pct: &dyn Fn(i64) -> f64,
) {
    let max_flat = kept
        .iter()
        .map(|(n, _)| functions.flat_of(n))
        .max()
        .unwrap_or(0)
        .max(1);
    for (name, c) in kept {
        let f = functions.flat_of(name);
        let fontsize = 8 + (16 * f / max_flat);
        let _ = writeln!(
            out,
            "N{id} [label=\"{n}\\n{f} ({fp:.2}%)\\nof {c} ({cp:.2}%)\" id=\"node{id}\" fontsize={fontsize} shape=box tooltip=\"{n} ({c})\"]",
            id = ids[name],
            n = escape(name),
            fp = pct(f),
            cp = pct(*c),
        );
    }
}

fn write_edges(
    out: &mut String,
    edges: HashMap<(&str, &str), i64>,
    ids: &HashMap<&str, usize>,
    pct: &dyn Fn(i64) -> f64,
) {
    let mut edge_list: Vec<((&str, &str), i64)> = edges
        .into_iter()
        .filter(|((a, b), _)| ids.contains_key(a) && ids.contains_key(b))
        .collect();
    edge_list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for ((from, to), v) in edge_list {
        let _ = writeln!(
            out,
            "N{} -> N{} [label=\" {v}\" weight={w} tooltip=\"{} -> {} ({v})\"]",
            ids[from],
            ids[to],
            escape(from),
            escape(to),
            w = (pct(v) as i64).max(1)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_has_nodes_and_edges() {
        let mut t = Tree::new();
        t.add_stack(&["main", "work"], 3);
        t.add_stack(&["main", "idle"], 1);
        let dot = render(&t, 0, "cpu");
        assert!(dot.starts_with("digraph \"unnamed\" {"));
        assert!(
            dot.contains("N1 [label=\"main\\n0 (0.00%)\\nof 4 (100.00%)\""),
            "{dot}"
        );
        assert!(dot.contains("N1 -> N2 [label=\" 3\""), "{dot}");
        assert!(dot.trim_end().ends_with('}'));
        let limited = render(&t, 2, "cpu");
        assert!(!limited.contains("idle"));
    }
}
