//! A model of the bucket under random sequences of uploads, passes (with crashes between a
//! segment's put and its publish), late data, roll-ups and time, driving the pure planner,
//! orphan rule and manifest transition exactly as `pass.rs` does. After every step, every
//! manifest version a query may still be listing L0 under (the newest, and any replaced less
//! than the L0 grace period ago) together with the L0 listing of that moment holds every
//! upload exactly once, and every object that a version a query may still be reading (replaced
//! less than the grace period ago) names still exists.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use ulid::Ulid;

use super::{CompactionConfig, MergeOutput, Plan, next_manifest, orphans, plan};
use crate::storage::keys::{Day, HOUR_NANOS, Level, SegmentKey};
use crate::storage::manifest::{CompactedSegment, Manifest};
use crate::tenant::Tenant;

const S: i64 = crate::time::NANOS_PER_SECOND;

#[derive(Debug, Clone)]
enum Op {
    /// Uploads into an hour of the day (late ones too, once the day is rolled up).
    Ingest { hour: u8, count: usize },
    /// Time passes (seconds).
    Wait(i64),
    /// A compaction pass; `crash` stops it after that many merges' segments were put, before
    /// the next publish.
    Pass { crash: Option<usize> },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..24, 1usize..4).prop_map(|(hour, count)| Op::Ingest { hour, count }),
        prop_oneof![1i64..120, 300i64..4000, 20_000i64..90_000].prop_map(Op::Wait),
        prop::option::weighted(0.3, 0usize..3).prop_map(|crash| Op::Pass { crash }),
    ]
}

/// The bucket: which objects exist, and which uploads each compacted segment holds.
#[derive(Default)]
struct Bucket {
    l0: BTreeSet<String>,
    compacted: BTreeMap<String, BTreeSet<String>>,
    /// Each published version, with when it was replaced (`None`: the newest).
    versions: Vec<(Manifest, Option<i64>)>,
}

impl Bucket {
    fn newest(&self) -> Manifest {
        self.versions
            .last()
            .map(|(m, _)| m.clone())
            .unwrap_or_default()
    }

    fn delete(&mut self, key: &str) {
        self.l0.remove(key);
        self.compacted.remove(key);
    }

    /// What a query that read `m` and then listed L0 counts, upload by upload; `Err` names an
    /// object it names that is gone.
    fn read(&self, m: &Manifest) -> Result<BTreeMap<String, usize>, String> {
        let mut counts = BTreeMap::new();
        for s in &m.segments {
            let held = self
                .compacted
                .get(&s.key)
                .ok_or(format!("segment {} gone", s.key))?;
            for upload in held {
                *counts.entry(upload.clone()).or_default() += 1;
            }
        }
        let skipped = m.skipped_keys();
        for key in self.l0.iter().filter(|k| !skipped.contains(k.as_str())) {
            *counts.entry(key.clone()).or_default() += 1;
        }
        Ok(counts)
    }
}

fn key_at(tenant: &Tenant, level: Level, at: i64, now: i64, n: u128) -> String {
    SegmentKey::new(
        tenant,
        level,
        at,
        Ulid::from_parts((now / 1_000_000) as u64, n),
    )
    .to_string()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_upload_counted_once_by_every_readable_version(
        ops in prop::collection::vec(op(), 1..40)
    ) {
        let tenant = Tenant::from_header(Some("t")).unwrap();
        let day = Day(19_675);
        let config = CompactionConfig {
            grace_nanos: 600 * S,
            l0_grace_nanos: 60 * S,
            max_inputs: 3,
            open_hour_inputs: 4,
            reroll_hour_segments: 2,
            // Segments are 1 byte here: roll-ups in steps of two.
            rollup_max_bytes: 2,
            pass_nanos: 30 * S,
            ..CompactionConfig::default()
        };
        let mut bucket = Bucket::default();
        let mut now = day.start_nanos();
        let mut uploads = BTreeSet::new();
        let mut n = 0u128;
        for op in ops {
            match op {
                Op::Ingest { hour, count } => {
                    for _ in 0..count {
                        n += 1;
                        let at = day.start_nanos() + i64::from(hour) * HOUR_NANOS + n as i64;
                        let key = key_at(&tenant, Level::L0, at, now, n);
                        bucket.l0.insert(key.clone());
                        uploads.insert(key);
                    }
                }
                Op::Wait(secs) => now += secs * S,
                Op::Pass { crash } => {
                    let manifest = bucket.newest();
                    let l0: Vec<SegmentKey> =
                        bucket.l0.iter().filter_map(|k| SegmentKey::parse(k)).collect();
                    let listed: Vec<SegmentKey> =
                        bucket.compacted.keys().filter_map(|k| SegmentKey::parse(k)).collect();
                    let p = plan(day, &manifest, &l0, now, &config);
                    for key in orphans(&manifest, &listed, now, &config) {
                        bucket.delete(&key);
                    }
                    for key in &p.deletions {
                        bucket.delete(key);
                    }
                    let mut current = manifest;
                    let mut deletions = p.deletions.clone();
                    for (i, merge) in p.merges.iter().enumerate() {
                        n += 1;
                        let hour_start = day.start_nanos() + i64::from(merge.hour) * HOUR_NANOS;
                        let key = key_at(&tenant, Level::Compacted, hour_start, now, n);
                        let mut held: BTreeSet<String> = merge.inputs.iter().cloned().collect();
                        for e in &merge.existing {
                            held.extend(bucket.compacted.get(&e.key).cloned().unwrap_or_default());
                        }
                        bucket.compacted.insert(key.clone(), held);
                        if crash == Some(i) {
                            break;
                        }
                        let step = Plan {
                            merges: vec![merge.clone()],
                            deletions: std::mem::take(&mut deletions),
                        };
                        let segment = CompactedSegment {
                            key,
                            hour: merge.hour,
                            day: merge.day,
                            hot_start: None,
                            day_sums_start: None,
                            min_time: hour_start,
                            max_time: hour_start + 1,
                            size: 1,
                        };
                        let output = MergeOutput { merge: 0, segment: Some(segment), quarantined: vec![] };
                        let current_key = format!("manifest-{}", current.version);
                        let next = next_manifest(&current, Some(&current_key), &step, &[output], now, &config);
                        if let Some(last) = bucket.versions.last_mut() {
                            last.1 = Some(now);
                        }
                        bucket.versions.push((next.clone(), None));
                        current = next;
                        now += S;
                    }
                }
            }
            for (m, replaced) in &bucket.versions {
                if replaced.is_some_and(|t| now >= t + config.grace_nanos) {
                    continue;
                }
                let counts = bucket.read(m).map_err(TestCaseError::fail)?;
                // Past the L0 grace a query of this version no longer lists or reads L0
                // (`storage::deadline`); its compacted segments are still there (above).
                if replaced.is_some_and(|t| now >= t + config.l0_grace()) {
                    continue;
                }
                let once: BTreeSet<String> = counts.keys().cloned().collect();
                prop_assert_eq!(&once, &uploads, "version {} misses or invents uploads", m.version);
                prop_assert!(counts.values().all(|c| *c == 1), "version {} counts one twice", m.version);
            }
            if bucket.versions.is_empty() {
                prop_assert_eq!(bucket.read(&Manifest::default()).map(|c| c.len()), Ok(uploads.len()));
            }
        }
    }
}
