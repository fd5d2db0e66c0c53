//! Merging a selection: every matching sample of the range summed into one call [`Tree`] by
//! function-name path, with per-profile totals for timelines and series; or rebuilt as one
//! pprof profile; and which series exist in a range, from segment footers alone.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::profile::Series;
use crate::selector::Selector;
use crate::storage::chunks::ObjectChunks;
use crate::storage::manifest::{self, SegmentRef};
use crate::storage::segment::PathFingerprint;
use crate::storage::segment::{FooterCache, SegmentMeta, SegmentReader};
use crate::storage::store::SharedStore;
use crate::tenant::Tenant;
use crate::time::TimeRange;
use crate::tree::Tree;
use crate::{FastMap, Result};

use super::stack_paths::PathIndex;
use super::{QueryError, Reads, SampleFilter, Source, scan, scan_from};

/// The merged result of a selection: tree plus per-profile totals.
pub struct Merged {
    /// The merged call tree.
    pub tree: Tree,
    /// Distinct series seen, by id.
    pub series: Vec<Series>,
    /// Totals per (series id, time).
    pub profile_totals: BTreeMap<(u32, i64), i64>,
}

/// What a caller needs of a merge; work for the rest is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    /// The merged call tree.
    pub tree: bool,
    /// Totals per profile (timelines, series).
    pub profile_totals: bool,
}

impl Wanted {
    /// Tree and per-profile totals (a render with its timeline).
    pub const ALL: Wanted = Wanted {
        tree: true,
        profile_totals: true,
    };
    /// Only the call tree (flame graphs, diffs).
    pub const TREE: Wanted = Wanted {
        tree: true,
        profile_totals: false,
    };
    /// Only per-profile totals (time series).
    pub const TOTALS: Wanted = Wanted {
        tree: false,
        profile_totals: true,
    };
}

/// Reads every live segment of the range and merges the matching samples.
pub fn select(
    store: &SharedStore,
    tenant: &Tenant,
    selector: &Selector,
    range: &TimeRange,
    wanted: Wanted,
) -> Result<Merged> {
    select_filtered(
        store,
        tenant,
        selector,
        range,
        &SampleFilter::default(),
        wanted,
    )
}

/// [`select`], keeping only the samples `filter` passes. What is not `wanted` stays empty.
pub fn select_filtered(
    store: &SharedStore,
    tenant: &Tenant,
    selector: &Selector,
    range: &TimeRange,
    filter: &SampleFilter,
    wanted: Wanted,
) -> Result<Merged> {
    select_from(store, tenant, Source::Live, selector, range, filter, wanted)
}

/// [`select_filtered`] over the segments `source` names.
pub fn select_from(
    store: &SharedStore,
    tenant: &Tenant,
    source: Source<'_>,
    selector: &Selector,
    range: &TimeRange,
    filter: &SampleFilter,
    wanted: Wanted,
) -> Result<Merged> {
    let mut merged = Merged {
        tree: Tree::new(),
        series: Vec::new(),
        profile_totals: BTreeMap::new(),
    };
    let mut series_ids: HashMap<Series, u32> = HashMap::new();
    // Each series list's series by their ids in `merged.series`.
    let mut global_of = super::PerSeriesList::default();
    let mut paths = PathIndex::default();
    // Tree nodes by stored path fingerprint, from the day segments read so far.
    let mut by_fingerprint: FastMap<PathFingerprint, usize> = FastMap::default();
    let reads = Reads {
        symbols: false,
        sums: true,
        stacks: wanted.tree,
        profile_totals: wanted.profile_totals,
        fingerprints: true,
    };
    scan_from(
        store,
        tenant,
        source,
        selector,
        range,
        filter,
        reads,
        |mut part| {
            let global: &[u32] = global_of.get(&part.meta.series, |series| {
                series
                    .iter()
                    .map(|s| {
                        *series_ids.entry(s.clone()).or_insert_with(|| {
                            merged.series.push(s.clone());
                            merged.series.len() as u32 - 1
                        })
                    })
                    .collect::<Vec<_>>()
            });
            if wanted.tree {
                // Stacks seen before in a day segment are added by fingerprint; the trie is read
                // only for the others (and for parts without fingerprints).
                let mut unknown = Vec::new();
                for (i, fp) in part.fingerprints.iter().enumerate() {
                    match by_fingerprint.get(fp) {
                        Some(&node) => merged.tree.add_self(node, part.samples.value[i]),
                        None => unknown.push(i),
                    }
                }
                let fingerprinted = part.fingerprints.len();
                if !unknown.is_empty() || fingerprinted < part.samples.len() {
                    part.read_trie()?;
                    let samples = &part.samples;
                    let mut stacks = paths.segment(&mut merged.tree, &part.nodes, &part.strings);
                    for i in unknown {
                        let node = stacks.tree_node(samples.stack[i]);
                        by_fingerprint.insert(part.fingerprints[i], node);
                        stacks.add_self(node, samples.value[i]);
                    }
                    for i in fingerprinted..samples.len() {
                        let node = stacks.tree_node(samples.stack[i]);
                        stacks.add_self(node, samples.value[i]);
                    }
                }
            }
            let samples = &part.samples;
            if wanted.profile_totals {
                for &(series, time, total) in &part.profile_totals {
                    let t = merged
                        .profile_totals
                        .entry((global[series as usize], time))
                        .or_default();
                    *t = t.saturating_add(total);
                }
                // The per-profile rows (after the sums) are sorted by (series, time) within each
                // of at most three reads: sum each profile's run, then add it once. Saturating,
                // as the sums and totals tables are.
                let mut profile: Option<((u32, i64), i64)> = None;
                for i in part.summed..samples.len() {
                    let key = (global[samples.series[i] as usize], samples.time[i]);
                    match &mut profile {
                        Some((k, sum)) if *k == key => *sum = sum.saturating_add(samples.value[i]),
                        _ => {
                            if let Some((k, sum)) = profile.replace((key, samples.value[i])) {
                                let t = merged.profile_totals.entry(k).or_default();
                                *t = t.saturating_add(sum);
                            }
                        }
                    }
                }
                if let Some((k, sum)) = profile {
                    let t = merged.profile_totals.entry(k).or_default();
                    *t = t.saturating_add(sum);
                }
            }
            Ok(())
        },
    )?;
    Ok(merged)
}

