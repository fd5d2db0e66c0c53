//! What clients send and receive, as bytes: bounded gzip and body limits ([`body`]), the
//! Connect protocol ([`connect`]), the generated protobuf messages ([`proto`]) with their
//! OTLP/JSON helpers ([`otlp_json`]), and readers of the binary profile formats ([`pprof`],
//! [`jfr`]).
//!
//! This module only decodes and encodes: which profiles an upload becomes is `ingest`'s
//! business, what a query answers is `query`'s. It imports neither.

pub mod body;
pub mod connect;
pub mod jfr;
pub mod otlp_json;
pub mod pprof;
pub mod proto;

/// Why bytes on the wire could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// A gzip stream is corrupt.
    #[error("invalid gzip body: {reason}")]
    InvalidGzip {
        /// What the decoder said.
        reason: String,
    },
    /// Decompressed content is over its limit (a gzip bomb, say).
    #[error("{what} is larger than {limit} bytes")]
    Inflated {
        /// What was being decompressed.
        what: &'static str,
        /// The limit in bytes.
        limit: usize,
    },
    /// A request body is over [`body::MAX_BODY_BYTES`].
    #[error("request body is {size} bytes, more than {limit}")]
    BodyTooLarge {
        /// The body's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A Connect request's content type is neither protobuf nor JSON.
    #[error(
        "content type `{content_type}` is not supported: use application/proto or application/json"
    )]
    UnsupportedContentType {
        /// The content type sent (lowercased, without parameters).
        content_type: String,
    },
    /// A binary protobuf message could not be decoded.
    #[error("invalid {message}: {reason}")]
    InvalidMessage {
        /// The message type.
        message: &'static str,
        /// What the decoder said.
        reason: String,
    },
    /// A protojson message could not be decoded.
    #[error("invalid {message} JSON: {reason}")]
    InvalidJson {
        /// The message type.
        message: &'static str,
        /// What the decoder said.
        reason: String,
    },
    /// An answer could not be encoded or compressed.
    #[error("encoding the answer: {reason}")]
    Encode {
        /// What failed.
        reason: String,
    },
}
