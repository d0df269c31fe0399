//! Clusters of instances across all raters: the items of Fleiss' kappa and the
//! candidates of the consensus.
//!
//! Built from the pairwise optimal matchings of every pair of raters: all matched pairs
//! are taken in order of IoU, highest first (ties by the two ids, smaller first), and
//! each joins the clusters of its two instances unless the joined cluster would hold two
//! instances of one rater. Every instance ends in exactly one cluster (an instance nobody
//! matched is a cluster of its own). Nothing depends on the order the raters or their
//! instances were given in.

use super::matching::Forest;
use super::overlap::{Edge, Shape};
use uuid::Uuid;

/// One cluster: at most one instance per rater, as `(rater, shape index)` sorted by rater.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub members: Vec<(usize, u32)>,
}

/// The pairwise matching of raters `r` (the edges' `a`) and `s` (`b`).
#[derive(Debug)]
pub struct Matched<'a> {
    pub r: usize,
    pub s: usize,
    pub pairs: &'a [Edge],
}

/// The clusters of `raters`' shapes given every pairwise matching, sorted by their
/// smallest member id.
#[must_use]
pub fn clusters(raters: &[Vec<Shape>], matchings: &[Matched<'_>]) -> Vec<Cluster> {
    let offsets: Vec<u32> = raters
        .iter()
        .scan(0u32, |next, r| {
            let at = *next;
            *next += r.len() as u32;
            Some(at)
        })
        .collect();
    let total: usize = raters.iter().map(Vec::len).sum();
    let node = |rater: usize, index: u32| offsets[rater] + index;
    let id = |rater: usize, index: u32| raters[rater][index as usize].id;
    let mut joins: Vec<(i64, Uuid, Uuid, u32, u32)> = matchings
        .iter()
        .flat_map(|m| {
            m.pairs.iter().map(move |e| {
                let (x, y) = (id(m.r, e.a), id(m.s, e.b));
                (e.weight, x.min(y), x.max(y), node(m.r, e.a), node(m.s, e.b))
            })
        })
        .collect();
    joins.sort_unstable_by(|p, q| q.0.cmp(&p.0).then(p.1.cmp(&q.1)).then(p.2.cmp(&q.2)));
    let mut forest = Forest::new(total);
    // Raters present in each root's cluster (sorted).
    let mut present: Vec<Vec<usize>> = (0..raters.len())
        .flat_map(|r| std::iter::repeat_n(r, raters[r].len()))
        .map(|r| vec![r])
        .collect();
    for (_, _, _, x, y) in joins {
        let (rx, ry) = (forest.root(x), forest.root(y));
        if rx == ry {
            continue;
        }
        let (px, py) = (&present[rx as usize], &present[ry as usize]);
        if px.iter().any(|r| py.contains(r)) {
            continue;
        }
        let mut merged = [px.as_slice(), py.as_slice()].concat();
        merged.sort_unstable();
        let root = forest.join(rx, ry);
        present[root as usize] = merged;
    }
    let mut by_root: std::collections::HashMap<u32, Vec<(usize, u32)>> =
        std::collections::HashMap::new();
    for (r, shapes) in raters.iter().enumerate() {
        for i in 0..shapes.len() as u32 {
            by_root
                .entry(forest.root(node(r, i)))
                .or_default()
                .push((r, i));
        }
    }
    let mut out: Vec<Cluster> = by_root
        .into_values()
        .map(|members| Cluster { members })
        .collect();
    out.sort_unstable_by_key(|c| c.members.iter().map(|&(r, i)| id(r, i)).min());
    out
}

#[cfg(test)]
mod tests {
    use super::super::matching::optimal;
    use super::super::overlap::{edges, tests::square};
    use super::*;

    fn rater(first_id: u128, xs: &[i32]) -> Vec<Shape> {
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

    /// Clusters of the raters as sets of member ids, whatever the raters' order.
    fn clusters_by_id(raters: &[Vec<Shape>]) -> Vec<Vec<Uuid>> {
        let found: Vec<(usize, usize, Vec<Edge>)> = (0..raters.len())
            .flat_map(|r| (r + 1..raters.len()).map(move |s| (r, s)))
            .map(|(r, s)| {
                let ids = |k: usize| raters[k].iter().map(|x| x.id).collect::<Vec<_>>();
                let e = edges(&raters[r], &raters[s], 0.5);
                (r, s, optimal(&ids(r), &ids(s), &e).expect("small"))
            })
            .collect();
        let matched: Vec<Matched<'_>> = found
            .iter()
            .map(|(r, s, p)| Matched {
                r: *r,
                s: *s,
                pairs: p,
            })
            .collect();
        let mut out: Vec<Vec<Uuid>> = clusters(raters, &matched)
            .iter()
            .map(|c| {
                let mut ids: Vec<Uuid> = c
                    .members
                    .iter()
                    .map(|&(r, i)| raters[r][i as usize].id)
                    .collect();
                ids.sort_unstable();
                ids
            })
            .collect();
        out.sort_unstable();
        out
    }

    #[test]
    fn a_rater_appears_at_most_once_per_cluster() {
        // Squares of side 100 on a line. A: a1 at 0, a2 at 50. B: b1 at 5. C: c1 at 30.
        //   A-B: a1-b1 dx 5 → 0.905 (a2-b1 dx 45 → 0.379: no).
        //   A-C: a1-c1 dx 30 → 0.538, a2-c1 dx 20 → 0.667: the optimum takes a2-c1.
        //   B-C: b1-c1 dx 25 → 0.6.
        // In IoU order: a1-b1 joins {a1, b1}; a2-c1 joins {a2, c1}; b1-c1 would put a1
        // and a2 in one cluster, so it is refused. Items: {a1, b1}, {a2, c1}.
        let a = rater(1, &[0, 50]);
        let b = rater(10, &[5]);
        let c = rater(20, &[30]);
        let want = vec![
            vec![Uuid::from_u128(1), Uuid::from_u128(10)],
            vec![Uuid::from_u128(2), Uuid::from_u128(20)],
        ];
        let orders = [[0, 1, 2], [2, 0, 1], [1, 2, 0], [2, 1, 0]];
        let all = [a, b, c];
        for order in orders {
            let raters: Vec<Vec<Shape>> = order.iter().map(|&k| all[k].clone()).collect();
            assert_eq!(clusters_by_id(&raters), want, "order {order:?}");
        }
    }

    #[test]
    fn unmatched_instances_are_clusters_of_their_own() {
        let a = rater(1, &[0, 1000]);
        let b = rater(10, &[0]);
        let found = clusters_by_id(&[a, b]);
        assert_eq!(
            found,
            vec![
                vec![Uuid::from_u128(1), Uuid::from_u128(10)],
                vec![Uuid::from_u128(2)],
            ]
        );
    }
}
