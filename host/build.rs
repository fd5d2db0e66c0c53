//! Builds the three WASM components for `wasm32-wasip2` and embeds them, together with
//! `spin.toml`, so that `flamelet serve` is one self-contained binary.
//!
//! The components are built by a nested `cargo build` into `target/components` (a separate
//! target directory, so it never waits on the lock of the build that runs this script). That
//! is also where `spin.toml`'s `source` paths point.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const COMPONENTS: [&str; 3] = ["ingest", "query", "compact"];

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .parent()
        .expect("host/ sits in the workspace root")
        .to_path_buf();
    for dir in [
        "shared/src",
        "shared/Cargo.toml",
        "functions",
        "wit",
        "spin.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!("cargo:rerun-if-env-changed=FLAMELET_SKIP_COMPONENT_BUILD");
    let target_dir = root.join("target").join("components");
    let out = target_dir.join("wasm32-wasip2").join("release");

    if env::var_os("FLAMELET_SKIP_COMPONENT_BUILD").is_none() {
        let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(&root)
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--target-dir",
            ])
            .arg(&target_dir);
        for c in COMPONENTS {
            cmd.args(["-p", &format!("flamelet-{c}")]);
        }
        // Settings meant for the host build must not leak into the guest build.
        for var in [
            "CARGO_ENCODED_RUSTFLAGS",
            "RUSTFLAGS",
            "CARGO_BUILD_TARGET",
            "CARGO_TARGET_DIR",
            "RUSTC_WORKSPACE_WRAPPER",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_PATH",
            "CARGO_PKG_NAME",
        ] {
            cmd.env_remove(var);
        }
        let status = cmd
            .status()
            .expect("running cargo to build the WASM components");
        assert!(status.success(), "building the WASM components failed");
    }
    for c in COMPONENTS {
        let wasm = out.join(format!("flamelet_{c}.wasm"));
        assert!(wasm.exists(), "missing component {}", wasm.display());
        println!(
            "cargo:rustc-env=FLAMELET_COMPONENT_{}={}",
            c.to_ascii_uppercase(),
            wasm.display()
        );
    }
    println!(
        "cargo:rustc-env=FLAMELET_SPIN_TOML={}",
        root.join("spin.toml").display()
    );
}
