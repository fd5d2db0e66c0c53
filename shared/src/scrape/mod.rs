//! Pull mode (issue #20): what the scrape component decides.
//!
//! - [`config`]: the scrape jobs of the configuration file, checked; each target's URLs,
//!   deadlines and schedule.
//! - [`pass`]: one pass over the due targets, fetched together through the component's
//!   [`pass::Fetcher`]; per target one L0 segment and a health record (`GET /targets`).
//! - [`delta`]: consecutive scrapes of a cumulative profile (Go's heap allocations, mutex and
//!   block contention) become what happened between them.

pub mod config;
pub mod delta;
pub mod pass;
#[cfg(any(test, feature = "testsuite"))]
pub mod testsuite;

pub use config::{Job, Jobs, SCRAPE_CONFIGS_ENV, Target};
pub use pass::{Fetcher, ScrapeReport, TargetHealth};
