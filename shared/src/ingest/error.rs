//! Why an upload was rejected, naming the bad value. Each variant's status is decided in
//! `crate::error`, with every other error's.

/// Why an upload was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// `format` names no known upload format.
    #[error("unknown format `{format}`")]
    UnknownFormat {
        /// The value sent.
        format: String,
    },
    /// A text format was sent as a multipart form (415).
    #[error("multipart/form-data with format `{format}` uploads are not supported")]
    MultipartFormat {
        /// The format named.
        format: String,
    },
    /// A required query parameter is missing.
    #[error("missing `{name}` parameter")]
    MissingParameter {
        /// The parameter.
        name: &'static str,
    },
    /// An application name could not be parsed.
    #[error("invalid name `{name}`: {reason}")]
    InvalidName {
        /// The name sent (escaped).
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The name's suffix (`.cpu`, `.alloc_objects`…) is not a known profile type.
    #[error("unknown profile type suffix `{suffix}` in name `{name}`")]
    UnknownSuffix {
        /// The suffix.
        suffix: String,
        /// The whole application name.
        name: String,
    },
    /// `sampleRate` is not a positive integer.
    #[error("invalid sampleRate `{value}`: expected a positive integer")]
    InvalidSampleRate {
        /// The value sent.
        value: String,
    },
    /// A text upload is not UTF-8.
    #[error("body is not UTF-8 text: {reason}")]
    NotText {
        /// Where the decoder stopped.
        reason: String,
    },
    /// A folded line is malformed.
    #[error("folded line {line}: {reason}: `{text}`")]
    InvalidFoldedLine {
        /// The line number, from 1.
        line: usize,
        /// What is wrong with it.
        reason: String,
        /// The line (escaped).
        text: String,
    },
    /// A legacy trie or tree body is malformed.
    #[error("invalid {format} body at byte {at}: {reason}")]
    InvalidLegacy {
        /// `trie` or `tree`.
        format: &'static str,
        /// Where.
        at: usize,
        /// What was expected.
        reason: &'static str,
    },
    /// A legacy trie or tree body holds a name that is not UTF-8.
    #[error("invalid {format} body: a name is not UTF-8")]
    LegacyNameNotUtf8 {
        /// `trie` or `tree`.
        format: &'static str,
    },
    /// A speedscope file is malformed.
    #[error("invalid speedscope profile: {reason}")]
    InvalidSpeedscope {
        /// What is wrong with it.
        reason: String,
    },
    /// Values in a unit that does not fit the name's profile type.
    #[error(
        "values in {unit} do not fit profile type `{profile_type}` of name `{name}`: choose a suffix with unit {unit}"
    )]
    UnitMismatch {
        /// The values' unit.
        unit: &'static str,
        /// The profile type of the name.
        profile_type: String,
        /// The whole application name.
        name: String,
    },
    /// A multipart upload from an old client sent a cumulative `prev_profile` (422).
    #[error(
        "prev_profile (cumulative profiles from old clients) is not supported: update the client"
    )]
    CumulativeProfile,
    /// A multipart form lacks the field its format needs.
    #[error("multipart body has no `{field}` field")]
    MissingField {
        /// The field.
        field: &'static str,
    },
    /// The multipart content type has no usable boundary.
    #[error("invalid multipart content type: {reason}")]
    MultipartContentType {
        /// What the parser said.
        reason: String,
    },
    /// The multipart body is malformed.
    #[error("invalid multipart body: {reason}")]
    MultipartBody {
        /// What the parser said.
        reason: String,
    },
    /// A multipart field could not be read.
    #[error("invalid multipart field `{field}`: {reason}")]
    MultipartField {
        /// The field.
        field: String,
        /// What the parser said.
        reason: String,
    },
    /// A `sample_type_config` is not the expected JSON.
    #[error("invalid sample_type_config: {reason}")]
    InvalidSampleTypeConfig {
        /// What the parser said.
        reason: String,
    },
    /// No sample type of a pprof maps to a known profile type.
    #[error("no known profile type among sample types {sample_types:?}")]
    NoKnownProfileType {
        /// The profile's sample types.
        sample_types: Vec<String>,
    },
    /// A JFR `labels` field is not a LabelsSnapshot.
    #[error("invalid JFR labels (LabelsSnapshot): {reason}")]
    InvalidJfrLabels {
        /// What the decoder said.
        reason: String,
    },
    /// A push series lacks `service_name`.
    #[error("a series has no `service_name` label")]
    MissingServiceName,
    /// An OTLP request could not be decoded.
    #[error("invalid {encoding} profiles request: {reason}")]
    InvalidOtlp {
        /// `OTLP` (protobuf) or `OTLP/JSON`.
        encoding: &'static str,
        /// What the decoder said.
        reason: String,
    },
    /// An OTLP request has no dictionary.
    #[error("OTLP request has no profiles dictionary")]
    OtlpNoDictionary,
    /// An OTLP index points past its table.
    #[error("OTLP {table} index {index} is out of bounds ({len} entries)")]
    OtlpIndex {
        /// The table.
        table: &'static str,
        /// The index.
        index: i32,
        /// The table's length.
        len: usize,
    },
    /// An OTLP profile has no sample type.
    #[error("OTLP profile has no sample type")]
    OtlpNoSampleType,
    /// An OTLP sample has neither values nor timestamps.
    #[error("OTLP sample has neither values nor timestamps")]
    OtlpEmptySample,
    /// A profile has more samples than its tenant's `max_profile_stacktrace_samples` (413).
    #[error("profile has {samples} samples, more than {max}")]
    TooManySamples {
        /// Its samples.
        samples: usize,
        /// The limit.
        max: usize,
    },
    /// A request has more series than its tenant's `max_global_series_per_tenant` (429).
    #[error("request has {series} series, more than the tenant's {max}")]
    TooManySeries {
        /// Its distinct series.
        series: usize,
        /// The limit.
        max: usize,
    },
    /// The profiles of one request span more than an hour.
    #[error("profiles in one request span more than 1h ({seconds} s): send them separately")]
    SpanTooLong {
        /// The span, in seconds.
        seconds: i64,
    },
}
