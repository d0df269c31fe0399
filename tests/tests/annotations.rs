//! The annotation engine end to end, through the real `tessera` binary: import and export
//! round trips on real and synthetic data, every way an import can be refused (over HTTP
//! and on the command line), every shape QuPath writes, and edits with versions, history
//! and undo, filters, levels of detail, the binary format and summaries.

#![allow(clippy::too_many_lines)]

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use tessera_e2e::{HttpResponse, Server, tessera, tessera_ok};

/// Id of the slide every synthetic data directory holds.
const SYN: &str = "syn";

// ---------------------------------------------------------------------------------------
// Set-up and small helpers.

/// A data directory holding one synthetic slide `syn` of `width`×`height` pixels.
fn synthetic_data(width: u32, height: u32) -> tempfile::TempDir {
    let staging = tempfile::tempdir().expect("temp dir");
    let svs = staging.path().join("syn.svs");
    let (w, h) = (width.to_string(), height.to_string());
    tessera_ok(&[&"synth", &"-o", &svs, &"--width", &w, &"--height", &h]);
    let data = tempfile::tempdir().expect("temp dir");
    tessera_ok(&[&"tile", &svs, &"-o", &data.path(), &"--id", &SYN]);
    data
}

/// A data directory holding `slide` tiled under the id `id`.
fn tiled(slide: &Path, id: &str) -> tempfile::TempDir {
    let data = tempfile::tempdir().expect("temp dir");
    tessera_ok(&[&"tile", &slide, &"-o", &data.path(), &"--id", &id]);
    data
}

/// `tessera synth-cells` for a `width`×`height` synthetic slide, at most `limit` cells.
fn synth_cells(out: &Path, width: u32, height: u32, limit: usize) {
    let (w, h, l) = (width.to_string(), height.to_string(), limit.to_string());
    tessera_ok(&[
        &"synth-cells",
        &"-o",
        &out,
        &"--width",
        &w,
        &"--height",
        &h,
        &"--limit",
        &l,
    ]);
}

/// `tessera import --data DATA SLIDE FILE EXTRA…`.
fn cli_import(data: &Path, slide: &str, file: &Path, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<&dyn AsRef<OsStr>> = vec![&"import", &"--data", &data, &slide, &file];
    for e in extra {
        args.push(e);
    }
    tessera(&args)
}

/// `tessera export --data DATA SLIDE -o OUT`.
fn cli_export(data: &Path, slide: &str, out: &Path) {
    tessera_ok(&[&"export", &"--data", &data, &slide, &"-o", &out]);
}

fn json_of(r: &HttpResponse) -> Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("status {}: not JSON ({e}): {}", r.status, r.text()))
}

fn import(server: &Server, slide: &str, query: &str, body: &[u8]) -> HttpResponse {
    import_as(server, "local", slide, query, body)
}

fn import_as(server: &Server, user: &str, slide: &str, query: &str, body: &[u8]) -> HttpResponse {
    server.request(
        "POST",
        &format!("/api/slides/{slide}/annotations/import{query}"),
        &[("X-Tessera-User", user)],
        body,
    )
}

/// `GET path`, which must answer 200 with JSON.
fn get_json(server: &Server, path: &str) -> Value {
    let r = server.get(path);
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    json_of(&r)
}

/// The ids of a FeatureCollection answer.
fn ids(v: &Value) -> BTreeSet<String> {
    v["features"]
        .as_array()
        .unwrap_or_else(|| panic!("no features in {v}"))
        .iter()
        .map(|f| f["id"].as_str().expect("string id").to_string())
        .collect()
}

/// How many features a query answers with (checking `count` against the list).
fn count(server: &Server, slide: &str, query: &str) -> usize {
    let v = get_json(server, &format!("/api/slides/{slide}/annotations{query}"));
    let n = v["features"].as_array().map_or(0, Vec::len);
    assert_eq!(v["count"].as_u64(), Some(n as u64), "{query}: count field");
    n
}

