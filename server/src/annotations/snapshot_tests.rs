//! Snapshots: cold answers equal loaded ones, slides leave memory under their users
//! unharmed, restarts reuse snapshots, and a snapshot that disagrees with the store is
//! rebuilt rather than trusted.

use super::{Snapshot, path};
use crate::annotations::engine::{Engine, EngineLimits, unguarded};
use crate::annotations::query::Part;
use crate::annotations::{ImportOptions, QueryParams};
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

const SIDE: u32 = 6000;

fn open(dir: &Path, index_bytes: u64) -> Engine {
    Engine::open(
        dir,
        Box::new(|s| {
            ["a", "b"]
                .contains(&s)
                .then_some((f64::from(SIDE), f64::from(SIDE)))
        }),
        EngineLimits {
            answer_texts: true,
            index_bytes,
            settle: Duration::from_millis(100),
            ..EngineLimits::default()
        },
    )
    .expect("engine")
}

/// A cell of 10 vertices at grid place `i` of `slide`'s pattern.
fn cell(i: u32, salt: u32) -> String {
    let (cx, cy) = (
        f64::from(30 + (i * 7 + salt) % 97 * 61),
        f64::from(30 + (i / 97) * 55 + salt % 13),
    );
    let mut ring = String::new();
    for k in 0..=10u32 {
        let a = f64::from(k % 10) * std::f64::consts::TAU / 10.0;
        let r = 8.0 + f64::from((i + k % 10) % 6);
        let _ = write!(
            ring,
            "{}[{:.2},{:.2}]",
            if k > 0 { "," } else { "" },
            cx + r * a.cos(),
            cy + r * a.sin()
        );
    }
    let class = ["Tumor", "Stroma", "Immune cells", "Necrosis"][(i % 4) as usize];
    format!(
        r#"{{"type":"Feature","geometry":{{"type":"Polygon","coordinates":[[{ring}]]}},"properties":{{"objectType":"detection","classification":{{"name":"{class}"}},"measurements":{{"Area":{}.25,"Perimeter":{}}}}}}}"#,
        i % 89,
        i % 31
    )
}

fn import(e: &Engine, slide: &str, n: u32, salt: u32) {
    let cells: Vec<String> = (0..n).map(|i| cell(i, salt)).collect();
    let file = format!(
        r#"{{"type":"FeatureCollection","features":[{}]}}"#,
        cells.join(",")
    );
    let opts = ImportOptions {
        layer: "cells".into(),
        author: "t".into(),
        ..ImportOptions::default()
    };
    e.import(slide, file.as_bytes(), &opts, &|_| {})
        .expect("import");
}

/// The whole answer to `query` on `slide`: its count and body bytes.
fn answer(e: &Engine, slide: &str, query: &str) -> (usize, Vec<u8>) {
    let mut p = QueryParams::default();
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').expect("k=v");
        let v = Some(v.to_string());
        match k {
            "bbox" => p.bbox = v,
            "fields" => p.fields = v,
            "format" => p.format = v,
            "lod" => p.lod = v,
            "budget" => p.budget = v.and_then(|v| v.parse().ok()),
            "limit" => p.limit = v.and_then(|v| v.parse().ok()),
            "class" => p.class = v,
            other => panic!("{other}"),
        }
    }
    let (mut count, mut body) = (0, Vec::new());
    e.query_streamed(slide, &p, &mut |part| {
        match part {
            Part::Head(h) => count = h.count,
            Part::Piece(b) => body.extend_from_slice(&b),
        }
        true
    })
    .expect("query");
    (count, body)
}

/// Region queries of every kind over fixed and pseudo-random boxes.
fn queries() -> Vec<String> {
    let mut boxes: Vec<String> = [
        "0,0,6000,6000",
        "100,100,1920,1080",
        "3000,200,40,40",
        "5990,5990,10,10",
    ]
    .map(String::from)
    .to_vec();
    let mut x = 12_345u64;
    for _ in 0..24 {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let (px, py, w) = ((x >> 20) % 5800, (x >> 36) % 5800, (x >> 8) % 900 + 1);
        boxes.push(format!("{px},{py},{w},{}", w * 9 / 16 + 1));
    }
    let kinds = [
        "fields=all",
        "fields=qupath",
        "format=binary",
        "lod=centroids",
        "lod=density",
        "lod=auto&budget=40",
        "limit=7",
        "class=Stroma&format=binary",
    ];
    boxes
        .iter()
        .flat_map(|b| kinds.iter().map(move |k| format!("bbox={b}&{k}")))
        .collect()
}

