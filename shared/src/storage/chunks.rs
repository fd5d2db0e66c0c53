//! A segment's bytes as Parquet's [`ChunkReader`]: small objects are fetched whole in one read,
//! large ones footer first, then only the column chunks a query reads, by ranged gets.

use bytes::Bytes;
use parquet::file::reader::{ChunkReader, Length};

use crate::Result;
use crate::storage::manifest::SegmentRef;
use crate::storage::store::{SharedStore, StoreError};
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

/// Most segments one batch of [`ReadAhead`] fetches, and the most bytes (more than one
/// segment only while they fit).
const AHEAD_SEGMENTS: usize = 64;
const AHEAD_BYTES: u64 = 16 << 20;

/// Opens the segments of a list one after another, fetching the small ones that are always
/// read whole (L0 segments: the manifest gives them no hot part, times or day sums) ahead
/// in batches with one `get_many`, which a bucket answers concurrently and a local directory
/// without a round trip per object: a fresh hour is thousands of them, and one read at a time
/// over S3 costs a round trip each.
pub struct ReadAhead<'a> {
    store: &'a SharedStore,
    refs: &'a [SegmentRef],
    /// The batch fetched last: the index of its first segment and its answers, in order.
    batch: (usize, Vec<Option<std::result::Result<Bytes, StoreError>>>),
}

impl<'a> ReadAhead<'a> {
    /// Reads ahead through `refs`, which are then opened in order (any may be skipped).
    pub fn new(store: &'a SharedStore, refs: &'a [SegmentRef]) -> Self {
        ReadAhead {
            store,
            refs,
            batch: (0, Vec::new()),
        }
    }

    /// Whether a segment is always read whole, so that fetching it ahead wastes nothing.
    fn whole_always(r: &SegmentRef) -> bool {
        r.hot_start.is_none()
            && r.time.is_none()
            && r.day_sums_start.is_none()
            && r.size <= WHOLE_OBJECT_BYTES
    }

    /// Opens `r`, segment `i` of the list, as [`ObjectChunks::open_from`] would.
    pub fn open(&mut self, i: usize, r: &SegmentRef, start: Option<u64>) -> Result<ObjectChunks> {
        let listed = self.refs.get(i).is_some_and(|l| l.key == r.key);
        if start.is_some() || !Self::whole_always(r) || !listed {
            return ObjectChunks::open_from(self.store, r, start);
        }
        let (first, answers) = &mut self.batch;
        let held = i.checked_sub(*first).and_then(|k| answers.get_mut(k));
        if let Some(answer) = held.and_then(Option::take) {
            return Ok(ObjectChunks::Whole(answer?));
        }
        // A new batch: this segment and the next that are read whole, while they fit.
        let mut keys = vec![r.key.clone()];
        let mut bytes = r.size;
        for next in self.refs[i + 1..]
            .iter()
            .take_while(|n| Self::whole_always(n))
        {
            if keys.len() == AHEAD_SEGMENTS || bytes.saturating_add(next.size) > AHEAD_BYTES {
                break;
            }
            bytes += next.size;
            keys.push(next.key.clone());
        }
        let mut answers: Vec<_> = self.store.get_many(&keys).into_iter().map(Some).collect();
        let answer = answers
            .first_mut()
            .and_then(Option::take)
            .unwrap_or_else(|| Err(StoreError::NotFound { key: r.key.clone() }));
        self.batch = (i, answers);
        Ok(ObjectChunks::Whole(answer?))
    }
}

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
    use crate::storage::recording::Recording;
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

    #[test]
    fn read_ahead_fetches_runs_of_whole_segments_in_batches_and_each_answer_once() {
        let calls = Arc::new(Recording::default());
        let l0 = |key: &str, size: u64| SegmentRef {
            key: key.into(),
            size,
            hot_start: None,
            time: None,
            day_sums_start: None,
        };
        let mut refs: Vec<SegmentRef> = (0..AHEAD_SEGMENTS + 10)
            .map(|k| l0(&format!("l0/{k:03}"), 10))
            .collect();
        for r in &refs {
            calls
                .put(&r.key, Bytes::from(r.key.clone()), PutMode::Create)
                .unwrap();
        }
        // A compacted segment (a hot part and times: read on its own), a missing L0 segment,
        // one too large to read whole, then four that fill a batch's bytes.
        refs.insert(
            2,
            SegmentRef {
                time: Some((0, 1)),
                hot_start: Some(0),
                ..l0("l0/000", 10)
            },
        );
        refs.insert(3, l0("l0/gone", 10));
        refs.insert(5, l0("l0/big", WHOLE_OBJECT_BYTES + 1));
        calls
            .put("l0/big", Bytes::from_static(b"big"), PutMode::Create)
            .unwrap();
        for r in &mut refs[6..10] {
            r.size = WHOLE_OBJECT_BYTES;
        }
        assert_eq!(AHEAD_BYTES, 4 * WHOLE_OBJECT_BYTES);
        calls.take();
        let store: SharedStore = calls.clone();
        let mut ahead = ReadAhead::new(&store, &refs);
        let opened = |c: Result<ObjectChunks>| match c {
            Ok(ObjectChunks::Whole(b)) => Ok(String::from_utf8(b.to_vec()).unwrap()),
            Ok(ObjectChunks::Ranged { key, .. }) => Ok(format!("ranged {key}")),
            Err(e) => Err(e.to_string()),
        };
        let mut seen = Vec::new();
        for (i, r) in refs.iter().enumerate() {
            // Segment 1 is skipped, as a query skips what it does not need.
            if i != 1 {
                seen.push(opened(ahead.open(i, r, None)));
            }
        }
        let expected: Vec<std::result::Result<String, String>> = refs
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 1)
            .map(|(i, r)| match i {
                3 => Err(StoreError::NotFound { key: r.key.clone() }.to_string()),
                5 => Ok("ranged l0/big".into()),
                _ => Ok(r.key.clone()),
            })
            .collect();
        assert_eq!(seen, expected);
        let calls = calls.take();
        let batch = |range: std::ops::Range<usize>| {
            let keys: Vec<&str> = refs[range].iter().map(|r| r.key.as_str()).collect();
            format!("get_many {}", keys.join(","))
        };
        // Batches stop at a segment read otherwise, and at their bytes or count.
        let full = 10 + AHEAD_SEGMENTS;
        assert_eq!(
            calls,
            [
                batch(0..2),
                "get l0/000".to_string(),
                batch(3..5),
                "get_range l0/big".to_string(),
                batch(6..10),
                batch(10..full),
                batch(full..refs.len()),
            ]
        );
    }
}
