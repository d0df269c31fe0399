//! Annotation geometry in level-0 pixels, stored as integers of 1/100 pixel.
//!
//! Centipixels make coordinates exact to the two decimals every export writes, halve the
//! memory of `f64`, and let the intersection tests run on integers (`i128` cross products,
//! no rounding). Rings are kept open: the closing vertex GeoJSON repeats is dropped on the
//! way in and written again on the way out.

/// Centipixels per pixel.
pub const SCALE: f64 = 100.0;

/// A vertex in centipixels.
pub type Pt = [i32; 2];

/// `v.round() as i32`: halves away from zero, saturating, NaN to 0. Baseline x86-64 has
/// no rounding instruction (SSE4.1), so `round` is a call into libm, 2% of an import's
/// parsing; below 2³¹ the truncation and the fraction left are both exact instead.
#[must_use]
#[inline]
pub fn round_to_i32(v: f64) -> i32 {
    if v.abs() >= 2_147_483_648.0 || v.is_nan() {
        return v.round() as i32;
    }
    let whole = v as i64;
    let fraction = v - whole as f64;
    let rounded = if fraction >= 0.5 {
        whole + 1
    } else if fraction <= -0.5 {
        whole - 1
    } else {
        whole
    };
    rounded.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// An open ring: the first vertex is not repeated at the end.
pub type Ring = Vec<Pt>;

/// The geometry types QuPath reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Geometry {
    Point(Pt),
    MultiPoint(Vec<Pt>),
    LineString(Vec<Pt>),
    /// Exterior ring first, then holes.
    Polygon(Vec<Ring>),
    MultiPolygon(Vec<Vec<Ring>>),
}

/// An axis-aligned box in centipixels, bounds included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x0: i32,
    pub y0: i32,
    pub x1: i32,
    pub y1: i32,
}

impl Rect {
    /// The box `x, y, w, h` given in pixels, rounded outwards to centipixels.
    #[must_use]
    pub fn from_pixels(x: f64, y: f64, w: f64, h: f64) -> Self {
        let c = |v: f64| (v * SCALE).clamp(f64::from(i32::MIN), f64::from(i32::MAX));
        Self {
            x0: c(x).floor() as i32,
            y0: c(y).floor() as i32,
            x1: c(x + w).ceil() as i32,
            y1: c(y + h).ceil() as i32,
        }
    }

    fn empty() -> Self {
        Self {
            x0: i32::MAX,
            y0: i32::MAX,
            x1: i32::MIN,
            y1: i32::MIN,
        }
    }

    fn add(&mut self, p: Pt) {
        self.x0 = self.x0.min(p[0]);
        self.y0 = self.y0.min(p[1]);
        self.x1 = self.x1.max(p[0]);
        self.y1 = self.y1.max(p[1]);
    }

    #[must_use]
    pub fn contains(&self, p: Pt) -> bool {
        p[0] >= self.x0 && p[0] <= self.x1 && p[1] >= self.y0 && p[1] <= self.y1
    }

    #[must_use]
    pub fn overlaps(&self, o: &Rect) -> bool {
        self.x0 <= o.x1 && o.x0 <= self.x1 && self.y0 <= o.y1 && o.y0 <= self.y1
    }

    /// Centre in pixels.
    #[must_use]
    pub fn centre(&self) -> [f64; 2] {
        [
            (f64::from(self.x0) + f64::from(self.x1)) / (2.0 * SCALE),
            (f64::from(self.y0) + f64::from(self.y1)) / (2.0 * SCALE),
        ]
    }
}

