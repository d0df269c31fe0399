//! The whole analysis on a fixture whose every figure was computed by hand.
//!
//! Three raters A, B, C mark squares of side 100 px at ten sites (site k at x = 300k,
//! y = 200), each square shifted right by dx px. Two squares of one site shifted by d
//! relative to each other have IoU (100 − d)/(100 + d) and Dice (100 − d)/100:
//!
//! | site | A          | B           | C          | IoU A-B | IoU A-C | IoU B-C |
//! |------|------------|-------------|------------|---------|---------|---------|
//! | 1    | Tumor 0    | Tumor 0     | Tumor 10   | 1       | 9/11    | 9/11    |
//! | 2    | Tumor 0    | Stroma 20   | Tumor 25   | 2/3     | 3/5     | 19/21   |
//! | 3    | Stroma 0   | Stroma 25   |            | 3/5     |         |         |
//! | 4    | Tumor 0    | Tumor 50    | Tumor 10   | 1/3 ✗   | 9/11    | 3/7 ✗   |
//! | 5    | Stroma 0   |             |            |         |         |         |
//! | 6    |            | Tumor 0     | Tumor 0    |         |         | 1       |
//! | 7    |            |             | Lympho. 0  |         |         |         |
//! | 8    | Tumor 0    | Stroma 0    | Stroma 0   | 1       | 1       | 1       |
//! | 9    |            | Stroma 0    |            |         |         |         |
//! | 10   | Stroma 0   | Stroma 0    | Stroma 10  | 1       | 9/11    | 9/11    |
//!
//! (✗: below the 0.5 threshold.) A also marks a point and B a line: skipped.
//! |A| = 7 (Tumor 4, Stroma 3); |B| = 8 (Tumor 3, Stroma 5);
//! |C| = 7 (Tumor 4, Stroma 2, Lymphocyte 1).

use super::*;
use crate::agreement::overlap::tests::square;

const T: &str = "Tumor";
const S: &str = "Stroma";
const L: &str = "Lymphocyte";

/// (site, class, dx) per rater.
const A: &[(i32, &str, i32)] = &[
    (1, T, 0),
    (2, T, 0),
    (3, S, 0),
    (4, T, 0),
    (5, S, 0),
    (8, T, 0),
    (10, S, 0),
];
const B: &[(i32, &str, i32)] = &[
    (1, T, 0),
    (2, S, 20),
    (3, S, 25),
    (4, T, 50),
    (6, T, 0),
    (8, S, 0),
    (9, S, 0),
    (10, S, 0),
];
const C: &[(i32, &str, i32)] = &[
    (1, T, 10),
    (2, T, 25),
    (4, T, 10),
    (6, T, 0),
    (7, L, 0),
    (8, S, 0),
    (10, S, 10),
];

fn rater(name: &str, first_id: u128, marks: &[(i32, &str, i32)], extra: Option<Geometry>) -> Rater {
    let mut instances: Vec<Instance> = marks
        .iter()
        .enumerate()
        .map(|(k, &(site, class, dx))| Instance {
            id: Uuid::from_u128(first_id + k as u128),
            class: class.to_string(),
            geometry: square(300 * site + dx, 200, 100),
        })
        .collect();
    if let Some(g) = extra {
        instances.push(Instance {
            id: Uuid::from_u128(first_id + 99),
            class: T.to_string(),
            geometry: g,
        });
    }
    Rater {
        name: name.to_string(),
        instances,
    }
}

fn raters() -> Vec<Rater> {
    vec![
        rater("A", 0x100, A, Some(Geometry::Point([150_000, 40_000]))),
        rater(
            "B",
            0x200,
            B,
            Some(Geometry::LineString(vec![[0, 0], [10_000, 10_000]])),
        ),
        rater("C", 0x300, C, None),
    ]
}

fn close(got: Option<f64>, want: Option<f64>, what: &str) {
    match (got, want) {
        (Some(g), Some(w)) => assert!((g - w).abs() < 1e-9, "{what}: {g} vs {w}"),
        _ => assert_eq!(got, want, "{what}"),
    }
}

