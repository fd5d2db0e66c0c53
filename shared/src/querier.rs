//! The Connect query API: `POST /querier.v1.QuerierService/<Method>` and
//! `/settings.v1.SettingsService/<Method>`, as Grafana's datasource (binary) and Profiles
//! Drilldown (JSON) call them. [`call`] picks the method, decodes its request
//! ([`connect::decode`]), answers from the store and encodes the answer.
//!
//! Times are milliseconds since the epoch. Which series exist in a range is read from segment
//! footers alone (no sample columns).

use std::collections::{BTreeMap, BTreeSet};

use crate::connect::{self, Codec, Encoded};
use crate::manifest;
use crate::profile::{ProfileType, Series};
use crate::proto::querier::v1 as q;
use crate::proto::settings::v1 as settings;
use crate::proto::types::v1 as types;
use crate::query::{
    LeafLocations, QueryContext, SampleFilter, SharedStore, footers, matching_series,
};
use crate::selector::Selector;
use crate::tenant::Tenant;
use crate::time::{NANOS_PER_MILLI, TimeRange};
use crate::{Error, Result};

/// The querier service's path prefix.
pub const QUERIER_SERVICE: &str = "querier.v1.QuerierService";
/// The settings service's path prefix.
pub const SETTINGS_SERVICE: &str = "settings.v1.SettingsService";

/// One Connect unary call, as the HTTP adapter hands it over.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The request path, `/<service>/<method>`.
    pub path: &'a str,
    /// The request's `Content-Type`.
    pub content_type: Option<&'a str>,
    /// The request's `Content-Encoding`.
    pub content_encoding: Option<&'a str>,
    /// The request's `Accept-Encoding`.
    pub accept_encoding: Option<&'a str>,
    /// The body.
    pub body: &'a [u8],
}

/// Answers one call: its encoded response, or an error to send as Connect error JSON.
pub fn call(
    store: &SharedStore,
    tenant: &Tenant,
    c: &Call<'_>,
    cx: &QueryContext,
) -> Result<Encoded> {
    let codec = Codec::from_content_type(c.content_type)?;
    let gzip = connect::accepts_gzip(c.accept_encoding);
    let (service, method) = c
        .path
        .trim_start_matches('/')
        .split_once('/')
        .ok_or_else(|| Error::bad_input(format!("`{}` names no method", c.path)))?;
    macro_rules! answer {
        ($f:expr) => {{
            let req = connect::decode(codec, c.content_encoding, c.body)?;
            let resp = $f(req)?;
            connect::encode(codec, &resp, gzip)
        }};
    }
    match (service, method) {
        (QUERIER_SERVICE, "ProfileTypes") => answer!(|r: q::ProfileTypesRequest| {
            profile_types(store, tenant, &cx.range_millis(r.start, r.end)?)
        }),
        (QUERIER_SERVICE, "LabelNames") => answer!(|r: types::LabelNamesRequest| {
            let range = cx.range_millis(r.start, r.end)?;
            label_names(store, tenant, &r.matchers, &range)
        }),
        (QUERIER_SERVICE, "LabelValues") => answer!(|r: types::LabelValuesRequest| {
            let range = cx.range_millis(r.start, r.end)?;
            label_values(store, tenant, &r.name, &r.matchers, &range)
        }),
        (QUERIER_SERVICE, "Series") => answer!(|r: q::SeriesRequest| {
            let range = cx.range_millis(r.start, r.end)?;
            series(store, tenant, &r.matchers, &r.label_names, &range)
        }),
        (QUERIER_SERVICE, "GetProfileStats") => {
            answer!(|_: types::GetProfileStatsRequest| profile_stats(store, tenant))
        }
        (QUERIER_SERVICE, "AnalyzeQuery") => answer!(|r: q::AnalyzeQueryRequest| {
            let range = cx.range_millis(r.start, r.end)?;
            analyze_query(store, tenant, &r.query, &range)
        }),
        (QUERIER_SERVICE, "SelectMergeStacktraces") => {
            answer!(|r: q::SelectMergeStacktracesRequest| merge_stacktraces(store, tenant, &r, cx))
        }
        (QUERIER_SERVICE, "SelectSeries") => {
            answer!(|r: q::SelectSeriesRequest| select_series(store, tenant, &r, cx))
        }
        (QUERIER_SERVICE, "SelectMergeSpanProfile") => {
            answer!(|r: q::SelectMergeSpanProfileRequest| merge_span_profile(store, tenant, r, cx))
        }
        (QUERIER_SERVICE, "SelectMergeProfile") => {
            answer!(|r: q::SelectMergeProfileRequest| merge_profile(store, tenant, &r, cx))
        }
        (QUERIER_SERVICE, "SelectHeatmap") => {
            answer!(|r: q::SelectHeatmapRequest| select_heatmap(store, tenant, &r, cx))
        }
        (QUERIER_SERVICE, "Diff") => {
            answer!(|r: q::DiffRequest| diff(store, tenant, &r, cx))
        }
        // Tenant settings are not kept: there are none to list.
        (SETTINGS_SERVICE, "Get") => {
            answer!(|_: settings::GetSettingsRequest| Ok::<_, Error>(
                settings::GetSettingsResponse::default()
            ))
        }
        (SETTINGS_SERVICE, m @ ("Set" | "Delete")) => Err(Error::Unimplemented(format!(
            "{SETTINGS_SERVICE}/{m}: tenant settings are not stored"
        ))),
        _ => Err(Error::Store(crate::store::StoreError::NotFound {
            key: c.path.to_string(),
        })),
    }
}

