//! Small per-tenant state kept as numbered versions of one JSON object under a prefix
//! (`{prefix}{version:020}.json`): a tenant's recording rules, its remote-write watermark. A
//! change reads the newest version, applies itself and writes the next version create-only;
//! a writer that loses the race to another reads again and re-applies, so concurrent changes
//! from stateless instances are never lost. The two newest versions are kept, so a reader that
//! listed just before a change still finds what it listed.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::storage::keys::{parse_version, versioned_key};
use crate::storage::store::{ObjectStore, PutMode, StoreError, list_all};
use crate::{Error, Result};

/// How often a read or a change is tried again after another writer got in between.
pub const ATTEMPTS: usize = 8;

/// What a change did not manage: other writers won every attempt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{prefix}` changed concurrently {attempts} times in a row; retry")]
pub struct Contended {
    /// The state's prefix.
    pub prefix: String,
    /// How often this writer lost.
    pub attempts: usize,
}

/// The newest version and its content; `None` before the first change.
pub fn load<T: DeserializeOwned>(
    store: &dyn ObjectStore,
    prefix: &str,
) -> Result<Option<(u64, T)>> {
    // A version deleted between the listing and the read was replaced by two newer ones:
    // list again.
    for _ in 0..ATTEMPTS {
        let Some(version) = newest(store, prefix)? else {
            return Ok(None);
        };
        let key = versioned_key(prefix, version);
        match store.get(&key) {
            Ok(bytes) => {
                let value = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                    key: key.clone(),
                    message: e.to_string(),
                })?;
                return Ok(Some((version, value)));
            }
            Err(StoreError::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(contended(prefix))
}

/// Applies `change` to the newest version (`None` before the first) and stores what it
/// returns as the next version, `change` getting that version's number; re-applies it on a
/// fresh read whenever another writer got there first. Returns the change's answer.
pub fn update<T, A>(
    store: &dyn ObjectStore,
    prefix: &str,
    mut change: impl FnMut(Option<T>, u64) -> Result<(T, A)>,
) -> Result<A>
where
    T: DeserializeOwned + Serialize,
{
    for _ in 0..ATTEMPTS {
        let (current, version) = match load::<T>(store, prefix)? {
            Some((version, value)) => (Some(value), version),
            None => (None, 0),
        };
        let next = version + 1;
        let (value, answer) = change(current, next)?;
        let key = versioned_key(prefix, next);
        let bytes = serde_json::to_vec(&value).map_err(|e| Error::Corrupt {
            key: key.clone(),
            message: e.to_string(),
        })?;
        match store.put(&key, bytes.into(), PutMode::Create) {
            Ok(()) => {
                prune(store, prefix, next);
                return Ok(answer);
            }
            Err(StoreError::AlreadyExists { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(contended(prefix))
}

fn contended(prefix: &str) -> Error {
    Contended {
        prefix: prefix.to_string(),
        attempts: ATTEMPTS,
    }
    .into()
}

fn newest(store: &dyn ObjectStore, prefix: &str) -> Result<Option<u64>> {
    Ok(list_all(store, prefix)?
        .iter()
        .filter_map(|o| parse_version(prefix, &o.key))
        .max())
}

/// Deletes the versions older than the one before `newest`. Best effort: a version left
/// behind is deleted by a later change.
fn prune(store: &dyn ObjectStore, prefix: &str, newest: u64) {
    let Ok(listed) = list_all(store, prefix) else {
        return;
    };
    for version in listed
        .iter()
        .filter_map(|o| parse_version(prefix, &o.key))
        .filter(|v| v + 1 < newest)
    {
        let key = versioned_key(prefix, version);
        if let Err(e) = store.delete(&key) {
            tracing::warn!("deleting the old version {key}: {e}");
        }
    }
}
