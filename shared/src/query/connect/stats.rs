//! GetProfileStats and AnalyzeQuery: what a tenant holds and what a query would read.

use std::collections::BTreeSet;

use crate::Result;
use crate::query::footers;
use crate::selector::Selector;
use crate::storage::store::SharedStore;
use crate::tenant::Tenant;
use crate::time::{NANOS_PER_MILLI, TimeRange};
use crate::wire::proto::querier::v1 as q;
use crate::wire::proto::types::v1 as types;

/// Whether the tenant has data, and its oldest and newest profile times (ms): the footers of
/// the first and last days' segments.
pub fn profile_stats(
    store: &SharedStore,
    tenant: &Tenant,
) -> Result<types::GetProfileStatsResponse> {
    let days = crate::storage::manifest::data_days(store.as_ref(), tenant)?;
    // The first day with a segment gives the oldest time, the last the newest; each day's
    // footers are read at most once.
    let mut first = None;
    for (i, day) in days.iter().enumerate() {
        if let Some(bounds) = day_bounds(store, tenant, *day)? {
            first = Some((i, bounds));
            break;
        }
    }
    let Some((first_day, (oldest, mut newest))) = first else {
        return Ok(types::GetProfileStatsResponse::default());
    };
    for day in days[first_day + 1..].iter().rev() {
        if let Some((_, max)) = day_bounds(store, tenant, *day)? {
            newest = max;
            break;
        }
    }
    Ok(types::GetProfileStatsResponse {
        data_ingested: true,
        oldest_profile_time: oldest / NANOS_PER_MILLI,
        newest_profile_time: newest / NANOS_PER_MILLI,
    })
}

/// The earliest and latest profile times of the segments of one day's bucket.
fn day_bounds(
    store: &SharedStore,
    tenant: &Tenant,
    day: crate::storage::keys::Day,
) -> Result<Option<(i64, i64)>> {
    let start = day.start_nanos();
    let range = TimeRange {
        from: start,
        until: start + crate::storage::keys::DAY_NANOS - 1,
    };
    let mut bounds: Option<(i64, i64)> = None;
    for (_, m) in footers(store, tenant, &range)? {
        if m.series.is_empty() {
            continue;
        }
        bounds = Some(match bounds {
            None => (m.min_time, m.max_time),
            Some((lo, hi)) => (lo.min(m.min_time), hi.max(m.max_time)),
        });
    }
    Ok(bounds)
}

/// What a query would read: the segments overlapping the range, their bytes, and the series
/// the query's selector matches there.
pub fn analyze_query(
    store: &SharedStore,
    tenant: &Tenant,
    query: &str,
    range: &TimeRange,
) -> Result<q::AnalyzeQueryResponse> {
    let selector = Selector::parse(if query.trim().is_empty() { "{}" } else { query })?;
    let mut segments = 0u64;
    let mut bytes = 0u64;
    let mut series = BTreeSet::new();
    for (r, m) in footers(store, tenant, range)? {
        segments += 1;
        bytes += r.size;
        series.extend(m.series.iter().filter(|s| selector.matches(s)).cloned());
    }
    Ok(q::AnalyzeQueryResponse {
        query_scopes: vec![q::QueryScope {
            component_type: "segments".into(),
            component_count: 1,
            block_count: segments,
            series_count: series.len() as u64,
            profile_bytes: bytes,
            ..q::QueryScope::default()
        }],
        query_impact: Some(q::QueryImpact {
            total_bytes_in_time_range: bytes,
            total_queried_series: series.len() as u64,
            deduplication_needed: false,
        }),
    })
}
