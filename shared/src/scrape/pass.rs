//! One scrape pass: the due targets' profiles fetched at once, each target's stored as one L0
//! segment as soon as all of its answers are in, its cumulative profiles turned into deltas
//! against the baselines kept in the bucket, and a health record written per target.
//!
//! The fetching is the component's ([`Fetcher`]: `wasi:http` requests in flight together, each
//! with its deadline), so that a slow target holds up no other; everything decided is here.
//!
//! Order of writes, per target: the segment, then the new baselines. Should a baseline fail to
//! be written, the segment is deleted again, so that the next scrape's delta, taken against the
//! old baseline, covers both intervals once (never twice).

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::config::{Job, Jobs, ProfileScrape, Target};
use super::delta::{self, Delta};
use crate::ingest::{pprof, store_profiles};
use crate::limits::TenantLimits;
use crate::profile::{METRIC_NAME, Profile};
use crate::storage::keys::scrape_prefix;
use crate::storage::store::{ObjectStore, PutMode, StoreError};
use crate::time::NANOS_PER_SECOND;

/// A GET the pass needs answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// The URL.
    pub url: String,
    /// How long the whole answer may take, in nanoseconds from when it is sent.
    pub timeout_nanos: i64,
    /// The most the body may hold, as sent.
    pub max_bytes: usize,
}

/// A target's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The HTTP status.
    pub status: u16,
    /// The body, whole.
    pub body: Vec<u8>,
}

/// Why no usable answer came.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FetchError {
    /// The deadline passed first.
    #[error("no answer within {seconds} s")]
    TimedOut {
        /// The deadline, in seconds.
        seconds: f64,
    },
    /// The body is over the job's `body_size_limit`.
    #[error("the answer is over body_size_limit ({limit} bytes)")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// No connection, refused by the host, reset, …
    #[error("{reason}")]
    Failed {
        /// What went wrong.
        reason: String,
    },
}

/// What became of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The answer, or why there is none.
    pub result: Result<Fetched, FetchError>,
    /// How long it took, in nanoseconds.
    pub elapsed_nanos: i64,
}

/// Sends requests, all at once.
pub trait Fetcher {
    /// Sends every request and calls `done` with each one's index and outcome as it finishes,
    /// in whatever order they finish; returns when all have.
    fn fetch_all(&mut self, requests: &[FetchRequest], done: &mut dyn FnMut(usize, Outcome));
}

/// A target's or a profile's state after its last scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Every profile was read and stored.
    Up,
    /// Something failed; `last_error` says what.
    Down,
    /// Not scraped yet.
    Unknown,
}

/// What the last scrape of one profile of a target did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileHealth {
    /// The profile's name.
    pub name: String,
    /// Where it was read.
    pub url: String,
    /// Up or down.
    pub health: Health,
    /// How long the answer took, in seconds.
    pub duration_seconds: f64,
    /// Why it failed (empty when it did not).
    pub error: String,
    /// `snapshot` (stored as read), `baseline` (the first of a cumulative profile: kept, not
    /// stored), `delta` (the growth since the previous scrape), `restarted` (counters went
    /// down: the target restarted, its profile is the delta and the new baseline).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Sample rows stored.
    pub samples: usize,
}

/// A target's health, as `GET /targets` lists it and the bucket keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetHealth {
    /// The job.
    pub job: String,
    /// `host:port`.
    pub instance: String,
    /// The tenant its profiles are stored for.
    pub tenant: String,
    /// The labels its profiles get.
    pub labels: BTreeMap<String, String>,
    /// Up, down, or unknown before its first scrape.
    pub health: Health,
    /// When its last scrape began (RFC 3339), empty before the first.
    pub last_scrape: String,
    /// The same, in nanoseconds since the epoch (0 before the first).
    pub last_scrape_nanos: i64,
    /// How long its last scrape took, in seconds (its slowest answer).
    pub last_scrape_duration_seconds: f64,
    /// The first error of its last scrape (empty when there was none).
    pub last_error: String,
    /// Scrapes so far, and how many of them failed.
    pub scrapes: u64,
    /// Scrapes with an error.
    pub failures: u64,
    /// Per profile.
    pub profiles: Vec<ProfileHealth>,
}

