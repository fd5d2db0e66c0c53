//! Queries: render (flame graph + timeline, or dot) and label values.
//!
//! Path: validate parameters → [`manifest::live_segments`] → per segment, decode the footer
//! and match series → read only the sample columns of row groups in range → merge stacks into
//! one [`Tree`] by function name → encode.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use parquet::file::reader::{ChunkReader, Length};
use serde::Serialize;

use crate::FastMap;
use crate::flamebearer::{self, DEFAULT_MAX_NODES, FlameGraph, MAX_MAX_NODES};
use crate::manifest::{self, SegmentRef};
use crate::profile::{ProfileType, Series};
use crate::segment::{
    FunctionRow, MappingRow, NodeFrame, Samples, SegmentMeta, SegmentReader, StackNode,
};
use crate::selector::Selector;
use crate::store::ObjectStore;
use crate::tenant::Tenant;
use crate::time::TimeRange;
use crate::timeline::{Aggregation, Timeline, TimelineBuilder};
use crate::tree::{ROOT, Tree};
use crate::{Error, Result};

/// A store that segment readers can hold on to.
pub type SharedStore = Arc<dyn ObjectStore + Send + Sync>;

/// Segments up to this size are fetched whole (one read); larger ones footer first, then only
/// the column chunks a query needs.
pub const WHOLE_OBJECT_BYTES: u64 = 4 << 20;
/// Bytes fetched from a large segment's end on open: the footer in one read, usually.
pub const FOOTER_PREFETCH_BYTES: u64 = 256 << 10;

/// A segment's bytes, fetched whole or by ranges on demand.
pub enum ObjectChunks {
    /// The whole object.
    Whole(Bytes),
    /// Ranges read on demand; the tail is prefetched.
    Ranged {
        /// Where to read from.
        store: SharedStore,
        /// The object key.
        key: String,
        /// The object's size.
        size: u64,
        /// The last bytes of the object, starting at `tail_start`.
        tail: Bytes,
        /// Offset of `tail` in the object.
        tail_start: u64,
    },
}

impl ObjectChunks {
    /// Fetches an object whole or its tail, by size.
    pub fn open(store: &SharedStore, r: &SegmentRef) -> Result<Self> {
        if r.size <= WHOLE_OBJECT_BYTES {
            return Ok(ObjectChunks::Whole(store.get(&r.key)?));
        }
        let tail_start = r.size.saturating_sub(FOOTER_PREFETCH_BYTES);
        let tail = store.get_range(&r.key, tail_start..r.size)?;
        Ok(ObjectChunks::Ranged {
            store: store.clone(),
            key: r.key.clone(),
            size: r.size,
            tail,
            tail_start,
        })
    }
}

impl Length for ObjectChunks {
    fn len(&self) -> u64 {
        match self {
            ObjectChunks::Whole(b) => b.len() as u64,
            ObjectChunks::Ranged { size, .. } => *size,
        }
    }
}

impl ChunkReader for ObjectChunks {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        let len = self.len().saturating_sub(start) as usize;
        Ok(bytes::Buf::reader(self.get_bytes(start, len)?))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let end = start + length as u64;
        match self {
            ObjectChunks::Whole(b) => {
                if end > b.len() as u64 {
                    return Err(parquet::errors::ParquetError::EOF(
                        "read past the end".into(),
                    ));
                }
                Ok(b.slice(start as usize..end as usize))
            }
            ObjectChunks::Ranged {
                store,
                key,
                tail,
                tail_start,
                ..
            } => {
                if start >= *tail_start && end <= tail_start + tail.len() as u64 {
                    let from = (start - tail_start) as usize;
                    return Ok(tail.slice(from..from + length));
                }
                store
                    .get_range(key, start..end)
                    .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))
            }
        }
    }
}

/// What `format` a render asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenderFormat {
    /// The JSON flame graph answer.
    Json,
    /// Graphviz text.
    Dot,
}

