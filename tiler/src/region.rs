//! Pixel regions read back from a cache, in OpenSlide's `read_region` convention.

use crate::cache::CacheReader;
use crate::error::{Result, TilerError};
use crate::grid::TileCoord;
use crate::pixels;
use crate::source::clamp_region;
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
        &|x0, y0, w, h, out, ox, oy| {
            for row in y0 / t..=(y0 + h - 1) / t {
                for col in x0 / t..=(x0 + w - 1) / t {
                    let coord = TileCoord::new(level, col, row, grid)?;
                    let tile = cache.read_tile(coord)?;
                    let (cx, cy) = (col * t, row * t);
                    let ix0 = x0.max(cx);
                    let iy0 = y0.max(cy);
                    let ix1 = (x0 + w).min(cx + tile.width);
                    let iy1 = (y0 + h).min(cy + tile.height);
                    let out_w = out.width();
                    pixels::copy_rect(
                        &tile.rgb,
                        tile.width,
                        (ix0 - cx, iy0 - cy),
                        out,
                        out_w,
                        (ix0 - x0 + ox, iy0 - y0 + oy),
                        ix1 - ix0,
                        iy1 - iy0,
                    );
                }
            }
            Ok(())
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
