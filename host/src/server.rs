//! The HTTP front: accepts connections, routes each request by `spin.toml` to a component,
//! and turns guest failures into one-line 413/500 answers without affecting other requests.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use flamelet::auth::Access;
use flamelet::error::REJECT_REASON_HEADER;
use flamelet::ingest::{INGESTED_HEADER, Ingested};

use crate::auth::Gate;
use crate::census::StorageSeries;
use crate::metrics;
use crate::runtime::{Outcome, Runtime, fixed_response};
use crate::spin::Router;
use crate::turns::Turn;

/// Serves until the process ends; with a `gate`, every request not open to all must carry a
/// credential that may make it. `/metrics` refreshes `series` before it answers.
pub async fn serve(
    runtime: Arc<Runtime>,
    router: Arc<Router>,
    gate: Option<Arc<Gate>>,
    series: Arc<StorageSeries>,
    listener: TcpListener,
) -> anyhow::Result<()> {
    let ids = Arc::new(AtomicU64::new(0));
    loop {
        let (conn, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                continue;
            }
        };
        // A response goes out as several writes (head, then body chunks): with Nagle's
        // algorithm each waits for the ACK of the one before, which a kept-alive client delays
        // by up to 40 ms (measured: a 1 h flame graph took 88 ms instead of 56).
        if let Err(e) = conn.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY for {peer}: {e}");
        }
        let (runtime, router, gate, series, ids) = (
            runtime.clone(),
            router.clone(),
            gate.clone(),
            series.clone(),
            ids.clone(),
        );
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let (runtime, router, gate, series) = (
                    runtime.clone(),
                    router.clone(),
                    gate.clone(),
                    series.clone(),
                );
                let id = ids.fetch_add(1, Ordering::Relaxed) + 1;
                async move {
                    let req = match admit(gate.as_deref(), &router, req, id).await {
                        Ok(req) => req,
                        Err(refusal) => return Ok(refusal),
                    };
                    Ok::<_, std::convert::Infallible>(
                        handle(&runtime, &router, &series, req, id, peer).await,
                    )
                }
            });
            if let Err(e) = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(conn), service)
                .await
            {
                tracing::debug!("connection from {peer}: {e}");
            }
        });
    }
}

