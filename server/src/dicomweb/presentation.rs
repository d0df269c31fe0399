//! A cached slide as DICOM presents it: one study with one series of VL Whole Slide
//! Microscopy Image instances, one instance per cache level, each a TILED_FULL grid of
//! JPEG frames of the cache's tile size (frame `n` is tile `n − 1` of the level in row-major
//! order). The attributes are those of the study, series and instance levels of a QIDO-RS
//! search and, for WADO-RS metadata, what a slide viewer needs to place a pyramid.
//!
//! No patient, study-date, accession or device attribute carries a value: the Type 2
//! attributes the standard wants present are present and empty.

use super::dataset::Dataset;
use super::uid::SlideUids;
use dicom_core::VR;
use dicom_dictionary_std::tags;
use tiler::{Codec, LevelSize, Metadata};

/// VL Whole Slide Microscopy Image Storage.
pub const WSI_SOP_CLASS: &str = "1.2.840.10008.5.1.4.1.1.77.1.6";

/// JPEG Baseline (Process 1): the transfer syntax of every frame served.
pub const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";

/// The pixel size given to a slide whose cache records none (a plain image): 1 µm, so a
/// viewer that needs a physical scale can still place it.
const NOMINAL_MPP: f64 = 1.0;

/// One slide's DICOM presentation.
#[derive(Debug)]
pub struct Presentation<'m> {
    meta: &'m Metadata,
    pub uids: SlideUids,
    /// JPEG quality of the frames the server encodes (a JPEG cache's own tiles pass
    /// through at the quality they were written with).
    frame_quality: u8,
}

impl<'m> Presentation<'m> {
    /// Slide `id` with cache metadata `meta`, its frames encoded at `frame_quality`.
    #[must_use]
    pub fn new(id: &str, meta: &'m Metadata, frame_quality: u8) -> Self {
        Self {
            meta,
            uids: SlideUids::new(id, meta),
            frame_quality,
        }
    }

    /// Number of instances (cache levels).
    #[must_use]
    pub fn level_count(&self) -> u32 {
        self.meta.levels.len() as u32
    }

    /// The size of cache level `level`; 0 × 0 (no tiles, no frames) past the top.
    fn level(&self, level: u32) -> LevelSize {
        self.meta
            .levels
            .get(level as usize)
            .copied()
            .unwrap_or(LevelSize {
                width: 0,
                height: 0,
            })
    }

    /// Tiles across and down cache level `level`.
    #[must_use]
    pub fn tiles(&self, level: u32) -> (u32, u32) {
        let size = self.level(level);
        let t = self.meta.tile_size.max(1);
        (size.width.div_ceil(t), size.height.div_ceil(t))
    }

    /// NumberOfFrames of the instance of `level`.
    #[must_use]
    pub fn frame_count(&self, level: u32) -> u64 {
        let (cols, rows) = self.tiles(level);
        u64::from(cols) * u64::from(rows)
    }

    /// The tile (column, row) of 1-based frame `n` of `level` (TILED_FULL: row-major).
    #[must_use]
    pub fn frame_tile(&self, level: u32, n: u64) -> Option<(u32, u32)> {
        let (cols, _) = self.tiles(level);
        if n == 0 || n > self.frame_count(level) {
            return None;
        }
        let i = n - 1;
        Some(((i % u64::from(cols)) as u32, (i / u64::from(cols)) as u32))
    }

