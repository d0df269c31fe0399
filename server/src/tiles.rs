//! Encoded tiles, cached in moka by bytes. Concurrent misses for one tile share one
//! computation (`try_get_with`); decoding and encoding run first in, first out on a pool
//! with one thread per core, off the async threads. (Tokio's blocking pool would start a
//! thread per waiting request and let them all time-slice the cores, which stretches the
//! tail latency under load.)

use crate::iiif::Format;
use crate::metrics::Metrics;
use crate::render::{self, RenderError};
use crate::store::Slide;
use bytes::Bytes;
use std::sync::Arc;
use tiler::{Codec, TileCoord, TilerError};

/// A tile as served: which file generation, where, in which format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TileKey {
    pub generation: u64,
    pub level: u32,
    pub col: u32,
    pub row: u32,
    pub format: Format,
    /// Padded to the full tile size with the slide's background (a DICOM frame at the
    /// right or bottom edge); interior tiles are never padded, and share the plain key.
    pub padded: bool,
}

/// Renders and caches tiles.
#[derive(Debug)]
pub struct TileService {
    cache: Option<moka::future::Cache<TileKey, Bytes>>,
    workers: rayon::ThreadPool,
    jpeg_quality: u8,
    metrics: Arc<Metrics>,
}

impl TileService {
    /// A service whose cache holds at most `cache_bytes` of encoded tiles (0: no cache),
    /// rendering on one thread per core, object storage or not: a tile's payload is fetched
    /// from object storage on the async threads before a worker takes it (see
    /// [`fetch_remote`]). (Four workers per core for object storage, from when workers
    /// fetched, spun idle between tiles: a tenth of the server's CPU under cold reads.)
    #[must_use]
    pub fn new(cache_bytes: u64, jpeg_quality: u8, metrics: Arc<Metrics>) -> Self {
        let cache = (cache_bytes > 0).then(|| {
            moka::future::Cache::builder()
                .max_capacity(cache_bytes)
                .weigher(|_k: &TileKey, v: &Bytes| u32::try_from(v.len()).unwrap_or(u32::MAX))
                .build()
        });
        let workers = rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("tile-{i}"))
            .build()
            .unwrap_or_else(|_| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .build()
                    .unwrap_or_else(|e| panic!("cannot start a tile worker thread: {e}"))
            });
        Self {
            cache,
            workers,
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
            padded: false,
        };
        self.cached(slide, key).await
    }

    /// A DICOM frame: the JPEG tile at cache level `level`, padded at the right and
    /// bottom edges of the level to the full tile size with the slide's background
    /// colour, as DICOM's tiled images need every frame `Rows × Columns`. An interior
    /// frame is the very tile Deep Zoom and IIIF serve (one cache entry, and a JPEG
    /// cache's payload passed through); an edge frame has a cache entry of its own.
    pub async fn frame(
        &self,
        slide: Arc<Slide>,
        level: u32,
        col: u32,
        row: u32,
    ) -> Result<Bytes, Arc<RenderError>> {
        let grid = slide.cache.grid();
        let t = grid.tile_size();
        let size = grid.level(level).ok_or_else(|| {
            Arc::new(RenderError::OutOfRange(format!(
                "level {level} is not in the pyramid"
            )))
        })?;
        let reaches =
            |index: u32, extent: u32| (u64::from(index) + 1) * u64::from(t) > u64::from(extent);
        let padded = reaches(col, size.width) || reaches(row, size.height);
        let key = TileKey {
            generation: slide.generation,
            level,
            col,
            row,
            format: Format::Jpg,
            padded,
        };
        self.cached(slide, key).await
    }

    /// The tile under `key`, from the cache or rendered once for all who ask at once.
    async fn cached(&self, slide: Arc<Slide>, key: TileKey) -> Result<Bytes, Arc<RenderError>> {
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
        let fetched = fetch_remote(&slide, key).await?;
        let quality = self.jpeg_quality;
        let (done, result) = tokio::sync::oneshot::channel();
        self.workers.spawn_fifo(move || {
            let _ = done.send(render_tile(&slide, key, quality, fetched));
        });
        result
            .await
            .map_err(|_| RenderError::Encode("tile worker stopped".into()))?
    }
}

/// A stored tile's payload fetched from object storage by one ranged read, on the async
/// threads: the workers then only check, decode and encode, and none waits on the network
/// (with a blocking read each would, and the requests in flight would be capped by the
/// workers). `None` for a local cache, and for levels past the cache's top, which are
/// rendered from the top tile on a worker.
async fn fetch_remote(
    slide: &Slide,
    key: TileKey,
) -> Result<Option<(TileCoord, Bytes)>, RenderError> {
    let Some(remote) = slide.remote() else {
        return Ok(None);
    };
    let grid = slide.cache.grid();
    if key.level >= grid.level_count() {
        return Ok(None);
    }
    let coord = TileCoord::new(key.level, key.col, key.row, grid)
        .map_err(|e| RenderError::OutOfRange(e.to_string()))?;
    let entry = slide.cache.entry(coord);
    let payload = remote
        .read(entry.offset, entry.len as usize)
        .await
        .map_err(|e| TilerError::BadTile {
            path: slide.cache.path().to_path_buf(),
            place: coord.place(),
            reason: e.to_string(),
        })?;
    Ok(Some((coord, payload)))
}

/// Reads (or takes the `fetched` payload of), decodes and encodes one tile; a stored
/// payload already in the requested format is sent as it is, unless it must be padded.
fn render_tile(
    slide: &Slide,
    key: TileKey,
    quality: u8,
    fetched: Option<(TileCoord, Bytes)>,
) -> Result<Bytes, RenderError> {
    let grid = slide.cache.grid();
    let stored = match slide.cache.metadata().codec {
        Codec::Jpeg => Some(Format::Jpg),
        Codec::Webp => Some(Format::Webp),
        Codec::Zstd => None,
    };
    let pass_through = stored == Some(key.format) && !key.padded;
    let image = if let Some((coord, payload)) = fetched {
        slide.cache.check_payload(coord, &payload)?;
        if pass_through {
            return Ok(payload);
        }
        let tile = slide.cache.decode_tile(coord, &payload)?;
        render::Rgb {
            width: tile.width,
            height: tile.height,
            data: tile.rgb,
        }
    } else {
        if pass_through && key.level < grid.level_count() {
            let coord = TileCoord::new(key.level, key.col, key.row, grid)
                .map_err(|e| RenderError::OutOfRange(e.to_string()))?;
            return Ok(Bytes::from(slide.cache.read_payload(coord)?));
        }
        render::tile(slide, key.level, key.col, key.row)?
    };
    let (image, quality) = if key.padded {
        let t = grid.tile_size();
        let m = slide.cache.metadata();
        // A JPEG cache's edge frames are encoded as its other frames were (which pass
        // through), so one instance has one chroma subsampling.
        let quality = if m.codec == Codec::Jpeg {
            m.quality
        } else {
            quality
        };
        (render::pad(&image, t, t, m.background), quality)
    } else {
        (image, quality)
    };
    Ok(Bytes::from(render::encode(&image, key.format, quality)?))
}
