//! Sustained load (issue #17 part 4): 64 concurrent clients for a minute against one
//! `flamelet serve`, or two on one data directory, with compaction running every few seconds.
//! Ingest clients upload Go-style CPU pprofs (one per request, as agents do) and Push batches;
//! query clients ask for the fresh hour's flame graph, as Grafana (Connect) and the UI (render)
//! do. Every answer must be a 200; each query client's totals must never go down (a later
//! query misses nothing an earlier one saw); afterwards the stored total must be exactly the
//! acknowledged profiles' — before compaction catches up and after. Prints throughput,
//! p50/p99 latency per operation, the servers' CPU and RSS.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use flamelet::wire::proto::push::v1::{PushRequest, RawProfileSeries, RawSample};
use flamelet::wire::proto::querier::v1::SelectMergeStacktracesRequest;
use flamelet::wire::proto::types::v1::LabelPair;
use prost::Message;

use super::{CPU, Config, FlameletServer, flame_graph_total, peak_rss_kib, reset_peak_rss};

/// Who does what during a run.
#[derive(Debug, Clone)]
pub struct Shape {
    pub servers: usize,
    pub secs: u64,
    /// Clients uploading one gzipped pprof per request (`/ingest?format=pprof`).
    pub pprof_clients: usize,
    /// Clients pushing `push_profiles` profiles per request (`PusherService/Push`).
    pub push_clients: usize,
    pub push_profiles: usize,
    /// Clients asking for the last hour's flame graph (half Connect, half render).
    pub query_clients: usize,
    /// Seconds between whole compaction passes (`POST /flamelet/compact`, servers in turn,
    /// their cron off); `None`: the servers' own schedule (spin.toml's cron trigger: the open
    /// hours every second, every day each minute), as `flamelet serve` runs by default.
    pub compact_every: Option<u64>,
    /// Upload requests per second (pprof and Push together), each ingest client pacing its
    /// share; `None`: as fast as they are answered (closed loop). Paced uploads measure the
    /// queries' latency at a given ingest rate, which closed-loop clients cannot: there, the
    /// cheaper the queries, the more of the cores they take from the uploads.
    pub ingest_rate: Option<f64>,
}

impl Shape {
    /// The figures' shape (the tests run a smaller one).
    #[allow(dead_code)]
    pub fn standard(servers: usize, secs: u64) -> Shape {
        Shape {
            servers,
            secs,
            pprof_clients: 40,
            push_clients: 8,
            push_profiles: 6,
            query_clients: 16,
            compact_every: None,
            ingest_rate: None,
        }
    }

    fn clients(&self) -> usize {
        self.pprof_clients + self.push_clients + self.query_clients
    }
}

/// The operations measured, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Pprof,
    Push,
    FlameGraph,
    Render,
    Compact,
}

const OPS: [(Op, &str); 5] = [
    (Op::Pprof, "ingest, one pprof (`/ingest`)"),
    (Op::Push, "ingest, Push batch"),
    (
        Op::FlameGraph,
        "last hour's flame graph (Connect `SelectMergeStacktraces`)",
    ),
    (
        Op::Render,
        "last hour's flame graph (`/pyroscope/render`, the UI's)",
    ),
    (
        Op::Compact,
        "compaction (`POST /flamelet/compact` or the servers' cron)",
    ),
];

/// What one operation's requests gave.
#[derive(Debug, Clone, Default)]
struct Tally {
    secs: Vec<f64>,
    errors: usize,
    /// The first few errors, for the report.
    examples: Vec<String>,
    /// Profiles acknowledged (ingest) or L0 segments merged (compaction).
    units: u64,
    bytes: u64,
}

impl Tally {
    fn failed(&mut self, what: String) {
        self.errors += 1;
        if self.examples.len() < 3 {
            self.examples.push(what);
        }
    }
}

