//! Timelines: one value per step over a query range, as the render endpoint returns them.
//!
//! The step is (until − from)/1500 rounded up to a standard step (the reference server's table), never below
//! 15 s. `startTime` is `from` rounded down to a multiple of the step; the end is rounded down
//! the same way; there is one value per step over [start, end), zero where there is no data.

use serde::Serialize;

use crate::time::NANOS_PER_SECOND;

/// Upper bounds of the raw step (seconds) and the standard step they round to.
const STEPS: [(f64, i64); 17] = [
    (17.5, 15),
    (25.0, 20),
    (45.0, 30),
    (90.0, 60),
    (210.0, 120),
    (450.0, 300),
    (750.0, 600),
    (1050.0, 900),
    (1500.0, 1200),
    (2700.0, 1800),
    (5400.0, 3600),
    (9000.0, 7200),
    (16200.0, 10800),
    (32400.0, 21600),
    (86400.0, 43200),
    (604800.0, 86400),
    (1814400.0, 604800),
];

/// Returns the standard step in seconds for a range given in nanoseconds.
pub fn step_seconds(from_nanos: i64, until_nanos: i64) -> i64 {
    let raw = (until_nanos - from_nanos) as f64 / NANOS_PER_SECOND as f64 / 1500.0;
    for (bound, step) in STEPS {
        if raw <= bound {
            return step;
        }
    }
    if raw < 3_628_800.0 {
        30 * 86_400
    } else {
        365 * 86_400
    }
}

/// How the profiles of one step are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    /// The sum of the profile totals.
    Sum,
    /// The mean of the profile totals.
    Avg,
}

/// A timeline in the render answer's shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    /// First step's start, in seconds.
    #[serde(rename = "startTime")]
    pub start_time: i64,
    /// One value per step.
    pub samples: Vec<i64>,
    /// The step, in seconds.
    #[serde(rename = "durationDelta")]
    pub duration_delta: i64,
}

/// Accumulates profile totals into steps.
#[derive(Debug, Clone)]
pub struct TimelineBuilder {
    start: i64,
    step: i64,
    sums: Vec<i64>,
    counts: Vec<i64>,
}

impl TimelineBuilder {
    /// Starts a timeline for a query range (nanoseconds).
    pub fn new(from_nanos: i64, until_nanos: i64) -> Self {
        let step = step_seconds(from_nanos, until_nanos);
        let start = (from_nanos / NANOS_PER_SECOND).div_euclid(step) * step;
        let end = (until_nanos / NANOS_PER_SECOND).div_euclid(step) * step;
        let len = ((end - start) / step).max(0) as usize;
        TimelineBuilder {
            start,
            step,
            sums: vec![0; len],
            counts: vec![0; len],
        }
    }

    /// Adds one profile's total at its time (nanoseconds); outside the steps it is ignored.
    pub fn add(&mut self, time_nanos: i64, total: i64) {
        let secs = time_nanos.div_euclid(NANOS_PER_SECOND);
        if secs < self.start {
            return;
        }
        let i = ((secs - self.start) / self.step) as usize;
        if i < self.sums.len() {
            self.sums[i] = self.sums[i].saturating_add(total);
            self.counts[i] += 1;
        }
    }

    /// Returns the timeline.
    pub fn finish(self, aggregation: Aggregation) -> Timeline {
        let samples = match aggregation {
            Aggregation::Sum => self.sums,
            Aggregation::Avg => self
                .sums
                .iter()
                .zip(&self.counts)
                .map(|(s, c)| if *c == 0 { 0 } else { s / c })
                .collect(),
        };
        Timeline {
            start_time: self.start,
            samples,
            duration_delta: self.step,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_table() {
        let s = |secs: i64| step_seconds(0, secs * NANOS_PER_SECOND);
        assert_eq!(s(3600), 15, "1h: raw 2.4s, never below 15s");
        assert_eq!(s(1500 * 17), 15);
        assert_eq!(s(1500 * 18), 20);
        assert_eq!(s(1500 * 25), 20);
        assert_eq!(s(1500 * 26), 30);
        assert_eq!(s(86_400), 60, "24h: raw 57.6s");
        assert_eq!(s(7 * 86_400), 300, "7d: raw 403s");
        assert_eq!(s(30 * 86_400), 1800, "30d: raw 1728s");
        assert_eq!(s(1500 * 86_400), 43_200);
        assert_eq!(s(1500 * 604_800), 86_400);
        assert_eq!(s(1500 * 604_801), 604_800);
        assert_eq!(s(1500 * 3_628_799), 2_592_000);
        assert_eq!(s(1500 * 3_628_800), 31_536_000);
    }

    #[test]
    fn layout() {
        // 1h range from 1000s: step 15s, start 990, end 4590 → 240 steps.
        let from = 1000 * NANOS_PER_SECOND;
        let mut b = TimelineBuilder::new(from, from + 3600 * NANOS_PER_SECOND);
        b.add(990 * NANOS_PER_SECOND, 5);
        b.add(1004 * NANOS_PER_SECOND, 5);
        b.add(1005 * NANOS_PER_SECOND, 3);
        b.add(4590 * NANOS_PER_SECOND, 100);
        let t = b.clone().finish(Aggregation::Sum);
        assert_eq!(
            (t.start_time, t.duration_delta, t.samples.len()),
            (990, 15, 240)
        );
        assert_eq!(&t.samples[..2], &[10, 3]);
        assert_eq!(
            t.samples.iter().sum::<i64>(),
            13,
            "the end step is excluded"
        );
        assert_eq!(&b.finish(Aggregation::Avg).samples[..2], &[5, 3]);
    }
}
