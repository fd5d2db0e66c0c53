//! The core's storage conformance suite (`flamelet::storage::conformance`), run against every
//! backend of the host: memory, a local directory, a real S3 server (moto) and Azure's
//! emulator (Azurite). Then the whole server on each of the last two.

use std::ops::Range;

use bytes::Bytes;
use flamelet::storage::conformance;
use flamelet::storage::store::{ListPage, ObjectStore, PutMode, StoreError};
use flamelet_host::storage::Storage;

use crate::util::azurite::Azurite;
use crate::util::s3::S3Server;
use crate::util::{FlameletServer, T0, WORKED_EXAMPLE};

/// The host's storage seen through the core's synchronous `ObjectStore` trait, so that the
/// core's conformance suite checks it.
struct Blocking<'a> {
    storage: &'a Storage,
    runtime: tokio::runtime::Runtime,
}

impl ObjectStore for Blocking<'_> {
    fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        self.runtime.block_on(self.storage.get(key))
    }

    fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        self.runtime
            .block_on(self.storage.get_range(key, range.start, range.end))
    }

    fn get_many(&self, keys: &[String]) -> Vec<Result<Bytes, StoreError>> {
        self.runtime.block_on(self.storage.get_many(keys.to_vec()))
    }

    fn put(&self, key: &str, data: Bytes, mode: PutMode) -> Result<(), StoreError> {
        self.runtime.block_on(self.storage.put(key, data, mode))
    }

    fn list(
        &self,
        prefix: &str,
        token: Option<&str>,
        limit: u32,
        delimited: bool,
    ) -> Result<ListPage, StoreError> {
        self.runtime
            .block_on(self.storage.list(prefix, token, limit, delimited))
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.runtime.block_on(self.storage.delete(key))
    }
}

fn run(storage: &str) {
    let storage = Storage::open(storage).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    conformance::check(&Blocking {
        storage: &storage,
        runtime,
    });
}

#[test]
fn memory_conforms() {
    run("memory://");
}

#[test]
fn local_directory_conforms() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path().to_str().unwrap());
    run(&format!("file://{}", dir.path().join("other").display()));
}

#[test]
fn s3_conforms() {
    let s3 = S3Server::start();
    run(&s3.bucket("conformance", ""));
    run(&s3.bucket("prefixed", "some/prefix"));
    assert!(
        s3.keys("prefixed")
            .iter()
            .all(|k| k.starts_with("some/prefix/")),
        "{:?}",
        s3.keys("prefixed")
    );
}

#[test]
fn azure_conforms() {
    let azurite = Azurite::start();
    run(&azurite.container("conformance", ""));
    run(&azurite.container("prefixed", "some/prefix"));
    let keys = azurite.keys("prefixed");
    assert!(
        !keys.is_empty() && keys.iter().all(|k| k.starts_with("some/prefix/")),
        "{keys:?}"
    );
}

/// Ingest, query, compact, restart on `storage` (under the prefix `prod`); `keys` lists what
/// the bucket holds.
fn ingest_query_compact_restart(storage: &str, keys: impl Fn() -> Vec<String>) {
    let s = FlameletServer::start_with(storage, &["--no-cron"]);
    s.ingest("app.alloc_objects{env=a}", T0, WORKED_EXAMPLE);
    s.ingest("app.alloc_objects{env=b}", T0 + 20, "a;z 6\n");
    let before = s.render("app.alloc_objects{}", T0 - 60, T0 + 60, "&groupBy=env");
    assert_eq!(before["flamebearer"]["numTicks"], 10);
    let report = s.compact();
    assert_eq!(report["merged"][0]["l0_inputs"], 2, "{report}");
    assert_eq!(
        s.render("app.alloc_objects{}", T0 - 60, T0 + 60, "&groupBy=env"),
        before
    );
    drop(s);
    let again = FlameletServer::start_with(storage, &["--no-cron"]);
    assert_eq!(
        again.render("app.alloc_objects{}", T0 - 60, T0 + 60, "&groupBy=env"),
        before
    );
    let keys = keys();
    assert!(
        keys.iter()
            .all(|k| k.starts_with("prod/tenants/anonymous/")),
        "{keys:?}"
    );
    for (kind, n) in [("/l0/", 2), ("/segments/", 1), ("/manifests/", 1)] {
        assert_eq!(
            keys.iter().filter(|k| k.contains(kind)).count(),
            n,
            "{kind}: {keys:?}"
        );
    }
}

#[test]
fn the_server_on_s3_ingests_queries_compacts_and_restarts() {
    let s3 = S3Server::start();
    ingest_query_compact_restart(&s3.bucket("flamelet", "prod"), || s3.keys("flamelet"));
}

#[test]
fn the_server_on_azure_ingests_queries_compacts_and_restarts() {
    let azurite = Azurite::start();
    ingest_query_compact_restart(&azurite.container("flamelet", "prod"), || {
        azurite.keys("flamelet")
    });
}
