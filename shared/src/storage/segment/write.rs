//! Encoding a segment as Parquet (format 7). An L0 segment packs its tables into one row
//! group. A compacted one has a row group per table (per partition), samples in groups of
//! [`SAMPLE_ROWS_PER_GROUP`] rows, and the tables every query reads (strings, nodes, the
//! per-hour stack sums, for day segments the per-day ones, and the per-profile totals) last,
//! before the footer.

use std::sync::Arc;

use parquet::basic::{Compression, Encoding, Repetition, Type as PhysicalType};
use parquet::column::writer::ColumnWriter;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::{ColumnPath, Type};

use super::*;
use crate::profile::Link;

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

/// One column's content within a row group: its values, null after them (or all null).
enum Col<'a> {
    Null,
    I32(Vec<i32>),
    I64(Vec<i64>),
    I64Ref(&'a [i64]),
    Bool(Vec<bool>),
    Bytes(Vec<ByteArray>),
}

impl Col<'_> {
    fn len(&self) -> usize {
        match self {
            Col::Null => 0,
            Col::I32(v) => v.len(),
            Col::I64(v) => v.len(),
            Col::I64Ref(v) => v.len(),
            Col::Bool(v) => v.len(),
            Col::Bytes(v) => v.len(),
        }
    }
}

/// Encodes an L0 segment as Parquet bytes (format 7): its tables packed into one row group,
/// then the footer metadata.
pub fn encode(data: &SegmentData) -> Result<Vec<u8>> {
    Ok(write(data, None)?.bytes)
}

/// A compacted segment's bytes, and where its hot part starts.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// The Parquet object.
    pub bytes: Vec<u8>,
    /// Offset of the tables a flame graph or series query reads (strings, nodes, stack sums,
    /// profile totals): from here to the end, footer included, one ranged read fetches them.
    pub hot_start: u64,
    /// In a day segment, the offset of its day sums, which profile totals and the footer
    /// follow: all a query of whole days reads once it knows the stacks' fingerprints.
    pub day_sums_start: Option<u64>,
}

/// Which sums a compacted segment carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sums {
    /// Per (series, hour, stack): an hour segment's.
    Hours,
    /// Per hour and per (series, UTC day, stack): a day segment's, so that a range covering
    /// whole days reads one row per stack and day instead of 24.
    HoursAndDays,
}

/// [`encode`], plus the tables a query reads instead of the samples for the whole hours (and
/// days) of its range: per-stack sums and per-profile totals, after the nodes. Compaction
/// writes these; an L0 segment (usually one profile) gains nothing from them.
pub fn encode_compacted(data: &SegmentData, sums: Sums) -> Result<Encoded> {
    write(data, Some(sums))
}

/// The integer columns an L0 segment delta-encodes: everything but sample values (which
/// repeat), fingerprints (random; empty in L0) and the mapping table (a handful of rows).
const L0_DELTA_COLUMNS: [usize; 13] = [
    COL_NODE_PARENT,
    COL_NODE_NAME,
    COL_SERIES,
    COL_TIME,
    COL_STACK,
    COL_FUNCTION_NAME,
    COL_FUNCTION_SYSTEM_NAME,
    COL_FUNCTION_FILENAME,
    COL_FUNCTION_START_LINE,
    COL_NODE_FUNCTION,
    COL_NODE_LINE,
    COL_NODE_MAPPING,
    COL_NODE_ADDRESS,
];

