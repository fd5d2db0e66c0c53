//! pprof profiles as clients send them: decoding (gzip sniffed, bounded) and validation, and
//! walking samples as root-first stacks of frames with inlined functions expanded.
//!
//! Which series a sample type becomes is the ingest's business; building a pprof back from
//! stored stacks is `render::pprof`'s.

mod flat;
mod read;

use std::ops::Range;

use prost::Message;

pub use self::flat::{Flat, Location, SampleRef, Tables};
use crate::profile::{self, Dictionary, Stack};
use crate::wire::body::decode_body;
use crate::wire::proto::google::v1::Profile;
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

/// Decodes a pprof profile into prost's messages, gzipped or not (sniffed by the magic
/// bytes), of at most `limit` bytes once decompressed, and validates it. For a caller that
/// edits or re-encodes the profile; ingest reads with [`read`].
pub fn decode(body: &[u8], limit: usize) -> Result<Profile> {
    let bytes = decode_body(body, limit)?;
    let profile = decode_message(&bytes)?;
    validate(&Flat::from(&profile)).map_err(Error::Pprof)?;
    Ok(profile)
}

/// Reads a pprof profile as [`decode`] does, into a [`Flat`] one.
pub fn read(body: &[u8], limit: usize) -> Result<Flat> {
    let bytes = decode_body(body, limit)?;
    let profile = read_flat(&bytes)?;
    validate(&profile).map_err(Error::Pprof)?;
    Ok(profile)
}

/// The protobuf decode alone, by the streaming reader, or by prost where it gives up.
fn read_flat(bytes: &[u8]) -> Result<Flat> {
    match read::read(bytes, true) {
        Some(flat) => Ok(flat),
        None => decode_message(bytes).map(|p| Flat::from(&p)),
    }
}

/// The protobuf decode alone, by prost.
fn decode_message(bytes: &[u8]) -> Result<Profile> {
    Profile::decode(bytes).map_err(|e| {
        // prost reports a bad string only in its message.
        let message = e.to_string();
        Error::Pprof(if message.contains("UTF-8") {
            PprofError::InvalidUtf8(message)
        } else {
            PprofError::Decode(message)
        })
    })
}

/// What the `pprof` fuzz target checks: where the streaming reader answers, its answer is
/// prost's.
pub(crate) fn check_reader_against_prost(bytes: &[u8]) {
    if let Some(flat) = read::read(bytes, true) {
        let decoded = decode_message(bytes).map(|p| Flat::from(&p));
        assert_eq!(decoded.as_ref().ok(), Some(&flat), "{decoded:?}");
    }
}

/// The fields of `Profile` that hold its symbol tables: mapping, location, function and
/// string_table.
const SYMBOL_FIELDS: [u32; 4] = [3, 4, 5, 6];

/// Byte ranges of a message, in order.
type Ranges = Vec<Range<usize>>;

/// A profile's top-level fields, as byte ranges of the message: its symbol tables' and the
/// rest. `None` when the bytes are not a well-formed sequence of fields (the full decode then
/// says why).
fn split_fields(bytes: &[u8]) -> Option<(Ranges, Ranges)> {
    use prost::encoding::{WireType, decode_key, decode_varint};
    let (mut symbols, mut rest) = (Ranges::new(), Ranges::new());
    let mut buf = bytes;
    while !buf.is_empty() {
        let start = bytes.len() - buf.len();
        let (tag, wire_type) = decode_key(&mut buf).ok()?;
        let skip = match wire_type {
            WireType::Varint => {
                decode_varint(&mut buf).ok()?;
                0
            }
            WireType::SixtyFourBit => 8,
            WireType::ThirtyTwoBit => 4,
            WireType::LengthDelimited => usize::try_from(decode_varint(&mut buf).ok()?).ok()?,
            WireType::StartGroup | WireType::EndGroup => return None,
        };
        buf = buf.get(skip..)?;
        let field = start..bytes.len() - buf.len();
        // Adjacent fields of one kind make one range.
        let ranges = if SYMBOL_FIELDS.contains(&tag) {
            &mut symbols
        } else {
            &mut rest
        };
        match ranges.last_mut() {
            Some(last) if last.end == field.start => last.end = field.end,
            _ => ranges.push(field),
        }
    }
    Some((symbols, rest))
}

