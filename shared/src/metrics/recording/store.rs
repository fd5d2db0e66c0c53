//! A tenant's stored recording rules: the protojson of `RecordingRulesStore` (as the reference
//! server keeps it), one version per change under [`recording_rules_prefix`], changed through
//! [`crate::storage::versioned`] so that concurrent writers never lose a change.

use crate::storage::keys::recording_rules_prefix;
use crate::storage::store::ObjectStore;
use crate::storage::versioned;
use crate::tenant::Tenant;
use crate::wire::proto::settings::v1 as pb;
use crate::{Error, Result};

use super::RecordingRule;

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
    let prefix = recording_rules_prefix(tenant);
    match versioned::load::<pb::RecordingRulesStore>(store, &prefix)? {
        None => Ok(StoredRules::default()),
        Some((version, stored)) => Ok(StoredRules {
            version,
            rules: checked(&prefix, stored)?,
        }),
    }
}

/// Applies `change` to the newest rules and stores the result as the next version,
/// re-applying it on a fresh read whenever another writer got there first. Returns what
/// `change` returned.
pub fn update<T>(
    store: &dyn ObjectStore,
    tenant: &Tenant,
    mut change: impl FnMut(&mut Vec<RecordingRule>) -> Result<T>,
) -> Result<T> {
    let prefix = recording_rules_prefix(tenant);
    versioned::update(
        store,
        &prefix,
        |current: Option<pb::RecordingRulesStore>, version| {
            let mut rules = match current {
                Some(stored) => checked(&prefix, stored)?,
                None => Vec::new(),
            };
            let answer = change(&mut rules)?;
            let stored = pb::RecordingRulesStore {
                rules: rules.iter().map(RecordingRule::to_store).collect(),
                generation: version as i64,
            };
            Ok((stored, answer))
        },
    )
}

/// The stored rules, each checked again (a rule stored by an older version that would no
/// longer pass is reported, not used).
fn checked(prefix: &str, stored: pb::RecordingRulesStore) -> Result<Vec<RecordingRule>> {
    stored
        .rules
        .into_iter()
        .map(RecordingRule::new)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::Corrupt {
            key: prefix.to_string(),
            message: e.to_string(),
        })
}
