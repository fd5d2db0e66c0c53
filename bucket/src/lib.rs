//! The storage contract of `flamelet:host/store` (and of the core's
//! [`flamelet::storage::store::ObjectStore`]) on top of any `object_store` backend: keys checked
//! and mapped to paths, errors mapped to the contract's, ranges clamped, listings sorted and
//! paged. The native host uses it for its local, S3, GCS and Azure backends; the S3 provider
//! component uses it inside WASM over `wasi:http`. One implementation, so both hosts keep the
//! same contract.

pub mod s3_settings;

use std::sync::Arc;

use bytes::Bytes;
use flamelet::storage::store::{ListPage, ObjectMeta, PutMode, StoreError, page_of, validate_key};
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, PutOptions, PutPayload};

/// How many objects `get_many` reads at once.
pub const GET_MANY_CONCURRENCY: usize = 16;

/// Attempts of a call that object_store gave up on (the first included), where trying again
/// is safe: a create-only put (see [`Bucket::put`]), a delete, a listing whose answer broke
/// off (object_store retries the request, not the reading of its answer).
const ATTEMPTS: u32 = 3;

/// Runs `call` until it succeeds, fails for a reason it names (not found, taken, invalid), or
/// has failed [`ATTEMPTS`] times.
async fn again<T, F: Future<Output = Result<T, StoreError>>>(
    what: &str,
    mut call: impl FnMut() -> F,
) -> Result<T, StoreError> {
    let mut attempt = 1;
    loop {
        match call().await {
            Err(StoreError::Other { message }) if attempt < ATTEMPTS => {
                tracing::info!("trying {what} again (attempt {attempt} of {ATTEMPTS}): {message}");
                attempt += 1;
            }
            done => return done,
        }
    }
}

/// Whether a backend's listing API answers in key order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// S3, GCS and Azure list in lexicographic key order: a page is read from the token on and
    /// the listing stops after `limit` objects, so a page costs one or a few requests.
    Sorted,
    /// Local directories list in directory order: every page lists the prefix and sorts.
    Unsorted,
}

/// An `object_store` backend that keeps the storage contract.
#[derive(Debug, Clone)]
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    listing: Listing,
    listings: Arc<Listings>,
    list_all: Option<ListAll>,
}

/// A backend's own listing of every (key, size) under a prefix, in any order, for a
/// [`Listing::Unsorted`] backend that lists more cheaply than through object_store (the
/// host's local directories).
#[derive(Clone)]
pub struct ListAll(Arc<ListAllFn>);

type ListAllFn = dyn Fn(&str) -> futures_util::future::BoxFuture<'static, Result<Vec<(String, u64)>, StoreError>>
    + Send
    + Sync;

impl ListAll {
    pub fn new(
        f: impl Fn(
            &str,
        )
            -> futures_util::future::BoxFuture<'static, Result<Vec<(String, u64)>, StoreError>>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        ListAll(Arc::new(f))
    }
}

impl std::fmt::Debug for ListAll {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ListAll")
    }
}

/// A sorted listing of a prefix: every (key, size) under it.
type Sorted = Arc<Vec<(String, u64)>>;

/// Prefixes whose sorted listing is kept for the pages after the first.
const KEPT_LISTINGS: usize = 4;
/// How long a kept listing may serve further pages (it bounds the memory they hold).
const KEPT_LISTING_TIME: std::time::Duration = std::time::Duration::from_secs(30);

/// For [`Listing::Unsorted`] backends, where every page must list the whole prefix (each entry
/// a `stat` of a file) and sort it: the newest sorted listing of a few prefixes, from which
/// the pages that continue a listing (those with a token) are cut. A day's L0 directory of
/// 10 000 uploads took a fresh-hour query ~0.4 s to list in 11 pages of 1000, each listing
/// all 10 000 files (docs/benchmarks.md). A listing's first page always lists afresh, and the
/// kept listing is replaced only by one that began later: so a page is never cut from a
/// listing that began before its own first page, and a listing still sees every object
/// written before it began, as S3's does. (Replacing by the time a listing *ended* broke
/// this: of two first pages listing at once, the one that began first could end last and
/// serve the other's next pages a listing from before that other's manifest read, with
/// objects a newer manifest no longer names, and they were counted twice.)
#[derive(Debug, Default)]
struct Listings {
    /// (prefix, when its listing began, the listing).
    kept: std::sync::Mutex<Vec<(String, std::time::Instant, Sorted)>>,
}

