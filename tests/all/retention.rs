//! Retention (issue #19, part 1): `--retention` clamps every query to the period and
//! compaction deletes whole days past it, manifests included, while the exported-metric
//! counters keep their values.

use std::path::Path;

use crate::util::FlameletServer;
use crate::util::server::compact_with;

const DAY: i64 = 86_400;
/// A compaction pass with the server's retention, deleting at once what it replaces.
const PASS: [&str; 4] = ["--retention", "3d", "--compaction-grace-secs", "0"];

const CONFIG: &str = r#"
metrics-export-rules:
  a_total:
    expr: app.cpu
    node: total
"#;

/// The files under `tenants/anonymous/{kind}/{day}/`.
fn files(data: &Path, kind: &str, unix: i64) -> usize {
    let day = flamelet::storage::keys::Day::of(unix * 1_000_000_000).to_string();
    std::fs::read_dir(data.join("tenants/anonymous").join(kind).join(day)).map_or(0, |d| d.count())
}

/// The samples (10 ms each) of the flame graph of `[from, until]`.
fn ticks(s: &FlameletServer, from: i64, until: i64) -> u64 {
    s.render("app.cpu{}", from, until, "")["flamebearer"]["numTicks"]
        .as_u64()
        .expect("numTicks")
        / 10_000_000
}

/// The total of the Connect API's flame graph and of its series over `[from, until]`, in
/// samples, as Grafana asks for them.
fn connect_totals(s: &FlameletServer, from: i64, until: i64) -> (i64, i64) {
    let call = |method: &str, body: serde_json::Value| -> serde_json::Value {
        let r = s.post_with(
            &format!("/querier.v1.QuerierService/{method}"),
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        );
        assert_eq!(r.status, 200, "{method}: {}", r.body);
        r.json()
    };
    let (start, end) = ((from * 1000).to_string(), (until * 1000).to_string());
    let cpu = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
    let flame = call(
        "SelectMergeStacktraces",
        serde_json::json!({"profileTypeID": cpu, "labelSelector": "{service_name=\"app\"}",
            "start": start, "end": end}),
    );
    let total = |v: &serde_json::Value| {
        v.as_str()
            .and_then(|t| t.parse::<i64>().ok())
            .or_else(|| v.as_i64())
            .unwrap_or(0)
    };
    let series = call(
        "SelectSeries",
        serde_json::json!({"profileTypeID": cpu, "labelSelector": "{service_name=\"app\"}",
            "start": start, "end": end, "step": 86400.0}),
    );
    let points: i64 = series["series"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["points"].as_array().into_iter().flatten())
        .map(|p| p["value"].as_f64().unwrap_or(0.0) as i64)
        .sum();
    (
        total(&flame["flamegraph"]["total"]) / 10_000_000,
        points / 10_000_000,
    )
}

fn exported(s: &FlameletServer) -> String {
    let r = s.get("/exported-metrics");
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

#[test]
fn data_past_the_retention_leaves_every_query_and_the_bucket_and_counters_keep_their_values() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("flamelet.yaml");
    std::fs::write(&config, CONFIG).expect("writing the config");
    let config = config.to_str().expect("UTF-8");
    let data = dir.path().join("data");
    let args = ["--no-cron", "--retention", "3d", "--config", config];
    let s = FlameletServer::start_on(&data, &args);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    let today = now - now.rem_euclid(DAY);
    let horizon = now - 3 * DAY;
    // Two old days, one upload just before the horizon (its day is kept whole), one just
    // after it, and a recent one. 100 Hz: one sample is 10 ms.
    let uploads = [
        (today - 6 * DAY + 12 * 3600, 1),
        (today - 5 * DAY + 12 * 3600, 2),
        (horizon - 600, 4),
        (horizon + 600, 8),
        (now - 3600, 16),
    ];
    for (at, n) in uploads {
        s.ingest("app.cpu{env=prod}", at, &format!("main;work {n}\n"));
    }
    // Queries see the period only, before anything is deleted.
    assert_eq!(ticks(&s, now - 7 * DAY, now), 24);
    assert_eq!(ticks(&s, now - 7 * DAY, horizon - 1), 0);
    assert_eq!(connect_totals(&s, now - 7 * DAY, now), (24, 24));
    // The counters count what is stored.
    let counters = exported(&s);
    assert!(counters.contains("a_total 0.31\n"), "{counters}");

    let report = compact_with(&s.storage, &[&PASS[..], &["--config", config]].concat());
    let deleted: Vec<&str> = report["retention"]["days"]
        .as_array()
        .expect("the retention report")
        .iter()
        .filter_map(|d| d.as_str())
        .collect();
    assert_eq!(deleted.len(), 2, "{report}");
    for (at, _) in &uploads[..2] {
        for kind in ["l0", "segments", "manifests", "counters"] {
            assert_eq!(files(&data, kind, *at), 0, "{kind} of {at}");
        }
    }
    // The boundary day and the days after are untouched.
    for (at, _) in &uploads[2..] {
        assert!(
            files(&data, "l0", *at) + files(&data, "segments", *at) > 0,
            "{at}"
        );
    }
    assert_eq!(ticks(&s, now - 7 * DAY, now), 24);
    assert_eq!(connect_totals(&s, now - 7 * DAY, now), (24, 24));
    assert_eq!(exported(&s), counters, "counters keep their values");
    // A second pass has nothing to delete; a restarted server counts the same.
    let again = compact_with(&s.storage, &[&PASS[..], &["--config", config]].concat());
    assert_eq!(again["retention"]["days"], serde_json::json!([]), "{again}");
    drop(s);
    let s = FlameletServer::start_on(&data, &args);
    assert_eq!(exported(&s), counters);
    assert_eq!(ticks(&s, now - 7 * DAY, now), 24);
    // Without the flag (0: keep everything) the boundary day's upload is seen again; the
    // deleted days are gone for good.
    drop(s);
    let s = FlameletServer::start_on(&data, &["--no-cron", "--config", config]);
    assert_eq!(ticks(&s, now - 7 * DAY, now), 28);
}

#[test]
fn a_bad_retention_stops_the_server_with_its_value() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = std::process::Command::new(crate::util::server::BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--retention",
            "soon",
            "--storage",
        ])
        .arg(dir.path())
        .output()
        .expect("running flamelet");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("FLAMELET_RETENTION") && stderr.contains("soon"),
        "{stderr}"
    );
}