/// Expected figures: (a, b, matched, precision, recall, f1, mean IoU, mean Dice).
type Want = (
    usize,
    usize,
    usize,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
);

fn check_figures(f: &Figures, want: Want, what: &str) {
    assert_eq!((f.a, f.b, f.matched), (want.0, want.1, want.2), "{what}");
    close(f.precision, want.3, &format!("{what} precision"));
    close(f.recall, want.4, &format!("{what} recall"));
    close(f.f1, want.5, &format!("{what} F1"));
    close(f.mean_iou, want.6, &format!("{what} mean IoU"));
    close(f.mean_dice, want.7, &format!("{what} mean Dice"));
}

fn class<'a>(p: &'a PairReport, name: &str) -> &'a Figures {
    &p.classes
        .iter()
        .find(|c| c.class == name)
        .unwrap_or_else(|| panic!("no class {name} in {} vs {}", p.a, p.b))
        .figures
}

fn fixture() -> Analysis {
    analyse(&raters(), &Options::default()).expect("valid")
}

#[test]
fn counts_follow_the_table() {
    let found = fixture();
    assert_eq!(
        found.counts,
        [(7, 1), (8, 1), (7, 0)].map(|(instances, skipped)| RaterCounts { instances, skipped })
    );
    assert_eq!(found.pairs.len(), 3);
}

#[test]
fn a_against_b_equals_the_hand_computation() {
    let found = fixture();
    // A (reference) vs B. Matched: sites 1 (T,T; IoU 1), 2 (T,S; 2/3), 3 (S,S; 3/5),
    // 8 (T,S; 1), 10 (S,S; 1); site 4 (1/3) is below the threshold.
    //   overall: precision 5/8, recall 5/7, F1 2·5/(7+8) = 2/3;
    //     mean IoU (1 + 2/3 + 3/5 + 1 + 1)/5 = (64/15)/5 = 64/75;
    //     mean Dice (1 + 0.8 + 0.75 + 1 + 1)/5 = 0.91.
    //   Tumor: both T only at site 1: matched 1; P 1/3, R 1/4, F1 2/(4+3) = 2/7; IoU 1.
    //   Stroma: sites 3 and 10: matched 2; P 2/5, R 2/3, F1 4/8 = 1/2;
    //     IoU (3/5 + 1)/2 = 4/5; Dice (0.75 + 1)/2 = 7/8.
    //   Confusion (rows A, columns B): T→T 1, T→S 2, S→S 2, S→T 0; N = 5.
    //     p_o = 3/5; margins A: T 3, S 2; B: T 1, S 4; p_e = (3·1 + 2·4)/25 = 11/25;
    //     κ = (15/25 − 11/25)/(14/25) = 4/14 = 2/7.
    let ab = &found.pairs[0];
    assert_eq!((ab.a.as_str(), ab.b.as_str()), ("A", "B"));
    let s = Some;
    check_figures(
        &ab.overall,
        (
            7,
            8,
            5,
            s(5. / 8.),
            s(5. / 7.),
            s(2. / 3.),
            s(64. / 75.),
            s(0.91),
        ),
        "A-B",
    );
    check_figures(
        class(ab, T),
        (4, 3, 1, s(1. / 3.), s(1. / 4.), s(2. / 7.), s(1.), s(1.)),
        "A-B Tumor",
    );
    check_figures(
        class(ab, S),
        (
            3,
            5,
            2,
            s(2. / 5.),
            s(2. / 3.),
            s(1. / 2.),
            s(4. / 5.),
            s(7. / 8.),
        ),
        "A-B Stroma",
    );
    assert_eq!(ab.classes.len(), 2, "no Lymphocyte for A and B");
    close(ab.cohen_kappa, s(2. / 7.), "A-B kappa");
    let confusion: Vec<(&str, &str, usize)> = ab
        .confusion
        .iter()
        .map(|c| (c.a.as_str(), c.b.as_str(), c.count))
        .collect();
    assert_eq!(confusion, [(S, S, 2), (T, S, 2), (T, T, 1)]);
}