impl Listings {
    fn get(&self, prefix: &str) -> Option<Sorted> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.iter()
            .find(|(p, began, _)| p == prefix && began.elapsed() < KEPT_LISTING_TIME)
            .map(|(_, _, sorted)| sorted.clone())
    }

    /// Keeps the listing of `prefix` that began at `began`, unless the one kept began later.
    fn keep(&self, prefix: &str, began: std::time::Instant, sorted: Sorted) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.iter().any(|(p, b, _)| p == prefix && *b > began) {
            return;
        }
        kept.retain(|(p, b, _)| p != prefix && b.elapsed() < KEPT_LISTING_TIME);
        if kept.len() >= KEPT_LISTINGS {
            kept.remove(0);
        }
        kept.push((prefix.to_string(), began, sorted));
    }
}

/// Checks a key as every call here does before it reaches a backend: the storage contract's
/// rules, and object_store's path syntax.
pub fn check_key(key: &str) -> Result<(), StoreError> {
    key_path(key).map(drop)
}

fn key_path(key: &str) -> Result<Path, StoreError> {
    let invalid = || StoreError::InvalidKey { key: key.into() };
    if key.is_empty() {
        return Err(invalid());
    }
    validate_key(key)?;
    Path::parse(key).map_err(|_| invalid())
}

/// Sorts a listing by key (keys are unique). Compared past the prefix they all share: a day's
/// L0 directory is tens of thousands of keys under load whose first ~35 bytes are the same,
/// and comparing those again and again was most of the sort.
fn sort_keys(found: &mut [(String, u64)]) {
    let common = match found.split_first() {
        Some(((first, _), rest)) => rest.iter().fold(first.len(), |n, (k, _)| {
            n.min(
                first
                    .bytes()
                    .take(n)
                    .zip(k.bytes())
                    .take_while(|(a, b)| a == b)
                    .count(),
            )
        }),
        None => 0,
    };
    found.sort_unstable_by(|(a, _), (b, _)| a.as_bytes()[common..].cmp(&b.as_bytes()[common..]));
}

fn other(e: impl std::fmt::Display) -> StoreError {
    StoreError::Other {
        message: e.to_string(),
    }
}

fn map_err(key: &str, e: object_store::Error) -> StoreError {
    match e {
        object_store::Error::NotFound { .. } => StoreError::NotFound { key: key.into() },
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => {
            StoreError::AlreadyExists { key: key.into() }
        }
        e => other(e),
    }
}

impl Bucket {
    /// Wraps a backend whose listings behave as `listing` says.
    pub fn new(store: Arc<dyn ObjectStore>, listing: Listing) -> Self {
        Bucket {
            store,
            listing,
            listings: Arc::default(),
            list_all: None,
        }
    }

    /// Lists with `list_all` instead of object_store's listing, where the backend is
    /// [`Listing::Unsorted`] and the listing is not delimited.
    pub fn with_list_all(mut self, list_all: ListAll) -> Self {
        self.list_all = Some(list_all);
        self
    }

