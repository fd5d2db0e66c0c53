//! Outbound HTTP through `wasi:http/outgoing-handler`: one blocking `POST`, for the compact
//! component's remote-write, and concurrent `GET`s ([`Fetch`]), for the scrape component. The
//! host decides whether the destination is allowed (`allowed_outbound_hosts`); a refusal is an
//! error like any transport failure.

use std::io::{Read, Write};

use flamelet::scrape::pass::{FetchError, FetchRequest, Fetched, Fetcher, Outcome};
use wasip2::clocks::monotonic_clock;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, IncomingBody, IncomingResponse, Method,
    OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasip2::io::poll::{self, Pollable};
use wasip2::io::streams::{InputStream, StreamError};

/// An answer: the status and the body's first line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The first line of the body (at most 64 KiB of it are read).
    pub reason: String,
}

/// Sends `body` to `url` with `headers`; `Err` says why no answer came (bad URL, refused by
/// the host, connection failed).
pub fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Answer, String> {
    let (request, outgoing) = request(Method::Post, url, headers)?;
    let future = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    {
        let mut stream = outgoing
            .write()
            .map_err(|()| "the request's body stream was refused".to_string())?;
        stream
            .write_all(body)
            .and_then(|()| Write::flush(&mut stream))
            .map_err(|e| format!("sending the body: {e}"))?;
    }
    OutgoingBody::finish(outgoing, None).map_err(|e| format!("{e:?}"))?;
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(e))) => return Err(format!("{e:?}")),
        Some(Err(())) | None => return Err("no response".to_string()),
    };
    let status = response.status();
    let mut text = Vec::new();
    if let Ok(incoming) = response.consume()
        && let Ok(stream) = incoming.stream()
    {
        // Its reason only: a bounded read, errors ignored.
        let _ = stream.take(64 * 1024).read_to_end(&mut text);
    }
    let reason = String::from_utf8_lossy(&text)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    Ok(Answer { status, reason })
}

/// A request to `url` and its body, to be finished once the request is handed over.
fn request(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
) -> Result<(OutgoingRequest, OutgoingBody), String> {
    let (scheme, rest) = split_url(url)?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let entries: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect();
    let fields = Fields::from_list(&entries).map_err(|e| format!("headers: {e:?}"))?;
    let request = OutgoingRequest::new(fields);
    let refused = |what: &str| format!("the request's {what} was refused");
    request
        .set_method(&method)
        .map_err(|()| refused("method"))?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| refused("scheme"))?;
    request
        .set_authority(Some(authority))
        .map_err(|()| refused("authority"))?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| refused("path"))?;
    let body = request.body().map_err(|()| refused("body"))?;
    Ok((request, body))
}

/// The scheme of an `http://` or `https://` URL and the rest.
fn split_url(url: &str) -> Result<(Scheme, &str), String> {
    if let Some(rest) = url.strip_prefix("http://") {
        Ok((Scheme::Http, rest))
    } else if let Some(rest) = url.strip_prefix("https://") {
        Ok((Scheme::Https, rest))
    } else {
        Err(format!("`{url}` is not an http:// or https:// URL"))
    }
}

/// GETs sent all at once through `wasi:http/outgoing-handler`, each read to its end without
/// blocking the others: the scrape component's [`Fetcher`]. A request past its deadline, or
/// whose body grows past its limit, is dropped (which cancels it) and reported as such.
///
/// The guest is one thread: while `done` works on one answer (decodes it, stores a segment)
/// no other is read. That time is not counted against the requests still in flight, else a
/// target that answered at once would time out behind the others' work: a deadline is the
/// request's timeout of waiting, and its elapsed time what it took the target to answer.
#[derive(Debug, Default)]
pub struct Fetch;

/// One request in flight.
enum InFlight {
    Waiting(FutureIncomingResponse),
    Reading(Reading),
    Done,
}

/// An answer being read. Each resource is declared before the one it comes from, so that it is
/// dropped first, as `wasi:io` requires (a parent dropped before its child traps).
struct Reading {
    stream: InputStream,
    _body: IncomingBody,
    _response: IncomingResponse,
    _future: FutureIncomingResponse,
    status: u16,
    bytes: Vec<u8>,
}

