//! Quality checks and audits end to end, through the real `tessera` binary: QC finds
//! exactly the problems planted in a fixture (on the command line and over HTTP) and
//! none on clean data; audit samples are reproducible, sized ⌈f·n⌉ and independent of
//! storage order; outcomes recorded on the command line and over HTTP are summarised.

#![allow(clippy::too_many_lines)]

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::Path;
use tessera_e2e::{HttpResponse, Server, tessera, tessera_ok};

/// Id of the slide every data directory here holds.
const SYN: &str = "syn";

/// Tiles a synthetic `width`×`height` slide as `syn` into `data`.
fn tile_synthetic(data: &Path, width: u32, height: u32) {
    let staging = tempfile::tempdir().expect("temp dir");
    let svs = staging.path().join("syn.svs");
    let (w, h) = (width.to_string(), height.to_string());
    tessera_ok(&[&"synth", &"-o", &svs, &"--width", &w, &"--height", &h]);
    tessera_ok(&[&"tile", &svs, &"-o", &data, &"--id", &SYN]);
}

/// A data directory holding a synthetic 512×512 slide `syn`.
fn synthetic_data() -> tempfile::TempDir {
    let data = tempfile::tempdir().expect("temp dir");
    tile_synthetic(data.path(), 512, 512);
    data
}

fn square_feature(id: &str, x: f64, y: f64, side: f64, class: &str) -> String {
    let (x1, y1) = (x + side, y + side);
    format!(
        r#"{{"type":"Feature","id":"{id}","geometry":{{"type":"Polygon","coordinates":[[[{x},{y}],[{x1},{y}],[{x1},{y1}],[{x},{y1}],[{x},{y}]]]}},"properties":{{"classification":{{"name":"{class}"}}}}}}"#
    )
}

/// Writes a FeatureCollection and imports it with `tessera import … --json`; returns how
/// many features it stored.
fn import(data: &Path, features: &[String], extra: &[&str]) -> u64 {
    let file = tempfile::Builder::new()
        .suffix(".geojson")
        .tempfile()
        .expect("temp file");
    let text = format!(
        r#"{{"type":"FeatureCollection","features":[{}]}}"#,
        features.join(",")
    );
    std::fs::write(file.path(), text).expect("write GeoJSON");
    let path = file.path();
    let mut args: Vec<&dyn AsRef<OsStr>> = vec![&"import", &"--data", &data, &SYN, &path];
    for e in extra {
        args.push(e);
    }
    args.push(&"--json");
    let report: Value = serde_json::from_str(&tessera_ok(&args)).expect("import report");
    report["imported"].as_u64().expect("imported count")
}

/// A fixed UUID made of `n`.
fn uuid_like(n: u128) -> String {
    let hex = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn json_of(r: &HttpResponse) -> Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("status {}: not JSON ({e}): {}", r.status, r.text()))
}

fn get_json(server: &Server, path: &str) -> Value {
    let r = server.get(path);
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    json_of(&r)
}

fn post_json(server: &Server, path: &str, user: &str, body: &Value) -> HttpResponse {
    server.request(
        "POST",
        path,
        &[
            ("X-Tessera-User", user),
            ("Content-Type", "application/json"),
        ],
        body.to_string().as_bytes(),
    )
}

// ---------------------------------------------------------------------------------------
// Quality checks.

/// One found problem: id, check, other id.
type Found = BTreeSet<(String, String, Option<String>)>;

fn found(report: &Value) -> Found {
    report["problems"]
        .as_array()
        .unwrap_or_else(|| panic!("no problems list in {report}"))
        .iter()
        .map(|p| {
            (
                p["id"].as_str().expect("id").to_string(),
                p["check"].as_str().expect("check").to_string(),
                p["other_id"].as_str().map(str::to_string),
            )
        })
        .collect()
}

/// LEB128 varint, as the store's record codec writes it.
fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The store's encoding of a one-ring Polygon (centipixels, zigzag deltas).
fn encoded_polygon(ring: &[[i64; 2]]) -> Vec<u8> {
    let mut out = vec![4, 1];
    varint(&mut out, ring.len() as u64);
    let mut last = [0i64, 0];
    for p in ring {
        for axis in 0..2 {
            let d = p[axis] - last[axis];
            varint(&mut out, ((d << 1) ^ (d >> 63)) as u64);
        }
        last = *p;
    }
    out
}

