//! Region queries against an independent oracle: 100,000 synthetic cells plus holed
//! polygons, multipolygons, lines and points go into the engine (no HTTP, no slide cache:
//! the bounds closure says how big the slide is), then 1,000+ boxes of every size, many at
//! or beyond the slide's edges, are queried and the ids compared with a brute-force exact
//! intersection test done with the `geo` crate on the features parsed from the original
//! GeoJSON, snapped to the centipixels the engine stores.

#![allow(clippy::too_many_lines)]

use geo::{Intersects, Rect as GeoRect, coord};
use server::annotations::{Engine, EngineLimits, ImportOptions, QueryParams};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use tiler::synth::SynthSpec;

const SLIDE: &str = "oracle";
/// Big enough for more than 100,000 nuclei at the default 32 px spacing.
const WIDTH: u32 = 14_000;
const HEIGHT: u32 = 10_500;
const CELLS: usize = 100_000;

/// SplitMix64: a small, fixed-seed generator, so every run queries the same boxes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo) as u64).cast_signed()
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A coordinate in centipixels written as pixels with two decimals (exact, no rounding).
fn px(centi: i64) -> String {
    let sign = if centi < 0 { "-" } else { "" };
    let a = centi.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

fn position(out: &mut String, p: [i64; 2]) {
    let _ = write!(out, "[{},{}]", px(p[0]), px(p[1]));
}

fn ring_json(out: &mut String, ring: &[[i64; 2]]) {
    out.push('[');
    for (i, p) in ring.iter().chain(ring.first()).enumerate() {
        if i > 0 {
            out.push(',');
        }
        position(out, *p);
    }
    out.push(']');
}

/// A star-shaped (so simple) ring around `c` with radii in [r0, r1] centipixels.
fn star(rng: &mut Rng, c: [i64; 2], r0: f64, r1: f64, vertices: usize) -> Vec<[i64; 2]> {
    let mut ring: Vec<[i64; 2]> = (0..vertices)
        .map(|i| {
            let t = (i as f64 + 0.8 * rng.unit()) / vertices as f64 * std::f64::consts::TAU;
            let r = r0 + (r1 - r0) * rng.unit();
            [
                c[0] + (r * t.cos()).round() as i64,
                c[1] + (r * t.sin()).round() as i64,
            ]
        })
        .collect();
    ring.dedup();
    ring
}

/// Holed polygons, multipolygons, lines, points and multipoints, as a FeatureCollection,
/// and the centres of the holes (boxes there must miss their polygon).
fn extra_shapes(rng: &mut Rng) -> (String, Vec<[i64; 2]>) {
    let (w, h) = (i64::from(WIDTH) * 100, i64::from(HEIGHT) * 100);
    let mut features = Vec::new();
    let mut holes = Vec::new();
    let feature = |n: usize, kind: &str, coords: &str| {
        format!(
            r#"{{"type":"Feature","id":"00000000-0000-4000-8000-{n:012}","geometry":{{"type":"{kind}","coordinates":{coords}}},"properties":{{"classification":{{"name":"Extra"}}}}}}"#
        )
    };
    let mut n = 0;
    for _ in 0..600 {
        // A ring with a hole: the hole's outer radius stays inside the ring's inner one.
        let r1 = rng.range(2_000, 40_000) as f64;
        let c = [
            rng.range(r1 as i64, w - r1 as i64),
            rng.range(r1 as i64, h - r1 as i64),
        ];
        let vertices = rng.range(8, 40) as usize;
        let outer = star(rng, c, 0.7 * r1, r1, vertices);
        let hole_vertices = rng.range(4, 16) as usize;
        let hole = star(rng, c, 0.2 * r1, 0.45 * r1, hole_vertices);
        let mut coords = String::from("[");
        ring_json(&mut coords, &outer);
        coords.push(',');
        ring_json(&mut coords, &hole);
        coords.push(']');
        features.push(feature(n, "Polygon", &coords));
        holes.push(c);
        n += 1;
    }
    for _ in 0..300 {
        // Two stars side by side; the first has a hole.
        let r = rng.range(1_000, 20_000) as f64;
        let c = [
            rng.range(r as i64, w - 3 * r as i64),
            rng.range(r as i64, h - r as i64),
        ];
        let c2 = [c[0] + (2.2 * r) as i64, c[1]];
        let mut coords = String::from("[[");
        ring_json(&mut coords, &star(rng, c, 0.8 * r, r, 12));
        coords.push(',');
        ring_json(&mut coords, &star(rng, c, 0.2 * r, 0.6 * r, 6));
        coords.push_str("],[");
        ring_json(&mut coords, &star(rng, c2, 0.8 * r, r, 9));
        coords.push_str("]]");
        features.push(feature(n, "MultiPolygon", &coords));
        holes.push(c);
        n += 1;
    }
    for _ in 0..600 {
        let mut p = [rng.range(0, w), rng.range(0, h)];
        let mut pts = Vec::new();
        for _ in 0..rng.range(2, 12) {
            pts.push(p);
            let step = rng.range(100, 80_000);
            p = [
                (p[0] + rng.range(-step, step + 1)).clamp(0, w),
                (p[1] + rng.range(-step, step + 1)).clamp(0, h),
            ];
        }
        pts.dedup();
        if pts.len() < 2 {
            continue;
        }
        let mut coords = String::from("[");
        for (i, p) in pts.iter().enumerate() {
            if i > 0 {
                coords.push(',');
            }
            position(&mut coords, *p);
        }
        coords.push(']');
        features.push(feature(n, "LineString", &coords));
        n += 1;
    }
    for _ in 0..600 {
        let mut coords = String::new();
        position(
            &mut coords,
            [rng.range(-150, w + 150), rng.range(-150, h + 150)],
        );
        features.push(feature(n, "Point", &coords));
        n += 1;
    }
    for _ in 0..200 {
        let mut coords = String::from("[");
        let c = [rng.range(0, w), rng.range(0, h)];
        for i in 0..rng.range(1, 8) {
            if i > 0 {
                coords.push(',');
            }
            position(
                &mut coords,
                [
                    (c[0] + rng.range(-50_000, 50_000)).clamp(0, w),
                    (c[1] + rng.range(-50_000, 50_000)).clamp(0, h),
                ],
            );
        }
        coords.push(']');
        features.push(feature(n, "MultiPoint", &coords));
        n += 1;
    }
    (
        format!(
            r#"{{"type":"FeatureCollection","features":[{}]}}"#,
            features.join(",\n")
        ),
        holes,
    )
}

/// One feature as the oracle sees it: geometry in centipixels and its bounding box.
struct Truth {
    id: String,
    geometry: geo::Geometry<f64>,
    bbox: [f64; 4],
}

fn snap(v: &serde_json::Value) -> geo::Coord<f64> {
    let n = |i: usize| {
        (v[i]
            .as_f64()
            .unwrap_or_else(|| panic!("a coordinate in {v}"))
            * 100.0)
            .round()
    };
    coord! { x: n(0), y: n(1) }
}

fn line(v: &serde_json::Value) -> geo::LineString<f64> {
    v.as_array()
        .expect("an array of positions")
        .iter()
        .map(snap)
        .collect()
}

fn polygon(v: &serde_json::Value) -> geo::Polygon<f64> {
    let rings = v.as_array().expect("an array of rings");
    geo::Polygon::new(line(&rings[0]), rings[1..].iter().map(line).collect())
}

/// Parses features independently of the engine (serde_json + geo).
fn truths(text: &[u8]) -> Vec<Truth> {
    let doc: serde_json::Value = serde_json::from_slice(text).expect("our own GeoJSON parses");
    doc["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|f| {
            let g = &f["geometry"];
            let c = &g["coordinates"];
            let geometry: geo::Geometry<f64> = match g["type"].as_str() {
                Some("Point") => geo::Point::from(snap(c)).into(),
                Some("MultiPoint") => {
                    geo::MultiPoint::new(line(c).0.into_iter().map(geo::Point::from).collect())
                        .into()
                }
                Some("LineString") => line(c).into(),
                Some("Polygon") => polygon(c).into(),
                Some("MultiPolygon") => geo::MultiPolygon::new(
                    c.as_array()
                        .expect("polygons")
                        .iter()
                        .map(polygon)
                        .collect(),
                )
                .into(),
                other => panic!("unexpected geometry type {other:?}"),
            };
            let mut bbox = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
            for p in geo::CoordsIter::coords_iter(&geometry) {
                bbox = [
                    bbox[0].min(p.x),
                    bbox[1].min(p.y),
                    bbox[2].max(p.x),
                    bbox[3].max(p.y),
                ];
            }
            Truth {
                id: f["id"].as_str().expect("an id").to_string(),
                geometry,
                bbox,
            }
        })
        .collect()
}

