//! Ingest throughput: pprof uploads through the real `flamelet serve` and its WASM ingest
//! component (one request at a time, i.e. one core of work), next to the same parse + Parquet
//! encode + store run natively in-process, which is the floor the component can approach.
//! The native work is also timed step by step (decode floor, parse, segment build, Parquet
//! encode). Run with `cargo bench -p flamelet --bench ingest`; results go to
//! docs/benchmarks.md. `cargo bench -p flamelet --bench ingest -- native runs=1` skips the
//! server and runs each step 5 times (for running under a profiler).

#[path = "../../tests/all/util/server.rs"]
#[allow(dead_code)]
mod server;

#[path = "suite/harness/floor.rs"]
mod floor;

use std::time::Instant;

use flamelet::ingest::{IngestRequest, parse, store_profiles};
use flamelet::storage::segment::{self, SegmentBuilder};
use flamelet::storage::store::MemoryStore;
use flamelet::tenant::Tenant;
use flamelet::wire::body::{gunzip, is_gzip};

const FILES: [&str; 3] = ["pprof/heap.pb.gz", "pprof/profile_ruby", "pprof/heap"];

fn corpus(path: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("FLAMELET_CORPUS")).join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Seconds per run of `f`, the median of `rounds` rounds of `runs` runs.
fn median_secs(rounds: usize, runs: usize, mut f: impl FnMut()) -> f64 {
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..runs {
                f();
            }
            t.elapsed().as_secs_f64() / runs as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// The native work split into its steps, each timed alone (median of 5 rounds).
struct Phases {
    /// gunzip + protobuf decode: the floor no ingest can go below.
    decode: f64,
    /// The whole of `ingest::parse` (decode, validation, profiles with their dictionary).
    parse: f64,
    /// `SegmentBuilder`: strings, functions, frames, trie, sorted samples.
    build: f64,
    /// `segment::encode`: Parquet.
    encode: f64,
    /// parse + build + encode + a put into memory, end to end.
    total: f64,
}

fn phases(body: &[u8], params: &[(String, String)], runs: usize) -> Phases {
    let store = MemoryStore::default();
    let tenant = Tenant::from_header(None).expect("tenant");
    let req = IngestRequest {
        params,
        content_type: None,
        body,
    };
    let now = 1_700_000_000_000_000_000;
    let profiles = parse(&req, &Default::default(), now).expect("parse");
    let build = || {
        let mut b = SegmentBuilder::new("anonymous");
        b.add_profiles(&profiles);
        b.finish()
    };
    let data = build();
    Phases {
        decode: median_secs(5, runs, || {
            std::hint::black_box(floor::decode(body));
        }),
        parse: median_secs(5, runs, || {
            std::hint::black_box(parse(&req, &Default::default(), now).expect("parse"));
        }),
        build: median_secs(5, runs, || {
            std::hint::black_box(build());
        }),
        encode: median_secs(5, runs, || {
            std::hint::black_box(segment::encode(&data).expect("encode"));
        }),
        total: median_secs(5, runs, || {
            let profiles = parse(&req, &Default::default(), now).expect("parse");
            store_profiles(&store, &tenant, &profiles).expect("store");
        }),
    }
}

fn main() {
    let params: Vec<(String, String)> = [("name", "bench"), ("format", "pprof")]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec();
    // `native` alone (no server): for profilers such as `valgrind --tool=callgrind`.
    let args: Vec<String> = std::env::args().collect();
    let native_only = args.iter().any(|a| a == "native");
    // `runs=N`: runs per timing round (default 20).
    let runs = args
        .iter()
        .find_map(|a| a.strip_prefix("runs=")?.parse().ok())
        .unwrap_or(20);
    let server = (!native_only).then(server::FlameletServer::start);
    // A request's fixed cost: a one-line folded upload through the component (HTTP, a fresh
    // instance, a durable put, almost no parsing).
    let fixed = match &server {
        Some(server) => {
            let path = "/ingest?name=tiny&from=1700000000";
            median_secs(5, runs, || {
                assert_eq!(server.post(path, b"a;b 1\n").status, 200);
            })
        }
        None => f64::NAN,
    };
    let mut table = vec![
        format!("Fixed cost of a request (one-line folded upload): {:.2} ms", fixed * 1e3),
        String::new(),
        "| file | gzip KB | decoded KB | decode floor ms | parse ms | build ms | encode ms | native ms | component ms | WASM work / native | native profiles/s | native MB/s | component profiles/s | component MB/s | component / floor |".to_string(),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|".to_string(),
    ];
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
        let ph = phases(&body, &params, runs);

        // Through the host: HTTP, a fresh component instance per request, a durable put.
        let component = match &server {
            Some(server) => {
                let path = "/ingest?name=bench&format=pprof&from=1700000000";
                for _ in 0..5 {
                    assert_eq!(server.post(path, &body).status, 200);
                }
                median_secs(5, runs, || {
                    assert_eq!(server.post(path, &body).status, 200);
                })
            }
            None => f64::NAN,
        };
        let gz_kb = if is_gzip(&body) {
            format!("{:.0}", body.len() as f64 / 1e3)
        } else {
            "–".to_string()
        };
        let ms = |s: f64| format!("{:.2}", s * 1e3);
        table.push(format!(
            "| {file} | {gz_kb} | {:.0} | {} | {} | {} | {} | {} | {} | {:.1}× | {:.0} | {:.1} | {:.0} | {:.1} | {:.1}× |",
            decoded as f64 / 1e3,
            ms(ph.decode),
            ms(ph.parse),
            ms(ph.build),
            ms(ph.encode),
            ms(ph.total),
            ms(component),
            (component - fixed) / ph.total,
            1.0 / ph.total,
            mb / ph.total,
            1.0 / component,
            mb / component,
            component / ph.decode,
        ));
    }
    for line in table {
        println!("{line}");
    }
}
