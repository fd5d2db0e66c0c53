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
//! Compacted segments (format 3) add per-(series, hour, stack) sums and per-profile totals,
//! which a query reads instead of the samples for the hours its range covers whole; format 2
//! is format 3 without them. Format 4 adds per-day sums to day segments. Format 5 partitions
//! compacted segments by service ([`partition`]): each service's series, symbol tables and
//! trie are contiguous and in row groups of their own, so a one-service query decodes only
//! its part. Format 6 adds to day sums each stack's [`path_fingerprint`], so that a query
//! that has seen a stack before adds its day sum without decoding the trie. Format 7 packs
//! an L0 segment's five tables into one row group ([`RowGroupKind::Tables`]), each column's
//! table rows first and nulls after, without dictionaries, statistics or page indexes: a
//! fifth of the column chunks for its writer and for every query and compaction reading it.
//!
//! Format 1 (before functions, mappings and links) is still read: each of its names becomes a
//! function with only a name, and every sample has the empty link.

use parquet::basic::Type as PhysicalType;
use serde::{Deserialize, Serialize};

use crate::profile::{Labels, Link, Series};

mod build;
mod fingerprint;
mod pages;
mod partition;
mod read;
mod write;

pub use build::SegmentBuilder;
pub use fingerprint::{PathFingerprint, path_fingerprint, path_fingerprints};
pub use partition::{PARTITION_LABEL, Partition, by_service};
pub(crate) use read::CACHED_SERIES_LISTS;
pub use read::{FooterCache, SegmentMeta, SegmentReader, decode, decode_cached};
pub use write::{Encoded, Sums, encode, encode_compacted};

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
/// `nodes`, `samples`, `stack_sums`, `day_sums`, `profile_totals`).
pub const META_ROW_GROUPS: &str = "flamelet.row_groups";
/// Footer key (format 7, L0 segments): the row counts of the tables packed into the one
/// row group, comma-separated in [`PACKED_TABLES`] order.
pub const META_TABLE_ROWS: &str = "flamelet.table_rows";
/// Footer key (format 5, compacted segments): JSON list of the service partitions, each
/// table's `[start, end)` ids per partition ([`Partition`]).
pub const META_PARTITIONS: &str = "flamelet.partitions";
/// The layout version this code writes.
pub const FORMAT_VERSION: &str = "7";
/// Rows per sample row group: large enough for good compression, small enough to prune.
pub const SAMPLE_ROWS_PER_GROUP: usize = 128 * 1024;

/// The columns of formats 6 and 7, in schema order. Formats 2 to 5 have the first [`V5_COLUMNS`],
/// format 1 the first [`V1_COLUMNS`].
const COLUMNS: [(&str, PhysicalType); 27] = [
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
    ("path_fingerprint_high", PhysicalType::INT64),
    ("path_fingerprint_low", PhysicalType::INT64),
];
const V1_COLUMNS: usize = 7;
const V5_COLUMNS: usize = 25;
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
const COL_FINGERPRINT_HIGH: usize = 25;
const COL_FINGERPRINT_LOW: usize = 26;

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

impl SegmentError {
    /// The store's error, when reading a piece of the segment failed.
    pub fn store_error(&self) -> Option<&crate::storage::store::StoreError> {
        match self {
            SegmentError::Parquet(parquet::errors::ParquetError::External(e)) => e.downcast_ref(),
            _ => None,
        }
    }
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

    fn reserve(&mut self, rows: usize) {
        self.series.reserve(rows);
        self.time.reserve(rows);
        self.stack.reserve(rows);
        self.value.reserve(rows);
        self.link.reserve(rows);
    }

    #[inline]
    fn push(&mut self, series: u32, time: i64, stack: u32, value: i64, link: u32) {
        self.series.push(series);
        self.time.push(time);
        self.stack.push(stack);
        self.value.push(value);
        self.link.push(link);
    }