/// A query box in quarter pixels, so that its centipixel bounds are exact.
#[derive(Debug, Clone, Copy)]
struct QBox {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

impl QBox {
    fn quarter(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
        rng.range((lo * 4.0) as i64, (hi * 4.0) as i64 + 1) as f64 / 4.0
    }

    /// The box in centipixels: x0, y0, x1, y1 (all exact).
    fn centi(self) -> [f64; 4] {
        [
            self.x * 100.0,
            self.y * 100.0,
            (self.x + self.w) * 100.0,
            (self.y + self.h) * 100.0,
        ]
    }

    fn param(self) -> String {
        format!("{},{},{},{}", self.x, self.y, self.w, self.h)
    }
}

fn boxes(rng: &mut Rng, holes: &[[i64; 2]]) -> Vec<QBox> {
    let (sw, sh) = (f64::from(WIDTH), f64::from(HEIGHT));
    let mut out = Vec::new();
    for i in 0..1000 {
        let kind = i % 20;
        let (w, h) = match kind {
            // Tiny: a few pixels or less.
            0..=7 => (
                QBox::quarter(rng, 0.25, 12.0),
                QBox::quarter(rng, 0.25, 12.0),
            ),
            // Cell-sized to viewport-sized.
            8..=15 => (
                QBox::quarter(rng, 20.0, 2_500.0),
                QBox::quarter(rng, 20.0, 2_000.0),
            ),
            // Large, up to beyond the whole slide.
            16 => (
                QBox::quarter(rng, 3_000.0, sw + 100.0),
                QBox::quarter(rng, 3_000.0, sh + 100.0),
            ),
            // Thin slivers.
            _ => {
                if rng.next().is_multiple_of(2) {
                    (
                        QBox::quarter(rng, 0.25, 2.0),
                        QBox::quarter(rng, 50.0, 3_000.0),
                    )
                } else {
                    (
                        QBox::quarter(rng, 50.0, 3_000.0),
                        QBox::quarter(rng, 0.25, 2.0),
                    )
                }
            }
        };
        let (x, y) = if i % 4 == 3 {
            // At an edge of the slide, partly outside it.
            match rng.next() % 4 {
                0 => (QBox::quarter(rng, -w, 5.0), QBox::quarter(rng, -50.0, sh)),
                1 => (
                    QBox::quarter(rng, sw - w - 5.0, sw + 5.0),
                    QBox::quarter(rng, -50.0, sh),
                ),
                2 => (QBox::quarter(rng, -50.0, sw), QBox::quarter(rng, -h, 5.0)),
                _ => (
                    QBox::quarter(rng, -50.0, sw),
                    QBox::quarter(rng, sh - h - 5.0, sh + 5.0),
                ),
            }
        } else {
            (
                QBox::quarter(rng, -20.0, sw - w.min(sw) + 20.0),
                QBox::quarter(rng, -20.0, sh - h.min(sh) + 20.0),
            )
        };
        out.push(QBox { x, y, w, h });
    }
    // Small boxes in the middle of holes: the holed polygon itself must not be returned.
    for c in holes.iter().step_by(3) {
        let (x, y) = (
            (c[0] / 25) as f64 / 4.0 - 0.5,
            (c[1] / 25) as f64 / 4.0 - 0.5,
        );
        out.push(QBox {
            x,
            y,
            w: 1.0,
            h: 1.0,
        });
    }
    out
}

/// Ids the oracle says meet the box (closed sets: touching counts).
fn expected(truth: &[Truth], b: QBox) -> BTreeSet<String> {
    let [x0, y0, x1, y1] = b.centi();
    let rect = GeoRect::new(coord! { x: x0, y: y0 }, coord! { x: x1, y: y1 });
    truth
        .iter()
        .filter(|t| t.bbox[0] <= x1 && t.bbox[2] >= x0 && t.bbox[1] <= y1 && t.bbox[3] >= y0)
        .filter(|t| {
            // Wholly inside the box: certainly meets it; otherwise ask geo.
            (t.bbox[0] >= x0 && t.bbox[2] <= x1 && t.bbox[1] >= y0 && t.bbox[3] <= y1)
                || t.geometry.intersects(&rect)
        })
        .map(|t| t.id.clone())
        .collect()
}

#[derive(serde::Deserialize)]
struct Collection {
    count: usize,
    truncated: bool,
    features: Vec<IdOnly>,
}

#[derive(serde::Deserialize)]
struct IdOnly {
    id: String,
}

/// Ids of a GeoJSON answer.
fn geojson_ids(body: &[u8]) -> BTreeSet<String> {
    let c: Collection = serde_json::from_slice(body).expect("a FeatureCollection");
    assert!(!c.truncated);
    assert_eq!(c.count, c.features.len());
    let ids: BTreeSet<String> = c.features.into_iter().map(|f| f.id).collect();
    assert_eq!(ids.len(), c.count, "an id came twice");
    ids
}

/// Ids of a binary (`TANN`) geometry answer, decoded from the documented layout.
fn binary_ids(body: &[u8]) -> BTreeSet<String> {
    assert_eq!(&body[..4], b"TANN");
    assert_eq!(body[4], 1, "version");
    assert_eq!(body[5], 0, "geometry");
    let u32_at =
        |at: usize| u32::from_le_bytes(body[at..at + 4].try_into().expect("4 bytes")) as usize;
    let classes = usize::from(u16::from_le_bytes([body[6], body[7]]));
    let count = u32_at(8);
    let mut at = 16;
    for _ in 0..classes {
        at += 4 + usize::from(body[at + 3]);
    }
    at = at.next_multiple_of(4);
    at += 8; // rings, vertices
    let ids: BTreeSet<String> = (0..count)
        .map(|i| {
            let bytes: [u8; 16] = body[at + 16 * i..at + 16 * (i + 1)]
                .try_into()
                .expect("16 bytes");
            uuid::Uuid::from_bytes(bytes).hyphenated().to_string()
        })
        .collect();
    assert_eq!(ids.len(), count, "an id came twice");
    ids
}

fn query(engine: &Engine, b: QBox, binary: bool) -> BTreeSet<String> {
    let p = QueryParams {
        bbox: Some(b.param()),
        format: binary.then(|| "binary".to_string()),
        ..QueryParams::default()
    };
    let answer = engine
        .query(SLIDE, &p)
        .unwrap_or_else(|e| panic!("query {b:?}: {e}"));
    if binary {
        binary_ids(&answer.body.concat())
    } else {
        geojson_ids(&answer.body.concat())
    }
}

fn describe(set: &BTreeSet<String>, truth: &[Truth]) -> String {
    set.iter()
        .take(5)
        .map(|id| {
            let t = truth.iter().find(|t| &t.id == id);
            format!(
                "{id} ({})",
                t.map_or_else(String::new, |t| format!("{:?}", t.geometry))
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn region_queries_match_a_brute_force_oracle() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bounds = (f64::from(WIDTH), f64::from(HEIGHT));
    let engine = Engine::open(
        dir.path(),
        Box::new(move |id: &str| (id == SLIDE).then_some(bounds)),
        EngineLimits::default(),
    )
    .expect("engine opens");

    let spec = SynthSpec {
        width: WIDTH,
        height: HEIGHT,
        ..SynthSpec::default()
    };
    let mut cells = Vec::new();
    let written = server::annotations::synth::write_cells(spec, Some(CELLS), &mut cells, &|_| {})
        .expect("cells are written");
    assert_eq!(written, CELLS, "the synthetic slide holds enough nuclei");
    let mut rng = Rng(0x7e55_e7a0);
    let (extra, holes) = extra_shapes(&mut rng);

    let import = |bytes: &[u8], layer: &str| {
        let opts = ImportOptions {
            layer: layer.to_string(),
            provenance: None,
            author: "oracle".to_string(),
            repair: false,
            new_ids: false,
            default_class: None,
            ..ImportOptions::default()
        };
        engine
            .import(SLIDE, bytes, &opts, &|_| {})
            .unwrap_or_else(|e| panic!("import into {layer}: {e}"))
    };
    // Load the index first, so the second import extends it in place, as the server does.
    engine.index(SLIDE).expect("index loads");
    assert_eq!(import(&cells, "cells").imported, CELLS);

    let mut truth = truths(&cells);
    let extras = truths(extra.as_bytes());
    assert_eq!(import(extra.as_bytes(), "extra").imported, extras.len());
    truth.extend(extras);
    assert_eq!(
        truth
            .iter()
            .map(|t| t.id.as_str())
            .collect::<BTreeSet<_>>()
            .len(),
        truth.len(),
        "ids are unique"
    );

    // The whole slide holds everything.
    let all = engine
        .query(SLIDE, &QueryParams::default())
        .expect("whole-slide query");
    assert_eq!(geojson_ids(&all.body.concat()).len(), truth.len());

    let boxes = boxes(&mut rng, &holes);
    let (mut checked, mut nonempty, mut hits) = (0usize, 0usize, 0usize);
    for (i, &b) in boxes.iter().enumerate() {
        let want = expected(&truth, b);
        // Large answers come as binary (same ids, far less to parse); the first boxes are
        // asked both ways.
        let big = b.w * b.h > 2_000.0 * 2_000.0;
        let got = query(&engine, b, big);
        if i < 50 {
            assert_eq!(
                got,
                query(&engine, b, !big),
                "GeoJSON and binary agree on {b:?}"
            );
        }
        if got != want {
            let missing: BTreeSet<String> = want.difference(&got).cloned().collect();
            let extra: BTreeSet<String> = got.difference(&want).cloned().collect();
            panic!(
                "box #{i} {b:?} (centipixels {:?}): engine returned {} ids, the oracle {}; \
                 missing {}: {}; unexpected {}: {}",
                b.centi(),
                got.len(),
                want.len(),
                missing.len(),
                describe(&missing, &truth),
                extra.len(),
                describe(&extra, &truth)
            );
        }
        checked += 1;
        nonempty += usize::from(!want.is_empty());
        hits += want.len();
    }
    assert_eq!(checked, boxes.len());
    // The boxes must have tested something: most of them meet features.
    assert!(
        nonempty > boxes.len() / 2,
        "only {nonempty} of {checked} boxes met anything"
    );
    eprintln!("{checked} boxes, {nonempty} non-empty, {hits} hits in all");
}
