//! A store that refuses reads once a query has run for the compaction grace period.
//!
//! Why: an object a query's manifest version lists is deleted no sooner than one grace period
//! after a newer version replaced it, and that version was published after the query started
//! (else the query would have read it). So every read made within `grace` of the query's start
//! finds what its manifest promised; a later one may find it half deleted, and is refused, so
//! that the query fails instead of answering with a part missing. The host's request time
//! limit keeps queries far shorter than this; under hosts that set no limit (`wasmtime serve`,
//! Spin) this is what holds.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

use crate::storage::store::{ListPage, ObjectStore, PutMode, SharedStore, StoreError};

/// A clock in nanoseconds since the epoch.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Wraps a store: reads (gets and listings) after `started + grace_nanos` fail with
/// [`StoreError::PastGrace`]; writes and deletes pass through.
pub struct Deadline {
    inner: SharedStore,
    clock: Clock,
    started: i64,
    grace_nanos: i64,
}

impl Deadline {
    /// Starts the period now (by `clock`) and returns the wrapped store.
    pub fn wrap(inner: SharedStore, grace_nanos: i64, clock: Clock) -> SharedStore {
        let started = clock();
        Arc::new(Deadline {
            inner,
            clock,
            started,
            grace_nanos,
        })
    }

    fn check(&self, key: &str) -> Result<(), StoreError> {
        let elapsed = (self.clock)().saturating_sub(self.started);
        if elapsed > self.grace_nanos {
            return Err(StoreError::PastGrace {
                key: key.to_string(),
                grace_seconds: self.grace_nanos / crate::time::NANOS_PER_SECOND,
            });
        }
        Ok(())
    }
}

impl ObjectStore for Deadline {
    fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        self.check(key)?;
        self.inner.get(key)
    }

    fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        self.check(key)?;
        self.inner.get_range(key, range)
    }

    fn get_many(&self, keys: &[String]) -> Vec<Result<Bytes, StoreError>> {
        match keys.first().map(|k| self.check(k)) {
            Some(Err(e)) => keys.iter().map(|_| Err(e.clone())).collect(),
            _ => self.inner.get_many(keys),
        }
    }

    fn put(&self, key: &str, data: Bytes, mode: PutMode) -> Result<(), StoreError> {
        self.inner.put(key, data, mode)
    }

    fn list(
        &self,
        prefix: &str,
        token: Option<&str>,
        limit: u32,
        delimited: bool,
    ) -> Result<ListPage, StoreError> {
        self.check(prefix)?;
        self.inner.list(prefix, token, limit, delimited)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner.delete(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::store::MemoryStore;
    use std::sync::atomic::{AtomicI64, Ordering};

    #[test]
    fn reads_past_the_grace_period_fail() {
        let mem = MemoryStore::default();
        mem.put("a/b", Bytes::from_static(b"x"), PutMode::Create)
            .unwrap();
        let now = Arc::new(AtomicI64::new(1_000));
        let t = now.clone();
        let store = Deadline::wrap(
            Arc::new(mem),
            5 * crate::time::NANOS_PER_SECOND,
            Arc::new(move || t.load(Ordering::SeqCst)),
        );
        now.fetch_add(5 * crate::time::NANOS_PER_SECOND, Ordering::SeqCst);
        assert_eq!(store.get("a/b").unwrap(), Bytes::from_static(b"x"));
        assert_eq!(store.list("a/", None, 10, false).unwrap().objects.len(), 1);
        now.fetch_add(1, Ordering::SeqCst);
        let e = store.get("a/b").unwrap_err();
        assert_eq!(
            e.to_string(),
            "refused to read `a/b`: the query has run longer than the compaction grace period \
             (5 s), so what it read may since have been deleted"
        );
        assert!(store.get_range("a/b", 0..1).is_err());
        assert!(store.list("a/", None, 10, false).is_err());
        assert!(store.get_many(&["a/b".to_string()])[0].is_err());
        let err = crate::Error::from(e);
        assert_eq!(err.kind(), crate::ErrorKind::Unavailable);
    }
}
