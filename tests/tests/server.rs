//! `tessera serve`: Deep Zoom and IIIF tiles equal `tessera region`, bad requests get the
//! right status, damaged tiles fail alone, caches are picked up live.

use tessera_e2e::{Server, decode_image, psnr, read_png, tessera_ok};

/// Tiles CMU-1-Small-Region into a fresh directory under the id `cmu`.
fn cmu_dir() -> Option<tempfile::TempDir> {
    let slide = tessera_e2e::slide("CMU-1-Small-Region.svs")?;
    let dir = tempfile::tempdir().expect("temp dir");
    tessera_ok(&[&"tile", &slide, &"-o", &dir.path(), &"--id", &"cmu"]);
    Some(dir)
}

fn region_png(dir: &std::path::Path, level: u32, x: u32, y: u32, w: u32, h: u32) -> Vec<u8> {
    let out = dir.join("expected.png");
    let args: Vec<String> = [level, x, y, w, h]
        .iter()
        .map(ToString::to_string)
        .collect();
    tessera_ok(&[
        &"region",
        &dir.join("cmu.tess"),
        &"--level",
        &args[0],
        &"--x",
        &args[1],
        &"--y",
        &args[2],
        &"--width",
        &args[3],
        &"--height",
        &args[4],
        &"-o",
        &out,
    ]);
    read_png(&out).2
}

#[test]
fn dzi_and_iiif_tiles_equal_tessera_region() {
    let Some(dir) = cmu_dir() else { return };
    let server = Server::start(dir.path(), &[]);
    // CMU is 2220×2967: Deep Zoom's full-resolution level is 12; cache level 1 is DZ 11.
    for (dz_level, cache_level, col, row) in
        [(12u32, 0u32, 3u32, 4u32), (11, 1, 2, 5), (12, 0, 8, 11)]
    {
        let t = 256u32;
        let size = tiler::CacheReader::open(&dir.path().join("cmu.tess"))
            .expect("cache")
            .grid()
            .level(cache_level)
            .expect("level");
        let (w, h) = (t.min(size.width - col * t), t.min(size.height - row * t));
        let expected = region_png(
            dir.path(),
            cache_level,
            (col * t) << cache_level,
            (row * t) << cache_level,
            w,
            h,
        );
        let png = server.get(&format!("/dzi/cmu_files/{dz_level}/{col}_{row}.png"));
        assert_eq!(png.status, 200);
        assert_eq!(png.header("content-type"), Some("image/png"));
        assert_eq!(
            decode_image(&png.body),
            (w, h, expected.clone()),
            "PNG tile must be exact"
        );
        let jpg = server.get(&format!("/dzi/cmu_files/{dz_level}/{col}_{row}.jpg"));
        let (jw, jh, pixels) = decode_image(&jpg.body);
        assert_eq!((jw, jh), (w, h));
        let db = psnr(&expected, &pixels);
        assert!(db >= 35.0, "DZI JPEG tile PSNR {db:.1}");
        // The same tile through IIIF.
        let span = t << cache_level;
        let (x, y) = (col * span, row * span);
        let (rw, rh) = (span.min(2220 - x), span.min(2967 - y));
        let iiif = server.get(&format!(
            "/iiif/3/cmu/{x},{y},{rw},{rh}/{w},{h}/0/default.png"
        ));
        assert_eq!(iiif.status, 200, "{}", iiif.text());
        assert_eq!(
            decode_image(&iiif.body).2,
            expected,
            "IIIF PNG tile must be exact"
        );
        let iiif_jpg = server.get(&format!("/iiif/3/cmu/{x},{y},{rw},{rh}/{w},/0/default.jpg"));
        let db = psnr(&expected, &decode_image(&iiif_jpg.body).2);
        assert!(db >= 35.0, "IIIF JPEG tile PSNR {db:.1}");
    }
}

#[test]
fn bad_requests_get_clear_statuses() {
    let Some(dir) = cmu_dir() else { return };
    let server = Server::start(dir.path(), &[]);
    let cases: &[(&str, u16)] = &[
        ("/api/slides/nope", 404),
        ("/dzi/nope.dzi", 404),
        ("/dzi/cmu_files/12/99_0.jpg", 404),
        ("/dzi/cmu_files/13/0_0.jpg", 404),
        ("/dzi/cmu_files/12/0_0.gif", 404),
        ("/slides/cmu/tiles/9/0/0.jpg", 404),
        ("/iiif/3/cmu/full/max/45/default.jpg", 400),
        ("/iiif/3/cmu/1,2,3/max/0/default.jpg", 400),
        ("/iiif/3/cmu/full/max/0/fancy.jpg", 400),
        ("/iiif/3/cmu/full/max/0/default.gif", 400),
        ("/iiif/3/cmu/full/^50000,/0/default.jpg", 400),
        ("/iiif/3/cmu/full/3000,/0/default.jpg", 400),
        ("/api/slides/%2e%2e", 404),
        ("/api/slides/..%2Fcmu", 404),
        ("/dzi/..%2Fcmu.dzi", 404),
        ("/dzi/%2Fetc%2Fpasswd.dzi", 404),
        ("/viewer/..%2F..%2FCargo.toml", 404),
        ("/viewer/osd/../../Cargo.toml", 404),
        ("/api/slides/cmu.tess", 404),
    ];
    for (path, status) in cases {
        let r = server.get(path);
        assert_eq!(r.status, *status, "{path}: {}", r.text());
        assert!(
            r.header("content-type")
                .is_some_and(|t| t.starts_with("application/json")),
            "{path}"
        );
        let body: serde_json::Value = serde_json::from_slice(&r.body).expect("json error body");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{path}"
        );
    }
    let rotation = server.get("/iiif/3/cmu/full/max/45/default.jpg").text();
    assert!(rotation.contains("rotation"), "{rotation}");
}

