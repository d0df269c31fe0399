//! DICOMweb (read only): QIDO-RS finds each slide as one study and series with one
//! instance per pyramid level, UIDs stay the same across restarts, WADO-RS metadata
//! describes the pyramid, frames are full-size JPEGs of the cache's tiles, and callers
//! learn nothing about slides they have no role on.

use serde_json::Value;
use tessera_e2e::world::{SLIDE, slide_dir, world};
use tessera_e2e::{
    HttpResponse, Server, decode_image, psnr, python_venv, region_rgb, repo_root, tessera_ok,
};

/// The synthetic slide's size: not a multiple of the tile size, so edge frames are padded.
const WIDTH: u32 = 1000;
const HEIGHT: u32 = 700;
const TILE: u32 = 256;

fn json(r: &HttpResponse) -> Value {
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/dicom+json"));
    serde_json::from_slice(&r.body).expect("dicom+json")
}

/// The first value of attribute `tag` of data set `d`.
fn value<'v>(d: &'v Value, tag: &str) -> &'v Value {
    &d[tag]["Value"][0]
}

fn text<'v>(d: &'v Value, tag: &str) -> &'v str {
    value(d, tag)
        .as_str()
        .unwrap_or_else(|| panic!("{tag} is not text in {d}"))
}

fn number(d: &Value, tag: &str) -> u64 {
    value(d, tag)
        .as_u64()
        .unwrap_or_else(|| panic!("{tag} is not a number in {d}"))
}

/// (study, series, instances by InstanceNumber) as QIDO-RS finds them.
fn uids(server: &Server) -> (String, String, Vec<String>) {
    let studies = json(&server.get("/dicomweb/studies"));
    assert_eq!(studies.as_array().map(Vec::len), Some(1), "{studies}");
    let study = text(&studies[0], "0020000D").to_string();
    let series = json(&server.get(&format!("/dicomweb/studies/{study}/series")));
    assert_eq!(series.as_array().map(Vec::len), Some(1), "{series}");
    let series_uid = text(&series[0], "0020000E").to_string();
    assert_eq!(text(&series[0], "00080060"), "SM");
    let found = json(&server.get(&format!(
        "/dicomweb/studies/{study}/series/{series_uid}/instances"
    )));
    let mut instances: Vec<(u64, String)> = found
        .as_array()
        .expect("instances")
        .iter()
        .map(|i| {
            assert_eq!(text(i, "00080016"), "1.2.840.10008.5.1.4.1.1.77.1.6");
            (number(i, "00200013"), text(i, "00080018").to_string())
        })
        .collect();
    instances.sort();
    (
        study,
        series_uid,
        instances.into_iter().map(|(_, uid)| uid).collect(),
    )
}

fn is_uid(uid: &str) -> bool {
    uid.len() <= 64
        && uid.starts_with("2.25.")
        && uid[5..].bytes().all(|b| b.is_ascii_digit())
        && !uid[5..].starts_with('0')
}

/// The cache's level sizes, from the slide API.
fn levels(server: &Server) -> Vec<(u32, u32)> {
    let r = server.get(&format!("/api/slides/{SLIDE}"));
    let v: Value = serde_json::from_slice(&r.body).expect("slide json");
    v["levels"]
        .as_array()
        .expect("levels")
        .iter()
        .map(|l| {
            let n = |k: &str| u32::try_from(l[k].as_u64().expect("size")).expect("u32");
            (n("width"), n("height"))
        })
        .collect()
}

