//! The pure half of compaction: what a pass does to one tenant's day ([`plan`]) and the
//! manifest version that publishes it ([`next_manifest`]). Neither touches storage; both are
//! property-tested, so that every L0 sample ends up covered exactly once.

use std::collections::BTreeMap;

use crate::storage::keys::{Day, HOUR_NANOS, SegmentKey};
use crate::storage::manifest::{CompactedSegment, Manifest, Quarantined, Scheduled};

use super::CompactionConfig;

/// One merge: an hour's, or a day's roll-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merge {
    /// The hour bucket (0–23); 0 for a roll-up.
    pub hour: u8,
    /// A roll-up of the whole day into one day segment.
    pub day: bool,
    /// The compacted segments merged in and then replaced: for a closed hour all of its
    /// segments, for an open one none or its smaller ones (see [`plan`]), for a roll-up every
    /// live segment of the day (within its byte budget).
    pub existing: Vec<CompactedSegment>,
    /// Uncovered L0 segments (of the hour, or for a roll-up of the day), sorted by key.
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
/// `open_hour_wait_nanos` (by the time in its ULID): so the current hour is merged a few
/// times an hour, not at every pass, and a query of it reads a bounded number of L0 segments.
///
/// An open hour's merge writes a new segment beside the hour's existing ones while it has
/// fewer than `open_hour_segments`; at that many, it merges its new L0 segments with all of
/// them but the largest. So a merge costs about its new data, not the whole hour again, and
/// the hour keeps at most `open_hour_segments` segments. Once closed, an hour's merge takes
/// all of its segments, and a closed hour left with several (and nothing new) is merged into
/// one.
///
/// A day `rollup_after_nanos` past its end is rolled up instead: one merge of every live
/// segment and uncovered L0 segment (up to `max_inputs`) into one day segment, so that long
/// ranges read one segment per day. Once a day segment exists, late data is merged into hour
/// segments beside it, and the day is rolled up again when `reroll_hour_segments` of them
/// have gathered.
pub fn plan(
    day: Day,
    manifest: &Manifest,
    l0: &[SegmentKey],
    now: i64,
    config: &CompactionConfig,
) -> Plan {
    let mut by_hour: BTreeMap<u8, Vec<&SegmentKey>> = BTreeMap::new();
    let covered = manifest.skipped_keys();
    for key in l0 {
        if !covered.contains(key.to_string().as_str()) {
            by_hour.entry(key.hour).or_default().push(key);
        }
    }
    let deletions = manifest
        .covered
        .iter()
        .chain(&manifest.pending_deletes)
        .filter(|s| s.delete_after <= now)
        .map(|s| s.key.clone())
        .collect();
    let day_end = day.start_nanos().saturating_add(24 * HOUR_NANOS);
    let closed = now >= day_end.saturating_add(config.rollup_after_nanos);
    let has_day_segment = manifest.segments.iter().any(|s| s.day);
    let hour_segments = manifest.segments.iter().filter(|s| !s.day).count();
    let rollup = closed
        && if has_day_segment {
            hour_segments >= config.reroll_hour_segments.max(1)
        } else {
            hour_segments > 0 || !by_hour.is_empty()
        };
    if rollup {
        // Bounded: the day segment and the hour segments in hour order while their bytes fit
        // (at least one); the day's L0 segments only once every hour segment is in. What does
        // not fit is rolled in by the next passes (or, under `reroll_hour_segments`, waits
        // beside the day segment like late data).
        let mut existing: Vec<CompactedSegment> = manifest
            .segments
            .iter()
            .filter(|s| s.day)
            .cloned()
            .collect();
        let mut bytes: u64 = existing.iter().map(|s| s.size).sum();
        let mut hours: Vec<&CompactedSegment> =
            manifest.segments.iter().filter(|s| !s.day).collect();
        hours.sort_by_key(|s| s.hour);
        let mut taken = 0;
        for s in &hours {
            if taken > 0 && bytes.saturating_add(s.size) > config.rollup_max_bytes {
                break;
            }
            bytes = bytes.saturating_add(s.size);
            taken += 1;
        }
        let left_out = taken < hours.len();
        existing.extend(hours[..taken].iter().map(|s| (*s).clone()));
        let mut inputs: Vec<String> = if left_out {
            Vec::new()
        } else {
            by_hour.values().flatten().map(|k| k.to_string()).collect()
        };
        inputs.sort();
        inputs.truncate(config.max_inputs.max(1));
        let merge = Merge {
            hour: 0,
            day: true,
            existing,
            inputs,
        };
        return Plan {
            merges: vec![merge],
            deletions,
        };
    }
    let hour_segments = |hour: u8| -> Vec<CompactedSegment> {
        manifest
            .segments
            .iter()
            .filter(|s| !s.day && s.hour == hour)
            .cloned()
            .collect()
    };
    let mut merges: Vec<Merge> = by_hour
        .iter()
        .filter(|(_, keys)| hour_is_due(keys, now, config))
        .map(|(&hour, keys)| {
            let mut inputs: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
            inputs.sort();
            inputs.truncate(config.max_inputs.max(1));
            let existing = hour_segments(hour);
            let existing = if hour_is_closed(day, hour, now, config) {
                existing
            } else {
                open_hour_existing(existing, config)
            };
            Merge {
                hour,
                day: false,
                existing,
                inputs,
            }
        })
        .collect();
    // A closed hour left with several segments (its last merges were while it was open).
    let mut several: Vec<u8> = manifest
        .segments
        .iter()
        .filter(|s| !s.day && !by_hour.contains_key(&s.hour))
        .map(|s| s.hour)
        .filter(|&h| hour_is_closed(day, h, now, config))
        .collect();
    several.sort_unstable();
    for pair in several.windows(2).filter(|p| p[0] == p[1]) {
        let hour = pair[0];
        if !merges.iter().any(|m| m.hour == hour) {
            merges.push(Merge {
                hour,
                day: false,
                existing: hour_segments(hour),
                inputs: Vec::new(),
            });
        }
    }
    merges.sort_by_key(|m| m.hour);
    Plan { merges, deletions }
}