/// Checks a request's credential when authentication is on: the request to serve, with the
/// tenant its credential decides in `X-Scope-OrgID` (the credential stays: a packaged app's
/// components check it again from their own configuration), or the refusal (401 with a
/// challenge, 403), counted by reason.
async fn admit(
    gate: Option<&Gate>,
    router: &Router,
    mut req: hyper::Request<Incoming>,
    id: u64,
) -> Result<hyper::Request<Incoming>, hyper::Response<HyperOutgoingBody>> {
    let Some(gate) = gate else {
        return Ok(req);
    };
    let path = req.uri().path().to_string();
    let component = router.route(&path).unwrap_or("host");
    let access = Access::of(component, &path);
    let text = |name: &str| {
        req.headers()
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let (authorization, tenant_header) = (text("authorization"), text("x-scope-orgid"));
    match gate
        .check(access, authorization.as_deref(), tenant_header.as_deref())
        .await
    {
        Ok(tenant) => {
            let headers = req.headers_mut();
            if let Some(tenant) = tenant.and_then(|t| t.as_str().parse().ok()) {
                headers.insert("x-scope-orgid", tenant);
            }
            Ok(req)
        }
        Err(e) => {
            let tenant = match &e {
                flamelet::auth::AuthError::OtherTenant { tenant, .. } => tenant.clone(),
                _ => String::new(),
            };
            metrics::rejected(component, &tenant, e.reject_reason());
            metrics::request(component, e.http_status());
            let (method, status) = (req.method().clone(), e.http_status());
            tracing::info!(
                request = id,
                %method,
                %path,
                %tenant,
                component,
                status,
                "{method} {path} {status}: {e}"
            );
            // Let the client finish sending, so that it reads the refusal.
            tokio::spawn(drain(req.into_body()));
            let (status, content_type, body) = flamelet::auth::refusal(&e, &path);
            let mut resp = fixed_response(status, content_type, body);
            if status == 401 {
                resp.headers_mut().insert(
                    hyper::header::WWW_AUTHENTICATE,
                    hyper::header::HeaderValue::from_static(flamelet::auth::CHALLENGE),
                );
            }
            Err(resp)
        }
    }
}

async fn handle(
    runtime: &Runtime,
    router: &Router,
    series: &StorageSeries,
    req: hyper::Request<hyper::body::Incoming>,
    id: u64,
    peer: SocketAddr,
) -> hyper::Response<HyperOutgoingBody> {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    // The request's tenant (for logs, and the one a refusal is counted under): a valid id,
    // else none. With authentication on, `admit` has set it from the credential.
    let header = req.headers().get("x-scope-orgid");
    let header = header.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let tenant = flamelet::tenant::Tenant::from_header(header.as_deref())
        .map(|t| t.as_str().to_string())
        .unwrap_or_default();
    let mut answered_by = "host";
    let response = if path == "/ready" {
        fixed_response(200, "text/plain", "ready\n")
    } else if path == "/metrics" {
        series.refresh(runtime, router).await;
        fixed_response(
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            metrics::render(),
        )
    } else {
        match router.route(&path) {
            None => fixed_response(404, "text/plain", format!("no route for `{path}`\n")),
            Some(component) => {
                answered_by = component;
                let unread = Arc::new(Mutex::new(None));
                // A request without a body (a GET) has all of it already.
                let received = Arc::new(AtomicBool::new(req.body().is_end_stream()));
                let turn = runtime.turn(component);
                let req = req.map(|body| {
                    ReturnOnDrop {
                        body: Some(body),
                        unread: unread.clone(),
                        received: received.clone(),
                        turn: turn.clone(),
                        last: None,
                    }
                    .map_err(wasmtime_wasi_http::Error::from)
                });
                let outcome = runtime.handle_http(component, req, turn).await;
                if !matches!(outcome, Outcome::Ok(_)) {
                    // The instance is gone; let the client finish sending so it reads our answer.
                    let body = unread.lock().unwrap_or_else(|e| e.into_inner()).take();
                    if let Some(body) = body {
                        tokio::spawn(drain(body));
                    }
                }
                match outcome {
                    Outcome::Ok(mut resp) => {
                        let ingested = resp.headers_mut().remove(INGESTED_HEADER);
                        let ingested = ingested
                            .filter(|_| resp.status().is_success())
                            .and_then(|v| Ingested::parse(v.to_str().ok()?));
                        if let Some(ingested) = ingested {
                            metrics::ingested(&tenant, ingested);
                        }
                        let reason = resp.headers_mut().remove(REJECT_REASON_HEADER);
                        if let Some(reason) = reason.filter(|_| resp.status().is_client_error()) {
                            let reason = String::from_utf8_lossy(reason.as_bytes());
                            metrics::rejected(component, &tenant, &reason);
                        }
                        resp
                    }
                    Outcome::OutOfMemory => {
                        metrics::rejected(component, &tenant, "memory_limit");
                        tracing::warn!(request = id, %path, "request exceeded its memory limit");
                        fixed_response(413, "text/plain", "request exceeded the memory limit\n")
                    }
                    // The client had not sent its whole body in time: its slowness, not ours.
                    Outcome::TimedOut if !received.load(Ordering::Relaxed) => {
                        metrics::rejected(component, &tenant, "body_timeout");
                        tracing::warn!(request = id, %path, "request body not received in time");
                        fixed_response(
                            408,
                            "text/plain",
                            "request body not received within the time limit\n",
                        )
                    }
                    Outcome::TimedOut => {
                        tracing::warn!(request = id, %path, "request exceeded its time limit");
                        fixed_response(500, "text/plain", "request exceeded the time limit\n")
                    }
                    Outcome::Failed(why) => {
                        tracing::error!(request = id, %path, "guest failed: {why}");
                        fixed_response(
                            500,
                            "text/plain",
                            format!("internal error (request {id})\n"),
                        )
                    }
                }
            }
        }
    };
    metrics::request(answered_by, response.status().as_u16());
    let (status, took) = (response.status().as_u16(), started.elapsed());
    // By method: the path a component answered (a Connect method, a route, a UI file); a
    // path it did not know (404) under its route's pattern, so that made-up paths do not
    // make new series.
    match router.matched(&path) {
        Some((_, component)) if status != 404 => {
            metrics::answered(component, path.trim_end_matches('/'), took)
        }
        Some((route, component)) => metrics::answered(component, &route, took),
        None => metrics::answered("host", if status == 404 { "unrouted" } else { &path }, took),
    }
    // The message for people, the same as fields for log collectors (`--log-format json`).
    tracing::info!(
        request = id,
        %peer,
        %method,
        %path,
        %tenant,
        component = answered_by,
        status,
        ms = (took.as_secs_f64() * 1e4).round() / 10.0,
        "{method} {path} {status} {took:.1?}"
    );
    response
}

/// Most bytes read and discarded after an early error answer.
const MAX_DRAIN_BYTES: usize = 512 << 20;
/// Longest time spent doing so.
const MAX_DRAIN_TIME: Duration = Duration::from_secs(30);

/// The request body as the guest sees it. If the guest's instance is dropped before the body
/// is read to its end (a trap, a cap), the rest goes back to the server, which drains it: a
/// client still uploading then reads our error answer instead of a reset connection.
/// `received` is set once the whole body has arrived; its last frame then waits for the
/// request's `turn` (see [`crate::turns`]).
struct ReturnOnDrop {
    body: Option<Incoming>,
    unread: Arc<Mutex<Option<Incoming>>>,
    received: Arc<AtomicBool>,
    turn: Turn,
    /// The last frame, held back while the turn is awaited.
    last: Option<(LastFrame, WaitForTurn)>,
}

type LastFrame = Option<Result<Frame<Bytes>, hyper::Error>>;
type WaitForTurn = Pin<Box<dyn Future<Output = ()> + Send>>;

impl Body for ReturnOnDrop {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        if let Some((_, wait)) = self.last.as_mut() {
            ready!(wait.as_mut().poll(cx));
            return Poll::Ready(self.last.take().and_then(|(frame, _)| frame));
        }
        let Some(body) = self.body.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = ready!(Pin::new(&mut *body).poll_frame(cx));
        if frame.is_none() || body.is_end_stream() {
            self.received.store(true, Ordering::Relaxed);
            if !self.turn.taken() {
                self.last = Some((frame, self.turn.waiting()));
                return self.poll_frame(cx);
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.last.is_none() && self.body.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.body.as_ref().map(Body::size_hint).unwrap_or_default()
    }
}

impl Drop for ReturnOnDrop {
    fn drop(&mut self) {
        if let Some(body) = self.body.take().filter(|b| !b.is_end_stream()) {
            *self.unread.lock().unwrap_or_else(|e| e.into_inner()) = Some(body);
        }
    }
}

async fn drain(mut body: Incoming) {
    let read = async {
        let mut total = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            total += frame.data_ref().map_or(0, |d| d.len());
            if total > MAX_DRAIN_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(MAX_DRAIN_TIME, read).await;
}
