//! A segment is one immutable Parquet object: the profiles of one ingest request (L0), or the
//! merge of many (compacted). This module converts values to bytes and back; it never touches
//! storage. Layout: docs/storage.md#segment.
//!
//! One Parquet schema holds five tables, each in row groups of its own (the other columns are
//! null there, which costs a few bytes per column chunk): strings, functions, mappings, the
//! stack trie (nodes) and samples. Nodes form a trie of stack prefixes: a node's parent always
//! has a smaller id, so a stack is rebuilt by following parents from its leaf. Each node also
//! says which function, line, mapping and address its frame is, so pprof can be rebuilt;
//! flame graphs read only `node_parent` and `node_name`. Samples are sorted by (series, time,
//! stack, link) and unique on that. Footer key-value metadata: see the `META_*` constants.
//!
//! Format 1 (before functions, mappings and links) is still read: each of its names becomes a
//! function with only a name, and every sample has the empty link.

use std::sync::Arc;

use bytes::Bytes;
use parquet::basic::{Compression, Repetition, Type as PhysicalType};
use parquet::column::reader::{ColumnReader, get_typed_column_reader};
use parquet::column::writer::ColumnWriter;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DataType, Int32Type, Int64Type};
use parquet::file::metadata::{KeyValue, ParquetMetaData};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{ChunkReader, FileReader, RowGroupReader};
use parquet::file::serialized_reader::SerializedFileReader;
use parquet::file::statistics::Statistics;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;
use serde::{Deserialize, Serialize};

use crate::FastMap;
use crate::profile::{Dictionary, Labels, Link, Profile, ProfileType, Series, intern};

/// Footer key: format version of the segment layout.
pub const META_FORMAT: &str = "flamelet.format";
/// Footer key: the owning tenant's ID.
pub const META_TENANT: &str = "flamelet.tenant";
/// Footer key: earliest profile time (ns).
pub const META_MIN_TIME: &str = "flamelet.min_time";
/// Footer key: latest profile time (ns).
pub const META_MAX_TIME: &str = "flamelet.max_time";
/// Footer key: JSON list of the series, `[{"type": id, "labels": {..}}]`; index = series id.
pub const META_SERIES: &str = "flamelet.series";
/// Footer key: comma-separated table of each row group (`strings`, `functions`, `mappings`,
/// `nodes`, `samples`).
pub const META_ROW_GROUPS: &str = "flamelet.row_groups";
/// The layout version this code writes.
pub const FORMAT_VERSION: &str = "2";
/// Rows per sample row group: large enough for good compression, small enough to prune.
pub const SAMPLE_ROWS_PER_GROUP: usize = 128 * 1024;

/// The columns of format 2, in schema order. Format 1 has the first [`V1_COLUMNS`].
const COLUMNS: [(&str, PhysicalType); 25] = [
    ("string", PhysicalType::BYTE_ARRAY),
    ("node_parent", PhysicalType::INT32),
    ("node_name", PhysicalType::INT32),
    ("series", PhysicalType::INT32),
    ("time_nanos", PhysicalType::INT64),
    ("stack", PhysicalType::INT32),
    ("value", PhysicalType::INT64),
    ("function_name", PhysicalType::INT32),
    ("function_system_name", PhysicalType::INT32),
    ("function_filename", PhysicalType::INT32),
    ("function_start_line", PhysicalType::INT64),
    ("mapping_memory_start", PhysicalType::INT64),
    ("mapping_memory_limit", PhysicalType::INT64),
    ("mapping_file_offset", PhysicalType::INT64),
    ("mapping_filename", PhysicalType::INT32),
    ("mapping_build_id", PhysicalType::INT32),
    ("mapping_flags", PhysicalType::INT32),
    ("node_function", PhysicalType::INT32),
    ("node_line", PhysicalType::INT64),
    ("node_mapping", PhysicalType::INT32),
    ("node_address", PhysicalType::INT64),
    ("node_inlined", PhysicalType::BOOLEAN),
    ("span_id", PhysicalType::BYTE_ARRAY),
    ("trace_id", PhysicalType::BYTE_ARRAY),
    ("profile_id", PhysicalType::BYTE_ARRAY),
];
const V1_COLUMNS: usize = 7;
const COL_STRING: usize = 0;
const COL_NODE_PARENT: usize = 1;
const COL_NODE_NAME: usize = 2;
const COL_SERIES: usize = 3;
const COL_TIME: usize = 4;
const COL_STACK: usize = 5;
const COL_VALUE: usize = 6;
const COL_FUNCTION_NAME: usize = 7;
const COL_FUNCTION_SYSTEM_NAME: usize = 8;
const COL_FUNCTION_FILENAME: usize = 9;
const COL_FUNCTION_START_LINE: usize = 10;
const COL_MAPPING_START: usize = 11;
const COL_MAPPING_LIMIT: usize = 12;
const COL_MAPPING_OFFSET: usize = 13;
const COL_MAPPING_FILENAME: usize = 14;
const COL_MAPPING_BUILD_ID: usize = 15;
const COL_MAPPING_FLAGS: usize = 16;
const COL_NODE_FUNCTION: usize = 17;
const COL_NODE_LINE: usize = 18;
const COL_NODE_MAPPING: usize = 19;
const COL_NODE_ADDRESS: usize = 20;
const COL_NODE_INLINED: usize = 21;
const COL_SPAN_ID: usize = 22;
const COL_TRACE_ID: usize = 23;
const COL_PROFILE_ID: usize = 24;

