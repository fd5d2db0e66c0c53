//! A local directory as the object store: reads and durable puts done here rather than by
//! object_store's local store, for fewer trips through the blocking pool per call (each a
//! thread hand-off that costs more than the call on small objects) and for directories that
//! are durable too, and listings with one `stat` per file (object_store's walk makes up to four,
//! each from the root by full path). Deletes stay with object_store. Listings skip the staging
//! files (`KEY#N`) of puts under way, as object_store's do.

use std::collections::HashMap;
use std::fs::File;
use std::io::{ErrorKind, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use flamelet::FastMap;
use flamelet::storage::keys;
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

/// Lists a local directory's keys with their sizes (see [`Lister::list`]), remembering the
/// sizes of the L0 segments it has seen.
pub(super) struct Lister {
    root: PathBuf,
    /// Per directory (relative to `root`): the L0 segments found there by the last listing
    /// that read it, by file name, with their inode numbers (from the directory entry) and
    /// sizes.
    known: Mutex<HashMap<String, Arc<FastMap<String, Known>>>>,
}

/// An L0 segment file seen by a listing: (inode number from its directory entry, size).
type Known = (u64, u64);

impl Lister {
    pub(super) fn new(root: PathBuf) -> Self {
        Lister {
            root,
            known: Mutex::default(),
        }
    }

    /// Every (key, size) under `prefix`, in directory order: a walk down from the prefix's
    /// directory that goes into a subdirectory only if keys below it can start with `prefix`,
    /// and `stat`s each file by name within its directory (`DirEntry::metadata`), except an L0
    /// segment listed before. object_store's listing made up to four `stat`s of every file,
    /// each resolving the whole path from the root; one per file was still ~23 % of the query
    /// threads' CPU under load, for a day's L0 directory that every fresh-hour query lists and
    /// that holds a minute of merged uploads awaiting deletion (docs/benchmarks.md, "Sizes of
    /// listed uploads"). An L0 segment's size cannot change: its key holds a new ULID, is put
    /// once (create-only, by a link of a complete file) and never again after its deletion.
    /// So a file of the same name and inode number as one listed before (both from the
    /// directory entry, which `read_dir` reads anyway) has its size. Like object_store's, the
    /// walk follows symbolic links, skips broken ones, staging files and names that are not
    /// keys, and finds nothing under a missing directory.
    pub(super) fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let start = prefix.rsplit_once('/').map_or("", |(dir, _)| dir);
        let mut found = Vec::new();
        let mut dirs = vec![start.to_string()];
        while let Some(dir) = dirs.pop() {
            self.list_dir(prefix, dir, &mut dirs, &mut found)?;
        }
        Ok(found)
    }

    /// Lists one directory of [`Lister::list`]'s walk: its keys under `prefix` into `found`,
    /// the subdirectories to walk into `dirs`.
    fn list_dir(
        &self,
        prefix: &str,
        dir: String,
        dirs: &mut Vec<String>,
        found: &mut Vec<(String, u64)>,
    ) -> Result<(), StoreError> {
        use std::os::unix::fs::DirEntryExt;

        let failed = |e: std::io::Error| other(format!("listing {prefix}: {e}"));
        let entries = match std::fs::read_dir(self.root.join(&dir)) {
            Ok(entries) => entries,
            // Gone since its parent was read, never there, or a file: nothing under it.
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                return Ok(());
            }
            Err(e) => return Err(failed(e)),
        };
        let known = self.known_in(&dir);
        // The directory's L0 segments with known sizes, for the next listing; files deleted
        // since the last one drop out.
        let mut seen: FastMap<String, Known> = FastMap::default();
        seen.reserve(known.as_ref().map_or(0, |k| k.len()));
        let mut learned = false;
        for entry in entries {
            let entry = entry.map_err(failed)?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let key = if dir.is_empty() {
                name.clone()
            } else {
                format!("{dir}/{name}")
            };
            let file_type = entry.file_type().map_err(failed)?;
            let l0 = file_type.is_file() && keys::is_l0(&key);
            // A remembered name was a valid key, not a staging file's, when it was learned.
            if l0
                && let Some(&(ino, size)) = known.as_ref().and_then(|k| k.get(&name))
                && ino == entry.ino()
            {
                seen.insert(name, (ino, size));
                if key.starts_with(prefix) {
                    found.push((key, size));
                }
                continue;
            }
            let wanted = key.starts_with(prefix)
                && !is_staging_name(&key)
                && flamelet_bucket::check_key(&key).is_ok();
            // A broken link, or a file deleted since the directory was read, is skipped.
            let gone = |e: std::io::Error| match e.kind() {
                ErrorKind::NotFound => Ok(None),
                _ => Err(failed(e)),
            };
            // The entry's type comes with it; only a link needs a `stat` to tell.
            let target = match file_type.is_symlink() {
                true => match std::fs::metadata(entry.path()).map(Some).or_else(gone)? {
                    Some(meta) => Some(meta),
                    None => continue,
                },
                false => None,
            };
            if target.as_ref().map_or(file_type.is_dir(), |m| m.is_dir()) {
                let below = format!("{key}/");
                if below.starts_with(prefix) || prefix.starts_with(&below) {
                    dirs.push(key);
                }
                continue;
            }
            if !wanted {
                continue;
            }
            let meta = match target {
                Some(meta) => meta,
                None => match entry.metadata().map(Some).or_else(gone)? {
                    Some(meta) => meta,
                    None => continue,
                },
            };
            if meta.is_file() {
                if l0 {
                    seen.insert(name, (entry.ino(), meta.len()));
                    learned = true;
                }
                found.push((key, meta.len()));
            }
        }
        if learned || known.is_some_and(|k| k.len() != seen.len()) {
            self.remember(dir, seen);
        }
        Ok(())
    }

    fn known_in(&self, dir: &str) -> Option<Arc<FastMap<String, Known>>> {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known.get(dir).cloned()
    }

    /// Keeps what a listing of `dir` saw (a listing at the same time may replace it with what
    /// it saw: either is a directory's L0 segments at one moment, which is all a lookup needs).
    fn remember(&self, dir: String, seen: FastMap<String, Known>) {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if seen.is_empty() {
            known.remove(&dir);
        } else {
            known.insert(dir, Arc::new(seen));
        }
    }
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
        .is_some_and(is_staging_name)
}