impl TargetHealth {
    /// A target not scraped yet.
    fn unknown(job: &Job, target: &Target) -> Self {
        TargetHealth {
            job: job.name.clone(),
            instance: target.instance.clone(),
            tenant: job.tenant.as_str().to_string(),
            labels: target.labels.clone(),
            health: Health::Unknown,
            last_scrape: String::new(),
            last_scrape_nanos: 0,
            last_scrape_duration_seconds: 0.0,
            last_error: String::new(),
            scrapes: 0,
            failures: 0,
            profiles: Vec::new(),
        }
    }
}

/// The key of a target's health record.
pub fn health_key(job: &Job, target: &Target) -> String {
    format!(
        "{}{}/health.json",
        scrape_prefix(&job.tenant),
        job.target_id(target)
    )
}

/// The key of the baseline of a target's cumulative profile.
pub fn baseline_key(job: &Job, target: &Target, profile: &ProfileScrape) -> String {
    format!(
        "{}{}/baselines/{}.pprof",
        scrape_prefix(&job.tenant),
        job.target_id(target),
        profile.name
    )
}

/// Every configured target's health, in the configuration's order: what the bucket holds,
/// with the configuration's labels (which may have changed since); `unknown` for a target not
/// scraped yet, or whose record cannot be read.
pub fn targets(store: &dyn ObjectStore, jobs: &Jobs) -> Result<Vec<TargetHealth>, StoreError> {
    let keys: Vec<String> = jobs.targets().map(|(j, t)| health_key(j, t)).collect();
    let answers = store.get_many(&keys);
    let mut out = Vec::with_capacity(keys.len());
    for ((job, target), answer) in jobs.targets().zip(answers) {
        let stored = match answer {
            Ok(bytes) => serde_json::from_slice::<TargetHealth>(&bytes).ok(),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let mut health = stored.unwrap_or_else(|| TargetHealth::unknown(job, target));
        health.labels = target.labels.clone();
        out.push(health);
    }
    Ok(out)
}

/// What a pass did: the health of each target it scraped.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ScrapeReport {
    /// Per target scraped, in the configuration's order.
    pub targets: Vec<TargetHealth>,
}

/// Scrapes the targets `due` selects, now (`clock` gives nanoseconds since the epoch; the
/// profiles are stamped with its time when the pass begins).
pub fn run(
    store: &dyn ObjectStore,
    jobs: &Jobs,
    limits: &TenantLimits,
    due: &dyn Fn(&Job, &Target) -> bool,
    fetcher: &mut dyn Fetcher,
    clock: &dyn Fn() -> i64,
) -> ScrapeReport {
    let chosen: Vec<(&Job, &Target)> = jobs.targets().filter(|(j, t)| due(j, t)).collect();
    let mut requests = Vec::new();
    // Per request: its target's index and its profile's.
    let mut owners: Vec<(usize, usize)> = Vec::new();
    for (i, (job, target)) in chosen.iter().enumerate() {
        for (p, profile) in job.profiles.iter().enumerate() {
            requests.push(FetchRequest {
                url: job.url(target, profile),
                timeout_nanos: job.deadline_nanos(profile),
                max_bytes: job.body_size_limit,
            });
            owners.push((i, p));
        }
    }
    let started = clock();
    let mut answers: Vec<Vec<Option<Outcome>>> = chosen
        .iter()
        .map(|(j, _)| vec![None; j.profiles.len()])
        .collect();
    let mut waiting: Vec<usize> = chosen.iter().map(|(j, _)| j.profiles.len()).collect();
    let mut done: Vec<Option<TargetHealth>> = vec![None; chosen.len()];
    // A target with no profile to scrape is done at once.
    for (i, (job, target)) in chosen.iter().enumerate() {
        if job.profiles.is_empty() {
            done[i] = Some(finish(store, limits, job, target, &[], started));
        }
    }
    fetcher.fetch_all(&requests, &mut |index, outcome| {
        let Some(&(target_index, p)) = owners.get(index) else {
            return;
        };
        let (job, target) = chosen[target_index];
        // A request reported twice counts once.
        let Some(slot) = answers[target_index].get_mut(p).filter(|s| s.is_none()) else {
            return;
        };
        *slot = Some(outcome);
        waiting[target_index] -= 1;
        if waiting[target_index] == 0 {
            let outcomes = take_outcomes(&mut answers[target_index], "no answer");
            done[target_index] = Some(finish(store, limits, job, target, &outcomes, started));
        }
    });
    // Whatever the fetcher did not report is a failure too.
    for (i, (job, target)) in chosen.iter().enumerate() {
        if done[i].is_none() {
            let outcomes = take_outcomes(&mut answers[i], "not sent");
            done[i] = Some(finish(store, limits, job, target, &outcomes, started));
        }
    }
    ScrapeReport {
        targets: done.into_iter().flatten().collect(),
    }
}

