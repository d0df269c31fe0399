//! One DICOM instance's header: what a whole-slide reader (and, later, a DICOMweb
//! presentation) needs of it, read without its pixel data.

use crate::error::{Result, TilerError};
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::{StandardDataDictionary, tags};
use dicom_object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// SOP Class UID of a VL Whole Slide Microscopy Image.
pub const WSI_SOP_CLASS: &str = "1.2.840.10008.5.1.4.1.1.77.1.6";

/// Most header properties kept per instance (a hostile header cannot fill memory).
const MAX_PROPERTIES: usize = 4096;
/// Longest property value kept, in characters.
const MAX_VALUE_CHARS: usize = 512;
/// Deepest sequence nesting walked for properties.
const MAX_DEPTH: usize = 4;

/// What an instance's `ImageType` value 3 says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// A pyramid level.
    Volume,
    /// A photograph of the slide label.
    Label,
    /// A photograph of the whole glass slide, label included.
    Overview,
    /// A small whole-slide image beside the pyramid.
    Thumbnail,
}

/// How the frames are laid out over the total pixel matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// Row by row, column by column, one frame per tile (`TILED_FULL`).
    Full,
    /// Each frame's top-left pixel, 1-based column and row of the total pixel matrix, from
    /// the per-frame Plane Position (Slide) (`TILED_SPARSE`).
    Sparse(Vec<(u32, u32)>),
}

/// How the frames are compressed, from the transfer syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Jpeg,
    Jpeg2000,
    /// Explicit or Implicit VR Little Endian.
    Native,
}

/// Instances split over several files that make one level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concatenation {
    pub uid: String,
    /// Frames in the concatenation's earlier instances (`ConcatenationFrameOffsetNumber`).
    pub frame_offset: u32,
    /// How many instances the concatenation has (`InConcatenationTotalNumber`), if said.
    pub parts: Option<u32>,
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct Instance {
    pub path: PathBuf,
    pub series_uid: String,
    pub flavour: Flavour,
    pub transfer_syntax: String,
    pub encoding: Encoding,
    /// Total pixel matrix: the whole level.
    pub width: u32,
    pub height: u32,
    /// One frame (`Columns` × `Rows`).
    pub tile_width: u32,
    pub tile_height: u32,
    pub frames: u32,
    pub layout: Layout,
    pub photometric: String,
    pub samples_per_pixel: u16,
    pub bits_allocated: u16,
    pub planar_configuration: u16,
    pub optical_paths: u32,
    pub concatenation: Option<Concatenation>,
    /// Micrometres per pixel (x, y), from Pixel Spacing or the imaged volume.
    pub mpp: Option<(f64, f64)>,
    pub objective_power: Option<f64>,
    pub model: Option<String>,
    /// Every textual attribute, as `dicom.Keyword` (nested: `dicom.Sequence.Keyword`);
    /// identifying ones included, for [`crate::deid`] to sort.
    pub properties: BTreeMap<String, String>,
}

/// True when the file starts with a DICOM preamble: 128 bytes, then `DICM`.
pub fn has_preamble(head: &[u8]) -> bool {
    head.get(128..132) == Some(b"DICM")
}

/// Reads a DICOM file's header, stopping before the pixel data.
pub fn read_header(path: &Path) -> Result<DefaultDicomObject> {
    OpenFileOptions::new()
        .read_until(tags::PIXEL_DATA)
        .open_file(path)
        .map_err(|e| TilerError::bad_file(path, format!("not a readable DICOM file: {e}")))
}

/// The SOP Class UID the file declares.
pub fn sop_class(object: &DefaultDicomObject) -> String {
    let from_meta = object.meta().media_storage_sop_class_uid();
    let uid = if from_meta.trim_end_matches('\0').trim().is_empty() {
        text(object, tags::SOP_CLASS_UID).unwrap_or_default()
    } else {
        from_meta.to_string()
    };
    uid.trim_end_matches('\0').trim().to_string()
}

