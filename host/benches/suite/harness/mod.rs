//! The benchmark harness of issue #5: generates a deterministic data set, writes it through
//! the real ingest path, and measures what users pay for: ingest throughput (WASM, native,
//! decode floor), flame-graph latency over 1 h…30 d before and after compaction against a raw
//! pprof scan, bytes stored per profile, object-store operations per request, peak host RSS
//! and per-request instantiation overhead. `cargo bench -p flamelet --bench suite` runs it at
//! full size; the end-to-end suite runs a tiny configuration (`Config::smoke`) to check that
//! every figure is produced.

pub mod browser;
mod data;
mod dir_store;
mod floor;
pub mod load;
pub mod metrics;
pub mod packaged;
pub mod scrape;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use flamelet::tenant::Tenant;
use flamelet::wire::proto::querier::v1::{
    SelectMergeStacktracesRequest, SelectMergeStacktracesResponse,
};
use prost::Message;

use super::server::{self, FlameletServer, Http};
use data::Service;
use dir_store::DirStore;

/// Bumped whenever the generated data changes, so cached data sets are not reused.
const GENERATOR_VERSION: u32 = 1;
/// Unix seconds just after the last profile: 2023-11-15T14:00:00Z, so a 24 h range spans two
/// UTC days, as most do.
pub const END: i64 = 1_700_056_800;
const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;
const CPU: &str = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
const TENANT: &str = "anonymous";
/// `flamelet serve` arguments of the measured servers: long queries allowed (a 30 d query over
/// uncompacted data takes minutes), with the grace period that requires.
const SERVE_ARGS: [&str; 5] = [
    "--no-cron",
    "--timeout-secs",
    "1800",
    "--compaction-grace-secs",
    "3600",
];

/// What to generate and how often to measure.
#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    /// Where data sets are kept between runs (one directory per configuration).
    pub cache: PathBuf,
    /// Days of history of the queried service's first series (its second has the last 7 days,
    /// the other services' series the last day).
    pub days: i64,
    /// Seconds between two profiles of a series.
    pub interval_secs: i64,
    /// Seconds of profiles per Push request (an agent's batch), at most 1 h.
    pub batch_secs: i64,
    pub stacks: usize,
    pub functions: usize,
    /// Stack draws (10 ms samples) per profile.
    pub draws: usize,
    /// Profiles uploaded per ingest-throughput round.
    pub ingest_profiles: usize,
    /// Rounds of the short measurements (ingest, 1 h and 24 h queries, 1 h raw scan).
    pub rounds: usize,
    /// Rounds of the long ones (7 d and 30 d queries).
    pub long_rounds: usize,
    /// Rounds of the 24 h raw scan (over a minute each).
    pub raw_long_rounds: usize,
    /// Requests timed for the instantiation overhead.
    pub overhead_requests: usize,
}

impl Config {
    /// The data set of docs/benchmarks.md.
    pub fn full(cache: PathBuf) -> Self {
        Config {
            seed: 0x5eed,
            cache,
            days: 30,
            interval_secs: 10,
            batch_secs: 600,
            stacks: 2000,
            functions: 600,
            draws: 300,
            ingest_profiles: 60,
            rounds: 5,
            long_rounds: 3,
            raw_long_rounds: 1,
            overhead_requests: 200,
        }
    }

    /// Seconds of work: every figure, on very little data.
    pub fn smoke(cache: PathBuf) -> Self {
        Config {
            days: 30,
            interval_secs: 3600,
            batch_secs: 3600,
            stacks: 40,
            functions: 30,
            draws: 20,
            ingest_profiles: 4,
            rounds: 3,
            long_rounds: 1,
            raw_long_rounds: 1,
            overhead_requests: 10,
            ..Config::full(cache)
        }
    }

    fn fingerprint(&self) -> String {
        format!(
            "v{GENERATOR_VERSION}-{:x}-{}d-{}s-{}s-{}-{}-{}-{END}",
            self.seed,
            self.days,
            self.interval_secs,
            self.batch_secs,
            self.stacks,
            self.functions,
            self.draws
        )
    }

    fn services(&self) -> Vec<Service> {
        vec![
            Service::new(
                self,
                0,
                "checkout",
                vec![
                    ("checkout-0", "eu-west-1", self.days),
                    ("checkout-1", "us-east-1", self.days.min(7)),
                ],
            ),
            Service::new(
                self,
                1,
                "cart",
                vec![
                    ("cart-0", "eu-west-1", 1),
                    ("cart-1", "eu-west-1", 1),
                    ("cart-2", "us-east-1", 1),
                ],
            ),
            Service::new(self, 2, "search", vec![("search-0", "us-east-1", 1)]),
        ]
    }

    /// Profile times of a series with `days` of history, as Unix seconds.
    pub fn times(&self, days: i64, from: i64, until: i64) -> impl Iterator<Item = i64> + '_ {
        let first = END - days * DAY;
        let step = self.interval_secs;
        let k0 = (from.max(first) - first + step - 1).div_euclid(step);
        (k0..)
            .map(move |k| first + k * step)
            .take_while(move |t| *t < until.min(END))
    }
}

