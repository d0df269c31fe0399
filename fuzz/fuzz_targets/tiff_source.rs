#![no_main]
//! See `fuzz/README.md` and `fuzz/harness/tiff_source.rs`.

include!("../harness/tiff_source.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| run(data));
