//! A memory store that records each call made to it, for tests that hold a code path to the
//! calls it makes (read-ahead batches, an idle compaction pass's listings).

use std::ops::Range;
use std::sync::Mutex;

use bytes::Bytes;

use super::store::{ListPage, MemoryStore, ObjectStore, PutMode, StoreError};

/// Records `get KEY`, `get_range KEY`, `get_many KEY,KEY…`, `put KEY`, `list PREFIX` and
/// `delete KEY`, in order.
#[derive(Default)]
pub struct Recording {
    inner: MemoryStore,
    calls: Mutex<Vec<String>>,
}

impl Recording {
    fn log(&self, call: String) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(call);
        }
    }

    /// The calls recorded since the last `take`, and a fresh record.
    pub fn take(&self) -> Vec<String> {
        self.calls
            .lock()
            .map(|mut calls| std::mem::take(&mut *calls))
            .unwrap_or_default()
    }

    /// How many of the calls recorded since the last `take` satisfy `which`.
    pub fn count(&self, which: impl Fn(&str) -> bool) -> usize {
        self.calls
            .lock()
            .map(|calls| calls.iter().filter(|c| which(c)).count())
            .unwrap_or_default()
    }

    /// Every key stored.
    pub fn keys(&self) -> Vec<String> {
        self.inner.keys()
    }
}

impl ObjectStore for Recording {
    fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        self.log(format!("get {key}"));
        self.inner.get(key)
    }
    fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        self.log(format!("get_range {key}"));
        self.inner.get_range(key, range)
    }
    fn get_many(&self, keys: &[String]) -> Vec<Result<Bytes, StoreError>> {
        self.log(format!("get_many {}", keys.join(",")));
        keys.iter().map(|k| self.inner.get(k)).collect()
    }
    fn put(&self, key: &str, data: Bytes, mode: PutMode) -> Result<(), StoreError> {
        self.log(format!("put {key}"));
        self.inner.put(key, data, mode)
    }
    fn list(
        &self,
        prefix: &str,
        token: Option<&str>,
        limit: u32,
        delimited: bool,
    ) -> Result<ListPage, StoreError> {
        self.log(format!("list {prefix}"));
        self.inner.list(prefix, token, limit, delimited)
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.log(format!("delete {key}"));
        self.inner.delete(key)
    }
}
