//! The S3 storage provider component (`functions/s3-store`) in a test host that links it the
//! way a composition does: the core's storage conformance suite calls its exports, and it
//! reaches moto's S3 server through the host's `wasi:http/outgoing-handler`.

use std::ops::Range;
use std::sync::Mutex;

use bytes::Bytes;
use flamelet::storage::conformance;
use flamelet::storage::store::{ListPage, ObjectMeta, ObjectStore, PutMode, StoreError};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::util::dist;
use crate::util::faults::{Fault, FaultProxy};
use crate::util::s3::S3Server;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "flamelet:host/store-provider",
        imports: { default: async },
        exports: { default: async },
    });
}

use bindings::exports::flamelet::host::store as cap;

/// Sends every outgoing request (the test's only destination is moto on loopback).
struct SendAll;

impl WasiHttpHooks for SendAll {}

struct State {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: SendAll,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// One instance of the provider with `env`, seen as the core's `ObjectStore`.
struct Provider {
    runtime: tokio::runtime::Runtime,
    instance: Mutex<(Store<State>, bindings::StoreProvider)>,
}

impl Provider {
    fn start(env: &[(&str, &str)]) -> Provider {
        let mut config = Config::new();
        config.wasm_component_model(true);
        let engine = Engine::new(&config).unwrap();
        let component = Component::from_file(&engine, dist::provider()).unwrap();
        let mut linker: Linker<State> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).unwrap();
        let mut wasi = WasiCtx::builder();
        wasi.inherit_stderr();
        for (k, v) in env {
            wasi.env(k, v);
        }
        let mut store = Store::new(
            &engine,
            State {
                wasi: wasi.build(),
                http: WasiHttpCtx::new(),
                table: ResourceTable::new(),
                hooks: SendAll,
            },
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let instance = runtime
            .block_on(bindings::StoreProvider::instantiate_async(
                &mut store, &component, &linker,
            ))
            .unwrap();
        Provider {
            runtime,
            instance: Mutex::new((store, instance)),
        }
    }

    fn call<T>(
        &self,
        f: impl AsyncFnOnce(&mut Store<State>, &cap::Guest) -> wasmtime::Result<T>,
    ) -> T {
        let mut guard = self.instance.lock().unwrap();
        let (store, instance) = &mut *guard;
        self.runtime
            .block_on(f(store, instance.flamelet_host_store()))
            .expect("the provider trapped")
    }
}

fn core_error(e: cap::Error) -> StoreError {
    match e {
        cap::Error::NotFound(key) => StoreError::NotFound { key },
        cap::Error::AlreadyExists(key) => StoreError::AlreadyExists { key },
        cap::Error::InvalidKey(key) => StoreError::InvalidKey { key },
        cap::Error::Config(message) => StoreError::Config { message },
        cap::Error::Other(message) => StoreError::Other { message },
    }
}

impl ObjectStore for Provider {
    fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        self.call(async |s, p| p.call_get(s, key).await)
            .map(Bytes::from)
            .map_err(core_error)
    }

    fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        self.call(async |s, p| p.call_get_range(s, key, range.start, range.end).await)
            .map(Bytes::from)
            .map_err(core_error)
    }

    fn get_many(&self, keys: &[String]) -> Vec<Result<Bytes, StoreError>> {
        self.call(async |s, p| p.call_get_many(s, keys).await)
            .into_iter()
            .map(|r| r.map(Bytes::from).map_err(core_error))
            .collect()
    }

    fn put(&self, key: &str, data: Bytes, mode: PutMode) -> Result<(), StoreError> {
        let mode = match mode {
            PutMode::Overwrite => cap::PutMode::Overwrite,
            PutMode::Create => cap::PutMode::Create,
        };
        self.call(async |s, p| p.call_put(s, key, &data, mode).await)
            .map_err(core_error)
    }

    fn list(
        &self,
        prefix: &str,
        token: Option<&str>,
        limit: u32,
        delimited: bool,
    ) -> Result<ListPage, StoreError> {
        let page = self
            .call(async |s, p| p.call_list(s, prefix, token, limit, delimited).await)
            .map_err(core_error)?;
        Ok(ListPage {
            objects: page
                .objects
                .into_iter()
                .map(|o| ObjectMeta {
                    key: o.key,
                    size: o.size,
                })
                .collect(),
            prefixes: page.prefixes,
            next_token: page.next_token,
        })
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.call(async |s, p| p.call_delete(s, key).await)
            .map_err(core_error)
    }
}

