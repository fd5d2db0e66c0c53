//! Manifests: per tenant and UTC day, immutable numbered versions that list the compacted
//! segments and the L0 segments they replace. Format: docs/storage.md#manifest.
//!
//! # Why no sample is lost or counted twice
//!
//! - Compaction writes a compacted segment first, then publishes version N+1 with a
//!   create-only put. Two compactors racing for N+1: exactly one put succeeds; the loser
//!   deletes the segments it wrote (nothing references them) and retries on its next pass.
//! - A query reads the newest manifest *before* listing L0 segments. L0 segments the manifest
//!   covers are skipped (their samples are in its compacted segments); every other L0 segment
//!   is read. An L0 segment is deleted only after a grace period and only then dropped from
//!   `covered`, so a listing taken after reading any version never shows a segment whose data
//!   that version also holds in a compacted segment.
//! - Replaced compacted segments and older manifest versions are deleted after the same grace
//!   period, so a query that read an older version can still finish (queries must be shorter
//!   than the grace period).
//! - A crash between any two steps leaves either an unreferenced compacted segment (ignored,
//!   and deleted by a later pass) or a published version: both are readable states.

use serde::{Deserialize, Serialize};

use crate::storage::keys::{
    Day, HOUR_NANOS, Level, MAX_REQUEST_SPAN_NANOS, ManifestKey, SegmentKey, parse_day_prefix,
};
use crate::storage::store::{ObjectStore, StoreError, list_all};
use crate::tenant::Tenant;
use crate::time::TimeRange;
use crate::{Error, Result};

/// A compacted segment listed in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactedSegment {
    /// Its object key.
    pub key: String,
    /// The hour bucket (0–23) it holds; 0 for a day segment.
    pub hour: u8,
    /// A day segment: the roll-up of every hour of the day that had data when it was made
    /// (added to layout 1 compatibly: absent means an hour segment; a reader that ignores it
    /// still reads the right samples, by time).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub day: bool,
    /// Earliest profile time (ns).
    pub min_time: i64,
    /// Latest profile time (ns).
    pub max_time: i64,
    /// Its size in bytes.
    pub size: u64,
    /// Offset of its hot part (strings, nodes, stack sums, profile totals, footer), which a
    /// query fetches with one ranged read; absent in segments written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hot_start: Option<u64>,
    /// In a day segment of format 6, the offset of its fingerprinted day sums (then profile
    /// totals and the footer): what a query over whole days reads when it knows the stacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day_sums_start: Option<u64>,
}

/// An object scheduled for deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scheduled {
    /// Its object key.
    pub key: String,
    /// Not before this time (ns).
    pub delete_after: i64,
}

/// An L0 segment that could not be decoded, set aside: readers and compaction skip it, and it is
/// kept (never deleted) for an operator to look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantined {
    /// Its object key.
    pub key: String,
    /// Why it could not be read.
    pub reason: String,
    /// When it was set aside (ns).
    pub at: i64,
}

/// One manifest version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Its version; 0 means "no manifest yet".
    pub version: u64,
    /// When it was published (ns).
    pub created_at: i64,
    /// Live compacted segments: at most one day segment, and at most one per hour beside it
    /// (before a roll-up, or late data after one).
    pub segments: Vec<CompactedSegment>,
    /// L0 segments whose samples are in `segments`; readers skip them. Each is deleted after
    /// its time and then dropped from this list.
    pub covered: Vec<Scheduled>,
    /// Replaced compacted segments and older manifest versions, deleted after their time.
    pub pending_deletes: Vec<Scheduled>,
    /// Unreadable L0 segments set aside (added to layout 1 compatibly: absent means none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quarantined: Vec<Quarantined>,
}

impl Manifest {
    /// Returns the L0 keys readers and compaction skip: those it covers (their samples are in
    /// its compacted segments) and those it quarantined.
    pub fn skipped_keys(&self) -> crate::FastSet<&str> {
        self.covered
            .iter()
            .map(|c| c.key.as_str())
            .chain(self.quarantined.iter().map(|q| q.key.as_str()))
            .collect()
    }
}

