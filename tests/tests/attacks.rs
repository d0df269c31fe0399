//! The attack suite: each test replays, against a real `tessera serve`, one hole an
//! attacker found (cross-site control of a local server, authorization on another slide
//! than the one served, slide theft between projects, blind-mode side channels, revived
//! sessions, forged pre-labels, starved budgets, misattributed imports, and the smaller
//! ones), and checks that it stays closed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use tessera_e2e::world::{slide_dir, square, world};
use tessera_e2e::{HttpResponse, Server, tessera, tessera_ok};

const EVIL: &str = "http://evil.example";

/// A single-user server (no accounts) on a small synthetic slide `s`.
fn single_user(extra: &[&str]) -> (tempfile::TempDir, Server) {
    let (dir, data) = slide_dir(600, 400);
    let server = Server::start(&data, extra);
    (dir, server)
}

fn json(r: &HttpResponse) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null)
}

fn feature_count(server: &Server) -> usize {
    let r = server.get("/api/slides/s/annotations/export");
    assert_eq!(r.status, 200, "{}", r.text());
    json(&r)["features"].as_array().map_or(0, Vec::len)
}

#[test]
#[expect(clippy::too_many_lines, reason = "one attack, every way in")]
fn pages_of_other_origins_cannot_drive_a_single_user_server() {
    let (_dir, server) = single_user(&["--cors-origin", "https://lab.example"]);
    let own = format!("http://{}", server.addr);
    let other_port = format!("http://127.0.0.1:{}", server.addr.port() + 1);
    let created = server.request(
        "POST",
        "/api/slides/s/annotations",
        &[("Origin", &own)],
        square(10.0, "Tumor", "").as_bytes(),
    );
    assert_eq!(created.status, 201, "same origin: {}", created.text());
    let id = json(&created)["id"].as_str().expect("id").to_string();
    let one = format!("/api/annotations/{id}");
    // Writes from other origins, as a page would send them without a preflight.
    for origin in [EVIL, other_port.as_str(), "null", "http://localhost:1"] {
        let text_plain = [("Origin", origin), ("Content-Type", "text/plain")];
        let post = server.request(
            "POST",
            "/api/slides/s/annotations",
            &text_plain,
            square(100.0, "Tumor", "").as_bytes(),
        );
        assert_eq!(post.status, 403, "POST from {origin}: {}", post.text());
        let with_version = [("Origin", origin), ("If-Match", "\"1\"")];
        let put = server.request(
            "PUT",
            &one,
            &with_version,
            square(300.0, "Stroma", "").as_bytes(),
        );
        assert_eq!(put.status, 403, "PUT from {origin}");
        assert_eq!(
            server
                .request("DELETE", &one, &[("Origin", origin)], b"")
                .status,
            403
        );
        let import = server.request(
            "POST",
            "/api/slides/s/annotations/import?new_ids=1",
            &text_plain,
            br#"{"type":"FeatureCollection","features":[]}"#,
        );
        assert_eq!(import.status, 403, "import from {origin}");
        assert_eq!(
            server
                .request("POST", "/api/slides/s/undo", &text_plain, b"")
                .status,
            403
        );
        // Reads of the API from another origin are refused too, and never readable.
        let export = server.get_with("/api/slides/s/annotations/export", &[("Origin", origin)]);
        assert_eq!(export.status, 403, "export from {origin}");
        assert!(export.header("access-control-allow-origin").is_none());
        let preflight = server.request(
            "OPTIONS",
            "/api/slides/s/annotations",
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
            ],
            b"",
        );
        assert!(preflight.header("access-control-allow-origin").is_none());
    }
    assert_eq!(feature_count(&server), 1, "nothing was changed");
    assert_eq!(server.get(&one).status, 200);
    // DNS rebinding: another name for this address is not this server.
    let rebound = server.get_with(
        "/api/slides/s/annotations/export",
        &[("Host", "rebind.evil.example")],
    );
    assert_eq!(rebound.status, 421, "{}", rebound.text());
    let sneaky = server.request(
        "POST",
        "/api/slides/s/annotations",
        &[("Host", "rebind.evil.example:80")],
        square(500.0, "Tumor", "").as_bytes(),
    );
    assert_eq!(sneaky.status, 421);
    assert_eq!(
        server
            .get_with("/api/slides/s", &[("Host", "localhost")])
            .status,
        200
    );
    // Tiles, Deep Zoom and IIIF stay open to every origin, without credentials.
    for path in [
        "/dzi/s.dzi",
        "/dzi/s_files/0/0_0.jpg",
        "/slides/s/tiles/0/0/0.jpg",
        "/iiif/3/s/info.json",
    ] {
        let r = server.get_with(path, &[("Origin", EVIL)]);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{path}");
        assert!(r.header("access-control-allow-credentials").is_none());
    }
    // A trusted origin may use every route.
    let lab = server.request(
        "POST",
        "/api/slides/s/annotations",
        &[("Origin", "https://lab.example")],
        square(200.0, "Tumor", "").as_bytes(),
    );
    assert_eq!(lab.status, 201, "{}", lab.text());
    assert_eq!(
        lab.header("access-control-allow-origin"),
        Some("https://lab.example")
    );
    // Tools without a browser (curl, scripts) send no Origin and work as before.
    assert_eq!(
        server
            .request(
                "POST",
                "/api/slides/s/annotations",
                &[],
                square(400.0, "Tumor", "").as_bytes()
            )
            .status,
        201
    );
}