#[test]
fn qido_finds_one_study_and_series_with_an_instance_per_level_and_stable_uids() {
    let (_dir, data) = slide_dir(WIDTH, HEIGHT);
    let server = Server::start(&data, &[]);
    let (study, series, instances) = uids(&server);
    assert_eq!(instances.len(), levels(&server).len());
    for uid in [&study, &series].into_iter().chain(&instances) {
        assert!(is_uid(uid), "{uid} is not a 2.25 UID");
    }
    // The same answers at the top level, and the search keys select.
    let all = json(&server.get("/dicomweb/instances"));
    assert_eq!(all.as_array().map(Vec::len), Some(instances.len()));
    let one = json(&server.get(&format!(
        "/dicomweb/instances?SOPInstanceUID={}",
        instances[1]
    )));
    assert_eq!(one.as_array().map(Vec::len), Some(1));
    assert_eq!(text(&one[0], "00080018"), instances[1]);
    let by_tag = json(&server.get(&format!("/dicomweb/series?0020000D={study}&Modality=SM")));
    assert_eq!(text(&by_tag[0], "0020000E"), series);
    let none = json(&server.get("/dicomweb/studies?StudyInstanceUID=2.25.1"));
    assert_eq!(none, Value::Array(Vec::new()));
    let paged = json(&server.get("/dicomweb/instances?limit=1&offset=1"));
    assert_eq!(paged.as_array().map(Vec::len), Some(1));
    assert_eq!(text(&paged[0], "00080018"), instances[1]);
    // There is no patient data to find a slide by.
    for key in ["PatientID=123", "PatientName=Doe*", "AccessionNumber=A1"] {
        let found = json(&server.get(&format!("/dicomweb/studies?{key}")));
        assert_eq!(found, Value::Array(Vec::new()), "{key}");
    }
    // A key Tessera cannot match on is ignored, and said so; one that is no DICOM
    // attribute is refused.
    let ignored = server.get("/dicomweb/studies?StudyDescription=x");
    assert_eq!(json(&ignored).as_array().map(Vec::len), Some(1));
    assert!(
        ignored
            .header("warning")
            .is_some_and(|w| w.starts_with("299 ") && w.contains("StudyDescription")),
        "{:?}",
        ignored.headers
    );
    let refused = server.get("/dicomweb/studies?NoSuchAttribute=1");
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert!(refused.text().contains("NoSuchAttribute"));
    // A restarted server derives the same UIDs from the same cache.
    let (status, _) = server.stop();
    assert!(status.success() || status.code().is_none(), "{status:?}");
    let again = Server::start(&data, &[]);
    assert_eq!(uids(&again), (study, series, instances));
}

