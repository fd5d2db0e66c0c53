//! `flamelet`: CLI definitions plus glue. `serve` runs the HTTP routes and cron triggers of
//! `spin.toml` with the embedded WASM components on an object store; `compact` runs one
//! compaction pass through the compact component and prints what it did.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use serde_json::Value;

use flamelet_bucket::s3_settings;
use flamelet_host::census::{self, StorageSeries};
use flamelet_host::config::{COMPACT_PATH, Config, LimitFlags, SCRAPE_PATH};
use flamelet_host::runtime::{Limits, Outcome, Runtime, Sources};
use flamelet_host::server;
use flamelet_host::spin::{Router, SpinManifest};
use flamelet_host::storage::Storage;

/// The repository's `spin.toml`, as built into this binary.
const EMBEDDED_MANIFEST: &str = include_str!(env!("FLAMELET_SPIN_TOML"));

/// The components built by `build.rs`, by `spin.toml` component ID.
static EMBEDDED_COMPONENTS: &[(&str, &[u8])] = &[
    ("ingest", include_bytes!(env!("FLAMELET_COMPONENT_INGEST"))),
    ("query", include_bytes!(env!("FLAMELET_COMPONENT_QUERY"))),
    (
        "compact",
        include_bytes!(env!("FLAMELET_COMPONENT_COMPACT")),
    ),
    ("scrape", include_bytes!(env!("FLAMELET_COMPONENT_SCRAPE"))),
    ("ui", include_bytes!(env!("FLAMELET_COMPONENT_UI"))),
];

/// Linear memory one request may use by default, in MiB.
const DEFAULT_MEMORY_LIMIT_MIB: usize = 1024;
/// Time one request may take by default, in seconds.
const DEFAULT_TIMEOUT_SECS: u64 = 60;
/// Instances alive at once by default (the pooling allocator's slots).
const DEFAULT_MAX_INSTANCES: u32 = 64;
/// Linear memory a pool slot keeps mapped between instances, in MiB: an upload's instance
/// touches a few MiB, and faulting them in again cost 11 % of its CPU; queries gained nothing
/// from 64 (docs/benchmarks.md, "Resident instance memory").
const DEFAULT_KEEP_RESIDENT_MIB: usize = 8;

#[derive(Parser)]
#[command(
    name = "flamelet",
    version,
    about = "Continuous-profiling backend compatible with Grafana Pyroscope"
)]
struct Cli {
    /// How log lines are written on stderr: `text` for people, or `json`, one object per
    /// line with each request's id, tenant, status and duration as fields, for log
    /// collectors. RUST_LOG picks what is logged.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API and run the cron triggers.
    Serve(ServeArgs),
    /// Run one compaction pass and print what it did (safe while a server runs).
    Compact(CommonArgs),
    /// Show what the storage holds: per tenant and day, objects and bytes by level, uploads
    /// compaction has not merged yet and the oldest one's wait, the last compaction,
    /// quarantined uploads and the days retention deleted (safe while a server runs).
    Status(StatusArgs),
    /// Build the deployable artefact: each function composed with a storage provider
    /// component (importing only wasi:*) and a spin.toml for Spin, SpinKube or wasmtime serve.
    Package(PackageArgs),
    /// Create a credential for the configuration file's `auth` section: prints its entry
    /// (the secret's argon2 hash) on stdout and the secret, shown once, on stderr.
    Credential(CredentialArgs),
}

