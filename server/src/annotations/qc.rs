//! Automated quality checks: a slide's annotations on demand ([`check_slide`]), or one
//! annotation about to be written ([`check_one`], so a create or update can answer with
//! warnings). Nothing is refused here; problems are reported.
//!
//! The checks, per annotation:
//! - `invalid-geometry`: the stored geometry fails a check an import applies
//!   ([`Geometry::problem`]: rings of ≥ 3 distinct points with an area, no
//!   self-intersection; coordinates are integers, so always finite).
//! - `small-area`: a polygon's area (holes subtracted) is below `min_area_px` px².
//! - `overlap`: two polygons of the same layer and class share more than `max_overlap`
//!   of the smaller one's area. Each pair is reported once, on the one stored first,
//!   with the other in `other_id`. Candidates come from the R-tree; a pair whose bounding
//!   boxes cannot share that much is skipped before the exact intersection (`geo`).
//! - `outside-slide`: the bounding box reaches beyond the slide by more than the engine's
//!   tolerance (a slide re-tiled smaller after the import).
//! - `class-not-in-schema`: the class is not in the schema the caller gives.
//!
//! Points, multipoints and lines have no area: they are never small or overlapping.

use super::engine::Engine;
use super::error::AnnotationError;
use super::geometry::{Geometry, Rect, Ring, SCALE};
use super::index::SlideIndex;
use super::model::Annotation;
use super::query::{Filter, QueryParams};
use geo::{Area, BooleanOps};
use rayon::prelude::*;
use std::time::Instant;
use uuid::Uuid;

/// How many problems a slide report lists by default.
pub const DEFAULT_LIMIT: usize = 1000;

/// A schema's classes from a comma-separated list.
#[must_use]
pub fn class_list(text: &str) -> Vec<String> {
    text.split(',').map(|c| c.trim().to_string()).collect()
}

/// Thresholds of the `small-area` and `overlap` checks.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct QcThresholds {
    /// Polygons smaller than this, in px², are `small-area`.
    pub min_area_px: f64,
    /// Same-class pairs sharing more than this fraction of the smaller one's area
    /// overlap.
    pub max_overlap: f64,
}

impl Default for QcThresholds {
    fn default() -> Self {
        Self {
            min_area_px: 10.0,
            max_overlap: 0.5,
        }
    }
}

impl QcThresholds {
    /// The defaults with the given values instead, checked.
    pub fn new(
        min_area_px: Option<f64>,
        max_overlap: Option<f64>,
    ) -> Result<Self, AnnotationError> {
        let d = Self::default();
        let t = Self {
            min_area_px: min_area_px.unwrap_or(d.min_area_px),
            max_overlap: max_overlap.unwrap_or(d.max_overlap),
        };
        if !(t.min_area_px.is_finite() && t.min_area_px >= 0.0) {
            return Err(AnnotationError::BadRequest(format!(
                "min_area {} must be a number ≥ 0 (px²)",
                t.min_area_px
            )));
        }
        if !(0.0..=1.0).contains(&t.max_overlap) {
            return Err(AnnotationError::BadRequest(format!(
                "max_overlap {} must be between 0 and 1",
                t.max_overlap
            )));
        }
        Ok(t)
    }
}

/// The checks, in the order reports list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Check {
    InvalidGeometry,
    SmallArea,
    Overlap,
    OutsideSlide,
    ClassNotInSchema,
}

impl Check {
    pub const ALL: [Self; 5] = [
        Self::InvalidGeometry,
        Self::SmallArea,
        Self::Overlap,
        Self::OutsideSlide,
        Self::ClassNotInSchema,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidGeometry => "invalid-geometry",
            Self::SmallArea => "small-area",
            Self::Overlap => "overlap",
            Self::OutsideSlide => "outside-slide",
            Self::ClassNotInSchema => "class-not-in-schema",
        }
    }
}

impl serde::Serialize for Check {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Problem {
    pub id: Uuid,
    pub check: Check,
    /// What is wrong, in a sentence with the numbers.
    pub detail: String,
    /// The other annotation of an `overlap`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_id: Option<Uuid>,
}

/// Problems found per check; serialised as a map from each check's name, in order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts([usize; Check::ALL.len()]);

impl Counts {
    fn add(&mut self, check: Check) {
        self.0[check as usize] += 1;
    }

