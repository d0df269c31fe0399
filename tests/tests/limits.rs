//! `tessera serve`'s limits: each one set low on the command line refuses what is beyond
//! it with the right status and a JSON message naming the limit's flag, and what is within
//! it still succeeds.

use serde_json::Value;
use std::io::{Read, Write};
use tessera_e2e::{HttpResponse, Server, tessera_ok};

/// Id of the synthetic slide.
const SYN: &str = "syn";
/// Squares imported onto the slide.
const SQUARES: usize = 50;

/// One 20×20 square Feature at (`x`, `y`), with `note` as a property.
fn square(x: u32, y: u32, note: &str) -> String {
    let (x2, y2) = (x + 20, y + 20);
    format!(
        r#"{{"type":"Feature","geometry":{{"type":"Polygon","coordinates":[[[{x},{y}],[{x2},{y}],[{x2},{y2}],[{x},{y2}],[{x},{y}]]]}},"properties":{{"classification":{{"name":"Tumor"}},"note":"{note}"}}}}"#
    )
}

/// A data directory with a 1024×768 synthetic slide `syn` holding [`SQUARES`] squares.
fn data() -> tempfile::TempDir {
    let staging = tempfile::tempdir().expect("temp dir");
    let svs = staging.path().join("syn.svs");
    tessera_ok(&[
        &"synth",
        &"-o",
        &svs,
        &"--width",
        &"1024",
        &"--height",
        &"768",
    ]);
    let data = tempfile::tempdir().expect("temp dir");
    tessera_ok(&[&"tile", &svs, &"-o", &data.path(), &"--id", &SYN]);
    let features: Vec<String> = (0..SQUARES as u32)
        .map(|i| square(40 + (i % 10) * 60, 40 + (i / 10) * 60, ""))
        .collect();
    let file = staging.path().join("squares.geojson");
    std::fs::write(
        &file,
        format!(
            r#"{{"type":"FeatureCollection","features":[{}]}}"#,
            features.join(",")
        ),
    )
    .expect("write squares");
    tessera_ok(&[&"import", &"--data", &data.path(), &SYN, &file]);
    data
}

fn json_of(r: &HttpResponse) -> Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("status {}: not JSON ({e}): {}", r.status, r.text()))
}

/// Asserts `r` is a JSON refusal with `status` whose message names `flag`.
fn refused(r: &HttpResponse, status: u16, flag: &str) -> String {
    assert_eq!(r.status, status, "{}", r.text());
    let message = json_of(r)["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message in {}", r.text()))
        .to_string();
    assert!(
        message.contains(flag),
        "the message must name {flag}: {message}"
    );
    message
}

fn post(server: &Server, path: &str, body: &[u8]) -> HttpResponse {
    server.request(
        "POST",
        path,
        &[
            ("X-Tessera-User", "local"),
            ("Content-Type", "application/json"),
        ],
        body,
    )
}

#[test]
fn edit_and_import_bodies_beyond_their_limits_are_413() {
    let data = data();
    let server = Server::start(data.path(), &["--max-edit-kb", "1", "--max-import-mb", "1"]);
    let create = format!("/api/slides/{SYN}/annotations");
    let small = square(700, 600, "small");
    assert_eq!(post(&server, &create, small.as_bytes()).status, 201);
    let big = square(700, 600, &"x".repeat(2000));
    let message = refused(
        &post(&server, &create, big.as_bytes()),
        413,
        "--max-edit-kb",
    );
    assert!(message.contains("1 KiB"), "{message}");
    // Without a declared length (chunked), axum's own refusal becomes the same JSON error.
    let mut chunked = std::net::TcpStream::connect(server.addr).expect("connect");
    write!(
        chunked,
        "POST {create} HTTP/1.1\r\nHost: {}\r\nX-Tessera-User: local\r\n\
         Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
        server.addr,
        big.len()
    )
    .expect("send");
    let mut raw = Vec::new();
    let _ = chunked.read_to_end(&mut raw);
    let answer = String::from_utf8_lossy(&raw);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("--max-edit-kb"), "{answer}");

    let import = format!("/api/slides/{SYN}/annotations/import?layer=bulk");
    let collection = |note: &str| {
        format!(
            r#"{{"type":"FeatureCollection","features":[{}]}}"#,
            square(800, 600, note)
        )
    };
    assert_eq!(
        post(&server, &import, collection("").as_bytes()).status,
        201
    );
    let huge = collection(&"y".repeat(1_200_000));
    let message = refused(
        &post(&server, &import, huge.as_bytes()),
        413,
        "--max-import-mb",
    );
    assert!(message.contains("1 MiB"), "{message}");
}

#[test]
fn iiif_sizes_beyond_the_image_limits_are_400() {
    let data = data();
    let server = Server::start(
        data.path(),
        &[
            "--max-image-width",
            "500",
            "--max-image-height",
            "400",
            "--max-image-pixels",
            "150000",
        ],
    );
    let info = json_of(&server.get(&format!("/iiif/3/{SYN}/info.json")));
    assert_eq!(info["maxWidth"], 500);
    assert_eq!(info["maxHeight"], 400);
    assert_eq!(info["maxArea"], 150_000);
    // 1024×768 at width 400 is 400×300: within every limit.
    assert_eq!(
        server
            .get(&format!("/iiif/3/{SYN}/full/400,/0/default.jpg"))
            .status,
        200
    );
    // `max` scales down to fit.
    assert_eq!(
        server
            .get(&format!("/iiif/3/{SYN}/full/max/0/default.jpg"))
            .status,
        200
    );
    for (size, why) in [
        ("600,", "wider"),
        (",450", "taller"),
        ("!450,450", "larger"),
    ] {
        let r = server.get(&format!("/iiif/3/{SYN}/full/{size}/0/default.jpg"));
        let message = refused(&r, 400, "--max-image-pixels");
        assert!(message.contains("maxWidth 500"), "{why}: {message}");
    }
}

