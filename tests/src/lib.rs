//! Helpers shared by the end-to-end tests: the `tessera` binary, the shared test data,
//! and image comparisons.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The repository root.
#[must_use]
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// `../shared/data` beside the repository. Missing data fails under CI (`CI=true`) and
/// returns `None` elsewhere, so a test can say it did not run.
#[must_use]
pub fn shared_data() -> Option<PathBuf> {
    let dir = std::env::var_os("TESSERA_SHARED_DATA")
        .map_or_else(|| repo_root().join("../shared/data"), PathBuf::from);
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "shared test data missing at {} (required under CI)",
        dir.display()
    );
    eprintln!(
        "shared test data missing at {}: test not run",
        dir.display()
    );
    None
}

/// A file under `../shared/data/slides`, or `None` (see [`shared_data`]).
#[must_use]
pub fn slide(name: &str) -> Option<PathBuf> {
    let path = shared_data()?.join("slides").join(name);
    assert!(
        path.is_file(),
        "{} is missing from the shared data",
        path.display()
    );
    Some(path)
}

/// Path of the `tessera` binary, built once per test run in this profile.
pub fn tessera_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let profile_dir = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent()?.parent().map(Path::to_path_buf))
            .expect("test binary lives in target/<profile>/deps");
        let release = profile_dir.ends_with("release");
        let mut build = Command::new(env!("CARGO"));
        build
            .current_dir(repo_root())
            .args(["build", "-q", "-p", "server", "--bin", "tessera"]);
        if release {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building tessera failed");
        profile_dir.join("tessera")
    })
}

/// Runs `tessera ARGS…` and returns its output.
pub fn tessera(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    Command::new(tessera_bin())
        .args(args.iter().map(std::convert::AsRef::as_ref))
        .output()
        .expect("tessera runs")
}

/// Like [`tessera`] but panics with its stderr unless it succeeds.
pub fn tessera_ok(args: &[&dyn AsRef<std::ffi::OsStr>]) -> String {
    let out = tessera(args);
    assert!(
        out.status.success(),
        "tessera {:?} failed: {}",
        args.iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect::<Vec<_>>(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Peak signal-to-noise ratio of two equal-sized RGB buffers, in dB (∞ when equal).
#[must_use]
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "images differ in size");
    let mse = a
        .iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

/// OpenSlide's own `read_region` (premultiplied ARGB) flattened onto white, as RGB.
#[must_use]
pub fn openslide_region(path: &Path, level: u32, x: u32, y: u32, w: u32, h: u32) -> Vec<u8> {
    let slide = openslide_rs::OpenSlide::new(path).expect("OpenSlide opens the slide");
    let bgra = slide
        .read_region(&openslide_rs::Region {
            address: openslide_rs::Address { x, y },
            level,
            size: openslide_rs::Size { w, h },
        })
        .expect("OpenSlide reads the region");
    bgra.chunks_exact(4)
        .flat_map(|p| {
            let clear = 255 - p[3];
            [
                p[2].saturating_add(clear),
                p[1].saturating_add(clear),
                p[0].saturating_add(clear),
            ]
        })
        .collect()
}

/// True when Debian's OpenSlide (3.4) opens the file.
#[must_use]
pub fn openslide_opens(path: &Path) -> bool {
    openslide_rs::OpenSlide::new(path).is_ok()
}

/// Every regular file under `dir`, sorted.
#[must_use]
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("readable directory").flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Names of the files in a directory (hidden ones included), sorted.
#[must_use]
pub fn dir_listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("readable directory")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Reads a PNG written by `tessera region` as RGB.
#[must_use]
pub fn read_png(path: &Path) -> (u32, u32, Vec<u8>) {
    let img = image::open(path).expect("readable PNG").to_rgb8();
    (img.width(), img.height(), img.into_raw())
}