    /// Problems found by one check.
    #[must_use]
    pub fn of(&self, check: Check) -> usize {
        self.0[check as usize]
    }

    /// Problems of every check.
    #[must_use]
    pub fn total(&self) -> usize {
        self.0.iter().sum()
    }
}

impl serde::Serialize for Counts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(Check::ALL.len()))?;
        for check in Check::ALL {
            map.serialize_entry(check.as_str(), &self.of(check))?;
        }
        map.end()
    }
}

/// What a slide report checks.
#[derive(Debug, Clone)]
pub struct QcOptions {
    pub thresholds: QcThresholds,
    /// The classes a project's schema allows; `None` skips `class-not-in-schema`.
    pub allowed_classes: Option<Vec<String>>,
    /// Only annotations meeting this box (all of the slide's when `None`, even those
    /// wholly outside it).
    pub bbox: Option<Rect>,
    /// Only these layers (comma-separated, as queries take them).
    pub layer: Option<String>,
    /// Problems listed at most (all are counted).
    pub limit: usize,
}

impl Default for QcOptions {
    fn default() -> Self {
        Self {
            thresholds: QcThresholds::default(),
            allowed_classes: None,
            bbox: None,
            layer: None,
            limit: DEFAULT_LIMIT,
        }
    }
}

/// A slide's quality report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QcReport {
    pub slide: String,
    /// Annotations checked.
    pub checked: usize,
    pub thresholds: QcThresholds,
    /// The schema checked against, if any.
    pub schema: Option<Vec<String>>,
    pub counts: Counts,
    /// All problems found (`counts` summed).
    pub total: usize,
    /// The first `limit` problems, in storage order of their annotations, then by check.
    pub problems: Vec<Problem>,
    /// Whether more problems were found than listed.
    pub truncated: bool,
    /// Time the checks took, the slide's index in memory (its first use loads it first).
    pub seconds: f64,
}

impl QcReport {
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.total == 0
    }
}

/// A problem before it is put in words (only listed ones are).
#[derive(Debug, Clone)]
enum Finding {
    Invalid(String),
    SmallArea(f64),
    /// With the other annotation, the area shared and the smaller of the two areas (px²).
    Overlap {
        other: Uuid,
        shared: f64,
        smaller: f64,
    },
    Outside,
    Class,
}

impl Finding {
    fn check(&self) -> Check {
        match self {
            Self::Invalid(_) => Check::InvalidGeometry,
            Self::SmallArea(_) => Check::SmallArea,
            Self::Overlap { .. } => Check::Overlap,
            Self::Outside => Check::OutsideSlide,
            Self::Class => Check::ClassNotInSchema,
        }
    }
}

/// What the checks of one slide compare against.
struct Context<'a> {
    thresholds: QcThresholds,
    allowed: Option<&'a [String]>,
    width: f64,
    height: f64,
    tolerance: f64,
    /// The slide plus the tolerance, in centipixels.
    inside: Rect,
}

impl<'a> Context<'a> {
    fn new(
        engine: &Engine,
        slide: &str,
        thresholds: QcThresholds,
        allowed: Option<&'a [String]>,
    ) -> Result<Self, AnnotationError> {
        let (width, height) = engine.slide_size(slide)?;
        let t = engine.limits.tolerance;
        Ok(Self {
            thresholds,
            allowed,
            width,
            height,
            tolerance: t,
            inside: Rect::from_pixels(-t, -t, width + 2.0 * t, height + 2.0 * t),
        })
    }

    fn class_allowed(&self, class: &str) -> bool {
        self.allowed.is_none_or(|a| a.iter().any(|c| c == class))
    }

