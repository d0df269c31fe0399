//! Inter-annotator agreement end to end, through the real `tessera` binary: three raters
//! imported by author and by layer, compared by `tessera agreement` and over HTTP (the
//! same JSON), figures against a hand computation, the consensus stored as a layer, and
//! every refusal naming what is wrong.
//!
//! The fixture (the same as the unit tests' in `server/src/agreement/tests.rs`, which
//! check every figure): three raters mark squares of side 100 px at ten sites (site k at
//! x = 300k, y = 200), shifted right by dx px. Squares of one site shifted by d relative
//! to each other have IoU (100 − d)/(100 + d) and Dice (100 − d)/100.
//!
//! | site | alice (A) | bob (B)    | carol (C) | IoU A-B | IoU A-C | IoU B-C |
//! |------|-----------|------------|-----------|---------|---------|---------|
//! | 1    | Tumor 0   | Tumor 0    | Tumor 10  | 1       | 9/11    | 9/11    |
//! | 2    | Tumor 0   | Stroma 20  | Tumor 25  | 2/3     | 3/5     | 19/21   |
//! | 3    | Stroma 0  | Stroma 25  |           | 3/5     |         |         |
//! | 4    | Tumor 0   | Tumor 50   | Tumor 10  | 1/3 ✗   | 9/11    | 3/7 ✗   |
//! | 5    | Stroma 0  |            |           |         |         |         |
//! | 6    |           | Tumor 0    | Tumor 0   |         |         | 1       |
//! | 7    |           |            | Lympho. 0 |         |         |         |
//! | 8    | Tumor 0   | Stroma 0   | Stroma 0  | 1       | 1       | 1       |
//! | 9    |           | Stroma 0   |           |         |         |         |
//! | 10   | Stroma 0  | Stroma 0   | Stroma 10 | 1       | 9/11    | 9/11    |
//!
//! (✗: below 0.5.) alice also marks a point and bob a line: skipped. alice and bob are
//! authors; carol's marks are imported by someone else into the layer `carol`.

use serde_json::Value;
use std::path::Path;
use tessera_e2e::{HttpResponse, Server, tessera, tessera_ok};

const SYN: &str = "syn";
const T: &str = "Tumor";
const S: &str = "Stroma";
const L: &str = "Lymphocyte";

const ALICE: &[(i32, &str, i32)] = &[
    (1, T, 0),
    (2, T, 0),
    (3, S, 0),
    (4, T, 0),
    (5, S, 0),
    (8, T, 0),
    (10, S, 0),
];
const BOB: &[(i32, &str, i32)] = &[
    (1, T, 0),
    (2, S, 20),
    (3, S, 25),
    (4, T, 50),
    (6, T, 0),
    (8, S, 0),
    (9, S, 0),
    (10, S, 0),
];
const CAROL: &[(i32, &str, i32)] = &[
    (1, T, 10),
    (2, T, 25),
    (4, T, 10),
    (6, T, 0),
    (7, L, 0),
    (8, S, 0),
    (10, S, 10),
];

fn feature(geometry: &str, class: &str) -> String {
    format!(
        r#"{{"type":"Feature","geometry":{geometry},"properties":{{"classification":{{"name":"{class}"}}}}}}"#
    )
}

fn marks(list: &[(i32, &str, i32)], extra: Option<String>) -> String {
    let mut features: Vec<String> = list
        .iter()
        .map(|&(site, class, dx)| {
            let (x, y, s) = (300 * site + dx, 200, 100);
            let square = format!(
                r#"{{"type":"Polygon","coordinates":[[[{x},{y}],[{},{y}],[{},{}],[{x},{}],[{x},{y}]]]}}"#,
                x + s,
                x + s,
                y + s,
                y + s
            );
            feature(&square, class)
        })
        .collect();
    features.extend(extra);
    format!(
        r#"{{"type":"FeatureCollection","features":[{}]}}"#,
        features.join(",")
    )
}

/// A synthetic slide `syn` with the three raters' marks imported.
fn fixture() -> tempfile::TempDir {
    let staging = tempfile::tempdir().expect("temp dir");
    let svs = staging.path().join("syn.svs");
    tessera_ok(&[
        &"synth",
        &"-o",
        &svs,
        &"--width",
        &"3328",
        &"--height",
        &"512",
    ]);
    let data = tempfile::tempdir().expect("temp dir");
    tessera_ok(&[&"tile", &svs, &"-o", &data.path(), &"--id", &SYN]);
    let point = feature(r#"{"type":"Point","coordinates":[1550,400]}"#, T);
    let line = feature(
        r#"{"type":"LineString","coordinates":[[10,10],[60,60]]}"#,
        S,
    );
    for (name, list, extra, author, layer) in [
        ("alice", ALICE, Some(point), "alice", "marks"),
        ("bob", BOB, Some(line), "bob", "default"),
        ("carol", CAROL, None, "importer", "carol"),
    ] {
        let file = staging.path().join(format!("{name}.geojson"));
        std::fs::write(&file, marks(list, extra)).expect("write fixture");
        tessera_ok(&[
            &"import",
            &"--data",
            &data.path(),
            &SYN,
            &file,
            &"--author",
            &author,
            &"--layer",
            &layer,
        ]);
    }
    data
}

fn json_of(r: &HttpResponse) -> Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("status {}: not JSON ({e}): {}", r.status, r.text()))
}

