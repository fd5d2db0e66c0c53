//! Flamelet's core: everything that decides an answer.
//!
//! The WASM components in `functions/` and the native host in `host/` are thin adapters around
//! this crate. It has no WASM, HTTP or cloud dependency: it takes bytes and parameters, reads
//! and writes objects through the small [`store::ObjectStore`] trait, and returns values.
//!
//! Brief overview of the roles:
//! - [`ingest`] turns an upload (folded, lines…) into normalised [`profile::Profile`]s and
//!   writes one immutable [`segment`] per request.
//! - [`query`] finds the segments of a time range ([`manifest`], [`keys`]), filters series
//!   with a [`selector`], merges stacks into a [`tree`] and renders it ([`flamebearer`],
//!   [`timeline`], [`dot`]).
//! - [`compact`] merges small segments into larger ones and publishes manifest versions.
#![deny(missing_docs)]

pub mod compact;
pub mod connect;
pub mod dot;
pub mod error;
pub mod flamebearer;
pub mod ingest;
pub mod jfr;
pub mod keys;
pub mod manifest;
pub mod pprof;
pub mod profile;
pub mod proto;
pub mod querier;
pub mod query;
pub mod segment;
pub mod selector;
pub mod store;
pub mod tenant;
#[cfg(test)]
mod testing;
pub mod time;
pub mod timeline;
pub mod tree;

pub use error::{Error, ErrorKind, Result};

/// The hash map of the ingest's hot paths (interning symbols, the stack trie): foldhash,
/// hashbrown's own default, seeded per process, several times faster than SipHash here.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
