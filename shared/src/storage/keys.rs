//! Object keys, typed. Grammar (docs/storage.md#keys):
//!
//! ```text
//! tenants/{tenant}/l0/{YYYY-MM-DD}/{HH}-{ulid}.parquet        one per ingest request
//! tenants/{tenant}/segments/{YYYY-MM-DD}/{HH}-{ulid}.parquet  written by compaction
//! tenants/{tenant}/manifests/{YYYY-MM-DD}/{version:020}.json  one per compaction publish
//! tenants/{tenant}/quarantine/{YYYY-MM-DD}/{HH}-{ulid}.json   why an L0 segment was set aside
//! tenants/{tenant}/leases/{YYYY-MM-DD}/{n:020}.json            a compactor's hold on the day
//! ```
//!
//! `{tenant}` is [`Tenant::key_segment`]; the day and hour are the UTC bucket of the segment's
//! earliest profile. Numbers are zero-padded so that keys sort in time and version order.

use std::fmt;

use ulid::Ulid;

use crate::tenant::Tenant;
use crate::time::NANOS_PER_SECOND;

/// Nanoseconds in an hour: the compaction bucket.
pub const HOUR_NANOS: i64 = 3600 * NANOS_PER_SECOND;
/// Nanoseconds in a day: the listing and manifest partition.
pub const DAY_NANOS: i64 = 24 * HOUR_NANOS;
/// The profiles of one ingest request must lie within this span, so that a query reading the
/// L0 day of `from − MAX_REQUEST_SPAN_NANOS` finds every segment overlapping its range.
pub const MAX_REQUEST_SPAN_NANOS: i64 = HOUR_NANOS;

/// A UTC day, as days since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Day(pub i64);

impl Day {
    /// Returns the day that contains `nanos`.
    pub fn of(nanos: i64) -> Self {
        Day(nanos.div_euclid(DAY_NANOS))
    }

    /// Returns the first nanosecond of the day.
    pub fn start_nanos(self) -> i64 {
        self.0.saturating_mul(DAY_NANOS)
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Option<Self> {
        let date: jiff::civil::Date = s.parse().ok()?;
        let ts = date.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp();
        Some(Day::of(ts.as_nanosecond() as i64))
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ts = jiff::Timestamp::from_second(self.0 * 86_400).map_err(|_| fmt::Error)?;
        write!(f, "{}", ts.to_zoned(jiff::tz::TimeZone::UTC).date())
    }
}

/// The prefix under which every tenant's objects sit.
pub const TENANTS_PREFIX: &str = "tenants/";

/// Returns the prefix of one tenant's objects: `tenants/{tenant}/`.
pub fn tenant_prefix(tenant: &Tenant) -> String {
    format!("{TENANTS_PREFIX}{}/", tenant.key_segment())
}

/// Parses a tenant prefix as listed under [`TENANTS_PREFIX`] (`tenants/{tenant}/`).
pub fn parse_tenant_prefix(prefix: &str) -> Option<Tenant> {
    let segment = prefix.strip_prefix(TENANTS_PREFIX)?.strip_suffix('/')?;
    Tenant::from_key_segment(segment)
}

/// Parses a day directory as listed under [`SegmentKey::days_prefix`] or
/// [`ManifestKey::days_prefix`] (`…/{YYYY-MM-DD}/`).
pub fn parse_day_prefix(prefix: &str) -> Option<Day> {
    prefix
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .and_then(Day::parse)
}

/// Where a segment sits in the compaction lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// Written by one ingest request.
    L0,
    /// Written by compaction, listed in a manifest.
    Compacted,
}

impl Level {
    fn dir(self) -> &'static str {
        match self {
            Level::L0 => "l0",
            Level::Compacted => "segments",
        }
    }
}

/// The key of a segment object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SegmentKey {
    /// The owner.
    pub tenant: Tenant,
    /// L0 or compacted.
    pub level: Level,
    /// The day of its earliest profile.
    pub day: Day,
    /// The hour (0–23) of its earliest profile.
    pub hour: u8,
    /// Its unique ID.
    pub id: Ulid,
}

impl SegmentKey {
    /// Builds the key for a new segment whose earliest profile is at `min_time`.
    pub fn new(tenant: &Tenant, level: Level, min_time: i64, id: Ulid) -> Self {
        let day = Day::of(min_time);
        let hour = ((min_time - day.start_nanos()) / HOUR_NANOS) as u8;
        SegmentKey {
            tenant: tenant.clone(),
            level,
            day,
            hour,
            id,
        }
    }

