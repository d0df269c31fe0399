//! Plain PNG and JPEG images (radiograph, retinal, microscopy exports), decoded whole.

use super::{Rect, SlideInfo, SlideSource, SourceKind, SourceLevel, clamp_region};
use crate::error::{Result, TilerError};
use crate::pixels;
use image::{DynamicImage, ImageReader, RgbImage};
use std::path::Path;

/// Largest plain image decoded into memory (pixels): 1 Gpix is 3 GB of RGB.
pub const MAX_IMAGE_PIXELS: u64 = 1 << 30;

/// A PNG or JPEG held in memory as RGB.
#[derive(Debug)]
pub struct ImageSource {
    image: RgbImage,
    info: SlideInfo,
}

impl ImageSource {
    pub fn open(path: &Path) -> Result<Self> {
        let reader = ImageReader::open(path)
            .map_err(|e| TilerError::io(path, e))?
            .with_guessed_format()
            .map_err(|e| TilerError::io(path, e))?;
        let vendor = match reader.format() {
            Some(image::ImageFormat::Png) => "png",
            Some(image::ImageFormat::Jpeg) => "jpeg",
            _ => return Err(TilerError::unsupported(path, "not a PNG or JPEG image")),
        };
        let (w, h) = reader
            .into_dimensions()
            .map_err(|e| TilerError::bad_file(path, format!("unreadable {vendor} header: {e}")))?;
        if u64::from(w) * u64::from(h) > MAX_IMAGE_PIXELS {
            return Err(TilerError::Limit {
                path: path.to_path_buf(),
                what: "plain image size in pixels",
                value: u64::from(w) * u64::from(h),
                limit: MAX_IMAGE_PIXELS,
            });
        }
        let mut reader = ImageReader::open(path)
            .map_err(|e| TilerError::io(path, e))?
            .with_guessed_format()
            .map_err(|e| TilerError::io(path, e))?;
        reader.no_limits();
        let decoded = reader
            .decode()
            .map_err(|e| TilerError::bad_file(path, format!("{vendor} does not decode: {e}")))?;
        let image = match decoded {
            DynamicImage::ImageRgb8(rgb) => rgb,
            other if other.color().has_alpha() => {
                let rgba = other.to_rgba8();
                RgbImage::from_raw(w, h, pixels::rgba_to_rgb(rgba.as_raw()))
                    .ok_or_else(|| TilerError::bad_file(path, "image size mismatch"))?
            }
            other => other.to_rgb8(),
        };
        let info = SlideInfo {
            path: path.to_path_buf(),
            reader: SourceKind::Image,
            vendor: vendor.into(),
            levels: vec![SourceLevel {
                width: w,
                height: h,
                downsample: 1.0,
                tile_width: None,
                tile_height: None,
            }],
            mpp_x: None,
            mpp_y: None,
            objective_power: None,
            scanner_model: None,
            bounds: Rect::whole(w, h),
            associated_images: Vec::new(),
            // PNG text chunks and JPEG EXIF are not read, so nothing of them can leak.
            properties: std::collections::BTreeMap::new(),
        };
        Ok(Self { image, info })
    }
}

impl SlideSource for ImageSource {
    fn info(&self) -> &SlideInfo {
        &self.info
    }

    fn read_region(&self, level: u32, x: i64, y: i64, width: u32, height: u32) -> Result<RgbImage> {
        if level != 0 {
            return Err(TilerError::Usage(format!(
                "{}: a plain image has only level 0",
                self.info.path.display()
            )));
        }
        let (iw, ih) = self.image.dimensions();
        clamp_region(iw, ih, x, y, width, height, &|inside, out| {
            let out_w = out.width();
            pixels::copy_rect(
                &self.image,
                iw,
                (inside.x, inside.y),
                out,
                out_w,
                (inside.out_x, inside.out_y),
                inside.width,
                inside.height,
            );
            Ok(())
        })
    }
}
