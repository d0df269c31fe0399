// Shared by the `tiff_source` fuzz target and `tiler/tests/fuzz_regressions.rs` (through
// `include!`), so the regression test runs exactly what the fuzzer ran.

/// Opens `data` with the pure-Rust TIFF reader (it reads from a path, so the bytes go to a
/// temporary file) and, if it opens, reads a few regions of its first levels: the top-left
/// tile, one across the centre and one hanging over the bottom-right edge.
pub fn run(data: &[u8]) {
    use std::io::Write;
    use tiler::SlideSource;
    let Ok(mut file) = tempfile::NamedTempFile::new() else {
        return;
    };
    if file.write_all(data).and_then(|()| file.flush()).is_err() {
        return;
    }
    let Ok(source) = tiler::TiffSource::open(file.path()) else {
        return;
    };
    let info = source.info().clone();
    for (index, level) in info.levels.iter().enumerate().take(3) {
        let level_index = index as u32;
        let downsample = level.downsample;
        let tile_w = level.tile_width.unwrap_or(64).clamp(1, 256);
        let tile_h = level.tile_height.unwrap_or(64).clamp(1, 256);
        let _ = source.read_region(level_index, 0, 0, tile_w, tile_h);
        let cx = (f64::from(level.width / 2) * downsample) as i64;
        let cy = (f64::from(level.height / 2) * downsample) as i64;
        let _ = source.read_region(level_index, cx - 50, cy - 50, 100, 100);
        let ex = (f64::from(level.width) * downsample) as i64;
        let ey = (f64::from(level.height) * downsample) as i64;
        let _ = source.read_region(level_index, ex - 20, ey - 20, 40, 40);
    }
}