/// Median and spread of repeated measurements.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stat {
    fn of(mut v: Vec<f64>) -> Stat {
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => Stat::default(),
            n => Stat {
                median: if n % 2 == 1 {
                    v[n / 2]
                } else {
                    (v[n / 2 - 1] + v[n / 2]) / 2.0
                },
                min: v[0],
                max: v[n - 1],
            },
        }
    }

    fn scaled(self, k: f64) -> Stat {
        Stat {
            median: self.median * k,
            min: self.min * k,
            max: self.max * k,
        }
    }

    fn show(&self, digits: usize) -> String {
        format!(
            "{:.d$} ({:.d$}–{:.d$})",
            self.median,
            self.min,
            self.max,
            d = digits
        )
    }
}

/// Seconds taken by each of `rounds` runs of `f`.
fn timed(rounds: usize, mut f: impl FnMut()) -> Vec<f64> {
    (0..rounds)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect()
}

/// Like [`timed`], with the CPU seconds process `pid` spent over all the rounds.
fn timed_cpu(rounds: usize, pid: u32, f: impl FnMut()) -> (Vec<f64>, f64) {
    let cpu0 = load::cpu_secs(pid);
    let wall = timed(rounds, f);
    (wall, load::cpu_secs(pid) - cpu0)
}

/// Object-store calls, from the host's `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Ops {
    pub gets: f64,
    pub puts: f64,
    pub lists: f64,
    pub deletes: f64,
}

/// The value of one series (name and labels as the text format writes them) in the host's
/// `/metrics` text; 0 when absent (a counter never incremented is not written).
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

impl Ops {
    fn read(server: &FlameletServer) -> Ops {
        let text = server.get("/metrics").body;
        let op = |name: &str| {
            metric(
                &text,
                &format!("flamelet_object_store_operations_total{{operation=\"{name}\"}}"),
            )
        };
        Ops {
            gets: op("get"),
            puts: op("put"),
            lists: op("list"),
            deletes: op("delete"),
        }
    }

    /// (self − before) / n: calls per request over `n` requests.
    fn per(self, before: Ops, n: usize) -> Ops {
        let n = n.max(1) as f64;
        Ops {
            gets: (self.gets - before.gets) / n,
            puts: (self.puts - before.puts) / n,
            lists: (self.lists - before.lists) / n,
            deletes: (self.deletes - before.deletes) / n,
        }
    }

    /// Reads as a bucket bills them (ranged reads included).
    pub fn reads(&self) -> f64 {
        self.gets
    }
}

/// A process's peak resident set (VmHWM) in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:")
}

/// One KiB field of a process's `/proc/PID/status` (`VmHWM:`, `VmRSS:`); 0 if unreadable.
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Starts peak-RSS accounting afresh (Linux: `5` to clear_refs resets VmHWM).
fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// What generating the data set cost and produced.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Generated {
    pub profiles: u64,
    /// Gzipped pprof bytes of the last day (every service, through the component).
    pub gzip_bytes: u64,
    /// Plain pprof bytes of the older days (pushed natively without gzip).
    pub native_pprof_bytes: u64,
    pub wasm_profiles: u64,
    pub wasm_requests: u64,
    pub wasm_secs: f64,
    pub native_profiles: u64,
    pub native_requests: u64,
    pub native_secs: f64,
    /// Object-store writes per Push request while loading through the component.
    pub wasm_puts_per_request: f64,
}

/// One ingest path's throughput.
#[derive(Debug, Clone)]
pub struct IngestRow {
    pub path: &'static str,
    pub profiles_per_request: usize,
    pub profiles_per_sec: Stat,
    pub decoded_mb_per_sec: Stat,
    /// CPU time per profile (the doing process's user + system time; an fsync's wait is not
    /// in it), ms.
    pub cpu_ms_per_profile: f64,
}

/// One flame-graph range.
#[derive(Debug, Clone)]
pub struct QueryRow {
    pub label: &'static str,
    pub hours: i64,
    pub profiles: u64,
    pub total: i64,
    pub before_ms: Stat,
    pub after_ms: Stat,
    /// The same call after compaction answered by the core natively, in-process.
    pub native_ms: Stat,
    pub raw_ms: Stat,
    /// The raw scan was not run for this range but scaled from the 24 h one by profile count.
    pub raw_estimated: bool,
    pub ops_before: Ops,
    pub ops_after: Ops,
}

/// Everything one run measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub fingerprint: String,
    pub generated: Generated,
    pub ingest: Vec<IngestRow>,
    /// Object-store calls per ingest request, single uploads and Push batches alike.
    pub ingest_ops: Ops,
    pub ingest_requests: usize,
    /// `GET /ready` (host only) and `GET /ingest` (a fresh component instance answers 405), ms.
    pub host_request_ms: Stat,
    pub component_request_ms: Stat,
    /// Mean of the host's instantiation histogram, ms.
    pub instantiate_mean_ms: f64,
    /// A one-line folded upload through the component, ms: a request's fixed cost; and the
    /// server's CPU time for it.
    pub one_line_upload_ms: Stat,
    pub one_line_upload_cpu_ms: f64,
    /// The same on `memory://` storage: the host's and guest's CPU without the local
    /// directory's file creation and fsyncs (issue #18: "fsync is not core work").
    pub one_line_upload_memory_cpu_ms: f64,
    pub compaction_secs: f64,
    pub compaction_merges: usize,
    pub queries: Vec<QueryRow>,
    /// Bytes of the last day's L0 segments (the profiles ingested gzipped through the
    /// component).
    pub stored_before_bytes: u64,
    /// Bytes of every compacted segment and manifest: all profiles of the data set (a day
    /// segment holds hours on both sides of any cut, so only the whole can be divided fairly).
    pub stored_after_bytes: u64,
    pub idle_rss_kib: u64,
    pub rss_24h_before_kib: u64,
    pub rss_24h_after_kib: u64,
    pub rss_30d_before_kib: u64,
    pub rss_30d_after_kib: u64,
    pub rss_reset_worked: bool,
    /// The 24 h flame graph through the deployable artefact against the native S3 path.
    pub packaged: Option<packaged::Packaged>,
    /// The web UI in Chromium: bundle, ui component, navigation to a drawn 24 h flame graph.
    pub browser: Option<browser::Browser>,
    pub metrics: Option<metrics::Metrics>,
}

