//! Compaction: merges a tenant's L0 segments per hour bucket into one compacted segment and
//! publishes a new manifest version (the protocol and why it is safe: [`crate::storage::manifest`]).
//!
//! Planning is pure ([`plan`]); [`run`] only carries the plan out, one merge per published
//! version, within a time budget, holding the day's [`lease`].

use serde::Serialize;

pub mod lease;
mod pass;
mod plan;

pub use plan::{Merge, MergeOutput, Plan, next_manifest, orphans, plan};

use crate::Result;
use crate::error::ConfigError;
use crate::storage::keys::{Day, HOUR_NANOS};
use crate::storage::manifest;
use crate::storage::store::ObjectStore;
use pass::Pass;

/// Default time between replacing an object and deleting it: longer than any query.
pub const DEFAULT_GRACE_NANOS: i64 = 10 * 60 * crate::time::NANOS_PER_SECOND;
/// Default time between merging an L0 segment and deleting it, which bounds how many merged L0
/// segments a day's L0 listing and its manifest's `covered` list hold: ingest rate × this.
/// With the whole grace period (10 min) that was ~240 000 of each at 400 uploads/s, and a
/// manifest of 13 MB after 6 minutes that every query and pass read (docs/benchmarks.md,
/// "Twelve minutes of load"); with a minute, ~20 000, still ~30 % of a fresh-hour query's CPU
/// ("A query's uploads first"). A query must list and read its L0 segments within this of its
/// start (`storage::deadline`), so it reads them before its compacted segments: under the
/// paced load the whole query's p99 is ~1.5 s.
pub const DEFAULT_L0_GRACE_NANOS: i64 = 15 * crate::time::NANOS_PER_SECOND;
/// Most L0 segments merged into one hour at a time; a pass merges a larger backlog in several
/// merges, while its budget lasts.
pub const MAX_INPUTS_PER_MERGE: usize = 2000;

/// An hour is closed (merged as soon as it has new L0 segments) this long after its end,
/// which leaves agents time to send its last profiles.
pub const HOUR_SETTLE_NANOS: i64 = 5 * 60 * crate::time::NANOS_PER_SECOND;
/// An hour still open is merged once it has this many new L0 segments…
pub const OPEN_HOUR_INPUTS: usize = 64;
/// …or once its oldest new L0 segment has waited this long.
pub const OPEN_HOUR_WAIT_NANOS: i64 = 10 * 60 * crate::time::NANOS_PER_SECOND;
/// Compacted segments an open hour may have: its merges write new segments beside the hour's
/// largest instead of rewriting it, until there are this many; then the smaller ones are
/// merged together. So a merge of the open hour costs its new L0 segments, not the whole hour
/// so far, and a query of it reads at most this many segments besides its new L0 ones.
pub const OPEN_HOUR_SEGMENTS: usize = 4;

/// A day is rolled up into one day segment this long after its end (late data arriving after
/// that is compacted beside the day segment and folded in by a later roll-up).
pub const ROLLUP_AFTER_NANOS: i64 = 60 * 60 * crate::time::NANOS_PER_SECOND;
/// Hour segments beside a day segment that make the day due for another roll-up.
pub const REROLL_HOUR_SEGMENTS: usize = 4;
/// Bytes of compacted segments one roll-up step reads: a day larger than this is rolled up
/// over several passes, so that a step fits in an instance's memory (1 GiB by default; a
/// decoded segment takes several times its stored size) and in the time limit.
pub const ROLLUP_MAX_BYTES: u64 = 64 << 20;
/// Default time budget of a pass: no merge starts after it (half the host's default request
/// time limit, so the merge under way when it runs out still finishes).
pub const DEFAULT_PASS_NANOS: i64 = 30 * crate::time::NANOS_PER_SECOND;

/// Tunables of a compaction pass.
#[derive(Debug, Clone, Copy)]
pub struct CompactionConfig {
    /// Time between replacing an object and deleting it (ns).
    pub grace_nanos: i64,
    /// Time between merging an L0 segment and deleting it (ns), at most `grace_nanos`: see
    /// [`CompactionConfig::l0_grace`].
    pub l0_grace_nanos: i64,
    /// Most L0 inputs per merge (a pass merges a larger backlog in several).
    pub max_inputs: usize,
    /// When an hour counts as closed, after its end (ns).
    pub settle_nanos: i64,
    /// New L0 segments that make an open hour due.
    pub open_hour_inputs: usize,
    /// Age of the oldest new L0 segment (by its ULID's time) that makes an open hour due (ns).
    pub open_hour_wait_nanos: i64,
    /// Compacted segments an open hour may have (1: every merge rewrites the hour's one).
    pub open_hour_segments: usize,
    /// When a day is rolled up, after its end (ns).
    pub rollup_after_nanos: i64,
    /// Hour segments beside a day segment that make it due for another roll-up.
    pub reroll_hour_segments: usize,
    /// Bytes of compacted segments one roll-up step reads (at least one hour segment).
    pub rollup_max_bytes: u64,
    /// Time budget of a pass (ns): no merge starts after it; what is done is published.
    pub pass_nanos: i64,
}

