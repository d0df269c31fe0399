//! Pure-Rust reader for DICOM whole-slide images (VL Whole Slide Microscopy Image,
//! Supplement 145), with dicom-rs.
//!
//! A slide is a series: one instance per pyramid level (or a concatenation of several),
//! plus label, overview and thumbnail instances that are listed but never read. It is
//! given as its directory or as one of its files (the series is then that file's siblings
//! with its SeriesInstanceUID, as OpenSlide reads it). Headers are read at open; a level's
//! pixel data is read whole when its first frame is needed, so tiling reads level 0 only.
//!
//! - [`instance`]: one file's header (reusable by anything that presents DICOM).
//! - [`series`]: instances → levels, and the checks that the series is whole.
//! - [`frames`]: one instance's frames, decoded to RGB.

pub mod frames;
pub mod instance;
pub mod series;

use super::chunk_cache::ChunkCache;
use super::{
    AssociatedImage, BACKGROUND, Rect, SlideInfo, SlideSource, SourceKind, read_tiled_region,
    tiled_levels,
};
use crate::error::{Result, TilePlace, TilerError};
use image::RgbImage;
use instance::{Flavour, Instance};
use series::Level;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bytes of decoded frames kept for reuse.
const FRAME_CACHE_BYTES: usize = 96 << 20;
/// Most files a series directory may hold.
const MAX_FILES: usize = 4096;

/// See the module documentation.
#[derive(Debug)]
pub struct DicomSource {
    info: SlideInfo,
    levels: Vec<Level>,
    files: Vec<PathBuf>,
    frames: ChunkCache,
}

/// True when `path` is a file that starts with a DICOM preamble (`DICM` at byte 128).
pub fn is_dicom_file(path: &Path) -> Result<bool> {
    let mut head = [0u8; 132];
    let mut file = std::fs::File::open(path).map_err(|e| TilerError::io(path, e))?;
    let n = file.read(&mut head).map_err(|e| TilerError::io(path, e))?;
    Ok(instance::has_preamble(&head[..n]))
}

