//! The storage capability (`flamelet:host/store`) over the `object_store` crate: a local
//! directory (default), memory, S3, GCS or Azure, chosen by `--storage`.
//!
//! Credentials and paths stay here; components only see keys. Local writes are fsynced (file,
//! directory, and a new directory's parent) before the put returns, so an acknowledged ingest
//! survives a crash (`local`).

use std::ops::Range;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::{Context, bail};
use bytes::Bytes;
use flamelet::storage::store::{ListPage, PutMode, StoreError};
use flamelet_bucket::{Bucket, ListAll, Listing};
use object_store::ObjectStore;

use crate::metrics::{self, Op};

mod local;

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
            let lister = Arc::new(local::Lister::new(dir.clone()));
            let list_all = ListAll::new(move |prefix| {
                let (lister, prefix) = (lister.clone(), prefix.to_string());
                Box::pin(async move {
                    // One trip through the blocking pool for the whole walk.
                    tokio::task::spawn_blocking(move || lister.list(&prefix))
                        .await
                        .map_err(other)?
                })
            });
            return Ok(Storage {
                bucket: Bucket::new(Arc::new(store), Listing::Unsorted).with_list_all(list_all),
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
        self.read(key, None).await
    }

    /// Reads a byte range, clamped to the object's size.
    pub async fn get_range(&self, key: &str, start: u64, end: u64) -> Result<Bytes, StoreError> {
        self.read(key, Some(start..end)).await
    }

    /// Reads several objects concurrently (a local directory's one after another, each
    /// a page-cache read); answers in the order of `keys`.
    pub async fn get_many(&self, keys: Vec<String>) -> Vec<Result<Bytes, StoreError>> {
        let Some(root) = &self.local_root else {
            let answers = self.bucket.get_many(keys).await;
            return answers.into_iter().map(counted).collect();
        };
        let mut answers = Vec::with_capacity(keys.len());
        for key in &keys {
            answers.push(counted(local::read(root, key, None).await));
        }
        answers
    }

    async fn read(&self, key: &str, range: Option<Range<u64>>) -> Result<Bytes, StoreError> {
        counted(match (&self.local_root, range) {
            (Some(root), range) => local::read(root, key, range).await,
            (None, None) => self.bucket.get(key).await,
            (None, Some(r)) => self.bucket.get_range(key, r.start, r.end).await,
        })
    }

    /// Writes an object; a create-only put fails if the key exists. Local writes are fsynced
    /// (file and directory) before this returns.
    pub async fn put(&self, key: &str, data: Bytes, mode: PutMode) -> Result<(), StoreError> {
        metrics::object_store(Op::Put);
        metrics::written_bytes(data.len());
        match &self.local_root {
            Some(root) => {
                let (root, key) = (root.clone(), key.to_string());
                tokio::task::spawn_blocking(move || local::put(&root, &key, &data, mode))
                    .await
                    .map_err(other)??;
            }
            None => self.bucket.put(key, data, mode).await?,
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
        let removed = local::sweep_staging(root, age);
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

/// Counts one read, and its bytes when it succeeded.
fn counted(read: Result<Bytes, StoreError>) -> Result<Bytes, StoreError> {
    metrics::object_store(Op::Get);
    if let Ok(bytes) = &read {
        metrics::read_bytes(bytes.len());
    }
    read
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
