//! DICOM whole-slide series: every series in the shared data tiles, verifies, keeps its
//! levels, and reads back at level 0 like OpenSlide 4 (or wsidicom) reads the series, at
//! 40 dB or more from a zstd cache; broken series are refused with one clear error and no
//! cache; no identifying DICOM attribute reaches a cache, and `deid-check` lists them.
//!
//! The oracles run in a Python venv this file makes under `target/` from
//! `tests/dicom/requirements.txt`.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use tessera_e2e::{
    dir_listing, psnr, python_venv, region_rgb, repo_root, shared_data, tessera, tessera_ok,
};

/// The venv's Python, made once per run (pip from PyPI).
fn python() -> &'static Path {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        python_venv(
            "dicom-venv",
            &repo_root().join("tests/dicom/requirements.txt"),
        )
    })
}

/// The DICOM series of the shared data: three writers' series as directories, and the
/// highdicom slide as its file (its directory also holds an annotation object). `true`
/// marks wsi2dcm's series, labelled RGB with JFIF (YCbCr) frames, which the oracles read
/// as RGB: their samples are converted from YCbCr before the comparison.
fn series(data: &Path) -> Vec<(PathBuf, bool)> {
    let slides = data.join("slides");
    let all = vec![
        (slides.join("dicom-boxes"), false),
        (slides.join("dicom-cmu1-wsi2dcm"), true),
        (slides.join("dicom-camelyon-j2k"), false),
        (data.join("dicom-ann/sm_image.dcm"), false),
    ];
    for (s, _) in &all {
        assert!(
            s.exists(),
            "{} is missing from the shared data",
            s.display()
        );
    }
    all
}

/// The oracle's JSON line and its reads of `regions` (raw RGB), its samples converted
/// from YCbCr when `ycbcr`.
fn oracle_reads(
    slide: &Path,
    ycbcr: bool,
    regions: &[(u32, u32, u32, u32)],
) -> (serde_json::Value, Vec<Vec<u8>>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = Command::new(python());
    command.arg(repo_root().join("tests/dicom/oracle_regions.py"));
    if ycbcr {
        command.arg("--ycbcr");
    }
    let run = command
        .arg(slide)
        .arg(dir.path())
        .args(
            regions
                .iter()
                .map(|(x, y, w, h)| format!("{x},{y},{w},{h}")),
        )
        .output()
        .expect("python runs");
    assert!(
        run.status.success(),
        "oracle failed on {}: {}",
        slide.display(),
        String::from_utf8_lossy(&run.stderr)
    );
    let line = serde_json::from_slice(&run.stdout).expect("the oracle's JSON line");
    let reads = (0..regions.len())
        .map(|i| std::fs::read(dir.path().join(format!("region-{i}.rgb"))).expect("region"))
        .collect();
    (line, reads)
}

fn json(args: &[&dyn AsRef<std::ffi::OsStr>]) -> serde_json::Value {
    serde_json::from_str(tessera_ok(args).trim()).expect("a JSON answer")
}

/// Level-0 regions to compare: the middle of the slide, one straddling the corner of the
/// first four tiles (or frames), and one towards the lower right; clipped to the slide.
fn regions(width: u32, height: u32, tile: u32) -> Vec<(u32, u32, u32, u32)> {
    let clip = |x: u32, y: u32, w: u32, h: u32| {
        let (x, y) = (x.min(width - 1), y.min(height - 1));
        (x, y, w.min(width - x), h.min(height - y))
    };
    let corner = tile.saturating_sub(97);
    vec![
        clip(width / 3, height / 3, 400, 300),
        clip(corner, corner, 300, 260),
        clip(width * 3 / 5, height * 3 / 5, 256, 256),
    ]
}

