//! The storage census ([`flamelet::census`]) as the host uses it: asked of the component that
//! serves [`STATUS_PATH`] (so that the host, Spin and `wasmtime serve` read the bucket the same
//! way), for `flamelet status` and for the bucket and compaction series of `/metrics`.

use std::time::{Duration, Instant};

use anyhow::Context;
use flamelet::census::Census;

use crate::runtime::Runtime;
use crate::spin::Router;

/// The route that answers the census as JSON.
pub const STATUS_PATH: &str = "/flamelet/status";

/// Takes the census of `tenant`, or of every tenant, through the component routed at
/// [`STATUS_PATH`].
pub async fn take(
    runtime: &Runtime,
    router: &Router,
    tenant: Option<&str>,
) -> anyhow::Result<Census> {
    let component = router
        .route(STATUS_PATH)
        .with_context(|| format!("spin.toml routes nothing at {STATUS_PATH}"))?;
    let headers: Vec<(&str, &str)> = tenant.map(|t| ("x-scope-orgid", t)).into_iter().collect();
    let (status, body) = runtime
        .call(component, hyper::Method::GET, STATUS_PATH, &headers)
        .await?;
    if !status.is_success() {
        anyhow::bail!(
            "{STATUS_PATH} answered {status}: {}",
            String::from_utf8_lossy(&body).trim()
        );
    }
    serde_json::from_slice(&body).with_context(|| format!("reading the answer of {STATUS_PATH}"))
}

/// Keeps `/metrics`' bucket series at most `max_age` old: a scrape that finds them older takes
/// a new census first (one at a time; a failure is logged, the last census kept, and the next
/// attempt waits `max_age` too).
pub struct StorageSeries {
    max_age: Duration,
    taken: tokio::sync::Mutex<Option<Instant>>,
}

impl StorageSeries {
    /// Series refreshed when older than `max_age` (zero: at every scrape).
    pub fn new(max_age: Duration) -> Self {
        StorageSeries {
            max_age,
            taken: tokio::sync::Mutex::new(None),
        }
    }

    /// Takes a census if the last one is too old, and hands it to [`crate::metrics`].
    pub async fn refresh(&self, runtime: &Runtime, router: &Router) {
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
