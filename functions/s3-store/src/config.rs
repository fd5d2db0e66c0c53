//! The provider's settings, from environment variables: Spin passes a component's
//! `[component.x.environment]`, `wasmtime serve` its `--env` flags.

use std::sync::Arc;

use flamelet::error::ConfigError;
use flamelet::storage::store::StoreError;
use flamelet_bucket::s3_settings::{
    ACCESS_KEY_ID, ALLOW_HTTP, BUCKET, DEFAULT_REGION, ENDPOINT, PREFIX, REGION, SECRET_ACCESS_KEY,
    SESSION_TOKEN,
};
use flamelet_bucket::{Bucket, Listing};
use object_store::aws::AmazonS3Builder;
use object_store::{ObjectStore, RetryConfig};

use crate::transport::WasiConnector;

/// Where and how to reach the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    bucket: String,
    prefix: String,
    endpoint: Option<String>,
    region: String,
    allow_http: bool,
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

fn missing(name: &str, what: &str) -> StoreError {
    StoreError::Config {
        message: format!("{name} is not set: {what}"),
    }
}

fn bad(e: ConfigError) -> StoreError {
    StoreError::Config {
        message: e.to_string(),
    }
}

fn text(get: &impl Fn(&str) -> Option<String>, name: &'static str) -> Option<String> {
    get(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

impl S3Config {
    /// Reads the settings of this instance's environment.
    pub fn from_env() -> Result<S3Config, StoreError> {
        S3Config::read(&|name| std::env::var(name).ok())
    }

    /// Reads the settings through `get`; a missing or bad one is a [`StoreError::Config`]
    /// naming it.
    pub fn read(get: &impl Fn(&str) -> Option<String>) -> Result<S3Config, StoreError> {
        let bucket = text(get, BUCKET).ok_or_else(|| missing(BUCKET, "name the S3 bucket"))?;
        let allow_http =
            ConfigError::read(get, ALLOW_HTTP, "true or false", |v| v.parse::<bool>().ok())
                .map_err(bad)?
                .unwrap_or(false);
        let endpoint = ConfigError::read(
            get,
            ENDPOINT,
            "an http:// or https:// URL without a path",
            |v| {
                let url = url::Url::parse(v).ok()?;
                let plain = url.scheme() == "http";
                let ok = (plain || url.scheme() == "https")
                    && url.host_str().is_some()
                    && url.path().trim_matches('/').is_empty();
                ok.then(|| (v.trim_end_matches('/').to_string(), plain))
            },
        )
        .map_err(bad)?;
        if let Some((url, true)) = &endpoint
            && !allow_http
        {
            return Err(StoreError::Config {
                message: format!(
                    "{ENDPOINT}=`{url}` is plain HTTP: set {ALLOW_HTTP}=true to allow it"
                ),
            });
        }
        let region = [REGION, "AWS_REGION", "AWS_DEFAULT_REGION"]
            .into_iter()
            .find_map(|name| text(get, name))
            .unwrap_or_else(|| DEFAULT_REGION.to_string());
        let access_key_id = text(get, ACCESS_KEY_ID)
            .ok_or_else(|| missing(ACCESS_KEY_ID, "give the S3 credentials"))?;
        let secret_access_key = text(get, SECRET_ACCESS_KEY)
            .ok_or_else(|| missing(SECRET_ACCESS_KEY, "give the S3 credentials"))?;
        Ok(S3Config {
            bucket,
            prefix: text(get, PREFIX)
                .map(|p| p.trim_matches('/').to_string())
                .unwrap_or_default(),
            endpoint: endpoint.map(|(url, _)| url),
            region,
            allow_http,
            access_key_id,
            secret_access_key,
            session_token: text(get, SESSION_TOKEN),
        })
    }

    /// The bucket as the storage contract's [`Bucket`].
    pub fn bucket(&self) -> Result<Bucket, StoreError> {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&self.bucket)
            .with_region(&self.region)
            .with_allow_http(self.allow_http)
            .with_access_key_id(&self.access_key_id)
            .with_secret_access_key(&self.secret_access_key)
            .with_http_connector(WasiConnector)
            // Retries happen in the transport: object_store's backoff needs a tokio timer.
            .with_retry(RetryConfig {
                max_retries: 0,
                ..RetryConfig::default()
            });
        if let Some(endpoint) = &self.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(token) = &self.session_token {
            builder = builder.with_token(token);
        }
        let store = builder.build().map_err(|e| StoreError::Config {
            message: format!("S3 bucket `{}`: {e}", self.bucket),
        })?;
        let store: Arc<dyn ObjectStore> = if self.prefix.is_empty() {
            Arc::new(store)
        } else {
            Arc::new(object_store::prefix::PrefixStore::new(
                store,
                self.prefix.as_str(),
            ))
        };
        Ok(Bucket::new(store, Listing::Sorted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<S3Config, StoreError> {
        S3Config::read(&|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    const CREDS: [(&str, &str); 3] = [
        (BUCKET, "profiles"),
        (ACCESS_KEY_ID, "id"),
        (SECRET_ACCESS_KEY, "secret"),
    ];

    fn message(e: StoreError) -> String {
        match e {
            StoreError::Config { message } => message,
            other => panic!("not a configuration error: {other:?}"),
        }
    }

    #[test]
    fn defaults_and_fallbacks() {
        let c = read(&CREDS).unwrap();
        assert_eq!(c.region, "us-east-1");
        assert_eq!(
            (c.prefix.as_str(), c.endpoint, c.allow_http),
            ("", None, false)
        );
        let mut vars = CREDS.to_vec();
        vars.extend([("AWS_REGION", "eu-west-1"), (PREFIX, "/prod/")]);
        let c = read(&vars).unwrap();
        assert_eq!(
            (c.region.as_str(), c.prefix.as_str()),
            ("eu-west-1", "prod")
        );
    }

    #[test]
    fn each_missing_or_bad_setting_is_named() {
        assert!(message(read(&[]).unwrap_err()).starts_with("FLAMELET_S3_BUCKET is not set"));
        assert!(
            message(read(&CREDS[..2]).unwrap_err()).starts_with("AWS_SECRET_ACCESS_KEY is not set")
        );
        let mut vars = CREDS.to_vec();
        vars.push((ALLOW_HTTP, "maybe"));
        assert_eq!(
            message(read(&vars).unwrap_err()),
            "FLAMELET_S3_ALLOW_HTTP=`maybe` is not true or false"
        );
        let mut vars = CREDS.to_vec();
        vars.push((ENDPOINT, "127.0.0.1:5000"));
        assert!(
            message(read(&vars).unwrap_err()).starts_with("FLAMELET_S3_ENDPOINT=`127.0.0.1:5000`")
        );
        vars.pop();
        vars.push((ENDPOINT, "http://127.0.0.1:5000/"));
        assert!(message(read(&vars).unwrap_err()).contains("set FLAMELET_S3_ALLOW_HTTP=true"));
        vars.push((ALLOW_HTTP, "true"));
        assert_eq!(
            read(&vars).unwrap().endpoint.as_deref(),
            Some("http://127.0.0.1:5000")
        );
    }
}
