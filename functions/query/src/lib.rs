//! The query component: `GET /pyroscope/render` and `GET /pyroscope/label-values`. Deciding
//! the answer is [`flamelet::query`]; this file is the HTTP adapter.

use flamelet::query::{LabelValuesRequest, RenderRequest, Rendered, label_values, render};
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
    if req.method != "GET" {
        return Response::method_not_allowed("GET");
    }
    let now = flamelet::time::now_nanos();
    let store = HostStore::shared();
    match req.path.trim_end_matches('/') {
        "/pyroscope/render" => {
            let result = req.tenant().and_then(|tenant| {
                let q = RenderRequest::from_params(&req.params, now)?;
                render(&store, &tenant, &q)
            });
            respond(result, |r| match r {
                Rendered::Json(body) => Response::json(&body),
                Rendered::Dot(dot) => Response::text(200, dot),
            })
        }
        "/pyroscope/label-values" => {
            let result = req.tenant().and_then(|tenant| {
                let q = LabelValuesRequest::from_params(&req.params, now)?;
                label_values(&store, &tenant, &q)
            });
            respond(result, |v| Response::json(&v))
        }
        other => Response::error(404, &format!("no route for `{other}`")),
    }
}

wasip2::http::proxy::export!(Component with_types_in wasip2);
