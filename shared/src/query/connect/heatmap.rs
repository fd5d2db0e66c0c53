//! SelectHeatmap: the distribution of profile (or span) totals over time and value.
//!
//! Steps: the request's options → one point per profile (or span) total, grouped by the
//! `group_by` labels → value buckets shared by every group ([`ValueBuckets`], pure) → cells
//! per group, step end and bucket → series in label order, the `limit` largest kept.

use std::collections::BTreeMap;

use crate::Result;
use crate::profile::Series;
use crate::query::{QueryContext, QueryError};
use crate::storage::store::SharedStore;
use crate::tenant::Tenant;
use crate::time::{NANOS_PER_MILLI, TimeRange};
use crate::wire::proto::querier::v1 as q;
use crate::wire::proto::types::v1 as types;

use super::labels::all_labels;
use super::series::{group_key, series_limit, step_millis, top_n};
use super::{Selection, selection};

/// Value buckets of a heatmap's y axis, as the reference server draws them.
pub const HEATMAP_BUCKETS: usize = 20;

/// One heatmap point: a profile's total (or a span's, within a profile).
struct HeatPoint {
    group: usize,
    time_ms: i64,
    value: i64,
    series: usize,
    span_id: String,
}

/// The points of a selection and the series and groups they refer to.
struct Points {
    series: Vec<Series>,
    groups: Vec<Vec<(String, String)>>,
    points: Vec<HeatPoint>,
}

/// Evenly spaced value buckets from the smallest total to the largest: bucket `i` holds the
/// values from `y_min[i]` up to the next bucket's start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueBuckets {
    /// Each bucket's lower bound, ascending; the first is the smallest value.
    pub y_min: Vec<i64>,
}

impl ValueBuckets {
    /// Spaces `count` buckets over `[min, max]` (one value: all bounds are it). Computed in
    /// i128, so values at the edges of i64 neither overflow nor wrap.
    pub fn new(min: i64, max: i64, count: usize) -> Self {
        let (min, max) = (i128::from(min.min(max)), i128::from(max.max(min)));
        // A single value spreads over a width of one, as the reference server does.
        let width = if max == min { 1 } else { max - min };
        let size = width as f64 / count as f64;
        let y_min = (0..count)
            .map(|i| {
                let offset = ((i as f64 * size) as i128).min(width);
                i64::try_from(min + offset).unwrap_or(i64::MAX)
            })
            .collect();
        ValueBuckets { y_min }
    }

    /// Returns the bucket of a value: the last whose lower bound it reaches (the first for
    /// values below every bound).
    pub fn bucket(&self, value: i64) -> usize {
        self.y_min.iter().rposition(|m| value >= *m).unwrap_or(0)
    }
}

/// Steps stamped with their ends: (start − step, start], (start, start + step], …
#[derive(Debug, Clone, Copy)]
struct StepClock {
    start_ms: i64,
    step_ms: i64,
}

impl StepClock {
    fn end_of(self, t: i64) -> i64 {
        let k = (t - self.start_ms).div_euclid(self.step_ms);
        let end = self.start_ms + k * self.step_ms;
        if end < t { end + self.step_ms } else { end }
    }
}

/// The distribution of profile totals over time (SelectHeatmap): per `group_by` value set,
/// per step, how many profiles (or spans, with query type span) had a total in each of 20
/// value buckets shared by all series (evenly spaced from the smallest total to the largest).
/// Each step is stamped with its end: (start − step, start], (start, start + step], …
/// Exemplars (when asked) are each cell's largest point.
pub fn select_heatmap(
    store: &SharedStore,
    tenant: &Tenant,
    r: &q::SelectHeatmapRequest,
    cx: &QueryContext,
) -> Result<q::SelectHeatmapResponse> {
    let mut sel = selection(
        &r.profile_type_id,
        &r.label_selector,
        (r.start, r.end),
        &None,
        cx,
    )?;
    let step_ms = step_millis(r.step, &sel.range)?;
    let limit = series_limit(r.limit)?;
    let (by_span, exemplars) = options(r)?;
    sel.filter.read_links = by_span;
    let points = collect_points(store, tenant, &sel, by_span, &r.group_by)?;
    let (Some(min), Some(max)) = (
        points.points.iter().map(|p| p.value).min(),
        points.points.iter().map(|p| p.value).max(),
    ) else {
        return Ok(q::SelectHeatmapResponse::default());
    };
    let buckets = ValueBuckets::new(min, max, HEATMAP_BUCKETS);
    let clock = StepClock {
        start_ms: sel.range.from / NANOS_PER_MILLI,
        step_ms,
    };
    let mut out = heatmap_series(&points, &buckets, clock, &sel.range, exemplars, &r.group_by);
    // In label order, as SelectSeries answers.
    out.sort_by_key(|(_, s)| {
        s.labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect::<Vec<_>>()
    });
    Ok(q::SelectHeatmapResponse {
        series: top_n(out, limit),
    })
}

