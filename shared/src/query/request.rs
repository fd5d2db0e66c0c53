//! Validated query requests: the parameters of `/pyroscope/render`, `render-diff` and
//! `label-values` checked once, up front, and the limits every query is answered under
//! ([`QueryContext`]).

use crate::Result;
use crate::limits::QueryLimits;
use crate::profile::ProfileType;
use crate::render::timeline::Aggregation;
use crate::selector::Selector;
use crate::time::TimeRange;

use super::QueryError;

/// What `format` a render asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenderFormat {
    /// The JSON flame graph answer.
    Json,
    /// Graphviz text.
    Dot,
}

/// A validated `/pyroscope/render` request.
#[derive(Debug, Clone)]
pub struct RenderRequest {
    /// The profile type queried.
    pub profile_type: ProfileType,
    /// The series selector.
    pub selector: Selector,
    /// The time range.
    pub range: TimeRange,
    /// `maxNodes`.
    pub max_nodes: usize,
    /// `groupBy` label, if any.
    pub group_by: Option<String>,
    /// `format`.
    pub format: RenderFormat,
    /// `aggregation`.
    pub aggregation: Aggregation,
}

fn missing(name: &str) -> QueryError {
    QueryError::MissingParameter {
        name: name.to_string(),
    }
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// What every query is answered against: the current time and the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryContext {
    /// Now, in nanoseconds since the epoch.
    pub now_nanos: i64,
    /// The limits (the tenant's).
    pub limits: QueryLimits,
}

impl QueryContext {
    /// A context with the default limits.
    pub fn at(now_nanos: i64) -> Self {
        QueryContext {
            now_nanos,
            limits: QueryLimits::default(),
        }
    }

    /// Applies the range limits: a start before the lookback is clamped to it (the range may
    /// then be empty), and a range longer than the maximum is a 400.
    pub fn limit(&self, mut range: TimeRange) -> Result<TimeRange> {
        if let Some(lookback) = self.limits.max_query_lookback {
            range.from = range.from.max(self.now_nanos.saturating_sub(lookback));
        }
        if let Some(max) = self.limits.max_query_length
            && range.until.saturating_sub(range.from) > max
        {
            return Err(QueryError::RangeTooLong {
                from: range.from,
                until: range.until,
                max,
            }
            .into());
        }
        Ok(range)
    }

    /// `from`/`until` parameters as a limited range.
    pub fn range_params(&self, from: Option<&str>, until: Option<&str>) -> Result<TimeRange> {
        self.limit(TimeRange::from_params(from, until, self.now_nanos)?)
    }

    /// Connect `start`/`end` (ms) as a limited range.
    pub fn range_millis(&self, start: i64, end: i64) -> Result<TimeRange> {
        self.limit(TimeRange::from_millis(start, end, self.now_nanos)?)
    }

    /// Checks a max-nodes number: 0 or less is the default; more than the maximum is a 400.
    pub fn max_nodes(&self, n: i64) -> Result<usize> {
        let max = self.limits.max_nodes_max();
        if usize::try_from(n).is_ok_and(|n| n > max) {
            return Err(QueryError::TooManyNodes { value: n, max }.into());
        }
        Ok(if n <= 0 {
            self.limits.max_nodes_default()
        } else {
            n as usize
        })
    }

    /// Parses `maxNodes`/`max-nodes` by the rules of [`QueryContext::max_nodes`].
    pub fn parse_max_nodes(&self, params: &[(String, String)]) -> Result<usize> {
        let value = param(params, "maxNodes").or_else(|| param(params, "max-nodes"));
        let Some(v) = value.filter(|v| !v.is_empty()) else {
            return Ok(self.limits.max_nodes_default());
        };
        let n: i64 = v.parse().map_err(|_| QueryError::InvalidMaxNodes {
            value: v.to_string(),
        })?;
        self.max_nodes(n)
    }
}