#[test]
fn the_role_is_checked_on_the_slide_that_is_served() {
    let w = world(false);
    // A second slide in another project, where `ann` has no role.
    let svs = w.dir.path().join("x.svs");
    tessera_ok(&[
        &"synth",
        &"-o",
        &svs,
        &"--width",
        &"300",
        &"--height",
        &"200",
    ]);
    tessera_ok(&[&"tile", &svs, &"-o", &w.data, &"--id", &"x"]);
    tessera_ok(&[&"project", &"add-slide", &"q", &"x", &"--data", &w.data]);
    for path in [
        "/api/slides/x",
        "/dzi/x.dzi",
        "/dzi/x.json",
        "/dzi/x_files/0/0_0.jpg",
        "/api/slides/x/annotations?bbox=0,0,10,10",
    ] {
        assert_eq!(w.call("ann", "GET", path, "").status, 403, "{path}");
    }
    // Ids Deep Zoom cannot tell apart are refused by `tile` and never served.
    for id in ["s_files", "s.json", "s.dzi"] {
        let out = tessera(&[&"tile", &svs, &"-o", &w.data, &"--id", &id]);
        assert!(!out.status.success(), "{id}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("Deep Zoom"),
            "{id}"
        );
    }
    std::fs::copy(w.data.join("x.tess"), w.data.join("s_files.tess")).expect("copy");
    std::fs::copy(w.data.join("x.tess"), w.data.join("s.json.tess")).expect("copy");
    for path in [
        "/api/slides/s_files",
        "/api/slides/s_files/annotations?bbox=0,0,10,10",
        "/api/slides/s.json/annotations/export",
        "/dzi/s_files.dzi",
        "/dzi/s_files_files/0/0_0.jpg",
        "/dzi/s.json.json",
    ] {
        let r = w.call("ann", "GET", path, "");
        assert!(r.status == 403 || r.status == 404, "{path}: {}", r.status);
    }
    let post = w.call(
        "ann",
        "POST",
        "/api/slides/s_files/annotations",
        &square(10.0, "Tumor", ""),
    );
    assert!(post.status == 403 || post.status == 404, "{}", post.status);
    // The slide the role is on is served as before.
    assert_eq!(w.call("ann", "GET", "/dzi/s.dzi", "").status, 200);
    assert_eq!(
        w.call("ann", "GET", "/dzi/s_files/0/0_0.jpg", "").status,
        200
    );
}

#[test]
fn a_project_admin_cannot_take_another_projects_slide() {
    let w = world(false);
    // `outsider` is an admin of project q only; `s` is in project p.
    let r = w.call("outsider", "PUT", "/api/projects/q/slides/s", "");
    assert_eq!(r.status, 403, "{}", r.text());
    let p = w.call("adm", "GET", "/api/projects/p", "");
    assert!(
        json(&p)["slides"]
            .as_array()
            .is_some_and(|s| s.iter().any(|v| v == "s"))
    );
    assert_eq!(
        w.call("adm", "PUT", "/api/projects/q/slides/s", "").status,
        200
    );
}

