//! A segment's bytes as Parquet's [`ChunkReader`]: small objects are fetched whole in one read,
//! large ones footer first, then only the column chunks a query reads, by ranged gets.

use bytes::Bytes;
use parquet::file::reader::{ChunkReader, Length};

use crate::Result;
use crate::storage::manifest::SegmentRef;
use crate::storage::store::SharedStore;
use crate::storage::thrift_shape;

/// Segments up to this size are fetched whole (one read); larger ones footer first, then only
/// the column chunks a query needs.
pub const WHOLE_OBJECT_BYTES: u64 = 4 << 20;
/// Bytes fetched from a large segment's end on open: the footer in one read, usually.
pub const FOOTER_PREFETCH_BYTES: u64 = 256 << 10;
/// Bytes fetched by one read of a large segment outside its tail. Parquet reads a column page
/// by page (a header, then its data): reading ahead turns a row group's four sample columns,
/// which lie next to each other, into one read instead of two per page.
pub const READ_AHEAD_BYTES: u64 = 2 << 20;
/// What a page header is parsed from, at most.
const PAGE_HEADER_BYTES: u64 = 64 << 10;

/// A segment's bytes, fetched whole or by ranges on demand.
pub enum ObjectChunks {
    /// The whole object.
    Whole(Bytes),
    /// Ranges read on demand; the tail is prefetched.
    Ranged {
        /// Where to read from.
        store: SharedStore,
        /// The object key.
        key: String,
        /// The object's size.
        size: u64,
        /// The last bytes of the object, starting at `tail_start`.
        tail: Bytes,
        /// Offset of `tail` in the object.
        tail_start: u64,
        /// The last block read ahead outside the tail, and its offset.
        window: std::sync::Mutex<(u64, Bytes)>,
    },
}

impl ObjectChunks {
    /// Fetches an object whole or its tail, by size.
    pub fn open(store: &SharedStore, r: &SegmentRef) -> Result<Self> {
        Self::open_with(store, r, WHOLE_OBJECT_BYTES, FOOTER_PREFETCH_BYTES)
    }

    /// Fetches a compacted segment from `start` to its end only, whatever its size, for a
    /// reader that needs nothing before it (its hot part for a range of whole hours; its day
    /// sums for whole days); anything else it reads is fetched by ranges. Without a `start`,
    /// as [`ObjectChunks::open`].
    pub fn open_from(store: &SharedStore, r: &SegmentRef, start: Option<u64>) -> Result<Self> {
        match start {
            Some(start) => Self::ranged(store, r, start.min(r.size)),
            None => Self::open(store, r),
        }
    }

    /// [`ObjectChunks::open`] with objects larger than `whole` read by ranges, at least the
    /// last `prefetch` bytes first.
    fn open_with(store: &SharedStore, r: &SegmentRef, whole: u64, prefetch: u64) -> Result<Self> {
        if r.size <= whole {
            return Ok(ObjectChunks::Whole(store.get(&r.key)?));
        }
        // The hot part when known (what every query reads, footer included), else a guess
        // that holds the footer.
        let tail_start = r
            .size
            .saturating_sub(prefetch)
            .min(r.hot_start.unwrap_or(u64::MAX));
        Self::ranged(store, r, tail_start)
    }

    /// Ranged reads, the bytes from `tail_start` to the end fetched now.
    fn ranged(store: &SharedStore, r: &SegmentRef, tail_start: u64) -> Result<Self> {
        let tail = store.get_range(&r.key, tail_start..r.size)?;
        Ok(ObjectChunks::Ranged {
            store: store.clone(),
            key: r.key.clone(),
            size: r.size,
            tail,
            tail_start,
            window: std::sync::Mutex::new((0, Bytes::new())),
        })
    }

