//! The same edits on SQLite and on PostgreSQL give the same answers: creates, an update
//! with If-Match, a delete, undo, an import and the export. PostgreSQL comes from
//! `TESSERA_TEST_POSTGRES` (a `postgres://` address, see `scripts/postgres.sh`); without it
//! the test fails under `CI=true` and is skipped otherwise.

use super::{AnnotationStore, StoreOptions};
use crate::annotations::engine::{Engine, EngineLimits, unguarded};
use crate::annotations::error::AnnotationError;
use crate::annotations::import::ImportOptions;

fn database() -> Option<String> {
    let url = std::env::var("TESSERA_TEST_POSTGRES").ok();
    let under_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(
        url.is_some() || !under_ci,
        "TESSERA_TEST_POSTGRES is not set: the test command starts PostgreSQL"
    );
    url
}

fn polygon(x: u32, class: &str) -> String {
    with_id(x, class, "")
}

/// A triangle of area 450 at `x`; `id` is put in as given (`"id":"…",` or nothing).
fn with_id(x: u32, class: &str, id: &str) -> String {
    format!(
        r#"{{"type":"Feature",{id}"geometry":{{"type":"Polygon","coordinates":[[[{x},10],[{},10],[{},40],[{x},10]]]}},"properties":{{"classification":{{"name":"{class}"}}}}}}"#,
        x + 30,
        x + 30
    )
}