#[test]
fn every_dicom_series_tiles_verifies_and_matches_an_oracle() {
    let Some(data) = shared_data() else { return };
    let out = tempfile::tempdir().expect("temp dir");
    for (n, (slide, ycbcr)) in series(&data).into_iter().enumerate() {
        let slide = &slide;
        let info = json(&[&"info", &slide, &"--json"]);
        let (w, h) = (
            info["width"].as_u64().expect("width") as u32,
            info["height"].as_u64().expect("height") as u32,
        );
        let levels = info["levels"].as_array().expect("levels").len();
        let tile = info["levels"][0]["tile_width"].as_u64().unwrap_or(256) as u32;
        let id = format!("dicom-{n}");
        let report = json(&[&"tile", &slide, &"-o", &out.path(), &"--id", &id, &"--json"]);
        let cache = out.path().join(format!("{id}.tess"));
        tessera_ok(&[&"verify", &cache, &"--decode"]);
        let cache_info = json(&[&"info", &cache, &"--json"]);
        assert_eq!(
            (cache_info["width"].as_u64(), cache_info["height"].as_u64()),
            (Some(u64::from(w)), Some(u64::from(h)))
        );
        assert_eq!(cache_info["source"]["reader"], "dicom", "{cache_info}");

        let regions = regions(w, h, tile);
        let (oracle, references) = oracle_reads(slide, ycbcr, &regions);
        assert_eq!(
            oracle["levels"].as_u64(),
            Some(levels as u64),
            "{}: levels differ from {}",
            slide.display(),
            oracle["reader"]
        );
        let as_labelled = if ycbcr {
            oracle_reads(slide, false, &regions).1
        } else {
            Vec::new()
        };
        for (i, (x, y, rw, rh)) in regions.iter().enumerate() {
            let reference = &references[i];
            let png = out.path().join(format!("{id}-{i}.png"));
            let region = (i64::from(*x), i64::from(*y), *rw, *rh);
            let pixels = region_rgb(&cache, region, &png);
            let db = psnr(reference, &pixels);
            let mean = pixels.iter().map(|&p| f64::from(p)).sum::<f64>() / pixels.len() as f64;
            eprintln!(
                "{}: {levels} levels, {} tiles; region {rw}×{rh} at ({x}, {y}), mean {mean:.0}: {db:.2} dB against {}",
                slide.display(),
                report["tile_count"],
                oracle["reader"]
            );
            assert!(
                db >= 40.0,
                "{}: region {i}: PSNR {db:.2} < 40 dB",
                slide.display()
            );
            if ycbcr {
                // Read as labelled, the tissue would be the wrong colour: the pixels decided.
                let labelled = psnr(&as_labelled[i], &pixels);
                eprintln!("  against the oracle's read as labelled (RGB): {labelled:.2} dB");
                assert!(
                    labelled < 30.0,
                    "{labelled:.2} dB: are the frames YCbCr after all?"
                );
            }
        }
    }
}