/// Reads the newest manifest version of a tenant's day; `None` if it has none.
pub fn load_latest(
    store: &dyn ObjectStore,
    tenant: &Tenant,
    day: Day,
) -> Result<Option<(ManifestKey, Manifest)>> {
    let mut keys: Vec<ManifestKey> = list_all(store, &ManifestKey::prefix(tenant, day))?
        .into_iter()
        .filter_map(|o| ManifestKey::parse(&o.key))
        .collect();
    keys.sort();
    let Some(newest) = keys.pop() else {
        return Ok(None);
    };
    let manifest = read(store, &newest)?;
    Ok(Some((newest, manifest)))
}

/// Reads one manifest version.
pub fn read(store: &dyn ObjectStore, key: &ManifestKey) -> Result<Manifest> {
    let key = key.to_string();
    let bytes = store.get(&key)?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
        key,
        message: e.to_string(),
    })
}

/// Publishes `manifest` as version `manifest.version` with a create-only put. Returns
/// `Ok(false)` if another writer published that version first (the caller lost the race).
pub fn publish(
    store: &dyn ObjectStore,
    tenant: &Tenant,
    day: Day,
    manifest: &Manifest,
) -> Result<bool> {
    let key = ManifestKey {
        tenant: tenant.clone(),
        day,
        version: manifest.version,
    };
    let bytes = serde_json::to_vec_pretty(manifest).map_err(|e| Error::Corrupt {
        key: key.to_string(),
        message: e.to_string(),
    })?;
    match store.put(
        &key.to_string(),
        bytes.into(),
        crate::storage::store::PutMode::Create,
    ) {
        Ok(()) => Ok(true),
        Err(StoreError::AlreadyExists { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Every tenant that has objects in the store.
pub fn tenants(store: &dyn ObjectStore) -> Result<Vec<Tenant>> {
    Ok(
        crate::storage::store::list_prefixes(store, crate::storage::keys::TENANTS_PREFIX)?
            .iter()
            .filter_map(|p| crate::storage::keys::parse_tenant_prefix(p))
            .collect(),
    )
}

/// A segment a query must read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRef {
    /// Its object key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// Where its hot part starts, when the manifest says (compacted segments).
    pub hot_start: Option<u64>,
    /// Its earliest and latest profile times, when the manifest says (compacted segments).
    pub time: Option<(i64, i64)>,
    /// Where its fingerprinted day sums start, when the manifest says (day segments).
    pub day_sums_start: Option<u64>,
}

/// Returns the days whose L0 listings and manifests can hold data of `range`: an L0 segment
/// sits under the day of its earliest profile, at most one request span before `range.from`.
pub fn days_for_range(range: &TimeRange) -> impl Iterator<Item = Day> {
    let first = Day::of(range.from - MAX_REQUEST_SPAN_NANOS);
    let last = Day::of(range.until);
    (first.0..=last.0).map(Day)
}

/// Lists the days that hold a tenant's objects: those with L0 segments, compacted segments
/// (perhaps only orphans) or manifests, sorted.
pub fn data_days(store: &dyn ObjectStore, tenant: &Tenant) -> Result<Vec<Day>> {
    let mut days: Vec<Day> = Vec::new();
    let dirs = [
        SegmentKey::days_prefix(tenant, Level::L0),
        SegmentKey::days_prefix(tenant, Level::Compacted),
        ManifestKey::days_prefix(tenant),
    ];
    for prefix in dirs {
        for p in crate::storage::store::list_prefixes(store, &prefix)? {
            days.extend(parse_day_prefix(&p));
        }
    }
    days.sort();
    days.dedup();
    Ok(days)
}

/// Lists the segments holding a tenant's data in `range`, each sample in exactly one of them:
/// the compacted segments of each day's newest manifest, and the L0 segments it does not cover.
/// Every day's L0 segments come first (see [`DayListing::segments_in`]).
pub fn live_segments(
    store: &dyn ObjectStore,
    tenant: &Tenant,
    range: &TimeRange,
) -> Result<Vec<SegmentRef>> {
    let days = days_for_range(range)
        .map(|day| DayListing::read(store, tenant, day))
        .collect::<Result<Vec<_>>>()?;
    let l0 = days.iter().flat_map(|d| d.l0_in(range));
    let compacted = days.iter().flat_map(|d| d.compacted_in(range));
    Ok(l0.chain(compacted).collect())
}

/// What one day directory holds for queries: its newest manifest's compacted segments and its
/// L0 segments that manifest does not cover. [`live_segments`] over a range is
/// [`DayListing::segments_in`] of each of [`days_for_range`]'s listings, so a caller that needs
/// several ranges can read each day once.
#[derive(Debug, Clone, Default)]
pub struct DayListing {
    compacted: Vec<CompactedSegment>,
    /// (key, size, the hour it starts in).
    l0: Vec<(String, u64, i64)>,
}

impl DayListing {
    /// Reads a day: the manifest first, then the L0 listing (see the module doc).
    pub fn read(store: &dyn ObjectStore, tenant: &Tenant, day: Day) -> Result<Self> {
        let manifest = load_latest(store, tenant, day)?
            .map(|(_, m)| m)
            .unwrap_or_default();
        let skipped = manifest.skipped_keys();
        let mut l0 = Vec::new();
        for o in list_all(store, &SegmentKey::prefix(tenant, Level::L0, day))? {
            // Skipped first: under load most of a day's listing is merged uploads awaiting
            // deletion, and parsing each key cost a query more than looking it up.
            if skipped.contains(o.key.as_str()) {
                continue;
            }
            if let Some(key) = SegmentKey::parse(&o.key) {
                l0.push((o.key, o.size, key.hour_start()));
            }
        }
        Ok(DayListing {
            compacted: manifest.segments,
            l0,
        })
    }

    /// The day's segments that can hold data of `range`: its L0 segments first, so that a
    /// query is done with them (and with the L0 grace period, `storage::deadline`) before it
    /// reads the compacted ones, which a whole grace period keeps.
    pub fn segments_in(&self, range: &TimeRange) -> impl Iterator<Item = SegmentRef> + '_ {
        self.l0_in(range).chain(self.compacted_in(range))
    }

    /// The day's L0 segments that can hold data of `range`.
    fn l0_in(&self, range: &TimeRange) -> impl Iterator<Item = SegmentRef> + '_ {
        let range = *range;
        // An L0 segment starts in its hour and spans at most one more.
        self.l0
            .iter()
            .filter(move |(_, _, start)| {
                *start <= range.until && start + 2 * HOUR_NANOS >= range.from
            })
            .map(|(key, size, _)| SegmentRef {
                key: key.clone(),
                size: *size,
                hot_start: None,
                time: None,
                day_sums_start: None,
            })
    }

    /// The day's compacted segments that overlap `range`.
    fn compacted_in(&self, range: &TimeRange) -> impl Iterator<Item = SegmentRef> + '_ {
        let range = *range;
        self.compacted
            .iter()
            .filter(move |s| range.overlaps(s.min_time, s.max_time))
            .map(|s| SegmentRef {
                key: s.key.clone(),
                size: s.size,
                hot_start: s.hot_start,
                time: Some((s.min_time, s.max_time)),
                day_sums_start: s.day_sums_start,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::store::{MemoryStore, PutMode};
    use ulid::Ulid;

    /// 2023-11-15T00:00:00Z.
    const DAY_START: i64 = 1_700_006_400 * crate::time::NANOS_PER_SECOND;

    fn l0(store: &MemoryStore, tenant: &Tenant, at: i64) -> String {
        let key = SegmentKey::new(tenant, Level::L0, at, Ulid::new()).to_string();
        store
            .put(&key, bytes::Bytes::from_static(b"x"), PutMode::Create)
            .unwrap();
        key
    }

    fn keys(refs: Vec<SegmentRef>) -> Vec<String> {
        let mut keys: Vec<String> = refs.into_iter().map(|r| r.key).collect();
        keys.sort();
        keys
    }

    #[test]
    fn live_segments_read_each_sample_once() {
        let store = MemoryStore::default();
        let tenant = Tenant::from_header(Some("t")).unwrap();
        let day = Day::of(DAY_START);
        let hour = |h: i64| DAY_START + h * HOUR_NANOS;
        let covered = l0(&store, &tenant, hour(3));
        let uncovered = l0(&store, &tenant, hour(5));
        let previous_day = l0(&store, &tenant, hour(-1) + 60);
        let too_early = l0(&store, &tenant, hour(-20));
        let compacted = CompactedSegment {
            key: SegmentKey::new(&tenant, Level::Compacted, hour(3), Ulid::new()).to_string(),
            hour: 3,
            day: false,
            hot_start: None,
            day_sums_start: None,
            min_time: hour(3),
            max_time: hour(3) + 1000,
            size: 10,
        };
        let manifest = Manifest {
            version: 1,
            segments: vec![compacted.clone()],
            covered: vec![Scheduled {
                key: covered.clone(),
                delete_after: i64::MAX,
            }],
            ..Manifest::default()
        };
        assert!(publish(&store, &tenant, day, &manifest).unwrap());
        assert!(
            publish(&store, &tenant, day, &manifest).unwrap(),
            "publishing the same manifest again (a retry whose answer was lost) is the same write"
        );
        let rival = Manifest {
            covered: Vec::new(),
            ..manifest.clone()
        };
        assert!(
            !publish(&store, &tenant, day, &rival).unwrap(),
            "another manifest of the same version loses"
        );
        let range = TimeRange {
            from: hour(0) + HOUR_NANOS / 2,
            until: hour(6),
        };
        let mut expected = vec![compacted.key.clone(), uncovered.clone(), previous_day];
        expected.sort();
        assert_eq!(
            keys(live_segments(&store, &tenant, &range).unwrap()),
            expected
        );
        // The previous day compacted too: every day's L0 segments still come before any
        // compacted one, so that a query is done with them within the L0 grace period.
        let previous = CompactedSegment {
            key: SegmentKey::new(&tenant, Level::Compacted, hour(-1), Ulid::new()).to_string(),
            hour: 23,
            min_time: hour(-1),
            max_time: hour(1),
            ..compacted.clone()
        };
        let previous_manifest = Manifest {
            version: 1,
            segments: vec![previous],
            ..Manifest::default()
        };
        assert!(publish(&store, &tenant, Day::of(hour(-1)), &previous_manifest).unwrap());
        let levels: Vec<bool> = live_segments(&store, &tenant, &range)
            .unwrap()
            .iter()
            .map(|r| r.time.is_none())
            .collect();
        assert_eq!(levels, [true, true, false, false], "L0 segments first");
        // Another tenant sees nothing.
        let other = Tenant::from_header(Some("u")).unwrap();
        assert!(live_segments(&store, &other, &range).unwrap().is_empty());
        let late = TimeRange {
            from: hour(4),
            until: hour(6),
        };
        assert_eq!(
            keys(live_segments(&store, &tenant, &late).unwrap()),
            [uncovered],
            "segments that end before the range are left out"
        );
        assert!(
            !keys(live_segments(&store, &tenant, &range).unwrap()).contains(&too_early),
            "an L0 segment more than a request span before the range is left out"
        );
        assert_eq!(
            data_days(&store, &tenant).unwrap(),
            [Day::of(hour(-1)), day]
        );
    }
}
