//! The label methods: ProfileTypes, LabelNames, LabelValues and Series, answered from segment
//! footers alone (no sample columns).

use std::collections::BTreeSet;

use crate::Result;
use crate::profile::{ProfileType, Series};
use crate::query::{QueryError, matching_series};
use crate::storage::store::SharedStore;
use crate::tenant::Tenant;
use crate::time::TimeRange;
use crate::wire::proto::querier::v1 as q;
use crate::wire::proto::types::v1 as types;

use super::selectors;

fn profile_type_message(t: &ProfileType) -> types::ProfileType {
    types::ProfileType {
        id: t.id(),
        name: t.name.clone(),
        sample_type: t.sample_type.clone(),
        sample_unit: t.sample_unit.clone(),
        period_type: t.period_type.clone(),
        period_unit: t.period_unit.clone(),
    }
}

/// The profile types with data in `range`, sorted by ID.
pub fn profile_types(
    store: &SharedStore,
    tenant: &Tenant,
    range: &TimeRange,
) -> Result<q::ProfileTypesResponse> {
    let types: BTreeSet<ProfileType> = matching_series(store, tenant, &[], range)?
        .into_iter()
        .map(|s| s.profile_type)
        .collect();
    Ok(q::ProfileTypesResponse {
        profile_types: types.iter().map(profile_type_message).collect(),
    })
}

/// The sorted label names of the series matching `matchers` in `range`.
pub fn label_names(
    store: &SharedStore,
    tenant: &Tenant,
    matchers: &[String],
    range: &TimeRange,
) -> Result<types::LabelNamesResponse> {
    let names: BTreeSet<String> = matching_series(store, tenant, &selectors(matchers)?, range)?
        .iter()
        .flat_map(all_labels)
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, _)| k)
        .collect();
    Ok(types::LabelNamesResponse {
        names: names.into_iter().collect(),
    })
}

/// The sorted values of label `name` over the series matching `matchers` in `range`.
pub fn label_values(
    store: &SharedStore,
    tenant: &Tenant,
    name: &str,
    matchers: &[String],
    range: &TimeRange,
) -> Result<types::LabelValuesResponse> {
    if name.is_empty() {
        return Err(QueryError::NoLabelName.into());
    }
    let values: BTreeSet<String> = matching_series(store, tenant, &selectors(matchers)?, range)?
        .iter()
        .filter_map(|s| s.label(name))
        .filter(|v| !v.is_empty())
        .collect();
    Ok(types::LabelValuesResponse {
        names: values.into_iter().collect(),
    })
}

/// The label sets of the series matching `matchers` in `range`, each with every label, or
/// only `label_names` when given (then distinct sets).
pub fn series(
    store: &SharedStore,
    tenant: &Tenant,
    matchers: &[String],
    label_names: &[String],
    range: &TimeRange,
) -> Result<q::SeriesResponse> {
    let sets: BTreeSet<Vec<(String, String)>> =
        matching_series(store, tenant, &selectors(matchers)?, range)?
            .iter()
            .map(|s| {
                all_labels(s)
                    .into_iter()
                    .filter(|(k, v)| {
                        !v.is_empty() && (label_names.is_empty() || label_names.contains(k))
                    })
                    .collect()
            })
            .collect();
    Ok(q::SeriesResponse {
        labels_set: sets
            .into_iter()
            .map(|set| types::Labels {
                labels: set
                    .into_iter()
                    .map(|(name, value)| types::LabelPair { name, value })
                    .collect(),
            })
            .collect(),
    })
}

/// Every label of a series, the private `__…__` ones included, sorted by name.
pub(super) fn all_labels(s: &Series) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = s
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .chain(
            s.profile_type
                .private_labels()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v)),
        )
        .collect();
    labels.sort();
    labels.dedup_by(|a, b| a.0 == b.0);
    labels
}
