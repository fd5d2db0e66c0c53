//! Helpers for the crate's unit tests.

use std::path::PathBuf;

/// The shared test corpus (`../shared/corpus` beside the repository; `.cargo/config.toml`).
pub const CORPUS_DIR: &str = env!("FLAMELET_CORPUS");

/// Reads a file of the shared test corpus, e.g. `corpus("pprof/cpu.pb.gz")`.
pub fn corpus(path: &str) -> Vec<u8> {
    let p = PathBuf::from(CORPUS_DIR).join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Gzips bytes, as agents send profiles.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}
