//! Reading a segment lazily: the footer first, then only the row groups and columns asked for.

use bytes::Bytes;
use parquet::column::reader::{ColumnReader, get_column_reader, get_typed_column_reader};
use parquet::data_type::{BoolType, ByteArrayType, DataType, Int32Type, Int64Type};
use parquet::file::metadata::{
    FooterTail, ParquetMetaData, ParquetMetaDataOptions, ParquetMetaDataReader,
};
use parquet::file::properties::{ReaderProperties, ReaderPropertiesPtr};
use parquet::file::reader::{ChunkReader, Length, RowGroupReader};
use parquet::file::serialized_reader::SerializedRowGroupReader;
use parquet::file::statistics::Statistics;
use parquet::schema::types::SchemaDescPtr;
use std::sync::Arc;

use super::*;
use crate::FastMap;
use crate::profile::{Ids, Link, ProfileType, Series};
use crate::storage::chunks::ObjectChunks;
use crate::storage::thrift_shape;

use super::pages::CheckedPages;

/// What a segment's footer says, read without touching its column data.
#[derive(Debug, Clone)]
pub struct SegmentMeta {
    /// The layout version (1 to 6).
    pub format: u32,
    /// The owning tenant's ID.
    pub tenant: String,
    /// Earliest profile time (ns).
    pub min_time: i64,
    /// Latest profile time (ns).
    pub max_time: i64,
    /// Series; index = series id. (Shared: segments with the same series list share one,
    /// see [`FooterCache`].)
    pub series: Arc<[Series]>,
    /// Each series' sampling period (0 if unknown).
    pub periods: Arc<[i64]>,
    /// The table of each row group.
    pub row_groups: Vec<RowGroupKind>,
    /// The service partitions (format 5 compacted segments; empty otherwise).
    pub partitions: Vec<Partition>,
}

/// One partition's symbol tables, after [`SegmentReader::focus`]: ids are read relative to
/// its spans, and only its row groups of those tables are decoded.
#[derive(Debug, Clone)]
struct Window {
    /// The first id of each of [`SYMBOL_TABLES`] in the partition.
    starts: [i32; 4],
    groups: Vec<(RowGroupKind, usize)>,
}

/// Reads a segment lazily: the footer first, then only the row groups and columns asked for.
pub struct SegmentReader {
    reader: ParquetFile,
    meta: SegmentMeta,
    window: Option<Window>,
    /// Format 7 L0 segments: the row counts of [`PACKED_TABLES`] in the one row group.
    packed: Option<[usize; 5]>,
}

fn kv<'a>(md: &'a ParquetMetaData, key: &str) -> Result<&'a str> {
    md.file_metadata()
        .key_value_metadata()
        .and_then(|kvs| kvs.iter().find(|kv| kv.key == key))
        .and_then(|kv| kv.value.as_deref())
        .ok_or_else(|| invalid(format!("footer has no `{key}`")))
}

/// Runs a read through the parquet crate, whose decoders panic on some corrupt bytes instead
/// of returning an error (parquet 60.1's plain byte-array decoder reads a value's length past
/// the end of its page; docs/reliability.md): the panic becomes an invalid-segment error.
/// (In a component, where a panic aborts, it fails that one request.)
fn guarded<T>(read: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read))
        .unwrap_or_else(|_| Err(invalid("corrupt column data")))
}

/// What opening one segment learns that the next ones mostly repeat: the footer's schema
/// (every segment of a layout has the same bytes) and series lists (an agent's uploads name
/// the same series each time). A scan over thousands of a fresh hour's L0 segments then
/// walks, decodes and builds the schema once, and parses each series list once, instead of
/// per segment (docs/benchmarks.md, "Footer cache").
#[derive(Debug, Clone, Default)]
pub struct FooterCache {
    /// Schema bytes that passed the shape check and [`SegmentReader::open`]'s schema check,
    /// and their decoded schema.
    schema: Option<(Vec<u8>, SchemaDescPtr)>,
    /// Series lists by their footer JSON: the series and their periods.
    series: FastMap<Box<str>, SeriesList>,
}

