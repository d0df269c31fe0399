#![no_main]
//! See `fuzz/README.md` and `fuzz/harness/geojson_import.rs`.

include!("../harness/geojson_import.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| run(data));
