//! Test harness: the real `flamelet` binary on a free port with a temporary data directory.

pub mod s3;
pub mod server;

pub use server::FlameletServer;

/// The worked example of api.md, as folded stacks.
pub const WORKED_EXAMPLE: &str = "a;b;e 1\na;c 2\na;c;d 1\n";

/// A unix time (seconds) well in the past, so defaults of "now" never interfere.
pub const T0: i64 = 1_700_000_000;
