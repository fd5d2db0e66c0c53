//! Building a pprof profile back from stored stacks ([`Builder`]), for SelectMergeProfile and
//! SelectMergeStacktraces with format `pprof`.

use crate::FastMap;
use crate::profile::ProfileType;
use crate::storage::segment::{FunctionRow, MappingRow, NodeFrame, StackNode};
use crate::wire::proto::google::v1::{
    Function, Line, Location, Mapping, Profile, Sample, ValueType,
};

/// A location by content: mapping id, address, and (function id, line) innermost first.
type LocationKey = (u64, u64, Vec<(u64, i64)>);

/// One segment's tables as [`Builder::add`] reads them.
pub struct StoredStacks<'a> {
    /// Strings.
    pub strings: &'a [String],
    /// Functions.
    pub functions: &'a [FunctionRow],
    /// Mappings.
    pub mappings: &'a [MappingRow],
    /// The stack trie.
    pub nodes: &'a [StackNode],
    /// Each trie node's frame.
    pub frames: &'a [NodeFrame],
}

/// Merges stored stacks into one pprof profile of one sample type: functions, mappings and
/// locations deduplicated across segments, one sample per distinct stack of locations. A
/// location is a non-inlined frame plus the inlined frames after it (its lines innermost
/// first), as ingest split it.
#[derive(Debug, Default)]
pub struct Builder {
    strings: Vec<String>,
    string_ids: FastMap<String, i64>,
    functions: Vec<Function>,
    function_ids: FastMap<(i64, i64, i64, i64), u64>,
    mappings: Vec<Mapping>,
    mapping_ids: FastMap<(u64, u64, u64, i64, i64, u32), u64>,
    locations: Vec<Location>,
    location_ids: FastMap<LocationKey, u64>,
    /// Location ids, leaf first (as pprof lists them), and value.
    samples: Vec<(Vec<u64>, i64)>,
    sample_ids: FastMap<Vec<u64>, usize>,
}

impl Builder {
    /// Starts an empty profile.
    pub fn new() -> Self {
        let mut b = Builder::default();
        b.string("");
        b
    }

    fn string(&mut self, s: &str) -> i64 {
        if let Some(id) = self.string_ids.get(s) {
            return *id;
        }
        let id = self.strings.len() as i64;
        self.strings.push(s.to_string());
        self.string_ids.insert(s.to_string(), id);
        id
    }

    fn function(&mut self, name: &str, system_name: &str, filename: &str, start_line: i64) -> u64 {
        let key = (
            self.string(name),
            self.string(system_name),
            self.string(filename),
            start_line,
        );
        if let Some(id) = self.function_ids.get(&key) {
            return *id;
        }
        let id = self.functions.len() as u64 + 1;
        self.functions.push(Function {
            id,
            name: key.0,
            system_name: key.1,
            filename: key.2,
            start_line,
        });
        self.function_ids.insert(key, id);
        id
    }

    fn mapping(&mut self, m: &MappingRow, strings: &[String]) -> u64 {
        let text = |id: i32| usize::try_from(id).ok().and_then(|i| strings.get(i));
        let filename = self.string(text(m.filename).map_or("", String::as_str));
        let build_id = self.string(text(m.build_id).map_or("", String::as_str));
        let key = (
            m.memory_start,
            m.memory_limit,
            m.file_offset,
            filename,
            build_id,
            m.flags,
        );
        if let Some(id) = self.mapping_ids.get(&key) {
            return *id;
        }
        let id = self.mappings.len() as u64 + 1;
        self.mappings.push(Mapping {
            id,
            memory_start: m.memory_start,
            memory_limit: m.memory_limit,
            file_offset: m.file_offset,
            filename,
            build_id,
            has_functions: m.flags & 1 != 0,
            has_filenames: m.flags & 2 != 0,
            has_line_numbers: m.flags & 4 != 0,
            has_inline_frames: m.flags & 8 != 0,
        });
        self.mapping_ids.insert(key, id);
        id
    }

    fn location(&mut self, mapping_id: u64, address: u64, lines: Vec<(u64, i64)>) -> u64 {
        let key = (mapping_id, address, lines);
        if let Some(id) = self.location_ids.get(&key) {
            return *id;
        }
        let id = self.locations.len() as u64 + 1;
        self.locations.push(Location {
            id,
            mapping_id,
            address,
            line: key
                .2
                .iter()
                .map(|(function_id, line)| Line {
                    function_id: *function_id,
                    line: *line,
                })
                .collect(),
            is_folded: false,
        });
        self.location_ids.insert(key, id);
        id
    }

    fn add_sample(&mut self, locations: Vec<u64>, value: i64) {
        match self.sample_ids.get(&locations) {
            Some(i) => self.samples[*i].1 = self.samples[*i].1.saturating_add(value),
            None => {
                self.sample_ids
                    .insert(locations.clone(), self.samples.len());
                self.samples.push((locations, value));
            }
        }
    }

