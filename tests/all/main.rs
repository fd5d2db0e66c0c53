//! End-to-end tests: the real `flamelet` binary serving the real WASM components on a real
//! directory. One binary, one module per area.

mod auth;
mod bench;
mod clients;
mod compact;
mod corpus;
mod crash;
mod deploy;
mod faults;
mod host;
mod hostile;
mod ingest;
mod metrics;
mod profiles;
mod provider;
mod querier;
mod query;
mod retention;
mod scale;
mod scrape;
mod status;
mod storage;
mod ui;
mod util;