/// The request's query type (by span or not) and whether it asks for exemplars.
fn options(r: &q::SelectHeatmapRequest) -> Result<(bool, bool)> {
    let by_span = match q::HeatmapQueryType::try_from(r.query_type) {
        Ok(q::HeatmapQueryType::Unspecified | q::HeatmapQueryType::Individual) => false,
        Ok(q::HeatmapQueryType::Span) => true,
        Err(_) => {
            return Err(QueryError::UnknownHeatmapQueryType {
                value: r.query_type,
            }
            .into());
        }
    };
    let exemplars = match types::ExemplarType::try_from(r.exemplar_type) {
        Ok(types::ExemplarType::Unspecified | types::ExemplarType::None) => false,
        Ok(_) => true,
        Err(_) => {
            return Err(QueryError::UnknownExemplarType {
                value: r.exemplar_type,
            }
            .into());
        }
    };
    Ok((by_span, exemplars))
}

/// One point per (series, profile time, span) total of the selection, grouped by the
/// `group_by` labels of its series; with `by_span`, samples without a span are left out.
fn collect_points(
    store: &SharedStore,
    tenant: &Tenant,
    sel: &Selection,
    by_span: bool,
    group_by: &[String],
) -> Result<Points> {
    let mut series: Vec<Series> = Vec::new();
    let mut series_ids: BTreeMap<Series, usize> = BTreeMap::new();
    let mut totals: BTreeMap<(usize, i64, String), i64> = BTreeMap::new();
    crate::query::scan(
        store,
        tenant,
        &sel.selector,
        &sel.range,
        &sel.filter,
        crate::query::Reads::default(),
        |part| {
            let ids: Vec<usize> = part
                .meta
                .series
                .iter()
                .map(|s| {
                    *series_ids.entry(s.clone()).or_insert_with(|| {
                        series.push(s.clone());
                        series.len() - 1
                    })
                })
                .collect();
            let s = &part.samples;
            for i in 0..s.len() {
                let span = match part.links.get(s.link[i] as usize) {
                    Some(l) if by_span => l.span_id.clone(),
                    _ => String::new(),
                };
                if by_span && span.is_empty() {
                    continue;
                }
                let total = totals
                    .entry((ids[s.series[i] as usize], s.time[i], span))
                    .or_default();
                *total = total.saturating_add(s.value[i]);
            }
            Ok(())
        },
    )?;
    let mut groups: Vec<Vec<(String, String)>> = Vec::new();
    let mut group_ids: BTreeMap<Vec<(String, String)>, usize> = BTreeMap::new();
    let points = totals
        .into_iter()
        .map(|((series_id, time, span_id), value)| {
            let key = group_key(&series[series_id], group_by);
            let group = *group_ids.entry(key.clone()).or_insert_with(|| {
                groups.push(key);
                groups.len() - 1
            });
            HeatPoint {
                group,
                time_ms: time / NANOS_PER_MILLI,
                value,
                series: series_id,
                span_id,
            }
        })
        .collect();
    Ok(Points {
        series,
        groups,
        points,
    })
}

/// Per step end: each bucket's count and its largest point.
type Cells<'a> = BTreeMap<i64, (Vec<i32>, Vec<Option<&'a HeatPoint>>)>;

