//! Operations visibility (issue #19, part 4): the storage census through the real server and
//! components — `GET /flamelet/status`, the UI's status page in Chromium, `flamelet status`,
//! and the bucket, compaction-lag and retention series of `/metrics`.

use std::path::Path;

use flamelet::storage::keys::{DAY_NANOS, Day, HOUR_NANOS};

use crate::ui::open;
use crate::util::FlameletServer;
use crate::util::server::{compact_with, run};

const DAY: i64 = 86_400;
/// A valid ULID (the spec's example): the garbage upload's ID.
const GARBAGE_ID: &str = "01ARZ3NDEKTSV4RRFFQ69G5FAV";

/// The value of the `/metrics` series `series` (name and labels as printed).
fn series(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
}

fn status_cli(data: &Path, extra: &[&str]) -> String {
    let data = data.to_str().expect("a UTF-8 path");
    run(&[&["status", "--storage", data][..], extra].concat())
}

#[test]
fn the_storage_census_shows_levels_lag_quarantine_and_retention_in_metrics_the_ui_and_the_cli() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let s = FlameletServer::start_on(&data, &["--no-cron", "--storage-census-secs", "0"]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    // team-a: two uploads in a closed hour and an unreadable one beside them; team-b: one
    // upload five days old, past the 3-day retention of the pass below.
    let at = now - 3 * 3600;
    for body in [&b"main;work 3\n"[..], b"main;idle 1\n"] {
        let path = format!("/ingest?name=app.cpu&from={at}");
        assert_eq!(s.post_as("team-a", &path, body).status, 200);
    }
    let old = format!("/ingest?name=app.cpu&from={}", now - 5 * DAY);
    assert_eq!(s.post_as("team-b", &old, b"main 1\n").status, 200);
    let nanos = at * 1_000_000_000;
    let (day, hour) = (Day::of(nanos), nanos.rem_euclid(DAY_NANOS) / HOUR_NANOS);
    let garbage = format!("tenants/team-a/l0/{day}/{hour:02}-{GARBAGE_ID}.parquet");
    let file = data.join(&garbage);
    std::fs::create_dir_all(file.parent().expect("a directory")).expect("mkdir");
    std::fs::write(&file, b"not parquet").expect("writing the bad upload");

    // Before compaction: three uploads wait, the oldest (by its ID) since July 2016.
    let metrics = s.get("/metrics").body;
    assert_eq!(
        series(
            &metrics,
            "flamelet_bucket_objects{tenant=\"team-a\",level=\"l0\"}"
        ),
        3.0
    );
    assert_eq!(
        series(
            &metrics,
            "flamelet_compaction_backlog_segments{tenant=\"team-a\"}"
        ),
        3.0
    );
    let lag = series(
        &metrics,
        "flamelet_compaction_lag_seconds{tenant=\"team-a\"}",
    );
    assert!(lag > (10 * 365 * DAY) as f64, "{lag}");
    let status = s.get_as("team-a", "/flamelet/status");
    assert_eq!(status.status, 200, "{}", status.body);
    let census: serde_json::Value = serde_json::from_str(&status.body).expect("JSON");
    let tenants = census["tenants"].as_array().expect("tenants");
    assert_eq!(tenants.len(), 1, "the organisation's only: {census}");
    assert_eq!(tenants[0]["uncompacted"]["objects"], 3, "{census}");

    // One pass with a 3-day retention: team-a's uploads merged but the bad one, set aside;
    // team-b's day deleted.
    let report = compact_with(
        &s.storage,
        &["--retention", "3d", "--compaction-grace-secs", "0"],
    );
    assert_eq!(
        report["quarantined"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    assert_eq!(
        report["retention"]["days"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );

    let metrics = s.get("/metrics").body;
    let a = |level: &str| {
        series(
            &metrics,
            &format!("flamelet_bucket_objects{{tenant=\"team-a\",level=\"{level}\"}}"),
        )
    };
    assert_eq!(a("quarantine"), 1.0);
    assert_eq!(a("hour") + a("day"), 1.0);
    assert!(a("manifest") >= 1.0);
    assert_eq!(
        series(
            &metrics,
            "flamelet_compaction_backlog_segments{tenant=\"team-a\"}"
        ),
        0.0
    );
    assert_eq!(
        series(
            &metrics,
            "flamelet_compaction_lag_seconds{tenant=\"team-a\"}"
        ),
        0.0
    );
    let last = series(
        &metrics,
        "flamelet_last_compaction_timestamp_seconds{tenant=\"team-a\"}",
    );
    assert!(last >= now as f64, "{last}");
    assert_eq!(
        series(
            &metrics,
            "flamelet_retention_deleted_days_total{tenant=\"team-b\"}"
        ),
        1.0
    );
    assert_eq!(
        series(
            &metrics,
            "flamelet_retention_deleted_days_total{tenant=\"team-a\"}"
        ),
        0.0
    );
    assert_eq!(
        series(
            &metrics,
            "flamelet_bucket_objects{tenant=\"team-b\",level=\"l0\"}"
        ),
        0.0
    );
    // What the bucket holds is what the census counts.
    let stored: f64 = [
        "l0",
        "hour",
        "day",
        "replaced",
        "manifest",
        "quarantine",
        "other",
    ]
    .iter()
    .map(|l| a(l))
    .sum();
    let files = s
        .stored_files()
        .iter()
        .filter(|f| f.starts_with("tenants/team-a/") && !f.contains('#'))
        .count();
    assert_eq!(stored, files as f64);

    // The status page, as a person opens it.
    let page = open(&s, "/status", "status.png", "status");
    let shown = page["status"].as_array().expect("the tenants shown");
    let names: Vec<&str> = shown.iter().filter_map(|t| t["tenant"].as_str()).collect();
    assert_eq!(names, ["team-a", "team-b"], "{page}");
    assert_eq!(
        page["targets"]["note"]
            .as_str()
            .map(|n| n.starts_with("No targets")),
        Some(true),
        "no scrape_configs: {page}"
    );
    let (ta, tb) = (&shown[0], &shown[1]);
    assert_eq!(ta["summary"]["Quarantined"], "1", "{page}");
    assert_eq!(ta["summary"]["Not merged yet"], "–", "{page}");
    assert_eq!(ta["summary"]["Compaction lag"], "none waiting", "{page}");
    assert_ne!(ta["summary"]["Last compaction"], "never", "{page}");
    assert_eq!(tb["summary"]["Days deleted by retention"], "1", "{page}");
    let q = &ta["quarantined"][0];
    assert_eq!(q[0], garbage.as_str(), "{page}");
    assert!(
        q[1].as_str().is_some_and(|r| r.contains("unreadable")),
        "{page}"
    );
    let day_row = &ta["days"][0];
    assert_eq!(day_row[0], day.to_string().as_str(), "{page}");
    assert!(
        day_row[1].as_str().is_some_and(|c| c.starts_with("3 · ")),
        "{page}"
    );

    // The command line, safe beside the running server.
    let text = status_cli(&data, &["--tenant", "team-a"]);
    assert!(text.contains("tenant team-a: 1 day, "), "{text}");
    assert!(text.contains("compaction lag none"), "{text}");
    assert!(text.contains(&format!("quarantined {garbage}: ")), "{text}");
    assert!(!text.contains("team-b"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&status_cli(&data, &["--json"])).expect("JSON");
    assert_eq!(json["tenants"][1]["retention_deleted_days"], 1, "{json}");
}
