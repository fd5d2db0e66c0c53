//! The crate's error type and the one place where an error gets its kind.
//!
//! Every module has its own error enum naming the bad value; they fold into [`Error`], whose
//! [`Error::kind`] the adapters map to a status code (4xx for what the caller sent, 5xx for
//! what went wrong here).

use crate::store::StoreError;

/// What kind of failure an [`Error`] is, independent of where it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request was malformed (400).
    BadInput,
    /// The request or its decoded content is over a size limit (413).
    TooLarge,
    /// The content type or format is not supported (415).
    Unsupported,
    /// The upload is well-formed but its profile is rejected: corrupt, or unsupported (422).
    Rejected,
    /// A named thing does not exist (404).
    NotFound,
    /// A concurrent writer won a create-only race (409).
    Conflict,
    /// Storage failed; retrying may help (503).
    Unavailable,
    /// A bug or broken invariant here (500).
    Internal,
    /// The operation exists in the protocol but is not provided here (501).
    Unimplemented,
}

impl ErrorKind {
    /// Returns the HTTP status that answers an error of this kind.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::BadInput => 400,
            ErrorKind::TooLarge => 413,
            ErrorKind::Unsupported => 415,
            ErrorKind::Rejected => 422,
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
            ErrorKind::Unimplemented => 501,
        }
    }
}

/// Any error of the core library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A request parameter or body was invalid; the message says which and why.
    #[error("{0}")]
    BadInput(String),
    /// A size limit was exceeded.
    #[error("{0}")]
    TooLarge(String),
    /// The upload's format or content type is not supported.
    #[error("{0}")]
    Unsupported(String),
    /// The upload's profile is rejected (corrupt or from an unsupported client).
    #[error("{0}")]
    Rejected(String),
    /// A label selector could not be parsed.
    #[error(transparent)]
    Selector(#[from] crate::selector::SelectorError),
    /// A time could not be parsed.
    #[error(transparent)]
    Time(#[from] crate::time::TimeError),
    /// A tenant ID was invalid.
    #[error(transparent)]
    Tenant(#[from] crate::tenant::TenantError),
    /// An object store operation failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored segment could not be decoded or encoded.
    #[error(transparent)]
    Segment(#[from] crate::segment::SegmentError),
    /// An uploaded pprof profile could not be decoded or is inconsistent.
    #[error(transparent)]
    Pprof(#[from] crate::pprof::PprofError),
    /// An uploaded JFR recording is corrupt (422, as the reference server answers).
    #[error(transparent)]
    Jfr(#[from] crate::jfr::JfrError),
    /// An operation of the protocol that is not provided.
    #[error("{0}")]
    Unimplemented(String),
    /// A broken invariant here (an answer that cannot be encoded, say).
    #[error("{0}")]
    Internal(String),
    /// A stored object (manifest, segment) could not be decoded.
    #[error("stored object `{key}` is corrupt: {message}")]
    Corrupt {
        /// The object's key.
        key: String,
        /// What was wrong with it.
        message: String,
    },
}

impl Error {
    /// Returns the kind of this error, which decides its HTTP status.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::BadInput(_)
            | Error::Selector(_)
            | Error::Time(_)
            | Error::Tenant(_)
            | Error::Pprof(_) => ErrorKind::BadInput,
            Error::TooLarge(_) => ErrorKind::TooLarge,
            Error::Unsupported(_) => ErrorKind::Unsupported,
            Error::Rejected(_) | Error::Jfr(_) => ErrorKind::Rejected,
            Error::Store(e) => match e {
                StoreError::NotFound { .. } => ErrorKind::NotFound,
                StoreError::AlreadyExists { .. } => ErrorKind::Conflict,
                StoreError::InvalidKey { .. } => ErrorKind::Internal,
                StoreError::Other { .. } => ErrorKind::Unavailable,
            },
            Error::Segment(_) | Error::Corrupt { .. } | Error::Internal(_) => ErrorKind::Internal,
            Error::Unimplemented(_) => ErrorKind::Unimplemented,
        }
    }

    /// Builds a [`Error::BadInput`] from anything printable.
    pub fn bad_input(message: impl Into<String>) -> Self {
        Error::BadInput(message.into())
    }
}

/// The result type of the core library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