impl Instance {
    /// Reads what a whole-slide reader needs from `object`, the header of `path`. Refuses
    /// files that are not VL Whole Slide Microscopy Images and values out of range.
    pub fn from_header(path: &Path, object: &DefaultDicomObject) -> Result<Self> {
        let class = sop_class(object);
        if class != WSI_SOP_CLASS {
            return Err(TilerError::unsupported(
                path,
                format!(
                    "DICOM SOP class {class} is not a VL Whole Slide Microscopy Image ({WSI_SOP_CLASS})"
                ),
            ));
        }
        let transfer_syntax = object
            .meta()
            .transfer_syntax()
            .trim_end_matches('\0')
            .to_string();
        let encoding = encoding(path, &transfer_syntax)?;
        let number = |tag: Tag, name: &str| -> Result<u32> {
            object
                .element(tag)
                .ok()
                .and_then(|e| e.to_int::<u32>().ok())
                .ok_or_else(|| TilerError::bad_file(path, format!("DICOM {name} is missing")))
        };
        let width = number(tags::TOTAL_PIXEL_MATRIX_COLUMNS, "TotalPixelMatrixColumns")?;
        let height = number(tags::TOTAL_PIXEL_MATRIX_ROWS, "TotalPixelMatrixRows")?;
        let tile_width = number(tags::COLUMNS, "Columns")?;
        let tile_height = number(tags::ROWS, "Rows")?;
        let frames = int(object, tags::NUMBER_OF_FRAMES).unwrap_or(1);
        if [width, height, tile_width, tile_height, frames].contains(&0) {
            return Err(TilerError::bad_file(
                path,
                format!(
                    "DICOM sizes must not be zero: matrix {width}×{height}, frame {tile_width}×{tile_height}, {frames} frames"
                ),
            ));
        }
        let image_type = text(object, tags::IMAGE_TYPE).unwrap_or_default();
        let flavour = flavour(&image_type);
        let layout = layout(path, object, frames)?;
        let optical_paths = int(object, tags::NUMBER_OF_OPTICAL_PATHS).unwrap_or_else(|| {
            object
                .element(tags::OPTICAL_PATH_SEQUENCE)
                .ok()
                .and_then(|e| e.items())
                .map_or(1, |items| items.len().max(1) as u32)
        });
        let concatenation = text(object, tags::CONCATENATION_UID).map(|uid| Concatenation {
            uid,
            frame_offset: int(object, tags::CONCATENATION_FRAME_OFFSET_NUMBER).unwrap_or(0),
            parts: int(object, tags::IN_CONCATENATION_TOTAL_NUMBER),
        });
        let objective_power = object
            .element(tags::OPTICAL_PATH_SEQUENCE)
            .ok()
            .and_then(|e| {
                e.items()?
                    .first()?
                    .element(tags::OBJECTIVE_LENS_POWER)
                    .ok()?
                    .to_float64()
                    .ok()
            })
            .filter(|p| p.is_finite() && *p > 0.0);
        Ok(Self {
            path: path.to_path_buf(),
            series_uid: text(object, tags::SERIES_INSTANCE_UID).unwrap_or_default(),
            flavour,
            transfer_syntax,
            encoding,
            width,
            height,
            tile_width,
            tile_height,
            frames,
            layout,
            photometric: text(object, tags::PHOTOMETRIC_INTERPRETATION).unwrap_or_default(),
            samples_per_pixel: int(object, tags::SAMPLES_PER_PIXEL).unwrap_or(1) as u16,
            bits_allocated: int(object, tags::BITS_ALLOCATED).unwrap_or(8) as u16,
            planar_configuration: int(object, tags::PLANAR_CONFIGURATION).unwrap_or(0) as u16,
            optical_paths,
            concatenation,
            mpp: mpp(object, width, height),
            objective_power,
            model: text(object, tags::MANUFACTURER_MODEL_NAME),
            properties: properties(object),
        })
    }
}

fn encoding(path: &Path, transfer_syntax: &str) -> Result<Encoding> {
    Ok(match transfer_syntax {
        // JPEG Baseline (Process 1) and Extended (Process 2 & 4, 8-bit).
        "1.2.840.10008.1.2.4.50" | "1.2.840.10008.1.2.4.51" => Encoding::Jpeg,
        // JPEG 2000 lossless and lossy, and the HTJ2K syntaxes openjp2 also reads.
        "1.2.840.10008.1.2.4.90" | "1.2.840.10008.1.2.4.91" => Encoding::Jpeg2000,
        // Implicit and Explicit VR Little Endian.
        "1.2.840.10008.1.2" | "1.2.840.10008.1.2.1" => Encoding::Native,
        other => {
            return Err(TilerError::unsupported(
                path,
                format!(
                    "DICOM transfer syntax {other} (JPEG baseline, JPEG 2000 and uncompressed little endian are read)"
                ),
            ));
        }
    })
}

/// `ImageType` value 3 (`ORIGINAL\PRIMARY\VOLUME\NONE`); anything unknown is a level,
/// as OpenSlide and wsidicom read it.
fn flavour(image_type: &str) -> Flavour {
    match image_type.split('\\').nth(2).map(str::trim) {
        Some("LABEL") => Flavour::Label,
        Some("OVERVIEW") => Flavour::Overview,
        Some("THUMBNAIL") => Flavour::Thumbnail,
        _ => Flavour::Volume,
    }
}

