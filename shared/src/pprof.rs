//! pprof profiles: decoding (gzip sniffed, bounded) and validation, walking samples as
//! root-first stacks of frames with inlined functions expanded, and building a pprof back from
//! stored stacks ([`Builder`], for SelectMergeProfile and format `pprof`).
//!
//! Which series a sample type becomes is the ingest's business.

use prost::Message;

use crate::ingest::decode_body;
use crate::profile::ProfileType;
use crate::profile::{self, Dictionary};
use crate::proto::google::v1::{Function, Line, Location, Mapping, Profile, Sample, ValueType};
use crate::segment::{FunctionRow, MappingRow, NodeFrame, StackNode};
use crate::{Error, FastMap, Result};

/// Why a pprof profile was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PprofError {
    /// The bytes are not a pprof protobuf.
    #[error("invalid pprof: {0}")]
    Decode(String),
    /// A pprof string is not UTF-8: well-formed protobuf, rejected content.
    #[error("invalid pprof: {0}")]
    InvalidUtf8(String),
    /// An index or id points nowhere.
    #[error("invalid pprof: {0}")]
    Dangling(String),
}

/// Decodes a pprof profile, gzipped or not (sniffed by the magic bytes), and validates it.
pub fn decode(body: &[u8]) -> Result<Profile> {
    let bytes = decode_body(body)?;
    let profile = Profile::decode(bytes).map_err(|e| {
        // prost reports a bad string only in its message.
        let message = e.to_string();
        Error::Pprof(if message.contains("UTF-8") {
            PprofError::InvalidUtf8(message)
        } else {
            PprofError::Decode(message)
        })
    })?;
    validate(&profile).map_err(Error::Pprof)?;
    Ok(profile)
}

fn check_string(profile: &Profile, index: i64, what: &str) -> Result<(), PprofError> {
    if index < 0 || index as usize >= profile.string_table.len() {
        return Err(PprofError::Dangling(format!(
            "{what} refers to string {index} of {}",
            profile.string_table.len()
        )));
    }
    Ok(())
}

/// Checks that every string index resolves and that every sample has one value per sample
/// type. Ids of locations, functions and mappings that point nowhere are tolerated (real .NET
/// profiles have them): such frames show as `unknown`.
pub fn validate(p: &Profile) -> Result<(), PprofError> {
    if p.string_table.first().is_some_and(|s| !s.is_empty()) {
        return Err(PprofError::Dangling("string_table[0] must be empty".into()));
    }
    for t in p.sample_type.iter().chain(p.period_type.iter()) {
        check_string(p, t.r#type, "a value type")?;
        check_string(p, t.unit, "a value unit")?;
    }
    for f in &p.function {
        check_string(p, f.name, "a function name")?;
        check_string(p, f.system_name, "a function system name")?;
        check_string(p, f.filename, "a function file name")?;
    }
    for m in &p.mapping {
        check_string(p, m.filename, "a mapping file name")?;
        check_string(p, m.build_id, "a mapping build id")?;
    }
    for s in &p.sample {
        if s.value.len() != p.sample_type.len() {
            return Err(PprofError::Dangling(format!(
                "a sample has {} values for {} sample types",
                s.value.len(),
                p.sample_type.len()
            )));
        }
        for label in &s.label {
            check_string(p, label.key, "a label key")?;
            check_string(p, label.str, "a label value")?;
        }
    }
    Ok(())
}

/// Resolves locations, functions and mappings by id for walking samples.
pub struct Symbols<'a> {
    profile: &'a Profile,
    locations: FastMap<u64, &'a Location>,
    functions: FastMap<u64, &'a Function>,
    mappings: FastMap<u64, &'a Mapping>,
}

impl<'a> Symbols<'a> {
    /// Indexes a validated profile.
    pub fn new(profile: &'a Profile) -> Self {
        Symbols {
            profile,
            locations: profile.location.iter().map(|l| (l.id, l)).collect(),
            functions: profile.function.iter().map(|f| (f.id, f)).collect(),
            mappings: profile.mapping.iter().map(|m| (m.id, m)).collect(),
        }
    }