    /// Bytes from `start` to at least `min_end` (to the end of what is held, possibly more),
    /// from the tail, the read-ahead window, or a new read of up to [`READ_AHEAD_BYTES`].
    fn from(&self, start: u64, min_end: u64) -> parquet::errors::Result<Bytes> {
        let eof = || parquet::errors::ParquetError::EOF("read past the end".into());
        let held = |at: u64, b: &Bytes| {
            (start >= at && min_end <= at + b.len() as u64)
                .then(|| b.slice((start - at) as usize..))
        };
        match self {
            ObjectChunks::Whole(b) => held(0, b).ok_or_else(eof),
            ObjectChunks::Ranged {
                store,
                key,
                size,
                tail,
                tail_start,
                window,
            } => {
                if let Some(b) = held(*tail_start, tail) {
                    return Ok(b);
                }
                let mut window = window.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(b) = held(window.0, &window.1) {
                    return Ok(b);
                }
                if min_end > *size {
                    return Err(eof());
                }
                // Up to the tail, which is held already, or the end.
                let limit = if start < *tail_start {
                    *tail_start
                } else {
                    *size
                };
                let end = start
                    .saturating_add(READ_AHEAD_BYTES)
                    .min(limit)
                    .max(min_end);
                let bytes = store
                    .get_range(key, start..end)
                    .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))?;
                if (bytes.len() as u64) < min_end - start {
                    return Err(eof());
                }
                *window = (start, bytes.clone());
                Ok(bytes)
            }
        }
    }
}

impl From<Bytes> for ObjectChunks {
    fn from(bytes: Bytes) -> Self {
        ObjectChunks::Whole(bytes)
    }
}

impl Length for ObjectChunks {
    fn len(&self) -> u64 {
        match self {
            ObjectChunks::Whole(b) => b.len() as u64,
            ObjectChunks::Ranged { size, .. } => *size,
        }
    }
}

impl ChunkReader for ObjectChunks {
    type T = bytes::buf::Reader<Bytes>;

