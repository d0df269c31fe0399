//! Tile payload codecs: lossless `zstd` (default) and lossy `jpeg` / `webp`.

mod filter;

use serde::{Deserialize, Serialize};

/// How tile pixels are stored in a cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// Raw RGB through the `sg-up` prediction filter, then zstd. Lossless.
    Zstd,
    /// Baseline JPEG, 4:2:0 below quality 90. Lossy, view-only.
    Jpeg,
    /// Lossy WebP. View-only.
    Webp,
}

impl Codec {
    /// The name used on the command line and in the metadata.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Zstd => "zstd",
            Self::Jpeg => "jpeg",
            Self::Webp => "webp",
        }
    }

    /// The quality used when none is given (zstd: the compression level).
    #[must_use]
    pub fn default_quality(self) -> u8 {
        match self {
            Self::Zstd => 1,
            Self::Jpeg | Self::Webp => 90,
        }
    }
}

impl std::str::FromStr for Codec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "zstd" => Ok(Self::Zstd),
            "jpeg" | "jpg" => Ok(Self::Jpeg),
            "webp" => Ok(Self::Webp),
            other => Err(format!("unknown codec {other:?} (zstd, jpeg or webp)")),
        }
    }
}

/// A codec with its setting: zstd level, or JPEG/WebP quality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodecConfig {
    pub codec: Codec,
    pub quality: u8,
}

impl CodecConfig {
    #[must_use]
    pub fn new(codec: Codec, quality: Option<u8>) -> Self {
        Self {
            codec,
            quality: quality.unwrap_or_else(|| codec.default_quality()),
        }
    }

    /// Encodes packed RGB pixels of a `width × height` tile.
    pub fn encode(&self, rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, String> {
        debug_assert_eq!(rgb.len(), width as usize * height as usize * 3);
        match self.codec {
            Codec::Zstd => {
                let filtered = filter::encode(rgb, width as usize);
                compress_zstd(&filtered, i32::from(self.quality))
            }
            Codec::Jpeg => encode_jpeg(rgb, width, height, self.quality),
            Codec::Webp => {
                let encoder = webp::Encoder::from_rgb(rgb, width, height);
                Ok(encoder.encode(f32::from(self.quality)).to_vec())
            }
        }
    }
}

/// zstd with one reusable context per thread (creating a context costs more than a tile).
fn compress_zstd(data: &[u8], level: i32) -> Result<Vec<u8>, String> {
    use std::cell::RefCell;
    thread_local! {
        static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
            const { RefCell::new(None) };
    }
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(l, _)| *l != level) {
            let mut compressor = zstd::bulk::Compressor::new(level).map_err(|e| e.to_string())?;
            if level == 1 {
                // Filtered tissue residuals hold few long matches: a small hash table and
                // longer minimum match search less for the same ratio (≈10% faster).
                use zstd::zstd_safe::CParameter;
                for param in [CParameter::HashLog(12), CParameter::MinMatch(7)] {
                    compressor.set_parameter(param).map_err(|e| e.to_string())?;
                }
            }
            *slot = Some((level, compressor));
        }
        let (_, compressor) = slot.as_mut().ok_or("no zstd context")?;
        compressor.compress(data).map_err(|e| e.to_string())
    })
}

/// zstd decompression with one reusable context per thread (a new context per tile cost
/// ~3% of a patch export).
fn decompress_zstd(payload: &[u8], capacity: usize) -> std::io::Result<Vec<u8>> {
    use std::cell::RefCell;
    thread_local! {
        static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
            const { RefCell::new(None) };
    }
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Decompressor::new()?);
        }
        match slot.as_mut() {
            Some(d) => d.decompress(payload, capacity),
            None => zstd::bulk::decompress(payload, capacity),
        }
    })
}

/// Whether [`encode_jpeg`] halves the chroma resolution at `quality` (4:2:0 below 90,
/// full-resolution chroma from 90 up).
#[must_use]
pub fn jpeg_subsamples_chroma(quality: u8) -> bool {
    quality < 90
}