fn write(data: &SegmentData, sums: Option<Sums>) -> Result<Encoded> {
    // Compacted segments are partitioned by service; L0 segments hold one upload.
    let parted = sums.map(|_| partition::by_service(data));
    let (data, partitions) = match &parted {
        Some((data, partitions)) => (data, partitions.as_slice()),
        None => (data, &[][..]),
    };
    let layout = Layout::new(data, partitions);
    let mut props = WriterProperties::builder().set_compression(Compression::SNAPPY);
    // Fingerprints are random: a dictionary or min/max statistics of them help no one.
    for c in [COL_FINGERPRINT_HIGH, COL_FINGERPRINT_LOW] {
        let path = ColumnPath::from(COLUMNS[c].0);
        props = props
            .set_column_dictionary_enabled(path.clone(), false)
            .set_column_statistics_enabled(path, EnabledStatistics::None);
    }
    if sums.is_none() {
        // An L0 segment is one small upload, read whole by every query of its hour and by
        // compaction, then deleted: dictionaries, statistics and page indexes cost its
        // writer and every reader and buy nothing (its footer holds its time range).
        props = props
            .set_dictionary_enabled(false)
            .set_statistics_enabled(EnabledStatistics::None)
            .set_offset_index_disabled(true);
        // Ids, line numbers and addresses in trie order mostly step by small amounts:
        // DELTA_BINARY_PACKED without Snappy halves the segment and is cheaper to write and to
        // read than Snappy over PLAIN (docs/benchmarks.md, "L0 encoding"). Sample values
        // repeat rather than step, and strings are text: those keep PLAIN + Snappy.
        for c in L0_DELTA_COLUMNS {
            let path = ColumnPath::from(COLUMNS[c].0);
            props = props
                .set_column_encoding(path.clone(), Encoding::DELTA_BINARY_PACKED)
                .set_column_compression(path, Compression::UNCOMPRESSED);
        }
    }
    let props = props.build();
    let mut writer = SerializedFileWriter::new(Vec::new(), schema()?, Arc::new(props))?;
    if data.nodes.len() != data.node_frames.len() {
        return Err(invalid("nodes and node frames differ in length"));
    }
    let mut kinds = Vec::new();
    let first_hot = match sums {
        None => {
            write_packed(&mut writer, data, &mut kinds)?;
            0
        }
        Some(sums) => {
            for kind in [
                RowGroupKind::Functions,
                RowGroupKind::Mappings,
                RowGroupKind::Samples,
            ] {
                write_table(&mut writer, data, &layout, kind, &mut kinds)?;
            }
            // The hot tables last, next to the footer.
            let first_hot = writer.flushed_row_groups().len();
            for kind in [RowGroupKind::Strings, RowGroupKind::Nodes] {
                write_table(&mut writer, data, &layout, kind, &mut kinds)?;
            }
            write_sums(&mut writer, data, &layout, sums, &mut kinds)?;
            first_hot
        }
    };
    let start_of = |group: usize| {
        writer
            .flushed_row_groups()
            .get(group)
            .and_then(|rg| rg.columns().first())
            .map(|c| c.byte_range().0)
    };
    let hot_start = start_of(first_hot);
    let day_sums_start = kinds.iter().position(|k| *k == DAY_SUMS).and_then(start_of);
    for (k, v) in footer(data, partitions, &kinds)? {
        writer.append_key_value_metadata(KeyValue::new(k.to_string(), v));
    }
    let bytes = writer.into_inner()?;
    let hot_start = hot_start.unwrap_or(bytes.len() as u64);
    Ok(Encoded {
        bytes,
        hot_start,
        day_sums_start,
    })
}

type Writer = SerializedFileWriter<Vec<u8>>;

/// Where row groups break: at [`SAMPLE_ROWS_PER_GROUP`] rows, and at partition boundaries so
/// that no row group holds two partitions' rows.
struct Layout<'a> {
    partitions: &'a [Partition],
    /// Each series' partition (all 0 without partitions).
    series_partition: Vec<usize>,
}

impl<'a> Layout<'a> {
    fn new(data: &SegmentData, partitions: &'a [Partition]) -> Self {
        let mut series_partition = vec![0; data.series.len()];
        for (p, part) in partitions.iter().enumerate() {
            for s in part.series[0]..part.series[1] {
                if let Some(slot) = series_partition.get_mut(s as usize) {
                    *slot = p;
                }
            }
        }
        Layout {
            partitions,
            series_partition,
        }
    }

