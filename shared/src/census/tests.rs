use std::sync::Arc;

use bytes::Bytes;
use ulid::Ulid;

use super::*;
use crate::compact::{CompactionConfig, run};
use crate::metrics::testing::ingest_folded;
use crate::retention::{Retention, expire};
use crate::storage::keys::Level;
use crate::storage::store::{MemoryStore, ObjectStore, PutMode};
use crate::time::NANOS_PER_SECOND as S;

/// 2023-11-15T00:00:00Z, in seconds.
const DAY0: i64 = 1_700_006_400;
const DAY: i64 = 86_400;
/// A pass's time once the test data's hours and days have closed.
const LATER: i64 = (DAY0 + 3 * DAY) * S;

fn tenant(id: &str) -> Tenant {
    Tenant::from_header(Some(id)).unwrap()
}

/// Every object of `tenant` in the store, as (count, bytes).
fn stored(mem: &MemoryStore, tenant: &Tenant) -> Usage {
    let mut usage = Usage::default();
    for key in mem.keys() {
        if key.starts_with(&tenant_prefix(tenant)) {
            usage.add(mem.get(&key).unwrap().len() as u64);
        }
    }
    usage
}

#[test]
fn a_census_sorts_every_object_by_level_and_shows_what_compaction_has_left() {
    let mem = Arc::new(MemoryStore::default());
    let store: SharedStore = mem.clone();
    let a = tenant("team-a");
    let before = crate::time::now_nanos();
    for i in 0..3 {
        ingest_folded(&store, &a, "app.cpu", DAY0 + 60 * i, "main;work 1\n");
    }
    ingest_folded(&store, &a, "app.cpu", DAY0 + DAY + 60, "main;idle 2\n");
    let bad = SegmentKey::new(&a, Level::L0, DAY0 * S, Ulid::new());
    let bad_key = bad.to_string();
    store
        .put(&bad_key, Bytes::from_static(b"garbage"), PutMode::Create)
        .unwrap();
    ingest_folded(&store, &tenant("team-b"), "app.cpu", DAY0, "main 1\n");

    // Before any compaction: every upload waits, the oldest since this test wrote it.
    let census = take(&store, Some(&a), LATER).unwrap();
    let t = &census.tenants[..];
    assert_eq!(t.len(), 1, "only the tenant asked for: {census:?}");
    let t = &t[0];
    assert_eq!(t.tenant, "team-a");
    assert_eq!(t.days.len(), 2);
    assert_eq!(t.levels.of(Class::L0).objects, 5);
    assert_eq!(t.uncompacted, t.levels.of(Class::L0));
    assert_eq!(t.levels.total(), stored(&mem, &a));
    let oldest = t.oldest_uncompacted.unwrap();
    assert!(
        oldest >= before / 1_000_000 * 1_000_000,
        "{oldest} {before}"
    );
    assert_eq!(t.compaction_lag_nanos(oldest + 5 * S), 5 * S);
    assert_eq!((t.last_compaction, t.quarantined()), (None, 0));

    // After a pass: nothing waits, the bad upload is quarantined with its reason, and every
    // object is counted once.
    let report = run(store.as_ref(), &|| LATER, &CompactionConfig::default()).unwrap();
    assert!(report.errors.is_empty(), "{report:?}");
    let census = take(&store, None, LATER).unwrap();
    let names: Vec<&str> = census.tenants.iter().map(|t| t.tenant.as_str()).collect();
    assert_eq!(names, ["team-a", "team-b"]);
    let t = &census.tenants[0];
    assert_eq!(t.levels.total(), stored(&mem, &a));
    assert_eq!(t.uncompacted, Usage::default());
    assert_eq!(t.compaction_lag_nanos(LATER), 0);
    assert_eq!(t.last_compaction, Some(LATER));
    assert_eq!(t.quarantined(), 1);
    let q = &t.days[0].quarantined[0];
    assert_eq!(q.key, bad_key);
    assert!(q.reason.contains("unreadable segment"), "{q:?}");
    assert_eq!(t.levels.of(Class::Quarantine).objects, 1);
    let segments = t.levels.of(Class::Hour).objects + t.levels.of(Class::Day).objects;
    assert_eq!(segments, 2, "one segment per day: {t:?}");
    assert!(t.days.iter().all(|d| d.manifest_version.is_some()));
    assert!(t.levels.of(Class::Manifest).objects >= 2);

    // A new upload waits again; a day retention deleted is counted and gone.
    ingest_folded(&store, &a, "app.cpu", DAY0 + DAY + 120, "main 3\n");
    // Day 0's profiles reach 01:00 of day 1; two days later it goes, day 1 stays.
    let now = LATER + 2 * crate::storage::keys::HOUR_NANOS;
    let retention = Retention::new(Some(2 * DAY * S));
    let deleted = expire(&store, &retention, 0, now, &|_| Ok(vec![])).unwrap();
    assert_eq!(deleted.days, ["team-a/2023-11-15", "team-b/2023-11-15"]);
    let census = take(&store, Some(&a), now).unwrap();
    let t = &census.tenants[0];
    assert_eq!(t.retention_deleted_days, 1);
    assert_eq!(
        t.days.iter().map(|d| d.day.as_str()).collect::<Vec<_>>(),
        ["2023-11-16"]
    );
    assert_eq!(t.uncompacted.objects, 1);
    assert!(t.compaction_lag_nanos(t.oldest_uncompacted.unwrap() + 1) == 1);
    // "Other": the retired-counters record retention keeps.
    assert!(t.levels.of(Class::Other).objects >= 1, "{t:?}");
    assert_eq!(t.levels.total(), stored(&mem, &a));
}

#[test]
fn a_census_reads_back_from_json_and_prints_a_table() {
    let mem = Arc::new(MemoryStore::default());
    let store: SharedStore = mem.clone();
    let a = tenant("team-a");
    ingest_folded(&store, &a, "app.cpu", DAY0, "main 1\n");
    run(store.as_ref(), &|| LATER, &CompactionConfig::default()).unwrap();
    ingest_folded(&store, &a, "app.cpu", DAY0 + 60, "main 1\n");
    let census = take(&store, None, LATER).unwrap();
    let json = serde_json::to_string(&census).unwrap();
    assert!(json.contains(r#""l0":{"objects":2,"#), "{json}");
    assert_eq!(serde_json::from_str::<Census>(&json).unwrap(), census);

    let table = census.table();
    assert!(
        table.starts_with("storage census at 2023-11-18T00:00:00Z\n"),
        "{table}"
    );
    assert!(table.contains("tenant team-a: 1 day, "), "{table}");
    assert!(
        table.contains("last compaction 2023-11-18T00:00:00Z"),
        "{table}"
    );
    let row = table.lines().find(|l| l.contains("2023-11-15")).unwrap();
    // l0 (two uploads, one merged), …, not merged (one).
    let cells: Vec<&str> = row
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(cells[0], "2023-11-15");
    assert!(cells[1].starts_with("2 / "), "{row}");
    assert!(cells.last().unwrap().starts_with("1 / "), "{row}");
    let nothing: SharedStore = Arc::new(MemoryStore::default());
    let empty = take(&nothing, None, 0).unwrap();
    assert!(empty.table().contains("no tenant has data"));
}
