//! Encoded tiles, cached in moka by bytes. Concurrent misses for one tile share one
//! computation (`try_get_with`); decoding and encoding run on the blocking pool.

use crate::iiif::Format;
use crate::metrics::Metrics;
use crate::render::{self, RenderError};
use crate::store::Slide;
use bytes::Bytes;
use std::sync::Arc;
use tiler::{Codec, TileCoord};

/// A tile as served: which file generation, where, in which format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TileKey {
    pub generation: u64,
    pub level: u32,
    pub col: u32,
    pub row: u32,
    pub format: Format,
}

/// Renders and caches tiles.
#[derive(Debug)]
pub struct TileService {
    cache: Option<moka::future::Cache<TileKey, Bytes>>,
    jpeg_quality: u8,
    metrics: Arc<Metrics>,
}

impl TileService {
    /// A service whose cache holds at most `cache_bytes` of encoded tiles (0: no cache).
    #[must_use]
    pub fn new(cache_bytes: u64, jpeg_quality: u8, metrics: Arc<Metrics>) -> Self {
        let cache = (cache_bytes > 0).then(|| {
            moka::future::Cache::builder()
                .max_capacity(cache_bytes)
                .weigher(|_k: &TileKey, v: &Bytes| u32::try_from(v.len()).unwrap_or(u32::MAX))
                .build()
        });
        Self {
            cache,
            jpeg_quality,
            metrics,
        }
    }

    #[must_use]
    pub fn jpeg_quality(&self) -> u8 {
        self.jpeg_quality
    }

    /// The encoded tile at cache level `level` (possibly past the top, see
    /// [`render::tile`]).
    pub async fn tile(
        &self,
        slide: Arc<Slide>,
        level: u32,
        col: u32,
        row: u32,
        format: Format,
    ) -> Result<Bytes, Arc<RenderError>> {
        let key = TileKey {
            generation: slide.generation,
            level,
            col,
            row,
            format,
        };
        let Some(cache) = &self.cache else {
            self.metrics.tile_cache_misses.inc();
            return self.compute(slide, key).await.map_err(Arc::new);
        };
        if let Some(bytes) = cache.get(&key).await {
            self.metrics.tile_cache_hits.inc();
            return Ok(bytes);
        }
        self.metrics.tile_cache_misses.inc();
        let result = cache.try_get_with(key, self.compute(slide, key)).await;
        self.metrics.tile_cache_bytes.set(cache.weighted_size());
        result
    }

    async fn compute(&self, slide: Arc<Slide>, key: TileKey) -> Result<Bytes, RenderError> {
        let quality = self.jpeg_quality;
        tokio::task::spawn_blocking(move || render_tile(&slide, key, quality))
            .await
            .map_err(|e| RenderError::Encode(format!("tile task failed: {e}")))?
    }
}

/// Reads, decodes and encodes one tile; a stored payload already in the requested format
/// is sent as it is.
fn render_tile(slide: &Slide, key: TileKey, quality: u8) -> Result<Bytes, RenderError> {
    let grid = slide.cache.grid();
    let stored = match slide.cache.metadata().codec {
        Codec::Jpeg => Some(Format::Jpg),
        Codec::Webp => Some(Format::Webp),
        Codec::Zstd => None,
    };
    if stored == Some(key.format) && key.level < grid.level_count() {
        let coord = TileCoord::new(key.level, key.col, key.row, grid)
            .map_err(|e| RenderError::OutOfRange(e.to_string()))?;
        return Ok(Bytes::from(slide.cache.read_payload(coord)?));
    }
    let image = render::tile(slide, key.level, key.col, key.row)?;
    Ok(Bytes::from(render::encode(&image, key.format, quality)?))
}