/// Why a segment could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    /// The Parquet library failed.
    #[error("segment parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// The file is Parquet but not a valid segment.
    #[error("invalid segment: {0}")]
    Invalid(String),
}

type Result<T, E = SegmentError> = std::result::Result<T, E>;

fn invalid(message: impl Into<String>) -> SegmentError {
    SegmentError::Invalid(message.into())
}

/// One node of the stack trie: what flame graphs need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StackNode {
    /// Parent node id, or −1 for a root frame.
    pub parent: i32,
    /// String id of the function name (the name of the frame's function).
    pub name: u32,
}

/// Where a node's frame is: what pprof export needs beyond the name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct NodeFrame {
    /// Function id.
    pub function: u32,
    /// Source line (0 if unknown).
    pub line: i64,
    /// Mapping id, −1 for none.
    pub mapping: i32,
    /// Instruction address (0 if unknown).
    pub address: u64,
    /// Inlined into its parent node's frame: both were one pprof location.
    pub inlined: bool,
}

/// A function row; string ids, −1 for an empty string.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FunctionRow {
    /// Name (a string id; never empty).
    pub name: u32,
    /// System name.
    pub system_name: i32,
    /// Source file.
    pub filename: i32,
    /// First line.
    pub start_line: i64,
}

/// A mapping row; string ids, −1 for an empty string.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct MappingRow {
    /// Start of the mapped range.
    pub memory_start: u64,
    /// End of the mapped range.
    pub memory_limit: u64,
    /// File offset of the range's start.
    pub file_offset: u64,
    /// Object file path.
    pub filename: i32,
    /// Build id.
    pub build_id: i32,
    /// pprof's has_* flags as bits 0–3.
    pub flags: u32,
}

/// The sample table, column by column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Samples {
    /// Series ids.
    pub series: Vec<u32>,
    /// Profile times (ns).
    pub time: Vec<i64>,
    /// Leaf node ids.
    pub stack: Vec<u32>,
    /// Values.
    pub value: Vec<i64>,
    /// Link ids (0: none, or links not read).
    pub link: Vec<u32>,
}

impl Samples {
    /// Returns the number of rows.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Tells whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Keeps the rows for which `keep(self, row index)` is true, in order.
    pub fn retain(&mut self, keep: impl Fn(&Samples, usize) -> bool) {
        let mask: Vec<bool> = (0..self.len()).map(|i| keep(self, i)).collect();
        let mut out = Samples::default();
        for (i, _) in mask.iter().enumerate().filter(|(_, k)| **k) {
            out.push(
                self.series[i],
                self.time[i],
                self.stack[i],
                self.value[i],
                self.link[i],
            );
        }
        *self = out;
    }

    fn push(&mut self, series: u32, time: i64, stack: u32, value: i64, link: u32) {
        self.series.push(series);
        self.time.push(time);
        self.stack.push(stack);
        self.value.push(value);
        self.link.push(link);
    }
}

/// A whole segment in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentData {
    /// The owning tenant's ID.
    pub tenant: String,
    /// Series; index = series id.
    pub series: Vec<Series>,
    /// Each series' sampling period (the largest its profiles gave; 0 if unknown).
    pub periods: Vec<i64>,
    /// Strings (names, file names, build ids); index = string id.
    pub strings: Vec<String>,
    /// Functions; index = function id.
    pub functions: Vec<FunctionRow>,
    /// Mappings; index = mapping id.
    pub mappings: Vec<MappingRow>,
    /// Stack trie; index = node id.
    pub nodes: Vec<StackNode>,
    /// Each node's frame, parallel to `nodes`.
    pub node_frames: Vec<NodeFrame>,
    /// Sample links; index = link id, 0 is the empty link.
    pub links: Vec<Link>,
    /// Sample rows, sorted by (series, time, stack, link) and unique on that.
    pub samples: Samples,
}

impl Default for SegmentData {
    fn default() -> Self {
        SegmentData {
            tenant: String::new(),
            series: Vec::new(),
            periods: Vec::new(),
            strings: Vec::new(),
            functions: Vec::new(),
            mappings: Vec::new(),
            nodes: Vec::new(),
            node_frames: Vec::new(),
            links: vec![Link::default()],
            samples: Samples::default(),
        }
    }
}

impl SegmentData {
    /// Returns the earliest and latest profile times, or `None` without samples.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let min = self.samples.time.iter().min()?;
        let max = self.samples.time.iter().max()?;
        Some((*min, *max))
    }

    /// Returns the function names of a stack, root first.
    pub fn stack_names(&self, leaf: u32) -> Vec<&str> {
        self.stack_nodes(leaf)
            .into_iter()
            .map(|n| self.strings[self.nodes[n as usize].name as usize].as_str())
            .collect()
    }

    /// Returns the node ids of a stack, root first.
    pub fn stack_nodes(&self, leaf: u32) -> Vec<u32> {
        let mut out = Vec::new();
        let mut node = leaf as i32;
        while node >= 0 {
            out.push(node as u32);
            node = self.nodes[node as usize].parent;
        }
        out.reverse();
        out
    }

    /// Returns a string by optional id (−1: empty).
    pub fn string(&self, id: i32) -> &str {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.strings.get(i))
            .map_or("", String::as_str)
    }
}

