//! Pixel regions read back from a cache, in OpenSlide's `read_region` convention.

use crate::cache::CacheReader;
use crate::error::{Result, TilerError};
use crate::grid::TileCoord;
use crate::source::{clamp_region_into, fill_from_tiles};
use image::RgbImage;
use std::sync::Arc;

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
    region(cache, level, (x, y), (width, height), |coord| {
        let tile = cache.read_tile(coord)?;
        Ok((tile.rgb, tile.width))
    })
}

/// The region at level-0 `(x, y)` of `(width, height)` pixels of `level`, from tiles that
/// `fetch` gives as (packed RGB, width).
fn region<D: std::borrow::Borrow<Vec<u8>>>(
    cache: &CacheReader,
    level: u32,
    at: (i64, i64),
    size: (u32, u32),
    fetch: impl Fn(TileCoord) -> Result<(D, u32)>,
) -> Result<RgbImage> {
    let mut out = RgbImage::new(0, 0);
    region_into(cache, level, at, size, fetch, &mut out)?;
    Ok(out)
}

/// [`region`] into `out`, reusing its buffer.
fn region_into<D: std::borrow::Borrow<Vec<u8>>>(
    cache: &CacheReader,
    level: u32,
    (x, y): (i64, i64),
    (width, height): (u32, u32),
    fetch: impl Fn(TileCoord) -> Result<(D, u32)>,
    out: &mut RgbImage,
) -> Result<()> {
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
    clamp_region_into(
        (size.width, size.height),
        (lx, ly),
        (width, height),
        &|inside, out| {
            fill_from_tiles(inside, out, t, t, |col, row| {
                fetch(TileCoord::new(level, col, row, grid)?)
            })
        },
        out,
    )
}

/// Decoded tiles (packed RGB) of one or more caches, kept up to a budget of bytes; a tile
/// several threads miss at once is decoded once.
#[derive(Debug)]
pub struct DecodedTiles {
    tiles: moka::sync::Cache<(u64, TileCoord), Arc<Vec<u8>>>,
}

impl DecodedTiles {
    /// Keeps at most `max_bytes` of decoded pixels.
    #[must_use]
    pub fn new(max_bytes: u64) -> Self {
        Self {
            tiles: moka::sync::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_, v: &Arc<Vec<u8>>| u32::try_from(v.len()).unwrap_or(u32::MAX))
                .build(),
        }
    }

    /// [`read_cache_region`] through these tiles: overlapping regions (patches at a stride
    /// under their size) decode each tile once. `id` tells apart the caches that share
    /// this memory (a generation number); `at` is the level-0 top-left, `size` in pixels
    /// of `level`.
    pub fn read_region(
        &self,
        cache: &CacheReader,
        id: u64,
        level: u32,
        at: (i64, i64),
        size: (u32, u32),
    ) -> Result<RgbImage> {
        let mut out = RgbImage::new(0, 0);
        self.read_region_into(cache, id, level, at, size, &mut out)?;
        Ok(out)
    }

    /// [`DecodedTiles::read_region`] into `out`, reusing its buffer (patch after patch).
    pub fn read_region_into(
        &self,
        cache: &CacheReader,
        id: u64,
        level: u32,
        at: (i64, i64),
        size: (u32, u32),
        out: &mut RgbImage,
    ) -> Result<()> {
        region_into(
            cache,
            level,
            at,
            size,
            |coord| {
                let (_, _, w, _) = cache.grid().tile_rect(coord);
                Ok((self.tile(cache, id, coord)?, w))
            },
            out,
        )
    }

    /// Tile `coord` of `cache` (known here as `id`), decoded or remembered.
    pub fn tile(&self, cache: &CacheReader, id: u64, coord: TileCoord) -> Result<Arc<Vec<u8>>> {
        self.tiles
            .try_get_with((id, coord), || {
                cache.read_tile(coord).map(|t| Arc::new(t.rgb))
            })
            // The shared error cannot be moved out: read again for the caller's own.
            .or_else(|_| cache.read_tile(coord).map(|t| Arc::new(t.rgb)))
    }
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
