//! Graphviz output (`format=dot`): one node per function with flat and cumulative values, one
//! edge per caller → callee pair, in the style of `pprof -dot`.

use std::collections::HashMap;
use std::fmt::Write;

use crate::tree::{ROOT, Tree};

/// Renders a tree as a Graphviz digraph, keeping the `max_nodes` functions with the largest
/// cumulative values (0 keeps all). `title` names what the values measure.
pub fn render(tree: &Tree, max_nodes: usize, title: &str) -> String {
    let totals = tree.totals();
    let nodes = tree.nodes();
    let grand_total = totals[ROOT];
    let mut flat: HashMap<&str, i64> = HashMap::new();
    let mut cum: HashMap<&str, i64> = HashMap::new();
    let mut edges: HashMap<(&str, &str), i64> = HashMap::new();
    // Depth-first with the names on the current path, so recursion counts once in `cum`.
    let mut work: Vec<(usize, usize)> = nodes[ROOT].children.iter().map(|c| (*c, 0)).collect();
    let mut path: Vec<&str> = Vec::new();
    while let Some((n, depth)) = work.pop() {
        path.truncate(depth);
        let name = tree.name(n);
        *flat.entry(name).or_default() += nodes[n].self_value;
        if !path.contains(&name) {
            *cum.entry(name).or_default() += totals[n];
        }
        if let Some(caller) = path.last() {
            *edges.entry((*caller, name)).or_default() += totals[n];
        }
        path.push(name);
        work.extend(nodes[n].children.iter().map(|c| (*c, depth + 1)));
    }
    let mut kept: Vec<(&str, i64)> = cum.iter().map(|(k, v)| (*k, *v)).collect();
    kept.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    if max_nodes > 0 {
        kept.truncate(max_nodes);
    }
    let ids: HashMap<&str, usize> = kept
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (*n, i + 1))
        .collect();
    let shown: i64 = kept
        .iter()
        .map(|(n, _)| flat.get(n).copied().unwrap_or(0))
        .sum();
    let pct = |v: i64| {
        if grand_total == 0 {
            0.0
        } else {
            v as f64 * 100.0 / grand_total as f64
        }
    };
    let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");

    let mut out = String::new();
    let _ = writeln!(out, "digraph \"unnamed\" {{");
    let _ = writeln!(out, "node [style=filled fillcolor=\"#f8f8f8\"]");
    let _ = writeln!(
        out,
        "subgraph cluster_L {{ \"Type: {t}\" [shape=box fontsize=16 label=\"Type: {t}\\lShowing nodes accounting for {shown}, {p:.2}% of {grand_total} total\\l\"] }}",
        t = esc(title),
        p = pct(shown)
    );
    let max_flat = kept
        .iter()
        .map(|(n, _)| flat.get(n).copied().unwrap_or(0))
        .max()
        .unwrap_or(0)
        .max(1);
    for (name, c) in &kept {
        let f = flat.get(name).copied().unwrap_or(0);
        let fontsize = 8 + (16 * f / max_flat);
        let _ = writeln!(
            out,
            "N{id} [label=\"{n}\\n{f} ({fp:.2}%)\\nof {c} ({cp:.2}%)\" id=\"node{id}\" fontsize={fontsize} shape=box tooltip=\"{n} ({c})\"]",
            id = ids[name],
            n = esc(name),
            fp = pct(f),
            cp = pct(*c),
        );
    }
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
            esc(from),
            esc(to),
            w = (pct(v) as i64).max(1)
        );
    }
    out.push_str("}\n");
    out
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
