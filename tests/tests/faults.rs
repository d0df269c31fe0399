//! Faults a lab meets running unattended: a full disk and a read-only data directory under
//! the server and the CLI, a `tile` run killed mid-write, caches damaged or replaced while
//! they are served, and a client that goes away in the middle of an export. Each must give
//! a clear error, leave nothing half-written and keep the server serving.
//!
//! The disk cases mount small tmpfs file systems, which needs root (as in CI); elsewhere
//! they say they did not run, and under `CI=true` they fail instead.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;
use tessera_e2e::{HttpResponse, Server, Tmpfs, dir_listing, tessera, tessera_ok};

/// Slides and cells made once for every test here, by the project's own generators.
struct World {
    _dir: tempfile::TempDir,
    /// 4000 × 3000 synthetic slide, its JPEG cache (`small.tess`, id `small`) and 8,745
    /// QuPath cells for it.
    small_svs: PathBuf,
    small_tess: PathBuf,
    small_cells: PathBuf,
    /// 12000 × 9000: slow enough to tile that a kill lands mid-write, and with ~80,000
    /// cells, an export far larger than the socket buffers.
    big_svs: PathBuf,
    big_tess: PathBuf,
    big_cells: PathBuf,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = |name: &str| dir.path().join(name);
        let make = |name: &str, w: u32, h: u32, seed: u32| {
            let (w, h, seed) = (w.to_string(), h.to_string(), seed.to_string());
            let svs = p(&format!("{name}.svs"));
            tessera_ok(&[
                &"synth",
                &"-o",
                &svs,
                &"--width",
                &w,
                &"--height",
                &h,
                &"--seed",
                &seed,
            ]);
            let tiles = p(&format!("{name}-tiles"));
            std::fs::create_dir(&tiles).expect("mkdir");
            tessera_ok(&[
                &"tile", &svs, &"-o", &tiles, &"--id", &name, &"--codec", &"jpeg",
            ]);
            let cells = p(&format!("{name}-cells.geojson"));
            tessera_ok(&[
                &"synth-cells",
                &"-o",
                &cells,
                &"--width",
                &w,
                &"--height",
                &h,
            ]);
            (svs, tiles.join(format!("{name}.tess")), cells)
        };
        let (small_svs, small_tess, small_cells) = make("small", 4000, 3000, 2);
        let (big_svs, big_tess, big_cells) = make("big", 12000, 9000, 3);
        World {
            _dir: dir,
            small_svs,
            small_tess,
            small_cells,
            big_svs,
            big_tess,
            big_cells,
        }
    })
}

/// Fills the file system holding `dir` with one file until a write fails; returns it.
fn fill_disk(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("filler");
    let block = vec![0u8; 64 << 10];
    while file
        .write_all(&block)
        .and_then(|()| file.sync_data())
        .is_ok()
    {}
    // The last partial block may have gone in: fill the remaining bytes one by one.
    while file.write_all(&[0]).and_then(|()| file.sync_data()).is_ok() {}
    path
}

/// POSTs a small square cell at (x, y) to slide `slide`.
fn post_cell(server: &Server, slide: &str, x: f64, y: f64) -> HttpResponse {
    let feature = serde_json::json!({
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [[
            [x, y], [x + 20.0, y], [x + 20.0, y + 20.0], [x, y + 20.0], [x, y]
        ]]},
        "properties": {"objectType": "annotation", "classification": {"name": "Tumor"}}
    });
    server.request(
        "POST",
        &format!("/api/slides/{slide}/annotations"),
        &[("Content-Type", "application/geo+json")],
        feature.to_string().as_bytes(),
    )
}

fn import(server: &Server, slide: &str, cells: &Path) -> HttpResponse {
    let body = std::fs::read(cells).expect("cells");
    server.request(
        "POST",
        &format!("/api/slides/{slide}/annotations/import?layer=cells"),
        &[("Content-Type", "application/geo+json")],
        &body,
    )
}