    /// Returns the prefix under which the day directories of one level are listed.
    pub fn days_prefix(tenant: &Tenant, level: Level) -> String {
        format!("{}{}/", tenant_prefix(tenant), level.dir())
    }

    /// Returns the prefix under which segments of one level and day are listed.
    pub fn prefix(tenant: &Tenant, level: Level, day: Day) -> String {
        format!("{}{day}/", SegmentKey::days_prefix(tenant, level))
    }

    /// Parses a key written by [`SegmentKey::to_string`].
    pub fn parse(key: &str) -> Option<Self> {
        let parts: Vec<&str> = key.split('/').collect();
        let [root, tenant, level, day, file] = parts.as_slice() else {
            return None;
        };
        if Some(*root) != TENANTS_PREFIX.strip_suffix('/') {
            return None;
        }
        let level = match *level {
            "l0" => Level::L0,
            "segments" => Level::Compacted,
            _ => return None,
        };
        let (hour, rest) = file.split_once('-')?;
        let id = rest.strip_suffix(".parquet")?;
        let hour: u8 = hour.parse().ok().filter(|h| *h < 24)?;
        Some(SegmentKey {
            tenant: Tenant::from_key_segment(tenant)?,
            level,
            day: Day::parse(day)?,
            hour,
            id: Ulid::from_string(id).ok()?,
        })
    }

    /// Returns the first nanosecond of the segment's hour bucket.
    pub fn hour_start(&self) -> i64 {
        self.day.start_nanos() + self.hour as i64 * HOUR_NANOS
    }

    /// Returns the key of the record written when this segment is quarantined.
    pub fn quarantine_record(&self) -> String {
        format!(
            "{}{QUARANTINE_DIR}/{}/{:02}-{}.json",
            tenant_prefix(&self.tenant),
            self.day,
            self.hour,
            self.id
        )
    }
}

const QUARANTINE_DIR: &str = "quarantine";

/// Tells whether `key` is an L0 segment's key, or a prefix of L0 keys at least as deep as the
/// tenant's L0 directory (`tenants/{tenant}/l0/…`): the objects deleted after the L0 grace
/// period ([`crate::compact::CompactionConfig::l0_grace_nanos`]).
pub fn is_l0(key: &str) -> bool {
    let mut parts = key.split('/');
    parts.next() == TENANTS_PREFIX.strip_suffix('/')
        && parts.next().is_some()
        && parts.next() == Some(Level::L0.dir())
        && parts.next().is_some()
}

/// Tells whether `key` is a quarantine record ([`SegmentKey::quarantine_record`]); the host
/// counts those written in its metrics.
pub fn is_quarantine_record(key: &str) -> bool {
    quarantine_record_day(key).is_some()
}

/// The day of a quarantine record's key (see [`SegmentKey::quarantine_record`]); `None` for
/// any other key.
pub fn quarantine_record_day(key: &str) -> Option<Day> {
    match key.split('/').collect::<Vec<_>>().as_slice() {
        [root, _, dir, day, file]
            if Some(*root) == TENANTS_PREFIX.strip_suffix('/')
                && *dir == QUARANTINE_DIR
                && file.ends_with(".json") =>
        {
            Day::parse(day)
        }
        _ => None,
    }
}

impl fmt::Display for SegmentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{:02}-{}.parquet",
            SegmentKey::prefix(&self.tenant, self.level, self.day),
            self.hour,
            self.id
        )
    }
}

/// The key of one manifest version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ManifestKey {
    /// The owner.
    pub tenant: Tenant,
    /// The day it describes.
    pub day: Day,
    /// Its version, starting at 1.
    pub version: u64,
}

impl ManifestKey {
    /// Returns the prefix under which the day directories of manifests are listed.
    pub fn days_prefix(tenant: &Tenant) -> String {
        format!("{}{MANIFESTS_DIR}/", tenant_prefix(tenant))
    }

    /// Returns the prefix under which the versions of one day's manifest are listed.
    pub fn prefix(tenant: &Tenant, day: Day) -> String {
        numbered_prefix(MANIFESTS_DIR, tenant, day)
    }

