//! Answers drawn from merged stacks: the flame graph JSON of the Pyroscope API and Connect
//! ([`flamebearer`], single and diff), Graphviz ([`dot`]), timelines ([`timeline`]), the
//! reference server's binary tree ([`tree_format`]) and pprof rebuilt from stored stacks
//! ([`pprof`]).
//!
//! Renderers take a [`crate::tree::Tree`] or stored stacks and return values or bytes; they read
//! no storage and import neither `ingest` nor `query`.

pub mod dot;
pub mod flamebearer;
pub mod pprof;
pub mod timeline;
pub mod tree_format;
