//! A local directory as the object store: reads and durable puts done here rather than by
//! object_store's local store, for fewer trips through the blocking pool per call (each a
//! thread hand-off that costs more than the call on small objects) and for directories that
//! are durable too. Listings and deletes stay with object_store, which skips the staging
//! files (`KEY#N`) of puts under way.

use std::fs::File;
use std::io::{ErrorKind, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use flamelet::storage::store::{PutMode, StoreError};

use super::other;

/// Largest local read done on the calling thread; a larger one (a day segment, which a cold
/// cache may take milliseconds to read) goes to the blocking pool.
const INLINE_READ_BYTES: u64 = 1 << 20;

/// Reads `range` of a local directory's object (all of it without one), clamped to its size,
/// as object_store's local store would, but without its two trips through the blocking pool
/// per read (open and stat, then the bytes): for the small immutable objects a query reads by
/// the thousand (a fresh hour's L0 segments) the thread hand-offs cost more than the reads
/// (docs/benchmarks.md, "Local reads and read-ahead"). A small object is read here, from the
/// page cache in microseconds; a large one goes to the blocking pool, once.
pub(super) async fn read(
    root: &Path,
    key: &str,
    range: Option<Range<u64>>,
) -> Result<Bytes, StoreError> {
    use std::io::{Read, Seek, SeekFrom};

    flamelet_bucket::check_key(key)?;
    let not_found = || StoreError::NotFound { key: key.into() };
    let failed = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => not_found(),
        _ => other(format!("reading {key}: {e}")),
    };
    let file = std::fs::File::open(root.join(key)).map_err(failed)?;
    let meta = file.metadata().map_err(failed)?;
    if meta.is_dir() {
        return Err(not_found());
    }
    let size = meta.len();
    let (start, end) = match range {
        Some(r) => (r.start.min(size), r.end.min(size)),
        None => (0, size),
    };
    if end <= start {
        return Ok(Bytes::new());
    }
    let read = move |mut file: std::fs::File| -> std::io::Result<Vec<u8>> {
        file.seek(SeekFrom::Start(start))?;
        let mut buf = vec![0; (end - start) as usize];
        file.read_exact(&mut buf)?;
        Ok(buf)
    };
    let bytes = if end - start <= INLINE_READ_BYTES {
        read(file)
    } else {
        tokio::task::spawn_blocking(move || read(file))
            .await
            .map_err(other)?
    };
    bytes.map(Bytes::from).map_err(failed)
}

/// Staging names a put tries before it gives up (another process's put may hold one).
const STAGING_ATTEMPTS: usize = 16;

/// Writes `data` at `key` below `root` and makes it durable before returning: the bytes go to
/// a staging file beside the key (`KEY#N`), fsynced, which is then linked at the key
/// (create-only: an existing key is left alone) or renamed over it; then the directory is
/// fsynced, and so is each directory's parent where the put had to create it (a new day's
/// directory holding an acknowledged upload must survive a crash too). As the other stores, a
/// create-only put that finds its own bytes at the key (a retry) succeeds.
pub(super) fn put(root: &Path, key: &str, data: &[u8], mode: PutMode) -> Result<(), StoreError> {
    flamelet_bucket::check_key(key)?;
    let failed = |e: std::io::Error| other(format!("writing {key}: {e}"));
    let path = root.join(key);
    let dir = path
        .parent()
        .ok_or_else(|| StoreError::InvalidKey { key: key.into() })?;
    let (staging, mut file) = create_staging(dir, &path).map_err(failed)?;
    let placed = file
        .write_all(data)
        .and_then(|()| file.sync_all())
        .and_then(|()| match mode {
            PutMode::Create => std::fs::hard_link(&staging, &path),
            PutMode::Overwrite => std::fs::rename(&staging, &path),
        });
    drop(file);
    if (mode == PutMode::Create || placed.is_err())
        && let Err(e) = std::fs::remove_file(&staging)
    {
        // Left for `sweep_staging`; listings do not show it.
        tracing::warn!("removing {}: {e}", staging.display());
    }
    match placed {
        Ok(()) => sync_dir(dir).map_err(failed),
        Err(e) if e.kind() == ErrorKind::AlreadyExists && mode == PutMode::Create => {
            match std::fs::read(&path) {
                Ok(found) if found == data => Ok(()),
                _ => Err(StoreError::AlreadyExists { key: key.into() }),
            }
        }
        Err(e) => Err(failed(e)),
    }
}

