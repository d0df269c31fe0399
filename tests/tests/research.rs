//! Research outputs: `tessera patches` (PNG folders and WebDataset shards), the patch
//! route, `export --format coco`, and imports of model output that is not quite valid.
//!
//! Masks and COCO are checked by independent tools (GDAL's rasteriser through rasterio,
//! pycocotools, webdataset) in a Python venv this file makes under `target/` and fills
//! from `tests/research/requirements.txt`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use tessera_e2e::{Server, python_venv, repo_root, tessera, tessera_ok};

/// The venv's Python, made once per run (pip from PyPI).
fn python() -> &'static Path {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        python_venv(
            "research-venv",
            &repo_root().join("tests/research/requirements.txt"),
        )
    })
}

/// Runs a check script; returns its JSON line, failing the test when it fails.
fn check(script: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> serde_json::Value {
    let out = Command::new(python())
        .arg(repo_root().join("tests/research").join(script))
        .args(args)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{script}: {stdout}");
    assert!(
        out.status.success(),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // pycocotools talks on stdout too: the figures are the last line.
    let last = stdout.lines().last().unwrap_or("");
    serde_json::from_str(last).expect("a JSON line last")
}

/// A data directory with CMU-1-Small-Region tiled as `cmu` (or `None` without the data).
fn cmu_data() -> Option<tempfile::TempDir> {
    let cmu = tessera_e2e::slide("CMU-1-Small-Region.svs")?;
    let data = tempfile::tempdir().expect("temp dir");
    tessera_ok(&[&"tile", &cmu, &"-o", &data.path(), &"--id", &"cmu"]);
    Some(data)
}

fn puma() -> Option<PathBuf> {
    let p = tessera_e2e::shared_data()?
        .join("annotations/puma_training_set_metastatic_roi_001_nuclei.geojson");
    assert!(p.is_file(), "{} is missing", p.display());
    Some(p)
}

fn manifest(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join("manifest.jsonl"))
        .expect("manifest")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object a line"))
        .collect()
}

/// The manifest's fields, and the class numbers of a slide outside projects.
fn contract(first: &serde_json::Value) {
    for key in [
        "image",
        "semantic",
        "instance",
        "slide",
        "level",
        "x",
        "y",
        "width",
        "height",
        "mpp",
        "classes",
        "instances",
    ] {
        assert!(first.get(key).is_some(), "manifest lacks {key}: {first}");
    }
    assert_eq!(
        first["classes"],
        serde_json::json!({"nuclei_apoptosis": 1, "nuclei_endothelium": 2,
                           "nuclei_lymphocyte": 3, "nuclei_tumor": 4}),
        "no project: classes sorted by name, from 1"
    );
    assert_eq!(first["slide"], "cmu");
}

/// Semantic masks are 8-bit grey PNG, instance masks 16-bit grey PNG.
fn matches_pixel_formats(out: &Path, e: &serde_json::Value) -> bool {
    let open = |key: &str| image::open(out.join(e[key].as_str().unwrap_or(""))).expect("PNG");
    matches!(open("semantic"), image::DynamicImage::ImageLuma8(_))
        && matches!(open("instance"), image::DynamicImage::ImageLuma16(_))
        && matches!(open("image"), image::DynamicImage::ImageRgb8(_))
}

#[test]
fn patches_masks_and_coco_agree_with_independent_rasterisers() {
    let (Some(data), Some(puma)) = (cmu_data(), puma()) else {
        return;
    };
    let d = data.path();
    tessera_ok(&[&"import", &"--data", &d, &"cmu", &puma]);
    let export = d.join("export.geojson");
    tessera_ok(&[&"export", &"--data", &d, &"cmu", &"-o", &export]);
    let work = tempfile::tempdir().expect("temp dir");
    // Level 0, overlapping patches; level 1; both over the nuclei's square.
    let grids: [&[&str]; 2] = [
        &["--bbox", "0,0,1024,1024", "--stride", "192"],
        &["--bbox", "0,0,1024,1024", "--level", "1", "--stride", "128"],
    ];
    for (n, grid) in grids.iter().enumerate() {
        let out = work.path().join(format!("png{n}"));
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> =
            vec![&"patches", &"--data", &d, &"cmu", &"-o", &out];
        args.extend(grid.iter().map(|a| a as &dyn AsRef<std::ffi::OsStr>));
        tessera_ok(&args);
        let entries = manifest(&out);
        assert_eq!(entries.len(), if n == 0 { 25 } else { 9 });
        contract(&entries[0]);
        assert!(matches_pixel_formats(&out, &entries[0]));
        let masks = check("check_masks.py", &[&out, &export]);
        assert_eq!(masks["ok"], true);
        // COCO of the same grid, checked against these instance masks.
        let coco = work.path().join(format!("coco{n}.json"));
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![
            &"export",
            &"--data",
            &d,
            &"cmu",
            &"--format",
            &"coco",
            &"-o",
            &coco,
        ];
        args.extend(grid.iter().map(|a| a as &dyn AsRef<std::ffi::OsStr>));
        tessera_ok(&args);
        assert_eq!(check("check_coco.py", &[&coco, &out])["ok"], true);
    }
    // The pixels are the cache's, which are the slide's (lossless).
    let out = work.path().join("png0");
    let e = &manifest(&out)[6];
    let (x, y) = (e["x"].as_u64().unwrap_or(0), e["y"].as_u64().unwrap_or(0));
    let ours = image::open(out.join(e["image"].as_str().unwrap_or("")))
        .expect("image PNG")
        .to_rgb8();
    let region = work.path().join("region.png");
    tessera_ok(&[
        &"region",
        &d.join("cmu.tess"),
        &"--level",
        &"0",
        &"--x",
        &x.to_string(),
        &"--y",
        &y.to_string(),
        &"--width",
        &"256",
        &"--height",
        &"256",
        &"-o",
        &region,
    ]);
    assert_eq!(ours.into_raw(), tessera_e2e::read_png(&region).2);
    // Shards hold the same samples, and WebDataset reads them.
    let tar = work.path().join("tar0");
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![
        &"patches",
        &"--data",
        &d,
        &"cmu",
        &"-o",
        &tar,
        &"--format",
        &"tar",
    ];
    args.extend(grids[0].iter().map(|a| a as &dyn AsRef<std::ffi::OsStr>));
    tessera_ok(&args);
    assert_eq!(check("check_shards.py", &[&tar, &out])["ok"], true);
}

#[test]
fn patches_filter_pick_levels_and_refuse_bad_input_without_leaving_output() {
    let (Some(data), Some(puma)) = (cmu_data(), puma()) else {
        return;
    };
    let d = data.path();
    tessera_ok(&[&"import", &"--data", &d, &"cmu", &puma]);
    let work = tempfile::tempdir().expect("temp dir");
    // --mpp picks the nearest level (CMU: 0.499 µm at level 0, ~2 µm at level 2).
    let out = work.path().join("mpp");
    tessera_ok(&[
        &"patches",
        &"--data",
        &d,
        &"cmu",
        &"-o",
        &out,
        &"--mpp",
        &"2",
        &"--size",
        &"64",
        &"--classes",
        &"nuclei_lymphocyte",
    ]);
    let entries = manifest(&out);
    assert_eq!(
        entries.len(),
        88,
        "2220x2967 at level 2 holds 8x11 patches of 64"
    );
    assert!(entries.iter().all(|e| e["level"] == 2));
    assert!((entries[0]["mpp"].as_f64().unwrap_or(0.0) - 4.0 * 0.499).abs() < 1e-9);
    assert_eq!(
        entries[0]["classes"],
        serde_json::json!({"nuclei_lymphocyte": 1})
    );
    let labelled: usize = entries
        .iter()
        .map(|e| e["instances"].as_object().map_or(0, serde_json::Map::len))
        .sum();
    // The 8 lymphocytes, some cut by a patch edge into two patches.
    assert!((8..=16).contains(&labelled), "{labelled} lymphocytes");
    // --tissue-only leaves out the background patches, not all of them.
    let tissue = work.path().join("tissue");
    tessera_ok(&[
        &"patches",
        &"--data",
        &d,
        &"cmu",
        &"-o",
        &tissue,
        &"--level",
        &"2",
        &"--size",
        &"64",
        &"--tissue-only",
    ]);
    let kept = manifest(&tissue).len();
    assert!(kept > 10 && kept < 88, "{kept} of 88 patches show tissue");
    classes_follow_the_project_schema(d, work.path());
    // Refusals name the problem and leave nothing behind.
    for (bad, says) in [
        (&["--level", "9"][..], "level"),
        (&["--bbox", "1,2,3"][..], "x,y,w,h"),
        (&["--format", "zip"][..], "png or tar"),
        (&["--status", "finished"][..], "status"),
    ] {
        let target = work.path().join("refused");
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> =
            vec![&"patches", &"--data", &d, &"cmu", &"-o", &target];
        args.extend(bad.iter().map(|a| a as &dyn AsRef<std::ffi::OsStr>));
        let r = tessera(&args);
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success() && err.contains(says), "{bad:?}: {err}");
        assert!(!target.exists(), "{bad:?} left output");
    }
    let left: Vec<_> = tessera_e2e::dir_listing(work.path())
        .into_iter()
        .filter(|n| n.starts_with(".patches-"))
        .collect();
    assert!(left.is_empty(), "partial output left: {left:?}");
}

