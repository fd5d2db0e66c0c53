//! Recording rules delivered by Prometheus remote-write, as Pyroscope 2.x sends them: the
//! compact component, after its pass, evaluates each tenant's rules over closed windows of
//! profile time and sends the samples to the configured URL (protobuf `WriteRequest`, snappy
//! block compression, `X-Prometheus-Remote-Write-Version: 0.1.0`).
//!
//! - **What a sample is**: per window `[t, t + window)`, rule and group-by value set, the sum of
//!   the matching samples of the window's profiles (a rule's total, or its stacks through the
//!   filtered function), as stored, at the window's end. Summed over time (`sum_over_time`)
//!   they give the counters of `/exported-metrics`.
//! - **When**: a window is due once it ended `delay` ago (profiles arrive after the time they
//!   describe), and is sent once: a per-tenant watermark in the bucket says up to where
//!   samples were delivered; it moves only after the receiver accepted them. The first pass
//!   that sees rules sets it to the last closed window, so delivery starts with new data.
//! - **Retries do not duplicate**: the samples of a window depend only on the stored data, so
//!   a pass that sends them again (the watermark's put failed, or two compactors ran at once)
//!   sends the same values at the same timestamps, which Prometheus accepts as the samples it
//!   has. Data that arrives for a window after it was sent is in `/exported-metrics` but not
//!   in the remote-written series (as in Pyroscope, which records new data only).

use prost::Message;
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::storage::keys::remote_write_prefix;
use crate::storage::store::SharedStore;
use crate::storage::versioned;
use crate::tenant::Tenant;
use crate::time::TimeRange;
use crate::wire::proto::prometheus as prom;
use crate::{ErrorKind, Result};

use super::counters_over;
use super::recording::RecordingRule;
use super::recording::service::RulesConfig;
use super::rules::ExportRule;
use crate::storage::manifest::tenants;

/// The environment variable naming the receiver (`http://host:9090/api/v1/write`); unset,
/// nothing is sent.
pub const URL_ENV: &str = "FLAMELET_REMOTE_WRITE_URL";
/// The environment variable setting the window, in seconds (default 60).
pub const WINDOW_ENV: &str = "FLAMELET_REMOTE_WRITE_WINDOW_SECONDS";
/// The environment variable setting how long after its end a window is sent, in seconds
/// (default 300).
pub const DELAY_ENV: &str = "FLAMELET_REMOTE_WRITE_DELAY_SECONDS";
/// The environment variable naming a label that carries the tenant in every series (for a
/// single-tenant receiver such as Prometheus; each request also names its tenant in
/// `X-Scope-OrgID`, as Mimir and Cortex read it).
pub const TENANT_LABEL_ENV: &str = "FLAMELET_REMOTE_WRITE_TENANT_LABEL";
/// At most this many windows are sent in one pass (a receiver that was away is caught up
/// over several passes).
pub const MAX_WINDOWS_PER_PASS: usize = 60;

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// Where and how samples are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteWriteConfig {
    /// The receiver's URL.
    pub url: String,
    /// The window, in nanoseconds.
    pub window: i64,
    /// How long after its end a window is due, in nanoseconds.
    pub delay: i64,
    /// The label that carries the tenant, if any.
    pub tenant_label: Option<String>,
}

