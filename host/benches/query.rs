//! Flame-graph latency on generated data: one service's 1 h and 24 h flame graph through the
//! real `flamelet serve` and its WASM query component (binary Connect SelectMergeStacktraces,
//! as Grafana asks), next to decoding and merging the same raw pprof uploads directly with the
//! same core tree code. Run with `cargo bench -p flamelet --bench query`; results go to
//! docs/benchmarks.md.
//!
//! Data (fixed seed): one service, 2 series, a Go-style gzipped CPU pprof every 10 s per series
//! for 24 h; 2,000 distinct stacks of depth 20–60 over 600 functions, drawn Zipf-distributed
//! (300 draws per profile). It is written through the real ingest path: one Push request per
//! hour (so each hour is one segment, as compaction would leave it).

#[path = "../../tests/all/util/server.rs"]
#[allow(dead_code)]
mod server;

use std::io::Write;
use std::time::Instant;

use flamelet::proto::google::v1::{Function, Line, Location, Profile, Sample, ValueType};
use flamelet::proto::push::v1::{PushRequest, RawProfileSeries, RawSample};
use flamelet::proto::querier::v1::{SelectMergeStacktracesRequest, SelectMergeStacktracesResponse};
use flamelet::proto::types::v1::LabelPair;
use prost::Message;

/// Unix seconds of the first profile: an hour boundary, so each Push is one hour bucket.
const START: i64 = 1_699_999_200;
const HOURS: i64 = 24;
const SERIES: [&str; 2] = ["pod-a", "pod-b"];
const STACKS: usize = 2000;
const FUNCTIONS: usize = 600;
const DRAWS: usize = 300;
const CPU: &str = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";

/// splitmix64: a tiny deterministic generator, enough for benchmark data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The service's stacks (function indexes, root first) and a Zipf(1) sampler over them.
struct Workload {
    stacks: Vec<Vec<usize>>,
    cumulative: Vec<f64>,
}

impl Workload {
    fn new(rng: &mut Rng) -> Self {
        let stacks = (0..STACKS)
            .map(|_| {
                let depth = 20 + rng.below(41);
                // Shared roots, as real programs have: the first frames come from few functions.
                (0..depth)
                    .map(|d| rng.below(if d < 3 { 4 } else { FUNCTIONS }))
                    .collect()
            })
            .collect();
        let mut cumulative = Vec::with_capacity(STACKS);
        let mut sum = 0.0;
        for k in 1..=STACKS {
            sum += 1.0 / k as f64;
            cumulative.push(sum);
        }
        Workload { stacks, cumulative }
    }

    fn draw(&self, rng: &mut Rng) -> usize {
        let total = self.cumulative[STACKS - 1];
        let x = (rng.next() >> 11) as f64 / (1u64 << 53) as f64 * total;
        self.cumulative.partition_point(|c| *c < x).min(STACKS - 1)
    }