impl Geometry {
    /// GeoJSON's name for the type.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Point(_) => "Point",
            Self::MultiPoint(_) => "MultiPoint",
            Self::LineString(_) => "LineString",
            Self::Polygon(_) => "Polygon",
            Self::MultiPolygon(_) => "MultiPolygon",
        }
    }

    /// Calls `f` on every vertex.
    pub fn for_each_point(&self, mut f: impl FnMut(Pt)) {
        match self {
            Self::Point(p) => f(*p),
            Self::MultiPoint(ps) | Self::LineString(ps) => ps.iter().copied().for_each(f),
            Self::Polygon(rings) => rings.iter().flatten().copied().for_each(f),
            Self::MultiPolygon(polys) => polys.iter().flatten().flatten().copied().for_each(f),
        }
    }

    #[must_use]
    pub fn vertex_count(&self) -> usize {
        let mut n = 0;
        self.for_each_point(|_| n += 1);
        n
    }

    /// Bounding box; `None` for an empty geometry.
    #[must_use]
    pub fn bbox(&self) -> Option<Rect> {
        let mut r = Rect::empty();
        self.for_each_point(|p| r.add(p));
        (r.x0 <= r.x1).then_some(r)
    }

    /// Area in square pixels (holes subtracted); 0 for points and lines.
    #[must_use]
    pub fn area(&self) -> f64 {
        let polygon = |rings: &Vec<Ring>| {
            rings
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let a = ring_area2(r).unsigned_abs() as f64;
                    if i == 0 { a } else { -a }
                })
                .sum::<f64>()
        };
        let twice_centi = match self {
            Self::Polygon(rings) => polygon(rings),
            Self::MultiPolygon(polys) => polys.iter().map(polygon).sum(),
            _ => 0.0,
        };
        twice_centi / (2.0 * SCALE * SCALE)
    }

    /// Whether the geometry and the closed box `r` share at least one point.
    #[must_use]
    pub fn intersects(&self, r: &Rect) -> bool {
        match self {
            Self::Point(p) => r.contains(*p),
            Self::MultiPoint(ps) => ps.iter().any(|p| r.contains(*p)),
            Self::LineString(ps) => match ps.as_slice() {
                [p] => r.contains(*p),
                _ => ps.windows(2).any(|w| segment_meets_rect(w[0], w[1], r)),
            },
            Self::Polygon(rings) => polygon_intersects(rings, r),
            Self::MultiPolygon(polys) => polys.iter().any(|p| polygon_intersects(p, r)),
        }
    }
}

/// Twice the signed area of a ring, in square centipixels.
fn ring_area2(ring: &[Pt]) -> i128 {
    ring_edges(ring)
        .map(|(a, b)| i128::from(a[0]) * i128::from(b[1]) - i128::from(b[0]) * i128::from(a[1]))
        .sum()
}

fn ring_edges(ring: &[Pt]) -> impl Iterator<Item = (Pt, Pt)> + '_ {
    // The last edge closes the ring (no `% n`: a division per edge).
    let ends = ring.iter().skip(1).chain(ring.first());
    ring.iter().copied().zip(ends.copied())
}

fn polygon_intersects(rings: &[Ring], r: &Rect) -> bool {
    if rings
        .iter()
        .any(|ring| ring_edges(ring).any(|(a, b)| segment_meets_rect(a, b, r)))
    {
        return true;
    }
    // No boundary crosses the box: the box lies wholly inside or wholly outside the area.
    let corner = [r.x0, r.y0];
    rings
        .iter()
        .filter(|ring| ring_contains(ring, corner))
        .count()
        % 2
        == 1
}

/// Even-odd point-in-ring test (a point on the boundary may go either way; callers have
/// already tested the boundary).
fn ring_contains(ring: &[Pt], p: Pt) -> bool {
    let (px, py) = (i128::from(p[0]), i128::from(p[1]));
    let mut inside = false;
    for (a, b) in ring_edges(ring) {
        let (ax, ay, bx, by) = (
            i128::from(a[0]),
            i128::from(a[1]),
            i128::from(b[0]),
            i128::from(b[1]),
        );
        if (ay > py) != (by > py) {
            // x of the edge at height py, compared without division.
            let lhs = (px - ax) * (by - ay);
            let rhs = (bx - ax) * (py - ay);
            if (by > ay && lhs < rhs) || (by < ay && lhs > rhs) {
                inside = !inside;
            }
        }
    }
    inside
}

fn cross(o: Pt, a: Pt, b: Pt) -> i128 {
    (i128::from(a[0]) - i128::from(o[0])) * (i128::from(b[1]) - i128::from(o[1]))
        - (i128::from(a[1]) - i128::from(o[1])) * (i128::from(b[0]) - i128::from(o[0]))
}

/// Segment against a closed box by separating axes: the box's two axes, then the
/// segment's normal.
fn segment_meets_rect(a: Pt, b: Pt, r: &Rect) -> bool {
    if a[0].max(b[0]) < r.x0
        || a[0].min(b[0]) > r.x1
        || a[1].max(b[1]) < r.y0
        || a[1].min(b[1]) > r.y1
    {
        return false;
    }
    let sides =
        [[r.x0, r.y0], [r.x1, r.y0], [r.x1, r.y1], [r.x0, r.y1]].map(|c| cross(a, b, c).signum());
    !(sides.iter().all(|&s| s > 0) || sides.iter().all(|&s| s < 0))
}

