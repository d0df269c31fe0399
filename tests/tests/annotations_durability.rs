//! Nothing acknowledged is lost and nothing half done is kept: the server is killed with
//! SIGKILL in the middle of a large import and in the middle of a stream of edits, then
//! restarted on the same data directory.

#![allow(clippy::too_many_lines)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tessera_e2e::{HttpResponse, Server, tessera_ok};

const SYN: &str = "syn";

/// A data directory holding one synthetic slide `syn` of `width`×`height` pixels, and the
/// synthetic cells of that slide as a GeoJSON file beside it (outside the data directory).
fn synthetic(width: u32, height: u32) -> (tempfile::TempDir, tempfile::TempDir) {
    let staging = tempfile::tempdir().expect("temp dir");
    let svs = staging.path().join("syn.svs");
    let (w, h) = (width.to_string(), height.to_string());
    tessera_ok(&[&"synth", &"-o", &svs, &"--width", &w, &"--height", &h]);
    let data = tempfile::tempdir().expect("temp dir");
    tessera_ok(&[&"tile", &svs, &"-o", &data.path(), &"--id", &SYN]);
    let cells = staging.path().join("cells.geojson");
    tessera_ok(&[
        &"synth-cells",
        &"-o",
        &cells,
        &"--width",
        &w,
        &"--height",
        &h,
    ]);
    (data, staging)
}

fn json_of(r: &HttpResponse) -> Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("status {}: not JSON ({e}): {}", r.status, r.text()))
}

/// Features of the whole slide, and the summary's count.
fn stored(server: &Server) -> (usize, u64) {
    let r = server.get(&format!("/api/slides/{SYN}/annotations"));
    assert_eq!(r.status, 200, "{}", r.text());
    let features = json_of(&r)["features"].as_array().map_or(0, Vec::len);
    let r = server.get(&format!("/api/slides/{SYN}/annotations/summary"));
    assert_eq!(r.status, 200, "{}", r.text());
    (features, json_of(&r)["count"].as_u64().unwrap_or(u64::MAX))
}

fn wal_size(data: &Path) -> u64 {
    std::fs::metadata(data.join("annotations.db-wal")).map_or(0, |m| m.len())
}

/// The cells of `file` repeated `copies` times in one FeatureCollection (the import gives
/// the repeats new ids).
fn repeated_cells(file: &Path, copies: usize) -> (Vec<u8>, usize) {
    let text = std::fs::read_to_string(file).expect("cells");
    let start = text.find('[').expect("features array") + 1;
    let end = text.rfind(']').expect("features array");
    let features = text[start..end].trim();
    let per_copy = serde_json::from_str::<Value>(&text).expect("cells parse")["features"]
        .as_array()
        .map_or(0, Vec::len);
    let mut body = String::with_capacity(features.len() * copies + 64);
    body.push_str("{\"type\":\"FeatureCollection\",\"features\":[");
    for i in 0..copies {
        if i > 0 {
            body.push(',');
        }
        body.push_str(features);
    }
    body.push_str("]}");
    (body.into_bytes(), per_copy * copies)
}