fn cli_agreement(data: &Path, extra: &[&str]) -> String {
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"agreement", &"--data", &data, &SYN];
    for e in extra {
        args.push(e);
    }
    tessera_ok(&args)
}

fn close(v: &Value, want: f64, what: &str) {
    let got = v
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: {v} is not a number"));
    assert!((got - want).abs() < 1e-9, "{what}: {got} vs {want}");
}

/// The figures of alice, bob and carol at IoU 0.5, as computed by hand.
fn assert_hand_computed(cli: &Value) {
    let raters: Vec<(String, String, u64, u64)> = cli["raters"]
        .as_array()
        .expect("raters")
        .iter()
        .map(|r| {
            (
                r["rater"].as_str().unwrap_or_default().to_string(),
                r["source"].as_str().unwrap_or_default().to_string(),
                r["instances"].as_u64().unwrap_or(99),
                r["skipped"].as_u64().unwrap_or(99),
            )
        })
        .collect();
    let expected = [
        ("alice", "user", 7, 1),
        ("bob", "user", 8, 1),
        ("carol", "layer", 7, 0),
    ]
    .map(|(r, s, i, k)| (r.to_string(), s.to_string(), i, k));
    assert_eq!(raters, expected);

    // alice (reference) vs bob: matched sites 1 (T,T; 1), 2 (T,S; 2/3), 3 (S,S; 3/5),
    // 8 (T,S; 1), 10 (S,S; 1). Precision 5/8, recall 5/7, F1 10/15 = 2/3; mean IoU
    // (1 + 2/3 + 3/5 + 1 + 1)/5 = 64/75; mean Dice (1 + .8 + .75 + 1 + 1)/5 = 0.91.
    // Cohen: rows alice, columns bob: T→T 1, T→S 2, S→S 2; p_o = 3/5,
    // p_e = (3·1 + 2·4)/25 = 11/25, κ = (4/25)/(14/25) = 2/7.
    let ab = &cli["pairs"][0];
    assert_eq!(
        (&ab["a"], &ab["b"]),
        (&Value::from("alice"), &Value::from("bob"))
    );
    let o = &ab["overall"];
    assert_eq!(
        (&o["a"], &o["b"], &o["matched"]),
        (&7.into(), &8.into(), &5.into())
    );
    close(&o["precision"], 5. / 8., "precision");
    close(&o["recall"], 5. / 7., "recall");
    close(&o["f1"], 2. / 3., "F1");
    close(&o["mean_iou"], 64. / 75., "mean IoU");
    close(&o["mean_dice"], 0.91, "mean Dice");
    close(&ab["cohen_kappa"], 2. / 7., "Cohen's kappa");
    // Stroma: sites 3 and 10 both Stroma: P 2/5, R 2/3, F1 1/2, IoU (3/5 + 1)/2 = 4/5.
    let stroma = &ab["classes"][0];
    assert_eq!(stroma["class"], S);
    close(&stroma["precision"], 2. / 5., "Stroma precision");
    close(&stroma["recall"], 2. / 3., "Stroma recall");
    close(&stroma["f1"], 0.5, "Stroma F1");
    close(&stroma["mean_iou"], 0.8, "Stroma IoU");
    // alice vs carol, Lymphocyte: alice has none: recall 0/0 is null, precision 0/1 = 0.
    let lympho = &cli["pairs"][1]["classes"][0];
    assert_eq!(lympho["class"], L);
    assert!(lympho["recall"].is_null() && lympho["mean_iou"].is_null());
    close(&lympho["precision"], 0.0, "Lymphocyte precision");
    close(
        &cli["pairs"][1]["cohen_kappa"],
        6. / 11.,
        "alice-carol kappa",
    );
    close(&cli["pairs"][2]["cohen_kappa"], 8. / 13., "bob-carol kappa");

    // Fleiss: 11 items (s1 TTT, s2 TST, s3 SS∅, s4 T∅T, s4' ∅T∅, s5 S∅∅, s6 ∅TT, s7 ∅∅L,
    // s8 TSS, s9 ∅S∅, s10 SSS); totals T 11, S 10, L 1, ∅ 11 → P̄_e = 343/1089;
    // P̄ = (1 + 1 + 9/3)/11 = 5/11; κ = (495 − 343)/(1089 − 343) = 76/373.
    // Complete items s1 s2 s8 s10: P̄_e = 1/2, P̄ = 2/3, κ = 1/3.
    let f = &cli["fleiss"];
    assert_eq!((&f["items"], &f["complete_items"]), (&11.into(), &4.into()));
    close(&f["kappa"], 76. / 373., "Fleiss' kappa");
    close(
        &f["kappa_complete"],
        1. / 3.,
        "Fleiss' kappa, complete items",
    );
    assert_eq!(cli["consensus"]["instances"], 7);
    assert_eq!(cli["consensus"]["classes"][T], 4);
}

