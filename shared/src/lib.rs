//! Flamelet's core: everything that decides an answer.
//!
//! The WASM components in `functions/` and the native host in `host/` are thin adapters around
//! this crate. It has no WASM, HTTP or cloud dependency: it takes bytes and parameters, reads
//! and writes objects through the small [`storage::store::ObjectStore`] trait, and returns
//! values.
//!
//! Brief overview, grouped by the data path:
//! - [`wire`]: bytes on the wire: bounded gzip and body limits, Connect, protobuf messages,
//!   the pprof and JFR readers.
//! - [`ingest`] turns an upload (folded, pprof, JFR, OTLP, Push…) into normalised
//!   [`profile::Profile`]s and writes one immutable segment per request.
//! - [`storage`]: object keys, manifests, the segment format and ranged segment reads.
//! - [`query`] finds the segments of a time range, filters series with a [`selector`] and
//!   samples with a [`query::SampleFilter`], and merges stacks into a [`tree`].
//! - [`render`] draws merged stacks: flame graphs, dot, timelines, the tree format, pprof.
//! - [`compact`] merges small segments into larger ones and publishes manifest versions.
//! - [`metrics`]: export rules evaluated over profiles into exact counters.
//! - [`adhoc`] renders an uploaded file through ingest's parse and render's encoding, storing
//!   nothing.
//!
//! What may import what (no circles): `wire`, `storage` and `render` never import `ingest` or
//! `query`; `query` never imports `ingest` (`adhoc` is the one place that uses both ingest's
//! parse and render). docs/architecture.md draws the tree.
#![deny(missing_docs)]

pub mod adhoc;
pub mod auth;
pub mod census;
pub mod compact;
pub mod error;
pub mod fuzzing;
pub mod ingest;
pub mod limits;
pub mod metrics;
pub mod profile;
pub mod query;
pub mod render;
pub mod retention;
pub mod scrape;
pub mod selector;
pub mod storage;
pub mod tenant;
#[cfg(test)]
mod testing;
pub mod time;
pub mod tree;
pub mod wire;

pub use error::{Error, ErrorKind, Result};

/// The hash map of the ingest's hot paths (interning symbols, the stack trie): foldhash,
/// hashbrown's own default, seeded per process, several times faster than SipHash here.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// The hash set beside [`FastMap`]: for sets of keys built per query (a manifest's covered
/// uploads).
pub type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
