//! Time as clients send it, and as Flamelet stores it (nanoseconds since the Unix epoch).
//!
//! Ingest takes unix times in seconds, milliseconds, microseconds or nanoseconds, told apart by
//! magnitude. Queries also take `now`, `now-<n><unit>` (s, m, h, d, w, M = 30 d, y = 365 d),
//! `YYYYMMDD` and RFC 3339.

/// Nanoseconds in a second.
pub const NANOS_PER_SECOND: i64 = 1_000_000_000;
/// Nanoseconds in a millisecond.
pub const NANOS_PER_MILLI: i64 = 1_000_000;
/// A query range without a start covers this much before its end: one hour.
pub const DEFAULT_QUERY_SPAN_NANOS: i64 = 3600 * NANOS_PER_SECOND;

/// Why a time could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// The value is neither a number nor a recognised form.
    #[error("invalid time `{value}` for `{param}`: expected unix time, YYYYMMDD or now-<n><unit>")]
    Invalid {
        /// The parameter name.
        param: String,
        /// The value sent.
        value: String,
    },
    /// Zero or a negative time.
    #[error("invalid time `{value}` for `{param}`: must be after the unix epoch")]
    NotPositive {
        /// The parameter name.
        param: String,
        /// The value sent.
        value: String,
    },
    /// `from` is not before `until`.
    #[error("`from` ({from}) must be before `until` ({until})")]
    EmptyRange {
        /// `from` in nanoseconds.
        from: i64,
        /// `until` in nanoseconds.
        until: i64,
    },
}

/// Converts a unix time of unknown unit to nanoseconds, by magnitude: below 1e11 it is seconds
/// (up to the year 5138), below 1e14 milliseconds, below 1e17 microseconds, else nanoseconds.
pub fn unix_to_nanos(value: i64) -> i64 {
    let magnitude = value.unsigned_abs();
    if magnitude < 100_000_000_000 {
        value.saturating_mul(NANOS_PER_SECOND)
    } else if magnitude < 100_000_000_000_000 {
        value.saturating_mul(NANOS_PER_MILLI)
    } else if magnitude < 100_000_000_000_000_000 {
        value.saturating_mul(1_000)
    } else {
        value
    }
}

/// Parses an ingest `from`/`until`: a unix time in s/ms/µs/ns (fractions of seconds allowed).
pub fn parse_ingest_time(param: &str, value: &str) -> Result<i64, TimeError> {
    let invalid = || TimeError::Invalid {
        param: param.to_string(),
        value: value.to_string(),
    };
    let nanos = parse_unix(value).ok_or_else(invalid)?;
    if nanos <= 0 {
        return Err(TimeError::NotPositive {
            param: param.to_string(),
            value: value.to_string(),
        });
    }
    Ok(nanos)
}

fn parse_unix(value: &str) -> Option<i64> {
    let value = value.trim();
    if let Ok(v) = value.parse::<i64>() {
        return Some(unix_to_nanos(v));
    }
    // Fractional seconds, as some scripts send `1700000000.5`.
    let float: f64 = value.parse().ok()?;
    if !float.is_finite() || float.abs() >= 1e11 {
        return None;
    }
    Some((float * NANOS_PER_SECOND as f64) as i64)
}

/// Parses a query time (`from`, `until`, …) relative to `now_nanos`.
pub fn parse_query_time(param: &str, value: &str, now_nanos: i64) -> Result<i64, TimeError> {
    let invalid = || TimeError::Invalid {
        param: param.to_string(),
        value: value.to_string(),
    };
    let v = value.trim();
    let nanos = if v == "now" {
        now_nanos
    } else if let Some(rest) = v.strip_prefix("now-") {
        now_nanos.saturating_sub(parse_duration(rest).ok_or_else(invalid)?)
    } else if v.len() == 8 && v.bytes().all(|b| b.is_ascii_digit()) && v.starts_with(['1', '2']) {
        // YYYYMMDD, midnight UTC. (An 8-digit unix time would be in 1973: not a real query.)
        let date: jiff::civil::Date = jiff::fmt::strtime::parse("%Y%m%d", v)
            .and_then(|t| t.to_date())
            .map_err(|_| invalid())?;
        let ts = date
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map_err(|_| invalid())?
            .timestamp();
        ts.as_nanosecond() as i64
    } else if let Some(n) = parse_unix(v) {
        n
    } else if let Ok(ts) = v.parse::<jiff::Timestamp>() {
        ts.as_nanosecond() as i64
    } else {
        return Err(invalid());
    };
    if nanos <= 0 {
        return Err(TimeError::NotPositive {
            param: param.to_string(),
            value: value.to_string(),
        });
    }
    Ok(nanos)
}