/// Whether closed segments `ab` and `cd` share a point.
fn segments_meet(a: Pt, b: Pt, c: Pt, d: Pt) -> bool {
    let (d1, d2, d3, d4) = (
        cross(c, d, a),
        cross(c, d, b),
        cross(a, b, c),
        cross(a, b, d),
    );
    if ((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0)) {
        return true;
    }
    (d1 == 0 && on_segment(c, d, a))
        || (d2 == 0 && on_segment(c, d, b))
        || (d3 == 0 && on_segment(a, b, c))
        || (d4 == 0 && on_segment(a, b, d))
}

/// Whether `ab` and `cd` cross at a point inside both, or lie on one line and share more
/// than a point. (Touching at one point is neither.)
fn segments_cross_or_overlap(a: Pt, b: Pt, c: Pt, d: Pt) -> bool {
    let (d1, d2, d3, d4) = (
        cross(c, d, a),
        cross(c, d, b),
        cross(a, b, c),
        cross(a, b, d),
    );
    if d1 == 0 && d2 == 0 {
        // Collinear: compare extents along the longer axis.
        let axis = usize::from((a[0] - b[0]).abs() < (a[1] - b[1]).abs());
        let (lo1, hi1) = (a[axis].min(b[axis]), a[axis].max(b[axis]));
        let (lo2, hi2) = (c[axis].min(d[axis]), c[axis].max(d[axis]));
        return lo1.max(lo2) < hi1.min(hi2);
    }
    d1.signum() * d2.signum() < 0 && d3.signum() * d4.signum() < 0
}

/// For `p` collinear with `ab`: whether it lies within the segment.
fn on_segment(a: Pt, b: Pt, p: Pt) -> bool {
    p[0] >= a[0].min(b[0])
        && p[0] <= a[0].max(b[0])
        && p[1] >= a[1].min(b[1])
        && p[1] <= a[1].max(b[1])
}

/// Where a ring first crosses or touches itself or another ring of the same polygon:
/// `(ring, edge, ring, edge)`, edges numbered from each ring's first vertex.
///
/// Long rings are swept in order of their edges' left ends, so n edges cost O(n log n)
/// plus the pairs whose x-ranges overlap rather than n².
#[must_use]
pub fn first_crossing(rings: &[Ring]) -> Option<(usize, usize, usize, usize)> {
    let mut edges = Vec::with_capacity(rings.iter().map(Vec::len).sum());
    for (ring, pts) in rings.iter().enumerate() {
        for (index, (a, b)) in ring_edges(pts).enumerate() {
            edges.push(Edge {
                ring,
                index,
                a,
                b,
                x0: a[0].min(b[0]),
                x1: a[0].max(b[0]),
                y0: a[1].min(b[1]),
                y1: a[1].max(b[1]),
            });
        }
    }
    // Cells have a few dozen edges: sorting costs more than it saves below that.
    let sweep = edges.len() > 64;
    if sweep {
        edges.sort_unstable_by_key(|e| e.x0);
    }
    for (i, e) in edges.iter().enumerate() {
        for f in &edges[i + 1..] {
            if f.x0 > e.x1 {
                if sweep {
                    break;
                }
                continue;
            }
            if f.x1 < e.x0 || f.y0 > e.y1 || f.y1 < e.y0 {
                continue;
            }
            if e.ring == f.ring {
                let n = rings[e.ring].len();
                let (lo, hi) = (e.index.min(f.index), e.index.max(f.index));
                if hi == lo + 1 || (lo == 0 && hi == n - 1) {
                    // Neighbours share one vertex; they may not fold back over each other.
                    let (shared, p, q) = if hi == lo + 1 {
                        let (first, second) = if e.index == lo { (e, f) } else { (f, e) };
                        (first.b, first.a, second.b)
                    } else {
                        let (last, first) = if e.index == hi { (e, f) } else { (f, e) };
                        (last.b, last.a, first.b)
                    };
                    if cross(shared, p, q) == 0 && folds_back(shared, p, q) {
                        return Some((e.ring, e.index, f.ring, f.index));
                    }
                    continue;
                }
            }
            // Edges of one ring may not meet at all; a hole may touch its shell or another
            // hole at single points (as OGC allows), but not cross or share a stretch.
            let bad = if e.ring == f.ring {
                segments_meet(e.a, e.b, f.a, f.b)
            } else {
                segments_cross_or_overlap(e.a, e.b, f.a, f.b)
            };
            if bad {
                let (a, b) = if (e.ring, e.index) <= (f.ring, f.index) {
                    (e, f)
                } else {
                    (f, e)
                };
                return Some((a.ring, a.index, b.ring, b.index));
            }
        }
    }
    None
}

