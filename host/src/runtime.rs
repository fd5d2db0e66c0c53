//! The wasmtime side of the host: one `Engine`, one pre-instantiated component per manifest
//! component, and a fresh `Store` (with memory and time limits) per request or cron event.
//!
//! A guest that traps, runs out of its memory cap or time fails only its own request: the
//! instance is dropped, the caller gets a 500 or 413, and the host keeps serving.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter,
    Store,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::outbound::AllowedHosts;
use crate::spin::SpinManifest;
use crate::storage::Storage;
use crate::turns::{Turn, Turns, turns};
use flamelet::storage::store::{PutMode, StoreError};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "flamelet:host/scheduled",
        imports: { default: async },
        exports: { default: async },
    });
}

use bindings::flamelet::host::store as cap;

/// Epoch tick: the granularity of the per-request time limit.
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Most elements a component's tables may grow to: far above what the components need, and
/// a bound on what a runaway guest can make the host allocate for them.
const MAX_TABLE_ELEMENTS: usize = 1_000_000;
/// Core instances (and tables) one component instance may need: a composed one has ~8.
const CORE_INSTANCES_PER_INSTANCE: u32 = 16;
/// Linear memories one component instance may need: a composed one has two.
const MEMORIES_PER_INSTANCE: u32 = 2;
/// Hex digits of a component's SHA-256 kept in its cache file's name.
const CACHE_DIGEST_HEX_DIGITS: usize = 16;

/// Per-request resource caps.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Linear memory one instance may grow to.
    pub memory_bytes: usize,
    /// Linear memory a slot keeps mapped between instances (see [`PoolingAllocationConfig`]'s
    /// `linear_memory_keep_resident`), where PAGEMAP_SCAN is available; 0: none.
    pub keep_resident_bytes: usize,
    /// Wall-clock time one request may take until its response starts.
    pub timeout: Duration,
    /// Instances alive at once (the pooling allocator's slots).
    pub max_instances: u32,
    /// Worker threads of each component's pool (see [`Pool`]): the cores, by default.
    pub worker_threads: usize,
    /// Requests of a component in `take_turns` that compute at once; the others wait their
    /// turn, in arrival order (see [`crate::turns`]); 0: no limit.
    pub concurrent_requests: usize,
    /// Components whose requests take turns.
    pub take_turns: Vec<String>,
    /// Components whose pools run at a lower priority ([`BACKGROUND_NICE`]).
    pub background: Vec<String>,
}

/// How much lower a background component's threads run: nice 5 weighs 335 against nice 0's
/// 1024 in Linux's scheduler, so under contention such a pool gets about a quarter of what a
/// normal one gets, and all the cores when alone.
pub const BACKGROUND_NICE: i32 = 5;

/// Store data of one instance.
pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: Outbound,
    storage: Arc<Storage>,
    /// The request's turn, lent to others while a storage call waits.
    turn: Turn,
    limiter: MemoryCap,
}

/// Records that a guest hit its memory cap, so the request answers 413, not 500.
struct MemoryCap {
    max: usize,
    hit: Arc<AtomicBool>,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max {
            self.hit.store(true, Ordering::Relaxed);
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// Tells whether a guest failed because its epoch deadline passed (the time limit).
fn is_interrupt(e: &wasmtime::Error) -> bool {
    e.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt)
}

/// Sends a component's outbound HTTP requests to the destinations its manifest allows
/// (`allowed_outbound_hosts`, as Spin does) and refuses every other one.
struct Outbound {
    component: Arc<str>,
    allowed: Arc<AllowedHosts>,
}

type OutgoingFuture = Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>;

impl WasiHttpHooks for Outbound {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: OutgoingFuture,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (http::Response<WasiBody>, OutgoingFuture),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        let allowed = self.allowed.allows(request.uri());
        crate::metrics::outbound_request(&self.component, allowed);
        if !allowed {
            tracing::warn!(
                "component `{}` may not send a request to {} (not in allowed_outbound_hosts)",
                self.component,
                request.uri()
            );
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (resp, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                resp.map(BodyExt::boxed_unsync),
                Box::new(io) as OutgoingFuture,
            ))
        })
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