/// One operation's row.
#[derive(Debug, Clone)]
pub struct Row {
    pub op: &'static str,
    pub requests: usize,
    pub errors: usize,
    pub examples: Vec<String>,
    pub per_sec: f64,
    pub profiles_per_sec: f64,
    pub mb_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// One run's figures.
#[derive(Debug, Clone)]
pub struct Load {
    pub shape: Shape,
    pub stacks: usize,
    pub rows: Vec<Row>,
    /// Acknowledged profiles, and the totals expected and found right after the load and after
    /// compaction caught up.
    pub profiles: u64,
    pub expected: i64,
    pub total_after_load: i64,
    pub total_compacted: i64,
    /// Query clients' totals that went down from one query to their next.
    pub regressions: usize,
    /// Per server: peak RSS during the load and RSS at its end (KiB), CPU seconds used.
    pub peak_rss_kib: Vec<u64>,
    pub end_rss_kib: Vec<u64>,
    pub cpu_secs: Vec<f64>,
    /// L0 segments left uncovered when the load stopped, and the day's stored objects.
    pub uncovered_l0: usize,
    /// The flame graph of the whole load on an idle server, right after the load (its
    /// uncovered L0 segments included) and after compaction caught up, ms.
    pub idle_ms: f64,
    pub compacted_ms: f64,
    pub wall_secs: f64,
}

/// A process's user + system CPU seconds (Linux `/proc/PID/stat`, clock ticks of 1/100 s).
pub(super) fn cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start at state, field 3.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (tick(11) + tick(12)) / 100.0
}

fn rss_kib(pid: u32) -> u64 {
    super::status_kib(pid, "VmRSS:")
}

pub(super) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