#[test]
fn a_against_c_equals_the_hand_computation() {
    let found = fixture();
    let s = Some;
    // A vs C. Matched: sites 1 (T,T; 9/11), 2 (T,T; 3/5), 4 (T,T; 9/11), 8 (T,S; 1),
    // 10 (S,S; 9/11).
    //   overall: P 5/7, R 5/7, F1 10/14 = 5/7;
    //     mean IoU (3·9/11 + 3/5 + 1)/5 = (27/11 + 8/5)/5 = (223/55)/5 = 223/275;
    //     mean Dice (0.9 + 0.75 + 0.9 + 1 + 0.9)/5 = 0.89.
    //   Tumor: sites 1, 2, 4: matched 3; P 3/4, R 3/4, F1 6/8 = 3/4;
    //     IoU (45/55 + 33/55 + 45/55)/3 = 41/55; Dice (0.9 + 0.75 + 0.9)/3 = 0.85.
    //   Stroma: site 10: matched 1; P 1/2, R 1/3, F1 2/5; IoU 9/11; Dice 0.9.
    //   Lymphocyte: A 0, C 1: matched 0; P 0/1 = 0, R 0/0 = null, F1 0/1 = 0; means null.
    //   Confusion: T→T 3, T→S 1, S→S 1; p_o = 4/5; margins A: T 4, S 1; C: T 3, S 2;
    //     p_e = (12 + 2)/25 = 14/25; κ = (6/25)/(11/25) = 6/11.
    let ac = &found.pairs[1];
    assert_eq!((ac.a.as_str(), ac.b.as_str()), ("A", "C"));
    check_figures(
        &ac.overall,
        (
            7,
            7,
            5,
            s(5. / 7.),
            s(5. / 7.),
            s(5. / 7.),
            s(223. / 275.),
            s(0.89),
        ),
        "A-C",
    );
    check_figures(
        class(ac, T),
        (
            4,
            4,
            3,
            s(3. / 4.),
            s(3. / 4.),
            s(3. / 4.),
            s(41. / 55.),
            s(0.85),
        ),
        "A-C Tumor",
    );
    check_figures(
        class(ac, S),
        (
            3,
            2,
            1,
            s(1. / 2.),
            s(1. / 3.),
            s(2. / 5.),
            s(9. / 11.),
            s(0.9),
        ),
        "A-C Stroma",
    );
    check_figures(
        class(ac, L),
        (0, 1, 0, s(0.), None, s(0.), None, None),
        "A-C Lymphocyte",
    );
    close(ac.cohen_kappa, s(6. / 11.), "A-C kappa");
}

#[test]
fn b_against_c_equals_the_hand_computation() {
    let found = fixture();
    let s = Some;
    // B (reference) vs C. Matched: sites 1 (T,T; 9/11), 2 (S,T; 19/21), 6 (T,T; 1),
    // 8 (S,S; 1), 10 (S,S; 9/11); site 4 (3/7) is below the threshold.
    //   overall: P 5/7, R 5/8, F1 10/15 = 2/3;
    //     mean IoU (9/11 + 19/21 + 1 + 1 + 9/11)/5 = (1049/231)/5 = 1049/1155;
    //     mean Dice (0.9 + 0.95 + 1 + 1 + 0.9)/5 = 0.95.
    //   Tumor: sites 1, 6: matched 2; P 2/4, R 2/3, F1 4/7; IoU (9/11 + 1)/2 = 10/11;
    //     Dice 0.95. Stroma: sites 8, 10: matched 2; P 2/2, R 2/5, F1 4/7; IoU 10/11;
    //     Dice 0.95. Lymphocyte: P 0, R null, F1 0.
    //   Confusion: T→T 2, S→T 1, S→S 2; p_o = 4/5; margins B: T 2, S 3; C: T 3, S 2;
    //     p_e = (6 + 6)/25 = 12/25; κ = (8/25)/(13/25) = 8/13.
    let bc = &found.pairs[2];
    check_figures(
        &bc.overall,
        (
            8,
            7,
            5,
            s(5. / 7.),
            s(5. / 8.),
            s(2. / 3.),
            s(1049. / 1155.),
            s(0.95),
        ),
        "B-C",
    );
    check_figures(
        class(bc, T),
        (
            3,
            4,
            2,
            s(1. / 2.),
            s(2. / 3.),
            s(4. / 7.),
            s(10. / 11.),
            s(0.95),
        ),
        "B-C Tumor",
    );
    check_figures(
        class(bc, S),
        (
            5,
            2,
            2,
            s(1.),
            s(2. / 5.),
            s(4. / 7.),
            s(10. / 11.),
            s(0.95),
        ),
        "B-C Stroma",
    );
    check_figures(
        class(bc, L),
        (0, 1, 0, s(0.), None, s(0.), None, None),
        "B-C Lymphocyte",
    );
    close(bc.cohen_kappa, s(8. / 13.), "B-C kappa");
}

