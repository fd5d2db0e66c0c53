//! Compaction through `flamelet compact` (the compact component): answers stay identical
//! before, during and after, covered segments are skipped and later deleted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::util::server::{compact, compact_with};
use crate::util::{FlameletServer, T0};

const QUERIES: [&str; 5] = [
    "app.alloc_objects{}",
    "app.alloc_objects{env=\"prod\"}",
    "app.alloc_objects{env=~\"prod|dev\",region!=\"r3\"}",
    "memory:alloc_objects:count::{}",
    "other.cpu{}",
];

/// Uploads spread over two hours (two hour buckets), several series.
fn ingest_batch(s: &FlameletServer, start: i64, n: i64) {
    for i in 0..n {
        let at = start + i * 317;
        let env = ["prod", "dev", "staging"][(i % 3) as usize];
        s.ingest(
            &format!("app.alloc_objects{{env={env},region=r{}}}", i % 4),
            at,
            &format!(
                "main;handler;work{} {}\nmain;idle {}\n",
                i % 5,
                i + 1,
                2 * i + 1
            ),
        );
        if i % 4 == 0 {
            s.ingest("other.cpu", at, &format!("main;spin {}\n", i + 1));
        }
    }
}

fn answers(s: &FlameletServer) -> Vec<String> {
    let mut out = Vec::new();
    for q in QUERIES {
        for extra in ["", "&groupBy=env", "&maxNodes=3"] {
            out.push(s.render(q, T0 - 3600, T0 + 4 * 3600, extra).to_string());
        }
    }
    let lv = s.get(&format!(
        "/pyroscope/label-values?label=env&from={}&until={}",
        T0 - 3600,
        T0 + 4 * 3600
    ));
    out.push(lv.body);
    out
}

fn count(files: &[String], part: &str) -> usize {
    files.iter().filter(|f| f.contains(part)).count()
}

#[test]
fn same_answers_before_during_and_after_compaction() {
    let s = FlameletServer::start();
    ingest_batch(&s, T0, 24);
    let before = answers(&s);
    let l0 = count(&s.stored_files(), "/l0/");
    assert_eq!(l0, 30);

    let report = s.compact();
    let merged = report["merged"].as_array().unwrap();
    assert_eq!(
        merged
            .iter()
            .map(|m| m["l0_inputs"].as_u64().unwrap())
            .sum::<u64>(),
        30,
        "{report}"
    );
    // 22:13 to 00:15 UTC: two days, long closed, so each rolled up into one day segment and
    // published in its own manifest.
    assert_eq!(merged.len(), 2, "{report}");
    assert!(merged.iter().all(|m| m["day"] == true), "{report}");
    assert_eq!(report["published"].as_array().unwrap().len(), 2, "{report}");
    assert_eq!(answers(&s), before, "after compaction");
    // Covered L0 segments stay until the grace period ends, and queries skip them.
    let files = s.stored_files();
    assert_eq!(count(&files, "/l0/"), 30);
    assert_eq!(count(&files, "/segments/"), merged.len());

    // A second pass with nothing new does nothing.
    let again = s.compact();
    assert!(again["merged"].as_array().unwrap().is_empty(), "{again}");
    assert!(again["published"].as_array().unwrap().is_empty(), "{again}");

    // New uploads, then compaction passes running while queries run.
    ingest_batch(&s, T0 + 100, 12);
    let expected = answers(&s);
    assert_ne!(expected, before);
    let done = Arc::new(AtomicBool::new(false));
    let storage = s.storage.clone();
    let flag = done.clone();
    let compactor = std::thread::spawn(move || {
        let mut reports = Vec::new();
        for _ in 0..3 {
            reports.push(compact(&storage));
        }
        flag.store(true, Ordering::SeqCst);
        reports
    });
    let mut rounds = 0;
    while !done.load(Ordering::SeqCst) || rounds == 0 {
        assert_eq!(answers(&s), expected, "during compaction, round {rounds}");
        rounds += 1;
    }
    let reports = compactor.join().unwrap();
    let merged_inputs: u64 = reports
        .iter()
        .flat_map(|r| r["merged"].as_array().unwrap().clone())
        .map(|m| m["l0_inputs"].as_u64().unwrap())
        .sum();
    assert_eq!(merged_inputs, 15, "{reports:?}");
    assert_eq!(answers(&s), expected, "after concurrent compaction");
}

