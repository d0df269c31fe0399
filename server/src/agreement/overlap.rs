//! Areas as `geo` polygons and the IoU of every pair of instances that overlaps enough.
//!
//! Coordinates stay in centipixels (exact integers in `f64`; IoU does not care about
//! units). Candidate pairs come from an R-tree of bounding boxes; a pair whose IoU cannot
//! reach the threshold even in the best case (its boxes' overlap and its areas bound the
//! intersection) is dropped before any polygon overlay. The rest go through `geo`'s
//! `BooleanOps` intersection, on every core; union area = area a + area b − intersection.

use crate::annotations::geometry::{Geometry, Ring};
use geo::{Area, BooleanOps, Coord, LineString, MultiPolygon, Polygon};
use rayon::prelude::*;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};
use uuid::Uuid;

/// IoU is compared and optimised in units of 1e-9 (integer weights for the assignment).
pub const IOU_UNITS: f64 = 1e9;

/// IoU as an integer weight.
#[must_use]
pub fn weight(iou: f64) -> i64 {
    (iou * IOU_UNITS).round() as i64
}

/// One area instance of a rater, ready for overlay.
#[derive(Debug, Clone)]
pub struct Shape {
    pub id: Uuid,
    /// Index into the agreement's class table.
    pub class: u32,
    /// Index of the instance in its rater's input list.
    pub index: usize,
    /// Area in square centipixels.
    pub area: f64,
    /// `[x0, y0, x1, y1]` in centipixels.
    pub bbox: [f64; 4],
    pub polygon: MultiPolygon<f64>,
}

fn ring(r: &Ring) -> LineString<f64> {
    r.iter()
        .map(|p| Coord {
            x: f64::from(p[0]),
            y: f64::from(p[1]),
        })
        .collect()
}

fn polygon(rings: &[Ring]) -> Option<Polygon<f64>> {
    let (exterior, holes) = rings.split_first()?;
    Some(Polygon::new(
        ring(exterior),
        holes.iter().map(ring).collect(),
    ))
}

/// The geometry as a `geo` area, or `None` if it is not a Polygon or MultiPolygon.
#[must_use]
pub fn area_of(g: &Geometry) -> Option<MultiPolygon<f64>> {
    match g {
        Geometry::Polygon(rings) => Some(MultiPolygon(polygon(rings).into_iter().collect())),
        Geometry::MultiPolygon(parts) => Some(MultiPolygon(
            parts.iter().filter_map(|p| polygon(p)).collect(),
        )),
        _ => None,
    }
}

impl Shape {
    /// The shape of an area geometry; `None` for points and lines.
    #[must_use]
    pub fn new(id: Uuid, class: u32, index: usize, g: &Geometry) -> Option<Self> {
        let polygon = area_of(g)?;
        let r = g.bbox()?;
        Some(Self {
            id,
            class,
            index,
            area: polygon.unsigned_area(),
            bbox: [r.x0, r.y0, r.x1, r.y1].map(f64::from),
            polygon,
        })
    }

    fn envelope(&self) -> AABB<[f64; 2]> {
        AABB::from_corners([self.bbox[0], self.bbox[1]], [self.bbox[2], self.bbox[3]])
    }
}