/// The merged pprof of the selection: the selector's profile type as the one sample type,
/// the largest period of the series read, `time_nanos`/`duration_nanos` the range, and at most
/// `max_nodes` location nodes (0: all).
pub fn select_profile(
    store: &SharedStore,
    tenant: &Tenant,
    selector: &Selector,
    range: &TimeRange,
    filter: &SampleFilter,
    max_nodes: usize,
) -> Result<crate::wire::proto::google::v1::Profile> {
    let profile_type = selector
        .profile_type
        .clone()
        .ok_or(QueryError::NoProfileType)?;
    let mut builder = crate::render::pprof::Builder::new();
    let mut period = 0i64;
    let reads = Reads {
        symbols: true,
        sums: true,
        stacks: true,
        profile_totals: false,
        fingerprints: false,
    };
    scan(store, tenant, selector, range, filter, reads, |part| {
        let Some(symbols) = &part.symbols else {
            return Err(QueryError::SymbolsNotRead.into());
        };
        let s = &part.samples;
        let periods = &part.meta.periods;
        if let Some(p) = s
            .series
            .iter()
            .filter_map(|x| periods.get(*x as usize))
            .max()
        {
            period = period.max(*p);
        }
        builder.add(
            &crate::render::pprof::StoredStacks {
                strings: &part.strings,
                functions: &symbols.functions,
                mappings: &symbols.mappings,
                nodes: &part.nodes,
                frames: &symbols.frames,
            },
            (0..s.len()).map(|i| (s.stack[i], s.value[i])),
        );
        Ok(())
    })?;
    Ok(builder.finish(
        &profile_type,
        period,
        range.from,
        range.until - range.from,
        max_nodes,
    ))
}

/// Returns the series that match any of `selectors` (every series when there is none) in the
/// segments overlapping `range`, judged by the segments' footers alone.
pub fn matching_series(
    store: &SharedStore,
    tenant: &Tenant,
    selectors: &[Selector],
    range: &TimeRange,
) -> Result<BTreeSet<Series>> {
    let mut out = BTreeSet::new();
    for (_, meta) in footers(store, tenant, range)? {
        for s in meta.series.iter() {
            if selectors.is_empty() || selectors.iter().any(|sel| sel.matches(s)) {
                out.insert(s.clone());
            }
        }
    }
    Ok(out)
}

/// Returns the footer of every live segment whose time bounds overlap `range`.
pub fn footers(
    store: &SharedStore,
    tenant: &Tenant,
    range: &TimeRange,
) -> Result<Vec<(SegmentRef, SegmentMeta)>> {
    let mut out = Vec::new();
    let mut cache = FooterCache::default();
    for r in manifest::live_segments(store.as_ref(), tenant, range)? {
        let meta = SegmentReader::open_cached(ObjectChunks::open(store, &r)?, &mut cache)?
            .meta()
            .clone();
        if range.overlaps(meta.min_time, meta.max_time) {
            out.push((r, meta));
        }
    }
    Ok(out)
}
