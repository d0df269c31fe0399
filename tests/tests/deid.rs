//! De-identification on CMU-1-Small-Region.svs, which carries a label and a macro image and
//! the Aperio Filename, Date, Time, User and ImageID properties: no endpoint returns the
//! label or macro pixels, no response nor the `.tess` file holds any of those values, the
//! default id is a pseudonym, and `tessera deid-check` lists what could identify a patient.

use serde_json::Value;
use std::path::{Path, PathBuf};
use tessera_e2e::{HttpResponse, Server, decode_image, dir_listing, psnr, tessera, tessera_ok};

/// The slide's Aperio Filename, Date, Time, User and ImageID values
/// (`openslide-show-properties`).
const VALUES: [&str; 5] = [
    "CMU-1",
    "12/29/09",
    "09:59:15",
    "b414003d-95c6-48b0-9369-8010ed517ba7",
    "1004486",
];

fn contains_ignoring_case(haystack: &[u8], needle: &str) -> bool {
    let needle = needle.as_bytes();
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Fails naming `what` when `bytes` holds any of the five values, in any case.
fn assert_clean(what: &str, bytes: &[u8]) {
    for value in VALUES {
        assert!(
            !contains_ignoring_case(bytes, value),
            "{what} contains {value:?}"
        );
    }
}

/// What `tile` chooses for the slide: `slide-` + 12 hex digits of SHA-256 over the first
/// MiB and the size (little-endian u64), computed here independently.
fn expected_pseudonym(slide: &Path) -> String {
    use sha2::Digest;
    let bytes = std::fs::read(slide).expect("read slide");
    let mut hasher = sha2::Sha256::new();
    hasher.update(&bytes[..bytes.len().min(1 << 20)]);
    hasher.update((bytes.len() as u64).to_le_bytes());
    let digest = hasher.finalize();
    let hex: String = digest[..6]
        .iter()
        .flat_map(|b| [b >> 4, b & 15])
        .filter_map(|nibble| char::from_digit(u32::from(nibble), 16))
        .collect();
    format!("slide-{hex}")
}

/// Tiles CMU-1-Small-Region with the default id into a fresh directory; returns the
/// directory, the id `tile --json` reports, and what `tile` wrote on stderr.
fn tiled_with_default_id() -> Option<(tempfile::TempDir, PathBuf, String, String)> {
    let slide = tessera_e2e::slide("CMU-1-Small-Region.svs")?;
    let dir = tempfile::tempdir().expect("temp dir");
    let out = tessera(&[&"tile", &slide, &"-o", &dir.path(), &"--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("tile --json");
    let id = report["id"].as_str().expect("id").to_string();
    Some((
        dir,
        slide,
        id,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[test]
fn the_default_id_is_a_pseudonym_and_the_cache_holds_no_identifying_value() {
    let Some((dir, slide, id, stderr)) = tiled_with_default_id() else {
        return;
    };
    assert_eq!(id, expected_pseudonym(&slide));
    assert!(
        stderr.contains("aperio.Filename") && stderr.contains("--id") && stderr.contains(&id),
        "one line says why and how to choose: {stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    let listing = dir_listing(dir.path());
    assert_eq!(listing, vec![format!("{id}.tess")]);
    assert_clean("the cache's file name", listing[0].as_bytes());

    let path = dir.path().join(format!("{id}.tess"));
    let bytes = std::fs::read(&path).expect("read cache");
    assert_clean("the .tess file", &bytes);
    assert!(
        !contains_ignoring_case(&bytes, "Small-Region"),
        "source name in the cache"
    );
    // The metadata block as stored, and as a reader parses it.
    let header = tiler::Header::parse(&bytes).expect("header");
    let start = header.metadata_offset as usize;
    let block = &bytes[start..start + header.metadata_len as usize];
    assert_clean("the metadata block", block);
    for text in ["small-region", ".svs", "/work/", "shared/data"] {
        assert!(
            !contains_ignoring_case(block, text),
            "metadata names the source: {text}"
        );
    }
    let cache = tiler::CacheReader::open(&path).expect("cache");
    let parsed = serde_json::to_string(cache.metadata()).expect("json");
    assert_clean("the parsed metadata", parsed.as_bytes());
    let m = cache.metadata();
    assert_eq!(
        m.properties.get("aperio.MPP").map(String::as_str),
        Some("0.4990")
    );
    assert!(
        m.properties
            .keys()
            .all(|k| !k.contains("ImageDescription") && !k.contains("comment")),
        "{:?}",
        m.properties
    );
    assert!(m.other.is_empty(), "{:?}", m.other);
    // Only pyramid tiles: nothing else (label, macro) has a place in the directory.
    assert_eq!(m.tile_count, cache.grid().tile_count());

    // An explicit id is used as given, with no note.
    let explicit = tessera(&[&"tile", &slide, &"-o", &dir.path(), &"--id", &"CMU-1-kept"]);
    assert!(explicit.status.success());
    assert!(
        explicit.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&explicit.stderr)
    );
    assert!(dir.path().join("CMU-1-kept.tess").is_file());

    // A name that holds no value of the slide stays the id.
    let plain = dir.path().join("region-a.svs");
    std::fs::copy(&slide, &plain).expect("copy");
    let out = tessera(&[&"tile", &plain, &"-o", &dir.path(), &"--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["id"], "region-a");
}

/// GETs `path` and checks status, headers and body: no value, in any case.
fn get_clean(server: &Server, path: &str, status: u16) -> HttpResponse {
    let r = server.get(path);
    assert_eq!(r.status, status, "{path}: {}", r.text());
    for (name, value) in &r.headers {
        // `Date` is the server's clock: it could read 09:59:15 at that second of a day.
        if !name.eq_ignore_ascii_case("date") {
            assert_clean(&format!("{path}: header {name}"), value.as_bytes());
        }
    }
    assert_clean(&format!("{path}: body"), &r.body);
    r
}

/// Every GET endpoint of a slide, with the status it answers.
fn endpoints(id: &str, annotation: &str) -> Vec<(String, u16)> {
    let mut paths: Vec<(String, u16)> = [
        ("/", 200),
        ("/healthz", 200),
        ("/api/slides", 200),
        ("/api/slides/{id}", 200),
        ("/api/slides/{id}/thumbnail", 200),
        ("/api/slides/{id}/thumbnail?max=463&format=png", 200),
        ("/api/slides/{id}/thumbnail?max=1280&format=png", 200),
        ("/dzi/{id}.dzi", 200),
        ("/dzi/{id}.json", 200),
        ("/dzi/{id}_files/0/0_0.jpg", 200),
        ("/dzi/{id}_files/8/0_0.png", 200),
        ("/dzi/{id}_files/11/1_2.webp", 200),
        ("/dzi/{id}_files/12/3_4.jpg", 200),
        ("/dzi/{id}_files/12/8_11.png", 200),
        ("/slides/{id}/tiles/0/0/0.png", 200),
        ("/slides/{id}/tiles/2/1/1.jpg", 200),
        ("/slides/{id}/tiles/4/0/0.webp", 200),
        ("/iiif/3/{id}", 303),
        ("/iiif/3/{id}/info.json", 200),
        ("/iiif/3/{id}/full/max/0/default.jpg", 200),
        ("/iiif/3/{id}/full/387,463/0/default.png", 200),
        ("/iiif/3/{id}/full/1280,431/0/default.png", 200),
        ("/iiif/3/{id}/full/!574,768/0/default.png", 200),
        ("/iiif/3/{id}/0,0,1024,1024/256,/0/default.webp", 200),
        ("/iiif/3/{id}/square/200,/0/gray.png", 200),
        ("/view/{id}", 200),
        ("/view/{id}?region=0,0,1000,1000", 200),
        ("/viewer/view.js", 200),
        ("/viewer/index.js", 200),
        ("/api/slides/{id}/annotations/summary", 200),
        ("/api/slides/{id}/annotations?bbox=0,0,2220,2967", 200),
        (
            "/api/slides/{id}/annotations?bbox=0,0,2220,2967&format=binary",
            200,
        ),
        ("/api/slides/{id}/annotations/export", 200),
        ("/api/annotations/{uuid}", 200),
        ("/api/annotations/{uuid}/history", 200),
        // No route serves associated images, under any name.
        ("/api/slides/{id}/label", 404),
        ("/api/slides/{id}/macro", 404),
        ("/api/slides/{id}/associated/label", 404),
        ("/api/slides/{id}/associated_images/macro", 404),
        ("/iiif/3/{id}-label/info.json", 404),
    ]
    .iter()
    .map(|(p, s)| (p.replace("{id}", id).replace("{uuid}", annotation), *s))
    .collect();
    paths.push(("/metrics".into(), 200));
    paths
}

#[test]
fn no_response_carries_an_identifying_value() {
    let Some((dir, _, id, _)) = tiled_with_default_id() else {
        return;
    };
    let server = Server::start(dir.path(), &[]);
    let feature = r#"{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[100,100],[300,100],[300,300],[100,300],[100,100]]]},"properties":{"classification":{"name":"Tumor","color":[200,0,0]}}}"#;
    let created = server.request(
        "POST",
        &format!("/api/slides/{id}/annotations?layer=review"),
        &[],
        feature.as_bytes(),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    assert_clean("POST annotations", &created.body);
    let uuid = serde_json::from_slice::<Value>(&created.body).expect("json")["id"]
        .as_str()
        .expect("uuid")
        .to_string();
    for (path, status) in endpoints(&id, &uuid) {
        get_clean(&server, &path, status);
    }
    // DICOMweb: the searches, every instance's metadata, and a frame of each.
    for search in ["/dicomweb/studies", "/dicomweb/series"] {
        get_clean(&server, search, 200);
    }
    let instances: Value =
        serde_json::from_slice(&get_clean(&server, "/dicomweb/instances", 200).body).expect("json");
    for instance in instances.as_array().expect("instances") {
        let uid = |tag: &str| {
            instance[tag]["Value"][0]
                .as_str()
                .expect("a UID")
                .to_string()
        };
        let base = format!(
            "/dicomweb/studies/{}/series/{}/instances/{}",
            uid("0020000D"),
            uid("0020000E"),
            uid("00080018")
        );
        get_clean(&server, &format!("{base}/metadata"), 200);
        get_clean(&server, &format!("{base}/frames/1"), 200);
    }
    let slide: Value =
        serde_json::from_slice(&get_clean(&server, &format!("/api/slides/{id}"), 200).body)
            .expect("json");
    assert_eq!(slide["id"], id.as_str());
    assert_eq!(slide["properties"]["aperio.AppMag"], "20");
    // Metrics are labelled by route templates, never by slide id or file.
    let metrics = server.get("/metrics").text();
    assert!(!metrics.contains(&id), "{metrics}");
}

/// An associated image as OpenSlide reads it: width, height, packed RGB (premultiplied
/// BGRA flattened onto white).
fn associated(slide: &Path, name: &str) -> (u32, u32, Vec<u8>) {
    let os = openslide_rs::OpenSlide::new(slide).expect("OpenSlide opens the slide");
    let (size, bgra) = os.read_associated_buffer(name).expect("associated image");
    let rgb = bgra
        .chunks_exact(4)
        .flat_map(|p| {
            let clear = 255 - p[3];
            [
                p[2].saturating_add(clear),
                p[1].saturating_add(clear),
                p[0].saturating_add(clear),
            ]
        })
        .collect();
    (size.w, size.h, rgb)
}

#[test]
fn no_image_response_is_the_label_or_macro() {
    let Some((dir, slide, id, _)) = tiled_with_default_id() else {
        return;
    };
    let label = associated(&slide, "label");
    let macro_image = associated(&slide, "macro");
    assert_eq!((label.0, label.1), (387, 463));
    assert_eq!((macro_image.0, macro_image.1), (1280, 431));
    let server = Server::start(dir.path(), &[]);
    let mut compared = 0;
    for (path, status) in endpoints(&id, "none") {
        let r = server.get(&path);
        // The test decodes JPEG and PNG; the WebP requests are single tiles (≤ 256 px), of
        // neither the label's nor the macro's size.
        if status != 200
            || !r
                .header("content-type")
                .is_some_and(|t| t == "image/jpeg" || t == "image/png")
        {
            continue;
        }
        let (w, h, pixels) = decode_image(&r.body);
        for (name, (aw, ah, apixels)) in [("label", &label), ("macro", &macro_image)] {
            if (w, h) != (*aw, *ah) {
                continue; // Of another size it cannot be those pixels.
            }
            compared += 1;
            assert_ne!(&pixels, apixels, "{path} is the {name} image");
            let db = psnr(&pixels, apixels);
            eprintln!("{path} vs the {name} image: {db:.1} dB");
            assert!(db < 20.0, "{path} looks like the {name} image ({db:.1} dB)");
        }
    }
    assert_eq!(
        compared, 2,
        "the IIIF requests at the label's and macro's sizes"
    );
}

fn deid_check(path: &Path, json: bool) -> (i32, String, String) {
    let out = if json {
        tessera(&[&"deid-check", &path, &"--json"])
    } else {
        tessera(&[&"deid-check", &path])
    };
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn deid_check_lists_what_could_identify_and_passes_the_cache() {
    let Some((dir, slide, id, _)) = tiled_with_default_id() else {
        return;
    };
    let (code, text, _) = deid_check(&slide, false);
    assert_eq!(code, 1, "findings exit 1: {text}");
    for word in [
        "label", "macro", "Filename", "Date", "Time", "User", "ImageID",
    ] {
        assert!(text.contains(word), "{word} missing: {text}");
    }
    let (code, json, _) = deid_check(&slide, true);
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&json).expect("json");
    assert_eq!(report["kind"], "slide");
    let findings = report["findings"].as_array().expect("findings");
    let has = |kind: &str, field: &str, name: &str| {
        findings
            .iter()
            .find(|f| f["kind"] == kind && f[field] == name)
            .cloned()
    };
    for (name, (w, h)) in [("label", (387, 463)), ("macro", (1280, 431))] {
        let f = has("associated_image", "name", name).expect(name);
        assert_eq!(
            (f["width"].as_u64(), f["height"].as_u64()),
            (Some(w), Some(h))
        );
    }
    for (key, value) in ["Filename", "Date", "Time", "User", "ImageID"]
        .iter()
        .zip(VALUES)
    {
        let f = has("property", "key", &format!("aperio.{key}")).expect(key);
        assert_eq!(f["value"], value);
    }
    let name = has("file_name", "name", "CMU-1-Small-Region.svs").expect("file name");
    assert!(
        name["detail"]
            .as_str()
            .is_some_and(|d| d.contains("aperio.Filename")),
        "{name}"
    );

    let cache = dir.path().join(format!("{id}.tess"));
    let (code, json, stderr) = deid_check(&cache, true);
    assert_eq!(code, 0, "{json}{stderr}");
    let report: Value = serde_json::from_str(&json).expect("json");
    assert_eq!(report["kind"], "cache");
    assert_eq!(report["findings"], serde_json::json!([]));
    let (code, text, _) = deid_check(&cache, false);
    assert_eq!(code, 0);
    assert!(text.contains("nothing found"), "{text}");

    // Unreadable input: exit 2, the file named with the reason.
    let missing = dir.path().join("missing.svs");
    let (code, _, stderr) = deid_check(&missing, false);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("missing.svs") && stderr.contains("No such file"),
        "{stderr}"
    );
    let junk = dir.path().join("notes.txt");
    std::fs::write(&junk, "not a slide").expect("write");
    let (code, _, stderr) = deid_check(&junk, true);
    assert_eq!(code, 2);
    assert!(stderr.contains("notes.txt"), "{stderr}");
}

/// Replaces a cache's metadata with `edit(metadata)`, as another writer might have left it.
fn rewrite_metadata(path: &Path, edit: impl FnOnce(&mut Value)) {
    let bytes = std::fs::read(path).expect("read");
    let header = tiler::Header::parse(&bytes).expect("header");
    let (m0, m1) = (
        header.metadata_offset as usize,
        (header.metadata_offset + header.metadata_len) as usize,
    );
    let d0 = header.directory_offset as usize;
    let directory = &bytes[d0..d0 + header.directory_len as usize];
    let mut metadata: Value = serde_json::from_slice(&bytes[m0..m1]).expect("metadata");
    edit(&mut metadata);
    let metadata = serde_json::to_vec(&metadata).expect("json");
    let mut out = bytes[..m0].to_vec();
    out.extend_from_slice(&metadata);
    out.extend_from_slice(directory);
    let header = tiler::Header {
        metadata_len: metadata.len() as u64,
        directory_offset: (m0 + metadata.len()) as u64,
        metadata_crc: crc32fast::hash(&metadata),
        ..header
    };
    out[..64].copy_from_slice(&header.to_bytes());
    std::fs::write(path, out).expect("write");
}

#[test]
fn a_cache_from_another_writer_is_filtered_when_served_and_reported() {
    let Some(slide) = tessera_e2e::slide("CMU-1-Small-Region.svs") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    tessera_ok(&[&"tile", &slide, &"-o", &dir.path(), &"--id", &"old"]);
    let path = dir.path().join("old.tess");
    rewrite_metadata(&path, |m| {
        m["properties"]["aperio.Filename"] = "CMU-1".into();
        m["properties"]["aperio.Date"] = "12/29/09".into();
        m["properties"]["tiff.ImageDescription"] = "x|Time = 09:59:15".into();
        m["scanner_model"] = "ScanScope 1004486".into();
        m["slide_user"] = "b414003d-95c6-48b0-9369-8010ed517ba7".into();
    });
    tessera_ok(&[&"verify", &path]);
    let server = Server::start(dir.path(), &[]);
    let one: Value =
        serde_json::from_slice(&get_clean(&server, "/api/slides/old", 200).body).expect("json");
    get_clean(&server, "/api/slides", 200);
    assert_eq!(
        one["properties"]["aperio.MPP"], "0.4990",
        "safe ones are served"
    );
    assert_eq!(one["scanner_model"], Value::Null);
    drop(server);

    let (code, json, _) = deid_check(&path, true);
    assert_eq!(code, 1, "{json}");
    let report: Value = serde_json::from_str(&json).expect("json");
    let listed: Vec<String> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            f["key"]
                .as_str()
                .or_else(|| f["field"].as_str())
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    for expected in [
        "aperio.Filename",
        "aperio.Date",
        "tiff.ImageDescription",
        "scanner_model",
        "slide_user",
    ] {
        assert!(
            listed.iter().any(|k| k == expected),
            "{expected} not in {listed:?}"
        );
    }
}