/// Turns the stored square (x, y, side in px) of annotation `id` into a bowtie by
/// swapping two vertices in its record: an invalid geometry no import would accept, as
/// a store damaged or written by other means holds.
fn make_bowtie(data: &Path, id: &str, x: i64, y: i64, side: i64) {
    let (x0, y0, x1, y1) = (x * 100, y * 100, (x + side) * 100, (y + side) * 100);
    let square = encoded_polygon(&[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]);
    let bowtie = encoded_polygon(&[[x0, y0], [x1, y1], [x1, y0], [x0, y1]]);
    let uuid = uuid_parse(id);
    let replace = |record: &[u8]| -> Vec<u8> {
        let at = record
            .windows(square.len())
            .position(|w| w == square.as_slice())
            .expect("the square's geometry in its record");
        let mut patched = record[..at].to_vec();
        patched.extend_from_slice(&bowtie);
        patched.extend_from_slice(&record[at + square.len()..]);
        patched
    };
    // As every writer of the store does, the slide's generation moves on, so that
    // readers (a server's index, the slide's snapshot on disk) know they are behind.
    if let Some(hex) = tessera_e2e::postgres_sql(
        data,
        &format!("SELECT encode(record, 'hex') FROM tessera.annotations WHERE uuid = '{id}'"),
    ) {
        let record = from_hex(hex.trim());
        let patched = replace(&record).iter().fold(String::new(), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        });
        let done = tessera_e2e::postgres_sql(
            data,
            &format!(
                "UPDATE tessera.annotations SET record = decode('{patched}', 'hex')
                 WHERE uuid = '{id}';
                 UPDATE tessera.slides SET generation = generation + 1 WHERE slide =
                     (SELECT slide FROM tessera.annotations WHERE uuid = '{id}')"
            ),
        );
        assert!(done.is_some());
        return;
    }
    let db = rusqlite::Connection::open(data.join("annotations.db")).expect("open the store");
    let record: Vec<u8> = db
        .query_row(
            "SELECT record FROM annotations WHERE uuid = ?1",
            [&uuid[..]],
            |r| r.get(0),
        )
        .expect("the square's record");
    let n = db
        .execute(
            "UPDATE annotations SET record = ?1 WHERE uuid = ?2",
            rusqlite::params![replace(&record), &uuid[..]],
        )
        .expect("patch the record");
    assert_eq!(n, 1);
    db.execute(
        "UPDATE slides SET generation = generation + 1 WHERE slide = \
         (SELECT slide FROM annotations WHERE uuid = ?1)",
        [&uuid[..]],
    )
    .expect("bump the slide's generation");
}

fn from_hex(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

fn uuid_parse(text: &str) -> Vec<u8> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    from_hex(&hex)
}

