//! Reader for every format OpenSlide handles, through openslide-rs.

use super::{AssociatedImage, Rect, SlideInfo, SlideSource, SourceKind, SourceLevel};
use crate::error::{Result, TilerError};
use crate::pixels;
use image::RgbImage;
use openslide_rs::{Address, OpenSlide, Region, Size};
use std::path::Path;

/// Property names that carry the scanner model in the formats that record one.
const MODEL_PROPERTIES: [&str; 6] = [
    "hamamatsu.Product",
    "leica.device-model",
    "philips.DICOM_MANUFACTURERS_MODEL_NAME",
    "ventana.ScannerModel",
    "dicom.ManufacturerModelName",
    "tiff.Model",
];

/// A slide opened by OpenSlide. OpenSlide's calls are thread-safe, so one handle serves
/// every thread.
#[derive(Debug)]
pub struct OpenSlideSource {
    slide: OpenSlide,
    info: SlideInfo,
}

impl OpenSlideSource {
    /// OpenSlide's vendor name for a file, or `None` when OpenSlide does not recognise it.
    #[must_use]
    pub fn detect_vendor(path: &Path) -> Option<String> {
        OpenSlide::detect_vendor(path)
            .ok()
            .filter(|v| !v.is_empty())
    }

    /// Opens a slide with OpenSlide.
    pub fn open(path: &Path) -> Result<Self> {
        let vendor = Self::detect_vendor(path)
            .ok_or_else(|| TilerError::unsupported(path, "not a format OpenSlide recognises"))?;
        let slide = OpenSlide::new(path)
            .map_err(|e| TilerError::bad_file(path, format!("OpenSlide cannot open it: {e}")))?;
        let property = |name: &str| slide.property_value(name).ok().filter(|v| !v.is_empty());
        let number = |name: &str| {
            property(name)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v > 0.0)
        };
        let levels = slide
            .all_level_dimensions()
            .iter()
            .zip(slide.all_level_downsamples())
            .enumerate()
            .map(|(level, (size, &downsample))| SourceLevel {
                width: size.w,
                height: size.h,
                downsample,
                tile_width: number(&format!("openslide.level[{level}].tile-width"))
                    .map(|v| v as u32),
                tile_height: number(&format!("openslide.level[{level}].tile-height"))
                    .map(|v| v as u32),
            })
            .collect::<Vec<_>>();
        let Some(first) = levels.first().copied() else {
            return Err(TilerError::bad_file(path, "OpenSlide reports no levels"));
        };
        let bounds = slide.bounds();
        let bounds = Rect {
            x: i64::from(bounds.origin.x),
            y: i64::from(bounds.origin.y),
            width: bounds.size.w.min(first.width),
            height: bounds.size.h.min(first.height),
        };
        let info = SlideInfo {
            path: path.to_path_buf(),
            reader: SourceKind::OpenSlide,
            vendor,
            mpp_x: number("openslide.mpp-x"),
            mpp_y: number("openslide.mpp-y"),
            objective_power: number("openslide.objective-power"),
            // The first model name with no serial number, date or id in it.
            scanner_model: MODEL_PROPERTIES.iter().find_map(|name| {
                property(name)
                    .filter(|v| crate::deid::classify(name, v) == crate::deid::Class::Safe)
            }),
            bounds,
            associated_images: associated_images(&slide),
            properties: slide
                .property_names()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|name| Some((name.clone(), slide.property_value(&name).ok()?)))
                .collect(),
            levels,
        };
        Ok(Self { slide, info })
    }
}

/// Names and sizes of the images OpenSlide finds beside the pyramid.
fn associated_images(slide: &OpenSlide) -> Vec<AssociatedImage> {
    slide
        .associated_image_names()
        .unwrap_or_default()
        .into_iter()
        .map(|name| {
            let size = slide.associated_image_dimensions(&name).ok();
            AssociatedImage {
                width: size.map_or(0, |s| s.w),
                height: size.map_or(0, |s| s.h),
                name,
            }
        })
        .collect()
}

impl SlideSource for OpenSlideSource {
    fn info(&self) -> &SlideInfo {
        &self.info
    }

    fn read_region(&self, level: u32, x: i64, y: i64, width: u32, height: u32) -> Result<RgbImage> {
        if level as usize >= self.info.levels.len() {
            return Err(TilerError::Usage(format!(
                "{}: level {level} does not exist (the slide has {})",
                self.info.path.display(),
                self.info.levels.len()
            )));
        }
        let (Ok(ax), Ok(ay)) = (u32::try_from(x), u32::try_from(y)) else {
            return Err(TilerError::Usage(format!(
                "region origin ({x}, {y}) must not be negative"
            )));
        };
        let region = Region {
            address: Address { x: ax, y: ay },
            level,
            size: Size {
                w: width,
                h: height,
            },
        };
        let bgra = self.slide.read_region(&region).map_err(|e| {
            TilerError::bad_file(
                &self.info.path,
                format!(
                    "OpenSlide cannot read level {level} region at ({x}, {y}) {width}×{height}: {e}"
                ),
            )
        })?;
        let rgb = pixels::premultiplied_bgra_to_rgb(&bgra);
        RgbImage::from_raw(width, height, rgb)
            .ok_or_else(|| TilerError::Usage("OpenSlide returned a short buffer".into()))
    }
}
