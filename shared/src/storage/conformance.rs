//! The storage contract as a test suite: [`check`] runs every rule of
//! [`ObjectStore`](super::store::ObjectStore) against a store and panics at the first one it
//! breaks. Run on [`MemoryStore`](super::store::MemoryStore) by the core's unit tests, and on
//! the host's backends (memory, local directory, S3) by the end-to-end tests. Only with the
//! `testsuite` feature (or in tests): it is a test, not a code path.

use bytes::Bytes;

use super::store::{ObjectStore, PutMode, StoreError};

/// Keys every store must refuse.
pub const INVALID_KEYS: [&str; 6] = ["", "../x", "a//b", "a/./b", "/a", "a/.."];

fn put(
    s: &dyn ObjectStore,
    key: &str,
    data: &'static [u8],
    mode: PutMode,
) -> Result<(), StoreError> {
    s.put(key, Bytes::from_static(data), mode)
}

fn keys(page: &super::store::ListPage) -> Vec<&str> {
    page.objects.iter().map(|o| o.key.as_str()).collect()
}

/// Checks create-only and overwriting puts, whole and ranged gets, paged and delimited
/// listings, `get_many`, idempotent deletes and key validation. Expects an empty store.
pub fn check(s: &dyn ObjectStore) {
    put(s, "a/b/1", b"one", PutMode::Create).unwrap();
    assert!(matches!(
        put(s, "a/b/1", b"x", PutMode::Create),
        Err(StoreError::AlreadyExists { .. })
    ));
    assert_eq!(
        &s.get("a/b/1").unwrap()[..],
        b"one",
        "a failed create-only put changes nothing"
    );
    put(s, "a/b/1", b"one", PutMode::Create)
        .expect("a create-only put finding its own bytes (a retry whose answer was lost) succeeds");
    put(s, "a/b/2", b"two", PutMode::Overwrite).unwrap();
    put(s, "a/b/2", b"TWO", PutMode::Overwrite).unwrap();
    put(s, "a/c/3", b"3", PutMode::Create).unwrap();
    assert_eq!(&s.get("a/b/2").unwrap()[..], b"TWO");
    assert_eq!(&s.get_range("a/b/1", 1..3).unwrap()[..], b"ne");
    assert_eq!(
        &s.get_range("a/b/1", 1..100).unwrap()[..],
        b"ne",
        "ranges are clamped"
    );
    assert!(
        s.get_range("a/b/1", 10..20).unwrap().is_empty(),
        "a range past the end is empty"
    );
    assert!(matches!(s.get("a/b/9"), Err(StoreError::NotFound { .. })));
    let page = s.list("a/", None, 2, false).unwrap();
    assert_eq!(keys(&page), ["a/b/1", "a/b/2"]);
    assert_eq!(page.objects[0].size, 3);
    let page2 = s.list("a/", page.next_token.as_deref(), 2, false).unwrap();
    assert_eq!(keys(&page2), ["a/c/3"]);
    assert!(page2.next_token.is_none());
    // A listing sees, on every page, what was written before it began (a store that keeps
    // a sorted listing for the next pages must not serve the one before this put).
    s.put("a/b/9", Bytes::from_static(b"9"), PutMode::Create)
        .unwrap();
    let page = s.list("a/", None, 2, false).unwrap();
    assert_eq!(keys(&page), ["a/b/1", "a/b/2"]);
    let page2 = s.list("a/", page.next_token.as_deref(), 2, false).unwrap();
    assert_eq!(keys(&page2), ["a/b/9", "a/c/3"]);
    s.delete("a/b/9").unwrap();
    let page = s.list("a/", None, 2, false).unwrap();
    let page2 = s.list("a/", page.next_token.as_deref(), 2, false).unwrap();
    assert_eq!(keys(&page2), ["a/c/3"]);
    let d = s.list("a/", None, 100, true).unwrap();
    assert_eq!(d.prefixes, ["a/b/", "a/c/"]);
    assert!(d.objects.is_empty());
    assert!(s.list("zzz/", None, 10, false).unwrap().objects.is_empty());
    let many = s.get_many(&["a/b/2".into(), "nope/x".into(), "a/c/3".into()]);
    assert_eq!(many.len(), 3);
    assert!(
        many[0].is_ok() && matches!(many[1], Err(StoreError::NotFound { .. })) && many[2].is_ok()
    );
    s.delete("a/b/1").unwrap();
    s.delete("a/b/1").unwrap();
    assert!(matches!(s.get("a/b/1"), Err(StoreError::NotFound { .. })));
    for bad in INVALID_KEYS {
        assert!(
            matches!(s.get(bad), Err(StoreError::InvalidKey { .. })),
            "{bad:?}"
        );
        assert!(
            matches!(
                put(s, bad, b"", PutMode::Create),
                Err(StoreError::InvalidKey { .. })
            ),
            "{bad:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_store_conforms() {
        super::check(&super::super::store::MemoryStore::default());
    }
}
