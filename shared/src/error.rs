//! The crate's error type and the one place where an error gets its kind.
//!
//! Every stage has its own error enum whose variants carry the offending value
//! ([`crate::wire::WireError`], [`crate::ingest::IngestError`], [`crate::query::QueryError`],
//! and the smaller ones of profiles, selectors, times, tenants, storage and segments); they
//! fold into [`Error`], whose [`Error::kind`] the adapters map to a status code (4xx for what
//! the caller sent, 5xx for what went wrong here). Messages are lowercase, quote the input and
//! end without a period.

use crate::ingest::IngestError;
use crate::profile::ProfileError;
use crate::query::QueryError;
use crate::storage::store::StoreError;
use crate::wire::WireError;
use crate::wire::pprof::PprofError;

/// What kind of failure an [`Error`] is, independent of where it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request was malformed (400).
    BadInput,
    /// The request or its decoded content is over a size limit (413).
    TooLarge,
    /// The request would take its tenant over a limit on how much it may have (429).
    OverLimit,
    /// The content type or format is not supported (415).
    Unsupported,
    /// The upload is well-formed but its profile is rejected: corrupt, or unsupported (422).
    Rejected,
    /// A named thing does not exist (404).
    NotFound,
    /// A concurrent writer won a create-only race (409).
    Conflict,
    /// The request names a state that is not the stored one, or changes what may not be
    /// changed (412; Connect `failed_precondition`).
    FailedPrecondition,
    /// Storage failed; retrying may help (503).
    Unavailable,
    /// A bug, a broken invariant or a bad setting here (500).
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
            ErrorKind::OverLimit => 429,
            ErrorKind::Unsupported => 415,
            ErrorKind::Rejected => 422,
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::FailedPrecondition => 412,
            ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
            ErrorKind::Unimplemented => 501,
        }
    }
}

/// A configuration value (an environment variable of a component) that cannot be used: a
/// 500 naming the variable, never a trap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}=`{value}` is not {expected}")]
pub struct ConfigError {
    /// The variable's name.
    pub name: &'static str,
    /// Its value.
    pub value: String,
    /// What it should be ("a duration such as 24h or 7d").
    pub expected: &'static str,
}

impl ConfigError {
    /// Reads setting `name` through `get`: `None` when unset or blank, else what `parse` makes
    /// of the trimmed value, or an error naming the variable and that it should be `expected`.
    pub fn read<T>(
        get: &impl Fn(&str) -> Option<String>,
        name: &'static str,
        expected: &'static str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, ConfigError> {
        let Some(value) = get(name) else {
            return Ok(None);
        };
        let value = value.trim();
        if value.is_empty() {
            return Ok(None);
        }
        parse(value).map(Some).ok_or_else(|| ConfigError {
            name,
            value: value.to_string(),
            expected,
        })
    }
}

