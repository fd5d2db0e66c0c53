#![no_main]

// The segment reader turns the parquet crate's panics on corrupt bytes into errors
// (`guarded` in shared/src/storage/segment/read.rs), so this target prints panics instead of
// aborting at once as libfuzzer-sys's hook does; a panic that escapes the reader still
// reaches libfuzzer-sys's wrapper, which aborts: a crash, as before.
libfuzzer_sys::fuzz_target!(
    init: std::panic::set_hook(Box::new(|info| eprintln!("{info}"))),
    |data: &[u8]| flamelet::fuzzing::segment(data)
);
