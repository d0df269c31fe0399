//! Feeds every fuzz input (`fuzz/corpus/<target>/`, `fuzz/regressions/<target>/` and the
//! shared seeds `fuzz/run.sh` adds, see `fuzz/harness/inputs.rs`)
//! of the server's fuzz targets through the same harness the fuzzer runs; errors are fine,
//! panics are not. See `fuzz/README.md`.

mod geojson_import {
    include!("../../fuzz/harness/geojson_import.rs");
}

mod iiif_request {
    include!("../../fuzz/harness/iiif_request.rs");
}

include!("../../fuzz/harness/inputs.rs");

#[test]
fn geojson_import_inputs_do_not_panic() {
    feed("geojson_import", geojson_import::run);
}

#[test]
fn iiif_request_inputs_do_not_panic() {
    feed("iiif_request", iiif_request::run);
}
