//! Builds a whole cache from a slide in one streaming pass.
//!
//! The pyramid is walked as a quadtree from its one-tile top level: a tile at level `k`
//! is the 2×2 box downsample of its (up to four) children at level `k − 1`, and level-0
//! tiles are read from the source. Children are built in parallel with `rayon::join`,
//! and every tile is encoded and written as soon as it exists, so memory holds a few tiles
//! per level per thread whatever the slide's size. The Z-order walk also keeps source-tile
//! reads local, which the source's small decoded-tile cache relies on.

use crate::cache::{CacheWriter, ContentHash, Metadata, SourceDigest, WriteSummary};
use crate::codec::{Codec, CodecConfig};
use crate::downsample;
use crate::error::{Result, TilerError};
use crate::grid::{Grid, TileCoord};
use crate::pixels;
use crate::source::{BACKGROUND, SlideSource};
use sha2::Digest;
use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// How to build a cache.
#[derive(Debug, Clone, Copy)]
pub struct BuildOptions {
    pub codec: CodecConfig,
    pub tile_size: u32,
    /// Worker threads; `None` uses every core.
    pub threads: Option<usize>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            codec: CodecConfig::new(Codec::Zstd, None),
            tile_size: 256,
            threads: None,
        }
    }
}

/// What a finished build wrote.
#[derive(Debug, Clone)]
pub struct BuildReport {
    pub metadata: Metadata,
    pub written: WriteSummary,
    /// Bytes of raw RGB the tiles hold, to compare with the payload bytes.
    pub raw_bytes: u64,
}

/// Hooks the caller supplies: progress per finished tile, and a flag that stops the run.
#[derive(Clone, Copy)]
pub struct BuildHooks<'a> {
    pub progress: &'a (dyn Fn(u64) + Sync),
    pub cancel: &'a AtomicBool,
}

impl std::fmt::Debug for BuildHooks<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildHooks").finish_non_exhaustive()
    }
}

/// Builds `out` (a `.tess` path) from `source`. On any error no file appears at `out`.
pub fn build_cache(
    source: &dyn SlideSource,
    out: &Path,
    options: &BuildOptions,
    hooks: BuildHooks<'_>,
) -> Result<BuildReport> {
    let info = source.info();
    let bounds = info.bounds;
    let grid = Grid::new(bounds.width, bounds.height, options.tile_size)?;
    let writer = CacheWriter::create(out, grid.clone())?;
    let source_files = source.source_files();
    let hasher = std::thread::spawn(move || sha256_files(&source_files));

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads.unwrap_or(0))
        .thread_name(|i| format!("tiler-{i}"))
        .build()
        .map_err(|e| TilerError::Usage(format!("cannot start worker threads: {e}")))?;
    let builder = Builder {
        source,
        grid: &grid,
        codec: options.codec,
        writer: Mutex::new(writer),
        hooks,
        first_error: Mutex::new(None),
        failed: AtomicBool::new(false),
        raw_bytes: std::sync::atomic::AtomicU64::new(0),
    };
    let top = grid.level_count() - 1;
    let result = pool.install(|| builder.tile(top, 0, 0));
    if let Some(error) = builder.first_error.lock().ok().and_then(|mut e| e.take()) {
        return Err(error);
    }
    result?;
    let (sha256, bytes) = hasher
        .join()
        .map_err(|_| TilerError::Usage("hashing thread panicked".into()))??;
    let writer = builder
        .writer
        .into_inner()
        .map_err(|_| TilerError::Usage("writer lock poisoned".into()))?;
    let metadata = Metadata {
        format: crate::cache::format::FORMAT_NAME.into(),
        format_version: crate::cache::VERSION,
        width: bounds.width,
        height: bounds.height,
        tile_size: options.tile_size,
        levels: grid.levels().to_vec(),
        codec: options.codec.codec,
        quality: options.codec.quality,
        filter: (options.codec.codec == Codec::Zstd).then(|| "sg-up".to_string()),
        mpp_x: info.mpp_x,
        mpp_y: info.mpp_y,
        objective_power: info.objective_power,
        vendor: Some(info.vendor.clone()),
        scanner_model: info.scanner_model.clone(),
        properties: crate::deid::safe_properties(&info.properties),
        origin: [bounds.x.max(0) as u64, bounds.y.max(0) as u64],
        background: BACKGROUND,
        source: SourceDigest {
            sha256,
            bytes,
            reader: info.reader.name().into(),
        },
        tile_count: 0,
        unique_tile_count: 0,
        tool: format!("tessera {}", env!("CARGO_PKG_VERSION")),
        other: serde_json::Map::new(),
    };
    let written = writer.finish(metadata.clone())?;
    let metadata = Metadata {
        tile_count: written.tile_count,
        unique_tile_count: written.unique_tile_count,
        ..metadata
    };
    Ok(BuildReport {
        metadata,
        written,
        raw_bytes: builder.raw_bytes.into_inner(),
    })
}

struct Builder<'a> {
    source: &'a dyn SlideSource,
    grid: &'a Grid,
    codec: CodecConfig,
    writer: Mutex<CacheWriter>,
    hooks: BuildHooks<'a>,
    first_error: Mutex<Option<TilerError>>,
    failed: AtomicBool,
    raw_bytes: std::sync::atomic::AtomicU64,
}

