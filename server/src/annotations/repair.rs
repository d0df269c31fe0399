//! Polygons that cross or touch themselves, made valid by the even-odd rule: the area a
//! point is in when a ray from it crosses the rings an odd number of times, rebuilt as
//! simple polygons (a figure-eight becomes two). geo's boolean operations (i_overlay)
//! do the overlay; the result is rounded back to centipixels and checked again.

use super::geometry::{Pt, Ring, SCALE, crossing_problem, ring_problem, round_to_i32};
use geo::{BooleanOps, Coord, LineString, MultiPolygon, Polygon};

/// The valid polygons (exterior ring first, then holes) covering what `rings` enclose by
/// the even-odd rule; an error when nothing with an area is left, or when rounding to
/// centipixels leaves a part that still crosses itself.
pub fn even_odd(rings: &[Ring]) -> Result<Vec<Vec<Ring>>, String> {
    let line = |ring: &Ring| {
        LineString::new(
            ring.iter()
                .map(|p| Coord {
                    x: f64::from(p[0]),
                    y: f64::from(p[1]),
                })
                .collect(),
        )
    };
    let Some((first, rest)) = rings.split_first() else {
        return Err("empty polygon".into());
    };
    let subject = Polygon::new(line(first), rest.iter().map(line).collect());
    // A union with nothing is the subject's own area by the fill rule (even-odd).
    let filled = subject.union(&MultiPolygon::<f64>::new(vec![]));
    let mut parts = Vec::with_capacity(filled.0.len());
    for polygon in &filled.0 {
        let mut out = Vec::with_capacity(1 + polygon.interiors().len());
        for (n, ring) in std::iter::once(polygon.exterior())
            .chain(polygon.interiors())
            .enumerate()
        {
            let mut pts: Vec<Pt> = ring
                .0
                .iter()
                .map(|c| [round_to_i32(c.x), round_to_i32(c.y)])
                .collect();
            pts.dedup();
            while pts.len() > 1 && pts.first() == pts.last() {
                pts.pop();
            }
            // Slivers thinner than a centipixel vanish in rounding.
            if ring_problem(&pts, n).is_some() {
                if n == 0 {
                    break;
                }
                continue;
            }
            out.push(pts);
        }
        if out.is_empty() {
            continue;
        }
        if let Some(problem) = crossing_problem(&out) {
            return Err(format!(
                "could not be made valid: after the even-odd rule and rounding to 1/{SCALE} pixel, {problem}"
            ));
        }
        parts.push(out);
    }
    if parts.is_empty() {
        return Err("encloses no area by the even-odd rule".into());
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotations::geometry::Geometry;

    fn ring(points: &[(i32, i32)]) -> Ring {
        points.iter().map(|&(x, y)| [x * 100, y * 100]).collect()
    }

    #[test]
    fn a_figure_eight_becomes_two_triangles_of_the_same_area() -> Result<(), String> {
        let eight = vec![ring(&[(0, 0), (10, 10), (10, 0), (0, 10)])];
        assert!(crossing_problem(&eight).is_some());
        let parts = even_odd(&eight)?;
        assert_eq!(parts.len(), 2);
        for p in &parts {
            assert_eq!(crossing_problem(p), None);
        }
        let area = Geometry::MultiPolygon(parts).area();
        assert!((area - 50.0).abs() < 1e-9, "{area}");
        Ok(())
    }

    #[test]
    fn a_ring_touching_itself_splits_and_a_clean_polygon_is_kept() -> Result<(), String> {
        // Two squares sharing the vertex (10, 10), drawn as one ring.
        let touching = vec![ring(&[
            (0, 0),
            (10, 0),
            (10, 10),
            (20, 10),
            (20, 20),
            (10, 20),
            (10, 10),
            (0, 10),
        ])];
        let parts = even_odd(&touching)?;
        let area = Geometry::MultiPolygon(parts.clone()).area();
        assert!((area - 200.0).abs() < 1e-9, "{area}");
        assert!(parts.iter().all(|p| crossing_problem(p).is_none()));
        let square = vec![
            ring(&[(0, 0), (4, 0), (4, 4), (0, 4)]),
            ring(&[(1, 1), (2, 1), (2, 2), (1, 2)]),
        ];
        let kept = even_odd(&square)?;
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].len(), 2);
        Ok(())
    }

    #[test]
    fn nothing_left_is_an_error() {
        assert!(even_odd(&[]).is_err());
    }
}