#[derive(Args)]
struct StatusArgs {
    /// Only this tenant (an `X-Scope-OrgID` value).
    #[arg(long)]
    tenant: Option<String>,
    /// Print the census as JSON, as `GET /flamelet/status` answers it.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
struct CredentialArgs {
    /// Its name: the basic-auth user, and a bearer token's part before the first `.`.
    #[arg(long)]
    name: String,
    /// The tenant it reads or writes (needed for `read` and `write`).
    #[arg(long)]
    tenant: Option<String>,
    /// What it may do: `read`, `write`, `metrics`, `compact` (comma-separated).
    #[arg(long, value_delimiter = ',', required = true)]
    scopes: Vec<String>,
    /// Read the secret from stdin (a password an agent already has) instead of generating one.
    #[arg(long)]
    secret_from_stdin: bool,
}

#[derive(Args)]
struct PackageArgs {
    /// The storage provider component (functions/s3-store; scripts/package.sh builds it).
    #[arg(long)]
    provider: PathBuf,
    /// Where to write the components and spin.toml.
    #[arg(long, default_value = "dist")]
    out: PathBuf,
    /// The S3 bucket, written into spin.toml (else give FLAMELET_S3_BUCKET at deploy time).
    #[arg(long, env = s3_settings::BUCKET)]
    s3_bucket: Option<String>,
    /// A key prefix inside the bucket.
    #[arg(long, env = s3_settings::PREFIX)]
    s3_prefix: Option<String>,
    /// An S3-compatible endpoint (MinIO, …); AWS's regional endpoint when unset.
    #[arg(long, env = s3_settings::ENDPOINT)]
    s3_endpoint: Option<String>,
    /// The region.
    #[arg(long, env = s3_settings::REGION, default_value = s3_settings::DEFAULT_REGION)]
    s3_region: String,
    /// Allow a plain-HTTP endpoint.
    #[arg(long, env = s3_settings::ALLOW_HTTP)]
    s3_allow_http: bool,
    /// More environment for every component, KEY=VALUE (repeatable).
    #[arg(long = "env", value_parser = key_value)]
    env: Vec<(String, String)>,
    /// A server configuration file whose rules and remote-write go into spin.toml (the
    /// remote-write receiver into the compact component's allowed_outbound_hosts).
    #[arg(long)]
    config: Option<PathBuf>,
}

fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

#[derive(Args)]
struct CommonArgs {
    /// Where data lives: a directory, file://DIR, memory://, s3://BUCKET[/PREFIX]?endpoint=…,
    /// gs://BUCKET, az://CONTAINER. Credentials come from the usual environment variables.
    #[arg(long, env = "FLAMELET_STORAGE", default_value = "./data")]
    storage: String,
    /// A Spin manifest to read instead of the embedded one; component sources are then read
    /// from the paths it names.
    #[arg(long, env = "FLAMELET_MANIFEST")]
    manifest: Option<PathBuf>,
    /// Where compiled components are cached (default: $XDG_CACHE_HOME/flamelet or ~/.cache/flamelet).
    #[arg(long, env = "FLAMELET_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Linear memory one request's instance may use, in MiB.
    #[arg(long, default_value_t = DEFAULT_MEMORY_LIMIT_MIB)]
    memory_limit_mib: usize,
    /// Linear memory, from its start, that each instance slot keeps mapped for the next
    /// instance, in MiB (only where Linux's PAGEMAP_SCAN resets just the dirtied pages; 0:
    /// none). Each slot ever used keeps up to this much resident.
    #[arg(long, env = "FLAMELET_KEEP_RESIDENT_MIB", default_value_t = DEFAULT_KEEP_RESIDENT_MIB)]
    keep_resident_mib: usize,
    /// Time one request may take before its response starts, in seconds.
    #[arg(long, default_value_t = DEFAULT_TIMEOUT_SECS)]
    timeout_secs: u64,
    /// Instances alive at once; further requests wait for a slot.
    #[arg(long, default_value_t = DEFAULT_MAX_INSTANCES)]
    max_instances: u32,
    /// Components whose requests take turns (comma separated; "" for none): at most
    /// `--concurrent-requests` of each compute at once, the others wait in arrival order,
    /// which finishes each sooner than sharing the cores between all of them would. Queries,
    /// by default.
    #[arg(long, value_delimiter = ',', default_value = "query")]
    take_turns: Vec<String>,
    /// How many requests of a component that takes turns compute at once (default: twice
    /// the cores; the cores suit a server whose uploads are not in the background). A request
    /// takes its turn once its body has arrived and lends it while a storage call waits.
    /// 0: no limit.
    #[arg(long)]
    concurrent_requests: Option<usize>,
    /// Components whose requests run at a lower priority when the cores are busy (comma
    /// separated; "" for none): uploads, by default, which agents send in the background,
    /// so that people waiting for a flame graph, and compaction, which keeps queries cheap,
    /// come first. Each component runs on worker threads of its own.
    #[arg(long, value_delimiter = ',', default_value = "ingest")]
    background: Vec<String>,
    /// Seconds between replacing a segment or manifest and deleting it (longer than any query).
    #[arg(long, env = "FLAMELET_COMPACTION_GRACE_SECONDS")]
    compaction_grace_secs: Option<u64>,
    /// Longest time range a query may span (24h, 7d, …); a longer one is a 400. Default: none.
    #[arg(long, env = "FLAMELET_MAX_QUERY_LENGTH")]
    max_query_length: Option<String>,
    /// How far back a query may reach (7d, …); an earlier start is clamped. Default: none.
    #[arg(long, env = "FLAMELET_MAX_QUERY_LOOKBACK")]
    max_query_lookback: Option<String>,
    /// How long profiles are kept (31d, …): queries never reach further back, and compaction
    /// deletes whole days past it (after the grace period). 0 keeps everything (the default);
    /// overrides the configuration file's `limits.retention_period`.
    #[arg(long, env = "FLAMELET_RETENTION")]
    retention: Option<String>,
    /// Flame-graph nodes when a query names no limit (default 8192).
    #[arg(long, env = "FLAMELET_MAX_FLAMEGRAPH_NODES_DEFAULT")]
    max_flamegraph_nodes_default: Option<usize>,
    /// The largest node limit a query may ask for (default 1048576).
    #[arg(long, env = "FLAMELET_MAX_FLAMEGRAPH_NODES_MAX")]
    max_flamegraph_nodes_max: Option<usize>,
    /// An environment variable for every component, KEY=VALUE (repeatable), as `spin up
    /// --env` gives it: e.g. the S3 provider's credentials for a packaged app.
    #[arg(long = "env", value_parser = key_value)]
    env: Vec<(String, String)>,
    /// The server configuration file (Pyroscope's YAML format; `metrics-export-rules` is
    /// read, other keys ignored). A bad rule stops the server at start.
    #[arg(long, env = "FLAMELET_CONFIG")]
    config: Option<PathBuf>,
    /// Staging files of interrupted local writes (`KEY#N`) older than this many seconds are
    /// removed (by `serve` at start and hourly, by `compact` before its pass); a write under
    /// way is far younger.
    #[arg(long, default_value_t = 3600)]
    staging_age_secs: u64,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the address is logged).
    #[arg(long, env = "FLAMELET_LISTEN", default_value = "127.0.0.1:4040")]
    listen: SocketAddr,
    /// Do not run the cron triggers (compaction then runs only through `flamelet compact`).
    #[arg(long)]
    no_cron: bool,
    /// `/metrics`' bucket series (objects and bytes by tenant and level, compaction lag,
    /// retention's deletions) come from a storage census, which lists the bucket: a scrape
    /// takes a new one when the last is older than this many seconds.
    #[arg(long, env = "FLAMELET_STORAGE_CENSUS_SECS", default_value_t = 30)]
    storage_census_secs: u64,
    #[command(flatten)]
    common: CommonArgs,
}