    /// The row ranges of a symbol table of `len` rows: one per partition that has rows.
    fn table(&self, kind: RowGroupKind, len: usize) -> Vec<std::ops::Range<usize>> {
        if self.partitions.is_empty() {
            return std::iter::once(0..len).filter(|r| !r.is_empty()).collect();
        }
        self.partitions
            .iter()
            .filter_map(|p| p.span(kind))
            .map(|r| r.start as usize..r.end as usize)
            .filter(|r| !r.is_empty())
            .collect()
    }

    /// The row ranges of `len` rows sorted by series, `series(i)` being row i's.
    fn rows(&self, len: usize, series: impl Fn(usize) -> u32) -> Vec<std::ops::Range<usize>> {
        let part = |i: usize| self.series_partition.get(series(i) as usize).copied();
        let mut out = Vec::new();
        let mut start = 0;
        for i in 1..=len {
            if i == len || i - start == SAMPLE_ROWS_PER_GROUP || part(i) != part(start) {
                out.push(start..i);
                start = i;
            }
        }
        out
    }
}

fn i32s(f: &dyn Fn(usize) -> i32, n: usize) -> Col<'static> {
    Col::I32((0..n).map(f).collect())
}

fn i64s(f: &dyn Fn(usize) -> i64, n: usize) -> Col<'static> {
    Col::I64((0..n).map(f).collect())
}

/// The footer's key-value metadata (see the `META_*` constants).
fn footer(
    data: &SegmentData,
    partitions: &[Partition],
    kinds: &[&str],
) -> Result<Vec<(&'static str, String)>> {
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
    let mut out = vec![
        (META_FORMAT, FORMAT_VERSION.to_string()),
        (META_TENANT, data.tenant.clone()),
        (META_MIN_TIME, min_time.to_string()),
        (META_MAX_TIME, max_time.to_string()),
        (META_SERIES, series),
        (META_ROW_GROUPS, kinds.join(",")),
    ];
    if !partitions.is_empty() {
        let json = serde_json::to_string(partitions).map_err(|e| invalid(e.to_string()))?;
        out.push((META_PARTITIONS, json));
    }
    if kinds.contains(&TABLES) {
        let rows: Vec<String> = PACKED_TABLES
            .iter()
            .map(|k| table_len(data, *k).to_string())
            .collect();
        out.push((META_TABLE_ROWS, rows.join(",")));
    }
    Ok(out)
}

/// A table's length in rows.
fn table_len(data: &SegmentData, kind: RowGroupKind) -> usize {
    match kind {
        RowGroupKind::Strings => data.strings.len(),
        RowGroupKind::Functions => data.functions.len(),
        RowGroupKind::Mappings => data.mappings.len(),
        RowGroupKind::Nodes => data.nodes.len(),
        _ => data.samples.len(),
    }
}

