//! object_store's HTTP client on `wasi:http/outgoing-handler` (through `wstd`), with the
//! retries object_store cannot do inside WASM (its backoff sleeps need tokio's timer).
//!
//! What wasi:http needs that object_store does not do: no `host` header (the host sets it from
//! the URI and rejects one from the guest; it was already signed, and the host sends the same
//! value) and an explicit `Content-Length`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::{Method, StatusCode, header};
use http_body_util::BodyExt;
use object_store::ClientOptions;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse,
    HttpResponseBody, HttpService,
};
use wstd::http::error::ErrorCode;

/// Attempts per request, the first included: enough to ride out a bucket's stall of a few
/// seconds.
const MAX_ATTEMPTS: u32 = 8;
/// Wait before the first retry; doubled before each next one, up to [`MAX_BACKOFF`]: 6.3 s in
/// all before the last attempt.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_millis(1600);
/// Connecting to the endpoint.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Waiting for the first byte of the answer, and between two chunks of it.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Hands object_store a [`WasiHttp`] client.
#[derive(Debug, Default, Clone, Copy)]
pub struct WasiConnector;

impl HttpConnector for WasiConnector {
    fn connect(&self, _options: &ClientOptions) -> object_store::Result<HttpClient> {
        Ok(HttpClient::new(WasiHttp))
    }
}

/// Sends object_store's requests through `wasi:http/outgoing-handler`.
#[derive(Debug)]
struct WasiHttp;

#[async_trait]
impl HttpService for WasiHttp {
    async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        SingleThreaded(Box::pin(send_with_retries(req))).await
    }
}

/// A future that is not `Send` (wstd's reactor is thread-local) made acceptable to
/// object_store's `Send` bound.
struct SingleThreaded<F>(Pin<Box<F>>);

// SAFETY: a wasm32-wasip2 component has exactly one thread (wasi threads are not enabled for
// this target), so the future can never be moved to or polled from another thread.
unsafe impl<F> Send for SingleThreaded<F> {}

impl<F: Future> Future for SingleThreaded<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.0.as_mut().poll(cx)
    }
}

/// What one attempt came to.
enum Attempt {
    Answered(http::Response<Bytes>),
    Failed(HttpErrorKind, String),
}

/// Whether a failed attempt is worth another: throttling, server errors, time-outs and
/// broken connections. A create-only put too, although its first attempt may have reached the
/// bucket: its retry then finds the object, and the bucket recognises its own bytes.
fn retryable(attempt: &Attempt) -> bool {
    match attempt {
        Attempt::Answered(resp) => {
            let status = resp.status();
            status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
        }
        Attempt::Failed(kind, _) => matches!(
            kind,
            HttpErrorKind::Connect
                | HttpErrorKind::Timeout
                | HttpErrorKind::Interrupted
                | HttpErrorKind::Request
        ),
    }
}

async fn send_with_retries(req: HttpRequest) -> Result<HttpResponse, HttpError> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| HttpError::new(HttpErrorKind::Request, e))?
        .to_bytes();
    let mut backoff = FIRST_BACKOFF;
    let mut attempt_no = 1;
    loop {
        let attempt = send_once(&parts, body.clone()).await;
        if attempt_no < MAX_ATTEMPTS && retryable(&attempt) {
            // Logged, so that a bucket that keeps failing shows before the request does.
            let why = match &attempt {
                Attempt::Answered(resp) => resp.status().to_string(),
                Attempt::Failed(kind, message) => format!("{kind:?}: {message}"),
            };
            eprintln!(
                "flamelet-s3-store: retrying {} {} (attempt {attempt_no} of {MAX_ATTEMPTS}): {why}",
                parts.method, parts.uri
            );
            wstd::task::sleep(backoff.into()).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            attempt_no += 1;
            continue;
        }
        return match attempt {
            Attempt::Answered(resp) => {
                let (head, bytes) = resp.into_parts();
                Ok(HttpResponse::from_parts(
                    head,
                    HttpResponseBody::from(bytes),
                ))
            }
            Attempt::Failed(kind, message) => Err(HttpError::new(
                kind,
                std::io::Error::other(format!("{message} (after {attempt_no} attempts)")),
            )),
        };
    }
}

