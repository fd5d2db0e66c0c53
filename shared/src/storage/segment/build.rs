//! Building a segment's tables: profiles or other segments in, deduplicated series, strings,
//! functions, mappings, stack prefixes and links out.

use std::sync::Arc;

use super::*;
use crate::FastMap;
use crate::profile::{Dictionary, Ids, Link, Profile, Series, Stack};

/// Not mapped yet, in [`Mapped::stacks`].
const NOT_YET: u32 = u32::MAX;

/// A dictionary's frames, links and stacks as ids of the segment, the stacks mapped as
/// samples meet them.
#[derive(Debug)]
struct Mapped {
    dict: Arc<Dictionary>,
    frames: Vec<u32>,
    links: Vec<u32>,
    /// Per stack of the dictionary: its trie node here, `NOT_YET` before a sample meets it.
    stacks: Vec<u32>,
    /// Whether its stacks are the only nodes of the segment, and its frames distinct frames
    /// here: then distinct stacks are distinct nodes, made without a lookup (an upload of
    /// one pprof adds nothing else).
    alone: bool,
}

/// Builds a [`SegmentData`] from profiles or other segments, deduplicating series, strings,
/// functions, mappings, stack prefixes and links.
#[derive(Debug, Default)]
pub struct SegmentBuilder {
    data: SegmentData,
    series_ids: FastMap<Series, u32>,
    string_ids: Ids,
    function_ids: Ids,
    mapping_ids: Ids,
    link_ids: Ids,
    /// Distinct frames, so that a trie edge is keyed by 8 bytes.
    frame_ids: Ids,
    frames: Vec<NodeFrame>,
    node_ids: FastMap<(i32, u32), u32>,
    /// The last dictionary added, mapped: the profiles of one upload share one dictionary,
    /// which is mapped once.
    last_dict: Option<Mapped>,
    /// Stacks on the way up to a mapped one, while mapping (kept to reuse its allocation).
    unmapped: Vec<(usize, u32)>,
    /// Nodes added by the only dictionary mapped so far, not in `node_ids` yet: their
    /// (parent, frame) keys. They are indexed when anything else adds a node.
    unindexed: Vec<((i32, u32), u32)>,
}

impl SegmentBuilder {
    /// Starts an empty segment for a tenant.
    pub fn new(tenant: &str) -> Self {
        SegmentBuilder {
            data: SegmentData {
                tenant: tenant.to_string(),
                ..SegmentData::default()
            },
            link_ids: Ids::of(&[Link::default()]),
            ..Self::default()
        }
    }

    fn series_id(&mut self, series: &Series) -> u32 {
        if let Some(id) = self.series_ids.get(series) {
            return *id;
        }
        let id = self.data.series.len() as u32;
        self.data.series.push(series.clone());
        self.data.periods.push(0);
        self.series_ids.insert(series.clone(), id);
        id
    }

    fn string_id(&mut self, s: &str) -> u32 {
        self.string_ids
            .intern_with(&mut self.data.strings, s, str::to_string)
    }

    /// A string id, −1 for the empty string.
    fn optional_string_id(&mut self, s: &str) -> i32 {
        if s.is_empty() {
            -1
        } else {
            self.string_id(s) as i32
        }
    }

    fn function_id(&mut self, f: FunctionRow) -> u32 {
        self.function_ids.intern(&mut self.data.functions, f)
    }

    fn mapping_id(&mut self, m: MappingRow) -> u32 {
        self.mapping_ids.intern(&mut self.data.mappings, m)
    }

    fn link_id(&mut self, link: &Link) -> u32 {
        if link.is_empty() {
            return 0;
        }
        self.link_ids
            .intern_with(&mut self.data.links, link, Link::clone)
    }

    fn frame_id(&mut self, frame: NodeFrame) -> u32 {
        self.frame_ids.intern(&mut self.frames, frame)
    }

    /// The trie node of `frame` below `parent`, added if new.
    fn trie_node(&mut self, parent: i32, frame: u32) -> u32 {
        for (key, id) in self.unindexed.drain(..) {
            self.node_ids.insert(key, id);
        }
        if let Some(id) = self.node_ids.get(&(parent, frame)) {
            return *id;
        }
        let id = self.new_node(parent, frame);
        self.node_ids.insert((parent, frame), id);
        id
    }

