//! A tiny run of the benchmark harness (`host/benches/suite`, issue #5) on very little data:
//! every figure of the report is produced and sane. Never a time assertion: counts and
//! equalities only, and that each measurement is a positive, finite number.

use crate::util::{dist, s3, server, test_deps, wasmtime};

#[path = "../../host/benches/suite/harness/mod.rs"]
mod harness;

use harness::{Config, Stat};

fn measured(what: &str, s: &Stat) {
    assert!(
        s.median.is_finite() && s.min > 0.0 && s.min <= s.median && s.median <= s.max,
        "{what}: {s:?}"
    );
}

#[test]
fn benchmark_harness_produces_every_figure() {
    let cache = tempfile::tempdir().expect("temp dir");
    let config = Config::smoke(cache.path().to_path_buf());
    let report = harness::run(&config);

    let g = &report.generated;
    assert!(g.wasm_profiles > 0 && g.native_profiles > 0, "{g:?}");
    assert_eq!(g.profiles, g.wasm_profiles + g.native_profiles);
    assert!(g.gzip_bytes > 0);
    assert_eq!(g.wasm_puts_per_request, 1.0, "one object write per Push");

    let paths: Vec<&str> = report.ingest.iter().map(|r| r.path).collect();
    assert_eq!(paths.len(), 5, "{paths:?}");
    for r in &report.ingest {
        measured(r.path, &r.profiles_per_sec);
        measured(r.path, &r.decoded_mb_per_sec);
    }
    // Exactly one object write per ingest request, and nothing read or listed.
    assert_eq!(report.ingest_ops.puts, 1.0, "{:?}", report.ingest_ops);
    assert_eq!(report.ingest_ops.reads(), 0.0, "{:?}", report.ingest_ops);
    assert_eq!(report.ingest_ops.lists, 0.0, "{:?}", report.ingest_ops);
    measured("host request", &report.host_request_ms);
    measured("component request", &report.component_request_ms);
    measured("one-line upload", &report.one_line_upload_ms);
    assert!(
        report
            .ingest_markdown()
            .contains("| fixed cost of a one-line upload |"),
        "issue #18's table"
    );
    assert!(
        report.ingest_markdown().contains("ms on `memory://`"),
        "the fixed cost without the local disk"
    );
    assert!(report.instantiate_mean_ms > 0.0);

    assert!(report.compaction_merges > 0);
    let labels: Vec<&str> = report.queries.iter().map(|r| r.label).collect();
    assert_eq!(labels, ["1 h", "24 h", "7 d", "30 d"]);
    for r in &report.queries {
        assert!(r.profiles > 0 && r.total > 0, "{r:?}");
        measured(r.label, &r.before_ms);
        measured(r.label, &r.after_ms);
        measured(r.label, &r.native_ms);
        measured(r.label, &r.raw_ms);
        assert_eq!(r.raw_estimated, r.hours > 24, "{r:?}");
        for ops in [r.ops_before, r.ops_after] {
            assert!(ops.gets >= 1.0 && ops.lists >= 1.0, "{r:?}");
            assert_eq!((ops.puts, ops.deletes), (0.0, 0.0), "queries write nothing");
        }
    }
    // Longer ranges hold more profiles; the flame graph totals grow with them.
    for w in report.queries.windows(2) {
        assert!(w[0].profiles < w[1].profiles && w[0].total < w[1].total);
    }
    assert!(report.stored_before_bytes > 0 && report.stored_after_bytes > 0);
    assert!(report.idle_rss_kib > 0);
    assert!(report.rss_24h_before_kib > 0 && report.rss_24h_after_kib > 0);
    assert!(report.rss_30d_before_kib > 0 && report.rss_30d_after_kib > 0);

    // The deployable artefact's 24 h flame graph (same totals, asserted inside) makes the
    // native client's S3 requests over wasi:http, and retries none against a healthy bucket:
    // a bodyless request once wrote its empty body after the host had closed the stream, which
    // failed as a "connection reset" although moto had answered (docs/reliability.md,
    // "Storage faults").
    let p = report.packaged.as_ref().expect("the packaged leg ran");
    assert_eq!(
        (p.wasmtime_retries, p.composed_retries),
        (0.0, 0.0),
        "{p:?}"
    );
    assert!(p.objects > 0 && p.bytes > 0, "{p:?}");
    measured("wasmtime serve", &p.wasmtime_ms);
    measured("native S3", &p.native_ms);
    measured("composed in flamelet", &p.composed_ms);
    assert!(p.native_requests >= 2.0, "{p:?}");
    assert_eq!(
        p.wasmtime_requests,
        p.native_requests + p.wasmtime_retries,
        "{p:?}"
    );
    assert_eq!(
        p.composed_requests,
        p.native_requests + p.composed_retries,
        "{p:?}"
    );

    // The web UI: what the first page loads is part of the bundle; each time is measured.
    let b = report.browser.as_ref().expect("the browser leg ran");
    assert!(
        0 < b.single_view_gzip && b.single_view_gzip < b.bundle_gzip,
        "{b:?}"
    );
    assert!(b.cold_ui_ms > 0.0, "{b:?}");
    measured("ui component", &b.warm_ui_ms);
    measured("render", &b.render_ms);
    measured("navigation to drawn", &b.drawn_ms);

    // Exported metrics: each rule count answered, the same later as first (asserted inside),
    // with more samples for more rules.
    let m = report.metrics.as_ref().expect("the metrics leg ran");
    let counts: Vec<usize> = m.rows.iter().map(|r| r.rules).collect();
    assert_eq!(counts, [1, 10, 100]);
    for r in &m.rows {
        assert!(r.samples > 0 && r.first_ms > 0.0, "{r:?}");
        measured("exported metrics", &r.later_ms);
    }
    assert!(
        m.rows.windows(2).all(|w| w[0].samples < w[1].samples),
        "{m:?}"
    );
    // And uploads through servers with 0, 10 and 100 rules.
    let counts: Vec<usize> = m.ingest.iter().map(|(n, _)| *n).collect();
    assert_eq!(counts, [0, 10, 100]);
    for (_, ms) in &m.ingest {
        measured("ingest with rules", ms);
    }

    let md = report.markdown();
    for needle in [
        "decode floor",
        "Push batch",
        "| 30 d |",
        "Stored per profile",
        "peak RSS",
        "deployable artefact",
        "Web UI in Chromium",
        "Exported metrics",
        "ms per upload",
    ] {
        assert!(md.contains(needle), "{needle} missing from:\n{md}");
    }
}

