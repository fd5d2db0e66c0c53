//! A store that refuses reads once a query has run for the compaction grace period (reads of
//! L0 segments and their listings: the shorter L0 grace period).
//!
//! Why: an object a query's manifest version lists is deleted no sooner than one grace period
//! after a newer version replaced it, and that version was published after the query started
//! (else the query would have read it). So every read made within `grace` of the query's start
//! finds what its manifest promised; a later one may find it half deleted, and is refused, so
//! that the query fails instead of answering with a part missing. The same holds for an L0
//! segment the version leaves uncovered: a newer version that covers it was published after
//! the query started, and it is deleted no sooner than the L0 grace period after that, so
//! listings and reads of L0 segments within the L0 grace period of the start see it. The
//! host's request time limit keeps queries shorter than either; under hosts that set no limit
//! (`wasmtime serve`, Spin) this is what holds.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

use crate::compact::Graces;
use crate::storage::keys;
use crate::storage::store::{ListPage, ObjectStore, PutMode, SharedStore, StoreError};

/// A clock in nanoseconds since the epoch.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Wraps a store: reads (gets and listings) after `started + graces.all` fail with
/// [`StoreError::PastGrace`], and those of L0 segments and their listings after
/// `started + graces.l0`; writes and deletes pass through.
pub struct Deadline {
    inner: SharedStore,
    clock: Clock,
    started: i64,
    graces: Graces,
}

impl Deadline {
    /// Starts the periods now (by `clock`) and returns the wrapped store.
    pub fn wrap(inner: SharedStore, graces: Graces, clock: Clock) -> SharedStore {
        let started = clock();
        Arc::new(Deadline {
            inner,
            clock,
            started,
            graces,
        })
    }

    fn check(&self, key: &str) -> Result<(), StoreError> {
        self.check_at((self.clock)(), key)
    }

    fn check_at(&self, now: i64, key: &str) -> Result<(), StoreError> {
        let elapsed = now.saturating_sub(self.started);
        let grace = match keys::is_l0(key) {
            true => self.graces.l0,
            false => self.graces.all,
        };
        if elapsed > grace {
            return Err(StoreError::PastGrace {
                key: key.to_string(),
                grace_seconds: grace / crate::time::NANOS_PER_SECOND,
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
        let now = (self.clock)();
        match keys.iter().find_map(|k| self.check_at(now, k).err()) {
            Some(e) => keys.iter().map(|_| Err(e.clone())).collect(),
            None => self.inner.get_many(keys),
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
            Graces {
                all: 5 * crate::time::NANOS_PER_SECOND,
                l0: crate::time::NANOS_PER_SECOND,
            },
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

    #[test]
    fn reads_of_l0_segments_end_with_the_l0_grace_period() {
        let mem = MemoryStore::default();
        let l0 = "tenants/t/l0/2026-12-07/13-01KBWJ0000000000000000000.parquet";
        let manifest = "tenants/t/manifests/2026-12-07/00000000000000000001.json";
        for key in [l0, manifest] {
            mem.put(key, Bytes::from_static(b"x"), PutMode::Create)
                .unwrap();
        }
        let now = Arc::new(AtomicI64::new(0));
        let t = now.clone();
        let s = crate::time::NANOS_PER_SECOND;
        let store = Deadline::wrap(
            Arc::new(mem),
            Graces { all: 5 * s, l0: s },
            Arc::new(move || t.load(Ordering::SeqCst)),
        );
        now.store(s, Ordering::SeqCst);
        assert!(store.get(l0).is_ok());
        assert!(
            store
                .list("tenants/t/l0/2026-12-07/", None, 10, false)
                .is_ok()
        );
        now.store(s + 1, Ordering::SeqCst);
        let e = store.get(l0).unwrap_err();
        assert!(e.to_string().contains("(1 s)"), "{e}");
        assert!(
            store
                .list("tenants/t/l0/2026-12-07/", None, 10, false)
                .is_err()
        );
        // A batch with an L0 segment in it fails whole; the rest is still readable alone.
        let both = [manifest.to_string(), l0.to_string()];
        assert!(store.get_many(&both).iter().all(Result::is_err));
        assert!(store.get(manifest).is_ok());
        assert!(store.list("tenants/t/manifests/", None, 10, false).is_ok());
        now.store(5 * s + 1, Ordering::SeqCst);
        assert!(store.get(manifest).is_err());
    }
}