#[test]
fn fleiss_equals_the_hand_computation() {
    let found = fixture();
    let s = Some;
    // Fleiss. Clusters (items) and their ratings (∅ = absent):
    //   s1 T T T | s2 T S T | s3 S S ∅ | s4 T ∅ T | s4' ∅ T ∅ (B alone) | s5 S ∅ ∅
    //   s6 ∅ T T | s7 ∅ ∅ L | s8 T S S | s9 ∅ S ∅ | s10 S S S          → N = 11, n = 3.
    // Category totals: T 11, S 10, L 1, ∅ 11 (33 ratings).
    //   P̄_e = (121 + 100 + 1 + 121)/33² = 343/1089.
    //   P_i = (Σ_j n_ij² − 3)/6: 1 for s1 and s10, (4 + 1 − 3)/6 = 1/3 for the other 9.
    //   P̄ = (2 + 3)/11 = 5/11 = 495/1089.
    //   κ = (495 − 343)/(1089 − 343) = 152/746 = 76/373 ≈ 0.2038.
    // Complete items (every rater marked): s1 T3, s2 T2 S1, s8 T1 S2, s10 S3; totals
    //   T 6, S 6 of 12: P̄_e = 1/2; P̄ = (1 + 1/3 + 1/3 + 1)/4 = 2/3; κ = (1/6)/(1/2) = 1/3.
    let fleiss = found.fleiss.as_ref().expect("three raters");
    assert_eq!(
        (fleiss.raters, fleiss.items, fleiss.complete_items),
        (3, 11, 4)
    );
    close(fleiss.kappa, s(76. / 373.), "Fleiss");
    close(fleiss.kappa_complete, s(1. / 3.), "Fleiss, complete items");
}

#[test]
fn consensus_equals_the_hand_computation() {
    let found = fixture();
    // Consensus: clusters marked by 2 or 3 raters: s1, s2, s3, s4, s6, s8, s10.
    //   s1: T T T → T; medoid a tie between A and B (both mean (1 + 9/11)/2) → A.
    //   s2: mean IoU A (2/3 + 3/5)/2 = 0.633, B (2/3 + 19/21)/2 = 0.786,
    //       C (3/5 + 19/21)/2 = 0.752 → B's square (x = 620), but class T (2 votes of 3).
    //   s3: S S → S, A. s4: T T → T, A. s6: T T → T, B. s8: T S S → S, A (all IoU 1).
    //   s10: S S S → S, A.  Tumor 4, Stroma 3.
    let mut consensus: Vec<(i32, &str, usize, usize)> = found
        .consensus
        .iter()
        .map(|c| {
            let x = c.geometry.bbox().map_or(0, |r| r.x0 / 100);
            (x, c.class.as_str(), c.raters, c.medoid.0)
        })
        .collect();
    consensus.sort_unstable();
    // (x of the square, class, raters in the cluster, rater of the medoid)
    assert_eq!(
        consensus,
        [
            (300, T, 3, 0),
            (620, T, 3, 1),
            (900, S, 2, 0),
            (1200, T, 2, 0),
            (1800, T, 2, 1),
            (2400, S, 3, 0),
            (3000, S, 3, 0),
        ]
    );
    let s2 = found
        .consensus
        .iter()
        .find(|c| c.medoid == (1, 1))
        .expect("site 2's medoid is B's second square");
    close(
        Some(s2.mean_iou),
        Some(f64::midpoint(2. / 3., 19. / 21.)),
        "s2 medoid mean IoU",
    );
}