#[test]
fn the_provider_conforms_on_s3() {
    let s3 = S3Server::start();
    s3.bucket("provider", "");
    conformance::check(&Provider::start(&dist::provider_env(
        &s3.endpoint,
        "provider",
        "",
    )));
    conformance::check(&Provider::start(&dist::provider_env(
        &s3.endpoint,
        "provider",
        "some/prefix",
    )));
    let keys = s3.keys("provider");
    assert!(
        keys.iter().any(|k| k.starts_with("some/prefix/")),
        "{keys:?}"
    );
}

#[test]
fn listings_are_paged_by_the_bucket() {
    let s3 = S3Server::start();
    s3.bucket("pages", "");
    let p = Provider::start(&dist::provider_env(&s3.endpoint, "pages", ""));
    let keys: Vec<String> = (0..25).map(|i| format!("t/{i:03}")).collect();
    for k in &keys {
        p.put(k, Bytes::from_static(b"x"), PutMode::Create).unwrap();
    }
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = p.list("t/", token.as_deref(), 10, false).unwrap();
        assert!(page.objects.len() <= 10);
        seen.extend(page.objects.into_iter().map(|o| o.key));
        match page.next_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(seen, keys);
}

#[test]
fn a_missing_or_bad_setting_names_the_variable_and_does_not_trap() {
    let p = Provider::start(&[("AWS_ACCESS_KEY_ID", "test")]);
    match p.get("a/b") {
        Err(StoreError::Config { message }) => {
            assert!(
                message.starts_with("FLAMELET_S3_BUCKET is not set"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
    let mut bad = dist::provider_env("http://127.0.0.1:1", "b", "");
    bad.push(("FLAMELET_S3_ALLOW_HTTP", "yes please"));
    bad.retain(|(k, v)| *k != "FLAMELET_S3_ALLOW_HTTP" || *v != "true");
    let p = Provider::start(&bad);
    match p.put("a/b", Bytes::new(), PutMode::Create) {
        Err(StoreError::Config { message }) => {
            assert!(
                message.contains("FLAMELET_S3_ALLOW_HTTP=`yes please`"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
    // The instance still answers after a failed call.
    assert!(matches!(p.delete("a/b"), Err(StoreError::Config { .. })));
}

#[test]
fn an_unreachable_endpoint_is_an_error_after_retries() {
    let p = Provider::start(&dist::provider_env("http://127.0.0.1:1", "b", ""));
    match p.get("a/b") {
        Err(StoreError::Other { message }) => {
            assert!(message.contains("after 8 attempts"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn throttling_server_errors_and_broken_connections_are_retried() {
    let s3 = S3Server::start();
    s3.bucket("faults", "");
    let proxy = FaultProxy::start(&s3.endpoint);
    proxy.script(&[Fault::SlowDown, Fault::InternalError, Fault::ResetBefore]);
    let p = Provider::start(&dist::provider_env(&proxy.endpoint, "faults", ""));
    p.put("a/1", Bytes::from_static(b"one"), PutMode::Overwrite)
        .unwrap();
    assert_eq!(proxy.calls(), 4);
    assert_eq!(&p.get("a/1").unwrap()[..], b"one");
}

/// A create-only put whose answer was lost may have stored its object: its retry finds the
/// key taken, and the bucket reads the object back to tell its own bytes from another
/// writer's. (Before, the provider did not retry such a create, and an ingest answered 503
/// for an upload it had stored.)
#[test]
fn a_create_whose_answer_was_lost_is_retried_and_recognised() {
    let s3 = S3Server::start();
    s3.bucket("ambiguous", "");
    let proxy = FaultProxy::start(&s3.endpoint);
    let p = Provider::start(&dist::provider_env(&proxy.endpoint, "ambiguous", ""));
    for (key, fault) in [
        ("a/1", Fault::InternalErrorAfterWrite),
        ("a/2", Fault::ResetAfter),
        ("a/3", Fault::Truncated),
    ] {
        let before = proxy.calls();
        proxy.script(&[fault]);
        p.put(key, Bytes::from_static(b"x"), PutMode::Create)
            .unwrap_or_else(|e| panic!("{fault:?}: {e}"));
        // The put, its retry (412), the read that recognises the object.
        assert_eq!(proxy.calls() - before, 3, "{fault:?}");
        assert_eq!(&p.get(key).unwrap()[..], b"x");
    }
    proxy.script(&[Fault::InternalErrorAfterWrite]);
    assert!(
        matches!(
            p.put("a/1", Bytes::from_static(b"y"), PutMode::Create),
            Err(StoreError::AlreadyExists { .. })
        ),
        "other bytes under a taken key are still refused"
    );
    assert_eq!(&p.get("a/1").unwrap()[..], b"x");
}
