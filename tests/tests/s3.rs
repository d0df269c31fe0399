//! Caches in S3-compatible object storage, against a real SeaweedFS started per test:
//! `tessera tile -o s3://…` uploads whole caches or nothing, `tessera verify` and
//! `tessera serve --data s3://…` read them by ranges and serve what a local directory
//! serves, and new or replaced objects are picked up live.

use server::bucket::{Bucket, BucketError};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use tessera_e2e::seaweedfs::S3Server;
use tessera_e2e::{Server, tessera_ok};

/// Tiles `slide` (from the shared data) as `id` into a fresh local directory.
fn tiled(slide: &Path, id: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    tessera_ok(&[&"tile", &slide, &"-o", &dir.path(), &"--id", &id]);
    dir
}

/// A server over `--data s3://tessera/PREFIX`, its annotations in `store`.
fn s3_server(s3: &S3Server, prefix: &str, store: &Path) -> Server {
    let store = store.to_str().expect("utf-8 path");
    Server::start_with_env(Path::new(&s3.url(prefix)), &["--store", store], &s3.env())
}

/// Every tile of Deep Zoom levels `levels` of slide `id`, as PNG.
fn dzi_tiles(server: &Server, id: &str, levels: std::ops::Range<u32>) -> Vec<(String, Vec<u8>)> {
    let mut tiles = Vec::new();
    for level in levels {
        for row in 0.. {
            let mut found = 0;
            for col in 0.. {
                let path = format!("/dzi/{id}_files/{level}/{col}_{row}.png");
                let tile = server.get(&path);
                if tile.status != 200 {
                    break;
                }
                found += 1;
                tiles.push((path, tile.body));
            }
            if found == 0 {
                break;
            }
        }
    }
    tiles
}

#[test]
fn tiles_uploaded_to_s3_are_served_as_from_a_local_directory() {
    let Some(slide) = tessera_e2e::slide("CMU-1-Small-Region.svs") else {
        return;
    };
    let Some(s3) = S3Server::start() else { return };
    let local = tiled(&slide, "cmu");
    let url = s3.url("archive/caches");
    let printed = s3.tessera_ok(&[&"tile", &slide, &"-o", &url, &"--id", &"cmu"]);
    assert!(
        printed.contains("s3://tessera/archive/caches/cmu.tess"),
        "{printed}"
    );
    let verified = s3.tessera_ok(&[&"verify", &format!("{url}/cmu.tess"), &"--decode"]);
    let local_verified = tessera_ok(&[&"verify", &local.path().join("cmu.tess"), &"--decode"]);
    assert_eq!(verified, local_verified);

    let store = tempfile::tempdir().expect("temp dir");
    let from_s3 = s3_server(&s3, "archive/caches", store.path());
    let from_disk = Server::start(local.path(), &[]);
    // The description without its file size, and the size.
    let described = |server: &Server| {
        let mut slide: serde_json::Value =
            serde_json::from_slice(&server.get("/api/slides/cmu").body).expect("json");
        let bytes = slide.as_object_mut().and_then(|o| o.remove("bytes"));
        (slide, bytes)
    };
    let (s3_slide, s3_bytes) = described(&from_s3);
    let (disk_slide, _) = described(&from_disk);
    assert_eq!(s3_slide, disk_slide);
    // Two runs of the tiler may lay the file out differently (tiles are written as the
    // threads finish them); the object is sized as the bytes uploaded.
    let object = Bucket::configured(&url, s3.env())
        .expect("client")
        .head("cmu.tess")
        .expect("head")
        .expect("uploaded");
    assert_eq!(s3_bytes, Some(object.size.into()));
    // CMU is 2220×2967: Deep Zoom levels 10 to 12 are the cache's three finest levels.
    let s3_tiles = dzi_tiles(&from_s3, "cmu", 8..13);
    let disk_tiles = dzi_tiles(&from_disk, "cmu", 8..13);
    assert!(s3_tiles.len() > 150, "{} tiles", s3_tiles.len());
    assert_eq!(s3_tiles.len(), disk_tiles.len());
    for ((path, s3_png), (_, disk_png)) in s3_tiles.iter().zip(&disk_tiles) {
        assert!(s3_png == disk_png, "{path} differs");
    }
    let jpeg = "/slides/cmu/tiles/0/3/4.jpg";
    assert_eq!(from_s3.get(jpeg).body, from_disk.get(jpeg).body);
    assert!(
        store.path().join("annotations.db").exists(),
        "the annotation store is in --store"
    );
}

