//! Glue shared by Flamelet's WASM components, and nothing else: reading a `wasi:http` request,
//! writing a response, mapping core errors to statuses, and the storage capability as a
//! [`flamelet::storage::store::ObjectStore`]. No business logic lives here.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use flamelet::error::{REJECT_REASON_HEADER, REJECT_REASONS};
use flamelet::storage::store::{ListPage, ObjectMeta, ObjectStore, PutMode, StoreError};
use flamelet::wire::connect::Encoded;
use flamelet::{Error, ErrorKind};
use wasip2::http::types::{
    ErrorCode, Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasip2::io::streams::StreamError;

pub mod outbound;

/// Bindings of the `flamelet:host/function` world (the storage import).
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "flamelet:host/function",
    });
}

use bindings::flamelet::host::store as cap;

/// The storage capability imported from the host.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostStore;

impl HostStore {
    /// Returns the capability as the shared handle the core's query functions take.
    pub fn shared() -> flamelet::storage::store::SharedStore {
        Arc::new(HostStore)
    }
}

fn store_error(e: cap::Error) -> StoreError {
    match e {
        cap::Error::NotFound(key) => StoreError::NotFound { key },
        cap::Error::AlreadyExists(key) => StoreError::AlreadyExists { key },
        cap::Error::InvalidKey(key) => StoreError::InvalidKey { key },
        cap::Error::Config(message) => StoreError::Config { message },
        cap::Error::Other(message) => StoreError::Other { message },
    }
}

impl ObjectStore for HostStore {
    fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        cap::get(key).map(Bytes::from).map_err(store_error)
    }

    fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        cap::get_range(key, range.start, range.end)
            .map(Bytes::from)
            .map_err(store_error)
    }

    fn get_many(&self, keys: &[String]) -> Vec<Result<Bytes, StoreError>> {
        cap::get_many(keys)
            .into_iter()
            .map(|r| r.map(Bytes::from).map_err(store_error))
            .collect()
    }

    fn put(&self, key: &str, data: Bytes, mode: PutMode) -> Result<(), StoreError> {
        let mode = match mode {
            PutMode::Overwrite => cap::PutMode::Overwrite,
            PutMode::Create => cap::PutMode::Create,
        };
        cap::put(key, &data, mode).map_err(store_error)
    }

    fn list(
        &self,
        prefix: &str,
        token: Option<&str>,
        limit: u32,
        delimited: bool,
    ) -> Result<ListPage, StoreError> {
        let page = cap::list(prefix, token, limit, delimited).map_err(store_error)?;
        Ok(ListPage {
            objects: page
                .objects
                .into_iter()
                .map(|o| ObjectMeta {
                    key: o.key,
                    size: o.size,
                })
                .collect(),
            prefixes: page.prefixes,
            next_token: page.next_token,
        })
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        cap::delete(key).map_err(store_error)
    }
}

/// An HTTP request, read whole.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method, upper case.
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// Decoded query parameters, in order.
    pub params: Vec<(String, String)>,
    /// Headers with lower-case names.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// Returns the first value of a header (name in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        headers_value(&self.headers, name)
    }

    /// Validates the tenant from `X-Scope-OrgID`.
    pub fn tenant(&self) -> Result<flamelet::tenant::Tenant, Error> {
        Ok(flamelet::tenant::Tenant::from_header(
            self.header("x-scope-orgid"),
        )?)
    }

    /// Validates the tenant of a scrape: `X-Scope-OrgID`, or the `tenant` parameter for
    /// scrapers that cannot send headers; when both are there they must agree.
    pub fn scrape_tenant(&self) -> Result<flamelet::tenant::Tenant, Error> {
        let param = self
            .params
            .iter()
            .find(|(k, _)| k == "tenant")
            .map(|(_, v)| v.as_str());
        Ok(flamelet::tenant::Tenant::for_scrape(
            self.header("x-scope-orgid"),
            param,
        )?)
    }

    /// The tenant a request about one or every tenant names, as [`Request::scrape_tenant`]
    /// reads it; `None` when it names none.
    pub fn named_tenant(&self) -> Result<Option<flamelet::tenant::Tenant>, Error> {
        let named = self.header("x-scope-orgid").is_some()
            || self.params.iter().any(|(k, _)| k == "tenant");
        named.then(|| self.scrape_tenant()).transpose()
    }
}