    /// Reads a whole object.
    pub async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let path = key_path(key)?;
        let r = self.store.get(&path).await.map_err(|e| map_err(key, e))?;
        r.bytes().await.map_err(|e| map_err(key, e))
    }

    /// Reads bytes `[start, end)`, clamped to the object's size.
    pub async fn get_range(&self, key: &str, start: u64, end: u64) -> Result<Bytes, StoreError> {
        let path = key_path(key)?;
        if end <= start {
            return Ok(Bytes::new());
        }
        let opts = GetOptions {
            range: Some(GetRange::Bounded(start..end)),
            ..Default::default()
        };
        match self.store.get_opts(&path, opts).await {
            Ok(r) => r.bytes().await.map_err(|e| map_err(key, e)),
            // Backends refuse a range that starts past the end (S3 answers 416); the contract
            // clamps it to nothing.
            Err(e @ object_store::Error::Generic { .. }) => match self.store.head(&path).await {
                Ok(meta) if start >= meta.size => Ok(Bytes::new()),
                Ok(_) => Err(map_err(key, e)),
                Err(head) => Err(map_err(key, head)),
            },
            Err(e) => Err(map_err(key, e)),
        }
    }

    /// Reads several whole objects, [`GET_MANY_CONCURRENCY`] at a time; answers in key order.
    pub async fn get_many(&self, keys: Vec<String>) -> Vec<Result<Bytes, StoreError>> {
        futures_util::stream::iter(keys)
            .map(|k| async move { self.get(&k).await })
            .buffered(GET_MANY_CONCURRENCY)
            .collect()
            .await
    }

    /// Writes an object. A create-only put fails with `AlreadyExists` when the key holds other
    /// bytes, and succeeds when it already holds exactly these: an earlier attempt of this put
    /// whose answer was lost (object_store retries a put answered 5xx, and this retries one
    /// whose connection broke), which must not be reported as someone else's object.
    pub async fn put(&self, key: &str, data: Bytes, mode: PutMode) -> Result<(), StoreError> {
        let path = key_path(key)?;
        if mode == PutMode::Overwrite {
            return self
                .put_once(key, &path, data, object_store::PutMode::Overwrite)
                .await;
        }
        let put = || self.put_once(key, &path, data.clone(), object_store::PutMode::Create);
        // object_store does not retry a create whose outcome is unknown (a time-out or a
        // broken connection after sending): safe here, where the retry recognises its object.
        match again(key, put).await {
            Err(StoreError::AlreadyExists { .. }) => self.holds(key, &data).await,
            done => done,
        }
    }

    async fn put_once(
        &self,
        key: &str,
        path: &Path,
        data: Bytes,
        mode: object_store::PutMode,
    ) -> Result<(), StoreError> {
        let opts = PutOptions {
            mode,
            ..Default::default()
        };
        self.store
            .put_opts(path, PutPayload::from(data), opts)
            .await
            .map(drop)
            .map_err(|e| map_err(key, e))
    }

    /// What a create-only put that found `key` taken comes to: done if the object is `data`,
    /// else `AlreadyExists`.
    async fn holds(&self, key: &str, data: &Bytes) -> Result<(), StoreError> {
        match self.get(key).await {
            Ok(found) if found == *data => Ok(()),
            // Another writer's object (or one deleted since): the key was taken.
            Ok(_) | Err(StoreError::NotFound { .. }) => {
                Err(StoreError::AlreadyExists { key: key.into() })
            }
            Err(e) => Err(e),
        }
    }

    /// Lists keys under `prefix` after `token`, sorted, at most `limit` objects per page; with
    /// `delimited`, the next path segments below `prefix` instead of the keys under them.
    pub async fn list(
        &self,
        prefix: &str,
        token: Option<&str>,
        limit: u32,
        delimited: bool,
    ) -> Result<ListPage, StoreError> {
        again(prefix, || self.list_once(prefix, token, limit, delimited)).await
    }

    async fn list_once(
        &self,
        prefix: &str,
        token: Option<&str>,
        limit: u32,
        delimited: bool,
    ) -> Result<ListPage, StoreError> {
        // object_store lists whole path segments: list the directory part of the prefix and
        // keep the keys that start with all of it.
        let dir = match prefix.rsplit_once('/') {
            Some((dir, _)) if !dir.is_empty() => Some(key_path(dir)?),
            _ => None,
        };
        if delimited {
            let r = self
                .store
                .list_with_delimiter(dir.as_ref())
                .await
                .map_err(|e| map_err(prefix, e))?;
            let mut prefixes: Vec<String> = r
                .common_prefixes
                .iter()
                .map(|p| format!("{p}/"))
                .filter(|p| p.starts_with(prefix))
                .collect();
            prefixes.sort();
            let mut objects: Vec<ObjectMeta> = r
                .objects
                .into_iter()
                .map(|o| ObjectMeta {
                    key: o.location.to_string(),
                    size: o.size,
                })
                .filter(|o| o.key.starts_with(prefix))
                .collect();
            objects.sort_by(|a, b| a.key.cmp(&b.key));
            return Ok(ListPage {
                objects,
                prefixes,
                next_token: None,
            });
        }
        let limit = limit.max(1);
        if self.listing == Listing::Unsorted {
            let sorted = match token.and_then(|_| self.listings.get(prefix)) {
                Some(sorted) => sorted,
                None => {
                    let began = std::time::Instant::now();
                    let sorted = Arc::new(self.list_sorted(dir.as_ref(), prefix).await?);
                    self.listings.keep(prefix, began, sorted.clone());
                    sorted
                }
            };
            // From the first key after the token on.
            let from = token.map_or(0, |t| sorted.partition_point(|(k, _)| k.as_str() <= t));
            return Ok(page_of(
                sorted[from..].iter().map(|(k, s)| (k.as_str(), *s)),
                prefix,
                token,
                limit,
                false,
            ));
        }
        // One past the page tells whether there is a next one.
        let found = self
            .collect(dir.as_ref(), prefix, token, Some(limit as usize + 1))
            .await?;
        Ok(page_of(
            found.iter().map(|(k, s)| (k.as_str(), *s)),
            prefix,
            token,
            limit,
            false,
        ))
    }

    /// Every (key, size) under `prefix` (in `dir`), sorted: a listing of a backend that lists
    /// in no particular order.
    async fn list_sorted(
        &self,
        dir: Option<&Path>,
        prefix: &str,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let mut found = match &self.list_all {
            Some(list_all) => (list_all.0)(prefix).await?,
            None => self.collect(dir, prefix, None, None).await?,
        };
        sort_keys(&mut found);
        Ok(found)
    }

    /// The (key, size) of the objects under `prefix` (in `dir`) in the backend's listing
    /// order, after `offset` when given, stopping after `at_most` of them when given.
    async fn collect(
        &self,
        dir: Option<&Path>,
        prefix: &str,
        offset: Option<&str>,
        at_most: Option<usize>,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let mut listed = match offset {
            Some(t) => self.store.list_with_offset(dir, &key_path(t)?),
            None => self.store.list(dir),
        }
        .map_ok(|o| (o.location.to_string(), o.size))
        .try_filter(|(key, _)| futures_util::future::ready(key.starts_with(prefix)));
        let mut found = Vec::new();
        while let Some(item) = listed.next().await {
            match item {
                Ok(o) => found.push(o),
                Err(object_store::Error::NotFound { .. }) => break,
                Err(e) => return Err(map_err(prefix, e)),
            }
            if at_most.is_some_and(|n| found.len() >= n) {
                break;
            }
        }
        Ok(found)
    }

    /// Deletes an object; a missing one is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = key_path(key)?;
        // object_store does not take a delete for idempotent (a broken connection fails it);
        // under this contract it is.
        again(key, || async {
            match self.store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(map_err(key, e)),
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn listing(keys: &[&str]) -> Sorted {
        Arc::new(keys.iter().map(|k| (k.to_string(), 1)).collect())
    }

    /// Keys sorted past their common prefix come out as a plain sort puts them, keys that are
    /// prefixes of others and keys with nothing in common included.
    #[test]
    fn a_listing_is_sorted_by_key() {
        let cases: [&[&str]; 5] = [
            &[],
            &["a"],
            &[
                "t/l0/d/16-B",
                "t/l0/d/16-A",
                "t/l0/d/15-Z",
                "t/l0/d/16-AB",
                "t/l0/d/16-",
            ],
            &["t/a", "t", "t/a/b", "s/z"],
            &["x/é2", "x/é1", "x/e3"],
        ];
        for keys in cases {
            let mut found: Vec<(String, u64)> = keys
                .iter()
                .enumerate()
                .map(|(i, k)| (k.to_string(), i as u64))
                .collect();
            let mut expected = found.clone();
            expected.sort();
            sort_keys(&mut found);
            assert_eq!(found, expected);
        }
    }

    /// Two first pages listing at once: the one that began later is kept, whichever ended
    /// first, so no query's next pages come from a listing older than its own first page.
    #[test]
    fn a_kept_listing_is_replaced_only_by_one_that_began_later() {
        let listings = Listings::default();
        let first = Instant::now();
        let second = first + Duration::from_millis(5);
        listings.keep("l0/", second, listing(&["l0/a"]));
        listings.keep("l0/", first, listing(&["l0/a", "l0/deleted"]));
        assert_eq!(listings.get("l0/"), Some(listing(&["l0/a"])));
        let third = second + Duration::from_millis(5);
        listings.keep("l0/", third, listing(&["l0/b"]));
        assert_eq!(listings.get("l0/"), Some(listing(&["l0/b"])));
        // Other prefixes are kept beside it.
        listings.keep("m/", first, listing(&["m/1"]));
        assert_eq!(listings.get("m/"), Some(listing(&["m/1"])));
        assert_eq!(listings.get("l0/"), Some(listing(&["l0/b"])));
    }
}