impl Fetcher for Fetch {
    fn fetch_all(&mut self, requests: &[FetchRequest], done: &mut dyn FnMut(usize, Outcome)) {
        let started = monotonic_clock::now();
        // Nanoseconds spent in `done` so far: every request's clock stops meanwhile (they all
        // started together).
        let mut busy: u64 = 0;
        let mut report = |i: usize, outcome: Outcome, busy: &mut u64| {
            let t = monotonic_clock::now();
            done(i, outcome);
            *busy = busy.saturating_add(monotonic_clock::now().saturating_sub(t));
        };
        let deadline =
            |r: &FetchRequest, busy: u64| started.saturating_add(timeout(r)).saturating_add(busy);
        let mut states: Vec<InFlight> = Vec::with_capacity(requests.len());
        for (i, r) in requests.iter().enumerate() {
            match send_get(r) {
                Ok(future) => states.push(InFlight::Waiting(future)),
                Err(reason) => {
                    states.push(InFlight::Done);
                    let result = Err(FetchError::Failed { reason });
                    report(
                        i,
                        Outcome {
                            result,
                            elapsed_nanos: 0,
                        },
                        &mut busy,
                    );
                }
            }
        }
        loop {
            let active: Vec<usize> = (0..states.len())
                .filter(|&i| !matches!(states[i], InFlight::Done))
                .collect();
            let Some(next_deadline) = active.iter().map(|&i| deadline(&requests[i], busy)).min()
            else {
                return;
            };
            let mut pollables: Vec<Pollable> = active
                .iter()
                .map(|&i| match &states[i] {
                    InFlight::Waiting(future) => future.subscribe(),
                    InFlight::Reading(r) => r.stream.subscribe(),
                    InFlight::Done => monotonic_clock::subscribe_duration(0),
                })
                .collect();
            pollables.push(monotonic_clock::subscribe_instant(next_deadline));
            let ready = poll::poll(&pollables.iter().collect::<Vec<_>>());
            drop(pollables);
            let now = monotonic_clock::now();
            // Every request waited this long, less the time the guest was busy elsewhere.
            let waited = now.saturating_sub(started).saturating_sub(busy);
            let elapsed_nanos = waited.min(i64::MAX as u64) as i64;
            for index in ready {
                let Some(&i) = active.get(index as usize) else {
                    continue; // the deadline's timer
                };
                if let Some(result) = advance(&mut states[i], &requests[i]) {
                    states[i] = InFlight::Done;
                    let outcome = Outcome {
                        result,
                        elapsed_nanos,
                    };
                    report(i, outcome, &mut busy);
                }
            }
            for &i in &active {
                if !matches!(states[i], InFlight::Done) && waited >= timeout(&requests[i]) {
                    states[i] = InFlight::Done;
                    let result = Err(FetchError::TimedOut {
                        seconds: requests[i].timeout_nanos as f64 / 1e9,
                    });
                    let outcome = Outcome {
                        result,
                        elapsed_nanos,
                    };
                    report(i, outcome, &mut busy);
                }
            }
        }
    }
}

fn timeout(r: &FetchRequest) -> u64 {
    r.timeout_nanos.max(0) as u64
}

/// Moves a request on after its pollable fired: `Some` when it is over.
fn advance(state: &mut InFlight, request: &FetchRequest) -> Option<Result<Fetched, FetchError>> {
    let max_bytes = request.max_bytes;
    let failed = |reason: String| Some(Err(FetchError::Failed { reason }));
    match std::mem::replace(state, InFlight::Done) {
        InFlight::Done => None,
        InFlight::Waiting(future) => {
            let response = match future.get() {
                None => {
                    *state = InFlight::Waiting(future);
                    return None;
                }
                Some(Ok(Ok(response))) => response,
                // The host's own timers (the request options) may fire before the deadline's.
                Some(Ok(Err(ErrorCode::ConnectionTimeout | ErrorCode::ConnectionReadTimeout))) => {
                    return Some(Err(FetchError::TimedOut {
                        seconds: request.timeout_nanos as f64 / 1e9,
                    }));
                }
                Some(Ok(Err(code))) => return failed(describe(&code)),
                Some(Err(())) => return failed("no response".into()),
            };
            let status = response.status();
            let Ok(body) = response.consume() else {
                return failed("the response body could not be read".into());
            };
            let Ok(stream) = body.stream() else {
                return failed("the response body could not be read".into());
            };
            *state = InFlight::Reading(Reading {
                stream,
                _body: body,
                _response: response,
                _future: future,
                status,
                bytes: Vec::new(),
            });
            None
        }
        InFlight::Reading(mut r) => loop {
            match r.stream.read(64 * 1024) {
                Ok(chunk) if chunk.is_empty() => {
                    *state = InFlight::Reading(r);
                    return None;
                }
                Ok(chunk) => {
                    r.bytes.extend_from_slice(&chunk);
                    if r.bytes.len() > max_bytes {
                        return Some(Err(FetchError::TooLarge { limit: max_bytes }));
                    }
                }
                Err(StreamError::Closed) => {
                    let body = std::mem::take(&mut r.bytes);
                    return Some(Ok(Fetched {
                        status: r.status,
                        body,
                    }));
                }
                Err(StreamError::LastOperationFailed(e)) => {
                    return failed(format!("reading the body: {}", e.to_debug_string()));
                }
            }
        },
    }
}

/// A readable reason for a `wasi:http` error code.
fn describe(code: &ErrorCode) -> String {
    match code {
        ErrorCode::ConnectionRefused => "connection refused".into(),
        ErrorCode::ConnectionTimeout => "connection timed out".into(),
        ErrorCode::ConnectionReadTimeout => "connection read timed out".into(),
        ErrorCode::ConnectionTerminated => "connection closed before an answer".into(),
        ErrorCode::DnsError(e) => format!(
            "name lookup failed: {}",
            e.rcode.as_deref().unwrap_or("no such host")
        ),
        ErrorCode::HttpRequestDenied => "refused: not in allowed_outbound_hosts".into(),
        other => format!("{other:?}"),
    }
}

/// Sends a GET; `Err` when it cannot even be sent.
fn send_get(r: &FetchRequest) -> Result<FutureIncomingResponse, String> {
    let headers = [
        ("accept", "application/octet-stream, */*"),
        ("user-agent", "flamelet-scrape"),
    ];
    let (request, body) = request(Method::Get, &r.url, &headers)?;
    let options = RequestOptions::new();
    let timeout = r.timeout_nanos.max(1) as u64;
    // Not every host honours these; the caller's deadline holds regardless.
    let _ = options.set_connect_timeout(Some(timeout));
    let _ = options.set_first_byte_timeout(Some(timeout));
    let _ = options.set_between_bytes_timeout(Some(timeout));
    let future = outgoing_handler::handle(request, Some(options)).map_err(|e| describe(&e))?;
    OutgoingBody::finish(body, None).map_err(|e| describe(&e))?;
    Ok(future)
}