fn to_wit(e: StoreError) -> cap::Error {
    match e {
        StoreError::NotFound { key } => cap::Error::NotFound(key),
        StoreError::AlreadyExists { key } => cap::Error::AlreadyExists(key),
        StoreError::InvalidKey { key } => cap::Error::InvalidKey(key),
        StoreError::Config { message } => cap::Error::Config(message),
        StoreError::Other { message } => cap::Error::Other(message),
        e @ StoreError::PastGrace { .. } => cap::Error::Other(e.to_string()),
    }
}

impl cap::Host for HostState {
    async fn get(&mut self, key: String) -> Result<Vec<u8>, cap::Error> {
        self.turn
            .aside(self.storage.get(&key))
            .await
            .map(|b| b.to_vec())
            .map_err(to_wit)
    }

    async fn get_range(
        &mut self,
        key: String,
        start: u64,
        end: u64,
    ) -> Result<Vec<u8>, cap::Error> {
        self.turn
            .aside(self.storage.get_range(&key, start, end))
            .await
            .map(|b| b.to_vec())
            .map_err(to_wit)
    }

    async fn get_many(&mut self, keys: Vec<String>) -> Vec<Result<Vec<u8>, cap::Error>> {
        self.turn
            .aside(self.storage.get_many(keys))
            .await
            .into_iter()
            .map(|r| r.map(|b| b.to_vec()).map_err(to_wit))
            .collect()
    }

    async fn put(
        &mut self,
        key: String,
        data: Vec<u8>,
        mode: cap::PutMode,
    ) -> Result<(), cap::Error> {
        let mode = match mode {
            cap::PutMode::Create => PutMode::Create,
            cap::PutMode::Overwrite => PutMode::Overwrite,
        };
        self.turn
            .aside(self.storage.put(&key, data.into(), mode))
            .await
            .map_err(to_wit)
    }

    async fn list(
        &mut self,
        prefix: String,
        page_token: Option<String>,
        limit: u32,
        delimited: bool,
    ) -> Result<cap::ListPage, cap::Error> {
        let page = self
            .turn
            .aside(
                self.storage
                    .list(&prefix, page_token.as_deref(), limit, delimited),
            )
            .await
            .map_err(to_wit)?;
        Ok(cap::ListPage {
            objects: page
                .objects
                .into_iter()
                .map(|o| cap::ObjectMeta {
                    key: o.key,
                    size: o.size,
                })
                .collect(),
            prefixes: page.prefixes,
            next_token: page.next_token,
        })
    }

    async fn delete(&mut self, key: String) -> Result<(), cap::Error> {
        self.turn
            .aside(self.storage.delete(&key))
            .await
            .map_err(to_wit)
    }
}

impl bindings::fermyon::spin_cron::cron_types::Host for HostState {}

/// One loaded component.
struct Loaded {
    http: Option<ProxyPre<HostState>>,
    cron: Option<bindings::ScheduledPre<HostState>>,
    env: Vec<(String, String)>,
    id: Arc<str>,
    allowed: Arc<AllowedHosts>,
    pool: Pool,
    turns: Turns,
}

/// The worker threads one component's instances run on.
///
/// A guest computes without yielding between its host calls, and every host call (a storage
/// read, say) sends it to the back of its runtime's queue. On one shared runtime a query that
/// reads 400 objects waited behind every queued upload 400 times: under 48 closed-loop upload
/// clients a fresh-hour flame graph that takes 0.5 s alone took 10–57 s (docs/benchmarks.md).
/// With a pool per component the operating system shares the cores between the pools' threads,
/// so each component keeps its share however deep another's queue is — as separate functions
/// would under Spin or SpinKube.
struct Pool(Option<tokio::runtime::Runtime>);

