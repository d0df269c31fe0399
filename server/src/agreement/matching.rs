//! One-to-one matching of two raters' instances: the optimal assignment.
//!
//! Among all sets of disjoint pairs with IoU ≥ the threshold, the one with the largest
//! total IoU (in integer units of 1e-9). The candidate graph falls apart into small
//! connected components (a cell overlaps a few neighbours), and an optimal assignment of
//! the whole graph is the union of optimal assignments of its components, so each
//! component is solved alone by Kuhn-Munkres (`pathfinding`): a lone pair is taken as it
//! is, larger components get a matrix of their own members only.
//!
//! Kuhn-Munkres costs O(n³) in the size n of a component, so a component with more than
//! [`MAX_COMPONENT`] instances of one rater (thousands of overlapping copies, or a very
//! low threshold) is refused rather than left to run for hours.
//!
//! The answer does not depend on which rater is first or on the order of instances:
//! each component's members are sorted by id and its matrix is oriented by a rule that
//! looks only at the members, so equal-weight alternatives are always resolved alike.

use super::overlap::Edge;
use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;
use rayon::prelude::*;
use uuid::Uuid;

/// Disjoint-set forest over `n` nodes.
#[derive(Debug)]
pub struct Forest {
    parent: Vec<u32>,
}

impl Forest {
    #[must_use]
    pub fn new(n: usize) -> Self {
        Self {
            parent: (0..n as u32).collect(),
        }
    }

    pub fn root(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let up = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = up;
            x = up;
        }
        x
    }

    /// Joins the sets of `x` and `y`; returns the new root.
    pub fn join(&mut self, x: u32, y: u32) -> u32 {
        let (rx, ry) = (self.root(x), self.root(y));
        let (lo, hi) = (rx.min(ry), rx.max(ry));
        self.parent[hi as usize] = lo;
        lo
    }
}

/// Most instances of one rater in one connected component of candidate pairs.
pub const MAX_COMPONENT: usize = 1000;

/// A component too large to solve: its instances of the rater with more of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tangle(pub usize);

/// The optimal one-to-one matching given every qualifying pair between raters whose
/// instances have the ids `a_ids` and `b_ids`. Returns a subset of `edges`, sorted by `a`.
pub fn optimal(a_ids: &[Uuid], b_ids: &[Uuid], edges: &[Edge]) -> Result<Vec<Edge>, Tangle> {
    let na = a_ids.len();
    let mut forest = Forest::new(na + b_ids.len());
    for e in edges {
        forest.join(e.a, na as u32 + e.b);
    }
    // Group edges by component, in edge order.
    let mut slot_of_root = std::collections::HashMap::new();
    let mut components: Vec<Vec<Edge>> = Vec::new();
    for e in edges {
        let root = forest.root(e.a);
        let slot = *slot_of_root.entry(root).or_insert_with(|| {
            components.push(Vec::new());
            components.len() - 1
        });
        components[slot].push(*e);
    }
    let mut matched = components
        .into_par_iter()
        .map(|c| solve(a_ids, b_ids, c))
        .collect::<Result<Vec<Vec<Edge>>, Tangle>>()?
        .concat();
    matched.sort_unstable_by_key(|e| (e.a, e.b));
    Ok(matched)
}