/// Ids of the features a whole-slide query answers with.
fn stored_ids(server: &Server, slide: &str) -> Vec<String> {
    let r = server.get(&format!(
        "/api/slides/{slide}/annotations?bbox=0,0,100000,100000&limit=1000000"
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    let fc: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    fc["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|f| f["id"].as_str().expect("id").to_string())
        .collect()
}

fn id_of(created: &HttpResponse) -> String {
    let v: serde_json::Value = serde_json::from_slice(&created.body).expect("json");
    v["id"].as_str().expect("id").to_string()
}

fn features_in(file: &Path) -> usize {
    let text = std::fs::read_to_string(file).expect("cells");
    text.matches("\"Feature\"").count()
}

/// The server's log must hold no panic and name `fault` exactly `times` times.
fn assert_logged(log: &str, fault: &str, times: usize) {
    assert!(!log.contains("panicked"), "{log}");
    assert_eq!(log.matches(fault).count(), times, "{fault:?} in:\n{log}");
}

#[test]
fn a_full_disk_refuses_imports_and_edits_clearly_and_loses_nothing() {
    let w = world();
    let Some(fs) = Tmpfs::mount("64m") else {
        return;
    };
    std::fs::copy(&w.small_tess, fs.path.join("small.tess")).expect("copy");
    let server = Server::start(&fs.path, &[]);
    let kept = post_cell(&server, "small", 100.0, 100.0);
    assert_eq!(kept.status, 201, "{}", kept.text());
    let kept = id_of(&kept);

    let filler = fill_disk(&fs.path);
    let refused = import(&server, "small", &w.small_cells);
    assert_eq!(refused.status, 507, "{}", refused.text());
    assert!(refused.text().contains("is full"), "{}", refused.text());
    // The store is named by its file, never by where the data directory lives.
    let dir = fs.path.to_string_lossy();
    assert!(!refused.text().contains(dir.as_ref()), "{}", refused.text());
    let refused = post_cell(&server, "small", 300.0, 300.0);
    assert_eq!(refused.status, 507, "{}", refused.text());
    // Reads go on: tiles, queries, the acknowledged edit.
    assert_eq!(server.get("/dzi/small_files/12/3_2.jpg").status, 200);
    assert_eq!(stored_ids(&server, "small"), vec![kept.clone()]);

    std::fs::remove_file(&filler).expect("free the disk");
    let imported = import(&server, "small", &w.small_cells);
    assert_eq!(imported.status, 201, "{}", imported.text());
    assert_eq!(post_cell(&server, "small", 300.0, 300.0).status, 201);
    let (_, log) = server.stop();
    assert!(!log.contains("panicked"), "{log}");

    // The CLI on a full disk: a clear error, and nothing of the file stored.
    let before = tessera_ok(&[&"export", &"--data", &fs.path, &"small"]);
    let filler = fill_disk(&fs.path);
    let result = tessera(&[
        &"import",
        &"--data",
        &fs.path,
        &"small",
        &w.small_cells,
        &"--new-ids",
    ]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!result.status.success());
    assert!(stderr.contains("no space left"), "{stderr}");
    std::fs::remove_file(&filler).expect("free the disk");
    let after = tessera_ok(&[&"export", &"--data", &fs.path, &"small"]);
    assert_eq!(before, after, "a failed import leaves the store as it was");
    assert_eq!(
        after.matches("\"Feature\"").count(),
        features_in(&w.small_cells) + 2
    );
}

#[test]
fn a_read_only_data_directory_is_served_and_writes_are_refused_clearly() {
    let w = world();
    let Some(fs) = Tmpfs::mount("64m") else {
        return;
    };
    std::fs::copy(&w.small_tess, fs.path.join("small.tess")).expect("copy");
    tessera_ok(&[&"import", &"--data", &fs.path, &"small", &w.small_cells]);
    let listing = dir_listing(&fs.path);
    fs.remount("ro");

    let server = Server::start(&fs.path, &[]);
    assert_eq!(server.get("/dzi/small_files/12/3_2.jpg").status, 200);
    assert_eq!(
        stored_ids(&server, "small").len(),
        features_in(&w.small_cells)
    );
    let refused = post_cell(&server, "small", 100.0, 100.0);
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert!(refused.text().contains("read-only"), "{}", refused.text());
    let refused = import(&server, "small", &w.small_cells);
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(server.get("/dzi/small_files/11/1_1.jpg").status, 200);

    let result = tessera(&[&"tile", &w.small_svs, &"-o", &fs.path, &"--id", &"other"]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!result.status.success());
    assert!(stderr.contains(&*fs.path.to_string_lossy()), "{stderr}");
    assert!(stderr.contains("Read-only"), "{stderr}");
    let result = tessera(&[
        &"import",
        &"--data",
        &fs.path,
        &"small",
        &w.small_cells,
        &"--new-ids",
    ]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!result.status.success());
    assert!(stderr.contains("readonly database"), "{stderr}");
    assert_eq!(dir_listing(&fs.path), listing, "nothing written");
    let (_, log) = server.stop();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn a_killed_tile_run_leaves_no_cache_and_the_next_run_cleans_up() {
    let w = world();
    let out = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(tessera_e2e::tessera_bin())
        .args([
            "tile",
            "--threads",
            "1",
            "--codec",
            "zstd",
            "--id",
            "k",
            "-o",
        ])
        .arg(out.path())
        .arg(&w.big_svs)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("tile starts");
    // Kill it once its temporary file holds a few MB of tiles.
    let partial_bytes = || {
        dir_listing(out.path())
            .iter()
            .filter(|n| n.ends_with(".partial"))
            .map(|n| std::fs::metadata(out.path().join(n)).map_or(0, |m| m.len()))
            .sum::<u64>()
    };
    let mut waited = 0;
    while partial_bytes() < 4 << 20 {
        assert!(
            child.try_wait().expect("wait").is_none(),
            "tile ended before it was killed"
        );
        assert!(waited < 60_000, "no partial cache after 60 s");
        std::thread::sleep(Duration::from_millis(5));
        waited += 5;
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let left = dir_listing(out.path());
    let is_cache = |n: &String| Path::new(n).extension().is_some_and(|e| e == "tess");
    assert!(!left.iter().any(is_cache), "{left:?}");
    assert!(
        left.iter().any(|n| n.ends_with(".partial")),
        "killed mid-write: {left:?}"
    );

    tessera_ok(&[
        &"tile",
        &w.big_svs,
        &"-o",
        &out.path(),
        &"--id",
        &"k",
        &"--codec",
        &"jpeg",
    ]);
    assert_eq!(dir_listing(out.path()), vec!["k.tess".to_string()]);
    tessera_ok(&[&"verify", &out.path().join("k.tess")]);
}

#[test]
fn clients_leaving_mid_export_cost_nothing() {
    use std::io::{Read, Write};
    let w = world();
    let data = tempfile::tempdir().expect("temp dir");
    std::fs::copy(&w.big_tess, data.path().join("big.tess")).expect("copy");
    tessera_ok(&[&"import", &"--data", &data.path(), &"big", &w.big_cells]);
    let server = Server::start(data.path(), &[]);
    for _ in 0..8 {
        let mut stream = std::net::TcpStream::connect(server.addr).expect("connect");
        write!(
            stream,
            "GET /api/slides/big/annotations/export HTTP/1.1\r\nHost: {}\r\n\r\n",
            server.addr
        )
        .expect("send");
        let mut head = vec![0u8; 64 << 10];
        stream.read_exact(&mut head).expect("the export starts");
        drop(stream);
    }
    // Nothing waits on the departed clients: an edit and a whole export go through.
    let addr = server.addr;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let created = tessera_e2e::http_request(
            addr,
            "POST",
            "/api/slides/big/annotations",
            &[],
            br#"{"type":"Feature","geometry":{"type":"Point","coordinates":[50,50]},"properties":{"classification":{"name":"Tumor"}}}"#,
        );
        let export = tessera_e2e::http_get(addr, "/api/slides/big/annotations/export", &[]);
        let _ = tx.send((created, export));
    });
    let (created, export) = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("an edit and an export after the disconnects finish");
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(export.status, 200);
    let fc: serde_json::Value = serde_json::from_slice(&export.body).expect("whole export");
    assert_eq!(
        fc["features"].as_array().expect("features").len(),
        features_in(&w.big_cells) + 1
    );
    let (_, log) = server.stop();
    assert!(!log.contains("panicked"), "{log}");
}

/// Rebuilds a cache with its directory (and payload area) changed by `damage`; header,
/// metadata and the directory's compression are rewritten so only the planted fault is
/// wrong.
fn rebuild_cache(
    good: &[u8],
    damage: impl FnOnce(&mut Vec<tiler::Entry>, &mut Vec<u8>),
) -> Vec<u8> {
    let header = tiler::Header::parse(good).expect("header");
    let payload_end = header.metadata_offset as usize;
    let mut payloads = good[tiler::HEADER_LEN as usize..payload_end].to_vec();
    let metadata = &good[payload_end..payload_end + header.metadata_len as usize];
    let directory_at = header.directory_offset as usize;
    let raw = zstd::bulk::decompress(
        &good[directory_at..directory_at + header.directory_len as usize],
        header.tile_count as usize * 16,
    )
    .expect("directory");
    let mut entries: Vec<tiler::Entry> =
        raw.chunks_exact(16).map(tiler::Entry::read_from).collect();
    damage(&mut entries, &mut payloads);
    let mut directory = Vec::new();
    for e in &entries {
        e.write_to(&mut directory);
    }
    let directory = zstd::bulk::compress(&directory, 3).expect("compress");
    let metadata_offset = tiler::HEADER_LEN + payloads.len() as u64;
    let new_header = tiler::Header {
        metadata_offset,
        directory_offset: metadata_offset + metadata.len() as u64,
        directory_len: directory.len() as u64,
        ..header
    };
    let mut out = new_header.to_bytes().to_vec();
    out.extend_from_slice(&payloads);
    out.extend_from_slice(metadata);
    out.extend_from_slice(&directory);
    out
}

#[test]
fn planted_cache_faults_are_named_by_verify_and_fail_alone_in_the_server() {
    let w = world();
    let data = tempfile::tempdir().expect("temp dir");
    // A lossless cache, whose payloads decompress to a known size.
    tessera_ok(&[
        &"tile",
        &w.small_svs,
        &"-o",
        &data.path(),
        &"--id",
        &"good",
        &"--codec",
        &"zstd",
    ]);
    let good = std::fs::read(data.path().join("good.tess")).expect("read");
    let cache = tiler::CacheReader::open(&data.path().join("good.tess")).expect("cache");
    let index_of = |level, col, row| {
        let coord = tiler::TileCoord::new(level, col, row, cache.grid()).expect("coord");
        (0..cache.grid().tile_count())
            .position(|i| cache.grid().coord_at(i) == Some(coord))
            .expect("index")
    };
    let (short_tile, past_tile) = (index_of(0, 5, 4), index_of(1, 2, 1));

    // A payload that decompresses to fewer bytes than its tile (checksum right).
    let short = rebuild_cache(&good, |entries, payloads| {
        let payload = zstd::bulk::compress(&[7u8; 1000], 3).expect("compress");
        let offset = tiler::HEADER_LEN + payloads.len() as u64;
        entries[short_tile] = tiler::Entry {
            offset,
            len: payload.len() as u32,
            crc: crc32fast::hash(&payload),
        };
        payloads.extend_from_slice(&payload);
    });
    std::fs::write(data.path().join("short.tess"), &short).expect("write");
    // A directory entry pointing past the end of the file.
    let past = rebuild_cache(&good, |entries, _| {
        entries[past_tile].offset = good.len() as u64 + 4096;
    });
    std::fs::write(data.path().join("past.tess"), &past).expect("write");

    tessera_ok(&[&"verify", &data.path().join("short.tess")]);
    let result = tessera(&[&"verify", &data.path().join("short.tess"), &"--decode"]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!result.status.success(), "{stderr}");
    assert!(
        stderr.contains("short.tess") && stderr.contains("level 0 tile (5, 4)"),
        "{stderr}"
    );
    let result = tessera(&[&"verify", &data.path().join("past.tess")]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!result.status.success(), "{stderr}");
    assert!(
        stderr.contains("past.tess")
            && stderr.contains("level 1 tile (2, 1)")
            && stderr.contains("outside the payload area"),
        "{stderr}"
    );

    let server = Server::start(data.path(), &["--cache-mb", "0"]);
    for _ in 0..3 {
        assert_eq!(server.get("/dzi/short_files/12/5_4.png").status, 500);
        assert_eq!(server.get("/dzi/past_files/11/0_0.png").status, 500);
    }
    assert_eq!(server.get("/dzi/short_files/12/4_4.png").status, 200);
    assert_eq!(server.get("/dzi/short_files/11/2_1.png").status, 200);
    assert_eq!(server.get("/dzi/good_files/12/5_4.png").status, 200);
    let listed: serde_json::Value =
        serde_json::from_slice(&server.get("/api/slides").body).expect("json");
    let ids: Vec<&str> = listed
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(ids, ["good", "short"], "the unreadable cache is left out");
    let _ = server.get("/api/slides");
    let (_, log) = server.stop();
    assert_logged(&log, "level 0 tile (5, 4)", 1);
    assert_logged(&log, "outside the payload area", 1);
}

#[test]
fn a_cache_overwritten_in_place_while_served_fails_cleanly_then_serves_the_new_one() {
    let w = world();
    let data = tempfile::tempdir().expect("temp dir");
    std::fs::copy(&w.small_tess, data.path().join("s.tess")).expect("copy");
    std::fs::copy(&w.small_tess, data.path().join("other.tess")).expect("copy");
    let server = Server::start(data.path(), &["--cache-mb", "0"]);
    let before = server.get("/dzi/s_files/12/3_2.jpg");
    assert_eq!(before.status, 200);

    // Readers hammer the slide while its file is rewritten in place (same inode).
    let addr = server.addr;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hammer = {
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for path in [
                    "/dzi/s_files/12/3_2.jpg",
                    "/dzi/s_files/10/0_0.jpg",
                    "/dzi/s.dzi",
                ] {
                    *statuses
                        .entry(tessera_e2e::http_get(addr, path, &[]).status)
                        .or_default() += 1;
                }
            }
            statuses
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let garbage = vec![0x5a_u8; 300_000];
    std::fs::write(data.path().join("s.tess"), &garbage).expect("overwrite with garbage");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        server.get("/dzi/s.dzi").status,
        500,
        "a damaged cache is refused"
    );
    assert_eq!(
        server.get("/dzi/other_files/12/3_2.jpg").status,
        200,
        "others serve on"
    );
    let webp = tempfile::tempdir().expect("temp dir");
    tessera_ok(&[
        &"tile",
        &w.small_svs,
        &"-o",
        &webp.path(),
        &"--id",
        &"s",
        &"--codec",
        &"webp",
    ]);
    let replacement = std::fs::read(webp.path().join("s.tess")).expect("read");
    std::fs::write(data.path().join("s.tess"), &replacement).expect("overwrite in place");
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let statuses = hammer.join().expect("hammer");
    assert!(
        statuses.keys().all(|s| [200, 500].contains(s)),
        "only answers, no dropped connections: {statuses:?}"
    );
    let after = server.get("/dzi/s_files/12/3_2.jpg");
    assert_eq!(after.status, 200);
    assert_ne!(before.body, after.body, "the new cache is served");
    let (_, log) = server.stop();
    assert!(!log.contains("panicked"), "{log}");
}
