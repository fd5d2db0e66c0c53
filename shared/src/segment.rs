//! A segment is one immutable Parquet object: the profiles of one ingest request (L0), or the
//! merge of many (compacted). This module converts values to bytes and back; it never touches
//! storage. Layout: docs/storage.md#segment.
//!
//! One Parquet schema holds three tables, each in row groups of its own (the other columns are
//! null there, which costs a few bytes per column chunk):
//!
//! | column        | type         | table   | meaning                                          |
//! |---------------|--------------|---------|--------------------------------------------------|
//! | `string`      | BYTE_ARRAY   | strings | function names, deduplicated; id = row number     |
//! | `node_parent` | INT32        | nodes   | parent node id, −1 for a root frame               |
//! | `node_name`   | INT32        | nodes   | string id of the frame's function name            |
//! | `series`      | INT32        | samples | index into the footer's series list               |
//! | `time_nanos`  | INT64        | samples | profile time, ns since the epoch                  |
//! | `stack`       | INT32        | samples | node id of the stack's leaf frame                 |
//! | `value`       | INT64        | samples | summed value of that stack in that profile        |
//!
//! Nodes form a trie of stack prefixes: a node's parent always has a smaller id, so a stack is
//! rebuilt by following parents from its leaf. Samples are sorted by (series, time, stack) and
//! unique on that triple. Footer key-value metadata: see the `META_*` constants.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use parquet::basic::{Compression, Repetition, Type as PhysicalType};
use parquet::column::reader::{ColumnReader, get_typed_column_reader};
use parquet::data_type::{ByteArray, ByteArrayType, DataType, Int32Type, Int64Type};
use parquet::file::metadata::{KeyValue, ParquetMetaData};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{ChunkReader, FileReader, RowGroupReader};
use parquet::file::serialized_reader::SerializedFileReader;
use parquet::file::statistics::Statistics;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;
use serde::{Deserialize, Serialize};

use crate::profile::{Labels, Profile, ProfileType, Series};

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
/// Footer key: comma-separated table of each row group (`strings`, `nodes`, `samples`).
pub const META_ROW_GROUPS: &str = "flamelet.row_groups";
/// The layout version this code writes and reads.
pub const FORMAT_VERSION: &str = "1";
/// Rows per sample row group: large enough for good compression, small enough to prune.
pub const SAMPLE_ROWS_PER_GROUP: usize = 128 * 1024;

const COLUMNS: [(&str, PhysicalType); 7] = [
    ("string", PhysicalType::BYTE_ARRAY),
    ("node_parent", PhysicalType::INT32),
    ("node_name", PhysicalType::INT32),
    ("series", PhysicalType::INT32),
    ("time_nanos", PhysicalType::INT64),
    ("stack", PhysicalType::INT32),
    ("value", PhysicalType::INT64),
];
const COL_STRING: usize = 0;
const COL_NODE_PARENT: usize = 1;
const COL_NODE_NAME: usize = 2;
const COL_SERIES: usize = 3;
const COL_TIME: usize = 4;
const COL_STACK: usize = 5;
const COL_VALUE: usize = 6;

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

/// One node of the stack trie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StackNode {
    /// Parent node id, or −1 for a root frame.
    pub parent: i32,
    /// String id of the function name.
    pub name: u32,
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

    fn push(&mut self, series: u32, time: i64, stack: u32, value: i64) {
        self.series.push(series);
        self.time.push(time);
        self.stack.push(stack);
        self.value.push(value);
    }
}

/// A whole segment in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SegmentData {
    /// The owning tenant's ID.
    pub tenant: String,
    /// Series; index = series id.
    pub series: Vec<Series>,
    /// Function names; index = string id.
    pub strings: Vec<String>,
    /// Stack trie; index = node id.
    pub nodes: Vec<StackNode>,
    /// Sample rows, sorted by (series, time, stack) and unique on that triple.
    pub samples: Samples,
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
        let mut out = Vec::new();
        let mut node = leaf as i32;
        while node >= 0 {
            let n = self.nodes[node as usize];
            out.push(self.strings[n.name as usize].as_str());
            node = n.parent;
        }
        out.reverse();
        out
    }
}

