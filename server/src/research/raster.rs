//! Polygons to label masks, by one convention at every level.
//!
//! **The convention.** A patch is a window of `width × height` pixels at downsample `d`
//! (level `L` of a cache: `d = 2^L`) whose top-left corner is the level-0 pixel
//! `(x, y)`. Its pixel `(col, row)` covers the level-0 square
//! `[x + col·d, x + (col+1)·d) × [y + row·d, y + (row+1)·d)` and samples the one point at
//! its centre, `(x + (col + ½)·d, y + (row + ½)·d)`. A pixel belongs to a polygon when that
//! centre is inside it by the **even-odd rule** over all of the polygon's rings (a hole is
//! outside, an island in a hole inside again); a MultiPolygon is the union of its
//! polygons; points and lines have no area and paint nothing. A centre exactly on an edge
//! follows the half-open rule of a scanline: an edge counts at the centre's height `v`
//! when `min(ya, yb) ≤ v < max(ya, yb)`, and the centre is inside from a crossing (included)
//! to the next one (excluded), left to right. Annotations are painted in the order given,
//! a **later one on top** of an earlier one, in both masks.
//!
//! Coordinates are the engine's integer centipixels, and centres are whole centipixels
//! too (`d` and the window's corner are whole pixels), so which edges count at a height
//! is decided exactly; only where a crossing falls is computed in floating point.

use crate::annotations::geometry::{Geometry, Ring, SCALE};

/// Where a patch lies: its level-0 top-left corner, downsample and size in its pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub x: i64,
    pub y: i64,
    pub downsample: u32,
    pub width: u32,
    pub height: u32,
}

impl Window {
    /// The level-0 box this window covers, in pixels: `(x0, y0, x1, y1)`, ends excluded.
    #[must_use]
    pub fn level0_box(&self) -> (i64, i64, i64, i64) {
        let d = i64::from(self.downsample);
        (
            self.x,
            self.y,
            self.x + i64::from(self.width) * d,
            self.y + i64::from(self.height) * d,
        )
    }

    /// Level-0 centipixel coordinate of the centre of column `col` (or row, from `y`).
    fn centre(origin: i64, index: i64, downsample: u32) -> i64 {
        let scale = SCALE as i64;
        origin * scale + (index * scale + scale / 2) * i64::from(downsample)
    }
}

/// A semantic mask (class number per pixel, 0 background) and an instance mask (label
/// per pixel, 0 background), row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Masks {
    pub width: u32,
    pub height: u32,
    pub semantic: Vec<u8>,
    pub instance: Vec<u32>,
}

impl Masks {
    /// Background everywhere.
    #[must_use]
    pub fn new(width: u32, height: u32) -> Self {
        let n = width as usize * height as usize;
        Self {
            width,
            height,
            semantic: vec![0; n],
            instance: vec![0; n],
        }
    }

    /// Background everywhere again.
    pub fn clear(&mut self) {
        self.semantic.fill(0);
        self.instance.fill(0);
    }

    /// Paints `geometry` with `class` and `label` over whatever is there; returns the
    /// number of pixels painted.
    pub fn paint(&mut self, window: &Window, geometry: &Geometry, class: u8, label: u32) -> usize {
        let w = self.width as usize;
        let mut painted = 0;
        for_each_span(window, geometry, |row, c0, c1| {
            let at = row as usize * w;
            self.semantic[at + c0 as usize..at + c1 as usize].fill(class);
            self.instance[at + c0 as usize..at + c1 as usize].fill(label);
            painted += (c1 - c0) as usize;
        });
        painted
    }
}

/// Calls `f(row, first column, end column)` for every run of the window's pixels inside
/// `geometry`, by the module's convention. Runs of one polygon do not overlap; those of
/// a MultiPolygon's parts may.
pub fn for_each_span(window: &Window, geometry: &Geometry, mut f: impl FnMut(u32, u32, u32)) {
    match geometry {
        Geometry::Polygon(rings) => polygon_spans(window, rings, &mut f),
        Geometry::MultiPolygon(polygons) => {
            for rings in polygons {
                polygon_spans(window, rings, &mut f);
            }
        }
        Geometry::Point(_) | Geometry::MultiPoint(_) | Geometry::LineString(_) => {}
    }
}

/// One edge of a ring, oriented upwards (`y0 < y1`), in centipixels; horizontal edges
/// are left out (they never count at any height).
#[derive(Debug, Clone, Copy)]
struct Edge {
    x0: f64,
    y0: i64,
    x1: f64,
    y1: i64,
}

