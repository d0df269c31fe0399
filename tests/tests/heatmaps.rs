//! Heatmaps: `tessera heatmap import` of every input format (PNG and TIFF 8/16-bit, float
//! TIFF, NumPy), read back through the value route and the tile route; bad inputs refused
//! with a message naming the file and nothing left behind. (The routes' access rules are
//! rows of the role matrix in `access.rs`.)

use std::path::{Path, PathBuf};
use tessera_e2e::world::{SLIDE, slide_dir};
use tessera_e2e::{Server, decode_image, files_under, tessera, tessera_ok};

/// The synthetic slide is 1024×768; at scale 16 a map is 64×48.
const W: u32 = 64;
const H: u32 = 48;

fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(
        &u16::try_from(header.len())
            .expect("short header")
            .to_le_bytes(),
    );
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn grid<T>(f: impl Fn(u32, u32) -> T) -> Vec<T> {
    (0..H)
        .flat_map(|y| (0..W).map(move |x| (x, y)))
        .map(|(x, y)| f(x, y))
        .collect()
}

fn u8_map(x: u32, y: u32) -> u8 {
    ((x * 3 + y * 5) % 256) as u8
}
fn u16_map(x: u32, y: u32) -> u16 {
    (x * 1000 + y * 7) as u16
}
fn f32_map(x: u32, y: u32) -> f32 {
    if (x, y) == (5, 5) {
        return f32::NAN;
    }
    x as f32 / 63.0 * 2.0 - 1.0 + y as f32 * 0.01
}

fn write_tiff<C: tiff::encoder::colortype::ColorType>(path: &Path, data: &[C::Inner])
where
    [C::Inner]: tiff::encoder::TiffValue,
{
    let file = std::fs::File::create(path).expect("create tiff");
    tiff::encoder::TiffEncoder::new(file)
        .expect("tiff encoder")
        .write_image::<C>(W, H, data)
        .expect("write tiff");
}

/// Every input format, as (name, file, extra flags, expected value at map pixel).
type Case = (
    &'static str,
    PathBuf,
    Vec<&'static str>,
    Box<dyn Fn(u32, u32) -> Option<f64>>,
);

fn inputs(dir: &Path) -> Vec<Case> {
    use tiff::encoder::colortype::{Gray8, Gray16, Gray32Float};
    let p = |name: &str| dir.join(name);
    image::GrayImage::from_raw(W, H, grid(u8_map))
        .expect("image")
        .save(p("u8.png"))
        .expect("png");
    image::ImageBuffer::<image::Luma<u16>, _>::from_raw(W, H, grid(u16_map))
        .expect("image")
        .save(p("u16.png"))
        .expect("png");
    write_tiff::<Gray8>(&p("u8.tif"), &grid(u8_map));
    write_tiff::<Gray16>(&p("u16.tif"), &grid(u16_map));
    write_tiff::<Gray32Float>(&p("f32.tif"), &grid(f32_map));
    let floats: Vec<u8> = grid(f32_map).iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(p("f32.npy"), npy("<f4", &format!("({H}, {W})"), &floats)).expect("npy");
    let classes: Vec<u8> = grid(|x, y| u8::from(x >= 32) + u8::from(y >= 24) * 2);
    std::fs::write(
        p("class.npy"),
        npy("|u1", &format!("({H}, {W}, 1)"), &classes),
    )
    .expect("npy");
    let float = |x, y| Some(f64::from(f32_map(x, y))).filter(|v| !v.is_nan());
    vec![
        (
            "png8",
            p("u8.png"),
            vec![],
            Box::new(|x, y| Some(f64::from(u8_map(x, y)))),
        ),
        (
            "png16",
            p("u16.png"),
            vec![],
            Box::new(|x, y| Some(f64::from(u16_map(x, y)))),
        ),
        (
            "tiff8",
            p("u8.tif"),
            vec![],
            Box::new(|x, y| Some(f64::from(u8_map(x, y)))),
        ),
        (
            "tiff16",
            p("u16.tif"),
            vec![],
            Box::new(|x, y| Some(f64::from(u16_map(x, y)))),
        ),
        ("tiff-float", p("f32.tif"), vec![], Box::new(float)),
        (
            "npy-float",
            p("f32.npy"),
            vec!["--mpp", "4"],
            Box::new(float),
        ),
        (
            "npy-class",
            p("class.npy"),
            vec!["--kind", "class"],
            Box::new(|x, y| Some(f64::from(u8::from(x >= 32) + u8::from(y >= 24) * 2))),
        ),
    ]
}