/// A validated `/pyroscope/render` request.
#[derive(Debug, Clone)]
pub struct RenderRequest {
    /// The profile type queried.
    pub profile_type: ProfileType,
    /// The series selector.
    pub selector: Selector,
    /// The time range.
    pub range: TimeRange,
    /// `maxNodes`.
    pub max_nodes: usize,
    /// `groupBy` label, if any.
    pub group_by: Option<String>,
    /// `format`.
    pub format: RenderFormat,
    /// `aggregation`.
    pub aggregation: Aggregation,
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Query limits (api.md): all configurable, off by default except max nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest range a query may span (ns); a longer one is a 400.
    pub max_query_length: Option<i64>,
    /// How far back a query may reach (ns); an earlier start is clamped to it.
    pub max_query_lookback: Option<i64>,
    /// Max nodes when a request names none.
    pub max_nodes_default: usize,
    /// The largest max nodes a request may ask for; more is a 400.
    pub max_nodes_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_query_length: None,
            max_query_lookback: None,
            max_nodes_default: DEFAULT_MAX_NODES,
            max_nodes_max: MAX_MAX_NODES,
        }
    }
}

impl Limits {
    /// Environment variable: longest query range (`24h`, `7d`; `0` or unset: no limit).
    pub const ENV_MAX_QUERY_LENGTH: &str = "FLAMELET_MAX_QUERY_LENGTH";
    /// Environment variable: how far back queries reach (`7d`; `0` or unset: no limit).
    pub const ENV_MAX_QUERY_LOOKBACK: &str = "FLAMELET_MAX_QUERY_LOOKBACK";
    /// Environment variable: max nodes when a request names none (default 8192).
    pub const ENV_MAX_NODES_DEFAULT: &str = "FLAMELET_MAX_FLAMEGRAPH_NODES_DEFAULT";
    /// Environment variable: the largest max nodes accepted (default 1048576).
    pub const ENV_MAX_NODES_MAX: &str = "FLAMELET_MAX_FLAMEGRAPH_NODES_MAX";

    /// Reads the limits from configuration values by name (the environment in a component).
    pub fn from_config(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut limits = Limits::default();
        let duration = |name: &str| -> Result<Option<i64>> {
            match get(name).as_deref().map(str::trim) {
                None | Some("") | Some("0") => Ok(None),
                Some(v) => match crate::time::parse_duration(v) {
                    Some(0) => Ok(None),
                    Some(n) if n > 0 => Ok(Some(n)),
                    _ => Err(Error::Internal(format!(
                        "{name}=`{v}` is not a duration such as 24h or 7d"
                    ))),
                },
            }
        };
        let count = |name: &str| -> Result<Option<usize>> {
            match get(name).as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(v) => v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .map(Some)
                    .ok_or_else(|| {
                        Error::Internal(format!("{name}=`{v}` is not a positive whole number"))
                    }),
            }
        };
        limits.max_query_length = duration(Self::ENV_MAX_QUERY_LENGTH)?;
        limits.max_query_lookback = duration(Self::ENV_MAX_QUERY_LOOKBACK)?;
        if let Some(n) = count(Self::ENV_MAX_NODES_MAX)? {
            limits.max_nodes_max = n;
        }
        if let Some(n) = count(Self::ENV_MAX_NODES_DEFAULT)? {
            limits.max_nodes_default = n;
        }
        limits.max_nodes_default = limits.max_nodes_default.min(limits.max_nodes_max);
        Ok(limits)
    }
}

/// What every query is answered against: the current time and the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryContext {
    /// Now, in nanoseconds since the epoch.
    pub now_nanos: i64,
    /// The limits.
    pub limits: Limits,
}

impl QueryContext {
    /// A context with the default limits.
    pub fn at(now_nanos: i64) -> Self {
        QueryContext {
            now_nanos,
            limits: Limits::default(),
        }
    }

    /// Applies the range limits: a start before the lookback is clamped to it (the range may
    /// then be empty), and a range longer than the maximum is a 400.
    pub fn limit(&self, mut range: TimeRange) -> Result<TimeRange> {
        if let Some(lookback) = self.limits.max_query_lookback {
            range.from = range.from.max(self.now_nanos.saturating_sub(lookback));
        }
        if let Some(max) = self.limits.max_query_length
            && range.until.saturating_sub(range.from) > max
        {
            let hours = |ns: i64| ns as f64 / 3.6e12;
            return Err(Error::bad_input(format!(
                "the query time range exceeds the limit (max_query_length, actual: {:.1}h, limit: {:.1}h)",
                hours(range.until - range.from),
                hours(max)
            )));
        }
        Ok(range)
    }

