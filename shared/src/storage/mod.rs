//! Where data lives: the object-store contract ([`store`]), the object keys ([`keys`], the only
//! place a key is spelled), the per-day manifests ([`manifest`]), the segment format
//! ([`segment`]), reading a segment by ranges ([`chunks`]) and the read deadline a query
//! keeps ([`deadline`]).
//!
//! Storage knows nothing of uploads or queries: it imports neither `ingest` nor `query`.
//! Formats and safety arguments: docs/storage.md.

pub mod chunks;
#[cfg(any(test, feature = "testsuite"))]
pub mod conformance;
pub mod deadline;
pub mod keys;
pub mod manifest;
#[cfg(test)]
pub(crate) mod recording;
pub mod segment;
pub mod store;
pub mod thrift_shape;
pub mod versioned;