#[test]
fn a_series_given_as_several_files_is_one_slide() {
    let Some(data) = shared_data() else { return };
    let dir = data.join("slides/dicom-cmu1-wsi2dcm");
    let out = tempfile::tempdir().expect("temp dir");
    let run = tessera(&[
        &"tile",
        &dir.join("level-0.dcm"),
        &dir.join("level-3.dcm"),
        &dir.join("level-11.dcm"),
        &"-o",
        &out.path(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(dir_listing(out.path()), ["level-0.tess"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(
        stderr
            .matches("part of the DICOM series already tiled")
            .count(),
        2,
        "{stderr}"
    );
}

/// Asserts that tiling `slide` fails with an error naming `names` and saying `says`, and
/// leaves `out` as it was. Prints the error.
fn assert_refused(slide: &Path, names: &Path, says: &str, out: &Path) {
    let before = dir_listing(out);
    let run = tessera(&[&"tile", &slide, &"-o", &out]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    eprintln!("refused: {}", stderr.trim());
    assert!(
        !run.status.success(),
        "{}: tile should fail",
        slide.display()
    );
    assert!(
        stderr.contains(&*names.to_string_lossy()),
        "the error must name {}: {stderr}",
        names.display()
    );
    assert!(
        stderr.contains(says),
        "the error must say {says:?}: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one clear line: {stderr}");
    assert_eq!(
        dir_listing(out),
        before,
        "{}: output directory changed",
        slide.display()
    );
}

/// A copy of the shared wsi2dcm series, without the files `leave_out`.
fn series_copy(data: &Path, into: &Path, leave_out: &[&str]) -> PathBuf {
    let from = data.join("slides/dicom-cmu1-wsi2dcm");
    std::fs::create_dir_all(into).expect("mkdir");
    for entry in std::fs::read_dir(&from).expect("series").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !leave_out.contains(&name.as_str()) {
            std::fs::copy(entry.path(), into.join(&name)).expect("copy");
        }
    }
    into.to_path_buf()
}

/// Writes `object` as a DICOM file with the given SOP class and transfer syntax.
fn write_dicom(object: InMemDicomObject, sop_class: &str, transfer_syntax: &str, to: &Path) {
    let meta = FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(sop_class)
        .media_storage_sop_instance_uid("2.25.1234567")
        .transfer_syntax(transfer_syntax)
        .build()
        .expect("file meta");
    object
        .with_exact_meta(meta)
        .write_to_file(to)
        .expect("write DICOM");
}

#[test]
fn broken_series_are_refused_with_no_cache() {
    let Some(data) = shared_data() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");

    // A file cut short: the level-0 instance loses the second half of its frames.
    let truncated = series_copy(&data, &dir.path().join("truncated"), &[]);
    let level0 = truncated.join("level-0.dcm");
    let bytes = std::fs::read(&level0).expect("read");
    std::fs::write(&level0, &bytes[..bytes.len() / 2]).expect("write");
    assert_refused(&truncated, &level0, "cut short", &out);

    // A level missing from the middle of the pyramid.
    let gap = series_copy(&data, &dir.path().join("gap"), &["level-2.dcm"]);
    assert_refused(&gap, &gap.join("level-3.dcm"), "missing a level", &out);

    // Frames missing from a TILED_FULL level: level 0 declares and holds 20 of its 30.
    let short = series_copy(&data, &dir.path().join("short"), &[]);
    let mut object = dicom_object::open_file(short.join("level-0.dcm")).expect("open level 0");
    object.put(DataElement::new(
        tags::NUMBER_OF_FRAMES,
        VR::IS,
        PrimitiveValue::from("20"),
    ));
    let mut pixel_data = object.take_element(tags::PIXEL_DATA).expect("pixel data");
    if let Some(fragments) = pixel_data.fragments_mut() {
        fragments.truncate(20);
    }
    object.put(pixel_data);
    object
        .write_to_file(short.join("level-0.dcm"))
        .expect("write");
    assert_refused(
        &short,
        &short.join("level-0.dcm"),
        "frames are missing",
        &out,
    );

    // Not a whole-slide image: a Secondary Capture, and the shared annotation object.
    let capture = dir.path().join("capture.dcm");
    let mut object = InMemDicomObject::new_empty();
    for (tag, vr, value) in [
        (tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.7"),
        (tags::MODALITY, VR::CS, "OT"),
        (tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"),
    ] {
        object.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
    }
    for (tag, value) in [
        (tags::ROWS, 4u16),
        (tags::COLUMNS, 4),
        (tags::BITS_ALLOCATED, 8),
        (tags::SAMPLES_PER_PIXEL, 1),
    ] {
        object.put(DataElement::new(tag, VR::US, PrimitiveValue::from(value)));
    }
    object.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        PrimitiveValue::from(vec![0u8; 16]),
    ));
    write_dicom(
        object,
        "1.2.840.10008.5.1.4.1.1.7",
        "1.2.840.10008.1.2.1",
        &capture,
    );
    assert_refused(
        &capture,
        &capture,
        "is not a VL Whole Slide Microscopy Image",
        &out,
    );
    let annotations = data.join("dicom-ann/sm_annotations.dcm");
    assert_refused(
        &annotations,
        &annotations,
        "is not a VL Whole Slide Microscopy Image",
        &out,
    );

    // Random bytes after a DICOM preamble.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut noise = vec![0u8; 128];
    noise.extend_from_slice(b"DICM");
    noise.extend((0..50_000).map(|_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as u8
    }));
    let random = dir.path().join("random.dcm");
    std::fs::write(&random, &noise).expect("write");
    assert_refused(&random, &random, "not a readable DICOM file", &out);
    let random_dir = dir.path().join("random-series");
    std::fs::create_dir(&random_dir).expect("mkdir");
    std::fs::rename(&random, random_dir.join("random.dcm")).expect("move");
    assert_refused(
        &random_dir,
        &random_dir.join("random.dcm"),
        "not a readable DICOM file",
        &out,
    );

    assert!(dir_listing(&out).is_empty(), "{:?}", dir_listing(&out));
}

/// Values written into a copy of the PixelMed series that must never reach a cache.
const IDENTIFYING: [(dicom_core::Tag, VR, &str); 8] = [
    (tags::PATIENT_NAME, VR::PN, "Doe^Jane"),
    (tags::PATIENT_ID, VR::LO, "PID-98765"),
    (tags::PATIENT_BIRTH_DATE, VR::DA, "19610203"),
    (tags::ACCESSION_NUMBER, VR::SH, "ACC-4455"),
    (tags::STUDY_DATE, VR::DA, "20240517"),
    (tags::DEVICE_SERIAL_NUMBER, VR::LO, "SN-31415"),
    (
        tags::STUDY_INSTANCE_UID,
        VR::UI,
        "2.25.271828182845904523536",
    ),
    (tags::INSTITUTION_NAME, VR::LO, "St Elsewhere Hospital"),
];

#[test]
fn no_identifying_dicom_attribute_reaches_a_cache() {
    let Some(data) = shared_data() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let series = dir.path().join("series");
    std::fs::create_dir(&series).expect("mkdir");
    let mut series_uid = String::new();
    for name in ["boxes_0.dcm", "boxes_1.dcm"] {
        let mut object =
            dicom_object::open_file(data.join("slides/dicom-boxes").join(name)).expect("open");
        for (tag, vr, value) in IDENTIFYING {
            object.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
        }
        series_uid = object
            .element(tags::SERIES_INSTANCE_UID)
            .expect("series uid")
            .to_str()
            .expect("text")
            .trim_end_matches('\0')
            .to_string();
        object.write_to_file(series.join(name)).expect("write");
    }
    let check = tessera(&[&"deid-check", &series]);
    let report = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{report}");
    for key in [
        "PatientName",
        "PatientID",
        "AccessionNumber",
        "StudyDate",
        "DeviceSerialNumber",
        "StudyInstanceUID",
        "InstitutionName",
        "SeriesInstanceUID",
    ] {
        assert!(
            report.contains(&format!("dicom.{key}")),
            "deid-check misses {key}: {report}"
        );
    }

    let out = dir.path().join("out");
    tessera_ok(&[&"tile", &series, &"-o", &out, &"--id", &"boxes"]);
    let cache = out.join("boxes.tess");
    let bytes = std::fs::read(&cache).expect("cache");
    let metadata =
        serde_json::to_string(tiler::CacheReader::open(&cache).expect("cache").metadata())
            .expect("metadata JSON");
    for value in IDENTIFYING
        .iter()
        .map(|(_, _, v)| *v)
        .chain([series_uid.as_str()])
    {
        for haystack in [&bytes[..], metadata.as_bytes()] {
            assert!(
                !haystack
                    .windows(value.len())
                    .any(|w| w.eq_ignore_ascii_case(value.as_bytes())),
                "the cache holds {value:?}"
            );
        }
    }
    let clean = tessera(&[&"deid-check", &cache]);
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stdout)
    );
    assert!(
        metadata.contains("dicom.TotalPixelMatrixColumns"),
        "{metadata}"
    );
}

/// Reads the level-0 region (0, 0, 1500 × 1500) of a slide (3 × 3 frames of wsi2dcm's).
fn top_left(slide: &Path, png: &Path) -> Vec<u8> {
    region_rgb(slide, (0, 0, 1500, 1500), png)
}

/// The 500 × 500 tile (`col`, `row`) of a 1500 × 1500 RGB region.
fn block(region: &[u8], col: usize, row: usize) -> Vec<u8> {
    (row * 500..(row + 1) * 500)
        .flat_map(|y| {
            let start = (y * 1500 + col * 500) * 3;
            region[start..start + 1500].iter().copied()
        })
        .collect()
}

/// A sequence element of one item per entry of `items`.
fn sequence(tag: dicom_core::Tag, items: Vec<InMemDicomObject>) -> dicom_object::mem::InMemElement {
    DataElement::new(tag, VR::SQ, dicom_core::value::DataSetSequence::from(items))
}

/// wsi2dcm's level 0 (5 × 6 frames of 500 × 500), its frames, and the original series'
/// top-left region.
fn wsi2dcm_level0(
    data: &Path,
    dir: &Path,
) -> (dicom_object::DefaultDicomObject, Vec<Vec<u8>>, Vec<u8>) {
    let original = data.join("slides/dicom-cmu1-wsi2dcm");
    let expected = top_left(&original, &dir.join("original.png"));
    let level0 = dicom_object::open_file(original.join("level-0.dcm")).expect("open");
    let fragments: Vec<Vec<u8>> = level0
        .element(tags::PIXEL_DATA)
        .expect("pixel data")
        .fragments()
        .expect("encapsulated")
        .to_vec();
    assert_eq!(fragments.len(), 30, "wsi2dcm's level 0: 5 × 6 frames");
    (level0, fragments, expected)
}

#[test]
fn a_sparse_level_reads_its_frames_where_they_lie_and_background_elsewhere() {
    let Some(data) = shared_data() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let (level0, fragments, expected) = wsi2dcm_level0(&data, dir.path());
    // TILED_SPARSE: the frames stored last to first, each placed by its Plane Position
    // (Slide), and tiles (1, 1) and (2, 2) left out: they read as background.
    let sparse = series_copy(&data, &dir.path().join("sparse"), &[]);
    let left_out = [5 + 1, 2 * 5 + 2];
    let kept: Vec<usize> = (0..30).rev().filter(|t| !left_out.contains(t)).collect();
    let mut object = level0.clone();
    let positions = kept
        .iter()
        .map(|&t| {
            let mut position = InMemDicomObject::new_empty();
            for (tag, value) in [
                (
                    tags::COLUMN_POSITION_IN_TOTAL_IMAGE_PIXEL_MATRIX,
                    (t % 5) * 500 + 1,
                ),
                (
                    tags::ROW_POSITION_IN_TOTAL_IMAGE_PIXEL_MATRIX,
                    (t / 5) * 500 + 1,
                ),
            ] {
                position.put(DataElement::new(
                    tag,
                    VR::SL,
                    PrimitiveValue::from(value as i32),
                ));
            }
            let mut group = InMemDicomObject::new_empty();
            group.put(sequence(
                tags::PLANE_POSITION_SLIDE_SEQUENCE,
                vec![position],
            ));
            group
        })
        .collect();
    object.put(sequence(
        tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
        positions,
    ));
    object.put(DataElement::new(
        tags::DIMENSION_ORGANIZATION_TYPE,
        VR::CS,
        PrimitiveValue::from("TILED_SPARSE"),
    ));
    object.put(DataElement::new(
        tags::NUMBER_OF_FRAMES,
        VR::IS,
        PrimitiveValue::from(kept.len().to_string()),
    ));
    object.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        dicom_core::value::PixelFragmentSequence::new_fragments(
            kept.iter()
                .map(|&t| fragments[t].clone())
                .collect::<Vec<_>>(),
        ),
    ));
    object
        .write_to_file(sparse.join("level-0.dcm"))
        .expect("write");
    let read = top_left(&sparse, &dir.path().join("sparse.png"));
    for (col, row) in (0..3).flat_map(|r| (0..3).map(move |c| (c, r))) {
        let got = block(&read, col, row);
        if left_out.contains(&(row * 5 + col)) {
            assert!(
                got.iter().all(|&v| v == 255),
                "tile ({col}, {row}) should be background"
            );
        } else {
            assert!(
                got == block(&expected, col, row),
                "tile ({col}, {row}) differs"
            );
        }
    }
    let out = dir.path().join("out");
    tessera_ok(&[&"tile", &sparse, &"-o", &out, &"--id", &"sparse"]);
    tessera_ok(&[&"verify", &out.join("sparse.tess"), &"--decode"]);
}

