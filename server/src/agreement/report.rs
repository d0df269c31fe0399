//! The figures of one pair of raters, from their matching: per class and overall.

use super::overlap::{Edge, Shape};
use super::stats::{cohen_kappa, ratio};
use serde::Serialize;

/// Detection figures of rater b against rater a (the reference).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// Instances of rater a.
    pub a: usize,
    /// Instances of rater b.
    pub b: usize,
    pub matched: usize,
    /// matched / b; `null` when b has none.
    pub precision: Option<f64>,
    /// matched / a; `null` when a has none.
    pub recall: Option<f64>,
    /// 2 · matched / (a + b), equal to 2PR / (P + R); `null` when both have none.
    pub f1: Option<f64>,
    /// Mean IoU of the matched pairs; `null` without any.
    pub mean_iou: Option<f64>,
    /// Mean Dice (2 |a ∩ b| / (|a| + |b|) = 2 IoU / (1 + IoU)) of the matched pairs.
    pub mean_dice: Option<f64>,
}

impl Figures {
    fn of(a: usize, b: usize, ious: &[f64]) -> Self {
        let matched = ious.len();
        let mean = |f: fn(f64) -> f64| {
            (matched > 0).then(|| ious.iter().map(|&v| f(v)).sum::<f64>() / matched as f64)
        };
        Self {
            a,
            b,
            matched,
            precision: ratio(matched, b),
            recall: ratio(matched, a),
            f1: ratio(2 * matched, a + b),
            mean_iou: mean(|v| v),
            mean_dice: mean(|v| 2.0 * v / (1.0 + v)),
        }
    }
}

/// The figures of one class: a pair counts for it when both raters gave it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassFigures {
    pub class: String,
    #[serde(flatten)]
    pub figures: Figures,
}

/// Matched pairs by the classes the two raters gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Confusion {
    pub a: String,
    pub b: String,
    pub count: usize,
}

/// Rater a (the reference) against rater b.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairReport {
    pub a: String,
    pub b: String,
    pub overall: Figures,
    /// Every class either rater used, by name.
    pub classes: Vec<ClassFigures>,
    /// Cohen's kappa of the classes of the matched pairs; `null` without matched pairs or
    /// when both raters gave every matched pair one and the same class.
    pub cohen_kappa: Option<f64>,
    /// Non-zero cells of the matched pairs' confusion table, by class names.
    pub confusion: Vec<Confusion>,
}

/// The report of rater `a_name` (shapes `a`) against `b_name` given their matching.
#[must_use]
pub fn pair_report(
    (a_name, a): (&str, &[Shape]),
    (b_name, b): (&str, &[Shape]),
    matched: &[Edge],
    classes: &[String],
) -> PairReport {
    let k = classes.len();
    let mut table = vec![vec![0u64; k]; k];
    let mut class_ious: Vec<Vec<f64>> = vec![Vec::new(); k];
    for e in matched {
        let (ca, cb) = (
            a[e.a as usize].class as usize,
            b[e.b as usize].class as usize,
        );
        table[ca][cb] += 1;
        if ca == cb {
            class_ious[ca].push(e.iou);
        }
    }
    let count =
        |shapes: &[Shape], c: usize| shapes.iter().filter(|s| s.class as usize == c).count();
    let ious: Vec<f64> = matched.iter().map(|e| e.iou).collect();
    let rows = (0..k)
        .filter_map(|c| {
            let (na, nb) = (count(a, c), count(b, c));
            (na + nb > 0).then(|| ClassFigures {
                class: classes[c].clone(),
                figures: Figures::of(na, nb, &class_ious[c]),
            })
        })
        .collect();
    let confusion = (0..k)
        .flat_map(|i| (0..k).map(move |j| (i, j)))
        .filter(|&(i, j)| table[i][j] > 0)
        .map(|(i, j)| Confusion {
            a: classes[i].clone(),
            b: classes[j].clone(),
            count: table[i][j] as usize,
        })
        .collect();
    PairReport {
        a: a_name.to_string(),
        b: b_name.to_string(),
        overall: Figures::of(a.len(), b.len(), &ious),
        classes: rows,
        cohen_kappa: cohen_kappa(&table),
        confusion,
    }
}
