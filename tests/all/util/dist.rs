//! The deployable artefact for tests: the S3 provider component, built with cargo (nothing to
//! do when it is up to date), and `flamelet package` of the real binary into a directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The provider component (`functions/s3-store`), built once per test process.
pub fn provider() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        super::test_deps();
        let root = root();
        let status = Command::new(env!("CARGO"))
            .current_dir(&root)
            .args([
                "build",
                "--quiet",
                "--profile",
                "component",
                "--target",
                "wasm32-wasip2",
                "--target-dir",
                "target/components",
                "-p",
                "flamelet-s3-store",
            ])
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTFLAGS")
            .status()
            .expect("running cargo to build the provider");
        assert!(status.success(), "building functions/s3-store failed");
        root.join("target/components/wasm32-wasip2/component/flamelet_s3_store.wasm")
    })
}

/// The provider's settings for `bucket` (and `prefix`) on the S3 server at `endpoint`, with
/// moto's test credentials.
pub fn provider_env<'a>(
    endpoint: &'a str,
    bucket: &'a str,
    prefix: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("FLAMELET_S3_BUCKET", bucket),
        ("FLAMELET_S3_PREFIX", prefix),
        ("FLAMELET_S3_ENDPOINT", endpoint),
        ("FLAMELET_S3_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ]
}

/// Runs `flamelet package` into `out` for `bucket` (and `prefix`) on the S3 server at
/// `endpoint`, and returns `out`.
pub fn package(out: &Path, endpoint: &str, bucket: &str, prefix: &str) -> PathBuf {
    package_with(out, endpoint, bucket, prefix, &[])
}

/// [`package`] with more arguments (`--config FILE`, say).
pub fn package_with(
    out: &Path,
    endpoint: &str,
    bucket: &str,
    prefix: &str,
    extra: &[&str],
) -> PathBuf {
    let output = Command::new(env!("CARGO_BIN_EXE_flamelet"))
        .arg("package")
        .arg("--provider")
        .arg(provider())
        .arg("--out")
        .arg(out)
        .args(["--s3-bucket", bucket, "--s3-endpoint", endpoint])
        .args(["--s3-region", "us-east-1", "--s3-allow-http"])
        .args(["--s3-prefix", prefix])
        .args(extra)
        .output()
        .expect("running flamelet package");
    assert!(
        output.status.success(),
        "flamelet package failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    out.to_path_buf()
}
