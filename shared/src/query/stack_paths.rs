//! Segments' stacks merged into one call tree by stack identity.
//!
//! Every segment has its own stack trie with its own node ids. Mapping each trie into the
//! merged tree node by node costs one (parent, name) lookup per trie node per segment, which
//! is cache-miss bound and was most of a long query's time (docs/benchmarks.md). Instead each
//! trie node gets a fingerprint of its name path in one forward pass over the trie, and only
//! the leaves that samples reference are looked up, by fingerprint, among the paths already in
//! the tree. Only stacks not seen before are walked, up to the first known prefix, and added.
//!
//! **The fingerprint** is a polynomial hash of the path in two independent lanes modulo the
//! prime p = 2⁶¹ − 1: for the names n₁…n_k from the root, `h = Σ v(nᵢ)·rⁱ mod p`, so
//! `h(node) = h(parent) + v(name)·r^depth`, where r and the keyed XXH3-128 that gives each
//! name its two lane values v are random per query. Per node that is two multiplications
//! modulo p from 32-bit halves (wasm32 has a native 64-bit multiply, not a 128-bit one), off
//! the parent-to-child dependency chain, which is one addition. The keyed XXH3-128 per node
//! it replaced needs software 128-bit multiplies on wasm32 and was a third of a 30-day query
//! (docs/benchmarks.md).
//!
//! **Exactness.** A fingerprint names a path only if no two different name paths of one query
//! share it. For two different paths of at most D frames (with different name values, and
//! the last name's value not 0), the difference of their hashes is a nonzero polynomial in r
//! of degree at most D, so one lane
//! agrees with probability at most D/p and both at most (D/p)²: for n distinct paths of
//! D ≤ 4096 frames the chance that any two collide is at most n²/2 · 2⁻⁹⁸ (10⁻¹⁴ for
//! n = 10⁸). The key is random per query, so inputs cannot be chosen to collide. Every hit is
//! also checked against the tree node it names: same frame name and same depth, or it is a
//! detected collision, logged, and that stack is mapped by the exact walk, by name, from the
//! root instead.

use std::hash::BuildHasher;

use twox_hash::XxHash3_128;

use crate::FastMap;
use crate::storage::segment::StackNode;
use crate::tree::{ROOT, Tree};

const UNMAPPED: usize = usize::MAX;

/// A merged tree's paths by fingerprint, kept across the segments of one query.
pub struct PathIndex {
    key: Key,
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
    /// r^d of each lane for the depths d seen so far (`powers[0]` is 1).
    powers: Vec<[u64; 2]>,
    depth: Vec<u32>,
    mapped: Vec<usize>,
    /// Per string: its lane values, and the tree's name id once interned.
    name_fp: Vec<Option<[u64; 2]>>,
    /// Per trie node: its lanes.
    lanes: Vec<[u64; 2]>,
    names: Vec<u32>,
}

/// The per-query random key of the fingerprints.
#[derive(Clone, Copy)]
struct Key {
    /// Seed of the names' values.
    seed: u64,
    /// Evaluation points of the two lanes, in [1, p).
    r: [u64; 2],
}

/// The prime modulus of the fingerprints' lanes.
const P: u64 = (1 << 61) - 1;

impl Key {
    fn random() -> Self {
        // foldhash seeds each RandomState from per-process randomness; each draw is new.
        let draw = |i: u64| {
            let v = foldhash::fast::RandomState::default().hash_one(i);
            v % (P - 1) + 1
        };
        Key {
            seed: draw(0),
            r: [draw(1), draw(2)],
        }
    }

    /// A name's two lane values.
    fn name(&self, name: &str) -> [u64; 2] {
        let h = XxHash3_128::oneshot_with_seed(self.seed, name.as_bytes());
        [reduce(h as u64), reduce((h >> 64) as u64)]
    }

    /// A child's lanes from its parent's, its name's and r^depth.
    #[inline]
    fn child(parent: [u64; 2], name: [u64; 2], power: [u64; 2]) -> [u64; 2] {
        [
            reduce(parent[0] + mul_mod(name[0], power[0])),
            reduce(parent[1] + mul_mod(name[1], power[1])),
        ]
    }
}

/// `x mod p` for any u64 (2⁶¹ ≡ 1).
#[inline]
fn reduce(x: u64) -> u64 {
    let x = (x & P) + (x >> 61);
    if x >= P { x - P } else { x }
}

/// `a·b mod p` for a, b < p, from 32-bit halves: four 64-bit multiplies and no 128-bit one.
#[inline]
fn mul_mod(a: u64, b: u64) -> u64 {
    let (a1, a0) = (a >> 32, a & 0xffff_ffff);
    let (b1, b0) = (b >> 32, b & 0xffff_ffff);
    // a·b = a1b1·2⁶⁴ + (a1b0 + a0b1)·2³² + a0b0, and 2⁶⁴ ≡ 8 (mod p).
    let high = (a1 * b1) << 3; // < 2⁶¹
    let mid = a1 * b0 + a0 * b1; // < 2⁶²
    let mid = ((mid >> 32) << 3) + reduce((mid & 0xffff_ffff) << 32); // < 2⁶²
    let low = reduce(a0 * b0);
    reduce(high + mid + low)
}

/// Both lanes in one map key.
fn join(lanes: [u64; 2]) -> u128 {
    (u128::from(lanes[0]) << 64) | u128::from(lanes[1])
}

impl Default for PathIndex {
    fn default() -> Self {
        PathIndex {
            key: Key::random(),
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
        sc.lanes.clear();
        sc.depth.clear();
        let key = self.key;
        if sc.powers.is_empty() {
            sc.powers.push([1, 1]);
        }
        for n in nodes {
            let s = n.name as usize;
            let name = *sc.name_fp[s].get_or_insert_with(|| key.name(&strings[s]));
            let (parent, parent_depth) = match usize::try_from(n.parent) {
                Ok(p) => (sc.lanes[p], sc.depth[p]),
                Err(_) => ([0, 0], 0u32),
            };
            let depth = parent_depth + 1;
            // A child is at most one deeper than any node before it.
            if sc.powers.len() <= depth as usize {
                let last = sc.powers[sc.powers.len() - 1];
                sc.powers
                    .push([mul_mod(last[0], key.r[0]), mul_mod(last[1], key.r[1])]);
            }
            let lanes = Key::child(parent, name, sc.powers[depth as usize]);
            sc.lanes.push(lanes);
            sc.fp.push(join(lanes));
            sc.depth.push(depth);
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
    fn multiplication_modulo_p_is_exact() {
        let cases = [
            (0, 5),
            (1, P - 1),
            (P - 1, P - 1),
            (0x1234_5678_9abc_def0 % P, P - 2),
        ];
        for (a, b) in cases {
            let want = (u128::from(a) * u128::from(b) % u128::from(P)) as u64;
            assert_eq!(mul_mod(a, b), want, "{a} * {b}");
        }
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..10_000 {
            // xorshift: many values across the whole range.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (a, b) = (x % P, x.rotate_left(29) % P);
            let want = (u128::from(a) * u128::from(b) % u128::from(P)) as u64;
            assert_eq!(mul_mod(a, b), want, "{a} * {b}");
            assert_eq!(u128::from(reduce(x)), u128::from(x) % u128::from(P));
        }
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
