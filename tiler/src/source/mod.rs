//! Slide sources: one small trait, three readers, and the choice between them.
//!
//! - [`TiffSource`]: pure Rust (tiff crate), Aperio SVS and generic tiled or single-level
//!   TIFF; decodes source tiles in parallel with a small decoded-tile cache.
//! - [`OpenSlideSource`]: every format OpenSlide reads (NDPI, MRXS, SCN, BIF, Aperio JPEG
//!   2000, …), with true per-level downsamples and MRXS bounds.
//! - [`ImageSource`]: plain PNG and JPEG images, decoded whole.
//! - [`DicomSource`]: DICOM whole-slide series (dicom-rs), given as a directory or a file.
//!
//! Every reader returns opaque RGB: transparent pixels are flattened onto white.

mod chunk_cache;
pub mod dicom;
mod image_file;
mod jpeg_tile;
mod openslide;
mod tiff;

pub use dicom::DicomSource;
pub use image_file::ImageSource;
pub use openslide::OpenSlideSource;
pub use tiff::TiffSource;

use crate::error::{Result, TilerError};
use image::RgbImage;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The colour out-of-slide and transparent pixels become.
pub const BACKGROUND: [u8; 3] = [255, 255, 255];

/// Which reader decodes a slide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Tiff,
    OpenSlide,
    Image,
    Dicom,
}

impl SourceKind {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Tiff => "tiff",
            Self::OpenSlide => "openslide",
            Self::Image => "image",
            Self::Dicom => "dicom",
        }
    }
}

impl std::str::FromStr for SourceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tiff" => Ok(Self::Tiff),
            "openslide" => Ok(Self::OpenSlide),
            "image" => Ok(Self::Image),
            "dicom" => Ok(Self::Dicom),
            other => Err(format!(
                "unknown source {other:?} (openslide, tiff, image or dicom)"
            )),
        }
    }
}

/// One resolution level as the slide file stores it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SourceLevel {
    pub width: u32,
    pub height: u32,
    /// Level-0 pixels per level pixel; not always a power of two.
    pub downsample: f64,
    /// Native tile (or strip) size, when the file is tiled.
    pub tile_width: Option<u32>,
    pub tile_height: Option<u32>,
}

/// A level-0 rectangle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rect {
    pub x: i64,
    pub y: i64,
    pub width: u32,
    pub height: u32,
}

impl Rect {
    /// The whole of a `width × height` level, from its top-left corner.
    #[must_use]
    pub fn whole(width: u32, height: u32) -> Self {
        Self {
            x: 0,
            y: 0,
            width,
            height,
        }
    }
}

/// An image a slide file stores beside its pyramid (label, macro, thumbnail).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssociatedImage {
    pub name: String,
    pub width: u32,
    pub height: u32,
}

/// What a slide is. The structured fields are non-identifying; `properties` holds
/// everything the file says, identifying or not, and is never serialised.
#[derive(Debug, Clone, Serialize)]
pub struct SlideInfo {
    #[serde(skip)]
    pub path: PathBuf,
    pub reader: SourceKind,
    /// OpenSlide's vendor name (`aperio`, `generic-tiff`, `mirax`…) or `png`/`jpeg`.
    pub vendor: String,
    pub levels: Vec<SourceLevel>,
    pub mpp_x: Option<f64>,
    pub mpp_y: Option<f64>,
    pub objective_power: Option<f64>,
    pub scanner_model: Option<String>,
    /// The part of level 0 that holds the scan (MRXS bounds); the whole level otherwise.
    pub bounds: Rect,
    /// Associated images (label, macro, thumbnail). Never copied into a cache.
    pub associated_images: Vec<AssociatedImage>,
    /// Every property the file carries, with OpenSlide's names (`aperio.Filename`,
    /// `tiff.DateTime`…). May identify a patient: see [`crate::deid`].
    #[serde(skip)]
    pub properties: BTreeMap<String, String>,
}

impl SlideInfo {
    /// Level-0 width and height.
    #[must_use]
    pub fn dimensions(&self) -> (u32, u32) {
        self.levels.first().map_or((0, 0), |l| (l.width, l.height))
    }
}

/// A readable slide. Implementations are thread-safe; `read_region` may run in parallel.
pub trait SlideSource: Send + Sync + std::fmt::Debug {
    fn info(&self) -> &SlideInfo;

    /// Reads `width × height` pixels of `level`, whose top-left corner is (`x`, `y`) in
    /// level-0 coordinates (OpenSlide's `read_region` convention). Pixels outside the
    /// level are [`BACKGROUND`].
    fn read_region(&self, level: u32, x: i64, y: i64, width: u32, height: u32) -> Result<RgbImage>;

    /// Every file the slide is read from, in a fixed order (its source digest covers
    /// them all): the slide file, or a DICOM series' instances.
    fn source_files(&self) -> Vec<PathBuf> {
        vec![self.info().path.clone()]
    }
}