    /// The photometric interpretation of the JPEG frames: YBR_FULL_422 where the encoder
    /// subsamples chroma (the value DICOM uses for 4:2:2 and 4:2:0 JPEG), YBR_FULL where
    /// it keeps chroma at full resolution.
    fn photometric(&self) -> &'static str {
        let quality = match self.meta.codec {
            Codec::Jpeg => self.meta.quality,
            Codec::Zstd | Codec::Webp => self.frame_quality,
        };
        if tiler::jpeg_subsamples_chroma(quality) {
            "YBR_FULL_422"
        } else {
            "YBR_FULL"
        }
    }

    /// Millimetres per pixel of `level`, (across, down): the level-0 pixel size scaled by
    /// the level's exact size ratio, so every level spans the same imaged volume.
    fn spacing(&self, level: u32) -> (f64, f64) {
        let size = self.level(level);
        let (w, h) = self.imaged_volume();
        (
            w / f64::from(size.width.max(1)),
            h / f64::from(size.height.max(1)),
        )
    }

    /// The width and height of the imaged area in millimetres.
    fn imaged_volume(&self) -> (f64, f64) {
        let m = self.meta;
        let mpp_x = m.mpp_x.filter(|v| *v > 0.0).unwrap_or(NOMINAL_MPP);
        let mpp_y = m.mpp_y.filter(|v| *v > 0.0).unwrap_or(mpp_x);
        (
            f64::from(m.width) * mpp_x / 1000.0,
            f64::from(m.height) * mpp_y / 1000.0,
        )
    }

    /// A non-identifying container (slide) identifier: derived from the study UID.
    fn container(&self) -> String {
        let digits = self.uids.study.rsplit('.').next().unwrap_or_default();
        format!("TESSERA-{}", &digits[..digits.len().min(16)])
    }

    /// The study-level attributes of a QIDO-RS answer.
    #[must_use]
    pub fn study(&self) -> Dataset {
        let mut d = self.patient_and_study();
        d.text(tags::MODALITIES_IN_STUDY, VR::CS, "SM")
            .int(tags::NUMBER_OF_STUDY_RELATED_SERIES, VR::IS, 1)
            .int(
                tags::NUMBER_OF_STUDY_RELATED_INSTANCES,
                VR::IS,
                u64::from(self.level_count()),
            );
        d
    }

    /// The series-level attributes of a QIDO-RS answer.
    #[must_use]
    pub fn series(&self) -> Dataset {
        let mut d = self.series_only();
        d.text(tags::STUDY_INSTANCE_UID, VR::UI, &self.uids.study)
            .int(
                tags::NUMBER_OF_SERIES_RELATED_INSTANCES,
                VR::IS,
                u64::from(self.level_count()),
            );
        d
    }

    /// The instance-level attributes of a QIDO-RS answer for cache level `level`.
    #[must_use]
    pub fn instance(&self, level: u32) -> Dataset {
        let size = self.level(level);
        let t = u64::from(self.meta.tile_size);
        let mut d = Dataset::default();
        d.text(tags::STUDY_INSTANCE_UID, VR::UI, &self.uids.study)
            .text(tags::SERIES_INSTANCE_UID, VR::UI, &self.uids.series)
            .text(tags::MODALITY, VR::CS, "SM")
            .text(tags::SOP_CLASS_UID, VR::UI, WSI_SOP_CLASS)
            .text(
                tags::SOP_INSTANCE_UID,
                VR::UI,
                self.uids.instance(level).unwrap_or_default(),
            )
            .text(tags::INSTANCE_AVAILABILITY, VR::CS, "ONLINE")
            .int(tags::INSTANCE_NUMBER, VR::IS, u64::from(level) + 1)
            .int(tags::ROWS, VR::US, t)
            .int(tags::COLUMNS, VR::US, t)
            .int(tags::NUMBER_OF_FRAMES, VR::IS, self.frame_count(level))
            .int(
                tags::TOTAL_PIXEL_MATRIX_COLUMNS,
                VR::UL,
                u64::from(size.width),
            )
            .int(
                tags::TOTAL_PIXEL_MATRIX_ROWS,
                VR::UL,
                u64::from(size.height),
            )
            .texts(tags::IMAGE_TYPE, VR::CS, image_type(level));
        d
    }

    /// The WADO-RS metadata of the instance of cache level `level`: everything of the
    /// search levels, and the image, pixel, optical path and specimen attributes a
    /// whole-slide viewer reads.
    #[must_use]
    pub fn metadata(&self, level: u32) -> Dataset {
        let mut d = self.patient_and_study();
        d.extend(self.series_only());
        d.extend(self.instance(level));
        let (vol_w, vol_h) = self.imaged_volume();
        let (dx, dy) = self.spacing(level);
        d.text(tags::TRANSFER_SYNTAX_UID, VR::UI, JPEG_BASELINE)
            .text(tags::DIMENSION_ORGANIZATION_TYPE, VR::CS, "TILED_FULL")
            .text(tags::VOLUMETRIC_PROPERTIES, VR::CS, "VOLUME")
            .text(
                tags::FRAME_OF_REFERENCE_UID,
                VR::UI,
                &self.uids.frame_of_reference,
            )
            .empty(tags::POSITION_REFERENCE_INDICATOR, VR::LO)
            .int(tags::SAMPLES_PER_PIXEL, VR::US, 3)
            .text(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, self.photometric())
            .int(tags::PLANAR_CONFIGURATION, VR::US, 0)
            .int(tags::BITS_ALLOCATED, VR::US, 8)
            .int(tags::BITS_STORED, VR::US, 8)
            .int(tags::HIGH_BIT, VR::US, 7)
            .int(tags::PIXEL_REPRESENTATION, VR::US, 0)
            .text(tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "01")
            .text(tags::BURNED_IN_ANNOTATION, VR::CS, "NO")
            .text(tags::SPECIMEN_LABEL_IN_IMAGE, VR::CS, "NO")
            .text(tags::FOCUS_METHOD, VR::CS, "AUTO")
            .text(tags::EXTENDED_DEPTH_OF_FIELD, VR::CS, "NO")
            .decimals(tags::IMAGED_VOLUME_WIDTH, VR::FL, &[vol_w])
            .decimals(tags::IMAGED_VOLUME_HEIGHT, VR::FL, &[vol_h])
            .int(tags::TOTAL_PIXEL_MATRIX_FOCAL_PLANES, VR::UL, 1)
            .int(tags::NUMBER_OF_OPTICAL_PATHS, VR::UL, 1)
            // Rows run along the slide's −Y axis and columns along −X: the orientation
            // scanners write for a slide with its label on the left.
            .decimals(
                tags::IMAGE_ORIENTATION_SLIDE,
                VR::DS,
                &[0.0, -1.0, 0.0, -1.0, 0.0, 0.0],
            )
            .sequence(tags::TOTAL_PIXEL_MATRIX_ORIGIN_SEQUENCE, vec![origin()])
            .sequence(
                tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE,
                vec![pixel_measures(dx, dy)],
            )
            .sequence(tags::OPTICAL_PATH_SEQUENCE, vec![brightfield_path()])
            .text(tags::CONTAINER_IDENTIFIER, VR::LO, &self.container())
            .empty(tags::ISSUER_OF_THE_CONTAINER_IDENTIFIER_SEQUENCE, VR::SQ)
            .empty(tags::CONTAINER_TYPE_CODE_SEQUENCE, VR::SQ)
            .empty(tags::ACQUISITION_CONTEXT_SEQUENCE, VR::SQ)
            .sequence(tags::SPECIMEN_DESCRIPTION_SEQUENCE, vec![self.specimen()]);
        d
    }

    /// Patient and study attributes: the UID, and the Type 2 attributes empty.
    fn patient_and_study(&self) -> Dataset {
        let mut d = Dataset::default();
        d.text(tags::STUDY_INSTANCE_UID, VR::UI, &self.uids.study)
            .empty(tags::PATIENT_NAME, VR::PN)
            .empty(tags::PATIENT_ID, VR::LO)
            .empty(tags::PATIENT_BIRTH_DATE, VR::DA)
            .empty(tags::PATIENT_SEX, VR::CS)
            .empty(tags::STUDY_DATE, VR::DA)
            .empty(tags::STUDY_TIME, VR::TM)
            .empty(tags::ACCESSION_NUMBER, VR::SH)
            .empty(tags::REFERRING_PHYSICIAN_NAME, VR::PN)
            .empty(tags::STUDY_ID, VR::SH);
        d
    }

    fn series_only(&self) -> Dataset {
        let mut d = Dataset::default();
        d.text(tags::SERIES_INSTANCE_UID, VR::UI, &self.uids.series)
            .text(tags::MODALITY, VR::CS, "SM")
            .int(tags::SERIES_NUMBER, VR::IS, 1);
        d
    }

    fn specimen(&self) -> Dataset {
        let mut d = Dataset::default();
        d.text(tags::SPECIMEN_IDENTIFIER, VR::LO, &self.container())
            .text(tags::SPECIMEN_UID, VR::UI, &self.uids.specimen)
            .empty(tags::ISSUER_OF_THE_SPECIMEN_IDENTIFIER_SEQUENCE, VR::SQ)
            .empty(tags::SPECIMEN_PREPARATION_SEQUENCE, VR::SQ);
        d
    }
}