#[test]
fn cli_and_http_agree_on_the_hand_computed_figures() {
    let data = fixture();
    let cli: Value = serde_json::from_str(&cli_agreement(
        data.path(),
        &["--a", "alice", "--b", "bob", "--also", "carol", "--json"],
    ))
    .expect("JSON");
    assert_hand_computed(&cli);

    // The HTTP answer is the same JSON, and prefixes name the same raters.
    let server = Server::start(data.path(), &[]);
    let r = server.get(&format!(
        "/api/slides/{SYN}/agreement?a=alice&b=bob&also=carol"
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(json_of(&r), cli);
    let r = server.get(&format!(
        "/api/slides/{SYN}/agreement?a=user:alice&b=user:bob&also=layer:carol"
    ));
    let prefixed = json_of(&r);
    assert_eq!(
        prefixed["pairs"][2]["a"], "user:bob",
        "pairs are named as given"
    );
    for k in 0..3 {
        for key in ["overall", "classes", "cohen_kappa", "confusion"] {
            assert_eq!(prefixed["pairs"][k][key], cli["pairs"][k][key], "{k} {key}");
        }
    }
    assert_eq!(prefixed["fleiss"], cli["fleiss"]);

    // Tumor only, alice vs bob: only site 1 matches; one class, so kappa is null.
    let r = server.get(&format!(
        "/api/slides/{SYN}/agreement?a=alice&b=bob&class=Tumor"
    ));
    let tumor = json_of(&r);
    assert_eq!(tumor["pairs"][0]["overall"]["matched"], 1);
    close(
        &tumor["pairs"][0]["overall"]["precision"],
        1. / 3.,
        "Tumor only",
    );
    assert!(tumor["pairs"][0]["cohen_kappa"].is_null());
    assert!(tumor["fleiss"].is_null(), "two raters");
    // IoU ≥ 0.3 lets site 4 (1/3) match: 6 pairs, κ = (2/3 − 4/9)/(5/9) = 2/5.
    let r = server.get(&format!(
        "/api/slides/{SYN}/agreement?a=alice&b=bob&iou=0.3"
    ));
    let loose = json_of(&r);
    assert_eq!(loose["pairs"][0]["overall"]["matched"], 6);
    close(&loose["pairs"][0]["cohen_kappa"], 0.4, "kappa at 0.3");

    // The text report: a table per pair, then Fleiss and the consensus.
    let text = cli_agreement(
        data.path(),
        &["--a", "alice", "--b", "bob", "--also", "carol"],
    );
    assert!(text.contains("a = alice (reference), b = bob"), "{text}");
    let overall = text
        .lines()
        .find(|l| l.trim_start().starts_with("overall"))
        .expect("an overall row");
    let cells: Vec<&str> = overall.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "overall", "7", "8", "5", "0.625", "0.714", "0.667", "0.853", "0.910"
        ]
    );
    assert!(
        text.contains("Fleiss' kappa, 3 raters: 0.204 over 11 items"),
        "{text}"
    );
    assert!(text.contains("consensus: 7 instances marked by at least 2 of 3 raters"));
}

