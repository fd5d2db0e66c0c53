//! Pyroscope's legacy binary upload formats, `format=tree` and `format=trie`.
//!
//! Both are a pre-order serialization of nodes, each `uvarint name length, name bytes, uvarint
//! value, uvarint child count`, children following their parent depth first.
//! - **tree**: a node is one frame and its value is the frame's self value; the first node is
//!   the root, which is not a frame.
//! - **trie**: node names are byte fragments; a node's key is the concatenation of the names on
//!   its path, and a node with a value > 0 is the folded stack `a;b;c` with that value.

use crate::profile::NamedSample;
use crate::{Error, Result};

use super::IngestError;

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    format: &'static str,
}

impl<'a> Reader<'a> {
    fn error(&self, reason: &'static str) -> Error {
        IngestError::InvalidLegacy {
            format: self.format,
            at: self.pos,
            reason,
        }
        .into()
    }

    fn uvarint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err(self.error("truncated"));
            };
            self.pos += 1;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.error("varint longer than 64 bits"))
    }

    /// Reads one node: (name, value, child count).
    fn node(&mut self) -> Result<(&'a [u8], u64, u64)> {
        let len = self.uvarint()? as usize;
        let name = self
            .bytes
            .get(self.pos..self.pos.saturating_add(len))
            .ok_or_else(|| self.error("name runs past the end"))?;
        self.pos += len;
        let value = self.uvarint()?;
        let children = self.uvarint()?;
        // Every child takes at least three bytes: a count beyond that is corrupt.
        if children > (self.bytes.len() - self.pos) as u64 {
            return Err(self.error("more children than bytes left"));
        }
        Ok((name, value, children))
    }
}

