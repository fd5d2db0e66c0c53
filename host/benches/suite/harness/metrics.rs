//! Issue #16's figures: `GET /exported-metrics` with 1, 10 and 100 rules over the compacted
//! 30-day data set: the first scrape (every day computed and cached) and later ones (closed
//! days read from the per-day cache, the last day computed again only when it changed).

use std::path::Path;
use std::time::Instant;

use super::server::FlameletServer;
use super::{CPU, SERVE_ARGS, Stat, TENANT, timed};

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
}

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

pub fn measure(dir: &Path, rounds: usize) -> Metrics {
    let mut m = Metrics::default();
    let config_dir = tempfile::tempdir().expect("temp dir");
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
        out
    }
}