/// Merged uploads are deleted after the L0 grace period (`FLAMELET_COMPACTION_L0_GRACE_SECONDS`,
/// which the host lowers to its request time limit when that is shorter: here 1 s), replaced
/// segments and manifest versions only after the whole grace period; and a query's store
/// refuses L0 listings past the L0 grace as it refuses every read past the grace.
#[test]
fn merged_uploads_are_deleted_after_the_l0_grace_and_the_rest_after_the_grace() {
    let s = FlameletServer::start();
    ingest_batch(&s, T0, 9);
    let before = answers(&s);
    let run = || {
        compact_with(
            &s.storage,
            &["--compaction-grace-secs", "600", "--timeout-secs", "1"],
        )
    };
    let uploads = count(&s.stored_files(), "/l0/");
    let first = run();
    assert!(first["deleted"].as_array().unwrap().is_empty(), "{first}");
    let manifests = count(&s.stored_files(), "/manifests/");
    // A late upload into a merged day: its merge publishes a new version, and the version it
    // replaces waits for the whole grace period.
    s.ingest(
        "app.alloc_objects{env=prod,region=r0}",
        T0 + 1,
        "main;late 5\n",
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = run();
    let deleted: Vec<&str> = second["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(
        deleted.len(),
        uploads,
        "the first pass's merged uploads: {second}"
    );
    assert!(deleted.iter().all(|k| k.contains("/l0/")), "{second}");
    let files = s.stored_files();
    assert_eq!(
        count(&files, "/l0/"),
        1,
        "the late upload, merged now: {files:?}"
    );
    assert_eq!(count(&files, "/manifests/"), manifests + 1, "{files:?}");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let late = run();
    assert_eq!(late["deleted"].as_array().unwrap().len(), 1, "{late}");
    assert_eq!(count(&s.stored_files(), "/l0/"), 0);
    assert_ne!(answers(&s), before, "the late upload counts");

    // A query component with an L0 grace of 0 lists no L0 segment: a 503 naming the period.
    let hasty = FlameletServer::start_on(
        std::path::Path::new(&s.storage),
        &[
            "--no-cron",
            "--env",
            "FLAMELET_COMPACTION_L0_GRACE_SECONDS=0",
        ],
    );
    let r = hasty.get(&format!(
        "/pyroscope/render?query=app.cpu%7B%7D&from={}&until={}",
        T0 - 60,
        T0 + 60
    ));
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("grace period (0 s)"), "{}", r.body);
}

#[test]
fn replaced_objects_are_deleted_after_the_grace_period() {
    let s = FlameletServer::start();
    ingest_batch(&s, T0, 9);
    let before = answers(&s);
    let run = |grace: &str| compact_with(&s.storage, &["--compaction-grace-secs", grace]);
    let first = run("0");
    assert!(first["deleted"].as_array().unwrap().is_empty());
    // The next pass finds everything past its (zero) grace period.
    let second = run("0");
    assert_eq!(second["deleted"].as_array().unwrap().len(), 12, "{second}");
    let files = s.stored_files();
    assert_eq!(count(&files, "/l0/"), 0, "{files:?}");
    assert_eq!(answers(&s), before);
    // New data after cleanup is late for its rolled-up day: merged into an hour segment
    // beside the day segment.
    s.ingest(
        "app.alloc_objects{env=prod,region=r0}",
        T0 + 1,
        "main;late 5\n",
    );
    let third = run("0");
    assert_eq!(third["merged"][0]["replaced_existing"], false, "{third}");
    assert_eq!(third["merged"][0]["day"], false, "{third}");
    assert_eq!(
        s.render("app.alloc_objects{env=\"prod\"}", T0 - 10, T0 + 10, "")["flamebearer"]["names"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| *n == "late")
            .count(),
        1
    );
    run("0");
    let files = s.stored_files();
    assert_eq!(count(&files, "/l0/"), 0, "{files:?}");
    assert_eq!(
        count(&files, "/segments/"),
        2,
        "the day segment and the late hour's: {files:?}"
    );
}