/// Walks the nodes, calling `visit(path, value)` for each node, where `path` holds the names
/// from the root down to the node.
fn walk<'a>(
    bytes: &'a [u8],
    format: &'static str,
    mut visit: impl FnMut(&[&'a [u8]], u64),
) -> Result<()> {
    let mut r = Reader {
        bytes,
        pos: 0,
        format,
    };
    let mut path: Vec<&'a [u8]> = Vec::new();
    let mut remaining: Vec<u64> = Vec::new();
    loop {
        let (name, value, children) = r.node()?;
        path.push(name);
        visit(&path, value);
        if children > 0 {
            remaining.push(children);
            continue;
        }
        // A leaf: close every ancestor whose last child this was.
        path.pop();
        loop {
            match remaining.last_mut() {
                None => return Ok(()),
                Some(left) => {
                    *left -= 1;
                    if *left > 0 {
                        break;
                    }
                    remaining.pop();
                    path.pop();
                }
            }
        }
    }
}

fn utf8(bytes: &[u8], format: &'static str) -> Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| IngestError::LegacyNameNotUtf8 { format }.into())
}

/// Parses `format=tree`.
pub fn parse_tree(bytes: &[u8]) -> Result<Vec<NamedSample>> {
    let mut out = Vec::new();
    let mut failed = None;
    walk(bytes, "tree", |path, value| {
        if value == 0 || path.len() < 2 {
            return;
        }
        match path[1..]
            .iter()
            .map(|n| utf8(n, "tree"))
            .collect::<Result<Vec<_>>>()
        {
            Ok(stack) => out.push(NamedSample {
                stack,
                value: value.min(i64::MAX as u64) as i64,
            }),
            Err(e) => failed = Some(e),
        }
    })?;
    match failed {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Parses `format=trie`.
pub fn parse_trie(bytes: &[u8]) -> Result<Vec<NamedSample>> {
    let mut out = Vec::new();
    let mut failed = None;
    walk(bytes, "trie", |path, value| {
        if value == 0 {
            return;
        }
        let key: Vec<u8> = path.concat();
        match utf8(&key, "trie") {
            Ok(key) => {
                let stack: Vec<String> = key
                    .split(';')
                    .filter(|f| !f.is_empty())
                    .map(String::from)
                    .collect();
                if !stack.is_empty() {
                    out.push(NamedSample {
                        stack,
                        value: value.min(i64::MAX as u64) as i64,
                    });
                }
            }
            Err(e) => failed = Some(e),
        }
    })?;
    match failed {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_node(out: &mut Vec<u8>, name: &[u8], value: u64, children: usize) {
    put_uvarint(out, name.len() as u64);
    out.extend_from_slice(name);
    put_uvarint(out, value);
    put_uvarint(out, children as u64);
}

/// Serializes stacks as a `format=tree` body (what older Pyroscope agents send).
pub fn encode_tree(samples: &[NamedSample]) -> Vec<u8> {
    let mut tree = crate::tree::Tree::new();
    for s in samples {
        tree.add_stack(&s.stack, s.value);
    }
    let nodes = tree.nodes();
    let mut out = Vec::new();
    let mut work = vec![crate::tree::ROOT];
    while let Some(n) = work.pop() {
        let name = if n == crate::tree::ROOT {
            ""
        } else {
            tree.name(n)
        };
        let node = &nodes[n];
        put_node(
            &mut out,
            name.as_bytes(),
            node.self_value.max(0) as u64,
            node.children.len(),
        );
        work.extend(node.children.iter().rev());
    }
    out
}

/// Serializes stacks as a `format=trie` body: one key `a;b;c` per stack below the root.
pub fn encode_trie(samples: &[NamedSample]) -> Vec<u8> {
    let mut out = Vec::new();
    put_node(&mut out, b"", 0, samples.len());
    for s in samples {
        put_node(
            &mut out,
            s.stack.join(";").as_bytes(),
            s.value.max(0) as u64,
            0,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes nodes in the wire format: (name, value, children).
    fn encode(nodes: &[(&str, u64, u64)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, value, children) in nodes {
            put_node(&mut out, name.as_bytes(), *value, *children as usize);
        }
        out
    }

    #[test]
    fn encoders_round_trip() {
        let samples =
            crate::ingest::folded::parse_folded("a;b;e 1\na;c 2\na;c;d 1\nx 300000\n").unwrap();
        let expected = folded(&samples);
        assert_eq!(
            folded(&parse_tree(&encode_tree(&samples)).unwrap()),
            expected
        );
        assert_eq!(
            folded(&parse_trie(&encode_trie(&samples)).unwrap()),
            expected
        );
    }

    fn folded(samples: &[NamedSample]) -> Vec<(String, i64)> {
        let mut v: Vec<(String, i64)> = samples
            .iter()
            .map(|s| (s.stack.join(";"), s.value))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn tree() {
        // root → a(0) → {b(1) → e(1), c(2) → d(1)}: the reference documentation's worked example.
        let body = encode(&[
            ("", 0, 1),
            ("a", 0, 2),
            ("b", 0, 1),
            ("e", 1, 0),
            ("c", 2, 1),
            ("d", 1, 0),
        ]);
        assert_eq!(
            folded(&parse_tree(&body).unwrap()),
            [("a;b;e".into(), 1), ("a;c".into(), 2), ("a;c;d".into(), 1)]
        );
    }

    #[test]
    fn trie() {
        // Keys share byte prefixes, not whole frames: "a;b;e", "a;c", "a;c;d".
        let body = encode(&[
            ("", 0, 1),
            ("a;", 0, 2),
            ("b;e", 1, 0),
            ("c", 2, 1),
            (";d", 1, 0),
        ]);
        assert_eq!(
            folded(&parse_trie(&body).unwrap()),
            [("a;b;e".into(), 1), ("a;c".into(), 2), ("a;c;d".into(), 1)]
        );
        // Large values use multi-byte varints.
        let body = encode(&[("", 0, 1), ("x;y", 300_000, 0)]);
        assert_eq!(
            folded(&parse_trie(&body).unwrap()),
            [("x;y".into(), 300_000)]
        );
    }

    #[test]
    fn corrupt_bodies_are_errors_not_panics() {
        let good = encode(&[
            ("", 0, 1),
            ("a", 0, 2),
            ("b", 0, 1),
            ("e", 1, 0),
            ("c", 2, 1),
            ("d", 1, 0),
        ]);
        for cut in 0..good.len() {
            assert!(parse_tree(&good[..cut]).is_err(), "cut at {cut}");
            assert!(parse_trie(&good[..cut]).is_err(), "cut at {cut}");
        }
        assert!(parse_tree(&[0x80; 20]).is_err());
        assert!(parse_tree(&encode(&[("", 0, u64::MAX)])).is_err());
        assert!(parse_trie(&encode(&[("", 0, 1), ("\u{0}\u{ff}", 1, 0)])).is_ok());
        let bad_utf8 = [1, 0xff, 1, 0];
        assert!(
            parse_tree(
                &[0, 0, 1]
                    .iter()
                    .chain(&bad_utf8)
                    .copied()
                    .collect::<Vec<_>>()
            )
            .is_err()
        );
    }
}