/// Runs the edits on an engine over `store` and returns the export without timestamps,
/// and what each step answered.
fn run(store: Box<dyn AnnotationStore>) -> (String, Vec<String>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let e = Engine::with_store(
        dir.path(),
        store,
        Box::new(|s| (s == "s").then_some((1000.0, 1000.0))),
        EngineLimits::default(),
    )
    .expect("engine");
    let mut steps = Vec::new();
    let a = e
        .create(
            "s",
            "cells",
            polygon(10, "Tumor").as_bytes(),
            "ann",
            &unguarded,
        )
        .expect("create");
    let b = e
        .create(
            "s",
            "cells",
            polygon(100, "Stroma").as_bytes(),
            "ann",
            &unguarded,
        )
        .expect("create");
    let updated = e
        .update(
            &a.id,
            1,
            polygon(20, "Necrosis").as_bytes(),
            "ann",
            &unguarded,
        )
        .expect("update");
    steps.push(format!("update → version {}", updated.version));
    let stale = e.update(&a.id, 1, polygon(30, "Tumor").as_bytes(), "ann", &unguarded);
    steps.push(format!(
        "stale update → {}",
        matches!(stale, Err(AnnotationError::Conflict { current: 2 }))
    ));
    e.delete(&b.id, None, "ann", &unguarded).expect("delete");
    let undo = e.undo("s", "ann").expect("undo");
    steps.push(format!(
        "undo → {}",
        serde_json::to_string(&undo).unwrap_or_default()
    ));
    steps.push(format!(
        "history of a → {}",
        e.history(&a.id).map_or(0, |h| h.len())
    ));
    let file = format!(
        r#"{{"type":"FeatureCollection","features":[{},{}]}}"#,
        polygon(300, "Tumor"),
        polygon(400, "Immune cells")
    );
    let opts = ImportOptions {
        layer: "imported".into(),
        author: "model".into(),
        ..ImportOptions::default()
    };
    let report = e
        .import("s", file.as_bytes(), &opts, &|_| {})
        .expect("import");
    steps.push(format!("import → {} features", report.imported));
    let duplicate = e.create_as(
        "s",
        "cells",
        with_id(10, "Tumor", &format!(r#""id":"{}","#, a.id)).as_bytes(),
        "ann",
        &unguarded,
        crate::annotations::engine::IdUse::Given,
    );
    steps.push(format!(
        "duplicate id → {}",
        matches!(duplicate, Err(AnnotationError::DuplicateId(_)))
    ));
    let mut out = Vec::new();
    e.export("s", None, &mut out).expect("export");
    let text = String::from_utf8(out).expect("utf-8");
    (without_times_and_new_ids(&text), steps)
}

/// The export with `"created"`/`"updated"` values and ids of new features left out.
fn without_times_and_new_ids(text: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(text).expect("the export is JSON");
    let mut features = value["features"].as_array().cloned().unwrap_or_default();
    for f in &mut features {
        if let Some(p) = f["properties"].as_object_mut() {
            p.remove("created");
            p.remove("updated");
        }
        if let Some(o) = f.as_object_mut() {
            o.remove("id");
        }
    }
    serde_json::to_string(&features).expect("json")
}

#[test]
fn sqlite_and_postgres_answer_the_same_edits_alike() {
    let Some(url) = database() else {
        eprintln!("skipped: TESSERA_TEST_POSTGRES is not set");
        return;
    };
    {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
        client
            .batch_execute("DROP SCHEMA IF EXISTS tessera CASCADE")
            .expect("a fresh schema");
    }
    let sqlite_dir = tempfile::tempdir().expect("temp dir");
    let sqlite = super::open(sqlite_dir.path(), StoreOptions::default()).expect("sqlite");
    let postgres = super::open_at(
        &crate::location::StoreLocation::Database(url.clone()),
        StoreOptions::default(),
    )
    .expect("postgres");
    let (on_sqlite, sqlite_steps) = run(sqlite);
    let (on_postgres, postgres_steps) = run(postgres);
    assert_eq!(sqlite_steps, postgres_steps);
    assert_eq!(on_sqlite, on_postgres);
    assert!(on_postgres.contains("Immune cells"), "{on_postgres}");
    let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    let area: f64 = client
        .query_one("SELECT sum(ST_Area(geom)) FROM tessera.annotations", &[])
        .expect("PostGIS answers")
        .get(0);
    assert!(
        (area - 4.0 * 450.0).abs() < 1e-6,
        "the geometry column holds the shapes: {area}"
    );
    // The README's query for SQL users: an envelope without SRID meets the pixels as is.
    let in_box: Vec<(String, String)> = client
        .query(
            "SELECT class, ST_AsText(geom) FROM tessera.annotations
             WHERE ST_Intersects(geom, ST_MakeEnvelope(0, 0, 200, 200)) ORDER BY class",
            &[],
        )
        .expect("the README's query runs")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        in_box,
        [
            (
                "Necrosis".to_string(),
                "POLYGON((20 10,50 10,50 40,20 10))".to_string()
            ),
            // Deleted, then back by the undo.
            (
                "Stroma".to_string(),
                "POLYGON((100 10,130 10,130 40,100 10))".to_string()
            )
        ]
    );
    older_stores_get_pixel_coordinates(&mut client, &url);
}

/// A store written before geometry had SRID 0 (ST_GeomFromGeoJSON gave 4326) is set
/// right when next opened, and the check that keeps it so is added.
fn older_stores_get_pixel_coordinates(client: &mut postgres::Client, url: &str) {
    client
        .batch_execute(
            "ALTER TABLE tessera.annotations DROP CONSTRAINT annotations_geom_in_pixels;
             UPDATE tessera.annotations SET geom = ST_SetSRID(geom, 4326);",
        )
        .expect("an older store");
    drop(
        super::open_at(
            &crate::location::StoreLocation::Database(url.to_string()),
            StoreOptions::default(),
        )
        .expect("reopened"),
    );
    let srids: Vec<i32> = client
        .query(
            "SELECT DISTINCT ST_SRID(geom) FROM tessera.annotations",
            &[],
        )
        .expect("srids")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(srids, [0]);
    let refused = client.execute(
        "UPDATE tessera.annotations SET geom = ST_SetSRID(geom, 4326)",
        &[],
    );
    assert!(refused.is_err(), "the check keeps SRID 0");
}
