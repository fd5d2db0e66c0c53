use std::sync::Arc;

use super::*;
use crate::compact::{CompactionConfig, run};
use crate::limits::QueryLimits;
use crate::metrics::cached_counters;
use crate::metrics::testing::{ingest_folded, rules};
use crate::query::{QueryContext, Wanted, select};
use crate::selector::Selector;
use crate::storage::keys::HOUR_NANOS;
use crate::storage::store::MemoryStore;
use crate::time::{NANOS_PER_SECOND as S, TimeRange};

/// 2023-11-15T00:00:00Z, in seconds.
const DAY0: i64 = 1_700_006_400;
const DAY: i64 = 86_400;

fn day(d: i64) -> Day {
    Day::of((DAY0 + d * DAY) * S)
}

#[test]
fn a_day_expires_once_its_last_profile_is_older_than_the_period_and_the_grace() {
    let days = [day(0), day(1), day(2)];
    let period = 2 * DAY * S;
    let grace = 600 * S;
    // Day 0's objects hold profiles up to 01:00 of day 1.
    let last = (DAY0 + DAY) * S + HOUR_NANOS;
    assert!(expired_days(&days, period, grace, last + period + grace - 1).is_empty());
    assert_eq!(
        expired_days(&days, period, grace, last + period + grace),
        [day(0)]
    );
    assert_eq!(
        expired_days(&days, period, 0, last + DAY * S + period),
        [day(0), day(1)]
    );
}

