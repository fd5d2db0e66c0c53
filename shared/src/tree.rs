//! A call tree merged by function name: the shape every flame graph is drawn from.
//!
//! Nodes are created parent-first, so a node's index is always greater than its parent's;
//! totals are computed in one reverse pass instead of being updated on every insert.

use crate::FastMap;

/// The index of the root node.
pub const ROOT: usize = 0;

/// The name of the node that children below a node limit fold into.
pub const OTHER: &str = "other";

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
}