#[test]
fn new_and_replaced_objects_are_picked_up_live() {
    let (Some(cmu), Some(boxes)) = (
        tessera_e2e::slide("CMU-1-Small-Region.svs"),
        tessera_e2e::slide("boxes.tiff"),
    ) else {
        return;
    };
    let Some(s3) = S3Server::start() else { return };
    let url = s3.url("live");
    s3.tessera_ok(&[&"tile", &cmu, &"-o", &url, &"--id", &"cmu"]);
    let store = tempfile::tempdir().expect("temp dir");
    let server = s3_server(&s3, "live", store.path());
    assert_eq!(server.get("/api/slides/late").status, 404);
    s3.tessera_ok(&[&"tile", &boxes, &"-o", &url, &"--id", &"late"]);
    let late: serde_json::Value =
        serde_json::from_slice(&server.get("/api/slides/late").body).expect("json");
    assert_eq!(late["width"], 300, "a new object is served");

    let before = server.get("/dzi/cmu_files/12/0_0.png");
    assert_eq!(before.status, 200);
    s3.tessera_ok(&[&"tile", &boxes, &"-o", &url, &"--id", &"cmu"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let replaced: serde_json::Value =
        serde_json::from_slice(&server.get("/api/slides/cmu").body).expect("json");
    assert_eq!(replaced["width"], 300, "the replaced object is served");
    let after = server.get("/dzi/cmu_files/9/0_0.png");
    assert_eq!(after.status, 200);
    assert_ne!(before.body, after.body);
    assert_ne!(before.header("etag"), after.header("etag"));
}

#[test]
fn an_interrupted_upload_leaves_no_object_and_the_old_one_as_it_was() {
    let Some(s3) = S3Server::start() else { return };
    let bucket = Bucket::configured(&s3.url("uploads"), s3.env()).expect("client");
    let dir = tempfile::tempdir().expect("temp dir");
    // Three parts of 16 MiB and a bit; bytes that differ from part to part.
    let big: Vec<u8> = (0..(48u32 << 20) + 1000)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(dir.path().join("big"), &big).expect("write");
    std::fs::write(dir.path().join("old"), b"the cache before").expect("write");

    let parts = AtomicUsize::new(0);
    let after_two_parts = || parts.fetch_add(1, Ordering::SeqCst) < 2;
    let err = bucket
        .upload(&dir.path().join("big"), "a.tess", &after_two_parts)
        .expect_err("interrupted");
    assert!(matches!(err, BucketError::Interrupted(_)), "{err}");
    assert!(bucket.head("a.tess").expect("head").is_none());
    assert!(bucket.list_tess("").expect("list").is_empty());

    bucket
        .upload(&dir.path().join("old"), "b.tess", &|| true)
        .expect("uploads");
    let parts = AtomicUsize::new(0);
    let after_one_part = || parts.fetch_add(1, Ordering::SeqCst) < 1;
    bucket
        .upload(&dir.path().join("big"), "b.tess", &after_one_part)
        .expect_err("interrupted");
    let old = bucket.head("b.tess").expect("head").expect("still there");
    assert_eq!(old.size, 16, "the earlier object is left as it was");

    // A complete upload is the file, byte for byte, read back by ranges.
    let sent = bucket
        .upload(&dir.path().join("big"), "c.tess", &|| true)
        .expect("uploads");
    assert_eq!(sent, big.len() as u64);
    let meta = bucket.head("c.tess").expect("head").expect("uploaded");
    assert_eq!(meta.size, big.len() as u64);
    let ranges = bucket.ranges("c.tess", meta.e_tag.clone());
    let mut back = vec![0u8; big.len()];
    for (i, chunk) in back.chunks_mut(7 << 20).enumerate() {
        tiler::RangeRead::read_exact_at(&ranges, chunk, (i as u64) * (7 << 20)).expect("range");
    }
    assert!(back == big, "the object equals the file");
    let names: Vec<String> = bucket
        .list_tess("")
        .expect("list")
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(names, ["b", "c"]);
}

#[test]
fn an_interrupted_tile_run_leaves_no_object() {
    let Some(slide) = tessera_e2e::slide("CMU-1-Small-Region.svs") else {
        return;
    };
    let Some(s3) = S3Server::start() else { return };
    let url = s3.url("cut");
    let mut child = std::process::Command::new(tessera_e2e::tessera_bin())
        .args([
            "tile",
            "--threads",
            "1",
            "--codec",
            "zstd",
            "--quality",
            "19",
            "-o",
        ])
        .arg(&url)
        .arg(&slide)
        .args(["--id", "cut"])
        .envs(s3.env())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("tessera tile starts");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let status = child.wait().expect("wait");
    // Tiling at zstd level 19 on one thread takes seconds: the signal comes first.
    assert!(!status.success(), "the run was interrupted");
    let listed = Bucket::configured(&url, s3.env())
        .expect("client")
        .list_tess("")
        .expect("list");
    assert!(listed.is_empty(), "{listed:?}");
}