/// Column `c` of rows `r` of table `kind`, or `None` if `c` is not one of its columns.
/// Sample rows without links leave the link columns null.
fn table_col<'a>(
    data: &'a SegmentData,
    kind: RowGroupKind,
    r: std::ops::Range<usize>,
    c: usize,
) -> Option<Col<'a>> {
    let n = r.len();
    match kind {
        RowGroupKind::Strings => (c == COL_STRING).then(|| {
            Col::Bytes(
                data.strings[r]
                    .iter()
                    .map(|s| ByteArray::from(s.as_str()))
                    .collect(),
            )
        }),
        RowGroupKind::Functions => {
            let f = &data.functions[r];
            match c {
                COL_FUNCTION_NAME => Some(i32s(&|i| f[i].name as i32, n)),
                COL_FUNCTION_SYSTEM_NAME => Some(i32s(&|i| f[i].system_name, n)),
                COL_FUNCTION_FILENAME => Some(i32s(&|i| f[i].filename, n)),
                COL_FUNCTION_START_LINE => Some(i64s(&|i| f[i].start_line, n)),
                _ => None,
            }
        }
        RowGroupKind::Mappings => {
            let m = &data.mappings[r];
            match c {
                COL_MAPPING_START => Some(i64s(&|i| m[i].memory_start as i64, n)),
                COL_MAPPING_LIMIT => Some(i64s(&|i| m[i].memory_limit as i64, n)),
                COL_MAPPING_OFFSET => Some(i64s(&|i| m[i].file_offset as i64, n)),
                COL_MAPPING_FILENAME => Some(i32s(&|i| m[i].filename, n)),
                COL_MAPPING_BUILD_ID => Some(i32s(&|i| m[i].build_id, n)),
                COL_MAPPING_FLAGS => Some(i32s(&|i| m[i].flags as i32, n)),
                _ => None,
            }
        }
        RowGroupKind::Nodes => {
            let (nodes, nf) = (&data.nodes[r.clone()], &data.node_frames[r]);
            match c {
                COL_NODE_PARENT => Some(i32s(&|i| nodes[i].parent, n)),
                COL_NODE_NAME => Some(i32s(&|i| nodes[i].name as i32, n)),
                COL_NODE_FUNCTION => Some(i32s(&|i| nf[i].function as i32, n)),
                COL_NODE_LINE => Some(i64s(&|i| nf[i].line, n)),
                COL_NODE_MAPPING => Some(i32s(&|i| nf[i].mapping, n)),
                COL_NODE_ADDRESS => Some(i64s(&|i| nf[i].address as i64, n)),
                COL_NODE_INLINED => Some(Col::Bool(nf.iter().map(|f| f.inlined).collect())),
                _ => None,
            }
        }
        _ => {
            let s = &data.samples;
            let links = &s.link[r.clone()];
            let link_col = |get: fn(&Link) -> &str| {
                links.iter().any(|l| *l != 0).then(|| {
                    Col::Bytes(
                        links
                            .iter()
                            .map(|l| ByteArray::from(data.links.get(*l as usize).map_or("", get)))
                            .collect(),
                    )
                })
            };
            match c {
                COL_SERIES => Some(Col::I32(s.series[r].iter().map(|v| *v as i32).collect())),
                COL_TIME => Some(Col::I64Ref(&s.time[r])),
                COL_STACK => Some(Col::I32(s.stack[r].iter().map(|v| *v as i32).collect())),
                COL_VALUE => Some(Col::I64Ref(&s.value[r])),
                COL_SPAN_ID => link_col(|l| &l.span_id),
                COL_TRACE_ID => link_col(|l| &l.trace_id),
                COL_PROFILE_ID => link_col(|l| &l.profile_id),
                _ => None,
            }
        }
    }
}

/// Table `kind` in row groups of its own: a symbol table one per partition, samples
/// [`SAMPLE_ROWS_PER_GROUP`] rows at most per group.
fn write_table(
    writer: &mut Writer,
    data: &SegmentData,
    layout: &Layout,
    kind: RowGroupKind,
    kinds: &mut Vec<&str>,
) -> Result<()> {
    let len = table_len(data, kind);
    let ranges = match kind {
        RowGroupKind::Samples => layout.rows(len, |i| data.samples.series[i]),
        _ => layout.table(kind, len),
    };
    for r in ranges {
        let rows = r.len();
        let cols = row_group_cols(|c| table_col(data, kind, r.clone(), c));
        write_row_group(writer, rows, cols)?;
        kinds.push(kind_name(kind));
    }
    Ok(())
}