/// The optimal assignment of one connected component.
fn solve(a_ids: &[Uuid], b_ids: &[Uuid], component: Vec<Edge>) -> Result<Vec<Edge>, Tangle> {
    if component.len() == 1 {
        return Ok(component);
    }
    let mut left: Vec<u32> = component.iter().map(|e| e.a).collect();
    let mut right: Vec<u32> = component.iter().map(|e| e.b).collect();
    left.sort_unstable_by_key(|&i| a_ids[i as usize]);
    left.dedup();
    right.sort_unstable_by_key(|&j| b_ids[j as usize]);
    right.dedup();
    let larger = left.len().max(right.len());
    if larger > MAX_COMPONENT {
        return Err(Tangle(larger));
    }
    // Rows are the smaller side (Kuhn-Munkres assigns every row); on equal sizes, the side
    // holding the smallest id.
    let a_rows = match left.len().cmp(&right.len()) {
        std::cmp::Ordering::Less => true,
        std::cmp::Ordering::Greater => false,
        std::cmp::Ordering::Equal => a_ids[left[0] as usize] < b_ids[right[0] as usize],
    };
    let position = |list: &[u32], ids: &[Uuid], x: u32| {
        list.binary_search_by_key(&ids[x as usize], |&y| ids[y as usize])
            .unwrap_or_default()
    };
    let (rows, cols) = if a_rows {
        (left.len(), right.len())
    } else {
        (right.len(), left.len())
    };
    let mut weights = Matrix::new(rows, cols, 0i64);
    let mut by_cell = Matrix::new(rows, cols, usize::MAX);
    for (k, e) in component.iter().enumerate() {
        let (i, j) = (position(&left, a_ids, e.a), position(&right, b_ids, e.b));
        let cell = if a_rows { (i, j) } else { (j, i) };
        weights[cell] = e.weight;
        by_cell[cell] = k;
    }
    let (_, assignment) = kuhn_munkres(&weights);
    Ok(assignment
        .iter()
        .enumerate()
        .filter_map(|(row, &col)| {
            let k = by_cell[(row, col)];
            // A row assigned to a cell without an edge is unmatched.
            (k != usize::MAX).then(|| component[k])
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::overlap::{Shape, edges, tests::square};
    use super::*;

    fn shapes(first_id: u128, xs: &[i32]) -> Vec<Shape> {
        xs.iter()
            .enumerate()
            .filter_map(|(i, &x)| {
                Shape::new(
                    Uuid::from_u128(first_id + i as u128),
                    0,
                    i,
                    &square(x, 0, 100),
                )
            })
            .collect()
    }

    fn ids(s: &[Shape]) -> Vec<Uuid> {
        s.iter().map(|s| s.id).collect()
    }

    /// Greedy matching: the best remaining pair first, as a naive matcher would do.
    fn greedy(found: &[Edge]) -> Vec<Edge> {
        let mut sorted = found.to_vec();
        sorted.sort_by(|x, y| y.iou.total_cmp(&x.iou));
        let mut out: Vec<Edge> = Vec::new();
        for e in sorted {
            if out.iter().all(|m| m.a != e.a && m.b != e.b) {
                out.push(e);
            }
        }
        out
    }

    #[test]
    fn optimal_assignment_beats_greedy() {
        // Squares of side 100 on one line; IoU of an offset dx is (100-dx)/(100+dx).
        // a0 at 0, a1 at 25; b0 at 5, b1 at -20.
        //   a0-b0: dx 5  → 95/105 ≈ 0.905 (the best single pair)
        //   a0-b1: dx 20 → 80/120 = 2/3
        //   a1-b0: dx 20 → 2/3
        //   a1-b1: dx 45 → 55/145 ≈ 0.379, below 0.5
        // Greedy takes a0-b0 first and is left with a1-b1, which does not qualify: one
        // pair, total 0.905. The optimum pairs a0-b1 and a1-b0: two pairs, total 4/3.
        let a = shapes(0, &[0, 25]);
        let b = shapes(10, &[5, -20]);
        let found = edges(&a, &b, 0.5);
        assert_eq!(found.len(), 3);
        let g = greedy(&found);
        assert_eq!(g.iter().map(|e| (e.a, e.b)).collect::<Vec<_>>(), [(0, 0)]);
        let best = optimal(&ids(&a), &ids(&b), &found).expect("small");
        assert_eq!(
            best.iter().map(|e| (e.a, e.b)).collect::<Vec<_>>(),
            [(0, 1), (1, 0)]
        );
        let total: f64 = best.iter().map(|e| e.iou).sum();
        assert!((total - 4.0 / 3.0).abs() < 1e-9, "{total}");
        assert!(total > g.iter().map(|e| e.iou).sum::<f64>());
    }

    #[test]
    fn the_answer_does_not_depend_on_which_rater_is_first() {
        // A chain with equal weights: a0 b0 a1 b1 a2 along a line, each step dx 20 (2/3).
        let a = shapes(100, &[0, 40, 80]);
        let b = shapes(7, &[20, 60]);
        let ab = optimal(&ids(&a), &ids(&b), &edges(&a, &b, 0.5)).expect("small");
        let ba = optimal(&ids(&b), &ids(&a), &edges(&b, &a, 0.5)).expect("small");
        let mut ab: Vec<(u32, u32)> = ab.iter().map(|e| (e.a, e.b)).collect();
        let mut ba: Vec<(u32, u32)> = ba.iter().map(|e| (e.b, e.a)).collect();
        ab.sort_unstable();
        ba.sort_unstable();
        assert_eq!(ab.len(), 2);
        assert_eq!(ab, ba);
    }

    #[test]
    fn separate_components_are_solved_apart() {
        // Two far-apart copies of the greedy trap: both solved optimally.
        let a = shapes(0, &[0, 25, 1000, 1025]);
        let b = shapes(10, &[5, -20, 1005, 980]);
        let best = optimal(&ids(&a), &ids(&b), &edges(&a, &b, 0.5)).expect("small");
        assert_eq!(
            best.iter().map(|e| (e.a, e.b)).collect::<Vec<_>>(),
            [(0, 1), (1, 0), (2, 3), (3, 2)]
        );
    }

    #[test]
    fn a_component_too_large_is_refused() {
        // MAX_COMPONENT + 1 identical squares of one rater against one of the other.
        let a = shapes(0, &vec![0; MAX_COMPONENT + 1]);
        let b = shapes(1 << 20, &[0]);
        let found = edges(&a, &b, 0.5);
        assert_eq!(
            optimal(&ids(&a), &ids(&b), &found),
            Err(Tangle(MAX_COMPONENT + 1))
        );
    }
}