    /// Parses a key written by [`ManifestKey::to_string`].
    pub fn parse(key: &str) -> Option<Self> {
        let (tenant, day, version) = parse_numbered(MANIFESTS_DIR, key)?;
        Some(ManifestKey {
            tenant,
            day,
            version,
        })
    }
}

impl fmt::Display for ManifestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = numbered_prefix(MANIFESTS_DIR, &self.tenant, self.day);
        write!(f, "{prefix}{:020}.json", self.version)
    }
}

/// The key of one compaction lease of a tenant's day (`tenants/{tenant}/leases/{YYYY-MM-DD}/
/// {n:020}.json`): numbered like manifest versions, taken with a create-only put.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeaseKey {
    /// The owner.
    pub tenant: Tenant,
    /// The day it guards.
    pub day: Day,
    /// Its number: one more than the newest lease when it was taken.
    pub n: u64,
}

impl LeaseKey {
    /// Returns the prefix under which one day's leases are listed.
    pub fn prefix(tenant: &Tenant, day: Day) -> String {
        numbered_prefix(LEASES_DIR, tenant, day)
    }

    /// Parses a key written by [`LeaseKey::to_string`].
    pub fn parse(key: &str) -> Option<Self> {
        let (tenant, day, n) = parse_numbered(LEASES_DIR, key)?;
        Some(LeaseKey { tenant, day, n })
    }
}

impl fmt::Display for LeaseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = numbered_prefix(LEASES_DIR, &self.tenant, self.day);
        write!(f, "{prefix}{:020}.json", self.n)
    }
}

/// The prefix of the versions of a tenant's recording rules
/// (`tenants/{tenant}/settings/recording-rules/`; see [`crate::storage::versioned`]).
pub fn recording_rules_prefix(tenant: &Tenant) -> String {
    format!("{}settings/recording-rules/", tenant_prefix(tenant))
}

/// The prefix of a tenant's pull-mode state (`tenants/{tenant}/scrape/`): per target, the
/// health of its last scrape and the baselines of its cumulative profiles
/// ([`crate::scrape`]).
pub fn scrape_prefix(tenant: &Tenant) -> String {
    format!("{}scrape/", tenant_prefix(tenant))
}

/// The prefix of the versions of a tenant's remote-write watermark
/// (`tenants/{tenant}/settings/remote-write/`).
pub fn remote_write_prefix(tenant: &Tenant) -> String {
    format!("{}settings/remote-write/", tenant_prefix(tenant))
}

/// The prefix of a tenant's cached counters of one day (`tenants/{tenant}/counters/{day}/`):
/// one object per set of segments the day's query read (see `metrics::cache`).
pub fn counters_prefix(tenant: &Tenant, day: Day) -> String {
    format!("{}counters/{day}/", tenant_prefix(tenant))
}

/// The prefix of the versions of a tenant's retired exported-metric counters
/// (`tenants/{tenant}/settings/retired-counters/`): the counters of the days retention deleted.
pub fn retired_counters_prefix(tenant: &Tenant) -> String {
    format!("{}settings/retired-counters/", tenant_prefix(tenant))
}

/// Every prefix that holds a tenant's objects of one filing day, in the order retention
/// deletes them: uploads and segments first, the manifests, which make them live, last.
pub fn day_prefixes(tenant: &Tenant, day: Day) -> [String; 6] {
    [
        SegmentKey::prefix(tenant, Level::L0, day),
        SegmentKey::prefix(tenant, Level::Compacted, day),
        format!("{}{QUARANTINE_DIR}/{day}/", tenant_prefix(tenant)),
        counters_prefix(tenant, day),
        LeaseKey::prefix(tenant, day),
        ManifestKey::prefix(tenant, day),
    ]
}

/// The key of one version of the state under `prefix`: `{prefix}{version:020}.json`, so that
/// listing order is version order.
pub fn versioned_key(prefix: &str, version: u64) -> String {
    format!("{prefix}{version:020}.json")
}