#[test]
fn periods_come_from_the_environment_with_per_tenant_overrides() {
    let env = |default: &'static str, overrides: &'static str| {
        move |name: &str| match name {
            Retention::ENV => Some(default.to_string()),
            Retention::ENV_OVERRIDES => Some(overrides.to_string()),
            _ => None,
        }
    };
    let r = Retention::from_config(env("31d", r#"{"team-a": "7d", "team-b": "0"}"#)).unwrap();
    let t = |id| Tenant::from_header(Some(id)).unwrap();
    assert_eq!(r.period(&t("x")), Some(31 * DAY * S));
    assert_eq!(r.period(&t("team-a")), Some(7 * DAY * S));
    assert_eq!(r.period(&t("team-b")), None);
    assert!(!r.is_off());
    assert!(Retention::from_config(env("0", "")).unwrap().is_off());
    let e = Retention::from_config(env("soon", "")).unwrap_err();
    assert!(e.to_string().contains("FLAMELET_RETENTION"), "{e}");
    let e = Retention::from_config(env("1d", r#"{"a": "x"}"#)).unwrap_err();
    assert!(e.to_string().contains("`x` for `a`"), "{e}");
}

#[test]
fn the_retention_is_a_lookback_for_queries() {
    let h = HOUR_NANOS;
    let limits = QueryLimits::default().with_retention(Some(48 * h));
    let cx = QueryContext {
        now_nanos: 100 * h,
        limits,
    };
    let r = cx.range_millis(1, 100 * h / 1_000_000).unwrap();
    assert_eq!(r.from, 52 * h, "clamped to the retention");
    let tighter = QueryLimits {
        max_query_lookback: Some(10 * h),
        ..QueryLimits::default()
    };
    assert_eq!(
        tighter.with_retention(Some(48 * h)).max_query_lookback,
        Some(10 * h)
    );
    assert_eq!(
        QueryLimits::default()
            .with_retention(None)
            .max_query_lookback,
        None
    );
}

/// A store with uploads on days 0 to 4 (one, at noon, crossing into the next day's first
/// hour on day 1), compacted.
fn stored() -> (SharedStore, Tenant) {
    let store: SharedStore = Arc::new(MemoryStore::default());
    let tenant = Tenant::from_header(Some("t")).unwrap();
    for d in 0..5 {
        let at = DAY0 + d * DAY + 12 * 3600;
        ingest_folded(
            &store,
            &tenant,
            "app.cpu{env=prod}",
            at,
            "main;slow 3\nmain 1\n",
        );
        ingest_folded(
            &store,
            &tenant,
            "app.cpu{env=dev}",
            at + 60,
            "main;slow 2\n",
        );
    }
    let late = DAY0 + 2 * DAY - 1800;
    ingest_folded(
        &store,
        &tenant,
        "app.cpu{env=prod}",
        late,
        "main;slow 100\n",
    );
    (store, tenant)
}

fn objects_of(store: &SharedStore, tenant: &Tenant, d: Day) -> usize {
    day_prefixes(tenant, d)
        .iter()
        .map(|p| list_all(store.as_ref(), p).unwrap().len())
        .sum()
}

fn total(store: &SharedStore, tenant: &Tenant) -> i64 {
    let range = TimeRange {
        from: DAY0 * S,
        until: (DAY0 + 6 * DAY) * S,
    };
    let selector = Selector::parse("app.cpu{}").unwrap();
    select(store, tenant, &selector, &range, Wanted::TOTALS)
        .unwrap()
        .profile_totals
        .values()
        .sum()
}

#[test]
fn expired_days_are_deleted_and_their_counters_kept() {
    let (store, tenant) = stored();
    let config = CompactionConfig {
        grace_nanos: 0,
        rollup_after_nanos: 0,
        ..CompactionConfig::default()
    };
    let now = (DAY0 + 5 * DAY) * S;
    run(store.as_ref(), &|| now, &config).unwrap();
    let r = rules(&[
        ("a_total", "app.cpu", "total", &[][..]),
        ("a_slow", "app.cpu", "slow", &["env"][..]),
    ]);
    let before = cached_counters(&store, &tenant, &r).unwrap();
    assert!(!before.values.is_empty());
    // Two days kept at the start of day 5 (and the hour after each day's end): days 0 and 1
    // are past it, day 2, on the boundary, is not.
    let retention = Retention::new(None).with_tenant("t", Some(2 * DAY * S));
    let now = (DAY0 + 4 * DAY) * S + 2 * HOUR_NANOS;
    let report = expire(&store, &retention, 0, now, &|_| Ok(r.clone())).unwrap();
    assert_eq!(report.days, ["t/2023-11-15", "t/2023-11-16"]);
    assert_eq!(objects_of(&store, &tenant, day(0)), 0);
    assert_eq!(objects_of(&store, &tenant, day(1)), 0);
    assert!(objects_of(&store, &tenant, day(2)) > 0);
    // The data is gone (the late upload of day 1 that ran into day 2 with it) ...
    assert_eq!(total(&store, &tenant), 3 * 6 * 10_000_000);
    // ... and the counters are what they were, from the next scrape on.
    assert_eq!(cached_counters(&store, &tenant, &r).unwrap(), before);
    // Again: nothing to do.
    let again = expire(&store, &retention, 0, now, &|_| Ok(r.clone())).unwrap();
    assert!(again.days.is_empty());
    assert_eq!(cached_counters(&store, &tenant, &r).unwrap(), before);
    // A rule added after the deletion counts what is left; one defined as an older one was
    // (another name) has its history.
    let later = rules(&[("b_slow", "app.cpu", "slow", &[])]);
    let c = cached_counters(&store, &tenant, &later).unwrap();
    assert_eq!(c.values.values().sum::<i64>(), 3 * 5 * 10_000_000);
    let renamed = rules(&[("b_total", "app.cpu", "total", &[])]);
    let c = cached_counters(&store, &tenant, &renamed).unwrap();
    assert_eq!(
        c.values.values().sum::<i64>(),
        before.values[&("a_total".into(), vec![])]
    );
    // Another tenant without a period keeps everything.
    let other = Tenant::from_header(Some("u")).unwrap();
    ingest_folded(&store, &other, "app.cpu{}", DAY0 + 600, "main 1\n");
    expire(&store, &retention, 0, now, &|_| Ok(r.clone())).unwrap();
    assert_eq!(objects_of(&store, &other, day(0)), 1);
}

#[test]
fn a_deletion_cut_short_neither_loses_nor_doubles_a_counter() {
    let (store, tenant) = stored();
    let r = rules(&[("a_total", "app.cpu", "total", &[])]);
    let before = cached_counters(&store, &tenant, &r).unwrap();
    // A compactor retired day 0 and died before deleting anything, another before deleting
    // its manifests: both days' leftovers count once, in the retired sums.
    retired::retire_day(&store, &tenant, &r, day(0)).unwrap();
    assert_eq!(cached_counters(&store, &tenant, &r).unwrap(), before);
    retired::retire_day(&store, &tenant, &r, day(1)).unwrap();
    let l0 =
        crate::storage::keys::SegmentKey::prefix(&tenant, crate::storage::keys::Level::L0, day(1));
    for o in list_all(store.as_ref(), &l0).unwrap().iter().take(1) {
        store.delete(&o.key).unwrap();
    }
    assert_eq!(cached_counters(&store, &tenant, &r).unwrap(), before);
    // The next pass finishes both without counting them again.
    let retention = Retention::new(Some(2 * DAY * S));
    let now = (DAY0 + 4 * DAY) * S + 2 * HOUR_NANOS;
    let report = expire(&store, &retention, 0, now, &|_| Ok(r.clone())).unwrap();
    assert_eq!(report.days.len(), 2);
    assert_eq!(cached_counters(&store, &tenant, &r).unwrap(), before);
}
