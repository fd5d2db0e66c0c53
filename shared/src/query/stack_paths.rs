//! Segments' stacks merged into one call tree by stack identity.
//!
//! Every segment has its own stack trie with its own node ids. Mapping each trie into the
//! merged tree node by node costs one (parent, name) lookup per trie node per segment, which
//! is cache-miss bound and was most of a long query's time (docs/benchmarks.md). Instead each
//! trie node gets a fingerprint of its name path in one forward pass over the trie (a keyed
//! 128-bit XXH3 of the parent's fingerprint and the frame's name), and only the leaves that
//! samples reference are looked up, by fingerprint, among the paths already in the tree. Only
//! stacks not seen before are walked, up to the first known prefix, and added.
//!
//! **Exactness.** A fingerprint names a path only if no two different name paths of one query
//! share it. The key is random per query, so inputs cannot be chosen to collide; for n
//! distinct paths in a query the chance that any two collide is at most n²/2¹²⁹ (10⁻²² for
//! n = 10⁸). Every hit is also checked against the tree node it names: same frame name and
//! same depth, or it is a detected collision, logged, and that stack is mapped by the exact
//! walk, by name, from the root instead.

use std::hash::BuildHasher;

use twox_hash::XxHash3_128;

use crate::FastMap;
use crate::storage::segment::StackNode;
use crate::tree::{ROOT, Tree};

const UNMAPPED: usize = usize::MAX;

/// A merged tree's paths by fingerprint, kept across the segments of one query.
pub struct PathIndex {
    seed: u64,
    by_path: FastMap<u128, usize>,
    /// Depth of each tree node this index made or found (the root is 0).
    depth: Vec<u32>,
    /// The per-segment vectors, kept between segments: allocating them anew for every
    /// segment cost as much in page faults as the fingerprints.
    scratch: Scratch,
}

#[derive(Default)]
struct Scratch {
    /// Per trie node: its path's fingerprint, its depth (a root frame is 1), and the tree
    /// node once known.
    fp: Vec<u128>,
    depth: Vec<u32>,
    mapped: Vec<usize>,
    /// Per string: its fingerprint, and the tree's name id once interned.
    name_fp: Vec<Option<u128>>,
    names: Vec<u32>,
}

impl Default for PathIndex {
    fn default() -> Self {
        PathIndex {
            // foldhash seeds each RandomState from per-process randomness.
            seed: foldhash::fast::RandomState::default().hash_one(0x5eed_u64),
            by_path: FastMap::default(),
            depth: vec![0],
            scratch: Scratch::default(),
        }
    }
}

impl PathIndex {
    /// Starts mapping one segment's trie (`nodes`, whose names index `strings`) into `tree`.
    /// The reader has checked that parents precede their children and that names are in
    /// range.
    pub fn segment<'s>(
        &'s mut self,
        tree: &'s mut Tree,
        nodes: &'s [StackNode],
        strings: &'s [String],
    ) -> SegmentPaths<'s> {
        let mut sc = std::mem::take(&mut self.scratch);
        sc.name_fp.clear();
        sc.name_fp.resize(strings.len(), None);
        sc.fp.clear();
        sc.depth.clear();
        for n in nodes {
            let s = n.name as usize;
            let name = *sc.name_fp[s].get_or_insert_with(|| {
                XxHash3_128::oneshot_with_seed(self.seed, strings[s].as_bytes())
            });
            let (parent_fp, parent_depth) = match usize::try_from(n.parent) {
                Ok(p) => (sc.fp[p], sc.depth[p]),
                Err(_) => (0u128, 0u32),
            };
            let mut pair = [0u8; 32];
            pair[..16].copy_from_slice(&parent_fp.to_le_bytes());
            pair[16..].copy_from_slice(&name.to_le_bytes());
            sc.fp.push(XxHash3_128::oneshot_with_seed(self.seed, &pair));
            sc.depth.push(parent_depth + 1);
        }
        sc.mapped.clear();
        sc.mapped.resize(nodes.len(), UNMAPPED);
        sc.names.clear();
        sc.names.resize(strings.len(), u32::MAX);
        SegmentPaths {
            index: self,
            tree,
            nodes,
            strings,
            sc,
        }
    }

    fn record(&mut self, tree_node: usize, fp: u128, depth: u32) {
        self.by_path.insert(fp, tree_node);
        if self.depth.len() <= tree_node {
            self.depth.resize(tree_node + 1, u32::MAX);
        }
        self.depth[tree_node] = depth;
    }
}

/// One segment's trie being mapped into the merged tree.
pub struct SegmentPaths<'s> {
    index: &'s mut PathIndex,
    tree: &'s mut Tree,
    nodes: &'s [StackNode],
    strings: &'s [String],
    sc: Scratch,
}

impl Drop for SegmentPaths<'_> {
    fn drop(&mut self) {
        self.index.scratch = std::mem::take(&mut self.sc);
    }
}