/// Counts each group's points per step end and bucket and makes one heatmap series per
/// group, with its total (for `limit`).
fn heatmap_series(
    p: &Points,
    buckets: &ValueBuckets,
    clock: StepClock,
    range: &TimeRange,
    exemplars: bool,
    group_by: &[String],
) -> Vec<(i64, types::HeatmapSeries)> {
    let start_ms = range.from / NANOS_PER_MILLI;
    let last = clock.end_of(range.until / NANOS_PER_MILLI);
    let mut cells: Vec<Cells<'_>> = (0..p.groups.len()).map(|_| BTreeMap::new()).collect();
    let mut group_totals = vec![0i64; p.groups.len()];
    for point in &p.points {
        let t = clock.end_of(point.time_ms).clamp(start_ms, last);
        let (counts, best) = cells[point.group]
            .entry(t)
            .or_insert_with(|| (vec![0; HEATMAP_BUCKETS], vec![None; HEATMAP_BUCKETS]));
        let b = buckets.bucket(point.value);
        counts[b] += 1;
        if best[b].is_none_or(|q: &HeatPoint| point.value > q.value) {
            best[b] = Some(point);
        }
        group_totals[point.group] = group_totals[point.group].saturating_add(point.value);
    }
    let exemplar = |e: &HeatPoint| types::Exemplar {
        timestamp: e.time_ms,
        span_id: e.span_id.clone(),
        value: e.value,
        labels: all_labels(&p.series[e.series])
            .into_iter()
            .filter(|(k, v)| !v.is_empty() && !group_by.contains(k))
            .map(|(name, value)| types::LabelPair { name, value })
            .collect(),
        ..types::Exemplar::default()
    };
    let y_min: Vec<f64> = buckets.y_min.iter().map(|m| *m as f64).collect();
    p.groups
        .iter()
        .zip(cells)
        .zip(group_totals)
        .map(|((labels, slots), total)| {
            let series = types::HeatmapSeries {
                labels: labels
                    .iter()
                    .map(|(name, value)| types::LabelPair {
                        name: name.clone(),
                        value: value.clone(),
                    })
                    .collect(),
                slots: slots
                    .into_iter()
                    .map(|(timestamp, (counts, best))| types::HeatmapSlot {
                        timestamp,
                        y_min: y_min.clone(),
                        counts,
                        exemplars: if exemplars {
                            best.into_iter().flatten().map(exemplar).collect()
                        } else {
                            Vec::new()
                        },
                    })
                    .collect(),
            };
            (total, series)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_span_min_to_max() {
        let b = ValueBuckets::new(0, 100, 20);
        assert_eq!(b.y_min.len(), 20);
        assert_eq!(b.y_min[0], 0);
        assert_eq!(b.y_min[1], 5);
        assert_eq!(b.y_min[19], 95);
        assert_eq!(b.bucket(0), 0);
        assert_eq!(b.bucket(4), 0);
        assert_eq!(b.bucket(5), 1);
        assert_eq!(b.bucket(100), 19);
        // One value: every bound is it, and it falls in the last bucket.
        let one = ValueBuckets::new(7, 7, 20);
        assert!(one.y_min.iter().all(|m| *m == 7));
        assert_eq!(one.bucket(7), 19);
    }

    #[test]
    fn buckets_at_the_edges_of_i64_do_not_overflow() {
        for (min, max) in [
            (i64::MAX, i64::MAX),
            (i64::MIN, i64::MIN),
            (i64::MIN, i64::MAX),
            (i64::MAX - 1, i64::MAX),
            (-1, i64::MAX),
        ] {
            let b = ValueBuckets::new(min, max, HEATMAP_BUCKETS);
            assert_eq!(b.y_min[0], min, "{min}..{max}");
            assert!(b.y_min.windows(2).all(|w| w[0] <= w[1]), "{min}..{max}");
            assert!(b.y_min.iter().all(|m| *m <= max), "{min}..{max}");
            assert_eq!(b.y_min[b.bucket(min)], min, "{min}..{max}");
            assert!(b.bucket(max) < HEATMAP_BUCKETS);
        }
        let wide = ValueBuckets::new(i64::MIN, i64::MAX, HEATMAP_BUCKETS);
        assert_eq!(wide.bucket(0), HEATMAP_BUCKETS / 2);
    }

    #[test]
    fn steps_are_stamped_with_their_end() {
        let clock = StepClock {
            start_ms: 1000,
            step_ms: 10,
        };
        assert_eq!(clock.end_of(1000), 1000);
        assert_eq!(clock.end_of(1001), 1010);
        assert_eq!(clock.end_of(1010), 1010);
        assert_eq!(clock.end_of(995), 1000);
    }
}
