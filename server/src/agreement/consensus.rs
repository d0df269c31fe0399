//! The consensus layer: one instance per cluster that more than half of the raters marked.
//!
//! Its geometry is the cluster's medoid, the member with the highest mean IoU to the
//! other members (ties: the member of the rater named first); its class is the class
//! most members gave (ties: the medoid's class if it is among the tied, else the tied
//! class first in alphabetical order).

use super::clusters::Cluster;
use super::overlap::{Shape, iou};
use crate::annotations::geojson::write::{
    COLLECTION_END, COLLECTION_START, push_geometry, push_str,
};
use crate::annotations::geometry::Geometry;
use std::collections::BTreeMap;

/// One instance of the consensus.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsensusInstance {
    /// The medoid's geometry.
    pub geometry: Geometry,
    pub class: String,
    /// How many raters marked the cluster.
    pub raters: usize,
    /// The medoid's mean IoU to the other members.
    pub mean_iou: f64,
    /// The medoid: `(rater, index of the instance in that rater's input)`.
    pub medoid: (usize, usize),
}

/// The consensus of `clusters` over `raters` raters; `geometry(rater, index)` is the
/// input geometry of an instance.
pub fn consensus<'g>(
    shapes: &[Vec<Shape>],
    clusters: &[Cluster],
    classes: &[String],
    geometry: impl Fn(usize, usize) -> &'g Geometry,
) -> Vec<ConsensusInstance> {
    let raters = shapes.len();
    clusters
        .iter()
        .filter(|c| c.members.len() * 2 > raters)
        .map(|c| {
            let member = |k: usize| {
                let (r, i) = c.members[k];
                &shapes[r][i as usize]
            };
            let m = c.members.len();
            let mut sums = vec![0.0; m];
            for x in 0..m {
                for y in x + 1..m {
                    let v = iou(member(x), member(y));
                    sums[x] += v;
                    sums[y] += v;
                }
            }
            // Members are sorted by rater, so the first of equals is the earliest rater.
            let best = (0..m).fold(0, |best, k| if sums[k] > sums[best] { k } else { best });
            let medoid = member(best);
            let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
            for k in 0..m {
                *votes
                    .entry(classes[member(k).class as usize].as_str())
                    .or_default() += 1;
            }
            let top = votes.values().copied().max().unwrap_or(0);
            let medoid_class = classes[medoid.class as usize].as_str();
            let class = if votes.get(medoid_class) == Some(&top) {
                medoid_class
            } else {
                // BTreeMap order: the first tied class alphabetically.
                votes
                    .iter()
                    .find(|&(_, &n)| n == top)
                    .map_or(medoid_class, |(c, _)| c)
            };
            let (rater, _) = c.members[best];
            ConsensusInstance {
                geometry: geometry(rater, medoid.index).clone(),
                class: class.to_string(),
                raters: m,
                mean_iou: sums[best] / (m - 1) as f64,
                medoid: (rater, medoid.index),
            }
        })
        .collect()
}

/// The consensus as a QuPath FeatureCollection without ids (an import gives new ones),
/// with the raters' count and the medoid's mean IoU as measurements.
#[must_use]
pub fn feature_collection(instances: &[ConsensusInstance]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 * instances.len() + 64);
    out.extend_from_slice(COLLECTION_START);
    for (k, c) in instances.iter().enumerate() {
        if k > 0 {
            out.push(b',');
        }
        out.extend_from_slice(br#"{"type":"Feature","geometry":"#);
        push_geometry(&mut out, &c.geometry);
        out.extend_from_slice(
            br#","properties":{"objectType":"annotation","classification":{"name":"#,
        );
        push_str(&mut out, &c.class);
        out.extend_from_slice(
            format!(
                r#"}},"measurements":{{"Consensus raters":{},"Consensus mean IoU":{}}}}}}}"#,
                c.raters, c.mean_iou
            )
            .as_bytes(),
        );
    }
    out.extend_from_slice(COLLECTION_END);
    out
}

#[cfg(test)]
mod tests {
    use super::super::overlap::tests::square;
    use super::*;
    use uuid::Uuid;

    #[test]
    fn medoid_and_majority_class() {
        // One cluster of three squares of side 100 at x = 0 (Tumor), 20 (Stroma) and 25
        // (Tumor): IoU 0-20 = 2/3, 0-25 = 0.6, 20-25 = 19/21. Mean IoU of the member at
        // 20 is (2/3 + 19/21)/2 = 0.786, the highest: it is the medoid. Its class is
        // Stroma, but Tumor has two votes of three.
        let classes = vec!["Stroma".to_string(), "Tumor".to_string()];
        let g = [square(0, 0, 100), square(20, 0, 100), square(25, 0, 100)];
        let shapes: Vec<Vec<Shape>> = [(1, 0), (0, 1), (1, 2)]
            .iter()
            .map(|&(class, k)| {
                vec![Shape::new(Uuid::from_u128(k as u128), class, 0, &g[k]).expect("area")]
            })
            .collect();
        let cluster = Cluster {
            members: vec![(0, 0), (1, 0), (2, 0)],
        };
        let found = consensus(&shapes, &[cluster], &classes, |r, _| &g[r]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].class, "Tumor");
        assert_eq!(found[0].geometry, g[1]);
        assert_eq!(found[0].medoid, (1, 0));
        assert!((found[0].mean_iou - f64::midpoint(2.0 / 3.0, 19.0 / 21.0)).abs() < 1e-9);
        // A cluster marked by one rater of three is no majority.
        let lone = Cluster {
            members: vec![(2, 0)],
        };
        assert!(consensus(&shapes, &[lone], &classes, |r, _| &g[r]).is_empty());
    }

    #[test]
    fn ties_go_to_the_first_rater() {
        // Two raters, identical squares, different classes: the medoid is a tie, the first
        // rater's member wins and brings its class.
        let classes = vec!["Stroma".to_string(), "Tumor".to_string()];
        let g = square(0, 0, 50);
        let shapes = vec![
            vec![Shape::new(Uuid::from_u128(9), 1, 0, &g).expect("area")],
            vec![Shape::new(Uuid::from_u128(1), 0, 0, &g).expect("area")],
        ];
        let cluster = Cluster {
            members: vec![(0, 0), (1, 0)],
        };
        let found = consensus(&shapes, &[cluster], &classes, |_, _| &g);
        assert_eq!(found[0].class, "Tumor");
        assert_eq!(found[0].medoid, (0, 0));
    }

    #[test]
    fn the_collection_is_valid_geojson() {
        let c = ConsensusInstance {
            geometry: square(1, 2, 3),
            class: "Tu\"mor".into(),
            raters: 2,
            mean_iou: 0.75,
            medoid: (0, 0),
        };
        let bytes = feature_collection(&[c.clone(), c]);
        let v: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(v["features"].as_array().map(Vec::len), Some(2));
        let p = &v["features"][1]["properties"];
        assert_eq!(p["classification"]["name"], "Tu\"mor");
        assert_eq!(p["measurements"]["Consensus mean IoU"], 0.75);
    }
}