async fn send_once(parts: &http::request::Parts, body: Bytes) -> Attempt {
    let mut builder = http::Request::builder()
        .method(parts.method.clone())
        .uri(parts.uri.clone());
    for (name, value) in &parts.headers {
        if name != header::HOST && name != header::CONTENT_LENGTH {
            builder = builder.header(name, value);
        }
    }
    let has_body = !body.is_empty() || matches!(parts.method, Method::PUT | Method::POST);
    if has_body {
        builder = builder.header(header::CONTENT_LENGTH, body.len());
    }
    // An empty body is sent without a write. wstd writes even nothing to the body stream, and
    // the host may already have closed that stream (the request's head said there is no body),
    // so the write of nothing could fail as a "connection reset" after the bucket had answered:
    // a GET failed all 8 attempts that way against moto in CI, each answered 206.
    let body = if body.is_empty() {
        wstd::http::Body::from_http_body(http_body_util::Empty::<Bytes>::new())
    } else {
        wstd::http::Body::from(body)
    };
    let req = match builder.body(body) {
        Ok(req) => req,
        Err(e) => return Attempt::Failed(HttpErrorKind::Request, e.to_string()),
    };
    let mut client = wstd::http::Client::new();
    client.set_connect_timeout(CONNECT_TIMEOUT);
    client.set_first_byte_timeout(READ_TIMEOUT);
    client.set_between_bytes_timeout(READ_TIMEOUT);
    let resp = match client.send(req).await {
        Ok(resp) => resp,
        Err(e) => return Attempt::Failed(error_kind(&e), format!("{e:#}")),
    };
    let (head, mut body) = resp.into_parts();
    match body.bytes_contents().await {
        Ok(bytes) => Attempt::Answered(http::Response::from_parts(head, bytes)),
        Err(e) => Attempt::Failed(error_kind(&e), format!("reading the answer: {e:#}")),
    }
}

/// Classifies a `wasi:http` failure (an `ErrorCode` from the host, or an I/O error of the
/// body streams) the way object_store's retry and error reports expect.
fn error_kind(e: &wstd::http::Error) -> HttpErrorKind {
    for cause in e.chain() {
        if let Some(code) = cause.downcast_ref::<ErrorCode>() {
            return code_kind(code);
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return io_kind(io.kind());
        }
    }
    HttpErrorKind::Unknown
}

fn code_kind(code: &ErrorCode) -> HttpErrorKind {
    match code {
        ErrorCode::DnsTimeout
        | ErrorCode::DnsError(_)
        | ErrorCode::DestinationNotFound
        | ErrorCode::DestinationUnavailable
        | ErrorCode::DestinationIpUnroutable
        | ErrorCode::ConnectionRefused
        | ErrorCode::ConnectionTimeout => HttpErrorKind::Connect,
        ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::HttpResponseTimeout => HttpErrorKind::Timeout,
        // A connection that broke mid-exchange; hosts report hyper's failures (a reset, an
        // early close) as protocol errors.
        ErrorCode::ConnectionTerminated
        | ErrorCode::ConnectionLimitReached
        | ErrorCode::HttpResponseIncomplete
        | ErrorCode::HttpProtocolError => HttpErrorKind::Interrupted,
        // TLS failures, a destination the host refuses, malformed messages: trying again
        // changes nothing.
        _ => HttpErrorKind::Unknown,
    }
}

/// wstd reports a failed read or write of a body stream as an `io::Error` (of kind `Other`,
/// with the host's description, e.g. "connection reset"): the connection broke mid-exchange.
fn io_kind(kind: std::io::ErrorKind) -> HttpErrorKind {
    match kind {
        std::io::ErrorKind::ConnectionRefused => HttpErrorKind::Connect,
        std::io::ErrorKind::TimedOut => HttpErrorKind::Timeout,
        _ => HttpErrorKind::Interrupted,
    }
}
