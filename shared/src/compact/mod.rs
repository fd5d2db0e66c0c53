//! Compaction: merges a tenant's L0 segments per hour bucket into one compacted segment and
//! publishes a new manifest version (the protocol and why it is safe: [`crate::storage::manifest`]).
//!
//! Planning is pure ([`plan`]); [`run`] only carries the plan out.

use bytes::Bytes;
use serde::Serialize;
use ulid::Ulid;

mod plan;

pub use plan::{Merge, MergeOutput, Plan, next_manifest, plan};

use crate::error::ConfigError;
use crate::storage::keys::{
    Day, HOUR_NANOS, Level, ManifestKey, SegmentKey, TENANTS_PREFIX, parse_tenant_prefix,
};
use crate::storage::manifest::{self, CompactedSegment, Manifest};
use crate::storage::segment::{self, SegmentBuilder};
use crate::storage::store::{ObjectStore, PutMode, list_all, list_prefixes};
use crate::tenant::Tenant;
use crate::{Error, Result};

/// Default time between replacing an object and deleting it: longer than any query.
pub const DEFAULT_GRACE_NANOS: i64 = 10 * 60 * crate::time::NANOS_PER_SECOND;
/// Most L0 segments merged into one hour per pass; the rest wait for the next pass.
pub const MAX_INPUTS_PER_MERGE: usize = 2000;

/// An hour is closed (merged as soon as it has new L0 segments) this long after its end,
/// which leaves agents time to send its last profiles.
pub const HOUR_SETTLE_NANOS: i64 = 5 * 60 * crate::time::NANOS_PER_SECOND;
/// An hour still open is merged once it has this many new L0 segments…
pub const OPEN_HOUR_INPUTS: usize = 64;
/// …or once its oldest new L0 segment has waited this long.
pub const OPEN_HOUR_WAIT_NANOS: i64 = 10 * 60 * crate::time::NANOS_PER_SECOND;

/// A day is rolled up into one day segment this long after its end (late data arriving after
/// that is compacted beside the day segment and folded in by a later roll-up).
pub const ROLLUP_AFTER_NANOS: i64 = 60 * 60 * crate::time::NANOS_PER_SECOND;
/// Hour segments beside a day segment that make the day due for another roll-up.
pub const REROLL_HOUR_SEGMENTS: usize = 4;

/// Tunables of a compaction pass.
#[derive(Debug, Clone, Copy)]
pub struct CompactionConfig {
    /// Time between replacing an object and deleting it (ns).
    pub grace_nanos: i64,
    /// Most L0 inputs per hour per pass.
    pub max_inputs: usize,
    /// When an hour counts as closed, after its end (ns).
    pub settle_nanos: i64,
    /// New L0 segments that make an open hour due.
    pub open_hour_inputs: usize,
    /// Age of the oldest new L0 segment (by its ULID's time) that makes an open hour due (ns).
    pub open_hour_wait_nanos: i64,
    /// When a day is rolled up, after its end (ns).
    pub rollup_after_nanos: i64,
    /// Hour segments beside a day segment that make it due for another roll-up.
    pub reroll_hour_segments: usize,
}

impl CompactionConfig {
    /// Environment variable: seconds between replacing an object and deleting it.
    pub const ENV_GRACE_SECONDS: &str = "FLAMELET_COMPACTION_GRACE_SECONDS";

    /// Reads the tunables from configuration values by name (the environment in a component);
    /// a grace period that is not a whole number of seconds is an error naming the variable.
    pub fn from_config(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut config = CompactionConfig::default();
        let seconds = |v: &str| v.parse::<i64>().ok().filter(|s| *s >= 0);
        let expected = "a whole number of seconds";
        if let Some(secs) = ConfigError::read(&get, Self::ENV_GRACE_SECONDS, expected, seconds)? {
            config.grace_nanos = secs.saturating_mul(crate::time::NANOS_PER_SECOND);
        }
        Ok(config)
    }
}

