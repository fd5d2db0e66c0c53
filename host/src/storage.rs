//! The storage capability (`flamelet:host/store`) over the `object_store` crate: a local
//! directory (default), memory, S3, GCS or Azure, chosen by `--storage`.
//!
//! Credentials and paths stay here; components only see keys. Local writes are fsynced (file
//! and directory) before the put returns, so an acknowledged ingest survives a crash.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::{Context, bail};
use bytes::Bytes;
use flamelet::storage::store::{ListPage, PutMode, StoreError};
use flamelet_bucket::{Bucket, Listing};
use object_store::ObjectStore;

use crate::metrics::{self, Op};

/// A configured object store.
pub struct Storage {
    bucket: Bucket,
    /// For local directories: the root, to fsync what is written.
    local_root: Option<PathBuf>,
    description: String,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

fn other(e: impl std::fmt::Display) -> StoreError {
    StoreError::Other {
        message: e.to_string(),
    }
}

impl Storage {
    /// Opens storage from `--storage`: a directory path, `file://`, `memory://`,
    /// `s3://bucket[/prefix]?endpoint=…&region=…&allow_http=true`, `gs://bucket`, `az://container`.
    /// Cloud credentials come from the usual environment variables (`AWS_*`, `GOOGLE_*`,
    /// `AZURE_*`); query parameters override them.
    pub fn open(spec: &str) -> anyhow::Result<Self> {
        let (scheme, rest) = spec.split_once("://").unwrap_or(("", spec));
        if scheme.is_empty() || scheme == "file" {
            let dir = PathBuf::from(rest);
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let dir = dir.canonicalize()?;
            let store = object_store::local::LocalFileSystem::new_with_prefix(&dir)?;
            return Ok(Storage {
                bucket: Bucket::new(Arc::new(store), Listing::Unsorted),
                description: format!("local directory {}", dir.display()),
                local_root: Some(dir),
            });
        }
        if scheme == "memory" {
            return Ok(Storage {
                bucket: Bucket::new(
                    Arc::new(object_store::memory::InMemory::new()),
                    Listing::Sorted,
                ),
                local_root: None,
                description: "memory".into(),
            });
        }
        let url = url::Url::parse(spec).with_context(|| format!("parsing storage URL `{spec}`"))?;
        let options: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let bucket_url = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
        let store: Arc<dyn ObjectStore> = match scheme {
            "s3" | "s3a" => {
                use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
                let b = AmazonS3Builder::from_env().with_url(&bucket_url);
                Arc::new(
                    configure(
                        b,
                        &options,
                        "S3",
                        |b: AmazonS3Builder, k: AmazonS3ConfigKey, v: &str| b.with_config(k, v),
                    )?
                    .build()?,
                )
            }
            "gs" => {
                use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
                let b = GoogleCloudStorageBuilder::from_env().with_url(&bucket_url);
                Arc::new(
                    configure(
                        b,
                        &options,
                        "GCS",
                        |b: GoogleCloudStorageBuilder, k: GoogleConfigKey, v: &str| {
                            b.with_config(k, v)
                        },
                    )?
                    .build()?,
                )
            }
            "az" | "azure" | "abfs" => {
                use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
                let b = MicrosoftAzureBuilder::from_env().with_url(&bucket_url);
                Arc::new(
                    configure(
                        b,
                        &options,
                        "Azure",
                        |b: MicrosoftAzureBuilder, k: AzureConfigKey, v: &str| b.with_config(k, v),
                    )?
                    .build()?,
                )
            }
            other => bail!(
                "unsupported storage scheme `{other}`: use a path, file://, memory://, s3://, gs:// or az://"
            ),
        };
        let prefix = url.path().trim_matches('/');
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            store
        } else {
            Arc::new(object_store::prefix::PrefixStore::new(store, prefix))
        };
        Ok(Storage {
            bucket: Bucket::new(store, Listing::Sorted),
            local_root: None,
            description: format!("{bucket_url}/{prefix}"),
        })
    }

    /// Says where data lives, for logs.
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// Reads a whole object.
    pub async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        metrics::object_store(Op::Get);
        let bytes = self.bucket.get(key).await?;
        metrics::read_bytes(bytes.len());
        Ok(bytes)
    }

    /// Reads a byte range, clamped to the object's size.
    pub async fn get_range(&self, key: &str, start: u64, end: u64) -> Result<Bytes, StoreError> {
        metrics::object_store(Op::Get);
        let bytes = self.bucket.get_range(key, start, end).await?;
        metrics::read_bytes(bytes.len());
        Ok(bytes)
    }

    /// Reads several objects concurrently; answers in the order of `keys`.
    pub async fn get_many(&self, keys: Vec<String>) -> Vec<Result<Bytes, StoreError>> {
        for _ in &keys {
            metrics::object_store(Op::Get);
        }
        let answers = self.bucket.get_many(keys).await;
        for bytes in answers.iter().flatten() {
            metrics::read_bytes(bytes.len());
        }
        answers
    }

    /// Writes an object; a create-only put fails if the key exists. Local writes are fsynced
    /// (file and directory) before this returns.
    pub async fn put(&self, key: &str, data: Bytes, mode: PutMode) -> Result<(), StoreError> {
        metrics::object_store(Op::Put);
        metrics::written_bytes(data.len());
        self.bucket.put(key, data, mode).await?;
        if let Some(root) = &self.local_root {
            let file = root.join(key);
            tokio::task::spawn_blocking(move || sync_file_and_dir(&file))
                .await
                .map_err(other)?
                .map_err(other)?;
        }
        if flamelet::storage::keys::is_quarantine_record(key) {
            metrics::quarantined();
        }
        Ok(())
    }

    /// Removes staging files of local puts that were interrupted (`KEY#N`, which listings
    /// skip and nothing else removes) once they are older than `age`: a put under way is far
    /// younger. Returns how many went; other storage has none.
    pub fn sweep_staging(&self, age: std::time::Duration) -> usize {
        let Some(root) = &self.local_root else {
            return 0;
        };
        let mut removed = 0;
        let mut dirs = vec![root.clone()];
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
        if removed > 0 {
            tracing::info!("removed {removed} staging files of interrupted writes");
        }
        removed
    }

    /// Lists keys under `prefix` after `token`, sorted, `limit` per page.
    pub async fn list(
        &self,
        prefix: &str,
        token: Option<&str>,
        limit: u32,
        delimited: bool,
    ) -> Result<ListPage, StoreError> {
        metrics::object_store(Op::List);
        self.bucket.list(prefix, token, limit, delimited).await
    }

    /// Deletes an object; missing is fine.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        metrics::object_store(Op::Delete);
        self.bucket.delete(key).await
    }
}

/// Applies `?key=value` options of a storage URL to a cloud store builder.
fn configure<B, K>(
    mut builder: B,
    options: &[(String, String)],
    what: &str,
    set: impl Fn(B, K, &str) -> B,
) -> anyhow::Result<B>
where
    K: FromStr,
{
    for (k, v) in options {
        let key = K::from_str(k).map_err(|_| anyhow::anyhow!("unknown {what} option `{k}`"))?;
        builder = set(builder, key, v);
    }
    Ok(builder)
}

/// A staging file of the local store: `NAME#DIGITS`.
fn is_staging_file(path: &std::path::Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.rsplit_once('#'))
        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn sync_file_and_dir(file: &std::path::Path) -> std::io::Result<()> {
    std::fs::File::open(file)?.sync_all()?;
    if let Some(dir) = file.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
