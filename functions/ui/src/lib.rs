//! The UI component: serves the built web UI (`ui/`, embedded at build time) at `/` and the
//! views' paths, its hashed assets under `/assets/`, and Grafana's icons under `/img/`. The UI is a client of the query and
//! ingest APIs; nothing here decides an answer.

use std::io::Read;

use flamelet_guest::{Request, Response};
use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

/// One embedded file, gzipped.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    gzip: &'static [u8],
    size: usize,
}

static ASSETS: &[Asset] = include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The paths of the UI's views: each answers the page, which reads its state from the URL.
const VIEWS: [&str; 7] = [
    "/",
    "/comparison",
    "/comparison-diff",
    "/explore",
    "/call-graph",
    "/adhoc",
    "/status",
];

/// Hashed assets are cached for good; pages are revalidated, so a new build is seen at once.
const IMMUTABLE: &[(&str, &str)] = &[
    ("cache-control", "public, max-age=31536000, immutable"),
    ("vary", "accept-encoding"),
];
const REVALIDATE: &[(&str, &str)] = &[("cache-control", "no-cache"), ("vary", "accept-encoding")];
const A_DAY: &[(&str, &str)] = &[
    ("cache-control", "public, max-age=86400"),
    ("vary", "accept-encoding"),
];

struct Component;

impl Guest for Component {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        flamelet_guest::serve("ui", request, out, handle);
    }
}

fn handle(req: &Request) -> Response {
    if req.method != "GET" {
        return Response::method_not_allowed("GET");
    }
    let path = match req.path.trim_end_matches('/') {
        "" => "/",
        p => p,
    };
    let (file, headers) = if VIEWS.contains(&path) {
        ("/index.html", REVALIDATE)
    } else if path.starts_with("/assets/") {
        // Vite names assets by content hash: they never change under a name.
        (path, IMMUTABLE)
    } else {
        // Grafana's icons, under their own names.
        (path, A_DAY)
    };
    let Some(asset) = ASSETS.iter().find(|a| a.path == file) else {
        return Response::error(404, &format!("no such page or file: `{path}`"));
    };
    let gzip_ok = req
        .header("accept-encoding")
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let body = if gzip_ok {
        asset.gzip.to_vec()
    } else {
        let mut body = Vec::with_capacity(asset.size);
        if let Err(e) = flate2::read::GzDecoder::new(asset.gzip).read_to_end(&mut body) {
            return Response::error(500, &format!("embedded asset `{file}`: {e}"));
        }
        body
    };
    Response {
        status: 200,
        content_type: asset.content_type,
        content_encoding: gzip_ok.then_some("gzip"),
        headers: headers.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        body,
    }
}

wasip2::http::proxy::export!(Component with_types_in wasip2);