#[test]
fn qc_finds_exactly_the_planted_problems_and_nothing_on_clean_data() {
    let data = synthetic_data();
    let id = |n: u128| uuid_like(n);
    let clean = [
        square_feature(&id(1), 10.0, 10.0, 20.0, "Tumor"),
        // Overlaps the first by 1 px × 20 px: 5 %, under the limit.
        square_feature(&id(2), 29.0, 10.0, 20.0, "Tumor"),
        // Overlaps the first wholly, but is of another class.
        square_feature(&id(3), 12.0, 12.0, 10.0, "Stroma"),
        square_feature(&id(4), 100.0, 10.0, 3.2, "Stroma"),
    ];
    let planted = [
        square_feature(&id(10), 100.0, 100.0, 2.0, "Tumor"),
        square_feature(&id(11), 200.0, 200.0, 20.0, "Tumor"),
        square_feature(&id(12), 205.0, 200.0, 20.0, "Tumor"),
        square_feature(&id(13), 300.0, 300.0, 20.0, "Tumor"),
        square_feature(&id(14), 440.0, 440.0, 20.0, "Stroma"),
        square_feature(&id(15), 100.0, 300.0, 20.0, "Fat"),
    ];
    let mut all = clean.to_vec();
    all.extend(planted);
    assert_eq!(import(data.path(), &all, &["--layer", "cells"]), 10);
    // The same square as 11 in another layer: layers are not compared with each other.
    let other_layer = [square_feature(&id(20), 200.0, 200.0, 20.0, "Tumor")];
    assert_eq!(import(data.path(), &other_layer, &["--layer", "review"]), 1);
    make_bowtie(data.path(), &id(13), 300, 300, 20);
    // The slide is re-tiled smaller: square 14 now lies beyond its edge.
    tile_synthetic(data.path(), 400, 400);

    let expected: Found = [
        (id(10), "small-area", None),
        (id(11), "overlap", Some(id(12))),
        (id(13), "invalid-geometry", None),
        (id(14), "outside-slide", None),
        (id(15), "class-not-in-schema", None),
    ]
    .into_iter()
    .map(|(a, c, o)| (a, c.to_string(), o))
    .collect();

    let out = tessera(&[
        &"qc",
        &"--data",
        &data.path(),
        &SYN,
        &"--classes",
        &"Tumor,Stroma",
        &"--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "problems found exit 1");
    let cli: Value = serde_json::from_slice(&out.stdout).expect("qc --json");
    assert_eq!(found(&cli), expected, "{cli:#}");
    assert_eq!(cli["checked"], 11);
    assert_eq!(cli["total"], 5);
    assert_eq!(cli["truncated"], false);
    for check in [
        "invalid-geometry",
        "small-area",
        "overlap",
        "outside-slide",
        "class-not-in-schema",
    ] {
        assert_eq!(cli["counts"][check], 1, "{check}");
    }
    let details: BTreeMap<&str, &str> = cli["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| {
            (
                p["check"].as_str().expect("check"),
                p["detail"].as_str().expect("detail"),
            )
        })
        .collect();
    assert!(details["small-area"].contains("4.00 px²"), "{details:?}");
    assert!(details["overlap"].contains("75.0%"), "{details:?}");
    assert!(details["invalid-geometry"].contains("self-intersection"));
    assert!(
        details["outside-slide"].contains("(400, 400)"),
        "{details:?}"
    );
    assert!(details["class-not-in-schema"].contains("\"Fat\""));

    // The text form lists the same problems, one a line.
    let out = tessera(&[
        &"qc",
        &"--data",
        &data.path(),
        &SYN,
        &"--classes",
        &"Tumor,Stroma",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("5 problems"), "{text}");
    for (a, check, _) in &expected {
        assert!(text.contains(&format!("{a}  {check}  ")), "{text}");
    }
    // Without a schema there is no class check; thresholds move the others.
    let out = tessera(&[
        &"qc",
        &"--data",
        &data.path(),
        &SYN,
        &"--min-area",
        &"3",
        &"--max-overlap",
        &"0.8",
        &"--json",
    ]);
    let loose: Value = serde_json::from_slice(&out.stdout).expect("qc --json");
    let checks: BTreeSet<&str> = loose["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| p["check"].as_str().expect("check"))
        .collect();
    assert_eq!(
        checks,
        BTreeSet::from(["invalid-geometry", "outside-slide"]),
        "{loose:#}"
    );
    let bad = tessera(&[&"qc", &"--data", &data.path(), &SYN, &"--max-overlap", &"2"]);
    assert_eq!(bad.status.code(), Some(2), "a bad threshold is an error");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("max_overlap"));

    // Over HTTP: the same report; filters and limits.
    let server = Server::start(data.path(), &[]);
    let http = get_json(&server, "/api/slides/syn/qc?classes=Tumor,Stroma");
    assert_eq!(found(&http), expected, "{http:#}");
    assert_eq!(http["counts"], cli["counts"]);
    let limited = get_json(&server, "/api/slides/syn/qc?classes=Tumor,Stroma&limit=2");
    assert_eq!(limited["problems"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        (limited["total"].clone(), limited["truncated"].clone()),
        (json!(5), json!(true))
    );
    let boxed = get_json(&server, "/api/slides/syn/qc?bbox=0,0,60,60");
    assert_eq!(
        (boxed["checked"].clone(), boxed["total"].clone()),
        (json!(3), json!(0)),
        "{boxed:#}"
    );
    let layer = get_json(&server, "/api/slides/syn/qc?layer=review");
    assert_eq!(
        (layer["checked"].clone(), layer["total"].clone()),
        (json!(1), json!(0))
    );
    let r = server.get("/api/slides/syn/qc?max_overlap=1.5");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        json_of(&r)["error"]
            .as_str()
            .unwrap_or("")
            .contains("max_overlap")
    );
    assert_eq!(server.get("/api/slides/nope/qc").status, 404);
    drop(server);

    // Clean data: the synthetic cells of a slide.
    let cells_data = synthetic_data();
    let cells = cells_data.path().join("cells.geojson");
    tessera_ok(&[
        &"synth-cells",
        &"-o",
        &cells,
        &"--width",
        &"512",
        &"--height",
        &"512",
    ]);
    tessera_ok(&[&"import", &"--data", &cells_data.path(), &SYN, &cells]);
    let out = tessera(&[&"qc", &"--data", &cells_data.path(), &SYN]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("no problems"));
    let server = Server::start(cells_data.path(), &[]);
    let http = get_json(&server, "/api/slides/syn/qc");
    assert_eq!(http["total"], 0, "{http:#}");
    assert!(http["checked"].as_u64().unwrap_or(0) > 100, "{http:#}");
}

// ---------------------------------------------------------------------------------------
// Audits.

/// The annotations of a data directory for audits: the synthetic cells by `ana` (layer
/// `cells`) and 14 squares by `bo` (layer `manual`), imported in the given order.
fn audit_data(cells_first: bool) -> (tempfile::TempDir, u64) {
    let data = synthetic_data();
    let cells = data.path().join("cells.geojson");
    tessera_ok(&[
        &"synth-cells",
        &"-o",
        &cells,
        &"--width",
        &"512",
        &"--height",
        &"512",
    ]);
    let squares: Vec<String> = (0..14u32)
        .map(|i| {
            let class = if i % 2 == 0 { "Tumor" } else { "Stroma" };
            square_feature(
                &uuid_like(1000 + u128::from(i)),
                f64::from(i) * 30.0,
                480.0,
                10.0,
                class,
            )
        })
        .collect();
    let import_cells = || {
        let out = tessera_ok(&[
            &"import",
            &"--data",
            &data.path(),
            &SYN,
            &cells,
            &"--layer",
            &"cells",
            &"--author",
            &"ana",
            &"--json",
        ]);
        let v: Value = serde_json::from_str(&out).expect("import report");
        v["imported"].as_u64().expect("imported")
    };
    let mut n = 0;
    if cells_first {
        n += import_cells();
    }
    n += import(
        data.path(),
        &squares,
        &["--layer", "manual", "--author", "bo"],
    );
    if !cells_first {
        n += import_cells();
    }
    (data, n)
}

/// `tessera audit sample … --json`.
fn cli_sample(data: &Path, fraction: &str, seed: &str, extra: &[&str]) -> Value {
    let mut args: Vec<&dyn AsRef<OsStr>> = vec![
        &"audit",
        &"sample",
        &"--data",
        &data,
        &"--slide",
        &SYN,
        &"--fraction",
        &fraction,
        &"--seed",
        &seed,
        &"--json",
    ];
    for e in extra {
        args.push(e);
    }
    serde_json::from_str(&tessera_ok(&args)).expect("sample --json")
}

fn item_ids(sample: &Value) -> Vec<String> {
    sample["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {sample}"))
        .iter()
        .map(|i| i["id"].as_str().expect("item id").to_string())
        .collect()
}

#[test]
fn audit_samples_are_reproducible_and_outcomes_are_summarised() {
    let (data, n) = audit_data(true);
    assert!(n > 100, "{n} annotations");
    let n = usize::try_from(n).expect("a count");
    let first = cli_sample(data.path(), "0.15", "42", &["--by", "ana-lead"]);
    let again = cli_sample(data.path(), "0.15", "42", &[]);
    let other = cli_sample(data.path(), "0.15", "43", &[]);
    let ids = item_ids(&first);
    assert_eq!(ids.len(), (15 * n).div_ceil(100), "⌈0.15 × {n}⌉");
    assert_eq!(first["eligible"], json!(n));
    assert_eq!(item_ids(&again), ids, "the same seed draws the same sample");
    assert_ne!(first["id"], again["id"], "each draw is an audit of its own");
    assert_ne!(item_ids(&other), ids, "another seed draws another sample");
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        ids.len(),
        "no annotation twice"
    );
    assert_eq!(first["created_by"], "ana-lead");

    // The same annotations stored in another order: the same sample.
    let (reordered, n2) = audit_data(false);
    assert_eq!(n2 as usize, n);
    assert_eq!(
        item_ids(&cli_sample(reordered.path(), "0.15", "42", &[])),
        ids
    );

    // Filters: only Tumor cells by ana; the size follows the filtered count.
    let server = Server::start(data.path(), &[]);
    let summary = get_json(
        &server,
        "/api/slides/syn/annotations/summary?layer=cells&class=Tumor",
    );
    let tumor = usize::try_from(summary["count"].as_u64().expect("count")).expect("a count");
    let filtered = cli_sample(
        data.path(),
        "0.3",
        "42",
        &["--class", "Tumor", "--layer", "cells"],
    );
    assert_eq!(filtered["eligible"], json!(tumor));
    assert_eq!(
        item_ids(&filtered).len(),
        (3 * tumor).div_ceil(10),
        "⌈0.3 × {tumor}⌉"
    );
    assert!(
        filtered["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|i| i["class"] == "Tumor" && i["author"] == "ana")
    );

    // Over HTTP: the same seed draws the same sample.
    let r = post_json(
        &server,
        "/api/slides/syn/audits",
        "rev",
        &json!({"fraction": 0.15, "seed": 42}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let created = json_of(&r);
    assert_eq!(item_ids(&created), ids);
    assert_eq!(created["created_by"], "rev");
    let audit = created["id"].as_i64().expect("audit id");
    assert_eq!(
        r.header("location"),
        Some(format!("/api/audits/{audit}").as_str())
    );
    for (body, status, says) in [
        (json!({"fraction": 0, "seed": 1}), 422, "fraction 0"),
        (json!({"fraction": 1.5, "seed": 1}), 422, "fraction 1.5"),
        (json!({"seed": 1}), 422, "fraction"),
        (
            json!({"fraction": 0.5, "seed": 1, "author": "nobody"}),
            422,
            "nothing to audit",
        ),
        (
            json!({"fraction": 0.5, "seed": 1, "status": "done"}),
            400,
            "done",
        ),
    ] {
        let r = post_json(&server, "/api/slides/syn/audits", "rev", &body);
        assert_eq!(r.status, status, "{body}: {}", r.text());
        assert!(
            json_of(&r)["error"].as_str().unwrap_or("").contains(says),
            "{body}: {}",
            r.text()
        );
    }
    assert_eq!(
        post_json(
            &server,
            "/api/slides/nope/audits",
            "rev",
            &json!({"fraction": 0.5, "seed": 1})
        )
        .status,
        404
    );

    // Outcomes: three on the command line (one recorded twice), two over HTTP.
    let dir = data.path();
    let record = |id: &str, outcome: &str, extra: &[&str]| {
        let a = audit.to_string();
        let mut args: Vec<&dyn AsRef<OsStr>> = vec![
            &"audit",
            &"record",
            &"--data",
            &dir,
            &a,
            &id,
            &"--outcome",
            &outcome,
        ];
        for e in extra {
            args.push(e);
        }
        tessera(&args)
    };
    let cli_outcomes = [(0, "pass"), (1, "fail"), (2, "pass")];
    for (i, outcome) in cli_outcomes {
        let out = record(&ids[i], outcome, &["--by", "cli-rev"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = record(
        &ids[2],
        "fail",
        &["--comment", "nucleus missed", "--by", "cli-rev2"],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("replacing pass"));
    let out = record(&ids[3], "maybe", &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"maybe\""));
    let r = post_json(
        &server,
        &format!("/api/audits/{audit}/items/{}", ids[3]),
        "http-rev",
        &json!({"outcome": "pass", "comment": "good outline"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(json_of(&r)["recorded_by"], "http-rev");
    let r = post_json(
        &server,
        &format!("/api/audits/{audit}/items/{}", ids[4]),
        "http-rev",
        &json!({"outcome": "fail"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = post_json(
        &server,
        &format!("/api/audits/{audit}/items/{}", ids[5]),
        "http-rev",
        &json!({"outcome": "maybe"}),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(
        json_of(&r)["error"]
            .as_str()
            .unwrap_or("")
            .contains("\"maybe\"")
    );
    let outsider = item_ids(&other)
        .into_iter()
        .find(|id| !ids.contains(id))
        .expect("an annotation outside the sample");
    let r = post_json(
        &server,
        &format!("/api/audits/{audit}/items/{outsider}"),
        "http-rev",
        &json!({"outcome": "pass"}),
    );
    assert_eq!(r.status, 404, "{}", r.text());
    let r = post_json(
        &server,
        &format!("/api/audits/999999/items/{}", ids[0]),
        "http-rev",
        &json!({"outcome": "pass"}),
    );
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(server.get("/api/audits/999999").status, 404);

    // The summary: overall, per class and per audited author.
    let shown = get_json(&server, &format!("/api/audits/{audit}"));
    let outcomes: BTreeMap<&str, &str> = [
        (ids[0].as_str(), "pass"),
        (ids[1].as_str(), "fail"),
        (ids[2].as_str(), "fail"),
        (ids[3].as_str(), "pass"),
        (ids[4].as_str(), "fail"),
    ]
    .into();
    let s = &shown["summary"];
    assert_eq!(s["items"], json!(ids.len()));
    assert_eq!(
        (s["recorded"].clone(), s["pass"].clone(), s["fail"].clone()),
        (json!(5), json!(2), json!(3))
    );
    assert_eq!(s["pending"], json!(ids.len() - 5));
    assert_eq!(s["pass_rate"], json!(0.4));
    let mut by_author: BTreeMap<String, [u64; 3]> = BTreeMap::new();
    let mut by_class: BTreeMap<String, [u64; 3]> = BTreeMap::new();
    for item in shown["items"].as_array().expect("items") {
        let column = match outcomes.get(item["id"].as_str().expect("id")) {
            None => 0,
            Some(&"pass") => 1,
            Some(_) => 2,
        };
        assert_eq!(
            item["outcome"].as_str(),
            [None, Some("pass"), Some("fail")][column],
            "{item}"
        );
        for (map, key) in [(&mut by_author, "author"), (&mut by_class, "class")] {
            map.entry(item[key].as_str().expect("key").to_string())
                .or_default()[column] += 1;
        }
    }
    for (field, expected) in [("by_author", by_author), ("by_class", by_class)] {
        let got = s[field].as_object().expect("groups");
        assert_eq!(got.len(), expected.len(), "{field}: {s:#}");
        for (name, [pending, pass, fail]) in expected {
            let t = &got[&name];
            assert_eq!(
                (
                    t["pending"].as_u64(),
                    t["pass"].as_u64(),
                    t["fail"].as_u64()
                ),
                (Some(pending), Some(pass), Some(fail)),
                "{field} {name}"
            );
            assert_eq!(t["items"].as_u64(), Some(pending + pass + fail));
        }
    }
    let replaced = &shown["items"][2];
    assert_eq!(
        (
            replaced["comment"].as_str(),
            replaced["recorded_by"].as_str()
        ),
        (Some("nucleus missed"), Some("cli-rev2")),
        "recording again replaces outcome, comment and who"
    );

    // The command line's summary and list agree.
    let a = audit.to_string();
    let cli: Value = serde_json::from_str(&tessera_ok(&[
        &"audit",
        &"summary",
        &"--data",
        &data.path(),
        &a,
        &"--json",
    ]))
    .expect("summary --json");
    assert_eq!(cli["summary"], shown["summary"]);
    let text = tessera_ok(&[&"audit", &"summary", &"--data", &data.path(), &a]);
    assert!(
        text.contains("5 recorded") && text.contains("pass rate 40.0%"),
        "{text}"
    );
    let listed = get_json(&server, "/api/slides/syn/audits");
    let audits = listed["audits"].as_array().expect("audits");
    assert_eq!(audits.len(), 5, "{listed:#}");
    let mine = audits
        .iter()
        .find(|x| x["id"] == json!(audit))
        .expect("listed");
    assert_eq!(
        (mine["size"].clone(), mine["recorded"].clone()),
        (json!(ids.len()), json!(5))
    );
    let text = tessera_ok(&[&"audit", &"list", &"--data", &data.path(), &"--slide", &SYN]);
    assert_eq!(text.lines().count(), 5, "{text}");
}