    /// One Go-style CPU profile at `time`: `DRAWS` samples of 10 ms, gzipped.
    fn pprof(&self, rng: &mut Rng, time: i64) -> Vec<u8> {
        let mut counts = std::collections::BTreeMap::new();
        for _ in 0..DRAWS {
            *counts.entry(self.draw(rng)).or_insert(0i64) += 1;
        }
        let mut strings = vec![String::new(), "cpu".into(), "nanoseconds".into()];
        strings
            .extend((0..FUNCTIONS).map(|f| format!("github.com/acme/svc/pkg{}.Func{f}", f % 17)));
        strings.push("main.go".into());
        let file = strings.len() as i64 - 1;
        let function = (0..FUNCTIONS)
            .map(|f| Function {
                id: f as u64 + 1,
                name: f as i64 + 3,
                system_name: f as i64 + 3,
                filename: file,
                start_line: 10,
            })
            .collect();
        let location = (0..FUNCTIONS)
            .map(|f| Location {
                id: f as u64 + 1,
                address: 0x40_0000 + f as u64 * 64,
                line: vec![Line {
                    function_id: f as u64 + 1,
                    line: 20 + f as i64,
                }],
                ..Location::default()
            })
            .collect();
        let sample = counts
            .into_iter()
            .map(|(s, n)| Sample {
                location_id: self.stacks[s].iter().rev().map(|f| *f as u64 + 1).collect(),
                value: vec![n * 10_000_000],
                label: vec![],
            })
            .collect();
        let p = Profile {
            sample_type: vec![ValueType { r#type: 1, unit: 2 }],
            sample,
            location,
            function,
            string_table: strings,
            time_nanos: time * 1_000_000_000,
            duration_nanos: 10_000_000_000,
            period_type: Some(ValueType { r#type: 1, unit: 2 }),
            period: 10_000_000,
            ..Profile::default()
        };
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&p.encode_to_vec()).expect("gzip");
        gz.finish().expect("gzip")
    }
}

/// Seconds per run of `f`: median and spread (min–max) of `rounds` runs.
fn timed(rounds: usize, mut f: impl FnMut()) -> (f64, f64, f64) {
    let mut s: Vec<f64> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    s.sort_by(f64::total_cmp);
    (s[s.len() / 2], s[0], s[s.len() - 1])
}

fn main() {
    let mut rng = Rng(0x5eed);
    let workload = Workload::new(&mut rng);
    let server = server::FlameletServer::start();
    // (time, gzipped pprof) of every upload, kept for the raw baseline.
    let mut uploads: Vec<(i64, Vec<u8>)> = Vec::new();
    let t = Instant::now();
    for hour in 0..HOURS {
        let mut series = Vec::new();
        for pod in SERIES {
            let mut samples = Vec::new();
            for step in 0..360 {
                let time = START + hour * 3600 + step * 10;
                let raw = workload.pprof(&mut rng, time);
                uploads.push((time, raw.clone()));
                samples.push(RawSample {
                    raw_profile: raw,
                    id: String::new(),
                });
            }
            series.push(RawProfileSeries {
                labels: [
                    ("service_name", "bench-svc"),
                    ("pod", pod),
                    ("__name__", "process_cpu"),
                ]
                .map(|(name, value)| LabelPair {
                    name: name.into(),
                    value: value.into(),
                })
                .to_vec(),
                samples,
                annotations: vec![],
            });
        }
        let body = PushRequest { series }.encode_to_vec();
        let r = server.post_raw(
            "/push.v1.PusherService/Push",
            &[("Content-Type", "application/proto")],
            &body,
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    let gz_bytes: usize = uploads.iter().map(|(_, b)| b.len()).sum();
    println!(
        "Generated and pushed {} profiles ({:.1} MB gzipped) in {:.0} s",
        uploads.len(),
        gz_bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );

    println!();
    println!(
        "| range | profiles | SelectMergeStacktraces ms (median, min–max) | raw pprof decode + merge ms | raw / Flamelet |"
    );
    println!("|---|---|---|---|---|");
    for hours in [1, 24] {
        let (from, until) = (START, START + hours * 3600 - 1);
        let req = SelectMergeStacktracesRequest {
            profile_type_id: CPU.into(),
            label_selector: "{service_name=\"bench-svc\"}".into(),
            start: from * 1000,
            end: until * 1000,
            max_nodes: Some(8192),
            ..Default::default()
        };
        let body = req.encode_to_vec();
        let mut total = 0;
        let query = || {
            let r = server.post_raw(
                "/querier.v1.QuerierService/SelectMergeStacktraces",
                &[("Content-Type", "application/proto")],
                &body,
            );
            assert_eq!(r.status, 200);
            SelectMergeStacktracesResponse::decode(&r.body[..])
                .expect("response")
                .flamegraph
                .map_or(0, |f| f.total)
        };
        let (median, lo, hi) = timed(5, || total = query());
        // The raw baseline: every upload in range, gunzipped, decoded and merged by name.
        let inputs: Vec<&Vec<u8>> = uploads
            .iter()
            .filter(|(t, _)| *t >= from && *t <= until)
            .map(|(_, b)| b)
            .collect();
        let mut raw_total = 0;
        let (raw, _, _) = timed(3, || {
            let mut tree = flamelet::tree::Tree::new();
            for b in &inputs {
                let p = flamelet::pprof::decode(b).expect("pprof");
                let symbols = flamelet::pprof::Symbols::new(&p);
                // Each location converted once per profile, as ingest does.
                let mut dict = flamelet::profile::Dictionary::default();
                let mut cache = flamelet::FastMap::default();
                for s in &p.sample {
                    let mut node = flamelet::tree::ROOT;
                    for f in symbols.frames(&mut dict, &mut cache, &s.location_id) {
                        node = tree.child(node, dict.frame_name(f));
                    }
                    tree.add_self(node, s.value[0]);
                }
            }
            raw_total = tree.totals()[flamelet::tree::ROOT];
        });
        assert_eq!(total, raw_total, "Flamelet and the raw merge agree");
        println!(
            "| {hours} h | {} | {:.0} ({:.0}–{:.0}) | {:.0} | {:.1}× |",
            inputs.len(),
            median * 1e3,
            lo * 1e3,
            hi * 1e3,
            raw * 1e3,
            raw / median
        );
    }
}