/// Cohen's kappa straight from two label lists by the textbook formula.
fn cohen_from_labels(a: &[&str], b: &[&str]) -> f64 {
    let n = a.len() as f64;
    let p_o = a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / n;
    let mut labels: Vec<&str> = a.iter().chain(b).copied().collect();
    labels.sort_unstable();
    labels.dedup();
    let share = |list: &[&str], l: &str| list.iter().filter(|&&x| x == l).count() as f64 / n;
    let p_e: f64 = labels.iter().map(|l| share(a, l) * share(b, l)).sum();
    (p_o - p_e) / (1.0 - p_e)
}

/// Fleiss' kappa from each item's list of ratings, by the equivalent form
/// κ = 1 − (N n² − Σ_ij n_ij²) / (N n (n − 1) Σ_j p_j (1 − p_j)).
fn fleiss_from_labels(items: &[[&str; 3]]) -> f64 {
    let (n_items, n) = (items.len() as f64, 3.0);
    let mut labels: Vec<&str> = items.iter().flatten().copied().collect();
    labels.sort_unstable();
    labels.dedup();
    let mut squares = 0.0;
    let mut spread = 0.0;
    for l in &labels {
        let total: usize = items
            .iter()
            .map(|it| {
                let c = it.iter().filter(|x| *x == l).count();
                squares += (c * c) as f64;
                c
            })
            .sum();
        let p = total as f64 / (n_items * n);
        spread += p * (1.0 - p);
    }
    1.0 - (n_items * n * n - squares) / (n_items * n * (n - 1.0) * spread)
}

#[test]
fn kappas_agree_with_an_independent_computation() {
    let found = analyse(&raters(), &Options::default()).expect("valid");
    // The classes of the matched pairs, site by site, as read off the fixture's table.
    let cases: [(&[&str], &[&str]); 3] = [
        (&[T, T, S, T, S], &[T, S, S, S, S]), // A-B: sites 1 2 3 8 10
        (&[T, T, T, T, S], &[T, T, T, S, S]), // A-C: sites 1 2 4 8 10
        (&[T, S, T, S, S], &[T, T, T, S, S]), // B-C: sites 1 2 6 8 10
    ];
    for (pair, (a, b)) in found.pairs.iter().zip(cases) {
        let k = pair.cohen_kappa.expect("defined");
        assert!(
            (k - cohen_from_labels(a, b)).abs() < 1e-9,
            "{} vs {}",
            pair.a,
            pair.b
        );
    }
    let none = "absent";
    let items = [
        [T, T, T],
        [T, S, T],
        [S, S, none],
        [T, none, T],
        [none, T, none],
        [S, none, none],
        [none, T, T],
        [none, none, L],
        [T, S, S],
        [none, S, none],
        [S, S, S],
    ];
    let fleiss = found.fleiss.expect("three raters");
    let k = fleiss.kappa.expect("defined");
    assert!((k - fleiss_from_labels(&items)).abs() < 1e-9, "{k}");
    let complete: Vec<[&str; 3]> = items
        .iter()
        .filter(|it| !it.contains(&none))
        .copied()
        .collect();
    let k = fleiss.kappa_complete.expect("defined");
    assert!((k - fleiss_from_labels(&complete)).abs() < 1e-9, "{k}");
}