impl CompactionConfig {
    /// Environment variable: seconds between replacing an object and deleting it.
    pub const ENV_GRACE_SECONDS: &str = "FLAMELET_COMPACTION_GRACE_SECONDS";
    /// Environment variable: seconds between merging an L0 segment and deleting it.
    pub const ENV_L0_GRACE_SECONDS: &str = "FLAMELET_COMPACTION_L0_GRACE_SECONDS";
    /// Environment variable: a pass's time budget in seconds.
    pub const ENV_PASS_SECONDS: &str = "FLAMELET_COMPACTION_PASS_SECONDS";
    /// Environment variable: seconds after a day's end before it is rolled up (the
    /// allowance for late data).
    pub const ENV_ROLLUP_AFTER_SECONDS: &str = "FLAMELET_COMPACTION_ROLLUP_AFTER_SECONDS";

    /// Reads the tunables from configuration values by name (the environment in a component);
    /// a value that is not a whole number of seconds is an error naming the variable.
    pub fn from_config(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut config = CompactionConfig::default();
        let graces = Self::graces_from_config(&get)?;
        config.grace_nanos = graces.all;
        config.l0_grace_nanos = graces.l0;
        if let Some(n) = nanos_of(&get, Self::ENV_PASS_SECONDS)? {
            config.pass_nanos = n;
        }
        if let Some(n) = nanos_of(&get, Self::ENV_ROLLUP_AFTER_SECONDS)? {
            config.rollup_after_nanos = n;
        }
        Ok(config)
    }

    /// Reads only the grace periods (the query component's read deadlines); the defaults when
    /// unset, an error naming the variable when not a whole number of seconds.
    pub fn graces_from_config(get: impl Fn(&str) -> Option<String>) -> Result<Graces> {
        let all = nanos_of(&get, Self::ENV_GRACE_SECONDS)?.unwrap_or(DEFAULT_GRACE_NANOS);
        let l0 = nanos_of(&get, Self::ENV_L0_GRACE_SECONDS)?.unwrap_or(DEFAULT_L0_GRACE_NANOS);
        Ok(Graces {
            all,
            l0: l0.min(all),
        })
    }

    /// Time between merging an L0 segment (publishing the version that covers it) and deleting
    /// it: the L0 grace period, at most the grace period. Shorter than the grace period because
    /// a merged L0 segment stays in every listing of its day and in its manifest's `covered`
    /// until it is deleted, and there are as many as uploads; the few replaced compacted
    /// segments and manifest versions keep the whole grace period.
    pub fn l0_grace(&self) -> i64 {
        self.l0_grace_nanos.min(self.grace_nanos)
    }

    /// The longest a pass runs: its budget, and the merge under way when that runs out (a
    /// merge is bounded by `max_inputs`). Leases last this long; unpublished segments older
    /// than this plus the grace period are orphans.
    pub fn longest_pass_nanos(&self) -> i64 {
        self.pass_nanos.saturating_mul(2)
    }
}

impl Default for CompactionConfig {
    fn default() -> Self {
        CompactionConfig {
            grace_nanos: DEFAULT_GRACE_NANOS,
            l0_grace_nanos: DEFAULT_L0_GRACE_NANOS,
            max_inputs: MAX_INPUTS_PER_MERGE,
            settle_nanos: HOUR_SETTLE_NANOS,
            open_hour_inputs: OPEN_HOUR_INPUTS,
            open_hour_wait_nanos: OPEN_HOUR_WAIT_NANOS,
            open_hour_segments: OPEN_HOUR_SEGMENTS,
            rollup_after_nanos: ROLLUP_AFTER_NANOS,
            reroll_hour_segments: REROLL_HOUR_SEGMENTS,
            rollup_max_bytes: ROLLUP_MAX_BYTES,
            pass_nanos: DEFAULT_PASS_NANOS,
        }
    }
}

/// A configuration value in whole seconds, as nanoseconds; an error naming the variable when it
/// is not a whole number of seconds.
fn nanos_of(get: &impl Fn(&str) -> Option<String>, name: &'static str) -> Result<Option<i64>> {
    let seconds = |v: &str| v.parse::<i64>().ok().filter(|s| *s >= 0);
    let secs = ConfigError::read(get, name, "a whole number of seconds", seconds)?;
    Ok(secs.map(|s| s.saturating_mul(crate::time::NANOS_PER_SECOND)))
}

/// The two grace periods a reader must finish within (ns): `l0` for L0 segments and their
/// listings, `all` for everything else (`storage::deadline`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Graces {
    /// Replaced compacted segments and manifest versions.
    pub all: i64,
    /// Merged L0 segments (at most `all`).
    pub l0: i64,
}

/// What a pass did, for logs and `flamelet compact`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CompactionReport {
    /// Compacted segments written.
    pub merged: Vec<MergeReport>,
    /// Objects deleted after their grace period.
    pub deleted: Vec<String>,
    /// Manifest versions published.
    pub published: Vec<String>,
    /// Days where another compactor published first (retried on the next pass).
    pub conflicts: Vec<String>,
    /// Days that failed (a storage error, an unreadable compacted segment); other days ran.
    pub errors: Vec<String>,
    /// L0 segments set aside as unreadable (`key: reason`), each reported once.
    pub quarantined: Vec<String>,
    /// Compacted segments no manifest will reference, deleted (see [`orphans`]).
    pub orphans: Vec<String>,
    /// Days left alone because another compactor holds their lease.
    pub leased: Vec<String>,
    /// Days with work left when the pass's time budget ran out (what was done is published).
    pub unfinished: Vec<String>,
}

