//! A stack's stored identity: a fingerprint of its function-name path, the same in every
//! segment, so that a query can recognise a day segment's stacks by their fingerprints alone
//! and skip decoding the trie when it has seen them all (format 6, day sums).
//!
//! `f(root frame) = H(0¹²⁸ ‖ name)`, `f(child) = H(f(parent) ‖ name)`, where H is SHA-256
//! truncated to 128 bits. The parent's part has a fixed length, so the input names the
//! (parent path, name) pair unambiguously, and two different name paths share a fingerprint
//! only through a collision of truncated SHA-256: ~2⁶⁴ work to find one on purpose, and a
//! chance of n²/2¹²⁹ among n paths by accident (10⁻²³ for n = 10⁸). Unlike a query's own
//! fingerprints (`query::stack_paths`, random per query) these are fixed, so they are
//! cryptographic: no one who can send profiles can aim two stacks at one fingerprint.
//! Only names count, because flame graphs merge stacks by their name paths.

use sha2::{Digest, Sha256};

use super::StackNode;

/// A name path's fingerprint.
pub type PathFingerprint = u128;

/// The fingerprint of the path `parent` (`None` for a root frame) followed by `name`.
pub fn path_fingerprint(parent: Option<PathFingerprint>, name: &str) -> PathFingerprint {
    let mut h = Sha256::new();
    h.update(parent.unwrap_or(0).to_be_bytes());
    h.update(name.as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(first)
}

/// The fingerprint of every node of a trie whose parents precede their children and whose
/// names index `strings` (as a segment's do), in node order; `None` for a node that breaks
/// either rule.
pub fn path_fingerprints(nodes: &[StackNode], strings: &[String]) -> Option<Vec<PathFingerprint>> {
    let mut out: Vec<PathFingerprint> = Vec::with_capacity(nodes.len());
    for n in nodes {
        let parent = match usize::try_from(n.parent) {
            Ok(p) => Some(*out.get(p)?),
            Err(_) => None,
        };
        out.push(path_fingerprint(parent, strings.get(n.name as usize)?));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(path: &[&str]) -> PathFingerprint {
        path.iter()
            .fold(None, |p, n| Some(path_fingerprint(p, n)))
            .unwrap_or(0)
    }

    #[test]
    fn a_fingerprint_is_its_name_path_whatever_the_trie() {
        let strings: Vec<String> = ["b", "main", "a"].iter().map(|s| s.to_string()).collect();
        // main → a → b, and main → b, in a trie numbered differently from the paths.
        let nodes = [
            StackNode {
                parent: -1,
                name: 1,
            },
            StackNode { parent: 0, name: 0 },
            StackNode { parent: 0, name: 2 },
            StackNode { parent: 2, name: 0 },
        ];
        let fps = path_fingerprints(&nodes, &strings).unwrap();
        assert_eq!(fps[3], of(&["main", "a", "b"]));
        assert_eq!(fps[1], of(&["main", "b"]));
        assert_ne!(fps[1], fps[3], "the same leaf name under other callers");
        assert_ne!(of(&["ab"]), of(&["a", "b"]), "names are not concatenated");
        assert_ne!(of(&["main"]), 0);
        // Parents after children or names out of range are refused.
        assert!(path_fingerprints(&[StackNode { parent: 1, name: 0 }], &strings).is_none());
        assert!(
            path_fingerprints(
                &[StackNode {
                    parent: -1,
                    name: 9
                }],
                &strings
            )
            .is_none()
        );
    }
}
