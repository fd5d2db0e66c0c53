//! The exported-metric counters of the days retention deleted: per tenant, which filing days
//! are gone and, per rule fingerprint and group, what they had counted. A scrape adds these to
//! the live days' counters and skips the retired days' leftovers, so a counter keeps its value
//! when old data is deleted. Kept as create-only numbered versions (`storage::versioned`):
//! of two compactors retiring one day, the second finds it retired and adds nothing.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::Result;
use crate::storage::keys::{Day, retired_counters_prefix};
use crate::storage::store::SharedStore;
use crate::storage::versioned;
use crate::tenant::Tenant;

use super::cache::{DayCounters, day_counters};
use super::counters::Counters;
use super::rules::ExportRule;

/// A tenant's retired counters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Retired {
    /// The filing days deleted (`YYYY-MM-DD`).
    days: BTreeSet<String>,
    /// Per rule fingerprint: each group's sum over those days (as `rules`, a day entry's
    /// shape).
    #[serde(flatten)]
    counted: DayCounters,
}

impl Retired {
    /// Whether `day` was deleted.
    pub fn has(&self, day: Day) -> bool {
        self.days.contains(&day.to_string())
    }

    /// How many filing days retention deleted.
    pub fn deleted_days(&self) -> usize {
        self.days.len()
    }

    /// Adds the retired sums of `rules` to `counters`.
    pub fn add_to(&self, rules: &[ExportRule], counters: &mut Counters) {
        self.counted.add_to(rules, counters);
    }

    fn add_day(&mut self, day: Day, counted: &DayCounters) {
        if !self.days.insert(day.to_string()) {
            return;
        }
        for (fingerprint, groups) in &counted.rules {
            let retired = self.counted.rules.entry(fingerprint.clone()).or_default();
            let mut sums: BTreeMap<Vec<String>, i64> =
                std::mem::take(retired).into_iter().collect();
            for (group, v) in groups {
                let sum = sums.entry(group.clone()).or_default();
                *sum = sum.saturating_add(*v);
            }
            *retired = sums.into_iter().collect();
        }
    }
}

/// The tenant's retired counters (none before the first deletion).
pub fn load(store: &SharedStore, tenant: &Tenant) -> Result<Retired> {
    Ok(
        versioned::load::<Retired>(store.as_ref(), &retired_counters_prefix(tenant))?
            .map(|(_, r)| r)
            .unwrap_or_default(),
    )
}

/// Adds `day`'s counters of `rules` to the tenant's retired counters, unless it is retired
/// already. Called before the day's objects are deleted.
pub fn retire_day(
    store: &SharedStore,
    tenant: &Tenant,
    rules: &[ExportRule],
    day: Day,
) -> Result<()> {
    if load(store, tenant)?.has(day) {
        return Ok(());
    }
    let counted = day_counters(store, tenant, rules, day)?;
    versioned::update(
        store.as_ref(),
        &retired_counters_prefix(tenant),
        |current: Option<Retired>, _| {
            let mut retired = current.unwrap_or_default();
            retired.add_day(day, &counted);
            Ok((retired, ()))
        },
    )
}