    /// Appends `other`'s rows after these.
    pub fn append(&mut self, mut other: Samples) {
        self.series.append(&mut other.series);
        self.time.append(&mut other.time);
        self.stack.append(&mut other.stack);
        self.value.append(&mut other.value);
        self.link.append(&mut other.link);
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
    /// Per (series, hour bucket, stack) sums of the sample rows (format 3, compacted
    /// segments).
    StackSums,
    /// Per-profile totals: series, time and value columns (format 3, compacted segments).
    ProfileTotals,
    /// Per (series, UTC day, stack) sums of the sample rows (format 4, day segments).
    DaySums,
    /// Every table of [`PACKED_TABLES`] in one row group (format 7, L0 segments): each
    /// column holds its table's rows first and is null after them.
    Tables,
}

/// The tables a [`RowGroupKind::Tables`] row group packs, in [`META_TABLE_ROWS`] order.
pub const PACKED_TABLES: [RowGroupKind; 5] = [
    RowGroupKind::Strings,
    RowGroupKind::Functions,
    RowGroupKind::Mappings,
    RowGroupKind::Nodes,
    RowGroupKind::Samples,
];

/// The table a column belongs to in a packed row group (L0 segments have no sums).
fn packed_table(col: usize) -> usize {
    match col {
        COL_STRING => 0,
        COL_FUNCTION_NAME..=COL_FUNCTION_START_LINE => 1,
        COL_MAPPING_START..=COL_MAPPING_FLAGS => 2,
        COL_NODE_PARENT | COL_NODE_NAME | COL_NODE_FUNCTION..=COL_NODE_INLINED => 3,
        _ => 4,
    }
}

/// The start of the UTC hour holding `time` (ns): the bucket of the stack sums.
pub fn hour_bucket(time: i64) -> i64 {
    time.div_euclid(crate::storage::keys::HOUR_NANOS) * crate::storage::keys::HOUR_NANOS
}

/// The start of the UTC day holding `time` (ns): the bucket of the day sums.
pub fn day_bucket(time: i64) -> i64 {
    time.div_euclid(crate::storage::keys::DAY_NANOS) * crate::storage::keys::DAY_NANOS
}

/// Row-group kind names of format 3's and 4's tables.
const STACK_SUMS: &str = "stack_sums";
const PROFILE_TOTALS: &str = "profile_totals";
const DAY_SUMS: &str = "day_sums";
/// Row-group kind name of format 7's packed L0 tables.
const TABLES: &str = "tables";

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::profile::NamedSample;
    use crate::profile::{Profile, ProfileType};
    use bytes::Bytes;

    fn profile(app: &str, time: i64, stacks: &[(&str, i64)]) -> Profile {
        cpu_profile(&[("service_name", app)], time, stacks)
    }

