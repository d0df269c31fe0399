#![no_main]
//! See `fuzz/README.md` and `fuzz/harness/tess_reader.rs`.

include!("../harness/tess_reader.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| run(data));