#[test]
fn class_filter_and_threshold_change_the_answer_as_computed() {
    // Tumor only, A vs B: A has sites 1 2 4 8, B has 1 4 6; only site 1 matches (site 4:
    // IoU 1/3). P 1/3, R 1/4; one class only, so Cohen's kappa is undefined (null).
    let tumor = Options {
        class: Some(T.into()),
        ..Options::default()
    };
    let found = analyse(&raters()[..2], &tumor).expect("valid");
    assert_eq!(found.counts[0].skipped, 1, "the point is a Tumor too");
    let ab = &found.pairs[0];
    check_figures(
        &ab.overall,
        (
            4,
            3,
            1,
            Some(1. / 3.),
            Some(1. / 4.),
            Some(2. / 7.),
            Some(1.),
            Some(1.),
        ),
        "A-B Tumor only",
    );
    assert_eq!(ab.cohen_kappa, None);
    assert!(found.fleiss.is_none(), "two raters");
    // Two raters: the consensus is the matched pairs (site 1 only here).
    assert_eq!(found.consensus.len(), 1);

    // IoU ≥ 0.3: site 4 (T,T; 1/3) joins A-B. Matched 6: P 6/8, R 6/7, F1 12/15 = 4/5;
    // mean IoU (64/15 + 1/3)/6 = 23/30; mean Dice (4.55 + 0.5)/6 = 101/120.
    // Confusion T→T 2, T→S 2, S→S 2: p_o = 4/6; A: T 4, S 2; B: T 2, S 4;
    // p_e = (8 + 8)/36 = 4/9; κ = (2/3 − 4/9)/(5/9) = 2/5.
    let loose = Options {
        iou: 0.3,
        ..Options::default()
    };
    let found = analyse(&raters(), &loose).expect("valid");
    let ab = &found.pairs[0];
    check_figures(
        &ab.overall,
        (
            7,
            8,
            6,
            Some(3. / 4.),
            Some(6. / 7.),
            Some(4. / 5.),
            Some(23. / 30.),
            Some(101. / 120.),
        ),
        "A-B at 0.3",
    );
    close(ab.cohen_kappa, Some(2. / 5.), "A-B kappa at 0.3");
}

#[test]
fn nothing_to_compare_gives_nulls_not_nan() {
    let empty = vec![Rater::default(), Rater::default(), Rater::default()];
    let found = analyse(&empty, &Options::default()).expect("valid");
    let f = &found.pairs[0].overall;
    assert_eq!(
        (f.precision, f.recall, f.f1, f.mean_iou),
        (None, None, None, None)
    );
    assert_eq!(found.pairs[0].cohen_kappa, None);
    let fleiss = found.fleiss.expect("three raters");
    assert_eq!((fleiss.items, fleiss.kappa), (0, None));
    let json = serde_json::to_string(&found.pairs[0]).expect("serialises");
    assert!(json.contains(r#""precision":null"#), "{json}");
}

#[test]
fn options_are_checked() {
    let two = &raters()[..2];
    for iou in [0.0, -0.5, 1.5, f64::NAN] {
        let e = analyse(two, &Options { iou, class: None }).expect_err("bad iou");
        assert!(e.to_string().starts_with("parameter iou:"), "{e}");
    }
    assert!(analyse(&raters()[..1], &Options::default()).is_err());
    assert!(
        analyse(
            two,
            &Options {
                iou: 1.0,
                class: None
            }
        )
        .is_ok()
    );
}

#[test]
fn rater_order_does_not_change_fleiss_or_the_consensus_classes() {
    let r = raters();
    let one = analyse(&r, &Options::default()).expect("valid");
    let other = analyse(
        &[r[2].clone(), r[0].clone(), r[1].clone()],
        &Options::default(),
    )
    .expect("valid");
    assert_eq!(one.fleiss, other.fleiss);
    let classes = |a: &Analysis| {
        let mut v: Vec<String> = a.consensus.iter().map(|c| c.class.clone()).collect();
        v.sort();
        v
    };
    assert_eq!(classes(&one), classes(&other));
}