/// Seconds since the Unix epoch.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[test]
fn cron_compacts_the_open_hour_within_seconds_not_at_the_minute() {
    let tmp = tempfile::tempdir().unwrap();
    let s = FlameletServer::start_on(&tmp.path().join("data"), &[]);
    // Start a little after a whole minute, so that what compacts before the next one is an
    // open-hours pass (every second), not the whole pass (in each minute's first second).
    while !(1..=25).contains(&(unix_now() % 60)) {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let now = unix_now();
    let next_minute = now - now % 60 + 60;
    // 64 uploads make the open hour due.
    for i in 0..64 {
        s.ingest(
            "fresh.alloc_objects{}",
            now,
            &format!("main;work {}\n", i + 1),
        );
    }
    while count(&s.stored_files(), "/manifests/") == 0 {
        assert!(
            unix_now() < next_minute,
            "the open hour was not compacted before the whole pass:\n{}",
            s.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(unix_now() < next_minute, "compacted by the whole pass");
    let files = s.stored_files();
    assert_eq!(count(&files, "/segments/"), 1, "{files:?}");
    let r = s.render("fresh.alloc_objects{}", now - 60, now + 60, "");
    assert_eq!(r["flamebearer"]["numTicks"], (1..=64).sum::<i64>());
}

#[test]
fn an_open_hours_pass_on_demand_leaves_old_days_and_a_bad_scope_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let s = FlameletServer::start_on(&tmp.path().join("data"), &["--no-cron"]);
    let now = unix_now();
    ingest_batch(&s, T0, 3);
    for i in 0..64 {
        s.ingest(
            "fresh.alloc_objects{}",
            now,
            &format!("main;work {}\n", i + 1),
        );
    }
    let bad = s.post("/flamelet/compact?scope=hourly", b"");
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("`hourly`"), "{}", bad.body);
    assert_eq!(count(&s.stored_files(), "/manifests/"), 0, "nothing ran");

    let r = s.post("/flamelet/compact?scope=open-hours", b"");
    assert_eq!(r.status, 200, "{}", r.body);
    let manifests: Vec<String> = s
        .stored_files()
        .into_iter()
        .filter(|f| f.contains("/manifests/"))
        .collect();
    assert_eq!(manifests.len(), 1, "only the open day's: {manifests:?}");
    assert!(!manifests[0].contains("2023-11-14"), "{manifests:?}");

    let r = s.post("/flamelet/compact", b"");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(count(&s.stored_files(), "/manifests/"), 2, "the whole pass");
}

#[test]
fn cron_trigger_compacts_on_schedule() {
    // spin.toml schedules the whole pass each minute (old data: the open-hours passes between
    // leave it alone); wait for one run.
    let tmp = tempfile::tempdir().unwrap();
    let s = FlameletServer::start_on(&tmp.path().join("data"), &[]);
    ingest_batch(&s, T0, 3);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(75);
    while count(&s.stored_files(), "/manifests/") == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "cron never compacted:\n{}",
            s.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert_eq!(count(&s.stored_files(), "/segments/"), 1);
}

const ALLOC: &str = "memory:alloc_objects:count::";
const CPU: &str = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";

/// One Connect JSON call's answer, as text (a failed call fails the test).
fn connect(s: &FlameletServer, method: &str, body: serde_json::Value) -> String {
    let r = s.post_with(
        &format!("/querier.v1.QuerierService/{method}"),
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{method}: {}", r.body);
    r.body
}

/// A merged pprof in JSON as sorted folded lines (stack root first, then its values), with
/// its sample types and period: what it says, whatever order its tables are in (which follows
/// the order the segments were read in).
fn folded_pprof(body: &str) -> String {
    let p: serde_json::Value = serde_json::from_str(body).unwrap();
    let strings: Vec<&str> = p["stringTable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let id = |v: &serde_json::Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    let index = |v: &serde_json::Value| id(v).parse::<usize>().unwrap_or(0);
    let functions: std::collections::HashMap<String, &str> = p["function"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (id(&f["id"]), strings[index(&f["name"])]))
        .collect();
    let locations: std::collections::HashMap<String, String> = p["location"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let names: Vec<&str> = l["line"]
                .as_array()
                .unwrap()
                .iter()
                .map(|line| functions[&id(&line["functionId"])])
                .collect();
            (id(&l["id"]), names.join(":"))
        })
        .collect();
    let mut lines: Vec<String> = p["sample"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            let mut stack: Vec<&str> = x["locationId"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| locations[&id(l)].as_str())
                .collect();
            stack.reverse();
            format!("{} {}", stack.join(";"), x["value"])
        })
        .collect();
    lines.sort();
    let types: Vec<String> = p["sampleType"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}/{}",
                strings[index(&t["type"])],
                strings[index(&t["unit"])]
            )
        })
        .collect();
    format!("{types:?} period {}\n{}", p["period"], lines.join("\n"))
}

