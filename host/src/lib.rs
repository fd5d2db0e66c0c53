//! The native host behind the `flamelet` binary: reads `spin.toml`, runs the WASM components
//! under wasmtime with per-request limits, serves HTTP and cron, and provides the storage
//! capability. `main.rs` is the CLI on top.

pub mod auth;
pub mod census;
pub mod config;
pub mod metrics;
pub mod outbound;
pub mod package;
pub mod runtime;
pub mod server;
pub mod spin;
pub mod storage;
pub mod turns;
