//! Every slide OpenSlide 3.4 opens tiles, verifies, and reads back like OpenSlide does.

use tessera_e2e::{
    dir_listing, files_under, openslide_opens, openslide_region, psnr, region_rgb, shared_data,
    tessera, tessera_ok,
};

/// A region well inside the slide, at most 1024 px square.
fn region_inside(width: u32, height: u32) -> (u32, u32, u32, u32) {
    let w = width.min(1024);
    let h = height.min(1024);
    ((width - w) / 3, (height - h) / 3, w, h)
}

#[test]
fn every_openslide_slide_tiles_verifies_and_matches_openslide() {
    let Some(data) = shared_data() else { return };
    let out = tempfile::tempdir().expect("temp dir");
    let mut tiled = 0;
    for slide in files_under(&data.join("slides")) {
        if !openslide_opens(&slide) {
            continue;
        }
        let info: serde_json::Value =
            serde_json::from_str(&tessera_ok(&[&"info", &slide, &"--json"])).expect("json");
        let (w, h) = (
            info["width"].as_u64().expect("w") as u32,
            info["height"].as_u64().expect("h") as u32,
        );
        let (x, y, rw, rh) = region_inside(w, h);
        let reference = openslide_region(&slide, 0, x, y, rw, rh);
        for (codec, bar) in [("zstd", 40.0), ("jpeg", 30.0)] {
            let id = format!("s{tiled}-{codec}");
            tessera_ok(&[
                &"tile",
                &slide,
                &"-o",
                &out.path(),
                &"--id",
                &id,
                &"--codec",
                &codec,
            ]);
            let cache = out.path().join(format!("{id}.tess"));
            tessera_ok(&[&"verify", &cache, &"--decode"]);
            let png = out.path().join(format!("{id}.png"));
            let region = (i64::from(x), i64::from(y), rw, rh);
            let pixels = region_rgb(&cache, region, &png);
            let db = psnr(&reference, &pixels);
            eprintln!("{} {codec}: PSNR {db:.2} dB", slide.display());
            assert!(
                db >= bar,
                "{} {codec}: PSNR {db:.2} < {bar}",
                slide.display()
            );
        }
        tiled += 1;
    }
    assert!(tiled >= 4, "only {tiled} slides were tiled");
}

#[test]
fn slides_openslide_cannot_open_are_read_or_refused_cleanly() {
    let Some(data) = shared_data() else { return };
    let out = tempfile::tempdir().expect("temp dir");
    let mut refused = 0;
    let mut read_anyway = 0;
    for slide in files_under(&data.join("slides")) {
        if openslide_opens(&slide) {
            continue;
        }
        let result = tessera(&[&"tile", &slide, &"-o", &out.path()]);
        if result.status.success() {
            read_anyway += 1;
            // Something the pure-Rust or image path reads although OpenSlide 3.4 does not.
            tessera_ok(&[
                &"verify",
                &out.path().join(format!(
                    "{}.tess",
                    slide
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default()
                )),
            ]);
            continue;
        }
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert!(
            stderr.contains(&*slide.to_string_lossy()),
            "error must name the file: {stderr}"
        );
        assert_eq!(stderr.trim().lines().count(), 1, "one clear line: {stderr}");
        refused += 1;
    }
    assert!(
        dir_listing(out.path())
            .iter()
            .all(|n| std::path::Path::new(n)
                .extension()
                .is_some_and(|e| e == "tess")),
        "{:?}",
        dir_listing(out.path())
    );
    assert!(
        read_anyway >= 1,
        "the DICOM series should be read by tessera although OpenSlide 3.4 refuses them \
         ({refused} refused)"
    );
}

#[test]
fn pure_rust_and_openslide_paths_agree() {
    let Some(slide) = tessera_e2e::slide("CMU-1-Small-Region.svs") else {
        return;
    };
    let out = tempfile::tempdir().expect("temp dir");
    for source in ["tiff", "openslide"] {
        tessera_ok(&[
            &"tile",
            &slide,
            &"-o",
            &out.path(),
            &"--id",
            &source,
            &"--source",
            &source,
        ]);
    }
    let a = tiler::CacheReader::open(&out.path().join("tiff.tess")).expect("cache");
    let b = tiler::CacheReader::open(&out.path().join("openslide.tess")).expect("cache");
    assert_eq!(a.metadata().source.reader, "tiff");
    assert_eq!(b.metadata().source.reader, "openslide");
    assert_eq!(a.grid(), b.grid());
    for coord in a.grid().coords() {
        let (ta, tb) = (
            a.read_tile(coord).expect("tile"),
            b.read_tile(coord).expect("tile"),
        );
        let db = psnr(&ta.rgb, &tb.rgb);
        assert!(db >= 45.0, "{coord:?}: the two readers differ ({db:.1} dB)");
    }
}