#[test]
fn wado_metadata_describes_the_pyramid_without_patient_data() {
    let (_dir, data) = slide_dir(WIDTH, HEIGHT);
    let server = Server::start(&data, &[]);
    let (study, series, instances) = uids(&server);
    let sizes = levels(&server);
    assert_eq!(sizes[0], (WIDTH, HEIGHT));
    let all = json(&server.get(&format!(
        "/dicomweb/studies/{study}/series/{series}/metadata"
    )));
    assert_eq!(all.as_array().map(Vec::len), Some(instances.len()));
    let mut frames_of_reference = Vec::new();
    let mut spacings = Vec::new();
    for (level, uid) in instances.iter().enumerate() {
        let r = server.get_with(
            &format!("/dicomweb/studies/{study}/series/{series}/instances/{uid}/metadata"),
            &[("Accept", "application/dicom+json")],
        );
        let m = &json(&r)[0];
        let (w, h) = sizes[level];
        assert_eq!(text(m, "00080018"), uid);
        assert_eq!(text(m, "00080016"), "1.2.840.10008.5.1.4.1.1.77.1.6");
        assert_eq!(text(m, "00080060"), "SM");
        assert_eq!(text(m, "00020010"), "1.2.840.10008.1.2.4.50");
        assert_eq!(
            number(m, "00480006"),
            u64::from(w),
            "TotalPixelMatrixColumns"
        );
        assert_eq!(number(m, "00480007"), u64::from(h), "TotalPixelMatrixRows");
        assert_eq!(number(m, "00280010"), u64::from(TILE), "Rows");
        assert_eq!(number(m, "00280011"), u64::from(TILE), "Columns");
        let frames = u64::from(w.div_ceil(TILE)) * u64::from(h.div_ceil(TILE));
        assert_eq!(number(m, "00280008"), frames, "NumberOfFrames");
        assert_eq!(text(m, "00209311"), "TILED_FULL");
        assert_eq!(number(m, "00280002"), 3);
        assert_eq!(number(m, "00280100"), 8);
        assert!(
            ["YBR_FULL_422", "YBR_FULL"].contains(&text(m, "00280004")),
            "{}",
            text(m, "00280004")
        );
        let image_type = &m["00080008"]["Value"];
        assert_eq!(image_type[2], "VOLUME");
        assert_eq!(
            image_type[0],
            if level == 0 { "ORIGINAL" } else { "DERIVED" }
        );
        let spacing = &value(value(m, "52009229"), "00289110")["00280030"]["Value"];
        let (dy, dx) = (
            spacing[0].as_f64().expect("row spacing"),
            spacing[1].as_f64().expect("column spacing"),
        );
        // Every level spans the same width and height in millimetres.
        let level0 = *spacings.first().unwrap_or(&(dx, dy));
        spacings.push((dx, dy));
        assert!((dx * f64::from(w) - level0.0 * f64::from(WIDTH)).abs() < 1e-9);
        assert!((dy * f64::from(h) - level0.1 * f64::from(HEIGHT)).abs() < 1e-9);
        let origin = value(m, "00480008");
        assert_eq!(value(origin, "0040072A").as_f64(), Some(0.0));
        assert_eq!(m["00480102"]["Value"].as_array().map(Vec::len), Some(6));
        let paths = m["00480105"]["Value"].as_array().expect("optical paths");
        assert_eq!(paths.len(), 1);
        assert_eq!(text(&paths[0], "00480106"), "1");
        assert!(!text(m, "00400512").is_empty(), "ContainerIdentifier");
        frames_of_reference.push(text(m, "00200052").to_string());
        // No patient data: the patient and study attributes are there, without values.
        for tag in ["00100010", "00100020", "00080020", "00080050"] {
            assert!(
                m[tag].is_object() && m[tag].get("Value").is_none(),
                "{tag}: {}",
                m[tag]
            );
        }
    }
    frames_of_reference.dedup();
    assert_eq!(
        frames_of_reference.len(),
        1,
        "one frame of reference per slide"
    );
    assert!(is_uid(&frames_of_reference[0]));
    // Unknown UIDs are 404; an unsupported Accept is 406.
    let wrong = server.get(&format!("/dicomweb/studies/{study}/series/2.25.5/metadata"));
    assert_eq!(wrong.status, 404);
    let xml = server.get_with(
        &format!("/dicomweb/studies/{study}/series/{series}/metadata"),
        &[("Accept", "application/dicom+xml")],
    );
    assert_eq!(xml.status, 406);
}

/// The parts of a `multipart/related` body, by the boundary its content type names.
fn parts(r: &HttpResponse) -> Vec<Vec<u8>> {
    let content_type = r.header("content-type").expect("content type");
    assert!(
        content_type.starts_with("multipart/related") && content_type.contains("image/jpeg"),
        "{content_type}"
    );
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .expect("boundary")
        .trim_matches('"');
    let delimiter = format!("--{boundary}");
    let body = &r.body;
    let mut found = Vec::new();
    let mut at = 0;
    let positions: Vec<usize> = (0..body.len())
        .filter(|&i| body[i..].starts_with(delimiter.as_bytes()))
        .collect();
    for pair in positions.windows(2) {
        let part = &body[pair[0] + delimiter.len()..pair[1]];
        let head_end = (0..part.len())
            .find(|&i| part[i..].starts_with(b"\r\n\r\n"))
            .expect("part headers");
        let head = String::from_utf8_lossy(&part[..head_end]).to_lowercase();
        assert!(head.contains("content-type: image/jpeg"), "{head}");
        let content = &part[head_end + 4..];
        found.push(
            content
                .strip_suffix(b"\r\n")
                .expect("CRLF before the delimiter")
                .to_vec(),
        );
        at = pair[1];
    }
    assert!(
        body[at..].starts_with(format!("{delimiter}--").as_bytes()),
        "closing delimiter"
    );
    found
}

