//! Access control and the review workflow, end to end: every role (and no token) against
//! every read and write endpoint; schemas, review steps, blind mode, pre-labels, sessions.

use std::fmt::Write as _;
use tessera_e2e::world::{SLIDE, World, square, world};
use tessera_e2e::{HttpResponse, tessera, tessera_ok};

/// Who may do what: the expected status per caller, in the order of [`CALLERS`].
const CALLERS: [&str; 7] = ["none", "gone", "outsider", "vie", "ann", "rev", "adm"];

/// A request made as one caller.
type Request = dyn Fn(&World, &str) -> HttpResponse;

/// One row of the matrix: a request, made fresh for each caller by `setup`, and the
/// status expected from each caller.
struct Row {
    what: &'static str,
    expect: [u16; 7],
    run: Box<Request>,
}

fn row(
    what: &'static str,
    expect: [u16; 7],
    run: impl Fn(&World, &str) -> HttpResponse + 'static,
) -> Row {
    Row {
        what,
        expect,
        run: Box::new(run),
    }
}

fn get(path: &'static str) -> impl Fn(&World, &str) -> HttpResponse {
    move |w, who| w.call(who, "GET", path, "")
}

#[test]
#[allow(clippy::too_many_lines)]
fn role_matrix() {
    // Reads: no token 401, a revoked token 401, no role on the slide 403, any role 200.
    const READ: [u16; 7] = [401, 401, 403, 200, 200, 200, 200];
    let w = world(false);
    let (a, _) = w.create("ann", 100.0);
    let a_path: &'static str = Box::leak(format!("/api/annotations/{a}").into_boxed_str());
    let a_history: &'static str = Box::leak(format!("{a_path}/history").into_boxed_str());
    // A heatmap of the slide (64×48 at scale 16): its routes follow the slide's rules.
    let map = w.dir.path().join("map.png");
    image::GrayImage::from_pixel(64, 48, image::Luma([7]))
        .save(&map)
        .expect("map");
    tessera_ok(&[
        &"heatmap", &"import", &"--data", &w.data, &"s", &map, &"--name", &"h",
    ]);
    let mut rows = vec![
        row(
            "GET /api/slides",
            [401, 401, 200, 200, 200, 200, 200],
            get("/api/slides"),
        ),
        row(
            "GET /api/projects",
            [401, 401, 200, 200, 200, 200, 200],
            get("/api/projects"),
        ),
        row("GET /api/projects/p", READ, get("/api/projects/p")),
        row(
            "GET /api/projects/p/schema",
            READ,
            get("/api/projects/p/schema"),
        ),
        row("GET /api/slides/s", READ, get("/api/slides/s")),
        row(
            "GET /api/slides/s/schema",
            READ,
            get("/api/slides/s/schema"),
        ),
        row("GET thumbnail", READ, get("/api/slides/s/thumbnail?max=64")),
        row("GET /dzi/s.dzi", READ, get("/dzi/s.dzi")),
        row("GET /dzi/s.json", READ, get("/dzi/s.json")),
        row("GET DZI tile", READ, get("/dzi/s_files/0/0_0.jpg")),
        row("GET plain tile", READ, get("/slides/s/tiles/0/0/0.jpg")),
        row(
            "GET IIIF base",
            [401, 401, 403, 303, 303, 303, 303],
            get("/iiif/3/s"),
        ),
        row("GET IIIF info.json", READ, get("/iiif/3/s/info.json")),
        row(
            "GET IIIF image",
            READ,
            get("/iiif/3/s/full/64,/0/default.jpg"),
        ),
        row(
            "GET annotations",
            READ,
            get("/api/slides/s/annotations?bbox=0,0,500,500"),
        ),
        row(
            "GET summary",
            READ,
            get("/api/slides/s/annotations/summary"),
        ),
        row("GET export", READ, get("/api/slides/s/annotations/export")),
        row(
            "GET COCO export",
            READ,
            get("/api/slides/s/annotations/export?format=coco"),
        ),
        row(
            "GET patch with masks",
            READ,
            get("/api/slides/s/patch?x=0&y=0&w=64&h=64&level=0&masks=semantic,instance"),
        ),
        row("GET heatmaps", READ, get("/api/slides/s/heatmaps")),
        row(
            "GET heatmap tile",
            READ,
            get("/api/slides/s/heatmaps/h/tiles/0/0/0.png"),
        ),
        row(
            "GET heatmap value",
            READ,
            get("/api/slides/s/heatmaps/h/value?x=10&y=10"),
        ),
        row("GET annotation", READ, get(a_path)),
        row("GET history", READ, get(a_history)),
        // Public: health, metrics, the viewer's files.
        row("GET /healthz", [200; 7], get("/healthz")),
        row("GET /metrics", [200; 7], get("/metrics")),
        row("GET /", [200; 7], get("/")),
        row("GET /view/s", [200; 7], get("/view/s")),
        row(
            "GET /api/session",
            [401, 401, 200, 200, 200, 200, 200],
            get("/api/session"),
        ),
        // The slide browser, assignments and progress (issue 30).
        row(
            "GET /api/slides?limit=",
            [401, 401, 200, 200, 200, 200, 200],
            get("/api/slides?limit=10&sort=-name"),
        ),
        row(
            "GET /api/projects/p/assignments",
            READ,
            get("/api/projects/p/assignments"),
        ),
        row(
            "GET /api/projects/p/progress",
            READ,
            get("/api/projects/p/progress"),
        ),
        row(
            "GET /api/slides/s/assignment",
            READ,
            get("/api/slides/s/assignment"),
        ),
        row("GET /progress/p", [200; 7], get("/progress/p")),
    ];
    // Writes. Each caller gets a fresh target where the request needs one.
    rows.extend([
        row("POST annotation", [401, 401, 403, 403, 201, 201, 201], |w, who| {
            w.call(who, "POST", "/api/slides/s/annotations", &square(300.0, "Tumor", ""))
        }),
        row("PUT own-by-ann annotation", [401, 401, 403, 403, 200, 403, 200], |w, who| {
            let (id, v) = w.create("ann", 200.0);
            let etag = format!("\"{v}\"");
            w.call_with(who, "PUT", &format!("/api/annotations/{id}"), &square(210.0, "Stroma", ""), &[("If-Match", &etag)])
        }),
        row("PUT another annotator's", [401, 401, 403, 403, 403, 403, 200], |w, who| {
            let (id, v) = w.create("ann2", 200.0);
            let etag = format!("\"{v}\"");
            w.call_with(who, "PUT", &format!("/api/annotations/{id}"), &square(210.0, "Stroma", ""), &[("If-Match", &etag)])
        }),
        row("DELETE ann's annotation", [401, 401, 403, 403, 200, 403, 200], |w, who| {
            let (id, _) = w.create("ann", 220.0);
            w.call(who, "DELETE", &format!("/api/annotations/{id}"), "")
        }),
        row("review draft→submitted (ann's)", [401, 401, 403, 403, 200, 200, 200], |w, who| {
            let (id, _) = w.create("ann", 230.0);
            w.review(who, &id, "submitted")
        }),
        row("review submitted→reviewed (ann's)", [401, 401, 403, 403, 403, 200, 200], |w, who| {
            let (id, _) = w.create("ann", 240.0);
            assert_eq!(w.review("ann", &id, "submitted").status, 200);
            w.review(who, &id, "reviewed")
        }),
        row("review draft→approved (illegal)", [401, 401, 403, 403, 409, 409, 409], |w, who| {
            let (id, _) = w.create("ann", 250.0);
            w.review(who, &id, "approved")
        }),
        row("POST comment on ann's", [401, 401, 403, 403, 201, 201, 201], |w, who| {
            let (id, _) = w.create("ann", 270.0);
            w.call(who, "POST", &format!("/api/annotations/{id}/comments"), r#"{"comment":"see the margin"}"#)
        }),
        row("POST comment on another annotator's", [401, 401, 403, 403, 403, 201, 201], |w, who| {
            let (id, _) = w.create("ann2", 280.0);
            w.call(who, "POST", &format!("/api/annotations/{id}/comments"), r#"{"comment":"see the margin"}"#)
        }),
        row("POST undo (after own create)", [401, 401, 403, 403, 200, 200, 200], |w, who| {
            if ["ann", "rev", "adm"].contains(&who) {
                w.create(who, 260.0);
            }
            w.call(who, "POST", "/api/slides/s/undo", "")
        }),
        row("POST import", [401, 401, 403, 403, 403, 403, 201], |w, who| {
            let body = format!(r#"{{"type":"FeatureCollection","features":[{}]}}"#, square(400.0, "Stroma", ""));
            w.call(who, "POST", "/api/slides/s/annotations/import?layer=imported&new_ids=1", &body)
        }),
        row("POST pre-labels/decide", [401, 401, 403, 403, 403, 200, 200], |w, who| {
            w.call(who, "POST", "/api/slides/s/pre-labels/decide", r#"{"decision":"accept","min_confidence":0.99}"#)
        }),
        row("POST /api/projects", [401, 401, 403, 403, 403, 403, 201], |w, who| {
            w.call(who, "POST", "/api/projects", &format!(r#"{{"name":"new-{who}"}}"#))
        }),
        row("PUT /api/projects/p", [401, 401, 403, 403, 403, 403, 200], |w, who| {
            w.call(who, "PUT", "/api/projects/p", r#"{"blind":false}"#)
        }),
        row("PUT /api/projects/p/schema", [401, 401, 403, 403, 403, 403, 201], |w, who| {
            w.call(who, "PUT", "/api/projects/p/schema", r##"{"classes":[{"name":"Tumor","color":"#c83232"},{"name":"Stroma","color":"#32c832"}]}"##)
        }),
        row("PUT /api/projects/p/slides/s", [401, 401, 403, 403, 403, 403, 200], |w, who| {
            w.call(who, "PUT", "/api/projects/p/slides/s", "")
        }),
        row("GET agreement", READ, get("/api/slides/s/agreement?a=user:ann&b=user:ann2")),
        row("POST agreement consensus", [401, 401, 403, 403, 403, 201, 201], |w, who| {
            let url = format!("/api/slides/s/agreement/consensus?a=user:ann&b=user:ann2&layer=cons-{who}");
            w.call(who, "POST", &url, "")
        }),
        row("GET qc", READ, get("/api/slides/s/qc")),
        row("POST audit", [401, 401, 403, 403, 403, 201, 201], |w, who| {
            w.call(who, "POST", "/api/slides/s/audits", r#"{"fraction":0.5,"seed":7}"#)
        }),
        row("GET slide's audits", READ, get("/api/slides/s/audits")),
        // An audit of a slide the caller has no role on is as good as absent: 404.
        row("GET audit", [401, 401, 404, 200, 200, 200, 200], |w, who| {
            let id = w.audit().0;
            w.call(who, "GET", &format!("/api/audits/{id}"), "")
        }),
        row("POST audit outcome", [401, 401, 404, 403, 403, 200, 200], |w, who| {
            let (id, item) = w.audit();
            w.call(who, "POST", &format!("/api/audits/{id}/items/{item}"), r#"{"outcome":"pass"}"#)
        }),
        row("PUT /api/projects/p/assignments", [401, 401, 403, 403, 403, 403, 200], |w, who| {
            w.call(who, "PUT", "/api/projects/p/assignments", r#"{"slides":["s"],"annotators":["ann"],"reviewer":"rev"}"#)
        }),
        // Only an annotator assigned to the slide marks it done; others are told so (409).
        row("POST /api/slides/s/done", [401, 401, 403, 403, 200, 409, 409], |w, who| {
            let r = w.call("adm", "PUT", "/api/projects/p/assignments", r#"{"slides":["s"],"annotators":["ann"]}"#);
            assert_eq!(r.status, 200, "{}", r.text());
            w.call(who, "POST", "/api/slides/s/done", r#"{"dry_run":true}"#)
        }),
        row("POST /api/session", [400, 401, 200, 200, 200, 200, 200], |w, who| {
            w.call(who, "POST", "/api/session", "")
        }),
    ]);
    let mut table = String::new();
    let mut wrong = Vec::new();
    for r in &rows {
        let mut line = format!("{:<38}", r.what);
        for (i, who) in CALLERS.iter().enumerate() {
            let got = (r.run)(&w, who);
            let _ = write!(line, " {who}={}", got.status);
            if got.status != r.expect[i] {
                wrong.push(format!(
                    "{} as {who}: expected {}, got {} {}",
                    r.what,
                    r.expect[i],
                    got.status,
                    got.text()
                ));
            }
            if got.status == 403 {
                assert!(
                    got.text().contains("needs role"),
                    "a 403 names the role needed: {}",
                    got.text()
                );
            }
        }
        table.push_str(&line);
        table.push('\n');
    }
    eprintln!("{table}");
    assert!(
        wrong.is_empty(),
        "{} cells differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // The slide list hides slides the caller has no role on.
    let listed = w.call("outsider", "GET", "/api/slides", "");
    assert_eq!(listed.text(), "[]");
}

#[test]
fn tokens_stay_out_of_urls_and_sessions_are_safe_cookies() {
    let w = world(false);
    let r = w
        .server
        .get(&format!("/api/slides?token={}", w.tokens["vie"]));
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("Authorization"));
    // A tile client on another origin may send its token: the preflight allows it.
    let pre = w.server.request(
        "OPTIONS",
        "/iiif/3/s/info.json",
        &[
            ("Origin", "https://viewer.example"),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "authorization"),
        ],
        b"",
    );
    assert!(pre.status < 300, "{}", pre.status);
    assert!(
        pre.header("access-control-allow-headers")
            .is_some_and(|h| h.to_ascii_lowercase().contains("authorization")),
        "{:?}",
        pre.headers
    );
    let r = w.call("vie", "POST", "/api/session", "");
    assert_eq!(r.status, 200);
    let cookie = r
        .header("set-cookie")
        .expect("a session cookie")
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let sid = cookie.split(';').next().expect("name=value");
    let who = w.server.get_with("/api/session", &[("Cookie", sid)]);
    assert_eq!(who.status, 200);
    assert!(who.text().contains("\"user\":\"vie\""), "{}", who.text());
    assert_eq!(
        w.server
            .get_with("/api/slides/s", &[("Cookie", sid)])
            .status,
        200
    );
    // Revoking the user ends their session at once.
    tessera_ok(&[&"user", &"revoke", &"vie", &"--data", &w.data]);
    assert_eq!(
        w.server
            .get_with("/api/slides/s", &[("Cookie", sid)])
            .status,
        401
    );
    assert_eq!(w.call("vie", "GET", "/api/slides/s", "").status, 401);
    // The token itself is stored only hashed.
    let db = tessera_e2e::access_store_bytes(&w.data);
    for token in w.tokens.values() {
        assert!(
            !contains(&db, token.as_bytes()),
            "a token is stored in clear"
        );
    }
    let listed = tessera_ok(&[&"user", &"list", &"--data", &w.data]);
    assert!(
        listed.contains("vie") && listed.contains("REVOKED"),
        "{listed}"
    );
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn single_user_mode_listens_on_loopback_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = tessera(&[&"serve", &"--data", &dir.path(), &"--addr", &"0.0.0.0:0"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("loopback") && err.contains("tessera user add"),
        "{err}"
    );
}

#[test]
fn schemas_refuse_unknown_classes_and_nothing_changes() {
    let w = world(false);
    let before = w.export_ids();
    let r = w.call(
        "ann",
        "POST",
        "/api/slides/s/annotations",
        &square(10.0, "Necrosis", ""),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(
        r.text().contains("Necrosis") && r.text().contains("schema"),
        "{}",
        r.text()
    );
    // An import with one unknown class among valid ones stores nothing.
    let body = format!(
        r#"{{"type":"FeatureCollection","features":[{},{}]}}"#,
        square(10.0, "Tumor", ""),
        square(100.0, "Mitosis", "")
    );
    let r = w.call(
        "adm",
        "POST",
        "/api/slides/s/annotations/import?layer=x",
        &body,
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("Mitosis"));
    assert_eq!(w.export_ids(), before);
    // Mapped explicitly, it goes in with the schema's colour.
    let map = serde_json::json!({"Mitosis": "Tumor"}).to_string();
    let r = w.call(
        "adm",
        "POST",
        &format!(
            "/api/slides/s/annotations/import?layer=x&map_classes={}",
            urlencode(&map)
        ),
        &body,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let file = w.data.join("cells.geojson");
    std::fs::write(&file, &body).expect("write");
    let map_file = w.data.join("map.csv");
    std::fs::write(&map_file, "# incoming,schema\nMitosis,Stroma\n").expect("write");
    let out = tessera(&[&"import", &"--data", &w.data, &SLIDE, &file, &"--new-ids"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"Mitosis\" is not in project \"p\""));
    tessera_ok(&[
        &"import",
        &"--data",
        &w.data,
        &SLIDE,
        &file,
        &"--new-ids",
        &"--map-classes",
        &map_file,
    ]);
    let r = w.call("vie", "GET", "/api/slides/s/schema", "");
    assert!(
        r.text().contains("exclude in-situ"),
        "the guideline is served: {}",
        r.text()
    );
    // The project's schema history comes from the server's own store.
    let r = w.call("adm", "GET", "/api/projects/p/schema", "");
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(v["versions"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["versions"][0]["classes"][0]["name"], "Tumor", "{v}");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn writes_carry_quality_warnings_and_blind_annotators_get_no_reports() {
    let w = world(true);
    // A 2×2 px square: stored, with a small-area warning.
    let tiny = r#"{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[10,10],[12,10],[12,12],[10,12],[10,10]]]},"properties":{"classification":{"name":"Tumor"}}}"#;
    let r = w.call("ann", "POST", "/api/slides/s/annotations", tiny);
    assert_eq!(r.status, 201, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(v["qc"][0]["check"], "small-area", "{v}");
    let (clean, _) = w.create("ann", 100.0);
    let r = w.call("ann", "GET", &format!("/api/annotations/{clean}"), "");
    assert!(!r.text().contains("\"qc\""));
    // Blind mode: reports that list others' work need a reviewer.
    for path in [
        "/api/slides/s/qc",
        "/api/slides/s/audits",
        "/api/slides/s/agreement?a=ann&b=ann2",
    ] {
        let r = w.call("ann", "GET", path, "");
        assert_eq!(r.status, 403, "{path}: {}", r.text());
        assert!(r.text().contains("needs role reviewer"), "{}", r.text());
    }
    assert_eq!(w.call("rev", "GET", "/api/slides/s/qc", "").status, 200);
}

#[test]
fn review_steps_are_recorded_with_comments() {
    let w = world(false);
    let (id, _) = w.create("ann", 10.0);
    assert_eq!(w.review("ann", &id, "submitted").status, 200);
    let r = w.review("rev", &id, "approved");
    assert_eq!(
        r.status,
        409,
        "submitted cannot jump to approved: {}",
        r.text()
    );
    assert!(
        r.text().contains("reviewed"),
        "the error lists the legal steps: {}",
        r.text()
    );
    assert_eq!(w.review("rev", &id, "reviewed").status, 200);
    assert_eq!(w.review("adm", &id, "approved").status, 200);
    let h = w.call("vie", "GET", &format!("/api/annotations/{id}/history"), "");
    let v: serde_json::Value = serde_json::from_slice(&h.body).expect("json");
    let steps: Vec<(String, String, String)> = v["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter(|e| e["kind"] == "review")
        .map(|e| {
            (
                e["author"].as_str().unwrap_or_default().to_string(),
                e["detail"]["to"].as_str().unwrap_or_default().to_string(),
                e["detail"]["comment"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("ann".into(), "submitted".into(), "by ann".into()),
            ("rev".into(), "reviewed".into(), "by rev".into()),
            ("adm".into(), "approved".into(), "by adm".into()),
        ]
    );
}

#[test]
fn comments_join_the_history_without_a_step_and_undo_passes_over_them() {
    let w = world(false);
    let (id, version) = w.create("ann", 10.0);
    assert_eq!(w.review("ann", &id, "submitted").status, 200);
    assert_eq!(w.review("rev", &id, "rejected").status, 200);
    let r = w.call(
        "ann",
        "POST",
        &format!("/api/annotations/{id}/comments"),
        r#"{"comment":"  the lower gland is stroma, not tumour  "}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(v["kind"], "comment");
    assert_eq!(v["author"], "ann");
    assert_eq!(
        v["detail"]["comment"],
        "the lower gland is stroma, not tumour"
    );
    // Empty comments are refused; the annotation is unchanged by a comment.
    let empty = w.call(
        "ann",
        "POST",
        &format!("/api/annotations/{id}/comments"),
        r#"{"comment":"   "}"#,
    );
    assert_eq!(empty.status, 400, "{}", empty.text());
    let now = w.call("vie", "GET", &format!("/api/annotations/{id}"), "");
    let f: serde_json::Value = serde_json::from_slice(&now.body).expect("json");
    assert_eq!(f["properties"]["status"], "rejected");
    assert_eq!(f["properties"]["version"], version + 2);
    let h = w.call("vie", "GET", &format!("/api/annotations/{id}/history"), "");
    let v: serde_json::Value = serde_json::from_slice(&h.body).expect("json");
    let kinds: Vec<(String, String)> = v["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or_default().to_string(),
                e["author"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("create".into(), "ann".into()),
            ("review".into(), "ann".into()),
            ("review".into(), "rev".into()),
            ("comment".into(), "ann".into()),
        ]
    );
    // Undo passes over the comment: ann's last undoable change is her submit, which the
    // rejection has changed since.
    let undo = w.call("ann", "POST", "/api/slides/s/undo", "");
    assert_eq!(undo.status, 409, "{}", undo.text());
    assert!(undo.text().contains("changed since"), "{}", undo.text());
    // The reviewer's undo still finds the rejection (their comment would not count either).
    let r = w.call(
        "rev",
        "POST",
        &format!("/api/annotations/{id}/comments"),
        r#"{"comment":"ok, rework it"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let undo = w.call("rev", "POST", "/api/slides/s/undo", "");
    assert_eq!(undo.status, 200, "{}", undo.text());
    assert!(
        undo.text().contains("\"kind\":\"review\""),
        "{}",
        undo.text()
    );
}

#[test]
fn blind_annotators_see_only_their_work_pre_labels_and_reviewed_work() {
    let w = world(true);
    let (mine, _) = w.create("ann", 10.0);
    let (theirs, _) = w.create("ann2", 100.0);
    let (reviewed, _) = w.create("ann2", 200.0);
    assert_eq!(w.review("ann2", &reviewed, "submitted").status, 200);
    assert_eq!(w.review("rev", &reviewed, "reviewed").status, 200);
    let model = format!(
        r#"{{"type":"FeatureCollection","features":[{}]}}"#,
        square(300.0, "Tumor", r#","confidence":0.9"#)
    );
    let r = w.call("adm", "POST", "/api/slides/s/annotations/import?layer=hovernet&provenance=model&model=hovernet&model_version=1.2", &model);
    assert_eq!(r.status, 201, "{}", r.text());
    let ids = |who: &str| {
        let r = w.call(who, "GET", "/api/slides/s/annotations", "");
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
        let mut ids: Vec<String> = v["features"]
            .as_array()
            .expect("features")
            .iter()
            .map(|f| f["id"].as_str().unwrap_or_default().to_string())
            .collect();
        ids.sort();
        ids
    };
    let seen = ids("ann");
    assert!(seen.contains(&mine) && seen.contains(&reviewed) && !seen.contains(&theirs));
    assert_eq!(seen.len(), 3, "own, reviewed and the pre-label: {seen:?}");
    assert_eq!(ids("rev").len(), 4, "reviewers see everything");
    assert_eq!(
        w.call("ann", "GET", &format!("/api/annotations/{theirs}"), "")
            .status,
        404
    );
    let export = w.call("ann", "GET", "/api/slides/s/annotations/export", "");
    assert!(!export.text().contains(&theirs));
    assert!(export.text().contains(&mine));
    let summary = w.call("ann", "GET", "/api/slides/s/annotations/summary", "");
    assert!(
        summary.text().starts_with("{\"count\":3"),
        "{}",
        summary.text()
    );
}

#[test]
fn pre_labels_are_decided_in_bulk_and_edits_make_them_model_edited() {
    let w = world(false);
    let features: Vec<String> = [(10.0, 0.95), (100.0, 0.6), (200.0, 0.97), (300.0, 0.99)]
        .iter()
        .map(|(x, c)| square(*x, "Tumor", &format!(r#","confidence":{c}"#)))
        .collect();
    let body = format!(
        r#"{{"type":"FeatureCollection","features":[{}]}}"#,
        features.join(",")
    );
    let r = w.call("adm", "POST", "/api/slides/s/annotations/import?layer=model&provenance=model&model=hovernet&model_version=1.2", &body);
    assert_eq!(r.status, 201, "{}", r.text());
    let all = w.call("ann", "GET", "/api/slides/s/annotations", "");
    let v: serde_json::Value = serde_json::from_slice(&all.body).expect("json");
    let feats = v["features"].as_array().expect("features").clone();
    assert!(
        feats
            .iter()
            .all(|f| f["properties"]["model"]["name"] == "hovernet"
                && f["properties"]["model"]["version"] == "1.2"
                && f["properties"]["provenance"] == "model")
    );
    // An annotator corrects the one at x=300: it becomes theirs, model-edited.
    let edited = feats
        .iter()
        .find(|f| f["geometry"]["coordinates"][0][0][0] == 300.0)
        .expect("x=300");
    let id = edited["id"].as_str().expect("id");
    let r = w.call_with(
        "ann",
        "PUT",
        &format!("/api/annotations/{id}"),
        &square(305.0, "Tumor", r#","confidence":0.99"#),
        &[("If-Match", "1")],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(v["properties"]["provenance"], "model-edited");
    assert_eq!(v["properties"]["author"], "ann");
    // Accept every pending pre-label with confidence ≥ 0.9 in x < 250: two of them,
    // counted first by a dry run that decides nothing.
    let r = w.call(
        "rev",
        "POST",
        "/api/slides/s/pre-labels/decide",
        r#"{"decision":"accept","bbox":"0,0,250,100","min_confidence":0.9,"dry_run":true}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("\"matching\":2"), "{}", r.text());
    let r = w.call("rev", "POST", "/api/slides/s/pre-labels/decide", r#"{"decision":"accept","bbox":"0,0,250,100","min_confidence":0.9,"comment":"looks right"}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("\"decided\":2"), "{}", r.text());
    let r = w.call(
        "rev",
        "POST",
        "/api/slides/s/pre-labels/decide",
        r#"{"decision":"reject"}"#,
    );
    assert!(
        r.text().contains("\"decided\":1"),
        "only x=100 is pending: {}",
        r.text()
    );
    let statuses = w.call("vie", "GET", "/api/slides/s/annotations/summary", "");
    let v: serde_json::Value = serde_json::from_slice(&statuses.body).expect("json");
    assert_eq!(v["by_status"]["approved"]["count"], 2);
    assert_eq!(v["by_status"]["rejected"]["count"], 1);
    assert_eq!(v["by_status"]["draft"]["count"], 1);
    let count = |q: &str| {
        let r = w.call(
            "vie",
            "GET",
            &format!("/api/slides/s/annotations/summary?{q}"),
            "",
        );
        serde_json::from_slice::<serde_json::Value>(&r.body).expect("json")["count"].clone()
    };
    assert_eq!(count("provenance=model"), 3);
    assert_eq!(count("provenance=model-edited"), 1);
    assert_eq!(count("provenance=human,model-edited"), 1);
}

fn json(r: &HttpResponse) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()))
}

fn annotators(v: &serde_json::Value) -> Vec<String> {
    v["annotators"]
        .as_array()
        .expect("annotators")
        .iter()
        .map(|a| a["user"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn assignments_follow_roles_and_blind_mode_keeps_annotators_apart() {
    let w = world(true);
    let r = w.call(
        "adm",
        "PUT",
        "/api/projects/p/assignments",
        r#"{"slides":["s"],"annotators":["ann","ann2"],"reviewer":"rev"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(json(&r)["added"], 3);
    w.create("ann", 100.0);
    w.create("ann2", 300.0);
    w.create("ann2", 400.0);
    // An annotator of a blind project sees their own assignment and counts only.
    let list = json(&w.call("ann", "GET", "/api/slides?assignee=me", ""));
    assert_eq!(list["total"], 1, "{list}");
    let row = &list["slides"][0];
    assert_eq!(annotators(row), ["ann"], "{row}");
    assert_eq!(row["counts"]["draft"], 1, "{row}");
    assert_eq!(row["state"], "in_progress");
    assert_eq!(row["mine"], "annotator");
    // Filtering by another annotator finds nothing for them: they do not see who else annotates.
    let other = json(&w.call("ann", "GET", "/api/slides?assignee=ann2", ""));
    assert_eq!(other["total"], 0, "{other}");
    let one = json(&w.call("ann", "GET", "/api/slides/s/assignment", ""));
    assert_eq!(annotators(&one), ["ann"]);
    assert_eq!(one["reviewer"], "rev");
    let all = json(&w.call("ann", "GET", "/api/projects/p/assignments", ""));
    assert_eq!(annotators(&all["assignments"][0]), ["ann"], "{all}");
    let progress = json(&w.call("ann", "GET", "/api/projects/p/progress", ""));
    assert_eq!(progress["blind"], true);
    assert_eq!(
        progress["annotators"].as_array().map(Vec::len),
        Some(1),
        "{progress}"
    );
    assert_eq!(progress["annotators"][0]["user"], "ann");
    assert_eq!(progress["annotations"]["draft"], 1, "{progress}");
    // The reviewer sees everyone.
    let rev = json(&w.call("rev", "GET", "/api/slides?limit=5", ""));
    assert_eq!(annotators(&rev["slides"][0]), ["ann", "ann2"]);
    assert_eq!(rev["slides"][0]["counts"]["draft"], 3);
    assert_eq!(rev["slides"][0]["state"], "in_progress");
    let progress = json(&w.call("rev", "GET", "/api/projects/p/progress", ""));
    assert_eq!(progress["annotators"].as_array().map(Vec::len), Some(2));

    // Mark done: the confirmation's list, then the drafts submitted and the state moved.
    let preview = json(&w.call("ann2", "POST", "/api/slides/s/done", r#"{"dry_run":true}"#));
    assert_eq!(
        preview["drafts"].as_array().map(Vec::len),
        Some(2),
        "{preview}"
    );
    let done = json(&w.call("ann2", "POST", "/api/slides/s/done", ""));
    assert_eq!(
        done["submitted"].as_array().map(Vec::len),
        Some(2),
        "{done}"
    );
    assert_eq!(done["state"], "submitted");
    let rev = json(&w.call("rev", "GET", "/api/slides/s/assignment", ""));
    let states: Vec<&str> = rev["annotators"]
        .as_array()
        .expect("annotators")
        .iter()
        .map(|a| a["state"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(states, ["in_progress", "submitted"], "{rev}");
    assert_eq!(
        rev["state"], "in_progress",
        "the slide is as far as its least advanced annotator"
    );
    let submitted = json(&w.call("rev", "GET", "/api/slides?state=submitted", ""));
    assert_eq!(
        submitted["total"], 0,
        "the slide's state is in_progress: {submitted}"
    );
    // The default answer of /api/slides is the plain array it always was.
    let plain = json(&w.call("rev", "GET", "/api/slides", ""));
    assert_eq!(plain.as_array().map(Vec::len), Some(1));
    assert_eq!(plain[0]["id"], "s");
}

#[test]
fn bad_assignments_and_list_parameters_are_named() {
    let w = world(false);
    let cases = [
        (
            r#"{"slides":["s"],"annotators":["nobody"]}"#,
            "no user \"nobody\"",
        ),
        (
            r#"{"slides":["s"],"annotators":["vie"]}"#,
            "user \"vie\" cannot be the annotator",
        ),
        (
            r#"{"slides":["s"],"reviewer":"ann"}"#,
            "user \"ann\" cannot be the reviewer",
        ),
        (
            r#"{"slides":["zz"],"annotators":["ann"]}"#,
            "\"zz\" (in no project)",
        ),
        (r#"{"slides":["s"]}"#, "name an annotator"),
        (
            r#"{"slides":["s"],"annotators":["ann"],"extra":1}"#,
            "unknown field",
        ),
    ];
    for (body, says) in cases {
        let r = w.call("adm", "PUT", "/api/projects/p/assignments", body);
        assert_eq!(r.status, 422, "{body}: {}", r.text());
        let error = json(&r)["error"].as_str().unwrap_or_default().to_string();
        assert!(error.contains(says), "{body}: {error}");
    }
    assert_eq!(
        w.call(
            "adm",
            "PUT",
            "/api/projects/q/assignments",
            r#"{"slides":["s"],"annotators":["ann"]}"#
        )
        .status,
        422,
        "s is in project p, not q"
    );
    for (query, says) in [
        ("limit=0", "limit \"0\""),
        ("limit=5000", "limit \"5000\""),
        ("sort=colour", "sort \"colour\""),
        ("state=done", "state \"done\""),
        ("cursor=xyz", "cursor \"xyz\""),
        ("page=2", "unknown parameter \"page\""),
    ] {
        let r = w.call("vie", "GET", &format!("/api/slides?{query}"), "");
        assert_eq!(r.status, 400, "{query}: {}", r.text());
        let error = json(&r)["error"].as_str().unwrap_or_default().to_string();
        assert!(error.contains(says), "{query}: {error}");
    }
    let r = w.call("ann", "POST", "/api/slides/s/done", "");
    assert_eq!(r.status, 409);
    assert!(
        r.text().contains("tessera assign p s --annotator ann"),
        "{}",
        r.text()
    );
}

#[test]
fn tessera_assign_names_bad_users_and_slides_and_says_what_it_did() {
    let w = world(false);
    // The CLI checks as the route does, naming the user and the role.
    let out = tessera(&[
        &"assign",
        &"p",
        &"s",
        &"--annotator",
        &"vie",
        &"--data",
        &w.data,
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("user \"vie\" cannot be the annotator") && err.contains("they are viewer"),
        "{err}"
    );
    let out = tessera(&[
        &"assign",
        &"p",
        &"nope",
        &"--annotator",
        &"ann",
        &"--data",
        &w.data,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no slide \"nope\""),
        "{err}"
    );
    let ok = tessera_ok(&[
        &"assign",
        &"p",
        &"s",
        &"--annotator",
        &"ann",
        &"--reviewer",
        &"rev",
        &"--data",
        &w.data,
    ]);
    assert!(
        ok.contains("1 slide assigned to ann, rev (reviewer) (2 new assignments)"),
        "{ok}"
    );
    // The server reads what the CLI stored; the same command again adds nothing.
    let one = json(&w.call("adm", "GET", "/api/slides/s/assignment", ""));
    assert_eq!(annotators(&one), ["ann"], "{one}");
    assert_eq!(one["reviewer"], "rev", "{one}");
    let again = tessera_ok(&[
        &"assign",
        &"p",
        &"s",
        &"--annotator",
        &"ann",
        &"--reviewer",
        &"rev",
        &"--data",
        &w.data,
    ]);
    assert!(again.contains("(0 new assignments)"), "{again}");
}

#[test]
fn a_browser_session_works_on_every_server_of_the_store_until_signed_out_or_revoked() {
    let w = world(false);
    let other = tessera_e2e::Server::start(&w.data, &[]);
    let r = w.call("ann", "POST", "/api/session", "");
    assert_eq!(r.status, 200, "{}", r.text());
    let cookie = r
        .header("set-cookie")
        .expect("a session cookie")
        .to_string();
    let sid = cookie.split(';').next().expect("name=value").to_string();
    let on = |server: &tessera_e2e::Server| server.get_with("/api/session", &[("Cookie", &sid)]);
    // Opened on one server, known to the other.
    assert_eq!(on(&w.server).status, 200);
    let there = on(&other);
    assert_eq!(there.status, 200, "{}", there.text());
    assert!(
        there.text().contains("\"user\":\"ann\""),
        "{}",
        there.text()
    );
    // Signed out on the other, ended on the first within a second.
    let out = other.request("DELETE", "/api/session", &[("Cookie", &sid)], b"");
    assert!(out.status < 300, "{}", out.status);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(on(&w.server).status, 401);
    assert_eq!(on(&other).status, 401);
    // A new session, then a revocation through the command line: ended everywhere.
    let r = w.call("ann", "POST", "/api/session", "");
    let cookie = r
        .header("set-cookie")
        .expect("a session cookie")
        .to_string();
    let sid = cookie.split(';').next().expect("name=value").to_string();
    assert_eq!(
        other.get_with("/api/session", &[("Cookie", &sid)]).status,
        200
    );
    tessera_ok(&[&"user", &"revoke", &"ann", &"--data", &w.data]);
    for server in [&w.server, &other] {
        assert_eq!(
            server.get_with("/api/session", &[("Cookie", &sid)]).status,
            401
        );
    }
}
