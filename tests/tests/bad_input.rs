//! Broken slides, broken caches and unwritable outputs: one clear line, non-zero exit,
//! no `.tess` (nor a partial file) left behind.

use std::path::Path;
use tessera_e2e::{dir_listing, tessera, tessera_ok};

/// Asserts a failed `tile` run named `what` in one error line and left `out` as it was.
fn assert_refused(slide: &Path, out: &Path, what: &str) {
    let before = dir_listing(out);
    let result = tessera(&[&"tile", &slide, &"-o", &out]);
    assert!(!result.status.success(), "{what}: tile should fail");
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains(&*slide.to_string_lossy()),
        "{what}: error must name the file: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{what}: panicked: {stderr}");
    assert_eq!(dir_listing(out), before, "{what}: output directory changed");
}

#[test]
fn truncated_svs_is_refused() {
    let Some(cmu) = tessera_e2e::slide("CMU-1-Small-Region.svs") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let bytes = std::fs::read(&cmu).expect("read slide");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    for fraction in [2, 3, 10] {
        let truncated = dir.path().join(format!("truncated-{fraction}.svs"));
        std::fs::write(
            &truncated,
            &bytes[..bytes.len() * (fraction - 1) / fraction],
        )
        .expect("write");
        assert_refused(&truncated, &out, "truncated SVS");
        for source in ["tiff", "openslide"] {
            let forced = tessera(&[&"tile", &truncated, &"-o", &out, &"--source", &source]);
            assert!(
                !forced.status.success(),
                "truncated SVS via {source} should fail"
            );
        }
    }
    assert!(dir_listing(&out).is_empty());
}

#[test]
fn random_bytes_directories_and_missing_files_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..200_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let random = dir.path().join("random.svs");
    std::fs::write(&random, &noise).expect("write");
    assert_refused(&random, &out, "random bytes");
    let mut fake_tiff = b"II*\0".to_vec();
    fake_tiff.extend_from_slice(&noise[..5000]);
    let fake = dir.path().join("fake.tif");
    std::fs::write(&fake, &fake_tiff).expect("write");
    assert_refused(&fake, &out, "TIFF magic then noise");
    assert_refused(dir.path(), &out, "a directory");
    assert_refused(&dir.path().join("missing.svs"), &out, "a missing file");
    let empty = dir.path().join("empty.png");
    std::fs::write(&empty, b"").expect("write");
    assert_refused(&empty, &out, "an empty file");
}

#[test]
fn one_bad_slide_does_not_stop_the_others() {
    let Some(cmu) = tessera_e2e::slide("small.svs") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("bad.svs");
    std::fs::write(&bad, b"not a slide").expect("write");
    let out = dir.path().join("out");
    let result = tessera(&[&"tile", &bad, &cmu, &"-o", &out]);
    assert!(!result.status.success());
    assert_eq!(dir_listing(&out), vec!["small.tess".to_string()]);
    tessera_ok(&[&"verify", &out.join("small.tess")]);
}

#[test]
fn unwritable_output_directory_is_reported_and_left_clean() {
    let Some(cmu) = tessera_e2e::slide("small.svs") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    // A file where the output directory should be.
    let not_a_dir = dir.path().join("file");
    std::fs::write(&not_a_dir, b"x").expect("write");
    let result = tessera(&[&"tile", &cmu, &"-o", &not_a_dir]);
    assert!(!result.status.success());
    assert!(String::from_utf8_lossy(&result.stderr).contains(&*not_a_dir.to_string_lossy()));
    // A read-only directory (root ignores permissions, so only check when they bite).
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).expect("mkdir");
    let mut perms = std::fs::metadata(&ro).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o555);
    std::fs::set_permissions(&ro, perms).expect("chmod");
    if std::fs::write(ro.join("probe"), b"x").is_err() {
        let result = tessera(&[&"tile", &cmu, &"-o", &ro]);
        assert!(!result.status.success());
        assert!(dir_listing(&ro).is_empty());
    } else {
        let _ = std::fs::remove_file(ro.join("probe"));
    }
}

#[test]
fn full_disk_leaves_no_cache() {
    // /dev/full answers every write with ENOSPC; a cache can't be created beside it, so
    // use a tiny tmpfs (root may mount one, as in CI; elsewhere the case says it did not run).
    let Some(cmu) = tessera_e2e::slide("CMU-1-Small-Region.svs") else {
        return;
    };
    let Some(fs) = tessera_e2e::Tmpfs::mount("1m") else {
        return;
    };
    let mnt = &fs.path;
    let result = tessera(&[&"tile", &cmu, &"-o", mnt]);
    let listing = dir_listing(mnt);
    drop(fs);
    assert!(!result.status.success(), "tiling 8 MB into 1 MB must fail");
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("No space left"), "{stderr}");
    assert!(listing.is_empty(), "left behind: {listing:?}");
}

#[test]
fn corrupt_caches_are_named_by_verify() {
    let Some(cmu) = tessera_e2e::slide("CMU-1-Small-Region.svs") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    tessera_ok(&[&"tile", &cmu, &"-o", &dir.path(), &"--id", &"c"]);
    let path = dir.path().join("c.tess");
    let good = std::fs::read(&path).expect("read");
    let cache = tiler::CacheReader::open(&path).expect("cache");
    let coord = tiler::TileCoord::new(1, 2, 3, cache.grid()).expect("coord");
    let entry = cache.entry(coord);
    drop(cache);

    // A flipped byte inside one payload: verify names that tile.
    let mut flipped = good.clone();
    flipped[(entry.offset + u64::from(entry.len) / 2) as usize] ^= 0x40;
    std::fs::write(&path, &flipped).expect("write");
    let result = tessera(&[&"verify", &path]);
    assert!(!result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("level 1 tile (2, 3)"), "{stderr}");

    // Truncation, wrong magic, wrong version: refused at open with the file named.
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", good[..good.len() - 100].to_vec()),
        ("magic", {
            let mut b = good.clone();
            b[1] = b'X';
            b
        }),
        ("version", {
            let mut b = good.clone();
            b[8] = 9;
            b
        }),
        ("tiny", good[..10].to_vec()),
    ];
    for (what, bytes) in cases {
        std::fs::write(&path, &bytes).expect("write");
        let result = tessera(&[&"verify", &path]);
        assert!(!result.status.success(), "{what}");
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert!(stderr.contains("c.tess"), "{what}: {stderr}");
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    }
}
