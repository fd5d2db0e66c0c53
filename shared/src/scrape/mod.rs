//! Pull mode (issue #20): what the scrape component decides. [`delta`] turns consecutive
//! scrapes of a cumulative profile (Go's heap allocations, mutex and block contention) into
//! what happened between them.

pub mod delta;
