//! The pure half of compaction: what a pass does to one tenant's day ([`plan`]) and the
//! manifest version that publishes it ([`next_manifest`]). Neither touches storage; both are
//! property-tested, so that every L0 sample ends up covered exactly once.

use std::collections::BTreeMap;

use crate::storage::keys::{HOUR_NANOS, SegmentKey};
use crate::storage::manifest::{CompactedSegment, Manifest, Scheduled};

use super::CompactionConfig;

/// One hour to merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merge {
    /// The hour bucket (0–23).
    pub hour: u8,
    /// The hour's current compacted segment, merged in and then replaced.
    pub existing: Option<CompactedSegment>,
    /// Uncovered L0 segments of the hour, sorted by key.
    pub inputs: Vec<String>,
}

/// What one pass does to one tenant's day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Hours to merge.
    pub merges: Vec<Merge>,
    /// Objects past their grace period, to delete.
    pub deletions: Vec<String>,
}

impl Plan {
    /// Tells whether the plan does nothing.
    pub fn is_empty(&self) -> bool {
        self.merges.is_empty() && self.deletions.is_empty()
    }
}

/// Plans a pass over one day: every uncovered L0 segment of a due hour goes into exactly one
/// merge (up to `max_inputs` per hour), and every scheduled object whose time has come is
/// deleted. An hour is due when it has closed (`settle_nanos` after its end), or, while open,
/// once it has `open_hour_inputs` new L0 segments or its oldest has waited
/// `open_hour_wait_nanos` (by the time in its ULID): so the current hour is rewritten a few
/// times an hour, not at every pass, and a query of it reads a bounded number of L0 segments.
pub fn plan(manifest: &Manifest, l0: &[SegmentKey], now: i64, config: &CompactionConfig) -> Plan {
    let mut by_hour: BTreeMap<u8, Vec<&SegmentKey>> = BTreeMap::new();
    let covered = manifest.covered_keys();
    for key in l0 {
        if !covered.contains(key.to_string().as_str()) {
            by_hour.entry(key.hour).or_default().push(key);
        }
    }
    let merges = by_hour
        .into_iter()
        .filter(|(_, keys)| hour_is_due(keys, now, config))
        .map(|(hour, keys)| {
            let mut inputs: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
            inputs.sort();
            inputs.truncate(config.max_inputs.max(1));
            Merge {
                hour,
                existing: manifest.segments.iter().find(|s| s.hour == hour).cloned(),
                inputs,
            }
        })
        .collect();
    let deletions = manifest
        .covered
        .iter()
        .chain(&manifest.pending_deletes)
        .filter(|s| s.delete_after <= now)
        .map(|s| s.key.clone())
        .collect();
    Plan { merges, deletions }
}

/// Whether an hour with these new L0 segments (of one day and hour, at least one) is merged
/// now; see [`plan`].
pub fn hour_is_due(keys: &[&SegmentKey], now: i64, config: &CompactionConfig) -> bool {
    let Some(first) = keys.first() else {
        return false;
    };
    let hour_end = first.day.start_nanos() + (i64::from(first.hour) + 1) * HOUR_NANOS;
    let written = |k: &&SegmentKey| (k.id.timestamp_ms() as i64).saturating_mul(1_000_000);
    let oldest = keys.iter().map(written).min().unwrap_or(i64::MAX);
    now >= hour_end.saturating_add(config.settle_nanos)
        || keys.len() >= config.open_hour_inputs
        || now.saturating_sub(oldest) >= config.open_hour_wait_nanos
}

/// A merge of a [`Plan`] that was carried out: the index of the merge and the segment written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeOutput {
    /// Index into [`Plan::merges`].
    pub merge: usize,
    /// The compacted segment written for it.
    pub segment: CompactedSegment,
}

