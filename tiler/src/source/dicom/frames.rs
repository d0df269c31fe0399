//! The frames of one instance: its pixel data, read whole on first use, and each frame
//! decoded to packed RGB (JPEG through the decoder TIFF tiles use, JPEG 2000 through
//! dicom-pixeldata's openjp2, uncompressed samples as they are).

use super::instance::{Encoding, Instance};
use crate::error::{Result, TilePlace, TilerError};
use crate::pixels;
use crate::source::jpeg_tile::{self, JpegColour};
use dicom_dictionary_std::tags;
use dicom_object::DefaultDicomObject;
use dicom_pixeldata::PixelDecoder;
use std::borrow::Cow;
use std::sync::OnceLock;

/// See the module documentation.
#[derive(Debug)]
pub struct Frames {
    instance: Instance,
    /// The whole file, pixel data included, or why it could not be read.
    object: OnceLock<Result<DefaultDicomObject, String>>,
}

impl Frames {
    #[must_use]
    pub fn new(instance: Instance) -> Self {
        Self {
            instance,
            object: OnceLock::new(),
        }
    }

    #[must_use]
    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// The whole object, read on first use and checked to hold every frame it declares.
    fn object(&self) -> Result<&DefaultDicomObject> {
        self.object
            .get_or_init(|| read_whole(&self.instance))
            .as_ref()
            .map_err(|reason| TilerError::bad_file(&self.instance.path, reason.clone()))
    }

    /// The stored bytes of frame `frame` (0-based): a JPEG or JPEG 2000 codestream, or
    /// the uncompressed samples.
    pub fn encoded(&self, frame: u32) -> Result<Cow<'_, [u8]>> {
        let i = &self.instance;
        let element = self
            .object()?
            .element(tags::PIXEL_DATA)
            .map_err(|e| TilerError::bad_file(&i.path, format!("DICOM pixel data: {e}")))?;
        if let Some(fragments) = element.fragments() {
            // One frame may span several fragments; several frames one fragment each.
            return Ok(if i.frames == 1 && fragments.len() > 1 {
                Cow::Owned(fragments.concat())
            } else {
                Cow::Borrowed(&fragments[frame as usize])
            });
        }
        let bytes = element
            .to_bytes()
            .map_err(|e| TilerError::bad_file(&i.path, format!("DICOM pixel data: {e}")))?;
        let size = native_frame_bytes(i);
        let range = frame as usize * size..(frame as usize + 1) * size;
        Ok(match bytes {
            Cow::Borrowed(b) => Cow::Borrowed(&b[range]),
            Cow::Owned(b) => Cow::Owned(b[range].to_vec()),
        })
    }

    /// Frame `frame` as packed RGB, `tile_width × tile_height` pixels. `place` is the tile
    /// the frame is read for, to name in errors.
    pub fn rgb(&self, frame: u32, place: TilePlace) -> Result<Vec<u8>> {
        let i = &self.instance;
        let bad = |reason: String| {
            TilerError::bad_tile(&i.path, place, format!("frame {}: {reason}", frame + 1))
        };
        let (w, h) = (i.tile_width, i.tile_height);
        let expected = w as usize * h as usize;
        let mut samples = match i.encoding {
            Encoding::Jpeg => {
                let colour = JpegColour::FromStream {
                    container_ycbcr: i.photometric.starts_with("YBR"),
                };
                return jpeg_tile::decode_rgb(&self.encoded(frame)?, colour, (w, h), (w, h))
                    .map_err(bad);
            }
            Encoding::Jpeg2000 => self
                .object()?
                .decode_pixel_data_frame(frame)
                .map_err(|e| bad(format!("JPEG 2000: {e}")))?
                .into_data(),
            Encoding::Native => self.encoded(frame)?.into_owned(),
        };
        if samples.len() != expected * usize::from(i.samples_per_pixel) {
            return Err(bad(format!(
                "decoded {} bytes for a {w}×{h} frame of {} samples per pixel",
                samples.len(),
                i.samples_per_pixel
            )));
        }
        Ok(
            match (i.samples_per_pixel, i.photometric.as_str(), i.encoding) {
                (1, _, _) => pixels::gray_to_rgb(&samples),
                (_, "YBR_FULL", Encoding::Native) => {
                    pixels::ycbcr_to_rgb_in_place(&mut samples);
                    samples
                }
                _ => samples,
            },
        )
    }
}

fn native_frame_bytes(i: &Instance) -> usize {
    i.tile_width as usize * i.tile_height as usize * usize::from(i.samples_per_pixel)
}

/// Reads the whole file and checks that its pixel data holds every declared frame.
fn read_whole(i: &Instance) -> Result<DefaultDicomObject, String> {
    let object = dicom_object::open_file(&i.path).map_err(|e| {
        format!("cannot read the DICOM pixel data (file cut short or damaged?): {e}")
    })?;
    let element = object
        .element(tags::PIXEL_DATA)
        .map_err(|_| "DICOM file has no pixel data".to_string())?;
    let frames = i.frames as usize;
    if let Some(fragments) = element.fragments() {
        if fragments.len() < frames {
            return Err(format!(
                "DICOM pixel data holds {} of its {frames} frames (file cut short?)",
                fragments.len()
            ));
        }
        if fragments.len() > frames && frames > 1 {
            return Err(format!(
                "DICOM pixel data has {} fragments for {frames} frames; frames split over several fragments are not read",
                fragments.len()
            ));
        }
        return Ok(object);
    }
    if i.encoding != Encoding::Native {
        return Err(format!(
            "DICOM transfer syntax {} but the pixel data is not encapsulated",
            i.transfer_syntax
        ));
    }
    let bytes = element
        .to_bytes()
        .map_err(|e| format!("DICOM pixel data: {e}"))?
        .len();
    let needed = native_frame_bytes(i) * frames;
    if bytes < needed {
        return Err(format!(
            "DICOM pixel data holds {bytes} bytes, its {frames} frames need {needed} (file cut short?)"
        ));
    }
    Ok(object)
}
