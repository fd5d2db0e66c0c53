//! The Pyroscope HTTP query API: `/pyroscope/render` (flame graph + timeline, or dot),
//! `/pyroscope/render-diff` and `/pyroscope/label-values`, answered from validated requests.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::Result;
use crate::render::flamebearer::{self, FlameGraph, RenderMetadata};
use crate::render::timeline::{Timeline, TimelineBuilder};
use crate::storage::store::SharedStore;
use crate::tenant::Tenant;

use super::merge::{Wanted, matching_series, select};
use super::request::{DiffRequest, LabelValuesRequest, RenderFormat, RenderRequest};

/// The JSON answer of `/pyroscope/render`.
#[derive(Debug, Clone, Serialize)]
pub struct RenderResponse {
    /// Always 1.
    pub version: u32,
    /// The flame graph.
    pub flamebearer: FlameGraph,
    /// Units and names.
    pub metadata: RenderMetadata,
    /// Totals over time.
    pub timeline: Timeline,
    /// One timeline per `groupBy` value, or `null`.
    pub groups: Option<BTreeMap<String, Timeline>>,
}

/// A render answer: JSON or dot.
pub enum Rendered {
    /// `application/json`.
    Json(Box<RenderResponse>),
    /// Graphviz text.
    Dot(String),
}

/// Answers `/pyroscope/render`.
pub fn render(store: &SharedStore, tenant: &Tenant, req: &RenderRequest) -> Result<Rendered> {
    let wanted = if req.format == RenderFormat::Dot {
        Wanted::TREE
    } else {
        Wanted::ALL
    };
    let merged = select(store, tenant, &req.selector, &req.range, wanted)?;
    if req.format == RenderFormat::Dot {
        return Ok(Rendered::Dot(crate::render::dot::render(
            &merged.tree,
            req.max_nodes,
            &req.profile_type.sample_type,
        )));
    }
    let mut timeline = TimelineBuilder::new(req.range.from, req.range.until);
    let mut groups: Option<BTreeMap<String, TimelineBuilder>> =
        req.group_by.as_ref().map(|_| BTreeMap::new());
    for (&(series, time), &total) in &merged.profile_totals {
        timeline.add(time, total);
        if let (Some(groups), Some(label)) = (groups.as_mut(), req.group_by.as_ref()) {
            let value = merged.series[series as usize]
                .label(label)
                .unwrap_or_default();
            groups
                .entry(value)
                .or_insert_with(|| TimelineBuilder::new(req.range.from, req.range.until))
                .add(time, total);
        }
    }
    Ok(Rendered::Json(Box::new(RenderResponse {
        version: 1,
        flamebearer: flamebearer::encode(&merged.tree, req.max_nodes),
        metadata: RenderMetadata::of(&req.profile_type, "single"),
        timeline: timeline.finish(req.aggregation),
        groups: groups.map(|g| {
            g.into_iter()
                .map(|(k, b)| (k, b.finish(req.aggregation)))
                .collect()
        }),
    })))
}

/// Lists the sorted distinct values of a label over the series with data in range (judged by
/// segment time bounds, so without reading sample columns).
pub fn list_label_values(
    store: &SharedStore,
    tenant: &Tenant,
    req: &LabelValuesRequest,
) -> Result<Vec<String>> {
    let series = matching_series(
        store,
        tenant,
        std::slice::from_ref(&req.selector),
        &req.range,
    )?;
    let values: BTreeSet<String> = series
        .iter()
        .filter_map(|s| {
            if req.label == crate::profile::METRIC_NAME {
                Some(s.profile_type.id())
            } else {
                s.label(&req.label)
            }
        })
        .filter(|v| !v.is_empty())
        .collect();
    Ok(values.into_iter().collect())
}

/// The JSON answer of `/pyroscope/render-diff`.
#[derive(Debug, Clone, Serialize)]
pub struct DiffResponse {
    /// Always 1.
    pub version: u32,
    /// The diff flame graph (7-number groups).
    pub flamebearer: flamebearer::DiffGraph,
    /// Units and names; `format` is `double`.
    pub metadata: RenderMetadata,
    /// The left side's total.
    #[serde(rename = "leftTicks")]
    pub left_ticks: i64,
    /// The right side's total.
    #[serde(rename = "rightTicks")]
    pub right_ticks: i64,
}

/// Answers `/pyroscope/render-diff`.
pub fn render_diff(
    store: &SharedStore,
    tenant: &Tenant,
    req: &DiffRequest,
) -> Result<DiffResponse> {
    let left = select(store, tenant, &req.left.0, &req.left.1, Wanted::TREE)?;
    let right = select(store, tenant, &req.right.0, &req.right.1, Wanted::TREE)?;
    let graph = flamebearer::encode_diff(&left.tree, &right.tree, req.max_nodes);
    Ok(DiffResponse {
        version: 1,
        left_ticks: graph.left_ticks,
        right_ticks: graph.right_ticks,
        flamebearer: graph,
        metadata: RenderMetadata::of(&req.profile_type, "double"),
    })
}
