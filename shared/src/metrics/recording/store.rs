//! A tenant's stored recording rules: one JSON object per version (the protojson of
//! `RecordingRulesStore`, as the reference server keeps it), under
//! [`RecordingRulesKey::prefix`]. A change reads the newest version, applies itself and writes
//! the next version create-only; a writer that loses the race reads again and re-applies,
//! so concurrent changes from stateless instances are never lost. The two newest versions are
//! kept (a reader that listed just before a change still finds what it listed).

use crate::storage::keys::RecordingRulesKey;
use crate::storage::store::{ObjectStore, PutMode, StoreError, list_all};
use crate::tenant::Tenant;
use crate::wire::proto::settings::v1 as pb;
use crate::{Error, Result};

use super::{RecordingRule, RecordingRuleError};

/// How often a change is re-applied after losing the race to another writer.
const ATTEMPTS: usize = 8;

/// The stored rules at one version (0 and none before the first change).
#[derive(Debug, Clone, Default)]
pub struct StoredRules {
    /// The version read.
    pub version: u64,
    /// The rules, in the order they were created.
    pub rules: Vec<RecordingRule>,
}

/// Reads the newest version of the tenant's rules.
pub fn load(store: &dyn ObjectStore, tenant: &Tenant) -> Result<StoredRules> {
    // A version deleted between the listing and the read was replaced by two newer ones:
    // list again.
    for _ in 0..ATTEMPTS {
        let Some(newest) = newest_version(store, tenant)? else {
            return Ok(StoredRules::default());
        };
        let key = newest.to_string();
        match store.get(&key) {
            Ok(bytes) => return decode(&key, &bytes, newest.version),
            Err(StoreError::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(RecordingRuleError::Contended { attempts: ATTEMPTS }.into())
}

/// Applies `change` to the newest version and stores the result as the next, re-applying it
/// on a fresh read whenever another writer got there first. Returns what `change` returned.
pub fn update<T>(
    store: &dyn ObjectStore,
    tenant: &Tenant,
    mut change: impl FnMut(&mut Vec<RecordingRule>) -> Result<T>,
) -> Result<T> {
    for _ in 0..ATTEMPTS {
        let mut current = load(store, tenant)?;
        let answer = change(&mut current.rules)?;
        let key = RecordingRulesKey {
            tenant: tenant.clone(),
            version: current.version + 1,
        };
        let body = pb::RecordingRulesStore {
            rules: current.rules.iter().map(RecordingRule::to_store).collect(),
            generation: key.version as i64,
        };
        let bytes = serde_json::to_vec(&body).map_err(|e| Error::Corrupt {
            key: key.to_string(),
            message: e.to_string(),
        })?;
        match store.put(&key.to_string(), bytes.into(), PutMode::Create) {
            Ok(()) => {
                prune(store, tenant, key.version);
                return Ok(answer);
            }
            Err(StoreError::AlreadyExists { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(RecordingRuleError::Contended { attempts: ATTEMPTS }.into())
}

fn newest_version(store: &dyn ObjectStore, tenant: &Tenant) -> Result<Option<RecordingRulesKey>> {
    Ok(list_all(store, &RecordingRulesKey::prefix(tenant))?
        .into_iter()
        .filter_map(|o| RecordingRulesKey::parse(&o.key))
        .max())
}

fn decode(key: &str, bytes: &[u8], version: u64) -> Result<StoredRules> {
    let corrupt = |message: String| Error::Corrupt {
        key: key.to_string(),
        message,
    };
    let stored: pb::RecordingRulesStore =
        serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    let rules = stored
        .rules
        .into_iter()
        .map(RecordingRule::new)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| corrupt(e.to_string()))?;
    Ok(StoredRules { version, rules })
}

/// Deletes the versions older than the one before `newest`. Best effort: a version left
/// behind is deleted by a later change.
fn prune(store: &dyn ObjectStore, tenant: &Tenant, newest: u64) {
    let Ok(listed) = list_all(store, &RecordingRulesKey::prefix(tenant)) else {
        return;
    };
    for key in listed
        .iter()
        .filter_map(|o| RecordingRulesKey::parse(&o.key))
        .filter(|k| k.version + 1 < newest)
    {
        if let Err(e) = store.delete(&key.to_string()) {
            tracing::warn!("deleting the old recording rules {key}: {e}");
        }
    }
}
