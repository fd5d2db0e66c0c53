//! Storage faults (issue #17 part 3): `flamelet serve` and `flamelet compact` on an S3 server
//! behind a proxy that fails a fraction of the calls (500 before and after the write, 503
//! SlowDown, resets before and after, stalls past the client's time limit, answers cut off).
//! An ingest answers 200 only for a segment stored exactly once, a query answers the exact
//! flame graph or a 503, compaction never publishes a manifest that names a missing segment,
//! and once the faults stop the totals are exact.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use crate::util::faults::{ALL, Fault, FaultProxy};
use crate::util::s3::S3Server;
use crate::util::server::{BIN, cache_dir, encode};
use crate::util::{FlameletServer, T0};

/// The fraction of storage calls that fail while faults are on.
const FAULTY: f64 = 0.3;
const QUERY: &str = "app.alloc_objects{}";

/// A bucket behind a fault proxy (passing everything for now) and a server on it.
fn setup(bucket: &str) -> (S3Server, FaultProxy, FlameletServer) {
    let s3 = S3Server::start();
    s3.bucket(bucket, "");
    let proxy = FaultProxy::start(&s3.endpoint);
    let server = FlameletServer::start_with(&proxy.storage_url(&s3, bucket, "p"), &["--no-cron"]);
    (s3, proxy, server)
}

/// Uploads `n` profiles from each of `threads` threads, the k-th (from 0) at `T0 + 60 * k`
/// with one stack worth `k + 1`; each upload's status, body and value.
fn upload(server: &FlameletServer, threads: usize, n: usize) -> Vec<(u16, String, u64)> {
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (0..n)
                        .map(|i| {
                            let k = t * n + i;
                            let value = k as u64 + 1;
                            let r = server.post(
                                &format!(
                                    "/ingest?name={}&from={}",
                                    encode(QUERY),
                                    T0 + 60 * k as i64
                                ),
                                format!("main;worker_{t};step_{i} {value}\n").as_bytes(),
                            );
                            (r.status, r.body, value)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("an upload thread"))
            .collect()
    })
}

/// `/pyroscope/render` of everything uploaded: status, body.
fn render(server: &FlameletServer) -> (u16, String) {
    let r = server.get(&format!(
        "/pyroscope/render?query={}&from={}&until={}",
        encode(QUERY),
        T0 - 60,
        T0 + 6 * 3600
    ));
    (r.status, r.body)
}

fn total(server: &FlameletServer) -> u64 {
    let (status, body) = render(server);
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    json["flamebearer"]["numTicks"].as_u64().expect("numTicks")
}

/// A failure answer: a 503 with one line saying what storage did.
fn assert_unavailable(status: u16, body: &str, what: &str) {
    assert_eq!(status, 503, "{what}: {body}");
    assert!(
        !body.trim().is_empty() && body.trim().lines().count() == 1,
        "{what}: one line: {body:?}"
    );
}

/// Every kind of fault was met (the proxy takes them in turn, so this holds from the 7th).
fn assert_every_fault_met(proxy: &FaultProxy) {
    let injected = proxy.injected();
    assert!(
        ALL.iter()
            .all(|f| injected.get(f).copied().unwrap_or(0) > 0),
        "{injected:?} of {} calls",
        proxy.calls()
    );
}

fn l0_keys(s3: &S3Server, bucket: &str) -> usize {
    s3.keys(bucket)
        .iter()
        .filter(|k| k.contains("/l0/"))
        .count()
}

/// Found by this test: a create-only put answered 500 after the bucket had written it was
/// retried by object_store, found its own object, and was reported as a taken key; the ingest
/// then stored the upload again under a fresh key, so one acknowledged upload counted twice.
#[test]
fn an_upload_whose_storage_answer_was_lost_is_stored_once_or_refused() {
    let (s3, proxy, server) = setup("ingest");
    proxy.inject(FAULTY, &ALL);
    let results = upload(&server, 4, 30);
    proxy.stop();
    assert_every_fault_met(&proxy);
    let mut acknowledged = 0;
    let mut stored = 0;
    for (status, body, value) in &results {
        if *status == 200 {
            acknowledged += value;
            stored += 1;
        } else {
            assert_unavailable(*status, body, "a refused upload");
        }
    }
    assert_eq!(
        l0_keys(&s3, "ingest"),
        stored,
        "one segment per acknowledged upload, none for a refused one"
    );
    assert_eq!(total(&server), acknowledged);
    eprintln!(
        "ingest under faults: {stored} of {} uploads acknowledged, {} storage calls, injected {:?}",
        results.len(),
        proxy.calls(),
        proxy.injected()
    );
    assert!(
        stored * 10 >= results.len() * 9,
        "retries carry most uploads through: {stored} of {}",
        results.len()
    );
}

