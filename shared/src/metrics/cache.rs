//! The counters of a tenant's rules, computed per filing day and kept beside the segments, so
//! that a scrape recomputes only the days whose data changed and the rules it has not seen.
//!
//! A filing day is what one day directory holds: its uploads and compacted segments, whose
//! profiles lie in the day and up to one request span past it. Every sample is filed under
//! exactly one day, so the counters are the sum over days of the counters of each day's live
//! segments (its newest manifest's and the uploads that manifest does not cover), plus those of
//! the days retention deleted (`super::retired`).
//!
//! A day's entry is keyed by a hash of the keys of those segments: segments are immutable, so
//! the same set holds the same samples and the counters computed from it stay right. When a
//! compaction publishes or an upload lands, the set changes and the day is computed again under
//! a new key (the others of the day are deleted). A set changing between the listing and the
//! computation makes the entry hold the newer data under the older key, which only a scrape
//! listing that older set reads: a counter a moment ahead of its listing, never behind, and
//! equal to what the next computation gives. Entries are a cache: unreadable ones are
//! recomputed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Result;
use crate::query::Source;
use crate::storage::keys::{DAY_NANOS, Day, MAX_REQUEST_SPAN_NANOS, counters_prefix};
use crate::storage::manifest::{DayListing, data_days};
use crate::storage::store::{PutMode, SharedStore, StoreError, list_all};
use crate::tenant::Tenant;
use crate::time::TimeRange;

use super::counters::Counters;
use super::export::counters_from;
use super::retired;
use super::rules::ExportRule;

/// One filing day's counters: per rule fingerprint, each group-by value set's sum.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct DayCounters {
    pub(crate) rules: BTreeMap<String, Vec<(Vec<String>, i64)>>,
}

impl DayCounters {
    /// Adds the sums of `rules` to `counters`.
    pub(crate) fn add_to(&self, rules: &[ExportRule], counters: &mut Counters) {
        for rule in rules {
            for (group, v) in self.rules.get(&rule.fingerprint).into_iter().flatten() {
                let c = counters
                    .values
                    .entry((rule.key.clone(), group.clone()))
                    .or_default();
                *c = c.saturating_add(*v);
            }
        }
    }
}

/// What an entry's key hashes before the segment keys: entries of the earlier per-UTC-day
/// cache, keyed by segment sets too, counted other samples and must not be read as these.
const ENTRY_KIND: &str = "filing-day";

/// The counters of `rules` over everything the tenant has stored, and what retention deleted.
pub fn cached_counters(
    store: &SharedStore,
    tenant: &Tenant,
    rules: &[ExportRule],
) -> Result<Counters> {
    let mut counters = Counters::default();
    if rules.is_empty() {
        return Ok(counters);
    }
    let retired = retired::load(store, tenant)?;
    // Every day's listing first, then the counters, newest day first: a query lists and reads
    // uploads only within the L0 grace period of its start (`storage::deadline`), and a first
    // scrape that computes the older days can take longer (100 rules over 30 days: ~30 s).
    let listings = data_days(store.as_ref(), tenant)?
        .into_iter()
        .rev()
        // A retired day's leftovers (a deletion under way) are counted in the retired sums.
        .filter(|day| !retired.has(*day))
        .map(|day| Ok((day, DayListing::read(store.as_ref(), tenant, day)?)))
        .collect::<Result<Vec<_>>>()?;
    for (day, listing) in &listings {
        listed_day_counters(store, tenant, rules, *day, listing)?.add_to(rules, &mut counters);
    }
    retired.add_to(rules, &mut counters);
    Ok(counters)
}

/// One filing day's counters of (at least) `rules`: from its entry for the day's live segment
/// set, computing the rules the entry lacks.
pub(crate) fn day_counters(
    store: &SharedStore,
    tenant: &Tenant,
    rules: &[ExportRule],
    day: Day,
) -> Result<DayCounters> {
    let listing = DayListing::read(store.as_ref(), tenant, day)?;
    listed_day_counters(store, tenant, rules, day, &listing)
}

/// [`day_counters`] of the day `listing` lists.
fn listed_day_counters(
    store: &SharedStore,
    tenant: &Tenant,
    rules: &[ExportRule],
    day: Day,
    listing: &DayListing,
) -> Result<DayCounters> {
    // Every profile filed under the day lies in this range.
    let range = TimeRange {
        from: day.start_nanos(),
        until: day.start_nanos() + DAY_NANOS + MAX_REQUEST_SPAN_NANOS,
    };
    let segments: Vec<_> = listing.segments_in(&range).collect();
    if segments.is_empty() {
        return Ok(DayCounters::default());
    }
    let mut keys: Vec<&str> = segments.iter().map(|r| r.key.as_str()).collect();
    keys.sort_unstable();
    let prefix = counters_prefix(tenant, day);
    let key = format!(
        "{prefix}{}.json",
        super::rules::fingerprint(std::iter::once(ENTRY_KIND).chain(keys))
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
        let computed = counters_from(store, tenant, Source::Segments(&segments), &missing, &range)?;
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
    Ok(cached)
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