#[test]
fn answers_beyond_max_query_features_are_422_unless_limit_asks_for_fewer() {
    let data = data();
    let server = Server::start(data.path(), &["--max-query-features", "10"]);
    let query = |q: &str| server.get(&format!("/api/slides/{SYN}/annotations?{q}"));
    let message = refused(&query(""), 422, "--max-query-features");
    assert!(
        message.contains(&format!("{SQUARES} features")) && message.contains("limit of 10"),
        "{message}"
    );
    let message = refused(&query("limit=20"), 422, "--max-query-features");
    assert!(message.contains("20 features"), "{message}");
    refused(&query("lod=centroids"), 422, "--max-query-features");
    for q in ["limit=5", "limit=10"] {
        let r = query(q);
        assert_eq!(r.status, 200, "{q}: {}", r.text());
        assert_eq!(json_of(&r)["truncated"], true, "{q}");
    }
    // A region with fewer features is answered whole.
    let r = query("bbox=0,0,200,200");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(json_of(&r)["truncated"], false);
    // The viewer's automatic level of detail never exceeds the limit.
    for q in ["lod=auto", "lod=auto&format=binary", "lod=density"] {
        assert_eq!(query(q).status, 200, "{q}");
    }
    assert_eq!(
        server
            .get(&format!("/api/slides/{SYN}/annotations/summary"))
            .status,
        200
    );
}

#[test]
fn queries_beyond_the_query_timeout_are_503() {
    let data = data();
    let server = Server::start(data.path(), &["--query-timeout-s", "0"]);
    for path in ["annotations", "annotations?lod=auto", "annotations/summary"] {
        let r = server.get(&format!("/api/slides/{SYN}/{path}"));
        let message = refused(&r, 503, "--query-timeout-s");
        assert!(message.contains("time limit of 0 s"), "{message}");
    }
    drop(server);
    let server = Server::start(data.path(), &["--query-timeout-s", "30"]);
    for path in ["annotations", "annotations/summary"] {
        let r = server.get(&format!("/api/slides/{SYN}/{path}"));
        assert_eq!(r.status, 200, "{path}: {}", r.text());
    }
}

#[test]
fn requests_beyond_the_request_timeout_are_408() {
    let data = data();
    let server = Server::start(data.path(), &["--request-timeout-s", "3"]);
    // A create whose body never comes: the handler waits for it past the limit.
    let mut stalled = std::net::TcpStream::connect(server.addr).expect("connect");
    write!(
        stalled,
        "POST /api/slides/{SYN}/annotations HTTP/1.1\r\nHost: {}\r\n\
         X-Tessera-User: local\r\nConnection: close\r\nContent-Length: 100\r\n\r\n",
        server.addr
    )
    .expect("send head");
    let mut raw = Vec::new();
    stalled.read_to_end(&mut raw).expect("408 answer");
    let answer = String::from_utf8_lossy(&raw);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("--request-timeout-s"), "{answer}");
    assert!(answer.contains("limit of 3 s"), "{answer}");
    // Requests answered in time are not touched.
    let create = format!("/api/slides/{SYN}/annotations");
    assert_eq!(
        post(&server, &create, square(700, 600, "in time").as_bytes()).status,
        201
    );
    assert_eq!(server.get("/api/slides").status, 200);
}

#[test]
fn requests_beyond_max_concurrent_are_503_with_retry_after() {
    let data = data();
    let server = Server::start(data.path(), &["--max-concurrent", "1"]);
    let body = format!(
        r#"{{"type":"FeatureCollection","features":[{}]}}"#,
        square(900, 700, "held")
    );
    // An import whose body is held back until the server asks for it (100 Continue): by
    // then it is in flight and holds the only permit.
    let mut held = std::net::TcpStream::connect(server.addr).expect("connect");
    write!(
        held,
        "POST /api/slides/{SYN}/annotations/import?layer=held HTTP/1.1\r\nHost: {}\r\n\
         X-Tessera-User: local\r\nConnection: close\r\nExpect: 100-continue\r\n\
         Content-Length: {}\r\n\r\n",
        server.addr,
        body.len()
    )
    .expect("send head");
    let mut interim = Vec::new();
    let mut byte = [0u8];
    while !interim.ends_with(b"\r\n\r\n") {
        held.read_exact(&mut byte).expect("100 Continue");
        interim.push(byte[0]);
    }
    let interim = String::from_utf8_lossy(&interim);
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim}");

    let r = server.get("/api/slides");
    let message = refused(&r, 503, "--max-concurrent");
    assert!(message.contains("limit of 1 concurrent"), "{message}");
    assert_eq!(r.header("retry-after"), Some("1"));
    // Health checks are exempt.
    assert_eq!(server.get("/healthz").status, 200);

    held.write_all(body.as_bytes()).expect("send body");
    let mut answer = String::new();
    held.read_to_string(&mut answer).expect("import answer");
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    drop(held);
    // The permit returns once the import's answer is done (the last bytes may reach the
    // client a moment before the server lets go of the body).
    let mut status = 0;
    for _ in 0..100 {
        status = server.get("/api/slides").status;
        if status == 200 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(status, 200);
}
