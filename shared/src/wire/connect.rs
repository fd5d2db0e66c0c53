//! The Connect protocol's unary calls (`POST /<package>.<Service>/<Method>`), as Pyroscope's
//! clients speak it: a message in binary protobuf (`application/proto`) or protojson
//! (`application/json`), optionally gzipped (`Content-Encoding`, bounded); answers in the same
//! codec, gzipped when the client accepts it; errors as `{"code": …, "message": …}` with the
//! HTTP status that goes with the code.

use std::io::Write;

use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, ErrorKind};

use super::WireError;
use super::body::decode_request_body;

/// How a Connect message is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Binary protobuf.
    Proto,
    /// protojson.
    Json,
}

impl Codec {
    /// Picks the codec from a `Content-Type`; anything else is unsupported (415).
    pub fn from_content_type(content_type: Option<&str>) -> Result<Self, WireError> {
        let ct = content_type
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match ct.as_str() {
            "application/proto" | "application/protobuf" | "application/x-protobuf" => {
                Ok(Codec::Proto)
            }
            "application/json" => Ok(Codec::Json),
            other => Err(WireError::UnsupportedContentType {
                content_type: other.to_string(),
            }),
        }
    }

    /// Returns the `Content-Type` of answers in this codec.
    pub fn content_type(self) -> &'static str {
        match self {
            Codec::Proto => "application/proto",
            Codec::Json => "application/json",
        }
    }
}

/// Decodes a request message: un-gzips the body if `Content-Encoding: gzip` or its magic
/// bytes say so (bounded), then parses it in `codec`. An empty JSON body is the empty message.
pub fn decode<M: Message + DeserializeOwned + Default>(
    codec: Codec,
    content_encoding: Option<&str>,
    body: &[u8],
) -> Result<M, WireError> {
    let body = decode_request_body(content_encoding, body)?;
    let message = std::any::type_name::<M>()
        .rsplit("::")
        .next()
        .unwrap_or("message");
    match codec {
        Codec::Proto => M::decode(&body[..]).map_err(|e| WireError::InvalidMessage {
            message,
            reason: e.to_string(),
        }),
        Codec::Json if body.iter().all(u8::is_ascii_whitespace) => Ok(M::default()),
        Codec::Json => serde_json::from_slice(&body).map_err(|e| WireError::InvalidJson {
            message,
            reason: e.to_string(),
        }),
    }
}

/// An encoded answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The body.
    pub body: Vec<u8>,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// `Content-Encoding`, when the body is compressed.
    pub content_encoding: Option<&'static str>,
}

/// Tells whether an `Accept-Encoding` header accepts gzip.
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    accept_encoding.is_some_and(|a| {
        a.split(',').any(|e| {
            let mut parts = e.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| p.trim().replace(' ', "") == "q=0");
            name.eq_ignore_ascii_case("gzip") && !refused
        })
    })
}

/// Encodes an answer in `codec`, gzipped if `gzip`.
pub fn encode<M: Message + Serialize>(
    codec: Codec,
    message: &M,
    gzip: bool,
) -> Result<Encoded, WireError> {
    let body = match codec {
        Codec::Proto => message.encode_to_vec(),
        Codec::Json => serde_json::to_vec(message).map_err(|e| WireError::Encode {
            reason: e.to_string(),
        })?,
    };
    let (body, content_encoding) = if gzip {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&body)
            .and_then(|()| gz.finish())
            .map(|b| (b, Some("gzip")))
            .map_err(|e| WireError::Encode {
                reason: format!("compressing: {e}"),
            })?
    } else {
        (body, None)
    };
    Ok(Encoded {
        body,
        content_type: codec.content_type(),
        content_encoding,
    })
}

/// The Connect error code and HTTP status of a core error.
pub fn error_code(kind: ErrorKind) -> (&'static str, u16) {
    match kind {
        ErrorKind::BadInput | ErrorKind::Rejected => ("invalid_argument", 400),
        ErrorKind::TooLarge => ("resource_exhausted", 413),
        ErrorKind::OverLimit => ("resource_exhausted", 429),
        ErrorKind::Unsupported => ("unimplemented", 415),
        ErrorKind::NotFound => ("not_found", 404),
        ErrorKind::Conflict => ("aborted", 409),
        ErrorKind::FailedPrecondition => ("failed_precondition", 400),
        ErrorKind::Unavailable => ("unavailable", 503),
        ErrorKind::Internal => ("internal", 500),
        ErrorKind::Unimplemented => ("unimplemented", 501),
    }
}

/// The Connect error answer to a core error: its HTTP status and JSON body
/// (`{"code": …, "message": <first line>}`).
pub fn error_body(e: &Error) -> (u16, Vec<u8>) {
    let (code, status) = error_code(e.kind());
    let message = e.to_string();
    let body = serde_json::json!({ "code": code, "message": message.lines().next().unwrap_or("") });
    (status, body.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::proto::types::v1::LabelNamesRequest;

    #[test]
    fn codecs_and_compression() {
        assert_eq!(
            Codec::from_content_type(Some("application/json; charset=utf-8")).unwrap(),
            Codec::Json
        );
        assert_eq!(
            Codec::from_content_type(Some("application/proto")).unwrap(),
            Codec::Proto
        );
        assert_eq!(
            Codec::from_content_type(Some("text/plain"))
                .unwrap_err()
                .kind(),
            ErrorKind::Unsupported
        );
        let m = LabelNamesRequest {
            matchers: vec!["{service_name=\"a\"}".into()],
            start: 1,
            end: 2,
        };
        for codec in [Codec::Proto, Codec::Json] {
            for gzip in [false, true] {
                let e = encode(codec, &m, gzip).unwrap();
                assert_eq!(e.content_encoding.is_some(), gzip);
                let back: LabelNamesRequest = decode(codec, e.content_encoding, &e.body).unwrap();
                assert_eq!(back, m);
            }
        }
        let json = encode(Codec::Json, &m, false).unwrap().body;
        assert_eq!(
            String::from_utf8(json).unwrap(),
            r#"{"matchers":["{service_name=\"a\"}"],"start":"1","end":"2"}"#
        );
        let empty: LabelNamesRequest = decode(Codec::Json, None, b"").unwrap();
        assert_eq!(empty, LabelNamesRequest::default());
        assert!(decode::<LabelNamesRequest>(Codec::Json, None, b"{\"start\": []}").is_err());
        assert!(accepts_gzip(Some("deflate, gzip;q=0.8")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(None));
    }

    #[test]
    fn error_bodies() {
        let e = WireError::InvalidGzip {
            reason: "bad\nsecond line".into(),
        };
        let (status, body) = error_body(&e.into());
        assert_eq!(status, 400);
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
            serde_json::json!({"code": "invalid_argument", "message": "invalid gzip body: bad"})
        );
    }
}
