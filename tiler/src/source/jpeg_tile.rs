//! Decoding one JPEG-compressed source tile (a TIFF tile or a DICOM frame) to packed RGB,
//! with zune-jpeg, whose SIMD colour conversion does the YCbCr → RGB step.

use zune_core::{bytestream::ZCursor, colorspace::ColorSpace, options::DecoderOptions};

/// How to treat a three-component JPEG's samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JpegColour {
    /// The container says YCbCr: convert to RGB.
    YCbCr,
    /// Take the samples as they are unless the stream itself says otherwise (TIFF RGB:
    /// Aperio writes RGB samples with no JFIF or Adobe marker).
    AsStored,
    /// Let the stream's JFIF and Adobe markers (or RGB component ids) decide, and the
    /// container's word (`true`: YCbCr) only when the stream says nothing. DICOM writers
    /// label JFIF (YCbCr) frames RGB; the markers are unambiguous, the label is not.
    FromStream { container_ycbcr: bool },
}

/// The stream without its Adobe APP14 segment, when that segment says "no transform" and
/// the frame has three components (RGB samples).
fn without_adobe_rgb_marker(stream: &[u8]) -> Option<Vec<u8>> {
    if stream_says_ycbcr(stream) != Some(false) {
        return None;
    }
    let mut at = 2;
    while at + 4 <= stream.len() && stream[at] == 0xff && stream[at + 1] != 0xda {
        let len = u16::from_be_bytes([stream[at + 2], stream[at + 3]]) as usize;
        if stream[at + 1] == 0xee {
            return Some([&stream[..at], stream.get(at + 2 + len..)?].concat());
        }
        at += 2 + len;
    }
    None
}

/// What a JPEG stream's own markers say about its three components, if anything.
fn stream_says_ycbcr(stream: &[u8]) -> Option<bool> {
    let mut at = 2; // after SOI
    let mut component_ids = None;
    while at + 4 <= stream.len() && stream[at] == 0xff {
        let marker = stream[at + 1];
        let len = u16::from_be_bytes([stream[at + 2], stream[at + 3]]) as usize;
        let body = stream.get(at + 4..at + 2 + len)?;
        match marker {
            0xe0 if body.starts_with(b"JFIF\0") => return Some(true),
            // Adobe APP14: the transform byte follows "Adobe", version and two flags.
            0xee if body.starts_with(b"Adobe") && body.len() >= 12 => return Some(body[11] != 0),
            // Baseline or progressive frame header: the components' ids.
            0xc0..=0xc2 if body.len() >= 15 && body[5] == 3 => {
                component_ids = Some([body[6], body[9], body[12]]);
            }
            0xda => break,
            _ => {}
        }
        at += 2 + len;
    }
    (component_ids == Some(*b"RGB")).then_some(false)
}