/// Tells whether the bytes of `ranges` of `bytes`, in order, are `expected`.
fn ranges_equal(bytes: &[u8], ranges: &[Range<usize>], expected: &[u8]) -> bool {
    let mut at = 0;
    for r in ranges {
        let part = &bytes[r.clone()];
        if expected.get(at..at + part.len()) != Some(part) {
            return false;
        }
        at += part.len();
    }
    at == expected.len()
}

/// The bytes of `ranges` of `bytes`, in order.
fn gather(bytes: &[u8], ranges: &[Range<usize>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ranges.iter().map(|r| r.len()).sum());
    for r in ranges {
        out.extend_from_slice(&bytes[r.clone()]);
    }
    out
}

/// Decodes the profiles of a batch (a Push request's), each like [`decode`]. Agents such as
/// Go's resend the same symbol tables with every profile (most of its bytes); when a
/// profile's table bytes repeat the last one's, only the rest is decoded and the tables given
/// back by [`Batch::give_back`] serve again.
#[derive(Debug, Default)]
pub struct Batch {
    /// The raw table bytes of the last profile decoded, and the key it was given with.
    last: Option<(Vec<u8>, String)>,
    /// The last profile's tables, once given back.
    tables: Option<Tables>,
}

impl Batch {
    /// Decodes a profile as [`decode`] does. `key` says what else its tables depend on (a
    /// caller that repairs them, say): tables are reused only under an equal key. Tells
    /// whether the tables are the last profile's.
    pub fn decode(&mut self, body: &[u8], limit: usize, key: &str) -> Result<(Flat, bool)> {
        let bytes = decode_body(body, limit)?;
        let Some((symbols, rest)) = split_fields(&bytes) else {
            // Not well-formed: the full decode says why.
            self.last = None;
            let profile = read_flat(&bytes)?;
            validate(&profile).map_err(Error::Pprof)?;
            return Ok((profile, false));
        };
        let same = self.last.as_ref().is_some_and(|(raw, k)| {
            k == key && self.tables.is_some() && ranges_equal(&bytes, &symbols, raw)
        });
        let profile = match self.tables.take() {
            Some(tables) if same => {
                let mut p = match read::read(&bytes, false) {
                    Some(p) => p,
                    None => Flat::from(&decode_message(&gather(&bytes, &rest))?),
                };
                p.tables = tables;
                p
            }
            _ => {
                self.last = Some((gather(&bytes, &symbols), key.to_string()));
                read_flat(&bytes)?
            }
        };
        validate(&profile).map_err(Error::Pprof)?;
        Ok((profile, same))
    }

    /// Takes back the symbol tables of the profile [`Batch::decode`] returned last (after
    /// any change made to them for its key), for the next profile.
    pub fn give_back(&mut self, profile: Flat) {
        self.tables = Some(profile.tables);
    }
}

fn check_string(tables: &Tables, index: i64, what: &str) -> Result<(), PprofError> {
    if tables.string(index).is_none() {
        return Err(PprofError::Dangling(format!(
            "{what} refers to string {index} of {}",
            tables.string_count()
        )));
    }
    Ok(())
}