/// Whether a file name (or a key, whose last part it is) is a staging file's: `NAME#DIGITS`.
fn is_staging_name(name: &str) -> bool {
    name.rsplit_once('#')
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

    /// `list`'s answer, sorted as the bucket sorts it.
    fn listed(root: &Path, prefix: &str) -> Vec<(String, u64)> {
        let mut found = Lister::new(root.to_path_buf()).list(prefix).unwrap();
        found.sort();
        found
    }

    #[test]
    fn a_listing_finds_the_keys_under_its_prefix_with_their_sizes_and_skips_staging_files() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        for (key, data) in [
            ("t/l0/2026-12-06/x", &b"1"[..]),
            ("t/l0/2026-12-07/a", b"22"),
            ("t/l0/2026-12-07/b", b"333"),
            ("t/l0/2026-12-070/c", b"4444"),
            ("t/m/2026-12-07/m", b"5"),
            ("u/l0/2026-12-07/a", b"6"),
        ] {
            put(root, key, data, PutMode::Create).unwrap();
        }
        std::fs::write(root.join("t/l0/2026-12-07/d#17"), b"a put under way").unwrap();
        std::fs::create_dir_all(root.join("t/l0/2026-12-07/empty")).unwrap();
        let day = [
            ("t/l0/2026-12-07/a".to_string(), 2),
            ("t/l0/2026-12-07/b".to_string(), 3),
        ];
        assert_eq!(listed(root, "t/l0/2026-12-07/"), day);
        // A prefix that ends within a name: the directories it can lead into, not others.
        assert_eq!(
            listed(root, "t/l0/2026-12-07"),
            [&day[..], &[("t/l0/2026-12-070/c".to_string(), 4)]].concat()
        );
        assert_eq!(listed(root, "t/l0/2026-12-07/b"), [day[1].clone()]);
        assert_eq!(listed(root, "t/").len(), 5);
        assert_eq!(listed(root, "").len(), 6);
        assert!(listed(root, "t/l0/2026-12-08/").is_empty());
        assert!(listed(root, "nobody/").is_empty());
        assert!(
            listed(root, "t/l0/2026-12-07/a/").is_empty(),
            "below a file"
        );
    }

    /// A lister remembers the sizes of the L0 segments it listed, by name and inode number,
    /// and forgets those deleted; other files are looked at by every listing.
    #[test]
    fn a_listing_remembers_the_sizes_of_listed_uploads_until_they_are_deleted() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let day = "tenants/t/l0/2026-12-07";
        let (a, b, c) = (
            format!("{day}/16-A.parquet"),
            format!("{day}/16-B.parquet"),
            format!("{day}/17-C.parquet"),
        );
        put(root, &a, b"1", PutMode::Create).unwrap();
        put(root, &b, b"22", PutMode::Create).unwrap();
        put(root, "tenants/t/m/x", b"4444", PutMode::Create).unwrap();
        std::fs::write(root.join(format!("{b}#9")), b"a put under way").unwrap();
        let lister = Lister::new(root.to_path_buf());
        let list = |prefix: &str| {
            let mut found = lister.list(prefix).unwrap();
            found.sort();
            found
        };
        let known = |dir: &str| {
            let mut names: Vec<String> = lister
                .known_in(dir)
                .map(|k| k.keys().cloned().collect())
                .unwrap_or_default();
            names.sort();
            names
        };
        assert_eq!(
            list("tenants/"),
            [(a.clone(), 1), (b.clone(), 2), ("tenants/t/m/x".into(), 4)]
        );
        assert_eq!(known(day), ["16-A.parquet", "16-B.parquet"]);
        assert!(known("tenants/t/m").is_empty(), "not an L0 segment");
        // A listed upload is not looked at again: bytes written into it in place (which never
        // happens to one) go unseen, while those of other files are seen.
        std::fs::OpenOptions::new()
            .append(true)
            .open(root.join(&a))
            .unwrap()
            .write_all(b"++")
            .unwrap();
        std::fs::write(root.join("tenants/t/m/x"), b"55555").unwrap();
        assert_eq!(
            list("tenants/"),
            [(a.clone(), 1), (b.clone(), 2), ("tenants/t/m/x".into(), 5)]
        );
        // A listing of part of a directory keeps what it did not ask for, and learns new ones.
        std::fs::remove_file(root.join(&a)).unwrap();
        put(root, &c, b"333", PutMode::Create).unwrap();
        assert_eq!(list(&format!("{day}/17-")), [(c.clone(), 3)]);
        assert_eq!(known(day), ["16-B.parquet", "17-C.parquet"]);
        // What a fresh lister finds, and a deleted file forgotten.
        assert_eq!(list(&format!("{day}/")), listed(root, &format!("{day}/")));
        std::fs::remove_file(root.join(&b)).unwrap();
        std::fs::remove_file(root.join(&c)).unwrap();
        assert!(list(&format!("{day}/")).is_empty());
        assert!(lister.known_in(day).is_none());
    }

    /// The listing keeps object_store's local listing's answers (which it replaced): the same
    /// keys and sizes, staging files and broken links skipped, links followed.
    #[test]
    fn a_listing_answers_as_object_stores_local_listing() {
        use futures::TryStreamExt;
        use object_store::ObjectStore;

        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        for key in ["t/a/1", "t/a/2", "t/b/c/3", "t/bb", "v/4"] {
            put(root, key, key.as_bytes(), PutMode::Create).unwrap();
        }
        std::fs::write(root.join("t/a/5#3"), b"staging").unwrap();
        std::fs::write(root.join("t/a/6#x"), b"an ordinary name").unwrap();
        std::os::unix::fs::symlink(root.join("v"), root.join("t/linked")).unwrap();
        std::os::unix::fs::symlink(root.join("missing"), root.join("t/broken")).unwrap();
        let store = object_store::local::LocalFileSystem::new_with_prefix(root).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for prefix in ["t/", "t/a/", "t/b", "t/linked/", "v/", "x/"] {
            let dir = prefix
                .rsplit_once('/')
                .map(|(d, _)| object_store::path::Path::from(d));
            let mut theirs: Vec<(String, u64)> = runtime
                .block_on(store.list(dir.as_ref()).try_collect::<Vec<_>>())
                .unwrap_or_default()
                .into_iter()
                .map(|o| (o.location.to_string(), o.size))
                .filter(|(k, _)| k.starts_with(prefix))
                .collect();
            theirs.sort();
            assert_eq!(listed(root, prefix), theirs, "under {prefix}");
        }
        assert!(listed(root, "t/").iter().any(|(k, _)| k == "t/linked/4"));
    }
}