/// One merge done.
#[derive(Debug, Clone, Serialize)]
pub struct MergeReport {
    /// The new compacted segment.
    pub output: String,
    /// L0 segments merged in.
    pub l0_inputs: usize,
    /// Whether compacted segments were merged in too (the hour's, or for a day roll-up the
    /// day's).
    pub replaced_existing: bool,
    /// A day roll-up.
    pub day: bool,
    /// Sample rows written.
    pub rows: usize,
    /// Bytes written.
    pub bytes: u64,
}

/// Which days of each tenant a pass visits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every day: closed hours, roll-ups, late data, deletions after the grace period.
    AllDays,
    /// Only the days of the open hour and of the hour before it until that has settled: a
    /// pass cheap enough to run every few seconds (a handful of listings when there is
    /// nothing to do), so that the L0 segments a query of the fresh hour reads are bounded by
    /// the open hour's due rule ([`OPEN_HOUR_INPUTS`]) and that pace, not by how often the
    /// whole pass runs.
    OpenHours,
}

/// A `scope` parameter that names no [`Scope`] (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown compaction scope `{value}`: use all or open-hours")]
pub struct ScopeError {
    /// The value given.
    pub value: String,
}

impl Scope {
    /// The scope a `scope` parameter names: `all` (also when absent) or `open-hours`, for
    /// schedulers other than the cron trigger (`POST /flamelet/compact?scope=open-hours`
    /// every few seconds, the whole pass every minute).
    pub fn from_param(value: Option<&str>) -> std::result::Result<Scope, ScopeError> {
        match value {
            None | Some("all") => Ok(Scope::AllDays),
            Some("open-hours") => Ok(Scope::OpenHours),
            Some(other) => Err(ScopeError {
                value: other.to_string(),
            }),
        }
    }

    /// The scope of a scheduled event at `timestamp` (Unix seconds): the whole pass in a
    /// minute's first second, the open hours' in the others. So one schedule every second
    /// (spin.toml) keeps the fresh hour compacted, and the rest is done once a minute as
    /// before; a schedule of whole minutes runs only whole passes. Spin's cron trigger stamps
    /// an event with the time it fires (the host here passes the due time): one fired more
    /// than a second late runs the open hours' pass, and the whole pass it missed is the next
    /// minute's, which does the same work.
    pub fn of_scheduled(timestamp: u64) -> Scope {
        if timestamp.is_multiple_of(60) {
            Scope::AllDays
        } else {
            Scope::OpenHours
        }
    }

    /// The days an open-hours pass at `now` visits: those of the open hour and of the hour
    /// before it while it settles (one day, or two just after midnight), oldest first.
    pub fn open_days(now: i64, config: &CompactionConfig) -> Vec<Day> {
        let earliest = Day::of(now.saturating_sub(HOUR_NANOS.saturating_add(config.settle_nanos)));
        let today = Day::of(now);
        if earliest == today {
            vec![today]
        } else {
            vec![earliest, today]
        }
    }
}

/// Runs one compaction pass over every tenant and day ([`run_in`] with [`Scope::AllDays`]).
pub fn run(
    store: &dyn ObjectStore,
    clock: &dyn Fn() -> i64,
    config: &CompactionConfig,
) -> Result<CompactionReport> {
    run_in(store, clock, config, Scope::AllDays)
}

/// Runs one compaction pass over every tenant's days of `scope`. `clock` gives the time (ns):
/// read when a day is planned, and again just before each manifest version is published, so
/// that what the version replaces stays readable for the whole grace period after the publish
/// however long the merges took. No merge starts after `config.pass_nanos`; each is published
/// as it is done, so a pass cut short keeps its progress.
pub fn run_in(
    store: &dyn ObjectStore,
    clock: &dyn Fn() -> i64,
    config: &CompactionConfig,
    scope: Scope,
) -> Result<CompactionReport> {
    let mut report = CompactionReport::default();
    let deadline = clock().saturating_add(config.pass_nanos);
    for tenant in manifest::tenants(store)? {
        let days = match scope {
            Scope::AllDays => manifest::data_days(store, &tenant)?,
            Scope::OpenHours => Scope::open_days(clock(), config),
        };
        for day in days {
            let pass = Pass {
                store,
                tenant: &tenant,
                day,
                clock,
                deadline,
                config,
                scope,
            };
            if clock() >= deadline {
                report.unfinished.push(pass.name());
                continue;
            }
            // One bad day (say, an unreadable compacted segment) must not stop the others.
            if let Err(e) = pass.compact_day(&mut report) {
                tracing::warn!("compaction of {} failed: {e}", pass.name());
                report.errors.push(format!("{}: {e}", pass.name()));
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;