impl Pool {
    fn new(component: &str, threads: usize, nice: i32) -> anyhow::Result<Pool> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name(format!("flamelet-{component}"))
            .on_thread_start(move || lower_priority(nice))
            .enable_all()
            .build()
            .with_context(|| format!("starting the worker threads of `{component}`"))?;
        Ok(Pool(Some(runtime)))
    }

    fn spawn<F>(&self, task: F) -> Option<tokio::task::JoinHandle<F::Output>>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.0.as_ref().map(|r| r.spawn(task))
    }
}

/// Lowers the calling thread's scheduling priority by `nice` (Linux: a thread has its own nice
/// value). Raising it would need privileges; lowering never does.
#[cfg(target_os = "linux")]
fn lower_priority(nice: i32) {
    if nice > 0 {
        // SAFETY: gettid and setpriority take plain integers and touch no memory of ours.
        unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, nice);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority(_nice: i32) {}

impl Drop for Pool {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which an async context (the server's) may not do.
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Where component bytes come from.
pub enum Sources {
    /// Compiled into the binary, by component ID.
    Embedded(&'static [(&'static str, &'static [u8])]),
    /// The manifest's `source` paths, relative to this directory.
    Manifest(PathBuf),
}

/// The engine and every component, ready to instantiate.
pub struct Runtime {
    engine: Engine,
    components: HashMap<String, Loaded>,
    storage: Arc<Storage>,
    limits: Limits,
    /// One permit per pooling-allocator slot: a request waits for a slot instead of failing.
    slots: Arc<tokio::sync::Semaphore>,
    _ticker: EpochTicker,
}

/// Increments the engine's epoch every tick; when dropped, stops its thread and waits for it.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        });
        EpochTicker {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // At most one tick; a ticker that panicked has nothing left to stop.
            let _ = thread.join();
        }
    }
}

/// A store and the slot it occupies. Fields drop in order: the store (returning its memory to
/// the pool) before the permit that lets the next request instantiate.
struct Occupied {
    store: Store<HostState>,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

/// What became of one guest invocation.
pub enum Outcome<T> {
    /// The guest answered.
    Ok(T),
    /// The guest hit its memory cap.
    OutOfMemory,
    /// The guest ran out of time.
    TimedOut,
    /// The guest trapped or the host failed; the message says how.
    Failed(String),
}

impl Runtime {
    /// Compiles (or loads from `cache_dir`) every component and pre-instantiates it.
    pub fn load(
        manifest: &SpinManifest,
        sources: &Sources,
        storage: Arc<Storage>,
        limits: Limits,
        cache_dir: Option<&Path>,
        extra_env: &[(String, String)],
    ) -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        // `FLAMELET_PERFMAP=1`: write /tmp/perf-PID.map so that `perf` names guest functions
        // (for profiling a component as it runs under the host).
        if std::env::var_os("FLAMELET_PERFMAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(limits.max_instances);
        // A function composed with a storage provider (dist/) is two components in one: two
        // memories and about twice the core instances and tables of a plain function.
        pool.total_core_instances(limits.max_instances * CORE_INSTANCES_PER_INSTANCE);
        pool.total_memories(limits.max_instances * MEMORIES_PER_INSTANCE);
        pool.total_tables(limits.max_instances * CORE_INSTANCES_PER_INSTANCE);
        pool.total_stacks(limits.max_instances);
        pool.max_memory_size(limits.memory_bytes);
        // A fresh instance's first touch of each page of its memory is a page fault (11 % of a
        // single upload's CPU). Where Linux's PAGEMAP_SCAN finds the pages an instance dirtied,
        // the first `keep_resident_bytes` stay mapped and only those pages are reset for the
        // next instance; without it, resetting would memset the whole span every time, which
        // costs more than the faults (docs/benchmarks.md, "Resident instance memory").
        if limits.keep_resident_bytes == 0 {
            tracing::info!("instance memory: none kept resident (--keep-resident-mib 0)");
        } else if PoolingAllocationConfig::is_pagemap_scan_available() {
            pool.linear_memory_keep_resident(limits.keep_resident_bytes);
            pool.pagemap_scan(Enabled::Yes);
            tracing::info!(
                "instance memory: {} MiB kept resident per slot (PAGEMAP_SCAN)",
                limits.keep_resident_bytes >> 20
            );
        } else {
            tracing::info!("instance memory: none kept resident (no PAGEMAP_SCAN in this kernel)");
        }
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| anyhow::anyhow!("{e:?}"))?;

        let mut linker: Linker<HostState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        bindings::Scheduled::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;

        let mut components = HashMap::new();
        for (id, def) in &manifest.component {
            let bytes: Vec<u8> = match sources {
                Sources::Embedded(list) => list
                    .iter()
                    .find(|(name, _)| name == id)
                    .map(|(_, b)| b.to_vec())
                    .with_context(|| format!("component `{id}` is not embedded in this binary"))?,
                Sources::Manifest(dir) => {
                    let path = dir.join(&def.source);
                    std::fs::read(&path).with_context(|| {
                        format!("reading component `{id}` from {}", path.display())
                    })?
                }
            };
            let component = compile(&engine, id, &bytes, cache_dir)?;
            let pre = linker
                .instantiate_pre(&component)
                .map_err(|e| anyhow::anyhow!("linking component `{id}`: {e:?}"))?;
            let http = ProxyPre::new(pre.clone()).ok();
            let cron = bindings::ScheduledPre::new(pre).ok();
            // Host settings override the manifest's `environment`.
            let mut env = def.environment.clone();
            env.extend(extra_env.iter().cloned());
            let env: Vec<(String, String)> = env.into_iter().collect();
            let allowed = AllowedHosts::parse(&def.allowed_outbound_hosts)
                .with_context(|| format!("component `{id}`"))?;
            components.insert(
                id.clone(),
                Loaded {
                    http,
                    cron,
                    env,
                    id: id.as_str().into(),
                    allowed: Arc::new(allowed),
                    turns: turns(if limits.take_turns.contains(id) {
                        limits.concurrent_requests
                    } else {
                        0
                    }),
                    pool: Pool::new(
                        id,
                        limits.worker_threads,
                        if limits.background.contains(id) {
                            BACKGROUND_NICE
                        } else {
                            0
                        },
                    )?,
                },
            );
        }
        Ok(Runtime {
            _ticker: EpochTicker::start(engine.clone()),
            slots: Arc::new(tokio::sync::Semaphore::new(limits.max_instances as usize)),
            engine,
            components,
            storage,
            limits,
        })
    }

    fn new_store(&self, loaded: &Loaded, turn: Turn) -> (Store<HostState>, Arc<AtomicBool>) {
        let mut wasi = WasiCtx::builder();
        wasi.inherit_stderr();
        for (k, v) in &loaded.env {
            wasi.env(k, v);
        }
        let hit = Arc::new(AtomicBool::new(false));
        let state = HostState {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: Outbound {
                component: loaded.id.clone(),
                allowed: loaded.allowed.clone(),
            },
            storage: self.storage.clone(),
            turn,
            limiter: MemoryCap {
                max: self.limits.memory_bytes,
                hit: hit.clone(),
            },
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        let ticks = (self.limits.timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        (store, hit)
    }

    /// A request's turn among `component`'s (see [`crate::turns`]): the caller hands it to
    /// [`Runtime::handle_http`], and to the request's body if that is still arriving.
    pub fn turn(&self, component: &str) -> Turn {
        self.components
            .get(component)
            .map_or_else(Turn::default, |c| Turn::of(&c.turns))
    }

    /// Serves one HTTP request with a fresh instance of `component`, once it has its `turn`:
    /// here if its body is whole, else from its body (as [`crate::turns`] says).
    pub async fn handle_http<B>(
        &self,
        component: &str,
        req: hyper::Request<B>,
        turn: Turn,
    ) -> Outcome<hyper::Response<HyperOutgoingBody>>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let Some(loaded) = self.components.get(component) else {
            return Outcome::Failed(format!("no component `{component}`"));
        };
        let Some(pre) = loaded.http.clone() else {
            return Outcome::Failed(format!("component `{component}` has no HTTP handler"));
        };
        let Ok(slot) = self.slots.clone().acquire_owned().await else {
            return Outcome::Failed("instance slots closed".into());
        };
        // The slot before the turn, as a request whose body is still arriving takes them
        // (its body's last frame waits for the turn): the other order could leave every turn
        // waiting for a slot and every slot for a turn. The wait for a turn counts towards
        // the time limit, as the client waits it too.
        let deadline = tokio::time::Instant::now() + self.limits.timeout;
        if req.body().is_end_stream()
            && tokio::time::timeout_at(deadline, turn.take())
                .await
                .is_err()
        {
            return Outcome::TimedOut;
        }
        let (mut store, hit) = self.new_store(loaded, turn);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let prepared = (|| -> wasmtime::Result<_> {
            let req = store
                .data_mut()
                .http()
                .new_incoming_request(Scheme::Http, req)?;
            let out = store.data_mut().http().new_response_outparam(sender)?;
            Ok((req, out))
        })();
        let (req, out) = match prepared {
            Ok(v) => v,
            Err(e) => return Outcome::Failed(format!("{e:?}")),
        };
        let instance = Occupied { store, _slot: slot };
        let task = loaded.pool.spawn(async move {
            // Bind the whole struct: capturing only `instance.store` would leave the permit out.
            let mut instance = instance;
            let store = &mut instance.store;
            let started = std::time::Instant::now();
            let proxy = pre.instantiate_async(&mut *store).await?;
            crate::metrics::instantiated(started.elapsed());
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut *store, req, out)
                .await
        });
        let Some(task) = task else {
            return Outcome::Failed(format!("component `{component}` has stopped"));
        };
        match tokio::time::timeout_at(deadline, receiver).await {
            Err(_) => {
                task.abort();
                Outcome::TimedOut
            }
            Ok(Ok(Ok(resp))) => Outcome::Ok(resp),
            Ok(Ok(Err(e))) => Outcome::Failed(format!("guest answered an error: {e:?}")),
            Ok(Err(_)) => {
                let (interrupted, why) = match task.await {
                    Ok(Ok(())) => (false, "guest never set a response".to_string()),
                    Ok(Err(e)) => (is_interrupt(&e), format!("{e:?}")),
                    Err(e) => (false, format!("{e}")),
                };
                if hit.load(Ordering::Relaxed) {
                    Outcome::OutOfMemory
                } else if interrupted {
                    Outcome::TimedOut
                } else {
                    Outcome::Failed(why)
                }
            }
        }
    }

    /// Makes a bodiless request of `component` from the host itself (`flamelet compact`, the
    /// storage census): its status and whole body; a guest failure is an error that says which.
    pub async fn call(
        &self,
        component: &str,
        method: hyper::Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<(hyper::StatusCode, Bytes)> {
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(format!("http://localhost{path_and_query}"));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req.body(
            Full::new(Bytes::new())
                .map_err(|never| -> wasmtime_wasi_http::Error { match never {} }),
        )?;
        let resp = match self.handle_http(component, req, self.turn(component)).await {
            Outcome::Ok(resp) => resp,
            Outcome::OutOfMemory => anyhow::bail!("`{component}` exceeded its memory limit"),
            Outcome::TimedOut => anyhow::bail!("`{component}` exceeded its time limit"),
            Outcome::Failed(why) => anyhow::bail!("`{component}` failed: {why}"),
        };
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| anyhow::anyhow!("reading the answer of `{component}`: {e:?}"))?
            .to_bytes();
        Ok((status, body))
    }

    /// Delivers a cron event to `component`'s `handle-cron-event`.
    pub async fn handle_cron(&self, component: &str, timestamp: u64) -> Outcome<()> {
        let Some(loaded) = self.components.get(component) else {
            return Outcome::Failed(format!("no component `{component}`"));
        };
        let Some(pre) = loaded.cron.clone() else {
            return Outcome::Failed(format!(
                "component `{component}` does not export handle-cron-event"
            ));
        };
        let Ok(slot) = self.slots.clone().acquire_owned().await else {
            return Outcome::Failed("instance slots closed".into());
        };
        let (mut store, hit) = self.new_store(loaded, Turn::default());
        let run = loaded.pool.spawn(async move {
            // The slot is given back when the store is gone, even after an abort.
            let _slot = slot;
            let started = std::time::Instant::now();
            let instance = pre.instantiate_async(&mut store).await?;
            crate::metrics::instantiated(started.elapsed());
            instance
                .call_handle_cron_event(
                    &mut store,
                    bindings::fermyon::spin_cron::cron_types::Metadata { timestamp },
                )
                .await
        });
        let Some(mut run) = run else {
            return Outcome::Failed(format!("component `{component}` has stopped"));
        };
        match tokio::time::timeout(self.limits.timeout, &mut run).await {
            Err(_) => {
                run.abort();
                Outcome::TimedOut
            }
            Ok(Err(e)) => Outcome::Failed(format!("{e}")),
            Ok(Ok(r)) => match r {
                Ok(Ok(())) => Outcome::Ok(()),
                Ok(Err(bindings::fermyon::spin_cron::cron_types::Error::Other(m))) => {
                    Outcome::Failed(m)
                }
                Err(_) if hit.load(Ordering::Relaxed) => Outcome::OutOfMemory,
                Err(e) => Outcome::Failed(format!("{e:?}")),
            },
        }
    }
}

/// Builds a response with a fixed body, in the body type guests' responses have.
pub fn fixed_response(
    status: u16,
    content_type: &str,
    body: impl Into<Bytes>,
) -> hyper::Response<HyperOutgoingBody> {
    let body = Full::new(body.into())
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut resp = hyper::Response::new(body);
    *resp.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = content_type.parse() {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}

/// Compiles a component, reusing machine code cached under `cache_dir` when the bytes and the
/// engine configuration are unchanged.
fn compile(
    engine: &Engine,
    id: &str,
    bytes: &[u8],
    cache_dir: Option<&Path>,
) -> anyhow::Result<Component> {
    let Some(dir) = cache_dir else {
        return Component::new(engine, bytes)
            .map_err(|e| anyhow::anyhow!("compiling `{id}`: {e:?}"));
    };
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let digest = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(bytes))
    };
    let path = dir.join(format!(
        "{id}-{}-{:016x}.cwasm",
        &digest[..CACHE_DIGEST_HEX_DIGITS],
        hasher.finish()
    ));
    if path.exists() {
        // SAFETY: the file was written by `precompile_component` of an engine with the same
        // compatibility hash (it is in the name), in a directory only this tool writes.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(c) => return Ok(c),
            Err(e) => tracing::warn!("ignoring unusable cache file {}: {e:?}", path.display()),
        }
    }
    let started = std::time::Instant::now();
    let compiled = engine
        .precompile_component(bytes)
        .map_err(|e| anyhow::anyhow!("compiling `{id}`: {e:?}"))?;
    tracing::info!("compiled component `{id}` in {:.1?}", started.elapsed());
    if std::fs::create_dir_all(dir).is_ok() {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, &compiled).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
    }
    // SAFETY: the bytes were just produced by this engine's `precompile_component`.
    unsafe { Component::deserialize(engine, &compiled) }
        .map_err(|e| anyhow::anyhow!("loading `{id}`: {e:?}"))
}
