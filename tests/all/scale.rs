//! Scale-out on one bucket: three `flamelet serve` processes on one S3 bucket (moto) and no
//! coordinator. Clients ingest through all of them at once, each host's compaction runs at the
//! same moment as the others', and every host answers the same exact totals.

use std::sync::Barrier;

use flamelet::storage::keys::ManifestKey;

use crate::util::s3::S3Server;
use crate::util::{FlameletServer, T0};

const HOSTS: usize = 3;
const UPLOADS_PER_HOST: usize = 40;

fn total_ticks(s: &FlameletServer) -> i64 {
    s.render("app.alloc_objects{}", T0 - 3600, T0 + 7200, "")["flamebearer"]["numTicks"]
        .as_i64()
        .unwrap()
}

#[test]
fn several_hosts_on_one_bucket_lose_and_double_nothing() {
    let s3 = S3Server::start();
    let storage = s3.bucket("shared", "prod");
    // Each host also runs its own compaction cron (whole passes each minute, open hours every
    // 2 s), as in production.
    let hosts: Vec<FlameletServer> = (0..HOSTS)
        .map(|_| FlameletServer::start_with(&storage, &[]))
        .collect();

    // Uploads through every host at once; upload j of host h weighs h * 1000 + j + 1, in two
    // hours, so that a lost or doubled upload changes the total.
    let start = Barrier::new(HOSTS);
    std::thread::scope(|scope| {
        for (h, host) in hosts.iter().enumerate() {
            let start = &start;
            scope.spawn(move || {
                start.wait();
                for j in 0..UPLOADS_PER_HOST {
                    let weight = h * 1000 + j + 1;
                    let at = T0 + (j as i64 % 2) * 3600;
                    host.ingest(
                        &format!("app.alloc_objects{{host=h{h},n=u{j}}}"),
                        at,
                        &format!("main;work;h{h} {weight}\n"),
                    );
                }
            });
        }
    });
    let want: i64 = (0..HOSTS)
        .flat_map(|h| (0..UPLOADS_PER_HOST).map(move |j| (h * 1000 + j + 1) as i64))
        .sum();
    for host in &hosts {
        assert_eq!(total_ticks(host), want, "every host sees every upload");
    }

    // Every host compacts at the same moment; then each once more, so that the losers of a
    // race redo their days.
    let start = Barrier::new(HOSTS);
    let reports: Vec<serde_json::Value> = std::thread::scope(|scope| {
        let start = &start;
        let handles: Vec<_> = hosts
            .iter()
            .map(|host| {
                scope.spawn(move || {
                    start.wait();
                    let r = host.post("/flamelet/compact", b"");
                    assert_eq!(r.status, 200, "{}", r.body);
                    r.json()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for report in &reports {
        assert_eq!(
            report["errors"].as_array().map(Vec::len),
            Some(0),
            "{report}"
        );
    }
    for host in &hosts {
        let r = host.post("/flamelet/compact", b"");
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = hosts[0].post("/flamelet/compact", b"").json();
    assert_eq!(
        r["merged"].as_array().map(Vec::len),
        Some(0),
        "converged: {r}"
    );

    for host in &hosts {
        assert_eq!(
            total_ticks(host),
            want,
            "compaction loses and doubles nothing"
        );
    }
    let keys = s3.keys("shared");
    let mut versions: Vec<u64> = keys
        .iter()
        .filter_map(|k| ManifestKey::parse(k.strip_prefix("prod/")?))
        .map(|m| m.version)
        .collect();
    versions.sort();
    assert!(!versions.is_empty(), "{keys:?}");
    assert_eq!(
        versions,
        (1..=versions.len() as u64).collect::<Vec<_>>(),
        "one manifest chain: each version published once"
    );
}