    /// Returns a string of the table (empty for an index out of range).
    pub fn string(&self, index: i64) -> &'a str {
        self.profile
            .string_table
            .get(index as usize)
            .map(String::as_str)
            .unwrap_or("")
    }

    /// Returns the frames of a sample's stack in `dict`, root first. Each location
    /// contributes its lines ([`Dictionary::location`]), converted once and kept in `cache`;
    /// ids that point nowhere are skipped.
    pub fn frames(
        &self,
        dict: &mut Dictionary,
        cache: &mut FastMap<u64, Vec<u32>>,
        location_ids: &[u64],
    ) -> Vec<u32> {
        let mut stack = Vec::with_capacity(location_ids.len());
        // pprof lists a sample's locations leaf first.
        for id in location_ids.iter().rev() {
            if let Some(frames) = cache.get(id) {
                stack.extend_from_slice(frames);
            } else if let Some(location) = self.locations.get(id) {
                let frames = self.location(dict, location);
                stack.extend_from_slice(&frames);
                cache.insert(*id, frames);
            }
        }
        stack
    }

    fn location(&self, dict: &mut Dictionary, location: &Location) -> Vec<u32> {
        let mapping = self.mappings.get(&location.mapping_id).map(|m| {
            dict.mapping(profile::Mapping {
                memory_start: m.memory_start,
                memory_limit: m.memory_limit,
                file_offset: m.file_offset,
                filename: self.string(m.filename).to_string(),
                build_id: self.string(m.build_id).to_string(),
                flags: u32::from(m.has_functions)
                    | u32::from(m.has_filenames) << 1
                    | u32::from(m.has_line_numbers) << 2
                    | u32::from(m.has_inline_frames) << 3,
            })
        });
        let lines = location.line.iter().filter_map(|line| {
            let f = self.functions.get(&line.function_id)?;
            Some((
                profile::Function {
                    name: self.string(f.name).to_string(),
                    system_name: self.string(f.system_name).to_string(),
                    filename: self.string(f.filename).to_string(),
                    start_line: f.start_line,
                },
                line.line,
            ))
        });
        dict.location(mapping, location.address, lines)
    }

    /// Returns the function names of a sample's stack, root first, by the rules of
    /// [`Symbols::frames`].
    pub fn stack(&self, location_ids: &[u64]) -> Vec<String> {
        let mut dict = Dictionary::default();
        let frames = self.frames(&mut dict, &mut FastMap::default(), location_ids);
        frames
            .iter()
            .map(|f| dict.frame_name(*f).to_string())
            .collect()
    }
}

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
        let other = self.function(crate::flamebearer::OTHER, "", "", 0);
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

#[cfg(test)]
mod tests {
    use super::*;
    fn corpus(name: &str) -> Vec<u8> {
        crate::testing::corpus(&format!("pprof/{name}"))
    }

    fn types(p: &Profile) -> Vec<String> {
        let s = Symbols::new(p);
        p.sample_type
            .iter()
            .map(|t| format!("{}:{}", s.string(t.r#type), s.string(t.unit)))
            .collect()
    }

    #[test]
    fn decodes_go_cpu_and_heap_gzipped_or_not() {
        let cpu = decode(&corpus("cpu.pb.gz")).unwrap();
        assert_eq!(types(&cpu), ["samples:count", "cpu:nanoseconds"]);
        for heap in ["heap", "heap.pb", "heap.pb.gz"] {
            let p = decode(&corpus(heap)).unwrap();
            assert_eq!(
                types(&p),
                [
                    "alloc_objects:count",
                    "alloc_space:bytes",
                    "inuse_objects:count",
                    "inuse_space:bytes"
                ],
                "{heap}"
            );
        }
    }

    #[test]
    fn every_valid_corpus_file_decodes_and_walks() {
        let dir =
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/pprof");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".json") || name == "invalid_utf8.pb.gz" {
                continue;
            }
            let p = decode(&corpus(&name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            let symbols = Symbols::new(&p);
            for s in &p.sample {
                let stack = symbols.stack(&s.location_id);
                assert_eq!(stack.is_empty(), s.location_id.is_empty(), "{name}");
            }
            checked += 1;
        }
        assert!(checked >= 25, "{checked}");
    }

    #[test]
    fn rejects_invalid_utf8_and_garbage() {
        assert!(matches!(
            decode(&corpus("invalid_utf8.pb.gz")),
            Err(Error::Pprof(PprofError::InvalidUtf8(_)))
        ));
        assert!(decode(b"\x0a\xff\xff\xff").is_err());
    }

    #[test]
    fn stacks_are_root_first_with_inlined_frames() {
        use crate::proto::google::v1::{Line, Sample, ValueType};
        let p = Profile {
            sample_type: vec![ValueType { r#type: 1, unit: 2 }],
            string_table: ["", "cpu", "nanoseconds", "main", "outer", "inlined"]
                .map(String::from)
                .to_vec(),
            function: (1..=3)
                .map(|i| Function {
                    id: i,
                    name: 2 + i as i64,
                    ..Default::default()
                })
                .collect(),
            location: vec![
                Location {
                    id: 10,
                    line: vec![Line {
                        function_id: 1,
                        line: 1,
                    }],
                    ..Default::default()
                },
                // Innermost first: `inlined` was inlined into `outer`.
                Location {
                    id: 11,
                    line: vec![
                        Line {
                            function_id: 3,
                            line: 7,
                        },
                        Line {
                            function_id: 2,
                            line: 3,
                        },
                    ],
                    ..Default::default()
                },
                Location {
                    id: 12,
                    ..Default::default()
                },
            ],
            sample: vec![Sample {
                location_id: vec![12, 11, 10],
                value: vec![5],
                label: vec![],
            }],
            ..Default::default()
        };
        validate(&p).unwrap();
        assert_eq!(
            Symbols::new(&p).stack(&p.sample[0].location_id),
            ["main", "outer", "inlined", "unknown"]
        );
        let mut dangling = p.clone();
        dangling.sample[0].location_id.insert(0, 99);
        validate(&dangling).unwrap();
        assert_eq!(
            Symbols::new(&dangling)
                .stack(&dangling.sample[0].location_id)
                .len(),
            4
        );
        let mut bad = p.clone();
        bad.sample[0].value.push(1);
        assert!(validate(&bad).is_err());
        let mut bad = p.clone();
        bad.function[0].name = 99;
        assert!(validate(&bad).is_err());
    }
}