/// POSTs and reads the answer; `Err` for a transport failure or a status other than 200.
fn post(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Vec<u8>, String> {
    let mut r = agent.post(url);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    answer(r.send(body))
}

fn get(agent: &ureq::Agent, url: &str) -> Result<Vec<u8>, String> {
    answer(agent.get(url).call())
}

/// The body of a 200; anything else as an error naming it.
fn answer(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Vec<u8>, String> {
    let mut r = r.map_err(|e| format!("transport: {e}"))?;
    let status = r.status().as_u16();
    let body = r
        .body_mut()
        .with_config()
        .limit(256 << 20)
        .read_to_vec()
        .map_err(|e| format!("reading the answer: {e}"))?;
    if status == 200 {
        Ok(body)
    } else {
        Err(format!(
            "{status}: {}",
            String::from_utf8_lossy(&body).trim()
        ))
    }
}

fn flame_graph_body(from: i64, until: i64) -> Vec<u8> {
    SelectMergeStacktracesRequest {
        profile_type_id: CPU.into(),
        label_selector: "{service_name=\"checkout\"}".into(),
        start: from * 1000,
        end: until * 1000,
        max_nodes: Some(8192),
        ..Default::default()
    }
    .encode_to_vec()
}

/// The flame graph's total over [from, until] through `base`.
fn flame_graph(agent: &ureq::Agent, base: &str, from: i64, until: i64) -> Result<i64, String> {
    let body = post(
        agent,
        &format!("{base}/querier.v1.QuerierService/SelectMergeStacktraces"),
        &[("Content-Type", "application/proto")],
        &flame_graph_body(from, until),
    )?;
    Ok(flame_graph_total(&body))
}

/// The render's total (`flamebearer.numTicks`) over [from, until] through `base`.
fn render(agent: &ureq::Agent, base: &str, from: i64, until: i64) -> Result<i64, String> {
    let body = get(
        agent,
        &format!(
            "{base}/pyroscope/render?query={}&from={from}&until={until}&max-nodes=8192",
            super::server::encode(&format!("{CPU}{{service_name=\"checkout\"}}"))
        ),
    )?;
    let json: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"))?;
    json["flamebearer"]["numTicks"]
        .as_i64()
        .ok_or_else(|| "no flamebearer.numTicks".to_string())
}

/// Runs one load and checks its totals.
pub fn measure(config: &Config, shape: &Shape) -> Load {
    let service = &config.services()[0];
    // Bodies made beforehand, so the clients spend no CPU the servers need; a profile stamped
    // 0 takes the request's time (`from`, or the time of arrival for Push).
    let pprofs: Vec<Vec<u8>> = (0..16).map(|k| service.pprof(config, k, 0)).collect();
    let per_profile = config.draws as i64 * 10_000_000;
    let pushes: Vec<Vec<u8>> = (0..shape.push_clients)
        .map(|c| {
            PushRequest {
                series: vec![RawProfileSeries {
                    labels: [
                        ("__name__", "process_cpu"),
                        ("service_name", "checkout"),
                        ("pod", &format!("push-{c}")),
                    ]
                    .map(|(name, value)| LabelPair {
                        name: name.into(),
                        value: value.to_string(),
                    })
                    .to_vec(),
                    samples: (0..shape.push_profiles)
                        .map(|k| RawSample {
                            raw_profile: pprofs[(c + k) % pprofs.len()].clone(),
                            id: String::new(),
                        })
                        .collect(),
                    annotations: vec![],
                }],
            }
            .encode_to_vec()
        })
        .collect();

    let dir = tempfile::tempdir().expect("a temporary directory");
    // `FLAMELET_LOAD_DATA=DIR` keeps the data there, to look into afterwards.
    let data = std::env::var_os("FLAMELET_LOAD_DATA")
        .map_or_else(|| dir.path().join("data"), std::path::PathBuf::from);
    // `FLAMELET_LOAD_SERVER_ARGS="--background ingest,compact"` (say) tries a server setting.
    let extra = std::env::var("FLAMELET_LOAD_SERVER_ARGS").unwrap_or_default();
    let mut args: Vec<&str> = extra.split_whitespace().collect();
    if shape.compact_every.is_some() {
        args.push("--no-cron");
    }
    let servers: Vec<FlameletServer> = (0..shape.servers)
        .map(|_| FlameletServer::start_on(&data, &args))
        .collect();
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    // Warm every server's components (compiled, first instances) before measuring.
    for base in &bases {
        let warm = agent();
        let _ = flame_graph(&warm, base, now_secs() - 3600, now_secs());
        let _ = post(&warm, &format!("{base}/flamelet/compact"), &[], b"");
    }
    let rss_reset = servers.iter().all(|s| reset_peak_rss(s.pid()));
    let cpu0: Vec<f64> = servers.iter().map(|s| cpu_secs(s.pid())).collect();

    let start = now_secs();
    let stop = AtomicBool::new(false);
    let tallies: Vec<Mutex<Tally>> = OPS.iter().map(|_| Mutex::default()).collect();
    let tally = |op: Op| &tallies[OPS.iter().position(|(o, _)| *o == op).unwrap_or(0)];
    let regressions = Mutex::new(0usize);
    let t0 = Instant::now();
    // `FLAMELET_LOAD_SLOW=S`: print each request that took longer than S seconds, and when.
    let slow: Option<f64> = std::env::var("FLAMELET_LOAD_SLOW")
        .ok()
        .and_then(|s| s.parse().ok());
    std::thread::scope(|scope| {
        for c in 0..shape.clients() {
            let base = &bases[c % bases.len()];
            let (stop, pprofs, pushes, regressions) = (&stop, &pprofs, &pushes, &regressions);
            let tally = &tally;
            let ingest_clients = shape.pprof_clients + shape.push_clients;
            // A paced ingest client's time between requests, its first offset by its number.
            let pace = shape
                .ingest_rate
                .filter(|r| *r > 0.0 && c < ingest_clients)
                .map(|r| Duration::from_secs_f64(ingest_clients as f64 / r));
            scope.spawn(move || {
                let agent = agent();
                let mut last = 0i64;
                let mut k = c;
                let mut due =
                    pace.map(|p| Instant::now() + p.mul_f64(c as f64 / ingest_clients as f64));
                while !stop.load(Ordering::Relaxed) {
                    k += 1;
                    if let (Some(p), Some(at)) = (pace, due.as_mut()) {
                        let now = Instant::now();
                        if *at > now {
                            std::thread::sleep(*at - now);
                        }
                        // Behind by more than a second (the server is saturated): do not
                        // burst to catch up, go on from now.
                        *at = (*at + p).max(Instant::now() - Duration::from_secs(1));
                    }
                    let t = Instant::now();
                    let (op, result, units, bytes) = if c < shape.pprof_clients {
                        let body = &pprofs[k % pprofs.len()];
                        let path = format!(
                            "/ingest?name={}&from={}&format=pprof",
                            super::server::encode(&format!("checkout{{pod=pprof-{c}}}")),
                            now_secs()
                        );
                        let r = post(&agent, &format!("{base}{path}"), &[], body);
                        (Op::Pprof, r.map(|_| 0), 1, body.len())
                    } else if c < shape.pprof_clients + shape.push_clients {
                        let body = &pushes[c - shape.pprof_clients];
                        let r = post(
                            &agent,
                            &format!("{base}/push.v1.PusherService/Push"),
                            &[("Content-Type", "application/proto")],
                            body,
                        );
                        (
                            Op::Push,
                            r.map(|_| 0),
                            shape.push_profiles as u64,
                            body.len(),
                        )
                    } else {
                        let until = now_secs() + 1;
                        let (op, r) = if c % 2 == 0 {
                            (
                                Op::FlameGraph,
                                flame_graph(&agent, base, until - 3600, until),
                            )
                        } else {
                            (Op::Render, render(&agent, base, until - 3600, until))
                        };
                        if let Ok(total) = r {
                            if total < last {
                                *regressions.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                            }
                            last = total;
                        }
                        (op, r, 0, 0)
                    };
                    let secs = t.elapsed().as_secs_f64();
                    let mut tally = tally(op).lock().unwrap_or_else(|e| e.into_inner());
                    match result {
                        Ok(_) => {
                            if slow.is_some_and(|s| secs > s) {
                                let at = t0.elapsed().as_secs_f64() - secs;
                                eprintln!("slow: {op:?} started at {at:.1} s took {secs:.1} s");
                            }
                            tally.secs.push(secs);
                            tally.units += units;
                            tally.bytes += bytes as u64;
                        }
                        Err(e) => tally.failed(e),
                    }
                }
            });
        }
        let (stop, bases) = (&stop, &bases);
        let tally = &tally;
        let every = shape.compact_every.map(Duration::from_secs);
        scope.spawn(move || {
            let Some(every) = every else { return };
            let agent = agent();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let next = Instant::now() + every;
                let t = Instant::now();
                let r = post(
                    &agent,
                    &format!("{}/flamelet/compact", bases[n % bases.len()]),
                    &[],
                    b"",
                );
                n += 1;
                let secs = t.elapsed().as_secs_f64();
                let mut tally = tally(Op::Compact).lock().unwrap_or_else(|e| e.into_inner());
                let report = r.and_then(|b| {
                    serde_json::from_slice::<serde_json::Value>(&b).map_err(|e| e.to_string())
                });
                // A day that failed is an error even though the pass answered 200.
                let report = report.and_then(|r| match r["errors"].as_array() {
                    Some(errors) if !errors.is_empty() => Err(format!("{errors:?}")),
                    _ => Ok(r),
                });
                match report {
                    Ok(report) => {
                        tally.secs.push(secs);
                        tally.units += merges(&report);
                    }
                    Err(e) => tally.failed(e),
                }
                drop(tally);
                while Instant::now() < next && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        });
        std::thread::sleep(Duration::from_secs(shape.secs));
        stop.store(true, Ordering::Relaxed);
    });
    let wall_secs = t0.elapsed().as_secs_f64();
    let cpu_secs: Vec<f64> = servers
        .iter()
        .zip(&cpu0)
        .map(|(s, c0)| cpu_secs(s.pid()) - c0)
        .collect();
    let peak_rss_kib: Vec<u64> = servers
        .iter()
        .map(|s| if rss_reset { peak_rss_kib(s.pid()) } else { 0 })
        .collect();
    let end_rss_kib: Vec<u64> = servers.iter().map(|s| rss_kib(s.pid())).collect();
    let uncovered_l0 = uncovered_l0(&data);

    let mut tallies: Vec<Tally> = tallies
        .into_iter()
        .map(|t| t.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect();
    if shape.compact_every.is_none() {
        // The servers' passes answer no one: what they merged is every upload's L0 segment
        // (one per acknowledged request) but the backlog.
        let written = tallies[0].secs.len() + tallies[1].secs.len();
        if let Some(t) = tallies
            .iter_mut()
            .zip(OPS)
            .find(|(_, (op, _))| *op == Op::Compact)
        {
            t.0.units = written.saturating_sub(uncovered_l0) as u64;
        }
    }
    let profiles = tallies[0].units + tallies[1].units;
    let expected = profiles as i64 * per_profile;
    let (from, until) = (start - 7200, now_secs() + 3600);
    let check = agent();
    let t = Instant::now();
    let total_after_load = flame_graph(&check, &bases[0], from, until).unwrap_or(-1);
    let idle_ms = t.elapsed().as_secs_f64() * 1e3;
    // Compaction to quiescence: passes until one merges nothing.
    for _ in 0..50 {
        let r = post(&check, &format!("{}/flamelet/compact", bases[0]), &[], b"");
        match r
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        {
            Some(report) if report["merged"].as_array().is_none_or(Vec::is_empty) => break,
            Some(_) => {}
            None => break,
        }
    }
    let t = Instant::now();
    let _ = flame_graph(&check, &bases[0], from, until);
    let compacted_ms = t.elapsed().as_secs_f64() * 1e3;
    let total_compacted = bases
        .iter()
        .map(|b| flame_graph(&check, b, from, until).unwrap_or(-1))
        .find(|t| *t != expected)
        .unwrap_or(expected);

    let rows = OPS
        .iter()
        .zip(tallies)
        .map(|((_, name), t)| {
            let mut s = t.secs.clone();
            s.sort_by(f64::total_cmp);
            let q = |p: f64| {
                s.get(((s.len() as f64 * p).ceil() as usize).saturating_sub(1))
                    .map_or(0.0, |v| v * 1e3)
            };
            Row {
                op: name,
                requests: s.len() + t.errors,
                errors: t.errors,
                examples: t.examples,
                per_sec: s.len() as f64 / wall_secs,
                profiles_per_sec: t.units as f64 / wall_secs,
                mb_per_sec: t.bytes as f64 / wall_secs / 1e6,
                p50_ms: q(0.5),
                p99_ms: q(0.99),
                max_ms: s.last().map_or(0.0, |v| v * 1e3),
            }
        })
        .collect();
    Load {
        shape: shape.clone(),
        stacks: config.stacks,
        rows,
        profiles,
        expected,
        total_after_load,
        total_compacted,
        regressions: regressions.into_inner().unwrap_or_else(|e| e.into_inner()),
        peak_rss_kib,
        end_rss_kib,
        cpu_secs,
        uncovered_l0,
        idle_ms,
        compacted_ms,
        wall_secs,
    }
}

/// L0 segments a compaction report says it merged.
fn merges(report: &serde_json::Value) -> u64 {
    report["merged"].as_array().map_or(0, |merged| {
        merged
            .iter()
            .map(|m| m["l0_inputs"].as_u64().unwrap_or(0))
            .sum()
    })
}

/// L0 segments of the data directory that the newest manifest does not cover: the backlog.
/// (Not the count of files less the count covered: a merged upload is deleted after the L0
/// grace period and dropped from `covered` only at a later publish.)
fn uncovered_l0(data: &Path) -> usize {
    let mut files = Vec::new();
    super::dir_store::walk(data, data, &mut files);
    let covered: std::collections::HashSet<String> = files
        .iter()
        .filter(|(k, _)| k.contains("/manifests/"))
        .map(|(k, _)| k)
        .max()
        .and_then(|k| std::fs::read(data.join(k)).ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|m| {
            m["covered"].as_array().map(|c| {
                c.iter()
                    .filter_map(|e| e["key"].as_str().map(str::to_string))
                    .collect()
            })
        })
        .unwrap_or_default();
    files
        .iter()
        .filter(|(k, _)| k.contains("/l0/") && !covered.contains(k))
        .count()
}

impl Load {
    pub fn markdown(&self) -> String {
        let s = &self.shape;
        let mut out = format!(
            "#### {} server{} on one data directory, {} s, {} clients ({} pprof, {} Push of {} \
             profiles, {} flame-graph), compaction {}; profiles of {} stacks{}\n\n\
             | operation | requests | errors | per second | profiles/s (compaction: L0 merged/s) | MB/s | p50 ms | p99 ms | max ms |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
            s.servers,
            if s.servers == 1 { "" } else { "s" },
            s.secs,
            s.clients(),
            s.pprof_clients,
            s.push_clients,
            s.push_profiles,
            s.query_clients,
            match s.compact_every {
                Some(every) => format!("every {every} s (`POST /flamelet/compact`, cron off)"),
                None => "on the servers' own schedule (spin.toml)".to_string(),
            },
            self.stacks,
            match s.ingest_rate {
                Some(r) => format!("; uploads paced at {r:.0} requests/s"),
                None => String::new(),
            },
        );
        for r in &self.rows {
            // The servers' own passes: only what they merged is known.
            let ms = |v: f64| {
                if r.requests == 0 {
                    "—".to_string()
                } else {
                    format!("{v:.0}")
                }
            };
            out += &format!(
                "| {} | {} | {} | {:.1} | {} | {} | {} | {} | {} |\n",
                r.op,
                r.requests,
                r.errors,
                r.per_sec,
                if r.profiles_per_sec > 0.0 {
                    format!("{:.0}", r.profiles_per_sec)
                } else {
                    "—".into()
                },
                if r.mb_per_sec > 0.0 {
                    format!("{:.2}", r.mb_per_sec)
                } else {
                    "—".into()
                },
                ms(r.p50_ms),
                ms(r.p99_ms),
                ms(r.max_ms),
            );
        }
        out += &format!(
            "\nAcknowledged profiles {}; expected total {}; found right after the load {} ({}), \
             after compaction {} ({}); query totals that went down: {}. Uncovered L0 segments \
             when the load stopped: {}; the flame graph of it all on the idle server then took \
             {:.0} ms, after compaction {:.0} ms.\n",
            self.profiles,
            self.expected,
            self.total_after_load,
            verdict(self.total_after_load == self.expected),
            self.total_compacted,
            verdict(self.total_compacted == self.expected),
            self.regressions,
            self.uncovered_l0,
            self.idle_ms,
            self.compacted_ms,
        );
        for (i, ((peak, end), cpu)) in self
            .peak_rss_kib
            .iter()
            .zip(&self.end_rss_kib)
            .zip(&self.cpu_secs)
            .enumerate()
        {
            out += &format!(
                "Server {}: {:.2} cores busy ({cpu:.0} CPU s in {:.0} s), peak RSS {:.0} MB, at \
                 the end {:.0} MB.\n",
                i + 1,
                cpu / self.wall_secs,
                self.wall_secs,
                *peak as f64 / 1024.0,
                *end as f64 / 1024.0,
            );
        }
        for r in self.rows.iter().filter(|r| !r.examples.is_empty()) {
            out += &format!("Errors of {}: {:?}\n", r.op, r.examples);
        }
        out
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "exact" } else { "**wrong**" }
}