/// Decodes `stream` into a `width × height` RGB tile. The JPEG may be larger than the
/// tile (edge tiles are stored at full size) but not larger than `max` (a few bytes can
/// declare 16384 × 16384 pixels and take seconds to decode); the part inside the tile is
/// kept. Grey JPEGs become grey RGB. The error says what is wrong, for the caller to place.
pub(crate) fn decode_rgb(
    stream: &[u8],
    colour: JpegColour,
    max: (u32, u32),
    (width, height): (u32, u32),
) -> Result<Vec<u8>, String> {
    let mut decoder = zune_jpeg::JpegDecoder::new(ZCursor::new(stream));
    decoder
        .decode_headers()
        .map_err(|e| format!("JPEG header: {e:?}"))?;
    // zune-jpeg takes Adobe's "no transform" for CMYK even with three components; without
    // the marker it hands RGB samples out as they are stored.
    if decoder.input_colorspace() == Some(ColorSpace::CMYK)
        && let Some(plain) = without_adobe_rgb_marker(stream)
    {
        return decode_rgb(&plain, JpegColour::AsStored, max, (width, height));
    }
    let (jw, jh) = decoder.dimensions().unwrap_or((0, 0));
    if jw > max.0 as usize || jh > max.1 as usize {
        return Err(format!(
            "JPEG is {jw}×{jh}, larger than the {}×{} tile",
            max.0, max.1
        ));
    }
    let input = decoder.input_colorspace().unwrap_or(ColorSpace::YCbCr);
    let ycbcr = match colour {
        JpegColour::YCbCr => true,
        JpegColour::AsStored => false,
        JpegColour::FromStream { container_ycbcr } => {
            stream_says_ycbcr(stream).unwrap_or(container_ycbcr)
        }
    };
    let out = match (input, ycbcr) {
        (ColorSpace::Luma, _) => ColorSpace::Luma,
        (_, true) => ColorSpace::RGB,
        (ColorSpace::CMYK | ColorSpace::YCCK, false) => {
            return Err(format!("JPEG with {input:?} samples"));
        }
        // No conversion: zune-jpeg hands the samples out as they are stored.
        (other, false) => other,
    };
    decoder.set_options(DecoderOptions::default().jpeg_set_out_colorspace(out));
    let pixels = decoder.decode().map_err(|e| format!("JPEG data: {e:?}"))?;
    let (jw, jh) = decoder.dimensions().unwrap_or((0, 0));
    let channels = if out == ColorSpace::Luma { 1 } else { 3 };
    if jw < width as usize || jh < height as usize || pixels.len() != jw * jh * channels {
        return Err(format!(
            "JPEG is {jw}×{jh}, the tile needs {width}×{height}"
        ));
    }
    if channels == 3 && jw == width as usize {
        let mut pixels = pixels;
        pixels.truncate(width as usize * height as usize * 3);
        return Ok(pixels);
    }
    let mut rgb = Vec::with_capacity(width as usize * height as usize * 3);
    for row in pixels.chunks_exact(jw * channels).take(height as usize) {
        let row = &row[..width as usize * channels];
        if channels == 1 {
            rgb.extend(row.iter().flat_map(|&g| [g, g, g]));
        } else {
            rgb.extend_from_slice(row);
        }
    }
    Ok(rgb)
}

#[cfg(test)]
mod tests {
    use super::stream_says_ycbcr;

    /// SOI, one APP segment (or none), a 3-component SOF0 with `ids`, SOS.
    fn stream(app: Option<(u8, &[u8])>, ids: [u8; 3]) -> Vec<u8> {
        let mut s = vec![0xff, 0xd8];
        if let Some((marker, body)) = app {
            s.extend([0xff, marker]);
            s.extend(((body.len() + 2) as u16).to_be_bytes());
            s.extend(body);
        }
        s.extend([0xff, 0xc0, 0, 17, 8, 0, 16, 0, 16, 3]);
        for id in ids {
            s.extend([id, 0x11, 0]);
        }
        s.extend([0xff, 0xda, 0, 2]);
        s
    }

    #[test]
    fn markers_decide_the_colour_and_silence_leaves_it_to_the_container() {
        let jfif: &[u8] = b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0";
        assert_eq!(
            stream_says_ycbcr(&stream(Some((0xe0, jfif)), [1, 2, 3])),
            Some(true)
        );
        let adobe = |t: u8| [b"Adobe".as_slice(), &[0, 100, 0, 0, 0, 0, t]].concat();
        assert_eq!(
            stream_says_ycbcr(&stream(Some((0xee, &adobe(0))), [1, 2, 3])),
            Some(false)
        );
        assert_eq!(
            stream_says_ycbcr(&stream(Some((0xee, &adobe(1))), [1, 2, 3])),
            Some(true)
        );
        assert_eq!(stream_says_ycbcr(&stream(None, *b"RGB")), Some(false));
        assert_eq!(stream_says_ycbcr(&stream(None, [1, 2, 3])), None);
        assert_eq!(stream_says_ycbcr(&[0xff, 0xd8, 0xff]), None);
    }
}