fn layout(path: &Path, object: &DefaultDicomObject, frames: u32) -> Result<Layout> {
    let organisation = text(object, tags::DIMENSION_ORGANIZATION_TYPE).unwrap_or_default();
    let per_frame = object
        .element(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .ok()
        .and_then(|e| e.items());
    if organisation == "TILED_FULL" || per_frame.is_none() {
        return Ok(Layout::Full);
    }
    let per_frame = per_frame.unwrap_or_default();
    if per_frame.len() < frames as usize {
        return Err(TilerError::bad_file(
            path,
            format!(
                "DICOM TILED_SPARSE: {} per-frame functional groups for {frames} frames",
                per_frame.len()
            ),
        ));
    }
    let mut positions = Vec::with_capacity(frames as usize);
    for (i, group) in per_frame.iter().take(frames as usize).enumerate() {
        let plane = group
            .element(tags::PLANE_POSITION_SLIDE_SEQUENCE)
            .ok()
            .and_then(|e| e.items()?.first());
        let position = plane.and_then(|p| {
            let column = p
                .element(tags::COLUMN_POSITION_IN_TOTAL_IMAGE_PIXEL_MATRIX)
                .ok()?
                .to_int::<i64>()
                .ok()?;
            let row = p
                .element(tags::ROW_POSITION_IN_TOTAL_IMAGE_PIXEL_MATRIX)
                .ok()?
                .to_int::<i64>()
                .ok()?;
            Some((u32::try_from(column).ok()?, u32::try_from(row).ok()?))
        });
        let Some(position) = position else {
            return Err(TilerError::bad_file(
                path,
                format!(
                    "DICOM TILED_SPARSE: frame {} has no Plane Position (Slide)",
                    i + 1
                ),
            ));
        };
        positions.push(position);
    }
    Ok(Layout::Sparse(positions))
}

/// Micrometres per pixel (x, y): Pixel Spacing (row spacing, column spacing, in mm) of the
/// shared functional groups, else the imaged volume's size (mm) over the matrix.
fn mpp(object: &DefaultDicomObject, width: u32, height: u32) -> Option<(f64, f64)> {
    let spacing = object
        .element(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE)
        .ok()
        .and_then(|e| e.items()?.first())
        .and_then(|g| {
            g.element(tags::PIXEL_MEASURES_SEQUENCE)
                .ok()?
                .items()?
                .first()
        })
        .and_then(|m| m.element(tags::PIXEL_SPACING).ok()?.to_multi_float64().ok())
        .filter(|v| v.len() == 2)
        .map(|v| (v[1] * 1000.0, v[0] * 1000.0));
    let volume = || {
        let w = object
            .element(tags::IMAGED_VOLUME_WIDTH)
            .ok()?
            .to_float64()
            .ok()?;
        let h = object
            .element(tags::IMAGED_VOLUME_HEIGHT)
            .ok()?
            .to_float64()
            .ok()?;
        Some((
            w * 1000.0 / f64::from(width),
            h * 1000.0 / f64::from(height),
        ))
    };
    spacing
        .or_else(volume)
        .filter(|(x, y)| [x, y].iter().all(|v| v.is_finite() && **v > 0.0))
}

fn text(object: &InMemDicomObject, tag: Tag) -> Option<String> {
    let value = object.element(tag).ok()?.to_str().ok()?;
    let value = value.trim_end_matches('\0').trim();
    (!value.is_empty()).then(|| value.to_string())
}

fn int(object: &InMemDicomObject, tag: Tag) -> Option<u32> {
    object.element(tag).ok()?.to_int::<u32>().ok()
}

/// Every textual or numeric attribute, named by its keyword (`dicom.PatientName`), or by
/// its tag when the dictionary has none (`dicom.(0009,1001)`, private tags).
fn properties(object: &InMemDicomObject) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(object, "dicom", 0, &mut out);
    out
}

fn walk(object: &InMemDicomObject, prefix: &str, depth: usize, out: &mut BTreeMap<String, String>) {
    for element in object {
        if out.len() >= MAX_PROPERTIES {
            return;
        }
        let tag = element.header().tag;
        // Per-frame positions are geometry, thousands of items of it.
        if tag == tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE || tag == tags::PIXEL_DATA {
            continue;
        }
        let name = StandardDataDictionary.by_tag(tag).map_or_else(
            || format!("({:04X},{:04X})", tag.group(), tag.element()),
            |e| e.alias().to_string(),
        );
        let key = format!("{prefix}.{name}");
        if let Some(items) = element.items() {
            if depth < MAX_DEPTH {
                for (i, item) in items.iter().enumerate() {
                    let key = if i == 0 {
                        key.clone()
                    } else {
                        format!("{key}[{}]", i + 1)
                    };
                    walk(item, &key, depth + 1, out);
                }
            }
            continue;
        }
        if matches!(
            element.vr(),
            VR::OB | VR::OW | VR::OF | VR::OD | VR::OL | VR::OV | VR::UN
        ) {
            continue;
        }
        if let Ok(value) = element.to_str() {
            let value: String = value
                .trim_end_matches('\0')
                .trim()
                .chars()
                .take(MAX_VALUE_CHARS)
                .collect();
            if !value.is_empty() {
                out.entry(key).or_insert(value);
            }
        }
    }
}
