//! Helpers for the crate's unit tests.

use std::path::PathBuf;

/// The shared test corpus (`../shared/corpus` beside the repository; `.cargo/config.toml`).
pub const CORPUS_DIR: &str = env!("FLAMELET_CORPUS");

/// Reads a file of the shared test corpus, e.g. `corpus("pprof/cpu.pb.gz")`.
pub fn corpus(path: &str) -> Vec<u8> {
    let p = PathBuf::from(CORPUS_DIR).join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}