fn answers(e: &Engine, slide: &str) -> Vec<(usize, Vec<u8>)> {
    queries().iter().map(|q| answer(e, slide, q)).collect()
}

/// Waits for a snapshot of `slide` holding `generation` (written in the background).
fn wait_for_snapshot(dir: &Path, slide: &str, generation: i64) -> Snapshot {
    let started = Instant::now();
    loop {
        if let Ok(Some(s)) = Snapshot::open(dir, slide, generation) {
            return s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no snapshot of {slide}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn generation(e: &Engine, slide: &str) -> i64 {
    e.reader().generation(slide).expect("generation")
}

#[test]
fn cold_answers_equal_loaded_answers_and_a_restart_reuses_the_snapshot() {
    let dir = tempfile::tempdir().expect("temp dir");
    let loaded = {
        let e = open(dir.path(), u64::MAX);
        import(&e, "a", 6000, 0);
        e.write_snapshot("a").expect("snapshot");
        assert!(e.is_loaded("a"));
        answers(&e, "a")
    };
    assert!(loaded.iter().any(|(n, _)| *n > 1000), "some big answers");
    // A restart: every answer from the snapshot, the slide never loaded.
    let e = open(dir.path(), u64::MAX);
    let cold = answers(&e, "a");
    let r = e.residency();
    assert_eq!((r.loads, r.slides), (0, 0), "{r:?}");
    assert!(r.cold_queries > 0, "{r:?}");
    assert!(cold == loaded, "cold answers differ from loaded ones");
    // A load reads the snapshot, texts and all: nothing to make again.
    let slide = e.index("a").expect("load");
    assert!(slide.read().texts().is_some_and(|t| t.covered() == 6000));
    assert!(!slide.read().texts_behind());
    assert!(
        answers(&e, "a") == loaded,
        "answers after a load from the snapshot"
    );
}

#[test]
fn slides_leave_memory_within_the_budget_but_not_under_their_users() {
    let dir = tempfile::tempdir().expect("temp dir");
    let one_slide = {
        let e = open(dir.path(), u64::MAX);
        import(&e, "a", 4000, 0);
        import(&e, "b", 4000, 3);
        e.index("a").expect("load");
        e.residency().bytes
    };
    let before = {
        let e = open(dir.path(), u64::MAX);
        (answers(&e, "a"), answers(&e, "b"))
    };
    let e = open(dir.path(), one_slide * 3 / 2);
    let a = e.index("a").expect("load a");
    let held = a.read();
    let b = e.index("b").expect("load b");
    let r = e.residency();
    assert_eq!((r.slides, r.evictions), (1, 1), "{r:?}");
    assert!(r.bytes <= r.budget, "{r:?}");
    assert!(!e.is_loaded("a") && e.is_loaded("b"));
    // Its user still reads it whole.
    assert_eq!(held.len(), 4000);
    assert_eq!(held.live_slots().count(), 4000);
    drop(held);
    drop((a, b));
    assert!(answers(&e, "a") == before.0 && answers(&e, "b") == before.1);
    // An edit of a slide out of memory is in the next answer.
    let id = {
        let a = e.index("a").expect("load a");
        let index = a.read();
        index.slot(index.live_slots().next().expect("a cell")).id
    };
    let _ = e.residency(); // evictions are settled when the budget is looked at
    e.index("b").expect("load b");
    let r = e.residency();
    assert!(!e.is_loaded("a"), "{r:?}");
    e.delete(&id, None, "t", &unguarded).expect("delete");
    let (count, _) = answer(&e, "a", "bbox=0,0,6000,6000&format=binary");
    assert_eq!(count, 3999);
}

/// Damage done to a snapshot file.
fn damage(file: &Path, how: &str) {
    let mut bytes = std::fs::read(file).expect("snapshot");
    match how {
        "truncated" => bytes.truncate(bytes.len() / 2),
        "another version" => {
            let key = br#"{"format":1,"#;
            let at = bytes
                .windows(key.len())
                .rposition(|w| w == key)
                .expect("header");
            bytes[at + 10] = b'7';
        }
        other => panic!("{other}"),
    }
    std::fs::write(file, bytes).expect("write");
}

#[test]
fn a_snapshot_that_disagrees_with_the_store_is_rebuilt_not_trusted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let e = open(dir.path(), u64::MAX);
    import(&e, "a", 3000, 0);
    e.write_snapshot("a").expect("snapshot");
    let file = path(dir.path(), "a");
    // Stale: another process (no snapshots of its own) deletes a cell.
    let outside = Engine::open(
        dir.path(),
        Box::new(|s| (s == "a").then_some((f64::from(SIDE), f64::from(SIDE)))),
        EngineLimits::default(),
    )
    .expect("engine");
    let id = {
        let a = outside.index("a").expect("load");
        let index = a.read();
        index.slot(index.live_slots().nth(5).expect("a cell")).id
    };
    outside.delete(&id, None, "t", &unguarded).expect("delete");
    let current = generation(&outside, "a");
    let err = Snapshot::open(dir.path(), "a", current).expect_err("stale");
    assert!(err.contains("generation"), "{err}");
    drop((e, outside));
    let truth = {
        let e = open(dir.path(), u64::MAX);
        let answers = answers(&e, "a");
        assert_eq!(answer(&e, "a", "bbox=0,0,6000,6000&format=binary").0, 2999);
        answers
    };
    wait_for_snapshot(dir.path(), "a", current);
    for how in ["truncated", "another version"] {
        damage(&file, how);
        let err = Snapshot::open(dir.path(), "a", current).expect_err(how);
        assert!(err.contains(&file.display().to_string()), "{how}: {err}");
        let e = open(dir.path(), u64::MAX);
        assert!(answers(&e, "a") == truth, "{how}: answers");
        assert_eq!(e.residency().loads, 1, "{how}: loaded from the store");
        wait_for_snapshot(dir.path(), "a", current);
    }
    let e = open(dir.path(), u64::MAX);
    assert!(answers(&e, "a") == truth);
    assert_eq!(e.residency().loads, 0, "the rebuilt snapshot serves");
}

#[test]
fn edits_settle_into_the_snapshot_so_a_restart_answers_them_without_a_load() {
    let dir = tempfile::tempdir().expect("temp dir");
    let e = open(dir.path(), u64::MAX);
    import(&e, "a", 3000, 0);
    e.write_snapshot("a").expect("snapshot");
    let ids: Vec<uuid::Uuid> = {
        let a = e.index("a").expect("load");
        let index = a.read();
        index
            .live_slots()
            .take(3)
            .map(|n| index.slot(n).id)
            .collect()
    };
    for id in &ids {
        e.delete(id, None, "t", &unguarded).expect("delete");
    }
    e.create("a", "cells", cell(5000, 1).as_bytes(), "t", &unguarded)
        .expect("create");
    let edited = answers(&e, "a");
    // A few edits leave the texts almost whole; the snapshot follows once they settle.
    wait_for_snapshot(dir.path(), "a", generation(&e, "a"));
    drop(e);
    let e = open(dir.path(), u64::MAX);
    assert!(answers(&e, "a") == edited, "answers after the restart");
    let r = e.residency();
    assert_eq!(r.loads, 0, "{r:?}");
    assert_eq!(answer(&e, "a", "bbox=0,0,6000,6000&format=binary").0, 2998);
}

#[test]
fn an_import_into_a_slide_not_in_memory_is_answered_at_once_by_cold_queries() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let e = open(dir.path(), u64::MAX);
        import(&e, "a", 500, 0);
        e.write_snapshot("a").expect("snapshot");
    }
    let e = open(dir.path(), u64::MAX);
    let everything = "bbox=0,0,6000,6000&format=binary";
    assert_eq!(answer(&e, "a", everything).0, 500);
    assert!(!e.is_loaded("a"), "the cold query loaded the slide");
    // Into the slide that is not in memory: its opened snapshot is now behind the store.
    import(&e, "a", 300, 7);
    assert_eq!(
        answer(&e, "a", everything).0,
        800,
        "a cold query answered from the snapshot before the import"
    );
}