/// A new staging file for `path` (in `dir`, created when missing), opened for writing.
fn create_staging(dir: &Path, path: &Path) -> std::io::Result<(PathBuf, File)> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    for _ in 0..STAGING_ATTEMPTS {
        // The process id keeps several servers on one directory apart.
        let n =
            u64::from(std::process::id()) * 1_000_000_000 + NEXT.fetch_add(1, Ordering::Relaxed);
        let mut name = path.as_os_str().to_owned();
        name.push(format!("#{n}"));
        let staging = PathBuf::from(name);
        match File::options().write(true).create_new(true).open(&staging) {
            Ok(file) => return Ok((staging, file)),
            Err(e) if e.kind() == ErrorKind::NotFound => create_dirs(dir)?,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other(format!(
        "no free staging name for {}",
        path.display()
    )))
}

/// Creates `dir` and its missing ancestors, each made durable in its parent.
fn create_dirs(dir: &Path) -> std::io::Result<()> {
    let missing: Vec<&Path> = dir.ancestors().take_while(|d| !d.exists()).collect();
    std::fs::create_dir_all(dir)?;
    for d in missing.iter().rev() {
        if let Some(parent) = d.parent() {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Removes the staging files below `root` older than `age` (see `Storage::sweep_staging`).
pub(super) fn sweep_staging(root: &Path, age: std::time::Duration) -> usize {
    let mut removed = 0;
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_dir() {
                dirs.push(path);
            } else if is_staging_file(&path)
                && meta
                    .modified()
                    .ok()
                    .and_then(|m| m.elapsed().ok())
                    .is_some_and(|a| a >= age)
            {
                match std::fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    Err(e) => tracing::warn!("removing {}: {e}", path.display()),
                }
            }
        }
    }
    removed
}

/// A staging file of the local store: `NAME#DIGITS`.
fn is_staging_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.rsplit_once('#'))
        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(root: &Path) -> Vec<String> {
        let mut found = Vec::new();
        let mut dirs = vec![root.to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    let relative = path.strip_prefix(root).unwrap();
                    found.push(relative.to_string_lossy().into_owned());
                }
            }
        }
        found.sort();
        found
    }

    #[test]
    fn puts_create_directories_and_leave_no_staging_files() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        put(root, "t/l0/2026-12-07/a", b"one", PutMode::Create).unwrap();
        put(root, "t/l0/2026-12-07/a", b"one", PutMode::Create).expect("its own bytes");
        assert!(matches!(
            put(root, "t/l0/2026-12-07/a", b"two", PutMode::Create),
            Err(StoreError::AlreadyExists { .. })
        ));
        put(root, "t/m/b", b"1", PutMode::Overwrite).unwrap();
        put(root, "t/m/b", b"2", PutMode::Overwrite).unwrap();
        assert!(matches!(
            put(root, "../x", b"1", PutMode::Create),
            Err(StoreError::InvalidKey { .. })
        ));
        assert_eq!(files(root), ["t/l0/2026-12-07/a", "t/m/b"]);
        assert_eq!(
            std::fs::read(root.join("t/l0/2026-12-07/a")).unwrap(),
            b"one"
        );
        assert_eq!(std::fs::read(root.join("t/m/b")).unwrap(), b"2");
    }

    #[test]
    fn old_staging_files_are_swept_and_young_ones_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        put(root, "t/a", b"1", PutMode::Create).unwrap();
        std::fs::write(root.join("t/b#12"), b"interrupted").unwrap();
        std::fs::write(root.join("t/c#x"), b"not a staging name").unwrap();
        assert_eq!(sweep_staging(root, std::time::Duration::from_secs(3600)), 0);
        assert_eq!(sweep_staging(root, std::time::Duration::ZERO), 1);
        assert_eq!(files(root), ["t/a", "t/c#x"]);
    }
}
