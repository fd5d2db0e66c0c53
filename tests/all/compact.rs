//! Compaction through `flamelet compact` (the compact component): answers stay identical
//! before, during and after, covered segments are skipped and later deleted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::util::server::{BIN, cache_dir, compact};
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

#[test]
fn replaced_objects_are_deleted_after_the_grace_period() {
    let s = FlameletServer::start();
    ingest_batch(&s, T0, 9);
    let before = answers(&s);
    let run = |grace: &str| {
        let out = std::process::Command::new(BIN)
            .args([
                "compact",
                "--compaction-grace-secs",
                grace,
                "--storage",
                &s.storage,
            ])
            .arg("--cache-dir")
            .arg(cache_dir())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
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

#[test]
fn cron_trigger_compacts_on_schedule() {
    // spin.toml schedules compaction every minute; wait for one run.
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
