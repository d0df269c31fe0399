// Shared by the `tess_reader` fuzz target and `tiler/tests/fuzz_regressions.rs` (through
// `include!`), so the regression test runs exactly what the fuzzer ran.

/// Tiles decoded per input at most, so a large (but valid) directory stays quick.
const MAX_TILES_READ: usize = 512;

/// Opens `data` as a `.tess` cache with the default limits; if it opens, decodes every
/// tile it lists (up to [`MAX_TILES_READ`]), runs `verify` and reads a few regions.
pub fn run(data: &[u8]) {
    use tiler::{CacheReader, ReaderLimits};
    let path = std::path::Path::new("fuzz-input.tess");
    let Ok(reader) = CacheReader::from_bytes(path, data.to_vec(), ReaderLimits::default())
    else {
        return;
    };
    let _ = reader.verify(true, &|_| {});
    for coord in reader.grid().coords().take(MAX_TILES_READ) {
        let _ = reader.entry(coord);
        let _ = reader.read_tile(coord);
    }
    let (width, height) = (reader.metadata().width, reader.metadata().height);
    for level in 0..reader.grid().level_count().min(3) {
        let _ = tiler::read_cache_region(&reader, level, 0, 0, 64, 64);
        let (x, y) = (i64::from(width / 2), i64::from(height / 2));
        let _ = tiler::read_cache_region(&reader, level, x - 40, y - 40, 80, 80);
        let _ = tiler::read_cache_region(&reader, level, -10, -10, 20, 20);
    }
}
