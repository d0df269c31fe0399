#![no_main]
//! See `fuzz/README.md` and `fuzz/harness/iiif_request.rs`.

include!("../harness/iiif_request.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| run(data));
