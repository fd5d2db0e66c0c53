//! What the bucket holds, for operators: per tenant and filing day, objects and bytes by
//! [`Class`], the uploads compaction has not merged yet and how long the oldest has waited,
//! the last compaction, quarantined uploads, and how many days retention deleted. One listing
//! per tenant and one manifest read per day. Served as JSON at `GET /flamelet/status` (the UI's
//! status page, `flamelet status`), and the source of the host's storage gauges in `/metrics`.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::Result;
use crate::metrics::retired;
use crate::storage::keys::{
    Day, Level, ManifestKey, SegmentKey, quarantine_record_day, tenant_prefix,
};
use crate::storage::manifest::{self, Quarantined, tenants};
use crate::storage::store::{SharedStore, list_all};
use crate::tenant::Tenant;

/// A count of objects and their bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Objects.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
}

impl Usage {
    fn add(&mut self, bytes: u64) {
        self.objects += 1;
        self.bytes = self.bytes.saturating_add(bytes);
    }

    fn merge(&mut self, other: Usage) {
        self.objects += other.objects;
        self.bytes = self.bytes.saturating_add(other.bytes);
    }
}

/// Where an object sits in the data's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// An upload's segment, merged or not yet.
    L0,
    /// A compacted hour segment the newest manifest lists.
    Hour,
    /// A day roll-up the newest manifest lists.
    Day,
    /// A compacted segment no manifest version lists any more: replaced, deleted after the
    /// grace period, or an orphan of an unfinished pass.
    Replaced,
    /// A manifest version.
    Manifest,
    /// Why an upload was set aside as unreadable.
    Quarantine,
    /// Everything else: leases, cached counters, settings.
    Other,
}

impl Class {
    /// Every class, in lifecycle order.
    pub const ALL: [Class; 7] = [
        Class::L0,
        Class::Hour,
        Class::Day,
        Class::Replaced,
        Class::Manifest,
        Class::Quarantine,
        Class::Other,
    ];

    /// Its name in JSON and in `/metrics`' `level` label.
    pub fn name(self) -> &'static str {
        match self {
            Class::L0 => "l0",
            Class::Hour => "hour",
            Class::Day => "day",
            Class::Replaced => "replaced",
            Class::Manifest => "manifest",
            Class::Quarantine => "quarantine",
            Class::Other => "other",
        }
    }
}

/// Objects and bytes by class, as a JSON object keyed by [`Class::name`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Levels(BTreeMap<String, Usage>);

impl Levels {
    /// The usage of `class` (zero when it has none).
    pub fn of(&self, class: Class) -> Usage {
        self.0.get(class.name()).copied().unwrap_or_default()
    }

    /// Every class with its usage, in lifecycle order.
    pub fn each(&self) -> impl Iterator<Item = (Class, Usage)> + '_ {
        Class::ALL.into_iter().map(|c| (c, self.of(c)))
    }

    /// All classes together.
    pub fn total(&self) -> Usage {
        let mut total = Usage::default();
        for usage in self.0.values() {
            total.merge(*usage);
        }
        total
    }

    fn add(&mut self, class: Class, bytes: u64) {
        self.0
            .entry(class.name().to_string())
            .or_default()
            .add(bytes);
    }

    fn merge(&mut self, other: &Levels) {
        for (name, usage) in &other.0 {
            self.0.entry(name.clone()).or_default().merge(*usage);
        }
    }
}

/// One filing day of a tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCensus {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Its objects by class.
    pub levels: Levels,
    /// The uploads its newest manifest neither covers nor quarantined: what a query reads one
    /// by one, and what compaction has still to merge.
    pub uncompacted: Usage,
    /// When the oldest of those was written (ns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_uncompacted: Option<i64>,
    /// Its newest manifest version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_version: Option<u64>,
    /// When that version was published (ns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_compaction: Option<i64>,
    /// The uploads it set aside as unreadable, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quarantined: Vec<Quarantined>,
    /// Why its newest manifest could not be read (its other figures are then from the
    /// listing alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantCensus {
    /// Its ID.
    pub tenant: String,
    /// Its objects by class, every day and the objects of no day together.
    pub levels: Levels,
    /// Its uploads not merged yet, every day together.
    pub uncompacted: Usage,
    /// When the oldest of those was written (ns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_uncompacted: Option<i64>,
    /// When the newest manifest version of any day was published (ns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_compaction: Option<i64>,
    /// Filing days retention deleted, ever.
    pub retention_deleted_days: u64,
    /// Its days, oldest first.
    pub days: Vec<DayCensus>,
}