/// Parses Connect `matchers`: each a selector such as `{service_name="app"}`.
fn selectors(matchers: &[String]) -> Result<Vec<Selector>> {
    matchers
        .iter()
        .filter(|m| !m.trim().is_empty())
        .map(|m| Ok(Selector::parse(m)?))
        .collect()
}

fn profile_type_message(t: &ProfileType) -> types::ProfileType {
    types::ProfileType {
        id: t.id(),
        name: t.name.clone(),
        sample_type: t.sample_type.clone(),
        sample_unit: t.sample_unit.clone(),
        period_type: t.period_type.clone(),
        period_unit: t.period_unit.clone(),
    }
}

/// The profile types with data in `range`, sorted by ID.
pub fn profile_types(
    store: &SharedStore,
    tenant: &Tenant,
    range: &TimeRange,
) -> Result<q::ProfileTypesResponse> {
    let types: BTreeSet<ProfileType> = matching_series(store, tenant, &[], range)?
        .into_iter()
        .map(|s| s.profile_type)
        .collect();
    Ok(q::ProfileTypesResponse {
        profile_types: types.iter().map(profile_type_message).collect(),
    })
}

/// Every label of a series, the private `__…__` ones included, sorted by name.
fn all_labels(s: &Series) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = s
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .chain(
            s.profile_type
                .private_labels()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v)),
        )
        .collect();
    labels.sort();
    labels.dedup_by(|a, b| a.0 == b.0);
    labels
}

/// The sorted label names of the series matching `matchers` in `range`.
pub fn label_names(
    store: &SharedStore,
    tenant: &Tenant,
    matchers: &[String],
    range: &TimeRange,
) -> Result<types::LabelNamesResponse> {
    let names: BTreeSet<String> = matching_series(store, tenant, &selectors(matchers)?, range)?
        .iter()
        .flat_map(all_labels)
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, _)| k)
        .collect();
    Ok(types::LabelNamesResponse {
        names: names.into_iter().collect(),
    })
}

/// The sorted values of label `name` over the series matching `matchers` in `range`.
pub fn label_values(
    store: &SharedStore,
    tenant: &Tenant,
    name: &str,
    matchers: &[String],
    range: &TimeRange,
) -> Result<types::LabelValuesResponse> {
    if name.is_empty() {
        return Err(Error::bad_input("LabelValues needs a label `name`"));
    }
    let values: BTreeSet<String> = matching_series(store, tenant, &selectors(matchers)?, range)?
        .iter()
        .filter_map(|s| s.label(name))
        .filter(|v| !v.is_empty())
        .collect();
    Ok(types::LabelValuesResponse {
        names: values.into_iter().collect(),
    })
}

/// The label sets of the series matching `matchers` in `range`, each with every label, or
/// only `label_names` when given (then distinct sets).
pub fn series(
    store: &SharedStore,
    tenant: &Tenant,
    matchers: &[String],
    label_names: &[String],
    range: &TimeRange,
) -> Result<q::SeriesResponse> {
    let sets: BTreeSet<Vec<(String, String)>> =
        matching_series(store, tenant, &selectors(matchers)?, range)?
            .iter()
            .map(|s| {
                all_labels(s)
                    .into_iter()
                    .filter(|(k, v)| {
                        !v.is_empty() && (label_names.is_empty() || label_names.contains(k))
                    })
                    .collect()
            })
            .collect();
    Ok(q::SeriesResponse {
        labels_set: sets
            .into_iter()
            .map(|set| types::Labels {
                labels: set
                    .into_iter()
                    .map(|(name, value)| types::LabelPair { name, value })
                    .collect(),
            })
            .collect(),
    })
}

/// A profile type and label selector as the stack and series methods name them.
fn typed_selector(profile_type_id: &str, label_selector: &str) -> Result<Selector> {
    let profile_type = ProfileType::parse(profile_type_id)?;
    let mut selector = Selector::parse(label_selector)?;
    if selector
        .profile_type
        .as_ref()
        .is_some_and(|t| *t != profile_type)
    {
        return Err(Error::bad_input(format!(
            "label selector `{label_selector}` names another profile type than `{profile_type_id}`"
        )));
    }
    selector.profile_type = Some(profile_type);
    Ok(selector)
}