/// Every kind of answer (flame graph by render and Connect, series, merged pprof, span
/// profile, heatmaps of profiles and of spans) over ranges aligned to hours and not.
fn every_answer(s: &FlameletServer, spans: &[String], span_time: i64) -> Vec<String> {
    let hour = |t: i64| t - t.rem_euclid(3600);
    let ranges = [
        // Whole hours (the compacted sums answer them), then cut ones (rows at the edges).
        (hour(T0), hour(T0) + 4 * 3600 - 1),
        (T0 + 100, T0 + 2 * 3600 + 1000),
        // Whole UTC days (day segments' day sums answer them).
        (
            T0 - T0.rem_euclid(86_400),
            T0 - T0.rem_euclid(86_400) + 2 * 86_400 - 1,
        ),
    ];
    let mut out = Vec::new();
    for (from, until) in ranges {
        out.push(
            s.render("app.alloc_objects{}", from, until, "&groupBy=env")
                .to_string(),
        );
        let (start, end) = ((from * 1000).to_string(), (until * 1000).to_string());
        let app = "{service_name=\"app\"}";
        out.push(connect(
            s,
            "SelectMergeStacktraces",
            serde_json::json!({
                "profileTypeID": ALLOC, "labelSelector": app, "start": start, "end": end,
            }),
        ));
        out.push(connect(
            s,
            "SelectSeries",
            serde_json::json!({
                "profileTypeID": ALLOC, "labelSelector": app, "start": start, "end": end,
                "step": 600.0, "groupBy": ["env"],
            }),
        ));
        out.push(folded_pprof(&connect(
            s,
            "SelectMergeProfile",
            serde_json::json!({
                "profileTypeID": ALLOC, "labelSelector": app, "start": start, "end": end,
            }),
        )));
        out.push(connect(
            s,
            "SelectHeatmap",
            serde_json::json!({
                "profileTypeID": ALLOC, "labelSelector": app, "start": start, "end": end,
                "step": 900, "groupBy": ["env"], "queryType": "HEATMAP_QUERY_TYPE_INDIVIDUAL",
            }),
        ));
    }
    for (from, until) in [
        (hour(span_time), hour(span_time) + 3600 - 1),
        (span_time - 60, span_time + 60),
    ] {
        let (start, end) = ((from * 1000).to_string(), (until * 1000).to_string());
        let sel = "{service_name=\"spanapp\"}";
        out.push(connect(
            s,
            "SelectMergeSpanProfile",
            serde_json::json!({
                "profileTypeID": CPU, "labelSelector": sel, "start": start, "end": end,
                "spanSelector": spans,
            }),
        ));
        out.push(connect(
            s,
            "SelectMergeStacktraces",
            serde_json::json!({
                "profileTypeID": CPU, "labelSelector": sel, "start": start, "end": end,
            }),
        ));
        out.push(connect(
            s,
            "SelectHeatmap",
            serde_json::json!({
                "profileTypeID": CPU, "labelSelector": sel, "start": start, "end": end,
                "step": 60, "queryType": "HEATMAP_QUERY_TYPE_SPAN",
                "exemplarType": "EXEMPLAR_TYPE_SPAN",
            }),
        ));
    }
    out
}