/// Checks that every string index resolves and that every sample has one value per sample
/// type. Ids of locations, functions and mappings that point nowhere are tolerated (real .NET
/// profiles have them): such frames show as `unknown`.
pub fn validate(p: &Flat) -> Result<(), PprofError> {
    let t = &p.tables;
    if t.string(0).is_some_and(|s| !s.is_empty()) {
        return Err(PprofError::Dangling("string_table[0] must be empty".into()));
    }
    for v in p.sample_type.iter().chain(p.period_type.iter()) {
        check_string(t, v.r#type, "a value type")?;
        check_string(t, v.unit, "a value unit")?;
    }
    for f in &t.function {
        check_string(t, f.name, "a function name")?;
        check_string(t, f.system_name, "a function system name")?;
        check_string(t, f.filename, "a function file name")?;
    }
    for m in &t.mapping {
        check_string(t, m.filename, "a mapping file name")?;
        check_string(t, m.build_id, "a mapping build id")?;
    }
    for s in p.samples() {
        if s.value.len() != p.sample_type.len() {
            return Err(PprofError::Dangling(format!(
                "a sample has {} values for {} sample types",
                s.value.len(),
                p.sample_type.len()
            )));
        }
        for label in s.label {
            check_string(t, label.key, "a label key")?;
            check_string(t, label.str, "a label value")?;
        }
    }
    Ok(())
}

/// Where the items of a pprof table are, by id.
enum ById {
    /// The ids are 1..=n in table order, as Go and most profilers write them: no map.
    Dense,
    /// Any other ids; of equal ids, the last item wins.
    Map(FastMap<u64, usize>),
}

impl ById {
    fn new(ids: impl Iterator<Item = u64> + Clone) -> Self {
        if ids.clone().zip(1..).all(|(id, k)| id == k) {
            ById::Dense
        } else {
            ById::Map(ids.enumerate().map(|(i, id)| (id, i)).collect())
        }
    }

    /// The index of the item with this id in a table of `len` items.
    #[inline]
    fn get(&self, id: u64, len: usize) -> Option<usize> {
        match self {
            ById::Dense => id
                .checked_sub(1)
                .and_then(|i| usize::try_from(i).ok())
                .filter(|i| *i < len),
            ById::Map(map) => Self::mapped(map, id),
        }
    }

    /// Kept out of line, so that [`ById::get`] inlines into the walk over every frame.
    #[inline(never)]
    fn mapped(map: &FastMap<u64, usize>, id: u64) -> Option<usize> {
        map.get(&id).copied()
    }
}

/// Resolves locations, functions and mappings by id for walking samples.
pub struct Symbols<'a> {
    tables: &'a Tables,
    locations: ById,
    functions: ById,
    mappings: ById,
}

/// Not converted yet, in [`Converted`]'s tables.
const NOT_YET: u32 = u32::MAX;

/// What the walks over one set of symbol tables have converted so far, by table index: each
/// location's frames and each function's and mapping's id in the dictionary, each converted
/// once, and stacks of that dictionary. Only for profiles with those very tables, walked into
/// that one dictionary (one profile, or a [`Batch`]'s run).
#[derive(Debug, Default)]
pub struct Converted {
    /// Per location: its frames' range in `frames`, `NOT_YET` as start before conversion.
    locations: Vec<(u32, u32)>,
    frames: Vec<u32>,
    functions: Vec<u32>,
    mappings: Vec<u32>,
    /// (function id, line) of the location being converted, outermost first.
    lines: Vec<(u32, i64)>,
    /// Per stack of the dictionary ([`Stack::slot`]): the location id walked below it last
    /// and the stack that made. Consecutive samples share most of their stacks, so most
    /// steps of a walk are one load and a compare of the id as read.
    last_step: Vec<(u64, Stack)>,
    /// The location ids of the sample walked last (leaf first, as pprof lists them), and
    /// the stack after each of its locations, root first: the next sample walks on from
    /// the locations nearest the root that the two share.
    previous: Vec<u64>,
    path: Vec<Stack>,
}