/// What the stack and series methods select: the series, the time range (ms), and which
/// samples by their stacks (`call_site`, `go_pgo`).
struct Selection {
    selector: Selector,
    range: TimeRange,
    filter: SampleFilter,
}

fn selection(
    profile_type_id: &str,
    label_selector: &str,
    (start, end): (i64, i64),
    stack_trace_selector: &Option<types::StackTraceSelector>,
    cx: &QueryContext,
) -> Result<Selection> {
    let sts = stack_trace_selector.as_ref();
    Ok(Selection {
        selector: typed_selector(profile_type_id, label_selector)?,
        range: cx.range_millis(start, end)?,
        filter: SampleFilter {
            call_site: sts
                .map(|s| s.call_site.iter().map(|l| l.name.clone()).collect())
                .unwrap_or_default(),
            go_pgo: sts.and_then(|s| s.go_pgo.as_ref()).map(|g| LeafLocations {
                keep: g.keep_locations as usize,
                aggregate_callees: g.aggregate_callees,
            }),
            ..SampleFilter::default()
        },
    })
}

/// A SelectMergeStacktraces request's selection, with its span, trace and profile ids.
fn stacktraces_selection(
    r: &q::SelectMergeStacktracesRequest,
    cx: &QueryContext,
) -> Result<Selection> {
    let mut sel = selection(
        &r.profile_type_id,
        &r.label_selector,
        (r.start, r.end),
        &r.stack_trace_selector,
        cx,
    )?;
    sel.filter.span_ids = r.span_selector.iter().cloned().collect();
    sel.filter.trace_ids = r.trace_id_selector.iter().cloned().collect();
    sel.filter.profile_ids = r.profile_id_selector.iter().cloned().collect();
    Ok(sel)
}

/// The merged call tree a SelectMergeStacktraces request selects, and its max nodes.
fn merged_tree(
    store: &SharedStore,
    tenant: &Tenant,
    r: &q::SelectMergeStacktracesRequest,
    cx: &QueryContext,
) -> Result<(crate::tree::Tree, usize)> {
    let sel = stacktraces_selection(r, cx)?;
    let max_nodes = cx.max_nodes(r.max_nodes.unwrap_or(0))?;
    let merged =
        crate::query::select_filtered(store, tenant, &sel.selector, &sel.range, &sel.filter)?;
    Ok((merged.tree, max_nodes))
}

fn flame_graph_message(fg: crate::flamebearer::FlameGraph) -> q::FlameGraph {
    q::FlameGraph {
        names: fg.names,
        levels: fg
            .levels
            .into_iter()
            .map(|values| q::Level { values })
            .collect(),
        total: fg.total,
        max_self: fg.max_self,
    }
}

/// The merged stacks of the matching series in the requested format: flamegraph, tree, dot
/// or pprof; of only the samples with the given span, trace or profile ids when the request
/// names some.
pub fn merge_stacktraces(
    store: &SharedStore,
    tenant: &Tenant,
    r: &q::SelectMergeStacktracesRequest,
    cx: &QueryContext,
) -> Result<q::SelectMergeStacktracesResponse> {
    let format = q::ProfileFormat::try_from(r.format)
        .map_err(|_| Error::bad_input(format!("unknown profile format {}", r.format)))?;
    let mut out = q::SelectMergeStacktracesResponse::default();
    if format == q::ProfileFormat::Pprof {
        out.pprof = Some(q::PprofProfile {
            profile: Some(merged_pprof(store, tenant, r, cx)?),
        });
        return Ok(out);
    }
    let (tree, max_nodes) = merged_tree(store, tenant, r, cx)?;
    match format {
        q::ProfileFormat::Unspecified | q::ProfileFormat::Flamegraph => {
            out.flamegraph = Some(flame_graph_message(crate::flamebearer::encode(
                &tree, max_nodes,
            )));
        }
        q::ProfileFormat::Tree => out.tree = tree.marshal(max_nodes),
        q::ProfileFormat::Dot => {
            let title = ProfileType::parse(&r.profile_type_id)?.sample_type;
            out.dot = crate::dot::render(&tree, max_nodes, &title);
        }
        q::ProfileFormat::Pprof => {}
    }
    Ok(out)
}

/// The pprof of a SelectMergeStacktraces selection. Its node limit is none unless the
/// request names one: a download is the whole profile.
fn merged_pprof(
    store: &SharedStore,
    tenant: &Tenant,
    r: &q::SelectMergeStacktracesRequest,
    cx: &QueryContext,
) -> Result<crate::proto::google::v1::Profile> {
    let sel = stacktraces_selection(r, cx)?;
    let max_nodes = match r.max_nodes.filter(|n| *n > 0) {
        Some(n) => cx.max_nodes(n)?,
        None => 0,
    };
    crate::query::select_profile(
        store,
        tenant,
        &sel.selector,
        &sel.range,
        &sel.filter,
        max_nodes,
    )
}

