//! Issue #16's figures: `GET /exported-metrics` with 1, 10 and 100 rules over the compacted
//! 30-day data set: the first scrape (every day computed and cached) and later ones (closed
//! days read from the per-day cache, the last day computed again only when it changed); and
//! single pprof uploads through servers with 0, 10 and 100 rules (the goal: 10 rules cost at
//! most 10 %).

use std::path::Path;
use std::time::Instant;

use super::server::{FlameletServer, encode};
use super::{CPU, Config, DAY, END, SERVE_ARGS, Stat, TENANT, data, timed};

/// One rule count's scrapes.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub rules: usize,
    /// Samples in the answer.
    pub samples: usize,
    pub first_ms: f64,
    pub later_ms: Stat,
}

#[derive(Debug, Clone, Default)]
pub struct Metrics {
    pub rows: Vec<Row>,
    /// (rules, ms per single pprof upload), rounds interleaved across the servers.
    pub ingest: Vec<(usize, Stat)>,
}

/// Uploads per round of the ingest figure.
const UPLOADS: usize = 40;

/// `n` rules over the queried service's CPU time, of three shapes in turn: its total, its total
/// per pod, the stacks through one of its functions.
fn rules(n: usize) -> String {
    let mut out = String::from("metrics-export-rules:\n");
    for i in 0..n {
        let node = match i % 3 {
            0 => "total".to_string(),
            1 => "total\n    group_by: [pod]".to_string(),
            _ => format!("'Func{}$'", 4 + i),
        };
        out.push_str(&format!(
            "  bench_{i}_total:\n    expr: '{CPU}{{service_name=\"checkout\"}}'\n    node: {node}\n"
        ));
    }
    out
}

pub fn measure(config: &Config, dir: &Path) -> Metrics {
    let rounds = config.rounds;
    let mut m = Metrics::default();
    let config_dir = tempfile::tempdir().expect("temp dir");
    m.ingest = ingest(config, config_dir.path());
    for n in [1, 10, 100] {
        // Every rule count starts without a cache.
        let _ = std::fs::remove_dir_all(dir.join(format!("tenants/{TENANT}/counters")));
        let config = config_dir.path().join(format!("rules-{n}.yaml"));
        std::fs::write(&config, rules(n)).expect("writing the rules");
        let mut args = SERVE_ARGS.to_vec();
        args.extend(["--config", config.to_str().expect("UTF-8")]);
        let server = FlameletServer::start_on(dir, &args).with_timeout(1800);
        let scrape = || {
            let r = server.get_as(TENANT, "/exported-metrics");
            assert_eq!(r.status, 200, "{}", r.body);
            r.body
        };
        let t = Instant::now();
        let first = scrape();
        let first_ms = t.elapsed().as_secs_f64() * 1e3;
        let later = timed(rounds, || assert_eq!(scrape(), first));
        m.rows.push(Row {
            rules: n,
            samples: first
                .lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
                .count(),
            first_ms,
            later_ms: Stat::of(later.into_iter().map(|s| s * 1e3).collect()),
        });
    }
    let _ = std::fs::remove_dir_all(dir.join(format!("tenants/{TENANT}/counters")));
    m
}

/// Single gzipped pprof uploads of the queried service (as its SDK sends them) through
/// servers with 0, 10 and 100 rules, each on an empty directory; the rounds alternate between
/// the servers so that the machine's load falls on each alike.
fn ingest(config: &Config, tmp: &Path) -> Vec<(usize, Stat)> {
    let service = &config.services()[0];
    let uploads: Vec<(String, Vec<u8>)> = (0..UPLOADS as i64)
        .map(|k| {
            let t = END - DAY + k * config.interval_secs;
            let path = format!(
                "/ingest?name={}&format=pprof&from={t}&until={}",
                encode("checkout.cpu{pod=checkout-0}"),
                t + config.interval_secs
            );
            (path, data::gzip(&service.pprof_decoded(config, 0, t)))
        })
        .collect();
    let servers: Vec<(usize, FlameletServer)> = [0, 10, 100]
        .into_iter()
        .map(|n| {
            let rules_file = tmp.join(format!("ingest-rules-{n}.yaml"));
            std::fs::write(&rules_file, rules(n)).expect("writing the rules");
            let mut args = SERVE_ARGS.to_vec();
            if n > 0 {
                args.extend(["--config", rules_file.to_str().expect("UTF-8")]);
            }
            let server = FlameletServer::start_on(&tmp.join(format!("ingest-{n}")), &args);
            (n, server)
        })
        .collect();
    let upload_all = |server: &FlameletServer| {
        for (path, body) in &uploads {
            let r = server.post(path, body);
            assert_eq!(r.status, 200, "{}", r.body);
        }
    };
    // Warm: each server's components compiled and instantiated once.
    for (_, server) in &servers {
        upload_all(server);
    }
    let mut ms: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
    for _ in 0..config.rounds.max(5) {
        for (i, (_, server)) in servers.iter().enumerate() {
            let t = Instant::now();
            upload_all(server);
            ms[i].push(t.elapsed().as_secs_f64() * 1e3 / UPLOADS as f64);
        }
    }
    servers
        .iter()
        .zip(ms)
        .map(|((n, _), ms)| (*n, Stat::of(ms)))
        .collect()
}

impl Metrics {
    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "### Exported metrics (`GET /exported-metrics`, 30 days of `checkout` after compaction)\n\n\
             | rules | samples | first scrape (computes and caches every day) ms | later scrapes ms |\n|---|---|---|---|\n",
        );
        for r in &self.rows {
            out.push_str(&format!(
                "| {} | {} | {:.0} | {} |\n",
                r.rules,
                r.samples,
                r.first_ms,
                r.later_ms.show(1)
            ));
        }
        out.push_str(
            "\nSingle pprof uploads (`/ingest`, gzipped, one profile each) through servers with N rules:\n\n\
             | rules | ms per upload | vs no rules |\n|---|---|---|\n",
        );
        let base = self.ingest.first().map_or(f64::NAN, |(_, s)| s.median);
        for (n, stat) in &self.ingest {
            out.push_str(&format!(
                "| {n} | {} | {:.2}× |\n",
                stat.show(2),
                stat.median / base
            ));
        }
        out
    }
}