/// The sustained-load harness (issue #17) for a few seconds with a few clients on two servers,
/// uploads paced: every request answered 200, the totals exact right after the load and after compaction,
/// no query client's total going down.
#[test]
fn load_harness_checks_its_totals() {
    let cache = tempfile::tempdir().expect("temp dir");
    let config = Config::smoke(cache.path().to_path_buf());
    let shape = harness::load::Shape {
        servers: 2,
        secs: 4,
        pprof_clients: 2,
        push_clients: 1,
        push_profiles: 3,
        query_clients: 2,
        compact_every: Some(1),
        ingest_rate: Some(25.0),
    };
    let load = harness::load::measure(&config, &shape);
    let md = load.markdown();
    for r in &load.rows {
        assert_eq!(r.errors, 0, "{md}");
        assert!(
            r.requests > 0 && r.p50_ms > 0.0 && r.p50_ms <= r.p99_ms,
            "{md}"
        );
    }
    assert!(load.profiles > 0, "{md}");
    assert_eq!(load.total_after_load, load.expected, "{md}");
    assert_eq!(load.total_compacted, load.expected, "{md}");
    assert_eq!(load.regressions, 0, "{md}");
    assert!(load.cpu_secs.iter().all(|c| *c > 0.0), "{md}");
    assert!(md.contains("| ingest, Push batch |"), "{md}");
    // Paced uploads: about 25 a second, not as many as the server answers.
    let uploads = (load.rows[0].requests + load.rows[1].requests) as f64;
    assert!(uploads <= 25.0 * 4.0 * 1.25 + 3.0, "{md}");
    assert!(md.contains("uploads paced at 25 requests/s"), "{md}");
}

/// The scrape-pass harness (issue #20) with a few targets: every target up at every pass and
/// the flame graph's total exactly the deltas so far (both asserted inside).
#[test]
fn scrape_harness_checks_its_totals() {
    let scrapes = harness::scrape::measure(&[3], 3);
    let md = scrapes.markdown();
    assert_eq!(scrapes.rows.len(), 1, "{md}");
    let r = &scrapes.rows[0];
    assert_eq!((r.targets, r.passes), (3, 2), "{md}");
    measured("scrape pass", &r.pass_ms);
    measured("first answer to queryable", &r.queryable_ms);
    assert!(scrapes.answer_bytes > 0 && scrapes.samples > 0, "{md}");
    assert!(md.contains("targets per CPU second"), "{md}");
}