impl SegmentPaths<'_> {
    /// The merged tree's node for the stack whose leaf is trie node `leaf`, added if new.
    pub fn tree_node(&mut self, leaf: u32) -> usize {
        let leaf = leaf as usize;
        if self.sc.mapped[leaf] != UNMAPPED {
            return self.sc.mapped[leaf];
        }
        // Up to the first node whose tree node is known: mapped in this segment, or a path
        // the tree already has.
        let mut chain = Vec::new();
        let mut at = ROOT;
        let mut n = leaf as i32;
        while let Ok(i) = usize::try_from(n) {
            if self.sc.mapped[i] != UNMAPPED {
                at = self.sc.mapped[i];
                break;
            }
            if let Some(&t) = self.index.by_path.get(&self.sc.fp[i]) {
                if self.same_frame(t, i) {
                    self.sc.mapped[i] = t;
                    at = t;
                    break;
                }
                tracing::warn!(
                    "stack fingerprint collision at depth {}; mapping that stack by name",
                    self.sc.depth[i]
                );
                return self.by_name(leaf);
            }
            chain.push(i);
            n = self.nodes[i].parent;
        }
        for &i in chain.iter().rev() {
            let name = self.name_id(i);
            at = self.tree.child_named(at, name);
            self.sc.mapped[i] = at;
            self.index.record(at, self.sc.fp[i], self.sc.depth[i]);
        }
        at
    }

    /// Whether tree node `t` has trie node `i`'s frame name and depth.
    fn same_frame(&mut self, t: usize, i: usize) -> bool {
        let name = self.name_id(i);
        self.tree.nodes()[t].name == name && self.index.depth.get(t) == Some(&self.sc.depth[i])
    }

    /// The exact walk: the stack's names from the root, each looked up under its parent.
    fn by_name(&mut self, leaf: usize) -> usize {
        let mut chain = Vec::new();
        let mut n = leaf as i32;
        while let Ok(i) = usize::try_from(n) {
            chain.push(i);
            n = self.nodes[i].parent;
        }
        let mut at = ROOT;
        for &i in chain.iter().rev() {
            let name = self.name_id(i);
            at = self.tree.child_named(at, name);
        }
        at
    }

    fn name_id(&mut self, node: usize) -> u32 {
        let s = self.nodes[node].name as usize;
        if self.sc.names[s] == u32::MAX {
            self.sc.names[s] = self.tree.name_id(&self.strings[s]);
        }
        self.sc.names[s]
    }

    /// Adds `value` to the self value of a tree node.
    pub fn add_self(&mut self, node: usize, value: i64) {
        self.tree.add_self(node, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(parent: i32, name: u32) -> StackNode {
        StackNode { parent, name }
    }

    fn strings(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    /// The tree's stacks as "a;b value" lines, sorted.
    fn folded(tree: &Tree) -> Vec<String> {
        let mut out = Vec::new();
        for (i, n) in tree.nodes().iter().enumerate().skip(1) {
            if n.self_value == 0 {
                continue;
            }
            let mut path = Vec::new();
            let mut at = i;
            while at != ROOT {
                path.push(tree.name(at).to_string());
                at = tree.nodes()[at].parent;
            }
            path.reverse();
            out.push(format!("{} {}", path.join(";"), n.self_value));
        }
        out.sort();
        out
    }

    #[test]
    fn segments_with_different_ids_merge_by_name_path() {
        let mut tree = Tree::new();
        let mut index = PathIndex::default();
        // Segment 1: main;a;x and main;b.
        let s1 = strings(&["main", "a", "x", "b"]);
        let n1 = [node(-1, 0), node(0, 1), node(1, 2), node(0, 3)];
        let mut p = index.segment(&mut tree, &n1, &s1);
        for (leaf, v) in [(2, 5), (3, 1), (2, 2)] {
            let t = p.tree_node(leaf);
            p.add_self(t, v);
        }
        drop(p);
        // Segment 2: other ids and string order; main;a;x again, main;a (an inner node of
        // segment 1's stack), and x as a root frame, a different path with the same leaf name.
        let s2 = strings(&["x", "a", "main"]);
        let n2 = [node(-1, 2), node(0, 1), node(1, 0), node(-1, 0)];
        let mut p = index.segment(&mut tree, &n2, &s2);
        for (leaf, v) in [(2, 10), (1, 3), (3, 7)] {
            let t = p.tree_node(leaf);
            p.add_self(t, v);
        }
        drop(p);
        assert_eq!(
            folded(&tree),
            ["main;a 3", "main;a;x 17", "main;b 1", "x 7"],
            "{:?}",
            tree.nodes()
        );
    }

    #[test]
    fn a_colliding_fingerprint_is_detected_and_mapped_by_name() {
        let mut tree = Tree::new();
        let mut index = PathIndex::default();
        let s = strings(&["main", "a", "b"]);
        let n = [node(-1, 0), node(0, 1), node(0, 2)];
        let mut p = index.segment(&mut tree, &n, &s);
        let a = p.tree_node(1);
        p.add_self(a, 1);
        // Forge a collision: main;b's fingerprint now names main;a's tree node.
        let fp_b = p.sc.fp[2];
        p.index.by_path.insert(fp_b, a);
        let b = p.tree_node(2);
        p.add_self(b, 4);
        drop(p);
        assert_ne!(a, b);
        assert_eq!(folded(&tree), ["main;a 1", "main;b 4"]);
    }
}