/// Format 7's L0 layout: every table in one row group, each column's rows first, then
/// nulls up to the longest table; the tables' lengths go in the footer.
fn write_packed(writer: &mut Writer, data: &SegmentData, kinds: &mut Vec<&str>) -> Result<()> {
    let lens = PACKED_TABLES.map(|k| table_len(data, k));
    let rows = lens.iter().copied().max().unwrap_or(0);
    let cols = row_group_cols(|c| {
        PACKED_TABLES
            .iter()
            .zip(lens)
            .find_map(|(k, len)| table_col(data, *k, 0..len, c))
    });
    write_row_group(writer, rows, cols)?;
    kinds.push(TABLES);
    Ok(())
}

/// The name of a row group kind in the footer.
fn kind_name(kind: RowGroupKind) -> &'static str {
    match kind {
        RowGroupKind::Strings => "strings",
        RowGroupKind::Functions => "functions",
        RowGroupKind::Mappings => "mappings",
        RowGroupKind::Nodes => "nodes",
        RowGroupKind::Samples => "samples",
        RowGroupKind::StackSums => STACK_SUMS,
        RowGroupKind::ProfileTotals => PROFILE_TOTALS,
        RowGroupKind::DaySums => DAY_SUMS,
        RowGroupKind::Tables => TABLES,
    }
}

/// The per-(series, hour, stack) sums over every profile and link, the hour being the UTC
/// hour of each sample's own time (`time_nanos` holds the hour's start), sorted by (series,
/// hour, stack); then each profile's total, by (series, time).
fn write_sums(
    writer: &mut Writer,
    data: &SegmentData,
    layout: &Layout,
    which: Sums,
    kinds: &mut Vec<&'static str>,
) -> Result<()> {
    let s = &data.samples;
    // Samples are sorted by (series, time): each profile is one run.
    let mut totals: Vec<(u32, i64, i64)> = Vec::new();
    for i in 0..s.len() {
        match totals.last_mut() {
            Some((series, time, total)) if (*series, *time) == (s.series[i], s.time[i]) => {
                *total = total.saturating_add(s.value[i]);
            }
            _ => totals.push((s.series[i], s.time[i], s.value[i])),
        }
    }
    write_bucket_sums(writer, data, layout, hour_bucket, None, kinds)?;
    if which == Sums::HoursAndDays {
        let fingerprints = path_fingerprints(&data.nodes, &data.strings)
            .ok_or_else(|| invalid("stack trie refers outside its tables"))?;
        write_bucket_sums(writer, data, layout, day_bucket, Some(&fingerprints), kinds)?;
    }
    for r in layout.rows(totals.len(), |i| totals[i].0) {
        let chunk = &totals[r];
        let cols = row_group_cols(|c| match c {
            COL_SERIES => Some(Col::I32(chunk.iter().map(|r| r.0 as i32).collect())),
            COL_TIME => Some(Col::I64(chunk.iter().map(|r| r.1).collect())),
            COL_VALUE => Some(Col::I64(chunk.iter().map(|r| r.2).collect())),
            _ => None,
        });
        write_row_group(writer, chunk.len(), cols)?;
        kinds.push(PROFILE_TOTALS);
    }
    Ok(())
}

