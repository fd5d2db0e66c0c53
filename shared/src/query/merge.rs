//! Merging a selection: every matching sample of the range summed into one call [`Tree`] by
//! function-name path, with per-profile totals for timelines and series; or rebuilt as one
//! pprof profile; and which series exist in a range, from segment footers alone.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::Result;
use crate::profile::Series;
use crate::selector::Selector;
use crate::storage::chunks::ObjectChunks;
use crate::storage::manifest::{self, SegmentRef};
use crate::storage::segment::{SegmentMeta, SegmentReader, StackNode};
use crate::storage::store::SharedStore;
use crate::tenant::Tenant;
use crate::time::TimeRange;
use crate::tree::{ROOT, Tree};

use super::{QueryError, SampleFilter, scan};

/// The merged result of a selection: tree plus per-profile totals.
pub struct Merged {
    /// The merged call tree.
    pub tree: Tree,
    /// Distinct series seen, by id.
    pub series: Vec<Series>,
    /// Totals per (series id, time).
    pub profile_totals: BTreeMap<(u32, i64), i64>,
}

/// Reads every live segment of the range and merges the matching samples.
pub fn select(
    store: &SharedStore,
    tenant: &Tenant,
    selector: &Selector,
    range: &TimeRange,
) -> Result<Merged> {
    select_filtered(store, tenant, selector, range, &SampleFilter::default())
}

/// [`select`], keeping only the samples `filter` passes.
pub fn select_filtered(
    store: &SharedStore,
    tenant: &Tenant,
    selector: &Selector,
    range: &TimeRange,
    filter: &SampleFilter,
) -> Result<Merged> {
    let mut merged = Merged {
        tree: Tree::new(),
        series: Vec::new(),
        profile_totals: BTreeMap::new(),
    };
    let mut series_ids: HashMap<Series, u32> = HashMap::new();
    scan(store, tenant, selector, range, filter, false, |part| {
        let global: Vec<u32> = part
            .meta
            .series
            .iter()
            .map(|s| {
                *series_ids.entry(s.clone()).or_insert_with(|| {
                    merged.series.push(s.clone());
                    merged.series.len() as u32 - 1
                })
            })
            .collect();
        let samples = &part.samples;
        let mut to_tree = ToTree {
            nodes: vec![usize::MAX; part.nodes.len()],
            names: vec![u32::MAX; part.strings.len()],
        };
        // Samples are sorted by (series, time): sum each profile's run, then add it once.
        let mut profile: Option<((u32, i64), i64)> = None;
        for i in 0..samples.len() {
            let leaf = tree_node(
                &mut merged.tree,
                &mut to_tree,
                &part.nodes,
                &part.strings,
                samples.stack[i],
            );
            merged.tree.add_self(leaf, samples.value[i]);
            let key = (global[samples.series[i] as usize], samples.time[i]);
            match &mut profile {
                Some((k, sum)) if *k == key => *sum += samples.value[i],
                _ => {
                    if let Some((k, sum)) = profile.replace((key, samples.value[i])) {
                        *merged.profile_totals.entry(k).or_default() += sum;
                    }
                }
            }
        }
        if let Some((k, sum)) = profile {
            *merged.profile_totals.entry(k).or_default() += sum;
        }
        Ok(())
    })?;
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
    scan(store, tenant, selector, range, filter, true, |part| {
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

/// One segment's mapping into a merged tree, filled as stacks are met: trie node → tree
/// node, and string id → the tree's name id (so each name is hashed once per segment, not
/// once per node).
struct ToTree {
    nodes: Vec<usize>,
    names: Vec<u32>,
}

/// Maps a segment's stack node to the tree node with the same name path, memoised.
fn tree_node(
    tree: &mut Tree,
    to_tree: &mut ToTree,
    nodes: &[StackNode],
    strings: &[String],
    leaf: u32,
) -> usize {
    let mut chain = Vec::new();
    let mut n = leaf as i32;
    while n >= 0 && to_tree.nodes[n as usize] == usize::MAX {
        chain.push(n as usize);
        n = nodes[n as usize].parent;
    }
    let mut parent = if n >= 0 {
        to_tree.nodes[n as usize]
    } else {
        ROOT
    };
    for &node in chain.iter().rev() {
        let string = nodes[node].name as usize;
        if to_tree.names[string] == u32::MAX {
            to_tree.names[string] = tree.name_id(&strings[string]);
        }
        parent = tree.child_named(parent, to_tree.names[string]);
        to_tree.nodes[node] = parent;
    }
    parent
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
        for s in meta.series {
            if selectors.is_empty() || selectors.iter().any(|sel| sel.matches(&s)) {
                out.insert(s);
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
    for r in manifest::live_segments(store.as_ref(), tenant, range)? {
        let meta = SegmentReader::open(ObjectChunks::open(store, &r)?)?
            .meta()
            .clone();
        if range.overlaps(meta.min_time, meta.max_time) {
            out.push((r, meta));
        }
    }
    Ok(out)
}