#[test]
fn frames_are_full_size_jpegs_of_the_tiles_edges_padded() {
    let (_dir, data) = slide_dir(WIDTH, HEIGHT);
    let server = Server::start(&data, &[]);
    let (study, series, instances) = uids(&server);
    let base = format!(
        "/dicomweb/studies/{study}/series/{series}/instances/{}/frames",
        instances[0]
    );
    let (cols, rows) = (WIDTH.div_ceil(TILE), HEIGHT.div_ceil(TILE));
    let last = cols * rows;
    let accept = [(
        "Accept",
        "multipart/related; type=\"image/jpeg\"; transfer-syntax=1.2.840.10008.1.2.4.50",
    )];
    let r = server.get_with(&format!("{base}/1,{last},2"), &accept);
    assert_eq!(r.status, 200, "{}", r.text());
    let frames = parts(&r);
    assert_eq!(frames.len(), 3);
    for frame in &frames {
        assert!(frame.starts_with(&[0xFF, 0xD8]) && frame.ends_with(&[0xFF, 0xD9]));
        let (w, h, _) = decode_image(frame);
        assert_eq!((w, h), (TILE, TILE), "every frame is Rows × Columns");
    }
    // Frame 1 is the interior tile (0, 0): the very JPEG the tile routes serve.
    let tile = server.get(&format!("/slides/{SLIDE}/tiles/0/0/0.jpg"));
    assert_eq!(frames[0], tile.body);
    // Frame 2 is tile (1, 0): row-major order.
    let second = server.get(&format!("/slides/{SLIDE}/tiles/0/1/0.jpg"));
    assert_eq!(frames[2], second.body);
    // The last frame is the corner tile, padded right and below with the background.
    let (edge_w, edge_h) = (WIDTH - (cols - 1) * TILE, HEIGHT - (rows - 1) * TILE);
    let corner = server.get(&format!(
        "/slides/{SLIDE}/tiles/0/{}/{}.png",
        cols - 1,
        rows - 1
    ));
    let (cw, ch, expected) = decode_image(&corner.body);
    assert_eq!((cw, ch), (edge_w, edge_h));
    let (_, _, padded) = decode_image(&frames[1]);
    let row_bytes = (TILE * 3) as usize;
    let inside: Vec<u8> = padded
        .chunks(row_bytes)
        .take(edge_h as usize)
        .flat_map(|row| row[..(edge_w * 3) as usize].to_vec())
        .collect();
    let db = psnr(&expected, &inside);
    assert!(
        db >= 30.0,
        "the corner frame's pixels are the tile's: {db:.1} dB"
    );
    let below: Vec<u8> = padded[(edge_h as usize + 8) * row_bytes..].to_vec();
    let fill = tiler::CacheReader::open(&data.join(format!("{SLIDE}.tess")))
        .expect("cache")
        .metadata()
        .background;
    let expected_fill: Vec<u8> = fill.iter().copied().cycle().take(below.len()).collect();
    let db = psnr(&expected_fill, &below);
    assert!(db >= 30.0, "the padding is the background: {db:.1} dB");
    // Frames outside the instance are 404; a transfer syntax other than JPEG baseline,
    // or a type other than image/jpeg, is 406.
    for outside in [
        format!("{base}/0"),
        format!("{base}/{}", last + 1),
        format!("{base}/1,{}", last + 1),
    ] {
        let r = server.get_with(&outside, &accept);
        assert_eq!(r.status, 404, "{outside}: {}", r.text());
    }
    for refused in [
        "multipart/related; type=\"image/jpeg\"; transfer-syntax=1.2.840.10008.1.2.4.90",
        "multipart/related; type=\"application/octet-stream\"",
        "image/png",
    ] {
        let r = server.get_with(&format!("{base}/1"), &[("Accept", refused)]);
        assert_eq!(r.status, 406, "{refused}: {}", r.text());
    }
    // "As stored" (octet-stream with transfer-syntax=*), as dicom-microscopy-viewer asks:
    // the same JPEG frames.
    let r = server.get_with(
        &format!("{base}/1,2"),
        &[(
            "Accept",
            "multipart/related; type=\"application/octet-stream\"; transfer-syntax=*",
        )],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(parts(&r), [frames[0].clone(), frames[2].clone()]);
    let r = server.get(&format!("{base}/one"));
    assert_eq!(r.status, 400, "{}", r.text());
}

#[test]
fn a_jpeg_cache_passes_its_tiles_through_as_frames() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("data dir");
    let svs = dir.path().join("s.svs");
    let (w, h) = (WIDTH.to_string(), HEIGHT.to_string());
    tessera_ok(&[&"synth", &"-o", &svs, &"--width", &w, &"--height", &h]);
    tessera_ok(&[
        &"tile", &svs, &"-o", &data, &"--id", &SLIDE, &"--codec", &"jpeg",
    ]);
    let server = Server::start(&data, &[]);
    let (study, series, instances) = uids(&server);
    let frame = server.get(&format!(
        "/dicomweb/studies/{study}/series/{series}/instances/{}/frames/1",
        instances[0]
    ));
    let frames = parts(&frame);
    let tile = server.get(&format!("/slides/{SLIDE}/tiles/0/0/0.jpg"));
    assert_eq!(frames, [tile.body]);
    let last = server.get(&format!(
        "/dicomweb/studies/{study}/series/{series}/instances/{}/frames/{}",
        instances[0],
        WIDTH.div_ceil(TILE) * HEIGHT.div_ceil(TILE)
    ));
    let (fw, fh, _) = decode_image(&parts(&last)[0]);
    assert_eq!((fw, fh), (TILE, TILE));
}