#[test]
fn refusals_name_what_is_wrong() {
    let data = fixture();
    let server = Server::start(data.path(), &[]);
    let status_and_error = |query: &str| {
        let r = server.get(&format!("/api/slides/{SYN}/agreement{query}"));
        let error = json_of(&r)["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        (r.status, error)
    };
    for (query, status, names) in [
        ("?a=alice", 400, "parameter b"),
        ("?b=bob", 400, "parameter a"),
        ("?a=alice&b=bob&iou=lots", 400, "parameter iou"),
        ("?a=alice&b=bob&iou=0", 400, "parameter iou"),
        ("?a=alice&b=bob&iou=1.5", 400, "parameter iou"),
        ("?a=alice&b=user:", 400, "parameter b"),
        ("?a=alice&b=user:alice", 400, "parameter b"),
        ("?a=alice&b=bob&also=carol,bob", 400, "parameter also"),
        ("?a=alice&b=bob&class=", 400, "parameter class"),
        ("?a=alice&b=nobody", 404, "nobody"),
        ("?a=layer:alice&b=bob", 404, r#"the layer "alice""#),
        ("?a=alice&b=user:carol", 404, r#"the author "carol""#),
    ] {
        let (got, error) = status_and_error(query);
        assert_eq!(got, status, "{query}: {error}");
        assert!(
            error.contains(names),
            "{query}: {error:?} should name {names}"
        );
    }
    let r = server.get("/api/slides/nope/agreement?a=alice&b=bob");
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.text().contains("nope"));
    let r = server.request(
        "POST",
        &format!("/api/slides/{SYN}/agreement/consensus?a=alice&b=bob"),
        &[],
        b"",
    );
    assert_eq!(r.status, 400);
    assert!(
        json_of(&r)["error"]
            .as_str()
            .is_some_and(|e| e.contains("parameter layer"))
    );

    let out = tessera(&[
        &"agreement",
        &"--data",
        &data.path(),
        &SYN,
        &"--a",
        &"alice",
        &"--b",
        &"nobody",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("rater \"nobody\""), "{stderr}");
}

/// The annotations of `layer`, as (x of the bounding box's left, class), sorted.
fn layer_marks(server: &Server, layer: &str) -> Vec<(i64, String)> {
    let r = server.get(&format!("/api/slides/{SYN}/annotations?layer={layer}"));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = json_of(&r);
    let mut out: Vec<(i64, String)> = v["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|f| {
            let p = &f["properties"];
            assert_eq!(p["author"], "consensus");
            assert_eq!(p["provenance"], "human");
            let x = f["geometry"]["coordinates"][0]
                .as_array()
                .expect("ring")
                .iter()
                .filter_map(|c| c[0].as_f64())
                .fold(f64::INFINITY, f64::min);
            (
                x as i64,
                p["classification"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    out.sort_unstable();
    out
}

#[test]
fn consensus_is_stored_with_the_majority_class() {
    let data = fixture();
    let server = Server::start(data.path(), &[]);
    let post = |query: &str| {
        server.request(
            "POST",
            &format!("/api/slides/{SYN}/agreement/consensus{query}"),
            &[],
            b"",
        )
    };
    let r = post("?a=alice&b=bob&also=carol&layer=agreed");
    assert_eq!(r.status, 201, "{}", r.text());
    let report = json_of(&r);
    assert_eq!(
        (&report["imported"], &report["layer"]),
        (&7.into(), &"agreed".into())
    );
    // Clusters marked by 2 or 3 raters: sites 1 2 3 4 6 8 10. Site 2's medoid is bob's
    // square at x = 620 (mean IoU (2/3 + 19/21)/2, the highest), but the class is Tumor
    // (alice and carol); site 8 is Stroma by 2 votes to 1; ties of the medoid go to the
    // rater named first.
    let want: Vec<(i64, String)> = [
        (300, T),
        (620, T),
        (900, S),
        (1200, T),
        (1800, T),
        (2400, S),
        (3000, S),
    ]
    .iter()
    .map(|&(x, c)| (x, c.to_string()))
    .collect();
    assert_eq!(layer_marks(&server, "agreed"), want);
    // The layer is taken now.
    let r = post("?a=alice&b=bob&also=carol&layer=agreed");
    assert_eq!(r.status, 409, "{}", r.text());
    // No Lymphocyte marked by both alice and carol: nothing to store.
    let r = post("?a=alice&b=carol&class=Lymphocyte&layer=none");
    assert_eq!(r.status, 422, "{}", r.text());
    drop(server);

    // Two raters on the command line: the consensus is the matched pairs; a pair that
    // disagrees on class takes the reference's (site 2 and 8: Tumor, alice's squares).
    let out: Value = serde_json::from_str(&cli_agreement(
        data.path(),
        &[
            "--a",
            "alice",
            "--b",
            "bob",
            "--consensus",
            "pair",
            "--json",
        ],
    ))
    .expect("JSON");
    assert_eq!(out["stored"]["imported"], 5);
    assert_eq!(out["consensus"]["classes"][T], 3);
    let server = Server::start(data.path(), &[]);
    let want: Vec<(i64, String)> = [(300, T), (600, T), (900, S), (2400, T), (3000, S)]
        .iter()
        .map(|&(x, c)| (x, c.to_string()))
        .collect();
    assert_eq!(layer_marks(&server, "pair"), want);
}
