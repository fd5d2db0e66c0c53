//! The host's own Prometheus metrics, served at `GET /metrics`: object-store operations and
//! bytes (what a bucket bills), instantiation time (what serverless costs per request),
//! requests by component and status, their latency by component and method, what each
//! tenant's accepted uploads held (the ingest component says so in a header the host takes
//! off), L0 segments compaction set aside as unreadable, and what the bucket holds per tenant
//! and level with the compaction lag and retention's deletions (from the newest storage
//! census, `crate::census`).

use std::sync::{Arc, LazyLock, RwLock};
use std::time::Duration;

use flamelet::census::Census;
use flamelet::scrape::TargetHealth;
use flamelet::scrape::pass::Health;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The instantiation histogram's first bucket: 10 µs (a pooled instance of a small component).
const INSTANTIATE_BUCKET_START_SECONDS: f64 = 1e-5;
/// Doubling buckets from 10 µs: the last is about 5 s (a cold compile of a large component).
const INSTANTIATE_BUCKETS: u16 = 20;

/// An object-store call as the bucket sees it.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Op {
    /// A whole-object or ranged read.
    Get,
    /// A write.
    Put,
    /// One listing call.
    List,
    /// A delete.
    Delete,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabels {
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutboundLabels {
    component: String,
    allowed: bool,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectLabels {
    component: String,
    tenant: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    component: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabels {
    tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    component: String,
    method: String,
}

/// Request durations: doubling buckets from 1 ms to ~65 s (past the default time limit).
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1e-3, 2.0, 17))
}