struct Loaded {
    manifest: SpinManifest,
    runtime: Arc<Runtime>,
    storage: Arc<Storage>,
    /// The configuration file's credentials, when authentication is on.
    auth: Option<flamelet::auth::Auth>,
    /// How many scrape targets the configuration file has.
    scrape_targets: usize,
}

fn cache_dir(explicit: Option<PathBuf>) -> Option<PathBuf> {
    explicit.or_else(|| {
        std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .map(|d| d.join("flamelet"))
    })
}

const GRACE_ENV: &str = flamelet::compact::CompactionConfig::ENV_GRACE_SECONDS;
const PASS_ENV: &str = flamelet::compact::CompactionConfig::ENV_PASS_SECONDS;
const L0_GRACE_ENV: &str = flamelet::compact::CompactionConfig::ENV_L0_GRACE_SECONDS;
/// How often staging files of interrupted writes are looked for.
const STAGING_SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// Refuses to serve when a query may outlive the compaction grace period: a query that read a
/// manifest version must finish before what the next version replaced is deleted, so the
/// grace period (as the compact component will read it: the flag, else an `--env`, else the
/// manifest's, else the default) must be at least twice the request time limit.
fn check_grace(
    timeout_secs: u64,
    flag: Option<u64>,
    env: Option<String>,
    manifest: &SpinManifest,
) -> anyhow::Result<()> {
    let from_manifest = manifest
        .component
        .values()
        .find_map(|c| c.environment.get(GRACE_ENV).cloned());
    let named = match (flag, env, from_manifest) {
        (Some(secs), _, _) => Ok((secs, "--compaction-grace-secs".to_string())),
        (None, Some(v), _) => Err((v, format!("--env {GRACE_ENV}"))),
        (None, None, Some(v)) => Err((v, format!("the manifest's {GRACE_ENV}"))),
        (None, None, None) => Ok((
            (flamelet::compact::DEFAULT_GRACE_NANOS / flamelet::time::NANOS_PER_SECOND) as u64,
            "the default compaction grace period".to_string(),
        )),
    };
    let (grace, source) = match named {
        Ok(known) => known,
        Err((v, source)) => (
            v.parse::<u64>()
                .with_context(|| format!("{source} `{v}` is not a whole number of seconds"))?,
            source,
        ),
    };
    anyhow::ensure!(
        grace >= timeout_secs.saturating_mul(2),
        "{source} ({grace} s) must be at least twice --timeout-secs ({timeout_secs} s): a query \
         may not outlive the grace period of the segments it reads"
    );
    Ok(())
}

