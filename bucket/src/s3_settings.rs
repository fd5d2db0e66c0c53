//! The S3 storage provider's settings, by the environment variable names it reads
//! (`functions/s3-store`) and `flamelet package` writes into `dist/spin.toml`: one spelling
//! for both.

/// The bucket (required).
pub const BUCKET: &str = "FLAMELET_S3_BUCKET";
/// A key prefix inside the bucket, so several deployments can share one.
pub const PREFIX: &str = "FLAMELET_S3_PREFIX";
/// The S3 endpoint, for S3-compatible servers (MinIO, moto…); AWS when unset.
pub const ENDPOINT: &str = "FLAMELET_S3_ENDPOINT";
/// The region; else `AWS_REGION`, `AWS_DEFAULT_REGION`, else [`DEFAULT_REGION`].
pub const REGION: &str = "FLAMELET_S3_REGION";
/// `true` to allow an `http://` endpoint.
pub const ALLOW_HTTP: &str = "FLAMELET_S3_ALLOW_HTTP";
/// The credentials, as every AWS tool names them.
pub const ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
/// The secret that goes with [`ACCESS_KEY_ID`].
pub const SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
/// A session token, for temporary credentials.
pub const SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
/// The region when no setting names one.
pub const DEFAULT_REGION: &str = "us-east-1";