/// In a project, patch class numbers follow the schema's order.
fn classes_follow_the_project_schema(d: &Path, work: &Path) {
    let schema = work.join("schema.json");
    std::fs::write(
        &schema,
        r##"{"classes": [{"name": "nuclei_tumor", "color": "#ff0000"},
            {"name": "stroma", "color": "#00ff00"},
            {"name": "nuclei_lymphocyte", "color": "#0000ff"},
            {"name": "nuclei_apoptosis", "color": "#ffff00"},
            {"name": "nuclei_endothelium", "color": "#00ffff"}]}"##,
    )
    .expect("schema");
    tessera_ok(&[&"project", &"create", &"p", &"--data", &d]);
    tessera_ok(&[&"project", &"schema", &"p", &schema, &"--data", &d]);
    tessera_ok(&[&"project", &"add-slide", &"p", &"cmu", &"--data", &d]);
    let schema_out = work.join("schema-order");
    tessera_ok(&[
        &"patches",
        &"--data",
        &d,
        &"cmu",
        &"-o",
        &schema_out,
        &"--bbox",
        &"0,0,256,256",
    ]);
    assert_eq!(
        manifest(&schema_out)[0]["classes"],
        serde_json::json!({"nuclei_tumor": 1, "stroma": 2, "nuclei_lymphocyte": 3,
                           "nuclei_apoptosis": 4, "nuclei_endothelium": 5})
    );
}