/// ImageType: full resolution is ORIGINAL, the halvings RESAMPLED from it.
fn image_type(level: u32) -> &'static [&'static str] {
    if level == 0 {
        &["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    } else {
        &["DERIVED", "PRIMARY", "VOLUME", "RESAMPLED"]
    }
}

/// The top-left pixel at the origin of the slide coordinate system.
fn origin() -> Dataset {
    let mut d = Dataset::default();
    d.decimals(tags::X_OFFSET_IN_SLIDE_COORDINATE_SYSTEM, VR::DS, &[0.0])
        .decimals(tags::Y_OFFSET_IN_SLIDE_COORDINATE_SYSTEM, VR::DS, &[0.0]);
    d
}

/// The shared functional group with PixelSpacing (down, across: row spacing first) and a
/// nominal SliceThickness of 1 µm (the cache does not know the section's thickness).
fn pixel_measures(dx: f64, dy: f64) -> Dataset {
    let mut measures = Dataset::default();
    measures
        .decimals(tags::PIXEL_SPACING, VR::DS, &[dy, dx])
        .decimals(tags::SLICE_THICKNESS, VR::DS, &[0.001]);
    let mut group = Dataset::default();
    group.sequence(tags::PIXEL_MEASURES_SEQUENCE, vec![measures]);
    group
}

/// A coded concept (code value, scheme, meaning).
fn code(value: &str, scheme: &str, meaning: &str) -> Dataset {
    let mut d = Dataset::default();
    d.text(tags::CODE_VALUE, VR::SH, value)
        .text(tags::CODING_SCHEME_DESIGNATOR, VR::SH, scheme)
        .text(tags::CODE_MEANING, VR::LO, meaning);
    d
}

/// The one optical path: brightfield, full-spectrum white light.
fn brightfield_path() -> Dataset {
    let mut d = Dataset::default();
    d.text(tags::OPTICAL_PATH_IDENTIFIER, VR::SH, "1")
        .sequence(
            tags::ILLUMINATION_TYPE_CODE_SEQUENCE,
            vec![code("111744", "DCM", "Brightfield illumination")],
        )
        .sequence(
            tags::ILLUMINATION_COLOR_CODE_SEQUENCE,
            vec![code("414298005", "SCT", "Full Spectrum")],
        );
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(width: u32, height: u32, mpp: Option<f64>) -> Metadata {
        let mut levels = vec![LevelSize { width, height }];
        while levels
            .last()
            .is_some_and(|l| l.width > 256 || l.height > 256)
        {
            let l = levels
                .last()
                .copied()
                .unwrap_or(LevelSize { width, height });
            levels.push(LevelSize {
                width: l.width.div_ceil(2),
                height: l.height.div_ceil(2),
            });
        }
        serde_json::from_value(serde_json::json!({
            "format": "tessera", "format_version": 1, "width": width, "height": height,
            "tile_size": 256, "levels": levels, "codec": "zstd", "quality": 3,
            "mpp_x": mpp, "mpp_y": mpp, "objective_power": null, "vendor": null,
            "background": [255, 255, 255],
            "source": {"sha256": "ab", "bytes": 1, "reader": "image"},
            "tile_count": 1, "unique_tile_count": 1, "tool": "test",
        }))
        .expect("metadata")
    }

    #[test]
    fn dicomweb_frames_are_row_major_tiles() {
        let m = meta(1000, 700, Some(0.25));
        let p = Presentation::new("s", &m, 80);
        assert_eq!(p.tiles(0), (4, 3));
        assert_eq!(p.frame_count(0), 12);
        assert_eq!(p.frame_tile(0, 1), Some((0, 0)));
        assert_eq!(p.frame_tile(0, 5), Some((0, 1)));
        assert_eq!(p.frame_tile(0, 12), Some((3, 2)));
        assert_eq!(p.frame_tile(0, 13), None);
        assert_eq!(p.frame_tile(0, 0), None);
        assert_eq!(p.frame_tile(9, 1), None);
    }

    #[test]
    fn dicomweb_metadata_scales_pixel_spacing_per_level() {
        let m = meta(1000, 700, Some(0.25));
        let p = Presentation::new("s", &m, 80);
        let json = p.metadata(1).into_json();
        let spacing = &json["52009229"]["Value"][0]["00289110"]["Value"][0]["00280030"]["Value"];
        // Level 1 is 500 × 350: 0.5 µm per pixel both ways.
        assert_eq!(spacing[0].as_f64(), Some(0.0005));
        assert_eq!(spacing[1].as_f64(), Some(0.0005));
        assert_eq!(json["00280004"]["Value"][0], "YBR_FULL_422");
        assert_eq!(json["00480006"]["Value"][0], 500);
        assert_eq!(json["00100010"], serde_json::json!({"vr": "PN"}));
        let high = Presentation::new("s", &m, 95);
        assert_eq!(
            high.metadata(0).into_json()["00280004"]["Value"][0],
            "YBR_FULL"
        );
    }
}
