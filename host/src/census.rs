//! The storage census ([`flamelet::census`]) and the scrape targets' health
//! ([`flamelet::scrape::pass::targets`]) as the host uses them: asked of the components that
//! serve [`STATUS_PATH`] and [`TARGETS_PATH`] (so that the host, Spin and `wasmtime serve` read
//! the bucket the same way), for `flamelet status` and for the bucket, compaction and target
//! series of `/metrics`.

use std::time::{Duration, Instant};

use anyhow::Context;
use flamelet::census::Census;
use flamelet::scrape::TargetHealth;

use crate::runtime::Runtime;
use crate::spin::Router;

/// The route that answers the census as JSON.
pub const STATUS_PATH: &str = "/flamelet/status";

/// The route that answers the scrape targets' health as JSON.
pub const TARGETS_PATH: &str = "/targets";

/// Takes the census of `tenant`, or of every tenant, through the component routed at
/// [`STATUS_PATH`].
pub async fn take(
    runtime: &Runtime,
    router: &Router,
    tenant: Option<&str>,
) -> anyhow::Result<Census> {
    let headers: Vec<(&str, &str)> = tenant.map(|t| ("x-scope-orgid", t)).into_iter().collect();
    get_json(runtime, router, STATUS_PATH, &headers).await
}

/// Every scrape target's health, through the component routed at [`TARGETS_PATH`]; none when
/// nothing is routed there.
pub async fn targets(runtime: &Runtime, router: &Router) -> anyhow::Result<Vec<TargetHealth>> {
    #[derive(serde::Deserialize)]
    struct Listed {
        targets: Vec<TargetHealth>,
    }
    if router.route(TARGETS_PATH).is_none() {
        return Ok(Vec::new());
    }
    let listed: Listed = get_json(runtime, router, TARGETS_PATH, &[]).await?;
    Ok(listed.targets)
}

/// `GET path` of the component routed there, its JSON answer read as `T`.
async fn get_json<T: serde::de::DeserializeOwned>(
    runtime: &Runtime,
    router: &Router,
    path: &str,
    headers: &[(&str, &str)],
) -> anyhow::Result<T> {
    let component = router
        .route(path)
        .with_context(|| format!("spin.toml routes nothing at {path}"))?;
    let (status, body) = runtime
        .call(component, hyper::Method::GET, path, headers)
        .await?;
    if !status.is_success() {
        anyhow::bail!(
            "{path} answered {status}: {}",
            String::from_utf8_lossy(&body).trim()
        );
    }
    serde_json::from_slice(&body).with_context(|| format!("reading the answer of {path}"))
}

/// Keeps `/metrics`' bucket series at most `max_age` old: a scrape that finds them older takes
/// a new census first (one at a time; a failure is logged, the last census kept, and the next
/// attempt waits `max_age` too).
pub struct StorageSeries {
    max_age: Duration,
    taken: tokio::sync::Mutex<Option<Instant>>,
    /// Whether scrape targets are configured (else no instance is made to list none).
    scrape_targets: bool,
}

impl StorageSeries {
    /// Series refreshed when older than `max_age` (zero: at every scrape); the targets' health
    /// at every scrape when there are `scrape_targets`.
    pub fn new(max_age: Duration, scrape_targets: bool) -> Self {
        StorageSeries {
            max_age,
            taken: tokio::sync::Mutex::new(None),
            scrape_targets,
        }
    }

    /// Reads the targets' health when there are any (one small object per target, so every
    /// scrape sees the last pass), takes a census if the last one is too old, and hands both
    /// to [`crate::metrics`].
    pub async fn refresh(&self, runtime: &Runtime, router: &Router) {
        if self.scrape_targets {
            match targets(runtime, router).await {
                Ok(targets) => crate::metrics::scrape_targets(targets),
                Err(e) => tracing::warn!("scrape targets for /metrics: {e:#}"),
            }
        }
        let mut taken = self.taken.lock().await;
        if taken.is_some_and(|at| at.elapsed() < self.max_age) {
            return;
        }
        // A failed attempt counts too: a bucket that times out must not hold up every scrape.
        *taken = Some(Instant::now());
        match take(runtime, router, None).await {
            Ok(census) => crate::metrics::storage_census(census),
            Err(e) => tracing::warn!("storage census for /metrics: {e:#}"),
        }
    }
}
