//! Reading a model's map: one grey channel from PNG (8/16-bit), TIFF (8/16-bit unsigned or
//! 32/64-bit float) or NumPy `.npy` (`|u1`, `<u2`, `<f4`, `<f8`, shape `(h, w)` or
//! `(h, w, 1)`, C order). Sizes are checked against [`MAX_PIXELS`] before allocating.

use super::HeatmapError;
use std::io::{BufReader, Read};
use std::path::Path;

/// Largest map accepted, in pixels (2^28: a 16k × 16k map).
pub const MAX_PIXELS: u64 = 1 << 28;

/// A map's samples as stored in the file.
#[derive(Debug, Clone, PartialEq)]
pub enum Samples {
    U8(Vec<u8>),
    U16(Vec<u16>),
    /// Floats (`f64` files are narrowed to `f32`); NaN means no data.
    F32(Vec<f32>),
}

impl Samples {
    /// The dtype named as NumPy names it, for metadata and messages.
    #[must_use]
    pub fn dtype(&self) -> &'static str {
        match self {
            Self::U8(_) => "uint8",
            Self::U16(_) => "uint16",
            Self::F32(_) => "float32",
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::U8(v) => v.len(),
            Self::U16(v) => v.len(),
            Self::F32(v) => v.len(),
        }
    }
}

/// A decoded map.
#[derive(Debug, Clone, PartialEq)]
pub struct Raster {
    pub width: u32,
    pub height: u32,
    pub samples: Samples,
}

/// Reads `path`, choosing the decoder by its first bytes (not its name).
pub fn read(path: &Path) -> Result<Raster, HeatmapError> {
    let bad = |reason: String| HeatmapError::bad_input(path, reason);
    let file = std::fs::File::open(path).map_err(|e| HeatmapError::io(path, e))?;
    let mut reader = BufReader::new(file);
    let mut magic = [0u8; 8];
    let got = read_up_to(&mut reader, &mut magic).map_err(|e| HeatmapError::io(path, e))?;
    let magic = &magic[..got];
    let file = std::fs::File::open(path).map_err(|e| HeatmapError::io(path, e))?;
    let reader = BufReader::new(file);
    let raster = if magic.starts_with(b"\x93NUMPY") {
        read_npy(reader).map_err(bad)?
    } else if magic.starts_with(b"\x89PNG\r\n\x1a\n") {
        read_png(reader).map_err(bad)?
    } else if magic.starts_with(b"II*\0")
        || magic.starts_with(b"MM\0*")
        || magic.starts_with(b"II+\0")
        || magic.starts_with(b"MM\0+")
    {
        read_tiff(reader).map_err(bad)?
    } else {
        return Err(bad(
            "is not a PNG, TIFF or NumPy .npy file (unrecognised first bytes)".into(),
        ));
    };
    if raster.samples.len() != raster.width as usize * raster.height as usize {
        return Err(bad(format!(
            "holds {} samples for {}×{} pixels",
            raster.samples.len(),
            raster.width,
            raster.height
        )));
    }
    Ok(raster)
}

fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

fn check_size(width: u64, height: u64) -> Result<(u32, u32), String> {
    if width == 0 || height == 0 {
        return Err(format!("is empty ({width}×{height} pixels)"));
    }
    if width * height > MAX_PIXELS || width > u64::from(u32::MAX) || height > u64::from(u32::MAX) {
        return Err(format!(
            "is {width}×{height} pixels, over the {MAX_PIXELS}-pixel limit for a heatmap; \
             write it at a coarser scale"
        ));
    }
    Ok((width as u32, height as u32))
}

/// A NumPy header: its dtype, its shape as written, and the array's height and width.
fn npy_header(r: &mut impl Read) -> Result<(String, String, u64, u64), String> {
    let mut head = [0u8; 8];
    r.read_exact(&mut head)
        .map_err(|e| format!("NumPy header: {e}"))?;
    let header_len = if head[6] == 1 {
        let mut b = [0u8; 2];
        r.read_exact(&mut b)
            .map_err(|e| format!("NumPy header: {e}"))?;
        usize::from(u16::from_le_bytes(b))
    } else if matches!(head[6], 2 | 3) {
        let mut b = [0u8; 4];
        r.read_exact(&mut b)
            .map_err(|e| format!("NumPy header: {e}"))?;
        u32::from_le_bytes(b) as usize
    } else {
        return Err(format!(
            "NumPy format version {}.{} is not supported",
            head[6], head[7]
        ));
    };
    if header_len > 1 << 16 {
        return Err(format!("NumPy header of {header_len} bytes is too long"));
    }
    let mut header = vec![0u8; header_len];
    r.read_exact(&mut header)
        .map_err(|e| format!("NumPy header: {e}"))?;
    let header = String::from_utf8_lossy(&header);
    let field = |name: &str| -> Option<String> {
        let at = header.find(&format!("'{name}'"))? + name.len() + 2;
        let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
        Some(rest.to_string())
    };
    let descr = field("descr")
        .and_then(|s| {
            s.strip_prefix('\'')
                .and_then(|s| s.split('\'').next())
                .map(str::to_string)
        })
        .ok_or("NumPy header has no 'descr'")?;
    if field("fortran_order").is_some_and(|s| s.starts_with("True")) {
        return Err("is a Fortran-order array; save it in C order (np.ascontiguousarray)".into());
    }
    let shape = field("shape").ok_or("NumPy header has no 'shape'")?;
    let inner = shape
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or("NumPy header's shape is not a tuple")?;
    let dims: Vec<u64> = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<u64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("NumPy shape ({inner}) is not a list of sizes"))?;
    let (height, width) = match dims.as_slice() {
        [h, w] | [h, w, 1] => (*h, *w),
        _ => {
            return Err(format!(
                "has shape ({inner}); a heatmap is one channel: (height, width) or (height, width, 1)"
            ));
        }
    };
    Ok((descr, inner.to_string(), height, width))
}

