//! Scrape jobs: the `scrape_configs` of the server configuration file, in the shape of
//! Prometheus' and Phlare's (job name, static targets with labels, scheme, interval, timeout,
//! and per profile type whether it is scraped, at which path, and whether the target computes
//! the delta), checked into [`Job`]s and their [`Target`]s.
//!
//! The host turns the file's YAML into JSON for the scrape component's environment
//! ([`SCRAPE_CONFIGS_ENV`]); the component reads it back with [`Jobs::from_env`], so the same
//! checks run where the file is loaded and where it is used.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::profile::{METRIC_NAME, SERVICE_NAME, validate_label_name};
use crate::tenant::Tenant;
use crate::time::{NANOS_PER_SECOND, parse_duration};

/// The scrape jobs as JSON (a list of [`JobSpec`]).
pub const SCRAPE_CONFIGS_ENV: &str = "FLAMELET_SCRAPE_CONFIGS";

/// Prometheus' defaults: every 15 s, 10 s to answer.
const DEFAULT_INTERVAL_SECS: u64 = 15;
const DEFAULT_TIMEOUT_SECS: u64 = 10;
/// The most a target's answer may hold, as sent, unless the job says otherwise.
pub const DEFAULT_BODY_SIZE_LIMIT: usize = 16 << 20;

/// A job as the configuration file writes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// The job's name: the `job` label, and `service_name` unless a target's labels set it.
    pub job_name: String,
    /// The tenant its profiles are stored for (default `anonymous`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// How often each target is scraped (`15s`; whole seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_interval: Option<String>,
    /// How long a target may take to answer (`10s`), on top of the seconds a delta profile
    /// takes to collect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_timeout: Option<String>,
    /// `http` (default) or `https`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// The most an answer may hold, as sent (`16MiB`, `512KB`, or bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_size_limit: Option<serde_json::Value>,
    /// The targets, with their labels.
    #[serde(default)]
    pub static_configs: Vec<StaticSpec>,
    /// Which profiles are scraped, and how.
    #[serde(default)]
    pub profiling_config: ProfilingSpec,
}

/// `static_configs` entry: `host:port` targets sharing labels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticSpec {
    /// `host:port` of each target.
    pub targets: Vec<String>,
    /// Labels every profile of these targets gets.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// `profiling_config`, as Phlare wrote it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfilingSpec {
    /// Put before every profile's path (`/app` for `/app/debug/pprof/heap`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    /// By profile name: the built-in ones change their defaults, any other name is a custom
    /// profile (its `path` is required).
    #[serde(default)]
    pub pprof_config: BTreeMap<String, ProfileSpec>,
}

/// One profile's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    /// Whether it is scraped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The path on the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Whether the target computes the delta itself over `?seconds=` (the scrape interval less
    /// one second); otherwise the profile is a snapshot, and its cumulative sample types become
    /// deltas between consecutive scrapes here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<bool>,
}

/// The built-in profiles: name, path, scraped by default, delta by default (as Grafana Alloy's
/// `pyroscope.scrape`, except that `memory` reads `/debug/pprof/heap`).
const BUILT_IN: [(&str, &str, bool, bool); 6] = [
    ("process_cpu", "/debug/pprof/profile", true, true),
    ("memory", "/debug/pprof/heap", true, false),
    ("goroutine", "/debug/pprof/goroutine", true, false),
    ("mutex", "/debug/pprof/mutex", true, false),
    ("block", "/debug/pprof/block", true, false),
    ("fgprof", "/debug/fgprof", false, true),
];

/// Why the scrape jobs cannot be used; each names the job and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScrapeConfigError {
    /// The JSON of [`SCRAPE_CONFIGS_ENV`] (or the file's section) does not have the shape.
    #[error("scrape_configs: {message}")]
    Shape {
        /// serde's message.
        message: String,
    },
    /// A setting of a job is unusable.
    #[error("scrape_configs: job `{job}`: {setting} `{value}` {reason}")]
    Setting {
        /// The job's name.
        job: String,
        /// The setting's name.
        setting: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Two jobs have the same name.
    #[error("scrape_configs: job name `{job}` is used twice")]
    DuplicateJob {
        /// The name.
        job: String,
    },
}

/// How a profile is scraped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileScrape {
    /// The profile's name: its `__name__` label (`process_cpu`, `memory`, or a custom name).
    pub name: String,
    /// The path on the target, with the prefix and any query the configuration gave.
    pub path: String,
    /// Whether the target computes the delta over `?seconds=`.
    pub delta: bool,
}

/// A checked job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Its name.
    pub name: String,
    /// The tenant its profiles are stored for.
    pub tenant: Tenant,
    /// Seconds between scrapes of a target.
    pub interval_secs: u64,
    /// How long a target may take to answer, in nanoseconds.
    pub timeout_nanos: i64,
    /// `http` or `https`.
    pub scheme: String,
    /// The most an answer may hold, as sent.
    pub body_size_limit: usize,
    /// The profiles each target is scraped for.
    pub profiles: Vec<ProfileScrape>,
    /// Its targets.
    pub targets: Vec<Target>,
}