/// Any error of the core library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bytes on the wire could not be read (gzip, Connect, limits).
    #[error(transparent)]
    Wire(#[from] WireError),
    /// An upload was rejected.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// A query was rejected.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// A profile type or label set is invalid.
    #[error(transparent)]
    Profile(#[from] ProfileError),
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
    Segment(#[from] crate::storage::segment::SegmentError),
    /// An uploaded pprof profile could not be decoded or is inconsistent.
    #[error(transparent)]
    Pprof(#[from] PprofError),
    /// An uploaded JFR recording is corrupt (422, as the reference server answers).
    #[error(transparent)]
    Jfr(#[from] crate::wire::jfr::JfrError),
    /// A setting of the component is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Export rules or their exposition failed.
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    /// Other writers changed a tenant's versioned state on every attempt (409, `aborted`).
    #[error(transparent)]
    Contended(#[from] crate::storage::versioned::Contended),
    /// A remote-write receiver did not take the recording rules' samples.
    #[error(transparent)]
    RemoteWrite(#[from] crate::metrics::remote_write::SendError),
    /// A recording-rules call was refused.
    #[error(transparent)]
    Recording(#[from] crate::metrics::RecordingRuleError),
    /// The retention settings are unusable.
    #[error(transparent)]
    Retention(#[from] crate::retention::RetentionError),
    /// The scrape jobs are unusable.
    #[error(transparent)]
    ScrapeConfig(#[from] crate::scrape::config::ScrapeConfigError),
    /// A compaction request named no scope.
    #[error(transparent)]
    CompactionScope(#[from] crate::compact::ScopeError),
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
            Error::Wire(e) => wire_kind(e),
            Error::Ingest(e) => ingest_kind(e),
            Error::Query(e) => query_kind(e),
            Error::Profile(_)
            | Error::Selector(_)
            | Error::Time(_)
            | Error::Tenant(_)
            | Error::CompactionScope(_) => ErrorKind::BadInput,
            // Not protobuf at all: 400; protobuf with rejected content (invalid UTF-8): 422.
            Error::Pprof(PprofError::InvalidUtf8(_)) => ErrorKind::Rejected,
            Error::Pprof(_) => ErrorKind::BadInput,
            Error::Jfr(_) => ErrorKind::Rejected,
            Error::Store(e) => store_kind(e),
            // A segment read piecewise fails with the store's error when a piece's read fails:
            // the storage's failure, not the segment's.
            Error::Segment(e) => e.store_error().map_or(ErrorKind::Internal, store_kind),
            Error::Corrupt { .. }
            | Error::Config(_)
            | Error::Metrics(_)
            | Error::Retention(_)
            | Error::ScrapeConfig(_) => ErrorKind::Internal,
            Error::Recording(e) => e.kind(),
            Error::Contended(_) => ErrorKind::Conflict,
            Error::RemoteWrite(e) => e.kind(),
        }
    }
}

fn store_kind(e: &StoreError) -> ErrorKind {
    match e {
        StoreError::NotFound { .. } => ErrorKind::NotFound,
        StoreError::AlreadyExists { .. } => ErrorKind::Conflict,
        StoreError::InvalidKey { .. } | StoreError::Config { .. } => ErrorKind::Internal,
        StoreError::Other { .. } | StoreError::PastGrace { .. } => ErrorKind::Unavailable,
    }
}

impl WireError {
    /// Returns the kind of this error, as [`Error::kind`] does once it is folded.
    pub fn kind(&self) -> ErrorKind {
        wire_kind(self)
    }
}

fn wire_kind(e: &WireError) -> ErrorKind {
    match e {
        WireError::InvalidGzip { .. }
        | WireError::InvalidMessage { .. }
        | WireError::InvalidJson { .. } => ErrorKind::BadInput,
        WireError::Inflated { .. } | WireError::BodyTooLarge { .. } => ErrorKind::TooLarge,
        WireError::UnsupportedContentType { .. } => ErrorKind::Unsupported,
        WireError::Encode { .. } => ErrorKind::Internal,
    }
}

fn ingest_kind(e: &IngestError) -> ErrorKind {
    match e {
        IngestError::MultipartFormat { .. } => ErrorKind::Unsupported,
        IngestError::CumulativeProfile => ErrorKind::Rejected,
        IngestError::TooManySamples { .. } => ErrorKind::TooLarge,
        IngestError::TooManySeries { .. } => ErrorKind::OverLimit,
        _ => ErrorKind::BadInput,
    }
}

fn query_kind(e: &QueryError) -> ErrorKind {
    match e {
        QueryError::UnknownMethod { .. } => ErrorKind::NotFound,
        QueryError::SettingsNotStored { .. } => ErrorKind::Unimplemented,
        QueryError::SymbolsNotRead => ErrorKind::Internal,
        _ => ErrorKind::BadInput,
    }
}

/// Why requests are refused, as the host counts them (`flamelet_rejected_requests_total`,
/// by tenant and reason): the name of the limit a request broke (Pyroscope's, where it has
/// one) or what was wrong with it.
pub const REJECT_REASONS: [&str; 14] = [
    "invalid_tenant",
    "body_size_limit",
    "max_profile_size_bytes",
    "max_profile_stacktrace_samples",
    "max_global_series_per_tenant",
    "max_label_names_per_series",
    "max_label_name_length",
    "max_label_value_length",
    "max_query_length",
    "max_flamegraph_nodes_max",
    "invalid_labels",
    "invalid_query",
    "invalid_profile",
    "invalid_request",
];

/// The response header in which a component names why it refused a request, one of
/// [`REJECT_REASONS`]; the host counts it and takes it off the answer.
pub const REJECT_REASON_HEADER: &str = "flamelet-reject-reason";

impl Error {
    /// Why this error refuses a request, one of [`REJECT_REASONS`]; `None` for a failure of
    /// the server's own (5xx).
    pub fn reject_reason(&self) -> Option<&'static str> {
        if self.kind().http_status() >= 500 {
            return None;
        }
        Some(match self {
            Error::Tenant(_) => "invalid_tenant",
            Error::Wire(WireError::BodyTooLarge { .. }) => "body_size_limit",
            Error::Wire(WireError::Inflated { .. }) => "max_profile_size_bytes",
            Error::Ingest(IngestError::TooManySamples { .. }) => "max_profile_stacktrace_samples",
            Error::Ingest(IngestError::TooManySeries { .. }) => "max_global_series_per_tenant",
            Error::Profile(ProfileError::TooManyLabels { .. }) => "max_label_names_per_series",
            Error::Profile(ProfileError::LabelNameTooLong { .. }) => "max_label_name_length",
            Error::Profile(ProfileError::LabelValueTooLong { .. }) => "max_label_value_length",
            Error::Query(QueryError::RangeTooLong { .. }) => "max_query_length",
            Error::Query(QueryError::TooManyNodes { .. }) => "max_flamegraph_nodes_max",
            Error::Profile(_) => "invalid_labels",
            Error::Selector(_) | Error::Time(_) | Error::Query(_) => "invalid_query",
            Error::Ingest(_) | Error::Pprof(_) | Error::Jfr(_) => "invalid_profile",
            _ => "invalid_request",
        })
    }
}

/// The result type of the core library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_read_that_storage_failed_is_unavailable_and_a_corrupt_one_internal() {
        let failed = crate::storage::segment::SegmentError::Parquet(
            parquet::errors::ParquetError::External(Box::new(StoreError::Other {
                message: "connection reset".into(),
            })),
        );
        assert_eq!(Error::from(failed).kind(), ErrorKind::Unavailable);
        let corrupt = crate::storage::segment::SegmentError::Parquet(
            parquet::errors::ParquetError::EOF("read past the end".into()),
        );
        assert_eq!(Error::from(corrupt).kind(), ErrorKind::Internal);
    }

    #[test]
    fn refusals_name_the_limit_or_what_was_wrong_and_failures_name_none() {
        let tenant = crate::tenant::Tenant::from_header(Some("a/b")).unwrap_err();
        let cases: [(Error, Option<&str>); 6] = [
            (tenant.into(), Some("invalid_tenant")),
            (
                IngestError::TooManySamples {
                    samples: 20_000,
                    max: 16_000,
                }
                .into(),
                Some("max_profile_stacktrace_samples"),
            ),
            (
                ProfileError::TooManyLabels {
                    labels: 31,
                    max: 30,
                }
                .into(),
                Some("max_label_names_per_series"),
            ),
            (
                WireError::Inflated {
                    what: "profile",
                    limit: 4 << 20,
                }
                .into(),
                Some("max_profile_size_bytes"),
            ),
            (
                crate::selector::Selector::parse("{").unwrap_err().into(),
                Some("invalid_query"),
            ),
            (
                StoreError::Other {
                    message: "down".into(),
                }
                .into(),
                None,
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.reject_reason(), want, "{e}");
            if let Some(r) = want {
                assert!(REJECT_REASONS.contains(&r));
            }
        }
    }
}
