//! The query component: `GET /pyroscope/render`, `/pyroscope/render-diff`,
//! `/pyroscope/label-values`, `/exported-metrics` (the counters of the export rules, in the
//! Prometheus text format), `POST /flamelet/adhoc` (an uploaded file's flame graphs, not
//! stored), `GET /flamelet/status` (the storage census of the tenant named, or of every
//! tenant: [`flamelet::census`]), and the
//! Connect query API (`POST /querier.v1.QuerierService/*`, `/settings.v1.SettingsService/*`)
//! and the recording rules (`/settings.v1.RecordingRulesService/*`).
//! Deciding the answer is [`flamelet::query::pyroscope`] and [`flamelet::query::connect`]; this
//! file is the HTTP adapter.

use flamelet::adhoc::render_upload;
use flamelet::census;
use flamelet::compact::CompactionConfig;
use flamelet::ingest::IngestRequest;
use flamelet::limits::{IngestLimits, Limits, TenantLimits};
use flamelet::metrics::recording::service::{
    self as recording, RECORDING_RULES_SERVICE, RulesConfig,
};
use flamelet::metrics::{self, MetricsError, cached_counters, exposition};
use flamelet::query::connect as querier;
use flamelet::query::pyroscope::{Rendered, list_label_values, render, render_diff};
use flamelet::query::{DiffRequest, LabelValuesRequest, QueryContext, RenderRequest};
use flamelet::retention::Retention;
use flamelet::storage::deadline::Deadline;
use flamelet::storage::store::SharedStore;
use flamelet_guest::{HostStore, Request, Response, respond};
use std::sync::Arc;
use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

struct Component;

impl Guest for Component {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        flamelet_guest::serve("query", request, out, handle);
    }
}

/// The clock and the request's tenant's query limits (`FLAMELET_LIMITS` and its overrides,
/// with the tenant's retention as a lookback), and the store, which refuses reads once the
/// query has run for the compaction grace period (`FLAMELET_COMPACTION_GRACE_SECONDS`, as the
/// compact component reads it), and reads of L0 segments once it has run for the L0 grace
/// period (`FLAMELET_COMPACTION_L0_GRACE_SECONDS`).
/// Also the tenant's ingest limits, which an ad hoc upload is parsed under.
fn context(req: &Request) -> flamelet::Result<(QueryContext, SharedStore, IngestLimits)> {
    let env = |name: &str| std::env::var(name).ok();
    let retention = Retention::from_config(env)?;
    // A bad tenant header fails the request where its tenant is read; until then the default.
    let tenant = req.tenant().ok();
    let period = tenant
        .as_ref()
        .map_or(retention.default_period(), |t| retention.period(t));
    let limits = TenantLimits::from_config(env)?;
    let limits = tenant.as_ref().map_or(limits.defaults(), |t| limits.of(t));
    let Limits { query, ingest } = limits;
    let cx = QueryContext {
        now_nanos: flamelet::time::now_nanos(),
        limits: query.with_retention(period),
    };
    let graces = CompactionConfig::graces_from_config(env)?;
    let store = Deadline::wrap(
        HostStore::shared(),
        graces,
        Arc::new(flamelet::time::now_nanos),
    );
    Ok((cx, store, ingest))
}

fn handle(req: &Request) -> Response {
    let path = req.path.trim_end_matches('/');
    let service = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let (cx, store, ingest) = match context(req) {
        Ok(context) => context,
        Err(e) => return Response::connect_error(&e),
    };
    if service == querier::QUERIER_SERVICE
        || service == querier::SETTINGS_SERVICE
        || service == RECORDING_RULES_SERVICE
    {
        return connect(req, path, &cx, &store);
    }
    if path == "/flamelet/adhoc" {
        return adhoc(req, &cx, &ingest);
    }
    if req.method != "GET" {
        return Response::method_not_allowed("GET");
    }
    match req.path.trim_end_matches('/') {
        "/pyroscope/render" => {
            let result = req.tenant().and_then(|tenant| {
                let q = RenderRequest::from_params(&req.params, &cx)?;
                render(&store, &tenant, &q)
            });
            respond(result, |r| match r {
                Rendered::Json(body) => Response::json(&body),
                Rendered::Dot(dot) => Response::text(200, dot),
            })
        }
        "/pyroscope/render-diff" => {
            let result = req.tenant().and_then(|tenant| {
                let q = DiffRequest::from_params(&req.params, &cx)?;
                render_diff(&store, &tenant, &q)
            });
            respond(result, |r| Response::json(&r))
        }
        "/pyroscope/label-values" => {
            let result = req.tenant().and_then(|tenant| {
                let q = LabelValuesRequest::from_params(&req.params, &cx)?;
                list_label_values(&store, &tenant, &q)
            });
            respond(result, |v| Response::json(&v))
        }
        "/exported-metrics" => {
            // Scrapers that cannot send headers (Prometheus scrape configs without
            // `http_headers`) name the tenant as `?tenant=`.
            let result = req.scrape_tenant().and_then(|tenant| {
                let env = |name: &str| std::env::var(name).ok();
                let rules = metrics::counted_rules(&store, &tenant, env)?;
                let counters = cached_counters(&store, &tenant, &rules)?;
                Ok(exposition(&rules, &counters).map_err(MetricsError::from)?)
            });
            respond(result, |text| Response {
                content_type: metrics::CONTENT_TYPE,
                ..Response::text(200, text)
            })
        }
        "/flamelet/status" => {
            let result = req
                .named_tenant()
                .and_then(|only| census::take(&store, only.as_ref(), flamelet::time::now_nanos()));
            respond(result, |c| Response::json(&c))
        }
        other => Response::error(404, &format!("no route for `{other}`")),
    }
}

/// `POST /flamelet/adhoc?format=…&name=…&max-nodes=…`: the body parsed as `/ingest` would
/// and rendered as `/pyroscope/render` would, nothing stored.
fn adhoc(req: &Request, cx: &QueryContext, limits: &IngestLimits) -> Response {
    if req.method != "POST" {
        return Response::method_not_allowed("POST");
    }
    // The tenant's limits came with the context; a bad tenant id is refused here.
    let result = req.tenant().and_then(|_| {
        let max_nodes = cx.parse_max_nodes(&req.params)?;
        let upload = IngestRequest {
            params: &req.params,
            content_type: req.header("content-type"),
            body: &req.body,
        };
        render_upload(&upload, limits, max_nodes, cx.now_nanos)
    });
    respond(result, |r| Response::json(&r))
}

/// A Connect unary call: POST only; errors as Connect error JSON.
fn connect(req: &Request, path: &str, cx: &QueryContext, store: &SharedStore) -> Response {
    if req.method != "POST" {
        return Response::method_not_allowed("POST");
    }
    let call = querier::Call {
        path,
        content_type: req.header("content-type"),
        content_encoding: req.header("content-encoding"),
        accept_encoding: req.header("accept-encoding"),
        body: &req.body,
    };
    let result = req.tenant().and_then(|tenant| {
        if path
            .trim_start_matches('/')
            .starts_with(RECORDING_RULES_SERVICE)
        {
            let config = RulesConfig::from_env(|name| std::env::var(name).ok())?;
            recording::call(store.as_ref(), &tenant, &config, &call)
        } else {
            querier::call(store, &tenant, &call, cx)
        }
    });
    match result {
        Ok(encoded) => Response::connect(encoded),
        Err(e) => Response::connect_error(&e),
    }
}

wasip2::http::proxy::export!(Component with_types_in wasip2);
