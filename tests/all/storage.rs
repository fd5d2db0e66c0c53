//! One conformance suite for the storage capability, run against every backend: memory, a
//! local directory and a real S3 server. Then the whole server on S3.

use flamelet_host::storage::{Storage, StoreError};

use crate::util::s3::S3Server;
use crate::util::{FlameletServer, T0, WORKED_EXAMPLE};

async fn conformance(s: &Storage) {
    s.put("a/b/1", b"one".to_vec(), true).await.unwrap();
    assert!(matches!(
        s.put("a/b/1", b"x".to_vec(), true).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(
        &s.get("a/b/1").await.unwrap()[..],
        b"one",
        "a failed create-only put changes nothing"
    );
    s.put("a/b/2", b"two".to_vec(), false).await.unwrap();
    s.put("a/b/2", b"TWO".to_vec(), false).await.unwrap();
    s.put("a/c/3", b"3".to_vec(), true).await.unwrap();
    assert_eq!(&s.get("a/b/2").await.unwrap()[..], b"TWO");
    assert_eq!(&s.get_range("a/b/1", 1, 3).await.unwrap()[..], b"ne");
    assert_eq!(
        &s.get_range("a/b/1", 1, 100).await.unwrap()[..],
        b"ne",
        "ranges are clamped"
    );
    assert!(
        s.get_range("a/b/1", 10, 20).await.unwrap().is_empty(),
        "a range past the end is empty"
    );
    assert!(matches!(s.get("a/b/9").await, Err(StoreError::NotFound(_))));
    let page = s.list("a/", None, 2, false).await.unwrap();
    assert_eq!(
        page.objects
            .iter()
            .map(|o| o.key.as_str())
            .collect::<Vec<_>>(),
        ["a/b/1", "a/b/2"]
    );
    assert_eq!(page.objects[0].size, 3);
    let page2 = s.list("a/", page.next_token, 2, false).await.unwrap();
    assert_eq!(
        page2
            .objects
            .iter()
            .map(|o| o.key.as_str())
            .collect::<Vec<_>>(),
        ["a/c/3"]
    );
    assert!(page2.next_token.is_none());
    let d = s.list("a/", None, 100, true).await.unwrap();
    assert_eq!(d.prefixes, ["a/b/", "a/c/"]);
    assert!(d.objects.is_empty());
    assert!(
        s.list("zzz/", None, 10, false)
            .await
            .unwrap()
            .objects
            .is_empty()
    );
    let many = s
        .get_many(vec!["a/b/2".into(), "nope/x".into(), "a/c/3".into()])
        .await;
    assert_eq!(many.len(), 3);
    assert!(many[0].is_ok() && matches!(many[1], Err(StoreError::NotFound(_))) && many[2].is_ok());
    s.delete("a/b/1").await.unwrap();
    s.delete("a/b/1").await.unwrap();
    assert!(matches!(s.get("a/b/1").await, Err(StoreError::NotFound(_))));
    for bad in ["", "../x", "a//b", "a/./b", "/a", "a/.."] {
        assert!(
            matches!(s.get(bad).await, Err(StoreError::InvalidKey(_))),
            "{bad:?}"
        );
        assert!(
            matches!(
                s.put(bad, vec![], true).await,
                Err(StoreError::InvalidKey(_))
            ),
            "{bad:?}"
        );
    }
}

fn run(storage: &str) {
    let s = Storage::open(storage).unwrap();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(conformance(&s));
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
fn the_server_on_s3_ingests_queries_compacts_and_restarts() {
    let s3 = S3Server::start();
    let storage = s3.bucket("flamelet", "prod");
    let s = FlameletServer::start_with(&storage, &["--no-cron"]);
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
    let again = FlameletServer::start_with(&storage, &["--no-cron"]);
    assert_eq!(
        again.render("app.alloc_objects{}", T0 - 60, T0 + 60, "&groupBy=env"),
        before
    );
    let keys = s3.keys("flamelet");
    assert!(
        keys.iter()
            .all(|k| k.starts_with("prod/tenants/anonymous/")),
        "{keys:?}"
    );
    assert_eq!(
        keys.iter().filter(|k| k.contains("/l0/")).count(),
        2,
        "{keys:?}"
    );
    assert_eq!(
        keys.iter().filter(|k| k.contains("/segments/")).count(),
        1,
        "{keys:?}"
    );
    assert_eq!(
        keys.iter().filter(|k| k.contains("/manifests/")).count(),
        1,
        "{keys:?}"
    );
}