#[test]
fn a_concatenated_level_reads_like_one_instance_and_not_without_a_part() {
    let Some(data) = shared_data() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let (level0, fragments, expected) = wsi2dcm_level0(&data, dir.path());
    let out = dir.path().join("out");
    // A concatenation: level 0 split into two instances of 12 and 18 frames.
    let concatenated = series_copy(&data, &dir.path().join("concatenated"), &["level-0.dcm"]);
    for (part, frames) in [(1u16, 0..12usize), (2, 12..30)] {
        let mut object = level0.clone();
        for (tag, vr, value) in [
            (
                tags::CONCATENATION_UID,
                VR::UI,
                PrimitiveValue::from("2.25.31415926"),
            ),
            (
                tags::SOP_INSTANCE_UID,
                VR::UI,
                PrimitiveValue::from(format!("2.25.2718{part}")),
            ),
            (
                tags::NUMBER_OF_FRAMES,
                VR::IS,
                PrimitiveValue::from(frames.len().to_string()),
            ),
            (
                tags::CONCATENATION_FRAME_OFFSET_NUMBER,
                VR::UL,
                PrimitiveValue::from(frames.start as u32),
            ),
            (
                tags::IN_CONCATENATION_NUMBER,
                VR::US,
                PrimitiveValue::from(part),
            ),
            (
                tags::IN_CONCATENATION_TOTAL_NUMBER,
                VR::US,
                PrimitiveValue::from(2u16),
            ),
        ] {
            object.put(DataElement::new(tag, vr, value));
        }
        object.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OB,
            dicom_core::value::PixelFragmentSequence::new_fragments(fragments[frames].to_vec()),
        ));
        object
            .write_to_file(concatenated.join(format!("level-0-part{part}.dcm")))
            .expect("write");
    }
    let read = top_left(&concatenated, &dir.path().join("concatenated.png"));
    assert!(read == expected, "the concatenated level reads differently");
    tessera_ok(&[
        &"tile",
        &concatenated,
        &"-o",
        &out,
        &"--id",
        &"concatenated",
    ]);
    tessera_ok(&[&"verify", &out.join("concatenated.tess"), &"--decode"]);

    // Without its second part, the concatenation is refused.
    std::fs::remove_file(concatenated.join("level-0-part2.dcm")).expect("remove");
    assert_refused(
        &concatenated,
        &concatenated.join("level-0-part1.dcm"),
        "missing a part",
        &out,
    );
}

