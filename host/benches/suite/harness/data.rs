//! The deterministic generator: services, their label sets and Go-style gzipped CPU pprofs.
//!
//! Each service has its own program: `functions` functions (shared runtime roots, then the
//! service's packages) and `stacks` distinct call stacks of depth 20–60. A profile draws
//! `draws` stacks Zipf(1)-distributed, 10 ms each, as Go's 100 Hz CPU profiler would over 10 s.
//! Like Go's, every profile carries its full function and location tables. Each profile is
//! seeded from (seed, service, series, time) alone, so any one of them can be made again
//! without the others (the raw baseline does).

use std::io::Write;

use flamelet::wire::proto::google::v1::{Function, Line, Location, Profile, Sample, ValueType};
use flamelet::wire::proto::push::v1::{PushRequest, RawProfileSeries, RawSample};
use flamelet::wire::proto::types::v1::LabelPair;
use prost::Message;

use super::Config;

/// splitmix64: a tiny deterministic generator, enough for benchmark data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A service: its name, its series' label sets, its program.
pub struct Service {
    pub name: &'static str,
    index: u64,
    /// (pod, region, days of history before the end) of each series.
    pub series: Vec<(&'static str, &'static str, i64)>,
    stacks: Vec<Vec<u64>>,
    cumulative: Vec<f64>,
    /// The encoded fields every profile of the service shares (types, strings, functions,
    /// locations); a profile is this followed by its own samples and time (protobuf
    /// concatenation merges messages).
    common: Vec<u8>,
}

impl Service {
    pub fn new(
        config: &Config,
        index: u64,
        name: &'static str,
        series: Vec<(&'static str, &'static str, i64)>,
    ) -> Self {
        let mut rng = Rng::new(config.seed ^ (index << 56));
        let roots = 4.min(config.functions);
        let stacks = (0..config.stacks)
            .map(|_| {
                let depth = 20 + rng.below(41);
                // Shared roots, as real programs have: the first frames come from few functions.
                (0..depth)
                    .map(|d| {
                        let f = if d < 3 {
                            rng.below(roots)
                        } else {
                            rng.below(config.functions)
                        };
                        f as u64 + 1
                    })
                    .collect()
            })
            .collect();
        let mut cumulative = Vec::with_capacity(config.stacks);
        let mut sum = 0.0;
        for k in 1..=config.stacks {
            sum += 1.0 / k as f64;
            cumulative.push(sum);
        }
        let mut strings = vec![String::new(), "cpu".into(), "nanoseconds".into()];
        let runtime = [
            "runtime.goexit",
            "main.main",
            "net/http.(*conn).serve",
            "runtime.main",
        ];
        strings.extend((0..config.functions).map(|f| match runtime.get(f) {
            Some(r) => r.to_string(),
            None => format!("github.com/acme/{name}/pkg{}.(*T{}).Func{f}", f % 17, f % 5),
        }));
        strings.push(format!("/src/github.com/acme/{name}/main.go"));
        let file = strings.len() as i64 - 1;
        let function = (0..config.functions)
            .map(|f| Function {
                id: f as u64 + 1,
                name: f as i64 + 3,
                system_name: f as i64 + 3,
                filename: file,
                start_line: 10 + f as i64,
            })
            .collect();
        let location = (0..config.functions)
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
        let common = Profile {
            sample_type: vec![ValueType { r#type: 1, unit: 2 }],
            location,
            function,
            string_table: strings,
            period_type: Some(ValueType { r#type: 1, unit: 2 }),
            period: 10_000_000,
            ..Profile::default()
        }
        .encode_to_vec();
        Service {
            name,
            index,
            series,
            stacks,
            cumulative,
            common,
        }
    }

    fn draw(&self, rng: &mut Rng) -> usize {
        let n = self.cumulative.len();
        let x = (rng.next() >> 11) as f64 / (1u64 << 53) as f64 * self.cumulative[n - 1];
        self.cumulative.partition_point(|c| *c < x).min(n - 1)
    }

    /// The decoded (not gzipped) pprof of series `series` at `time` (Unix seconds).
    pub fn pprof_decoded(&self, config: &Config, series: usize, time: i64) -> Vec<u8> {
        let mut rng =
            Rng::new(config.seed ^ (self.index << 56) ^ ((series as u64) << 48) ^ time as u64);
        let mut counts = std::collections::BTreeMap::new();
        for _ in 0..config.draws {
            *counts.entry(self.draw(&mut rng)).or_insert(0i64) += 1;
        }
        let own = Profile {
            sample: counts
                .into_iter()
                .map(|(s, n)| Sample {
                    // Leaf first, as pprof orders locations.
                    location_id: self.stacks[s].iter().rev().copied().collect(),
                    value: vec![n * 10_000_000],
                    label: vec![],
                })
                .collect(),
            time_nanos: time * 1_000_000_000,
            duration_nanos: config.interval_secs * 1_000_000_000,
            ..Profile::default()
        };
        let mut bytes = self.common.clone();
        own.encode(&mut bytes).expect("a Vec grows");
        bytes
    }

    /// The gzipped pprof, as Go's runtime/pprof writes it (gzip, default level).
    pub fn pprof(&self, config: &Config, series: usize, time: i64) -> Vec<u8> {
        gzip(&self.pprof_decoded(config, series, time))
    }

    /// The labels of series `series`, as an agent pushes them.
    pub fn labels(&self, series: usize) -> Vec<LabelPair> {
        let (pod, region, _) = self.series[series];
        [
            ("__name__", "process_cpu"),
            ("service_name", self.name),
            ("pod", pod),
            ("region", region),
        ]
        .map(|(name, value)| LabelPair {
            name: name.into(),
            value: value.into(),
        })
        .to_vec()
    }

    /// The days of history of the service's longest-lived series.
    pub fn days(&self) -> i64 {
        self.series.iter().map(|s| s.2).max().unwrap_or(0)
    }

    /// One Push request: the profiles in [from, until) of every series that has them, gzipped
    /// as agents send them or (`gzipped` false) plain, which the core accepts as well. Returns
    /// it with its profile count and pprof bytes.
    pub fn push(
        &self,
        config: &Config,
        from: i64,
        until: i64,
        gzipped: bool,
    ) -> (PushRequest, u64, u64) {
        let (mut profiles, mut bytes) = (0, 0);
        let series = (0..self.series.len())
            .filter(|s| {
                config
                    .times(self.series[*s].2, from, until)
                    .next()
                    .is_some()
            })
            .map(|s| RawProfileSeries {
                labels: self.labels(s),
                samples: config
                    .times(self.series[s].2, from, until)
                    .map(|t| {
                        let raw = if gzipped {
                            self.pprof(config, s, t)
                        } else {
                            self.pprof_decoded(config, s, t)
                        };
                        profiles += 1;
                        bytes += raw.len() as u64;
                        RawSample {
                            raw_profile: raw,
                            id: String::new(),
                        }
                    })
                    .collect(),
                annotations: vec![],
            })
            .collect();
        (PushRequest { series }, profiles, bytes)
    }
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).expect("writing to a Vec");
    gz.finish().expect("writing to a Vec")
}
