//! The ingest component: `POST /ingest` (and `/pyroscope/ingest`), the push API
//! `POST /push.v1.PusherService/Push`, and OTLP profiles (`POST /v1development/profiles`,
//! `…ProfilesService/Export`). Parsing and storage are [`flamelet::ingest`]; this file
//! is the HTTP adapter.

use flamelet::ingest::{INGESTED_HEADER, IngestOutcome, IngestRequest, Ingested, ingest};
use flamelet::limits::{IngestLimits, TenantLimits};
use flamelet::tenant::Tenant;
use flamelet::wire::connect::Codec;
use flamelet::wire::proto::push::v1::PushResponse;
use flamelet_guest::{HostStore, Request, Response, respond};
use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

// Parsing allocates and frees a great deal; talc is faster than the default dlmalloc here
// (docs/benchmarks.md). Components are single-threaded (no atomics).
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

struct Component;

impl Guest for Component {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        flamelet_guest::serve("ingest", request, out, handle);
    }
}

fn handle(req: &Request) -> Response {
    if req.method != "POST" {
        return Response::method_not_allowed("POST");
    }
    match req.path.trim_end_matches('/') {
        "/push.v1.PusherService/Push" => return push(req),
        "/v1development/profiles"
        | "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export" => {
            return otlp(req);
        }
        _ => {}
    }
    let result = req.tenant().and_then(|tenant| {
        let upload = IngestRequest {
            params: &req.params,
            content_type: req.header("content-type"),
            body: &req.body,
        };
        let limits = limits(&tenant)?;
        ingest(
            &HostStore,
            &tenant,
            &limits,
            &upload,
            flamelet::time::now_nanos(),
        )
    });
    respond(result, |outcome| {
        counted(Response::text(200, ""), &outcome, req)
    })
}

/// An accepted request's answer, with what it held for the host's counters.
fn counted(resp: Response, outcome: &IngestOutcome, req: &Request) -> Response {
    let ingested = Ingested::of(outcome, req.body.len());
    resp.with_header(INGESTED_HEADER, ingested.to_string())
}

/// The tenant's limits, from the component's environment (the server configuration's
/// `limits` and `overrides`).
fn limits(tenant: &Tenant) -> flamelet::Result<IngestLimits> {
    Ok(TenantLimits::from_config(|name| std::env::var(name).ok())?
        .of(tenant)
        .ingest)
}

/// Connect unary: an empty `PushResponse` in the request's codec, or a Connect error.
fn push(req: &Request) -> Response {
    let codec = match Codec::from_content_type(req.header("content-type")) {
        Ok(codec) => codec,
        Err(e) => return Response::connect_error(&e.into()),
    };
    let result = req.tenant().and_then(|tenant| {
        flamelet::ingest::ingest_push(
            &HostStore,
            &tenant,
            &limits(&tenant)?,
            codec,
            req.header("content-encoding"),
            &req.body,
            flamelet::time::now_nanos(),
        )
    });
    let answer = result.and_then(|outcome| {
        let encoded = flamelet::wire::connect::encode(
            codec,
            &PushResponse::default(),
            flamelet::wire::connect::accepts_gzip(req.header("accept-encoding")),
        )?;
        Ok((encoded, outcome))
    });
    match answer {
        Ok((encoded, outcome)) => counted(Response::connect(encoded), &outcome, req),
        Err(e) => Response::connect_error(&e),
    }
}

/// OTLP/HTTP: an empty `ExportProfilesServiceResponse` in the request's encoding, or a
/// one-line plain-text error with its status (400, 413, 415), as the reference server answers.
fn otlp(req: &Request) -> Response {
    let codec = Codec::from_content_type(req.header("content-type")).map_err(flamelet::Error::from);
    let result = codec.and_then(|codec| {
        let tenant = req.tenant()?;
        let outcome = flamelet::ingest::ingest_otlp(
            &HostStore,
            &tenant,
            &limits(&tenant)?,
            codec,
            req.header("content-encoding"),
            &req.body,
            flamelet::time::now_nanos(),
        )?;
        Ok((codec, outcome))
    });
    respond(result, |(codec, outcome)| {
        let resp = Response {
            status: 200,
            content_type: match codec {
                Codec::Json => "application/json",
                Codec::Proto => "application/x-protobuf",
            },
            content_encoding: None,
            headers: Vec::new(),
            body: if codec == Codec::Json {
                b"{}".to_vec()
            } else {
                Vec::new()
            },
        };
        counted(resp, &outcome, req)
    })
}

wasip2::http::proxy::export!(Component with_types_in wasip2);