fn polygon_spans(window: &Window, rings: &[Ring], f: &mut impl FnMut(u32, u32, u32)) {
    let mut edges = Vec::new();
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for ring in rings {
        let ends = ring.iter().skip(1).chain(ring.first());
        for (a, b) in ring.iter().zip(ends) {
            let (ay, by) = (i64::from(a[1]), i64::from(b[1]));
            if ay == by {
                continue;
            }
            let (p, q) = if ay < by { (a, b) } else { (b, a) };
            edges.push(Edge {
                x0: f64::from(p[0]),
                y0: i64::from(p[1]),
                x1: f64::from(q[0]),
                y1: i64::from(q[1]),
            });
            lo = lo.min(ay.min(by));
            hi = hi.max(ay.max(by));
        }
    }
    if edges.is_empty() {
        return;
    }
    let d = i64::from(window.downsample);
    let scale = SCALE as i64;
    // Rows whose centre v satisfies lo <= v < hi, clipped to the window.
    let row_of = |v: i64| {
        // Smallest row with centre >= v: centre(row) = y·S + (row·S + S/2)·d.
        let num = v - window.y * scale - scale / 2 * d;
        num.div_euclid(scale * d) + i64::from(num.rem_euclid(scale * d) != 0)
    };
    let first = row_of(lo).max(0);
    let end = row_of(hi).min(i64::from(window.height));
    let mut crossings: Vec<f64> = Vec::with_capacity(8);
    let x_scale = scale * d;
    let x_base = window.x * scale + scale / 2 * d;
    for row in first..end {
        let v = Window::centre(window.y, row, window.downsample);
        crossings.clear();
        for e in &edges {
            if e.y0 <= v && v < e.y1 {
                let t = (v - e.y0) as f64 / (e.y1 - e.y0) as f64;
                crossings.push(e.x0 + t * (e.x1 - e.x0));
            }
        }
        crossings.sort_unstable_by(f64::total_cmp);
        for pair in crossings.chunks_exact(2) {
            // Columns whose centre u satisfies pair[0] <= u < pair[1].
            let col = |x: f64| ((x - x_base as f64) / x_scale as f64).ceil();
            let c0 = col(pair[0]).max(0.0);
            let c1 = col(pair[1]).min(f64::from(window.width));
            if c0 < c1 {
                f(row as u32, c0 as u32, c1 as u32);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn px(points: &[(f64, f64)]) -> Ring {
        points
            .iter()
            .map(|&(x, y)| [(x * SCALE) as i32, (y * SCALE) as i32])
            .collect()
    }

    fn window(x: i64, y: i64, downsample: u32, size: u32) -> Window {
        Window {
            x,
            y,
            downsample,
            width: size,
            height: size,
        }
    }

    fn inside(m: &Masks) -> Vec<String> {
        m.instance
            .chunks(m.width as usize)
            .map(|r| r.iter().map(|&v| char::from(b'0' + v as u8)).collect())
            .collect()
    }

    #[test]
    fn a_pixel_is_inside_when_its_centre_is() {
        // Square from 1.0 to 3.0: centres 1.5 and 2.5 are inside, 0.5 and 3.5 outside.
        let sq = Geometry::Polygon(vec![px(&[(1.0, 1.0), (3.0, 1.0), (3.0, 3.0), (1.0, 3.0)])]);
        let mut m = Masks::new(4, 4);
        assert_eq!(m.paint(&window(0, 0, 1, 4), &sq, 1, 1), 4);
        assert_eq!(inside(&m), ["0000", "0110", "0110", "0000"]);
        // Shrunk to 1.6..2.4 no centre is inside it; grown to 1.4..2.6 the same four are.
        let small = Geometry::Polygon(vec![px(&[(1.6, 1.6), (2.4, 1.6), (2.4, 2.4), (1.6, 2.4)])]);
        let mut m = Masks::new(4, 4);
        assert_eq!(m.paint(&window(0, 0, 1, 4), &small, 1, 1), 0);
        let big = Geometry::Polygon(vec![px(&[(1.4, 1.4), (2.6, 1.4), (2.6, 2.6), (1.4, 2.6)])]);
        assert_eq!(m.paint(&window(0, 0, 1, 4), &big, 1, 1), 4);
    }

    #[test]
    fn centres_on_an_edge_follow_the_half_open_rule() {
        // Edges through centres: x = 0.5 and y = 0.5 count, x = 2.5 and y = 2.5 do not.
        let sq = Geometry::Polygon(vec![px(&[(0.5, 0.5), (2.5, 0.5), (2.5, 2.5), (0.5, 2.5)])]);
        let mut m = Masks::new(4, 4);
        m.paint(&window(0, 0, 1, 4), &sq, 1, 1);
        assert_eq!(inside(&m), ["1100", "1100", "0000", "0000"]);
    }

    #[test]
    fn holes_are_even_odd_and_islands_in_holes_count_again() {
        let rings = vec![
            px(&[(0.0, 0.0), (7.0, 0.0), (7.0, 7.0), (0.0, 7.0)]),
            px(&[(1.0, 1.0), (6.0, 1.0), (6.0, 6.0), (1.0, 6.0)]),
            px(&[(3.0, 3.0), (4.0, 3.0), (4.0, 4.0), (3.0, 4.0)]),
        ];
        let mut m = Masks::new(7, 7);
        m.paint(&window(0, 0, 1, 7), &Geometry::Polygon(rings), 1, 1);
        assert_eq!(
            inside(&m),
            [
                "1111111", "1000001", "1000001", "1001001", "1000001", "1000001", "1111111"
            ]
        );
        // A figure-eight ring (crossing itself) is two triangles by the same rule.
        let bowtie = px(&[(0.0, 0.0), (4.0, 4.0), (4.0, 0.0), (0.0, 4.0)]);
        let mut m = Masks::new(4, 4);
        m.paint(&window(0, 0, 1, 4), &Geometry::Polygon(vec![bowtie]), 1, 1);
        // At height 0.5 the crossings are 0, 0.5, 3.5 and 4: centre 0.5 is excluded,
        // centre 3.5 included.
        assert_eq!(inside(&m), ["0001", "1011", "1011", "0001"]);
    }

    #[test]
    fn a_later_annotation_is_on_top_in_both_masks() {
        let a = Geometry::Polygon(vec![px(&[(0.0, 0.0), (3.0, 0.0), (3.0, 1.0), (0.0, 1.0)])]);
        let b = Geometry::Polygon(vec![px(&[(2.0, 0.0), (4.0, 0.0), (4.0, 1.0), (2.0, 1.0)])]);
        let mut m = Masks::new(4, 1);
        let w = Window {
            x: 0,
            y: 0,
            downsample: 1,
            width: 4,
            height: 1,
        };
        m.paint(&w, &a, 5, 1);
        m.paint(&w, &b, 7, 2);
        assert_eq!(m.instance, [1, 1, 2, 2]);
        assert_eq!(m.semantic, [5, 5, 7, 7]);
    }

    #[test]
    fn every_level_samples_the_centres_of_its_own_pixels() {
        // Level 2 (d = 4): pixel (0, 0) at corner (8, 8) samples level-0 point (10, 10).
        let tri = Geometry::Polygon(vec![px(&[(9.0, 9.0), (11.0, 9.0), (11.0, 11.0)])]);
        let mut m = Masks::new(2, 2);
        m.paint(&window(8, 8, 4, 2), &tri, 1, 1);
        assert_eq!(inside(&m), ["10", "00"]);
        // The same triangle moved to miss (10, 10) by a centipixel paints nothing.
        let near = Geometry::Polygon(vec![px(&[(10.01, 9.0), (11.0, 9.0), (11.0, 11.0)])]);
        let mut m = Masks::new(2, 2);
        assert_eq!(m.paint(&window(8, 8, 4, 2), &near, 1, 1), 0);
        // Downsampling by 2 the pattern of a level-0 checker keeps what the centres see.
        let sq = Geometry::Polygon(vec![px(&[(0.0, 0.0), (4.0, 0.0), (4.0, 4.0), (0.0, 4.0)])]);
        let mut m = Masks::new(4, 4);
        m.paint(&window(0, 0, 2, 4), &sq, 1, 1);
        assert_eq!(inside(&m), ["1100", "1100", "0000", "0000"]);
    }

    #[test]
    fn multipolygons_are_the_union_of_their_parts_and_points_paint_nothing() {
        let a = vec![px(&[(0.0, 0.0), (2.0, 0.0), (2.0, 2.0), (0.0, 2.0)])];
        let b = vec![px(&[(1.0, 1.0), (3.0, 1.0), (3.0, 3.0), (1.0, 3.0)])];
        let mut m = Masks::new(3, 3);
        m.paint(
            &window(0, 0, 1, 3),
            &Geometry::MultiPolygon(vec![a, b]),
            1,
            1,
        );
        assert_eq!(inside(&m), ["110", "111", "011"]);
        let mut m = Masks::new(3, 3);
        m.paint(&window(0, 0, 1, 3), &Geometry::Point([150, 150]), 1, 1);
        assert!(m.instance.iter().all(|&v| v == 0));
    }

    #[test]
    fn polygons_reaching_past_the_window_are_clipped_to_it() {
        let big = Geometry::Polygon(vec![px(&[
            (-50.0, -50.0),
            (51.5, -50.0),
            (51.5, 50.0),
            (-50.0, 50.0),
        ])]);
        let mut m = Masks::new(2, 2);
        let n = m.paint(&window(50, 0, 1, 2), &big, 1, 1);
        assert_eq!(n, 2);
        assert_eq!(inside(&m), ["10", "10"]);
    }
}