/// An HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// The `Content-Encoding`, when the body is compressed.
    pub content_encoding: Option<&'static str>,
    /// Further headers (name in lower case, value).
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON answer with status 200.
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Response {
        match serde_json::to_vec(value) {
            Ok(body) => Response {
                status: 200,
                content_type: "application/json",
                content_encoding: None,
                headers: Vec::new(),
                body,
            },
            Err(e) => Response::error(500, &format!("encoding the answer: {e}")),
        }
    }

    /// A plain-text answer.
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            content_encoding: None,
            headers: Vec::new(),
            body: body.into().into_bytes(),
        }
    }

    /// An error answer: one line of text saying what was wrong.
    pub fn error(status: u16, message: &str) -> Response {
        let line = message.lines().next().unwrap_or("").to_string();
        Response::text(status, line + "\n")
    }

    /// The answer to a core error: its kind decides the status.
    pub fn from_error(e: &Error) -> Response {
        let kind = e.kind();
        if matches!(
            kind,
            ErrorKind::Internal | ErrorKind::Unavailable | ErrorKind::Conflict
        ) {
            eprintln!("error: {e}");
        }
        Response::error(kind.http_status(), &e.to_string()).with_reason(e.reject_reason())
    }

    /// The answer with the header that names why the request was refused, one of
    /// [`REJECT_REASONS`], for the host to count ([`REJECT_REASON_HEADER`]).
    fn with_reason(self, reason: Option<&str>) -> Response {
        match reason.filter(|r| REJECT_REASONS.contains(r)) {
            Some(r) => self.with_header(REJECT_REASON_HEADER, r.to_string()),
            None => self,
        }
    }

    /// The answer with one more header (`name` in lower case).
    pub fn with_header(mut self, name: &'static str, value: String) -> Response {
        self.headers.push((name, value));
        self
    }

    /// The Connect protocol's answer to a core error: `{"code": …, "message": …}` with the
    /// HTTP status that goes with the code.
    pub fn connect_error(e: &Error) -> Response {
        let (status, body) = flamelet::wire::connect::error_body(e);
        if status >= 500 {
            eprintln!("error: {e}");
        }
        Response {
            status,
            content_type: "application/json",
            content_encoding: None,
            headers: Vec::new(),
            body,
        }
        .with_reason(e.reject_reason())
    }

    /// A Connect answer, already encoded.
    pub fn connect(encoded: Encoded) -> Response {
        Response {
            status: 200,
            content_type: encoded.content_type,
            content_encoding: encoded.content_encoding,
            headers: Vec::new(),
            body: encoded.body,
        }
    }

    /// 405 for a method the route does not take.
    pub fn method_not_allowed(allowed: &str) -> Response {
        Response::error(405, &format!("method not allowed: use {allowed}"))
    }
}