/// Whether hour `hour` of `day` has closed: `settle_nanos` after its end.
fn hour_is_closed(day: Day, hour: u8, now: i64, config: &CompactionConfig) -> bool {
    let hour_end = day.start_nanos() + (i64::from(hour) + 1) * HOUR_NANOS;
    now >= hour_end.saturating_add(config.settle_nanos)
}

/// The segments an open hour's merge takes in, of `existing` (the hour's): none while a new
/// one still fits under `open_hour_segments`; else all but the largest (all when one is the
/// limit). Ties go to the first listed, so the choice is the same at every replay.
fn open_hour_existing(
    mut existing: Vec<CompactedSegment>,
    config: &CompactionConfig,
) -> Vec<CompactedSegment> {
    let limit = config.open_hour_segments.max(1);
    if existing.len() < limit {
        return Vec::new();
    }
    if limit == 1 {
        return existing;
    }
    let largest = existing
        .iter()
        .enumerate()
        .max_by_key(|(i, s)| (s.size, std::cmp::Reverse(*i)))
        .map(|(i, _)| i);
    if let Some(i) = largest {
        existing.remove(i);
    }
    existing
}

/// Whether an hour with these new L0 segments (of one day and hour, at least one) is merged
/// now; see [`plan`].
pub fn hour_is_due(keys: &[&SegmentKey], now: i64, config: &CompactionConfig) -> bool {
    let Some(first) = keys.first() else {
        return false;
    };
    let written = |k: &&SegmentKey| (k.id.timestamp_ms() as i64).saturating_mul(1_000_000);
    let oldest = keys.iter().map(written).min().unwrap_or(i64::MAX);
    hour_is_closed(first.day, first.hour, now, config)
        || keys.len() >= config.open_hour_inputs
        || now.saturating_sub(oldest) >= config.open_hour_wait_nanos
}

