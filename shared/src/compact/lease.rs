//! Compaction leases: one compactor at a time works on a tenant's day, so that concurrent
//! compactors do not all redo the same merges only for all but one to lose the publish.
//!
//! A lease is an object taken with a create-only put, numbered one above the newest lease seen,
//! and holding its expiry. A day whose newest lease has not expired is left alone; an expired
//! one (its holder was killed) is superseded. Leases are only about wasted work: the
//! manifest's create-only publish stays the arbiter of what is published, so two holders at
//! once (a clock far off, a holder that outlived its lease) cost work, never data.

use serde::{Deserialize, Serialize};

use crate::Result;
use crate::storage::keys::{Day, LeaseKey};
use crate::storage::store::{ObjectStore, PutMode, StoreError, list_all};
use crate::tenant::Tenant;

/// A held lease; give it back with [`Lease::release`].
#[derive(Debug)]
pub struct Lease {
    key: String,
}

#[derive(Serialize, Deserialize)]
struct Record {
    /// When the lease lapses (ns).
    expires_at: i64,
    /// Who took it, a fresh ULID: two compactors' records differ even when taken at one
    /// instant, so a put that finds its own bytes (a retry whose answer was lost) knows the
    /// lease is its own, as the storage contract promises.
    #[serde(default)]
    holder: String,
}

/// Takes the lease of `tenant`'s `day` until `now + duration`, or `None` when another
/// compactor holds it (its newest lease has not expired, or it took the next number first).
pub fn acquire(
    store: &dyn ObjectStore,
    tenant: &Tenant,
    day: Day,
    now: i64,
    duration: i64,
) -> Result<Option<Lease>> {
    let mut held: Vec<LeaseKey> = list_all(store, &LeaseKey::prefix(tenant, day))?
        .iter()
        .filter_map(|o| LeaseKey::parse(&o.key))
        .collect();
    held.sort();
    let n = match held.last() {
        None => 0,
        Some(newest) => {
            match store.get(&newest.to_string()) {
                // An unreadable record is treated as expired: it cannot hold the day forever.
                Ok(bytes) => {
                    let record = serde_json::from_slice::<Record>(&bytes);
                    if record.is_ok_and(|r| r.expires_at > now) {
                        return Ok(None);
                    }
                }
                // Released between the listing and the read.
                Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            newest.n.saturating_add(1)
        }
    };
    let key = LeaseKey {
        tenant: tenant.clone(),
        day,
        n,
    }
    .to_string();
    let record = Record {
        expires_at: now.saturating_add(duration),
        holder: ulid::Ulid::new().to_string(),
    };
    let bytes = serde_json::to_vec(&record).unwrap_or_default();
    match store.put(&key, bytes.into(), PutMode::Create) {
        Ok(()) => {}
        Err(StoreError::AlreadyExists { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    // The expired leases this one supersedes.
    for stale in &held {
        store.delete(&stale.to_string())?;
    }
    Ok(Some(Lease { key }))
}

impl Lease {
    /// Gives the lease back, so the next pass need not wait for it to expire.
    pub fn release(self, store: &dyn ObjectStore) -> Result<()> {
        Ok(store.delete(&self.key)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::store::MemoryStore;

    #[test]
    fn one_holder_at_a_time_until_release_or_expiry() {
        let store = MemoryStore::default();
        let tenant = Tenant::from_header(Some("t")).unwrap();
        let day = Day(19_000);
        let a = acquire(&store, &tenant, day, 100, 50).unwrap().unwrap();
        assert!(acquire(&store, &tenant, day, 149, 50).unwrap().is_none());
        let other_day = acquire(&store, &tenant, Day(19_001), 120, 50).unwrap();
        other_day
            .expect("other days are free")
            .release(&store)
            .unwrap();
        a.release(&store).unwrap();
        let b = acquire(&store, &tenant, day, 120, 50).unwrap().unwrap();
        // b's holder is killed: its lease lapses, and the next taker supersedes it.
        assert!(acquire(&store, &tenant, day, 169, 50).unwrap().is_none());
        let c = acquire(&store, &tenant, day, 170, 50).unwrap().unwrap();
        assert_eq!(store.keys().len(), 1, "{:?}", store.keys());
        c.release(&store).unwrap();
        // The late release of a superseded lease is harmless.
        b.release(&store).unwrap();
        assert!(store.keys().is_empty(), "{:?}", store.keys());
    }

    #[test]
    fn an_expired_lease_is_superseded_and_removed() {
        let store = MemoryStore::default();
        let tenant = Tenant::from_header(Some("t")).unwrap();
        let day = Day(19_000);
        let key = LeaseKey {
            tenant: tenant.clone(),
            day,
            n: 0,
        }
        .to_string();
        store
            .put(
                &key,
                br#"{"expires_at":0}"#.to_vec().into(),
                PutMode::Create,
            )
            .unwrap();
        // Number 0 has expired: the next taker takes 1 and removes 0.
        let taken = acquire(&store, &tenant, day, 10, 50).unwrap().unwrap();
        assert!(taken.key.ends_with("00000000000000000001.json"));
        assert_eq!(store.keys().len(), 1);
    }
}