impl Default for CompactionConfig {
    fn default() -> Self {
        CompactionConfig {
            grace_nanos: DEFAULT_GRACE_NANOS,
            max_inputs: MAX_INPUTS_PER_MERGE,
            settle_nanos: HOUR_SETTLE_NANOS,
            open_hour_inputs: OPEN_HOUR_INPUTS,
            open_hour_wait_nanos: OPEN_HOUR_WAIT_NANOS,
            rollup_after_nanos: ROLLUP_AFTER_NANOS,
            reroll_hour_segments: REROLL_HOUR_SEGMENTS,
        }
    }
}

/// What a pass did, for logs and `flamelet compact`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CompactionReport {
    /// Compacted segments written.
    pub merged: Vec<MergeReport>,
    /// Objects deleted after their grace period.
    pub deleted: Vec<String>,
    /// Manifest versions published.
    pub published: Vec<String>,
    /// Days where another compactor published first (retried on the next pass).
    pub conflicts: Vec<String>,
    /// Days that failed (a storage error, an unreadable segment); other days still ran.
    pub errors: Vec<String>,
}

/// One merge done.
#[derive(Debug, Clone, Serialize)]
pub struct MergeReport {
    /// The new compacted segment.
    pub output: String,
    /// L0 segments merged in.
    pub l0_inputs: usize,
    /// Whether compacted segments were merged in too (the hour's, or for a day roll-up the
    /// day's).
    pub replaced_existing: bool,
    /// A day roll-up.
    pub day: bool,
    /// Sample rows written.
    pub rows: usize,
    /// Bytes written.
    pub bytes: u64,
}

/// Runs one compaction pass over every tenant and day. `clock` gives the time (ns): read when
/// a day is planned, and again just before its manifest is published, so that what the new
/// version replaces stays readable for the whole grace period after the publish however
/// long the merges took.
pub fn run(
    store: &dyn ObjectStore,
    clock: &dyn Fn() -> i64,
    config: &CompactionConfig,
) -> Result<CompactionReport> {
    let mut report = CompactionReport::default();
    for tenant_dir in list_prefixes(store, TENANTS_PREFIX)? {
        let Some(tenant) = parse_tenant_prefix(&tenant_dir) else {
            continue;
        };
        let days = manifest::data_days(store, &tenant)?;
        for day in days {
            // One bad day (say, an unreadable segment) must not stop every other one.
            if let Err(e) = compact_day(store, &tenant, day, clock, config, &mut report) {
                tracing::warn!("compaction of {tenant} {day} failed: {e}");
                report.errors.push(format!("{tenant} {day}: {e}"));
            }
        }
    }
    Ok(report)
}

fn compact_day(
    store: &dyn ObjectStore,
    tenant: &Tenant,
    day: Day,
    clock: &dyn Fn() -> i64,
    config: &CompactionConfig,
    report: &mut CompactionReport,
) -> Result<()> {
    let (current_key, manifest) = match manifest::load_latest(store, tenant, day)? {
        Some((k, m)) => (Some(k.to_string()), m),
        None => (None, Manifest::default()),
    };
    let l0: Vec<SegmentKey> = list_all(store, &SegmentKey::prefix(tenant, Level::L0, day))?
        .iter()
        .filter_map(|o| SegmentKey::parse(&o.key))
        .collect();
    let plan = plan(day, &manifest, &l0, clock(), config);
    if plan.is_empty() {
        return Ok(());
    }
    // Deletions first: an L0 segment leaves `covered` only once it is gone (manifest doc).
    for key in &plan.deletions {
        store.delete(key)?;
        report.deleted.push(key.clone());
    }
    let mut outputs = Vec::new();
    let mut merged = Vec::new();
    for (i, merge) in plan.merges.iter().enumerate() {
        if let Some((segment, rows)) = write_merge(store, tenant, day, merge)? {
            merged.push(MergeReport {
                output: segment.key.clone(),
                l0_inputs: merge.inputs.len(),
                replaced_existing: !merge.existing.is_empty(),
                day: merge.day,
                rows,
                bytes: segment.size,
            });
            outputs.push(MergeOutput { merge: i, segment });
        }
    }
    // The grace period of what this version replaces starts now, at the publish.
    let next = next_manifest(
        &manifest,
        current_key.as_deref(),
        &plan,
        &outputs,
        clock(),
        config,
    );
    let new_key = ManifestKey {
        tenant: tenant.clone(),
        day,
        version: next.version,
    };
    if manifest::publish(store, tenant, day, &next)? {
        report.published.push(new_key.to_string());
        report.merged.extend(merged);
    } else {
        // Lost the race: nothing references what we wrote.
        for output in outputs {
            store.delete(&output.segment.key)?;
        }
        report.conflicts.push(new_key.to_string());
    }
    Ok(())
}

