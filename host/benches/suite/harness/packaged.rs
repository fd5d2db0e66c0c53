//! Issue #13's figure: the 24 h flame graph through the deployable artefact (`wasmtime serve`
//! running `dist/flamelet-query.wasm`, the query function composed with the S3 provider)
//! against `flamelet serve` with its native S3 client, both on one moto bucket holding the
//! compacted data set's objects of the days the range touches; and the composed app inside
//! the native host (`flamelet serve --manifest dist/spin.toml`). Requests are counted where
//! a bucket bills them: at the S3 server.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::super::{dist, s3::S3Server, wasmtime::WasmtimeServe};
use super::server::{FlameletServer, Http};
use super::{DAY, END, HOUR, Stat, flame_graph, timed};

const BUCKET: &str = "flamelet";
const PREFIX: &str = "bench";

/// What the packaged leg measured.
#[derive(Debug, Clone, Default)]
pub struct Packaged {
    /// Objects and bytes copied into the bucket.
    pub objects: usize,
    pub bytes: u64,
    pub wasmtime_ms: Stat,
    pub native_ms: Stat,
    pub composed_ms: Stat,
    /// Requests the S3 server answered per query, on each path.
    pub wasmtime_requests: f64,
    pub native_requests: f64,
    pub composed_requests: f64,
    /// The provider's retries per query (none against a healthy bucket); each is one more
    /// request answered.
    pub wasmtime_retries: f64,
    pub composed_retries: f64,
}

/// Copies into a fresh moto bucket every object of `dir` (the compacted data set) whose key's
/// day is one the 24 h range touches, then times the 24 h flame graph through each path;
/// every answer's total must be `total`.
pub fn measure(dir: &Path, rounds: usize, total: i64) -> Packaged {
    let s3 = S3Server::start();
    let url = s3.bucket(BUCKET, PREFIX);
    let (objects, bytes) = upload(
        dir,
        &s3.endpoint,
        flamelet::storage::keys::Day::of((END - DAY) * 1_000_000_000),
    );

    let native = FlameletServer::start_with(&url, &super::SERVE_ARGS).with_timeout(1800);
    let out = tempfile::tempdir().expect("temp dir");
    let dist = dist::package(&out.path().join("dist"), &s3.endpoint, BUCKET, PREFIX);
    let env = dist::provider_env(&s3.endpoint, BUCKET, PREFIX);
    let wasm = WasmtimeServe::start(&dist.join("flamelet-query.wasm"), &env);
    let manifest = dist.join("spin.toml");
    let composed = FlameletServer::start_with(
        "memory://",
        &[
            "--no-cron",
            "--manifest",
            &manifest.to_string_lossy(),
            "--env",
            "AWS_ACCESS_KEY_ID=test",
            "--env",
            "AWS_SECRET_ACCESS_KEY=test",
        ],
    );

    // Time per query, the requests moto answered and the provider's retries (it logs each)
    // per query, of one path.
    let run = |http: &Http, log: &dyn Fn() -> String| {
        let retries = || log().matches("flamelet-s3-store: retrying").count();
        let (before, retried) = (s3.requests(), retries());
        // One query first, so the compiled component is warm, as on a serving host.
        assert_eq!(query(http), total, "the same answer on every path");
        let ms = Stat::of(timed(rounds, || {
            assert_eq!(query(http), total);
        }))
        .scaled(1e3);
        let per_query = |n: usize| n as f64 / (rounds + 1) as f64;
        (
            ms,
            per_query(s3.requests() - before),
            per_query(retries() - retried),
        )
    };
    let (wasmtime_ms, wasmtime_requests, wasmtime_retries) = run(&wasm, &|| wasm.log());
    let (native_ms, native_requests, _) = run(&native, &String::new);
    let (composed_ms, composed_requests, composed_retries) = run(&composed, &|| composed.log());
    Packaged {
        objects,
        bytes,
        wasmtime_ms,
        native_ms,
        composed_ms,
        wasmtime_requests,
        native_requests,
        composed_requests,
        wasmtime_retries,
        composed_retries,
    }
}

fn query(http: &Http) -> i64 {
    flame_graph(http, END - 24 * HOUR, END)
}

/// PUTs (unsigned; moto accepts them) every file of `dir` whose key's day is `since` or later
/// under the bucket's prefix, on four threads; returns the objects and bytes copied.
fn upload(dir: &Path, endpoint: &str, since: flamelet::storage::keys::Day) -> (usize, u64) {
    let mut files = Vec::new();
    super::dir_store::walk(dir, dir, &mut files);
    files.retain(|(key, _)| {
        key.split('/')
            .nth(3)
            .and_then(flamelet::storage::keys::Day::parse)
            .is_none_or(|d| d.0 >= since.0)
    });
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                while let Some((key, _)) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let body = std::fs::read(dir.join(key)).expect("reading a data-set object");
                    let r = ureq::put(&format!("{endpoint}/{BUCKET}/{PREFIX}/{key}"))
                        .send(&body[..])
                        .expect("copying an object into moto");
                    assert_eq!(r.status().as_u16(), 200, "{key}");
                }
            });
        }
    });
    (files.len(), files.iter().map(|(_, size)| size).sum())
}

impl Packaged {
    /// The section of docs/benchmarks.md.
    pub fn markdown(&self) -> String {
        format!(
            "### 24 h flame graph through the deployable artefact, moto S3 ({} objects, {:.1} MB)\n\n\
             | path | ms | S3 requests per query | of which retries |\n|---|---|---|---|\n\
             | `wasmtime serve` + `dist/flamelet-query.wasm` (S3 provider over wasi:http) | {} | {:.1} | {:.1} |\n\
             | `flamelet serve --storage s3://…` (native S3 client) | {} | {:.1} | — |\n\
             | `flamelet serve --manifest dist/spin.toml` (composed app in the native host) | {} | {:.1} | {:.1} |\n\n\
             wasmtime serve / native: {:.2}×.\n",
            self.objects,
            self.bytes as f64 / 1e6,
            self.wasmtime_ms.show(0),
            self.wasmtime_requests,
            self.wasmtime_retries,
            self.native_ms.show(0),
            self.native_requests,
            self.composed_ms.show(0),
            self.composed_requests,
            self.composed_retries,
            self.wasmtime_ms.median / self.native_ms.median.max(1e-9),
        )
    }
}