/// The series two independent converters make from CMU-1-Small-Region.svs, in `dir`:
/// wsidicomizer's (JPEG tiles copied), and Orthanc's with JPEG tiles copied and with
/// JPEG 2000 tiles, each level cut into 1 MB concatenations.
fn converted_series(svs: &Path, dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let dicomizer = python_venv(
        "dicomizer-venv",
        &repo_root().join("tests/dicom/converter-requirements.txt"),
    )
    .with_file_name("wsidicomizer");
    let run = |name: &str, command: &mut Command| {
        let out = command.output().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            out.status.success(),
            "{name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let wsidicomizer = dir.join("wsidicomizer");
    run(
        "wsidicomizer",
        Command::new(&dicomizer)
            .arg("-i")
            .arg(svs)
            .arg("-o")
            .arg(&wsidicomizer)
            .args(["--add-missing-levels", "-w", "1"]),
    );
    let mut series = vec![("wsidicomizer JPEG", wsidicomizer)];
    for (name, compression) in [("Orthanc JPEG", "jpeg"), ("Orthanc JPEG 2000", "jpeg2000")] {
        let folder = dir.join(compression);
        std::fs::create_dir(&folder).expect("mkdir");
        run(
            "OrthancWSIDicomizer (Debian orthanc-wsi)",
            Command::new("OrthancWSIDicomizer")
                .arg(svs)
                .arg("--folder")
                .arg(&folder)
                .args([
                    "--pyramid",
                    "1",
                    "--max-size",
                    "1",
                    "--compression",
                    compression,
                ])
                .args(if compression == "jpeg2000" {
                    &["--reencode", "1"][..]
                } else {
                    &[]
                }),
        );
        series.push((name, folder));
    }
    series
}

#[test]
fn series_two_converters_make_tile_and_match_the_source_slide() {
    let Some(svs) = tessera_e2e::slide("CMU-1-Small-Region.svs") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let regions = regions(2220, 2967, 240);
    // OpenSlide 4 reads the source slide; neither oracle reads Orthanc WSI 1.1's series
    // (no ImageType), so the source is the reference for all three.
    let (oracle, references) = oracle_reads(&svs, false, &regions);
    for (n, (name, series)) in converted_series(&svs, dir.path()).into_iter().enumerate() {
        let id = format!("converted-{n}");
        let report = json(&[&"tile", &series, &"-o", &out, &"--id", &id, &"--json"]);
        let cache = out.join(format!("{id}.tess"));
        tessera_ok(&[&"verify", &cache, &"--decode"]);
        let info = json(&[&"info", &series, &"--json"]);
        let levels = info["levels"].as_array().map_or(0, Vec::len);
        assert!(levels >= 2, "{name}: {levels} levels");
        if name.starts_with("wsidicomizer") {
            // Its label, overview and thumbnail instances are found, and deid-check lists them.
            let mut names: Vec<&str> = info["associated_images"]
                .as_array()
                .expect("associated images")
                .iter()
                .filter_map(|a| a["name"].as_str())
                .collect();
            names.sort_unstable();
            assert_eq!(names, ["label", "macro", "thumbnail"], "{info}");
            let check = tessera(&[&"deid-check", &series]);
            let text = String::from_utf8_lossy(&check.stdout);
            assert_eq!(check.status.code(), Some(1), "{text}");
            assert!(text.contains("label"), "{text}");
        }
        for (i, &(x, y, w, h)) in regions.iter().enumerate() {
            let png = out.join(format!("{id}-{i}.png"));
            let pixels = region_rgb(&cache, (i64::from(x), i64::from(y), w, h), &png);
            let db = psnr(&references[i], &pixels);
            eprintln!(
                "{name}: {levels} levels, {} tiles; region {w}×{h} at ({x}, {y}): {db:.2} dB against the source slide read by {}",
                report["tile_count"], oracle["reader"]
            );
            assert!(db >= 40.0, "{name}: region {i}: PSNR {db:.2} < 40 dB");
        }
    }
}
