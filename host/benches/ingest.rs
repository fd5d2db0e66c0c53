//! Ingest throughput: pprof uploads through the real `flamelet serve` and its WASM ingest
//! component (one request at a time, i.e. one core of work), next to the same parse + Parquet
//! encode + store run natively in-process, which is the floor the component can approach.
//! Run with `cargo bench -p flamelet --bench ingest`; results go to docs/benchmarks.md.

#[path = "../../tests/all/util/server.rs"]
#[allow(dead_code)]
mod server;

use std::time::Instant;

use flamelet::ingest::{IngestRequest, gunzip, is_gzip, parse, store_profiles};
use flamelet::store::MemoryStore;
use flamelet::tenant::Tenant;

const FILES: [&str; 3] = ["pprof/heap.pb.gz", "pprof/profile_ruby", "pprof/heap"];

fn corpus(path: &str) -> Vec<u8> {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/corpus")
        .join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn main() {
    let params: Vec<(String, String)> = [("name", "bench"), ("format", "pprof")]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec();
    let server = server::FlameletServer::start();
    println!(
        "| file | gzip KB | decoded KB | native profiles/s | native decoded MB/s | component profiles/s | component decoded MB/s |"
    );
    println!("|---|---|---|---|---|---|---|");
    for file in FILES {
        let body = corpus(file);
        let decoded = if is_gzip(&body) {
            gunzip(&body, 64 << 20, "bench")
                .map(|d| d.len())
                .unwrap_or(0)
        } else {
            body.len()
        };
        let mb = decoded as f64 / 1e6;

        // Native: parse + encode + (memory) put, the work the component does.
        let store = MemoryStore::default();
        let tenant = Tenant::from_header(None).expect("tenant");
        let req = IngestRequest {
            params: &params,
            content_type: None,
            body: &body,
        };
        let runs = 50;
        let t = Instant::now();
        for _ in 0..runs {
            let profiles = parse(&req, 1_700_000_000_000_000_000).expect("parse");
            store_profiles(&store, &tenant, &profiles).expect("store");
        }
        let native = runs as f64 / t.elapsed().as_secs_f64();

        // Through the host: HTTP, a fresh component instance per request, a durable put.
        let path = "/ingest?name=bench&format=pprof&from=1700000000";
        for _ in 0..5 {
            assert_eq!(server.post(path, &body).status, 200);
        }
        let runs = 100;
        let t = Instant::now();
        for _ in 0..runs {
            assert_eq!(server.post(path, &body).status, 200);
        }
        let component = runs as f64 / t.elapsed().as_secs_f64();
        let gz_kb = if is_gzip(&body) {
            format!("{:.0}", body.len() as f64 / 1e3)
        } else {
            "–".to_string()
        };
        println!(
            "| {file} | {gz_kb} | {:.0} | {native:.0} | {:.1} | {component:.0} | {:.1} |",
            decoded as f64 / 1e3,
            native * mb,
            component * mb
        );
    }
}