/// The Spin manifest to run (`--manifest`, or the embedded one) and where its components are.
fn read_manifest(path: Option<&Path>) -> anyhow::Result<(SpinManifest, Sources)> {
    Ok(match path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let dir = path.parent().map(PathBuf::from).unwrap_or_default();
            (SpinManifest::parse(&text)?, Sources::Manifest(dir))
        }
        None => (
            SpinManifest::parse(EMBEDDED_MANIFEST)?,
            Sources::Embedded(EMBEDDED_COMPONENTS),
        ),
    })
}

/// Opens the storage and compiles the manifest's components.
fn load(
    args: CommonArgs,
    (mut manifest, sources): (SpinManifest, Sources),
) -> anyhow::Result<Loaded> {
    let storage = Arc::new(Storage::open(&args.storage)?);
    tracing::info!("storage: {}", storage.describe());
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let limits = Limits {
        memory_bytes: args.memory_limit_mib << 20,
        keep_resident_bytes: args.keep_resident_mib.min(args.memory_limit_mib) << 20,
        timeout: Duration::from_secs(args.timeout_secs.max(1)),
        max_instances: args.max_instances.max(1),
        worker_threads: cores,
        // Twice the cores: one waiting to compute as each computes (docs/benchmarks.md, "Turns").
        concurrent_requests: args.concurrent_requests.unwrap_or(2 * cores),
        take_turns: args.take_turns.clone(),
        background: args.background.clone(),
    };
    // A compaction pass starts no merge after half the time limit, so the merge under way
    // when it runs out still finishes; merged uploads are kept for the L0 grace period, or
    // the time limit if that is shorter, as no query outlives it (an `--env` of its own
    // overrides either).
    let l0_grace_secs =
        flamelet::compact::DEFAULT_L0_GRACE_NANOS / flamelet::time::NANOS_PER_SECOND;
    let mut env = vec![
        (
            PASS_ENV.to_string(),
            (args.timeout_secs / 2).max(1).to_string(),
        ),
        (
            L0_GRACE_ENV.to_string(),
            args.timeout_secs.clamp(1, l0_grace_secs as u64).to_string(),
        ),
    ];
    if let Some(grace) = args.compaction_grace_secs {
        env.push((GRACE_ENV.to_string(), grace.to_string()));
    }
    // The query limits set on the command line win over the configuration file's defaults.
    let mut flags = LimitFlags::new();
    for (name, value) in [
        ("max_query_length", args.max_query_length.map(Value::from)),
        (
            "max_query_lookback",
            args.max_query_lookback.map(Value::from),
        ),
        (
            "max_flamegraph_nodes_default",
            args.max_flamegraph_nodes_default.map(Value::from),
        ),
        (
            "max_flamegraph_nodes_max",
            args.max_flamegraph_nodes_max.map(Value::from),
        ),
    ] {
        if let Some(value) = value {
            flags.insert(name.to_string(), value);
        }
    }
    let mut config = Config::load(args.config.as_deref(), &flags)?;
    // Compaction sends the recording rules' samples; scraping reaches the targets.
    let router = Router::new(manifest.http_triggers());
    for (component, destinations) in config.outbound_hosts(&router) {
        for destination in destinations {
            manifest.allow(&component, &destination);
        }
    }
    if let Some(path) = &args.config {
        tracing::info!(
            "{}: {} metrics-export-rules, {} recording-rules, {} scrape targets",
            path.display(),
            config.rules,
            config.recording_rules,
            config.scrape_targets
        );
    }
    env.extend(config.env());
    if let Some(period) = args.retention {
        env.push((flamelet::retention::Retention::ENV.to_string(), period));
    }
    env.extend(args.env);
    // A bad period stops here, with its name, instead of failing every query and pass.
    flamelet::retention::Retention::from_config(|name| {
        env.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    })?;
    let runtime = Runtime::load(
        &manifest,
        &sources,
        storage.clone(),
        limits,
        cache_dir(args.cache_dir).as_deref(),
        &env,
    )?;
    Ok(Loaded {
        manifest,
        runtime: Arc::new(runtime),
        storage,
        auth: config.auth.take(),
        scrape_targets: config.scrape_targets,
    })
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let (timeout, grace_flag) = (args.common.timeout_secs, args.common.compaction_grace_secs);
    let grace_env = args
        .common
        .env
        .iter()
        .rev()
        .find(|(k, _)| k == GRACE_ENV)
        .map(|(_, v)| v.clone());
    // Checked before the components are compiled: a refusal should not take seconds.
    let read = read_manifest(args.common.manifest.as_deref())?;
    check_grace(timeout, grace_flag, grace_env, &read.0)?;
    let staging_age = Duration::from_secs(args.common.staging_age_secs);
    let Loaded {
        manifest,
        runtime,
        storage,
        auth,
        scrape_targets,
    } = load(args.common, read)?;
    if let Some(auth) = &auth {
        tracing::info!("authentication on: {} credentials", auth.len());
    }
    let gate = auth.map(|a| Arc::new(flamelet_host::auth::Gate::new(a)));
    // Writes a server killed mid-put left behind: at start and every hour, in the
    // background, so that a large data directory does not delay serving.
    tokio::spawn(async move {
        let mut hourly = tokio::time::interval(STAGING_SWEEP_EVERY);
        loop {
            hourly.tick().await;
            let storage = storage.clone();
            let _ = tokio::task::spawn_blocking(move || storage.sweep_staging(staging_age)).await;
        }
    });
    let router = Arc::new(Router::new(manifest.http_triggers()));
    let series = Arc::new(StorageSeries::new(
        Duration::from_secs(args.storage_census_secs),
        scrape_targets > 0,
    ));
    if !args.no_cron {
        // Without scrape jobs the scrape component has nothing to do every second.
        let idle = (scrape_targets == 0)
            .then(|| router.route(SCRAPE_PATH))
            .flatten();
        for trigger in manifest.cron_triggers() {
            if idle == Some(trigger.component.as_str()) {
                continue;
            }
            let schedule = cron::Schedule::from_str(&trigger.cron_expression)
                .with_context(|| format!("cron_expression `{}`", trigger.cron_expression))?;
            let (runtime, component) = (runtime.clone(), trigger.component.clone());
            tokio::spawn(async move {
                for next in schedule.upcoming(chrono::Utc) {
                    let wait = (next - chrono::Utc::now()).to_std().unwrap_or_default();
                    tokio::time::sleep(wait).await;
                    // Each event runs on its own, as under Spin: a scrape that collects a CPU
                    // profile for 14 s must not delay the targets due next second.
                    let (runtime, component) = (runtime.clone(), component.clone());
                    tokio::spawn(async move {
                        match runtime
                            .handle_cron(&component, next.timestamp() as u64)
                            .await
                        {
                            Outcome::Ok(()) => tracing::debug!("cron `{component}` ran"),
                            Outcome::OutOfMemory => {
                                tracing::error!("cron `{component}` exceeded its memory limit")
                            }
                            Outcome::TimedOut => {
                                tracing::error!("cron `{component}` exceeded its time limit")
                            }
                            Outcome::Failed(why) => {
                                tracing::error!("cron `{component}` failed: {why}")
                            }
                        }
                    });
                }
            });
        }
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    // Tests and scripts read this line to find the port.
    eprintln!("flamelet listening on http://{}", listener.local_addr()?);
    tokio::select! {
        r = server::serve(runtime, router, gate, series, listener) => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

async fn compact(args: CommonArgs) -> anyhow::Result<()> {
    let read = read_manifest(args.manifest.as_deref())?;
    let staging_age = Duration::from_secs(args.staging_age_secs);
    let Loaded {
        manifest,
        runtime,
        storage,
        ..
    } = load(args, read)?;
    storage.sweep_staging(staging_age);
    let router = Router::new(manifest.http_triggers());
    let component = router
        .route(COMPACT_PATH)
        .with_context(|| format!("spin.toml routes nothing at {COMPACT_PATH}"))?;
    let (status, body) = runtime
        .call(component, hyper::Method::POST, COMPACT_PATH, &[])
        .await
        .context("compaction")?;
    println!("{}", String::from_utf8_lossy(&body).trim_end());
    if !status.is_success() {
        bail!("compaction answered {status}");
    }
    Ok(())
}

async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let read = read_manifest(args.common.manifest.as_deref())?;
    let Loaded {
        manifest, runtime, ..
    } = load(args.common, read)?;
    let router = Router::new(manifest.http_triggers());
    let census = census::take(&runtime, &router, args.tenant.as_deref()).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&census)?);
    } else {
        print!("{}", census.table());
    }
    Ok(())
}

