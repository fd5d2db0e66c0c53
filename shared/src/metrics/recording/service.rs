//! `POST /settings.v1.RecordingRulesService/<Method>`: get, list, upsert and delete a
//! tenant's recording rules (binary or JSON Connect). Provisioned rules (the configuration
//! file's) come first, hide stored rules of the same id, and cannot be changed here.

use crate::Result;
use crate::query::QueryError;
use crate::query::connect::{Call, unary};
use crate::storage::store::ObjectStore;
use crate::tenant::Tenant;
use crate::wire::connect::Encoded;
use crate::wire::proto::settings::v1 as pb;

use super::{
    RecordingRule, RecordingRuleError, generate_id, max_rules_from_env, provisioned_from_env, store,
};

/// The service's path prefix.
pub const RECORDING_RULES_SERVICE: &str = "settings.v1.RecordingRulesService";

/// What the server's configuration says about recording rules.
#[derive(Debug, Clone, Default)]
pub struct RulesConfig {
    /// The configuration file's rules, the same for every tenant.
    pub provisioned: Vec<RecordingRule>,
    /// How many rules a tenant may store.
    pub max_rules: usize,
}

impl RulesConfig {
    /// The settings a component reads from its environment.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        Ok(RulesConfig {
            provisioned: provisioned_from_env(&get)?,
            max_rules: max_rules_from_env(&get)?,
        })
    }

    fn provisioned(&self, id: &str) -> Option<&RecordingRule> {
        self.provisioned.iter().find(|r| r.id == id)
    }

    fn refuse_provisioned(&self, id: &str) -> Result<()> {
        match self.provisioned(id) {
            Some(_) => Err(RecordingRuleError::Provisioned { id: id.to_string() }.into()),
            None => Ok(()),
        }
    }

    /// Every rule that counts for the tenant: the provisioned ones, then the stored ones
    /// whose ids they do not take.
    pub fn rules(
        &self,
        store: &dyn ObjectStore,
        tenant: &Tenant,
    ) -> Result<Vec<(RecordingRule, bool)>> {
        let stored = store::load(store, tenant)?;
        let mut all: Vec<(RecordingRule, bool)> =
            self.provisioned.iter().map(|r| (r.clone(), true)).collect();
        all.extend(
            stored
                .rules
                .into_iter()
                .filter(|r| self.provisioned(&r.id).is_none())
                .map(|r| (r, false)),
        );
        Ok(all)
    }
}

/// Answers one call.
pub fn call(
    store: &dyn ObjectStore,
    tenant: &Tenant,
    config: &RulesConfig,
    c: &Call<'_>,
) -> Result<Encoded> {
    let method = c
        .path
        .trim_start_matches('/')
        .strip_prefix(RECORDING_RULES_SERVICE)
        .and_then(|m| m.strip_prefix('/'))
        .unwrap_or("");
    match method {
        "GetRecordingRule" => unary(c, |r: pb::GetRecordingRuleRequest| {
            let id = required_id(&r.id)?;
            let rule = config
                .rules(store, tenant)?
                .into_iter()
                .find(|(rule, _)| rule.id == id)
                .ok_or(RecordingRuleError::NotFound { id: id.to_string() })?;
            Ok(pb::GetRecordingRuleResponse {
                rule: Some(rule.0.to_api(rule.1)),
            })
        }),
        "ListRecordingRules" => unary(c, |_: pb::ListRecordingRulesRequest| {
            Ok(pb::ListRecordingRulesResponse {
                rules: config
                    .rules(store, tenant)?
                    .iter()
                    .map(|(rule, provisioned)| rule.to_api(*provisioned))
                    .collect(),
            })
        }),
        "UpsertRecordingRule" => unary(c, |r: pb::UpsertRecordingRuleRequest| {
            let rule = upsert(store, tenant, config, r)?;
            Ok(pb::UpsertRecordingRuleResponse {
                rule: Some(rule.to_api(false)),
            })
        }),
        "DeleteRecordingRule" => unary(c, |r: pb::DeleteRecordingRuleRequest| {
            let id = required_id(&r.id)?;
            config.refuse_provisioned(id)?;
            store::update(store, tenant, |rules| {
                let before = rules.len();
                rules.retain(|rule| rule.id != id);
                if rules.len() == before {
                    return Err(RecordingRuleError::NotFound { id: id.to_string() }.into());
                }
                Ok(())
            })?;
            Ok(pb::DeleteRecordingRuleResponse {})
        }),
        _ => Err(QueryError::UnknownMethod {
            path: c.path.to_string(),
        }
        .into()),
    }
}

fn required_id(id: &str) -> Result<&str> {
    let id = id.trim();
    if id.is_empty() {
        return Err(RecordingRuleError::Invalid {
            field: "id",
            value: String::new(),
            reason: "is required".to_string(),
        }
        .into());
    }
    Ok(id)
}

/// Creates the rule (a new id when the request has none: generation 1) or replaces the stored
/// one of its id, whose generation the request must name (the stored rule's + 1 after).
fn upsert(
    store: &dyn ObjectStore,
    tenant: &Tenant,
    config: &RulesConfig,
    r: pb::UpsertRecordingRuleRequest,
) -> Result<RecordingRule> {
    let id = match r.id.trim() {
        "" => generate_id(),
        id => id.to_string(),
    };
    config.refuse_provisioned(&id)?;
    let checked = RecordingRule::new(pb::RecordingRuleStore {
        id,
        metric_name: r.metric_name,
        prometheus_data_source: String::new(),
        matchers: r.matchers,
        group_by: r.group_by,
        external_labels: r.external_labels,
        generation: r.generation,
        stacktrace_filter: r.stacktrace_filter,
    })?;
    store::update(store, tenant, |rules| {
        let mut rule = checked.clone();
        match rules.iter_mut().find(|s| s.id == rule.id) {
            Some(stored) => {
                if rule.generation != stored.generation {
                    return Err(RecordingRuleError::StaleGeneration {
                        id: rule.id.clone(),
                        sent: rule.generation,
                        stored: stored.generation,
                    }
                    .into());
                }
                rule.generation = stored.generation + 1;
                *stored = rule.clone();
            }
            None => {
                if rules.len() >= config.max_rules {
                    return Err(RecordingRuleError::TooMany {
                        limit: config.max_rules,
                    }
                    .into());
                }
                rule.generation = 1;
                rules.push(rule.clone());
            }
        }
        Ok(rule)
    })
}