    /// `from`/`until` parameters as a limited range.
    pub fn range_params(&self, from: Option<&str>, until: Option<&str>) -> Result<TimeRange> {
        self.limit(TimeRange::from_params(from, until, self.now_nanos)?)
    }

    /// Connect `start`/`end` (ms) as a limited range.
    pub fn range_millis(&self, start: i64, end: i64) -> Result<TimeRange> {
        self.limit(TimeRange::from_millis(start, end, self.now_nanos)?)
    }

    /// Checks a max-nodes number: 0 or less is the default; more than the maximum is a 400.
    pub fn max_nodes(&self, n: i64) -> Result<usize> {
        let max = self.limits.max_nodes_max;
        if n > max as i64 {
            return Err(Error::bad_input(format!("maxNodes {n} is more than {max}")));
        }
        Ok(if n <= 0 {
            self.limits.max_nodes_default
        } else {
            n as usize
        })
    }

    /// Parses `maxNodes`/`max-nodes` by the rules of [`QueryContext::max_nodes`].
    pub fn parse_max_nodes(&self, params: &[(String, String)]) -> Result<usize> {
        let value = param(params, "maxNodes").or_else(|| param(params, "max-nodes"));
        let Some(v) = value.filter(|v| !v.is_empty()) else {
            return Ok(self.limits.max_nodes_default);
        };
        let n: i64 = v.parse().map_err(|_| {
            Error::bad_input(format!("invalid maxNodes `{v}`: expected a whole number"))
        })?;
        self.max_nodes(n)
    }
}

impl RenderRequest {
    /// Validates render parameters (`query`, `from`, `until`, `maxNodes`, `groupBy`, `format`,
    /// `aggregation`).
    pub fn from_params(params: &[(String, String)], cx: &QueryContext) -> Result<Self> {
        let query = param(params, "query")
            .or_else(|| param(params, "name"))
            .ok_or_else(|| Error::bad_input("missing `query` parameter"))?;
        let (profile_type, selector) = Selector::parse_with_type(query)?;
        let range = cx.range_params(param(params, "from"), param(params, "until"))?;
        let max_nodes = cx.parse_max_nodes(params)?;
        let group_by = param(params, "groupBy")
            .filter(|g| !g.is_empty())
            .map(String::from);
        let format = match param(params, "format") {
            Some("dot") => RenderFormat::Dot,
            _ => RenderFormat::Json,
        };
        let aggregation = match param(params, "aggregation") {
            None | Some("") | Some("sum") => Aggregation::Sum,
            Some("avg") | Some("average") => Aggregation::Avg,
            Some(other) => {
                return Err(Error::bad_input(format!(
                    "unknown aggregation `{other}`: use sum or avg"
                )));
            }
        };
        Ok(RenderRequest {
            profile_type,
            selector,
            range,
            max_nodes,
            group_by,
            format,
            aggregation,
        })
    }
}

/// The merged result of a selection: tree plus per-profile totals.
pub struct Merged {
    /// The merged call tree.
    pub tree: Tree,
    /// Distinct series seen, by id.
    pub series: Vec<Series>,
    /// Totals per (series id, time).
    pub profile_totals: BTreeMap<(u32, i64), i64>,
}

/// pprof-style `go_pgo` cutting: keep only the `keep` leaf-most locations of each stack
/// (0 keeps all), and with `aggregate_callees` forget the leaf frame's line, so that calls of
/// one callee from different lines merge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeafLocations {
    /// Locations kept from the leaf; 0 keeps every location.
    pub keep: usize,
    /// Clear the leaf frame's line.
    pub aggregate_callees: bool,
}

/// Which samples to keep: by their links (pprof `span_id`, `trace_id`, `profile_id` labels;
/// for each non-empty set, the sample's id must be in it) and by where their stacks start
/// (`call_site`: the first frames, root first); and how stacks are cut (`go_pgo`, which takes
/// precedence over `call_site`, as in the reference server).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SampleFilter {
    /// Span ids.
    pub span_ids: BTreeSet<String>,
    /// Trace ids.
    pub trace_ids: BTreeSet<String>,
    /// Profile ids.
    pub profile_ids: BTreeSet<String>,
    /// Stacks must start with these function names, root first.
    pub call_site: Vec<String>,
    /// Cut stacks to their leaf locations.
    pub go_pgo: Option<LeafLocations>,
    /// Read the samples' links even when no id selects them (span heatmaps).
    pub read_links: bool,
}

