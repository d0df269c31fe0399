//! Inter-annotator agreement on a slide: how well two or more raters' area annotations
//! (cells, regions) match in place and class, and the consensus of their majority.
//! [`analyse`] is pure (lists of instances in, figures out); [`evaluate`] reads the
//! raters from the annotation engine. Knows nothing of HTTP.
//!
//! **Instances.** A rater is a list of annotations (by author or by layer, see
//! [`RaterSpec`]). Only Polygon and MultiPolygon annotations take part; points and lines
//! are counted as `skipped`. With a class filter, every rater keeps only that class
//! before anything else.
//!
//! **Matching** ([`matching`]). Two raters' instances are paired one to one by the
//! optimal assignment: among all sets of disjoint pairs whose IoU reaches the threshold
//! (default 0.5; compared in units of 1e-9), the one with the largest total IoU. Classes
//! play no part in it, so a matched pair may disagree on class. IoU is computed on the
//! exact polygons (holes and all) with `geo`'s boolean operations, for the pairs whose
//! bounding boxes overlap enough to possibly reach the threshold.
//!
//! **Pairwise figures** ([`PairReport`]), rater a being the reference: recall =
//! matched / |a|, precision = matched / |b|, F1 = 2 · matched / (|a| + |b|); mean IoU and
//! mean Dice of the matched pairs. Per class C, a matched pair counts for C when both
//! raters said C; recall_C is over a's instances of class C, precision_C over b's. Cohen's
//! kappa is computed on the two classes of every matched pair. A figure whose denominator
//! is zero (no instances, no matched pairs, or kappa's chance agreement equal to 1, when
//! both raters gave every matched pair one and the same class) is `null`, never NaN.
//!
//! **Items of Fleiss' kappa** ([`clusters`]), with three or more raters. Every pair of
//! raters is matched as above. All those matched pairs are then taken in order of IoU,
//! highest first (ties by the instances' ids), and each joins the clusters of its two
//! instances, unless the joined cluster would hold two instances of one rater. Every
//! instance ends up in exactly one cluster, and each cluster is one item. Each rater
//! rates each item: the class of its instance in the cluster, or the category "absent"
//! if it has none; so every item has one rating per rater, and the categories are the
//! classes plus "absent". The clusters depend on the raters' instances only, not on the
//! order the raters are named in. `kappa_complete` is Fleiss' kappa on classes alone,
//! over the items every rater marked.
//!
//! **Consensus** ([`consensus`]). A cluster marked by more than half of the raters (with
//! two raters: a matched pair) gives one consensus instance: the geometry of its medoid
//! (the member with the highest mean IoU to the others; ties to the rater named first)
//! and the class most members gave (ties to the medoid's class if it is among them, else
//! to the first in alphabetical order).

pub mod clusters;
pub mod consensus;
pub mod error;
pub mod load;
pub mod matching;
pub mod overlap;
pub mod report;
pub mod request;
pub mod stats;

pub use consensus::ConsensusInstance;
pub use error::AgreementError;
pub use load::{RaterSpec, Source};
pub use report::{ClassFigures, Confusion, Figures, PairReport};
pub use request::{Outcome, Report, Request, evaluate};
pub use stats::{cohen_kappa, fleiss_kappa};

use crate::annotations::geometry::Geometry;
use overlap::Shape;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeSet;
use uuid::Uuid;

/// The IoU a pair needs unless the caller says otherwise.
pub const DEFAULT_IOU: f64 = 0.5;

/// One annotation of a rater.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub id: Uuid,
    pub class: String,
    pub geometry: Geometry,
}

/// A rater and what it marked.
#[derive(Debug, Clone, Default)]
pub struct Rater {
    pub name: String,
    pub instances: Vec<Instance>,
}

/// How to compare.
#[derive(Debug, Clone)]
pub struct Options {
    /// IoU a pair needs, in (0, 1].
    pub iou: f64,
    /// Only this class takes part.
    pub class: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            iou: DEFAULT_IOU,
            class: None,
        }
    }
}

/// What took part of one rater's annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RaterCounts {
    /// Areas compared.
    pub instances: usize,
    /// Points and lines left out.
    pub skipped: usize,
}

/// Fleiss' kappa over the clusters (see the module documentation for the items).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleissReport {
    pub raters: usize,
    /// Clusters, each rated by every rater (a class, or "absent").
    pub items: usize,
    /// Over all items, "absent" counted as a category; `null` if undefined.
    pub kappa: Option<f64>,
    /// Items every rater marked.
    pub complete_items: usize,
    /// Over the complete items, classes only.
    pub kappa_complete: Option<f64>,
}

/// Everything [`analyse`] finds.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// Per rater, in the order given.
    pub counts: Vec<RaterCounts>,
    /// Every pair of raters (i < j in the order given; i is the reference).
    pub pairs: Vec<PairReport>,
    /// With three raters or more.
    pub fleiss: Option<FleissReport>,
    pub consensus: Vec<ConsensusInstance>,
}