/// The merged profile of the matching series as pprof, with functions, files, lines,
/// mappings, the period and the time range kept.
pub fn merge_profile(
    store: &SharedStore,
    tenant: &Tenant,
    r: &q::SelectMergeProfileRequest,
    cx: &QueryContext,
) -> Result<crate::proto::google::v1::Profile> {
    merged_pprof(
        store,
        tenant,
        &q::SelectMergeStacktracesRequest {
            profile_type_id: r.profile_type_id.clone(),
            label_selector: r.label_selector.clone(),
            start: r.start,
            end: r.end,
            max_nodes: r.max_nodes,
            format: q::ProfileFormat::Pprof as i32,
            stack_trace_selector: r.stack_trace_selector.clone(),
            profile_id_selector: r.profile_id_selector.clone(),
            trace_id_selector: r.trace_id_selector.clone(),
            ..Default::default()
        },
        cx,
    )
}

/// The flame graph (or tree) of only the samples whose span id is in `span_selector`.
pub fn merge_span_profile(
    store: &SharedStore,
    tenant: &Tenant,
    r: q::SelectMergeSpanProfileRequest,
    cx: &QueryContext,
) -> Result<q::SelectMergeSpanProfileResponse> {
    if r.format > q::ProfileFormat::Tree as i32 {
        return Err(Error::bad_input(
            "SelectMergeSpanProfile answers format flamegraph or tree",
        ));
    }
    let resp = merge_stacktraces(
        store,
        tenant,
        &q::SelectMergeStacktracesRequest {
            profile_type_id: r.profile_type_id,
            label_selector: r.label_selector,
            start: r.start,
            end: r.end,
            max_nodes: r.max_nodes,
            format: r.format,
            span_selector: r.span_selector,
            ..Default::default()
        },
        cx,
    )?;
    Ok(q::SelectMergeSpanProfileResponse {
        flamegraph: resp.flamegraph,
        tree: resp.tree,
    })
}

