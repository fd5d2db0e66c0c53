//! Builds the web UI (`npm ci` and `npm run build` in `ui/`, each only when its inputs changed)
//! and the five WASM components for `wasm32-wasip2`, and embeds them, together with
//! `spin.toml`, so that `flamelet serve` is one self-contained binary.
//!
//! The components are built by a nested `cargo build` into `target/components` (a separate
//! target directory, so it never waits on the lock of the build that runs this script). That
//! is also where `spin.toml`'s `source` paths point.
//!
//! rustup installs the `targets` of `rust-toolchain.toml` only when it installs the toolchain
//! itself; on a machine whose Rust 1.95 came first the guest target is missing. The script then
//! adds it through rustup, or fails with the one command to run where there is no rustup.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const COMPONENTS: [&str; 5] = ["ingest", "query", "compact", "scrape", "ui"];
/// The UI's inputs: a change to any of them rebuilds it.
const UI_INPUTS: [&str; 6] = [
    "src",
    "index.html",
    "package.json",
    "package-lock.json",
    "vite.config.ts",
    "tsconfig.json",
];
const GUEST_TARGET: &str = "wasm32-wasip2";
/// The workspace's profile for components (LTO, one codegen unit, stripped).
const PROFILE: &str = "component";

fn main() -> ExitCode {
    match build() {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            // One line on stderr, which cargo shows when a build script fails.
            eprintln!("error: {reason}");
            ExitCode::FAILURE
        }
    }
}

fn build() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let root = manifest_dir
        .parent()
        .ok_or("host/ must sit in the workspace root")?
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
    for input in UI_INPUTS {
        println!(
            "cargo:rerun-if-changed={}",
            root.join("ui").join(input).display()
        );
    }
    println!("cargo:rerun-if-env-changed=FLAMELET_SKIP_COMPONENT_BUILD");
    let target_dir = root.join("target").join("components");
    let out = target_dir.join(GUEST_TARGET).join(PROFILE);

    if env::var_os("FLAMELET_SKIP_COMPONENT_BUILD").is_none() {
        ensure_guest_target()?;
        build_ui(&root)?;
        build_components(&root, &target_dir)?;
    }
    for c in COMPONENTS {
        let wasm = out.join(format!("flamelet_{c}.wasm"));
        if !wasm.exists() {
            return Err(format!("missing component `{}`", wasm.display()));
        }
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
    Ok(())
}

/// Adds the guest target to the active toolchain through rustup when its standard library is
/// missing from the sysroot.
fn ensure_guest_target() -> Result<(), String> {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("running `{rustc} --print sysroot`: {e}"))?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    if has_target(&sysroot) {
        return Ok(());
    }
    let instruction = format!(
        "the `{GUEST_TARGET}` target is not installed; run `rustup target add {GUEST_TARGET}`"
    );
    // rustup's proxies name the toolchain they run; add the target to that one.
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", GUEST_TARGET]);
    if let Ok(toolchain) = env::var("RUSTUP_TOOLCHAIN") {
        rustup.args(["--toolchain", &toolchain]);
    }
    match rustup.status() {
        Ok(status) if status.success() && has_target(&sysroot) => {
            println!("cargo:warning=added the {GUEST_TARGET} target with rustup (needed once)");
            Ok(())
        }
        Ok(status) => Err(format!(
            "{instruction} (`rustup target add` exited with {status})"
        )),
        Err(_) => Err(format!("{instruction} (rustup was not found)")),
    }
}

fn has_target(sysroot: &Path) -> bool {
    sysroot
        .join("lib")
        .join("rustlib")
        .join(GUEST_TARGET)
        .join("lib")
        .is_dir()
}

fn build_components(root: &Path, target_dir: &Path) -> Result<(), String> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args([
            "build",
            "--profile",
            PROFILE,
            "--target",
            GUEST_TARGET,
            "--target-dir",
        ])
        .arg(target_dir);
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
        .map_err(|e| format!("running cargo to build the WASM components: {e}"))?;
    if !status.success() {
        return Err(format!("building the WASM components failed ({status})"));
    }
    Ok(())
}

/// Builds the UI into `target/ui/dist` (where `functions/ui` embeds it from): `npm ci` when
/// `node_modules` is older than the lock file, `npm run build` when the output is older than
/// any input.
fn build_ui(root: &Path) -> Result<(), String> {
    let ui = root.join("ui");
    let built = root
        .join("target")
        .join("ui")
        .join("dist")
        .join("index.html");
    let installed = ui.join("node_modules").join(".package-lock.json");
    if modified(&installed) < modified(&ui.join("package-lock.json")) {
        npm(&ui, &["ci", "--no-audit", "--no-fund"])?;
    }
    let newest_input = UI_INPUTS
        .iter()
        .map(|i| newest(&ui.join(i)))
        .max()
        .flatten();
    if modified(&built) < newest_input {
        npm(&ui, &["run", "build"])?;
    }
    Ok(())
}

fn npm(dir: &Path, args: &[&str]) -> Result<(), String> {
    let status = Command::new("npm")
        .current_dir(dir)
        .args(args)
        // The build's output is the cargo build's noise, not the user's.
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| {
            format!(
                "running `npm {}` in ui/ (Node.js 20 and npm are needed to build the UI): {e}",
                args.join(" ")
            )
        })?;
    if !status.success() {
        return Err(format!("`npm {}` in ui/ failed ({status})", args.join(" ")));
    }
    Ok(())
}

/// A file's modification time, `None` when it does not exist.
fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time of a file or of the files under a directory.
fn newest(path: &Path) -> Option<std::time::SystemTime> {
    if path.is_dir() {
        std::fs::read_dir(path)
            .ok()?
            .filter_map(|e| e.ok())
            .filter_map(|e| newest(&e.path()))
            .max()
    } else {
        modified(path)
    }
}