#[test]
fn callers_learn_nothing_of_slides_they_have_no_role_on() {
    let w = world(false);
    let listed = |who: &str, path: &str| {
        let r = w.call(who, "GET", path, "");
        assert_eq!(r.status, 200, "{who} {path}: {}", r.text());
        serde_json::from_slice::<Value>(&r.body).expect("json")
    };
    let studies = listed("vie", "/dicomweb/studies");
    assert_eq!(studies.as_array().map(Vec::len), Some(1));
    let study = text(&studies[0], "0020000D").to_string();
    let series = listed("vie", "/dicomweb/series");
    let series = text(&series[0], "0020000E").to_string();
    let instance = listed("vie", "/dicomweb/instances");
    let instance = text(&instance[0], "00080018").to_string();
    // The outsider (an admin of another project) finds nothing, and is told nothing.
    for path in [
        "/dicomweb/studies",
        "/dicomweb/series",
        "/dicomweb/instances",
    ] {
        assert_eq!(listed("outsider", path), Value::Array(Vec::new()), "{path}");
    }
    assert_eq!(
        listed("outsider", &format!("/dicomweb/studies/{study}/series")),
        Value::Array(Vec::new())
    );
    let inside = format!("/dicomweb/studies/{study}/series/{series}/instances/{instance}");
    for path in [
        format!("/dicomweb/studies/{study}/metadata"),
        format!("{inside}/metadata"),
        format!("{inside}/frames/1"),
    ] {
        let ok = w.call("vie", "GET", &path, "");
        assert_eq!(ok.status, 200, "vie {path}: {}", ok.text());
        let hidden = w.call("outsider", "GET", &path, "");
        let absent = w.call("outsider", "GET", &path.replace(&study, "2.25.1"), "");
        assert_eq!(hidden.status, 404, "outsider {path}: {}", hidden.text());
        assert_eq!(
            hidden.text().replace(&study, "2.25.1"),
            absent.text(),
            "a hidden study looks absent"
        );
        // Without credentials: sign in first.
        assert_eq!(w.call("none", "GET", &path, "").status, 401);
    }
}

#[test]
fn blind_mode_hides_no_slide_images() {
    // Blind mode hides other annotators' work; DICOMweb serves images only, so a blind
    // annotator sees the slide's study and frames as the tile routes show them its tiles.
    let w = world(true);
    let r = w.call("ann", "GET", "/dicomweb/instances", "");
    let instances: Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(r.status, 200, "{}", r.text());
    let first = &instances[0];
    let path = format!(
        "/dicomweb/studies/{}/series/{}/instances/{}/frames/1",
        text(first, "0020000D"),
        text(first, "0020000E"),
        text(first, "00080018")
    );
    assert_eq!(w.call("ann", "GET", &path, "").status, 200);
    assert_eq!(
        w.call(
            "ann",
            "GET",
            &format!("/slides/{SLIDE}/tiles/0/0/0.jpg"),
            ""
        )
        .status,
        200
    );
}

