//! A call tree merged by function name: the shape every flame graph is drawn from.
//!
//! Nodes are created parent-first, so a node's index is always greater than its parent's;
//! totals are computed in one reverse pass instead of being updated on every insert.

use crate::FastMap;

/// The index of the root node.
pub const ROOT: usize = 0;

/// One node: a function name at one position in the call tree.
#[derive(Debug, Clone)]
pub struct TreeNode {
    /// Index into [`Tree::names`].
    pub name: u32,
    /// Parent node, `usize::MAX` for the root.
    pub parent: usize,
    /// Value of stacks that end here.
    pub self_value: i64,
    /// Child node indexes, in insertion order.
    pub children: Vec<usize>,
}

/// A merged call tree.
#[derive(Debug, Clone)]
pub struct Tree {
    names: Vec<String>,
    name_ids: FastMap<String, u32>,
    nodes: Vec<TreeNode>,
    child_ids: FastMap<(usize, u32), usize>,
}

impl Default for Tree {
    fn default() -> Self {
        Self::new()
    }
}

impl Tree {
    /// Creates a tree with only the root (named `total`).
    pub fn new() -> Self {
        Tree {
            names: vec!["total".to_string()],
            name_ids: FastMap::from_iter([("total".to_string(), 0)]),
            nodes: vec![TreeNode {
                name: 0,
                parent: usize::MAX,
                self_value: 0,
                children: Vec::new(),
            }],
            child_ids: FastMap::default(),
        }
    }

    /// Returns the interned names.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Returns the nodes; index 0 is the root.
    pub fn nodes(&self) -> &[TreeNode] {
        &self.nodes
    }

    /// Returns the name of a node.
    pub fn name(&self, node: usize) -> &str {
        &self.names[self.nodes[node].name as usize]
    }

    /// Returns the child of `parent` named `name`, creating it if needed.
    pub fn child(&mut self, parent: usize, name: &str) -> usize {
        let name_id = self.name_id(name);
        self.child_named(parent, name_id)
    }

    /// Interns `name`: the id [`Tree::child_named`] takes.
    pub fn name_id(&mut self, name: &str) -> u32 {
        match self.name_ids.get(name) {
            Some(id) => *id,
            None => {
                let id = self.names.len() as u32;
                self.names.push(name.to_string());
                self.name_ids.insert(name.to_string(), id);
                id
            }
        }
    }

    /// Returns the child of `parent` whose name has the id `name_id` (from
    /// [`Tree::name_id`]), creating it if needed. Callers that meet the same names many times
    /// intern them once and skip hashing the strings.
    pub fn child_named(&mut self, parent: usize, name_id: u32) -> usize {
        if let Some(node) = self.child_ids.get(&(parent, name_id)) {
            return *node;
        }
        let node = self.nodes.len();
        self.nodes.push(TreeNode {
            name: name_id,
            parent,
            self_value: 0,
            children: Vec::new(),
        });
        self.nodes[parent].children.push(node);
        self.child_ids.insert((parent, name_id), node);
        node
    }

    /// Adds `value` to the self value of `node`.
    pub fn add_self(&mut self, node: usize, value: i64) {
        let n = &mut self.nodes[node];
        n.self_value = n.self_value.saturating_add(value);
    }

    /// Adds one stack (root first) with its value.
    pub fn add_stack<S: AsRef<str>>(&mut self, stack: &[S], value: i64) {
        let mut node = ROOT;
        for frame in stack {
            node = self.child(node, frame.as_ref());
        }
        self.add_self(node, value);
    }

    /// Returns every node's total (its self value plus its descendants').
    pub fn totals(&self) -> Vec<i64> {
        let mut totals: Vec<i64> = self.nodes.iter().map(|n| n.self_value).collect();
        for i in (1..self.nodes.len()).rev() {
            let parent = self.nodes[i].parent;
            totals[parent] = totals[parent].saturating_add(totals[i]);
        }
        totals
    }