/// Builds a [`SegmentData`] from profiles or other segments, deduplicating series, strings,
/// functions, mappings, stack prefixes and links.
#[derive(Debug, Default)]
pub struct SegmentBuilder {
    data: SegmentData,
    series_ids: FastMap<Series, u32>,
    string_ids: FastMap<String, u32>,
    function_ids: FastMap<FunctionRow, u32>,
    mapping_ids: FastMap<MappingRow, u32>,
    link_ids: FastMap<Link, u32>,
    /// Distinct frames, so that a trie edge is keyed by 8 bytes.
    frame_ids: FastMap<NodeFrame, u32>,
    frames: Vec<NodeFrame>,
    node_ids: FastMap<(i32, u32), u32>,
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
            link_ids: [(Link::default(), 0)].into_iter().collect(),
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
        if let Some(id) = self.string_ids.get(s) {
            return *id;
        }
        let id = self.data.strings.len() as u32;
        self.data.strings.push(s.to_string());
        self.string_ids.insert(s.to_string(), id);
        id
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
        intern(&mut self.data.functions, &mut self.function_ids, f)
    }

    fn mapping_id(&mut self, m: MappingRow) -> u32 {
        intern(&mut self.data.mappings, &mut self.mapping_ids, m)
    }

    fn link_id(&mut self, link: &Link) -> u32 {
        if link.is_empty() {
            return 0;
        }
        intern(&mut self.data.links, &mut self.link_ids, link.clone())
    }

    fn frame_id(&mut self, frame: NodeFrame) -> u32 {
        intern(&mut self.frames, &mut self.frame_ids, frame)
    }

    fn node_id(&mut self, parent: i32, frame: u32) -> u32 {
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
            let mut parent = -1i32;
            for frame in &sample.stack {
                parent = self.node_id(parent, frames[*frame as usize]) as i32;
            }
            if parent >= 0 {
                self.data.samples.push(
                    series,
                    profile.time_nanos,
                    parent as u32,
                    sample.value,
                    links[sample.link as usize],
                );
            }
        }
        self.last_dict = Some((dict, frames, links));
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
            nodes.push(self.node_id(parent, frame));
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