/// Checks the options and that there are at least two raters.
pub fn check(raters: usize, options: &Options) -> Result<(), AgreementError> {
    if raters < 2 {
        return Err(AgreementError::bad(
            "b",
            "agreement needs at least two raters",
        ));
    }
    if !(options.iou > 0.0 && options.iou <= 1.0) {
        return Err(AgreementError::bad(
            "iou",
            format!("{} is not in (0, 1]", options.iou),
        ));
    }
    if options
        .class
        .as_deref()
        .is_some_and(|c| c.trim().is_empty())
    {
        return Err(AgreementError::bad("class", "empty class name"));
    }
    Ok(())
}

/// Compares the raters (see the module documentation for every definition).
pub fn analyse(raters: &[Rater], options: &Options) -> Result<Analysis, AgreementError> {
    check(raters.len(), options)?;
    let keep = |i: &&Instance| options.class.as_ref().is_none_or(|c| &i.class == c);
    let classes: Vec<String> = raters
        .iter()
        .flat_map(|r| r.instances.iter().filter(keep))
        .filter(|i| overlap::area_of(&i.geometry).is_some())
        .map(|i| i.class.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let class_index = |c: &str| classes.binary_search_by(|x| x.as_str().cmp(c)).unwrap_or(0) as u32;
    let mut counts = Vec::with_capacity(raters.len());
    let shapes: Vec<Vec<Shape>> = raters
        .iter()
        .map(|r| {
            let kept: Vec<(usize, &Instance)> = r
                .instances
                .iter()
                .enumerate()
                .filter(|(_, i)| keep(i))
                .collect();
            let shapes: Vec<Shape> = kept
                .par_iter()
                .filter_map(|&(k, i)| Shape::new(i.id, class_index(&i.class), k, &i.geometry))
                .collect();
            counts.push(RaterCounts {
                instances: shapes.len(),
                skipped: kept.len() - shapes.len(),
            });
            shapes
        })
        .collect();
    let ids: Vec<Vec<Uuid>> = shapes
        .iter()
        .map(|s| s.iter().map(|x| x.id).collect())
        .collect();
    let n = raters.len();
    let matchings: Vec<(usize, usize, Vec<overlap::Edge>)> = (0..n)
        .flat_map(|r| (r + 1..n).map(move |s| (r, s)))
        .map(|(r, s)| {
            let found = overlap::edges(&shapes[r], &shapes[s], options.iou);
            let matched = matching::optimal(&ids[r], &ids[s], &found).map_err(|t| {
                AgreementError::Tangled {
                    a: raters[r].name.clone(),
                    b: raters[s].name.clone(),
                    size: t.0,
                    limit: matching::MAX_COMPONENT,
                }
            })?;
            Ok((r, s, matched))
        })
        .collect::<Result<_, AgreementError>>()?;
    let pairs = matchings
        .iter()
        .map(|(r, s, matched)| {
            report::pair_report(
                (&raters[*r].name, &shapes[*r]),
                (&raters[*s].name, &shapes[*s]),
                matched,
                &classes,
            )
        })
        .collect();
    let matched: Vec<clusters::Matched<'_>> = matchings
        .iter()
        .map(|(r, s, pairs)| clusters::Matched {
            r: *r,
            s: *s,
            pairs,
        })
        .collect();
    let clusters = clusters::clusters(&shapes, &matched);
    let fleiss = (n >= 3).then(|| fleiss_report(&shapes, &clusters, classes.len()));
    let consensus = consensus::consensus(&shapes, &clusters, &classes, |r, k| {
        &raters[r].instances[k].geometry
    });
    Ok(Analysis {
        counts,
        pairs,
        fleiss,
        consensus,
    })
}

/// Fleiss' kappa over the clusters: categories are the classes, then "absent".
fn fleiss_report(
    shapes: &[Vec<Shape>],
    clusters: &[clusters::Cluster],
    classes: usize,
) -> FleissReport {
    let n = shapes.len();
    let row = |c: &clusters::Cluster| {
        let mut counts = vec![0u64; classes + 1];
        for &(r, i) in &c.members {
            counts[shapes[r][i as usize].class as usize] += 1;
        }
        counts[classes] = (n - c.members.len()) as u64;
        counts
    };
    let all: Vec<Vec<u64>> = clusters.iter().map(row).collect();
    let complete: Vec<Vec<u64>> = all
        .iter()
        .filter(|r| r[classes] == 0)
        .map(|r| r[..classes].to_vec())
        .collect();
    FleissReport {
        raters: n,
        items: all.len(),
        kappa: fleiss_kappa(&all),
        complete_items: complete.len(),
        kappa_complete: fleiss_kappa(&complete),
    }
}

#[cfg(test)]
mod tests;
