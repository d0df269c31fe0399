//! Feeds every committed fuzz input (`fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`)
//! of the tiler's fuzz targets through the same harness the fuzzer runs; errors are fine,
//! panics are not. See `fuzz/README.md`.

use std::path::{Path, PathBuf};

mod tess_reader {
    include!("../../fuzz/harness/tess_reader.rs");
}

mod tiff_source {
    include!("../../fuzz/harness/tiff_source.rs");
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
fn tess_reader_inputs_do_not_panic() {
    feed("tess_reader", tess_reader::run);
}

#[test]
fn tiff_source_inputs_do_not_panic() {
    feed("tiff_source", tiff_source::run);
}

/// A 5.5 KB TIFF whose JPEG tile declares a far larger image than the TIFF tile: it took
/// over 10 s to decode; now it is refused, naming both sizes, before decoding.
#[test]
fn oversized_jpeg_tile_is_refused_before_decoding() {
    use tiler::SlideSource;
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions/tiff_source/timeout-jpeg-tile-declares-huge-size");
    let source = tiler::TiffSource::open(&path).expect("the file opens");
    let error = (0..3)
        .find_map(|level| source.read_region(level, 0, 0, 256, 256).err())
        .expect("some tile is refused");
    assert!(error.to_string().contains("larger than the"), "{error}");
}