/// NumPy format 1.0–3.0: magic, version, header length, a Python dict literal, data.
fn read_npy(mut r: impl Read) -> Result<Raster, String> {
    let (descr, inner, height, width) = npy_header(&mut r)?;
    let (width, height) = check_size(width, height)?;
    let n = width as usize * height as usize;
    let mut bytes = |size: usize| -> Result<Vec<u8>, String> {
        let mut data = vec![0u8; n * size];
        r.read_exact(&mut data).map_err(|_| {
            format!(
                "is truncated: shape ({inner}) needs {} bytes of data",
                n * size
            )
        })?;
        Ok(data)
    };
    let samples = match descr.as_str() {
        "|u1" | "<u1" | "u1" | "|b1" => Samples::U8(bytes(1)?),
        "<u2" => Samples::U16(
            bytes(2)?
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect(),
        ),
        "<f4" => Samples::F32(
            bytes(4)?
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        "<f8" => Samples::F32(
            bytes(8)?
                .chunks_exact(8)
                .map(|c| {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(c);
                    f64::from_le_bytes(a) as f32
                })
                .collect(),
        ),
        other => {
            return Err(format!(
                "has unsupported dtype '{other}' (expected uint8 '|u1', uint16 '<u2', float32 '<f4' or float64 '<f8')"
            ));
        }
    };
    Ok(Raster {
        width,
        height,
        samples,
    })
}

fn read_png(r: impl std::io::BufRead + std::io::Seek) -> Result<Raster, String> {
    use image::ImageDecoder;
    let decoder =
        image::codecs::png::PngDecoder::new(r).map_err(|e| format!("PNG does not decode: {e}"))?;
    let (w, h) = decoder.dimensions();
    let (width, height) = check_size(u64::from(w), u64::from(h))?;
    let color = decoder.color_type();
    let mut bytes = vec![0u8; decoder.total_bytes() as usize];
    let samples = match color {
        image::ColorType::L8 => {
            decoder
                .read_image(&mut bytes)
                .map_err(|e| format!("PNG does not decode: {e}"))?;
            Samples::U8(bytes)
        }
        image::ColorType::L16 => {
            decoder
                .read_image(&mut bytes)
                .map_err(|e| format!("PNG does not decode: {e}"))?;
            // The decoder writes 16-bit samples in native order.
            Samples::U16(
                bytes
                    .chunks_exact(2)
                    .map(|c| u16::from_ne_bytes([c[0], c[1]]))
                    .collect(),
            )
        }
        other => {
            return Err(format!(
                "is a {other:?} PNG; a heatmap is one grey channel (8 or 16-bit)"
            ));
        }
    };
    Ok(Raster {
        width,
        height,
        samples,
    })
}

fn read_tiff(r: impl Read + std::io::Seek) -> Result<Raster, String> {
    use tiff::decoder::{Decoder, DecodingResult};
    let tiff_err = |e: tiff::TiffError| format!("TIFF does not decode: {e}");
    let mut decoder = Decoder::new(r).map_err(tiff_err)?;
    let (w, h) = decoder.dimensions().map_err(tiff_err)?;
    let (width, height) = check_size(u64::from(w), u64::from(h))?;
    match decoder.colortype().map_err(tiff_err)? {
        tiff::ColorType::Gray(8 | 16 | 32 | 64) => {}
        other => {
            return Err(format!(
                "is a {other:?} TIFF; a heatmap is one grey channel (8/16-bit unsigned or 32/64-bit float)"
            ));
        }
    }
    let samples = match decoder.read_image().map_err(tiff_err)? {
        DecodingResult::U8(v) => Samples::U8(v),
        DecodingResult::U16(v) => Samples::U16(v),
        DecodingResult::F32(v) => Samples::F32(v),
        DecodingResult::F64(v) => Samples::F32(v.into_iter().map(|x| x as f32).collect()),
        other => {
            return Err(format!(
                "has unsupported sample type {} (expected 8/16-bit unsigned or 32/64-bit float)",
                sample_name(&other)
            ));
        }
    };
    Ok(Raster {
        width,
        height,
        samples,
    })
}

fn sample_name(r: &tiff::decoder::DecodingResult) -> &'static str {
    use tiff::decoder::DecodingResult as D;
    match r {
        D::U8(_) => "uint8",
        D::U16(_) => "uint16",
        D::U32(_) => "uint32",
        D::U64(_) => "uint64",
        D::F16(_) => "float16",
        D::F32(_) => "float32",
        D::F64(_) => "float64",
        D::I8(_) => "int8",
        D::I16(_) => "int16",
        _ => "signed integer",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn npy_float_and_wrong_dtypes() {
        let data: Vec<u8> = [0.5f32, 1.0, -2.0, f32::NAN, 3.0, 4.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let r = read_npy(npy("<f4", "(2, 3)", &data).as_slice()).expect("reads");
        assert_eq!((r.width, r.height), (3, 2));
        let Samples::F32(v) = r.samples else {
            panic!("float samples")
        };
        assert!((v[2] + 2.0).abs() < f32::EPSILON);
        let err = read_npy(npy("<i4", "(2, 3)", &data[..24]).as_slice()).expect_err("refused");
        assert!(err.contains("unsupported dtype '<i4'"), "{err}");
        let err = read_npy(npy("<f4", "(2, 3, 3)", &data).as_slice()).expect_err("refused");
        assert!(err.contains("one channel"), "{err}");
        let err = read_npy(npy("<f4", "(4, 3)", &data).as_slice()).expect_err("refused");
        assert!(err.contains("truncated"), "{err}");
    }
}
