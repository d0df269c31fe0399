//! Pixel regions read back from a cache, in OpenSlide's `read_region` convention.

use crate::cache::CacheReader;
use crate::error::{Result, TilerError};
use crate::grid::TileCoord;
use crate::source::{clamp_region, fill_from_tiles};
use image::RgbImage;

/// Largest region returned at once, in pixels.
pub const MAX_REGION_PIXELS: u64 = 1 << 28;

/// Reads `width × height` pixels of cache level `level` whose top-left corner is
/// (`x`, `y`) in level-0 pixels. Outside the image is background white.
pub fn read_cache_region(
    cache: &CacheReader,
    level: u32,
    x: i64,
    y: i64,
    width: u32,
    height: u32,
) -> Result<RgbImage> {
    let grid = cache.grid();
    let size = grid.level(level).ok_or_else(|| {
        TilerError::Usage(format!(
            "{}: level {level} does not exist (the cache has {})",
            cache.path().display(),
            grid.level_count()
        ))
    })?;
    check_region_size(width, height)?;
    let scale = 1i64 << level;
    let (lx, ly) = (x.div_euclid(scale), y.div_euclid(scale));
    let t = grid.tile_size();
    clamp_region(
        size.width,
        size.height,
        lx,
        ly,
        width,
        height,
        &|inside, out| {
            fill_from_tiles(inside, out, t, t, |col, row| {
                let tile = cache.read_tile(TileCoord::new(level, col, row, grid)?)?;
                Ok((tile.rgb, tile.width))
            })
        },
    )
}

/// Refuses empty and oversized regions.
pub fn check_region_size(width: u32, height: u32) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(TilerError::Usage(format!(
            "region {width}×{height} is empty"
        )));
    }
    if u64::from(width) * u64::from(height) > MAX_REGION_PIXELS {
        return Err(TilerError::Usage(format!(
            "region {width}×{height} is over the {MAX_REGION_PIXELS}-pixel limit"
        )));
    }
    Ok(())
}
