//! Tessera's tiler: turns a whole-slide image into one pyramidal, compressed tile cache.
//!
//! Data flows one way: a [`SlideSource`] (OpenSlide, the pure-Rust TIFF and DICOM readers,
//! or a plain image) → [`build_cache`] (a parallel quadtree walk with a 2×2 box filter and bounded
//! memory) → a [`CacheWriter`] that writes `<id>.tess` under a temporary name and renames
//! it when complete → a [`CacheReader`] that finds any tile with one positional read.
//!
//! Design decisions:
//! - One file per slide, specified in `FORMAT.md`, with a checksum per payload.
//! - Lossless by default (zstd over filtered raw RGB); JPEG and WebP for view-only caches.
//! - Identical tiles (blank background, padding) are stored once.
//! - Label and macro images never enter a cache; metadata keeps only properties the
//!   [`deid`] classifier knows to be safe, and no file name or path.
//! - This crate knows nothing of HTTP.

#![forbid(unsafe_code)]

mod cache;
mod codec;
pub mod deid;
mod downsample;
mod error;
mod grid;
mod pixels;
mod pyramid;
mod region;
mod source;
pub mod synth;

pub use cache::{
    CacheReader, CacheWriter, ContentHash, Entry, HEADER_LEN, Header, MAGIC, Metadata, RangeRead,
    ReaderLimits, SourceDigest, Tile, VERSION, VerifySummary, WriteSummary,
};
pub use codec::{
    Codec, CodecConfig, decode as decode_payload, decode_jpeg, encode_jpeg, jpeg_subsamples_chroma,
};
pub use downsample::{halve, halve_exact};
pub use error::{Result, TilePlace, TilerError};
pub use grid::{Grid, LevelSize, TileCoord, level_count};
pub use pyramid::{BuildHooks, BuildOptions, BuildReport, build_cache, sha256_file};
pub use region::{DecodedTiles, MAX_REGION_PIXELS, check_region_size, read_cache_region};
pub use source::{
    AssociatedImage, BACKGROUND, DicomSource, ImageSource, OpenSlideSource, Rect, SlideInfo,
    SlideSource, SourceKind, SourceLevel, TiffSource, open_slide,
};