    /// Adds a trie node without looking for it or indexing it.
    fn new_node(&mut self, parent: i32, frame: u32) -> u32 {
        let id = self.data.nodes.len() as u32;
        let node_frame = self.frames[frame as usize];
        let name = self.data.functions[node_frame.function as usize].name;
        self.data.nodes.push(StackNode { parent, name });
        self.data.node_frames.push(node_frame);
        id
    }

    /// A series' period is the largest of its profiles', as pprof's merge takes it.
    fn merge_period(&mut self, series: u32, period: i64) {
        let p = &mut self.data.periods[series as usize];
        *p = (*p).max(period);
    }

    /// Maps a dictionary's frames and links to ids of this segment; its stacks are mapped
    /// as samples meet them.
    fn map_dictionary(&mut self, dict: &Arc<Dictionary>) -> Mapped {
        let no_frames_before = self.frames.is_empty();
        let functions: Vec<u32> = dict
            .functions
            .iter()
            .map(|f| {
                let row = FunctionRow {
                    name: self.string_id(&f.name),
                    system_name: self.optional_string_id(&f.system_name),
                    filename: self.optional_string_id(&f.filename),
                    start_line: f.start_line,
                };
                self.function_id(row)
            })
            .collect();
        let mappings: Vec<u32> = dict
            .mappings
            .iter()
            .map(|m| {
                let row = MappingRow {
                    memory_start: m.memory_start,
                    memory_limit: m.memory_limit,
                    file_offset: m.file_offset,
                    filename: self.optional_string_id(&m.filename),
                    build_id: self.optional_string_id(&m.build_id),
                    flags: m.flags,
                };
                self.mapping_id(row)
            })
            .collect();
        let frames = dict
            .frames
            .iter()
            .map(|f| {
                self.frame_id(NodeFrame {
                    function: functions[f.function as usize],
                    line: f.line,
                    mapping: f.mapping.map_or(-1, |m| mappings[m as usize] as i32),
                    address: f.address,
                    inlined: f.inlined,
                })
            })
            .collect();
        let links = dict.links.iter().map(|l| self.link_id(l)).collect();
        let alone = self.data.nodes.is_empty()
            && no_frames_before
            && self.frames.len() == dict.frames.len();
        // At most one node per stack of the dictionary; an upload's samples use most of them.
        let nodes = dict.stack_count();
        if alone {
            self.unindexed.reserve(nodes);
        } else {
            self.node_ids.reserve(nodes);
        }
        self.data.nodes.reserve(nodes);
        self.data.node_frames.reserve(nodes);
        Mapped {
            dict: dict.clone(),
            frames,
            links,
            stacks: Vec::new(),
            alone,
        }
    }

    /// Adds a profile. Samples with an empty stack are dropped.
    pub fn add_profile(&mut self, profile: &Profile) {
        let mut mapped = match self.last_dict.take() {
            Some(mapped) if Arc::ptr_eq(&mapped.dict, &profile.dict) => mapped,
            _ => self.map_dictionary(&profile.dict),
        };
        let series = self.series_id(&profile.series);
        self.merge_period(series, profile.period);
        for sample in &profile.samples {
            let leaf = self.node_of(&mut mapped, sample.stack);
            if leaf >= 0 {
                self.data.samples.push(
                    series,
                    profile.time_nanos,
                    leaf as u32,
                    sample.value,
                    mapped.links[sample.link as usize],
                );
            }
        }
        self.last_dict = Some(mapped);
    }

    /// Adds profiles. Those of one upload share a dictionary, whose stacks each become a
    /// trie node here once, however many samples of its profiles refer to them.
    pub fn add_profiles(&mut self, profiles: &[Profile]) {
        for profile in profiles {
            self.add_profile(profile);
        }
    }