#[test]
fn every_query_answers_the_same_after_hour_compaction_and_after_the_roll_up() {
    let s = FlameletServer::start();
    ingest_batch(&s, T0, 24);
    let file = crate::util::corpus("pprof/single_group_with_optional_span_id.pb.gz");
    let r = s.post("/ingest?name=spanapp&format=pprof", &file);
    assert_eq!(r.status, 200, "{}", r.body);
    let p =
        flamelet::wire::pprof::decode(&file, flamelet::limits::DEFAULT_MAX_PROFILE_BYTES).unwrap();
    let st = |i: i64| p.string_table[i as usize].clone();
    let mut spans: Vec<String> = p
        .sample
        .iter()
        .flat_map(|x| &x.label)
        .filter(|l| st(l.key) == "span_id")
        .map(|l| st(l.str))
        .collect();
    spans.sort();
    spans.dedup();
    spans.truncate(3);
    assert!(!spans.is_empty());
    let span_time = p.time_nanos / 1_000_000_000;

    let before = every_answer(&s, &spans, span_time);
    // Answers with something in them: the pprof's stacks, the span profile's and the span
    // heatmap's totals.
    assert!(before[3].contains("main;handler;work1 "), "{}", before[3]);
    for i in [15, 17, 18, 20] {
        assert!(
            before[i].contains("\"total\"") || before[i].contains("\"counts\""),
            "answer {i}: {}",
            before[i]
        );
    }
    // Hours only: the roll-up allowance pushed out of reach.
    let hours = crate::util::server::compact_with(
        &s.storage,
        &[
            "--env",
            "FLAMELET_COMPACTION_ROLLUP_AFTER_SECONDS=100000000000",
        ],
    );
    let merged = hours["merged"].as_array().unwrap();
    assert!(merged.len() >= 3, "{hours}");
    assert!(merged.iter().all(|m| m["day"] == false), "{hours}");
    let after_hours = every_answer(&s, &spans, span_time);
    for (i, (a, b)) in before.iter().zip(&after_hours).enumerate() {
        assert_eq!(a, b, "answer {i} after hour compaction");
    }
    let days = s.compact();
    let merged = days["merged"].as_array().unwrap();
    assert!(
        !merged.is_empty() && merged.iter().all(|m| m["day"] == true),
        "{days}"
    );
    let after_days = every_answer(&s, &spans, span_time);
    for (i, (a, b)) in before.iter().zip(&after_days).enumerate() {
        assert_eq!(a, b, "answer {i} after the roll-up");
    }
}

#[test]
fn an_unreadable_upload_is_quarantined_counted_and_skipped() {
    let s = FlameletServer::start();
    ingest_batch(&s, T0, 6);
    let before = answers(&s);
    // A truncated L0 segment, as a bad disk or a buggy writer might leave.
    let files = s.stored_files();
    let good = files.iter().find(|f| f.contains("/l0/")).unwrap();
    let dir = std::path::Path::new(&s.storage)
        .join(good)
        .parent()
        .unwrap()
        .to_path_buf();
    let bad = dir.join("23-01JBADSEGMENT0000000000000.parquet");
    std::fs::write(&bad, b"PAR1 not really").unwrap();
    let broken = s.get(&format!(
        "/pyroscope/render?query=app.alloc_objects%7B%7D&from={}&until={}",
        T0 - 3600,
        T0 + 4 * 3600
    ));
    assert_eq!(broken.status, 500, "{}", broken.body);

    // Compaction through the server's own route, so its /metrics sees the pass.
    let r = s.post("/flamelet/compact", b"");
    assert_eq!(r.status, 200, "{}", r.body);
    let report = r.json();
    let quarantined = report["quarantined"].as_array().unwrap();
    assert_eq!(quarantined.len(), 1, "{report}");
    assert!(
        quarantined[0].as_str().unwrap().contains("01JBADSEGMENT"),
        "{report}"
    );
    assert!(report["errors"].as_array().unwrap().is_empty(), "{report}");
    assert_eq!(answers(&s), before, "the rest answers as before");
    assert!(bad.exists(), "kept for a person to look at");
    let files = s.stored_files();
    assert!(
        files
            .iter()
            .any(|f| f.contains("/quarantine/") && f.contains("01JBADSEGMENT")),
        "{files:?}"
    );
    let metrics = s.get("/metrics").body;
    assert!(
        metrics.contains("flamelet_quarantined_segments_total 1"),
        "{metrics}"
    );
    let again = s.post("/flamelet/compact", b"").json();
    assert!(
        again["quarantined"].as_array().unwrap().is_empty(),
        "{again}"
    );
}

#[test]
fn staging_files_of_interrupted_writes_are_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let dir = data.join("tenants/anonymous/l0/2023-11-14");
    std::fs::create_dir_all(&dir).unwrap();
    let stale = dir.join("22-01JSTALE000000000000000000.parquet#1");
    let fresh = dir.join("22-01JFRESH000000000000000000.parquet#2");
    for f in [&stale, &fresh] {
        std::fs::write(f, b"half written").unwrap();
    }
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    let s = FlameletServer::start_on(&data, &["--no-cron"]);
    // The sweep runs in the background from the start.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !s.log().contains("removed 1 staging files") {
        assert!(std::time::Instant::now() < deadline, "{}", s.log());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!stale.exists(), "{}", s.log());
    assert!(fresh.exists(), "a put may still be under way");
}
