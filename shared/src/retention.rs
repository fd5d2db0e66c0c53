//! Retention: how long a tenant's profiles are kept. Queries never see further back than the
//! retention period (their start is clamped, as by `max_query_lookback`), and compaction
//! deletes whole filing days once every profile in them is older than the period by the grace
//! period, manifests included, after adding the day's exported-metric counters to the
//! tenant's retired totals (`metrics::retired`), so that counters never go backwards.
//! A period of 0 keeps everything (the default). Layout and argument: docs/storage.md.

use std::collections::BTreeMap;

use crate::error::ConfigError;
use crate::metrics::ExportRule;
use crate::metrics::retired;
use crate::storage::keys::{DAY_NANOS, Day, MAX_REQUEST_SPAN_NANOS, day_prefixes};
use crate::storage::manifest::{data_days, tenants};
use crate::storage::store::{SharedStore, list_all};
use crate::tenant::Tenant;
use crate::{Error, Result};

/// How long each tenant's profiles are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retention {
    /// The period of tenants without an override (ns); `None` keeps everything.
    default: Option<i64>,
    /// Per-tenant periods by tenant ID; `None` keeps everything.
    tenants: BTreeMap<String, Option<i64>>,
}

/// Why the retention settings were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetentionError {
    /// The overrides are not a JSON map of tenant IDs to periods.
    #[error("{name}: not a JSON map of tenant IDs to retention periods: {reason}")]
    Overrides {
        /// The variable.
        name: &'static str,
        /// What was wrong.
        reason: String,
    },
}

/// A period as configured: `31d`, `12h`; `0` keeps everything.
fn parse_period(value: &str) -> Option<Option<i64>> {
    match crate::time::parse_duration(value) {
        _ if value == "0" => Some(None),
        Some(0) => Some(None),
        Some(n) if n > 0 => Some(Some(n)),
        _ => None,
    }
}

const EXPECTED: &str = "a duration such as 31d or 12h, or 0 to keep everything";

impl Retention {
    /// Environment variable: the period of every tenant without an override.
    pub const ENV: &str = "FLAMELET_RETENTION";
    /// Environment variable: per-tenant periods, a JSON map such as `{"team-a": "7d"}`.
    pub const ENV_OVERRIDES: &str = "FLAMELET_RETENTION_OVERRIDES";

    /// Keeps `default` (ns; `None`: everything) for every tenant.
    pub fn new(default: Option<i64>) -> Self {
        Retention {
            default,
            tenants: BTreeMap::new(),
        }
    }

    /// With `tenant`'s period set to `period`.
    pub fn with_tenant(mut self, tenant: &str, period: Option<i64>) -> Self {
        self.tenants.insert(tenant.to_string(), period);
        self
    }

    /// Reads the settings from configuration values by name (the environment in a
    /// component); a bad value is an error naming the variable.
    pub fn from_config(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let default = ConfigError::read(&get, Self::ENV, EXPECTED, parse_period)?.flatten();
        let mut retention = Retention::new(default);
        if let Some(json) = get(Self::ENV_OVERRIDES).filter(|v| !v.trim().is_empty()) {
            let bad = |reason: String| {
                Error::from(RetentionError::Overrides {
                    name: Self::ENV_OVERRIDES,
                    reason,
                })
            };
            let map: BTreeMap<String, String> =
                serde_json::from_str(&json).map_err(|e| bad(e.to_string()))?;
            for (tenant, value) in map {
                let period = parse_period(value.trim())
                    .ok_or_else(|| bad(format!("`{value}` for `{tenant}` is not {EXPECTED}")))?;
                retention = retention.with_tenant(&tenant, period);
            }
        }
        Ok(retention)
    }

    /// The period of `tenant` (ns); `None` keeps everything.
    pub fn period(&self, tenant: &Tenant) -> Option<i64> {
        self.tenants
            .get(tenant.as_str())
            .copied()
            .unwrap_or(self.default)
    }

    /// The period of tenants without an override (ns); `None` keeps everything.
    pub fn default_period(&self) -> Option<i64> {
        self.default
    }

    /// Whether anything is ever deleted.
    pub fn is_off(&self) -> bool {
        self.default.is_none() && self.tenants.values().all(Option::is_none)
    }
}

/// The filing days of `days` whose every profile is older than `period` by `grace` at `now`:
/// a day's objects hold profiles up to one request span past its end.
pub fn expired_days(days: &[Day], period: i64, grace: i64, now: i64) -> Vec<Day> {
    days.iter()
        .copied()
        .filter(|d| {
            let newest = d.start_nanos() + DAY_NANOS + MAX_REQUEST_SPAN_NANOS;
            newest.saturating_add(period).saturating_add(grace) <= now
        })
        .collect()
}

/// What a retention pass deleted.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RetentionReport {
    /// Days deleted, as `tenant/YYYY-MM-DD`.
    pub days: Vec<String>,
    /// Objects deleted.
    pub objects: usize,
}

/// Deletes every expired day of every tenant: first its counters of `rules` (what a tenant's
/// rules are) are added to the tenant's retired totals, then its objects are deleted, the
/// manifests last.
pub fn expire(
    store: &SharedStore,
    retention: &Retention,
    grace: i64,
    now: i64,
    rules: &dyn Fn(&Tenant) -> Result<Vec<ExportRule>>,
) -> Result<RetentionReport> {
    let mut report = RetentionReport::default();
    if retention.is_off() {
        return Ok(report);
    }
    for tenant in tenants(store.as_ref())? {
        let Some(period) = retention.period(&tenant) else {
            continue;
        };
        let expired = expired_days(&data_days(store.as_ref(), &tenant)?, period, grace, now);
        if expired.is_empty() {
            continue;
        }
        let rules = rules(&tenant)?;
        for day in expired {
            retired::retire_day(store, &tenant, &rules, day)?;
            let mut deleted = 0;
            for prefix in day_prefixes(&tenant, day) {
                for object in list_all(store.as_ref(), &prefix)? {
                    store.delete(&object.key)?;
                    deleted += 1;
                }
            }
            // A directory store may keep a day's empty directories, which list as a day.
            if deleted > 0 {
                tracing::info!("retention: deleted {}/{day}", tenant.as_str());
                report.days.push(format!("{}/{day}", tenant.as_str()));
                report.objects += deleted;
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests;
