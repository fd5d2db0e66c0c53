//! The storage capability (`flamelet:host/store`) over the `object_store` crate: a local
//! directory (default), memory, S3, GCS or Azure, chosen by `--storage`.
//!
//! Credentials and paths stay here; components only see keys. Local writes are fsynced (file
//! and directory) before the put returns, so an acknowledged ingest survives a crash.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::{Context, bail};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, PutMode, PutOptions, PutPayload};

use crate::metrics::{self, Op};

/// How many objects `get-many` reads at once.
const GET_MANY_CONCURRENCY: usize = 16;

/// Errors as the WIT interface reports them.
#[derive(Debug, Clone)]
pub enum StoreError {
    /// No such key.
    NotFound(String),
    /// Create-only put on an existing key.
    AlreadyExists(String),
    /// Not a valid key.
    InvalidKey(String),
    /// Anything else.
    Other(String),
}

/// A configured object store.
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// For local directories: the root, to fsync what is written.
    local_root: Option<PathBuf>,
    description: String,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

/// One listed object.
pub struct Listed {
    /// Key.
    pub key: String,
    /// Size.
    pub size: u64,
}

/// One page of a listing.
pub struct Page {
    /// Objects, sorted.
    pub objects: Vec<Listed>,
    /// Common prefixes (delimited listings).
    pub prefixes: Vec<String>,
    /// Token for the next page.
    pub next_token: Option<String>,
}

fn key_path(key: &str) -> Result<Path, StoreError> {
    let bad = || StoreError::InvalidKey(key.to_string());
    if key.is_empty()
        || key
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(bad());
    }
    Path::parse(key).map_err(|_| bad())
}

fn other(e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(e.to_string())
}

fn map_err(key: &str, e: object_store::Error) -> StoreError {
    match e {
        object_store::Error::NotFound { .. } => StoreError::NotFound(key.to_string()),
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => {
            StoreError::AlreadyExists(key.to_string())
        }
        e => other(e),
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
                store: Arc::new(store),
                description: format!("local directory {}", dir.display()),
                local_root: Some(dir),
            });
        }
        if scheme == "memory" {
            return Ok(Storage {
                store: Arc::new(object_store::memory::InMemory::new()),
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
            store,
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
        let path = key_path(key)?;
        metrics::object_store(Op::Get);
        let r = self.store.get(&path).await.map_err(|e| map_err(key, e))?;
        let bytes = r.bytes().await.map_err(|e| map_err(key, e))?;
        metrics::read_bytes(bytes.len());
        Ok(bytes)
    }

    /// Reads a byte range, clamped to the object's size.
    pub async fn get_range(&self, key: &str, start: u64, end: u64) -> Result<Bytes, StoreError> {
        let path = key_path(key)?;
        if end <= start {
            return Ok(Bytes::new());
        }
        let opts = GetOptions {
            range: Some(GetRange::Bounded(start..end)),
            ..Default::default()
        };
        metrics::object_store(Op::Get);
        match self.store.get_opts(&path, opts).await {
            Ok(r) => {
                let bytes = r.bytes().await.map_err(|e| map_err(key, e))?;
                metrics::read_bytes(bytes.len());
                Ok(bytes)
            }
            // A range past the end reads as empty, as the contract says ranges are clamped.
            Err(object_store::Error::Generic { .. })
                if self.head_size(&path).await.is_some_and(|s| start >= s) =>
            {
                Ok(Bytes::new())
            }
            Err(e) => Err(map_err(key, e)),
        }
    }

    async fn head_size(&self, path: &Path) -> Option<u64> {
        metrics::object_store(Op::Head);
        self.store.head(path).await.ok().map(|m| m.size)
    }

    /// Reads several objects concurrently.
    pub async fn get_many(&self, keys: Vec<String>) -> Vec<Result<Bytes, StoreError>> {
        futures::stream::iter(keys)
            .map(|k| async move { self.get(&k).await })
            .buffered(GET_MANY_CONCURRENCY)
            .collect()
            .await
    }

    /// Writes an object; with `create_only`, fails if it exists.
    pub async fn put(&self, key: &str, data: Vec<u8>, create_only: bool) -> Result<(), StoreError> {
        let path = key_path(key)?;
        let opts = PutOptions {
            mode: if create_only {
                PutMode::Create
            } else {
                PutMode::Overwrite
            },
            ..Default::default()
        };
        metrics::object_store(Op::Put);
        metrics::written_bytes(data.len());
        self.store
            .put_opts(&path, PutPayload::from(data), opts)
            .await
            .map_err(|e| map_err(key, e))?;
        if let Some(root) = &self.local_root {
            let file = root.join(key);
            tokio::task::spawn_blocking(move || sync_file_and_dir(&file))
                .await
                .map_err(other)?
                .map_err(other)?;
        }
        Ok(())
    }

    /// Lists keys under `prefix` after `token`, sorted, `limit` per page.
    pub async fn list(
        &self,
        prefix: &str,
        token: Option<String>,
        limit: u32,
        delimited: bool,
    ) -> Result<Page, StoreError> {
        // object_store lists by path segments: list the directory part, filter the rest.
        let (dir, _) = prefix.rsplit_once('/').unwrap_or(("", prefix));
        let dir_path = if dir.is_empty() {
            None
        } else {
            Some(key_path(dir)?)
        };
        metrics::object_store(Op::List);
        if delimited {
            let r = self
                .store
                .list_with_delimiter(dir_path.as_ref())
                .await
                .map_err(|e| map_err(prefix, e))?;
            let mut prefixes: Vec<String> = r
                .common_prefixes
                .iter()
                .map(|p| format!("{p}/"))
                .filter(|p| p.starts_with(prefix))
                .collect();
            prefixes.sort();
            let mut objects: Vec<Listed> = r
                .objects
                .into_iter()
                .filter(|o| o.location.as_ref().starts_with(prefix))
                .map(|o| Listed {
                    key: o.location.to_string(),
                    size: o.size,
                })
                .collect();
            objects.sort_by(|a, b| a.key.cmp(&b.key));
            return Ok(Page {
                objects,
                prefixes,
                next_token: None,
            });
        }
        let all: Vec<object_store::ObjectMeta> =
            match self.store.list(dir_path.as_ref()).try_collect().await {
                Ok(v) => v,
                Err(object_store::Error::NotFound { .. }) => Vec::new(),
                Err(e) => return Err(map_err(prefix, e)),
            };
        let mut keys: BTreeSet<(String, u64)> = BTreeSet::new();
        for o in all {
            let k = o.location.to_string();
            if k.starts_with(prefix) && token.as_ref().is_none_or(|t| k.as_str() > t.as_str()) {
                keys.insert((k, o.size));
            }
        }
        let limit = limit.max(1) as usize;
        let more = keys.len() > limit;
        let objects: Vec<Listed> = keys
            .into_iter()
            .take(limit)
            .map(|(key, size)| Listed { key, size })
            .collect();
        let next_token = if more {
            objects.last().map(|o| o.key.clone())
        } else {
            None
        };
        Ok(Page {
            objects,
            prefixes: Vec::new(),
            next_token,
        })
    }

    /// Deletes an object; missing is fine.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = key_path(key)?;
        metrics::object_store(Op::Delete);
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(map_err(key, e)),
        }
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

fn sync_file_and_dir(file: &std::path::Path) -> std::io::Result<()> {
    std::fs::File::open(file)?.sync_all()?;
    if let Some(dir) = file.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