/// One target of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host:port`.
    pub instance: String,
    /// The labels of its profiles: `service_name`, `job`, `instance`, and the configured ones.
    pub labels: BTreeMap<String, String>,
}

/// Every job of the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Jobs {
    /// In the configuration's order.
    pub jobs: Vec<Job>,
}

impl Jobs {
    /// Checks the configuration's jobs.
    pub fn new(specs: &[JobSpec]) -> Result<Self, ScrapeConfigError> {
        let mut jobs: Vec<Job> = Vec::with_capacity(specs.len());
        for spec in specs {
            let job = Job::new(spec)?;
            if jobs.iter().any(|j| j.name == job.name) {
                return Err(ScrapeConfigError::DuplicateJob { job: job.name });
            }
            jobs.push(job);
        }
        Ok(Jobs { jobs })
    }

    /// Reads the jobs from [`SCRAPE_CONFIGS_ENV`] (none when unset).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, ScrapeConfigError> {
        let Some(json) = get(SCRAPE_CONFIGS_ENV).filter(|j| !j.trim().is_empty()) else {
            return Ok(Jobs::default());
        };
        let specs: Vec<JobSpec> =
            serde_json::from_str(&json).map_err(|e| ScrapeConfigError::Shape {
                message: e.to_string(),
            })?;
        Jobs::new(&specs)
    }

    /// Every target with its job, in the configuration's order.
    pub fn targets(&self) -> impl Iterator<Item = (&Job, &Target)> {
        self.jobs
            .iter()
            .flat_map(|j| j.targets.iter().map(move |t| (j, t)))
    }

    /// The `scheme://host:port` of every target: what the scrape component may reach.
    pub fn destinations(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .targets()
            .map(|(j, t)| format!("{}://{}", j.scheme, t.instance))
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

impl Job {
    fn new(spec: &JobSpec) -> Result<Self, ScrapeConfigError> {
        let name = spec.job_name.trim().to_string();
        let bad =
            |setting: &'static str, value: &str, reason: &'static str| ScrapeConfigError::Setting {
                job: name.clone(),
                setting,
                value: value.to_string(),
                reason,
            };
        if name.is_empty() {
            return Err(bad("job_name", &spec.job_name, "is empty"));
        }
        let tenant = Tenant::from_header(spec.tenant.as_deref()).map_err(|_| {
            bad(
                "tenant",
                spec.tenant.as_deref().unwrap_or(""),
                "is not a valid tenant ID",
            )
        })?;
        let seconds = |setting, value: &Option<String>, default: u64| match value {
            None => Ok(default),
            Some(v) => parse_duration(v.trim())
                .filter(|n| *n >= NANOS_PER_SECOND && n % NANOS_PER_SECOND == 0)
                .map(|n| (n / NANOS_PER_SECOND) as u64)
                .ok_or_else(|| {
                    bad(
                        setting,
                        v,
                        "is not a duration of whole seconds such as 15s or 1m",
                    )
                }),
        };
        let interval_secs = seconds(
            "scrape_interval",
            &spec.scrape_interval,
            DEFAULT_INTERVAL_SECS,
        )?;
        let timeout_secs = seconds(
            "scrape_timeout",
            &spec.scrape_timeout,
            DEFAULT_TIMEOUT_SECS.min(interval_secs),
        )?;
        if timeout_secs > interval_secs {
            return Err(bad(
                "scrape_timeout",
                spec.scrape_timeout.as_deref().unwrap_or(""),
                "is longer than scrape_interval",
            ));
        }
        let scheme = spec.scheme.as_deref().unwrap_or("http").to_string();
        if scheme != "http" && scheme != "https" {
            return Err(bad("scheme", &scheme, "is not http or https"));
        }
        let body_size_limit = match &spec.body_size_limit {
            None => DEFAULT_BODY_SIZE_LIMIT,
            Some(v) => {
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                parse_size(&text).ok_or_else(|| {
                    bad(
                        "body_size_limit",
                        &text,
                        "is not a size such as 16MiB, 512KB or 1048576",
                    )
                })?
            }
        };
        let prefix = spec.profiling_config.path_prefix.as_deref().unwrap_or("");
        if !prefix.is_empty() && (!prefix.starts_with('/') || prefix.contains(['?', '#'])) {
            return Err(bad(
                "path_prefix",
                prefix,
                "must start with / and hold no query",
            ));
        }
        let prefix = prefix.trim_end_matches('/');
        let configured = &spec.profiling_config.pprof_config;
        for (profile, p) in configured {
            if validate_label_name(profile).is_err() {
                return Err(bad(
                    "pprof_config",
                    profile,
                    "is not a profile name (letters, digits, _)",
                ));
            }
            if let Some(path) = &p.path
                && (!path.starts_with('/') || path.contains('#'))
            {
                return Err(bad("path", path, "must start with /"));
            }
        }
        let mut profiles = Vec::new();
        for (profile, path, enabled, delta) in BUILT_IN {
            let p = configured.get(profile).cloned().unwrap_or_default();
            if p.enabled.unwrap_or(enabled) {
                profiles.push(ProfileScrape {
                    name: profile.to_string(),
                    path: format!("{prefix}{}", p.path.as_deref().unwrap_or(path)),
                    delta: p.delta.unwrap_or(delta),
                });
            }
        }
        for (profile, p) in configured {
            if BUILT_IN.iter().any(|b| b.0 == profile) || !p.enabled.unwrap_or(true) {
                continue;
            }
            let path = p.path.as_deref().ok_or_else(|| {
                bad(
                    "pprof_config",
                    profile,
                    "is a custom profile without a path",
                )
            })?;
            profiles.push(ProfileScrape {
                name: profile.clone(),
                path: format!("{prefix}{path}"),
                delta: p.delta.unwrap_or(false),
            });
        }
        let mut targets = Vec::new();
        for group in &spec.static_configs {
            for label in group.labels.keys() {
                if validate_label_name(label).is_err()
                    || label.starts_with("__")
                    || label == METRIC_NAME
                {
                    return Err(bad("labels", label, "is not a label name a target may set"));
                }
            }
            for instance in &group.targets {
                let instance = instance.trim();
                if !valid_instance(instance) {
                    return Err(bad("targets", instance, "is not host:port"));
                }
                let mut labels = BTreeMap::new();
                labels.insert(SERVICE_NAME.to_string(), name.clone());
                labels.insert("job".to_string(), name.clone());
                labels.insert("instance".to_string(), instance.to_string());
                labels.extend(group.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
                targets.push(Target {
                    instance: instance.to_string(),
                    labels,
                });
            }
        }
        Ok(Job {
            name,
            tenant,
            interval_secs,
            timeout_nanos: timeout_secs as i64 * NANOS_PER_SECOND,
            scheme,
            body_size_limit,
            profiles,
            targets,
        })
    }

    /// Seconds a delta profile is collected over: the interval less one second, so that a
    /// scrape ends before the next begins.
    pub fn delta_seconds(&self) -> u64 {
        self.interval_secs.saturating_sub(1).max(1)
    }

    /// The URL `profile` is read from on `target`.
    pub fn url(&self, target: &Target, profile: &ProfileScrape) -> String {
        let mut url = format!("{}://{}{}", self.scheme, target.instance, profile.path);
        if profile.delta {
            url.push(if profile.path.contains('?') { '&' } else { '?' });
            url.push_str(&format!("seconds={}", self.delta_seconds()));
        }
        url
    }

    /// How long reading `profile` may take: the timeout, plus the seconds of a delta profile.
    pub fn deadline_nanos(&self, profile: &ProfileScrape) -> i64 {
        let collecting = if profile.delta {
            self.delta_seconds() as i64 * NANOS_PER_SECOND
        } else {
            0
        };
        self.timeout_nanos + collecting
    }

    /// Whether `target` is scraped at second `ts` (Unix time): every interval, each target at
    /// its own offset, so that a job's targets are spread over the interval and each is
    /// scraped once per interval by a trigger that fires every second.
    pub fn is_due(&self, target: &Target, ts: u64) -> bool {
        let offset = target_hash(&self.name, &target.instance) as u64 % self.interval_secs;
        ts % self.interval_secs == offset
    }

    /// The key segment naming `target`'s scrape state in the bucket (its job and instance
    /// hashed: an instance may hold characters keys may not).
    pub fn target_id(&self, target: &Target) -> String {
        format!("{:032x}", target_hash(&self.name, &target.instance))
    }
}

fn target_hash(job: &str, instance: &str) -> u128 {
    let text = format!("{job}\0{instance}");
    twox_hash::XxHash3_128::oneshot(text.as_bytes())
}

/// `host:port`, `host`, `[v6]:port`: an authority without user info, path or query.
fn valid_instance(instance: &str) -> bool {
    !instance.is_empty()
        && !instance.contains(['/', '?', '#', '@', ' ', '\\'])
        && !instance.contains("://")
        && instance.chars().all(|c| c.is_ascii_graphic())
        && match instance.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') && host.contains(':') => {
                // An IPv6 address without brackets: ambiguous.
                let _ = port;
                false
            }
            Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok(),
            None => true,
        }
}

/// `16MiB`, `512KB`, `1GB`, `100B`, `1048576`.
fn parse_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: usize = number.parse().ok()?;
    let scale: usize = match unit.trim() {
        "" | "B" => 1,
        "KB" => 1000,
        "MB" => 1000 * 1000,
        "GB" => 1000 * 1000 * 1000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(scale).filter(|n| *n > 0)
}

#[cfg(test)]
mod tests;