    /// Adds samples given as (trie leaf, value) over one segment's tables. Ids were checked
    /// when the segment was read.
    pub fn add(&mut self, t: &StoredStacks<'_>, samples: impl IntoIterator<Item = (u32, i64)>) {
        let text = |id: i32| {
            usize::try_from(id)
                .ok()
                .and_then(|i| t.strings.get(i))
                .map_or("", String::as_str)
        };
        let mut functions: FastMap<u32, u64> = FastMap::default();
        let mut mappings: FastMap<i32, u64> = FastMap::default();
        let mut stacks: FastMap<u32, Vec<u64>> = FastMap::default();
        for (leaf, value) in samples {
            if let Some(locations) = stacks.get(&leaf) {
                let locations = locations.clone();
                self.add_sample(locations, value);
                continue;
            }
            let mut locations = Vec::new();
            let mut lines = Vec::new();
            let mut n = leaf as i32;
            while n >= 0 {
                let f = t.frames[n as usize];
                let function = match functions.get(&f.function) {
                    Some(id) => *id,
                    None => {
                        let row = t.functions[f.function as usize];
                        let id = self.function(
                            text(row.name as i32),
                            text(row.system_name),
                            text(row.filename),
                            row.start_line,
                        );
                        functions.insert(f.function, id);
                        id
                    }
                };
                lines.push((function, f.line));
                let parent = t.nodes[n as usize].parent;
                // A location ends at its non-inlined frame (or at the root).
                if !f.inlined || parent < 0 {
                    let mapping = match (mappings.get(&f.mapping), usize::try_from(f.mapping)) {
                        (Some(id), _) => *id,
                        (None, Ok(m)) => {
                            let id = self.mapping(&t.mappings[m], t.strings);
                            mappings.insert(f.mapping, id);
                            id
                        }
                        (None, Err(_)) => 0,
                    };
                    locations.push(self.location(mapping, f.address, std::mem::take(&mut lines)));
                }
                n = parent;
            }
            stacks.insert(leaf, locations.clone());
            self.add_sample(locations, value);
        }
    }

    /// Folds stacks so that at most `max_nodes` location nodes remain (0: no limit), as the
    /// flame graph does: below the threshold, a stack's rest becomes one `other` location.
    fn truncate(&mut self, max_nodes: usize) {
        // A trie of location stacks, root first; node 0 is the root.
        let mut parents: Vec<(usize, u64)> = vec![(usize::MAX, 0)];
        let mut ids: FastMap<(usize, u64), usize> = FastMap::default();
        let mut totals: Vec<i64> = vec![0];
        let mut paths = Vec::with_capacity(self.samples.len());
        for (locations, value) in &self.samples {
            let mut node = 0;
            let mut path = Vec::with_capacity(locations.len());
            for loc in locations.iter().rev() {
                node = *ids.entry((node, *loc)).or_insert_with(|| {
                    parents.push((node, *loc));
                    totals.push(0);
                    parents.len() - 1
                });
                totals[node] = totals[node].saturating_add(*value);
                path.push(node);
            }
            paths.push(path);
        }
        let min = crate::tree::threshold(&totals, max_nodes);
        if min == 0 {
            return;
        }
        let other = self.function(crate::tree::OTHER, "", "", 0);
        let other = self.location(0, 0, vec![(other, 0)]);
        let samples = std::mem::take(&mut self.samples);
        self.sample_ids.clear();
        for ((locations, value), path) in samples.into_iter().zip(paths) {
            let kept = path.iter().take_while(|n| totals[**n] >= min).count();
            let mut cut: Vec<u64> = locations[locations.len() - kept..].to_vec();
            if kept < locations.len() {
                cut.insert(0, other);
            }
            self.add_sample(cut, value);
        }
    }

    /// Finishes the profile: one sample type, its period, and the time span it covers.
    pub fn finish(
        mut self,
        profile_type: &ProfileType,
        period: i64,
        time_nanos: i64,
        duration_nanos: i64,
        max_nodes: usize,
    ) -> Profile {
        self.truncate(max_nodes);
        let sample_type = ValueType {
            r#type: self.string(&profile_type.sample_type),
            unit: self.string(&profile_type.sample_unit),
        };
        let period_type = ValueType {
            r#type: self.string(&profile_type.period_type),
            unit: self.string(&profile_type.period_unit),
        };
        Profile {
            default_sample_type: sample_type.r#type,
            sample_type: vec![sample_type],
            sample: self
                .samples
                .into_iter()
                .filter(|(_, v)| *v != 0)
                .map(|(location_id, value)| Sample {
                    location_id,
                    value: vec![value],
                    label: vec![],
                })
                .collect(),
            mapping: self.mappings,
            location: self.locations,
            function: self.functions,
            string_table: self.strings,
            time_nanos,
            duration_nanos,
            period_type: Some(period_type),
            period,
            ..Profile::default()
        }
    }
}