struct Metrics {
    registry: Registry,
    ingested_profiles: Family<TenantLabels, Counter>,
    ingested_samples: Family<TenantLabels, Counter>,
    ingested_bytes: Family<TenantLabels, Counter>,
    durations: Family<DurationLabels, Histogram, fn() -> Histogram>,
    operations: Family<OpLabels, Counter>,
    read_bytes: Counter,
    written_bytes: Counter,
    instantiate: Histogram,
    requests: Family<RequestLabels, Counter>,
    rejected: Family<RejectLabels, Counter>,
    outbound: Family<OutboundLabels, Counter>,
    quarantined: Counter,
    storage: Arc<StorageSeries>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LevelLabels {
    tenant: String,
    level: &'static str,
}

/// The series of the newest storage census, encoded from it at each scrape (so that a tenant
/// retention emptied leaves no stale series).
#[derive(Debug, Default)]
struct StorageSeries {
    census: RwLock<Option<Census>>,
    /// The scrape targets' health, as `/targets` last answered it.
    targets: RwLock<Vec<TargetHealth>>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabels {
    job: String,
    instance: String,
}

impl StorageSeries {
    /// `flamelet_scrape_target_*`: per target, whether its last scrape worked, how long it
    /// took, when it was, and the scrapes and failures so far (targets not scraped yet have
    /// none).
    fn encode_targets(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let targets = self.targets.read().unwrap_or_else(|e| e.into_inner());
        let scraped: Vec<&TargetHealth> = targets
            .iter()
            .filter(|t| t.health != Health::Unknown)
            .collect();
        if scraped.is_empty() {
            return Ok(());
        }
        type Value = fn(&TargetHealth) -> f64;
        let families: [(&str, &str, MetricType, Value); 5] = [
            (
                "flamelet_scrape_target_up",
                "1 when every profile of the target's last scrape was read and stored, else 0",
                MetricType::Gauge,
                |t| f64::from(u8::from(t.health == Health::Up)),
            ),
            (
                "flamelet_scrape_target_duration_seconds",
                "How long the target's last scrape took (its slowest profile)",
                MetricType::Gauge,
                |t| t.last_scrape_duration_seconds,
            ),
            (
                "flamelet_scrape_target_last_scrape_timestamp_seconds",
                "When the target's last scrape began",
                MetricType::Gauge,
                |t| t.last_scrape_nanos as f64 / 1e9,
            ),
            (
                "flamelet_scrape_target_scrapes",
                "Scrapes of the target so far (kept in the bucket: survives restarts)",
                MetricType::Counter,
                |t| t.scrapes as f64,
            ),
            (
                "flamelet_scrape_target_failures",
                "Scrapes of the target that failed in part or whole",
                MetricType::Counter,
                |t| t.failures as f64,
            ),
        ];
        for (name, help, kind, value) in families {
            let mut family = encoder.encode_descriptor(name, help, None, kind)?;
            for t in &scraped {
                let labels = TargetLabels {
                    job: t.job.clone(),
                    instance: t.instance.clone(),
                };
                let metric = family.encode_family(&labels)?;
                match kind {
                    MetricType::Counter => ConstCounter::new(value(t) as u64).encode(metric)?,
                    _ => ConstGauge::new(value(t)).encode(metric)?,
                }
            }
        }
        Ok(())
    }
}

impl Collector for StorageSeries {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        self.encode_targets(&mut encoder)?;
        let census = self.census.read().unwrap_or_else(|e| e.into_inner());
        let Some(census) = census.as_ref() else {
            return Ok(());
        };
        let gauge = MetricType::Gauge;
        ConstGauge::new(census.taken_at as f64 / 1e9).encode(encoder.encode_descriptor(
            "flamelet_storage_census_timestamp_seconds",
            "When the census the bucket and compaction series come from was taken",
            None,
            gauge,
        )?)?;
        let per_level = |encoder: &mut DescriptorEncoder,
                         name: &str,
                         help: &str,
                         value: fn(flamelet::census::Usage) -> u64|
         -> Result<(), std::fmt::Error> {
            let mut family = encoder.encode_descriptor(name, help, None, gauge)?;
            for t in &census.tenants {
                for (class, usage) in t.levels.each() {
                    let labels = LevelLabels {
                        tenant: t.tenant.clone(),
                        level: class.name(),
                    };
                    ConstGauge::new(value(usage) as i64).encode(family.encode_family(&labels)?)?;
                }
            }
            Ok(())
        };
        per_level(
            &mut encoder,
            "flamelet_bucket_objects",
            "Objects in the bucket by tenant and level (l0 uploads, hour and day segments, replaced segments awaiting deletion, manifests, quarantine records, other)",
            |u| u.objects,
        )?;
        per_level(
            &mut encoder,
            "flamelet_bucket_bytes",
            "Bytes in the bucket by tenant and level",
            |u| u.bytes,
        )?;
        let per_tenant = |encoder: &mut DescriptorEncoder,
                          name: &str,
                          help: &str,
                          kind: MetricType,
                          value: &dyn Fn(&flamelet::census::TenantCensus) -> Option<f64>|
         -> Result<(), std::fmt::Error> {
            let mut family = encoder.encode_descriptor(name, help, None, kind)?;
            for t in &census.tenants {
                let Some(v) = value(t) else { continue };
                let labels = TenantLabels {
                    tenant: t.tenant.clone(),
                };
                let metric = family.encode_family(&labels)?;
                match kind {
                    MetricType::Counter => ConstCounter::new(v as u64).encode(metric)?,
                    _ => ConstGauge::new(v).encode(metric)?,
                }
            }
            Ok(())
        };
        per_tenant(
            &mut encoder,
            "flamelet_compaction_lag_seconds",
            "How long the tenant's oldest upload not yet merged by compaction had waited (0: none waits)",
            gauge,
            &|t| Some(t.compaction_lag_nanos(census.taken_at) as f64 / 1e9),
        )?;
        per_tenant(
            &mut encoder,
            "flamelet_compaction_backlog_segments",
            "The tenant's uploads not yet merged by compaction (what a query reads one by one)",
            gauge,
            &|t| Some(t.uncompacted.objects as f64),
        )?;
        per_tenant(
            &mut encoder,
            "flamelet_last_compaction_timestamp_seconds",
            "When compaction last published a manifest of the tenant",
            gauge,
            &|t| t.last_compaction.map(|ns| ns as f64 / 1e9),
        )?;
        per_tenant(
            &mut encoder,
            "flamelet_retention_deleted_days",
            "Filing days of the tenant retention has deleted (kept in the bucket: survives restarts)",
            MetricType::Counter,
            &|t| Some(t.retention_deleted_days as f64),
        )?;
        Ok(())
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::default();
    let operations = Family::<OpLabels, Counter>::default();
    registry.register(
        "flamelet_object_store_operations",
        "Object-store calls made, by operation",
        operations.clone(),
    );
    let read_bytes = Counter::default();
    registry.register(
        "flamelet_object_store_read_bytes",
        "Bytes read from the object store",
        read_bytes.clone(),
    );
    let written_bytes = Counter::default();
    registry.register(
        "flamelet_object_store_written_bytes",
        "Bytes written to the object store",
        written_bytes.clone(),
    );
    let instantiate = Histogram::new(exponential_buckets(
        INSTANTIATE_BUCKET_START_SECONDS,
        2.0,
        INSTANTIATE_BUCKETS,
    ));
    registry.register(
        "flamelet_instantiate_seconds",
        "Time to instantiate a component for one request or cron event",
        instantiate.clone(),
    );
    let requests = Family::<RequestLabels, Counter>::default();
    registry.register(
        "flamelet_http_requests",
        "HTTP requests answered, by component and status",
        requests.clone(),
    );
    let rejected = Family::<RejectLabels, Counter>::default();
    registry.register(
        "flamelet_rejected_requests",
        "Requests refused (4xx), by component, tenant (empty when its id was invalid) and reason: the limit broken or what was wrong",
        rejected.clone(),
    );
    let outbound = Family::<OutboundLabels, Counter>::default();
    registry.register(
        "flamelet_outbound_requests",
        "HTTP requests components sent (a composed storage provider's calls to its bucket), by component and whether allowed_outbound_hosts let them out",
        outbound.clone(),
    );
    let storage = Arc::new(StorageSeries::default());
    registry.register_collector(Box::new(storage.clone()));
    let quarantined = Counter::default();
    registry.register(
        "flamelet_quarantined_segments",
        "Unreadable L0 segments compaction set aside (each records why under tenants/*/quarantine/ and in its day's manifest)",
        quarantined.clone(),
    );
    let ingested_profiles = Family::<TenantLabels, Counter>::default();
    registry.register(
        "flamelet_ingested_profiles",
        "Profiles stored, by tenant",
        ingested_profiles.clone(),
    );
    let ingested_samples = Family::<TenantLabels, Counter>::default();
    registry.register(
        "flamelet_ingested_samples",
        "Sample rows stored (one per stack and profile), by tenant",
        ingested_samples.clone(),
    );
    let ingested_bytes = Family::<TenantLabels, Counter>::default();
    registry.register(
        "flamelet_ingested_bytes",
        "Request-body bytes of accepted uploads, as sent (compressed if they were), by tenant",
        ingested_bytes.clone(),
    );
    let durations: Family<DurationLabels, Histogram, fn() -> Histogram> =
        Family::new_with_constructor(duration_histogram);
    registry.register(
        "flamelet_request_duration_seconds",
        "Time from a request's arrival to its answer, by component and method (the Connect method or HTTP route)",
        durations.clone(),
    );
    Metrics {
        registry,
        ingested_profiles,
        ingested_samples,
        ingested_bytes,
        durations,
        quarantined,
        storage,
        outbound,
        operations,
        read_bytes,
        written_bytes,
        instantiate,
        requests,
        rejected,
    }
});

/// Counts one object-store call.
pub fn object_store(op: Op) {
    let operation = match op {
        Op::Get => "get",
        Op::Put => "put",
        Op::List => "list",
        Op::Delete => "delete",
    };
    METRICS
        .operations
        .get_or_create(&OpLabels { operation })
        .inc();
}

/// Counts bytes read from the object store.
pub fn read_bytes(n: usize) {
    METRICS.read_bytes.inc_by(n as u64);
}

/// Counts bytes written to the object store.
pub fn written_bytes(n: usize) {
    METRICS.written_bytes.inc_by(n as u64);
}

/// Records one instantiation.
pub fn instantiated(took: Duration) {
    METRICS.instantiate.observe(took.as_secs_f64());
}

/// Counts one answered request (`component` is `host` for what the host answers itself).
pub fn request(component: &str, status: u16) {
    METRICS
        .requests
        .get_or_create(&RequestLabels {
            component: component.to_string(),
            status,
        })
        .inc();
}

/// Counts what one accepted upload of `tenant` held.
pub fn ingested(tenant: &str, what: flamelet::ingest::Ingested) {
    let labels = TenantLabels {
        tenant: tenant.to_string(),
    };
    let m = &*METRICS;
    m.ingested_profiles
        .get_or_create(&labels)
        .inc_by(what.profiles);
    m.ingested_samples
        .get_or_create(&labels)
        .inc_by(what.samples);
    m.ingested_bytes.get_or_create(&labels).inc_by(what.bytes);
}

/// Records how long one request took to answer.
pub fn answered(component: &str, method: &str, took: Duration) {
    METRICS
        .durations
        .get_or_create(&DurationLabels {
            component: component.to_string(),
            method: method.to_string(),
        })
        .observe(took.as_secs_f64());
}

/// Counts one refused request.
pub fn rejected(component: &str, tenant: &str, reason: &str) {
    METRICS
        .rejected
        .get_or_create(&RejectLabels {
            component: component.to_string(),
            tenant: tenant.to_string(),
            reason: reason.to_string(),
        })
        .inc();
}

/// Counts one outbound HTTP request of `component`, sent or refused.
pub fn outbound_request(component: &str, allowed: bool) {
    METRICS
        .outbound
        .get_or_create(&OutboundLabels {
            component: component.to_string(),
            allowed,
        })
        .inc();
}

/// Counts one quarantine record written (once per segment: records are create-only).
pub fn quarantined() {
    METRICS.quarantined.inc();
}

/// Replaces the bucket and compaction series with those of `census`.
/// Keeps the scrape targets' health for the target series.
pub fn scrape_targets(targets: Vec<TargetHealth>) {
    let mut held = METRICS
        .storage
        .targets
        .write()
        .unwrap_or_else(|e| e.into_inner());
    *held = targets;
}

pub fn storage_census(census: Census) {
    let mut held = METRICS
        .storage
        .census
        .write()
        .unwrap_or_else(|e| e.into_inner());
    *held = Some(census);
}

/// Everything in the Prometheus text format.
pub fn render() -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &METRICS.registry);
    out
}