impl RemoteWriteConfig {
    /// The settings of a component's environment; `None` when no URL is set.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let Some(url) = ConfigError::read(&get, URL_ENV, "an http:// or https:// URL", |v| {
            (v.starts_with("http://") || v.starts_with("https://")).then(|| v.to_string())
        })?
        else {
            return Ok(None);
        };
        let seconds = |name, default: i64| {
            ConfigError::read(&get, name, "a whole number of seconds above 0", |v| {
                v.parse::<i64>()
                    .ok()
                    .filter(|s| *s > 0 && *s < 86_400 * 365)
            })
            .map(|s| s.unwrap_or(default) * NANOS_PER_SECOND)
        };
        let tenant_label = ConfigError::read(&get, TENANT_LABEL_ENV, "a label name", |v| {
            super::rules::is_exposed_label_name(v).then(|| v.to_string())
        })?;
        Ok(Some(RemoteWriteConfig {
            url,
            window: seconds(WINDOW_ENV, 60)?,
            delay: seconds(DELAY_ENV, 300)?,
            tenant_label,
        }))
    }

    /// The windows due at `now` after the watermark (windows before it were sent), oldest
    /// first, at most [`MAX_WINDOWS_PER_PASS`]; and the watermark to start from when there is
    /// none yet (the end of the last closed window).
    pub fn due(&self, watermark: Option<i64>, now: i64) -> (i64, Vec<TimeRange>) {
        let closed = (now - self.delay).div_euclid(self.window) * self.window;
        let start = watermark.unwrap_or(closed);
        let windows = (0..)
            .map(|i| start + i * self.window)
            .take_while(|from| from + self.window <= closed)
            .take(MAX_WINDOWS_PER_PASS)
            .map(|from| TimeRange {
                from,
                until: from + self.window - 1,
            })
            .collect();
        (start, windows)
    }
}

/// How far a tenant's samples were delivered: every window that ends at or before `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Watermark {
    until: i64,
}

/// Why the receiver did not take the samples.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// It could not be reached or failed (5xx, 429): the watermark stays, the next pass sends
    /// the same windows again.
    #[error("remote write to {url}: {reason}")]
    Unavailable {
        /// The receiver.
        url: String,
        /// What happened.
        reason: String,
    },
    /// It refused them for good (another 4xx, e.g. samples too old): sending them again would
    /// fail again, so the windows are passed over.
    #[error("remote write to {url} refused the samples: {status}: {reason}")]
    Refused {
        /// The receiver.
        url: String,
        /// Its status.
        status: u16,
        /// Its answer's first line.
        reason: String,
    },
}

impl SendError {
    /// What a receiver's answer means: 2xx taken, 429 and 5xx to be sent again, any other
    /// status refused for good.
    pub fn from_status(url: &str, status: u16, reason: &str) -> Result<(), SendError> {
        match status {
            200..=299 => Ok(()),
            429 | 500..=599 => Err(SendError::Unavailable {
                url: url.to_string(),
                reason: format!("{status}: {reason}"),
            }),
            _ => Err(SendError::Refused {
                url: url.to_string(),
                status,
                reason: reason.to_string(),
            }),
        }
    }

    /// The kind of error a pass reports.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SendError::Unavailable { .. } => ErrorKind::Unavailable,
            SendError::Refused { .. } => ErrorKind::Rejected,
        }
    }
}

/// What one pass delivered for one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// The tenant.
    pub tenant: String,
    /// Windows sent (or passed over because the receiver refused them).
    pub windows: usize,
    /// Time series in the request.
    pub series: usize,
    /// The watermark after the pass (ns).
    pub until: i64,
    /// Why the receiver refused the samples, if it did.
    pub refused: Option<String>,
}

/// The samples of `rules` over one window: one series per rule and group-by value set with
/// matching data, labelled `__name__`, the group-by labels the series have, the rule's
/// external labels and the tenant label if there is one, its sample at the window's end (ms).
pub fn window_series(
    store: &SharedStore,
    tenant: &Tenant,
    rules: &[RecordingRule],
    window: &TimeRange,
    tenant_label: Option<&str>,
) -> Result<Vec<prom::TimeSeries>> {
    let counting: Vec<ExportRule> = rules.iter().map(RecordingRule::counting_rule).collect();
    let counters = counters_over(store, tenant, &counting, window)?;
    let timestamp = (window.until + 1).div_euclid(1_000_000);
    let mut out = Vec::new();
    for rule in &counting {
        let start = (rule.key.clone(), Vec::new());
        for ((_, group), &value) in counters
            .values
            .range(start..)
            .take_while(|((key, _), _)| *key == rule.key)
        {
            let mut labels = vec![prom::Label {
                name: "__name__".to_string(),
                value: rule.name.clone(),
            }];
            let grouped = rule
                .group_by
                .iter()
                .zip(group)
                .filter(|(_, v)| !v.is_empty());
            let external = rule.external_labels.iter().map(|(n, v)| (n, v));
            for (name, value) in grouped.chain(external) {
                labels.push(prom::Label {
                    name: name.clone(),
                    value: value.clone(),
                });
            }
            if let Some(name) = tenant_label {
                // The tenant's label wins over a rule's label of the same name.
                labels.retain(|l| l.name != name);
                labels.push(prom::Label {
                    name: name.to_string(),
                    value: tenant.as_str().to_string(),
                });
            }
            labels.sort_by(|a, b| a.name.cmp(&b.name));
            out.push(prom::TimeSeries {
                labels,
                samples: vec![prom::Sample {
                    value: value as f64,
                    timestamp,
                }],
            });
        }
    }
    Ok(out)
}