    /// A CPU profile of the series with `labels` (and `__name__`) at `time`, from folded
    /// stacks.
    pub(crate) fn cpu_profile(
        labels: &[(&str, &str)],
        time: i64,
        stacks: &[(&str, i64)],
    ) -> Profile {
        let mut labels: Labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
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
    fn profiles_added_together_make_the_segment_they_make_one_by_one() {
        // The four sample types of a Go heap profile share a dictionary and their stacks.
        let p = crate::wire::pprof::read(
            &crate::testing::corpus("pprof/heap.pb.gz"),
            crate::limits::DEFAULT_MAX_PROFILE_BYTES,
        )
        .unwrap();
        let mut profiles =
            crate::ingest::pprof::to_profiles(&p, &crate::profile::Labels::new(), None, 1).unwrap();
        assert_eq!(profiles.len(), 4);
        // Two more dictionaries whose stacks are the same frame ids, each shared by two
        // profiles.
        for (service, stacks) in [("a", ["x;y;z", "x;y"]), ("b", ["p;q;r", "p;q"])] {
            let first = profile(service, 10, &[(stacks[0], 1), (stacks[1], 2)]);
            let mut second = first.clone();
            second.time_nanos = 20;
            profiles.extend([first, second]);
        }
        profiles.extend(profiles.clone());
        let mut one_by_one = SegmentBuilder::new("t");
        for p in &profiles {
            one_by_one.add_profile(p);
        }
        let mut together = SegmentBuilder::new("t");
        together.add_profiles(&profiles);
        assert_eq!(together.finish(), one_by_one.finish());
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
    fn nodes_made_without_lookups_stay_distinct_whatever_joins_the_trie_after() {
        // The first dictionary into an empty builder makes its nodes without lookups; a
        // segment, and then the same dictionary again, find them rather than repeat them.
        let a = profile("a", 10, &[("x;y;z", 1), ("x;q", 2)]);
        let mut alone = SegmentBuilder::new("t");
        alone.add_profile(&a);
        let alone = alone.finish();
        assert_eq!(alone.nodes.len(), 4, "x, x;y, x;y;z, x;q");
        // `a`'s dictionary, of whose stacks only x;y;z is met first.
        let mut first = a.clone();
        first.samples.truncate(1);
        let mut b = SegmentBuilder::new("t");
        b.add_profile(&first);
        b.add_segment(&alone);
        b.add_profile(&a);
        let data = b.finish();
        assert_eq!(data.nodes.len(), 4);
        assert_eq!(data.samples.value, [3, 4], "x;y;z and x;q summed");
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
    fn an_l0_segment_packs_its_tables_into_one_row_group_and_its_footer_is_checked() {
        let mut b = SegmentBuilder::new("t");
        b.add_profile(&profile("a", 10, &[("x;y;z", 1), ("x;q", 2)]));
        let data = b.finish();
        let bytes = encode(&data).unwrap();
        let r = SegmentReader::open(Bytes::from(bytes.clone())).unwrap();
        assert_eq!(r.meta().row_groups, [RowGroupKind::Tables]);
        assert_eq!(r.node_count(), 4);
        assert_eq!(decode(Bytes::from(bytes.clone())).unwrap(), data);
        // Table rows past the row group's are refused, not read as nulls: "4,4,0,4,2"
        // (strings, functions, mappings, nodes, samples) with 9 strings.
        let at = bytes
            .windows(9)
            .position(|w| w == b"4,4,0,4,2")
            .expect("the table rows in the footer");
        let mut bad = bytes.clone();
        bad[at] = b'9';
        let err = SegmentReader::open(Bytes::from(bad)).err().unwrap();
        assert!(err.to_string().contains("9,4,0,4,2"), "{err}");
        // Fewer strings than the nodes name: the trie refers outside its tables.
        let mut short = bytes;
        short[at] = b'1';
        assert!(decode(Bytes::from(short)).is_err());
    }

    #[test]
    fn an_l0_segment_delta_encodes_its_ids_and_round_trips_extreme_steps() {
        use parquet::basic::Encoding;
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let folded: Vec<(String, i64)> = (0..600)
            .map(|i| (format!("main;f{};g{};h{}", i % 7, i % 97, i), i + 1))
            .collect();
        let stacks: Vec<(&str, i64)> = folded.iter().map(|(s, v)| (s.as_str(), *v)).collect();
        let mut b = SegmentBuilder::new("t");
        b.add_profile(&profile("a", 10, &stacks));
        let mut data = b.finish();
        // Steps that overflow an i64 delta must come back exact.
        for (i, f) in data.node_frames.iter_mut().enumerate() {
            (f.address, f.line) = match i % 3 {
                0 => (u64::MAX, i64::MIN),
                1 => (0, i64::MAX),
                _ => (1 << 63, -1),
            };
        }
        let bytes = encode(&data).unwrap();
        assert_eq!(decode(Bytes::from(bytes.clone())).unwrap(), data);
        let file = SerializedFileReader::new(Bytes::from(bytes)).unwrap();
        let group = file.metadata().row_group(0);
        let encodings = |c: usize| group.column(c).encodings().collect::<Vec<_>>();
        for c in [COL_NODE_PARENT, COL_NODE_NAME, COL_NODE_ADDRESS, COL_STACK] {
            assert!(encodings(c).contains(&Encoding::DELTA_BINARY_PACKED), "{c}");
        }
        // Sample values repeat rather than step: PLAIN, compressed.
        assert!(!encodings(COL_VALUE).contains(&Encoding::DELTA_BINARY_PACKED));
    }

    #[test]
    fn a_footer_cache_reads_every_segment_as_an_uncached_open_does() {
        let l0 = |app: &str, time: i64, stacks: &[(&str, i64)]| {
            let mut b = SegmentBuilder::new("t");
            b.add_profile(&profile(app, time, stacks));
            Bytes::from(encode(&b.finish()).unwrap())
        };
        let mut compacted = SegmentBuilder::new("t");
        compacted.add_profile(&profile("a", 10, &[("x;y", 1)]));
        compacted.add_profile(&profile("c", 10, &[("x;z", 4)]));
        let compacted = encode_compacted(&compacted.finish(), Sums::HoursAndDays)
            .unwrap()
            .bytes;
        let fixture = |name: &str| {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/segment");
            Bytes::from(std::fs::read(dir.join(name)).unwrap())
        };
        // L0 segments of one layout and series, another series, other layouts (other schema
        // bytes) in between, and the first layout again.
        let segments = [
            l0("a", 10, &[("x;y;z", 1)]),
            l0("a", 20, &[("x;q", 2)]),
            l0("b", 30, &[("x;y", 3)]),
            Bytes::from(compacted),
            fixture("v1/basic.parquet"),
            fixture("v6/day.parquet"),
            l0("a", 40, &[("w", 5)]),
        ];
        let mut cache = FooterCache::default();
        let mut series = Vec::new();
        for (i, bytes) in segments.iter().enumerate() {
            let cached = SegmentReader::open_cached(bytes.clone(), &mut cache).unwrap();
            let fresh = SegmentReader::open(bytes.clone()).unwrap();
            let (m, f) = (cached.meta(), fresh.meta());
            assert_eq!(
                (m.format, &m.series, &m.periods, &m.row_groups),
                (f.format, &f.series, &f.periods, &f.row_groups),
                "segment {i}"
            );
            assert_eq!(cached.read_all().unwrap(), decode(bytes.clone()).unwrap());
            series.push(m.series.clone());
        }
        // Uploads of one series share its list; another series has its own.
        assert!(std::sync::Arc::ptr_eq(&series[0], &series[1]));
        assert!(std::sync::Arc::ptr_eq(&series[0], &series[6]));
        assert!(!std::sync::Arc::ptr_eq(&series[0], &series[2]));
        // Every L0 segment has the same schema bytes; the cache holds the last layout's.
        let footer = |bytes: &Bytes| {
            let len = bytes.len();
            let footer_len = u32::from_le_bytes(bytes[len - 8..len - 4].try_into().unwrap());
            bytes.slice(len - 8 - footer_len as usize..len - 8)
        };
        let schema = |bytes: &Bytes| {
            let footer = footer(bytes);
            let range = crate::storage::thrift_shape::check_footer(&footer, None)
                .unwrap()
                .schema
                .unwrap();
            footer.slice(range)
        };
        assert_eq!(schema(&segments[0]), schema(&segments[2]));
        assert_ne!(schema(&segments[0]), schema(&segments[4]));
        let known = cache.known_schema();
        assert_eq!(known, Some(&schema(&segments[6])[..]));
        let shape = crate::storage::thrift_shape::check_footer(&footer(&segments[0]), known);
        assert!(shape.unwrap().schema_known);
        // A segment whose schema differs from the cached one's is checked as ever: a column
        // renamed in the schema is refused, with the cache as without it.
        let mut renamed = segments[0].to_vec();
        let at = renamed
            .windows(11)
            .position(|w| w == b"node_parent")
            .unwrap();
        renamed[at] = b'N';
        let renamed = Bytes::from(renamed);
        assert!(SegmentReader::open(renamed.clone()).is_err());
        assert!(SegmentReader::open_cached(renamed, &mut cache).is_err());
    }

    #[test]
    fn rejects_garbage() {
        assert!(decode(Bytes::from_static(b"not parquet at all")).is_err());
        assert!(decode(Bytes::new()).is_err());
    }
}