    /// A finding in words.
    fn describe(&self, id: Uuid, class: &str, bbox: &Rect, f: Finding) -> Problem {
        let check = f.check();
        let px = |v: i32| f64::from(v) / SCALE;
        let (detail, other_id) = match f {
            Finding::Invalid(why) => (format!("invalid geometry: {why}"), None),
            Finding::SmallArea(area) => (
                format!(
                    "area {area:.2} px² is below the minimum of {} px²",
                    self.thresholds.min_area_px
                ),
                None,
            ),
            Finding::Overlap {
                other,
                shared,
                smaller,
            } => (
                format!(
                    "overlaps {other} of the same class {class:?} by {:.1}% of the smaller \
                     one's area ({shared:.2} of {smaller:.2} px²), above the limit of {}%",
                    100.0 * shared / smaller,
                    100.0 * self.thresholds.max_overlap
                ),
                Some(other),
            ),
            Finding::Outside => (
                format!(
                    "extends to ({}, {})–({}, {}), beyond the slide (0, 0)–({}, {}) by more \
                     than {} px",
                    px(bbox.x0),
                    px(bbox.y0),
                    px(bbox.x1),
                    px(bbox.y1),
                    self.width,
                    self.height,
                    self.tolerance
                ),
                None,
            ),
            Finding::Class => (
                format!(
                    "class {class:?} is not in the schema ({})",
                    self.allowed.unwrap_or_default().join(", ")
                ),
                None,
            ),
        };
        Problem {
            id,
            check,
            detail,
            other_id,
        }
    }
}

/// The checks of one annotation on its own: every check but `overlap`. Returns the area
/// the overlap check compares, for valid polygons only.
fn single_checks(
    ctx: &Context<'_>,
    geometry: &Geometry,
    class_ok: bool,
    bbox: &Rect,
    out: &mut Vec<Finding>,
) -> Option<f64> {
    // An invalid geometry's area means nothing: it is neither small nor overlapping.
    let area = match geometry.problem() {
        Some(why) => {
            out.push(Finding::Invalid(why));
            None
        }
        None => matches!(geometry, Geometry::Polygon(_) | Geometry::MultiPolygon(_))
            .then(|| geometry.area()),
    };
    if let Some(a) = area
        && a < ctx.thresholds.min_area_px
    {
        out.push(Finding::SmallArea(a));
    }
    if !(ctx.inside.contains([bbox.x0, bbox.y0]) && ctx.inside.contains([bbox.x1, bbox.y1])) {
        out.push(Finding::Outside);
    }
    if !class_ok {
        out.push(Finding::Class);
    }
    area.filter(|a| *a > 0.0)
}

/// Area in px² that two boxes share: an upper bound of what their shapes share.
fn box_overlap(a: &Rect, b: &Rect) -> f64 {
    let w = f64::from(a.x1.min(b.x1)) - f64::from(a.x0.max(b.x0));
    let h = f64::from(a.y1.min(b.y1)) - f64::from(a.y0.max(b.y0));
    if w <= 0.0 || h <= 0.0 {
        0.0
    } else {
        w * h / (SCALE * SCALE)
    }
}

fn to_geo(g: &Geometry) -> geo::MultiPolygon<f64> {
    let line = |r: &Ring| {
        geo::LineString::from(
            r.iter()
                .map(|p| geo::Coord {
                    x: f64::from(p[0]),
                    y: f64::from(p[1]),
                })
                .collect::<Vec<_>>(),
        )
    };
    let polygon = |rings: &[Ring]| match rings {
        [exterior, holes @ ..] => {
            geo::Polygon::new(line(exterior), holes.iter().map(line).collect())
        }
        [] => geo::Polygon::new(geo::LineString::new(Vec::new()), Vec::new()),
    };
    geo::MultiPolygon(match g {
        Geometry::Polygon(rings) => vec![polygon(rings)],
        Geometry::MultiPolygon(polys) => polys.iter().map(|p| polygon(p)).collect(),
        _ => Vec::new(),
    })
}

/// The area in px² two polygonal geometries share.
fn shared_area(a: &geo::MultiPolygon<f64>, b: &Geometry) -> f64 {
    a.intersection(&to_geo(b)).unsigned_area() / (SCALE * SCALE)
}

/// Whether a pair may share more than `max` of the smaller area, judging by boxes alone.
fn may_overlap(max: f64, a: &Rect, area_a: f64, b: &Rect, area_b: f64) -> bool {
    box_overlap(a, b) > max * area_a.min(area_b)
}

