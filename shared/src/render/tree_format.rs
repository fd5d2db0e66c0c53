//! The reference server's binary tree format (SelectMergeStacktraces `format: tree`).

use crate::tree::{OTHER, ROOT, Tree, threshold};

impl Tree {
    /// Encodes the tree in the reference server's binary tree format (SelectMergeStacktraces
    /// `format: tree`): nodes depth first from a nameless root, each as uvarint name length,
    /// name bytes, uvarint self value and uvarint child count; children sorted by name and
    /// written last first. Children below the `max_nodes` threshold fold into an `other` child.
    pub fn marshal(&self, max_nodes: usize) -> Vec<u8> {
        let other_name = OTHER;
        let nodes = self.nodes();
        let totals = self.totals();
        let min = threshold(&totals, max_nodes);
        let mut out = Vec::new();
        // (node, or None for a new `other`; value added to its self)
        let mut stack: Vec<(Option<usize>, i64)> = vec![(Some(ROOT), 0)];
        while let Some((node, extra)) = stack.pop() {
            let (name, self_value, children) = match node {
                Some(ROOT) => ("", nodes[ROOT].self_value, &nodes[ROOT].children),
                Some(n) => (self.name(n), nodes[n].self_value, &nodes[n].children),
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

#[cfg(test)]
mod tests {
    use crate::tree::Tree;

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
