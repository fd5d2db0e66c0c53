//! Test harness: the real `flamelet` binary on a free port with a temporary data directory.

pub mod azurite;
pub mod dist;
pub mod faults;
pub mod jfr;
pub mod prometheus;
pub mod s3;
pub mod server;
pub mod target;
pub mod wasmtime;

/// Runs scripts/test-deps.sh once per test process: it installs (idempotently) what tests
/// need beyond Rust, such as moto's S3 server and the pyroscope-io client.
pub fn test_deps() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let script =
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/test-deps.sh");
        let status = std::process::Command::new("bash")
            .arg(&script)
            .status()
            .expect("running scripts/test-deps.sh");
        assert!(status.success(), "scripts/test-deps.sh failed");
    });
}

pub use server::FlameletServer;

/// The worked example of the reference documentation's flame-graph encoding, as folded stacks.
pub const WORKED_EXAMPLE: &str = "a;b;e 1\na;c 2\na;c;d 1\n";

/// A unix time (seconds) well in the past, so defaults of "now" never interfere.
pub const T0: i64 = 1_700_000_000;

/// The profile types of `corpus/jfr/dump2.jfr.gz` (sent raw, without labels).
pub const DUMP2_PROFILE_TYPES: [&str; 5] = [
    "process_cpu:cpu:nanoseconds:cpu:nanoseconds",
    "wall:wall:nanoseconds:wall:nanoseconds",
    "memory:live:count:objects:count",
    "memory:alloc_in_new_tlab_objects:count:space:bytes",
    "memory:alloc_in_new_tlab_bytes:bytes:space:bytes",
];

/// The corpus path (under `shared/corpus`) of the golden pprof of one `dump2.jfr.gz`
/// profile type, for the whole recording (its empty label set).
pub fn dump2_golden(profile_type: &str) -> String {
    format!(
        "jfr/dump2.jfr.gz.{}.17241709254077376921.pb.gz",
        profile_type.replace(':', "_")
    )
}

/// The shared test corpus (`../shared/corpus` beside the repository; `.cargo/config.toml`).
pub const CORPUS_DIR: &str = env!("FLAMELET_CORPUS");

/// Reads a file of the shared test corpus, e.g. `corpus("pprof/cpu.pb.gz")`.
pub fn corpus(path: &str) -> Vec<u8> {
    let p = std::path::Path::new(CORPUS_DIR).join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}