struct Edge {
    ring: usize,
    index: usize,
    a: Pt,
    b: Pt,
    x0: i32,
    x1: i32,
    y0: i32,
    y1: i32,
}

/// For collinear `p`, `shared`, `q`: whether the path p → shared → q turns back on itself.
fn folds_back(shared: Pt, p: Pt, q: Pt) -> bool {
    let dot = (i128::from(p[0]) - i128::from(shared[0]))
        * (i128::from(q[0]) - i128::from(shared[0]))
        + (i128::from(p[1]) - i128::from(shared[1])) * (i128::from(q[1]) - i128::from(shared[1]));
    dot > 0
}

/// All the ring's vertices are on one line. (A ring whose lobes merely cancel to zero
/// signed area, like a bowtie, is not flat: it crosses itself.)
#[must_use]
pub fn ring_is_flat(ring: &[Pt]) -> bool {
    match ring {
        [a, b, rest @ ..] => rest.iter().all(|&p| cross(*a, *b, p) == 0),
        _ => true,
    }
}

/// Why an open ring (as stored) would be refused by an import: fewer than 3 distinct
/// points, a vertex repeated by the next one (a ring stored closed repeats its first at
/// its end), or zero area. `n` numbers the ring in messages.
#[must_use]
pub fn ring_problem(ring: &[Pt], n: usize) -> Option<String> {
    let len = ring.len();
    let distinct = ring_edges(ring).filter(|(a, b)| a != b).count();
    if distinct < 3 {
        return Some(format!("ring {n} has fewer than 3 distinct points"));
    }
    if distinct < len {
        return Some(format!(
            "ring {n} repeats a vertex (a zero-length edge; rings are stored open)"
        ));
    }
    ring_is_flat(ring).then(|| format!("ring {n} has zero area (its points are on one line)"))
}

/// Where the rings of one polygon cross or touch themselves or each other, in words.
#[must_use]
pub fn crossing_problem(rings: &[Ring]) -> Option<String> {
    first_crossing(rings).map(|(r1, e1, r2, e2)| {
        let p = rings[r1][e1];
        format!(
            "self-intersection: ring {r1} edge {e1} meets ring {r2} edge {e2} near ({}, {})",
            f64::from(p[0]) / SCALE,
            f64::from(p[1]) / SCALE
        )
    })
}

/// Why a polygon's rings would be refused by an import.
#[must_use]
pub fn polygon_problem(rings: &[Ring]) -> Option<String> {
    if rings.is_empty() {
        return Some("empty polygon".into());
    }
    rings
        .iter()
        .enumerate()
        .find_map(|(n, r)| ring_problem(r, n))
        .or_else(|| crossing_problem(rings))
}