impl SampleFilter {
    /// Tells whether links need to be read (any id set is non-empty).
    pub fn reads_links(&self) -> bool {
        self.read_links || self.selects_links()
    }

    fn selects_links(&self) -> bool {
        !(self.span_ids.is_empty() && self.trace_ids.is_empty() && self.profile_ids.is_empty())
    }

    /// Tells whether a sample with this link passes.
    pub fn keeps_link(&self, link: &crate::profile::Link) -> bool {
        let ok = |set: &BTreeSet<String>, id: &String| set.is_empty() || set.contains(id);
        ok(&self.span_ids, &link.span_id)
            && ok(&self.trace_ids, &link.trace_id)
            && ok(&self.profile_ids, &link.profile_id)
    }

    /// Applies the filter to one segment's samples: links, then `go_pgo` or `call_site`.
    fn apply(&self, part: &mut Part<'_>) {
        if self.selects_links() {
            let links = &part.links;
            part.samples
                .retain(|s, i| self.keeps_link(&links[s.link[i] as usize]));
        }
        if let Some(pgo) = self.go_pgo {
            cut_to_leaf_locations(part, pgo);
        } else if !self.call_site.is_empty() {
            let keep = call_site_nodes(&part.nodes, &part.strings, &self.call_site);
            part.samples.retain(|s, i| keep[s.stack[i] as usize]);
        }
    }
}

/// For every trie node: does the path from the root to it start with `call_site`? Parents
/// precede children, so one forward pass decides every node.
fn call_site_nodes(nodes: &[StackNode], strings: &[String], call_site: &[String]) -> Vec<bool> {
    // (depth, the path so far agrees with call_site)
    let mut state: Vec<(usize, bool)> = Vec::with_capacity(nodes.len());
    for n in nodes {
        let (depth, agrees) = match usize::try_from(n.parent) {
            Ok(p) => (state[p].0 + 1, state[p].1),
            Err(_) => (1, true),
        };
        let agrees = agrees
            && call_site
                .get(depth - 1)
                .is_none_or(|c| *c == strings[n.name as usize]);
        state.push((depth, agrees));
    }
    state
        .into_iter()
        .map(|(depth, agrees)| agrees && depth >= call_site.len())
        .collect()
}