#[test]
fn caching_headers_cors_and_protocol_details() {
    let Some(dir) = cmu_dir() else { return };
    let server = Server::start(dir.path(), &[]);
    let tile = server.get("/dzi/cmu_files/12/1_1.jpg");
    let etag = tile.header("etag").expect("etag").to_string();
    assert!(etag.starts_with('"'), "strong ETag: {etag}");
    assert!(tile.header("cache-control").is_some());
    let again = server.get_with("/dzi/cmu_files/12/1_1.jpg", &[("If-None-Match", &etag)]);
    assert_eq!(again.status, 304);
    let cors = server.get_with(
        "/iiif/3/cmu/info.json",
        &[("Origin", "http://elsewhere.example")],
    );
    assert_eq!(cors.header("access-control-allow-origin"), Some("*"));
    let info: serde_json::Value = serde_json::from_slice(&cors.body).expect("json");
    assert_eq!(info["width"], 2220);
    assert_eq!(info["tiles"][0]["width"], 256);
    assert_eq!(
        info["tiles"][0]["scaleFactors"],
        serde_json::json!([1, 2, 4, 8, 16])
    );
    assert!(
        info["extraFeatures"]
            .as_array()
            .is_some_and(|f| f.contains(&"sizeByWh".into()))
    );
    let redirect = server.get("/iiif/3/cmu");
    assert_eq!(redirect.status, 303);
    assert!(
        redirect
            .header("location")
            .is_some_and(|l| l.ends_with("/iiif/3/cmu/info.json"))
    );
    let dzi = server.get("/dzi/cmu.dzi").text();
    assert!(
        dzi.contains("TileSize=\"256\"") && dzi.contains("Width=\"2220\""),
        "{dzi}"
    );
    let thumb = server.get("/api/slides/cmu/thumbnail?max=120");
    let (w, h, _) = decode_image(&thumb.body);
    assert!(w <= 120 && h == 120, "{w}×{h}");
    let list: serde_json::Value =
        serde_json::from_slice(&server.get("/api/slides").body).expect("json");
    assert_eq!(list[0]["id"], "cmu");
    assert_eq!(list[0]["mpp_x"], 0.499);
    let metrics = server.get("/metrics").text();
    assert!(
        metrics.contains("tessera_tile_cache_hits")
            && metrics.contains("tessera_http_request_duration_seconds"),
        "{metrics}"
    );
    let (status, _) = server.stop();
    assert!(status.success(), "graceful shutdown on SIGTERM");
}

#[test]
fn a_damaged_tile_fails_alone_and_is_logged() {
    let Some(dir) = cmu_dir() else { return };
    let path = dir.path().join("cmu.tess");
    let cache = tiler::CacheReader::open(&path).expect("cache");
    let coord = tiler::TileCoord::new(0, 2, 3, cache.grid()).expect("coord");
    let entry = cache.entry(coord);
    drop(cache);
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[(entry.offset + 10) as usize] ^= 0xff;
    std::fs::write(&path, &bytes).expect("write");
    let server = Server::start(dir.path(), &["--cache-mb", "0"]);
    assert_eq!(server.get("/dzi/cmu_files/12/2_3.jpg").status, 500);
    assert_eq!(server.get("/dzi/cmu_files/12/2_3.jpg").status, 500);
    assert_eq!(server.get("/dzi/cmu_files/12/3_3.jpg").status, 200);
    assert_eq!(server.get("/dzi/cmu_files/12/2_4.jpg").status, 200);
    let (_, log) = server.stop();
    assert!(
        log.contains("level 0 tile (2, 3)"),
        "the log names the tile: {log}"
    );
}

#[test]
fn new_and_replaced_caches_are_picked_up_live() {
    let (Some(dir), Some(boxes)) = (cmu_dir(), tessera_e2e::slide("boxes.tiff")) else {
        return;
    };
    let server = Server::start(dir.path(), &[]);
    assert_eq!(server.get("/api/slides/late").status, 404);
    let staging = tempfile::tempdir().expect("temp dir");
    tessera_ok(&[&"tile", &boxes, &"-o", &staging.path(), &"--id", &"late"]);
    std::fs::rename(
        staging.path().join("late.tess"),
        dir.path().join("late.tess"),
    )
    .expect("move");
    let late: serde_json::Value =
        serde_json::from_slice(&server.get("/api/slides/late").body).expect("json");
    assert_eq!(late["width"], 300);
    let before = server.get("/dzi/cmu_files/12/0_0.png");
    // Replace cmu with a different slide under the same id.
    tessera_ok(&[&"tile", &boxes, &"-o", &dir.path(), &"--id", &"cmu"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let replaced: serde_json::Value =
        serde_json::from_slice(&server.get("/api/slides/cmu").body).expect("json");
    assert_eq!(replaced["width"], 300, "the replaced cache is served");
    let after = server.get("/dzi/cmu_files/9/0_0.png");
    assert_eq!(after.status, 200);
    assert_ne!(before.body, after.body);
    assert_ne!(before.header("etag"), after.header("etag"));
}
