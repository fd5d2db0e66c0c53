use super::*;
use crate::ingest::{IngestRequest, ingest};
use crate::query::RenderRequest;
use crate::query::pyroscope::{Rendered, render};
use crate::storage::keys::{Day, Level, SegmentKey};
use crate::storage::manifest::Manifest;
use crate::storage::manifest::Scheduled;
use crate::storage::store::MemoryStore;
use crate::storage::store::PutMode;
use crate::storage::store::SharedStore;
use crate::tenant::Tenant;
use bytes::Bytes;
use std::sync::Arc;
use ulid::Ulid;

const T0: i64 = 1_700_000_000;
const S: i64 = crate::time::NANOS_PER_SECOND;
/// A pass's time once the test data's hours and days have closed.
const LATER: i64 = (T0 + 3 * 86_400) * S;
/// Hour compaction without day roll-ups.
const HOURS_ONLY: CompactionConfig = CompactionConfig {
    grace_nanos: DEFAULT_GRACE_NANOS,
    l0_grace_nanos: DEFAULT_L0_GRACE_NANOS,
    max_inputs: MAX_INPUTS_PER_MERGE,
    settle_nanos: HOUR_SETTLE_NANOS,
    open_hour_inputs: OPEN_HOUR_INPUTS,
    open_hour_wait_nanos: OPEN_HOUR_WAIT_NANOS,
    open_hour_segments: OPEN_HOUR_SEGMENTS,
    rollup_after_nanos: i64::MAX / 4,
    reroll_hour_segments: REROLL_HOUR_SEGMENTS,
    rollup_max_bytes: ROLLUP_MAX_BYTES,
    pass_nanos: DEFAULT_PASS_NANOS,
};

fn push(store: &dyn ObjectStore, tenant: &Tenant, name: &str, at: i64, body: &str) {
    let p: Vec<(String, String)> = [("name", name.to_string()), ("from", at.to_string())]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let req = IngestRequest {
        params: &p,
        content_type: None,
        body: body.as_bytes(),
    };
    ingest(store, tenant, &Default::default(), &req, 0).unwrap();
}

/// Five profiles of `app.cpu{env=a}` 10 s apart from T0 (`a(i)` the i-th's folded
/// stacks) and five of `env=b` an hour later.
fn two_series(store: &dyn ObjectStore, tenant: &Tenant, a: &dyn Fn(i64) -> String) {
    for i in 0..5 {
        push(store, tenant, "app.cpu{env=a}", T0 + i * 10, &a(i));
        push(
            store,
            tenant,
            "app.cpu{env=b}",
            T0 + 4000 + i,
            "main;work 1\n",
        );
    }
}

fn render_json(store: &SharedStore, tenant: &Tenant, q: &str) -> String {
    render_range(store, tenant, q, T0 - 7200, T0 + 7200)
}