/// A remote-write request body: the `WriteRequest`, snappy block-compressed.
pub fn encode(timeseries: Vec<prom::TimeSeries>) -> Vec<u8> {
    let raw = prom::WriteRequest { timeseries }.encode_to_vec();
    // Snappy's block format cannot fail on a buffer this size (it can only for inputs
    // beyond 2^32 - 1 bytes); an empty body would be refused by the receiver, not lost.
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_default()
}

/// How a request is sent: its tenant and body.
pub type Send<'a> = dyn FnMut(&Tenant, &[u8]) -> Result<(), SendError> + 'a;

/// Delivers the tenant's due windows through `send` (one request per pass), then moves the
/// watermark. `None` when the tenant has no rules.
pub fn deliver(
    store: &SharedStore,
    tenant: &Tenant,
    rules: &[RecordingRule],
    config: &RemoteWriteConfig,
    now: i64,
    send: &mut Send<'_>,
) -> Result<Option<Delivery>> {
    if rules.is_empty() {
        return Ok(None);
    }
    let prefix = remote_write_prefix(tenant);
    let watermark = versioned::load::<Watermark>(store.as_ref(), &prefix)?.map(|(_, w)| w.until);
    let (start, windows) = config.due(watermark, now);
    let mut delivery = Delivery {
        tenant: tenant.as_str().to_string(),
        until: start,
        ..Delivery::default()
    };
    let mut series = Vec::new();
    for window in &windows {
        let label = config.tenant_label.as_deref();
        series.extend(window_series(store, tenant, rules, window, label)?);
    }
    delivery.series = series.len();
    delivery.windows = windows.len();
    if let Some(last) = windows.last() {
        delivery.until = last.until + 1;
    }
    if !series.is_empty() {
        match send(tenant, &encode(series)) {
            Ok(()) => {}
            Err(e @ SendError::Refused { .. }) => {
                tracing::warn!("{e}; windows up to {} passed over", delivery.until);
                delivery.refused = Some(e.to_string());
            }
            Err(e) => return Err(e.into()),
        }
    }
    if watermark != Some(delivery.until) {
        // Never backwards: another compactor may have moved it further meanwhile.
        let until = delivery.until;
        versioned::update(store.as_ref(), &prefix, |current: Option<Watermark>, _| {
            let until = current.map_or(until, |c| c.until.max(until));
            Ok((Watermark { until }, ()))
        })?;
    }
    Ok(Some(delivery))
}

/// What one pass delivered: per tenant with rules, and the tenants whose delivery failed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    /// Tenants with rules.
    pub delivered: Vec<Delivery>,
    /// `tenant: reason` for each tenant whose delivery failed (tried again next pass).
    pub errors: Vec<String>,
}

/// Delivers every tenant's due windows of its rules (the provisioned ones and its own); one
/// tenant's failure does not stop the others.
pub fn deliver_all(
    store: &SharedStore,
    rules: &RulesConfig,
    config: &RemoteWriteConfig,
    now: i64,
    send: &mut Send<'_>,
) -> Result<DeliveryReport> {
    let mut report = DeliveryReport::default();
    for tenant in tenants(store.as_ref())? {
        let delivered = rules.rules(store.as_ref(), &tenant).and_then(|rules| {
            let rules: Vec<RecordingRule> = rules.into_iter().map(|(rule, _)| rule).collect();
            deliver(store, &tenant, &rules, config, now, send)
        });
        match delivered {
            Ok(Some(delivery)) => report.delivered.push(delivery),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!("remote write of {}: {e}", tenant.as_str());
                report.errors.push(format!("{}: {e}", tenant.as_str()));
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests;