impl DicomSource {
    /// Opens the series `path` names: a directory holding it, or one of its files.
    pub fn open(path: &Path) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| TilerError::io(path, e))?;
        let (dir, wanted) = if meta.is_dir() {
            (path.to_path_buf(), None)
        } else {
            let header = instance::read_header(path)?;
            let given = Instance::from_header(path, &header)?;
            let dir = path
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
            (dir, Some(given.series_uid))
        };
        let instances = series_instances(path, &dir, wanted.as_deref())?;
        Self::from_instances(path, instances)
    }

    fn from_instances(path: &Path, instances: Vec<Instance>) -> Result<Self> {
        let mut files: Vec<PathBuf> = instances.iter().map(|i| i.path.clone()).collect();
        files.sort();
        let mut properties = BTreeMap::new();
        for i in &instances {
            for (k, v) in &i.properties {
                properties.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        let (levels, others) = series::levels(path, instances)?;
        let base = levels[0].parts[0].instance();
        let (w0, h0) = (base.width, base.height);
        let sizes: Vec<_> = levels
            .iter()
            .map(|l| (l.width, l.height, l.tile_width, l.tile_height))
            .collect();
        let associated_images = others
            .iter()
            .map(|i| AssociatedImage {
                name: match i.flavour {
                    Flavour::Label => "label",
                    Flavour::Overview => "macro",
                    Flavour::Thumbnail | Flavour::Volume => "thumbnail",
                }
                .into(),
                width: i.width,
                height: i.height,
            })
            .collect();
        let info = SlideInfo {
            path: path.to_path_buf(),
            reader: SourceKind::Dicom,
            vendor: "dicom".into(),
            levels: tiled_levels(&sizes),
            mpp_x: base.mpp.map(|m| m.0),
            mpp_y: base.mpp.map(|m| m.1),
            objective_power: base.objective_power,
            scanner_model: base.model.clone(),
            bounds: Rect::whole(w0, h0),
            associated_images,
            properties,
        };
        Ok(Self {
            info,
            levels,
            files,
            frames: ChunkCache::new(FRAME_CACHE_BYTES),
        })
    }

    /// Decoded RGB of one tile of `level` (a full frame), or background where a
    /// `TILED_SPARSE` level stores none.
    fn tile(&self, level: usize, col: u32, row: u32) -> Result<Arc<Vec<u8>>> {
        let l = &self.levels[level];
        let size = l.tile_width as usize * l.tile_height as usize * 3;
        let index = row * l.tiles_across + col;
        self.frames.get_or_decode((level as u32, index), size, || {
            let Some(at) = l.frame_of(col, row) else {
                return Ok(BACKGROUND.repeat(size / 3));
            };
            let place = TilePlace {
                level: level as u32,
                col,
                row,
            };
            l.parts[usize::from(at.part)].rgb(at.frame, place)
        })
    }
}

/// The whole-slide instances of one series in `dir`: the series `wanted`, or the only one
/// there. `name` is what the caller gave, for errors.
fn series_instances(name: &Path, dir: &Path, wanted: Option<&str>) -> Result<Vec<Instance>> {
    let entries = std::fs::read_dir(dir).map_err(|e| TilerError::io(dir, e))?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| TilerError::io(dir, e))?;
        let path = entry.path();
        if path.is_file() && is_dicom_file(&path)? {
            paths.push(path);
            if paths.len() > MAX_FILES {
                return Err(TilerError::Limit {
                    path: dir.to_path_buf(),
                    what: "DICOM files in the directory",
                    value: paths.len() as u64,
                    limit: MAX_FILES as u64,
                });
            }
        }
    }
    paths.sort();
    if paths.is_empty() {
        return Err(TilerError::unsupported(
            name,
            "a directory with no DICOM file in it (a DICOM series is given as its directory or one of its files; other slides as files)",
        ));
    }
    let mut whole_slide = Vec::new();
    for path in paths {
        let header = instance::read_header(&path)?;
        // Other objects stored beside a slide (annotations, DICOMDIR) are not part of it.
        if instance::sop_class(&header) != instance::WSI_SOP_CLASS {
            continue;
        }
        let instance = Instance::from_header(&path, &header)?;
        if wanted.is_none_or(|uid| uid == instance.series_uid) {
            whole_slide.push(instance);
        }
    }
    if whole_slide.is_empty() {
        return Err(TilerError::unsupported(
            name,
            format!(
                "no DICOM VL Whole Slide Microscopy Image ({}) in the directory",
                instance::WSI_SOP_CLASS
            ),
        ));
    }
    let mut series: Vec<&str> = whole_slide
        .iter()
        .filter(|i| i.flavour == Flavour::Volume)
        .map(|i| i.series_uid.as_str())
        .collect();
    series.sort_unstable();
    series.dedup();
    if series.len() > 1 {
        return Err(TilerError::unsupported(
            name,
            format!(
                "the directory holds {} whole-slide series; give one file of the series to tile",
                series.len()
            ),
        ));
    }
    let only = series.first().map(|s| (*s).to_string());
    whole_slide.retain(|i| only.as_deref().is_none_or(|uid| uid == i.series_uid));
    Ok(whole_slide)
}

impl SlideSource for DicomSource {
    fn info(&self) -> &SlideInfo {
        &self.info
    }

    fn source_files(&self) -> Vec<PathBuf> {
        self.files.clone()
    }

    fn read_region(&self, level: u32, x: i64, y: i64, width: u32, height: u32) -> Result<RgbImage> {
        let li = level as usize;
        read_tiled_region(&self.info, level, (x, y, width, height), |col, row| {
            Ok((self.tile(li, col, row)?, self.levels[li].tile_width))
        })
    }
}