#[derive(Serialize, Deserialize)]
struct SeriesJson {
    #[serde(rename = "type")]
    profile_type: String,
    labels: Labels,
    /// Added within format 2: absent in older segments, which read as 0 (unknown).
    #[serde(default, skip_serializing_if = "is_zero")]
    period: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

fn schema() -> Result<Arc<Type>> {
    let fields = COLUMNS
        .iter()
        .map(|(name, physical)| {
            let mut b =
                Type::primitive_type_builder(name, *physical).with_repetition(Repetition::OPTIONAL);
            if *physical == PhysicalType::BYTE_ARRAY {
                b = b.with_logical_type(Some(parquet::basic::LogicalType::String));
            }
            b.build().map(Arc::new)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::new(
        Type::group_type_builder("flamelet_segment")
            .with_fields(fields)
            .build()?,
    ))
}

/// One column's content within a row group: present (with values) or null.
enum Col<'a> {
    Null,
    I32(Vec<i32>),
    I64(Vec<i64>),
    I64Ref(&'a [i64]),
    Bool(Vec<bool>),
    Bytes(Vec<ByteArray>),
}

/// Encodes a segment as Parquet bytes (format 2).
pub fn encode(data: &SegmentData) -> Result<Vec<u8>> {
    let (min_time, max_time) = data.time_range().unwrap_or((0, 0));
    let series: Vec<SeriesJson> = data
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| SeriesJson {
            profile_type: s.profile_type.id(),
            labels: s.labels.clone(),
            period: data.periods.get(i).copied().unwrap_or(0),
        })
        .collect();
    let series = serde_json::to_string(&series).map_err(|e| invalid(e.to_string()))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer = SerializedFileWriter::new(Vec::new(), schema()?, Arc::new(props))?;
    let mut kinds = Vec::new();
    let i32s = |f: &dyn Fn(usize) -> i32, n: usize| Col::I32((0..n).map(f).collect());
    let i64s = |f: &dyn Fn(usize) -> i64, n: usize| Col::I64((0..n).map(f).collect());

    if !data.strings.is_empty() {
        let cols = row_group_cols(|c| {
            (c == COL_STRING).then(|| {
                Col::Bytes(
                    data.strings
                        .iter()
                        .map(|s| ByteArray::from(s.as_str()))
                        .collect(),
                )
            })
        });
        write_row_group(&mut writer, data.strings.len(), cols)?;
        kinds.push("strings");
    }
    let f = &data.functions;
    if !f.is_empty() {
        let cols = row_group_cols(|c| match c {
            COL_FUNCTION_NAME => Some(i32s(&|i| f[i].name as i32, f.len())),
            COL_FUNCTION_SYSTEM_NAME => Some(i32s(&|i| f[i].system_name, f.len())),
            COL_FUNCTION_FILENAME => Some(i32s(&|i| f[i].filename, f.len())),
            COL_FUNCTION_START_LINE => Some(i64s(&|i| f[i].start_line, f.len())),
            _ => None,
        });
        write_row_group(&mut writer, f.len(), cols)?;
        kinds.push("functions");
    }
    let m = &data.mappings;
    if !m.is_empty() {
        let cols = row_group_cols(|c| match c {
            COL_MAPPING_START => Some(i64s(&|i| m[i].memory_start as i64, m.len())),
            COL_MAPPING_LIMIT => Some(i64s(&|i| m[i].memory_limit as i64, m.len())),
            COL_MAPPING_OFFSET => Some(i64s(&|i| m[i].file_offset as i64, m.len())),
            COL_MAPPING_FILENAME => Some(i32s(&|i| m[i].filename, m.len())),
            COL_MAPPING_BUILD_ID => Some(i32s(&|i| m[i].build_id, m.len())),
            COL_MAPPING_FLAGS => Some(i32s(&|i| m[i].flags as i32, m.len())),
            _ => None,
        });
        write_row_group(&mut writer, m.len(), cols)?;
        kinds.push("mappings");
    }
    let (n, nf) = (&data.nodes, &data.node_frames);
    if n.len() != nf.len() {
        return Err(invalid("nodes and node frames differ in length"));
    }
    if !n.is_empty() {
        let cols = row_group_cols(|c| match c {
            COL_NODE_PARENT => Some(i32s(&|i| n[i].parent, n.len())),
            COL_NODE_NAME => Some(i32s(&|i| n[i].name as i32, n.len())),
            COL_NODE_FUNCTION => Some(i32s(&|i| nf[i].function as i32, n.len())),
            COL_NODE_LINE => Some(i64s(&|i| nf[i].line, n.len())),
            COL_NODE_MAPPING => Some(i32s(&|i| nf[i].mapping, n.len())),
            COL_NODE_ADDRESS => Some(i64s(&|i| nf[i].address as i64, n.len())),
            COL_NODE_INLINED => Some(Col::Bool(nf.iter().map(|f| f.inlined).collect())),
            _ => None,
        });
        write_row_group(&mut writer, n.len(), cols)?;
        kinds.push("nodes");
    }
    let s = &data.samples;
    let mut start = 0;
    while start < s.len() {
        let end = (start + SAMPLE_ROWS_PER_GROUP).min(s.len());
        let links = &s.link[start..end];
        // A group without links leaves the link columns null.
        let linked = links.iter().any(|l| *l != 0);
        let link_col = |get: fn(&Link) -> &str| {
            linked.then(|| {
                Col::Bytes(
                    links
                        .iter()
                        .map(|l| {
                            let link = data.links.get(*l as usize).map_or("", get);
                            ByteArray::from(link)
                        })
                        .collect(),
                )
            })
        };
        let cols = row_group_cols(|c| match c {
            COL_SERIES => Some(Col::I32(
                s.series[start..end].iter().map(|v| *v as i32).collect(),
            )),
            COL_TIME => Some(Col::I64Ref(&s.time[start..end])),
            COL_STACK => Some(Col::I32(
                s.stack[start..end].iter().map(|v| *v as i32).collect(),
            )),
            COL_VALUE => Some(Col::I64Ref(&s.value[start..end])),
            COL_SPAN_ID => link_col(|l| &l.span_id),
            COL_TRACE_ID => link_col(|l| &l.trace_id),
            COL_PROFILE_ID => link_col(|l| &l.profile_id),
            _ => None,
        });
        write_row_group(&mut writer, end - start, cols)?;
        kinds.push("samples");
        start = end;
    }

    for (k, v) in [
        (META_FORMAT, FORMAT_VERSION.to_string()),
        (META_TENANT, data.tenant.clone()),
        (META_MIN_TIME, min_time.to_string()),
        (META_MAX_TIME, max_time.to_string()),
        (META_SERIES, series),
        (META_ROW_GROUPS, kinds.join(",")),
    ] {
        writer.append_key_value_metadata(KeyValue::new(k.to_string(), v));
    }
    Ok(writer.into_inner()?)
}

fn row_group_cols<'a>(mut present: impl FnMut(usize) -> Option<Col<'a>>) -> Vec<Col<'a>> {
    (0..COLUMNS.len())
        .map(|c| present(c).unwrap_or(Col::Null))
        .collect()
}

