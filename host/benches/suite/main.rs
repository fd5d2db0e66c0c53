//! `cargo bench -p flamelet --bench suite [-- --days N] [-- --cache DIR] [-- --browser]
//! [-- --metrics] [-- --load [--secs S] [--servers N] [--ingest-rate R] [--compact-every S]] [-- --scrape] [-- --ingest]`: the benchmark
//! harness of issue #5 at full size; prints the tables of docs/benchmarks.md. The data set is
//! generated once per configuration and kept under `target/flamelet-bench/`.

#[path = "../../../tests/all/util/mod.rs"]
#[allow(dead_code, unused_imports)]
mod util;

use util::{dist, s3, server, test_deps, wasmtime};

mod harness;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let cache = value("--cache").map_or_else(
        || std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../flamelet-bench"),
        std::path::PathBuf::from,
    );
    let mut config = harness::Config::full(cache);
    if let Some(days) = value("--days").and_then(|d| d.parse().ok()) {
        config.days = days;
    }
    if args.iter().any(|a| a == "--smoke") {
        config = harness::Config::smoke(config.cache);
    }
    // `--profile-query H`: only the native H-hour flame graph on the compacted data set of an
    // earlier run, repeated, for a profiler (perf, callgrind) to look at.
    if let Some(hours) = value("--profile-query").and_then(|h| h.parse().ok()) {
        let dir = harness::compacted_dir(&config);
        for _ in 0..value("--repeat").and_then(|n| n.parse().ok()).unwrap_or(5) {
            let t = std::time::Instant::now();
            let total = harness::native_flame_graph(&dir, hours);
            println!(
                "{hours} h: total {total} in {:.0} ms",
                t.elapsed().as_secs_f64() * 1e3
            );
        }
        return;
    }
    // `--profile-l0 N`: only the native fresh-hour flame graph over N uploads' L0 segments.
    if let Some(uploads) = value("--profile-l0").and_then(|n| n.parse().ok()) {
        let repeat = value("--repeat").and_then(|n| n.parse().ok()).unwrap_or(5);
        harness::profile_l0(&config, uploads, repeat);
        return;
    }
    // `--packaged`: only the deployable-artefact leg, on the compacted data set of an earlier
    // run.
    if args.iter().any(|a| a == "--packaged") {
        let dir = harness::compacted_dir(&config);
        let total = harness::native_flame_graph(&dir, 24);
        println!(
            "{}",
            harness::packaged::measure(&dir, config.rounds, total).markdown()
        );
        return;
    }
    // `--metrics`: only `/exported-metrics`, on the compacted data set (made if missing).
    if args.iter().any(|a| a == "--metrics") {
        let dir = harness::prepared_dir(&config);
        println!("{}", harness::metrics::measure(&config, &dir).markdown());
        return;
    }
    // `--load`: only the sustained load (issue #17), one server then two on one data
    // directory, `--secs` each (60 by default), or only `--servers N`.
    if args.iter().any(|a| a == "--load") {
        let secs = value("--secs").and_then(|s| s.parse().ok()).unwrap_or(60);
        let servers: Vec<usize> = match value("--servers").and_then(|n| n.parse().ok()) {
            Some(n) => vec![n],
            None => vec![1, 2],
        };
        // `--ingest-rate R`: uploads paced at R requests/s in all (closed loop by default).
        let ingest_rate = value("--ingest-rate").and_then(|r| r.parse().ok());
        // `--compact-every S`: a whole compaction pass every S seconds, POSTed, the servers'
        // cron off (by default the servers' own schedule).
        let compact_every = value("--compact-every").and_then(|s| s.parse().ok());
        for n in servers {
            let standard = harness::load::Shape::standard(n, secs);
            let shape = harness::load::Shape {
                ingest_rate,
                compact_every: compact_every.or(standard.compact_every),
                ..standard
            };
            let load = harness::load::measure(&config, &shape);
            println!("{}", load.markdown());
        }
        return;
    }
    // `--scrape`: only pull mode's scrape passes (issue #20), on their own targets: 10, 100 and
    // 400 targets, ten measured passes each.
    if args.iter().any(|a| a == "--scrape") {
        println!(
            "{}",
            harness::scrape::measure(&[10, 100, 400], 11).markdown()
        );
        return;
    }
    // `--ingest`: only the ingest throughput (issue #18's table), on the data set's first
    // service's profiles; nothing is loaded.
    if args.iter().any(|a| a == "--ingest") {
        println!("{}", harness::ingest_only(&config).ingest_markdown());
        return;
    }
    // `--browser`: only the web UI's figures, on the compacted data set of an earlier run.
    if args.iter().any(|a| a == "--browser") {
        let dir = harness::compacted_dir(&config);
        println!(
            "{}",
            harness::browser::measure(&dir, config.rounds).markdown()
        );
        return;
    }
    let report = harness::run(&config);
    println!("{}", report.markdown());
}
