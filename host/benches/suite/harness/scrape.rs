//! Issue #20's figures: scrape passes (`POST /flamelet/scrape`) through `flamelet serve` of N
//! Go-style targets on loopback. Each serves `corpus/pprof/heap.pb.gz`, a real Go heap profile,
//! with its allocation counters grown by one profile's worth at every scrape, so that every
//! pass after the first stores an exact delta per target. Measured: targets scraped per second
//! of the server's CPU time, the pass's wall time, and the delay from the first target's
//! answer to the pass's deltas being in a flame graph.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::Stat;
use super::load::cpu_secs;
use super::server::{FlameletServer, encode};
use crate::util::target::{corpus_go_heap, grown, memory_job, target};

/// One target count's passes.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub targets: usize,
    pub passes: usize,
    /// Wall time of a pass, ms.
    pub pass_ms: Stat,
    /// The server's CPU seconds over the measured passes.
    pub cpu_secs: f64,
    /// From the first target's answer to a flame graph holding the pass's deltas, ms.
    pub queryable_ms: Stat,
    /// The render that showed them, ms.
    pub query_ms: Stat,
}

impl Row {
    fn per_cpu_second(&self) -> f64 {
        (self.targets * self.passes) as f64 / self.cpu_secs
    }
}

#[derive(Debug, Clone, Default)]
pub struct Scrapes {
    pub rows: Vec<Row>,
    /// Bytes a target answers (gzipped) and the profile's samples.
    pub answer_bytes: usize,
    pub samples: usize,
}

/// `passes` scrape passes (at least 2: the first is the baseline, the rest are measured) of
/// each of `targets` target counts.
pub fn measure(targets: &[usize], passes: usize) -> Scrapes {
    let base = corpus_go_heap();
    // Answer k of each target: the counters after k + 1 profiles' worth of allocations.
    let answers: Vec<(Vec<u8>, i64)> = (1..=passes as i64).map(|k| grown(&base, k)).collect();
    let per_pass = answers[1].1 - answers[0].1;
    let answers = Arc::new(answers.into_iter().map(|(a, _)| a).collect::<Vec<_>>());
    let mut out = Scrapes {
        answer_bytes: answers[0].len(),
        samples: base.sample.len(),
        ..Scrapes::default()
    };
    for &n in targets {
        // Per target, the answers it gave; and when the pass's first answer left.
        let first_answer: Arc<Mutex<Option<Instant>>> = Arc::default();
        let addresses: Vec<String> = (0..n)
            .map(|_| {
                let (answers, first, served) =
                    (answers.clone(), first_answer.clone(), Mutex::new(0usize));
                target(Box::new(move |path| {
                    if path != "/debug/pprof/heap" {
                        return Some((404, b"404 page not found".to_vec()));
                    }
                    let mut k = served.lock().unwrap_or_else(|e| e.into_inner());
                    let body = answers[(*k).min(answers.len() - 1)].clone();
                    *k += 1;
                    first
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get_or_insert_with(Instant::now);
                    Some((200, body))
                }))
                .0
            })
            .collect();
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("flamelet.yaml");
        std::fs::write(&config, memory_job("bench", "10s", &addresses))
            .expect("writing the configuration");
        let server = FlameletServer::start_on(
            &dir.path().join("data"),
            &["--no-cron", "--config", config.to_str().expect("UTF-8")],
        )
        .with_timeout(600);
        let query = encode("memory:alloc_space:bytes:space:bytes{service_name=\"bench\"}");
        let total = || {
            let now = super::load::now_secs();
            let t = Instant::now();
            let r = server.get(&format!(
                "/pyroscope/render?query={query}&from={}&until={}&format=json",
                now - 3600,
                now + 60
            ));
            assert_eq!(r.status, 200, "{}", r.body);
            let got = r.json()["flamebearer"]["numTicks"].as_i64().unwrap_or(0);
            (got, t.elapsed().as_secs_f64() * 1e3)
        };
        let pass = || {
            *first_answer.lock().unwrap_or_else(|e| e.into_inner()) = None;
            let t = Instant::now();
            let r = server.post("/flamelet/scrape", b"");
            assert_eq!(r.status, 200, "{}", r.body);
            let report = r.json();
            let up = report["targets"]
                .as_array()
                .map_or(0, |t| t.iter().filter(|t| t["health"] == "up").count());
            assert_eq!(up, n, "every target up: {}", r.body);
            t.elapsed().as_secs_f64() * 1e3
        };
        // The baseline pass: kept, nothing stored.
        pass();
        let (mut pass_ms, mut queryable_ms, mut query_ms) = (Vec::new(), Vec::new(), Vec::new());
        // The server's CPU over the passes only, not over the queries between them.
        let mut cpu = 0.0;
        for k in 1..passes {
            let cpu0 = cpu_secs(server.pid());
            pass_ms.push(pass());
            cpu += cpu_secs(server.pid()) - cpu0;
            // The pass answers once its segments are stored: the first query must see them.
            let (got, ms) = total();
            let first = first_answer
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .expect("a target answered");
            queryable_ms.push(first.elapsed().as_secs_f64() * 1e3);
            query_ms.push(ms);
            assert_eq!(
                got,
                n as i64 * k as i64 * per_pass,
                "pass {k} of {n} targets"
            );
        }
        out.rows.push(Row {
            targets: n,
            passes: passes - 1,
            pass_ms: Stat::of(pass_ms),
            cpu_secs: cpu,
            queryable_ms: Stat::of(queryable_ms),
            query_ms: Stat::of(query_ms),
        });
    }
    out
}

impl Scrapes {
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "### Scrape passes (`POST /flamelet/scrape`, memory of N Go-style targets)\n\n\
             Each answer: `corpus/pprof/heap.pb.gz` with grown counters, {} bytes gzipped, {} \
             samples; every pass after the first stores one delta segment per target.\n\n\
             | targets | pass ms | server CPU s per pass | targets per CPU second | first answer → queryable ms | that query ms |\n\
             |---|---|---|---|---|---|\n",
            self.answer_bytes, self.samples
        );
        for r in &self.rows {
            out.push_str(&format!(
                "| {} | {} | {:.3} | {:.0} | {} | {} |\n",
                r.targets,
                r.pass_ms.show(0),
                r.cpu_secs / r.passes as f64,
                r.per_cpu_second(),
                r.queryable_ms.show(0),
                r.query_ms.show(1),
            ));
        }
        out
    }
}