/// Only the ingest throughput (issue #18's table): no data set, no queries. (For `cargo
/// bench` only.)
#[allow(dead_code)]
pub fn ingest_only(config: &Config) -> Report {
    let mut report = Report::default();
    ingest_throughput(config, &config.services()[0], &mut report);
    report
}

/// Runs everything.
pub fn run(config: &Config) -> Report {
    let services = config.services();
    let root = config.cache.join(config.fingerprint());
    let before = root.join("l0");
    let generated = load(config, &services, &root, &before);
    let mut report = Report {
        fingerprint: config.fingerprint(),
        generated,
        ..Report::default()
    };
    ingest_throughput(config, &services[0], &mut report);

    let after = compacted_dir(config);
    (report.compaction_secs, report.compaction_merges) = compact_copy(&before, &after);

    report.stored_before_bytes = bytes_since(&before, "l0", END - DAY);
    report.stored_after_bytes =
        bytes_since(&after, "segments", i64::MIN) + bytes_since(&after, "manifests", i64::MIN);

    let ranges: Vec<(&'static str, i64)> = [("1 h", 1), ("24 h", 24), ("7 d", 168), ("30 d", 720)]
        .into_iter()
        .filter(|(_, h)| *h <= config.days * 24)
        .collect();
    let mut rows: Vec<QueryRow> = ranges
        .iter()
        .map(|(label, hours)| QueryRow {
            label,
            hours: *hours,
            profiles: services[0]
                .series
                .iter()
                .map(|s| config.times(s.2, END - hours * HOUR, END).count() as u64)
                .sum(),
            total: 0,
            before_ms: Stat::default(),
            after_ms: Stat::default(),
            native_ms: Stat::default(),
            raw_ms: Stat::default(),
            raw_estimated: false,
            ops_before: Ops::default(),
            ops_after: Ops::default(),
        })
        .collect();
    for (state, dir) in [(0, &before), (1, &after)] {
        // A 30 d query over uncompacted data reads every L0 segment: minutes.
        let server = FlameletServer::start_on(dir, &SERVE_ARGS).with_timeout(1800);
        // One query first, so the compiled components are warm as on a serving host.
        flame_graph(&server, END - HOUR, END);
        if state == 0 {
            report.idle_rss_kib = peak_rss_kib(server.pid());
        }
        for row in &mut rows {
            let rounds = if row.hours > 24 {
                config.long_rounds
            } else {
                config.rounds
            };
            // Peak RSS is measured over the 24 h and the 30 d queries.
            let is_24h = row.hours == 24;
            let watched = is_24h || row.hours == 720;
            if watched {
                report.rss_reset_worked = reset_peak_rss(server.pid());
            }
            let ops0 = Ops::read(&server);
            let mut total = 0;
            let ms = timed(rounds, || {
                total = flame_graph(&server, END - row.hours * HOUR, END)
            });
            let ops = Ops::read(&server).per(ops0, rounds);
            let ms = Stat::of(ms).scaled(1e3);
            if watched {
                let rss = peak_rss_kib(server.pid());
                match (is_24h, state) {
                    (true, 0) => report.rss_24h_before_kib = rss,
                    (true, _) => report.rss_24h_after_kib = rss,
                    (false, 0) => report.rss_30d_before_kib = rss,
                    (false, _) => report.rss_30d_after_kib = rss,
                }
            }
            if state == 0 {
                row.total = total;
                row.before_ms = ms;
                row.ops_before = ops;
            } else {
                assert_eq!(
                    total, row.total,
                    "{}: the same answer after compaction",
                    row.label
                );
                row.after_ms = ms;
                row.ops_after = ops;
            }
        }
    }
    for row in &mut rows {
        let rounds = if row.hours > 24 {
            config.long_rounds
        } else {
            config.rounds
        };
        let mut total = 0;
        let ms = timed(rounds, || total = native_flame_graph(&after, row.hours));
        assert_eq!(total, row.total, "{}: native and WASM agree", row.label);
        row.native_ms = Stat::of(ms).scaled(1e3);
    }
    raw_scan(config, &services[0], &mut rows);
    if let Some(day) = rows.iter().find(|r| r.hours == 24) {
        report.packaged = Some(packaged::measure(&after, config.rounds, day.total));
    }
    report.browser = Some(browser::measure(&after, config.rounds));
    report.metrics = Some(metrics::measure(config, &after));
    report.queries = rows;
    report
}

/// The binary Connect SelectMergeStacktraces Grafana sends for one service's flame graph
/// over [from, until) (Unix seconds).
fn flame_graph_request(from: i64, until: i64) -> Vec<u8> {
    SelectMergeStacktracesRequest {
        profile_type_id: CPU.into(),
        label_selector: "{service_name=\"checkout\"}".into(),
        start: from * 1000,
        end: until * 1000 - 1,
        max_nodes: Some(8192),
        ..Default::default()
    }
    .encode_to_vec()
}

fn flame_graph_total(body: &[u8]) -> i64 {
    SelectMergeStacktracesResponse::decode(body)
        .expect("a SelectMergeStacktracesResponse")
        .flamegraph
        .map_or(0, |f| f.total)
}

/// The flame graph of [from, until) through a server (the host, or `wasmtime serve`); returns
/// its total.
fn flame_graph(server: &Http, from: i64, until: i64) -> i64 {
    let r = server.post_raw(
        "/querier.v1.QuerierService/SelectMergeStacktraces",
        &[("Content-Type", "application/proto")],
        &flame_graph_request(from, until),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    flame_graph_total(&r.body)
}

/// The same call answered in-process by the core (`querier::call`, which the query component
/// runs) over the data directory `dir`; returns the flame graph's total.
pub fn native_flame_graph(dir: &Path, hours: i64) -> i64 {
    let store: flamelet::storage::store::SharedStore = std::sync::Arc::new(DirStore {
        root: dir.to_path_buf(),
        durable: false,
    });
    let tenant = Tenant::from_header(Some(TENANT)).expect("tenant");
    native_call(
        &store,
        &tenant,
        &flame_graph_request(END - hours * HOUR, END),
    )
}

/// A SelectMergeStacktraces request answered natively at END; the flame graph's total.
fn native_call(store: &flamelet::storage::store::SharedStore, tenant: &Tenant, body: &[u8]) -> i64 {
    let call = flamelet::query::connect::Call {
        path: "/querier.v1.QuerierService/SelectMergeStacktraces",
        content_type: Some("application/proto"),
        content_encoding: None,
        accept_encoding: None,
        body,
    };
    let cx = flamelet::query::QueryContext::at(END * 1_000_000_000);
    let answer = flamelet::query::connect::call(store, tenant, &call, &cx).expect("native query");
    flame_graph_total(&answer.body)
}

/// The fresh hour's flame graph natively over `uploads` L0 segments of the load's profiles
/// (`--profile-l0 N`, for a profiler): the uploads are made once in memory, then the query
/// runs `repeat` times; prints each time. (For `cargo bench` only.)
#[allow(dead_code)]
pub fn profile_l0(config: &Config, uploads: usize, repeat: usize) {
    let store: flamelet::storage::store::SharedStore =
        std::sync::Arc::new(flamelet::storage::store::MemoryStore::default());
    let tenant = Tenant::from_header(Some(TENANT)).expect("tenant");
    let service = &config.services()[0];
    let params: Vec<(String, String)> = [
        ("name", "checkout{pod=p}".to_string()),
        ("format", "pprof".to_string()),
    ]
    .map(|(k, v)| (k.to_string(), v))
    .to_vec();
    let start = END - HOUR + 60;
    for k in 0..uploads {
        let body = service.pprof(config, k % 16, 0);
        let req = flamelet::ingest::IngestRequest {
            params: &params,
            content_type: None,
            body: &body,
        };
        let at = (start + k as i64 % 3000) * 1_000_000_000;
        flamelet::ingest::ingest(store.as_ref(), &tenant, &Default::default(), &req, at)
            .expect("ingest");
    }
    let body = flame_graph_request(END - HOUR, END);
    for _ in 0..repeat {
        let t = Instant::now();
        let total = native_call(&store, &tenant, &body);
        println!(
            "{uploads} L0: total {total} in {:.0} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
    }
}

/// After compaction: a hard-linked copy of `before` (objects are immutable) in `after`,
/// compacted by the real compact component through `flamelet compact`; the seconds it took
/// and its merges. Then, untimed, a second pass deletes the uploads the first covered, as a
/// server's passes do once the grace period is over: queries of past days then list no
/// uploads (with them, each day's listing adds ~1 ms to a 30 d query; docs/benchmarks.md).
fn compact_copy(before: &Path, after: &Path) -> (f64, usize) {
    let _ = std::fs::remove_dir_all(after);
    link_tree(before, after);
    let pass = || {
        let out = Command::new(server::BIN)
            .args(["compact", "--timeout-secs", "86400"])
            .args(["--compaction-grace-secs", "0", "--storage"])
            .arg(after)
            .arg("--cache-dir")
            .arg(server::cache_dir())
            .output()
            .expect("running flamelet compact");
        assert!(
            out.status.success(),
            "flamelet compact: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("compaction report")
    };
    let merges = |report: &serde_json::Value| report["merged"].as_array().map_or(0, Vec::len);
    let t = Instant::now();
    let mut merged = merges(&pass());
    let mut secs = t.elapsed().as_secs_f64();
    // A time-boxed pass may leave merges for the next; those count as compaction too.
    for _ in 0..20 {
        let t = Instant::now();
        let more = merges(&pass());
        if more == 0 {
            break;
        }
        merged += more;
        secs += t.elapsed().as_secs_f64();
    }
    (secs, merged)
}

/// The compacted data directory of `config`'s data set, made (generated and compacted) unless
/// an earlier run made it. (For `--metrics`; the tests' copy of the harness runs it all.)
#[allow(dead_code)]
pub fn prepared_dir(config: &Config) -> PathBuf {
    let after = compacted_dir(config);
    if !after.join(format!("tenants/{TENANT}/manifests")).exists() {
        let root = config.cache.join(config.fingerprint());
        let before = root.join("l0");
        load(config, &config.services(), &root, &before);
        compact_copy(&before, &after);
    }
    after
}

/// The compacted data directory of `config`'s data set, if a run made it.
pub fn compacted_dir(config: &Config) -> PathBuf {
    config.cache.join(config.fingerprint()).join("compacted")
}

/// Loads the data set into `dir` unless a previous run did: the last day of every service
/// through the real host and ingest component (Push of gzipped pprofs, one request per service
/// and batch, two clients at once); the older days of the queried service through the same
/// core code (`flamelet::ingest::ingest_push`) natively on two threads, with plain (not gzipped)
/// pprofs, to keep a 30 d load within minutes.
fn load(config: &Config, services: &[Service], root: &Path, dir: &Path) -> Generated {
    let stats = root.join("generated.json");
    if let Some(g) = std::fs::read(&stats)
        .ok()
        .and_then(|b| serde_json::from_slice::<Generated>(&b).ok())
    {
        eprintln!("reusing the data set in {}", root.display());
        return g;
    }
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(dir).expect("creating the data directory");
    // (service, times) of every Push request, oldest first.
    let mut recent = Vec::new();
    let mut older = Vec::new();
    for (i, s) in services.iter().enumerate() {
        let mut w = END - s.days() * DAY;
        while w < END {
            if w >= END - DAY {
                recent.push((i, w));
            } else {
                older.push((i, w));
            }
            w += config.batch_secs;
        }
    }
    let mut g = Generated::default();
    let server = FlameletServer::start_on(dir, &["--no-cron"]);
    let ops0 = Ops::read(&server);
    let t = Instant::now();
    let counted = in_parallel(&recent, |(i, w)| {
        let (req, profiles, gz) = services[*i].push(config, *w, w + config.batch_secs, true);
        let r = server.post_raw(
            "/push.v1.PusherService/Push",
            &[("Content-Type", "application/proto")],
            &req.encode_to_vec(),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        (profiles, gz)
    });
    g.wasm_secs = t.elapsed().as_secs_f64();
    g.wasm_requests = recent.len() as u64;
    g.wasm_profiles = counted.0;
    g.gzip_bytes = counted.1;
    g.wasm_puts_per_request = Ops::read(&server).per(ops0, recent.len()).puts;
    drop(server);

    let store = DirStore {
        root: dir.to_path_buf(),
        durable: false,
    };
    let tenant = Tenant::from_header(Some(TENANT)).expect("tenant");
    let t = Instant::now();
    let counted = in_parallel(&older, |(i, w)| {
        let (req, profiles, bytes) = services[*i].push(config, *w, w + config.batch_secs, false);
        flamelet::ingest::ingest_push(
            &store,
            &tenant,
            &Default::default(),
            flamelet::wire::connect::Codec::Proto,
            None,
            &req.encode_to_vec(),
            END * 1_000_000_000,
        )
        .expect("native push");
        (profiles, bytes)
    });
    g.native_secs = t.elapsed().as_secs_f64();
    g.native_requests = older.len() as u64;
    g.native_profiles = counted.0;
    g.native_pprof_bytes = counted.1;
    g.profiles = g.wasm_profiles + g.native_profiles;
    std::fs::write(&stats, serde_json::to_vec(&g).expect("json")).expect("writing stats");
    g
}

/// Runs `f` over `items` on two threads (the machine's cores); sums the (profiles, bytes).
fn in_parallel<T: Sync>(items: &[T], f: impl Fn(&T) -> (u64, u64) + Sync) -> (u64, u64) {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|k| {
                let f = &f;
                scope.spawn(move || {
                    items
                        .iter()
                        .skip(k)
                        .step_by(2)
                        .map(f)
                        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("loader thread"))
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    })
}

/// Ingest throughput, one request at a time (one core of work): single pprof uploads
/// (`/ingest`, as Pyroscope's SDKs send them) and Push batches, through the host + component,
/// through the same core code natively, and the decode floor.
fn ingest_throughput(config: &Config, service: &Service, report: &mut Report) {
    let n = config.ingest_profiles;
    // Within one batch, so that the Push request is valid (at most 1 h of profiles).
    let step = config
        .interval_secs
        .min(config.batch_secs / n as i64)
        .max(1);
    let times: Vec<i64> = (0..n as i64).map(|k| END - DAY + k * step).collect();
    let plain: Vec<Vec<u8>> = times
        .iter()
        .map(|t| service.pprof_decoded(config, 0, *t))
        .collect();
    let decoded: usize = plain.iter().map(Vec::len).sum();
    let profiles: Vec<Vec<u8>> = plain.iter().map(|p| data::gzip(p)).collect();
    let query = |t: i64| {
        format!(
            "/ingest?name={}&format=pprof&from={t}&until={}",
            server::encode("checkout.cpu{pod=checkout-0,region=eu-west-1}"),
            t + config.interval_secs
        )
    };
    // The same profiles as one Push batch.
    let push = flamelet::wire::proto::push::v1::PushRequest {
        series: vec![flamelet::wire::proto::push::v1::RawProfileSeries {
            labels: service.labels(0),
            samples: profiles
                .iter()
                .map(|p| flamelet::wire::proto::push::v1::RawSample {
                    raw_profile: p.clone(),
                    id: String::new(),
                })
                .collect(),
            annotations: vec![],
        }],
    };
    let push_body = push.encode_to_vec();
    let rate = |secs: Vec<f64>| {
        (
            Stat::of(secs.iter().map(|s| n as f64 / s).collect()),
            Stat::of(secs.iter().map(|s| decoded as f64 / 1e6 / s).collect()),
        )
    };
    let rounds = config.rounds;
    let mut rows = Vec::new();
    let mut add = |path, per_request, (secs, cpu): (Vec<f64>, f64)| {
        let (p, m) = rate(secs);
        rows.push(IngestRow {
            path,
            profiles_per_request: per_request,
            profiles_per_sec: p,
            decoded_mb_per_sec: m,
            cpu_ms_per_profile: cpu * 1e3 / (rounds * n) as f64,
        });
    };
    let me = std::process::id();

    let floor = timed_cpu(rounds, me, || {
        for p in &profiles {
            std::hint::black_box(floor::decode(p));
        }
    });
    add("decode floor (gunzip + protobuf)", 1, floor);

    let tmp = tempfile::tempdir().expect("temp dir");
    let store = DirStore {
        root: tmp.path().to_path_buf(),
        durable: true,
    };
    let tenant = Tenant::from_header(Some(TENANT)).expect("tenant");
    let params: Vec<Vec<(String, String)>> = times
        .iter()
        .map(|t| {
            vec![
                (
                    "name".to_string(),
                    "checkout.cpu{pod=checkout-0,region=eu-west-1}".to_string(),
                ),
                ("format".to_string(), "pprof".to_string()),
                ("from".to_string(), t.to_string()),
                ("until".to_string(), (t + config.interval_secs).to_string()),
            ]
        })
        .collect();
    let native = timed_cpu(rounds, me, || {
        for (p, params) in profiles.iter().zip(&params) {
            let req = flamelet::ingest::IngestRequest {
                params,
                content_type: None,
                body: p,
            };
            flamelet::ingest::ingest(
                &store,
                &tenant,
                &Default::default(),
                &req,
                END * 1_000_000_000,
            )
            .expect("native ingest");
        }
    });
    add("native core, one pprof per request", 1, native);
    let native_push = timed_cpu(rounds, me, || {
        flamelet::ingest::ingest_push(
            &store,
            &tenant,
            &Default::default(),
            flamelet::wire::connect::Codec::Proto,
            None,
            &push_body,
            END * 1_000_000_000,
        )
        .expect("native push");
    });
    add("native core, Push batch", n, native_push);

    let server = FlameletServer::start();
    // Warm: the first request compiles nothing (components are cached) but faults pages in.
    server.post_raw(&query(times[0]), &[], &profiles[0]);
    let ops0 = Ops::read(&server);
    let pid = server.pid();
    let wasm = timed_cpu(rounds, pid, || {
        for (p, t) in profiles.iter().zip(&times) {
            let r = server.post_raw(&query(*t), &[], p);
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        }
    });
    add("host + WASM, one pprof per request", 1, wasm);
    let wasm_push = timed_cpu(rounds, pid, || {
        let r = server.post_raw(
            "/push.v1.PusherService/Push",
            &[("Content-Type", "application/proto")],
            &push_body,
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    });
    add("host + WASM, Push batch", n, wasm_push);
    report.ingest_requests = config.rounds * (n + 1);
    report.ingest_ops = Ops::read(&server).per(ops0, report.ingest_requests);

    // The per-request overhead: the host alone, and a fresh component instance answering.
    let each = |path: &str| {
        Stat::of(timed(config.overhead_requests, || {
            server.get(path);
        }))
        .scaled(1e3)
    };
    report.host_request_ms = each("/ready");
    report.component_request_ms = each("/ingest");
    // The fixed cost of a request: a one-line folded upload (HTTP, a fresh instance, a
    // segment, a durable put, almost no parsing).
    let one_line = |server: &FlameletServer| {
        let upload = || {
            let r = server.post_raw("/ingest?name=tiny&from=1700000000", &[], b"a;b 1\n");
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        };
        upload();
        timed_cpu(config.overhead_requests, server.pid(), upload)
    };
    let (wall, cpu) = one_line(&server);
    report.one_line_upload_ms = Stat::of(wall).scaled(1e3);
    report.one_line_upload_cpu_ms = cpu * 1e3 / config.overhead_requests as f64;
    let in_memory = FlameletServer::start_with("memory://", &["--no-cron"]);
    let (_, cpu) = one_line(&in_memory);
    report.one_line_upload_memory_cpu_ms = cpu * 1e3 / config.overhead_requests as f64;
    let metrics = server.get("/metrics").body;
    let count = metric(&metrics, "flamelet_instantiate_seconds_count");
    report.instantiate_mean_ms =
        metric(&metrics, "flamelet_instantiate_seconds_sum") / count.max(1.0) * 1e3;
    report.ingest = rows;
}

/// The raw baseline: every profile of the queried service in range, gunzipped, decoded and
/// merged by function name with the core's tree code, as a system without storage would.
/// Run for 1 h and 24 h; longer ranges are scaled from the 24 h run by profile count (a 30 d
/// scan would take hours), and marked as estimated.
fn raw_scan(config: &Config, service: &Service, rows: &mut [QueryRow]) {
    let mut per_profile_ms = None;
    for row in rows.iter_mut() {
        if row.hours > 24 {
            if let Some(ms) = per_profile_ms {
                row.raw_ms = Stat::scaled(ms, row.profiles as f64);
                row.raw_estimated = true;
            }
            continue;
        }
        let inputs: Vec<Vec<u8>> = (0..service.series.len())
            .flat_map(|s| {
                config
                    .times(service.series[s].2, END - row.hours * HOUR, END)
                    .map(move |t| service.pprof(config, s, t))
            })
            .collect();
        let rounds = if row.hours == 24 {
            config.raw_long_rounds
        } else {
            config.rounds
        };
        let mut total = 0;
        let ms = timed(rounds, || {
            let mut tree = flamelet::tree::Tree::new();
            for b in &inputs {
                let p = flamelet::wire::pprof::read(b, flamelet::limits::DEFAULT_MAX_PROFILE_BYTES)
                    .expect("pprof");
                let symbols = flamelet::wire::pprof::Symbols::new(&p);
                // Each location converted once per profile, as ingest does.
                let mut dict = flamelet::profile::Dictionary::default();
                let mut converted = flamelet::wire::pprof::Converted::default();
                for s in p.samples() {
                    let mut node = flamelet::tree::ROOT;
                    let stack = symbols.walk(&mut dict, &mut converted, s.location_id);
                    for f in dict.frames_of(stack) {
                        node = tree.child(node, dict.frame_name(f));
                    }
                    tree.add_self(node, s.value[0]);
                }
            }
            total = tree.totals()[flamelet::tree::ROOT];
        });
        assert_eq!(
            total, row.total,
            "{}: Flamelet and the raw merge agree",
            row.label
        );
        row.raw_ms = Stat::of(ms).scaled(1e3);
        if row.hours == 24 {
            per_profile_ms = Some(row.raw_ms.scaled(1.0 / row.profiles as f64));
        }
    }
}

/// Hard-links every file of `from` into `to`.
fn link_tree(from: &Path, to: &Path) {
    let mut files = Vec::new();
    dir_store::walk(from, from, &mut files);
    for (rel, _) in files {
        let target = to.join(&rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).expect("creating a directory");
        }
        std::fs::hard_link(from.join(&rel), &target).expect("hard-linking a segment");
    }
}

/// Bytes of the files under `tenants/*/{kind}/` whose day and hour (from the key) start at
/// or after `since` (Unix seconds; manifests count from their day).
fn bytes_since(dir: &Path, kind: &str, since: i64) -> u64 {
    let since = since.saturating_mul(1_000_000_000);
    let mut files = Vec::new();
    dir_store::walk(dir, dir, &mut files);
    files
        .iter()
        .filter(|(key, _)| key.split('/').nth(2) == Some(kind))
        .filter(|(key, _)| {
            if let Some(k) = flamelet::storage::keys::SegmentKey::parse(key) {
                k.day.start_nanos() + k.hour as i64 * HOUR * 1_000_000_000 >= since
            } else {
                key.split('/')
                    .nth(3)
                    .and_then(flamelet::storage::keys::Day::parse)
                    .is_some_and(|d| d.start_nanos() + DAY * 1_000_000_000 > since)
            }
        })
        .map(|(_, size)| size)
        .sum()
}

impl Report {
    /// The ingest throughput tables: every path, then issue #18's figures against its goals.
    pub fn ingest_markdown(&self) -> String {
        let mut out = String::new();
        let mut line = |s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        line("### Ingest throughput (one request at a time)".into());
        line(String::new());
        line("| path | profiles per request | profiles/s | decoded MB/s per core | vs decode floor (time) | CPU ms per profile |".into());
        line("|---|---|---|---|---|---|".into());
        let floor = self
            .ingest
            .first()
            .map_or(1.0, |r| r.profiles_per_sec.median);
        for r in &self.ingest {
            line(format!(
                "| {} | {} | {} | {} | {:.1}× | {:.3} |",
                r.path,
                r.profiles_per_request,
                r.profiles_per_sec.show(0),
                r.decoded_mb_per_sec.show(1),
                floor / r.profiles_per_sec.median,
                r.cpu_ms_per_profile
            ));
        }
        let row = |path: &str| self.ingest.iter().find(|r| r.path == path);
        let rate = |path: &str| row(path).map_or(0.0, |r| r.profiles_per_sec.median);
        let wasm_native = |native: &str, wasm: &str| rate(native) / rate(wasm).max(1e-9);
        line(String::new());
        line(format!(
            "WASM / native time: {:.2}× one pprof per request, {:.2}× Push batches. Object-store calls per ingest request: {:.2} puts, {:.2} gets, {:.2} lists.",
            wasm_native(
                "native core, one pprof per request",
                "host + WASM, one pprof per request"
            ),
            wasm_native("native core, Push batch", "host + WASM, Push batch"),
            self.ingest_ops.puts,
            self.ingest_ops.reads(),
            self.ingest_ops.lists
        ));
        line(format!(
            "Per-request overhead: `GET /ready` (host only) {} ms, `GET /ingest` (a fresh component instance answers 405) {} ms; instantiation alone {:.3} ms (mean, host histogram).",
            self.host_request_ms.show(3),
            self.component_request_ms.show(3),
            self.instantiate_mean_ms
        ));
        line(String::new());
        line("Issue #18's table:".into());
        line(String::new());
        line("| path | now | goal |".into());
        line("|---|---|---|".into());
        for (path, mb_goal, floor_goal) in [
            ("host + WASM, one pprof per request", 40.0, 2.5),
            ("host + WASM, Push batch", 80.0, 1.2),
        ] {
            if let Some(r) = row(path) {
                line(format!(
                    "| {path} | {:.1} MB/s/core, {:.1}× the decode floor | ≥ {mb_goal} MB/s/core, ≤ {floor_goal}× floor |",
                    r.decoded_mb_per_sec.median,
                    floor / r.profiles_per_sec.median
                ));
            }
        }
        line(format!(
            "| WASM / native, same work | {:.2}× one pprof, {:.2}× Push | ≤ 1.4× |",
            wasm_native(
                "native core, one pprof per request",
                "host + WASM, one pprof per request"
            ),
            wasm_native("native core, Push batch", "host + WASM, Push batch"),
        ));
        line(format!(
            "| fixed cost of a one-line upload | {} ms ({:.2} ms of CPU; {:.2} ms on `memory://`, \
             without the file and its fsyncs) | ≤ 0.6 ms |",
            self.one_line_upload_ms.show(2),
            self.one_line_upload_cpu_ms,
            self.one_line_upload_memory_cpu_ms
        ));
        line(String::new());
        out
    }

    /// The report as docs/benchmarks.md shows it.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let g = &self.generated;
        let mut line = |s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        line(format!(
            "Data set `{}`: {} profiles; the last day's {} through the component are {:.1} MB gzipped ({:.1} KB per profile), the older {} are {:.1} MB of plain pprof.",
            self.fingerprint,
            g.profiles,
            g.wasm_profiles,
            g.gzip_bytes as f64 / 1e6,
            g.gzip_bytes as f64 / g.wasm_profiles.max(1) as f64 / 1e3,
            g.native_profiles,
            g.native_pprof_bytes as f64 / 1e6
        ));
        line(format!(
            "Loaded: {} profiles in {} Push requests through host + WASM ({:.0} s, two clients), {} profiles in {} requests through the native core ({:.0} s, two threads); {:.2} object writes per Push request.",
            g.wasm_profiles,
            g.wasm_requests,
            g.wasm_secs,
            g.native_profiles,
            g.native_requests,
            g.native_secs,
            g.wasm_puts_per_request
        ));
        line(String::new());
        out.push_str(&self.ingest_markdown());
        let mut line = |s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        line(
            "### Flame graph of one service (binary SelectMergeStacktraces, max nodes 8192)".into(),
        );
        line(String::new());
        line("| range | profiles | before compaction ms | after compaction ms | native core after ms | raw scan ms | raw / after | reads before (gets, lists) | reads after (gets, lists) |".into());
        line("|---|---|---|---|---|---|---|---|---|".into());
        for r in &self.queries {
            line(format!(
                "| {} | {} | {} | {} | {} | {}{} | {:.1}× | {:.0}, {:.0} | {:.0}, {:.0} |",
                r.label,
                r.profiles,
                r.before_ms.show(0),
                r.after_ms.show(0),
                r.native_ms.show(0),
                r.raw_ms.show(0),
                if r.raw_estimated { " (estimated)" } else { "" },
                r.raw_ms.median / r.after_ms.median.max(1e-9),
                r.ops_before.reads(),
                r.ops_before.lists,
                r.ops_after.reads(),
                r.ops_after.lists
            ));
        }
        let ms = |label: &str| {
            self.queries
                .iter()
                .find(|r| r.label == label)
                .map(|r| r.after_ms.median)
        };
        if let (Some(d30), Some(h24)) = (ms("30 d"), ms("24 h")) {
            line(String::new());
            line(format!("30 d / 24 h after compaction: {:.1}×.", d30 / h24));
        }
        line(String::new());
        line(format!(
            "Compaction (`flamelet compact`, one pass): {:.0} s for {} merges (hours, and days rolled up).",
            self.compaction_secs, self.compaction_merges
        ));
        let per = |b: u64| b as f64 / g.wasm_profiles.max(1) as f64;
        let gz = per(g.gzip_bytes);
        let after = self.stored_after_bytes as f64 / g.profiles.max(1) as f64;
        line(format!(
            "Stored per profile: gzip pprof {:.0} B (the last day's, all services); before compaction {:.0} B ({:.3}× gzip, the last day's L0 segments); after {:.0} B ({:.3}× gzip, every compacted segment and manifest over all {} profiles).",
            gz,
            per(self.stored_before_bytes),
            per(self.stored_before_bytes) / gz.max(1e-9),
            after,
            after / gz.max(1e-9),
            g.profiles
        ));
        line(format!(
            "Host peak RSS: {:.0} MiB after the first query; during the 24 h queries {:.0} MiB before compaction, {:.0} MiB after; during the 30 d queries {:.0} MiB before, {:.0} MiB after{}.",
            self.idle_rss_kib as f64 / 1024.0,
            self.rss_24h_before_kib as f64 / 1024.0,
            self.rss_24h_after_kib as f64 / 1024.0,
            self.rss_30d_before_kib as f64 / 1024.0,
            self.rss_30d_after_kib as f64 / 1024.0,
            if self.rss_reset_worked {
                ""
            } else {
                " (peak since start: clear_refs was refused)"
            }
        ));
        if let Some(p) = &self.packaged {
            line(String::new());
            out.push_str(&p.markdown());
        }
        if let Some(b) = &self.browser {
            out.push('\n');
            out.push_str(&b.markdown());
        }
        if let Some(m) = &self.metrics {
            out.push('\n');
            out.push_str(&m.markdown());
        }
        out
    }
}