/// Parses a key written by [`versioned_key`] under `prefix`.
pub fn parse_version(prefix: &str, key: &str) -> Option<u64> {
    let n = key.strip_prefix(prefix)?.strip_suffix(".json")?;
    if n.len() != 20 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

const MANIFESTS_DIR: &str = "manifests";
const LEASES_DIR: &str = "leases";

fn numbered_prefix(dir: &str, tenant: &Tenant, day: Day) -> String {
    format!("{}{dir}/{day}/", tenant_prefix(tenant))
}

/// Parses `tenants/{tenant}/{dir}/{YYYY-MM-DD}/{n:020}.json`.
fn parse_numbered(dir: &str, key: &str) -> Option<(Tenant, Day, u64)> {
    let parts: Vec<&str> = key.split('/').collect();
    let ["tenants", tenant, found, day, file] = parts.as_slice() else {
        return None;
    };
    let n = file.strip_suffix(".json")?;
    if *found != dir || n.len() != 20 {
        return None;
    }
    Some((
        Tenant::from_key_segment(tenant)?,
        Day::parse(day)?,
        n.parse().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(id: &str) -> Tenant {
        Tenant::from_header(Some(id)).unwrap()
    }

    #[test]
    fn l0_keys_and_their_prefixes_are_told_apart_from_the_rest() {
        let t = tenant("l0");
        let day = Day::of(1_700_000_000 * NANOS_PER_SECOND);
        let l0 = SegmentKey::new(&t, Level::L0, day.start_nanos(), Ulid::nil()).to_string();
        let compacted =
            SegmentKey::new(&t, Level::Compacted, day.start_nanos(), Ulid::nil()).to_string();
        assert!(is_l0(&l0));
        assert!(is_l0(&SegmentKey::prefix(&t, Level::L0, day)));
        assert!(is_l0(&SegmentKey::days_prefix(&t, Level::L0)));
        // A tenant named `l0` is not an L0 directory, nor is any other object of it.
        for other in [
            compacted,
            ManifestKey::prefix(&t, day),
            tenant_prefix(&t),
            SegmentKey::new(&t, Level::L0, 0, Ulid::nil()).quarantine_record(),
            "tenants/t/l0".to_string(),
            "l0/x/y".to_string(),
        ] {
            assert!(!is_l0(&other), "{other}");
        }
    }

    #[test]
    fn segment_keys_round_trip_at_edges() {
        for (t, nanos, id) in [
            ("anonymous", 0, Ulid::nil()),
            (
                "a(b)*c",
                1_700_000_000 * NANOS_PER_SECOND,
                Ulid::from_parts(1, 2),
            ),
            ("x", i64::MAX, Ulid(u128::MAX)),
        ] {
            for level in [Level::L0, Level::Compacted] {
                let k = SegmentKey::new(&tenant(t), level, nanos, id);
                let s = k.to_string();
                assert!(s.starts_with(&SegmentKey::prefix(&k.tenant, level, k.day)));
                assert_eq!(SegmentKey::parse(&s), Some(k), "{s}");
            }
        }
        let k = SegmentKey::new(
            &tenant("t"),
            Level::L0,
            1_700_000_000 * NANOS_PER_SECOND,
            Ulid::nil(),
        );
        assert_eq!(
            k.to_string(),
            "tenants/t/l0/2023-11-14/22-00000000000000000000000000.parquet"
        );
        assert_eq!(k.hour_start(), 1_699_999_200 * NANOS_PER_SECOND);
        let record = k.quarantine_record();
        assert_eq!(
            record,
            "tenants/t/quarantine/2023-11-14/22-00000000000000000000000000.json"
        );
        assert!(is_quarantine_record(&record));
        assert!(!is_quarantine_record(&k.to_string()));
        assert!(SegmentKey::parse(&record).is_none());
    }

    #[test]
    fn manifest_keys_round_trip_and_sort() {
        for version in [0, 1, u64::MAX] {
            let k = ManifestKey {
                tenant: tenant("t"),
                day: Day(19_675),
                version,
            };
            assert_eq!(ManifestKey::parse(&k.to_string()), Some(k));
        }
        let a = ManifestKey {
            tenant: tenant("t"),
            day: Day(1),
            version: 9,
        }
        .to_string();
        let b = ManifestKey {
            tenant: tenant("t"),
            day: Day(1),
            version: 10,
        }
        .to_string();
        assert!(a < b);
        let lease = LeaseKey {
            tenant: tenant("t"),
            day: Day(1),
            n: 3,
        };
        let text = lease.to_string();
        assert_eq!(
            text,
            "tenants/t/leases/1970-01-02/00000000000000000003.json"
        );
        assert_eq!(LeaseKey::parse(&text), Some(lease));
        assert!(ManifestKey::parse(&text).is_none() && LeaseKey::parse(&a).is_none());
    }
}
