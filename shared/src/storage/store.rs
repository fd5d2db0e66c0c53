//! The object-store capability as the core sees it.
//!
//! Contract (the same as the WIT interface `flamelet:host/store` the components import; checked
//! by [`crate::storage::conformance`]):
//! keys are `/`-separated paths without empty, `.` or `..` segments; there are no directories;
//! objects are immutable once written except by an explicit overwrite; a create-only put fails
//! with [`StoreError::AlreadyExists`] if the key holds other bytes and succeeds if it holds
//! exactly the put's (the same put retried after its answer was lost), and exactly one of
//! several racing creators wins; deleting a missing key is `Ok`; listings are returned sorted
//! by key.
//!
//! The WASM components implement this trait over the imported capability; [`MemoryStore`] is
//! the in-process double for unit tests.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Mutex;

use bytes::Bytes;

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The key does not exist.
    #[error("object `{key}` not found")]
    NotFound {
        /// The key.
        key: String,
    },
    /// A create-only put found the key already there.
    #[error("object `{key}` already exists")]
    AlreadyExists {
        /// The key.
        key: String,
    },
    /// The key is not a valid object path.
    #[error("invalid object key `{key}`")]
    InvalidKey {
        /// The key.
        key: String,
    },
    /// The store is set up wrong: a provider component's setting is missing or bad.
    #[error("storage is not configured: {message}")]
    Config {
        /// Which setting, and what is wrong with it.
        message: String,
    },
    /// A read after the query had run for the compaction grace period
    /// ([`crate::storage::deadline`]).
    #[error(
        "refused to read `{key}`: the query has run longer than the compaction grace period \
         ({grace_seconds} s), so what it read may since have been deleted"
    )]
    PastGrace {
        /// The key that was to be read.
        key: String,
        /// The grace period.
        grace_seconds: i64,
    },
    /// Anything else (I/O, network, permissions…).
    #[error("object store: {message}")]
    Other {
        /// What the backend said.
        message: String,
    },
}

/// How a put treats an existing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutMode {
    /// Replace whatever is there.
    Overwrite,
    /// Fail with [`StoreError::AlreadyExists`] if the key holds other bytes (holding these
    /// same bytes, it succeeds: a retry of this put).
    Create,
}

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Its full key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
}

/// One page of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// Objects, sorted by key.
    pub objects: Vec<ObjectMeta>,
    /// With `delimited`, the distinct next path segments below the prefix (each ending in `/`).
    pub prefixes: Vec<String>,
    /// Pass this to get the next page; `None` on the last page.
    pub next_token: Option<String>,
}

/// Objects listed per page by [`list_all`].
pub const LIST_PAGE_SIZE: u32 = 1000;

/// A synchronous object store (see the module doc for the contract).
pub trait ObjectStore {
    /// Reads a whole object.
    fn get(&self, key: &str) -> Result<Bytes, StoreError>;
    /// Reads the byte range `range` of an object.
    fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StoreError>;
    /// Reads several whole objects at once; the answers are in the order of `keys`.
    fn get_many(&self, keys: &[String]) -> Vec<Result<Bytes, StoreError>> {
        keys.iter().map(|k| self.get(k)).collect()
    }
    /// Writes an object.
    fn put(&self, key: &str, data: Bytes, mode: PutMode) -> Result<(), StoreError>;
    /// Lists keys starting with `prefix`, after `token`, at most `limit` of them. With
    /// `delimited`, objects below a further `/` are folded into [`ListPage::prefixes`].
    fn list(
        &self,
        prefix: &str,
        token: Option<&str>,
        limit: u32,
        delimited: bool,
    ) -> Result<ListPage, StoreError>;
    /// Deletes an object; a missing one is not an error.
    fn delete(&self, key: &str) -> Result<(), StoreError>;
}

/// A store that readers holding on to it (segment chunk readers) can share.
pub type SharedStore = std::sync::Arc<dyn ObjectStore + Send + Sync>;

/// Lists every object below `prefix`, following pages.
pub fn list_all(store: &dyn ObjectStore, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = store.list(prefix, token.as_deref(), LIST_PAGE_SIZE, false)?;
        out.extend(page.objects);
        match page.next_token {
            Some(next) => token = Some(next),
            None => return Ok(out),
        }
    }
}

/// Lists the distinct next path segments below `prefix` (each ending in `/`).
pub fn list_prefixes(store: &dyn ObjectStore, prefix: &str) -> Result<Vec<String>, StoreError> {
    Ok(store.list(prefix, None, u32::MAX, true)?.prefixes)
}