/// Lists the compacted segments of a day (`compacted`, as listed) that no manifest references
/// any more, or ever will: neither live nor scheduled for deletion in the newest version
/// (which carries what older versions listed until it is deleted), and written (by the time
/// in their ULID) longer ago than the grace period plus the longest pass, so their writer's
/// pass is over without having published them (it lost the race, or was killed).
pub fn orphans(
    manifest: &Manifest,
    compacted: &[SegmentKey],
    now: i64,
    config: &CompactionConfig,
) -> Vec<String> {
    let referenced: std::collections::HashSet<&str> = manifest
        .segments
        .iter()
        .map(|s| s.key.as_str())
        .chain(manifest.pending_deletes.iter().map(|s| s.key.as_str()))
        .collect();
    let cutoff = now
        .saturating_sub(config.grace_nanos)
        .saturating_sub(config.longest_pass_nanos());
    compacted
        .iter()
        .filter(|k| (k.id.timestamp_ms() as i64).saturating_mul(1_000_000) < cutoff)
        .map(|k| k.to_string())
        .filter(|k| !referenced.contains(k.as_str()))
        .collect()
}

/// A merge of a [`Plan`] that was carried out: the index of the merge, the segment written
/// and the inputs that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeOutput {
    /// Index into [`Plan::merges`].
    pub merge: usize,
    /// The compacted segment written for it; `None` when its readable inputs held no samples
    /// (then it replaces nothing and covers nothing).
    pub segment: Option<CompactedSegment>,
    /// L0 inputs that could not be decoded: set aside, neither merged nor covered.
    pub quarantined: Vec<Quarantined>,
}

