//! Plain images (PNG, JPEG, stripped TIFF) tile losslessly; a corrupt source tile is
//! reported with its level and tile; interrupted runs leave no cache.

use std::path::Path;
use std::process::Command;
use tessera_e2e::{dir_listing, read_png, region_rgb, tessera, tessera_bin, tessera_ok};

fn pattern(w: u32, h: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x * 7 % 256) as u8,
            (y * 5 % 256) as u8,
            ((x ^ y) % 256) as u8,
        ])
    })
}

/// Tiles `file` and checks that a region read back from the cache equals `expected`.
fn assert_round_trip(file: &Path, out: &Path, expected: &image::RgbImage) {
    tessera_ok(&[&"tile", &file, &"-o", &out, &"--id", &"img"]);
    let cache = out.join("img.tess");
    tessera_ok(&[&"verify", &cache, &"--decode"]);
    let png = out.join("back.png");
    let (w, h) = expected.dimensions();
    let back = region_rgb(&cache, (0, 0, w, h), &png);
    assert_eq!(
        &back,
        expected.as_raw(),
        "{} did not round-trip",
        file.display()
    );
}

#[test]
fn plain_png_jpeg_and_stripped_tiff_tile_losslessly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let img = pattern(1030, 517);
    let png = dir.path().join("plain.png");
    img.save(&png).expect("png");
    assert_round_trip(&png, dir.path(), &img);

    // A JPEG's pixels are whatever its decoder makes of it: compare with image's decoder.
    let jpg = dir.path().join("plain.jpg");
    img.save(&jpg).expect("jpg");
    let decoded = image::open(&jpg).expect("decode").to_rgb8();
    tessera_ok(&[&"tile", &jpg, &"-o", &dir.path(), &"--id", &"j"]);
    let back = dir.path().join("j.png");
    tessera_ok(&[
        &"region",
        &dir.path().join("j.tess"),
        &"--x",
        &"0",
        &"--y",
        &"0",
        &"--width",
        &"1030",
        &"--height",
        &"517",
        &"-o",
        &back,
    ]);
    let (_, _, pixels) = read_png(&back);
    assert!(tessera_e2e::psnr(&pixels, decoded.as_raw()) > 45.0);

    // Single-level stripped TIFFs, RGB with Deflate and grey with LZW.
    for (name, compression) in [
        (
            "deflate",
            tiff::encoder::Compression::Deflate(tiff::encoder::DeflateLevel::default()),
        ),
        ("lzw", tiff::encoder::Compression::Lzw),
    ] {
        let path = dir.path().join(format!("strips-{name}.tif"));
        let file = std::fs::File::create(&path).expect("create");
        let mut encoder = tiff::encoder::TiffEncoder::new(file)
            .expect("encoder")
            .with_compression(compression);
        if name == "lzw" {
            let grey = image::imageops::grayscale(&img);
            encoder
                .write_image::<tiff::encoder::colortype::Gray8>(1030, 517, grey.as_raw())
                .expect("write");
            drop(encoder);
            let expected = image::DynamicImage::ImageLuma8(grey).to_rgb8();
            assert_round_trip(&path, dir.path(), &expected);
        } else {
            encoder
                .write_image::<tiff::encoder::colortype::RGB8>(1030, 517, img.as_raw())
                .expect("write");
            drop(encoder);
            assert_round_trip(&path, dir.path(), &img);
        }
    }
}

#[test]
fn a_corrupt_source_tile_is_named() {
    let Some(cmu) = tessera_e2e::slide("CMU-1-Small-Region.svs") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let mut bytes = std::fs::read(&cmu).expect("read");
    // Find level 0's tile offsets and blank out tile 7 (column 7, row 0).
    let mut decoder =
        tiff::decoder::Decoder::new(std::io::Cursor::new(bytes.clone())).expect("tiff");
    let offsets = decoder
        .get_tag_u64_vec(tiff::tags::Tag::TileOffsets)
        .expect("offsets");
    let counts = decoder
        .get_tag_u64_vec(tiff::tags::Tag::TileByteCounts)
        .expect("counts");
    let (start, len) = (offsets[7] as usize, counts[7] as usize);
    bytes[start..start + len].fill(0);
    let broken = dir.path().join("broken-tile.svs");
    std::fs::write(&broken, &bytes).expect("write");
    let out = dir.path().join("out");
    let result = tessera(&[&"tile", &broken, &"-o", &out, &"--source", &"tiff"]);
    assert!(
        !result.status.success(),
        "a zeroed JPEG tile must not become a black tile"
    );
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains("broken-tile.svs") && stderr.contains("level 0 tile (7, 0)"),
        "{stderr}"
    );
    assert!(dir_listing(&out).is_empty(), "{:?}", dir_listing(&out));
}

#[test]
fn interrupted_tiling_leaves_no_cache() {
    let dir = tempfile::tempdir().expect("temp dir");
    let slide = dir.path().join("big.svs");
    tessera_ok(&[
        &"synth",
        &"-o",
        &slide,
        &"--width",
        &"6000",
        &"--height",
        &"6000",
    ]);
    for signal in ["INT", "TERM", "KILL"] {
        let out = dir.path().join(format!("out-{signal}"));
        std::fs::create_dir(&out).expect("mkdir");
        let mut child = Command::new(tessera_bin())
            .args(["tile", "--threads", "1", "-o"])
            .arg(&out)
            .arg(&slide)
            .spawn()
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_millis(300));
        let killed = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("kill");
        assert!(killed.success());
        let status = child.wait().expect("wait");
        assert!(
            !status.success(),
            "SIGNAL {signal}: tiling finished before it was interrupted"
        );
        let listing = dir_listing(&out);
        assert!(
            listing
                .iter()
                .all(|n| Path::new(n).extension().is_none_or(|e| e != "tess")),
            "SIG{signal} left a cache: {listing:?}"
        );
        if signal != "KILL" {
            // A handled signal also removes the hidden partial file.
            assert!(listing.is_empty(), "SIG{signal} left {listing:?}");
        }
    }
}
