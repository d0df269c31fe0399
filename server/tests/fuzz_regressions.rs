//! Feeds every committed fuzz input (`fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`)
//! of the server's fuzz targets through the same harness the fuzzer runs; errors are fine,
//! panics are not. See `fuzz/README.md`.

use std::path::{Path, PathBuf};

mod geojson_import {
    include!("../../fuzz/harness/geojson_import.rs");
}

mod iiif_request {
    include!("../../fuzz/harness/iiif_request.rs");
}

/// Every file of the corpus and regression directories of `target`.
fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut files = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(target)) else {
            continue;
        };
        files.extend(
            entries
                .filter_map(|e| Some(e.ok()?.path()))
                .filter(|p| p.is_file()),
        );
    }
    files.sort();
    files
}

fn feed(target: &str, run: fn(&[u8])) {
    let files = inputs(target);
    assert!(!files.is_empty(), "no fuzz inputs for {target}");
    for file in files {
        let data = std::fs::read(&file).expect("readable fuzz input");
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{target} panicked on {}", file.display());
    }
}

#[test]
fn geojson_import_inputs_do_not_panic() {
    feed("geojson_import", geojson_import::run);
}

#[test]
fn iiif_request_inputs_do_not_panic() {
    feed("iiif_request", iiif_request::run);
}
