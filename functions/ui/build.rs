//! Embeds the built UI (`target/ui/dist`, written by `npm run build` in `ui/`, which the host's
//! build script runs): each file gzipped once here, listed in `$OUT_DIR/assets.rs` with its
//! content type. `FLAMELET_UI_DIST` names another directory.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    match build() {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("error: {reason}");
            ExitCode::FAILURE
        }
    }
}

fn build() -> Result<(), String> {
    let manifest_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let dist = match std::env::var_os("FLAMELET_UI_DIST") {
        Some(dir) => PathBuf::from(dir),
        None => manifest_dir.join("../../target/ui/dist"),
    };
    println!("cargo:rerun-if-env-changed=FLAMELET_UI_DIST");
    println!("cargo:rerun-if-changed={}", dist.display());
    if !dist.join("index.html").is_file() {
        return Err(format!(
            "the UI is not built ({} has no index.html): build the host (`cargo build -p flamelet`), \
             or run `npm ci && npm run build` in ui/",
            dist.display()
        ));
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| e.to_string())?);
    let mut files = Vec::new();
    walk(&dist, &mut files)?;
    files.sort();
    let mut table = String::from("&[\n");
    for (i, file) in files.iter().enumerate() {
        println!("cargo:rerun-if-changed={}", file.display());
        let rel = file
            .strip_prefix(&dist)
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .replace('\\', "/");
        let bytes = std::fs::read(file).map_err(|e| format!("reading {}: {e}", file.display()))?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&bytes).map_err(|e| e.to_string())?;
        let gz = gz.finish().map_err(|e| e.to_string())?;
        let gz_path = out.join(format!("asset-{i}.gz"));
        std::fs::write(&gz_path, gz).map_err(|e| e.to_string())?;
        let _ = writeln!(
            table,
            "    Asset {{ path: {:?}, content_type: {:?}, gzip: include_bytes!({:?}), size: {} }},",
            format!("/{rel}"),
            content_type(&rel),
            gz_path.display().to_string(),
            bytes.len()
        );
    }
    table.push(']');
    std::fs::write(out.join("assets.rs"), table).map_err(|e| e.to_string())?;
    Ok(())
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    for entry in std::fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            walk(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ttf" => "font/ttf",
        "wasm" => "application/wasm",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