impl FooterCache {
    /// The schema bytes it knows (what a footer with the same bytes skips).
    pub fn known_schema(&self) -> Option<&[u8]> {
        self.schema.as_ref().map(|(bytes, _)| &bytes[..])
    }
}

/// Series lists a [`FooterCache`] keeps (then it starts again), and what a query works out
/// per series list (`query::PerSeriesList`): a scan meets as many as the agents that uploaded
/// in its range; this bounds the memory where those are very many.
pub(crate) const CACHED_SERIES_LISTS: usize = 1024;

/// Most rows a column read reserves room for up front: a footer may claim any number (a
/// fuzzed one claimed 3 billion strings, and the reservation aborted the process); real sample row
/// groups hold at most 131 072.
const MAX_RESERVED_ROWS: usize = 1 << 17;

/// A footer's series list (`flamelet.series`): the series and their periods.
type SeriesList = (Arc<[Series]>, Arc<[i64]>);

/// Parses a footer's series list.
fn parse_series(json: &str) -> Result<SeriesList> {
    let series: Vec<SeriesJson> =
        serde_json::from_str(json).map_err(|e| invalid(format!("bad series list: {e}")))?;
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
        .collect::<Result<_>>()?;
    Ok((series, periods))
}

/// A Parquet file whose footer passed [`thrift_shape::check_footer`] before the crate decoded
/// it (page headers pass it in [`ObjectChunks`]): the one way segments are opened.
struct ParquetFile {
    chunks: std::sync::Arc<ObjectChunks>,
    metadata: ParquetMetaData,
    props: ReaderPropertiesPtr,
}

impl ParquetFile {
    /// Opens the file, decoding its footer with `cache`'s schema where the footer's schema
    /// has the same bytes; gives the schema's bytes too where they were not those.
    fn open(chunks: ObjectChunks, cache: &FooterCache) -> Result<(Self, Option<Vec<u8>>)> {
        const TAIL: u64 = 8; // the footer's length and magic
        let len = chunks.len();
        if len < TAIL {
            return Err(invalid(format!(
                "{len} bytes is shorter than a Parquet footer"
            )));
        }
        let tail: [u8; TAIL as usize] = chunks.get_bytes(len - TAIL, TAIL as usize)?[..]
            .try_into()
            .map_err(|_| invalid("short footer read"))?;
        let footer_len = FooterTail::try_new(&tail)?.metadata_length() as u64;
        if footer_len + TAIL > len {
            return Err(invalid(format!(
                "footer of {footer_len} bytes in a {len}-byte object"
            )));
        }
        let footer = chunks.get_bytes(len - TAIL - footer_len, footer_len as usize)?;
        let known = cache.schema.as_ref();
        let shape = thrift_shape::check_footer(&footer, known.map(|(bytes, _)| &bytes[..]))
            .map_err(|e| invalid(format!("footer: {e}")))?;
        let (metadata, new_schema) = match known.filter(|_| shape.schema_known) {
            // The crate then skips the schema's bytes, which are the known schema's.
            Some((_, schema)) => {
                let options = ParquetMetaDataOptions::new().with_schema(schema.clone());
                let metadata = guarded(|| {
                    Ok(ParquetMetaDataReader::decode_metadata_with_options(
                        &footer,
                        Some(&options),
                    )?)
                })?;
                (metadata, None)
            }
            None => {
                let metadata = guarded(|| Ok(ParquetMetaDataReader::decode_metadata(&footer)?))?;
                (metadata, shape.schema.map(|r| footer[r].to_vec()))
            }
        };
        let file = ParquetFile {
            chunks: std::sync::Arc::new(chunks),
            metadata,
            props: std::sync::Arc::new(ReaderProperties::builder().build()),
        };
        Ok((file, new_schema))
    }

    fn metadata(&self) -> &ParquetMetaData {
        &self.metadata
    }