fn method_name(m: &Method) -> String {
    match m {
        Method::Get => "GET".into(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(o) => o.to_ascii_uppercase(),
    }
}

/// The first value of header `name` (lower case) among `headers`.
fn headers_value<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// With authentication configured ([`flamelet::auth::AUTH_ENV`]: a packaged app, where no
/// host checks credentials first), checks the request's credential before its body is read,
/// and puts the tenant it decides in `x-scope-orgid`; the refusal otherwise. A bad
/// configuration fails every request (never open by mistake).
fn admit(component: &str, path: &str, headers: &mut Vec<(String, String)>) -> Result<(), Response> {
    let auth = match flamelet::auth::Auth::from_config(|name| std::env::var(name).ok()) {
        Ok(Some(auth)) => auth,
        Ok(None) => return Ok(()),
        Err(e) => return Err(Response::error(500, &e.to_string())),
    };
    let access = flamelet::auth::Access::of(component, path);
    let decided = if access == flamelet::auth::Access::Open {
        Ok(None)
    } else {
        auth.identify(headers_value(headers, "authorization"))
            .and_then(|p| p.authorize(access, headers_value(headers, "x-scope-orgid")))
    };
    match decided {
        Ok(tenant) => {
            headers.retain(|(k, _)| k != "authorization");
            if let Some(tenant) = tenant {
                headers.retain(|(k, _)| k != "x-scope-orgid");
                headers.push(("x-scope-orgid".into(), tenant.as_str().to_string()));
            }
            Ok(())
        }
        Err(e) => {
            let (status, content_type, body) = flamelet::auth::refusal(&e, path);
            Err(Response {
                status,
                content_type,
                content_encoding: None,
                headers: if status == 401 {
                    vec![("www-authenticate", flamelet::auth::CHALLENGE.to_string())]
                } else {
                    Vec::new()
                },
                body: body.into_bytes(),
            })
        }
    }
}

/// Reads the request whole; a body over [`flamelet::wire::body::MAX_BODY_BYTES`] is a 413.
fn read_request(component: &str, req: &IncomingRequest) -> Result<Request, Response> {
    let path_with_query = req.path_with_query().unwrap_or_else(|| "/".into());
    let (path, query) = match path_with_query.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (path_with_query, String::new()),
    };
    let params = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut headers: Vec<(String, String)> = req
        .headers()
        .entries()
        .into_iter()
        .map(|(k, v)| {
            (
                k.to_ascii_lowercase(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
        .collect();
    admit(component, &path, &mut headers)?;
    let too_large = || {
        Response::error(
            413,
            &format!(
                "request body is larger than {} bytes",
                flamelet::wire::body::MAX_BODY_BYTES
            ),
        )
        .with_reason(Some("body_size_limit"))
    };
    // A declared length over the limit is refused before a byte is read; one within it is
    // reserved at once (no doubling of the buffer as it grows).
    let declared = headers_value(&headers, "content-length").and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > flamelet::wire::body::MAX_BODY_BYTES) {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0));
    let incoming = req
        .consume()
        .map_err(|()| Response::error(500, "request body already consumed"))?;
    {
        let stream = incoming
            .stream()
            .map_err(|()| Response::error(500, "request body stream unavailable"))?;
        loop {
            match stream.blocking_read(256 * 1024) {
                Ok(chunk) => {
                    if body.len() + chunk.len() > flamelet::wire::body::MAX_BODY_BYTES {
                        return Err(too_large());
                    }
                    body.extend_from_slice(&chunk);
                }
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(Response::error(
                        400,
                        &format!("reading the request body: {}", e.to_debug_string()),
                    ));
                }
            }
        }
    }
    Ok(Request {
        method: method_name(&req.method()),
        path,
        params,
        headers,
        body,
    })
}

/// Sends a response. A head that cannot be built (a header or status the host refuses) or a
/// body that cannot be opened answers the host with an internal error instead, so the request
/// fails as a 500, never silently; a body stream that breaks after the head is logged.
fn write_response(out: ResponseOutparam, resp: Response) {
    let head = response_head(&resp).and_then(|outgoing| match outgoing.body() {
        Ok(body) => Ok((outgoing, body)),
        Err(()) => Err("the response body cannot be opened".to_string()),
    });
    let (outgoing, body) = match head {
        Ok(head) => head,
        Err(why) => {
            eprintln!("error: {why}");
            ResponseOutparam::set(out, Err(ErrorCode::InternalError(Some(why))));
            return;
        }
    };
    ResponseOutparam::set(out, Ok(outgoing));
    match body.write() {
        Ok(stream) => {
            for chunk in resp.body.chunks(WRITE_CHUNK_BYTES) {
                if let Err(e) = stream.blocking_write_and_flush(chunk) {
                    eprintln!("error: writing the response body: {e:?}");
                    return;
                }
            }
        }
        Err(()) => {
            eprintln!("error: the response body stream cannot be opened");
            return;
        }
    }
    if let Err(e) = OutgoingBody::finish(body, None) {
        eprintln!("error: finishing the response body: {e:?}");
    }
}

/// Bytes per write to the response stream (wasi:io's blocking writes take at most 4096).
const WRITE_CHUNK_BYTES: usize = 4096;

/// The status and headers of a response.
fn response_head(resp: &Response) -> Result<OutgoingResponse, String> {
    let headers = Fields::new();
    let set = |name: &str, value: &[u8]| {
        headers
            .set(name, &[value.to_vec()])
            .map_err(|e| format!("setting header `{name}`: {e:?}"))
    };
    set("content-type", resp.content_type.as_bytes())?;
    if let Some(encoding) = resp.content_encoding {
        set("content-encoding", encoding.as_bytes())?;
    }
    for (name, value) in &resp.headers {
        set(name, value.as_bytes())?;
    }
    set("content-length", resp.body.len().to_string().as_bytes())?;
    let outgoing = OutgoingResponse::new(headers);
    outgoing
        .set_status_code(resp.status)
        .map_err(|()| format!("invalid status {}", resp.status))?;
    Ok(outgoing)
}

/// Serves one `wasi:http` request to `component` (its name in `spin.toml`) with `handler`.
pub fn serve(
    component: &str,
    request: IncomingRequest,
    out: ResponseOutparam,
    handler: fn(&Request) -> Response,
) {
    let response = match read_request(component, &request) {
        Ok(req) => handler(&req),
        Err(resp) => resp,
    };
    write_response(out, response);
}

/// Answers a core result: `Ok` through `ok`, errors by their kind.
pub fn respond<T>(result: Result<T, Error>, ok: impl FnOnce(T) -> Response) -> Response {
    match result {
        Ok(v) => ok(v),
        Err(e) => Response::from_error(&e),
    }
}
