//! Helpers for the crate's unit tests.

use std::path::PathBuf;

/// Reads a file of the shared test corpus (`../shared/corpus` beside the repository), e.g.
/// `corpus("pprof/cpu.pb.gz")`.
pub fn corpus(path: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/corpus")
        .join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}
