//! The core's `ObjectStore` over a local directory, for native runs of the same core code the
//! ingest component runs: create-only puts, fsynced (file and directory) when `durable`, as
//! the host's local storage does before an ingest answers.

use std::fs;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use flamelet::storage::store::{ListPage, ObjectStore, PutMode, StoreError, page_of};

pub struct DirStore {
    pub root: PathBuf,
    pub durable: bool,
}

fn other(e: std::io::Error) -> StoreError {
    StoreError::Other {
        message: e.to_string(),
    }
}

fn not_found(key: &str, e: std::io::Error) -> StoreError {
    if e.kind() == std::io::ErrorKind::NotFound {
        StoreError::NotFound { key: key.into() }
    } else {
        other(e)
    }
}

impl ObjectStore for DirStore {
    fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        fs::read(self.root.join(key))
            .map(Bytes::from)
            .map_err(|e| not_found(key, e))
    }

    fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        // Only the range, as object stores read it, clamped to the file.
        use std::io::{Read, Seek};
        let mut file = fs::File::open(self.root.join(key)).map_err(|e| not_found(key, e))?;
        let len = file.metadata().map_err(other)?.len();
        let (start, end) = (range.start.min(len), range.end.min(len));
        file.seek(std::io::SeekFrom::Start(start)).map_err(other)?;
        let mut buf = vec![0; (end - start) as usize];
        file.read_exact(&mut buf).map_err(other)?;
        Ok(Bytes::from(buf))
    }

    fn put(&self, key: &str, data: Bytes, mode: PutMode) -> Result<(), StoreError> {
        let path = self.root.join(key);
        let dir = path.parent().unwrap_or(&self.root);
        fs::create_dir_all(dir).map_err(other)?;
        let mut options = fs::OpenOptions::new();
        options.write(true);
        match mode {
            PutMode::Create => options.create_new(true),
            PutMode::Overwrite => options.create(true).truncate(true),
        };
        let mut file = options.open(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                StoreError::AlreadyExists { key: key.into() }
            } else {
                other(e)
            }
        })?;
        file.write_all(&data).map_err(other)?;
        if self.durable {
            file.sync_all().map_err(other)?;
            fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(other)?;
        }
        Ok(())
    }

    fn list(
        &self,
        prefix: &str,
        token: Option<&str>,
        limit: u32,
        delimited: bool,
    ) -> Result<ListPage, StoreError> {
        // Only the directory the prefix names can hold matching keys.
        let dir = prefix.rsplit_once('/').map_or("", |(d, _)| d);
        let mut keys = Vec::new();
        walk(&self.root, &self.root.join(dir), &mut keys);
        keys.sort();
        let sorted = keys.iter().map(|(key, size)| (key.as_str(), *size));
        Ok(page_of(sorted, prefix, token, limit, delimited))
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        match fs::remove_file(self.root.join(key)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(other(e)),
            _ => Ok(()),
        }
    }
}

/// Every file below `dir` as (key relative to `root`, size).
pub fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, u64)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(root, &p, out);
        } else if let (Ok(rel), Ok(meta)) = (p.strip_prefix(root), e.metadata()) {
            out.push((rel.to_string_lossy().into_owned(), meta.len()));
        }
    }
}