/// Checks one annotation about to be written to `slide` (a new one, or a new version:
/// the stored annotation with its id is not compared with it). `allowed` is the
/// schema's classes, if any. Problems come in [`Check`] order.
pub fn check_one(
    engine: &Engine,
    slide: &str,
    a: &Annotation,
    thresholds: QcThresholds,
    allowed: Option<&[String]>,
    blind_for: Option<&str>,
) -> Result<Vec<Problem>, AnnotationError> {
    let ctx = Context::new(engine, slide, thresholds, allowed)?;
    let Some(bbox) = a.geometry.bbox() else {
        return Ok(vec![ctx.describe(
            a.id,
            &a.class,
            &Rect::from_pixels(0.0, 0.0, 0.0, 0.0),
            Finding::Invalid("empty geometry".into()),
        )]);
    };
    let mut found = Vec::new();
    let area = single_checks(
        &ctx,
        &a.geometry,
        ctx.class_allowed(&a.class),
        &bbox,
        &mut found,
    );
    if let Some(area) = area {
        let loaded = engine.index(slide)?;
        let index = loaded.read();
        if let (Some(class), Some(layer)) =
            (index.classes.find(&a.class), index.layers.find(&a.layer))
        {
            let mine = Polygonal {
                bbox,
                layer,
                class,
                area,
            };
            // The stored version of the annotation itself is not compared, nor, in
            // blind mode, what the caller may not see (its ids and areas would tell).
            let blind = blind_for.map(|me| super::query::Blind::new(&index, me));
            let partner = |m: u32| {
                let s = index.slot(m);
                let shown = blind.as_ref().is_none_or(|b| b.shows(s));
                (s.id != a.id && shown).then(|| valid_area(&index, m))?
            };
            found.extend(overlaps(
                &index,
                &mine,
                || Some(a.geometry.clone()),
                thresholds.max_overlap,
                partner,
            ));
        }
    }
    found.sort_by_key(Finding::check);
    Ok(found
        .into_iter()
        .map(|f| ctx.describe(a.id, &a.class, &bbox, f))
        .collect())
}