/// Computes the manifest version that publishes a pass: one version up; the plan's deletions
/// leave `covered` and `pending_deletes`; each output replaces its hour's previous segment
/// (scheduled for deletion) and covers its L0 inputs (scheduled too); the replaced manifest
/// version is scheduled for deletion. Pure: the pass only writes what this returns.
pub fn next_manifest(
    current: &Manifest,
    current_key: Option<&str>,
    plan: &Plan,
    outputs: &[MergeOutput],
    now: i64,
    config: &CompactionConfig,
) -> Manifest {
    let schedule = |key: String| Scheduled {
        key,
        delete_after: now.saturating_add(config.grace_nanos),
    };
    let mut next = current.clone();
    next.version += 1;
    next.created_at = now;
    next.covered.retain(|s| !plan.deletions.contains(&s.key));
    next.pending_deletes
        .retain(|s| !plan.deletions.contains(&s.key));
    for output in outputs {
        let Some(merge) = plan.merges.get(output.merge) else {
            continue;
        };
        if let Some(old) = &merge.existing {
            next.segments.retain(|s| s.key != old.key);
            next.pending_deletes.push(schedule(old.key.clone()));
        }
        next.segments.push(output.segment.clone());
        next.covered
            .extend(merge.inputs.iter().cloned().map(schedule));
    }
    next.segments.sort_by_key(|s| s.hour);
    if let Some(key) = current_key {
        next.pending_deletes.push(schedule(key.to_string()));
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::keys::{Day, HOUR_NANOS, Level};
    use crate::tenant::Tenant;
    use proptest::prelude::*;
    use std::collections::BTreeSet;
    use ulid::Ulid;

    const T0: i64 = 1_700_000_000;
    const S: i64 = crate::time::NANOS_PER_SECOND;

    /// A day's state: L0 segments (hour, covered?, scheduled deletion time, seconds after the
    /// day's start it was written), compacted segments by hour, pending deletions; the pass's
    /// time (seconds after the day's start), input cap, and open-hour thresholds (inputs,
    /// wait in seconds).
    type State = (
        Vec<(u8, bool, i64, i64)>,
        Vec<u8>,
        Vec<i64>,
        i64,
        usize,
        (usize, i64),
    );

    fn state() -> impl Strategy<Value = State> {
        (
            prop::collection::vec((0u8..24, any::<bool>(), 0i64..100, 0i64..93_600), 0..40),
            prop::collection::btree_set(0u8..24, 0..6).prop_map(|s| s.into_iter().collect()),
            prop::collection::vec(0i64..100, 0..5),
            0i64..93_600,
            1usize..8,
            (1usize..6, 0i64..7200),
        )
    }

    proptest! {
        /// Every uncovered L0 segment is merged at most once and ends up covered exactly
        /// once after publishing; at most `max_inputs` per hour; one compacted segment per
        /// hour; what is replaced or deleted leaves the live lists; the version goes up.
        #[test]
        fn plan_and_next_manifest_cover_each_l0_once(
            (l0s, hours, pending, now, max_inputs, (open_inputs, wait)) in state()
        ) {
            let tenant = Tenant::from_header(Some("t")).unwrap();
            let day = Day::of(T0 * S);
            let now = day.start_nanos() + now * S;
            let config = CompactionConfig {
                grace_nanos: 10,
                max_inputs,
                settle_nanos: 300 * S,
                open_hour_inputs: open_inputs,
                open_hour_wait_nanos: wait * S,
            };
            let seg = |hour: u8, i: usize| CompactedSegment {
                key: format!("seg-{hour}-{i}"),
                hour,
                min_time: 0,
                max_time: 1,
                size: 1,
            };
            let mut keys = Vec::new();
            let mut current = Manifest { version: 3, ..Manifest::default() };
            for (i, (hour, covered, delete_after, written)) in l0s.iter().enumerate() {
                let at = day.start_nanos() + i64::from(*hour) * HOUR_NANOS + i as i64;
                let written_ms = ((day.start_nanos() + written * S) / 1_000_000) as u64;
                let key = SegmentKey::new(&tenant, Level::L0, at, Ulid::from_parts(written_ms, i as u128));
                if *covered {
                    current.covered.push(Scheduled { key: key.to_string(), delete_after: *delete_after });
                }
                keys.push(key);
            }
            current.segments = hours.iter().map(|h| seg(*h, 0)).collect();
            current.pending_deletes = pending
                .iter()
                .enumerate()
                .map(|(i, t)| Scheduled { key: format!("old-{i}"), delete_after: *t })
                .collect();
            let p = plan(&current, &keys, now, &config);
            let outputs: Vec<MergeOutput> = p
                .merges
                .iter()
                .enumerate()
                .map(|(i, m)| MergeOutput { merge: i, segment: seg(m.hour, 1) })
                .collect();
            let next = next_manifest(&current, Some("manifest-3"), &p, &outputs, now, &config);

            prop_assert_eq!(next.version, current.version + 1);
            let merged: Vec<&String> = p.merges.iter().flat_map(|m| &m.inputs).collect();
            let distinct: BTreeSet<&String> = merged.iter().copied().collect();
            prop_assert_eq!(merged.len(), distinct.len(), "an L0 segment merged twice");
            // An hour with new L0 segments is merged exactly when it is due: closed five
            // minutes after its end, or open with enough of them or one waiting long enough.
            let was_covered = current.covered_keys();
            let mut new_by_hour: BTreeMap<u8, Vec<&(u8, bool, i64, i64)>> = BTreeMap::new();
            for (i, l) in l0s.iter().enumerate() {
                if !was_covered.contains(keys[i].to_string().as_str()) {
                    new_by_hour.entry(l.0).or_default().push(l);
                }
            }
            for (hour, new) in &new_by_hour {
                let closed = now >= day.start_nanos() + (i64::from(*hour) + 1) * HOUR_NANOS + 300 * S;
                let oldest = new.iter().map(|l| l.3).min().unwrap_or(i64::MAX);
                // ULIDs keep milliseconds: the written time rounds to them exactly here.
                let waited = now - (day.start_nanos() + oldest * S) >= wait * S;
                let due = closed || new.len() >= open_inputs || waited;
                prop_assert_eq!(p.merges.iter().any(|m| m.hour == *hour), due, "hour {}", hour);
            }
            for m in &p.merges {
                prop_assert!(m.inputs.len() <= max_inputs);
                prop_assert_eq!(m.existing.as_ref().map(|e| e.hour), hours.contains(&m.hour).then_some(m.hour));
            }
            for key in &keys {
                let key = key.to_string();
                let covered = next.covered.iter().filter(|c| c.key == key).count();
                let deleted = p.deletions.contains(&key);
                if was_covered.contains(key.as_str()) {
                    prop_assert!(!distinct.contains(&key), "a covered segment merged again");
                    prop_assert_eq!(covered, usize::from(!deleted));
                } else if distinct.contains(&key) {
                    prop_assert_eq!(covered, 1);
                } else {
                    prop_assert_eq!(covered, 0);
                }
            }
            let next_hours: Vec<u8> = next.segments.iter().map(|s| s.hour).collect();
            let unique: BTreeSet<u8> = next_hours.iter().copied().collect();
            prop_assert_eq!(next_hours.len(), unique.len(), "two segments for one hour");
            for m in &p.merges {
                if let Some(old) = &m.existing {
                    prop_assert!(next.pending_deletes.iter().any(|d| d.key == old.key));
                    prop_assert!(next.segments.iter().all(|s| s.key != old.key));
                }
            }
            for key in &p.deletions {
                prop_assert!(next.covered.iter().chain(&next.pending_deletes).all(|s| &s.key != key));
            }
            prop_assert!(next.pending_deletes.iter().any(|d| d.key == "manifest-3"));
        }
    }
}
