#![no_main]

// Prints panics instead of aborting at once, as the segment target does: the segment reader
// turns the parquet crate's panics into errors, and a panic that escapes it still aborts.
libfuzzer_sys::fuzz_target!(
    init: std::panic::set_hook(Box::new(|info| eprintln!("{info}"))),
    |data: &[u8]| flamelet::fuzzing::segment_query(data)
);