/// Checks a slide's annotations (those `opts` selects) and reports what it finds.
pub fn check_slide(
    engine: &Engine,
    slide: &str,
    opts: &QcOptions,
) -> Result<QcReport, AnnotationError> {
    let ctx = Context::new(
        engine,
        slide,
        opts.thresholds,
        opts.allowed_classes.as_deref(),
    )?;
    let loaded = engine.index(slide)?;
    let index = loaded.read();
    let started = Instant::now();
    let checked = selected(&index, opts)?;
    let class_ok: Vec<bool> = index
        .classes
        .names()
        .iter()
        .map(|c| ctx.class_allowed(c))
        .collect();
    // Each annotation on its own, on every core.
    let singles: Vec<(Option<f64>, Vec<Finding>)> = checked
        .par_iter()
        .map(|&n| {
            let s = index.slot(n);
            let mut found = Vec::new();
            let area = match index.geometry(n) {
                Ok(g) => single_checks(
                    &ctx,
                    &g,
                    class_ok.get(usize::from(s.class)).copied().unwrap_or(true),
                    &s.bbox,
                    &mut found,
                ),
                Err(e) => {
                    found.push(Finding::Invalid(format!(
                        "the record does not decode ({e})"
                    )));
                    None
                }
            };
            (area, found)
        })
        .collect();
    // Then pairs, each from the one stored first among those checked.
    let position = |m: u32| checked.binary_search(&m).ok();
    let pairs: Vec<Vec<Finding>> = checked
        .par_iter()
        .zip(&singles)
        .map(|(&n, (area, _))| {
            let Some(area) = *area else {
                return Vec::new();
            };
            let s = index.slot(n);
            let mine = Polygonal {
                bbox: s.bbox,
                layer: s.layer,
                class: s.class,
                area,
            };
            let partner = |m: u32| match position(m) {
                Some(i) => (m > n).then_some(singles[i].0).flatten(),
                None => valid_area(&index, m),
            };
            let geometry = || index.geometry(n).ok();
            overlaps(
                &index,
                &mine,
                geometry,
                opts.thresholds.max_overlap,
                partner,
            )
        })
        .collect();
    let mut counts = Counts::default();
    let mut problems = Vec::new();
    for ((&n, (_, found)), pairs) in checked.iter().zip(singles).zip(pairs) {
        let mut found = found;
        found.extend(pairs);
        found.sort_by_key(Finding::check);
        let s = index.slot(n);
        for f in found {
            counts.add(f.check());
            if problems.len() < opts.limit {
                problems.push(ctx.describe(s.id, index.classes.name(s.class), &s.bbox, f));
            }
        }
    }
    let total = counts.total();
    Ok(QcReport {
        slide: slide.to_string(),
        checked: checked.len(),
        thresholds: opts.thresholds,
        schema: opts.allowed_classes.clone(),
        counts,
        total,
        truncated: total > problems.len(),
        problems,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The slots a report checks, in storage order.
fn selected(index: &SlideIndex, opts: &QcOptions) -> Result<Vec<u32>, AnnotationError> {
    let params = QueryParams {
        layer: opts.layer.clone(),
        ..QueryParams::default()
    };
    let filter = Filter::new(&params, index)?;
    let chosen = |n: &u32| filter.matches(index.slot(*n));
    Ok(match &opts.bbox {
        None => index.live_slots().filter(chosen).collect(),
        Some(r) => {
            let mut v: Vec<u32> = index
                .candidates(r)
                .filter(chosen)
                // A record that does not decode stays, to be reported.
                .filter(|&n| index.meets(n, r).unwrap_or(true))
                .collect();
            v.sort_unstable();
            v
        }
    })
}

/// A valid polygon the overlap check compares: where, in which layer and class (the
/// index's numbers), and its area in px².
struct Polygonal {
    bbox: Rect,
    layer: u16,
    class: u16,
    area: f64,
}

/// The area of slot `m` if it is a valid polygon.
fn valid_area(index: &SlideIndex, m: u32) -> Option<f64> {
    let g = index.geometry(m).ok()?;
    let polygonal = matches!(g, Geometry::Polygon(_) | Geometry::MultiPolygon(_));
    (polygonal && g.problem().is_none())
        .then(|| g.area())
        .filter(|a| *a > 0.0)
}

/// The `overlap` findings of `mine` (its geometry from `geometry`, asked for only if a
/// candidate's box could share enough) against the slide's annotations of its layer and
/// class that `partner` gives an area for (`None`: not compared), in storage order.
fn overlaps(
    index: &SlideIndex,
    mine: &Polygonal,
    geometry: impl FnOnce() -> Option<Geometry>,
    max: f64,
    partner: impl Fn(u32) -> Option<f64>,
) -> Vec<Finding> {
    let mut others: Vec<(u32, f64)> = index
        .candidates(&mine.bbox)
        .filter(|&m| {
            let o = index.slot(m);
            o.class == mine.class && o.layer == mine.layer
        })
        .filter_map(|m| partner(m).map(|a| (m, a)))
        .filter(|&(m, a)| may_overlap(max, &mine.bbox, mine.area, &index.slot(m).bbox, a))
        .collect();
    if others.is_empty() {
        return Vec::new();
    }
    others.sort_unstable_by_key(|&(m, _)| m);
    let Some(shape) = geometry().map(|g| to_geo(&g)) else {
        return Vec::new();
    };
    others
        .into_iter()
        .filter_map(|(m, their)| {
            let shared = shared_area(&shape, &index.geometry(m).ok()?);
            let smaller = mine.area.min(their);
            (shared > max * smaller).then(|| Finding::Overlap {
                other: index.slot(m).id,
                shared,
                smaller,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotations::engine::{EngineLimits, unguarded};

    fn engine(dir: &std::path::Path) -> Engine {
        Engine::open(
            dir,
            Box::new(|s| (s == "s").then_some((1000.0, 1000.0))),
            EngineLimits::default(),
        )
        .expect("engine")
    }

    fn square(x: f64, y: f64, side: f64, class: &str) -> String {
        let (x1, y1) = (x + side, y + side);
        format!(
            r#"{{"type":"Feature","geometry":{{"type":"Polygon","coordinates":[[[{x},{y}],[{x1},{y}],[{x1},{y1}],[{x},{y1}],[{x},{y}]]]}},"properties":{{"classification":{{"name":"{class}"}}}}}}"#
        )
    }

    fn create(e: &Engine, feature: &str) -> Uuid {
        e.create("s", "cells", feature.as_bytes(), "t", &unguarded)
            .expect("a valid feature")
            .id
    }

    #[test]
    fn finds_each_problem_once_and_nothing_on_clean_data() {
        let dir = tempfile::tempdir().expect("temp dir");
        let e = engine(dir.path());
        // Clean: apart, big enough, overlapping only across classes or a little.
        create(&e, &square(10.0, 10.0, 20.0, "Tumor"));
        create(&e, &square(20.0, 20.0, 20.0, "Stroma"));
        create(&e, &square(29.0, 10.0, 20.0, "Tumor"));
        let clean = check_slide(&e, "s", &QcOptions::default()).expect("a report");
        assert!(clean.is_clean(), "{:?}", clean.problems);
        assert_eq!(clean.checked, 3);

        let small = create(&e, &square(100.0, 100.0, 2.0, "Tumor"));
        let a = create(&e, &square(200.0, 200.0, 20.0, "Tumor"));
        let b = create(&e, &square(205.0, 200.0, 20.0, "Tumor"));
        let odd = create(&e, &square(300.0, 300.0, 20.0, "Fat"));
        let allowed = vec!["Tumor".to_string(), "Stroma".to_string()];
        let opts = QcOptions {
            allowed_classes: Some(allowed.clone()),
            ..QcOptions::default()
        };
        let r = check_slide(&e, "s", &opts).expect("a report");
        let found: Vec<(Uuid, Check, Option<Uuid>)> = r
            .problems
            .iter()
            .map(|p| (p.id, p.check, p.other_id))
            .collect();
        assert_eq!(
            found,
            vec![
                (small, Check::SmallArea, None),
                (a, Check::Overlap, Some(b)),
                (odd, Check::ClassNotInSchema, None),
            ]
        );
        assert!(
            r.problems[1].detail.contains("75.0%"),
            "{}",
            r.problems[1].detail
        );
        assert!(
            r.problems[0].detail.contains("4.00 px²"),
            "{}",
            r.problems[0].detail
        );
        assert_eq!((r.total, r.truncated), (3, false));

        // A box limits what is checked; a pair is still found from its member inside.
        let boxed = QcOptions {
            bbox: Some(Rect::from_pixels(222.0, 190.0, 10.0, 10.0)),
            ..QcOptions::default()
        };
        let r = check_slide(&e, "s", &boxed).expect("a report");
        assert_eq!(r.checked, 1);
        assert_eq!(r.problems.len(), 1);
        assert_eq!((r.problems[0].id, r.problems[0].other_id), (b, Some(a)));

        // One annotation about to be written.
        let mut new = e.get(&a).expect("stored").1;
        new.id = Uuid::from_u128(1);
        let p = check_one(&e, "s", &new, QcThresholds::default(), Some(&allowed), None)
            .expect("checked");
        let others: Vec<Option<Uuid>> = p.iter().map(|p| p.other_id).collect();
        assert_eq!(others, vec![Some(a), Some(b)], "{p:?}");
        let limited = QcOptions { limit: 1, ..opts };
        let r = check_slide(&e, "s", &limited).expect("a report");
        assert_eq!((r.problems.len(), r.total, r.truncated), (1, 3, true));
    }

    #[test]
    fn stored_geometry_is_checked_as_an_import_would() {
        let dir = tempfile::tempdir().expect("temp dir");
        let e = engine(dir.path());
        let mut a = e
            .create(
                "s",
                "cells",
                square(10.0, 10.0, 20.0, "Tumor").as_bytes(),
                "t",
                &unguarded,
            )
            .expect("created");
        let ctx = Context::new(&e, "s", QcThresholds::default(), None).expect("context");
        a.geometry = Geometry::Polygon(vec![vec![[0, 0], [1000, 1000], [1000, 0], [0, 1000]]]);
        let p = check_one(&e, "s", &a, QcThresholds::default(), None, None).expect("checked");
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].check, Check::InvalidGeometry);
        assert!(p[0].detail.contains("self-intersection"), "{}", p[0].detail);
        // Beyond the slide plus its 2 px tolerance, and only then.
        for (x, outside) in [(100_150, false), (100_250, true)] {
            a.geometry = Geometry::Polygon(vec![vec![[99_000, 0], [x, 0], [99_000, 5000]]]);
            let mut found = Vec::new();
            single_checks(
                &ctx,
                &a.geometry,
                true,
                &a.geometry.bbox().expect("box"),
                &mut found,
            );
            assert_eq!(
                found.iter().any(|f| f.check() == Check::OutsideSlide),
                outside,
                "x = {x}"
            );
        }
    }
}