    /// The trie node of a stack of the mapped dictionary, −1 for an empty stack (or one not
    /// of that dictionary).
    fn node_of(&mut self, mapped: &mut Mapped, stack: Stack) -> i32 {
        let Some(index) = stack.index() else {
            return -1;
        };
        if let Some(&node) = mapped.stacks.get(index)
            && node != NOT_YET
        {
            return node as i32;
        }
        if mapped.stacks.len() < mapped.dict.stack_count() {
            mapped.stacks.resize(mapped.dict.stack_count(), NOT_YET);
        }
        // Up to the nearest stack mapped already (or the root), then down, adding nodes.
        let mut unmapped = std::mem::take(&mut self.unmapped);
        unmapped.clear();
        let mut parent = -1i32;
        let mut at = stack;
        while let Some((above, frame)) = mapped.dict.split(at) {
            let Some(i) = at.index().filter(|i| *i < mapped.stacks.len()) else {
                break;
            };
            if mapped.stacks[i] != NOT_YET {
                parent = mapped.stacks[i] as i32;
                break;
            }
            unmapped.push((i, frame));
            at = above;
        }
        for &(i, frame) in unmapped.iter().rev() {
            let frame = mapped.frames[frame as usize];
            let node = if mapped.alone {
                let node = self.new_node(parent, frame);
                self.unindexed.push(((parent, frame), node));
                node
            } else {
                self.trie_node(parent, frame)
            };
            parent = node as i32;
            mapped.stacks[i] = node;
        }
        self.unmapped = unmapped;
        parent
    }

    /// Adds every sample of another segment.
    pub fn add_segment(&mut self, other: &SegmentData) {
        // Its nodes join the trie: a dictionary mapped before is no longer alone in it.
        if let Some(mapped) = &mut self.last_dict {
            mapped.alone = false;
        }
        let series: Vec<u32> = other.series.iter().map(|s| self.series_id(s)).collect();
        for (s, period) in series.iter().zip(&other.periods) {
            self.merge_period(*s, *period);
        }
        let strings: Vec<u32> = other.strings.iter().map(|s| self.string_id(s)).collect();
        let opt = |id: i32| usize::try_from(id).map_or(-1, |i| strings[i] as i32);
        let functions: Vec<u32> = other
            .functions
            .iter()
            .map(|f| {
                self.function_id(FunctionRow {
                    name: strings[f.name as usize],
                    system_name: opt(f.system_name),
                    filename: opt(f.filename),
                    start_line: f.start_line,
                })
            })
            .collect();
        let mappings: Vec<u32> = other
            .mappings
            .iter()
            .map(|m| {
                self.mapping_id(MappingRow {
                    filename: opt(m.filename),
                    build_id: opt(m.build_id),
                    ..*m
                })
            })
            .collect();
        let links: Vec<u32> = other.links.iter().map(|l| self.link_id(l)).collect();
        let mut nodes: Vec<u32> = Vec::with_capacity(other.nodes.len());
        for (node, f) in other.nodes.iter().zip(&other.node_frames) {
            // Parents precede children (checked at decode), so the parent is already mapped.
            let parent = if node.parent < 0 {
                -1
            } else {
                nodes[node.parent as usize] as i32
            };
            let frame = self.frame_id(NodeFrame {
                function: functions[f.function as usize],
                mapping: usize::try_from(f.mapping).map_or(-1, |m| mappings[m] as i32),
                ..*f
            });
            nodes.push(self.trie_node(parent, frame));
        }
        let s = &other.samples;
        for i in 0..s.len() {
            self.data.samples.push(
                series[s.series[i] as usize],
                s.time[i],
                nodes[s.stack[i] as usize],
                s.value[i],
                links[s.link[i] as usize],
            );
        }
    }

    /// Sorts the samples and sums rows with the same (series, time, stack, link).
    pub fn finish(mut self) -> SegmentData {
        let s = std::mem::take(&mut self.data.samples);
        // Sorting the rows themselves, not indexes into the columns, keeps the sort in cache.
        let mut rows: Vec<(u32, i64, u32, u32, i64)> = (0..s.len())
            .map(|i| (s.series[i], s.time[i], s.stack[i], s.link[i], s.value[i]))
            .collect();
        drop(s);
        rows.sort_unstable_by_key(|r| (r.0, r.1, r.2, r.3));
        let mut out = Samples::default();
        let mut last = None;
        for (series, time, stack, link, value) in rows {
            if last == Some((series, time, stack, link)) {
                let n = out.len() - 1;
                out.value[n] = out.value[n].saturating_add(value);
            } else {
                out.push(series, time, stack, value, link);
                last = Some((series, time, stack, link));
            }
        }
        self.data.samples = out;
        self.data
    }
}
