//! Building a segment's tables: profiles or other segments in, deduplicated series, strings,
//! functions, mappings, stack prefixes and links out.

use std::sync::Arc;

use super::*;
use crate::FastMap;
use crate::profile::{Dictionary, Ids, Link, Profile, Series};

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
    /// Per parent (index parent + 1, the root first): the frame and node of the child found
    /// last. Where consecutive stacks share a prefix (Ruby's, say), a walk meets the same
    /// child again and skips the hash lookup.
    last_child: Vec<(u32, u32)>,
    /// The last dictionary added and its frame and link ids here: the profiles of one
    /// upload share one dictionary, which is mapped once.
    last_dict: Option<(Arc<Dictionary>, Vec<u32>, Vec<u32>)>,
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

    fn node_id(&mut self, parent: i32, frame: u32) -> u32 {
        let slot = (parent + 1) as usize;
        if let Some((f, node)) = self.last_child.get(slot)
            && *f == frame
        {
            return *node;
        }
        let id = self.trie_node(parent, frame);
        if self.last_child.len() <= slot {
            self.last_child.resize(slot + 1, (u32::MAX, 0));
        }
        self.last_child[slot] = (frame, id);
        id
    }

    fn trie_node(&mut self, parent: i32, frame: u32) -> u32 {
        if let Some(id) = self.node_ids.get(&(parent, frame)) {
            return *id;
        }
        let id = self.data.nodes.len() as u32;
        let node_frame = self.frames[frame as usize];
        let name = self.data.functions[node_frame.function as usize].name;
        self.data.nodes.push(StackNode { parent, name });
        self.data.node_frames.push(node_frame);
        self.node_ids.insert((parent, frame), id);
        id
    }

    /// A series' period is the largest of its profiles', as pprof's merge takes it.
    fn merge_period(&mut self, series: u32, period: i64) {
        let p = &mut self.data.periods[series as usize];
        *p = (*p).max(period);
    }

    /// Maps a dictionary's frames and links to ids of this segment.
    fn map_dictionary(&mut self, dict: &Dictionary) -> (Vec<u32>, Vec<u32>) {
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
        (frames, links)
    }

    /// Adds a profile. Samples with an empty stack are dropped.
    pub fn add_profile(&mut self, profile: &Profile) {
        self.add(profile, None);
    }

    /// Adds profiles. Those of one upload share a dictionary and mostly their stacks (a
    /// profile per sample type), so while the dictionary stays the same, each distinct stack
    /// walks the trie once.
    pub fn add_profiles(&mut self, profiles: &[Profile]) {
        let mut leaves = FastMap::default();
        let same = |a: &Profile, b: &Profile| Arc::ptr_eq(&a.dict, &b.dict);
        for (k, profile) in profiles.iter().enumerate() {
            let after_same = k > 0 && same(&profiles[k - 1], profile);
            if !after_same {
                leaves.clear();
            }
            let before_same = profiles.get(k + 1).is_some_and(|p| same(p, profile));
            let memo = (after_same || before_same).then_some(&mut leaves);
            self.add(profile, memo);
        }
    }

    /// Adds a profile; `leaves` remembers the trie leaf (−1: none) of each stack of its
    /// dictionary.
    fn add<'p>(&mut self, profile: &'p Profile, mut leaves: Option<&mut FastMap<&'p [u32], i32>>) {
        let (dict, frames, links) = match self.last_dict.take() {
            Some((dict, frames, links)) if Arc::ptr_eq(&dict, &profile.dict) => {
                (dict, frames, links)
            }
            _ => {
                let (frames, links) = self.map_dictionary(&profile.dict);
                (profile.dict.clone(), frames, links)
            }
        };
        let series = self.series_id(&profile.series);
        self.merge_period(series, profile.period);
        for sample in &profile.samples {
            let leaf = match leaves.as_deref_mut() {
                Some(leaves) => *leaves
                    .entry(&sample.stack)
                    .or_insert_with(|| self.leaf(&frames, &sample.stack)),
                None => self.leaf(&frames, &sample.stack),
            };
            if leaf >= 0 {
                self.data.samples.push(
                    series,
                    profile.time_nanos,
                    leaf as u32,
                    sample.value,
                    links[sample.link as usize],
                );
            }
        }
        self.last_dict = Some((dict, frames, links));
    }

    /// Walks a stack of dictionary frames (mapped by `frames`) into the trie; its leaf, −1
    /// for an empty stack.
    fn leaf(&mut self, frames: &[u32], stack: &[u32]) -> i32 {
        let mut parent = -1i32;
        for frame in stack {
            parent = self.node_id(parent, frames[*frame as usize]) as i32;
        }
        parent
    }

    /// Adds every sample of another segment.
    pub fn add_segment(&mut self, other: &SegmentData) {
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
            // Nodes come in trie order here, not stack by stack: no last-child memo.
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
