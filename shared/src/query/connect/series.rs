//! SelectSeries: time series of profile totals per step and group, and the step and limit
//! rules it shares with SelectHeatmap.

use std::collections::{BTreeMap, BTreeSet};

use crate::Result;
use crate::profile::Series;
use crate::query::{QueryContext, QueryError};
use crate::storage::store::SharedStore;
use crate::tenant::Tenant;
use crate::time::{NANOS_PER_MILLI, TimeRange};
use crate::wire::proto::querier::v1 as q;
use crate::wire::proto::types::v1 as types;

use super::selection;

/// Per step start (ms): the sum of the profile totals and how many profiles.
type StepTotals = BTreeMap<i64, (i64, i64)>;

/// Time series of profile totals: one point per `step` seconds from `start` (at start + k·step,
/// only steps with data), per distinct value set of the `group_by` labels; `aggregation` sums
/// the profiles of a step or takes their mean; `limit` keeps the series with the largest totals.
pub fn select_series(
    store: &SharedStore,
    tenant: &Tenant,
    r: &q::SelectSeriesRequest,
    cx: &QueryContext,
) -> Result<q::SelectSeriesResponse> {
    let sel = selection(
        &r.profile_type_id,
        &r.label_selector,
        (r.start, r.end),
        &r.stack_trace_selector,
        cx,
    )?;
    let range = sel.range;
    let step_ms = step_millis(r.step, &range)?;
    let avg = match r.aggregation {
        None => false,
        Some(a) => match types::TimeSeriesAggregationType::try_from(a) {
            Ok(types::TimeSeriesAggregationType::Sum) => false,
            Ok(types::TimeSeriesAggregationType::Average) => true,
            Err(_) => return Err(QueryError::UnknownAggregationType { value: a }.into()),
        },
    };
    let limit = series_limit(r.limit)?;
    let merged = crate::query::select_filtered(
        store,
        tenant,
        &sel.selector,
        &range,
        &sel.filter,
        crate::query::Wanted::TOTALS,
    )?;
    let start_ms = range.from / NANOS_PER_MILLI;
    // Group labels → step start → (sum, profiles).
    let mut groups: BTreeMap<Vec<(String, String)>, StepTotals> = BTreeMap::new();
    for ((series, time), total) in &merged.profile_totals {
        let s = &merged.series[*series as usize];
        let key = group_key(s, &r.group_by);
        let t_ms = time / NANOS_PER_MILLI;
        let bucket = start_ms + (t_ms - start_ms).div_euclid(step_ms) * step_ms;
        let point = groups.entry(key).or_default().entry(bucket).or_default();
        point.0 = point.0.saturating_add(*total);
        point.1 += 1;
    }
    let series: Vec<(i64, types::Series)> = groups
        .into_iter()
        .map(|(labels, points)| {
            let total: i64 = points.values().map(|(sum, _)| *sum).sum();
            let points = points
                .into_iter()
                .map(|(timestamp, (sum, n))| types::Point {
                    value: if avg {
                        sum as f64 / n as f64
                    } else {
                        sum as f64
                    },
                    timestamp,
                    ..types::Point::default()
                })
                .collect();
            let labels = labels
                .into_iter()
                .map(|(name, value)| types::LabelPair { name, value })
                .collect();
            (total, types::Series { labels, points })
        })
        .collect();
    Ok(q::SelectSeriesResponse {
        series: top_n(series, limit),
    })
}

/// A `step` in seconds as milliseconds; 0 picks one from the range as the timeline does.
pub(super) fn step_millis(step: f64, range: &TimeRange) -> Result<i64> {
    if !step.is_finite() || step < 0.0 {
        return Err(QueryError::InvalidStep { step }.into());
    }
    Ok(if step > 0.0 {
        ((step * 1000.0).round() as i64).max(1)
    } else {
        crate::render::timeline::step_seconds(range.from, range.until) * 1000
    })
}

/// A series `limit`: none when unset or 0; negative is a 400.
pub(super) fn series_limit(limit: Option<i64>) -> Result<Option<usize>> {
    match limit {
        Some(l) if l < 0 => Err(QueryError::NegativeLimit { limit: l }.into()),
        Some(l) if l > 0 => Ok(Some(usize::try_from(l).unwrap_or(usize::MAX))),
        _ => Ok(None),
    }
}

/// Keeps the `limit` items with the largest totals (ties: the earlier), in their order.
pub(super) fn top_n<T>(items: Vec<(i64, T)>, limit: Option<usize>) -> Vec<T> {
    let Some(limit) = limit else {
        return items.into_iter().map(|(_, t)| t).collect();
    };
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|i| std::cmp::Reverse(items[*i].0));
    let keep: BTreeSet<usize> = order.into_iter().take(limit).collect();
    items
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep.contains(i))
        .map(|(_, (_, t))| t)
        .collect()
}

/// A series' values of the `group_by` labels it has (empty values left out).
pub(super) fn group_key(series: &Series, group_by: &[String]) -> Vec<(String, String)> {
    group_by
        .iter()
        .filter_map(|g| series.label(g).map(|v| (g.clone(), v)))
        .filter(|(_, v)| !v.is_empty())
        .collect()
}