/// Opens a slide, choosing the reader from the file's content unless `forced`.
///
/// DICOM files (by their preamble) and directories go to the DICOM reader; Aperio and
/// generic TIFFs go to the pure-Rust reader when it supports their compression (not JPEG
/// 2000), other formats OpenSlide recognises go to OpenSlide, and PNG and JPEG files are
/// decoded whole.
pub fn open_slide(path: &Path, forced: Option<SourceKind>) -> Result<Box<dyn SlideSource>> {
    let meta = std::fs::metadata(path).map_err(|e| TilerError::io(path, e))?;
    if meta.is_dir() {
        return match forced {
            None | Some(SourceKind::Dicom) => Ok(Box::new(DicomSource::open(path)?)),
            Some(_) => Err(TilerError::bad_file(
                path,
                "is a directory, not a slide file (only a DICOM series is given as a directory)",
            )),
        };
    }
    let kind = sniff(path)?;
    match forced {
        Some(SourceKind::Tiff) => return Ok(Box::new(TiffSource::open(path)?)),
        Some(SourceKind::OpenSlide) => return Ok(Box::new(OpenSlideSource::open(path)?)),
        Some(SourceKind::Image) => return Ok(Box::new(ImageSource::open(path)?)),
        Some(SourceKind::Dicom) => return Ok(Box::new(DicomSource::open(path)?)),
        None => {}
    }
    if kind == FileKind::Dicom {
        return Ok(Box::new(DicomSource::open(path)?));
    }
    let vendor = OpenSlideSource::detect_vendor(path);
    let tiff_path_fits = matches!(vendor.as_deref(), Some("aperio" | "generic-tiff") | None);
    if kind == FileKind::Tiff && tiff_path_fits {
        match TiffSource::open(path) {
            Ok(source) => return Ok(Box::new(source)),
            // A TIFF the pure-Rust path cannot decode (JPEG 2000, odd layouts) may still
            // be readable by OpenSlide; a broken one is reported as it is.
            Err(TilerError::Unsupported { .. }) if vendor.is_some() => {}
            Err(e) => return Err(e),
        }
    }
    if vendor.is_some() {
        return Ok(Box::new(OpenSlideSource::open(path)?));
    }
    match kind {
        FileKind::Png | FileKind::Jpeg => Ok(Box::new(ImageSource::open(path)?)),
        FileKind::Tiff => Err(TilerError::bad_file(
            path,
            "TIFF file that no reader could open",
        )),
        FileKind::Dicom | FileKind::Unknown => Err(TilerError::unsupported(
            path,
            "unknown format (not a slide OpenSlide recognises, nor a TIFF, PNG or JPEG image)",
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Tiff,
    Png,
    Jpeg,
    Dicom,
    Unknown,
}

fn sniff(path: &Path) -> Result<FileKind> {
    let mut head = [0u8; 132];
    let mut file = std::fs::File::open(path).map_err(|e| TilerError::io(path, e))?;
    let n = file.read(&mut head).map_err(|e| TilerError::io(path, e))?;
    let head = &head[..n];
    Ok(
        if head.starts_with(b"II*\0")
            || head.starts_with(b"MM\0*")
            || head.starts_with(b"II+\0")
            || head.starts_with(b"MM\0+")
        {
            FileKind::Tiff
        } else if head.starts_with(b"\x89PNG") {
            FileKind::Png
        } else if head.starts_with(&[0xff, 0xd8, 0xff]) {
            FileKind::Jpeg
        } else if dicom::instance::has_preamble(head) {
            FileKind::Dicom
        } else {
            FileKind::Unknown
        },
    )
}

/// The levels of a tiled reader, largest first, from (width, height, tile width, tile
/// height): each level's downsample is the mean of its two ratios to level 0.
pub(crate) fn tiled_levels(sizes: &[(u32, u32, u32, u32)]) -> Vec<SourceLevel> {
    let (w0, h0) = sizes.first().map_or((1, 1), |s| (s.0, s.1));
    sizes
        .iter()
        .map(|&(width, height, tile_width, tile_height)| SourceLevel {
            width,
            height,
            downsample: f64::midpoint(
                f64::from(w0) / f64::from(width),
                f64::from(h0) / f64::from(height),
            ),
            tile_width: Some(tile_width),
            tile_height: Some(tile_height),
        })
        .collect()
}

/// [`SlideSource::read_region`] for a reader whose levels are grids of tiles (of the
/// levels' tile sizes in `info`) that `fetch(col, row)` decodes (see [`fill_from_tiles`]).
pub(crate) fn read_tiled_region<D: std::borrow::Borrow<Vec<u8>>>(
    info: &SlideInfo,
    level: u32,
    (x, y, width, height): (i64, i64, u32, u32),
    fetch: impl Fn(u32, u32) -> Result<(D, u32)>,
) -> Result<RgbImage> {
    let l = info.levels.get(level as usize).ok_or_else(|| {
        TilerError::Usage(format!(
            "{}: level {level} does not exist (the slide has {})",
            info.path.display(),
            info.levels.len()
        ))
    })?;
    let lx = (x as f64 / l.downsample).floor() as i64;
    let ly = (y as f64 / l.downsample).floor() as i64;
    let tile_width = l.tile_width.unwrap_or(l.width).max(1);
    let tile_height = l.tile_height.unwrap_or(l.height).max(1);
    clamp_region(l.width, l.height, lx, ly, width, height, &|inside, out| {
        fill_from_tiles(inside, out, tile_width, tile_height, &fetch)
    })
}

/// The part of a requested region that lies inside the level: where to read it (level
/// pixels) and where it goes in the output image.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Inside {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    pub out_x: u32,
    pub out_y: u32,
}

/// Builds a `width × height` background image and lets `read_inside` fill the part of the
/// region (top-left at level pixel (`lx`, `ly`)) that overlaps the level.
pub(crate) fn clamp_region(
    level_width: u32,
    level_height: u32,
    lx: i64,
    ly: i64,
    width: u32,
    height: u32,
    read_inside: &dyn Fn(Inside, &mut RgbImage) -> Result<()>,
) -> Result<RgbImage> {
    let mut out = RgbImage::new(0, 0);
    clamp_region_into(
        (level_width, level_height),
        (lx, ly),
        (width, height),
        read_inside,
        &mut out,
    )?;
    Ok(out)
}

/// [`clamp_region`] into `out`, whose buffer is reused (resized to `width × height`): a
/// caller reading many regions allocates once.
pub(crate) fn clamp_region_into(
    (level_width, level_height): (u32, u32),
    (lx, ly): (i64, i64),
    (width, height): (u32, u32),
    read_inside: &dyn Fn(Inside, &mut RgbImage) -> Result<()>,
    out: &mut RgbImage,
) -> Result<()> {
    let inside_level = lx >= 0
        && ly >= 0
        && lx + i64::from(width) <= i64::from(level_width)
        && ly + i64::from(height) <= i64::from(level_height);
    let mut buffer = std::mem::take(out).into_raw();
    let n = width as usize * height as usize * 3;
    // A region wholly inside is overwritten entirely; only a partial one needs background.
    buffer.resize(n, 0);
    if !inside_level {
        for pixel in buffer.chunks_exact_mut(3) {
            pixel.copy_from_slice(&BACKGROUND);
        }
    }
    *out = RgbImage::from_raw(width, height, buffer)
        .ok_or_else(|| TilerError::Usage(format!("region {width}×{height} is too large")))?;
    let x0 = lx.max(0);
    let y0 = ly.max(0);
    let x1 = (lx + i64::from(width)).min(i64::from(level_width));
    let y1 = (ly + i64::from(height)).min(i64::from(level_height));
    if x1 > x0 && y1 > y0 {
        let inside = Inside {
            x: x0 as u32,
            y: y0 as u32,
            width: (x1 - x0) as u32,
            height: (y1 - y0) as u32,
            out_x: (x0 - lx) as u32,
            out_y: (y0 - ly) as u32,
        };
        read_inside(inside, out)?;
    }
    Ok(())
}

/// Fills `inside` of `out` from a grid of `tile_width × tile_height` tiles (edge tiles
/// hold what is left). `fetch(col, row)` returns a tile's packed RGB and its width.
pub(crate) fn fill_from_tiles<D: std::borrow::Borrow<Vec<u8>>>(
    inside: Inside,
    out: &mut RgbImage,
    tile_width: u32,
    tile_height: u32,
    fetch: impl Fn(u32, u32) -> Result<(D, u32)>,
) -> Result<()> {
    let (x0, y0, w, h) = (inside.x, inside.y, inside.width, inside.height);
    let out_width = out.width();
    for row in y0 / tile_height..=(y0 + h - 1) / tile_height {
        for col in x0 / tile_width..=(x0 + w - 1) / tile_width {
            let (data, data_width) = fetch(col, row)?;
            let data: &[u8] = data.borrow();
            let data_height = (data.len() / (data_width as usize * 3)) as u32;
            let (cx, cy) = (col * tile_width, row * tile_height);
            // Intersection of this tile and the wanted rectangle, in level pixels.
            let ix0 = x0.max(cx);
            let iy0 = y0.max(cy);
            let ix1 = (x0 + w).min(cx + data_width);
            let iy1 = (y0 + h).min(cy + data_height);
            if ix1 <= ix0 || iy1 <= iy0 {
                continue;
            }
            crate::pixels::copy_rect(
                data,
                data_width,
                (ix0 - cx, iy0 - cy),
                out,
                out_width,
                (ix0 - x0 + inside.out_x, iy0 - y0 + inside.out_y),
                ix1 - ix0,
                iy1 - iy0,
            );
        }
    }
    Ok(())
}