/// Parses `30s`, `15m`, `3h`, `2d`, `1w`, `1M` (30 days), `1y` (365 days) into nanoseconds.
pub fn parse_duration(value: &str) -> Option<i64> {
    let split = value.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = value.split_at(split);
    let n: i64 = number.parse().ok()?;
    let seconds: i64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "M" => 30 * 86_400,
        "y" => 365 * 86_400,
        _ => return None,
    };
    n.checked_mul(seconds)?.checked_mul(NANOS_PER_SECOND)
}

/// `nanos` since the epoch as RFC 3339 in UTC, to the second (`2026-12-05T20:00:00Z`).
pub fn rfc3339(nanos: i64) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(nanos))
        .map(|t| t.round(jiff::Unit::Second).map_or(t, |r| r).to_string())
        .unwrap_or_else(|_| nanos.to_string())
}

/// A validated query time range, both ends in nanoseconds and inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// Start, inclusive.
    pub from: i64,
    /// End, inclusive.
    pub until: i64,
}

impl TimeRange {
    /// Builds a range from optional `from`/`until` parameters (defaults: one hour ago, now).
    pub fn from_params(
        from: Option<&str>,
        until: Option<&str>,
        now_nanos: i64,
    ) -> Result<Self, TimeError> {
        let until = match until {
            Some(v) => parse_query_time("until", v, now_nanos)?,
            None => now_nanos,
        };
        let from = match from {
            Some(v) => parse_query_time("from", v, now_nanos)?,
            None => until - DEFAULT_QUERY_SPAN_NANOS,
        };
        if from >= until {
            return Err(TimeError::EmptyRange { from, until });
        }
        Ok(TimeRange { from, until })
    }

    /// Builds a range from Connect's `start`/`end` in milliseconds since the epoch; 0 means
    /// unset (`end`: now, `start`: one hour before `end`).
    pub fn from_millis(start: i64, end: i64, now_nanos: i64) -> Result<Self, TimeError> {
        let until = match end {
            0 => now_nanos,
            ms => ms.saturating_mul(NANOS_PER_MILLI),
        };
        let from = match start {
            0 => until - DEFAULT_QUERY_SPAN_NANOS,
            ms => ms.saturating_mul(NANOS_PER_MILLI),
        };
        if from > until {
            return Err(TimeError::EmptyRange { from, until });
        }
        Ok(TimeRange { from, until })
    }

    /// Tells whether `[min, max]` overlaps the range.
    pub fn overlaps(&self, min: i64, max: i64) -> bool {
        min <= self.until && max >= self.from
    }
}

/// Returns the current time in nanoseconds since the epoch.
pub fn now_nanos() -> i64 {
    jiff::Timestamp::now().as_nanosecond() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000 * NANOS_PER_SECOND;

    #[test]
    fn magnitudes() {
        let s = 1_700_000_000i64;
        for v in [s, s * 1_000, s * 1_000_000, s * 1_000_000_000] {
            assert_eq!(unix_to_nanos(v), s * NANOS_PER_SECOND, "{v}");
        }
        assert_eq!(
            parse_ingest_time("from", "1700000000.5").unwrap(),
            s * NANOS_PER_SECOND + 500_000_000
        );
    }

    #[test]
    fn query_forms() {
        let h = 3600 * NANOS_PER_SECOND;
        assert_eq!(parse_query_time("from", "now", NOW).unwrap(), NOW);
        assert_eq!(
            parse_query_time("from", "now-3h", NOW).unwrap(),
            NOW - 3 * h
        );
        assert_eq!(
            parse_query_time("from", "now-30s", NOW).unwrap(),
            NOW - 30 * NANOS_PER_SECOND
        );
        assert_eq!(
            parse_query_time("from", "now-2d", NOW).unwrap(),
            NOW - 48 * h
        );
        assert_eq!(
            parse_query_time("from", "now-1w", NOW).unwrap(),
            NOW - 168 * h
        );
        assert_eq!(
            parse_query_time("from", "now-1M", NOW).unwrap(),
            NOW - 720 * h
        );
        assert_eq!(
            parse_query_time("from", "now-1y", NOW).unwrap(),
            NOW - 8760 * h
        );
        assert_eq!(
            parse_query_time("from", "20231114", NOW).unwrap(),
            1_699_920_000 * NANOS_PER_SECOND
        );
        assert_eq!(parse_query_time("from", "1700000000000", NOW).unwrap(), NOW);
    }

    #[test]
    fn bad_times() {
        for bad in ["", "yesterday", "now-3x", "now-", "0", "-5"] {
            assert!(parse_query_time("from", bad, NOW).is_err(), "{bad:?}");
        }
        assert!(matches!(
            TimeRange::from_params(Some("now"), Some("now-1h"), NOW),
            Err(TimeError::EmptyRange { .. })
        ));
    }
}
