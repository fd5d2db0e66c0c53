//! Why a query was rejected, naming the bad value. Each variant's status is decided in
//! `crate::error`, with every other error's.

/// Why a query was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// A required parameter is missing.
    #[error("missing `{name}` parameter")]
    MissingParameter {
        /// The parameter.
        name: String,
    },
    /// The range is longer than `max_query_length` (nanoseconds).
    #[error(
        "the query time range exceeds the limit (max_query_length, actual: {:.1}h, limit: {:.1}h)",
        hours(*.until - *.from),
        hours(*.max)
    )]
    RangeTooLong {
        /// The range's start.
        from: i64,
        /// The range's end.
        until: i64,
        /// The longest range allowed.
        max: i64,
    },
    /// `maxNodes` is not a whole number.
    #[error("invalid maxNodes `{value}`: expected a whole number")]
    InvalidMaxNodes {
        /// The value sent.
        value: String,
    },
    /// `maxNodes` is over the configured maximum.
    #[error("maxNodes {value} is more than {max}")]
    TooManyNodes {
        /// The value sent.
        value: i64,
        /// The maximum.
        max: usize,
    },
    /// `aggregation` is neither sum nor avg.
    #[error("unknown aggregation `{value}`: use sum or avg")]
    UnknownAggregation {
        /// The value sent.
        value: String,
    },
    /// The two sides of a diff name different profile types.
    #[error("a diff compares one profile type: left is `{left}`, right is `{right}`")]
    DiffTypes {
        /// The left side's profile type.
        left: String,
        /// The right side's.
        right: String,
    },
    /// A Diff call lacks one of its sides.
    #[error("Diff needs a left and a right request")]
    DiffSide,
    /// A pprof answer needs a profile type and the selector names none.
    #[error("a pprof needs a profile type")]
    NoProfileType,
    /// A Connect path without a method.
    #[error("`{path}` names no method")]
    NoMethod {
        /// The path.
        path: String,
    },
    /// A Connect method that does not exist (404).
    #[error("unknown method `{path}`")]
    UnknownMethod {
        /// The path.
        path: String,
    },
    /// A settings method that would store settings, which are not kept (501).
    #[error("{method}: tenant settings are not stored")]
    SettingsNotStored {
        /// The method's path.
        method: String,
    },
    /// LabelValues without a label name.
    #[error("LabelValues needs a label `name`")]
    NoLabelName,
    /// A label selector names another profile type than the request's.
    #[error("label selector `{selector}` names another profile type than `{profile_type}`")]
    OtherProfileType {
        /// The label selector.
        selector: String,
        /// The request's profile type.
        profile_type: String,
    },
    /// An unknown `ProfileFormat` number.
    #[error("unknown profile format {format}")]
    UnknownProfileFormat {
        /// The number sent.
        format: i32,
    },
    /// SelectMergeSpanProfile asked for a format other than flamegraph or tree.
    #[error("SelectMergeSpanProfile answers format flamegraph or tree, not {format}")]
    SpanProfileFormat {
        /// The number sent.
        format: i32,
    },
    /// An unknown `TimeSeriesAggregationType` number.
    #[error("unknown aggregation {value}")]
    UnknownAggregationType {
        /// The number sent.
        value: i32,
    },
    /// A `step` that is negative or not finite.
    #[error("invalid step {step}")]
    InvalidStep {
        /// The step sent, in seconds.
        step: f64,
    },
    /// A negative series `limit`.
    #[error("invalid limit {limit}: must not be negative")]
    NegativeLimit {
        /// The limit sent.
        limit: i64,
    },
    /// An unknown `HeatmapQueryType` number.
    #[error("unknown heatmap query type {value}")]
    UnknownHeatmapQueryType {
        /// The number sent.
        value: i32,
    },
    /// An unknown `ExemplarType` number.
    #[error("unknown exemplar type {value}")]
    UnknownExemplarType {
        /// The number sent.
        value: i32,
    },
    /// A scan was asked for symbols and handed a part without them (a bug).
    #[error("segment symbols were not read")]
    SymbolsNotRead,
}

/// Nanoseconds as hours, for messages.
fn hours(nanos: i64) -> f64 {
    nanos as f64 / 3.6e12
}
