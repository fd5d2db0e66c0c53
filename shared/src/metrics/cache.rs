//! The counters of a tenant's rules, computed per UTC day and kept beside the segments, so
//! that a scrape recomputes only the days whose data changed and the rules it has not seen.
//!
//! A day's entry is keyed by a hash of the keys of the segments its query reads
//! (`live_segments` over the day, from each day directory's listing read once per scrape):
//! segments are immutable, so the same set holds the same samples and the counters computed
//! from it stay right. When a compaction publishes or an upload lands, the set changes and the
//! day is computed again under a new key (the others of the day are deleted). A set changing between the listing and the computation makes the entry
//! hold the newer data under the older key, which only a scrape listing that older set reads:
//! a counter a moment ahead of its listing, never behind, and equal to what the next
//! computation gives. Entries are a cache: unreadable ones are recomputed.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::Result;
use crate::storage::keys::{DAY_NANOS, Day, counters_prefix};
use crate::storage::manifest::{DayListing, data_days, days_for_range};
use crate::storage::store::{PutMode, SharedStore, StoreError, list_all};
use crate::tenant::Tenant;
use crate::time::TimeRange;

use super::counters::Counters;
use super::export::counters_over;
use super::rules::ExportRule;

/// One day's cached counters: per rule fingerprint, each group-by value set's sum.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct DayCounters {
    rules: BTreeMap<String, Vec<(Vec<String>, i64)>>,
}

/// The counters of `rules` over everything the tenant has stored, day by day.
pub fn cached_counters(
    store: &SharedStore,
    tenant: &Tenant,
    rules: &[ExportRule],
) -> Result<Counters> {
    let mut counters = Counters::default();
    if rules.is_empty() {
        return Ok(counters);
    }
    // Each day with objects, and the next: an upload's profiles may run an hour past the day
    // it is filed under.
    let days: BTreeSet<Day> = data_days(store.as_ref(), tenant)?
        .into_iter()
        .flat_map(|d| [d, Day(d.0 + 1)])
        .collect();
    // Each day directory is read once, though a day's range also reads the day before's.
    let mut listings: BTreeMap<Day, DayListing> = BTreeMap::new();
    for day in days {
        let range = TimeRange {
            from: day.start_nanos(),
            until: day.start_nanos() + DAY_NANOS - 1,
        };
        let mut keys = Vec::new();
        for listed in days_for_range(&range) {
            let listing = match listings.entry(listed) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => e.insert(DayListing::read(store.as_ref(), tenant, listed)?),
            };
            keys.extend(listing.segments_in(&range).map(|r| r.key));
        }
        add_day(store, tenant, rules, day, &range, keys, &mut counters)?;
    }
    Ok(counters)
}

/// Adds one day's counters: from its entry for the segment set `keys`, computing the rules
/// the entry lacks over `range`.
fn add_day(
    store: &SharedStore,
    tenant: &Tenant,
    rules: &[ExportRule],
    day: Day,
    range: &TimeRange,
    mut keys: Vec<String>,
    counters: &mut Counters,
) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    keys.sort();
    let prefix = counters_prefix(tenant, day);
    let key = format!(
        "{prefix}{}.json",
        super::rules::fingerprint(keys.iter().map(String::as_str))
    );
    let mut cached: DayCounters = match store.get(&key) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        Err(StoreError::NotFound { .. }) => DayCounters::default(),
        Err(e) => return Err(e.into()),
    };
    let missing: Vec<ExportRule> = rules
        .iter()
        .filter(|r| !cached.rules.contains_key(&r.fingerprint))
        .cloned()
        .collect();
    if !missing.is_empty() {
        let computed = counters_over(store, tenant, &missing, range)?;
        for rule in &missing {
            let start = (rule.key.clone(), Vec::new());
            let values = computed
                .values
                .range(start..)
                .take_while(|((k, _), _)| *k == rule.key)
                .map(|((_, group), v)| (group.clone(), *v))
                .collect();
            cached.rules.insert(rule.fingerprint.clone(), values);
        }
        save(store, &prefix, &key, &cached);
    }
    for rule in rules {
        for (group, v) in cached.rules.get(&rule.fingerprint).into_iter().flatten() {
            *counters
                .values
                .entry((rule.key.clone(), group.clone()))
                .or_default() += v;
        }
    }
    Ok(())
}

/// Writes the day's entry and deletes the day's others. Best effort: a failure only costs a
/// recomputation.
fn save(store: &SharedStore, prefix: &str, key: &str, cached: &DayCounters) {
    let bytes = match serde_json::to_vec(cached) {
        Ok(bytes) => bytes,
        Err(e) => return tracing::warn!("encoding {key}: {e}"),
    };
    if let Err(e) = store.put(key, bytes.into(), PutMode::Overwrite) {
        return tracing::warn!("caching counters in {key}: {e}");
    }
    let Ok(listed) = list_all(store.as_ref(), prefix) else {
        return;
    };
    for old in listed.iter().filter(|o| o.key != key) {
        if let Err(e) = store.delete(&old.key) {
            tracing::warn!("deleting the old counters {}: {e}", old.key);
        }
    }
}

#[cfg(test)]
mod tests;
