//! Feeds every fuzz input (`fuzz/corpus/<target>/`, `fuzz/regressions/<target>/` and the
//! shared seeds `fuzz/run.sh` adds, see `fuzz/harness/inputs.rs`)
//! of the tiler's fuzz targets through the same harness the fuzzer runs; errors are fine,
//! panics are not. See `fuzz/README.md`.

use std::path::Path;

mod tess_reader {
    include!("../../fuzz/harness/tess_reader.rs");
}

mod tiff_source {
    include!("../../fuzz/harness/tiff_source.rs");
}

include!("../../fuzz/harness/inputs.rs");

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