/// Reads one merge's inputs (the compacted segments it replaces and its L0 segments), writes
/// their merge as a new compacted segment (an hour's, or the day's) with a create-only put,
/// and returns it with its row count; `None` when the inputs hold no samples (nothing is
/// written).
fn write_merge(
    store: &dyn ObjectStore,
    tenant: &Tenant,
    day: Day,
    merge: &Merge,
) -> Result<Option<(CompactedSegment, usize)>> {
    let mut builder = SegmentBuilder::new(tenant.as_str());
    let mut keys: Vec<String> = merge.existing.iter().map(|s| s.key.clone()).collect();
    keys.extend(merge.inputs.iter().cloned());
    for (key, bytes) in keys.iter().zip(store.get_many(&keys)) {
        let data = segment::decode(bytes?).map_err(|e| Error::Corrupt {
            key: key.clone(),
            message: format!("unreadable segment: {e}"),
        })?;
        builder.add_segment(&data);
    }
    let data = builder.finish();
    let Some((min_time, max_time)) = data.time_range() else {
        return Ok(None);
    };
    let encoded = segment::encode_compacted(&data)?;
    let bytes = Bytes::from(encoded.bytes);
    let hour_start = day.start_nanos() + i64::from(merge.hour) * HOUR_NANOS;
    let key = SegmentKey::new(tenant, Level::Compacted, hour_start, Ulid::new()).to_string();
    store.put(&key, bytes.clone(), PutMode::Create)?;
    let segment = CompactedSegment {
        key,
        hour: merge.hour,
        day: merge.day,
        hot_start: Some(encoded.hot_start),
        min_time,
        max_time,
        size: bytes.len() as u64,
    };
    Ok(Some((segment, data.samples.len())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{IngestRequest, ingest};
    use crate::query::RenderRequest;
    use crate::query::pyroscope::{Rendered, render};
    use crate::storage::manifest::Scheduled;
    use crate::storage::store::MemoryStore;
    use crate::storage::store::SharedStore;
    use std::sync::Arc;

    const T0: i64 = 1_700_000_000;
    const S: i64 = crate::time::NANOS_PER_SECOND;
    /// A pass's time once the test data's hours and days have closed.
    const LATER: i64 = (T0 + 3 * 86_400) * S;
    /// Hour compaction without day roll-ups.
    const HOURS_ONLY: CompactionConfig = CompactionConfig {
        grace_nanos: DEFAULT_GRACE_NANOS,
        max_inputs: MAX_INPUTS_PER_MERGE,
        settle_nanos: HOUR_SETTLE_NANOS,
        open_hour_inputs: OPEN_HOUR_INPUTS,
        open_hour_wait_nanos: OPEN_HOUR_WAIT_NANOS,
        rollup_after_nanos: i64::MAX / 4,
        reroll_hour_segments: REROLL_HOUR_SEGMENTS,
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
        ingest(store, tenant, &req, 0).unwrap();
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
    fn render_range(
        store: &SharedStore,
        tenant: &Tenant,
        q: &str,
        from: i64,
        until: i64,
    ) -> String {
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
                format!(
                    "FLAMELET_COMPACTION_GRACE_SECONDS=`{bad}` is not a whole number of seconds"
                )
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
    fn a_bad_day_does_not_stop_the_others() {
        let store = MemoryStore::default();
        let tenant = Tenant::from_header(None).unwrap();
        push(&store, &tenant, "app.cpu", T0, "a 1\n");
        push(&store, &tenant, "app.cpu", T0 + 86_400, "a 1\n");
        let bad = SegmentKey::new(&tenant, Level::L0, T0 * S, Ulid::new()).to_string();
        store
            .put(&bad, Bytes::from_static(b"garbage"), PutMode::Create)
            .unwrap();
        let report = run(&store, &|| LATER, &CompactionConfig::default()).unwrap();
        assert_eq!(report.errors.len(), 1, "{report:?}");
        assert!(
            report.errors[0].contains("unreadable segment"),
            "{report:?}"
        );
        assert_eq!(
            report.published.len(),
            1,
            "the other day compacted: {report:?}"
        );
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
        let r1 = run(store.as_ref(), &|| LATER + 1_000, &config).unwrap();
        assert_eq!(r1.merged.len(), 2);
        assert_eq!(render_json(&store, &tenant, q), before);
        let r2 = run(store.as_ref(), &|| LATER + 1_050, &config).unwrap();
        assert_eq!(r2.merged.iter().map(|m| m.l0_inputs).sum::<usize>(), 4);
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
        // Whole hours (sums), ranges that cut an hour (rows there), ends exactly on a
        // segment's first and last profile (rows: no whole hour), and a selection of one
        // series.
        let cases = [
            ("app.cpu{}", T0 - 7200, T0 + 7200),
            ("app.cpu{}", T0 + 15, T0 + 7200),
            ("app.cpu{}", T0 - 7200, T0 + 4002),
            ("app.cpu{}", T0, T0 + 40),
            ("app.cpu{env=\"b\"}", T0, T0 + 7200),
            // Cuts the first of env=c's hours after its profile, covers the second, and cuts
            // the third after its profile: rows, sums, rows.
            ("app.cpu{env=\"c\"}", T0 + 3000, T0 + 10_150),
            ("app.cpu{env=\"c\"}", T0 + 2900, T0 + 10_099),
        ];
        let answers = |store: &SharedStore| -> Vec<String> {
            cases
                .iter()
                .map(|(q, from, until)| render_range(store, &tenant, q, *from, *until))
                .collect()
        };
        let before = answers(&store);
        let config = CompactionConfig {
            grace_nanos: 100,
            max_inputs: 100,
            ..HOURS_ONLY
        };
        run(store.as_ref(), &|| LATER + 1_000, &config).unwrap();
        assert_eq!(answers(&store), before, "after hour compaction");
        // And the sums were what answered the whole hours.
        let selector = crate::selector::Selector::parse("app.cpu{}").unwrap();
        let summed = |from: i64, until: i64| -> Vec<bool> {
            let mut out = Vec::new();
            let range = crate::time::TimeRange {
                from: from * S,
                until: until * S,
            };
            let reads = crate::query::Reads {
                sums: true,
                ..Default::default()
            };
            let filter = crate::query::SampleFilter::default();
            crate::query::scan(&store, &tenant, &selector, &range, &filter, reads, |part| {
                out.push(part.summed > 0);
                Ok(())
            })
            .unwrap();
            out
        };
        assert_eq!(summed(T0 - 7200, T0 + 7200), [true, true, false]);
        assert_eq!(summed(T0 + 15, T0 + 7200), [false, true, false]);

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
            ..CompactionConfig::default()
        };
        run(store.as_ref(), &clock, &config).unwrap();
        let day = Day::of(T0 * S);
        let (_, m) = manifest::load_latest(store.as_ref(), &tenant, day)
            .unwrap()
            .unwrap();
        assert_eq!(m.covered.len(), 3);
        let last = readings.get();
        assert!(
            last >= LATER + 2 * 3600 * S,
            "planned, then published later"
        );
        for c in &m.covered {
            assert_eq!(c.delete_after, last + config.grace_nanos);
        }
        assert_eq!(m.created_at, last);
    }
}