fn credential(args: CredentialArgs) -> anyhow::Result<()> {
    let scopes = args
        .scopes
        .iter()
        .map(|s| {
            serde_json::from_value(serde_json::Value::String(s.trim().to_string())).map_err(|_| {
                anyhow::anyhow!("unknown scope `{s}`: read, write, metrics or compact")
            })
        })
        .collect::<anyhow::Result<Vec<flamelet::auth::Scope>>>()?;
    let secret = if args.secret_from_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        flamelet_host::auth::new_secret()
    };
    let spec = flamelet::auth::CredentialSpec {
        name: args.name.clone(),
        secret_hash: flamelet_host::auth::hash_secret(&secret)?,
        tenant: args.tenant,
        scopes,
    };
    // The same checks as the server's, so that what is printed loads.
    flamelet::auth::Auth::from_spec(&flamelet::auth::AuthSpec {
        credentials: vec![spec.clone()],
    })?;
    print!("{}", yaml_serde::to_string(&vec![spec])?);
    eprintln!("bearer token: {}.{secret}", args.name);
    eprintln!("basic auth: user {}, password {secret}", args.name);
    Ok(())
}

fn package(args: PackageArgs) -> anyhow::Result<()> {
    use flamelet_host::package;
    let provider = std::fs::read(&args.provider)
        .with_context(|| format!("reading the provider {}", args.provider.display()))?;
    let mut environment: std::collections::BTreeMap<String, String> = [
        (s3_settings::BUCKET, args.s3_bucket),
        (s3_settings::PREFIX, args.s3_prefix),
        (s3_settings::ENDPOINT, args.s3_endpoint.clone()),
        (s3_settings::REGION, Some(args.s3_region.clone())),
        (
            s3_settings::ALLOW_HTTP,
            args.s3_allow_http.then(|| "true".to_string()),
        ),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some((k.to_string(), v?)))
    .collect();
    let mut component_outbound_hosts = std::collections::BTreeMap::new();
    if let Some(path) = &args.config {
        let config = Config::load(Some(path), &LimitFlags::new())?;
        environment.extend(config.packaged_env());
        let manifest = SpinManifest::parse(EMBEDDED_MANIFEST)?;
        component_outbound_hosts = config.outbound_hosts(&Router::new(manifest.http_triggers()));
    }
    environment.extend(args.env);
    let deployment = package::Deployment {
        environment,
        allowed_outbound_hosts: vec![package::s3_destination(
            args.s3_endpoint.as_deref(),
            &args.s3_region,
        )?],
        component_outbound_hosts,
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    for (id, function) in EMBEDDED_COMPONENTS {
        let packaged = if package::needs_store(function)? {
            package::compose(function, &provider)
                .with_context(|| format!("composing component `{id}`"))?
        } else {
            function.to_vec()
        };
        package::check_only_wasi(id, &packaged)?;
        let path = args.out.join(package::file_name(id));
        std::fs::write(&path, &packaged).with_context(|| format!("writing {}", path.display()))?;
        println!("{} ({} bytes)", path.display(), packaged.len());
    }
    let path = args.out.join("spin.toml");
    std::fs::write(
        &path,
        package::dist_manifest(EMBEDDED_MANIFEST, &deployment)?,
    )
    .with_context(|| format!("writing {}", path.display()))?;
    println!("{}", path.display());
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,wasmtime=warn,cranelift=warn".into()),
        )
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        // Fields at the top level of each object, as collectors index them.
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    };
    match cli.command {
        Command::Serve(args) => runtime()?.block_on(serve(args)),
        Command::Compact(args) => runtime()?.block_on(compact(args)),
        Command::Status(args) => runtime()?.block_on(status(args)),
        Command::Package(args) => package(args),
        Command::Credential(args) => credential(args),
    }
}