/// SIGKILL while a large import is being received and stored: after a restart none of it
/// is visible, and the store works.
#[test]
fn an_import_killed_in_flight_leaves_nothing_behind() {
    let (data, staging) = synthetic(4096, 3072);
    let (body, features) = repeated_cells(&staging.path().join("cells.geojson"), 30);
    assert!(features > 250_000, "{features} features");
    let server = Server::start(data.path(), &[]);
    // The index is loaded and the store has a row before the import starts.
    let r = server.request(
        "POST",
        &format!("/api/slides/{SYN}/annotations?layer=before"),
        &[],
        br#"{"type":"Feature","geometry":{"type":"Point","coordinates":[5,5]},"properties":{"classification":{"name":"Keep"}}}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let wal_before = wal_size(data.path());

    // Send all of the body but its last 64 KiB: the import cannot finish, whatever the
    // machine's speed, until the rest arrives, and it never will.
    let mut stream = std::net::TcpStream::connect(server.addr).expect("connect");
    let head = format!(
        "POST /api/slides/{SYN}/annotations/import?layer=big&new_ids=1 HTTP/1.1\r\n\
         Host: {}\r\nContent-Length: {}\r\nX-Tessera-User: importer\r\n\r\n",
        server.addr,
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("send head");
    let held_back = 64 << 10;
    let total = body.len() - held_back;
    let sent = Arc::new(AtomicUsize::new(0));
    let mut writer = stream.try_clone().expect("clone");
    let counter = Arc::clone(&sent);
    let sending = std::thread::spawn(move || {
        for chunk in body[..body.len() - held_back].chunks(256 << 10) {
            if writer.write_all(chunk).is_err() {
                return;
            }
            counter.fetch_add(chunk.len(), Ordering::SeqCst);
        }
    });
    // Wait until most of the body is in (writes block once the server stops reading) and
    // the transaction has spilled pages into the WAL, or, failing that, a while.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(120) {
        let most_sent = sent.load(Ordering::SeqCst) * 10 >= total * 9;
        let spilled = wal_size(data.path()) > wal_before + (8 << 20);
        if most_sent && spilled {
            break;
        }
        if sending.is_finished() && started.elapsed() > Duration::from_secs(20) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let wal_at_kill = wal_size(data.path());
    let sent_at_kill = sent.load(Ordering::SeqCst);
    // No answer may have come: the import cannot have finished.
    stream
        .set_read_timeout(Some(Duration::from_millis(10)))
        .expect("timeout");
    let mut early = [0u8; 64];
    assert!(
        !matches!(stream.read(&mut early), Ok(n) if n > 0),
        "the server answered an unfinished import: {}",
        String::from_utf8_lossy(&early)
    );
    server.kill();
    drop(stream);
    let _ = sending.join();
    eprintln!("killed after {sent_at_kill} bytes sent; WAL {wal_before} → {wal_at_kill} bytes");

    let server = Server::start(data.path(), &[]);
    assert_eq!(
        stored(&server),
        (1, 1),
        "only the annotation made before the import"
    );
    let r = server.get(&format!("/api/slides/{SYN}/annotations?layer=big&limit=1"));
    assert_eq!(json_of(&r)["features"].as_array().map(Vec::len), Some(0));
    // No import change survived either: the importer has nothing to undo.
    let r = server.request(
        "POST",
        &format!("/api/slides/{SYN}/undo"),
        &[("X-Tessera-User", "importer")],
        b"",
    );
    assert_eq!(r.status, 409, "{}", r.text());
    // The store still takes imports, and the restarted index sees them.
    let small = std::fs::read(staging.path().join("cells.geojson")).expect("cells");
    let r = server.request(
        "POST",
        &format!("/api/slides/{SYN}/annotations/import?layer=after"),
        &[],
        &small,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let n = json_of(&r)["imported"].as_u64().expect("imported");
    assert_eq!(stored(&server), (n as usize + 1, n + 1));
    drop(server);
    // And survive a restart.
    let server = Server::start(data.path(), &[]);
    assert_eq!(stored(&server), (n as usize + 1, n + 1));
}

/// What the client was told about one annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    Live(u64),
    Deleted,
}

/// An operation that got no answer: it may or may not have happened.
#[derive(Debug, Clone)]
enum InFlight {
    Create,
    Update(String),
    Delete(String),
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn square(rng: &mut Rng) -> String {
    let (x, y, s) = (rng.next() % 1900, rng.next() % 1900, 5 + rng.next() % 40);
    format!(
        r#"{{"type":"Feature","geometry":{{"type":"Polygon","coordinates":[[[{x},{y}],[{},{y}],[{},{}],[{x},{}],[{x},{y}]]]}},"properties":{{"classification":{{"name":"Edit"}}}}}}"#,
        x + s,
        x + s,
        y + s,
        y + s
    )
}

/// Runs edits against `addr` until a request gets no answer or `stop` ops were
/// acknowledged; returns what was acknowledged and the operation left in flight.
fn edit_stream(
    addr: std::net::SocketAddr,
    known: &mut BTreeMap<String, Known>,
    acked: &AtomicUsize,
    stop: usize,
    rng: &mut Rng,
) -> Option<InFlight> {
    let user = [("X-Tessera-User", "editor")];
    while acked.load(Ordering::SeqCst) < stop {
        let live: Vec<(String, u64)> = known
            .iter()
            .filter_map(|(id, k)| match k {
                Known::Live(v) => Some((id.clone(), *v)),
                Known::Deleted => None,
            })
            .collect();
        let roll = rng.next() % 10;
        if live.len() < 5 || roll < 5 {
            let r = tessera_e2e::http_request(
                addr,
                "POST",
                &format!("/api/slides/{SYN}/annotations?layer=stream"),
                &user,
                square(rng).as_bytes(),
            );
            if r.status == 0 {
                return Some(InFlight::Create);
            }
            assert_eq!(r.status, 201, "create: {}", r.text());
            let id = json_of(&r)["id"].as_str().expect("id").to_string();
            known.insert(id, Known::Live(1));
        } else {
            let (id, version) = live[(rng.next() % live.len() as u64) as usize].clone();
            let path = format!("/api/annotations/{id}");
            if roll < 8 {
                let v = version.to_string();
                let r = tessera_e2e::http_request(
                    addr,
                    "PUT",
                    &path,
                    &[("X-Tessera-User", "editor"), ("If-Match", &v)],
                    square(rng).as_bytes(),
                );
                if r.status == 0 {
                    return Some(InFlight::Update(id));
                }
                assert_eq!(r.status, 200, "update: {}", r.text());
                let now = json_of(&r)["properties"]["version"]
                    .as_u64()
                    .expect("version");
                assert_eq!(now, version + 1);
                known.insert(id, Known::Live(now));
            } else {
                let r = tessera_e2e::http_request(addr, "DELETE", &path, &user, b"");
                if r.status == 0 {
                    return Some(InFlight::Delete(id));
                }
                assert_eq!(r.status, 200, "delete: {}", r.text());
                known.insert(id, Known::Deleted);
            }
        }
        acked.fetch_add(1, Ordering::SeqCst);
    }
    None
}

/// The version the server holds (`None`: gone).
fn version_on_server(server: &Server, id: &str) -> Option<u64> {
    let r = server.get(&format!("/api/annotations/{id}"));
    match r.status {
        200 => Some(
            json_of(&r)["properties"]["version"]
                .as_u64()
                .expect("version"),
        ),
        404 => None,
        s => panic!("GET {id}: {s} {}", r.text()),
    }
}

/// SIGKILL in the middle of a stream of creates, updates and deletes, three times: every
/// acknowledged change survives each restart, nothing acknowledged as deleted comes back.
#[test]
fn acknowledged_edits_survive_sigkill() {
    let (data, _staging) = synthetic(2048, 2048);
    let mut known: BTreeMap<String, Known> = BTreeMap::new();
    let mut rng = Rng(0xd0_0d1e);
    let mut total_acked = 0;
    let mut unanswered = 0;
    for (round, kill_after) in [60usize, 140, 220].into_iter().enumerate() {
        let server = Server::start(data.path(), &[]);
        let addr = server.addr;
        let acked = Arc::new(AtomicUsize::new(total_acked));
        let client_acked = Arc::clone(&acked);
        let mut client_known = known.clone();
        let mut client_rng = Rng(rng.next());
        // The client goes on well past the kill point; the kill stops it.
        let client = std::thread::spawn(move || {
            let flight = edit_stream(
                addr,
                &mut client_known,
                &client_acked,
                usize::MAX,
                &mut client_rng,
            );
            (client_known, flight)
        });
        let started = Instant::now();
        while acked.load(Ordering::SeqCst) < kill_after && !client.is_finished() {
            assert!(
                started.elapsed() < Duration::from_secs(300),
                "the edits stalled"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        server.kill();
        let (after, flight) = client.join().expect("the client thread");
        known = after;
        total_acked = acked.load(Ordering::SeqCst);
        assert!(
            total_acked >= kill_after,
            "round {round}: the client stopped early"
        );
        unanswered += usize::from(flight.is_some());

        let server = Server::start(data.path(), &[]);
        // Settle the one operation that got no answer, whichever way it went.
        let uncertain = match &flight {
            Some(InFlight::Update(id) | InFlight::Delete(id)) => Some(id.clone()),
            _ => None,
        };
        for (id, k) in &known {
            let now = version_on_server(&server, id);
            if uncertain.as_deref() == Some(id.as_str()) {
                let Known::Live(v) = *k else {
                    panic!("an edit in flight on a deleted annotation")
                };
                match (&flight, now) {
                    (Some(InFlight::Update(_)), Some(n)) => assert!(
                        n == v || n == v + 1,
                        "{id}: version {n} after an unanswered update of version {v}"
                    ),
                    (Some(InFlight::Delete(_)), Some(n)) => assert_eq!(n, v, "{id}"),
                    (Some(InFlight::Delete(_)), None) => {}
                    other => panic!("round {round}: {id} lost: {other:?}"),
                }
                continue;
            }
            match k {
                Known::Live(v) => assert_eq!(
                    now,
                    Some(*v),
                    "round {round}: {id} was acknowledged at version {v}"
                ),
                Known::Deleted => {
                    assert_eq!(now, None, "round {round}: {id} was acknowledged as deleted");
                }
            }
        }
        // Take the server's word for the operation in flight, then compare everything:
        // the rebuilt index holds exactly the live annotations.
        if let Some(id) = uncertain {
            let k = version_on_server(&server, &id).map_or(Known::Deleted, Known::Live);
            known.insert(id, k);
        }
        let r = server.get(&format!("/api/slides/{SYN}/annotations?layer=stream"));
        let on_server: std::collections::BTreeSet<String> = json_of(&r)["features"]
            .as_array()
            .expect("features")
            .iter()
            .filter_map(|f| f["id"].as_str().map(str::to_string))
            .collect();
        let live: std::collections::BTreeSet<String> = known
            .iter()
            .filter(|(_, k)| matches!(k, Known::Live(_)))
            .map(|(id, _)| id.clone())
            .collect();
        // An unanswered create may have been stored: it is the only stranger allowed.
        let strangers: Vec<&String> = on_server.difference(&live).collect();
        assert!(
            live.is_subset(&on_server),
            "round {round}: the index lost some"
        );
        assert!(
            strangers.len() <= usize::from(matches!(flight, Some(InFlight::Create))),
            "round {round}: unknown annotations {strangers:?}"
        );
        for id in strangers {
            known.insert(id.clone(), Known::Live(1));
        }
        drop(server);
    }
    assert!(total_acked >= 220);
    eprintln!(
        "{total_acked} acknowledged edits, {} annotations known, {unanswered} unanswered at a kill",
        known.len()
    );
}
