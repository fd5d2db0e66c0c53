//! Every fuzz target run briefly (`scripts/fuzz.sh` with 5 s each; the long runs' figures are
//! in docs/reliability.md): each must build and fail on nothing libFuzzer finds in that time
//! (a crash, a panic, an input slower than 1 s or a memory limit). `scripts/test-deps.sh`
//! installs cargo-fuzz and builds the targets.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn every_fuzz_target_runs_briefly_and_fails_on_nothing() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new("bash")
        .arg(root.join("scripts/fuzz.sh"))
        .env("FUZZ_SECONDS", "5")
        .output()
        .expect("running scripts/fuzz.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for (name, _) in flamelet::fuzzing::TARGETS {
        assert!(
            stdout.contains(&format!("== {name}: 5 s")),
            "{name} did not run:\n{stdout}"
        );
    }
}