    /// Encodes the tree in the reference server's binary tree format (SelectMergeStacktraces
    /// `format: tree`): nodes depth first from a nameless root, each as uvarint name length,
    /// name bytes, uvarint self value and uvarint child count; children sorted by name and
    /// written last first. Children below the `max_nodes` threshold fold into an `other` child.
    pub fn marshal(&self, max_nodes: usize) -> Vec<u8> {
        let other_name = crate::flamebearer::OTHER;
        let totals = self.totals();
        let min = threshold(&totals, max_nodes);
        let mut out = Vec::new();
        // (node, or None for a new `other`; value added to its self)
        let mut stack: Vec<(Option<usize>, i64)> = vec![(Some(ROOT), 0)];
        while let Some((node, extra)) = stack.pop() {
            let (name, self_value, children) = match node {
                Some(ROOT) => ("", self.nodes[ROOT].self_value, &self.nodes[ROOT].children),
                Some(n) => (
                    self.name(n),
                    self.nodes[n].self_value,
                    &self.nodes[n].children,
                ),
                None => (other_name, 0, &Vec::new()),
            };
            put_uvarint(&mut out, name.len() as u64);
            out.extend_from_slice(name.as_bytes());
            put_uvarint(&mut out, self_value.saturating_add(extra) as u64);
            let mut kept: Vec<(Option<usize>, i64)> = Vec::with_capacity(children.len());
            let mut folded = 0i64;
            let mut existing_other = None;
            for &c in children {
                if self.name(c) == other_name {
                    existing_other = Some(c);
                } else if totals[c] >= min {
                    kept.push((Some(c), 0));
                } else {
                    folded = folded.saturating_add(totals[c]);
                }
            }
            match existing_other {
                Some(c) => kept.push((Some(c), folded)),
                None if folded > 0 => kept.push((None, folded)),
                None => {}
            }
            let name_of = |n: &Option<usize>| n.map_or(other_name, |n| self.name(n));
            kept.sort_by(|a, b| name_of(&a.0).cmp(name_of(&b.0)));
            put_uvarint(&mut out, kept.len() as u64);
            stack.extend(kept);
        }
        out
    }
}

fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The `max_nodes`-th largest of `totals[1..]` (index 0 is a root, not counted), or 0 when
/// there are fewer or `max_nodes` is 0: the smallest total a node keeps under a node limit.
pub fn threshold(totals: &[i64], max_nodes: usize) -> i64 {
    if max_nodes == 0 || totals.len() <= max_nodes {
        return 0;
    }
    let mut rest: Vec<i64> = totals[1..].to_vec();
    let (_, kth, _) = rest.select_nth_unstable_by(max_nodes - 1, |a, b| b.cmp(a));
    *kth
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_and_totals() {
        let mut t = Tree::new();
        t.add_stack(&["a", "b"], 1);
        t.add_stack(&["a", "b"], 2);
        t.add_stack(&["a"], 4);
        let totals = t.totals();
        assert_eq!(totals[ROOT], 7);
        let a = t.child(ROOT, "a");
        assert_eq!(totals[a], 7);
        assert_eq!(t.nodes()[a].self_value, 4);
        assert_eq!(threshold(&totals, 1), 7);
        assert_eq!(threshold(&totals, 2), 3);
        assert_eq!(threshold(&totals, 3), 0);
    }

    /// Decodes the tree format independently into (root-first name path, self) pairs.
    fn unmarshal(b: &[u8]) -> Vec<(Vec<String>, u64)> {
        fn uvarint(b: &[u8], at: &mut usize) -> u64 {
            let (mut v, mut shift) = (0u64, 0);
            loop {
                let byte = b[*at];
                *at += 1;
                v |= u64::from(byte & 0x7f) << shift;
                if byte < 0x80 {
                    return v;
                }
                shift += 7;
            }
        }
        let mut out = Vec::new();
        let mut at = 0;
        // Each entry: the path of the parent whose next child comes next.
        let mut parents: Vec<Vec<String>> = vec![vec![]];
        let mut first = true;
        while let Some(parent) = parents.pop() {
            let len = uvarint(b, &mut at) as usize;
            let name = String::from_utf8(b[at..at + len].to_vec()).unwrap();
            at += len;
            let self_value = uvarint(b, &mut at);
            let children = uvarint(b, &mut at);
            let path = if first {
                first = false;
                vec![]
            } else {
                let mut p = parent.clone();
                p.push(name);
                p
            };
            if self_value > 0 {
                out.push((path.clone(), self_value));
            }
            for _ in 0..children {
                parents.push(path.clone());
            }
        }
        assert_eq!(at, b.len());
        out.sort();
        out
    }

    #[test]
    fn marshal_round_trips_and_folds_into_other() {
        let mut t = Tree::new();
        t.add_stack(&["a", "b"], 5);
        t.add_stack(&["a", "c"], 1);
        t.add_stack(&["a", "d"], 1);
        t.add_stack(&["e"], 300);
        let path = |p: &[&str], v| (p.iter().map(|s| s.to_string()).collect::<Vec<_>>(), v);
        assert_eq!(
            unmarshal(&t.marshal(0)),
            [
                path(&["a", "b"], 5),
                path(&["a", "c"], 1),
                path(&["a", "d"], 1),
                path(&["e"], 300)
            ]
        );
        // Three nodes: e (300), a (7), b (5); c and d fold into a's `other`.
        assert_eq!(
            unmarshal(&t.marshal(3)),
            [
                path(&["a", "b"], 5),
                path(&["a", "other"], 2),
                path(&["e"], 300)
            ]
        );
        // The root is nameless; the first byte is its name's length.
        assert_eq!(t.marshal(0)[0], 0);
    }
}