fn feature(geometry: &str, props: &str) -> String {
    format!(r#"{{"type":"Feature","geometry":{geometry},"properties":{props}}}"#)
}

fn classed(geometry: &str) -> String {
    feature(geometry, r#"{"classification":{"name":"Tumor"}}"#)
}

fn polygon(rings: &str) -> String {
    format!(r#"{{"type":"Polygon","coordinates":{rings}}}"#)
}

fn square(x: f64, y: f64, s: f64) -> String {
    polygon(&format!(
        "[[[{x},{y}],[{},{y}],[{},{}],[{x},{}],[{x},{y}]]]",
        x + s,
        x + s,
        y + s,
        y + s
    ))
}

fn collection(features: &[String]) -> String {
    format!(
        "{{\"type\":\"FeatureCollection\",\"features\":[\n{}\n]}}",
        features.join(",\n")
    )
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

/// Line and column (1-based) of byte `offset` of `text`.
fn line_column(text: &str, offset: usize) -> (u64, u64) {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = offset - before.rfind('\n').map_or(0, |n| n + 1) + 1;
    (line as u64, column as u64)
}

// ---------------------------------------------------------------------------------------
// Round trips.

/// A feature reduced to what a round trip must keep.
#[derive(Debug, Clone, PartialEq)]
struct Kept {
    class: String,
    kind: String,
    /// Parts → rings (or the one list of positions of a point, line or multipoint).
    parts: Vec<Vec<Vec<[f64; 2]>>>,
    /// `Null` when there are none (an empty object counts as none).
    measurements: Value,
}

fn positions(v: &Value, dedup: bool) -> Vec<[f64; 2]> {
    let mut out: Vec<[f64; 2]> = v
        .as_array()
        .unwrap_or_else(|| panic!("positions expected: {v}"))
        .iter()
        .map(|p| {
            [
                p[0].as_f64().expect("x is a number"),
                p[1].as_f64().expect("y is a number"),
            ]
        })
        .collect();
    if dedup {
        out.dedup();
    }
    out
}

fn rings(v: &Value, dedup: bool) -> Vec<Vec<[f64; 2]>> {
    v.as_array()
        .expect("rings")
        .iter()
        .map(|r| positions(r, dedup))
        .collect()
}

/// `dedup` drops consecutive duplicate vertices (the engine does; its exports have none).
fn kept(f: &Value, dedup: bool) -> Kept {
    let g = &f["geometry"];
    let c = &g["coordinates"];
    let kind = g["type"].as_str().expect("geometry type").to_string();
    let parts = match kind.as_str() {
        "Point" => vec![vec![positions(&json!([c]), false)]],
        "MultiPoint" => vec![vec![positions(c, false)]],
        "LineString" => vec![vec![positions(c, dedup)]],
        "Polygon" => vec![rings(c, dedup)],
        "MultiPolygon" => c
            .as_array()
            .expect("polygons")
            .iter()
            .map(|p| rings(p, dedup))
            .collect(),
        other => panic!("unexpected geometry {other}"),
    };
    let p = &f["properties"];
    let measurements = match &p["measurements"] {
        Value::Object(m) if m.is_empty() => Value::Null,
        m => m.clone(),
    };
    Kept {
        class: p["classification"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        kind,
        parts,
        measurements,
    }
}

/// Every feature of a GeoJSON FeatureCollection file (plain or gzip), by id.
fn features_by_id(bytes: &[u8], dedup: bool) -> BTreeMap<String, Kept> {
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        gunzip(bytes)
    } else {
        bytes.to_vec()
    };
    let doc: Value = serde_json::from_slice(&bytes).expect("GeoJSON parses");
    let mut out = BTreeMap::new();
    for f in doc["features"].as_array().expect("a FeatureCollection") {
        let id = f["id"]
            .as_str()
            .expect("every feature has an id")
            .to_string();
        let previous = out.insert(id.clone(), kept(f, dedup));
        assert!(previous.is_none(), "id {id} appears twice");
    }
    out
}

/// Same ids, classes, measurements and every vertex within 0.01 px.
fn assert_same_features(
    original: &BTreeMap<String, Kept>,
    exported: &BTreeMap<String, Kept>,
    what: &str,
) {
    let (a, b): (BTreeSet<&String>, BTreeSet<&String>) =
        (original.keys().collect(), exported.keys().collect());
    assert_eq!(
        a.len(),
        b.len(),
        "{what}: {} features in, {} out; missing {:?}, unexpected {:?}",
        a.len(),
        b.len(),
        a.difference(&b).take(5).collect::<Vec<_>>(),
        b.difference(&a).take(5).collect::<Vec<_>>()
    );
    assert_eq!(a, b, "{what}: the same ids");
    for (id, o) in original {
        let e = &exported[id];
        assert_eq!(o.class, e.class, "{what}: class of {id}");
        assert_eq!(o.kind, e.kind, "{what}: geometry type of {id}");
        assert_eq!(
            o.measurements, e.measurements,
            "{what}: measurements of {id}"
        );
        assert_eq!(o.parts.len(), e.parts.len(), "{what}: parts of {id}");
        for (po, pe) in o.parts.iter().zip(&e.parts) {
            assert_eq!(po.len(), pe.len(), "{what}: rings of {id}");
            for (ro, re) in po.iter().zip(pe) {
                assert_eq!(
                    ro.len(),
                    re.len(),
                    "{what}: vertices of {id}: {ro:?} became {re:?}"
                );
                for (vo, ve) in ro.iter().zip(re) {
                    assert!(
                        (vo[0] - ve[0]).abs() <= 0.01 + 1e-9
                            && (vo[1] - ve[1]).abs() <= 0.01 + 1e-9,
                        "{what}: vertex {vo:?} of {id} became {ve:?}"
                    );
                }
            }
        }
    }
}

/// Imports `files` into a fresh cache of `slide`, exports (plain and gzip), re-imports the
/// export into another fresh data directory and exports again; every step must keep
/// every feature.
fn round_trip(slide: &Path, files: &[PathBuf]) {
    assert!(!files.is_empty(), "nothing to round-trip");
    let mut original = BTreeMap::new();
    let first = tiled(slide, "s");
    for (i, file) in files.iter().enumerate() {
        let layer = format!("file{i}");
        let out = cli_import(
            first.path(),
            "s",
            file,
            &["--layer", layer.as_str(), "--json"],
        );
        assert!(
            out.status.success(),
            "importing {} failed: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout).expect("--json report");
        let features = features_by_id(&std::fs::read(file).expect("read input"), true);
        assert_eq!(
            report["imported"].as_u64(),
            Some(features.len() as u64),
            "{}",
            file.display()
        );
        original.extend(features);
    }
    let export1 = first.path().join("export1.geojson");
    cli_export(first.path(), "s", &export1);
    let exported = features_by_id(&std::fs::read(&export1).expect("export"), false);
    assert_same_features(&original, &exported, "first export");

    let gz = first.path().join("export1.geojson.gz");
    cli_export(first.path(), "s", &gz);
    let gz_bytes = std::fs::read(&gz).expect("gzip export");
    assert!(gz_bytes.starts_with(&[0x1f, 0x8b]), "-o x.gz writes gzip");
    let plain: Value =
        serde_json::from_slice(&std::fs::read(&export1).expect("export")).expect("JSON");
    let unzipped: Value = serde_json::from_slice(&gunzip(&gz_bytes)).expect("JSON");
    assert_eq!(plain, unzipped, "the gzip export holds the same content");

    let second = tiled(slide, "s");
    let out = cli_import(second.path(), "s", &export1, &[]);
    assert!(
        out.status.success(),
        "re-importing the export failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let export2 = second.path().join("export2.geojson");
    cli_export(second.path(), "s", &export2);
    let again = features_by_id(&std::fs::read(&export2).expect("export"), false);
    assert_same_features(&original, &again, "export of the re-imported export");
    // The gzip export imports as well.
    let third = tiled(slide, "s");
    let out = cli_import(third.path(), "s", &gz, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn real_annotations_round_trip() {
    let (Some(data), Some(cmu)) = (
        tessera_e2e::shared_data(),
        tessera_e2e::slide("CMU-1-Small-Region.svs"),
    ) else {
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(data.join("annotations"))
        .expect("shared annotations")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".geojson"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no real annotations in the shared data");
    round_trip(&cmu, &files);
}

/// Features whose hole touches the outer ring at one point are valid (OGC, JTS, QuPath,
/// Shapely); two of the real PUMA nuclei are such. Holes that cross the ring are not.
#[test]
fn a_hole_touching_the_shell_at_one_point_is_valid() {
    let data = synthetic_data(512, 512);
    let server = Server::start(data.path(), &[]);
    let touching = [
        // The hole's corner is the shell's corner.
        polygon("[[[0,0],[10,0],[10,10],[0,10],[0,0]],[[0,0],[5,2],[2,5],[0,0]]]"),
        // The hole's corner lies on the middle of a shell edge.
        polygon("[[[20,0],[30,0],[30,10],[20,10],[20,0]],[[25,0],[27,3],[23,3],[25,0]]]"),
        // As in PUMA feature 772c2eeb… (moved by −600 px to fit the test slide): a hole vertex
        // on a shell vertex of a staircase.
        polygon(
            "[[[196,337],[197,337],[199,340],[200,341],[201,341],[201,343],[206,343],\
             [206,337],[200,330],[196,335],[196,337]],[[200,340],[201,340],[201,341],[200,340]]]",
        ),
    ];
    for g in &touching {
        let r = import(
            &server,
            SYN,
            "?layer=touch",
            collection(&[classed(g)]).as_bytes(),
        );
        assert_eq!(r.status, 201, "{g}: {}", r.text());
    }
    // A hole that crosses the shell is still refused.
    let crossing = polygon("[[[0,0],[10,0],[10,10],[0,10],[0,0]],[[5,5],[15,5],[15,8],[5,5]]]");
    let r = import(
        &server,
        SYN,
        "?layer=x",
        collection(&[classed(&crossing)]).as_bytes(),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(count(&server, SYN, "?layer=touch"), touching.len());
}

/// Synthetic cells with measurements, plus every geometry type with holes, fractional and
/// slightly negative coordinates and duplicate vertices.
#[test]
fn synthetic_round_trip_keeps_ids_classes_geometry_and_measurements() {
    let dir = tempfile::tempdir().expect("temp dir");
    let svs = dir.path().join("syn.svs");
    tessera_ok(&[
        &"synth",
        &"-o",
        &svs,
        &"--width",
        &"2048",
        &"--height",
        &"1536",
    ]);
    let cells = dir.path().join("cells.geojson");
    synth_cells(&cells, 2048, 1536, 1500);
    let id = |n: u32| format!("0f0e0d0c-0000-4000-8000-{n:012}");
    let with = |n: u32, geometry: &str, props: &str| {
        format!(
            r#"{{"type":"Feature","id":"{}","geometry":{geometry},"properties":{props}}}"#,
            id(n)
        )
    };
    let shapes = collection(&[
        with(
            1,
            &polygon(
                "[[[100,100],[300,100],[300,300],[300,300],[100,300],[100,100]],\
                 [[150,150],[150,200],[200,200],[200,150],[150,150]]]",
            ),
            r#"{"classification":{"name":"Stroma","color":[1,2,3]},"measurements":{"Area":-1.5e-3,"n":7}}"#,
        ),
        with(
            2,
            r#"{"type":"MultiPolygon","coordinates":[[[[400.126,400.004],[500.5,400],[450.25,480.75],[400.126,400.004]],[[430,410],[470,410],[450,440],[430,410]]],[[[600,600],[700,600],[700,700],[600,600]]]]}"#,
            r#"{"classification":{"name":"Tumor"}}"#,
        ),
        with(
            3,
            r#"{"type":"Point","coordinates":[-0.05,-1.99]}"#,
            r#"{"classification":{"name":"Seed"},"measurements":{}}"#,
        ),
        with(
            4,
            r#"{"type":"MultiPoint","coordinates":[[1,1],[2047.99,1535.5],[1,1]]}"#,
            r#"{"classification":{"name":"Seed"}}"#,
        ),
        with(
            5,
            r#"{"type":"LineString","coordinates":[[10,10],[10,10],[20.5,30.25],[40,5],[40,5]]}"#,
            r#"{"classification":{"name":"Path"},"measurements":{"Length µm":12.5}}"#,
        ),
    ]);
    let shapes_file = dir.path().join("shapes.geojson");
    std::fs::write(&shapes_file, shapes).expect("write");
    round_trip(&svs, &[cells, shapes_file]);
}

/// A figure-eight whose two lobes are equal has a signed area of zero, but it is not flat:
/// it crosses itself, and the refusal must say so (not "zero area").
#[test]
fn a_symmetric_bowtie_is_refused_as_self_intersecting() {
    let data = synthetic_data(512, 512);
    let server = Server::start(data.path(), &[]);
    for rings in [
        "[[[0,0],[10,10],[10,0],[0,10],[0,0]]]",
        "[[[100,100],[200,200],[200,100],[100,200],[100,100]]]",
    ] {
        let r = import(
            &server,
            SYN,
            "",
            collection(&[classed(&polygon(rings))]).as_bytes(),
        );
        assert_eq!(r.status, 422, "{}", r.text());
        let reason = json_of(&r)["problems"][0]["reason"].to_string();
        assert!(reason.contains("self-intersection"), "{rings}: {reason}");
    }
}

// ---------------------------------------------------------------------------------------
// Refusals.

/// One refused input: what the error (HTTP body or the command's stderr) must say.
struct Bad {
    name: &'static str,
    body: String,
    status: u16,
    /// Alternatives separated by `|`.
    says: &'static str,
}

fn says(text: &str, needles: &str) -> bool {
    needles.split('|').any(|n| text.contains(n))
}

#[test]
fn bad_input_is_refused_over_http_and_on_the_command_line() {
    let data = synthetic_data(1024, 768);
    let server = Server::start(data.path(), &[]);
    let pt = |c: &str| classed(&format!(r#"{{"type":"Point","coordinates":{c}}}"#));
    let good = classed(&square(10.0, 10.0, 5.0));
    let cases = vec![
        Bad {
            name: "missing comma between features",
            body: format!("{{\"type\":\"FeatureCollection\",\"features\":[\n  {good}\n  {good}]}}"),
            status: 422,
            says: "line 3, column 3",
        },
        Bad {
            name: "not JSON at all",
            body: "this is not GeoJSON".into(),
            status: 422,
            says: "line 1, column 1",
        },
        Bad {
            name: "truncated file",
            body: format!("{{\"type\":\"FeatureCollection\",\"features\":[{good},"),
            status: 422,
            says: "broken GeoJSON: line 1",
        },
        Bad {
            name: "coordinates are a string",
            body: collection(&[pt(r#""12,34""#)]),
            status: 422,
            says: "array",
        },
        Bad {
            name: "properties are a number",
            body: collection(&[feature(&square(1.0, 1.0, 2.0), "5")]),
            status: 422,
            says: "properties must be an object",
        },
        Bad {
            name: "class name is a number",
            body: collection(&[feature(
                &square(1.0, 1.0, 2.0),
                r#"{"classification":{"name":5}}"#,
            )]),
            status: 422,
            says: "must be a string",
        },
        Bad {
            name: "type is a number",
            body: collection(&[r#"{"type":5,"geometry":null}"#.to_string()]),
            status: 422,
            says: "wrong type",
        },
        Bad {
            name: "NaN",
            body: collection(&[pt("[NaN,5]")]),
            status: 422,
            says: "invalid JSON",
        },
        Bad {
            name: "Infinity",
            body: collection(&[pt("[Infinity,5]")]),
            status: 422,
            says: "invalid JSON",
        },
        Bad {
            name: "1e999",
            body: collection(&[pt("[1e999,5]")]),
            status: 422,
            says: "finite|out of range",
        },
        Bad {
            name: "unclosed ring",
            body: collection(&[classed(&polygon("[[[0,0],[10,0],[10,10],[0,10]]]"))]),
            status: 422,
            says: "not closed",
        },
        Bad {
            name: "two distinct points",
            body: collection(&[classed(&polygon("[[[0,0],[10,0],[10,0],[0,0]]]"))]),
            status: 422,
            says: "fewer than 3 distinct points",
        },
        Bad {
            name: "flat ring",
            body: collection(&[classed(&polygon("[[[0,0],[5,5],[10,10],[0,0]]]"))]),
            status: 422,
            says: "zero area",
        },
        Bad {
            name: "bowtie",
            body: collection(&[classed(&polygon("[[[0,0],[10,10],[10,0],[0,20],[0,0]]]"))]),
            status: 422,
            says: "self-intersection",
        },
        Bad {
            name: "right of the slide",
            body: collection(&[classed(&square(1020.0, 10.0, 10.0))]),
            status: 422,
            says: "outside the slide",
        },
        Bad {
            name: "above the slide",
            body: collection(&[pt("[10,-3]")]),
            status: 422,
            says: "outside the slide",
        },
        Bad {
            name: "null geometry",
            body: collection(&[classed("null")]),
            status: 422,
            says: "no geometry",
        },
        Bad {
            name: "no geometry member",
            body: collection(&[
                r#"{"type":"Feature","properties":{"classification":{"name":"A"}}}"#.into(),
            ]),
            status: 422,
            says: "no geometry",
        },
        Bad {
            name: "empty polygon",
            body: collection(&[classed(&polygon("[]"))]),
            status: 422,
            says: "empty",
        },
        Bad {
            name: "empty ring",
            body: collection(&[classed(&polygon("[[]]"))]),
            status: 422,
            says: "empty",
        },
        Bad {
            name: "empty point",
            body: collection(&[pt("[]")]),
            status: 422,
            says: "needs x and y",
        },
        Bad {
            name: "empty multipoint",
            body: collection(&[classed(r#"{"type":"MultiPoint","coordinates":[]}"#)]),
            status: 422,
            says: "empty",
        },
        Bad {
            name: "null coordinates",
            body: collection(&[classed(r#"{"type":"Polygon","coordinates":null}"#)]),
            status: 422,
            says: "no coordinates",
        },
        Bad {
            name: "no classification",
            body: collection(&[feature(
                &square(1.0, 1.0, 2.0),
                r#"{"objectType":"annotation"}"#,
            )]),
            status: 422,
            says: "classification",
        },
        Bad {
            name: "no properties",
            body: collection(&[format!(
                r#"{{"type":"Feature","geometry":{}}}"#,
                square(1.0, 1.0, 2.0)
            )]),
            status: 422,
            says: "classification",
        },
        Bad {
            name: "bare geometry without a class",
            body: square(1.0, 1.0, 2.0),
            status: 422,
            says: "classification",
        },
        Bad {
            name: "not a UUID",
            body: collection(&[format!(
                r#"{{"type":"Feature","id":"cell-1","geometry":{},"properties":{{"classification":{{"name":"A"}}}}}}"#,
                square(1.0, 1.0, 2.0)
            )]),
            status: 422,
            says: "not a UUID",
        },
        Bad {
            name: "no features",
            body: collection(&[]),
            status: 400,
            says: "no features",
        },
        Bad {
            name: "GeometryCollection",
            body: collection(&[classed(r#"{"type":"GeometryCollection","geometries":[]}"#)]),
            status: 422,
            says: "GeometryCollection",
        },
    ];
    let files = tempfile::tempdir().expect("temp dir");
    for (i, case) in cases.iter().enumerate() {
        let r = import(&server, SYN, "?layer=bad", case.body.as_bytes());
        assert_eq!(r.status, case.status, "{}: {}", case.name, r.text());
        let v = json_of(&r);
        let error = v["error"].as_str().unwrap_or_default();
        assert!(
            says(error, case.says),
            "{}: the error should say {:?}: {error}",
            case.name,
            case.says
        );
        if case.status == 422 && v.get("problems").is_some() {
            assert_eq!(v["total"], 1, "{}", case.name);
            assert_eq!(v["problems"][0]["index"], 0, "{}", case.name);
            assert!(
                v["problems"][0]["reason"]
                    .as_str()
                    .is_some_and(|r| says(r, case.says)),
                "{}: {v}",
                case.name
            );
        }
        let file = files.path().join(format!("bad{i}.geojson"));
        std::fs::write(&file, &case.body).expect("write");
        let out = cli_import(data.path(), SYN, &file, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{}: the command succeeded",
            case.name
        );
        assert!(
            says(&stderr, case.says),
            "{}: stderr should say {:?}: {stderr}",
            case.name,
            case.says
        );
    }
    // A syntax error inside a feature is placed in the file, not in the feature.
    let text = format!(
        "{{\"type\":\"FeatureCollection\",\"features\":[\n  {good},\n  {}\n]}}",
        pt("[1,]")
    );
    let r = import(&server, SYN, "", text.as_bytes());
    assert_eq!(r.status, 422, "{}", r.text());
    let v = json_of(&r);
    let (line, column) = line_column(&text, text.find(",]").expect("the error") + 1);
    assert_eq!(v["problems"][0]["index"], 1, "{v}");
    assert_eq!(
        (
            v["problems"][0]["line"].as_u64(),
            v["problems"][0]["column"].as_u64()
        ),
        (Some(line), Some(column)),
        "{v}"
    );
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains(&format!("line {line}, column {column}"))),
        "{v}"
    );
    // A semantic problem is placed at the start of its feature.
    let text = format!("[\n{good},\n    {}]", classed(&square(5000.0, 1.0, 1.0)));
    let v = json_of(&import(&server, SYN, "", text.as_bytes()));
    assert_eq!(
        (
            v["problems"][0]["line"].as_u64(),
            v["problems"][0]["column"].as_u64()
        ),
        (Some(3), Some(5)),
        "{v}"
    );

    // An unknown slide.
    let r = import(
        &server,
        "nope",
        "",
        collection(std::slice::from_ref(&good)).as_bytes(),
    );
    assert_eq!(r.status, 404, "{}", r.text());
    let file = files.path().join("good.geojson");
    std::fs::write(&file, collection(&[good])).expect("write");
    let out = cli_import(data.path(), "nope", &file, &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
    assert_eq!(server.get("/api/slides/nope/annotations").status, 404);

    // Nothing of all that was stored.
    assert_eq!(count(&server, SYN, ""), 0);
    let summary = get_json(&server, &format!("/api/slides/{SYN}/annotations/summary"));
    assert_eq!(summary["count"], 0, "{summary}");
    let export = files.path().join("export.geojson");
    cli_export(data.path(), SYN, &export);
    assert!(features_by_id(&std::fs::read(&export).expect("export"), false).is_empty());
}

#[test]
fn duplicate_ids_are_refused_unless_given_new_ones() {
    let data = synthetic_data(512, 512);
    let server = Server::start(data.path(), &[]);
    let with_id = |n: u32, x: f64| {
        format!(
            r#"{{"type":"Feature","id":"5ca1ab1e-0000-4000-8000-{n:012}","geometry":{},"properties":{{"classification":{{"name":"A"}}}}}}"#,
            square(x, 10.0, 5.0)
        )
    };
    // Twice in one file.
    let twice = collection(&[with_id(1, 10.0), with_id(2, 20.0), with_id(1, 30.0)]);
    let r = import(&server, SYN, "", twice.as_bytes());
    assert_eq!(r.status, 422, "{}", r.text());
    let v = json_of(&r);
    assert_eq!(v["problems"][0]["index"], 2, "{v}");
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("duplicate id")),
        "{v}"
    );
    assert_eq!(count(&server, SYN, ""), 0);
    let r = import(&server, SYN, "?new_ids=1", twice.as_bytes());
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(json_of(&r)["new_ids"], 1);
    assert_eq!(count(&server, SYN, ""), 3);

    // Already in the store: refused whole, then accepted with new ids.
    let again = collection(&[with_id(3, 40.0), with_id(2, 50.0)]);
    let r = import(&server, SYN, "", again.as_bytes());
    assert_eq!(r.status, 422, "{}", r.text());
    let v = json_of(&r);
    assert_eq!(v["problems"][0]["index"], 1, "{v}");
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("already exists")),
        "{v}"
    );
    assert_eq!(
        count(&server, SYN, ""),
        3,
        "feature 0 of the refused file was not kept"
    );
    let file = data.path().join("again.geojson");
    std::fs::write(&file, &again).expect("write");
    let out = cli_import(data.path(), SYN, &file, &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let out = cli_import(data.path(), SYN, &file, &["--new-ids", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("json report");
    assert_eq!(
        (report["imported"].as_u64(), report["new_ids"].as_u64()),
        (Some(2), Some(1))
    );
    // The server notices the command's import (within a second or so).
    let mut n = 0;
    for _ in 0..100 {
        n = count(&server, SYN, "");
        if n == 5 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(n, 5);

    // A bigger file, whose ids the store checks many at a time: one taken id among 300
    // still refuses the whole file, and is the one renamed with new ids.
    let many: Vec<String> = (0..300u32)
        .map(|i| {
            let (x, y) = (10.0 + f64::from(i % 45) * 10.0, 100.0 + f64::from(i / 45) * 10.0);
            let n = if i == 200 { 2 } else { 1000 + i };
            format!(
                r#"{{"type":"Feature","id":"5ca1ab1e-0000-4000-8000-{n:012}","geometry":{},"properties":{{"classification":{{"name":"A"}}}}}}"#,
                square(x, y, 4.0)
            )
        })
        .collect();
    let many = collection(&many);
    let r = import(&server, SYN, "", many.as_bytes());
    assert_eq!(r.status, 422, "{}", r.text());
    let v = json_of(&r);
    assert_eq!(v["problems"][0]["index"], 200, "{v}");
    assert_eq!(v["problems"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(count(&server, SYN, ""), 5);
    let r = import(&server, SYN, "?new_ids=1", many.as_bytes());
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(json_of(&r)["new_ids"], 1);
    assert_eq!(count(&server, SYN, ""), 305);
}

#[test]
fn a_file_imported_again_onto_another_slide_gets_new_ids_for_every_feature() {
    let data = synthetic_data(512, 512);
    std::fs::hard_link(data.path().join("syn.tess"), data.path().join("copy.tess"))
        .expect("link a second slide");
    let server = Server::start(data.path(), &[]);
    let features: Vec<String> = (0..300u32)
        .map(|i| {
            let (x, y) = (10.0 + f64::from(i % 45) * 10.0, 100.0 + f64::from(i / 45) * 10.0);
            format!(
                r#"{{"type":"Feature","id":"5eed0000-0000-4000-8000-{i:012}","geometry":{},"properties":{{"classification":{{"name":"A"}}}}}}"#,
                square(x, y, 4.0)
            )
        })
        .collect();
    // A duplicate within the file too: it keeps the first one's id on `syn`.
    let mut body = features.clone();
    body.push(features[7].clone());
    let body = collection(&body);
    let r = import(&server, SYN, "?new_ids=1", body.as_bytes());
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(json_of(&r)["new_ids"], 1);
    let r = import(&server, "copy", "?new_ids=1", body.as_bytes());
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        json_of(&r)["new_ids"],
        301,
        "every feature of the copy is renamed"
    );

    let (on_syn, on_copy) = (
        get_json(&server, "/api/slides/syn/annotations"),
        get_json(&server, "/api/slides/copy/annotations"),
    );
    let (syn_ids, copy_ids) = (ids(&on_syn), ids(&on_copy));
    assert_eq!((syn_ids.len(), copy_ids.len()), (301, 301));
    assert!(syn_ids.is_disjoint(&copy_ids), "the copy shares an id");
    let shapes = |v: &Value| {
        let mut all: Vec<String> = v["features"]
            .as_array()
            .expect("features")
            .iter()
            .map(|f| f["geometry"].to_string())
            .collect();
        all.sort();
        all
    };
    assert_eq!(
        shapes(&on_syn),
        shapes(&on_copy),
        "the copy's shapes differ"
    );
    // Each new id finds its annotation, on the copy.
    for id in copy_ids.iter().step_by(37) {
        let one = get_json(&server, &format!("/api/annotations/{id}"));
        assert_eq!(one["id"].as_str(), Some(id.as_str()));
    }
    let syn_one = syn_ids.iter().next().expect("an id");
    let r = server.get(&format!("/api/annotations/{syn_one}"));
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn one_bad_feature_stores_nothing_and_is_named() {
    let data = synthetic_data(512, 512);
    let server = Server::start(data.path(), &[]);
    let mut features: Vec<String> = (0..10)
        .map(|i| classed(&square(10.0 + 20.0 * f64::from(i), 10.0, 5.0)))
        .collect();
    features[5] = classed(&polygon("[[[0,0],[10,10],[10,0],[0,10],[0,0]]]"));
    let body = collection(&features);
    let r = import(&server, SYN, "?layer=ten", body.as_bytes());
    assert_eq!(r.status, 422, "{}", r.text());
    let v = json_of(&r);
    assert_eq!(v["total"], 1, "{v}");
    assert_eq!(v["problems"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["problems"][0]["index"], 5, "{v}");
    // Feature 5 starts on line 7 (the collection's first line, then one per feature).
    assert_eq!(v["problems"][0]["line"], 7, "{v}");
    assert_eq!(count(&server, SYN, ""), 0);
    assert_eq!(count(&server, SYN, "?layer=ten"), 0);
    let file = data.path().join("ten.geojson");
    std::fs::write(&file, &body).expect("write");
    let out = cli_import(data.path(), SYN, &file, &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("feature 5 (line 7"), "{stderr}");
    assert_eq!(count(&server, SYN, ""), 0);
}

#[test]
fn more_than_a_hundred_problems_list_a_hundred_and_count_all() {
    let data = synthetic_data(512, 512);
    let server = Server::start(data.path(), &[]);
    // 400 features; every one at an index divisible by 3 or 5 is bad.
    let bad = |i: usize| i.is_multiple_of(3) || i.is_multiple_of(5);
    let features: Vec<String> = (0..400)
        .map(|i| {
            if bad(i) {
                classed(&polygon("[[[0,0],[10,0],[10,10],[0,10]]]"))
            } else {
                classed(&square(
                    1.0 + (i % 50) as f64 * 9.0,
                    1.0 + (i / 50) as f64 * 9.0,
                    5.0,
                ))
            }
        })
        .collect();
    let bad_indices: Vec<u64> = (0..400).filter(|&i| bad(i)).map(|i| i as u64).collect();
    let r = import(&server, SYN, "", collection(&features).as_bytes());
    assert_eq!(r.status, 422);
    let v = json_of(&r);
    assert_eq!(v["total"].as_u64(), Some(bad_indices.len() as u64), "{v}");
    let listed: Vec<u64> = v["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| p["index"].as_u64().expect("index"))
        .collect();
    assert_eq!(
        listed,
        bad_indices[..100].to_vec(),
        "the first 100, in order"
    );
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains(&format!("and {} more", bad_indices.len() - 100))),
        "{v}"
    );
    assert_eq!(count(&server, SYN, ""), 0);
}

#[test]
fn repair_closes_unclosed_rings_and_reports_it() {
    let data = synthetic_data(512, 512);
    let server = Server::start(data.path(), &[]);
    let open = classed(&polygon("[[[10,10],[40,10],[40,40],[10,40]]]"));
    let body = collection(&[classed(&square(100.0, 100.0, 5.0)), open]);
    let r = import(&server, SYN, "?repair=1&layer=fixed", body.as_bytes());
    assert_eq!(r.status, 201, "{}", r.text());
    let report = json_of(&r);
    assert_eq!(report["imported"], 2);
    assert_eq!(report["repaired"], 1);
    let repairs = report["repairs"].to_string();
    assert!(
        repairs.contains("feature 1") && repairs.contains("closed ring 0"),
        "{report}"
    );
    let v = get_json(
        &server,
        &format!("/api/slides/{SYN}/annotations?bbox=0,0,50,50"),
    );
    assert_eq!(
        v["features"][0]["geometry"]["coordinates"],
        json!([[[10, 10], [40, 10], [40, 40], [10, 40], [10, 10]]])
    );
    // The same on the command line.
    let file = data.path().join("open.geojson");
    std::fs::write(
        &file,
        collection(&[classed(&polygon("[[[60,60],[90,60],[90,90]]]"))]),
    )
    .expect("write");
    let out = cli_import(data.path(), SYN, &file, &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not closed"));
    let out = cli_import(data.path(), SYN, &file, &["--repair", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["repaired"], 1, "{report}");
    assert!(report["repairs"].to_string().contains("closed ring 0"));
}

#[test]
fn bodies_over_the_limit_are_refused_with_413() {
    let data = synthetic_data(512, 512);
    let server = Server::start(data.path(), &["--max-import-mb", "1"]);
    // 1.2 MiB of valid features.
    let mut features = Vec::new();
    let mut size = 0;
    while size < 1_260_000 {
        let f = classed(&square(10.0, 10.0, 5.0));
        size += f.len() + 2;
        features.push(f);
    }
    let body = collection(&features);
    assert!(body.len() > 1 << 20);
    let r = import(&server, SYN, "?new_ids=1", body.as_bytes());
    assert_eq!(r.status, 413, "declared length: {}", r.text());
    // Without a declared length (chunked), the limit is counted as the body arrives.
    let r = post_chunked(
        &server,
        &format!("/api/slides/{SYN}/annotations/import"),
        body.as_bytes(),
    );
    assert_eq!(r.status, 413, "chunked: {}", r.text());
    assert!(r.text().contains("1 MiB"), "{}", r.text());
    assert_eq!(count(&server, SYN, ""), 0);
    // Under the limit is fine.
    let small = collection(&features[..features.len() / 2]);
    assert!(small.len() < 1 << 20);
    let r = import(&server, SYN, "", small.as_bytes());
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(count(&server, SYN, ""), features.len() / 2);
}

/// POST with `Transfer-Encoding: chunked` (no declared length), in 64 KiB chunks.
fn post_chunked(server: &Server, path: &str, body: &[u8]) -> HttpResponse {
    let mut stream = std::net::TcpStream::connect(server.addr).expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n",
        server.addr
    );
    stream.write_all(head.as_bytes()).expect("send head");
    let mut writer = stream.try_clone().expect("clone");
    let body = body.to_vec();
    let sending = std::thread::spawn(move || {
        for chunk in body.chunks(64 << 10) {
            let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
            if writer.write_all(&frame).is_err() {
                return;
            }
        }
        let _ = writer.write_all(b"0\r\n\r\n");
    });
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let _ = sending.join();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_string());
    HttpResponse {
        status,
        headers: Vec::new(),
        body: body.into_bytes(),
    }
}

// ---------------------------------------------------------------------------------------
// Shapes.

#[test]
fn every_shape_qupath_writes_imports() {
    let data = synthetic_data(1024, 1024);
    let server = Server::start(data.path(), &[]);
    let a = classed(&square(10.0, 10.0, 10.0));
    let b = classed(&square(30.0, 10.0, 10.0));
    // (layer, body, features)
    let files: Vec<(&str, String, usize)> = vec![
        ("fc", collection(&[a.clone(), b.clone()]), 2),
        (
            "fc-features-first",
            format!(r#"{{"features":[{a},{b}],"type":"FeatureCollection","name":"x"}}"#),
            2,
        ),
        (
            "fc-features-last",
            format!(
                r#"{{"type":"FeatureCollection","crs":{{"type":"name","properties":{{"name":"x"}}}},"bbox":[0,0,50,50],"features":[{a},{b}]}}"#
            ),
            2,
        ),
        ("array", format!("[{a},\n{b}]"), 2),
        ("feature", a.clone(), 1),
        (
            "bom",
            format!("\u{feff}{}", collection(std::slice::from_ref(&a))),
            1,
        ),
        (
            "holes",
            collection(&[classed(
                r#"{"type":"MultiPolygon","coordinates":[[[[100,100],[200,100],[200,200],[100,200],[100,100]],[[120,120],[120,180],[180,180],[180,120],[120,120]]],[[[300,300],[400,300],[350,380],[300,300]]]]}"#,
            )]),
            1,
        ),
        (
            "points-lines",
            collection(&[
                classed(r#"{"type":"Point","coordinates":[500,500]}"#),
                classed(r#"{"type":"MultiPoint","coordinates":[[510,500],[520,500.5]]}"#),
                classed(r#"{"type":"LineString","coordinates":[[600,600],[700,650],[650,700]]}"#),
            ]),
            3,
        ),
        (
            "cell",
            collection(&[format!(
                r#"{{"type":"Feature","geometry":{},"nucleusGeometry":{},"properties":{{"objectType":"cell","classification":{{"names":["Tumor","Positive"],"colorRGB":-65536}},"measurements":[{{"name":"Area","value":12.5}},{{"name":"Bad","value":null}}]}}}}"#,
                square(800.0, 800.0, 20.0),
                square(805.0, 805.0, 5.0)
            )]),
            1,
        ),
    ];
    for (layer, body, n) in &files {
        let r = import(&server, SYN, &format!("?layer={layer}"), body.as_bytes());
        assert_eq!(r.status, 201, "{layer}: {}", r.text());
        assert_eq!(json_of(&r)["imported"].as_u64(), Some(*n as u64), "{layer}");
        assert_eq!(
            count(&server, SYN, &format!("?layer={layer}")),
            *n,
            "{layer}"
        );
    }
    // A bare geometry needs a class.
    let bare = square(50.0, 50.0, 5.0);
    assert_eq!(
        import(&server, SYN, "?layer=bare", bare.as_bytes()).status,
        422
    );
    let r = import(&server, SYN, "?layer=bare&class=Necrosis", bare.as_bytes());
    assert_eq!(r.status, 201, "{}", r.text());
    let v = get_json(
        &server,
        &format!("/api/slides/{SYN}/annotations?layer=bare"),
    );
    assert_eq!(
        v["features"][0]["properties"]["classification"]["name"],
        "Necrosis"
    );
    // The class given to the import is only a default.
    let r = import(
        &server,
        SYN,
        "?layer=default-class&class=Necrosis",
        collection(std::slice::from_ref(&a)).as_bytes(),
    );
    assert_eq!(r.status, 201);
    let v = get_json(
        &server,
        &format!("/api/slides/{SYN}/annotations?layer=default-class"),
    );
    assert_eq!(
        v["features"][0]["properties"]["classification"]["name"],
        "Tumor"
    );
    // Gzip, over HTTP and from a file.
    let r = import(
        &server,
        SYN,
        "?layer=gz",
        &gzip(collection(&[a.clone(), b.clone()]).as_bytes()),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(count(&server, SYN, "?layer=gz"), 2);
    let file = data.path().join("shapes.geojson.gz");
    std::fs::write(&file, gzip(collection(&[a, b]).as_bytes())).expect("write");
    let out = cli_import(
        data.path(),
        SYN,
        &file,
        &["--layer", "gz-file", "--new-ids"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // What came back.
    let v = get_json(
        &server,
        &format!("/api/slides/{SYN}/annotations?layer=holes"),
    );
    assert_eq!(
        v["features"][0]["geometry"]["coordinates"][0][1],
        json!([[120, 120], [120, 180], [180, 180], [180, 120], [120, 120]]),
        "the hole is kept"
    );
    // A box inside the hole misses the multipolygon; one on its ring meets it.
    assert_eq!(count(&server, SYN, "?layer=holes&bbox=140,140,20,20"), 0);
    assert_eq!(count(&server, SYN, "?layer=holes&bbox=115,140,10,10"), 1);
    assert_eq!(count(&server, SYN, "?layer=holes&bbox=340,330,1,1"), 1);
    let v = get_json(
        &server,
        &format!("/api/slides/{SYN}/annotations?layer=points-lines"),
    );
    let kinds: BTreeSet<&str> = v["features"]
        .as_array()
        .expect("features")
        .iter()
        .filter_map(|f| f["geometry"]["type"].as_str())
        .collect();
    assert_eq!(kinds, BTreeSet::from(["Point", "MultiPoint", "LineString"]));
    // A box between the line's vertices, on the line, finds it; one beside it does not.
    assert_eq!(
        count(&server, SYN, "?layer=points-lines&bbox=649,624,2,2"),
        1
    );
    assert_eq!(
        count(&server, SYN, "?layer=points-lines&bbox=640,600,5,5"),
        0
    );
    let v = get_json(
        &server,
        &format!("/api/slides/{SYN}/annotations?layer=cell"),
    );
    let cell = &v["features"][0];
    assert_eq!(cell["properties"]["objectType"], "cell");
    assert_eq!(
        cell["properties"]["classification"]["name"],
        "Tumor: Positive"
    );
    assert_eq!(
        cell["properties"]["classification"]["color"],
        json!([255, 0, 0])
    );
    assert_eq!(cell["properties"]["measurements"], json!({"Area": 12.5}));
    assert_eq!(cell["nucleusGeometry"]["type"], "Polygon");
}

// ---------------------------------------------------------------------------------------
// Edits, history, undo.

fn create(server: &Server, user: &str, layer: &str, feature: &str) -> HttpResponse {
    server.request(
        "POST",
        &format!("/api/slides/{SYN}/annotations?layer={layer}"),
        &[("X-Tessera-User", user)],
        feature.as_bytes(),
    )
}

fn undo(server: &Server, user: &str) -> HttpResponse {
    server.request(
        "POST",
        &format!("/api/slides/{SYN}/undo"),
        &[("X-Tessera-User", user)],
        b"",
    )
}

fn coordinates(v: &Value) -> &Value {
    &v["geometry"]["coordinates"]
}

#[test]
fn edits_are_versioned_with_history_and_undo() {
    let data = synthetic_data(1024, 1024);
    let server = Server::start(data.path(), &[]);
    let first = classed(&square(10.0, 10.0, 10.0));
    let r = create(&server, "alice", "edit", &first);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("etag"), Some("\"1\""));
    let created = json_of(&r);
    assert_eq!(created["properties"]["version"], 1);
    assert_eq!(created["properties"]["author"], "alice");
    assert_eq!(created["properties"]["layer"], "edit");
    let id = created["id"].as_str().expect("id").to_string();
    let url = format!("/api/annotations/{id}");
    assert_eq!(r.header("location"), Some(url.as_str()));

    let r = server.get(&url);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("etag"), Some("\"1\""));
    assert_eq!(coordinates(&json_of(&r)), coordinates(&created));

    // Update at version 1 → version 2.
    let moved = feature(
        &square(100.0, 100.0, 20.0),
        r#"{"classification":{"name":"Stroma"},"status":"submitted"}"#,
    );
    let r = server.request(
        "PUT",
        &url,
        &[("If-Match", "\"1\""), ("X-Tessera-User", "alice")],
        moved.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("etag"), Some("\"2\""));
    let updated = json_of(&r);
    assert_eq!(updated["properties"]["version"], 2);
    assert_eq!(updated["properties"]["status"], "submitted");
    assert_eq!(updated["properties"]["classification"]["name"], "Stroma");
    assert_eq!(
        count(&server, SYN, "?bbox=10,10,5,5"),
        0,
        "the old place is empty"
    );
    assert_eq!(
        count(&server, SYN, "?bbox=110,110,5,5"),
        1,
        "the new place has it"
    );
    // Stale, and missing, If-Match.
    let r = server.request("PUT", &url, &[("If-Match", "1")], first.as_bytes());
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(json_of(&r)["version"], 2);
    let r = server.request("PUT", &url, &[], first.as_bytes());
    assert_eq!(r.status, 428, "{}", r.text());
    let r = server.request("PUT", &url, &[("If-Match", "2")], b"{\"type\":\"Feature\"");
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(
        json_of(&server.get(&url))["properties"]["version"],
        2,
        "nothing changed"
    );

    // Delete.
    let r = server.request("DELETE", &url, &[("X-Tessera-User", "alice")], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(server.get(&url).status, 404);
    assert_eq!(server.request("DELETE", &url, &[], b"").status, 404);

    // History: create, update, delete, each with before and after.
    let h = get_json(&server, &format!("{url}/history"));
    let entries = h["history"].as_array().expect("history");
    let kinds: Vec<&str> = entries.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, ["create", "update", "delete"], "{h}");
    assert!(entries.iter().all(|e| e["author"] == "alice"));
    assert_eq!(entries[0]["before"], Value::Null);
    assert_eq!(coordinates(&entries[0]["after"]), coordinates(&created));
    assert_eq!(coordinates(&entries[1]["before"]), coordinates(&created));
    assert_eq!(coordinates(&entries[1]["after"]), coordinates(&updated));
    assert_eq!(entries[1]["after"]["properties"]["version"], 2);
    assert_eq!(coordinates(&entries[2]["before"]), coordinates(&updated));
    assert_eq!(entries[2]["after"], Value::Null);

    // Bob's undo undoes Bob's change only.
    let bobs = create(
        &server,
        "bob",
        "edit",
        &classed(&square(500.0, 500.0, 10.0)),
    );
    assert_eq!(bobs.status, 201);
    let bobs_url = format!(
        "/api/annotations/{}",
        json_of(&bobs)["id"].as_str().expect("id")
    );
    let r = undo(&server, "bob");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(json_of(&r)["kind"], "create");
    assert_eq!(server.get(&bobs_url).status, 404, "Bob's create is undone");
    assert_eq!(server.get(&url).status, 404, "Alice's delete stays");
    let r = undo(&server, "bob");
    assert_eq!(r.status, 409, "Bob has nothing left to undo: {}", r.text());
    assert_eq!(server.get(&url).status, 404, "Alice's delete stays");
    // Without a user header the caller is "local", who did nothing.
    assert_eq!(
        server
            .request("POST", &format!("/api/slides/{SYN}/undo"), &[], b"")
            .status,
        409
    );

    // Alice's undo brings the annotation back as it was before the delete.
    let r = undo(&server, "alice");
    assert_eq!(r.status, 200, "{}", r.text());
    let report = json_of(&r);
    assert_eq!(
        (report["kind"].as_str(), report["restored"].as_u64()),
        (Some("delete"), Some(1))
    );
    let back = json_of(&server.get(&url));
    assert_eq!(coordinates(&back), coordinates(&updated));
    assert_eq!(back["properties"]["classification"]["name"], "Stroma");
    assert!(back["properties"]["version"].as_u64() > Some(2), "{back}");
    assert_eq!(
        count(&server, SYN, "?bbox=110,110,5,5"),
        1,
        "the index has it back"
    );
    let h = get_json(&server, &format!("{url}/history"));
    let entries = h["history"].as_array().expect("history");
    assert_eq!(
        entries.last().map(|e| e["kind"].clone()),
        Some(json!("undo")),
        "{h}"
    );
    assert_eq!(entries[2]["undone"], true, "{h}");

    // Undoing an import removes exactly that import's annotations.
    let mine: Vec<String> = (0..5)
        .map(|i| classed(&square(600.0 + 20.0 * f64::from(i), 600.0, 10.0)))
        .collect();
    let r = import_as(
        &server,
        "alice",
        SYN,
        "?layer=imported",
        collection(&mine).as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = import_as(
        &server,
        "carol",
        SYN,
        "?layer=carol",
        collection(&mine).as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(count(&server, SYN, "?layer=imported"), 5);
    let r = undo(&server, "alice");
    assert_eq!(r.status, 200, "{}", r.text());
    let report = json_of(&r);
    assert_eq!(
        (report["kind"].as_str(), report["removed"].as_u64()),
        (Some("import"), Some(5))
    );
    assert_eq!(count(&server, SYN, "?layer=imported"), 0);
    assert_eq!(
        count(&server, SYN, "?layer=carol"),
        5,
        "Carol's import stays"
    );
    assert_eq!(
        server.get(&url).status,
        200,
        "Alice's earlier annotation stays"
    );
}

/// Undo, undo, undo walks back through the caller's own changes: delete, then update,
/// then create.
#[test]
fn repeated_undo_walks_back_through_the_callers_changes() {
    let data = synthetic_data(512, 512);
    let server = Server::start(data.path(), &[]);
    let r = create(
        &server,
        "alice",
        "edit",
        &classed(&square(10.0, 10.0, 10.0)),
    );
    assert_eq!(r.status, 201);
    let created = json_of(&r);
    let url = format!("/api/annotations/{}", created["id"].as_str().expect("id"));
    let moved = classed(&square(100.0, 100.0, 10.0));
    let r = server.request(
        "PUT",
        &url,
        &[("If-Match", "1"), ("X-Tessera-User", "alice")],
        moved.as_bytes(),
    );
    assert_eq!(r.status, 200);
    let r = server.request("DELETE", &url, &[("X-Tessera-User", "alice")], b"");
    assert_eq!(r.status, 200);

    let r = undo(&server, "alice");
    assert_eq!(r.status, 200, "undo the delete: {}", r.text());
    assert_eq!(server.get(&url).status, 200);
    let r = undo(&server, "alice");
    assert_eq!(
        r.status,
        200,
        "undo the update after undoing the delete: {}",
        r.text()
    );
    assert_eq!(json_of(&r)["kind"], "update");
    assert_eq!(
        coordinates(&json_of(&server.get(&url))),
        coordinates(&created)
    );
    let r = undo(&server, "alice");
    assert_eq!(r.status, 200, "undo the create: {}", r.text());
    assert_eq!(server.get(&url).status, 404);
    assert_eq!(count(&server, SYN, ""), 0);
}

// ---------------------------------------------------------------------------------------
// Queries.

/// `u32` at `at` of a binary answer.
fn u32_at(body: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(body[at..at + 4].try_into().expect("4 bytes"))
}

#[test]
fn queries_filter_limit_choose_a_level_of_detail_and_agree_with_summaries() {
    let (w, h) = (4096u32, 3072u32);
    let data = synthetic_data(w, h);
    let cells = data.path().join("cells.geojson");
    synth_cells(&cells, w, h, 1_000_000);
    let server = Server::start(data.path(), &[]);
    let r = import_as(
        &server,
        "model-bot",
        SYN,
        "?layer=cells&provenance=model",
        &std::fs::read(&cells).expect("cells"),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let n_cells = json_of(&r)["imported"].as_u64().expect("imported") as usize;
    assert!(n_cells > 5_000, "{n_cells} cells");
    // Reviewed work comes in through an import (a review step is one status at a time).
    let reviewed: Vec<String> = ["approved", "approved", "approved", "rejected"]
        .iter()
        .enumerate()
        .map(|(i, status)| {
            feature(
                &square(100.0 + 300.0 * i as f64, 100.0, 200.0),
                &format!(r#"{{"classification":{{"name":"Region"}},"status":"{status}"}}"#),
            )
        })
        .collect();
    let body = format!(
        r#"{{"type":"FeatureCollection","features":[{}]}}"#,
        reviewed.join(",")
    );
    let r = import_as(&server, "alice", SYN, "?layer=review", body.as_bytes());
    assert_eq!(r.status, 201, "{}", r.text());
    let total = n_cells + 4;
    let q = |query: &str| count(&server, SYN, query);
    assert_eq!(q(""), total);
    assert_eq!(q("?layer=cells"), n_cells);
    assert_eq!(q("?layer=review"), 4);
    assert_eq!(q("?layer=cells,review"), total);
    assert_eq!(q("?layer=nothing"), 0);
    assert_eq!(q("?status=approved"), 3);
    assert_eq!(q("?status=approved,rejected"), 4);
    assert_eq!(q("?status=draft"), n_cells);
    assert_eq!(
        server
            .get(&format!("/api/slides/{SYN}/annotations?status=bogus"))
            .status,
        400
    );
    assert_eq!(q("?author=alice"), 4);
    assert_eq!(q("?author=model-bot"), n_cells);
    assert_eq!(q("?author=nobody"), 0);
    assert_eq!(q("?author=alice&status=rejected&layer=review"), 1);
    let v = get_json(
        &server,
        &format!("/api/slides/{SYN}/annotations?layer=cells&limit=1"),
    );
    assert_eq!(v["features"][0]["properties"]["provenance"], "model");

    // Classes: every feature of a class query has the class; they add up; the summary agrees.
    let summary = get_json(&server, &format!("/api/slides/{SYN}/annotations/summary"));
    assert_eq!(summary["count"].as_u64(), Some(total as u64), "{summary}");
    let by_class = summary["by_class"].as_object().expect("by_class");
    let classes: BTreeSet<&str> = by_class.keys().map(String::as_str).collect();
    assert_eq!(
        classes,
        BTreeSet::from(["Lymphocyte", "Region", "Stroma", "Tumor"])
    );
    let mut sum = 0;
    for (class, tally) in by_class {
        let v = get_json(
            &server,
            &format!("/api/slides/{SYN}/annotations?class={class}"),
        );
        let n = v["features"].as_array().map_or(0, Vec::len);
        assert!(
            v["features"]
                .as_array()
                .expect("features")
                .iter()
                .all(|f| f["properties"]["classification"]["name"] == class.as_str()),
            "{class}"
        );
        assert_eq!(
            tally["count"].as_u64(),
            Some(n as u64),
            "summary of {class}"
        );
        sum += n;
    }
    assert_eq!(sum, total);
    assert_eq!(summary["by_layer"]["review"]["count"], 4);
    assert_eq!(summary["by_status"]["approved"]["count"], 3);
    assert_eq!(
        q("?class=Tumor,Stroma") as u64,
        by_class["Tumor"]["count"].as_u64().unwrap_or(0)
            + by_class["Stroma"]["count"].as_u64().unwrap_or(0)
    );
    // In a box as well.
    let bbox = "bbox=1000.5,700,1500,1100.25";
    let in_box = q(&format!("?{bbox}"));
    assert!(in_box > 500 && in_box < total, "{in_box}");
    let s = get_json(
        &server,
        &format!("/api/slides/{SYN}/annotations/summary?{bbox}"),
    );
    assert_eq!(s["count"].as_u64(), Some(in_box as u64), "{s}");
    for (class, tally) in s["by_class"].as_object().expect("by_class") {
        assert_eq!(
            tally["count"].as_u64(),
            Some(q(&format!("?{bbox}&class={class}")) as u64),
            "{class} in the box"
        );
    }
    let area: f64 = s["by_class"]
        .as_object()
        .expect("by_class")
        .values()
        .filter_map(|t| t["area"].as_f64())
        .sum();
    assert!((area - s["area"].as_f64().unwrap_or(0.0)).abs() < 1e-6 * area.max(1.0));

    // Limits truncate.
    let v = get_json(
        &server,
        &format!("/api/slides/{SYN}/annotations?{bbox}&limit=10"),
    );
    assert_eq!(v["features"].as_array().map(Vec::len), Some(10));
    assert_eq!(v["truncated"], true);
    let v = get_json(
        &server,
        &format!("/api/slides/{SYN}/annotations?{bbox}&limit={in_box}"),
    );
    assert_eq!(v["features"].as_array().map(Vec::len), Some(in_box));
    assert_eq!(v["truncated"], false);

    // Level of detail: geometry within the budget, centroids up to ten times it, then a
    // density grid.
    let lod = |budget: usize| {
        let r = server.get(&format!(
            "/api/slides/{SYN}/annotations?{bbox}&lod=auto&budget={budget}"
        ));
        assert_eq!(r.status, 200, "{}", r.text());
        let v = json_of(&r);
        let header = r.header("x-tessera-lod").map(str::to_string);
        assert_eq!(
            header.as_deref(),
            v["lod"].as_str(),
            "header and body agree"
        );
        (
            header.unwrap_or_default(),
            v,
            r.header("x-tessera-count").map(str::to_string),
        )
    };
    let (kind, v, _) = lod(1_000_000);
    assert_eq!(kind, "geometry");
    assert_eq!(v["features"].as_array().map(Vec::len), Some(in_box));
    let (kind, v, header_count) = lod(in_box / 4);
    assert_eq!(kind, "centroids", "{}", in_box / 4);
    let centroids = v["centroids"].as_array().expect("centroids");
    let n = v["count"].as_u64().expect("count") as usize;
    assert_eq!(centroids.len(), 3 * n, "x, y, class per feature");
    assert_eq!(header_count, Some(n.to_string()));
    assert!(n >= in_box, "centroids cover every feature in the box");
    assert_eq!(v["classes"].as_array().map(Vec::len), Some(classes.len()));
    let (kind, v, _) = lod(in_box / 50);
    assert_eq!(kind, "density");
    let grid: u64 = v["counts"]
        .as_array()
        .expect("counts")
        .iter()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(
        Some(grid),
        v["count"].as_u64(),
        "the grid holds every feature counted"
    );
    assert_eq!(
        v["counts"].as_array().map(Vec::len),
        Some(
            (v["columns"].as_u64().unwrap_or(0) * v["rows"].as_u64().unwrap_or(0)) as usize
                * classes.len()
        )
    );
    let r = server.get(&format!(
        "/api/slides/{SYN}/annotations?lod=centroids&layer=review"
    ));
    assert_eq!(r.header("x-tessera-lod"), Some("centroids"));
    let r = server.get(&format!("/api/slides/{SYN}/annotations?lod=fancy"));
    assert_eq!(r.status, 400);

    // Binary answers carry the same count as GeoJSON.
    let in_the_box = format!("?{bbox}");
    for query in [
        "",
        "?class=Tumor",
        in_the_box.as_str(),
        "?layer=review&status=approved",
        "?bbox=0,0,1,1",
    ] {
        let sep = if query.is_empty() { "?" } else { "&" };
        let r = server.get(&format!(
            "/api/slides/{SYN}/annotations{query}{sep}format=binary"
        ));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("content-type"), Some("application/octet-stream"));
        assert_eq!(&r.body[..4], b"TANN", "{query}");
        assert_eq!(r.body[4], 1, "version");
        assert_eq!(r.body[5], 0, "geometry");
        assert_eq!(u32_at(&r.body, 8) as usize, q(query), "{query}");
        assert_eq!(u32_at(&r.body, 12), 0, "not truncated");
    }
    let r = server.get(&format!(
        "/api/slides/{SYN}/annotations?{bbox}&format=binary&limit=3"
    ));
    assert_eq!((u32_at(&r.body, 8), u32_at(&r.body, 12)), (3, 1));
    let r = server.get(&format!(
        "/api/slides/{SYN}/annotations?{bbox}&format=binary&lod=centroids"
    ));
    assert_eq!((&r.body[..4], r.body[5]), (&b"TANN"[..], 1));
    assert_eq!(
        server
            .get(&format!("/api/slides/{SYN}/annotations?format=xml"))
            .status,
        400
    );
    assert_eq!(
        server
            .get(&format!("/api/slides/{SYN}/annotations?bbox=1,2,3"))
            .status,
        400
    );
    assert_eq!(
        server
            .get(&format!("/api/slides/{SYN}/annotations?bbox=0,0,-1,5"))
            .status,
        400
    );

    // The HTTP export agrees with the query, plain and gzip.
    let r = server.get(&format!("/api/slides/{SYN}/annotations/export?{bbox}"));
    assert_eq!(r.status, 200);
    let exported: Value = serde_json::from_slice(&r.body).expect("export JSON");
    assert_eq!(
        ids(&exported),
        ids(&get_json(
            &server,
            &format!("/api/slides/{SYN}/annotations?{bbox}")
        ))
    );
    let r = server.get(&format!("/api/slides/{SYN}/annotations/export?gzip=1"));
    assert_eq!(r.header("content-type"), Some("application/gzip"));
    let all: Value = serde_json::from_slice(&gunzip(&r.body)).expect("export JSON");
    assert_eq!(all["features"].as_array().map(Vec::len), Some(total));
}