fn write_row_group(
    writer: &mut SerializedFileWriter<Vec<u8>>,
    rows: usize,
    cols: Vec<Col<'_>>,
) -> Result<()> {
    let mut rg = writer.next_row_group()?;
    let mut cols = cols.into_iter();
    // Definition levels: 1 = value present, 0 = null; the same for every column of the group.
    let ones = vec![1i16; rows];
    let zeros = vec![0i16; rows];
    while let Some(mut col) = rg.next_column()? {
        let content = cols
            .next()
            .ok_or_else(|| invalid("schema has more columns than expected"))?;
        match content {
            Col::Null => match col.untyped() {
                ColumnWriter::Int32ColumnWriter(w) => {
                    w.write_batch(&[], Some(&zeros), None)?;
                }
                ColumnWriter::Int64ColumnWriter(w) => {
                    w.write_batch(&[], Some(&zeros), None)?;
                }
                ColumnWriter::BoolColumnWriter(w) => {
                    w.write_batch(&[], Some(&zeros), None)?;
                }
                ColumnWriter::ByteArrayColumnWriter(w) => {
                    w.write_batch(&[], Some(&zeros), None)?;
                }
                _ => return Err(invalid("unexpected column type")),
            },
            Col::I32(v) => {
                col.typed::<Int32Type>()
                    .write_batch(&v, Some(&ones), None)?;
            }
            Col::I64(v) => {
                col.typed::<Int64Type>()
                    .write_batch(&v, Some(&ones), None)?;
            }
            Col::I64Ref(v) => {
                col.typed::<Int64Type>().write_batch(v, Some(&ones), None)?;
            }
            Col::Bool(v) => {
                col.typed::<BoolType>().write_batch(&v, Some(&ones), None)?;
            }
            Col::Bytes(v) => {
                col.typed::<ByteArrayType>()
                    .write_batch(&v, Some(&ones), None)?;
            }
        }
        col.close()?;
    }
    rg.close()?;
    Ok(())
}

/// Which table a row group holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowGroupKind {
    /// Strings.
    Strings,
    /// Functions (format 2).
    Functions,
    /// Mappings (format 2).
    Mappings,
    /// The stack trie.
    Nodes,
    /// Sample rows.
    Samples,
}

/// What a segment's footer says, read without touching its column data.
#[derive(Debug, Clone)]
pub struct SegmentMeta {
    /// The layout version (1 or 2).
    pub format: u32,
    /// The owning tenant's ID.
    pub tenant: String,
    /// Earliest profile time (ns).
    pub min_time: i64,
    /// Latest profile time (ns).
    pub max_time: i64,
    /// Series; index = series id.
    pub series: Vec<Series>,
    /// Each series' sampling period (0 if unknown).
    pub periods: Vec<i64>,
    /// The table of each row group.
    pub row_groups: Vec<RowGroupKind>,
}

/// Reads a segment lazily: the footer first, then only the row groups and columns asked for.
pub struct SegmentReader<R: ChunkReader + 'static> {
    reader: SerializedFileReader<R>,
    meta: SegmentMeta,
}

fn kv<'a>(md: &'a ParquetMetaData, key: &str) -> Result<&'a str> {
    md.file_metadata()
        .key_value_metadata()
        .and_then(|kvs| kvs.iter().find(|kv| kv.key == key))
        .and_then(|kv| kv.value.as_deref())
        .ok_or_else(|| invalid(format!("footer has no `{key}`")))
}

