//! A segment's bytes as Parquet's [`ChunkReader`]: small objects are fetched whole in one read,
//! large ones footer first, then only the column chunks a query reads, by ranged gets.

use bytes::Bytes;
use parquet::file::reader::{ChunkReader, Length};

use crate::Result;
use crate::storage::manifest::SegmentRef;
use crate::storage::store::SharedStore;

/// Segments up to this size are fetched whole (one read); larger ones footer first, then only
/// the column chunks a query needs.
pub const WHOLE_OBJECT_BYTES: u64 = 4 << 20;
/// Bytes fetched from a large segment's end on open: the footer in one read, usually.
pub const FOOTER_PREFETCH_BYTES: u64 = 256 << 10;

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
    },
}

impl ObjectChunks {
    /// Fetches an object whole or its tail, by size.
    pub fn open(store: &SharedStore, r: &SegmentRef) -> Result<Self> {
        Self::open_with(store, r, WHOLE_OBJECT_BYTES, FOOTER_PREFETCH_BYTES)
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
        let tail = store.get_range(&r.key, tail_start..r.size)?;
        Ok(ObjectChunks::Ranged {
            store: store.clone(),
            key: r.key.clone(),
            size: r.size,
            tail,
            tail_start,
        })
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

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        let len = self.len().saturating_sub(start) as usize;
        Ok(bytes::Buf::reader(self.get_bytes(start, len)?))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let end = start + length as u64;
        match self {
            ObjectChunks::Whole(b) => {
                if end > b.len() as u64 {
                    return Err(parquet::errors::ParquetError::EOF(
                        "read past the end".into(),
                    ));
                }
                Ok(b.slice(start as usize..end as usize))
            }
            ObjectChunks::Ranged {
                store,
                key,
                tail,
                tail_start,
                ..
            } => {
                if start >= *tail_start && end <= tail_start + tail.len() as u64 {
                    let from = (start - tail_start) as usize;
                    return Ok(tail.slice(from..from + length));
                }
                store
                    .get_range(key, start..end)
                    .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Labels, NamedSample, Profile, ProfileType, Series};
    use crate::storage::segment::{SegmentBuilder, SegmentReader, encode_compacted};
    use crate::storage::store::{ListPage, MemoryStore, ObjectStore, PutMode, StoreError};
    use std::ops::Range;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A memory store that counts reads.
    #[derive(Default)]
    struct Counting {
        inner: MemoryStore,
        reads: AtomicUsize,
    }

    impl ObjectStore for Counting {
        fn get(&self, key: &str) -> Result<Bytes, StoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.inner.get(key)
        }
        fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.inner.get_range(key, range)
        }
        fn put(&self, key: &str, data: Bytes, mode: PutMode) -> Result<(), StoreError> {
            self.inner.put(key, data, mode)
        }
        fn list(
            &self,
            prefix: &str,
            token: Option<&str>,
            limit: u32,
            delimited: bool,
        ) -> Result<ListPage, StoreError> {
            self.inner.list(prefix, token, limit, delimited)
        }
        fn delete(&self, key: &str) -> Result<(), StoreError> {
            self.inner.delete(key)
        }
    }

    #[test]
    fn one_ranged_read_fetches_what_a_flame_graph_reads() {
        let mut labels = Labels::new();
        labels.insert("service_name".into(), "app".into());
        let series = Series {
            profile_type: ProfileType::parse("process_cpu:cpu:nanoseconds:cpu:nanoseconds")
                .unwrap(),
            labels,
        };
        let mut b = SegmentBuilder::new("t");
        for p in 0..200i64 {
            let samples = (0..50)
                .map(|k| NamedSample {
                    stack: vec!["main".to_string(), format!("f{}", (p * 7 + k) % 300)],
                    value: p + k,
                })
                .collect();
            b.add_profile(&Profile::from_named(
                series.clone(),
                1_700_000_000_000_000_000 + p * 10_000_000_000,
                samples,
            ));
        }
        let encoded = encode_compacted(&b.finish()).unwrap();
        let size = encoded.bytes.len() as u64;
        assert!(encoded.hot_start > 0 && encoded.hot_start < size);
        let counting = Arc::new(Counting::default());
        counting
            .put("s", Bytes::from(encoded.bytes), PutMode::Create)
            .unwrap();
        let store: SharedStore = counting.clone();
        // Ranged although small, and no footer guess: the reads a large segment would cost.
        let reads = |hot_start: Option<u64>| {
            let before = counting.reads.load(Ordering::SeqCst);
            let r = SegmentRef {
                key: "s".into(),
                size,
                hot_start,
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
            counting.reads.load(Ordering::SeqCst) - before
        };
        assert_eq!(reads(Some(encoded.hot_start)), 1, "one read: the hot part");
        assert!(
            reads(None) > 1,
            "without the offset: the footer, then each chunk"
        );
    }
}
