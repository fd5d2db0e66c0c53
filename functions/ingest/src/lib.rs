//! The ingest component: `POST /ingest` (and `/pyroscope/ingest`). Parsing and storage are
//! [`flamelet::ingest`]; this file is the HTTP adapter.

use flamelet::ingest::{IngestRequest, ingest};
use flamelet_guest::{HostStore, Request, Response, respond};
use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

struct Component;

impl Guest for Component {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        flamelet_guest::serve(request, out, handle);
    }
}

fn handle(req: &Request) -> Response {
    if req.method != "POST" {
        return Response::method_not_allowed("POST");
    }
    let result = req.tenant().and_then(|tenant| {
        let upload = IngestRequest {
            params: &req.params,
            content_type: req.header("content-type"),
            body: &req.body,
        };
        ingest(&HostStore, &tenant, &upload, flamelet::time::now_nanos())
    });
    respond(result, |_| Response::text(200, ""))
}

wasip2::http::proxy::export!(Component with_types_in wasip2);