#[test]
fn a_real_slide_keeps_its_size_and_pixel_size() {
    // Fails under CI when the shared slides are missing (see `tessera_e2e::slide`).
    let Some(svs) = tessera_e2e::slide("CMU-1-Small-Region.svs") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    tessera_ok(&[&"tile", &svs, &"-o", &dir.path(), &"--id", &SLIDE]);
    let cache = tiler::CacheReader::open(&dir.path().join(format!("{SLIDE}.tess"))).expect("cache");
    let m = cache.metadata();
    let (mpp_x, mpp_y) = (m.mpp_x.expect("mpp x"), m.mpp_y.expect("mpp y"));
    let server = Server::start(dir.path(), &[]);
    let (study, series, instances) = uids(&server);
    let meta = json(&server.get(&format!(
        "/dicomweb/studies/{study}/series/{series}/instances/{}/metadata",
        instances[0]
    )));
    let m0 = &meta[0];
    assert_eq!(number(m0, "00480006"), u64::from(m.width));
    assert_eq!(number(m0, "00480007"), u64::from(m.height));
    let spacing = &value(value(m0, "52009229"), "00289110")["00280030"]["Value"];
    let close = |v: &Value, want: f64| (v.as_f64().expect("spacing") - want).abs() < 1e-12;
    assert!(
        close(&spacing[0], mpp_y / 1000.0),
        "{spacing} vs {mpp_y} µm"
    );
    assert!(
        close(&spacing[1], mpp_x / 1000.0),
        "{spacing} vs {mpp_x} µm"
    );
    let last = number(m0, "00280008");
    let frames = server.get(&format!(
        "/dicomweb/studies/{study}/series/{series}/instances/{}/frames/1,{last}",
        instances[0]
    ));
    for frame in parts(&frames) {
        assert_eq!(decode_image(&frame).0, TILE);
        assert_eq!(decode_image(&frame).1, TILE);
    }
}

#[test]
fn wsidicom_reads_the_slide_through_dicomweb_and_from_files_written_from_it() {
    // Fails under CI when the shared slides are missing (see `tessera_e2e::slide`).
    let Some(svs) = tessera_e2e::slide("CMU-1-Small-Region.svs") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    tessera_ok(&[&"tile", &svs, &"-o", &dir.path(), &"--id", &SLIDE]);
    let cache = dir.path().join(format!("{SLIDE}.tess"));
    let server = Server::start(dir.path(), &[]);
    // CMU-1-Small-Region is 2220 × 2967: regions inside, across the first four frames, and
    // over the last (padded) column and row of frames.
    let regions: [(u32, u32, u32, u32); 3] = [
        (700, 900, 400, 300),
        (200, 180, 120, 150),
        (2000, 2800, 220, 167),
    ];
    let python = python_venv(
        "dicom-venv",
        &repo_root().join("tests/dicom/requirements.txt"),
    );
    let out = tempfile::tempdir().expect("temp dir");
    let run = std::process::Command::new(python)
        .arg(repo_root().join("tests/dicom/dicomweb_oracle.py"))
        .arg(format!("http://{}", server.addr))
        .arg(out.path())
        .args(
            regions
                .iter()
                .map(|(x, y, w, h)| format!("{x},{y},{w},{h}")),
        )
        .output()
        .expect("python runs");
    assert!(
        run.status.success(),
        "the oracle failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let line: Value = serde_json::from_slice(&run.stdout).expect("the oracle's JSON line");
    let levels = tiler::CacheReader::open(&cache)
        .expect("cache")
        .grid()
        .level_count();
    assert_eq!(line["web_levels"], levels, "{line}");
    assert_eq!(line["file_levels"], levels, "{line}");
    for (i, &(x, y, w, h)) in regions.iter().enumerate() {
        let expected = region_rgb(
            &cache,
            (i64::from(x), i64::from(y), w, h),
            &out.path().join(format!("expected-{i}.png")),
        );
        for reader in ["web", "file"] {
            let read = std::fs::read(out.path().join(format!("{reader}-{i}.rgb"))).expect("region");
            let db = psnr(&expected, &read);
            eprintln!("region {i} ({x},{y} {w}×{h}) by wsidicom ({reader}): {db:.1} dB");
            assert!(
                db >= 35.0,
                "region {i} read by wsidicom ({reader}): {db:.1} dB"
            );
        }
    }
}