impl RenderRequest {
    /// Validates render parameters (`query`, `from`, `until`, `maxNodes`, `groupBy`, `format`,
    /// `aggregation`).
    pub fn from_params(params: &[(String, String)], cx: &QueryContext) -> Result<Self> {
        let query = param(params, "query")
            .or_else(|| param(params, "name"))
            .ok_or_else(|| missing("query"))?;
        let (profile_type, selector) = Selector::parse_with_type(query)?;
        let range = cx.range_params(param(params, "from"), param(params, "until"))?;
        let max_nodes = cx.parse_max_nodes(params)?;
        let group_by = param(params, "groupBy")
            .filter(|g| !g.is_empty())
            .map(String::from);
        let format = match param(params, "format") {
            Some("dot") => RenderFormat::Dot,
            _ => RenderFormat::Json,
        };
        let aggregation = match param(params, "aggregation") {
            None | Some("") | Some("sum") => Aggregation::Sum,
            Some("avg") | Some("average") => Aggregation::Avg,
            Some(other) => {
                return Err(QueryError::UnknownAggregation {
                    value: other.to_string(),
                }
                .into());
            }
        };
        Ok(RenderRequest {
            profile_type,
            selector,
            range,
            max_nodes,
            group_by,
            format,
            aggregation,
        })
    }
}

/// A validated `/pyroscope/label-values` request.
#[derive(Debug, Clone)]
pub struct LabelValuesRequest {
    /// The label whose values are listed (`__name__` lists profile type IDs).
    pub label: String,
    /// Which series to consider.
    pub selector: Selector,
    /// The time range.
    pub range: TimeRange,
}

impl LabelValuesRequest {
    /// Validates `label`, `query`, `from`, `until`.
    pub fn from_params(params: &[(String, String)], cx: &QueryContext) -> Result<Self> {
        let label = param(params, "label")
            .or_else(|| param(params, "name"))
            .filter(|l| !l.is_empty())
            .ok_or_else(|| missing("label"))?;
        let selector = Selector::parse(param(params, "query").unwrap_or(""))?;
        let range = cx.range_params(param(params, "from"), param(params, "until"))?;
        Ok(LabelValuesRequest {
            label: label.to_string(),
            selector,
            range,
        })
    }
}

/// A validated `/pyroscope/render-diff` request: two selections of one profile type.
#[derive(Debug, Clone)]
pub struct DiffRequest {
    /// The left side's selection.
    pub left: (Selector, TimeRange),
    /// The right side's selection.
    pub right: (Selector, TimeRange),
    /// The profile type both sides name.
    pub profile_type: ProfileType,
    /// `maxNodes`.
    pub max_nodes: usize,
}

impl DiffRequest {
    /// Validates `leftQuery`, `leftFrom`, `leftUntil`, `rightQuery`, `rightFrom`,
    /// `rightUntil` and `maxNodes`; both queries must name the same profile type.
    pub fn from_params(params: &[(String, String)], cx: &QueryContext) -> Result<Self> {
        let side = |name: &str| -> Result<(ProfileType, Selector, TimeRange)> {
            let query = param(params, &format!("{name}Query"))
                .ok_or_else(|| missing(&format!("{name}Query")))?;
            let (profile_type, selector) = Selector::parse_with_type(query)?;
            let range = cx.range_params(
                param(params, &format!("{name}From")),
                param(params, &format!("{name}Until")),
            )?;
            Ok((profile_type, selector, range))
        };
        let (left_type, left, left_range) = side("left")?;
        let (right_type, right, right_range) = side("right")?;
        let profile_type = same_type(left_type, right_type)?;
        let max_nodes = cx.parse_max_nodes(params)?;
        Ok(DiffRequest {
            left: (left, left_range),
            right: (right, right_range),
            profile_type,
            max_nodes,
        })
    }
}

/// The one profile type of both sides of a diff; different types are a 400.
pub fn same_type(left: ProfileType, right: ProfileType) -> Result<ProfileType> {
    if left != right {
        return Err(QueryError::DiffTypes {
            left: left.to_string(),
            right: right.to_string(),
        }
        .into());
    }
    Ok(left)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000_000_000;

    #[test]
    fn limits_name_the_bad_value() {
        let cx = QueryContext {
            now_nanos: 100 * H,
            limits: QueryLimits {
                max_query_length: Some(24 * H),
                max_query_lookback: Some(48 * H),
                ..QueryLimits::default()
            },
        };
        let long = TimeRange {
            from: 70 * H,
            until: 100 * H,
        };
        assert!(matches!(
            cx.limit(long),
            Err(crate::Error::Query(QueryError::RangeTooLong { from, until, max }))
                if from == 70 * H && until == 100 * H && max == 24 * H
        ));
        let early = TimeRange {
            from: 10 * H,
            until: 60 * H,
        };
        assert_eq!(
            cx.limit(early).unwrap().from,
            52 * H,
            "clamped to the lookback"
        );
        assert!(matches!(
            cx.max_nodes(2_000_000),
            Err(crate::Error::Query(QueryError::TooManyNodes {
                value: 2_000_000,
                ..
            }))
        ));
    }
}