impl TenantCensus {
    /// How long its oldest unmerged upload had waited at `now` (ns); 0 when none waits.
    pub fn compaction_lag_nanos(&self, now: i64) -> i64 {
        self.oldest_uncompacted
            .map_or(0, |written| now.saturating_sub(written).max(0))
    }

    /// Its quarantined uploads, every day together.
    pub fn quarantined(&self) -> usize {
        self.days.iter().map(|d| d.quarantined.len()).sum()
    }
}

/// The whole bucket, or one tenant of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Census {
    /// When it was taken (ns).
    pub taken_at: i64,
    /// Each tenant, in key order.
    pub tenants: Vec<TenantCensus>,
}

/// Takes the census of `only` that tenant, or of every tenant, at `now` (ns).
pub fn take(store: &SharedStore, only: Option<&Tenant>, now: i64) -> Result<Census> {
    let tenants = match only {
        Some(tenant) => vec![tenant.clone()],
        None => tenants(store.as_ref())?,
    };
    let mut census = Census {
        taken_at: now,
        tenants: Vec::with_capacity(tenants.len()),
    };
    for tenant in tenants {
        census.tenants.push(tenant_census(store, &tenant)?);
    }
    Ok(census)
}

/// A day's objects as listed, before its manifest sorts them.
#[derive(Default)]
struct Listed {
    l0: Vec<(String, u64, i64)>,
    compacted: Vec<(String, u64)>,
    manifests: Vec<(ManifestKey, u64)>,
    quarantine: Usage,
}

fn tenant_census(store: &SharedStore, tenant: &Tenant) -> Result<TenantCensus> {
    let mut days: BTreeMap<Day, Listed> = BTreeMap::new();
    let mut census = TenantCensus {
        tenant: tenant.as_str().to_string(),
        retention_deleted_days: retired::load(store, tenant)?.deleted_days() as u64,
        ..TenantCensus::default()
    };
    for object in list_all(store.as_ref(), &tenant_prefix(tenant))? {
        let size = object.size;
        if let Some(key) = SegmentKey::parse(&object.key) {
            let listed = days.entry(key.day).or_default();
            match key.level {
                // An upload's ID is a ULID: its first 48 bits are when it was written (ms).
                Level::L0 => {
                    let written = (key.id.timestamp_ms() as i64).saturating_mul(1_000_000);
                    listed.l0.push((object.key, size, written));
                }
                Level::Compacted => listed.compacted.push((object.key, size)),
            }
        } else if let Some(key) = ManifestKey::parse(&object.key) {
            days.entry(key.day).or_default().manifests.push((key, size));
        } else if let Some(day) = quarantine_record_day(&object.key) {
            days.entry(day).or_default().quarantine.add(size);
        } else {
            census.levels.add(Class::Other, size);
        }
    }
    for (day, listed) in days {
        let day = day_census(store, day, listed);
        census.levels.merge(&day.levels);
        census.uncompacted.merge(day.uncompacted);
        census.oldest_uncompacted = earliest(census.oldest_uncompacted, day.oldest_uncompacted);
        census.last_compaction = census.last_compaction.max(day.last_compaction);
        census.days.push(day);
    }
    Ok(census)
}

fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn day_census(store: &SharedStore, day: Day, listed: Listed) -> DayCensus {
    let mut census = DayCensus {
        day: day.to_string(),
        ..DayCensus::default()
    };
    let newest = listed.manifests.iter().map(|(k, _)| k).max();
    let manifest = match newest.map(|key| manifest::read(store.as_ref(), key)) {
        Some(Ok(m)) => Some(m),
        Some(Err(e)) => {
            census.error = Some(e.to_string());
            None
        }
        None => None,
    };
    for (_, size) in &listed.manifests {
        census.levels.add(Class::Manifest, *size);
    }
    if listed.quarantine.objects > 0 {
        census
            .levels
            .0
            .insert(Class::Quarantine.name().to_string(), listed.quarantine);
    }
    let skipped = manifest
        .as_ref()
        .map(|m| m.skipped_keys())
        .unwrap_or_default();
    for (key, size, written) in &listed.l0 {
        census.levels.add(Class::L0, *size);
        if !skipped.contains(key.as_str()) {
            census.uncompacted.add(*size);
            census.oldest_uncompacted = earliest(census.oldest_uncompacted, Some(*written));
        }
    }
    let live: HashSet<(&str, bool)> = manifest
        .iter()
        .flat_map(|m| m.segments.iter().map(|s| (s.key.as_str(), s.day)))
        .collect();
    for (key, size) in &listed.compacted {
        let class = if live.contains(&(key.as_str(), true)) {
            Class::Day
        } else if live.contains(&(key.as_str(), false)) {
            Class::Hour
        } else {
            Class::Replaced
        };
        census.levels.add(class, *size);
    }
    if let (Some(key), Some(m)) = (newest, &manifest) {
        census.manifest_version = Some(key.version);
        census.last_compaction = Some(m.created_at);
        census.quarantined = m.quarantined.clone();
    }
    census
}

impl Census {
    /// The census as a plain-text report for a terminal (`flamelet status`).
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "storage census at {}", timestamp(self.taken_at));
        if self.tenants.is_empty() {
            out.push_str("no tenant has data\n");
        }
        for t in &self.tenants {
            let total = t.levels.total();
            let lag = match t.oldest_uncompacted {
                Some(_) => seconds(t.compaction_lag_nanos(self.taken_at)),
                None => "none".to_string(),
            };
            let _ = writeln!(
                out,
                "\ntenant {}: {} day{}, {} objects, {}; compaction lag {lag}; last compaction {}; \
                 quarantined {}; days deleted by retention {}",
                t.tenant,
                t.days.len(),
                if t.days.len() == 1 { "" } else { "s" },
                total.objects,
                bytes(total.bytes),
                t.last_compaction.map_or("never".to_string(), timestamp),
                t.quarantined(),
                t.retention_deleted_days,
            );
            let mut header = format!("  {:<10}", "day");
            for class in Class::ALL {
                let _ = write!(header, " {:>18}", class.name());
            }
            let _ = writeln!(out, "{header} {:>18}", "not merged");
            for d in &t.days {
                let mut row = format!("  {:<10}", d.day);
                for (_, usage) in d.levels.each() {
                    let _ = write!(row, " {:>18}", cell(usage));
                }
                let _ = writeln!(out, "{row} {:>18}", cell(d.uncompacted));
                if let Some(e) = &d.error {
                    let _ = writeln!(out, "  {:<10} manifest unreadable: {e}", "");
                }
                for q in &d.quarantined {
                    let _ = writeln!(out, "  {:<10} quarantined {}: {}", "", q.key, q.reason);
                }
            }
            let other = t.levels.of(Class::Other);
            if other.objects > 0 {
                let _ = writeln!(out, "  no day: {} (other)", cell(other));
            }
        }
        out
    }
}

fn cell(usage: Usage) -> String {
    if usage.objects == 0 {
        "-".to_string()
    } else {
        format!("{} / {}", usage.objects, bytes(usage.bytes))
    }
}

/// Bytes in the largest unit that keeps a number ≥ 1 (decimal units, as buckets bill).
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn seconds(nanos: i64) -> String {
    format!("{:.1}s", nanos as f64 / 1e9)
}

fn timestamp(nanos: i64) -> String {
    crate::time::rfc3339(nanos)
}

#[cfg(test)]
mod tests;
