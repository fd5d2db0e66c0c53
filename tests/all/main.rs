//! End-to-end tests: the real `flamelet` binary serving the real WASM components on a real
//! directory. One binary, one module per area.

mod bench;
mod clients;
mod compact;
mod corpus;
mod host;
mod ingest;
mod profiles;
mod querier;
mod query;
mod storage;
mod util;
