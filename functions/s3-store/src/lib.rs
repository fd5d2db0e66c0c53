//! The S3 storage provider: a component that exports `flamelet:host/store` and keeps its
//! contract over S3 through `wasi:http/outgoing-handler`. Composed into a function (see
//! `flamelet package`), it makes a component that imports only `wasi:*`, runnable on Spin,
//! SpinKube or `wasmtime serve`.
//!
//! Every call runs the [`flamelet_bucket::Bucket`] the native host uses, on `wstd`'s
//! `wasi:io/poll` executor, so `get-many` reads its objects concurrently.

mod config;
mod transport;

use std::future::Future;
use std::sync::OnceLock;

use flamelet::storage::store::{PutMode, StoreError};
use flamelet_bucket::Bucket;

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "flamelet:host/store-provider",
    });
}

use bindings::exports::flamelet::host::store as cap;

/// The bucket, configured once per instance from the environment.
static BUCKET: OnceLock<Result<Bucket, StoreError>> = OnceLock::new();

/// Runs `op` on the configured bucket; a bad configuration fails every call with its reason.
fn with_bucket<T, F: Future<Output = Result<T, StoreError>>>(
    op: impl FnOnce(&'static Bucket) -> F,
) -> Result<T, cap::Error> {
    let bucket = BUCKET
        .get_or_init(|| config::S3Config::from_env().and_then(|c| c.bucket()))
        .as_ref()
        .map_err(|e| to_wit(e.clone()))?;
    wstd::runtime::block_on(op(bucket)).map_err(to_wit)
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

struct Provider;

impl cap::Guest for Provider {
    fn get(key: String) -> Result<Vec<u8>, cap::Error> {
        with_bucket(|b| async move { b.get(&key).await.map(Vec::from) })
    }

    fn get_range(key: String, start: u64, end: u64) -> Result<Vec<u8>, cap::Error> {
        with_bucket(|b| async move { b.get_range(&key, start, end).await.map(Vec::from) })
    }

    fn get_many(keys: Vec<String>) -> Vec<Result<Vec<u8>, cap::Error>> {
        let n = keys.len();
        match with_bucket(|b| async move { Ok(b.get_many(keys).await) }) {
            Ok(answers) => answers
                .into_iter()
                .map(|r| r.map(Vec::from).map_err(to_wit))
                .collect(),
            Err(e) => vec![Err(e); n],
        }
    }

    fn put(key: String, data: Vec<u8>, mode: cap::PutMode) -> Result<(), cap::Error> {
        let mode = match mode {
            cap::PutMode::Overwrite => PutMode::Overwrite,
            cap::PutMode::Create => PutMode::Create,
        };
        with_bucket(|b| async move { b.put(&key, data.into(), mode).await })
    }

    fn list(
        prefix: String,
        page_token: Option<String>,
        limit: u32,
        delimited: bool,
    ) -> Result<cap::ListPage, cap::Error> {
        let page = with_bucket(|b| async move {
            b.list(&prefix, page_token.as_deref(), limit, delimited)
                .await
        })?;
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

    fn delete(key: String) -> Result<(), cap::Error> {
        with_bucket(|b| async move { b.delete(&key).await })
    }
}

// Natively the crate is built only for its unit tests: the exported symbols' names
// (`flamelet:host/store@…`) are not valid in a native linker's version script.
#[cfg(target_arch = "wasm32")]
bindings::export!(Provider with_types_in bindings);
