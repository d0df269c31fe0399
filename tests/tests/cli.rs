//! The command line's contract: ids, `info --json`, `region`, and what a cache may not hold.

use tessera_e2e::{dir_listing, tessera, tessera_ok};

#[test]
fn ids_come_from_the_file_stem_made_safe() {
    let Some(small) = tessera_e2e::slide("small.svs") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let odd = dir.path().join("my slide (1)+x.svs");
    std::fs::copy(&small, &odd).expect("copy");
    tessera_ok(&[&"tile", &odd, &"-o", &dir.path().join("out")]);
    assert_eq!(
        dir_listing(&dir.path().join("out")),
        vec!["my_slide__1__x.tess".to_string()]
    );
    let two = tessera(&[&"tile", &odd, &small, &"-o", &dir.path(), &"--id", &"x"]);
    assert!(
        !two.status.success(),
        "--id with two slides must be refused"
    );
    let bad_id = tessera(&[&"tile", &small, &"-o", &dir.path(), &"--id", &"../x"]);
    assert!(
        !bad_id.status.success(),
        "an id with a slash must be refused"
    );
}

#[test]
fn info_describes_slides_and_caches() {
    let Some(cmu) = tessera_e2e::slide("CMU-1-Small-Region.svs") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let slide: serde_json::Value =
        serde_json::from_str(&tessera_ok(&[&"info", &cmu, &"--json"])).expect("json");
    assert_eq!(slide["kind"], "slide");
    assert_eq!(slide["vendor"], "aperio");
    assert_eq!(
        (slide["width"].as_u64(), slide["height"].as_u64()),
        (Some(2220), Some(2967))
    );
    assert_eq!(slide["mpp_x"].as_f64(), Some(0.499));
    assert_eq!(slide["objective_power"].as_f64(), Some(20.0));
    tessera_ok(&[&"tile", &cmu, &"-o", &dir.path(), &"--id", &"c"]);
    let cache: serde_json::Value = serde_json::from_str(&tessera_ok(&[
        &"info",
        &dir.path().join("c.tess"),
        &"--json",
    ]))
    .expect("json");
    assert_eq!(cache["kind"], "cache");
    assert_eq!(cache["codec"], "zstd");
    assert_eq!(cache["tile_size"], 256);
    assert_eq!(cache["level_count"], 5);
    assert_eq!(cache["tile_count"], 152);
    assert!(
        cache["unique_tile_count"]
            .as_u64()
            .is_some_and(|u| u <= 152)
    );
    assert_eq!(
        cache["bytes"].as_u64(),
        Some(
            std::fs::metadata(dir.path().join("c.tess"))
                .expect("meta")
                .len()
        )
    );
    assert_eq!(
        cache["source"]["sha256"],
        "ed92d5a9f2e86df67640d6f92ce3e231419ce127131697fbbce42ad5e002c8a7"
    );
    let text = tessera_ok(&[&"info", &dir.path().join("c.tess")]);
    assert!(text.contains("2220") && text.contains("zstd"), "{text}");
}

#[test]
fn caches_carry_no_identifying_metadata_nor_label_or_macro() {
    let Some(cmu) = tessera_e2e::slide("CMU-1-Small-Region.svs") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    for codec in ["zstd", "jpeg"] {
        tessera_ok(&[
            &"tile",
            &cmu,
            &"-o",
            &dir.path(),
            &"--id",
            &codec,
            &"--codec",
            &codec,
        ]);
        let bytes = std::fs::read(dir.path().join(format!("{codec}.tess"))).expect("read");
        // Values of Aperio Filename, Date, Time, User and ImageID in this slide.
        for value in [
            "CMU-1",
            "12/29/09",
            "09:59:15",
            "b414003d-95c6-48b0-9369-8010ed517ba7",
            "1004486",
        ] {
            assert!(
                !bytes.windows(value.len()).any(|w| w == value.as_bytes()),
                "{codec} cache contains {value:?}"
            );
        }
        let cache =
            tiler::CacheReader::open(&dir.path().join(format!("{codec}.tess"))).expect("cache");
        // Only pyramid tiles: the directory has exactly the grid's tiles, nothing else.
        assert_eq!(cache.metadata().tile_count, cache.grid().tile_count());
    }
}

#[test]
fn blank_tiles_are_stored_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A PNG that is mostly white with one dark square: most tiles are identical.
    let mut img = image::RgbImage::from_pixel(2000, 1500, image::Rgb([255, 255, 255]));
    for y in 600..700 {
        for x in 900..1000 {
            img.put_pixel(x, y, image::Rgb([120, 40, 90]));
        }
    }
    let png = dir.path().join("mostly-blank.png");
    img.save(&png).expect("save");
    tessera_ok(&[&"tile", &png, &"-o", &dir.path()]);
    let cache = tiler::CacheReader::open(&dir.path().join("mostly-blank.tess")).expect("cache");
    let m = cache.metadata();
    assert!(
        m.unique_tile_count < m.tile_count / 2,
        "{} unique of {}",
        m.unique_tile_count,
        m.tile_count
    );
    tessera_ok(&[
        &"verify",
        &dir.path().join("mostly-blank.tess"),
        &"--decode",
    ]);
    // Reading back is exact (lossless) including the square.
    let out = dir.path().join("r.png");
    tessera_ok(&[
        &"region",
        &dir.path().join("mostly-blank.tess"),
        &"--x",
        &"850",
        &"--y",
        &"550",
        &"--width",
        &"300",
        &"--height",
        &"200",
        &"-o",
        &out,
    ]);
    let (_, _, back) = tessera_e2e::read_png(&out);
    let expected = image::imageops::crop_imm(&img, 850, 550, 300, 200)
        .to_image()
        .into_raw();
    assert_eq!(back, expected);
}

#[test]
fn region_on_a_slide_uses_the_files_own_levels() {
    let Some(boxes) = tessera_e2e::slide("boxes.tiff") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("l1.png");
    // Level 1 of boxes.tiff is 150×125; (x, y) are level-0 pixels.
    tessera_ok(&[
        &"region",
        &boxes,
        &"--level",
        &"1",
        &"--x",
        &"40",
        &"--y",
        &"20",
        &"--width",
        &"100",
        &"--height",
        &"80",
        &"-o",
        &out,
    ]);
    let (w, h, pixels) = tessera_e2e::read_png(&out);
    assert_eq!((w, h), (100, 80));
    let reference = tessera_e2e::openslide_region(&boxes, 1, 40, 20, 100, 80);
    assert!(tessera_e2e::psnr(&reference, &pixels) >= 40.0);
}