/// A target's outcomes, in its profiles' order; a missing one failed for `reason`.
fn take_outcomes(slots: &mut [Option<Outcome>], reason: &str) -> Vec<Outcome> {
    slots
        .iter_mut()
        .map(|o| {
            o.take().unwrap_or(Outcome {
                result: Err(FetchError::Failed {
                    reason: reason.into(),
                }),
                elapsed_nanos: 0,
            })
        })
        .collect()
}

/// What one profile's answer yields.
struct Collected {
    profiles: Vec<Profile>,
    /// The new baseline, for a cumulative profile.
    baseline: Option<Bytes>,
    kind: &'static str,
}

/// Why a profile's answer is not stored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum Refused {
    #[error("{url}: {error}")]
    Fetch { url: String, error: FetchError },
    #[error("{url} answered {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: not a pprof profile: {reason}")]
    NotPprof { url: String, reason: String },
    #[error("{url}: {reason}")]
    Rejected { url: String, reason: String },
}

fn collect(
    store: &dyn ObjectStore,
    limits: &TenantLimits,
    job: &Job,
    target: &Target,
    profile: &ProfileScrape,
    outcome: &Outcome,
    started: i64,
) -> Result<Collected, Refused> {
    let url = job.url(target, profile);
    let fetched = outcome.result.as_ref().map_err(|e| Refused::Fetch {
        url: url.clone(),
        error: e.clone(),
    })?;
    if fetched.status != 200 {
        return Err(Refused::Status {
            url,
            status: fetched.status,
        });
    }
    let limits = limits.of(&job.tenant).ingest;
    let current =
        crate::wire::pprof::decode(&fetched.body, limits.max_profile_bytes()).map_err(|e| {
            Refused::NotPprof {
                url: url.clone(),
                reason: e.to_string(),
            }
        })?;
    let (stored, baseline, kind) = if !profile.delta && delta::is_cumulative(&current) {
        let key = baseline_key(job, target, profile);
        let previous = match store.get(&key) {
            Ok(bytes) => crate::wire::pprof::decode(&bytes, limits.max_profile_bytes()).ok(),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => {
                return Err(Refused::Rejected {
                    url,
                    reason: format!("reading its baseline: {e}"),
                });
            }
        };
        let baseline = Some(Bytes::copy_from_slice(&fetched.body));
        match delta::delta(previous.as_ref(), current) {
            Delta::Baseline => (None, baseline, "baseline"),
            Delta::Restarted(p) => (Some(p), baseline, "restarted"),
            Delta::Between(p) => (Some(p), baseline, "delta"),
        }
    } else {
        (Some(current), None, "snapshot")
    };
    let mut profiles = Vec::new();
    if let Some(p) = stored {
        let mut p = crate::wire::pprof::Flat::from(&p);
        pprof::repair(&mut p, "");
        // Stamped with when the scrape began, as Prometheus stamps samples: a target's clock
        // may be off, and one target's profiles go into one segment.
        p.time_nanos = 0;
        let mut labels = target.labels.clone();
        labels.insert(METRIC_NAME.to_string(), profile.name.clone());
        let rejected = |e: crate::Error| Refused::Rejected {
            url: url.clone(),
            reason: e.to_string(),
        };
        profiles = pprof::to_profiles(&p, &labels, None, started).map_err(rejected)?;
        profiles = limits.apply(profiles).map_err(rejected)?;
    }
    Ok(Collected {
        profiles,
        baseline,
        kind,
    })
}