    /// A reader from `start`: parquet reads a page header through it (the segment reader
    /// reads the footer itself), so a bounded block is enough (never the rest of a large
    /// object), and the header must pass [`thrift_shape::check_page_header`] first.
    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        let min_end = start.saturating_add(PAGE_HEADER_BYTES).min(self.len());
        let bytes = self.from(start, min_end.max(start))?;
        thrift_shape::check_page_header(&bytes).map_err(|e| {
            parquet::errors::ParquetError::General(format!("page header at {start}: {e}"))
        })?;
        Ok(bytes::Buf::reader(bytes))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let bytes = self.from(start, start.saturating_add(length as u64))?;
        Ok(bytes.slice(..length))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Labels, NamedSample, Profile, ProfileType, Series};
    use crate::storage::segment::{SegmentBuilder, SegmentReader, encode_compacted};
    use crate::storage::store::{MemoryStore, ObjectStore, PutMode};
    use std::sync::Arc;

    /// `profiles` CPU profiles of one series, `interval` ns apart, each `stacks(p)`.
    fn segment(
        profiles: i64,
        interval: i64,
        stacks: impl Fn(i64) -> Vec<NamedSample>,
    ) -> crate::storage::segment::SegmentData {
        let mut labels = Labels::new();
        labels.insert("service_name".into(), "app".into());
        let series = Series {
            profile_type: ProfileType::parse("process_cpu:cpu:nanoseconds:cpu:nanoseconds")
                .unwrap(),
            labels,
        };
        let mut b = SegmentBuilder::new("t");
        for p in 0..profiles {
            b.add_profile(&Profile::from_named(
                series.clone(),
                1_700_000_000_000_000_000 + p * interval,
                stacks(p),
            ));
        }
        b.finish()
    }

    fn sample(stack: [&str; 2], value: i64) -> NamedSample {
        NamedSample {
            stack: stack.iter().map(|s| s.to_string()).collect(),
            value,
        }
    }

    #[test]
    fn one_ranged_read_fetches_what_a_flame_graph_reads() {
        let data = segment(200, 10_000_000_000, |p| {
            (0..50)
                .map(|k| sample(["main", &format!("f{}", (p * 7 + k) % 300)], p + k))
                .collect()
        });
        let encoded = encode_compacted(&data, crate::storage::segment::Sums::Hours).unwrap();
        let size = encoded.bytes.len() as u64;
        assert!(encoded.hot_start > 0 && encoded.hot_start < size);
        let counting = Arc::new(MemoryStore::default());
        counting
            .put("s", Bytes::from(encoded.bytes), PutMode::Create)
            .unwrap();
        let store: SharedStore = counting.clone();
        // Ranged although small, and no footer guess: the reads a large segment would cost.
        let reads = |hot_start: Option<u64>| {
            let before = counting.reads();
            let r = SegmentRef {
                key: "s".into(),
                size,
                hot_start,
                time: None,
                day_sums_start: None,
            };
            let chunks = ObjectChunks::open_with(&store, &r, 0, 0).unwrap();
            let reader = SegmentReader::open(chunks).unwrap();
            let strings = reader.read_strings().unwrap();
            let nodes = reader.read_nodes(strings.len()).unwrap();
            let sums = reader
                .read_stack_sums(&|_| true, nodes.len(), i64::MIN, i64::MAX)
                .unwrap();
            let totals = reader
                .read_profile_totals(&|_| true, i64::MIN, i64::MAX)
                .unwrap();
            assert!(!sums.is_empty() && totals.len() == 200);
            counting.reads() - before
        };
        assert_eq!(reads(Some(encoded.hot_start)), 1, "one read: the hot part");
        assert!(
            reads(None) > 1,
            "without the offset: the footer, then each chunk"
        );
        // The per-profile rows lie before the hot part: read ahead, every page of their
        // columns comes with one read (the file is smaller than the read-ahead).
        let r = SegmentRef {
            key: "s".into(),
            size,
            hot_start: Some(encoded.hot_start),
            time: None,
            day_sums_start: None,
        };
        let chunks = ObjectChunks::open_with(&store, &r, 0, 0).unwrap();
        let reader = SegmentReader::open(chunks).unwrap();
        let nodes = reader
            .read_nodes(reader.read_strings().unwrap().len())
            .unwrap();
        let before = counting.reads();
        let rows = reader
            .read_samples(i64::MIN, i64::MAX, &|_| true, nodes.len(), None)
            .unwrap();
        assert_eq!(rows.len(), 200 * 50);
        assert_eq!(counting.reads() - before, 1);
    }

    #[test]
    fn a_day_segment_opened_at_its_day_sums_reads_them_and_the_totals_at_once() {
        let data = segment(100, 60_000_000_000, |p| {
            (0..20)
                .map(|k| sample(["main", &format!("f{}", (p + k) % 70)], 1))
                .collect()
        });
        let encoded = encode_compacted(&data, crate::storage::segment::Sums::HoursAndDays).unwrap();
        let size = encoded.bytes.len() as u64;
        let start = encoded.day_sums_start.expect("a day segment's day sums");
        assert!(encoded.hot_start < start && start < size);
        let counting = Arc::new(MemoryStore::default());
        counting
            .put("s", Bytes::from(encoded.bytes), PutMode::Create)
            .unwrap();
        let store: SharedStore = counting.clone();
        let r = SegmentRef {
            key: "s".into(),
            size,
            hot_start: Some(encoded.hot_start),
            time: None,
            day_sums_start: Some(start),
        };
        let reader =
            SegmentReader::open(ObjectChunks::open_from(&store, &r, Some(start)).unwrap()).unwrap();
        let nodes = reader.node_count();
        let (sums, fingerprints) = reader
            .read_fingerprinted_day_sums(&|_| true, nodes, i64::MIN, i64::MAX)
            .unwrap();
        let totals = reader
            .read_profile_totals(&|_| true, i64::MIN, i64::MAX)
            .unwrap();
        assert_eq!(sums.value.iter().sum::<i64>(), 2000);
        assert_eq!((fingerprints.len(), totals.len()), (sums.len(), 100));
        assert_eq!(counting.reads(), 1, "one read: day sums, totals and footer");
        // The trie, if a query needs it after all, costs one more.
        let strings = reader.read_strings().unwrap();
        assert_eq!(reader.read_nodes(strings.len()).unwrap().len(), nodes);
        assert_eq!(counting.reads(), 2);
    }
}
