#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flamelet::fuzzing::multipart(data));
