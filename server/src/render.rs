//! Pixels for HTTP responses: tiles at Deep Zoom levels, IIIF regions, thumbnails, and the
//! encoders that turn them into JPEG, PNG or WebP. Blocking code: callers run it off the
//! async threads.

use crate::iiif::{Format, ImageRequest, Plan, Quality};
use crate::store::Slide;
use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use tiler::TileCoord;

/// Packed RGB with its size.
#[derive(Debug, Clone)]
pub struct Rgb {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

/// Why pixels could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The request points outside the pyramid.
    #[error("{0}")]
    OutOfRange(String),
    /// The cache is damaged (checksum, decode) or unreadable.
    #[error(transparent)]
    Cache(#[from] tiler::TilerError),
    #[error("encoding failed: {0}")]
    Encode(String),
}

/// The tile of cache level `level` (which may lie past the cache's top level: Deep Zoom
/// continues down to 1×1 and those levels are halvings of the top tile).
pub fn tile(slide: &Slide, level: u32, col: u32, row: u32) -> Result<Rgb, RenderError> {
    let grid = slide.cache.grid();
    let top = grid.level_count() - 1;
    if level <= top {
        let coord = TileCoord::new(level, col, row, grid)
            .map_err(|e| RenderError::OutOfRange(e.to_string()))?;
        let tile = slide.cache.read_tile(coord)?;
        return Ok(Rgb {
            width: tile.width,
            height: tile.height,
            data: tile.rgb,
        });
    }
    if col != 0 || row != 0 {
        return Err(RenderError::OutOfRange(format!(
            "tile ({col}, {row}) is outside level {level}, which is one tile"
        )));
    }
    let mut image = tile(slide, top, 0, 0)?;
    for _ in top..level {
        image = Rgb {
            width: image.width.div_ceil(2),
            height: image.height.div_ceil(2),
            data: tiler::halve(&image.data, image.width, image.height),
        };
    }
    Ok(image)
}

/// `image` in the top-left corner of a `width × height` canvas of colour `fill` (cropped
/// where it is larger).
#[must_use]
pub fn pad(image: &Rgb, width: u32, height: u32, fill: [u8; 3]) -> Rgb {
    let mut data = fill.repeat(width as usize * height as usize);
    let copy = image.width.min(width) as usize * 3;
    for y in 0..image.height.min(height) as usize {
        let from = y * image.width as usize * 3;
        let to = y * width as usize * 3;
        data[to..to + copy].copy_from_slice(&image.data[from..from + copy]);
    }
    Rgb {
        width,
        height,
        data,
    }
}

/// Resizes RGB (Catmull-Rom; exact copies when the size is unchanged).
#[must_use]
pub fn resize(image: Rgb, width: u32, height: u32) -> Rgb {
    if image.width == width && image.height == height {
        return image;
    }
    let mut dst = Image::new(width, height, PixelType::U8x3);
    let resized = ImageRef::new(image.width, image.height, &image.data, PixelType::U8x3)
        .map_err(|e| e.to_string())
        .and_then(|src| {
            Resizer::new()
                .resize(
                    &src,
                    &mut dst,
                    &ResizeOptions::new()
                        .resize_alg(ResizeAlg::Convolution(FilterType::CatmullRom)),
                )
                .map_err(|e| e.to_string())
        });
    match resized {
        Ok(()) => Rgb {
            width,
            height,
            data: dst.into_vec(),
        },
        Err(_) => image,
    }
}

/// Renders a planned IIIF request: the scaled region, mirrored, rotated, in its quality.
pub fn iiif(slide: &Slide, request: &ImageRequest, plan: Plan) -> Result<Rgb, RenderError> {
    let mut image = scaled_region(slide, plan)?;
    if request.mirror {
        image = mirror(&image);
    }
    for _ in 0..request.rotation / 90 {
        image = rotate90(&image);
    }
    apply_quality(&mut image, request.quality);
    Ok(image)
}

/// The plan's full-resolution rectangle at its output size, read from the level that has
/// just enough resolution.
fn scaled_region(slide: &Slide, plan: Plan) -> Result<Rgb, RenderError> {
    let grid = slide.cache.grid();
    let top = grid.level_count() - 1;
    // Largest power of two not above the downscale in either direction.
    let scale = (plan.w as f64 / f64::from(plan.out_w)).min(plan.h as f64 / f64::from(plan.out_h));
    let level = if scale >= 2.0 {
        (scale.log2().floor() as u32).min(top)
    } else {
        0
    };
    let factor = 1u64 << level;
    let (lw, lh) = (
        plan.w.div_ceil(factor) as u32,
        plan.h.div_ceil(factor) as u32,
    );
    let region = tiler::read_cache_region(
        &slide.cache,
        level,
        plan.x.cast_signed(),
        plan.y.cast_signed(),
        lw.max(1),
        lh.max(1),
    )?;
    Ok(resize(
        Rgb {
            width: region.width(),
            height: region.height(),
            data: region.into_raw(),
        },
        plan.out_w,
        plan.out_h,
    ))
}

fn mirror(image: &Rgb) -> Rgb {
    let w = image.width as usize;
    let mut data = Vec::with_capacity(image.data.len());
    for row in image.data.chunks_exact(w * 3) {
        data.extend(row.chunks_exact(3).rev().flatten());
    }
    Rgb { data, ..*image }
}

/// Rotates 90° clockwise.
fn rotate90(image: &Rgb) -> Rgb {
    let (w, h) = (image.width as usize, image.height as usize);
    let mut data = vec![0u8; image.data.len()];
    for y in 0..h {
        for x in 0..w {
            let (nx, ny) = (h - 1 - y, x);
            let (s, d) = ((y * w + x) * 3, (ny * h + nx) * 3);
            data[d..d + 3].copy_from_slice(&image.data[s..s + 3]);
        }
    }
    Rgb {
        width: image.height,
        height: image.width,
        data,
    }
}

fn apply_quality(image: &mut Rgb, quality: Quality) {
    if matches!(quality, Quality::Default | Quality::Color) {
        return;
    }
    for px in image.data.chunks_exact_mut(3) {
        let luma =
            (u32::from(px[0]) * 299 + u32::from(px[1]) * 587 + u32::from(px[2]) * 114 + 500) / 1000;
        let v = match quality {
            Quality::Bitonal => {
                if luma >= 128 {
                    255
                } else {
                    0
                }
            }
            _ => luma as u8,
        };
        px.fill(v);
    }
}

/// A thumbnail no larger than `max` on either side, from the smallest level that covers it.
pub fn thumbnail(slide: &Slide, max: u32) -> Result<Rgb, RenderError> {
    let m = slide.cache.metadata();
    let scale = (f64::from(max) / f64::from(m.width))
        .min(f64::from(max) / f64::from(m.height))
        .min(1.0);
    let (out_w, out_h) = (
        ((f64::from(m.width) * scale).round() as u32).max(1),
        ((f64::from(m.height) * scale).round() as u32).max(1),
    );
    let plan = Plan {
        x: 0,
        y: 0,
        w: u64::from(m.width),
        h: u64::from(m.height),
        out_w,
        out_h,
    };
    scaled_region(slide, plan)
}

/// Encodes RGB in `format`; `quality` is the JPEG/WebP quality.
pub fn encode(image: &Rgb, format: Format, quality: u8) -> Result<Vec<u8>, RenderError> {
    match format {
        Format::Jpg => tiler::encode_jpeg(&image.data, image.width, image.height, quality)
            .map_err(RenderError::Encode),
        Format::Png => {
            use image::ImageEncoder;
            let mut out = Vec::new();
            image::codecs::png::PngEncoder::new_with_quality(
                &mut out,
                image::codecs::png::CompressionType::Fast,
                image::codecs::png::FilterType::Adaptive,
            )
            .write_image(
                &image.data,
                image.width,
                image.height,
                image::ExtendedColorType::Rgb8,
            )
            .map_err(|e| RenderError::Encode(e.to_string()))?;
            Ok(out)
        }
        Format::Webp => Ok(
            webp::Encoder::from_rgb(&image.data, image.width, image.height)
                .encode(f32::from(quality))
                .to_vec(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pad_puts_the_image_top_left_on_the_fill() {
        let image = Rgb {
            width: 2,
            height: 1,
            data: vec![1, 2, 3, 4, 5, 6],
        };
        let padded = pad(&image, 3, 2, [9, 9, 9]);
        assert_eq!((padded.width, padded.height), (3, 2));
        assert_eq!(
            padded.data,
            [1, 2, 3, 4, 5, 6, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9]
        );
    }
}
