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
        if r.size <= WHOLE_OBJECT_BYTES {
            return Ok(ObjectChunks::Whole(store.get(&r.key)?));
        }
        let tail_start = r.size.saturating_sub(FOOTER_PREFETCH_BYTES);
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
