//! Queries: which segments a range reads, which of their samples a selection keeps, and the
//! merged answers.
//!
//! Path: a validated request ([`request`]) → [`manifest::live_segments`] → per segment, the
//! footer's series matched by the selector → only the sample columns of row groups in range
//! (links and symbols only when asked) → [`SampleFilter`] → the caller's merge ([`merge`]:
//! one call tree by function name, or one pprof) → an answer ([`pyroscope`] for the HTTP API,
//! [`connect`] for the Connect API).

pub mod connect;
mod error;
pub mod filter;
pub mod merge;
pub mod pyroscope;
pub mod request;

pub use error::QueryError;
pub use filter::{LeafLocations, SampleFilter};
pub use merge::{Merged, footers, matching_series, select, select_filtered, select_profile};
pub use request::{
    DiffRequest, LabelValuesRequest, Limits, QueryContext, RenderFormat, RenderRequest,
};

use crate::Result;
use crate::selector::Selector;
use crate::storage::chunks::ObjectChunks;
use crate::storage::manifest;
use crate::storage::segment::{
    FunctionRow, MappingRow, NodeFrame, Samples, SegmentMeta, SegmentReader, StackNode,
};
use crate::storage::store::SharedStore;
use crate::tenant::Tenant;
use crate::time::TimeRange;

/// A segment's functions, mappings and node frames: what pprof export needs beyond names.
pub struct Symbols {
    /// Functions.
    pub functions: Vec<FunctionRow>,
    /// Mappings.
    pub mappings: Vec<MappingRow>,
    /// Each trie node's frame.
    pub frames: Vec<NodeFrame>,
}

/// One segment's selected samples and the tables they refer to.
pub struct Part<'a> {
    /// The segment's footer (its series).
    pub meta: &'a SegmentMeta,
    /// Its strings.
    pub strings: Vec<String>,
    /// Its stack trie.
    pub nodes: Vec<StackNode>,
    /// Its symbols, when asked for.
    pub symbols: Option<Symbols>,
    /// The selected samples.
    pub samples: Samples,
    /// The samples' links (index 0 the empty link; only that one unless links were read).
    pub links: Vec<crate::profile::Link>,
}

/// Reads every live segment of the range and hands each one's matching samples, filtered, to
/// `visit`. Only the columns needed are read: names and samples always, links only when the
/// filter selects by ids, symbols only `with_symbols` or for `go_pgo`.
pub fn scan(
    store: &SharedStore,
    tenant: &Tenant,
    selector: &Selector,
    range: &TimeRange,
    filter: &SampleFilter,
    with_symbols: bool,
    mut visit: impl FnMut(Part<'_>) -> Result<()>,
) -> Result<()> {
    for r in manifest::live_segments(store.as_ref(), tenant, range)? {
        let reader = SegmentReader::open(ObjectChunks::open(store, &r)?)?;
        let meta = reader.meta();
        if !range.overlaps(meta.min_time, meta.max_time) {
            continue;
        }
        let matching: Vec<bool> = meta.series.iter().map(|s| selector.matches(s)).collect();
        if !matching.contains(&true) {
            continue;
        }
        let strings = reader.read_strings()?;
        let nodes = reader.read_nodes(strings.len())?;
        let mut links = vec![crate::profile::Link::default()];
        let samples = reader.read_samples(
            range.from,
            range.until,
            &|s| matching[s as usize],
            nodes.len(),
            filter.reads_links().then_some(&mut links),
        )?;
        if samples.is_empty() {
            continue;
        }
        let symbols = if with_symbols || filter.go_pgo.is_some() {
            let (functions, mappings) = reader.read_symbols(strings.len())?;
            let frames = reader.read_node_frames(&nodes, &functions, mappings.len())?;
            Some(Symbols {
                functions,
                mappings,
                frames,
            })
        } else {
            None
        };
        let mut part = Part {
            meta,
            strings,
            nodes,
            symbols,
            samples,
            links,
        };
        filter.apply(&mut part);
        if !part.samples.is_empty() {
            visit(part)?;
        }
    }
    Ok(())
}
