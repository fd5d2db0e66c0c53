//! pprof profiles as clients send them: decoding (gzip sniffed, bounded) and validation, and
//! walking samples as root-first stacks of frames with inlined functions expanded.
//!
//! Which series a sample type becomes is the ingest's business; building a pprof back from
//! stored stacks is `render::pprof`'s.

use prost::Message;

use crate::profile::{self, Dictionary};
use crate::wire::body::decode_body;
use crate::wire::proto::google::v1::{Function, Location, Mapping, Profile};
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

/// Decodes a pprof profile, gzipped or not (sniffed by the magic bytes), of at most `limit`
/// bytes once decompressed, and validates it.
pub fn decode(body: &[u8], limit: usize) -> Result<Profile> {
    let bytes = decode_body(body, limit)?;
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
        let cpu = decode(
            &corpus("cpu.pb.gz"),
            crate::limits::DEFAULT_MAX_PROFILE_BYTES,
        )
        .unwrap();
        assert_eq!(types(&cpu), ["samples:count", "cpu:nanoseconds"]);
        for heap in ["heap", "heap.pb", "heap.pb.gz"] {
            let p = decode(&corpus(heap), crate::limits::DEFAULT_MAX_PROFILE_BYTES).unwrap();
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
        let dir = std::path::Path::new(crate::testing::CORPUS_DIR).join("pprof");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".json") || name == "invalid_utf8.pb.gz" {
                continue;
            }
            let p = decode(&corpus(&name), crate::limits::DEFAULT_MAX_PROFILE_BYTES)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
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
            decode(
                &corpus("invalid_utf8.pb.gz"),
                crate::limits::DEFAULT_MAX_PROFILE_BYTES
            ),
            Err(Error::Pprof(PprofError::InvalidUtf8(_)))
        ));
        assert!(
            decode(
                b"\x0a\xff\xff\xff",
                crate::limits::DEFAULT_MAX_PROFILE_BYTES
            )
            .is_err()
        );
    }

    #[test]
    fn stacks_are_root_first_with_inlined_frames() {
        use crate::wire::proto::google::v1::{Line, Sample, ValueType};
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