/// Per (series, `bucket` of the time, stack) sums of the samples: hour sums, or with the
/// nodes' `fingerprints` day sums, each row with its stack's fingerprint.
fn write_bucket_sums(
    writer: &mut Writer,
    data: &SegmentData,
    layout: &Layout,
    bucket: fn(i64) -> i64,
    fingerprints: Option<&[PathFingerprint]>,
    kinds: &mut Vec<&'static str>,
) -> Result<()> {
    let kind = if fingerprints.is_some() {
        DAY_SUMS
    } else {
        STACK_SUMS
    };
    let s = &data.samples;
    let mut sums: crate::FastMap<(u32, i64, u32), i64> = crate::FastMap::default();
    for i in 0..s.len() {
        let sum = sums
            .entry((s.series[i], bucket(s.time[i]), s.stack[i]))
            .or_default();
        *sum = sum.saturating_add(s.value[i]);
    }
    let mut sums: Vec<((u32, i64, u32), i64)> = sums.into_iter().collect();
    sums.sort_unstable();
    if let Some(fps) = fingerprints
        && sums
            .iter()
            .any(|((_, _, stack), _)| *stack as usize >= fps.len())
    {
        return Err(invalid("a sample refers outside the stack trie"));
    }
    for r in layout.rows(sums.len(), |i| sums[i].0.0) {
        let chunk = &sums[r];
        let cols = row_group_cols(|c| match c {
            COL_SERIES => Some(Col::I32(chunk.iter().map(|r| r.0.0 as i32).collect())),
            COL_TIME => Some(Col::I64(chunk.iter().map(|r| r.0.1).collect())),
            COL_STACK => Some(Col::I32(chunk.iter().map(|r| r.0.2 as i32).collect())),
            COL_VALUE => Some(Col::I64(chunk.iter().map(|r| r.1).collect())),
            COL_FINGERPRINT_HIGH | COL_FINGERPRINT_LOW => fingerprints.map(|fps| {
                let shift = if c == COL_FINGERPRINT_HIGH { 64 } else { 0 };
                Col::I64(
                    chunk
                        .iter()
                        .map(|r| {
                            let fp = fps.get(r.0.2 as usize).copied().unwrap_or_default();
                            (fp >> shift) as u64 as i64
                        })
                        .collect(),
                )
            }),
            _ => None,
        });
        write_row_group(writer, chunk.len(), cols)?;
        kinds.push(kind);
    }
    Ok(())
}

fn row_group_cols<'a>(mut present: impl FnMut(usize) -> Option<Col<'a>>) -> Vec<Col<'a>> {
    (0..COLUMNS.len())
        .map(|c| present(c).unwrap_or(Col::Null))
        .collect()
}

fn write_row_group(writer: &mut Writer, rows: usize, cols: Vec<Col<'_>>) -> Result<()> {
    let mut rg = writer.next_row_group()?;
    let mut cols = cols.into_iter();
    // Definition levels, 1 = value present, 0 = null: a column of n values takes
    // `levels[rows - n..2 * rows - n]`, its n values first and nulls after (format 7's packed
    // tables; elsewhere n is 0 or every row).
    let levels: Vec<i16> = std::iter::repeat_n(1, rows)
        .chain(std::iter::repeat_n(0, rows))
        .collect();
    while let Some(mut col) = rg.next_column()? {
        let content = cols
            .next()
            .ok_or_else(|| invalid("schema has more columns than expected"))?;
        let n = content.len();
        if n > rows {
            return Err(invalid("a column has more values than its row group rows"));
        }
        let defs = &levels[rows - n..2 * rows - n];
        match content {
            Col::Null => match col.untyped() {
                ColumnWriter::Int32ColumnWriter(w) => {
                    w.write_batch(&[], Some(defs), None)?;
                }
                ColumnWriter::Int64ColumnWriter(w) => {
                    w.write_batch(&[], Some(defs), None)?;
                }
                ColumnWriter::BoolColumnWriter(w) => {
                    w.write_batch(&[], Some(defs), None)?;
                }
                ColumnWriter::ByteArrayColumnWriter(w) => {
                    w.write_batch(&[], Some(defs), None)?;
                }
                _ => return Err(invalid("unexpected column type")),
            },
            Col::I32(v) => {
                col.typed::<Int32Type>().write_batch(&v, Some(defs), None)?;
            }
            Col::I64(v) => {
                col.typed::<Int64Type>().write_batch(&v, Some(defs), None)?;
            }
            Col::I64Ref(v) => {
                col.typed::<Int64Type>().write_batch(v, Some(defs), None)?;
            }
            Col::Bool(v) => {
                col.typed::<BoolType>().write_batch(&v, Some(defs), None)?;
            }
            Col::Bytes(v) => {
                col.typed::<ByteArrayType>()
                    .write_batch(&v, Some(defs), None)?;
            }
        }
        col.close()?;
    }
    rg.close()?;
    Ok(())
}