/// Computes the manifest version that publishes a pass: one version up; the plan's deletions
/// leave `covered` and `pending_deletes`; each output replaces its hour's previous segment
/// (scheduled for deletion) and covers its L0 inputs (scheduled after the L0 grace) but those it
/// quarantined, which are listed as such; the replaced manifest version is scheduled for
/// deletion. Pure: the pass only writes what this returns.
pub fn next_manifest(
    current: &Manifest,
    current_key: Option<&str>,
    plan: &Plan,
    outputs: &[MergeOutput],
    now: i64,
    config: &CompactionConfig,
) -> Manifest {
    let after = |grace: i64| {
        move |key: String| Scheduled {
            key,
            delete_after: now.saturating_add(grace),
        }
    };
    let schedule = after(config.grace_nanos);
    // Merged L0 segments after the shorter L0 grace: as many as uploads, they weigh on every
    // listing of the day and on this list until deleted (`CompactionConfig::l0_grace`).
    let schedule_l0 = after(config.l0_grace());
    let mut next = current.clone();
    next.version += 1;
    next.created_at = now;
    // A set: a pass's deletions and `covered` are each about a minute of uploads (tens of
    // thousands under load), and a scan of one per entry of the other stalled passes for
    // longer than their time limit (docs/benchmarks.md, "Twelve minutes of load").
    let deleted: std::collections::HashSet<&str> =
        plan.deletions.iter().map(String::as_str).collect();
    next.covered.retain(|s| !deleted.contains(s.key.as_str()));
    next.pending_deletes
        .retain(|s| !deleted.contains(s.key.as_str()));
    for output in outputs {
        let Some(merge) = plan.merges.get(output.merge) else {
            continue;
        };
        next.quarantined.extend(output.quarantined.iter().cloned());
        let Some(segment) = &output.segment else {
            continue;
        };
        for old in &merge.existing {
            next.segments.retain(|s| s.key != old.key);
            next.pending_deletes.push(schedule(old.key.clone()));
        }
        next.segments.push(segment.clone());
        let set_aside = |key: &String| output.quarantined.iter().any(|q| &q.key == key);
        next.covered.extend(
            merge
                .inputs
                .iter()
                .filter(|k| !set_aside(k))
                .cloned()
                .map(schedule_l0),
        );
    }
    next.segments.sort_by_key(|s| (!s.day, s.hour));
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
    /// day's start it was written, unreadable?: quarantined already when also uncovered and
    /// at an index divisible by 3, else found so by this pass), compacted hour segments by hour and whether a day segment
    /// exists, pending deletions; the pass's time (seconds after the day's start), input cap,
    /// open-hour thresholds (inputs, wait in seconds), hour segments that make a re-roll, the
    /// roll-up's byte budget and the open hour's segment limit. An hour may have several
    /// segments (an open hour's tiers).
    type L0 = (u8, bool, i64, i64, bool);
    type State = (
        Vec<L0>,
        (Vec<u8>, bool),
        Vec<i64>,
        i64,
        usize,
        (usize, i64, usize, u64, usize),
    );

    fn state() -> impl Strategy<Value = State> {
        (
            prop::collection::vec(
                (
                    0u8..24,
                    any::<bool>(),
                    0i64..100,
                    0i64..93_600,
                    prop::bool::weighted(0.2),
                ),
                0..40,
            ),
            (
                prop::collection::vec(0u8..24, 0..8).prop_map(|mut v| {
                    v.sort_unstable();
                    v
                }),
                any::<bool>(),
            ),
            prop::collection::vec(0i64..100, 0..5),
            0i64..100_800,
            1usize..8,
            (1usize..6, 0i64..7200, 1usize..4, 1u64..8, 1usize..5),
        )
    }

    #[test]
    fn an_open_hour_merges_its_new_segments_beside_its_largest() {
        let segments: Vec<CompactedSegment> = [5u64, 9, 2, 9]
            .iter()
            .enumerate()
            .map(|(i, size)| CompactedSegment {
                key: format!("s{i}"),
                hour: 3,
                day: false,
                hot_start: None,
                day_sums_start: None,
                min_time: 0,
                max_time: 1,
                size: *size,
            })
            .collect();
        let keys = |limit: usize| -> Vec<String> {
            let config = CompactionConfig {
                open_hour_segments: limit,
                ..CompactionConfig::default()
            };
            open_hour_existing(segments.clone(), &config)
                .into_iter()
                .map(|s| s.key)
                .collect()
        };
        // Room for one more: a new segment beside the four.
        assert_eq!(keys(5), Vec::<String>::new());
        // At the limit: all but the largest (the first of two equal ones stays).
        assert_eq!(keys(4), ["s0", "s2", "s3"]);
        assert_eq!(keys(2), ["s0", "s2", "s3"]);
        // A limit of one: the hour's one segment is rewritten, as before tiers.
        assert_eq!(keys(1), ["s0", "s1", "s2", "s3"]);
    }

    proptest! {
        /// Every uncovered L0 segment is merged at most once and ends up covered exactly
        /// once after publishing; at most `max_inputs` per merge; at most one day segment
        /// and one hour segment per hour; a closed day is rolled up exactly when due; what
        /// is replaced or deleted leaves the live lists; the version goes up.
        #[test]
        fn plan_and_next_manifest_cover_each_l0_once(
            (l0s, (hours, has_day), pending, now, max_inputs, (open_inputs, wait, reroll, rollup_bytes, tiers)) in state()
        ) {
            let tenant = Tenant::from_header(Some("t")).unwrap();
            let day = Day::of(T0 * S);
            let now = day.start_nanos() + now * S;
            let config = CompactionConfig {
                grace_nanos: 10,
                l0_grace_nanos: 4,
                max_inputs,
                settle_nanos: 300 * S,
                open_hour_inputs: open_inputs,
                open_hour_wait_nanos: wait * S,
                open_hour_segments: tiers,
                rollup_after_nanos: 3600 * S,
                reroll_hour_segments: reroll,
                rollup_max_bytes: rollup_bytes,
                pass_nanos: 30 * S,
            };
            let seg = |hour: u8, day: bool, i: usize| CompactedSegment {
                key: format!("seg-{hour}-{day}-{i}"),
                hour,
                day,
                hot_start: None,
                day_sums_start: None,
                min_time: 0,
                max_time: 1,
                size: 1,
            };
            let mut keys = Vec::new();
            let mut current = Manifest { version: 3, ..Manifest::default() };
            for (i, (hour, covered, delete_after, written, unreadable)) in l0s.iter().enumerate() {
                let at = day.start_nanos() + i64::from(*hour) * HOUR_NANOS + i as i64;
                let written_ms = ((day.start_nanos() + written * S) / 1_000_000) as u64;
                let key = SegmentKey::new(&tenant, Level::L0, at, Ulid::from_parts(written_ms, i as u128));
                if *covered {
                    current.covered.push(Scheduled { key: key.to_string(), delete_after: *delete_after });
                } else if *unreadable && i % 3 == 0 {
                    current.quarantined.push(Quarantined { key: key.to_string(), reason: "bad".into(), at: 0 });
                }
                keys.push(key);
            }
            current.segments = hours.iter().enumerate().map(|(i, h)| seg(*h, false, i)).collect();
            if has_day {
                current.segments.insert(0, seg(0, true, 0));
            }
            current.pending_deletes = pending
                .iter()
                .enumerate()
                .map(|(i, t)| Scheduled { key: format!("old-{i}"), delete_after: *t })
                .collect();
            let p = plan(day, &current, &keys, now, &config);
            let unreadable: BTreeSet<String> = l0s
                .iter()
                .zip(&keys)
                .filter(|(l, _)| l.4)
                .map(|(_, k)| k.to_string())
                .collect();
            let outputs: Vec<MergeOutput> = p
                .merges
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let quarantined: Vec<Quarantined> = m
                        .inputs
                        .iter()
                        .filter(|k| unreadable.contains(k.as_str()))
                        .map(|k| Quarantined { key: k.clone(), reason: "bad".into(), at: now })
                        .collect();
                    // Nothing readable: no segment.
                    let empty = m.existing.is_empty() && quarantined.len() == m.inputs.len();
                    let written = CompactedSegment { key: format!("new-{i}"), ..seg(m.hour, m.day, 0) };
                    MergeOutput { merge: i, segment: (!empty).then_some(written), quarantined }
                })
                .collect();
            let next = next_manifest(&current, Some("manifest-3"), &p, &outputs, now, &config);

            prop_assert_eq!(next.version, current.version + 1);
            let merged: Vec<&String> = p.merges.iter().flat_map(|m| &m.inputs).collect();
            let distinct: BTreeSet<&String> = merged.iter().copied().collect();
            prop_assert_eq!(merged.len(), distinct.len(), "an L0 segment merged twice");
            // An hour with new L0 segments is merged exactly when it is due: closed five
            // minutes after its end, or open with enough of them or one waiting long enough.
            let was_covered = current.skipped_keys();
            let mut new_by_hour: BTreeMap<u8, Vec<&L0>> = BTreeMap::new();
            for (i, l) in l0s.iter().enumerate() {
                if !was_covered.contains(keys[i].to_string().as_str()) {
                    new_by_hour.entry(l.0).or_default().push(l);
                }
            }
            // A day an hour past its end is rolled up, all of it in one merge, unless it has
            // a day segment and fewer than `reroll` hour segments beside it.
            let day_closed = now >= day.start_nanos() + 25 * HOUR_NANOS;
            let rollup = day_closed
                && if has_day { hours.len() >= reroll } else { !hours.is_empty() || !new_by_hour.is_empty() };
            prop_assert_eq!(p.merges.iter().any(|m| m.day), rollup);
            // A roll-up step: the day segment and, in hour order, the hour segments (1 byte
            // each here) that fit in the byte budget, at least one; L0 segments only when
            // every hour segment is in.
            let taken = (rollup_bytes.saturating_sub(u64::from(has_day)).max(1) as usize).min(hours.len());
            let left_out = hours.len() - taken;
            if rollup {
                prop_assert_eq!(p.merges.len(), 1);
                let mut expected: Vec<CompactedSegment> = current.segments.iter().filter(|s| s.day).cloned().collect();
                expected.extend(current.segments.iter().filter(|s| !s.day).take(taken).cloned());
                prop_assert_eq!(&p.merges[0].existing, &expected);
                let new: usize = new_by_hour.values().map(Vec::len).sum();
                let inputs = if left_out > 0 { 0 } else { new.min(max_inputs) };
                prop_assert_eq!(p.merges[0].inputs.len(), inputs);
            }
            for (hour, new) in new_by_hour.iter().filter(|_| !rollup) {
                let closed = now >= day.start_nanos() + (i64::from(*hour) + 1) * HOUR_NANOS + 300 * S;
                let oldest = new.iter().map(|l| l.3).min().unwrap_or(i64::MAX);
                // ULIDs keep milliseconds: the written time rounds to them exactly here.
                let waited = now - (day.start_nanos() + oldest * S) >= wait * S;
                let due = closed || new.len() >= open_inputs || waited;
                prop_assert_eq!(p.merges.iter().any(|m| m.hour == *hour), due, "hour {}", hour);
            }
            let closed_hour = |hour: u8| now >= day.start_nanos() + (i64::from(hour) + 1) * HOUR_NANOS + 300 * S;
            let count = |hour: u8| hours.iter().filter(|h| **h == hour).count();
            for m in p.merges.iter().filter(|m| !m.day) {
                prop_assert!(m.inputs.len() <= max_inputs);
                prop_assert!(m.existing.iter().all(|e| !e.day && e.hour == m.hour));
                prop_assert_eq!(p.merges.iter().filter(|o| o.hour == m.hour).count(), 1, "one merge per hour");
                // A closed hour's merge takes all of its segments; an open hour's none while
                // a new one fits under the limit, else all but the largest.
                let n = count(m.hour);
                let expected = if closed_hour(m.hour) || (n >= tiers && tiers == 1) {
                    n
                } else if n < tiers {
                    0
                } else {
                    n - 1
                };
                prop_assert_eq!(m.existing.len(), expected, "hour {}", m.hour);
                if m.inputs.is_empty() {
                    prop_assert!(closed_hour(m.hour) && n >= 2 && !new_by_hour.contains_key(&m.hour));
                }
            }
            // A closed hour left with several segments and nothing new is merged into one.
            if !rollup {
                for &hour in &hours {
                    let merged = p.merges.iter().any(|m| m.hour == hour);
                    if closed_hour(hour) && count(hour) >= 2 {
                        prop_assert!(merged, "closed hour {} keeps {} segments", hour, count(hour));
                    }
                }
            }
            for key in &keys {
                let key = key.to_string();
                let covered = next.covered.iter().filter(|c| c.key == key).count();
                let quarantined = next.quarantined.iter().filter(|q| q.key == key).count();
                let deleted = p.deletions.contains(&key);
                if was_covered.contains(key.as_str()) {
                    prop_assert!(!distinct.contains(&key), "a covered or quarantined segment merged again");
                    if current.quarantined.iter().any(|q| q.key == key) {
                        prop_assert_eq!((covered, quarantined), (0, 1), "stays quarantined");
                    } else {
                        prop_assert_eq!((covered, quarantined), (usize::from(!deleted), 0));
                    }
                } else if distinct.contains(&key) && unreadable.contains(&key) {
                    prop_assert_eq!((covered, quarantined), (0, 1), "set aside, not covered");
                } else if distinct.contains(&key) {
                    prop_assert_eq!((covered, quarantined), (1, 0));
                } else {
                    prop_assert_eq!((covered, quarantined), (0, 0));
                }
            }
            // Each hour's segments after the pass: those it had, less those merged in, plus the
            // one written; an open hour stays within its limit (or what it had), a closed hour
            // that was merged has one.
            for hour in 0u8..24 {
                let after = next.segments.iter().filter(|s| !s.day && s.hour == hour).count();
                if rollup {
                    continue;
                }
                let Some((i, m)) = p.merges.iter().enumerate().find(|(_, m)| m.hour == hour) else {
                    prop_assert_eq!(after, count(hour));
                    continue;
                };
                let written = usize::from(outputs[i].segment.is_some());
                let expected = if written == 1 { count(hour) - m.existing.len() + 1 } else { count(hour) };
                prop_assert_eq!(after, expected, "hour {}", hour);
                if written == 1 && closed_hour(hour) {
                    prop_assert_eq!(after, 1);
                } else if written == 1 {
                    prop_assert!(after <= tiers.max(count(hour)).max(1), "hour {} has {}", hour, after);
                }
            }
            prop_assert!(next.segments.iter().filter(|s| s.day).count() <= 1, "two day segments");
            if rollup {
                let written = usize::from(outputs[0].segment.is_some());
                prop_assert_eq!(next.segments.len(), written + left_out, "a roll-up step leaves one segment and those left out");
            }
            for m in &p.merges {
                for old in &m.existing {
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