/// Builds a [`SegmentData`] from profiles or other segments, deduplicating series, names and
/// stack prefixes.
#[derive(Debug, Default)]
pub struct SegmentBuilder {
    data: SegmentData,
    series_ids: HashMap<Series, u32>,
    string_ids: HashMap<String, u32>,
    node_ids: HashMap<StackNode, u32>,
}

impl SegmentBuilder {
    /// Starts an empty segment for a tenant.
    pub fn new(tenant: &str) -> Self {
        SegmentBuilder {
            data: SegmentData {
                tenant: tenant.to_string(),
                ..SegmentData::default()
            },
            ..Self::default()
        }
    }

    fn series_id(&mut self, series: &Series) -> u32 {
        if let Some(id) = self.series_ids.get(series) {
            return *id;
        }
        let id = self.data.series.len() as u32;
        self.data.series.push(series.clone());
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

    fn node_id(&mut self, parent: i32, name: u32) -> u32 {
        let node = StackNode { parent, name };
        if let Some(id) = self.node_ids.get(&node) {
            return *id;
        }
        let id = self.data.nodes.len() as u32;
        self.data.nodes.push(node);
        self.node_ids.insert(node, id);
        id
    }

    /// Adds a profile. Samples with an empty stack are dropped.
    pub fn add_profile(&mut self, profile: &Profile) {
        let series = self.series_id(&profile.series);
        for sample in &profile.samples {
            let mut parent = -1i32;
            for frame in &sample.stack {
                let name = self.string_id(frame);
                parent = self.node_id(parent, name) as i32;
            }
            if parent >= 0 {
                self.data
                    .samples
                    .push(series, profile.time_nanos, parent as u32, sample.value);
            }
        }
    }

    /// Adds every sample of another segment.
    pub fn add_segment(&mut self, other: &SegmentData) {
        let series: Vec<u32> = other.series.iter().map(|s| self.series_id(s)).collect();
        let strings: Vec<u32> = other.strings.iter().map(|s| self.string_id(s)).collect();
        let mut nodes: Vec<u32> = Vec::with_capacity(other.nodes.len());
        for node in &other.nodes {
            // Parents precede children (checked at decode), so the parent is already mapped.
            let parent = if node.parent < 0 {
                -1
            } else {
                nodes[node.parent as usize] as i32
            };
            let id = self.node_id(parent, strings[node.name as usize]);
            nodes.push(id);
        }
        let s = &other.samples;
        for i in 0..s.len() {
            self.data.samples.push(
                series[s.series[i] as usize],
                s.time[i],
                nodes[s.stack[i] as usize],
                s.value[i],
            );
        }
    }

    /// Sorts the samples and sums rows with the same (series, time, stack).
    pub fn finish(mut self) -> SegmentData {
        let s = &self.data.samples;
        let mut order: Vec<usize> = (0..s.len()).collect();
        order.sort_unstable_by_key(|&i| (s.series[i], s.time[i], s.stack[i]));
        let mut out = Samples::default();
        for i in order {
            let n = out.len();
            if n > 0
                && out.series[n - 1] == s.series[i]
                && out.time[n - 1] == s.time[i]
                && out.stack[n - 1] == s.stack[i]
            {
                out.value[n - 1] = out.value[n - 1].saturating_add(s.value[i]);
            } else {
                out.push(s.series[i], s.time[i], s.stack[i], s.value[i]);
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
    I64(&'a [i64]),
    Bytes(Vec<ByteArray>),
}

/// Encodes a segment as Parquet bytes.
pub fn encode(data: &SegmentData) -> Result<Vec<u8>> {
    let (min_time, max_time) = data.time_range().unwrap_or((0, 0));
    let series: Vec<SeriesJson> = data
        .series
        .iter()
        .map(|s| SeriesJson {
            profile_type: s.profile_type.id(),
            labels: s.labels.clone(),
        })
        .collect();
    let series = serde_json::to_string(&series).map_err(|e| invalid(e.to_string()))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer = SerializedFileWriter::new(Vec::new(), schema()?, Arc::new(props))?;
    let mut kinds = Vec::new();

    // strings
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
    // nodes
    if !data.nodes.is_empty() {
        let cols = row_group_cols(|c| match c {
            COL_NODE_PARENT => Some(Col::I32(data.nodes.iter().map(|n| n.parent).collect())),
            COL_NODE_NAME => Some(Col::I32(data.nodes.iter().map(|n| n.name as i32).collect())),
            _ => None,
        });
        write_row_group(&mut writer, data.nodes.len(), cols)?;
        kinds.push("nodes");
    }
    // samples
    let s = &data.samples;
    let mut start = 0;
    while start < s.len() {
        let end = (start + SAMPLE_ROWS_PER_GROUP).min(s.len());
        let cols = row_group_cols(|c| match c {
            COL_SERIES => Some(Col::I32(
                s.series[start..end].iter().map(|v| *v as i32).collect(),
            )),
            COL_TIME => Some(Col::I64(&s.time[start..end])),
            COL_STACK => Some(Col::I32(
                s.stack[start..end].iter().map(|v| *v as i32).collect(),
            )),
            COL_VALUE => Some(Col::I64(&s.value[start..end])),
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
                parquet::column::writer::ColumnWriter::Int32ColumnWriter(w) => {
                    w.write_batch(&[], Some(&zeros), None)?;
                }
                parquet::column::writer::ColumnWriter::Int64ColumnWriter(w) => {
                    w.write_batch(&[], Some(&zeros), None)?;
                }
                parquet::column::writer::ColumnWriter::ByteArrayColumnWriter(w) => {
                    w.write_batch(&[], Some(&zeros), None)?;
                }
                _ => return Err(invalid("unexpected column type")),
            },
            Col::I32(v) => {
                col.typed::<Int32Type>()
                    .write_batch(&v, Some(&ones), None)?;
            }
            Col::I64(v) => {
                col.typed::<Int64Type>().write_batch(v, Some(&ones), None)?;
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
    /// Function names.
    Strings,
    /// The stack trie.
    Nodes,
    /// Sample rows.
    Samples,
}

/// What a segment's footer says, read without touching its column data.
#[derive(Debug, Clone)]
pub struct SegmentMeta {
    /// The owning tenant's ID.
    pub tenant: String,
    /// Earliest profile time (ns).
    pub min_time: i64,
    /// Latest profile time (ns).
    pub max_time: i64,
    /// Series; index = series id.
    pub series: Vec<Series>,
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
        let format = kv(md, META_FORMAT)?;
        if format != FORMAT_VERSION {
            return Err(invalid(format!("unsupported segment format `{format}`")));
        }
        let schema = md.file_metadata().schema_descr();
        if schema.num_columns() != COLUMNS.len()
            || COLUMNS.iter().enumerate().any(|(i, (name, t))| {
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
            .map(|k| match k {
                "strings" => Ok(RowGroupKind::Strings),
                "nodes" => Ok(RowGroupKind::Nodes),
                "samples" => Ok(RowGroupKind::Samples),
                other => Err(invalid(format!("unknown row group kind `{other}`"))),
            })
            .collect::<Result<Vec<_>>>()?;
        if row_groups.len() != md.num_row_groups() {
            return Err(invalid("row group kinds do not match the row groups"));
        }
        let meta = SegmentMeta {
            tenant: kv(md, META_TENANT)?.to_string(),
            min_time: parse_time(META_MIN_TIME)?,
            max_time: parse_time(META_MAX_TIME)?,
            series,
            row_groups,
        };
        Ok(SegmentReader { reader, meta })
    }

    /// Returns the footer's content.
    pub fn meta(&self) -> &SegmentMeta {
        &self.meta
    }

    fn groups(&self, kind: RowGroupKind) -> impl Iterator<Item = usize> + '_ {
        self.meta
            .row_groups
            .iter()
            .enumerate()
            .filter(move |(_, k)| **k == kind)
            .map(|(i, _)| i)
    }

    fn read_column<T: DataType>(&self, rg: &dyn RowGroupReader, col: usize) -> Result<Vec<T::T>>
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
        if values.len() != rows {
            return Err(invalid(format!(
                "column `{}` has nulls or is short",
                COLUMNS[col].0
            )));
        }
        Ok(values)
    }

    /// Reads the function-name table.
    pub fn read_strings(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for i in self.groups(RowGroupKind::Strings).collect::<Vec<_>>() {
            let rg = self.reader.get_row_group(i)?;
            for b in self.read_column::<ByteArrayType>(rg.as_ref(), COL_STRING)? {
                out.push(
                    String::from_utf8(b.data().to_vec())
                        .map_err(|_| invalid("function name is not UTF-8"))?,
                );
            }
        }
        Ok(out)
    }

    /// Reads the stack trie, checking that every parent precedes its child and every name
    /// exists in a string table of `strings` entries.
    pub fn read_nodes(&self, strings: usize) -> Result<Vec<StackNode>> {
        let mut out: Vec<StackNode> = Vec::new();
        for i in self.groups(RowGroupKind::Nodes).collect::<Vec<_>>() {
            let rg = self.reader.get_row_group(i)?;
            let parents = self.read_column::<Int32Type>(rg.as_ref(), COL_NODE_PARENT)?;
            let names = self.read_column::<Int32Type>(rg.as_ref(), COL_NODE_NAME)?;
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

    /// Reads the sample rows of row groups whose time statistics overlap `[from, until]`,
    /// keeping rows in that range whose series `keep_series` accepts. Checks ids against
    /// a trie of `nodes` entries.
    pub fn read_samples(
        &self,
        from: i64,
        until: i64,
        keep_series: &dyn Fn(u32) -> bool,
        nodes: usize,
    ) -> Result<Samples> {
        let mut out = Samples::default();
        let md = self.reader.metadata();
        for i in self.groups(RowGroupKind::Samples).collect::<Vec<_>>() {
            if let Some(Statistics::Int64(stats)) = md.row_group(i).column(COL_TIME).statistics()
                && let (Some(min), Some(max)) = (stats.min_opt(), stats.max_opt())
                && (*max < from || *min > until)
            {
                continue;
            }
            let rg = self.reader.get_row_group(i)?;
            let series = self.read_column::<Int32Type>(rg.as_ref(), COL_SERIES)?;
            let time = self.read_column::<Int64Type>(rg.as_ref(), COL_TIME)?;
            let stack = self.read_column::<Int32Type>(rg.as_ref(), COL_STACK)?;
            let value = self.read_column::<Int64Type>(rg.as_ref(), COL_VALUE)?;
            for j in 0..series.len() {
                let (se, st) = (series[j], stack[j]);
                if se < 0 || se as usize >= self.meta.series.len() || st < 0 || st as usize >= nodes
                {
                    return Err(invalid("sample refers outside its tables"));
                }
                if time[j] < from || time[j] > until || !keep_series(se as u32) {
                    continue;
                }
                out.push(se as u32, time[j], st as u32, value[j]);
            }
        }
        Ok(out)
    }

    /// Reads the whole segment.
    pub fn read_all(&self) -> Result<SegmentData> {
        let strings = self.read_strings()?;
        let nodes = self.read_nodes(strings.len())?;
        let samples = self.read_samples(i64::MIN, i64::MAX, &|_| true, nodes.len())?;
        Ok(SegmentData {
            tenant: self.meta.tenant.clone(),
            series: self.meta.series.clone(),
            strings,
            nodes,
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
    use crate::profile::Sample;

    fn profile(app: &str, time: i64, stacks: &[(&str, i64)]) -> Profile {
        let mut labels = Labels::new();
        labels.insert("service_name".into(), app.into());
        labels.insert("__name__".into(), "process_cpu".into());
        Profile {
            series: Series {
                profile_type: ProfileType::parse("process_cpu:cpu:nanoseconds:cpu:nanoseconds")
                    .unwrap(),
                labels,
            },
            time_nanos: time,
            samples: stacks
                .iter()
                .map(|(s, v)| Sample {
                    stack: s.split(';').map(String::from).collect(),
                    value: *v,
                })
                .collect(),
        }
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
            .read_samples(0, 100, &|s| s == 1, back.nodes.len())
            .unwrap();
        assert_eq!(only_b.value, vec![7]);
        assert_eq!(back.stack_names(only_b.stack[0]), vec!["x", "q"]);
        assert!(
            r.read_samples(11, 100, &|_| true, back.nodes.len())
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
