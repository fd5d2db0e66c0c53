//! The stack methods: SelectMergeStacktraces (flamegraph, tree, dot, pprof),
//! SelectMergeProfile, SelectMergeSpanProfile and Diff.

use crate::Result;
use crate::profile::ProfileType;
use crate::query::{QueryContext, QueryError};
use crate::storage::store::SharedStore;
use crate::tenant::Tenant;
use crate::wire::proto::querier::v1 as q;

use super::{Selection, selection};

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
    let merged = crate::query::select_filtered(
        store,
        tenant,
        &sel.selector,
        &sel.range,
        &sel.filter,
        crate::query::Wanted::TREE,
    )?;
    Ok((merged.tree, max_nodes))
}

fn flame_graph_message(fg: crate::render::flamebearer::FlameGraph) -> q::FlameGraph {
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
        .map_err(|_| QueryError::UnknownProfileFormat { format: r.format })?;
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
            out.flamegraph = Some(flame_graph_message(crate::render::flamebearer::encode(
                &tree, max_nodes,
            )));
        }
        q::ProfileFormat::Tree => out.tree = tree.marshal(max_nodes),
        q::ProfileFormat::Dot => {
            let title = ProfileType::parse(&r.profile_type_id)?.sample_type;
            out.dot = crate::render::dot::render(&tree, max_nodes, &title);
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
) -> Result<crate::wire::proto::google::v1::Profile> {
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
) -> Result<crate::wire::proto::google::v1::Profile> {
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
        return Err(QueryError::SpanProfileFormat { format: r.format }.into());
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
        return Err(QueryError::DiffSide.into());
    };
    crate::query::request::same_type(
        ProfileType::parse(&left.profile_type_id)?,
        ProfileType::parse(&right.profile_type_id)?,
    )?;
    let (left_tree, left_nodes) = merged_tree(store, tenant, left, cx)?;
    let (right_tree, right_nodes) = merged_tree(store, tenant, right, cx)?;
    let g = crate::render::flamebearer::encode_diff(
        &left_tree,
        &right_tree,
        left_nodes.max(right_nodes),
    );
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