/// The diff of two selections of one profile type (as SelectMergeStacktraces takes them;
/// the larger `max_nodes` of the two applies).
pub fn diff(
    store: &SharedStore,
    tenant: &Tenant,
    r: &q::DiffRequest,
    cx: &QueryContext,
) -> Result<q::DiffResponse> {
    let (Some(left), Some(right)) = (&r.left, &r.right) else {
        return Err(Error::bad_input("Diff needs a left and a right request"));
    };
    crate::query::same_type(
        ProfileType::parse(&left.profile_type_id)?,
        ProfileType::parse(&right.profile_type_id)?,
    )?;
    let (left_tree, left_nodes) = merged_tree(store, tenant, left, cx)?;
    let (right_tree, right_nodes) = merged_tree(store, tenant, right, cx)?;
    let g = crate::flamebearer::encode_diff(&left_tree, &right_tree, left_nodes.max(right_nodes));
    let fg = flame_graph_message(g.graph);
    Ok(q::DiffResponse {
        flamegraph: Some(q::FlameGraphDiff {
            names: fg.names,
            levels: fg.levels,
            total: fg.total,
            max_self: fg.max_self,
            left_ticks: g.left_ticks,
            right_ticks: g.right_ticks,
        }),
    })
}

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
            Err(_) => return Err(Error::bad_input(format!("unknown aggregation {a}"))),
        },
    };
    let limit = series_limit(r.limit)?;
    let merged = crate::query::select_filtered(store, tenant, &sel.selector, &range, &sel.filter)?;
    let start_ms = range.from / NANOS_PER_MILLI;
    // Group labels → step start → (sum, profiles).
    let mut groups: BTreeMap<Vec<(String, String)>, StepTotals> = BTreeMap::new();
    for ((series, time), total) in &merged.profile_totals {
        let s = &merged.series[*series as usize];
        let key: Vec<(String, String)> = r
            .group_by
            .iter()
            .filter_map(|g| s.label(g).map(|v| (g.clone(), v)))
            .filter(|(_, v)| !v.is_empty())
            .collect();
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
fn step_millis(step: f64, range: &TimeRange) -> Result<i64> {
    if !step.is_finite() || step < 0.0 {
        return Err(Error::bad_input(format!("invalid step {step}")));
    }
    Ok(if step > 0.0 {
        ((step * 1000.0).round() as i64).max(1)
    } else {
        crate::timeline::step_seconds(range.from, range.until) * 1000
    })
}

/// A series `limit`: none when unset or 0; negative is a 400.
fn series_limit(limit: Option<i64>) -> Result<Option<usize>> {
    match limit {
        Some(l) if l < 0 => Err(Error::bad_input("limit must not be negative")),
        Some(l) if l > 0 => Ok(Some(usize::try_from(l).unwrap_or(usize::MAX))),
        _ => Ok(None),
    }
}

/// Keeps the `limit` items with the largest totals (ties: the earlier), in their order.
fn top_n<T>(items: Vec<(i64, T)>, limit: Option<usize>) -> Vec<T> {
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

/// Value buckets of a heatmap's y axis, as the reference server draws them.
const HEATMAP_BUCKETS: usize = 20;

/// One heatmap point: a profile's total (or a span's, within a profile).
struct HeatPoint {
    group: usize,
    time_ms: i64,
    value: i64,
    series: usize,
    span_id: String,
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
    let range = sel.range;
    let step_ms = step_millis(r.step, &range)?;
    let limit = series_limit(r.limit)?;
    let by_span = match q::HeatmapQueryType::try_from(r.query_type) {
        Ok(q::HeatmapQueryType::Unspecified | q::HeatmapQueryType::Individual) => false,
        Ok(q::HeatmapQueryType::Span) => true,
        Err(_) => {
            return Err(Error::bad_input(format!(
                "unknown heatmap query type {}",
                r.query_type
            )));
        }
    };
    let exemplars = match types::ExemplarType::try_from(r.exemplar_type) {
        Ok(types::ExemplarType::Unspecified | types::ExemplarType::None) => false,
        Ok(_) => true,
        Err(_) => {
            return Err(Error::bad_input(format!(
                "unknown exemplar type {}",
                r.exemplar_type
            )));
        }
    };
    sel.filter.read_links = by_span;

    // Points, grouped by the group_by labels of their series.
    let mut series: Vec<Series> = Vec::new();
    let mut series_ids: BTreeMap<Series, usize> = BTreeMap::new();
    let mut groups: Vec<Vec<(String, String)>> = Vec::new();
    let mut group_ids: BTreeMap<Vec<(String, String)>, usize> = BTreeMap::new();
    let mut totals: BTreeMap<(usize, i64, String), i64> = BTreeMap::new();
    crate::query::scan(
        store,
        tenant,
        &sel.selector,
        &range,
        &sel.filter,
        false,
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
                let key = (ids[s.series[i] as usize], s.time[i], span);
                let total = totals.entry(key).or_default();
                *total = total.saturating_add(s.value[i]);
            }
            Ok(())
        },
    )?;
    let points: Vec<HeatPoint> = totals
        .into_iter()
        .map(|((series_id, time, span_id), value)| {
            let key: Vec<(String, String)> = r
                .group_by
                .iter()
                .filter_map(|g| series[series_id].label(g).map(|v| (g.clone(), v)))
                .filter(|(_, v)| !v.is_empty())
                .collect();
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
    let (Some(min), Some(max)) = (
        points.iter().map(|p| p.value).min(),
        points.iter().map(|p| p.value).max(),
    ) else {
        return Ok(q::SelectHeatmapResponse::default());
    };
    let max = if max == min { min + 1 } else { max };
    let size = (max - min) as f64 / HEATMAP_BUCKETS as f64;
    let y_min: Vec<i64> = (0..HEATMAP_BUCKETS)
        .map(|i| min + (i as f64 * size) as i64)
        .collect();
    let bucket = |v: i64| y_min.iter().rposition(|m| v >= *m).unwrap_or(0);
    let (start_ms, end_ms) = (range.from / NANOS_PER_MILLI, range.until / NANOS_PER_MILLI);
    let step_end = |t: i64| {
        let k = (t - start_ms).div_euclid(step_ms);
        let end = start_ms + k * step_ms;
        if end < t { end + step_ms } else { end }
    };
    let last = step_end(end_ms);
    // group → slot time → (counts, best point per bucket)
    type Cells<'a> = BTreeMap<i64, (Vec<i32>, Vec<Option<&'a HeatPoint>>)>;
    let mut cells: Vec<Cells<'_>> = (0..groups.len()).map(|_| BTreeMap::new()).collect();
    let mut group_totals = vec![0i64; groups.len()];
    for p in &points {
        let t = step_end(p.time_ms).clamp(start_ms, last);
        let (counts, best) = cells[p.group]
            .entry(t)
            .or_insert_with(|| (vec![0; HEATMAP_BUCKETS], vec![None; HEATMAP_BUCKETS]));
        let b = bucket(p.value);
        counts[b] += 1;
        if best[b].is_none_or(|q: &HeatPoint| p.value > q.value) {
            best[b] = Some(p);
        }
        group_totals[p.group] = group_totals[p.group].saturating_add(p.value);
    }
    let exemplar = |p: &HeatPoint| types::Exemplar {
        timestamp: p.time_ms,
        span_id: p.span_id.clone(),
        value: p.value,
        labels: all_labels(&series[p.series])
            .into_iter()
            .filter(|(k, v)| !v.is_empty() && !r.group_by.contains(k))
            .map(|(name, value)| types::LabelPair { name, value })
            .collect(),
        ..types::Exemplar::default()
    };
    let mut out: Vec<(i64, types::HeatmapSeries)> = groups
        .into_iter()
        .zip(cells)
        .zip(group_totals)
        .map(|((labels, slots), total)| {
            let series = types::HeatmapSeries {
                labels: labels
                    .into_iter()
                    .map(|(name, value)| types::LabelPair { name, value })
                    .collect(),
                slots: slots
                    .into_iter()
                    .map(|(timestamp, (counts, best))| types::HeatmapSlot {
                        timestamp,
                        y_min: y_min.iter().map(|m| *m as f64).collect(),
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
        .collect();
    // In label order, as SelectSeries answers.
    let label_key = |s: &types::HeatmapSeries| {
        s.labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect::<Vec<_>>()
    };
    out.sort_by_key(|(_, s)| label_key(s));
    Ok(q::SelectHeatmapResponse {
        series: top_n(out, limit),
    })
}

/// Whether the tenant has data, and its oldest and newest profile times (ms): the footers of
/// the first and last days' segments.
pub fn profile_stats(
    store: &SharedStore,
    tenant: &Tenant,
) -> Result<types::GetProfileStatsResponse> {
    let days = manifest::data_days(store.as_ref(), tenant)?;
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
    day: crate::keys::Day,
) -> Result<Option<(i64, i64)>> {
    let start = day.start_nanos();
    let range = TimeRange {
        from: start,
        until: start + crate::keys::DAY_NANOS - 1,
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
        series.extend(m.series.into_iter().filter(|s| selector.matches(s)));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{IngestRequest, ingest};
    use crate::proto::types::v1::LabelNamesRequest;
    use crate::store::MemoryStore;
    use prost::Message;
    use std::sync::Arc;

    const T0_MS: i64 = 1_700_000_000_000;

    fn store_with_data() -> (SharedStore, Tenant) {
        let store: SharedStore = Arc::new(MemoryStore::default());
        let tenant = Tenant::from_header(None).unwrap();
        for (name, body) in [
            ("app.cpu{env=prod}", "main;work 3\n"),
            ("app.cpu{env=dev}", "main;idle 1\n"),
            ("db.alloc_objects", "query 7\n"),
        ] {
            let params: Vec<(String, String)> = [("name", name), ("from", "1700000000")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .to_vec();
            let req = IngestRequest {
                params: &params,
                content_type: None,
                body: body.as_bytes(),
            };
            ingest(store.as_ref(), &tenant, &req, 0).unwrap();
        }
        (store, tenant)
    }

    fn json_call(
        store: &SharedStore,
        tenant: &Tenant,
        method: &str,
        body: &str,
    ) -> serde_json::Value {
        let path = format!("/{QUERIER_SERVICE}/{method}");
        let c = Call {
            path: &path,
            content_type: Some("application/json"),
            content_encoding: None,
            accept_encoding: None,
            body: body.as_bytes(),
        };
        let e = call(store, tenant, &c, &QueryContext::at(T0_MS * 1_000_000)).unwrap();
        serde_json::from_slice(&e.body).unwrap()
    }

    #[test]
    fn metadata_methods_in_json() {
        let (store, tenant) = store_with_data();
        let range = format!(
            r#""start": "{}", "end": "{}""#,
            T0_MS - 60_000,
            T0_MS + 60_000
        );
        let types = json_call(&store, &tenant, "ProfileTypes", &format!("{{{range}}}"));
        let ids: Vec<&str> = types["profileTypes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["ID"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            [
                "memory:alloc_objects:count::",
                "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
            ]
        );
        let names = json_call(
            &store,
            &tenant,
            "LabelNames",
            &format!(r#"{{"matchers": ["{{service_name=\"app\"}}"], {range}}}"#),
        );
        assert_eq!(
            names["names"],
            serde_json::json!([
                "__name__",
                "__period_type__",
                "__period_unit__",
                "__profile_type__",
                "__type__",
                "__unit__",
                "env",
                "service_name"
            ])
        );
        let values = json_call(
            &store,
            &tenant,
            "LabelValues",
            &format!(r#"{{"name": "env", {range}}}"#),
        );
        assert_eq!(values["names"], serde_json::json!(["dev", "prod"]));
        let series = json_call(
            &store,
            &tenant,
            "Series",
            &format!(
                r#"{{"matchers": ["{{__profile_type__=\"process_cpu:cpu:nanoseconds:cpu:nanoseconds\"}}"],
                    "labelNames": ["service_name", "env"], {range}}}"#
            ),
        );
        assert_eq!(
            series["labelsSet"],
            serde_json::json!([
                {"labels": [{"name": "env", "value": "dev"}, {"name": "service_name", "value": "app"}]},
                {"labels": [{"name": "env", "value": "prod"}, {"name": "service_name", "value": "app"}]}
            ])
        );
        let stats = json_call(&store, &tenant, "GetProfileStats", "{}");
        assert_eq!(stats["dataIngested"], true);
        assert_eq!(stats["oldestProfileTime"], T0_MS.to_string());
        // Outside the data's range: nothing.
        let empty = json_call(
            &store,
            &tenant,
            "ProfileTypes",
            r#"{"start": "1000", "end": "2000"}"#,
        );
        assert!(
            empty
                .get("profileTypes")
                .is_none_or(|t| t.as_array().unwrap().is_empty())
        );
    }

    #[test]
    fn series_steps_groups_aggregation_and_limit() {
        let store: SharedStore = Arc::new(MemoryStore::default());
        let tenant = Tenant::from_header(None).unwrap();
        let t0 = T0_MS / 1000;
        for (env, at, count) in [
            ("prod", t0, 3),
            ("prod", t0 + 10, 5),
            ("dev", t0 + 10, 2),
            ("prod", t0 + 20, 1),
        ] {
            let name = format!("app.cpu{{env={env}}}");
            let from = at.to_string();
            let params: Vec<(String, String)> = [("name", name.as_str()), ("from", from.as_str())]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .to_vec();
            let body = format!("main;work {count}\n");
            let req = IngestRequest {
                params: &params,
                content_type: None,
                body: body.as_bytes(),
            };
            ingest(store.as_ref(), &tenant, &req, 0).unwrap();
        }
        let unit = 10_000_000.0; // one sample at 100 Hz
        let req = |group_by: &[&str], aggregation, limit| q::SelectSeriesRequest {
            profile_type_id: "process_cpu:cpu:nanoseconds:cpu:nanoseconds".into(),
            label_selector: "{service_name=\"app\"}".into(),
            start: T0_MS,
            end: T0_MS + 60_000,
            group_by: group_by.iter().map(|g| g.to_string()).collect(),
            step: 15.0,
            aggregation,
            limit,
            ..Default::default()
        };
        type Points = Vec<(Vec<String>, Vec<(i64, f64)>)>;
        let points = |r: &q::SelectSeriesResponse| -> Points {
            r.series
                .iter()
                .map(|s| {
                    (
                        s.labels
                            .iter()
                            .map(|l| format!("{}={}", l.name, l.value))
                            .collect(),
                        s.points
                            .iter()
                            .map(|p| (p.timestamp, p.value / unit))
                            .collect(),
                    )
                })
                .collect()
        };
        let sum =
            select_series(&store, &tenant, &req(&[], None, None), &QueryContext::at(0)).unwrap();
        assert_eq!(
            points(&sum),
            [(vec![], vec![(T0_MS, 10.0), (T0_MS + 15_000, 1.0)])]
        );
        let avg = select_series(
            &store,
            &tenant,
            &req(&[], Some(1), None),
            &QueryContext::at(0),
        )
        .unwrap();
        let avg: Vec<(i64, f64)> = avg.series[0]
            .points
            .iter()
            .map(|p| (p.timestamp, p.value))
            .collect();
        assert_eq!(avg, [(T0_MS, 10.0 * unit / 3.0), (T0_MS + 15_000, unit)]);
        let by_env = select_series(
            &store,
            &tenant,
            &req(&["env"], None, None),
            &QueryContext::at(0),
        )
        .unwrap();
        assert_eq!(
            points(&by_env),
            [
                (vec!["env=dev".to_string()], vec![(T0_MS, 2.0)]),
                (
                    vec!["env=prod".to_string()],
                    vec![(T0_MS, 8.0), (T0_MS + 15_000, 1.0)]
                ),
            ]
        );
        let top = select_series(
            &store,
            &tenant,
            &req(&["env"], None, Some(1)),
            &QueryContext::at(0),
        )
        .unwrap();
        assert_eq!(points(&top).len(), 1);
        assert_eq!(points(&top)[0].0, ["env=prod"]);

        // The flame graph of the same selection has the same total.
        let fg = merge_stacktraces(
            &store,
            &tenant,
            &q::SelectMergeStacktracesRequest {
                profile_type_id: "process_cpu:cpu:nanoseconds:cpu:nanoseconds".into(),
                label_selector: "{service_name=\"app\"}".into(),
                start: T0_MS,
                end: T0_MS + 60_000,
                ..Default::default()
            },
            &QueryContext::at(0),
        )
        .unwrap()
        .flamegraph
        .unwrap();
        assert_eq!(fg.total as f64, 11.0 * unit);
        assert_eq!(fg.names[..3], ["total", "main", "work"]);
        // Limits and what is not provided yet are errors, not ignored.
        let too_many = q::SelectMergeStacktracesRequest {
            profile_type_id: "process_cpu:cpu:nanoseconds:cpu:nanoseconds".into(),
            max_nodes: Some(2_000_000),
            ..Default::default()
        };
        assert_eq!(
            merge_stacktraces(&store, &tenant, &too_many, &QueryContext::at(0))
                .unwrap_err()
                .kind(),
            crate::ErrorKind::BadInput
        );
        // No sample of this data has a span id: selecting one leaves nothing.
        let spans = q::SelectMergeStacktracesRequest {
            profile_type_id: "process_cpu:cpu:nanoseconds:cpu:nanoseconds".into(),
            start: T0_MS,
            end: T0_MS + 60_000,
            span_selector: vec!["00000000000000ab".into()],
            ..Default::default()
        };
        let fg = merge_stacktraces(&store, &tenant, &spans, &QueryContext::at(0)).unwrap();
        assert_eq!(fg.flamegraph.unwrap().total, 0);
        // A call site keeps the stacks that start with it.
        let site = |names: &[&str], go_pgo| q::SelectMergeStacktracesRequest {
            stack_trace_selector: Some(types::StackTraceSelector {
                call_site: names
                    .iter()
                    .map(|n| types::Location {
                        name: n.to_string(),
                    })
                    .collect(),
                go_pgo,
            }),
            span_selector: vec![],
            ..spans.clone()
        };
        let total = |r: &q::SelectMergeStacktracesRequest| {
            merge_stacktraces(&store, &tenant, r, &QueryContext::at(0))
                .unwrap()
                .flamegraph
                .map_or(0, |f| f.total)
        };
        assert_eq!(total(&site(&["main"], None)) as f64, 11.0 * unit);
        assert_eq!(total(&site(&["main", "work"], None)) as f64, 11.0 * unit);
        assert_eq!(total(&site(&["work"], None)), 0);
        assert_eq!(total(&site(&["main", "work", "deeper"], None)), 0);
        let series = select_series(
            &store,
            &tenant,
            &q::SelectSeriesRequest {
                stack_trace_selector: site(&["work"], None).stack_trace_selector,
                ..req(&[], None, None)
            },
            &QueryContext::at(0),
        )
        .unwrap();
        assert!(series.series.is_empty());
        let pgo = site(
            &[],
            Some(types::GoPgo {
                keep_locations: 1,
                aggregate_callees: false,
            }),
        );
        // go_pgo keeping one location: every stack is its leaf alone.
        let fg = merge_stacktraces(&store, &tenant, &pgo, &QueryContext::at(0))
            .unwrap()
            .flamegraph
            .unwrap();
        assert_eq!(fg.total as f64, 11.0 * unit);
        assert_eq!(fg.names[..2], ["total", "work"]);
        assert_eq!(fg.levels.len(), 2);
    }

    #[test]
    fn binary_gzip_and_errors() {
        let (store, tenant) = store_with_data();
        let req = LabelNamesRequest {
            matchers: vec![],
            start: T0_MS - 60_000,
            end: T0_MS + 60_000,
        };
        let path = format!("/{QUERIER_SERVICE}/LabelNames");
        let body = req.encode_to_vec();
        let c = Call {
            path: &path,
            content_type: Some("application/proto"),
            content_encoding: None,
            accept_encoding: Some("gzip"),
            body: &body,
        };
        let e = call(&store, &tenant, &c, &QueryContext::at(0)).unwrap();
        assert_eq!(e.content_encoding, Some("gzip"));
        let raw = crate::ingest::gunzip(&e.body, 1 << 20, "answer").unwrap();
        let names = types::LabelNamesResponse::decode(&raw[..]).unwrap();
        assert!(names.names.contains(&"env".to_string()));

        let kind = |path: &str, ct: &str, body: &[u8]| {
            call(
                &store,
                &tenant,
                &Call {
                    path,
                    content_type: Some(ct),
                    content_encoding: None,
                    accept_encoding: None,
                    body,
                },
                &QueryContext::at(0),
            )
            .unwrap_err()
            .kind()
        };
        use crate::ErrorKind;
        assert_eq!(kind(&path, "text/plain", b""), ErrorKind::Unsupported);
        assert_eq!(
            kind(&path, "application/proto", b"\xff\xff"),
            ErrorKind::BadInput
        );
        assert_eq!(
            kind(
                &format!("/{QUERIER_SERVICE}/Nope"),
                "application/json",
                b"{}"
            ),
            ErrorKind::NotFound
        );
        assert_eq!(
            kind(
                &format!("/{QUERIER_SERVICE}/LabelValues"),
                "application/json",
                b"{}"
            ),
            ErrorKind::BadInput
        );
        assert_eq!(
            kind(
                &format!("/{QUERIER_SERVICE}/LabelNames"),
                "application/json",
                br#"{"matchers": ["{service_name=~\"(\"}"]}"#
            ),
            ErrorKind::BadInput
        );
    }
}