/// One page of a listing, for stores that list by walking their keys: `sorted` is every
/// (key, size) in key order from `prefix` on; the prefix, token, limit and delimiter rules of
/// [`ObjectStore::list`] are applied here.
pub fn page_of<'a>(
    sorted: impl IntoIterator<Item = (&'a str, u64)>,
    prefix: &str,
    token: Option<&str>,
    limit: u32,
    delimited: bool,
) -> ListPage {
    let mut page = ListPage::default();
    for (key, size) in sorted {
        if !key.starts_with(prefix) {
            if key > prefix {
                break;
            }
            continue;
        }
        if token.is_some_and(|t| key <= t) {
            continue;
        }
        let rest = &key[prefix.len()..];
        if delimited && let Some(slash) = rest.find('/') {
            let dir = format!("{prefix}{}", &rest[..=slash]);
            if page.prefixes.last() != Some(&dir) {
                page.prefixes.push(dir);
            }
            continue;
        }
        if page.objects.len() as u32 == limit {
            page.next_token = page.objects.last().map(|o| o.key.clone());
            break;
        }
        page.objects.push(ObjectMeta {
            key: key.to_string(),
            size,
        });
    }
    page
}

/// An in-memory store, for unit tests of the core; it counts the reads made of it.
#[derive(Debug, Default)]
pub struct MemoryStore {
    objects: Mutex<BTreeMap<String, Bytes>>,
    reads: std::sync::atomic::AtomicUsize,
}

impl MemoryStore {
    fn objects(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Bytes>> {
        // A poisoned lock only means another test thread panicked; the map is still whole.
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Returns every key, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.objects().keys().cloned().collect()
    }

    /// Reads made so far (gets and ranged gets, as a bucket bills them).
    pub fn reads(&self) -> usize {
        self.reads.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn object(&self, key: &str) -> Result<Bytes, StoreError> {
        validate_key(key)?;
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.objects()
            .get(key)
            .cloned()
            .ok_or_else(|| StoreError::NotFound { key: key.into() })
    }
}

/// Checks a key against the contract: `/`-separated, no empty, `.` or `..` segment.
pub fn validate_key(key: &str) -> Result<(), StoreError> {
    if key
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(StoreError::InvalidKey { key: key.into() });
    }
    Ok(())
}

impl ObjectStore for MemoryStore {
    fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        self.object(key)
    }

    fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        let data = self.object(key)?;
        let end = (range.end as usize).min(data.len());
        let start = (range.start as usize).min(end);
        Ok(data.slice(start..end))
    }

    fn put(&self, key: &str, data: Bytes, mode: PutMode) -> Result<(), StoreError> {
        validate_key(key)?;
        let mut objects = self.objects();
        if mode == PutMode::Create
            && let Some(existing) = objects.get(key)
        {
            return if *existing == data {
                Ok(())
            } else {
                Err(StoreError::AlreadyExists { key: key.into() })
            };
        }
        objects.insert(key.to_string(), data);
        Ok(())
    }

    fn list(
        &self,
        prefix: &str,
        token: Option<&str>,
        limit: u32,
        delimited: bool,
    ) -> Result<ListPage, StoreError> {
        let objects = self.objects();
        let sorted = objects
            .range(prefix.to_string()..)
            .map(|(key, data)| (key.as_str(), data.len() as u64));
        Ok(page_of(sorted, prefix, token, limit, delimited))
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.objects().remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_contract() {
        let s = MemoryStore::default();
        s.put("a/1", Bytes::from_static(b"one"), PutMode::Create)
            .unwrap();
        assert_eq!(
            s.put("a/1", Bytes::from_static(b"x"), PutMode::Create),
            Err(StoreError::AlreadyExists { key: "a/1".into() })
        );
        s.put("a/2", Bytes::from_static(b"two"), PutMode::Overwrite)
            .unwrap();
        s.put("a/d/3", Bytes::from_static(b"3"), PutMode::Create)
            .unwrap();
        assert_eq!(&s.get_range("a/1", 1..3).unwrap()[..], b"ne");
        let page = s.list("a/", None, 1, false).unwrap();
        assert_eq!(page.objects.len(), 1);
        assert_eq!(list_all(&s, "a/").unwrap().len(), 3);
        assert_eq!(list_prefixes(&s, "a/").unwrap(), vec!["a/d/".to_string()]);
        s.delete("a/1").unwrap();
        s.delete("a/1").unwrap();
        assert!(matches!(s.get("a/1"), Err(StoreError::NotFound { .. })));
    }
}