/// Packed RGB of one tile.
struct Pixels {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

impl Builder<'_> {
    /// Builds, stores and returns one tile (and, recursively, every tile below it).
    fn tile(&self, level: u32, col: u32, row: u32) -> Result<Pixels> {
        if self.failed.load(Ordering::Relaxed) || self.hooks.cancel.load(Ordering::Relaxed) {
            return Err(TilerError::Interrupted);
        }
        match self.make_tile(level, col, row) {
            // Keep the first real error; siblings then stop with `Interrupted`.
            Err(e) if !matches!(e, TilerError::Interrupted) => {
                if !self.failed.swap(true, Ordering::SeqCst)
                    && let Ok(mut slot) = self.first_error.lock()
                {
                    *slot = Some(e);
                }
                Err(TilerError::Interrupted)
            }
            other => other,
        }
    }

    fn make_tile(&self, level: u32, col: u32, row: u32) -> Result<Pixels> {
        let coord = TileCoord::new(level, col, row, self.grid)?;
        let (x, y, width, height) = self.grid.tile_rect(coord);
        let rgb = if level == 0 {
            let bounds = self.source.info().bounds;
            self.source
                .read_region(
                    0,
                    bounds.x + i64::from(x),
                    bounds.y + i64::from(y),
                    width,
                    height,
                )?
                .into_raw()
        } else {
            self.downsampled(level, col, row, width, height)?
        };
        let tile = Pixels { width, height, rgb };
        self.store(coord, &tile)?;
        (self.hooks.progress)(1);
        Ok(tile)
    }

    /// Builds the four children in parallel, stitches them and halves the mosaic.
    fn downsampled(
        &self,
        level: u32,
        col: u32,
        row: u32,
        width: u32,
        height: u32,
    ) -> Result<Vec<u8>> {
        let below = level - 1;
        let (cols, rows) = self.grid.tiles_across(below).unwrap_or((0, 0));
        let child = |c: u32, r: u32| {
            (c < cols && r < rows)
                .then(|| self.tile(below, c, r))
                .transpose()
        };
        let ((tl, tr), (bl, br)) = rayon::join(
            || rayon::join(|| child(2 * col, 2 * row), || child(2 * col + 1, 2 * row)),
            || {
                rayon::join(
                    || child(2 * col, 2 * row + 1),
                    || child(2 * col + 1, 2 * row + 1),
                )
            },
        );
        let (tl, tr, bl, br) = (tl?, tr?, bl?, br?);
        let tl = tl.ok_or_else(|| TilerError::Usage("a tile without its first child".into()))?;
        // Children are tile_size wide and tall (even) except on the right and bottom
        // edges, so the 2×2 blocks never straddle two children: halve each child on its
        // own and place it, instead of stitching a mosaic first.
        let mut out = vec![0u8; width as usize * height as usize * 3];
        let (half_w, half_h) = (tl.width.div_ceil(2), tl.height.div_ceil(2));
        for (part, dx, dy) in [
            (Some(&tl), 0, 0),
            (tr.as_ref(), half_w, 0),
            (bl.as_ref(), 0, half_h),
            (br.as_ref(), half_w, half_h),
        ] {
            if let Some(p) = part {
                let halved = downsample::halve(&p.rgb, p.width, p.height);
                let (hw, hh) = (p.width.div_ceil(2), p.height.div_ceil(2));
                pixels::copy_rect(&halved, hw, (0, 0), &mut out, width, (dx, dy), hw, hh);
            }
        }
        Ok(out)
    }

    /// Encodes and writes a tile, or points at identical pixels already stored.
    fn store(&self, coord: TileCoord, tile: &Pixels) -> Result<()> {
        self.raw_bytes
            .fetch_add(tile.rgb.len() as u64, Ordering::Relaxed);
        let hash = content_hash(tile);
        let lock = || {
            self.writer
                .lock()
                .map_err(|_| TilerError::Usage("writer lock poisoned".into()))
        };
        if lock()?.has_content(hash) {
            return lock()?.add_duplicate(coord, hash);
        }
        let payload = self
            .codec
            .encode(&tile.rgb, tile.width, tile.height)
            .map_err(|e| TilerError::Usage(format!("{}: cannot encode: {e}", coord.place())))?;
        lock()?.add_tile(coord, hash, &payload)
    }
}

fn content_hash(tile: &Pixels) -> ContentHash {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(&tile.width.to_le_bytes());
    hasher.update(&tile.height.to_le_bytes());
    hasher.update(&tile.rgb);
    hasher.digest128()
}

/// sha256 (hex) and length of a file.
pub fn sha256_file(path: &Path) -> Result<(String, u64)> {
    sha256_files(&[path.to_path_buf()])
}

/// sha256 (hex) and total length of files read one after another (a DICOM series).
fn sha256_files(paths: &[std::path::PathBuf]) -> Result<(String, u64)> {
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    for path in paths {
        let mut file = std::fs::File::open(path).map_err(|e| TilerError::io(path, e))?;
        loop {
            let n = file.read(&mut buf).map_err(|e| TilerError::io(path, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            total += n as u64;
        }
    }
    let digest = hasher.finalize();
    let hex = digest.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    });
    Ok((hex, total))
}