/// Rewrites a segment part's trie so that each sample's stack keeps only its `keep` leaf-most
/// locations (a location is a non-inlined frame and the inlined frames after it).
fn cut_to_leaf_locations(part: &mut Part<'_>, pgo: LeafLocations) {
    let Some(symbols) = part.symbols.as_mut() else {
        return;
    };
    let mut nodes: Vec<StackNode> = Vec::new();
    let mut frames: Vec<NodeFrame> = Vec::new();
    let mut ids: FastMap<(i32, NodeFrame), u32> = FastMap::default();
    let mut leaves: FastMap<u32, u32> = FastMap::default();
    let mut path = Vec::new();
    for stack in part.samples.stack.iter_mut() {
        if let Some(leaf) = leaves.get(stack) {
            *stack = *leaf;
            continue;
        }
        path.clear();
        let mut n = *stack as i32;
        let mut locations = 0;
        while n >= 0 {
            path.push(n as usize);
            if !symbols.frames[n as usize].inlined {
                locations += 1;
                if locations == pgo.keep {
                    break;
                }
            }
            n = part.nodes[n as usize].parent;
        }
        let mut parent = -1i32;
        for (k, &old) in path.iter().rev().enumerate() {
            let mut frame = symbols.frames[old];
            if pgo.aggregate_callees && k + 1 == path.len() {
                frame.line = 0;
            }
            let id = *ids.entry((parent, frame)).or_insert_with(|| {
                nodes.push(StackNode {
                    parent,
                    name: part.nodes[old].name,
                });
                frames.push(frame);
                nodes.len() as u32 - 1
            });
            parent = id as i32;
        }
        leaves.insert(*stack, parent as u32);
        *stack = parent as u32;
    }
    part.nodes = nodes;
    symbols.frames = frames;
}

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
) -> Result<crate::proto::google::v1::Profile> {
    let profile_type = selector
        .profile_type
        .clone()
        .ok_or_else(|| Error::bad_input("a pprof needs a profile type"))?;
    let mut builder = crate::pprof::Builder::new();
    let mut period = 0i64;
    scan(store, tenant, selector, range, filter, true, |part| {
        let Some(symbols) = &part.symbols else {
            return Err(Error::Internal("segment symbols were not read".into()));
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
            &crate::pprof::StoredStacks {
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

/// `metadata` of the render answer.
#[derive(Debug, Clone, Serialize)]
pub struct RenderMetadata {
    /// `single`, or `double` for a diff.
    pub format: &'static str,
    /// The profiler's name (empty).
    #[serde(rename = "spyName")]
    pub spy_name: String,
    /// Ticks per second of the values.
    #[serde(rename = "sampleRate")]
    pub sample_rate: u64,
    /// Unit name.
    pub units: &'static str,
    /// The sample type.
    pub name: String,
}

/// The JSON answer of `/pyroscope/render`.
#[derive(Debug, Clone, Serialize)]
pub struct RenderResponse {
    /// Always 1.
    pub version: u32,
    /// The flame graph.
    pub flamebearer: FlameGraph,
    /// Units and names.
    pub metadata: RenderMetadata,
    /// Totals over time.
    pub timeline: Timeline,
    /// One timeline per `groupBy` value, or `null`.
    pub groups: Option<BTreeMap<String, Timeline>>,
}

/// A render answer: JSON or dot.
pub enum Rendered {
    /// `application/json`.
    Json(Box<RenderResponse>),
    /// Graphviz text.
    Dot(String),
}

/// Answers `/pyroscope/render`.
pub fn render(store: &SharedStore, tenant: &Tenant, req: &RenderRequest) -> Result<Rendered> {
    let merged = select(store, tenant, &req.selector, &req.range)?;
    if req.format == RenderFormat::Dot {
        return Ok(Rendered::Dot(crate::dot::render(
            &merged.tree,
            req.max_nodes,
            &req.profile_type.sample_type,
        )));
    }
    let mut timeline = TimelineBuilder::new(req.range.from, req.range.until);
    let mut groups: Option<BTreeMap<String, TimelineBuilder>> =
        req.group_by.as_ref().map(|_| BTreeMap::new());
    for (&(series, time), &total) in &merged.profile_totals {
        timeline.add(time, total);
        if let (Some(groups), Some(label)) = (groups.as_mut(), req.group_by.as_ref()) {
            let value = merged.series[series as usize]
                .label(label)
                .unwrap_or_default();
            groups
                .entry(value)
                .or_insert_with(|| TimelineBuilder::new(req.range.from, req.range.until))
                .add(time, total);
        }
    }
    let (units, sample_rate) = req.profile_type.render_units();
    Ok(Rendered::Json(Box::new(RenderResponse {
        version: 1,
        flamebearer: flamebearer::encode(&merged.tree, req.max_nodes),
        metadata: RenderMetadata {
            format: "single",
            spy_name: String::new(),
            sample_rate,
            units,
            name: req.profile_type.sample_type.clone(),
        },
        timeline: timeline.finish(req.aggregation),
        groups: groups.map(|g| {
            g.into_iter()
                .map(|(k, b)| (k, b.finish(req.aggregation)))
                .collect()
        }),
    })))
}

/// A validated `/pyroscope/label-values` request.
#[derive(Debug, Clone)]
pub struct LabelValuesRequest {
    /// The label whose values are listed (`__name__` lists profile type IDs).
    pub label: String,
    /// Which series to consider.
    pub selector: Selector,
    /// The time range.
    pub range: TimeRange,
}

impl LabelValuesRequest {
    /// Validates `label`, `query`, `from`, `until`.
    pub fn from_params(params: &[(String, String)], cx: &QueryContext) -> Result<Self> {
        let label = param(params, "label")
            .or_else(|| param(params, "name"))
            .filter(|l| !l.is_empty())
            .ok_or_else(|| Error::bad_input("missing `label` parameter"))?;
        let selector = Selector::parse(param(params, "query").unwrap_or(""))?;
        let range = cx.range_params(param(params, "from"), param(params, "until"))?;
        Ok(LabelValuesRequest {
            label: label.to_string(),
            selector,
            range,
        })
    }
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

/// Lists the sorted distinct values of a label over the series with data in range (judged by
/// segment time bounds, so without reading sample columns).
pub fn label_values(
    store: &SharedStore,
    tenant: &Tenant,
    req: &LabelValuesRequest,
) -> Result<Vec<String>> {
    let series = matching_series(
        store,
        tenant,
        std::slice::from_ref(&req.selector),
        &req.range,
    )?;
    let values: BTreeSet<String> = series
        .iter()
        .filter_map(|s| {
            if req.label == crate::profile::METRIC_NAME {
                Some(s.profile_type.id())
            } else {
                s.label(&req.label)
            }
        })
        .filter(|v| !v.is_empty())
        .collect();
    Ok(values.into_iter().collect())
}

/// A validated `/pyroscope/render-diff` request: two selections of one profile type.
#[derive(Debug, Clone)]
pub struct DiffRequest {
    /// The left side's selection.
    pub left: (Selector, TimeRange),
    /// The right side's selection.
    pub right: (Selector, TimeRange),
    /// The profile type both sides name.
    pub profile_type: ProfileType,
    /// `maxNodes`.
    pub max_nodes: usize,
}

impl DiffRequest {
    /// Validates `leftQuery`, `leftFrom`, `leftUntil`, `rightQuery`, `rightFrom`,
    /// `rightUntil` and `maxNodes`; both queries must name the same profile type.
    pub fn from_params(params: &[(String, String)], cx: &QueryContext) -> Result<Self> {
        let side = |name: &str| -> Result<(ProfileType, Selector, TimeRange)> {
            let query = param(params, &format!("{name}Query"))
                .ok_or_else(|| Error::bad_input(format!("missing `{name}Query` parameter")))?;
            let (profile_type, selector) = Selector::parse_with_type(query)?;
            let range = cx.range_params(
                param(params, &format!("{name}From")),
                param(params, &format!("{name}Until")),
            )?;
            Ok((profile_type, selector, range))
        };
        let (left_type, left, left_range) = side("left")?;
        let (right_type, right, right_range) = side("right")?;
        let profile_type = same_type(left_type, right_type)?;
        let max_nodes = cx.parse_max_nodes(params)?;
        Ok(DiffRequest {
            left: (left, left_range),
            right: (right, right_range),
            profile_type,
            max_nodes,
        })
    }
}

/// The one profile type of both sides of a diff; different types are a 400.
pub fn same_type(left: ProfileType, right: ProfileType) -> Result<ProfileType> {
    if left != right {
        return Err(Error::bad_input(format!(
            "a diff compares one profile type: left is `{left}`, right is `{right}`"
        )));
    }
    Ok(left)
}

/// The JSON answer of `/pyroscope/render-diff`.
#[derive(Debug, Clone, Serialize)]
pub struct DiffResponse {
    /// Always 1.
    pub version: u32,
    /// The diff flame graph (7-number groups).
    pub flamebearer: flamebearer::DiffGraph,
    /// Units and names; `format` is `double`.
    pub metadata: RenderMetadata,
    /// The left side's total.
    #[serde(rename = "leftTicks")]
    pub left_ticks: i64,
    /// The right side's total.
    #[serde(rename = "rightTicks")]
    pub right_ticks: i64,
}

/// Answers `/pyroscope/render-diff`.
pub fn render_diff(
    store: &SharedStore,
    tenant: &Tenant,
    req: &DiffRequest,
) -> Result<DiffResponse> {
    let left = select(store, tenant, &req.left.0, &req.left.1)?;
    let right = select(store, tenant, &req.right.0, &req.right.1)?;
    let graph = flamebearer::encode_diff(&left.tree, &right.tree, req.max_nodes);
    let (units, sample_rate) = req.profile_type.render_units();
    Ok(DiffResponse {
        version: 1,
        left_ticks: graph.left_ticks,
        right_ticks: graph.right_ticks,
        flamebearer: graph,
        metadata: RenderMetadata {
            format: "double",
            spy_name: String::new(),
            sample_rate,
            units,
            name: req.profile_type.sample_type.clone(),
        },
    })
}