/// The render (flame graph and timeline) of `q` over [from, until] (seconds) as JSON.
fn render_range(store: &SharedStore, tenant: &Tenant, q: &str, from: i64, until: i64) -> String {
    let p: Vec<(String, String)> = [
        ("query", q.to_string()),
        ("from", from.to_string()),
        ("until", until.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let req = RenderRequest::from_params(&p, &crate::query::QueryContext::at(0)).unwrap();
    match render(store, tenant, &req).unwrap() {
        Rendered::Json(r) => serde_json::to_string(&r).unwrap(),
        Rendered::Dot(d) => d,
    }
}

/// Scans `app.cpu{}` over `[from, until]` (ns) with `reads`, one `f` of each part read.
fn scan_parts<T>(
    store: &SharedStore,
    tenant: &Tenant,
    (from, until): (i64, i64),
    reads: crate::query::Reads,
    mut f: impl FnMut(&mut crate::query::Part<'_>) -> T,
) -> Vec<T> {
    let selector = crate::selector::Selector::parse("app.cpu{}").unwrap();
    let range = crate::time::TimeRange { from, until };
    let filter = crate::query::SampleFilter::default();
    let mut out = Vec::new();
    crate::query::scan(
        store,
        tenant,
        &selector,
        &range,
        &filter,
        reads,
        |mut part| {
            out.push(f(&mut part));
            Ok(())
        },
    )
    .unwrap();
    out
}

#[test]
fn grace_period_from_config() {
    let get = |v: &'static str| move |_: &str| Some(v.to_string());
    assert_eq!(
        CompactionConfig::from_config(get("30"))
            .unwrap()
            .grace_nanos,
        30 * S
    );
    assert_eq!(
        CompactionConfig::from_config(|_| None).unwrap().grace_nanos,
        DEFAULT_GRACE_NANOS
    );
    for bad in ["-1", "ten", "1.5"] {
        let e = CompactionConfig::from_config(get(bad)).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Internal);
        assert_eq!(
            e.to_string(),
            format!("FLAMELET_COMPACTION_GRACE_SECONDS=`{bad}` is not a whole number of seconds")
        );
    }
}

#[test]
fn plan_covers_every_l0_once() {
    let tenant = Tenant::from_header(None).unwrap();
    let keys: Vec<SegmentKey> = (0..10)
        .map(|i| SegmentKey::new(&tenant, Level::L0, (T0 + i * 1000) * S, Ulid::new()))
        .collect();
    let day = Day::of(T0 * S);
    let p = plan(
        day,
        &Manifest::default(),
        &keys,
        LATER,
        &CompactionConfig::default(),
    );
    let mut all: Vec<String> = p.merges.iter().flat_map(|m| m.inputs.clone()).collect();
    all.sort();
    let mut expected: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    expected.sort();
    assert_eq!(all, expected);
    let m = Manifest {
        covered: expected
            .iter()
            .map(|k| Scheduled {
                key: k.clone(),
                delete_after: 5,
            })
            .collect(),
        ..Manifest::default()
    };
    let p = plan(day, &m, &keys, 4, &CompactionConfig::default());
    assert!(p.is_empty());
    let p = plan(day, &m, &keys, 5, &CompactionConfig::default());
    assert_eq!(p.deletions.len(), 10);
}

#[test]
fn an_unreadable_l0_is_quarantined_and_the_rest_compacted() {
    let mem = Arc::new(MemoryStore::default());
    let store: SharedStore = mem.clone();
    let tenant = Tenant::from_header(None).unwrap();
    push(store.as_ref(), &tenant, "app.cpu", T0, "a 1\n");
    push(store.as_ref(), &tenant, "app.cpu", T0 + 86_400, "a 1\n");
    let bad = SegmentKey::new(&tenant, Level::L0, T0 * S, Ulid::new());
    store
        .put(
            &bad.to_string(),
            Bytes::from_static(b"garbage"),
            PutMode::Create,
        )
        .unwrap();
    let range = |from: i64| render_range(&store, &tenant, "app.cpu{}", from - 60, from + 60);
    // Before compaction, a query over the bad segment fails; the other day answers.
    let p: Vec<(String, String)> = vec![
        ("query".into(), "app.cpu{}".into()),
        ("from".into(), (T0 - 60).to_string()),
        ("until".into(), (T0 + 60).to_string()),
    ];
    let req = RenderRequest::from_params(&p, &crate::query::QueryContext::at(0)).unwrap();
    assert!(render(&store, &tenant, &req).is_err());
    let other_day = range(T0 + 86_400);

    let report = run(store.as_ref(), &|| LATER, &CompactionConfig::default()).unwrap();
    assert!(report.errors.is_empty(), "{report:?}");
    assert_eq!(report.quarantined.len(), 1, "{report:?}");
    assert!(
        report.quarantined[0].starts_with(&format!("{bad}: unreadable segment")),
        "{report:?}"
    );
    assert_eq!(report.published.len(), 2, "both days: {report:?}");
    assert_eq!(report.merged.iter().map(|m| m.l0_inputs).sum::<usize>(), 2);
    // Recorded in the manifest and beside it; kept, and skipped by queries.
    let (_, m) = manifest::load_latest(store.as_ref(), &tenant, Day::of(T0 * S))
        .unwrap()
        .unwrap();
    assert_eq!(m.quarantined.len(), 1);
    assert_eq!(m.quarantined[0].key, bad.to_string());
    assert!(m.covered.iter().all(|c| c.key != bad.to_string()));
    assert!(mem.keys().contains(&bad.quarantine_record()));
    assert!(range(T0).contains("\"numTicks\":1"), "{}", range(T0));
    assert_eq!(range(T0 + 86_400), other_day);
    // Later passes leave it alone, and never delete it.
    let config = CompactionConfig {
        grace_nanos: 0,
        ..CompactionConfig::default()
    };
    for i in 1..3 {
        let again = run(store.as_ref(), &|| LATER + i, &config).unwrap();
        assert!(
            again.quarantined.is_empty() && again.merged.is_empty(),
            "{again:?}"
        );
    }
    assert!(mem.keys().contains(&bad.to_string()));
}

#[test]
fn orphans_are_swept_after_grace_and_the_longest_pass() {
    let mem = Arc::new(MemoryStore::default());
    let store: SharedStore = mem.clone();
    let tenant = Tenant::from_header(None).unwrap();
    push(store.as_ref(), &tenant, "app.cpu", T0, "a 1\n");
    let config = CompactionConfig::default();
    run(store.as_ref(), &|| LATER, &config).unwrap();
    // Segments a killed or losing compactor wrote and never published: one long ago,
    // one just now (its writer may still be about to publish it).
    let written_at = |nanos: i64| Ulid::from_parts((nanos / 1_000_000) as u64, 7);
    let old = SegmentKey::new(&tenant, Level::Compacted, T0 * S, written_at(LATER));
    let young_at = LATER + 3600 * S;
    let young = SegmentKey::new(&tenant, Level::Compacted, T0 * S, written_at(young_at));
    for k in [&old, &young] {
        store
            .put(&k.to_string(), Bytes::from_static(b"x"), PutMode::Create)
            .unwrap();
    }
    let before = render_range(&store, &tenant, "app.cpu{}", T0 - 60, T0 + 60);
    let sweep = run(store.as_ref(), &|| young_at, &config).unwrap();
    assert_eq!(sweep.orphans, [old.to_string()], "{sweep:?}");
    let keys = mem.keys();
    assert!(!keys.contains(&old.to_string()) && keys.contains(&young.to_string()));
    let limit = config.grace_nanos + config.longest_pass_nanos();
    let later = run(store.as_ref(), &|| young_at + limit + S, &config).unwrap();
    assert_eq!(later.orphans, [young.to_string()], "{later:?}");
    // The published segment stays, and so does the answer.
    assert_eq!(
        mem.keys()
            .iter()
            .filter(|k| k.contains("/segments/"))
            .count(),
        1
    );
    assert_eq!(
        render_range(&store, &tenant, "app.cpu{}", T0 - 60, T0 + 60),
        before
    );
    assert!(
        !mem.keys().iter().any(|k| k.contains("/leases/")),
        "leases released"
    );
}

#[test]
fn a_pass_stops_at_its_budget_and_keeps_what_it_published() {
    let store: SharedStore = Arc::new(MemoryStore::default());
    let tenant = Tenant::from_header(None).unwrap();
    for h in 0..4 {
        push(store.as_ref(), &tenant, "app.cpu", T0 + h * 3600, "a 1\n");
    }
    let before = render_range(&store, &tenant, "app.cpu{}", T0 - 60, T0 + 4 * 3600);
    // Each clock reading a minute later; a budget of ten minutes.
    let readings = std::cell::Cell::new(LATER);
    let clock = || {
        readings.set(readings.get() + 60 * S);
        readings.get()
    };
    let config = CompactionConfig {
        pass_nanos: 600 * S,
        grace_nanos: i64::MAX / 4,
        ..HOURS_ONLY
    };
    let first = run(store.as_ref(), &clock, &config).unwrap();
    assert!(!first.unfinished.is_empty(), "{first:?}");
    let done = first.merged.len();
    assert!(done > 0 && done < 4, "{first:?}");
    assert_eq!(
        first.published.len(),
        done,
        "one version per merge: {first:?}"
    );
    assert_eq!(
        render_range(&store, &tenant, "app.cpu{}", T0 - 60, T0 + 4 * 3600),
        before
    );
    let mut merged = done;
    while merged < 4 {
        let next = run(store.as_ref(), &clock, &config).unwrap();
        assert!(
            !next.merged.is_empty(),
            "each pass makes progress: {next:?}"
        );
        merged += next.merged.len();
    }
    assert_eq!(merged, 4);
    assert_eq!(
        render_range(&store, &tenant, "app.cpu{}", T0 - 60, T0 + 4 * 3600),
        before
    );
}

#[test]
fn a_day_under_another_compactors_lease_is_left_alone() {
    let store: SharedStore = Arc::new(MemoryStore::default());
    let tenant = Tenant::from_header(None).unwrap();
    push(store.as_ref(), &tenant, "app.cpu", T0, "a 1\n");
    let config = CompactionConfig::default();
    let day = Day::of(T0 * S);
    let held = lease::acquire(store.as_ref(), &tenant, day, LATER, 60 * S)
        .unwrap()
        .unwrap();
    let r = run(store.as_ref(), &|| LATER + S, &config).unwrap();
    assert_eq!(r.leased, [format!("{tenant} {day}")], "{r:?}");
    assert!(r.merged.is_empty() && r.published.is_empty());
    held.release(store.as_ref()).unwrap();
    let r = run(store.as_ref(), &|| LATER + 2 * S, &config).unwrap();
    assert_eq!(r.merged.len(), 1, "{r:?}");
    // A killed compactor's lease, with nothing else to do: cleared once it has expired.
    let leases = |store: &SharedStore| {
        let prefix = crate::storage::keys::LeaseKey::prefix(&tenant, day);
        crate::storage::store::list_all(store.as_ref(), &prefix)
            .unwrap()
            .len()
    };
    let killed = lease::acquire(store.as_ref(), &tenant, day, LATER + 3 * S, 60 * S).unwrap();
    assert!(killed.is_some());
    let r = run(store.as_ref(), &|| LATER + 4 * S, &config).unwrap();
    assert_eq!(r.leased.len(), 1, "{r:?}");
    assert_eq!(leases(&store), 1);
    run(store.as_ref(), &|| LATER + 64 * S, &config).unwrap();
    assert_eq!(leases(&store), 0);
}

#[test]
fn compaction_keeps_answers_and_cleans_up() {
    let mem = Arc::new(MemoryStore::default());
    let store: SharedStore = mem.clone();
    let tenant = Tenant::from_header(None).unwrap();
    two_series(store.as_ref(), &tenant, &|_| {
        "main;work 3\nmain;idle 1\n".to_string()
    });
    let q = "app.cpu{}";
    let before = render_json(&store, &tenant, q);
    let config = CompactionConfig {
        grace_nanos: 100,
        max_inputs: 3,
        ..HOURS_ONLY
    };
    // Two hours of five uploads, three per merge: a pass merges each hour twice, the second
    // time planned from the version the first published.
    let r1 = run(store.as_ref(), &|| LATER + 1_000, &config).unwrap();
    let inputs: Vec<usize> = r1.merged.iter().map(|m| m.l0_inputs).collect();
    assert_eq!(inputs, [3, 3, 2, 2]);
    assert_eq!(render_json(&store, &tenant, q), before);
    let r2 = run(store.as_ref(), &|| LATER + 1_050, &config).unwrap();
    assert!(r2.merged.is_empty(), "{r2:?}");
    assert_eq!(render_json(&store, &tenant, q), before);
    // Past the grace period everything replaced goes away; answers stay.
    run(store.as_ref(), &|| LATER + 10_000, &config).unwrap();
    run(store.as_ref(), &|| LATER + 20_000, &config).unwrap();
    assert_eq!(render_json(&store, &tenant, q), before);
    let keys = mem.keys();
    assert!(!keys.iter().any(|k| k.contains("/l0/")), "{keys:?}");
    assert_eq!(
        keys.iter().filter(|k| k.contains("/segments/")).count(),
        2,
        "{keys:?}"
    );
    // The newest version, and its predecessor until the grace period ends.
    assert_eq!(
        keys.iter().filter(|k| k.contains("/manifests/")).count(),
        2,
        "{keys:?}"
    );
}

#[test]
fn stack_sums_answer_exactly_what_the_rows_do() {
    let store: SharedStore = Arc::new(MemoryStore::default());
    let tenant = Tenant::from_header(None).unwrap();
    two_series(store.as_ref(), &tenant, &|i| {
        format!("main;work {}\nmain;idle 1\nmain;work;deep {i}\n", 3 + i)
    });
    // One profile early in each of three hours (T0 is 800 s into its hour).
    for h in 1..4 {
        let at = T0 + 2800 + (h - 1) * 3600 + 100;
        push(
            store.as_ref(),
            &tenant,
            "app.cpu{env=c}",
            at,
            &format!("main;c{h} {h}\n"),
        );
    }
    // And one exactly at an hour's start, and one in its last second.
    push(
        store.as_ref(),
        &tenant,
        "app.cpu{env=c}",
        T0 + 6400,
        "main;edge 7\n",
    );
    push(
        store.as_ref(),
        &tenant,
        "app.cpu{env=c}",
        T0 + 9999,
        "main;late 5\n",
    );
    // A second service in the same hours, sharing frames with the first: compacted
    // segments hold it in a partition of its own, after `app`'s.
    for (at, body) in [
        (T0 + 5, "main;work 2\nmain;theirs 4\n"),
        (T0 + 4001, "main;x;y 3\n"),
    ] {
        push(store.as_ref(), &tenant, "other.cpu{env=a}", at, body);
    }
    // Whole hours (sums), ranges that cut an hour (rows there), ends exactly on a
    // segment's first and last profile (rows: no whole hour), and a selection of one
    // series; the second service alone and both together.
    let cases = [
        ("other.cpu{}", T0 - 7200, T0 + 7200),
        ("other.cpu{}", T0 + 15, T0 + 7200),
        ("other.cpu{}", T0 - 80_000, T0 - 80_000 + 2 * 86_400 - 1),
        (
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds{env=\"a\"}",
            T0 - 7200,
            T0 + 7200,
        ),
        ("app.cpu{}", T0 - 7200, T0 + 7200),
        ("app.cpu{}", T0 + 15, T0 + 7200),
        ("app.cpu{}", T0 - 7200, T0 + 4002),
        ("app.cpu{}", T0, T0 + 40),
        ("app.cpu{env=\"b\"}", T0, T0 + 7200),
        // Cuts the first of env=c's hours after its profile, covers the second, and cuts
        // the third after its profile: rows, sums, rows.
        ("app.cpu{env=\"c\"}", T0 + 3000, T0 + 10_150),
        ("app.cpu{env=\"c\"}", T0 + 2900, T0 + 10_099),
        // Whole UTC days (T0 is 80 000 s into 2023-11-14): both, the first and a cut of the
        // second, and the second alone.
        ("app.cpu{}", T0 - 80_000, T0 - 80_000 + 2 * 86_400 - 1),
        ("app.cpu{}", T0 - 80_000, T0 + 7200),
        (
            "app.cpu{}",
            T0 - 80_000 + 86_400,
            T0 - 80_000 + 2 * 86_400 - 1,
        ),
    ];
    let answers = |store: &SharedStore| -> Vec<String> {
        cases
            .iter()
            .map(|(q, from, until)| render_range(store, &tenant, q, *from, *until))
            .collect()
    };
    let before = answers(&store);
    assert!(before[0].contains("theirs") && !before[0].contains("deep"));
    assert!(before[2].contains("theirs"), "{}", before[2]);
    assert!(before[3].contains("theirs") && before[3].contains("deep"));
    let config = CompactionConfig {
        grace_nanos: 100,
        max_inputs: 100,
        ..HOURS_ONLY
    };
    run(store.as_ref(), &|| LATER + 1_000, &config).unwrap();
    assert_eq!(answers(&store), before, "after hour compaction");
    // And the sums were what answered the whole hours.
    let sums = crate::query::Reads {
        sums: true,
        stacks: true,
        ..Default::default()
    };
    let summed = |from: i64, until: i64| {
        scan_parts(&store, &tenant, (from * S, until * S), sums, |p| {
            p.summed > 0
        })
    };
    assert_eq!(summed(T0 - 7200, T0 + 7200), [true, true, false]);
    assert_eq!(summed(T0 + 15, T0 + 7200), [false, true, false]);
    // Totals only (SelectSeries): the whole hours' profile totals, no stack sums read.
    let only_totals = crate::query::Reads {
        sums: true,
        stacks: false,
        profile_totals: true,
        ..Default::default()
    };
    let range = ((T0 - 7200) * S, (T0 + 7200) * S);
    let totals = scan_parts(&store, &tenant, range, only_totals, |p| {
        (p.summed, p.profile_totals.len())
    });
    assert_eq!(totals[..2], [(0, 5), (0, 6)], "{totals:?}");
    assert!(totals.iter().all(|(summed, _)| *summed == 0), "{totals:?}");

    // Rolled up: one segment per day (T0 is 22:13 UTC, so env=c's second hour starts the
    // next day); the same answers.
    let rolled = run(
        store.as_ref(),
        &|| LATER + 2_000,
        &CompactionConfig::default(),
    )
    .unwrap();
    assert_eq!(rolled.merged.len(), 2, "{rolled:?}");
    assert!(rolled.merged.iter().all(|m| m.day && m.replaced_existing));
    assert_eq!(answers(&store), before, "after the day roll-up");
    assert_eq!(summed(T0 - 7200, T0 + 7200), [true, false]);
    assert_eq!(summed(T0 + 15, T0 + 7200), [true, false]);
    // Whole days are answered from the day segments' day sums: summed rows stamped with the
    // day's start.
    let range = ((T0 - 80_000) * S, (T0 - 80_000 + 2 * 86_400) * S - 1);
    let stamps: Vec<i64> = scan_parts(&store, &tenant, range, sums, |p| {
        assert_eq!(p.summed, p.samples.len(), "nothing from rows");
        p.samples.time.clone()
    })
    .concat();
    let day = 86_400 * S;
    assert!(
        !stamps.is_empty() && stamps.iter().all(|t| t % day == 0),
        "{stamps:?}"
    );
    // Asked for fingerprints, a day segment within whole days comes as its day sums with
    // each stack's path fingerprint, the trie unread until asked for; a range that cuts the
    // day reads the trie as before.
    let fingerprinted = crate::query::Reads {
        fingerprints: true,
        ..sums
    };
    let parts = scan_parts(&store, &tenant, range, fingerprinted, |p| {
        assert!(p.nodes.is_empty() && p.strings.is_empty(), "trie unread");
        assert_eq!(p.fingerprints.len(), p.samples.len());
        let fingerprints = p.fingerprints.clone();
        p.read_trie().unwrap();
        let paths = crate::storage::segment::path_fingerprints(&p.nodes, &p.strings).unwrap();
        for (i, fp) in fingerprints.iter().enumerate() {
            assert_eq!(*fp, paths[p.samples.stack[i] as usize]);
        }
        fingerprints.len()
    });
    assert_eq!(parts.len(), 2, "both days");
    assert!(parts.iter().all(|n| *n > 0));
    let cut = ((T0 - 80_000) * S, (T0 + 7200) * S);
    let unread = scan_parts(&store, &tenant, cut, fingerprinted, |p| p.nodes.is_empty());
    assert_eq!(unread, [true, false], "the first day whole, the second cut");
}

#[test]
fn late_data_after_a_roll_up_waits_beside_it_and_is_folded_in() {
    let store: SharedStore = Arc::new(MemoryStore::default());
    let tenant = Tenant::from_header(None).unwrap();
    for i in 0..3 {
        push(
            store.as_ref(),
            &tenant,
            "app.cpu",
            T0 - 3600 * i,
            "main;work 2\n",
        );
    }
    let config = CompactionConfig {
        grace_nanos: 100,
        reroll_hour_segments: 2,
        ..CompactionConfig::default()
    };
    let q = "app.cpu{}";
    let day = Day::of(T0 * S);
    let segments = |store: &SharedStore| {
        let (_, m) = manifest::load_latest(store.as_ref(), &tenant, day)
            .unwrap()
            .unwrap();
        m.segments
            .iter()
            .map(|s| (s.day, s.hour))
            .collect::<Vec<_>>()
    };
    run(store.as_ref(), &|| LATER, &config).unwrap();
    assert_eq!(segments(&store), [(true, 0)]);
    // Late data: two hours' worth, merged beside the day segment one pass at a time.
    push(
        store.as_ref(),
        &tenant,
        "app.cpu",
        T0 - 7 * 3600,
        "main;late 1\n",
    );
    let before = render_range(&store, &tenant, q, T0 - 86_400, T0 + 7200);
    assert!(before.contains("late"), "{before}");
    run(store.as_ref(), &|| LATER + 1, &config).unwrap();
    assert_eq!(segments(&store).len(), 2, "{:?}", segments(&store));
    assert_eq!(
        render_range(&store, &tenant, q, T0 - 86_400, T0 + 7200),
        before
    );
    push(
        store.as_ref(),
        &tenant,
        "app.cpu",
        T0 - 8 * 3600,
        "main;later 1\n",
    );
    let before = render_range(&store, &tenant, q, T0 - 86_400, T0 + 7200);
    run(store.as_ref(), &|| LATER + 2, &config).unwrap();
    assert_eq!(segments(&store).len(), 3, "{:?}", segments(&store));
    // Two hour segments beside it: the next pass rolls the day up again.
    let r = run(store.as_ref(), &|| LATER + 3, &config).unwrap();
    assert!(r.merged.len() == 1 && r.merged[0].day, "{r:?}");
    assert_eq!(segments(&store), [(true, 0)]);
    assert_eq!(
        render_range(&store, &tenant, q, T0 - 86_400, T0 + 7200),
        before
    );
}

#[test]
fn the_grace_period_starts_at_the_publish_not_at_the_plan() {
    let store: SharedStore = Arc::new(MemoryStore::default());
    let tenant = Tenant::from_header(None).unwrap();
    for i in 0..3 {
        push(store.as_ref(), &tenant, "app.cpu", T0 + i, "main;work 1\n");
    }
    // A clock an hour later at every reading: a slow pass.
    let readings = std::cell::Cell::new(LATER);
    let clock = || {
        readings.set(readings.get() + 3600 * S);
        readings.get()
    };
    let config = CompactionConfig {
        grace_nanos: 600 * S,
        max_inputs: 100,
        pass_nanos: i64::MAX / 4,
        ..CompactionConfig::default()
    };
    run(store.as_ref(), &clock, &config).unwrap();
    let day = Day::of(T0 * S);
    let (first, m) = manifest::load_latest(store.as_ref(), &tenant, day)
        .unwrap()
        .unwrap();
    assert_eq!(m.covered.len(), 3);
    let last = readings.get();
    assert!(
        last >= LATER + 2 * 3600 * S,
        "planned, then published later"
    );
    // Merged L0 segments are deleted after the L0 grace, the rest after the whole one.
    for c in &m.covered {
        assert_eq!(c.delete_after, last + DEFAULT_L0_GRACE_NANOS);
    }
    assert_eq!(m.created_at, last);
    // A second pass (late data, merged beside the first pass's roll-up) replaces the first
    // version, which is scheduled from that pass's publish, with the whole grace period.
    for i in 3..5 {
        push(store.as_ref(), &tenant, "app.cpu", T0 + i, "main;work 1\n");
    }
    run(store.as_ref(), &clock, &config).unwrap();
    let (_, m2) = manifest::load_latest(store.as_ref(), &tenant, day)
        .unwrap()
        .unwrap();
    let last = readings.get();
    assert_eq!(m2.created_at, last);
    let replaced: Vec<&str> = m2.pending_deletes.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(replaced, [first.to_string()]);
    for p in &m2.pending_deletes {
        assert_eq!(p.delete_after, last + config.grace_nanos);
    }
    // The first pass's merged uploads were due, so the second deleted them.
    assert_eq!(m2.covered.len(), 2);
}

#[test]
fn the_l0_grace_period_is_read_from_its_variable_and_never_exceeds_the_grace_period() {
    let config = |pairs: &[(&str, &str)]| {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        CompactionConfig::from_config(|name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    };
    let l0 = CompactionConfig::ENV_L0_GRACE_SECONDS;
    let all = CompactionConfig::ENV_GRACE_SECONDS;
    let c = config(&[]).unwrap();
    assert_eq!(
        (c.grace_nanos, c.l0_grace()),
        (DEFAULT_GRACE_NANOS, DEFAULT_L0_GRACE_NANOS)
    );
    let c = config(&[(l0, "5")]).unwrap();
    assert_eq!(c.l0_grace(), 5 * S);
    // A grace period shorter than the L0 one shortens both (a grace of 0 deletes at once).
    let c = config(&[(l0, "90"), (all, "0")]).unwrap();
    assert_eq!((c.grace_nanos, c.l0_grace()), (0, 0));
    // The default L0 grace too.
    let graces = CompactionConfig::graces_from_config(|name| (name == all).then(|| "10".into()));
    assert_eq!(
        graces.unwrap(),
        Graces {
            all: 10 * S,
            l0: 10 * S
        }
    );
    let e = config(&[(l0, "soon")]).unwrap_err();
    assert!(e.to_string().contains(l0), "{e}");
}

#[test]
fn a_large_day_is_rolled_up_in_bounded_steps() {
    let store: SharedStore = Arc::new(MemoryStore::default());
    let tenant = Tenant::from_header(None).unwrap();
    for h in 0..4 {
        let at = T0 - 10 * 3600 + h * 3600;
        push(
            store.as_ref(),
            &tenant,
            "app.cpu",
            at,
            &format!("main;h{h} {}\n", h + 1),
        );
    }
    let q = |store: &SharedStore| render_range(store, &tenant, "app.cpu{}", T0 - 11 * 3600, T0);
    let before = q(&store);
    run(store.as_ref(), &|| LATER, &HOURS_ONLY).unwrap();
    let day = Day::of(T0 * S);
    let segments = |store: &SharedStore| {
        let (_, m) = manifest::load_latest(store.as_ref(), &tenant, day)
            .unwrap()
            .unwrap();
        m.segments
            .iter()
            .map(|s| (s.day, s.hour))
            .collect::<Vec<_>>()
    };
    assert_eq!(segments(&store).len(), 4);
    // A budget below one hour segment: each step takes one more hour into the day segment.
    let config = CompactionConfig {
        rollup_max_bytes: 1,
        reroll_hour_segments: 1,
        ..CompactionConfig::default()
    };
    let mut steps = 0;
    while segments(&store) != [(true, 0)] {
        steps += 1;
        assert!(steps <= 4, "{:?}", segments(&store));
        let r = run(store.as_ref(), &|| LATER + steps, &config).unwrap();
        assert!(r.merged.len() == 1 && r.merged[0].day, "{r:?}");
        assert_eq!(segments(&store).len(), 4 - steps as usize + 1);
        assert_eq!(q(&store), before, "after step {steps}");
    }
    assert_eq!(steps, 4);
}

/// The fresh hour of a "last hour" query: the range cuts the segment's hour, but every sample
/// of the segment lies inside it, so its sums answer (the same as its rows did before
/// compaction); a range that cuts its samples reads its rows.
#[test]
fn a_segment_inside_a_range_that_cuts_its_hour_is_answered_from_its_sums() {
    let store: SharedStore = Arc::new(MemoryStore::default());
    let tenant = Tenant::from_header(None).unwrap();
    for (i, at) in [T0 + 100, T0 + 200, T0 + 300].into_iter().enumerate() {
        let body = format!("main;work {}\nmain;idle 1\n", i + 1);
        push(store.as_ref(), &tenant, "app.cpu{env=a}", at, &body);
    }
    let ranges = [(T0 + 50, T0 + 400), (T0 + 150, T0 + 400)];
    let answers = |store: &SharedStore| -> Vec<String> {
        ranges
            .iter()
            .map(|(from, until)| render_range(store, &tenant, "app.cpu{}", *from, *until))
            .collect()
    };
    let before = answers(&store);
    let config = CompactionConfig {
        grace_nanos: 100,
        max_inputs: 100,
        ..HOURS_ONLY
    };
    let report = run(store.as_ref(), &|| LATER, &config).unwrap();
    assert_eq!(report.merged.len(), 1, "{report:?}");
    assert_eq!(answers(&store), before);
    let reads = crate::query::Reads {
        sums: true,
        stacks: true,
        profile_totals: true,
        ..Default::default()
    };
    let read = |(from, until): (i64, i64)| {
        scan_parts(&store, &tenant, (from * S, until * S), reads, |p| {
            (p.summed, p.samples.len(), p.profile_totals.len())
        })
    };
    // Two stacks summed, three profiles' totals, no row.
    assert_eq!(read(ranges[0]), [(2, 2, 3)]);
    // Rows: the two stacks of each of the last two profiles.
    assert_eq!(read(ranges[1]), [(0, 4, 0)]);
}

#[test]
fn scheduled_events_run_the_whole_pass_once_a_minute_and_the_open_hours_between() {
    // 1_699_999_980 is a whole minute.
    assert_eq!(Scope::of_scheduled(1_699_999_980), Scope::AllDays);
    // Once a minute: an event stamped a second late (Spin stamps the time it fired) leaves
    // the whole pass to the next minute.
    assert_eq!(Scope::of_scheduled(1_699_999_981), Scope::OpenHours);
    assert_eq!(Scope::of_scheduled(1_699_999_982), Scope::OpenHours);
    assert_eq!(Scope::of_scheduled(1_700_000_039), Scope::OpenHours);
    assert_eq!(Scope::from_param(None), Ok(Scope::AllDays));
    assert_eq!(Scope::from_param(Some("all")), Ok(Scope::AllDays));
    assert_eq!(Scope::from_param(Some("open-hours")), Ok(Scope::OpenHours));
    let e = Scope::from_param(Some("open")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown compaction scope `open`: use all or open-hours"
    );
    let config = CompactionConfig::default();
    let midnight = Day::of(T0 * S).start_nanos() + 86_400 * S;
    let (yesterday, today) = (Day::of(midnight - S), Day::of(midnight));
    // The hour before midnight settles until 00:05; until then both days are open.
    for (now, days) in [
        (midnight + 30 * 60 * S, vec![yesterday, today]),
        (
            midnight + 3600 * S + HOUR_SETTLE_NANOS - S,
            vec![yesterday, today],
        ),
        (midnight + 3600 * S + HOUR_SETTLE_NANOS, vec![today]),
        (midnight - S, vec![yesterday]),
    ] {
        assert_eq!(Scope::open_days(now, &config), days, "at {now}");
    }
}

#[test]
fn an_open_hours_pass_compacts_the_fresh_hour_and_leaves_older_days_to_the_whole_pass() {
    let mem = Arc::new(MemoryStore::default());
    let store: SharedStore = mem.clone();
    let tenant = Tenant::from_header(None).unwrap();
    let config = CompactionConfig::default();
    // T0 is 800 s into its hour: at NOW the hour is open, with enough new L0 segments to be due.
    let now = (T0 + 200) * S;
    for i in 0..config.open_hour_inputs as i64 {
        push(store.as_ref(), &tenant, "app.cpu", T0 + i, "main;work 1\n");
    }
    // Three days earlier: long closed and due for its roll-up.
    push(
        store.as_ref(),
        &tenant,
        "app.cpu",
        T0 - 3 * 86_400,
        "old 1\n",
    );
    let old = Day::of((T0 - 3 * 86_400) * S);
    let all =
        |store: &SharedStore| render_range(store, &tenant, "app.cpu{}", T0 - 4 * 86_400, T0 + 3600);
    let before = all(&store);
    let r = run_in(store.as_ref(), &|| now, &config, Scope::OpenHours).unwrap();
    let inputs: Vec<usize> = r.merged.iter().map(|m| m.l0_inputs).collect();
    assert_eq!(inputs, [config.open_hour_inputs], "{r:?}");
    assert!(
        manifest::load_latest(store.as_ref(), &tenant, old)
            .unwrap()
            .is_none(),
        "an open-hours pass left the old day alone"
    );
    let r = run(store.as_ref(), &|| now + S, &config).unwrap();
    assert_eq!(r.merged.len(), 1, "{r:?}");
    assert!(r.merged[0].day, "the old day rolled up: {r:?}");
    assert!(r.merged[0].output.contains(&old.to_string()), "{r:?}");
    assert_eq!(all(&store), before);
}

#[test]
fn an_open_hours_pass_probes_a_day_for_uploads_and_leaves_sweeping_to_the_whole_pass() {
    let store = crate::storage::recording::Recording::default();
    let tenant = Tenant::from_header(None).unwrap();
    let config = CompactionConfig::default();
    let now = (T0 + 200) * S;
    let day = Day::of(T0 * S);
    // What a killed compactor leaves in the open day: a segment it never published and its
    // lease, both long expired.
    let limit = config.grace_nanos + config.longest_pass_nanos();
    let at = now - 2 * limit;
    let orphan = SegmentKey::new(
        &tenant,
        Level::Compacted,
        T0 * S,
        Ulid::from_parts((at / 1_000_000) as u64, 7),
    );
    store
        .put(
            &orphan.to_string(),
            Bytes::from_static(b"x"),
            PutMode::Create,
        )
        .unwrap();
    assert!(
        lease::acquire(&store, &tenant, day, at, S)
            .unwrap()
            .is_some()
    );
    let leases = || {
        let prefix = crate::storage::keys::LeaseKey::prefix(&tenant, day);
        crate::storage::store::list_all(&store, &prefix)
            .unwrap()
            .len()
    };
    store.take();
    let calls = || -> Vec<String> { store.take() };
    let idle = |r: &CompactionReport| {
        r.merged.is_empty() && r.orphans.is_empty() && r.leased.is_empty() && r.errors.is_empty()
    };

    // No uploads in the open day: one listing of its uploads, nothing read.
    let r = run_in(&store, &|| now, &config, Scope::OpenHours).unwrap();
    assert!(idle(&r), "{r:?}");
    let made = calls();
    assert_eq!(made.len(), 2, "tenants, one key of L0: {made:?}");
    assert!(
        made[1].starts_with("list ") && made[1].contains("/l0/"),
        "{made:?}"
    );

    // One upload 200 s before `now`: its open hour is not due yet, but the day is read.
    push(&store, &tenant, "app.cpu", T0, "main;work 1\n");
    store.take();
    let r = run_in(&store, &|| now, &config, Scope::OpenHours).unwrap();
    assert!(idle(&r), "{r:?}");
    let listed: Vec<String> = calls()
        .into_iter()
        .filter(|c| c.starts_with("list "))
        .collect();
    assert_eq!(
        listed.len(),
        4,
        "tenants, one key of L0, manifests, L0: {listed:?}"
    );
    assert!(store.keys().contains(&orphan.to_string()));
    assert_eq!(leases(), 1);

    let r = run(&store, &|| now, &config).unwrap();
    assert_eq!(r.orphans, [orphan.to_string()], "{r:?}");
    assert!(r.merged.is_empty(), "{r:?}");
    assert_eq!(leases(), 0, "the expired lease cleared");
}