/// Encodes RGB as baseline JPEG with libjpeg-turbo (one compressor per thread): 4:4:4
/// from quality 90 up, 4:2:0 below.
pub fn encode_jpeg(rgb: &[u8], width: u32, height: u32, quality: u8) -> Result<Vec<u8>, String> {
    use std::cell::RefCell;
    thread_local! {
        static COMPRESSOR: RefCell<Option<turbojpeg::Compressor>> = const { RefCell::new(None) };
    }
    let image = turbojpeg::Image {
        pixels: rgb,
        width: width as usize,
        pitch: width as usize * 3,
        height: height as usize,
        format: turbojpeg::PixelFormat::RGB,
    };
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(turbojpeg::Compressor::new().map_err(|e| e.to_string())?);
        }
        let compressor = slot.as_mut().ok_or("no JPEG compressor")?;
        compressor
            .set_quality(i32::from(quality.clamp(1, 100)))
            .map_err(|e| e.to_string())?;
        let subsampling = if jpeg_subsamples_chroma(quality) {
            turbojpeg::Subsamp::Sub2x2
        } else {
            turbojpeg::Subsamp::None
        };
        compressor
            .set_subsamp(subsampling)
            .map_err(|e| e.to_string())?;
        compressor.compress_to_vec(image).map_err(|e| e.to_string())
    })
}

/// Decodes a payload back to packed RGB of exactly `width × height` pixels.
pub fn decode(codec: Codec, payload: &[u8], width: u32, height: u32) -> Result<Vec<u8>, String> {
    let expected = width as usize * height as usize * 3;
    let pixels = match codec {
        Codec::Zstd => {
            let mut pixels = decompress_zstd(payload, expected)
                .map_err(|e| format!("zstd payload does not decompress: {e}"))?;
            if pixels.len() != expected {
                return Err(format!(
                    "zstd payload holds {} bytes, expected {expected}",
                    pixels.len()
                ));
            }
            filter::decode(&mut pixels, width as usize);
            pixels
        }
        Codec::Jpeg => decode_jpeg(payload, width, height)?,
        Codec::Webp => {
            let image = webp::Decoder::new(payload)
                .decode()
                .ok_or("webp payload does not decode")?;
            if image.width() != width || image.height() != height {
                return Err(format!(
                    "webp payload is {}×{}, expected {width}×{height}",
                    image.width(),
                    image.height()
                ));
            }
            if image.is_alpha() {
                image
                    .chunks_exact(4)
                    .flat_map(|p| [p[0], p[1], p[2]])
                    .collect()
            } else {
                image.to_vec()
            }
        }
    };
    if pixels.len() == expected {
        Ok(pixels)
    } else {
        Err(format!(
            "payload decodes to {} bytes, expected {expected}",
            pixels.len()
        ))
    }
}

/// Decodes a JPEG to RGB with zune-jpeg and checks its size.
pub fn decode_jpeg(payload: &[u8], width: u32, height: u32) -> Result<Vec<u8>, String> {
    use zune_core::{bytestream::ZCursor, colorspace::ColorSpace, options::DecoderOptions};
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(payload), options);
    let pixels = decoder
        .decode()
        .map_err(|e| format!("jpeg payload does not decode: {e:?}"))?;
    let (w, h) = decoder.dimensions().ok_or("jpeg payload has no size")?;
    if (w as u32, h as u32) != (width, height) {
        return Err(format!(
            "jpeg payload is {w}×{h}, expected {width}×{height}"
        ));
    }
    Ok(pixels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(w: u32, h: u32) -> Vec<u8> {
        (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                [(x * 3) as u8, (y * 2) as u8, u32::midpoint(x, y) as u8]
            })
            .collect()
    }

    #[test]
    fn zstd_is_lossless() {
        let rgb = pattern(256, 100);
        let config = CodecConfig::new(Codec::Zstd, None);
        let payload = config.encode(&rgb, 256, 100).expect("encode");
        assert_eq!(
            decode(Codec::Zstd, &payload, 256, 100).expect("decode"),
            rgb
        );
    }

    #[test]
    fn lossy_codecs_are_close() {
        let rgb = pattern(64, 48);
        for codec in [Codec::Jpeg, Codec::Webp] {
            let payload = CodecConfig::new(codec, None)
                .encode(&rgb, 64, 48)
                .expect("encode");
            let back = decode(codec, &payload, 64, 48).expect("decode");
            let max = rgb
                .iter()
                .zip(&back)
                .map(|(a, b)| a.abs_diff(*b))
                .max()
                .unwrap_or(0);
            assert!(max < 24, "{codec:?} differs by {max}");
        }
    }

    #[test]
    fn wrong_sizes_are_refused() {
        let rgb = pattern(32, 32);
        let payload = CodecConfig::new(Codec::Zstd, None)
            .encode(&rgb, 32, 32)
            .expect("encode");
        assert!(decode(Codec::Zstd, &payload, 32, 31).is_err());
        assert!(decode(Codec::Zstd, &payload[..payload.len() / 2], 32, 32).is_err());
    }
}