/// Stores what a target's answers hold and writes its health record.
fn finish(
    store: &dyn ObjectStore,
    limits: &TenantLimits,
    job: &Job,
    target: &Target,
    outcomes: &[Outcome],
    started: i64,
) -> TargetHealth {
    let key = health_key(job, target);
    let previous = store
        .get(&key)
        .ok()
        .and_then(|b| serde_json::from_slice::<TargetHealth>(&b).ok());
    let mut health = TargetHealth::unknown(job, target);
    health.last_scrape_nanos = started;
    health.last_scrape = crate::time::rfc3339(started);
    health.scrapes = previous.as_ref().map_or(0, |p| p.scrapes) + 1;
    health.failures = previous.as_ref().map_or(0, |p| p.failures);
    let mut profiles = Vec::new();
    let mut baselines = Vec::new();
    for (profile, outcome) in job.profiles.iter().zip(outcomes) {
        let seconds = outcome.elapsed_nanos as f64 / NANOS_PER_SECOND as f64;
        health.last_scrape_duration_seconds = health.last_scrape_duration_seconds.max(seconds);
        let mut record = ProfileHealth {
            name: profile.name.clone(),
            url: job.url(target, profile),
            health: Health::Up,
            duration_seconds: seconds,
            error: String::new(),
            kind: String::new(),
            samples: 0,
        };
        match collect(store, limits, job, target, profile, outcome, started) {
            Ok(c) => {
                record.kind = c.kind.to_string();
                record.samples = c.profiles.iter().map(|p| p.samples.len()).sum();
                profiles.extend(c.profiles);
                baselines.extend(c.baseline.map(|b| (baseline_key(job, target, profile), b)));
            }
            Err(e) => {
                record.health = Health::Down;
                record.error = e.to_string();
            }
        }
        health.profiles.push(record);
    }
    if let Err(e) = store_all(store, job, &profiles, &baselines) {
        for p in &mut health.profiles {
            if p.health == Health::Up {
                p.health = Health::Down;
                p.error = e.clone();
                p.samples = 0;
            }
        }
    }
    let first_error = health.profiles.iter().find(|p| p.health == Health::Down);
    health.last_error = first_error.map(|p| p.error.clone()).unwrap_or_default();
    health.health = if first_error.is_some() {
        health.failures += 1;
        Health::Down
    } else {
        Health::Up
    };
    match serde_json::to_vec(&health) {
        Ok(json) => {
            if let Err(e) = store.put(&key, Bytes::from(json), PutMode::Overwrite) {
                tracing::warn!("writing {key}: {e}");
            }
        }
        Err(e) => tracing::warn!("encoding {key}: {e}"),
    }
    health
}

/// The segment, then the baselines; the segment goes again if a baseline cannot be written.
fn store_all(
    store: &dyn ObjectStore,
    job: &Job,
    profiles: &[Profile],
    baselines: &[(String, Bytes)],
) -> Result<(), String> {
    let outcome =
        store_profiles(store, &job.tenant, profiles).map_err(|e| format!("storing: {e}"))?;
    for (key, bytes) in baselines {
        if let Err(e) = store.put(key, bytes.clone(), PutMode::Overwrite) {
            if let Some(segment) = &outcome.key
                && let Err(d) = store.delete(segment)
            {
                tracing::warn!("removing {segment} after a failed baseline: {d}");
            }
            return Err(format!("storing the baseline: {e}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