#[test]
fn queries_under_storage_faults_answer_exactly_or_503() {
    let (_s3, proxy, server) = setup("query");
    // Half compacted, half fresh L0 segments: both read paths.
    assert!(upload(&server, 1, 20).iter().all(|r| r.0 == 200));
    server.compact();
    assert!(upload(&server, 1, 20).iter().all(|r| r.0 == 200));
    let expected = total(&server);
    proxy.inject(FAULTY, &ALL);
    let answers: Vec<(u16, String)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| (0..10).map(|_| render(&server)).collect::<Vec<_>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a query thread"))
            .collect()
    });
    proxy.stop();
    assert_every_fault_met(&proxy);
    let mut exact = 0;
    for (status, body) in &answers {
        if *status == 200 {
            let json: serde_json::Value = serde_json::from_str(body).expect("JSON");
            assert_eq!(
                json["flamebearer"]["numTicks"], expected,
                "a flame graph under faults is whole"
            );
            exact += 1;
        } else {
            assert_unavailable(*status, body, "a failed query");
        }
    }
    eprintln!(
        "queries under faults: {exact} of {} exact, the rest 503; {} storage calls, injected {:?}",
        answers.len(),
        proxy.calls(),
        proxy.injected()
    );
    assert!(
        exact * 10 >= answers.len() * 9,
        "retries carry most queries through: {exact} of {}: {:?}",
        answers.len(),
        answers.iter().filter(|a| a.0 != 200).collect::<Vec<_>>()
    );
    assert_eq!(total(&server), expected);
}

/// `flamelet compact` once: its report, or `None` when it failed.
fn compact_once(storage: &str) -> Option<serde_json::Value> {
    let out = Command::new(BIN)
        .args(["compact", "--storage", storage])
        .arg("--cache-dir")
        .arg(cache_dir())
        .output()
        .expect("running flamelet compact");
    if !out.status.success() {
        return None;
    }
    Some(serde_json::from_slice(&out.stdout).expect("a compaction report"))
}

/// Every compacted segment every stored manifest version names, with the version's key.
fn named_segments(s3: &S3Server, bucket: &str) -> BTreeMap<String, Vec<String>> {
    s3.keys(bucket)
        .into_iter()
        .filter(|k| k.contains("/manifests/"))
        .map(|k| {
            let manifest: serde_json::Value =
                serde_json::from_slice(&s3.get(bucket, &k)).expect("a manifest");
            let named = manifest["segments"]
                .as_array()
                .expect("segments")
                .iter()
                .map(|s| format!("p/{}", s["key"].as_str().expect("a key")))
                .collect();
            (k, named)
        })
        .collect()
}

/// Checks that every compacted segment a stored manifest version names is in the bucket.
fn assert_manifests_name_only_stored_segments(s3: &S3Server, bucket: &str) {
    let stored: BTreeSet<String> = s3.keys(bucket).into_iter().collect();
    for (manifest, named) in named_segments(s3, bucket) {
        for key in named {
            assert!(
                stored.contains(&key),
                "{manifest} names {key}, which is gone"
            );
        }
    }
}

/// Faults of one phase of a test: the fraction of calls, the kinds, which calls.
type Phase = (f64, &'static [Fault], fn(&str) -> bool);

/// A manifest version's create-only put.
fn manifest_put(request_line: &str) -> bool {
    request_line.starts_with("PUT ") && request_line.contains("/manifests/")
}

/// Found by this test: a manifest put answered 500 after the bucket had written it was
/// retried, found the compactor's own manifest, and was taken for a rival's; the compactor
/// then deleted the segment it had written, which that manifest names.
#[test]
fn compaction_under_storage_faults_never_publishes_a_manifest_naming_a_missing_segment() {
    let (s3, proxy, server) = setup("compact");
    // Three hours of a day.
    assert!(upload(&server, 2, 90).iter().all(|r| r.0 == 200));
    let mut expected = total(&server);
    let (mut published, mut failed) = (0, 0);
    // Every kind of fault on any call, then half the manifest puts answered 500 after the write.
    let phases: [Phase; 2] = [
        (FAULTY, &ALL, |_| true),
        (0.5, &[Fault::InternalErrorAfterWrite], manifest_put),
    ];
    for (fraction, kinds, target) in phases {
        for round in 0..4 {
            proxy.inject_into(fraction, kinds, target);
            let report = compact_once(&server.storage);
            proxy.stop();
            match report {
                Some(report) => published += report["published"].as_array().map_or(0, Vec::len),
                None => failed += 1,
            }
            assert_manifests_name_only_stored_segments(&s3, "compact");
            // More data for the next pass to merge.
            let more = upload(&server, 1, round + 1);
            assert!(more.iter().all(|r| r.0 == 200));
            expected += more.iter().map(|r| r.2).sum::<u64>();
        }
    }
    let injected = proxy.injected();
    assert!(
        ALL.iter()
            .all(|f| injected.get(f).copied().unwrap_or(0) > 0)
            && injected[&Fault::InternalErrorAfterWrite] >= 3,
        "{injected:?}"
    );
    eprintln!(
        "compaction under faults: 8 passes, {failed} failed, {published} manifest versions published; {} storage calls, injected {:?}",
        proxy.calls(),
        injected
    );
    // Each pass has new data to publish; a compactor that takes its own lease for a rival's
    // skips the day.
    assert!(
        published >= 6,
        "8 passes under faults published {published} manifest versions ({failed} passes failed)"
    );
    assert_eq!(total(&server), expected, "after the faulted passes");
    let report = compact_once(&server.storage).expect("a pass without faults");
    assert_eq!(report["errors"], serde_json::json!([]), "{report}");
    assert_manifests_name_only_stored_segments(&s3, "compact");
    assert_eq!(total(&server), expected, "after a clean pass");
}
