//! Outbound HTTP through `wasi:http/outgoing-handler`: one blocking `POST`, for the compact
//! component's remote-write. The host decides whether the destination is allowed
//! (`allowed_outbound_hosts`); a refusal is an error like any transport failure.

use std::io::{Read, Write};

use wasip2::http::outgoing_handler;
use wasip2::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, Scheme};

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
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else {
        return Err(format!("`{url}` is not an http:// or https:// URL"));
    };
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
        .set_method(&Method::Post)
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
    let outgoing = request.body().map_err(|()| refused("body"))?;
    let future = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    {
        let mut stream = outgoing.write().map_err(|()| refused("body stream"))?;
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