impl Geometry {
    /// Why this geometry, as stored, would be refused by an import; `None` when valid.
    /// The same checks an import applies: rings of ≥ 3 distinct points with an area that
    /// neither cross nor touch themselves or each other (holes may touch at points),
    /// lines of ≥ 2 distinct points. Stored coordinates are integers, so always finite.
    #[must_use]
    pub fn problem(&self) -> Option<String> {
        match self {
            Self::Point(_) => None,
            Self::MultiPoint(ps) => ps.is_empty().then(|| "empty MultiPoint".into()),
            Self::LineString(ps) => (ps.windows(2).filter(|w| w[0] != w[1]).count() == 0)
                .then(|| "a LineString needs 2 distinct points".into()),
            Self::Polygon(rings) => polygon_problem(rings),
            Self::MultiPolygon(polys) if polys.is_empty() => Some("empty MultiPolygon".into()),
            Self::MultiPolygon(polys) => polys
                .iter()
                .enumerate()
                .find_map(|(i, p)| polygon_problem(p).map(|e| format!("polygon {i}: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(x: i32, y: i32, s: i32) -> Ring {
        vec![[x, y], [x + s, y], [x + s, y + s], [x, y + s]]
    }

    #[test]
    fn polygon_box_intersection_covers_inside_outside_and_holes() {
        let outer = square(0, 0, 1000);
        let hole = square(400, 400, 200);
        let g = Geometry::Polygon(vec![outer, hole]);
        assert!(
            g.intersects(&Rect {
                x0: 100,
                y0: 100,
                x1: 120,
                y1: 120
            }),
            "inside"
        );
        assert!(
            !g.intersects(&Rect {
                x0: 450,
                y0: 450,
                x1: 550,
                y1: 550
            }),
            "in the hole"
        );
        assert!(
            g.intersects(&Rect {
                x0: -50,
                y0: -50,
                x1: 5000,
                y1: 5000
            }),
            "box around it"
        );
        assert!(
            g.intersects(&Rect {
                x0: 1000,
                y0: 1000,
                x1: 1200,
                y1: 1200
            }),
            "corner touch"
        );
        assert!(
            !g.intersects(&Rect {
                x0: 1001,
                y0: 0,
                x1: 1200,
                y1: 1200
            }),
            "beside it"
        );
    }

    #[test]
    fn crossings_are_found_and_simple_rings_pass() {
        assert_eq!(first_crossing(&[square(0, 0, 10)]), None);
        let bowtie = vec![[0, 0], [10, 10], [10, 0], [0, 10]];
        assert!(first_crossing(&[bowtie]).is_some());
        let spike = vec![[0, 0], [10, 0], [5, 0], [5, 5]];
        assert!(first_crossing(&[spike]).is_some());
        let crossing_hole = vec![square(0, 0, 10), square(5, 5, 10)];
        assert!(first_crossing(&crossing_hole).is_some());
        let touching_hole = vec![square(0, 0, 10), vec![[0, 0], [5, 2], [2, 5]]];
        assert_eq!(
            first_crossing(&touching_hole),
            None,
            "a hole may touch its shell at a point"
        );
        let hole_along_shell = vec![square(0, 0, 10), vec![[0, 2], [5, 5], [0, 8]]];
        assert!(
            first_crossing(&hole_along_shell).is_some(),
            "but not share a stretch of it"
        );
    }

    #[test]
    fn stored_geometries_are_judged_as_an_import_would() {
        let says = |g: Geometry| g.problem().unwrap_or_default();
        assert_eq!(Geometry::Polygon(vec![square(0, 0, 10)]).problem(), None);
        assert_eq!(Geometry::LineString(vec![[0, 0], [1, 0]]).problem(), None);
        let closed = vec![[0, 0], [10, 0], [10, 10], [0, 0]];
        assert!(says(Geometry::Polygon(vec![closed])).contains("repeats a vertex"));
        let two = vec![[0, 0], [10, 0], [10, 0]];
        assert!(says(Geometry::Polygon(vec![two])).contains("fewer than 3 distinct"));
        let flat = vec![[0, 0], [5, 0], [10, 0]];
        assert!(says(Geometry::Polygon(vec![flat])).contains("zero area"));
        let bowtie = vec![vec![[0, 0], [10, 10], [10, 0], [0, 10]]];
        let multi = Geometry::MultiPolygon(vec![vec![square(0, 0, 5)], bowtie]);
        assert!(says(multi).starts_with("polygon 1: self-intersection"));
        assert!(says(Geometry::LineString(vec![[3, 3], [3, 3]])).contains("2 distinct"));
    }

    #[test]
    fn area_subtracts_holes() {
        let g = Geometry::Polygon(vec![square(0, 0, 1000), square(100, 100, 100)]);
        assert!((g.area() - (100.0 - 1.0)).abs() < 1e-9);
    }

    #[test]
    fn rounding_to_i32_matches_f64_round() {
        let mut values = vec![
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.5,
            -1.5,
            2.5,
            -2.5,
            0.499_999_999_999_999_94,
            -0.499_999_999_999_999_94,
            2_147_483_646.5,
            2_147_483_647.4,
            2_147_483_647.5,
            -2_147_483_648.4,
            -2_147_483_648.5,
            4e9,
            -4e9,
            f64::MAX,
            f64::MIN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::MIN_POSITIVE,
            1e-300,
            898_399.5,
            8983.99 * SCALE,
            415.46 * SCALE,
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..100_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let digits = (state % 2_000_000_000) as f64 / 100.0 - 10_000_000.0;
            values.push(digits * SCALE);
            values.push(f64::from_bits(state));
            values.push((state % 10_000) as f64 / 2.0 - 2500.0);
        }
        for v in values {
            assert_eq!(round_to_i32(v), v.round() as i32, "{v:?}");
        }
    }
}