impl<R: ChunkReader + 'static> SegmentReader<R> {
    /// Opens a segment and decodes its footer.
    pub fn open(chunks: R) -> Result<Self> {
        let reader = SerializedFileReader::new(chunks)?;
        let md = reader.metadata();
        let (format, columns) = match kv(md, META_FORMAT)? {
            "1" => (1, V1_COLUMNS),
            "2" => (2, COLUMNS.len()),
            other => return Err(invalid(format!("unsupported segment format `{other}`"))),
        };
        let schema = md.file_metadata().schema_descr();
        if schema.num_columns() != columns
            || COLUMNS[..columns].iter().enumerate().any(|(i, (name, t))| {
                schema.column(i).name() != *name || schema.column(i).physical_type() != *t
            })
        {
            return Err(invalid("unexpected schema"));
        }
        let parse_time = |key| -> Result<i64> {
            kv(md, key)?
                .parse()
                .map_err(|_| invalid(format!("bad `{key}`")))
        };
        let series: Vec<SeriesJson> = serde_json::from_str(kv(md, META_SERIES)?)
            .map_err(|e| invalid(format!("bad series list: {e}")))?;
        let periods = series.iter().map(|s| s.period).collect();
        let series = series
            .into_iter()
            .map(|s| {
                Ok(Series {
                    profile_type: ProfileType::parse(&s.profile_type)
                        .map_err(|_| invalid(format!("bad profile type `{}`", s.profile_type)))?,
                    labels: s.labels,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let kinds = kv(md, META_ROW_GROUPS)?;
        let row_groups = kinds
            .split(',')
            .filter(|k| !k.is_empty())
            .map(|k| match (k, format) {
                ("strings", _) => Ok(RowGroupKind::Strings),
                ("functions", 2) => Ok(RowGroupKind::Functions),
                ("mappings", 2) => Ok(RowGroupKind::Mappings),
                ("nodes", _) => Ok(RowGroupKind::Nodes),
                ("samples", _) => Ok(RowGroupKind::Samples),
                (other, _) => Err(invalid(format!("unknown row group kind `{other}`"))),
            })
            .collect::<Result<Vec<_>>>()?;
        if row_groups.len() != md.num_row_groups() {
            return Err(invalid("row group kinds do not match the row groups"));
        }
        let meta = SegmentMeta {
            format,
            tenant: kv(md, META_TENANT)?.to_string(),
            min_time: parse_time(META_MIN_TIME)?,
            max_time: parse_time(META_MAX_TIME)?,
            series,
            periods,
            row_groups,
        };
        Ok(SegmentReader { reader, meta })
    }

    /// Returns the footer's content.
    pub fn meta(&self) -> &SegmentMeta {
        &self.meta
    }

    fn groups(&self, kind: RowGroupKind) -> Vec<usize> {
        self.meta
            .row_groups
            .iter()
            .enumerate()
            .filter(move |(_, k)| **k == kind)
            .map(|(i, _)| i)
            .collect()
    }

    /// Reads a column of a row group: all values, or `None` when the column is null there.
    fn read_optional<T: DataType>(
        &self,
        rg: &dyn RowGroupReader,
        col: usize,
    ) -> Result<Option<Vec<T::T>>>
    where
        T::T: Default + Clone,
    {
        let rows = rg.metadata().num_rows() as usize;
        let reader: ColumnReader = rg.get_column_reader(col)?;
        let mut typed = get_typed_column_reader::<T>(reader);
        let mut values = Vec::with_capacity(rows);
        let mut defs = Vec::with_capacity(rows);
        let mut read = 0;
        while read < rows {
            let (records, _, _) =
                typed.read_records(rows - read, Some(&mut defs), None, &mut values)?;
            if records == 0 {
                break;
            }
            read += records;
        }
        match values.len() {
            n if n == rows => Ok(Some(values)),
            0 => Ok(None),
            _ => Err(invalid(format!(
                "column `{}` is partly null or short",
                COLUMNS[col].0
            ))),
        }
    }

    fn read_column<T: DataType>(&self, rg: &dyn RowGroupReader, col: usize) -> Result<Vec<T::T>>
    where
        T::T: Default + Clone,
    {
        let rows = rg.metadata().num_rows() as usize;
        match self.read_optional::<T>(rg, col)? {
            Some(values) => Ok(values),
            None if rows == 0 => Ok(Vec::new()),
            None => Err(invalid(format!("column `{}` is null", COLUMNS[col].0))),
        }
    }

    /// Reads the string table.
    pub fn read_strings(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for i in self.groups(RowGroupKind::Strings) {
            let rg = self.reader.get_row_group(i)?;
            for b in self.read_column::<ByteArrayType>(rg.as_ref(), COL_STRING)? {
                out.push(
                    String::from_utf8(b.data().to_vec())
                        .map_err(|_| invalid("string is not UTF-8"))?,
                );
            }
        }
        Ok(out)
    }

    /// Reads the stack trie, checking that every parent precedes its child and every name
    /// exists in a string table of `strings` entries.
    pub fn read_nodes(&self, strings: usize) -> Result<Vec<StackNode>> {
        let mut out: Vec<StackNode> = Vec::new();
        for i in self.groups(RowGroupKind::Nodes) {
            let rg = self.reader.get_row_group(i)?;
            let parents = self.read_column::<Int32Type>(rg.as_ref(), COL_NODE_PARENT)?;
            let names = self.read_column::<Int32Type>(rg.as_ref(), COL_NODE_NAME)?;
            if parents.len() != names.len() {
                return Err(invalid("node columns differ in length"));
            }
            for (parent, name) in parents.into_iter().zip(names) {
                if parent < -1 || parent >= out.len() as i32 || name < 0 || name as usize >= strings
                {
                    return Err(invalid("stack trie refers outside its tables"));
                }
                out.push(StackNode {
                    parent,
                    name: name as u32,
                });
            }
        }
        Ok(out)
    }

    /// Reads the functions and mappings, checking their string ids against a table of
    /// `strings` entries. Format 1 has neither: each string is a function with only a name.
    pub fn read_symbols(&self, strings: usize) -> Result<(Vec<FunctionRow>, Vec<MappingRow>)> {
        if self.meta.format == 1 {
            let functions = (0..strings as u32)
                .map(|name| FunctionRow {
                    name,
                    system_name: -1,
                    filename: -1,
                    start_line: 0,
                })
                .collect();
            return Ok((functions, Vec::new()));
        }
        let string_ok = |id: i32| id >= -1 && (id as i64) < strings as i64;
        let mut functions = Vec::new();
        for i in self.groups(RowGroupKind::Functions) {
            let rg = self.reader.get_row_group(i)?;
            let rg = rg.as_ref();
            let name = self.read_column::<Int32Type>(rg, COL_FUNCTION_NAME)?;
            let system = self.read_column::<Int32Type>(rg, COL_FUNCTION_SYSTEM_NAME)?;
            let file = self.read_column::<Int32Type>(rg, COL_FUNCTION_FILENAME)?;
            let start = self.read_column::<Int64Type>(rg, COL_FUNCTION_START_LINE)?;
            for j in 0..name.len() {
                if name[j] < 0
                    || !string_ok(name[j])
                    || !string_ok(system[j])
                    || !string_ok(file[j])
                {
                    return Err(invalid("function refers outside the string table"));
                }
                functions.push(FunctionRow {
                    name: name[j] as u32,
                    system_name: system[j],
                    filename: file[j],
                    start_line: start[j],
                });
            }
        }
        let mut mappings = Vec::new();
        for i in self.groups(RowGroupKind::Mappings) {
            let rg = self.reader.get_row_group(i)?;
            let rg = rg.as_ref();
            let start = self.read_column::<Int64Type>(rg, COL_MAPPING_START)?;
            let limit = self.read_column::<Int64Type>(rg, COL_MAPPING_LIMIT)?;
            let offset = self.read_column::<Int64Type>(rg, COL_MAPPING_OFFSET)?;
            let file = self.read_column::<Int32Type>(rg, COL_MAPPING_FILENAME)?;
            let build = self.read_column::<Int32Type>(rg, COL_MAPPING_BUILD_ID)?;
            let flags = self.read_column::<Int32Type>(rg, COL_MAPPING_FLAGS)?;
            for j in 0..start.len() {
                if !string_ok(file[j]) || !string_ok(build[j]) {
                    return Err(invalid("mapping refers outside the string table"));
                }
                mappings.push(MappingRow {
                    memory_start: start[j] as u64,
                    memory_limit: limit[j] as u64,
                    file_offset: offset[j] as u64,
                    filename: file[j],
                    build_id: build[j],
                    flags: flags[j] as u32,
                });
            }
        }
        Ok((functions, mappings))
    }

    /// Reads each node's frame, checking it against the functions and mappings and that a
    /// node's name is its function's. Format 1 nodes are their name's function.
    pub fn read_node_frames(
        &self,
        nodes: &[StackNode],
        functions: &[FunctionRow],
        mappings: usize,
    ) -> Result<Vec<NodeFrame>> {
        if self.meta.format == 1 {
            return Ok(nodes
                .iter()
                .map(|n| NodeFrame {
                    function: n.name,
                    mapping: -1,
                    ..NodeFrame::default()
                })
                .collect());
        }
        let mut out = Vec::with_capacity(nodes.len());
        for i in self.groups(RowGroupKind::Nodes) {
            let rg = self.reader.get_row_group(i)?;
            let rg = rg.as_ref();
            let function = self.read_column::<Int32Type>(rg, COL_NODE_FUNCTION)?;
            let line = self.read_column::<Int64Type>(rg, COL_NODE_LINE)?;
            let mapping = self.read_column::<Int32Type>(rg, COL_NODE_MAPPING)?;
            let address = self.read_column::<Int64Type>(rg, COL_NODE_ADDRESS)?;
            let inlined = self.read_column::<BoolType>(rg, COL_NODE_INLINED)?;
            for j in 0..function.len() {
                let node = nodes.get(out.len());
                let f = usize::try_from(function[j])
                    .ok()
                    .and_then(|f| functions.get(f));
                if node.is_none()
                    || f.map(|f| f.name) != node.map(|n| n.name)
                    || mapping[j] < -1
                    || mapping[j] as i64 >= mappings as i64
                {
                    return Err(invalid("node frame refers outside its tables"));
                }
                out.push(NodeFrame {
                    function: function[j] as u32,
                    line: line[j],
                    mapping: mapping[j],
                    address: address[j] as u64,
                    inlined: inlined[j],
                });
            }
        }
        if out.len() != nodes.len() {
            return Err(invalid("node frames do not match the nodes"));
        }
        Ok(out)
    }

    /// Reads the sample rows of row groups whose time statistics overlap `[from, until]`,
    /// keeping rows in that range whose series `keep_series` accepts. Checks ids against
    /// a trie of `nodes` entries. With `links`, reads the samples' links too, adding them to
    /// that table (index 0 the empty link); without, every sample's link is 0.
    pub fn read_samples(
        &self,
        from: i64,
        until: i64,
        keep_series: &dyn Fn(u32) -> bool,
        nodes: usize,
        mut links: Option<&mut Vec<Link>>,
    ) -> Result<Samples> {
        let mut out = Samples::default();
        let md = self.reader.metadata();
        let mut link_ids: FastMap<Link, u32> = FastMap::default();
        if let Some(links) = links.as_deref_mut() {
            if links.is_empty() {
                links.push(Link::default());
            }
            link_ids.extend(
                links
                    .iter()
                    .cloned()
                    .enumerate()
                    .map(|(i, l)| (l, i as u32)),
            );
        }
        for i in self.groups(RowGroupKind::Samples) {
            if let Some(Statistics::Int64(stats)) = md.row_group(i).column(COL_TIME).statistics()
                && let (Some(min), Some(max)) = (stats.min_opt(), stats.max_opt())
                && (*max < from || *min > until)
            {
                continue;
            }
            let rg = self.reader.get_row_group(i)?;
            let rg = rg.as_ref();
            let series = self.read_column::<Int32Type>(rg, COL_SERIES)?;
            let time = self.read_column::<Int64Type>(rg, COL_TIME)?;
            let stack = self.read_column::<Int32Type>(rg, COL_STACK)?;
            let value = self.read_column::<Int64Type>(rg, COL_VALUE)?;
            let rows = series.len();
            if [time.len(), stack.len(), value.len()] != [rows; 3] {
                return Err(invalid("sample columns differ in length"));
            }
            let link_cols = match links {
                Some(_) if self.meta.format >= 2 => [COL_SPAN_ID, COL_TRACE_ID, COL_PROFILE_ID]
                    .into_iter()
                    .map(|c| self.read_optional::<ByteArrayType>(rg, c))
                    .collect::<Result<Vec<_>>>()?,
                _ => Vec::new(),
            };
            let text = |c: usize, j: usize| -> Result<String> {
                match link_cols.get(c).and_then(|c| c.as_ref()) {
                    Some(values) => String::from_utf8(values[j].data().to_vec())
                        .map_err(|_| invalid("sample link is not UTF-8")),
                    None => Ok(String::new()),
                }
            };
            for j in 0..rows {
                let (se, st) = (series[j], stack[j]);
                if se < 0 || se as usize >= self.meta.series.len() || st < 0 || st as usize >= nodes
                {
                    return Err(invalid("sample refers outside its tables"));
                }
                if time[j] < from || time[j] > until || !keep_series(se as u32) {
                    continue;
                }
                let mut link_id = 0;
                if let Some(links) = links.as_deref_mut()
                    && link_cols.iter().any(Option::is_some)
                {
                    let link = Link {
                        span_id: text(0, j)?,
                        trace_id: text(1, j)?,
                        profile_id: text(2, j)?,
                    };
                    link_id = intern(links, &mut link_ids, link);
                }
                out.push(se as u32, time[j], st as u32, value[j], link_id);
            }
        }
        Ok(out)
    }

    /// Reads the whole segment.
    pub fn read_all(&self) -> Result<SegmentData> {
        let strings = self.read_strings()?;
        let nodes = self.read_nodes(strings.len())?;
        let (functions, mappings) = self.read_symbols(strings.len())?;
        let node_frames = self.read_node_frames(&nodes, &functions, mappings.len())?;
        let mut links = vec![Link::default()];
        let samples =
            self.read_samples(i64::MIN, i64::MAX, &|_| true, nodes.len(), Some(&mut links))?;
        Ok(SegmentData {
            tenant: self.meta.tenant.clone(),
            series: self.meta.series.clone(),
            periods: self.meta.periods.clone(),
            strings,
            functions,
            mappings,
            nodes,
            node_frames,
            links,
            samples,
        })
    }
}

/// Decodes a whole segment from its bytes.
pub fn decode(bytes: Bytes) -> Result<SegmentData> {
    SegmentReader::open(bytes)?.read_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::NamedSample;

    fn profile(app: &str, time: i64, stacks: &[(&str, i64)]) -> Profile {
        let mut labels = Labels::new();
        labels.insert("service_name".into(), app.into());
        labels.insert("__name__".into(), "process_cpu".into());
        let series = Series {
            profile_type: ProfileType::parse("process_cpu:cpu:nanoseconds:cpu:nanoseconds")
                .unwrap(),
            labels,
        };
        let samples = stacks
            .iter()
            .map(|(s, v)| NamedSample {
                stack: s.split(';').map(String::from).collect(),
                value: *v,
            })
            .collect();
        Profile::from_named(series, time, samples)
    }

    #[test]
    fn round_trip_and_dedup() {
        let mut b = SegmentBuilder::new("t");
        b.add_profile(&profile("a", 10, &[("x;y;z", 1), ("x;y", 2), ("x;y;z", 3)]));
        b.add_profile(&profile("b", 5, &[("x;q", 7)]));
        let data = b.finish();
        assert_eq!(data.strings, vec!["x", "y", "z", "q"]);
        assert_eq!(data.nodes.len(), 4, "x, x;y, x;y;z, x;q");
        assert_eq!(data.samples.len(), 3, "x;y;z summed");
        let bytes = encode(&data).unwrap();
        let back = decode(Bytes::from(bytes.clone())).unwrap();
        assert_eq!(back, data);
        let r = SegmentReader::open(Bytes::from(bytes)).unwrap();
        assert_eq!((r.meta().min_time, r.meta().max_time), (5, 10));
        let only_b = r
            .read_samples(0, 100, &|s| s == 1, back.nodes.len(), None)
            .unwrap();
        assert_eq!(only_b.value, vec![7]);
        assert_eq!(back.stack_names(only_b.stack[0]), vec!["x", "q"]);
        assert!(
            r.read_samples(11, 100, &|_| true, back.nodes.len(), None)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn merge_segments() {
        let mut a = SegmentBuilder::new("t");
        a.add_profile(&profile("a", 10, &[("x;y", 1)]));
        let a = a.finish();
        let mut b = SegmentBuilder::new("t");
        b.add_profile(&profile("a", 10, &[("x;y", 2), ("w", 1)]));
        let b = b.finish();
        let mut m = SegmentBuilder::new("t");
        m.add_segment(&a);
        m.add_segment(&b);
        let m = m.finish();
        assert_eq!(m.series.len(), 1);
        let mut stacks: Vec<(String, i64)> = (0..m.samples.len())
            .map(|i| {
                (
                    m.stack_names(m.samples.stack[i]).join(";"),
                    m.samples.value[i],
                )
            })
            .collect();
        stacks.sort();
        assert_eq!(stacks, vec![("w".into(), 1), ("x;y".into(), 3)]);
    }

    #[test]
    fn rejects_garbage() {
        assert!(decode(Bytes::from_static(b"not parquet at all")).is_err());
        assert!(decode(Bytes::new()).is_err());
    }
}