impl<'a> Symbols<'a> {
    /// Indexes a validated profile's tables.
    pub fn new(profile: &'a Flat) -> Self {
        let tables = &profile.tables;
        Symbols {
            tables,
            locations: ById::new(tables.location.iter().map(|l| l.id)),
            functions: ById::new(tables.function.iter().map(|f| f.id)),
            mappings: ById::new(tables.mapping.iter().map(|m| m.id)),
        }
    }

    /// Returns a string of the table (empty for an index out of range).
    pub fn string(&self, index: i64) -> &'a str {
        self.tables.string(index).unwrap_or("")
    }

    /// Returns a sample's stack in `dict`. Each location contributes its lines
    /// ([`Dictionary::location`]), converted once and kept in `done`; ids that point nowhere
    /// are skipped.
    pub fn walk(&self, dict: &mut Dictionary, done: &mut Converted, location_ids: &[u64]) -> Stack {
        let p = self.tables;
        if done.locations.is_empty() {
            done.locations = vec![(NOT_YET, 0); p.location.len()];
            done.functions = vec![NOT_YET; p.function.len()];
            done.mappings = vec![NOT_YET; p.mapping.len()];
        }
        // pprof lists a sample's locations leaf first: the ends of two samples' lists hold
        // the locations nearest the root. Comparing them costs no walk.
        let shared = location_ids
            .iter()
            .rev()
            .zip(done.previous.iter().rev())
            .take_while(|(a, b)| a == b)
            .count();
        done.path.truncate(shared);
        let mut stack = done.path.last().copied().unwrap_or(Stack::EMPTY);
        for &id in location_ids[..location_ids.len() - shared].iter().rev() {
            stack = self.step(dict, done, stack, id);
            done.path.push(stack);
        }
        done.previous.clear();
        done.previous.extend_from_slice(location_ids);
        stack
    }

    /// The stack of location `id` below `stack` (`stack` itself for an id that points
    /// nowhere).
    #[inline]
    fn step(&self, dict: &mut Dictionary, done: &mut Converted, stack: Stack, id: u64) -> Stack {
        let p = self.tables;
        let slot = stack.slot();
        // A step always adds a frame: an empty `next` is a slot not filled yet.
        if let Some(&(last, next)) = done.last_step.get(slot)
            && last == id
            && !next.is_empty()
        {
            return next;
        }
        let Some(index) = self.locations.get(id, p.location.len()) else {
            return stack;
        };
        let (mut start, mut end) = done.locations[index];
        if start == NOT_YET {
            start = done.frames.len() as u32;
            self.location(dict, done, &p.location[index]);
            end = done.frames.len() as u32;
            done.locations[index] = (start, end);
        }
        let mut next = stack;
        for frame in &done.frames[start as usize..end as usize] {
            next = dict.push(next, *frame);
        }
        if done.last_step.len() <= slot {
            done.last_step.resize(slot + 1, (0, Stack::EMPTY));
        }
        done.last_step[slot] = (id, next);
        next
    }

    /// Converts a location, appending its frames to `done.frames`.
    fn location(&self, dict: &mut Dictionary, done: &mut Converted, location: &Location) {
        let p = self.tables;
        let mapping = self
            .mappings
            .get(location.mapping_id, p.mapping.len())
            .map(|i| {
                if done.mappings[i] == NOT_YET {
                    let m = &p.mapping[i];
                    done.mappings[i] = dict.mapping(profile::Mapping {
                        memory_start: m.memory_start,
                        memory_limit: m.memory_limit,
                        file_offset: m.file_offset,
                        filename: self.string(m.filename).to_string(),
                        build_id: self.string(m.build_id).to_string(),
                        flags: u32::from(m.has_functions)
                            | u32::from(m.has_filenames) << 1
                            | u32::from(m.has_line_numbers) << 2
                            | u32::from(m.has_inline_frames) << 3,
                    });
                }
                done.mappings[i]
            });
        let mut lines = std::mem::take(&mut done.lines);
        lines.clear();
        // Lines are innermost first; frames and their functions go outermost first.
        for line in p.lines(location).iter().rev() {
            let Some(i) = self.functions.get(line.function_id, p.function.len()) else {
                continue;
            };
            let f = &p.function[i];
            if self.string(f.name).is_empty() {
                continue;
            }
            if done.functions[i] == NOT_YET {
                done.functions[i] = dict.function(profile::Function {
                    name: self.string(f.name).to_string(),
                    system_name: self.string(f.system_name).to_string(),
                    filename: self.string(f.filename).to_string(),
                    start_line: f.start_line,
                });
            }
            lines.push((done.functions[i], line.line));
        }
        dict.location_frames(
            mapping,
            location.address,
            lines.iter().copied(),
            &mut done.frames,
        );
        done.lines = lines;
    }

    /// Returns the function names of a sample's stack, root first, by the rules of
    /// [`Symbols::walk`].
    pub fn stack(&self, location_ids: &[u64]) -> Vec<String> {
        let mut dict = Dictionary::default();
        let stack = self.walk(&mut dict, &mut Converted::default(), location_ids);
        dict.frames_of(stack)
            .into_iter()
            .map(|f| dict.frame_name(f).to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus(name: &str) -> Vec<u8> {
        crate::testing::corpus(&format!("pprof/{name}"))
    }

    fn types(p: &Flat) -> Vec<String> {
        let s = Symbols::new(p);
        p.sample_type
            .iter()
            .map(|t| format!("{}:{}", s.string(t.r#type), s.string(t.unit)))
            .collect()
    }

    #[test]
    fn decodes_go_cpu_and_heap_gzipped_or_not() {
        let cpu = read(&corpus("cpu.pb.gz"), LIMIT).unwrap();
        assert_eq!(types(&cpu), ["samples:count", "cpu:nanoseconds"]);
        for heap in ["heap", "heap.pb", "heap.pb.gz"] {
            let p = read(&corpus(heap), LIMIT).unwrap();
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
    fn every_valid_corpus_file_reads_as_prost_decodes_it_and_walks() {
        let dir = std::path::Path::new(crate::testing::CORPUS_DIR).join("pprof");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".json") || name == "invalid_utf8.pb.gz" {
                continue;
            }
            let bytes = corpus(&name);
            let p = read(&bytes, LIMIT).unwrap_or_else(|e| panic!("{name}: {e}"));
            // The streaming reader itself answers, and as prost does.
            let decoded = decode_body(&bytes, LIMIT).unwrap();
            let streamed = read::read(&decoded, true).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(
                streamed,
                Flat::from(&decode(&bytes, LIMIT).unwrap()),
                "{name}"
            );
            assert_eq!(streamed, p, "{name}");
            let symbols = Symbols::new(&p);
            // Walked one after another, as ingest walks them, each stack is the one a walk
            // of that sample alone finds.
            let (mut dict, mut done) = (Dictionary::default(), Converted::default());
            for s in p.samples() {
                let stack = symbols.stack(s.location_id);
                assert_eq!(stack.is_empty(), s.location_id.is_empty(), "{name}");
                let walked = symbols.walk(&mut dict, &mut done, s.location_id);
                let names: Vec<&str> = dict
                    .frames_of(walked)
                    .into_iter()
                    .map(|f| dict.frame_name(f))
                    .collect();
                assert_eq!(names, stack, "{name}");
            }
            checked += 1;
        }
        assert!(checked >= 25, "{checked}");
    }

    #[test]
    fn rejects_invalid_utf8_and_garbage() {
        assert!(matches!(
            read(&corpus("invalid_utf8.pb.gz"), LIMIT),
            Err(Error::Pprof(PprofError::InvalidUtf8(_)))
        ));
        assert!(read(b"\x0a\xff\xff\xff", LIMIT).is_err());
    }

    const LIMIT: usize = crate::limits::DEFAULT_MAX_PROFILE_BYTES;

    /// Decodes `p`'s bytes with a batch, checks it equals `p`, gives it back; tells whether
    /// the tables were reused.
    fn through(batch: &mut Batch, bytes: &[u8], p: &Profile, key: &str) -> bool {
        let (got, same) = batch.decode(bytes, LIMIT, key).unwrap();
        assert_eq!(got, Flat::from(p));
        batch.give_back(got);
        same
    }

    #[test]
    fn a_batch_reuses_tables_whose_bytes_repeat_and_decodes_as_decode_does() {
        let first = decode(&corpus("cpu.pb.gz"), LIMIT).unwrap();
        let mut second = first.clone();
        second.sample.truncate(first.sample.len() / 2);
        second.time_nanos += 10_000_000_000;
        let heap = decode(&corpus("heap.pb.gz"), LIMIT).unwrap();
        let mut batch = Batch::default();
        let reused: Vec<bool> = [&first, &second, &heap, &heap]
            .iter()
            .map(|p| through(&mut batch, &p.encode_to_vec(), p, ""))
            .collect();
        assert_eq!(reused, [false, true, false, true]);
        // Gzipped, as agents send them.
        let gz = crate::testing::gzip(&heap.encode_to_vec());
        assert!(through(&mut batch, &gz, &heap, ""));
        // Tables depend on the key too.
        assert!(!through(&mut batch, &gz, &heap, "dotnetspy"));
        assert!(through(&mut batch, &gz, &heap, "dotnetspy"));
        // Tables not given back are not reused.
        batch.decode(&gz, LIMIT, "dotnetspy").unwrap();
        assert!(!through(&mut batch, &gz, &heap, "dotnetspy"));
    }

    #[test]
    fn a_batch_compares_tables_split_between_other_fields() {
        let p = decode(&corpus("cpu.pb.gz"), LIMIT).unwrap();
        // The string table first, then samples and types, then the other tables.
        let part = |f: &dyn Fn(&mut Profile)| {
            let mut q = Profile::default();
            f(&mut q);
            q.encode_to_vec()
        };
        let strings = part(&|q| q.string_table = p.string_table.clone());
        let tables = part(&|q| {
            q.function = p.function.clone();
            q.location = p.location.clone();
            q.mapping = p.mapping.clone();
        });
        let rest = |p: &Profile| {
            let mut q = p.clone();
            (q.mapping, q.location, q.function, q.string_table) = Default::default();
            q.encode_to_vec()
        };
        let bytes = |p: &Profile, tables: &[u8]| [&strings[..], &rest(p), tables].concat();
        let mut batch = Batch::default();
        assert!(!through(&mut batch, &bytes(&p, &tables), &p, ""));
        let mut later = p.clone();
        later.sample.reverse();
        later.duration_nanos += 1;
        assert!(through(&mut batch, &bytes(&later, &tables), &later, ""));
        // A table that differs after the first range is noticed.
        let mut renamed = p.clone();
        renamed.location[0].address += 1;
        let other = part(&|q| {
            q.function = renamed.function.clone();
            q.location = renamed.location.clone();
            q.mapping = renamed.mapping.clone();
        });
        assert!(!through(&mut batch, &bytes(&renamed, &other), &renamed, ""));
    }

    #[test]
    fn a_batch_rejects_what_decode_rejects_even_with_reused_tables() {
        let mut batch = Batch::default();
        for bad in [&b"\x0a\xff\xff\xff"[..], &corpus("invalid_utf8.pb.gz")] {
            assert_eq!(
                batch.decode(bad, LIMIT, "").unwrap_err().to_string(),
                decode(bad, LIMIT).unwrap_err().to_string()
            );
        }
        let p = decode(&corpus("cpu.pb.gz"), LIMIT).unwrap();
        through(&mut batch, &p.encode_to_vec(), &p, "");
        // The rest refers to a string the reused table does not have.
        let mut dangling = p.clone();
        dangling.sample[0]
            .label
            .push(crate::wire::proto::google::v1::Label {
                key: 1_000_000,
                ..Default::default()
            });
        let (reused, fresh) = (
            batch.decode(&dangling.encode_to_vec(), LIMIT, ""),
            decode(&dangling.encode_to_vec(), LIMIT),
        );
        assert!(matches!(reused, Err(Error::Pprof(PprofError::Dangling(_)))));
        assert_eq!(
            reused.unwrap_err().to_string(),
            fresh.unwrap_err().to_string()
        );
    }

    #[test]
    fn ids_in_any_order_resolve_as_dense_ones() {
        let p = decode(&corpus("cpu.pb.gz"), LIMIT).unwrap();
        assert!(matches!(
            Symbols::new(&Flat::from(&p)).locations,
            ById::Dense
        ));
        // Ids scattered and the tables reversed: the same stacks.
        let id = |i: u64| i * 7 + 3;
        let mut q = p.clone();
        q.location.reverse();
        q.function.reverse();
        for l in &mut q.location {
            l.id = id(l.id);
            l.mapping_id = id(l.mapping_id);
            for line in &mut l.line {
                line.function_id = id(line.function_id);
            }
        }
        for f in &mut q.function {
            f.id = id(f.id);
        }
        for m in &mut q.mapping {
            m.id = id(m.id);
        }
        for s in &mut q.sample {
            for l in &mut s.location_id {
                *l = id(*l);
            }
        }
        let (p_flat, q_flat) = (Flat::from(&p), Flat::from(&q));
        let (dense, scattered) = (Symbols::new(&p_flat), Symbols::new(&q_flat));
        assert!(matches!(scattered.locations, ById::Map(_)));
        for (a, b) in p.sample.iter().zip(&q.sample) {
            assert_eq!(dense.stack(&a.location_id), scattered.stack(&b.location_id));
        }
    }

    #[test]
    fn stacks_are_root_first_with_inlined_frames() {
        use crate::wire::proto::google::v1::{Function, Line, Location, Sample, ValueType};
        let validate = |p: &Profile| validate(&Flat::from(p));
        let stack = |p: &Profile| Symbols::new(&Flat::from(p)).stack(&p.sample[0].location_id);
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
        assert_eq!(stack(&p), ["main", "outer", "inlined", "unknown"]);
        let mut dangling = p.clone();
        dangling.sample[0].location_id.insert(0, 99);
        validate(&dangling).unwrap();
        assert_eq!(stack(&dangling).len(), 4);
        let mut bad = p.clone();
        bad.sample[0].value.push(1);
        assert!(validate(&bad).is_err());
        let mut bad = p.clone();
        bad.function[0].name = 99;
        assert!(validate(&bad).is_err());

        // Walks that go on from the previous sample's shared locations, or meet a location
        // walked before below the same stack, find what a walk of the sample alone finds:
        // ids that point nowhere (0, 99) anywhere, shorter and longer stacks, repeats.
        let samples: [&[u64]; 10] = [
            &[12, 11, 10],
            &[11, 10],
            &[99, 12, 11, 10],
            &[12, 99, 10],
            &[0],
            &[10],
            &[12, 11, 10],
            &[],
            &[11, 12, 10],
            &[0, 12, 11, 10],
        ];
        let flat = Flat::from(&p);
        let symbols = Symbols::new(&flat);
        let (mut dict, mut done) = (Dictionary::default(), Converted::default());
        for ids in samples {
            let walked = symbols.walk(&mut dict, &mut done, ids);
            let names: Vec<&str> = dict
                .frames_of(walked)
                .into_iter()
                .map(|f| dict.frame_name(f))
                .collect();
            assert_eq!(names, symbols.stack(ids), "{ids:?}");
        }
        assert_eq!(symbols.stack(&[12, 99, 10]), ["main", "unknown"]);
        assert!(symbols.stack(&[0]).is_empty());
    }
}
