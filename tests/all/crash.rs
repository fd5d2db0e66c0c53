//! `kill -9` under load: servers and concurrent compactors killed at random points while
//! uploads stream in, round after round, on one data directory. Then every acknowledged upload
//! is in the answers exactly once, and after clean passes with grace 0 the directory holds
//! nothing that no manifest references: no orphaned segment, lease or staging file.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::util::server::{BIN, Http, cache_dir, compact_with};
use crate::util::{FlameletServer, T0};

/// A small deterministic generator, seeded per run from the clock (the seed is printed, so a
/// failing run can be replayed by setting `FLAMELET_CRASH_SEED`).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

/// Upload `n`: one sample of value 1 under its own leaf, spread over 36 hours of long-closed
/// days so that compaction has hours to merge and days to roll up.
fn upload(http: &Http, n: u64) -> Option<bool> {
    let at = T0 + (n as i64 % 72) * 1800;
    let path = format!("/ingest?name=app.alloc_objects&from={at}");
    http.try_post(&path, format!("main;u{n} 1\n").as_bytes())
        .map(|r| r.status == 200)
}

/// `flamelet compact` with a one-second budget (so it publishes step by step and its leases
/// lapse after two seconds), as a child to kill.
fn compactor(data: &Path, extra: &[&str]) -> Child {
    Command::new(BIN)
        .args(["compact", "--storage"])
        .arg(data)
        .arg("--cache-dir")
        .arg(cache_dir())
        .args(["--env", "FLAMELET_COMPACTION_PASS_SECONDS=1"])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starting flamelet compact")
}

fn kill_9(pid: u32) {
    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
}

#[test]
fn kill_9_of_servers_and_compactors_under_load_loses_nothing_and_leaves_nothing() {
    let seed = std::env::var("FLAMELET_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("FLAMELET_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let next = Arc::new(AtomicU64::new(0));
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let mut kills = (0, 0);

    for _round in 0..4 {
        let server = FlameletServer::start_on(&data, &["--no-cron"]);
        let stop = Arc::new(AtomicBool::new(false));
        let ingesters: Vec<_> = (0..2)
            .map(|_| {
                let (http, stop, next, acked) = (
                    Http::new(&server.base),
                    stop.clone(),
                    next.clone(),
                    acked.clone(),
                );
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        let n = next.fetch_add(1, Ordering::SeqCst);
                        match upload(&http, n) {
                            Some(true) => {
                                acked.lock().unwrap().insert(n);
                            }
                            Some(false) => panic!("upload {n} refused"),
                            // The server died under it: unknown whether it landed.
                            None => break,
                        }
                    }
                })
            })
            .collect();
        // Two compactors at a time, each killed at a random point or left to finish.
        let until = Instant::now() + Duration::from_millis(2500 + rng.below(2000));
        let mut running: Vec<(Child, Instant)> = Vec::new();
        while Instant::now() < until {
            running.retain_mut(|(child, kill_at)| {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    return false;
                }
                if Instant::now() >= *kill_at {
                    kill_9(child.id());
                    let _ = child.wait();
                    kills.1 += 1;
                    return false;
                }
                true
            });
            if running.len() < 2 {
                let kill_at = Instant::now() + Duration::from_millis(100 + rng.below(1500));
                running.push((compactor(&data, &[]), kill_at));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // The server dies mid-upload, and the compactors with it.
        kill_9(server.pid());
        kills.0 += 1;
        for (mut child, _) in running {
            kill_9(child.id());
            let _ = child.wait();
        }
        stop.store(true, Ordering::SeqCst);
        for i in ingesters {
            i.join().unwrap();
        }
        drop(server);
    }
    let acked = acked.lock().unwrap().clone();
    let attempted = next.load(Ordering::SeqCst);
    eprintln!(
        "{} uploads acknowledged of {attempted}; {} servers and {} compactors killed",
        acked.len(),
        kills.0,
        kills.1
    );
    assert!(acked.len() > 20, "too little load to mean anything");

    // Passes to the end, then the answer: every acknowledged upload once, nothing twice.
    let s = FlameletServer::start_on(&data, &["--no-cron"]);
    for _ in 0..3 {
        let r = compact_with(&s.storage, &[]);
        assert!(r["errors"].as_array().unwrap().is_empty(), "{r}");
        assert!(r["quarantined"].as_array().unwrap().is_empty(), "{r}");
    }
    let answer = s.render(
        "app.alloc_objects{}",
        T0 - 3600,
        T0 + 40 * 3600,
        "&maxNodes=1000000",
    );
    let names: HashSet<u64> = answer["flamebearer"]["names"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str()?.strip_prefix('u')?.parse().ok())
        .collect();
    let missing: Vec<&u64> = acked.iter().filter(|n| !names.contains(n)).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    assert!(names.iter().all(|n| *n < attempted), "{names:?}");
    assert_eq!(
        answer["flamebearer"]["numTicks"].as_u64(),
        Some(names.len() as u64),
        "each upload that landed counts once"
    );

    // Clean passes with grace 0, once the killed passes' orphans and leases are older than
    // the longest pass (2 s): nothing left that no manifest references.
    let before_clean = unreferenced(&s);
    std::thread::sleep(Duration::from_secs(3));
    let clean = ["--compaction-grace-secs", "0", "--staging-age-secs", "0"];
    // Until a pass has nothing left to merge (a merge takes at most 2000 uploads), then one
    // more to delete what that one replaced.
    for pass in 0.. {
        assert!(pass < 40, "compaction never finished");
        let args = [&clean[..], &["--env", "FLAMELET_COMPACTION_PASS_SECONDS=1"]].concat();
        let r = compact_with(&s.storage, &args);
        if r["merged"].as_array().unwrap().is_empty() && r["unfinished"] == serde_json::json!([]) {
            compact_with(&s.storage, &args);
            break;
        }
    }
    let debris: Vec<&String> = before_clean
        .iter()
        .filter(|f| !f.contains("/l0/"))
        .collect();
    eprintln!(
        "before the clean passes, {} files no manifest names, uncompacted uploads aside: \
         {debris:?}",
        debris.len()
    );
    let left = unreferenced(&s);
    assert!(left.is_empty(), "left behind: {left:?}");
    assert_eq!(
        s.render(
            "app.alloc_objects{}",
            T0 - 3600,
            T0 + 40 * 3600,
            "&maxNodes=1000000"
        )["flamebearer"]["numTicks"],
        answer["flamebearer"]["numTicks"]
    );
}

/// The files of the data directory that the newest manifest of no day names (the newest
/// manifests themselves aside).
fn unreferenced(s: &FlameletServer) -> Vec<String> {
    let files = s.stored_files();
    let mut referenced: HashSet<String> = HashSet::new();
    let mut newest: std::collections::BTreeMap<String, String> = Default::default();
    for f in files.iter().filter(|f| f.contains("/manifests/")) {
        let day = f.rsplit_once('/').unwrap().0.to_string();
        let e = newest.entry(day).or_default();
        if *e < *f {
            *e = f.clone();
        }
    }
    for m in newest.values() {
        referenced.insert(m.clone());
        let text = std::fs::read_to_string(Path::new(&s.storage).join(m)).unwrap();
        let m: serde_json::Value = serde_json::from_str(&text).unwrap();
        for list in ["segments", "covered", "pending_deletes", "quarantined"] {
            for entry in m[list].as_array().into_iter().flatten() {
                referenced.insert(entry["key"].as_str().unwrap().to_string());
            }
        }
    }
    files
        .into_iter()
        .filter(|f| !referenced.contains(f))
        .collect()
}