fn value(server: &Server, name: &str, x: f64, y: f64) -> Option<f64> {
    let r = server.get(&format!(
        "/api/slides/{SLIDE}/heatmaps/{name}/value?x={x}&y={y}"
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    v["value"].as_f64()
}

/// Imports every case as the heatmap of its name (scale 16, or its own flags).
fn import_all(data: &Path, cases: &[Case]) {
    // The synthetic slide is 0.25 µm/px: a map at 4 µm/px is at scale 16.
    for (name, file, extra, _) in cases {
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![
            &"heatmap", &"import", &"--data", &data, &SLIDE, file, &"--name", name,
        ];
        if extra.is_empty() || extra[0] != "--mpp" {
            args.extend([&"--scale" as &dyn AsRef<std::ffi::OsStr>, &"16"]);
        }
        for e in extra {
            args.push(e);
        }
        let out = tessera(&args);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(data.join(format!("heatmaps/{SLIDE}/{name}.tess")).is_file());
    }
}

/// Heatmap `name` as listed (`listed`) and read back through the value and tile routes
/// gives `expected` at map pixels.
fn check_reads_back(
    server: &Server,
    listed: &serde_json::Value,
    name: &str,
    expected: &dyn Fn(u32, u32) -> Option<f64>,
) {
    let info = listed["heatmaps"]
        .as_array()
        .and_then(|a| a.iter().find(|h| h["name"] == *name))
        .expect("listed");
    let (min, max) = (
        info["min"].as_f64().expect("min"),
        info["max"].as_f64().expect("max"),
    );
    assert_eq!(
        (info["width"].as_u64(), info["height"].as_u64()),
        (Some(64), Some(48))
    );
    assert!(
        (info["scale"].as_f64().expect("scale") - 16.0).abs() < 1e-3,
        "{info}"
    );
    // Within half a 16-bit step of the input (exact for integer maps).
    let tolerance = (max - min) / 131_070.0 + 1e-9;
    for (mx, my) in [
        (0, 0),
        (5, 5),
        (17, 3),
        (31, 23),
        (32, 24),
        (63, 47),
        (40, 10),
    ] {
        let got = value(
            server,
            name,
            f64::from(mx) * 16.0 + 8.0,
            f64::from(my) * 16.0 + 3.0,
        );
        match (got, expected(mx, my)) {
            (Some(g), Some(e)) => {
                assert!(
                    (g - e).abs() <= tolerance,
                    "{name} ({mx}, {my}): {g} vs {e}"
                );
            }
            (None, None) => {}
            other => panic!("{name} ({mx}, {my}): {other:?}"),
        }
    }
    assert_eq!(value(server, name, 2000.0, 10.0), None, "outside the map");
    // The tile carries q in red and green, blue 255 where there is a value.
    let tile = server.get(&format!(
        "/api/slides/{SLIDE}/heatmaps/{name}/tiles/0/0/0.png"
    ));
    assert_eq!(tile.status, 200);
    assert_eq!(tile.header("content-type"), Some("image/png"));
    let (w, h, rgb) = decode_image(&tile.body);
    assert_eq!((w, h), (W, H));
    let (mx, my) = (17usize, 3usize);
    let px = &rgb[(my * W as usize + mx) * 3..][..3];
    let q = f64::from(u16::from_be_bytes([px[0], px[1]]));
    let e = expected(17, 3).expect("a value");
    assert!((min + q * (max - min) / 65535.0 - e).abs() <= tolerance);
    assert_eq!(px[2], 255);
}

#[test]
fn every_format_imports_and_reads_back_its_values() {
    let (dir, data) = slide_dir(1024, 768);
    let cases = inputs(dir.path());
    import_all(&data, &cases);
    let server = Server::start(&data, &[]);
    let listed: serde_json::Value =
        serde_json::from_slice(&server.get(&format!("/api/slides/{SLIDE}/heatmaps")).body)
            .expect("json");
    let names: Vec<&str> = listed["heatmaps"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|h| h["name"].as_str())
        .collect();
    let mut want: Vec<&str> = cases.iter().map(|c| c.0).collect();
    want.sort_unstable();
    assert_eq!(names, want);
    for (name, _, _, expected) in &cases {
        check_reads_back(&server, &listed, name, expected.as_ref());
    }
    // A class map holds its class numbers as they are; a level past the top is 404.
    let top = server.get(&format!(
        "/api/slides/{SLIDE}/heatmaps/npy-class/tiles/0/0/0.png"
    ));
    let (_, _, rgb) = decode_image(&top.body);
    assert!(
        rgb.chunks_exact(3)
            .all(|p| u16::from_be_bytes([p[0], p[1]]) <= 3)
    );
    assert_eq!(
        server
            .get(&format!(
                "/api/slides/{SLIDE}/heatmaps/npy-class/tiles/1/0/0.png"
            ))
            .status,
        404
    );
    assert_eq!(
        server
            .get(&format!(
                "/api/slides/{SLIDE}/heatmaps/nope/tiles/0/0/0.png"
            ))
            .status,
        404
    );
    let verified = tessera(&[
        &"verify",
        &data.join(format!("heatmaps/{SLIDE}/png16.tess")),
    ]);
    assert!(verified.status.success(), "a heatmap is a valid cache");
}

#[test]
fn bad_inputs_are_refused_and_leave_nothing_behind() {
    let (dir, data) = slide_dir(1024, 768);
    let p = |name: &str| dir.path().join(name);
    image::RgbImage::new(W, H).save(p("rgb.png")).expect("png");
    std::fs::write(
        p("int.npy"),
        npy(
            "<i4",
            &format!("({H}, {W})"),
            &vec![0; (W * H * 4) as usize],
        ),
    )
    .expect("npy");
    std::fs::write(
        p("wide.npy"),
        npy("|u1", &format!("({H}, 100)"), &vec![0; (H * 100) as usize]),
    )
    .expect("npy");
    std::fs::write(
        p("short.npy"),
        npy("<f4", &format!("({H}, {W})"), &[0; 100]),
    )
    .expect("npy");
    let nans: Vec<u8> = (0..W * H).flat_map(|_| f32::NAN.to_le_bytes()).collect();
    std::fs::write(p("nan.npy"), npy("<f4", &format!("({H}, {W})"), &nans)).expect("npy");
    let halves: Vec<u8> = (0..W * H).flat_map(|_| 0.5f32.to_le_bytes()).collect();
    std::fs::write(p("half.npy"), npy("<f4", &format!("({H}, {W})"), &halves)).expect("npy");
    std::fs::write(p("notes.txt"), "not a map").expect("txt");
    image::GrayImage::new(W, H).save(p("ok.png")).expect("png");
    // A heatmap that is there already stays as it was when a replacement fails.
    tessera_ok(&[
        &"heatmap",
        &"import",
        &"--data",
        &data,
        &SLIDE,
        &p("ok.png"),
        &"--name",
        &"kept",
    ]);
    let kept = data.join(format!("heatmaps/{SLIDE}/kept.tess"));
    let before = std::fs::read(&kept).expect("kept");
    let cases: [(&str, &str, &[&str], &str); 10] = [
        ("rgb.png", "m", &[], "one grey channel"),
        ("int.npy", "m", &[], "unsupported dtype '<i4'"),
        ("wide.npy", "m", &[], "at scale 10.24"),
        (
            "ok.png",
            "m",
            &["--scale", "8"],
            "is 64×48 pixels, but the slide (1024×768) at scale 8",
        ),
        ("short.npy", "m", &[], "truncated"),
        ("nan.npy", "m", &[], "no values"),
        ("half.npy", "kept", &["--kind", "class"], "whole numbers"),
        ("notes.txt", "m", &[], "not a PNG, TIFF or NumPy"),
        ("missing.npy", "m", &[], "No such file"),
        ("ok.png", "../up", &[], "heatmap name"),
    ];
    for (file, name, extra, why) in cases {
        let path = p(file);
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![
            &"heatmap", &"import", &"--data", &data, &SLIDE, &path, &"--name", &name,
        ];
        for e in extra {
            args.push(e);
        }
        let out = tessera(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{file} was accepted");
        assert!(stderr.contains(why), "{file}: {stderr}");
        if name != "../up" {
            assert!(
                stderr.contains(file),
                "{file}: the message names the file: {stderr}"
            );
        }
        let left: Vec<PathBuf> = files_under(&data.join("heatmaps"));
        assert_eq!(left, vec![kept.clone()], "{file} left files behind");
        assert_eq!(std::fs::read(&kept).expect("kept"), before);
    }
    // Refused before anything is made: no heatmaps folder for a slide that has none.
    let out = tessera(&[
        &"heatmap",
        &"import",
        &"--data",
        &data,
        &"nope",
        &p("ok.png"),
        &"--name",
        &"m",
    ]);
    assert!(!out.status.success());
    assert!(!data.join("heatmaps/nope").exists());
}