/// Splits a `multipart/mixed` body into (name, bytes) parts.
fn parts(content_type: &str, body: &[u8]) -> Vec<(String, Vec<u8>)> {
    let boundary = content_type
        .split("boundary=")
        .nth(1)
        .expect("a boundary")
        .trim()
        .to_string();
    let delimiter = format!("--{boundary}");
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(at) = find(rest, delimiter.as_bytes()) {
        rest = &rest[at + delimiter.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let head_end = find(rest, b"\r\n\r\n").expect("part headers");
        let head = String::from_utf8_lossy(&rest[..head_end]).to_string();
        let body_start = head_end + 4;
        let end = find(&rest[body_start..], delimiter.as_bytes()).expect("next delimiter");
        let name = head
            .split("name=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or("")
            .to_string();
        out.push((name, rest[body_start..body_start + end - 2].to_vec()));
        rest = &rest[body_start + end..];
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn the_patch_route_serves_the_cli_masks_to_viewers_only() {
    let (Some(data), Some(puma)) = (cmu_data(), puma()) else {
        return;
    };
    let d = data.path();
    tessera_ok(&[&"import", &"--data", &d, &"cmu", &puma]);
    let work = tempfile::tempdir().expect("temp dir");
    let out = work.path().join("png");
    tessera_ok(&[
        &"patches",
        &"--data",
        &d,
        &"cmu",
        &"-o",
        &out,
        &"--bbox",
        &"256,256,512,512",
    ]);
    let e = &manifest(&out)[0];
    let token = tessera_ok(&[
        &"user", &"add", &"vera", &"--role", &"viewer", &"--data", &d,
    ]);
    let token = token
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    let server = Server::start(d, &[]);
    let auth = format!("Bearer {token}");
    let path = "/api/slides/cmu/patch?x=256&y=256&w=256&h=256&level=0&masks=semantic,instance";
    assert_eq!(server.get(path).status, 401, "no token, no patch");
    let r = server.get_with(path, &[("Authorization", &auth)]);
    assert_eq!(r.status, 200, "{}", r.text());
    let ct = r.header("content-type").unwrap_or("").to_string();
    assert!(ct.starts_with("multipart/mixed"), "{ct}");
    let got = parts(&ct, &r.body);
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["image", "semantic", "instance", "meta"]);
    let file = |key: &str| std::fs::read(out.join(e[key].as_str().unwrap_or(""))).expect("file");
    let decode = |b: &[u8]| image::load_from_memory(b).expect("PNG");
    assert_eq!(
        decode(&got[0].1).to_rgb8(),
        decode(&file("image")).to_rgb8()
    );
    assert_eq!(
        decode(&got[1].1).to_luma8(),
        decode(&file("semantic")).to_luma8()
    );
    assert_eq!(
        decode(&got[2].1).to_luma16(),
        decode(&file("instance")).to_luma16()
    );
    let meta: serde_json::Value = serde_json::from_slice(&got[3].1).expect("meta JSON");
    assert_eq!(meta["instances"], e["instances"]);
    assert_eq!(meta["classes"], e["classes"]);
    // NumPy: the same instance labels, little-endian uint16.
    let r = server.get_with(&format!("{path}&format=npy"), &[("Authorization", &auth)]);
    let got = parts(r.header("content-type").unwrap_or(""), &r.body);
    let npy = &got[2].1;
    assert!(npy.starts_with(b"\x93NUMPY"));
    let header_len = u16::from_le_bytes([npy[8], npy[9]]) as usize;
    let header = String::from_utf8_lossy(&npy[10..10 + header_len]).to_string();
    assert!(
        header.contains("'<u2'") && header.contains("(256, 256)"),
        "{header}"
    );
    let labels: Vec<u16> = npy[10 + header_len..]
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    assert_eq!(labels, decode(&file("instance")).to_luma16().into_raw());
    // Without masks the body is the image alone.
    let r = server.get_with(
        "/api/slides/cmu/patch?x=256&y=256&w=256&h=256",
        &[("Authorization", &auth)],
    );
    assert_eq!(r.header("content-type"), Some("image/png"));
    // Bad parameters are 400 naming them.
    for (q, says) in [
        ("x=0&y=0&w=0&h=5", "w, h"),
        ("x=0&w=5&h=5", "y"),
        ("x=0&y=0&w=5&h=5&masks=edges", "masks"),
    ] {
        let r = server.get_with(
            &format!("/api/slides/cmu/patch?{q}"),
            &[("Authorization", &auth)],
        );
        assert!(
            r.status == 400 && r.text().contains(says),
            "{q}: {}",
            r.text()
        );
    }
    coco_over_http_is_the_clis(&server, d, work.path(), &auth);
}

/// `?format=coco` answers what `tessera export --format coco` writes.
fn coco_over_http_is_the_clis(server: &Server, d: &Path, work: &Path, auth: &str) {
    // COCO over HTTP is the CLI's.
    let coco = work.join("coco.json");
    tessera_ok(&[
        &"export",
        &"--data",
        &d,
        &"cmu",
        &"--format",
        &"coco",
        &"-o",
        &coco,
        &"--bbox",
        &"256,256,512,512",
    ]);
    let r = server.get_with(
        "/api/slides/cmu/annotations/export?format=coco&bbox=256,256,512,512",
        &[("Authorization", auth)],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let http: serde_json::Value = serde_json::from_slice(&r.body).expect("COCO JSON");
    let cli: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&coco).expect("coco")).expect("COCO JSON");
    assert_eq!(http, cli);
    assert_eq!(http["images"].as_array().map(Vec::len), Some(4));
}

/// A small seeded generator (xorshift64*), so the file is the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// 100,000 cells on an 8-px grid of random sizes, every 100th a figure-eight (a bow tie over a w×h box,
/// crossing at its centre: even-odd area w·h/2). Returns the file and, per crossing
/// cell, its feature index, id and expected area.
fn model_output() -> (String, Vec<(usize, String, f64)>) {
    let mut rng = Rng(0x5eed_0000_0028);
    let (mut features, mut crossing) = (Vec::with_capacity(100_000), Vec::new());
    for i in 0..100_000usize {
        let (x0, y0) = (4 + (i % 275) as u64 * 8, 4 + (i / 275) as u64 * 8);
        let id = format!("00000000-0000-4000-8000-{i:012x}");
        let (w, h) = (4 + rng.below(3), 4 + rng.below(3));
        let ring: Vec<(u64, u64)> = if i % 100 == 37 {
            crossing.push((i, id.clone(), (w * h) as f64 / 2.0));
            vec![(0, 0), (w, h), (w, 0), (0, h), (0, 0)]
        } else {
            vec![
                (1, 0),
                (w - 1, 0),
                (w, 1),
                (w, h - 1),
                (w - 1, h),
                (1, h),
                (0, h - 1),
                (0, 1),
                (1, 0),
            ]
        };
        let coords: Vec<String> = ring
            .iter()
            .map(|(x, y)| format!("[{},{}]", x0 + x, y0 + y))
            .collect();
        features.push(format!(
            r#"{{"type":"Feature","id":"{id}","geometry":{{"type":"Polygon","coordinates":[[{}]]}},"properties":{{"objectType":"detection","classification":{{"name":"cell"}}}}}}"#,
            coords.join(",")
        ));
    }
    (
        format!(
            r#"{{"type":"FeatureCollection","features":[{}]}}"#,
            features.join(",\n")
        ),
        crossing,
    )
}

#[test]
fn model_output_that_crosses_itself_is_repaired_or_skipped_on_request() {
    use geo::{Area, Validation};
    let Some(data) = cmu_data() else {
        return;
    };
    let cache = data.path().join("cmu.tess");
    let (file, crossing) = model_output();
    assert_eq!(crossing.len(), 1_000, "1 % of the cells cross themselves");
    let input = data.path().join("cells.geojson");
    std::fs::write(&input, file).expect("write");
    let fresh = |name: &str| {
        let dir = data.path().join(name);
        std::fs::create_dir(&dir).expect("dir");
        std::fs::copy(&cache, dir.join("cmu.tess")).expect("copy");
        dir
    };
    // Without a flag: all or nothing, and the error names both ways out.
    let plain = fresh("plain");
    let r = tessera(&[&"import", &"--data", &plain, &"cmu", &input]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success(), "a crossing cell refuses the file");
    assert!(err.contains("1000 invalid feature(s)"), "{err}");
    assert!(
        err.contains("--repair") && err.contains("--skip-invalid"),
        "{err}"
    );
    // --repair: every cell stored, each crossing one valid by geo's check and covering
    // its even-odd area.
    let repaired = fresh("repaired");
    let report = tessera_ok(&[
        &"import",
        &"--data",
        &repaired,
        &"cmu",
        &input,
        &"--repair",
        &"--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&report).expect("report");
    assert_eq!(report["imported"], 100_000);
    assert_eq!(report["repaired"], 1_000);
    assert!(
        report["repairs"][0]
            .as_str()
            .unwrap_or("")
            .contains("even-odd")
    );
    let export = repaired.join("export.geojson");
    tessera_ok(&[&"export", &"--data", &repaired, &"cmu", &"-o", &export]);
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&export).expect("export")).expect("JSON");
    let by_id: std::collections::HashMap<&str, &serde_json::Value> = doc["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|f| (f["id"].as_str().unwrap_or(""), &f["geometry"]))
        .collect();
    assert_eq!(by_id.len(), 100_000);
    for (_, id, area) in &crossing {
        let g = by_id[id.as_str()];
        let geometry: geo::Geometry<f64> = geometry_of(g);
        assert!(geometry.is_valid(), "{id}: {g}");
        let got = geometry.unsigned_area();
        assert!(
            (got - area).abs() <= area * 1e-3,
            "{id}: area {got}, expected {area}"
        );
    }
    // --skip-invalid: the rest stored; the report lists exactly the crossing cells.
    let skipped = fresh("skipped");
    let report_file = skipped.join("skipped.jsonl");
    tessera_ok(&[
        &"import",
        &"--data",
        &skipped,
        &"cmu",
        &input,
        &"--skip-invalid",
        &"--skipped-report",
        &report_file,
    ]);
    let listed: Vec<usize> = std::fs::read_to_string(&report_file)
        .expect("report")
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON line");
            assert!(
                v["reason"]
                    .as_str()
                    .unwrap_or("")
                    .contains("self-intersection"),
                "{v}"
            );
            assert!(
                v["feature"].as_str().unwrap_or("").contains("\"id\""),
                "{v}"
            );
            v["index"].as_u64().unwrap_or(u64::MAX) as usize
        })
        .collect();
    let expected: Vec<usize> = crossing.iter().map(|c| c.0).collect();
    assert_eq!(listed, expected);
    let summary = tessera_ok(&[&"export", &"--data", &skipped, &"cmu"]);
    assert_eq!(summary.matches("\"type\":\"Feature\"").count(), 99_000);
}

/// A GeoJSON Polygon or MultiPolygon as geo's.
fn geometry_of(g: &serde_json::Value) -> geo::Geometry<f64> {
    let ring = |r: &serde_json::Value| {
        geo::LineString::from(
            r.as_array()
                .expect("ring")
                .iter()
                .map(|p| {
                    (
                        p[0].as_f64().unwrap_or(f64::NAN),
                        p[1].as_f64().unwrap_or(f64::NAN),
                    )
                })
                .collect::<Vec<_>>(),
        )
    };
    let polygon = |p: &serde_json::Value| {
        let rings = p.as_array().expect("rings");
        geo::Polygon::new(ring(&rings[0]), rings[1..].iter().map(ring).collect())
    };
    match g["type"].as_str() {
        Some("Polygon") => polygon(&g["coordinates"]).into(),
        Some("MultiPolygon") => geo::MultiPolygon::new(
            g["coordinates"]
                .as_array()
                .expect("polygons")
                .iter()
                .map(polygon)
                .collect(),
        )
        .into(),
        other => panic!("not a polygon: {other:?}"),
    }
}