/// Intersection over union of two shapes, in [0, 1]. The overlay always runs with the
/// smaller id first, so `iou(a, b) == iou(b, a)` to the last bit.
#[must_use]
pub fn iou(a: &Shape, b: &Shape) -> f64 {
    let (first, second) = if a.id <= b.id { (a, b) } else { (b, a) };
    let inter = first
        .polygon
        .intersection(&second.polygon)
        .unsigned_area()
        .min(a.area)
        .min(b.area);
    let union = a.area + b.area - inter;
    if union > 0.0 {
        (inter / union).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// Largest IoU two shapes could have, from their areas and the overlap of their boxes.
fn iou_bound(a: &Shape, b: &Shape) -> f64 {
    let w = a.bbox[2].min(b.bbox[2]) - a.bbox[0].max(b.bbox[0]);
    let h = a.bbox[3].min(b.bbox[3]) - a.bbox[1].max(b.bbox[1]);
    let most = (w.max(0.0) * h.max(0.0)).min(a.area).min(b.area);
    let union = a.area + b.area - most;
    if union > 0.0 { most / union } else { 0.0 }
}

/// A pair of instances of two raters whose IoU reaches the threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Edge {
    /// Index into the first rater's shapes.
    pub a: u32,
    /// Index into the second rater's shapes.
    pub b: u32,
    pub iou: f64,
    /// `iou` in units of [`IOU_UNITS`].
    pub weight: i64,
}

/// Every pair (`a[i]`, `b[j]`) with IoU ≥ `threshold` (compared at 1e-9), sorted by
/// `(a, b)`.
#[must_use]
pub fn edges(a: &[Shape], b: &[Shape], threshold: f64) -> Vec<Edge> {
    let least = weight(threshold);
    let tree = RTree::bulk_load(
        b.iter()
            .enumerate()
            .map(|(j, s)| {
                let e = s.envelope();
                GeomWithData::new(Rectangle::from_corners(e.lower(), e.upper()), j as u32)
            })
            .collect(),
    );
    a.par_iter()
        .enumerate()
        .flat_map_iter(|(i, sa)| {
            let mut found: Vec<Edge> = tree
                .locate_in_envelope_intersecting(sa.envelope())
                .filter_map(|hit| {
                    let sb = &b[hit.data as usize];
                    // The bound is exact arithmetic on a few numbers; the margin keeps a
                    // pair right at the threshold from being dropped by rounding.
                    if iou_bound(sa, sb) + 1e-6 < threshold {
                        return None;
                    }
                    let v = iou(sa, sb);
                    let w = weight(v);
                    (w >= least && w > 0).then_some(Edge {
                        a: i as u32,
                        b: hit.data,
                        iou: v,
                        weight: w,
                    })
                })
                .collect();
            found.sort_unstable_by_key(|e| e.b);
            found
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An axis-aligned square of side `s` pixels at (`x`, `y`) pixels.
    pub(crate) fn square(x: i32, y: i32, s: i32) -> Geometry {
        let (x, y, s) = (x * 100, y * 100, s * 100);
        Geometry::Polygon(vec![vec![[x, y], [x + s, y], [x + s, y + s], [x, y + s]]])
    }

    fn shape(n: u128, g: &Geometry) -> Shape {
        Shape::new(Uuid::from_u128(n), 0, n as usize, g).expect("an area")
    }

    #[test]
    fn iou_of_offset_squares_is_exact() {
        // Squares of side 100 offset by dx: IoU = (100 - dx) / (100 + dx).
        for (dx, want) in [(0, 1.0), (25, 0.6), (50, 1.0 / 3.0), (10, 9.0 / 11.0)] {
            let v = iou(
                &shape(1, &square(0, 0, 100)),
                &shape(2, &square(dx, 0, 100)),
            );
            assert!((v - want).abs() < 1e-12, "dx {dx}: {v} vs {want}");
        }
        let far = iou(&shape(1, &square(0, 0, 10)), &shape(2, &square(50, 0, 10)));
        assert!(far.abs() < f64::EPSILON);
    }

    #[test]
    fn holes_count_as_outside() {
        let outer = square(0, 0, 100);
        let Geometry::Polygon(mut rings) = outer else {
            unreachable!()
        };
        let Geometry::Polygon(hole) = square(25, 25, 50) else {
            unreachable!()
        };
        rings.push(hole[0].clone());
        let donut = shape(1, &Geometry::Polygon(rings));
        // The donut (7500 px²) against the full square (10000 px²): IoU 0.75.
        let v = iou(&donut, &shape(2, &square(0, 0, 100)));
        assert!((v - 0.75).abs() < 1e-12, "{v}");
    }

    #[test]
    fn points_and_lines_are_not_areas() {
        assert!(area_of(&Geometry::Point([1, 1])).is_none());
        assert!(area_of(&Geometry::LineString(vec![[0, 0], [5, 5]])).is_none());
        let multi = Geometry::MultiPolygon(vec![
            vec![vec![[0, 0], [100, 0], [100, 100]]],
            vec![vec![[200, 0], [300, 0], [300, 100], [200, 100]]],
        ]);
        // 0.5 + 1 square pixels, in square centipixels.
        let area = area_of(&multi).map(|m| m.unsigned_area());
        assert_eq!(area, Some(15_000.0));
    }

    #[test]
    fn candidate_search_finds_what_brute_force_finds() {
        // A seeded jittered grid of squares for two raters; compare with all pairs.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |n: i32| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as i32
        };
        let mut a = Vec::new();
        let mut b = Vec::new();
        for k in 0..400u32 {
            let (gx, gy) = ((k % 20) as i32 * 30, (k / 20) as i32 * 30);
            let g1 = square(gx + next(15), gy + next(15), 20 + next(10));
            let g2 = square(gx + next(15), gy + next(15), 20 + next(10));
            a.push(Shape::new(
                Uuid::from_u128(u128::from(k)),
                0,
                k as usize,
                &g1,
            ));
            b.push(Shape::new(
                Uuid::from_u128(u128::from(k) + 1000),
                0,
                k as usize,
                &g2,
            ));
        }
        let a: Vec<Shape> = a.into_iter().flatten().collect();
        let b: Vec<Shape> = b.into_iter().flatten().collect();
        for threshold in [0.1, 0.5, 0.8] {
            let fast = edges(&a, &b, threshold);
            let mut slow = Vec::new();
            for (i, sa) in a.iter().enumerate() {
                for (j, sb) in b.iter().enumerate() {
                    let v = iou(sa, sb);
                    if weight(v) >= weight(threshold) && v > 0.0 {
                        slow.push((i as u32, j as u32));
                    }
                }
            }
            let fast: Vec<(u32, u32)> = fast.iter().map(|e| (e.a, e.b)).collect();
            assert_eq!(fast, slow, "threshold {threshold}");
            assert!(!slow.is_empty());
        }
    }
}