/// Ids of the features an answer holds.
fn ids_in(v: &serde_json::Value) -> Vec<String> {
    v["features"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|f| f["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one test per side channel would repeat the setup"
)]
fn blind_mode_hides_existence_not_just_bodies() {
    let w = world(true);
    // ann2's work, hidden from ann: one Stroma region under where ann will draw, and one
    // deleted since.
    let hidden = w.call(
        "ann2",
        "POST",
        "/api/slides/s/annotations",
        &square(100.0, "Stroma", ""),
    );
    assert_eq!(hidden.status, 201, "{}", hidden.text());
    let hidden_id = json(&hidden)["id"].as_str().expect("id").to_string();
    let (gone, _) = w.create("ann2", 600.0);
    assert_eq!(
        w.call("ann2", "DELETE", &format!("/api/annotations/{gone}"), "")
            .status,
        200
    );
    // An overlapping annotation of the same class: no finding names the hidden one.
    let mine = w.call(
        "ann",
        "POST",
        "/api/slides/s/annotations",
        &square(110.0, "Stroma", ""),
    );
    assert_eq!(mine.status, 201);
    assert!(!mine.text().contains(&hidden_id), "{}", mine.text());
    let mine_id = json(&mine)["id"].as_str().expect("id").to_string();
    let moved = w.call_with(
        "ann",
        "PUT",
        &format!("/api/annotations/{mine_id}"),
        &square(105.0, "Stroma", ""),
        &[("If-Match", "\"1\"")],
    );
    assert_eq!(moved.status, 200);
    assert!(!moved.text().contains(&hidden_id), "{}", moved.text());
    // The reviewer sees the overlap, so the check itself still runs.
    let seen = w.call_with("rev", "GET", "/api/slides/s/qc", "", &[]);
    assert!(seen.text().contains(&hidden_id), "{}", seen.text());
    // A deleted annotation's history is as hidden as the annotation was.
    assert_eq!(
        w.call(
            "ann",
            "GET",
            &format!("/api/annotations/{gone}/history"),
            ""
        )
        .status,
        404
    );
    assert_eq!(
        w.call(
            "rev",
            "GET",
            &format!("/api/annotations/{gone}/history"),
            ""
        )
        .status,
        200
    );
    // Summaries count only what the caller sees, and say nothing of the whole index.
    let summary = json(&w.call("ann", "GET", "/api/slides/s/annotations/summary", ""));
    assert_eq!(summary["count"], 1, "{summary}");
    assert!(summary.get("index").is_none(), "{summary}");
    // Class tables name only what the answer holds.
    for q in [
        "lod=density",
        "lod=centroids",
        "format=binary",
        "format=binary&lod=density",
    ] {
        let r = w.call(
            "ann",
            "GET",
            &format!("/api/slides/s/annotations?bbox=0,0,1024,768&{q}&class=Tumor"),
            "",
        );
        assert_eq!(r.status, 200, "{q}");
        assert!(
            !r.body.windows(6).any(|x| x == b"Stroma"),
            "{q}: {}",
            r.text()
        );
    }
    // An id in use elsewhere is not confirmed by a 409.
    let taken = format!(
        r#"{{"type":"Feature","id":"{hidden_id}","geometry":{{"type":"Point","coordinates":[500,500]}},"properties":{{"classification":{{"name":"Tumor"}}}}}}"#
    );
    let reuse = w.call("ann", "POST", "/api/slides/s/annotations", &taken);
    assert_eq!(reuse.status, 201, "{}", reuse.text());
    assert_ne!(json(&reuse)["id"], hidden_id.as_str());
    let again = taken.replace(&hidden_id, &gone);
    let reuse_gone = w.call("ann", "POST", "/api/slides/s/annotations", &again);
    assert_eq!(reuse_gone.status, 201, "{}", reuse_gone.text());
    assert_ne!(json(&reuse_gone)["id"], gone.as_str());
    // ann's own ids still answer 409, as a retried save expects, and one of ann's own
    // deleted annotations comes back under its id (a redo of an undone create).
    let (own_gone, _) = w.create("ann", 800.0);
    assert_eq!(
        w.call("ann", "DELETE", &format!("/api/annotations/{own_gone}"), "")
            .status,
        200
    );
    let revived = w.call(
        "ann",
        "POST",
        "/api/slides/s/annotations",
        &taken.replace(&hidden_id, &own_gone),
    );
    assert_eq!(revived.status, 201, "{}", revived.text());
    assert_eq!(json(&revived)["id"], own_gone.as_str());
    // Other sites' pages cannot load API answers as images or scripts.
    let img = w.call_with(
        "ann",
        "GET",
        "/api/slides/s/thumbnail?max=64",
        "",
        &[
            ("Sec-Fetch-Site", "same-site"),
            ("Sec-Fetch-Mode", "no-cors"),
        ],
    );
    assert_eq!(img.status, 403);
    let own_img = w.call_with(
        "ann",
        "GET",
        "/api/slides/s/thumbnail?max=64",
        "",
        &[("Sec-Fetch-Site", "same-origin")],
    );
    assert_eq!(own_img.status, 200);
    assert_eq!(
        own_img.header("cross-origin-resource-policy"),
        Some("same-origin")
    );
    let own = taken.replace(&hidden_id, &mine_id);
    assert_eq!(
        w.call("ann", "POST", "/api/slides/s/annotations", &own)
            .status,
        409
    );
    // And the hidden annotation is untouched.
    let still = json(&w.call("rev", "GET", &format!("/api/annotations/{hidden_id}"), ""));
    assert_eq!(still["properties"]["author"], "ann2");
    assert!(
        ids_in(&json(&w.call(
            "ann",
            "GET",
            "/api/slides/s/annotations?bbox=0,0,1024,768",
            ""
        )))
        .iter()
        .all(|i| *i != hidden_id)
    );
}

/// The session cookie `POST /api/session` sets for `token`.
fn sign_in(server: &Server, token: &str) -> String {
    let auth = format!("Bearer {token}");
    let r = server.request("POST", "/api/session", &[("Authorization", &auth)], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let cookie = r.header("set-cookie").expect("a cookie");
    cookie.split(';').next().expect("name=value").to_string()
}

#[test]
fn revoked_sessions_stay_ended_after_a_new_token() {
    let w = world(false);
    let cookie = sign_in(&w.server, &w.tokens["vie"]);
    assert_eq!(
        w.server
            .get_with("/api/slides/s", &[("Cookie", &cookie)])
            .status,
        200
    );
    tessera_ok(&[&"user", &"revoke", &"vie", &"--data", &w.data]);
    let token = tessera_ok(&[&"user", &"token", &"vie", &"--data", &w.data]);
    let token = token.trim();
    assert_eq!(
        w.server
            .get_with("/api/slides/s", &[("Cookie", &cookie)])
            .status,
        401
    );
    // The new token works, and so does a session opened with it.
    let auth = format!("Bearer {token}");
    assert_eq!(
        w.server
            .get_with("/api/slides/s", &[("Authorization", &auth)])
            .status,
        200
    );
    let fresh = sign_in(&w.server, token);
    assert_eq!(
        w.server
            .get_with("/api/slides/s", &[("Cookie", &fresh)])
            .status,
        200
    );
}

#[test]
fn annotators_cannot_forge_model_pre_labels() {
    let w = world(false);
    let forged = square(
        300.0,
        "Tumor",
        r#","provenance":"model","confidence":0.99,"model":{"name":"segmenter","version":"9"},"created":"2001-01-01T00:00:00Z""#,
    );
    let r = w.call("ann", "POST", "/api/slides/s/annotations", &forged);
    assert_eq!(r.status, 201, "{}", r.text());
    let v = json(&r);
    let p = &v["properties"];
    assert_eq!(p["provenance"], "human", "{v}");
    assert!(
        p.get("confidence").is_none_or(serde_json::Value::is_null),
        "{v}"
    );
    assert!(p.get("model").is_none(), "{v}");
    assert!(
        !p["created"].as_str().unwrap_or("2001").starts_with("2001"),
        "{v}"
    );
    assert_eq!(p["author"], "ann");
    // A reviewer's bulk decision on pre-labels does not take it.
    let decided = w.call(
        "rev",
        "POST",
        "/api/slides/s/pre-labels/decide",
        r#"{"decision":"accept"}"#,
    );
    assert_eq!(decided.status, 200, "{}", decided.text());
    let id = v["id"].as_str().expect("id");
    let now = json(&w.call("rev", "GET", &format!("/api/annotations/{id}"), ""));
    assert_eq!(now["properties"]["status"], "draft", "{now}");
    // An edit cannot make it a model's either.
    let version = p["version"].as_u64().expect("version");
    let edit = w.call_with(
        "ann",
        "PUT",
        &format!("/api/annotations/{id}"),
        &square(310.0, "Tumor", r#","provenance":"model","confidence":0.5"#),
        &[("If-Match", &format!("\"{version}\""))],
    );
    assert_eq!(edit.status, 200, "{}", edit.text());
    assert_eq!(json(&edit)["properties"]["provenance"], "human");
}

/// Opens a request that announces a body and never sends it.
fn stalled_body(server: &Server) -> TcpStream {
    let mut s = TcpStream::connect(server.addr).expect("connect");
    let head = format!(
        "POST /api/session HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{",
        server.addr
    );
    s.write_all(head.as_bytes()).expect("send");
    s
}

#[test]
fn callers_without_credentials_cannot_starve_signed_in_users() {
    let w = world(false);
    drop(w.server);
    let server = Server::start(&w.data, &["--max-concurrent", "3", "--max-anonymous", "2"]);
    let stalled: Vec<TcpStream> = (0..6).map(|_| stalled_body(&server)).collect();
    std::thread::sleep(Duration::from_millis(300));
    let auth = format!("Bearer {}", w.tokens["vie"]);
    for _ in 0..3 {
        let r = server.get_with("/api/slides/s", &[("Authorization", &auth)]);
        assert_eq!(r.status, 200, "{}", r.text());
    }
    // Beyond their own budget, callers without credentials are turned away at once.
    let anonymous = server.get("/api/session");
    assert_eq!(anonymous.status, 503, "{}", anonymous.text());
    assert!(anonymous.text().contains("--max-anonymous"));
    // Those beyond the budget were turned away at once; those within it are let go of
    // within seconds, their stalled bodies given up.
    let answers: Vec<String> = stalled
        .into_iter()
        .map(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(20)))
                .expect("timeout");
            let mut answer = Vec::new();
            let _ = s.read_to_end(&mut answer);
            String::from_utf8_lossy(&answer)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    let timed_out = answers
        .iter()
        .filter(|a| a.starts_with("HTTP/1.1 408"))
        .count();
    let turned_away = answers
        .iter()
        .filter(|a| a.starts_with("HTTP/1.1 503"))
        .count();
    assert!(
        timed_out >= 1 && timed_out + turned_away == answers.len(),
        "{answers:?}"
    );
}

#[test]
fn an_import_is_the_importers_change_whatever_its_author() {
    let w = world(false);
    let body = format!(
        r#"{{"type":"FeatureCollection","features":[{}]}}"#,
        square(700.0, "Tumor", "")
    );
    let r = w.call(
        "adm",
        "POST",
        "/api/slides/s/annotations/import?provenance=model&model=ann&model_version=1&new_ids=1",
        &body,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    // A user named like the model cannot undo it; the admin who imported can.
    let by_ann = w.call("ann", "POST", "/api/slides/s/undo", "");
    assert_eq!(by_ann.status, 409, "{}", by_ann.text());
    assert_eq!(w.export_ids().len(), 1);
    let by_adm = w.call("adm", "POST", "/api/slides/s/undo", "");
    assert_eq!(by_adm.status, 200, "{}", by_adm.text());
    assert!(w.export_ids().is_empty());
}

#[test]
fn audits_are_not_counted_or_named_to_outsiders() {
    let w = world(false);
    let _ = w.create("ann", 100.0);
    let (first, _) = w.audit();
    let (second, _) = w.audit();
    assert!(
        first.abs_diff(second) > 1 && first.max(second) > 1 << 20,
        "{first} {second}"
    );
    let r = w.call("outsider", "GET", &format!("/api/audits/{first}"), "");
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(!r.text().contains("\"s\""), "{}", r.text());
    assert_eq!(
        w.call("vie", "GET", &format!("/api/audits/{first}"), "")
            .status,
        200
    );
}

#[test]
fn what_one_user_may_see_is_not_cached_for_others() {
    let w = world(false);
    let auth = format!("Bearer {}", w.tokens["vie"]);
    for path in [
        "/dzi/s_files/0/0_0.jpg",
        "/slides/s/tiles/0/0/0.jpg",
        "/api/slides/s/thumbnail?max=64",
        "/iiif/3/s/full/64,/0/default.jpg",
    ] {
        let r = w.server.get_with(path, &[("Authorization", &auth)]);
        assert_eq!(r.status, 200, "{path}");
        let cache = r.header("cache-control").unwrap_or_default();
        assert!(
            cache.contains("private") && !cache.contains("public"),
            "{path}: {cache}"
        );
        let vary = r
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("vary"));
        assert!(
            vary.map(|(_, v)| v.as_str())
                .any(|v| v.contains("Authorization")),
            "{path}"
        );
    }
    // Without users, tiles stay publicly cacheable.
    let (_dir, single) = single_user(&[]);
    let r = single.get("/slides/s/tiles/0/0/0.jpg");
    assert!(
        r.header("cache-control")
            .is_some_and(|c| c.contains("public"))
    );
}

#[test]
fn deep_metadata_and_inflating_imports_are_refused() {
    let (_dir, server) = single_user(&["--max-import-mb", "1"]);
    let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
    let feature = square(10.0, "Tumor", &format!(r#","metadata":{deep}"#));
    let r = server.request("POST", "/api/slides/s/annotations", &[], feature.as_bytes());
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("64"), "{}", r.text());
    let file = format!(r#"{{"type":"FeatureCollection","features":[{feature}]}}"#);
    let r = server.request(
        "POST",
        "/api/slides/s/annotations/import",
        &[],
        file.as_bytes(),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    // 4 MB of features that gzip to a few kilobytes: the limit counts what they inflate to.
    let one = square(10.0, "Tumor", "");
    let many = vec![one.as_str(); 4 << 20 >> 8].join(",");
    let big = format!(r#"{{"type":"FeatureCollection","features":[{many}]}}"#);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(big.as_bytes()).expect("gzip");
    let gz = gz.finish().expect("gzip");
    assert!(gz.len() < 1 << 20);
    let r = server.request(
        "POST",
        "/api/slides/s/annotations/import?new_ids=1",
        &[],
        &gz,
    );
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.text().contains("--max-import-mb"), "{}", r.text());
    assert_eq!(feature_count(&server), 0);
}

#[test]
fn a_write_that_changes_nothing_on_anothers_annotation_is_refused() {
    let w = world(false);
    let (id, version) = w.create("ann", 100.0);
    let same = square(100.0, "Tumor", "");
    let r = w.call_with(
        "ann2",
        "PUT",
        &format!("/api/annotations/{id}"),
        &same,
        &[("If-Match", &format!("\"{version}\""))],
    );
    assert_eq!(r.status, 403, "{}", r.text());
    let now = json(&w.call("ann", "GET", &format!("/api/annotations/{id}"), ""));
    assert_eq!(now["properties"]["version"], version);
}

#[test]
fn urls_the_server_gives_out_are_its_own() {
    let (_dir, server) = single_user(&["--public-url", "https://tessera.example.org/wsi/"]);
    let r = server.get_with("/iiif/3/s/info.json", &[("Host", "tessera.example.org")]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(json(&r)["id"], "https://tessera.example.org/wsi/iiif/3/s");
    let r = server.get("/iiif/3/s");
    assert_eq!(
        r.header("location"),
        Some("https://tessera.example.org/wsi/iiif/3/s/info.json")
    );
    assert_eq!(
        server
            .get_with("/iiif/3/s/info.json", &[("Host", "evil.example")])
            .status,
        421
    );
}

#[test]
fn tokens_hold_256_random_bits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut fourth_nibble_varies = false;
    for i in 0..16 {
        let name = format!("u{i}");
        let token = tessera_ok(&[
            &"user",
            &"add",
            &name,
            &"--role",
            &"viewer",
            &"--data",
            &dir.path(),
        ]);
        let hex = token.trim().strip_prefix("tsr_").expect("prefix");
        assert_eq!(hex.len(), 64);
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
        // Two UUIDs v4 would put a '4' (the version) at places 12 and 44, always.
        fourth_nibble_varies |= &hex[12..13] != "4" || &hex[44..45] != "4";
    }
    assert!(fourth_nibble_varies, "tokens are built from UUIDs");
}

#[test]
fn pages_carry_headers_that_keep_them_in_their_frame() {
    let (_dir, server) = single_user(&[]);
    for path in ["/", "/view/s", "/api/slides/s"] {
        let r = server.get(path);
        assert_eq!(r.status, 200, "{path}");
        let csp = r.header("content-security-policy").unwrap_or_default();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{path}: {csp}"
        );
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
    }
}

#[test]
fn metrics_are_for_this_machine_or_an_admin() {
    let w = world(false);
    assert_eq!(w.server.get("/metrics").status, 200);
    let proxied = [("X-Forwarded-For", "203.0.113.9")];
    assert_eq!(w.server.get_with("/metrics", &proxied).status, 401);
    let auth = format!("Bearer {}", w.tokens["vie"]);
    assert_eq!(
        w.server
            .get_with("/metrics", &[proxied[0], ("Authorization", &auth)])
            .status,
        403
    );
    let admin = format!("Bearer {}", w.tokens["adm"]);
    assert_eq!(
        w.server
            .get_with("/metrics", &[proxied[0], ("Authorization", &admin)])
            .status,
        200
    );
}