    fn get_row_group(&self, i: usize) -> Result<Box<dyn RowGroupReader + '_>> {
        if i >= self.metadata.num_row_groups() {
            return Err(invalid(format!("no row group {i}")));
        }
        Ok(Box::new(SerializedRowGroupReader::new(
            self.chunks.clone(),
            self.metadata.row_group(i),
            self.metadata.page_index_for_row_group(i),
            self.props.clone(),
        )?))
    }
}

impl SegmentReader {
    /// Opens a segment and decodes its footer.
    pub fn open(chunks: impl Into<ObjectChunks>) -> Result<Self> {
        Self::open_cached(chunks, &mut FooterCache::default())
    }

    /// [`SegmentReader::open`], reusing what `cache` learnt from segments opened before and
    /// adding to it.
    pub fn open_cached(chunks: impl Into<ObjectChunks>, cache: &mut FooterCache) -> Result<Self> {
        let (reader, new_schema) = ParquetFile::open(chunks.into(), cache)?;
        let md = reader.metadata();
        let (format, columns) = match kv(md, META_FORMAT)? {
            "1" => (1, V1_COLUMNS),
            "2" => (2, V5_COLUMNS),
            "3" => (3, V5_COLUMNS),
            "4" => (4, V5_COLUMNS),
            "5" => (5, V5_COLUMNS),
            "6" => (6, COLUMNS.len()),
            "7" => (7, COLUMNS.len()),
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
        let series_json = kv(md, META_SERIES)?;
        let (series, periods) = match cache.series.get(series_json) {
            Some((series, periods)) => (series.clone(), periods.clone()),
            None => {
                let parsed = parse_series(series_json)?;
                if cache.series.len() >= CACHED_SERIES_LISTS {
                    cache.series.clear();
                }
                cache.series.insert(series_json.into(), parsed.clone());
                parsed
            }
        };
        let kinds = kv(md, META_ROW_GROUPS)?;
        let row_groups = kinds
            .split(',')
            .filter(|k| !k.is_empty())
            .map(|k| match (k, format) {
                ("strings", _) => Ok(RowGroupKind::Strings),
                ("functions", 2..) => Ok(RowGroupKind::Functions),
                ("mappings", 2..) => Ok(RowGroupKind::Mappings),
                ("nodes", _) => Ok(RowGroupKind::Nodes),
                ("samples", _) => Ok(RowGroupKind::Samples),
                (STACK_SUMS, 3..) => Ok(RowGroupKind::StackSums),
                (PROFILE_TOTALS, 3..) => Ok(RowGroupKind::ProfileTotals),
                (DAY_SUMS, 4..) => Ok(RowGroupKind::DaySums),
                (TABLES, 7..) => Ok(RowGroupKind::Tables),
                (other, _) => Err(invalid(format!("unknown row group kind `{other}`"))),
            })
            .collect::<Result<Vec<_>>>()?;
        if row_groups.len() != md.num_row_groups() {
            return Err(invalid("row group kinds do not match the row groups"));
        }
        let packed = if row_groups.contains(&RowGroupKind::Tables) {
            Some(packed_rows(md, &row_groups)?)
        } else {
            None
        };
        let partitions = match kv(md, META_PARTITIONS) {
            Ok(json) if format >= 5 => serde_json::from_str(json)
                .map_err(|e| invalid(format!("bad partition list: {e}")))?,
            _ => Vec::new(),
        };
        let meta = SegmentMeta {
            format,
            partitions,
            tenant: kv(md, META_TENANT)?.to_string(),
            min_time: parse_time(META_MIN_TIME)?,
            max_time: parse_time(META_MAX_TIME)?,
            series,
            periods,
            row_groups,
        };
        // The schema passed the check above: segments with the same bytes may skip it.
        if let Some(bytes) = new_schema {
            cache.schema = Some((bytes, md.file_metadata().schema_descr_ptr()));
        }
        Ok(SegmentReader {
            reader,
            meta,
            window: None,
            packed,
        })
    }

    /// Narrows the symbol tables read from here on (strings, functions, mappings, trie) to
    /// the one partition that holds every series `keep_series` accepts, if there is one;
    /// ids in what is read are then that partition's, from 0. Tells whether it narrowed.
    /// Rows of other partitions' series must not be asked for afterwards.
    pub fn focus(&mut self, keep_series: &dyn Fn(u32) -> bool) -> Result<bool> {
        self.window = None;
        let kept: Vec<u32> = (0..self.meta.series.len() as u32)
            .filter(|s| keep_series(*s))
            .collect();
        let within = |p: &&Partition| kept.iter().all(|s| (p.series[0]..p.series[1]).contains(s));
        let Some(partition) = self.meta.partitions.iter().find(within).cloned() else {
            return Ok(false);
        };
        if kept.is_empty() {
            return Ok(false);
        }
        let md = self.reader.metadata();
        let mut groups = Vec::new();
        for kind in SYMBOL_TABLES {
            let span = partition
                .span(kind)
                .map_or(0..0, |r| u64::from(r.start)..u64::from(r.end));
            let (mut offset, mut covered) = (0u64, 0u64);
            for i in self.groups(kind) {
                let rows = md.row_group(i).num_rows().max(0) as u64;
                let (start, end) = (offset, offset + rows);
                offset = end;
                if span.start <= start && end <= span.end {
                    if rows > 0 {
                        groups.push((kind, i));
                        covered += rows;
                    }
                } else if start < span.end && span.start < end {
                    return Err(invalid("a row group crosses a partition"));
                }
            }
            if covered != span.end.saturating_sub(span.start) {
                return Err(invalid("a partition's span is not its row groups"));
            }
        }
        let start = |kind| {
            let start = partition.span(kind).map_or(0, |r| r.start);
            i32::try_from(start).map_err(|_| invalid("partition span out of range"))
        };
        let starts = [
            start(RowGroupKind::Strings)?,
            start(RowGroupKind::Functions)?,
            start(RowGroupKind::Mappings)?,
            start(RowGroupKind::Nodes)?,
        ];
        self.window = Some(Window { starts, groups });
        Ok(true)
    }

    /// An id read from a table that refers to `kind`, made relative to the focused
    /// partition's span; negative ids (none) stay as they are.
    #[inline]
    fn local(&self, kind: RowGroupKind, id: i32) -> Result<i32> {
        let Some(w) = &self.window else {
            return Ok(id);
        };
        let start = match kind {
            RowGroupKind::Strings => w.starts[0],
            RowGroupKind::Functions => w.starts[1],
            RowGroupKind::Mappings => w.starts[2],
            _ => w.starts[3],
        };
        if id < 0 {
            return Ok(id);
        }
        if id < start {
            return Err(invalid("a partition refers outside its tables"));
        }
        Ok(id - start)
    }

    /// Returns the footer's content.
    pub fn meta(&self) -> &SegmentMeta {
        &self.meta
    }

    fn groups(&self, kind: RowGroupKind) -> Vec<usize> {
        if self.packed.is_some() {
            return if PACKED_TABLES.contains(&kind) {
                vec![0]
            } else {
                Vec::new()
            };
        }
        if let Some(w) = &self.window
            && SYMBOL_TABLES.contains(&kind)
        {
            return w
                .groups
                .iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, i)| *i)
                .collect();
        }
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
        // A packed row group's column holds its table's rows, then nulls.
        let rows = match self.packed {
            Some(tables) => tables[packed_table(col)],
            None => rg.metadata().num_rows().max(0) as usize,
        };
        if rows == 0 {
            return Ok(Some(Vec::new()));
        }
        let (values, rows) = guarded(|| {
            let descr = rg.metadata().schema_descr().column(col);
            let pages = CheckedPages::new(
                rg.get_column_page_reader(col)?,
                descr.physical_type(),
                descr.type_length(),
            );
            let reader: ColumnReader = get_column_reader(descr, Box::new(pages));
            let mut typed = get_typed_column_reader::<T>(reader);
            // The row count is the footer's claim: reserve no more than a real row group
            // holds at once (the vectors grow with what the pages really give).
            let reserve = rows.min(MAX_RESERVED_ROWS);
            let mut values = Vec::with_capacity(reserve);
            let mut defs = Vec::with_capacity(reserve);
            let mut read = 0;
            while read < rows {
                let (records, _, _) =
                    typed.read_records(rows - read, Some(&mut defs), None, &mut values)?;
                if records == 0 {
                    break;
                }
                read += records;
            }
            Ok((values, rows))
        })?;
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
        match self.read_optional::<T>(rg, col)? {
            Some(values) => Ok(values),
            None => Err(invalid(format!("column `{}` is null", COLUMNS[col].0))),
        }
    }

    /// Reads a column of ids into table `kind`, relative to the focused partition.
    fn read_ids(
        &self,
        rg: &dyn RowGroupReader,
        col: usize,
        kind: RowGroupKind,
    ) -> Result<Vec<i32>> {
        let mut ids = self.read_column::<Int32Type>(rg, col)?;
        if self.window.is_some() {
            for id in &mut ids {
                *id = self.local(kind, *id)?;
            }
        }
        Ok(ids)
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
                let parent = self.local(RowGroupKind::Nodes, parent)?;
                let name = self.local(RowGroupKind::Strings, name)?;
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
            let name = self.read_ids(rg, COL_FUNCTION_NAME, RowGroupKind::Strings)?;
            let system = self.read_ids(rg, COL_FUNCTION_SYSTEM_NAME, RowGroupKind::Strings)?;
            let file = self.read_ids(rg, COL_FUNCTION_FILENAME, RowGroupKind::Strings)?;
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
            let file = self.read_ids(rg, COL_MAPPING_FILENAME, RowGroupKind::Strings)?;
            let build = self.read_ids(rg, COL_MAPPING_BUILD_ID, RowGroupKind::Strings)?;
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
            let function = self.read_ids(rg, COL_NODE_FUNCTION, RowGroupKind::Functions)?;
            let line = self.read_column::<Int64Type>(rg, COL_NODE_LINE)?;
            let mapping = self.read_ids(rg, COL_NODE_MAPPING, RowGroupKind::Mappings)?;
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
        links: Option<&mut Vec<Link>>,
    ) -> Result<Samples> {
        self.read_rows(
            RowGroupKind::Samples,
            from,
            until,
            keep_series,
            nodes,
            links,
        )
    }

    /// Whether the segment has per-stack sums and per-profile totals (a compacted segment of
    /// format 3).
    pub fn has_sums(&self) -> bool {
        self.meta.row_groups.contains(&RowGroupKind::StackSums)
    }

    /// Reads the per-(series, hour, stack) sums of the series `keep_series` accepts for the
    /// hours starting in `[first_hour, last_hour]`, as sample rows whose time is the hour's
    /// start, with the empty link: each the sum over every profile of the segment in that
    /// hour. Checks ids against a trie of `nodes` entries.
    pub fn read_stack_sums(
        &self,
        keep_series: &dyn Fn(u32) -> bool,
        nodes: usize,
        first_hour: i64,
        last_hour: i64,
    ) -> Result<Samples> {
        self.read_rows(
            RowGroupKind::StackSums,
            first_hour,
            last_hour,
            keep_series,
            nodes,
            None,
        )
    }

    /// Whether the segment has per-day stack sums (a day segment of format 4).
    pub fn has_day_sums(&self) -> bool {
        self.meta.row_groups.contains(&RowGroupKind::DaySums)
    }

    /// Reads the per-(series, UTC day, stack) sums of the series `keep_series` accepts for the
    /// days starting in `[first_day, last_day]`, as sample rows whose time is the day's start;
    /// see [`SegmentReader::read_stack_sums`].
    pub fn read_day_sums(
        &self,
        keep_series: &dyn Fn(u32) -> bool,
        nodes: usize,
        first_day: i64,
        last_day: i64,
    ) -> Result<Samples> {
        self.read_rows(
            RowGroupKind::DaySums,
            first_day,
            last_day,
            keep_series,
            nodes,
            None,
        )
    }

    /// Whether the day sums carry their stacks' path fingerprints (a day segment of format 6).
    pub fn has_fingerprints(&self) -> bool {
        self.meta.format >= 6 && self.has_day_sums()
    }

    /// [`SegmentReader::read_day_sums`], with each row's stack [`PathFingerprint`]
    /// (format 6; see [`SegmentReader::has_fingerprints`]).
    pub fn read_fingerprinted_day_sums(
        &self,
        keep_series: &dyn Fn(u32) -> bool,
        nodes: usize,
        first_day: i64,
        last_day: i64,
    ) -> Result<(Samples, Vec<PathFingerprint>)> {
        if !self.has_fingerprints() {
            return Err(invalid("no fingerprinted day sums"));
        }
        let mut fingerprints = Vec::new();
        let sums = self.read_rows_with(
            RowGroupKind::DaySums,
            (first_day, last_day),
            keep_series,
            nodes,
            None,
            Some(&mut fingerprints),
        )?;
        Ok((sums, fingerprints))
    }

    /// The number of trie nodes [`SegmentReader::read_nodes`] would return, from the row
    /// groups' metadata alone.
    pub fn node_count(&self) -> usize {
        if let Some(tables) = self.packed {
            return tables[3];
        }
        let md = self.reader.metadata();
        self.groups(RowGroupKind::Nodes)
            .into_iter()
            .map(|i| md.row_group(i).num_rows().max(0) as usize)
            .sum()
    }

    /// Reads the totals of the profiles at `[from, until]` of the series `keep_series`
    /// accepts: (series, time, total), sorted by series and time.
    pub fn read_profile_totals(
        &self,
        keep_series: &dyn Fn(u32) -> bool,
        from: i64,
        until: i64,
    ) -> Result<Vec<(u32, i64, i64)>> {
        let mut out = Vec::new();
        for i in self.groups(RowGroupKind::ProfileTotals) {
            let rg = self.reader.get_row_group(i)?;
            let rg = rg.as_ref();
            let series = self.read_column::<Int32Type>(rg, COL_SERIES)?;
            let time = self.read_column::<Int64Type>(rg, COL_TIME)?;
            let value = self.read_column::<Int64Type>(rg, COL_VALUE)?;
            if [time.len(), value.len()] != [series.len(); 2] {
                return Err(invalid("profile total columns differ in length"));
            }
            for j in 0..series.len() {
                let se = u32::try_from(series[j])
                    .ok()
                    .filter(|s| (*s as usize) < self.meta.series.len())
                    .ok_or_else(|| invalid("profile total refers outside the series"))?;
                if keep_series(se) && from <= time[j] && time[j] <= until {
                    out.push((se, time[j], value[j]));
                }
            }
        }
        Ok(out)
    }

    /// The rows of sample-shaped row groups of `kind` (samples or stack sums); see
    /// [`SegmentReader::read_samples`].
    fn read_rows(
        &self,
        kind: RowGroupKind,
        from: i64,
        until: i64,
        keep_series: &dyn Fn(u32) -> bool,
        nodes: usize,
        links: Option<&mut Vec<Link>>,
    ) -> Result<Samples> {
        self.read_rows_with(kind, (from, until), keep_series, nodes, links, None)
    }

    /// [`SegmentReader::read_rows`] over `[from, until]`, with the rows' fingerprints too
    /// when `fingerprints` is given.
    fn read_rows_with(
        &self,
        kind: RowGroupKind,
        (from, until): (i64, i64),
        keep_series: &dyn Fn(u32) -> bool,
        nodes: usize,
        mut links: Option<&mut Vec<Link>>,
        mut fingerprints: Option<&mut Vec<PathFingerprint>>,
    ) -> Result<Samples> {
        let mut out = Samples::default();
        let md = self.reader.metadata();
        let mut link_ids = Ids::default();
        if let Some(links) = links.as_deref_mut() {
            if links.is_empty() {
                links.push(Link::default());
            }
            link_ids = Ids::of(links);
        }
        // Whether each series is kept, asked once rather than per row.
        let kept: Vec<bool> = (0..self.meta.series.len() as u32)
            .map(keep_series)
            .collect();
        for i in self.groups(kind) {
            if let Some(Statistics::Int64(stats)) = md.row_group(i).column(COL_TIME).statistics()
                && let (Some(min), Some(max)) = (stats.min_opt(), stats.max_opt())
                && (*max < from || *min > until)
            {
                continue;
            }
            // Rows are sorted by series first: a group of other series only is skipped.
            if let Some(Statistics::Int32(stats)) = md.row_group(i).column(COL_SERIES).statistics()
                && let (Some(min), Some(max)) = (stats.min_opt(), stats.max_opt())
            {
                let last = i32::try_from(self.meta.series.len()).unwrap_or(i32::MAX) - 1;
                if !((*min).max(0)..=(*max).min(last)).any(|s| keep_series(s as u32)) {
                    continue;
                }
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
            let fp_cols = match fingerprints {
                Some(_) => {
                    let high = self.read_column::<Int64Type>(rg, COL_FINGERPRINT_HIGH)?;
                    let low = self.read_column::<Int64Type>(rg, COL_FINGERPRINT_LOW)?;
                    if [high.len(), low.len()] != [rows; 2] {
                        return Err(invalid("fingerprint columns differ in length"));
                    }
                    Some((high, low))
                }
                None => None,
            };
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
            out.reserve(rows);
            for j in 0..rows {
                let se = series[j];
                let Some(&kept) = usize::try_from(se).ok().and_then(|s| kept.get(s)) else {
                    return Err(invalid("sample refers outside its tables"));
                };
                if time[j] < from || time[j] > until || !kept {
                    continue;
                }
                let st = self.local(RowGroupKind::Nodes, stack[j])?;
                if st < 0 || st as usize >= nodes {
                    return Err(invalid("sample refers outside its tables"));
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
                    link_id = link_ids.intern(links, link);
                }
                out.push(se as u32, time[j], st as u32, value[j], link_id);
                if let (Some(fps), Some((high, low))) = (fingerprints.as_deref_mut(), &fp_cols) {
                    fps.push((u128::from(high[j] as u64) << 64) | u128::from(low[j] as u64));
                }
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
            series: self.meta.series.to_vec(),
            periods: self.meta.periods.to_vec(),
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

/// The row counts of a format-7 L0 segment's packed tables, from its footer: one row group
/// of kind `tables`, which holds each of them.
fn packed_rows(md: &ParquetMetaData, kinds: &[RowGroupKind]) -> Result<[usize; 5]> {
    if kinds != [RowGroupKind::Tables] {
        return Err(invalid(
            "packed tables share their file with other row groups",
        ));
    }
    let text = kv(md, META_TABLE_ROWS)?;
    let rows: Vec<usize> = text
        .split(',')
        .map(|n| n.parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| invalid(format!("bad `{META_TABLE_ROWS}` `{text}`")))?;
    let rows: [usize; 5] = rows
        .try_into()
        .map_err(|_| invalid(format!("bad `{META_TABLE_ROWS}` `{text}`")))?;
    let group = md.row_group(0).num_rows().max(0) as usize;
    if rows.iter().any(|n| *n > group) {
        return Err(invalid(format!(
            "`{META_TABLE_ROWS}` `{text}` exceeds the row group's {group} rows"
        )));
    }
    Ok(rows)
}

/// The tables a partition has a span of.
const SYMBOL_TABLES: [RowGroupKind; 4] = [
    RowGroupKind::Strings,
    RowGroupKind::Functions,
    RowGroupKind::Mappings,
    RowGroupKind::Nodes,
];

/// Decodes a whole segment from its bytes.
pub fn decode(bytes: Bytes) -> Result<SegmentData> {
    decode_cached(bytes, &mut FooterCache::default())
}

/// [`decode`], with what `cache` learnt from the segments decoded before.
pub fn decode_cached(bytes: Bytes, cache: &mut FooterCache) -> Result<SegmentData> {
    SegmentReader::open_cached(bytes, cache)?.read_all()
}
