//! The Connect query API: `POST /querier.v1.QuerierService/<Method>` and
//! `/settings.v1.SettingsService/<Method>`, as Grafana's datasource (binary) and Profiles
//! Drilldown (JSON) call them. [`call`] picks the method, decodes its request
//! ([`connect::decode`]), answers from the store and encodes the answer.
//!
//! Times are milliseconds since the epoch. Which series exist in a range is read from segment
//! footers alone (no sample columns).

mod heatmap;
mod labels;
mod series;
mod stacks;
mod stats;
#[cfg(test)]
mod tests;

pub use heatmap::select_heatmap;
pub use labels::{label_names, label_values, profile_types, series};
pub use series::select_series;
pub use stacks::{diff, merge_profile, merge_span_profile, merge_stacktraces};
pub use stats::{analyze_query, profile_stats};

use crate::profile::ProfileType;
use crate::query::{LeafLocations, QueryContext, QueryError, SampleFilter};
use crate::selector::Selector;
use crate::storage::store::SharedStore;
use crate::tenant::Tenant;
use crate::time::TimeRange;
use crate::wire::connect::{self, Codec, Encoded};
use crate::wire::proto::querier::v1 as q;
use crate::wire::proto::settings::v1 as settings;
use crate::wire::proto::types::v1 as types;
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
    // An unsupported content type is the answer before an unknown method is.
    Codec::from_content_type(c.content_type)?;
    let (service, method) = c
        .path
        .trim_start_matches('/')
        .split_once('/')
        .ok_or_else(|| QueryError::NoMethod {
            path: c.path.to_string(),
        })?;
    macro_rules! answer {
        ($f:expr) => {
            unary(c, $f)
        };
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
        (SETTINGS_SERVICE, m @ ("Set" | "Delete")) => Err(QueryError::SettingsNotStored {
            method: format!("{SETTINGS_SERVICE}/{m}"),
        }
        .into()),
        _ => Err(QueryError::UnknownMethod {
            path: c.path.to_string(),
        }
        .into()),
    }
}

/// Answers one unary call: decodes its request in the call's codec, answers it with `f` and
/// encodes the answer in the same codec (gzipped when the client accepts it).
pub fn unary<Req, Resp>(c: &Call<'_>, f: impl FnOnce(Req) -> Result<Resp>) -> Result<Encoded>
where
    Req: prost::Message + serde::de::DeserializeOwned + Default,
    Resp: prost::Message + serde::Serialize,
{
    let codec = Codec::from_content_type(c.content_type)?;
    let req = connect::decode(codec, c.content_encoding, c.body)?;
    let resp = f(req)?;
    Ok(connect::encode(
        codec,
        &resp,
        connect::accepts_gzip(c.accept_encoding),
    )?)
}

/// Parses Connect `matchers`: each a selector such as `{service_name="app"}`.
pub(super) fn selectors(matchers: &[String]) -> Result<Vec<Selector>> {
    matchers
        .iter()
        .filter(|m| !m.trim().is_empty())
        .map(|m| Ok(Selector::parse(m)?))
        .collect()
}

/// A profile type and label selector as the stack and series methods name them.
pub(super) fn typed_selector(profile_type_id: &str, label_selector: &str) -> Result<Selector> {
    let profile_type = ProfileType::parse(profile_type_id)?;
    let mut selector = Selector::parse(label_selector)?;
    if selector
        .profile_type
        .as_ref()
        .is_some_and(|t| *t != profile_type)
    {
        return Err(QueryError::OtherProfileType {
            selector: label_selector.to_string(),
            profile_type: profile_type_id.to_string(),
        }
        .into());
    }
    selector.profile_type = Some(profile_type);
    Ok(selector)
}

/// What the stack and series methods select: the series, the time range (ms), and which
/// samples by their stacks (`call_site`, `go_pgo`).
pub(super) struct Selection {
    selector: Selector,
    range: TimeRange,
    filter: SampleFilter,
}

pub(super) fn selection(
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
