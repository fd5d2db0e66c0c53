use std::sync::Arc;

use super::*;
use crate::compact::{CompactionConfig, run};
use crate::metrics::export::stored_counters;
use crate::metrics::testing::{rules, value};
use crate::profile::Profile;
use crate::storage::segment::tests::cpu_profile;
use crate::storage::store::MemoryStore;

const S: i64 = 1_000_000_000;
/// 2023-11-15T00:00:00Z.
const D: i64 = 1_700_006_400 * S;
const H: i64 = 3600 * S;

fn profile(env: &str, time: i64, stacks: &[(&str, i64)]) -> Profile {
    cpu_profile(&[("service_name", "app"), ("env", env)], time, stacks)
}

/// One upload (one L0 segment) of `profiles`.
fn upload(store: &SharedStore, tenant: &Tenant, profiles: &[Profile]) {
    crate::ingest::store_profiles(store.as_ref(), tenant, profiles).unwrap();
}

/// The cached objects per day directory.
fn cached_objects(store: &SharedStore, tenant: &Tenant) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    let prefix = format!("{}counters/", crate::storage::keys::tenant_prefix(tenant));
    for o in list_all(store.as_ref(), &prefix).unwrap() {
        let day = o.key[prefix.len()..].split('/').next().unwrap().to_string();
        *out.entry(day).or_default() += 1;
    }
    out
}

#[test]
fn cached_counters_equal_the_whole_history_as_data_changes_and_compaction_runs() {
    let store: SharedStore = Arc::new(MemoryStore::default());
    let tenant = Tenant::from_header(None).unwrap();
    let r = rules(&[
        ("a_total", "app.cpu", "total", &["env"]),
        ("a_slow", "app.cpu", "^main;slow", &[]),
    ]);
    let same = |r: &[ExportRule]| {
        let cached = cached_counters(&store, &tenant, r).unwrap();
        assert_eq!(cached, stored_counters(&store, &tenant, r).unwrap());
        cached
    };
    upload(
        &store,
        &tenant,
        &[profile(
            "prod",
            D + 10 * H,
            &[("main;slow", 5), ("main", 1)],
        )],
    );
    // One upload from 23:50 that runs past midnight: its second profile is the next day's.
    upload(
        &store,
        &tenant,
        &[
            profile("prod", D + 24 * H - 600 * S, &[("main;slow;x", 7)]),
            profile("dev", D + 24 * H + 1200 * S, &[("main;slow", 11)]),
        ],
    );
    // Three days later, after days without data.
    upload(
        &store,
        &tenant,
        &[profile("dev", D + 3 * 24 * H, &[("main", 13)])],
    );
    let c = same(&r);
    let v = value;
    assert_eq!(v(&c, "a_total", &["prod"]), Some(13));
    assert_eq!(v(&c, "a_total", &["dev"]), Some(24));
    assert_eq!(
        v(&c, "a_slow", &[]),
        Some(23),
        "the profile past midnight counts"
    );
    // One entry per filing day: the upload past midnight is filed under its first profile's.
    let days = cached_objects(&store, &tenant);
    assert_eq!(days.len(), 2, "{days:?}");
    assert!(days.values().all(|n| *n == 1), "{days:?}");
    // The second scrape reads the cache: it gives the same.
    assert_eq!(cached_counters(&store, &tenant, &r).unwrap(), c);
    // New data in a cached day: that day is computed again, its old entry gone.
    upload(
        &store,
        &tenant,
        &[profile("prod", D + 11 * H, &[("main;slow", 100)])],
    );
    let c = same(&r);
    assert_eq!(v(&c, "a_slow", &[]), Some(123));
    assert!(cached_objects(&store, &tenant).values().all(|n| *n == 1));
    // Compaction (hours, then the days rolled up): other segments, the same sums.
    let config = CompactionConfig {
        grace_nanos: 0,
        ..CompactionConfig::default()
    };
    let merged: usize = (0..3)
        .map(|i| {
            let report = run(store.as_ref(), &|| D + 30 * 24 * H + i * S, &config).unwrap();
            report.merged.len()
        })
        .sum();
    assert!(merged > 0);
    assert_eq!(same(&r), c);
    // A rule added later is computed over the history; the others come from the cache.
    let more = rules(&[
        ("a_total", "app.cpu", "total", &["env"]),
        ("a_slow", "app.cpu", "^main;slow", &[]),
        ("a_x", "app.cpu", "x$", &[]),
    ]);
    assert_eq!(v(&same(&more), "a_x", &[]), Some(7));
    // An unreadable entry is recomputed.
    for o in list_all(store.as_ref(), "tenants/anonymous/counters/").unwrap() {
        store
            .put(
                &o.key,
                bytes::Bytes::from_static(b"{not json"),
                PutMode::Overwrite,
            )
            .unwrap();
    }
    same(&more);
}

/// A first scrape computes every day: it lists them all first, then computes the days that
/// still have uploads, so that it lists and reads uploads within the L0 grace period of its
/// start (`storage::deadline`), however long the older, compacted days take.
#[test]
fn a_first_scrape_reads_the_uploads_before_computing_older_days() {
    use crate::compact::Graces;
    use crate::storage::deadline::Deadline;
    use crate::storage::recording::Recording;

    let recording = Arc::new(Recording::default());
    let store: SharedStore = recording.clone();
    let tenant = Tenant::from_header(None).unwrap();
    let r = rules(&[("a_total", "app.cpu", "total", &["env"])]);
    for day in 0..8 {
        upload(
            &store,
            &tenant,
            &[profile("prod", D + day * 24 * H + H, &[("main", 1)])],
        );
    }
    let config = CompactionConfig {
        grace_nanos: 0,
        ..CompactionConfig::default()
    };
    for i in 0..3 {
        run(store.as_ref(), &|| D + 30 * 24 * H + i * S, &config).unwrap();
    }
    assert!(
        list_all(store.as_ref(), "tenants/anonymous/l0/")
            .unwrap()
            .is_empty()
    );
    // Today's upload, not compacted yet.
    upload(
        &store,
        &tenant,
        &[profile("prod", D + 30 * 24 * H, &[("main", 100)])],
    );
    // Each read of a compacted segment takes 10 s; uploads may be listed and read for 12.
    recording.take();
    let reads = recording.clone();
    let slow = Deadline::wrap(
        store.clone(),
        Graces {
            all: 3600 * S,
            l0: 12 * S,
        },
        Arc::new(move || {
            let n = reads.count(|c| c.starts_with("get") && c.contains("/segments/"));
            n as i64 * 10 * S
        }),
    );
    let c = cached_counters(&slow, &tenant, &r).unwrap();
    assert_eq!(value(&c, "a_total", &["prod"]), Some(108));
    assert!(
        recording.count(|c| c.starts_with("get") && c.contains("/segments/")) >= 8,
        "the older days took longer than the L0 grace"
    );
}
