//! Patch files: RGB, 8-bit semantic and 16-bit instance masks as PNG, and NumPy `.npy`.

use super::error::ResearchError;
use image::ImageEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};

/// Fast deflate with one fixed filter: `Sub` for pixels, none for masks (their long runs
/// compress on their own); trying every filter on every row (`Adaptive`) is dearer.
fn png(
    data: &[u8],
    width: u32,
    height: u32,
    color: image::ExtendedColorType,
    what: &'static str,
) -> Result<Vec<u8>, ResearchError> {
    let filter = if matches!(color, image::ExtendedColorType::Rgb8) {
        FilterType::Sub
    } else {
        FilterType::NoFilter
    };
    let mut out = Vec::new();
    PngEncoder::new_with_quality(&mut out, CompressionType::Fast, filter)
        .write_image(data, width, height, color)
        .map_err(|e| ResearchError::Encode {
            what,
            reason: e.to_string(),
        })?;
    Ok(out)
}

/// Packed RGB as an 8-bit RGB PNG.
pub fn rgb_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, ResearchError> {
    png(rgb, width, height, image::ExtendedColorType::Rgb8, "image")
}

/// A semantic mask as an 8-bit grey PNG.
pub fn semantic_png(mask: &[u8], width: u32, height: u32) -> Result<Vec<u8>, ResearchError> {
    png(
        mask,
        width,
        height,
        image::ExtendedColorType::L8,
        "semantic mask",
    )
}

/// An instance mask as a 16-bit grey PNG; labels over 65535 are refused.
pub fn instance_png(mask: &[u32], width: u32, height: u32) -> Result<Vec<u8>, ResearchError> {
    let mut bytes = Vec::with_capacity(mask.len() * 2);
    for &v in mask {
        let v = u16::try_from(v).map_err(|_| {
            ResearchError::Limit(format!(
                "instance label {v} does not fit a 16-bit PNG (at most 65535)"
            ))
        })?;
        // The encoder takes 16-bit samples in native order and writes them big-endian.
        bytes.extend_from_slice(&v.to_ne_bytes());
    }
    png(
        &bytes,
        width,
        height,
        image::ExtendedColorType::L16,
        "instance mask",
    )
}

/// A NumPy `.npy` (format 1.0) file of `shape` holding `data` of type `descr`
/// (`|u1`, `<u2`, `<u4`), C order.
#[must_use]
pub fn npy(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    // Magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_bit_masks_round_trip_through_png() -> Result<(), Box<dyn std::error::Error>> {
        let mask = [0u32, 1, 300, 65535];
        let bytes = instance_png(&mask, 2, 2)?;
        let img = image::load_from_memory(&bytes)?.into_luma16();
        assert_eq!(img.into_raw(), [0u16, 1, 300, 65535]);
        assert!(matches!(
            instance_png(&[65536], 1, 1),
            Err(ResearchError::Limit(_))
        ));
        Ok(())
    }

    #[test]
    fn npy_headers_are_aligned_and_say_the_shape() {
        let out = npy("<u2", &[2, 3], &[0; 12]);
        assert_eq!(&out[..8], b"\x93NUMPY\x01\x00");
        let len = u16::from_le_bytes([out[8], out[9]]) as usize;
        assert_eq!((10 + len) % 64, 0);
        let header = std::str::from_utf8(&out[10..10 + len]).unwrap_or("");
        assert!(header.contains("'shape': (2, 3)") && header.contains("'<u2'"));
        assert_eq!(out.len(), 10 + len + 12);
    }
}
