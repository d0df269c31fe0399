//! The agreement statistics, on plain counts. Every function answers `None` where the
//! statistic is undefined (a zero denominator), never NaN.

/// `num / den`, or `None` when `den` is 0.
#[must_use]
pub fn ratio(num: usize, den: usize) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// Cohen's kappa of two raters from their confusion table (`table[i][j]`: items rater a
/// put in category i and rater b in category j; square).
///
/// κ = (p_o − p_e) / (1 − p_e), p_o the observed agreement (the diagonal over N), p_e the
/// agreement expected by chance from the margins (Σ_k row_k · col_k / N²). `None` when
/// N = 0, or when p_e = 1 (both raters put every item in one and the same category: the
/// ratio is 0/0), decided on integers.
#[must_use]
pub fn cohen_kappa(table: &[Vec<u64>]) -> Option<f64> {
    let k = table.len();
    let n: u64 = table.iter().flatten().sum();
    let diagonal: u64 = (0..k).map(|i| table[i][i]).sum();
    let rows: Vec<u64> = table.iter().map(|r| r.iter().sum()).collect();
    let cols: Vec<u64> = (0..k).map(|j| table.iter().map(|r| r[j]).sum()).collect();
    let chance: u128 = (0..k)
        .map(|i| u128::from(rows[i]) * u128::from(cols[i]))
        .sum();
    let n2 = u128::from(n) * u128::from(n);
    if n == 0 || chance == n2 {
        return None;
    }
    let p_o = diagonal as f64 / n as f64;
    let p_e = chance as f64 / n2 as f64;
    Some((p_o - p_e) / (1.0 - p_e))
}

/// Fleiss' kappa from an items × categories table: `table[i][j]` raters who put item i
/// in category j. Every item must have the same number of ratings n ≥ 2.
///
/// With N items: p_j = Σ_i n_ij / (N n); P_i = (Σ_j n_ij² − n) / (n (n − 1));
/// P̄ = Σ_i P_i / N; P̄_e = Σ_j p_j²; κ = (P̄ − P̄_e) / (1 − P̄_e). `None` when there are
/// no items, when items differ in their number of ratings or have fewer than two, or
/// when P̄_e = 1 (every rating in one category: 0/0), decided on integers.
#[must_use]
pub fn fleiss_kappa(table: &[Vec<u64>]) -> Option<f64> {
    let n = table.first()?.iter().sum::<u64>();
    if n < 2 || table.iter().any(|r| r.iter().sum::<u64>() != n) {
        return None;
    }
    let items = table.len() as u64;
    let categories = table.iter().map(Vec::len).max().unwrap_or(0);
    let totals: Vec<u64> = (0..categories)
        .map(|j| table.iter().map(|r| r.get(j).copied().unwrap_or(0)).sum())
        .collect();
    let all = u128::from(items * n);
    let square_sum: u128 = totals.iter().map(|&t| u128::from(t) * u128::from(t)).sum();
    if square_sum == all * all {
        return None;
    }
    let p_bar = table
        .iter()
        .map(|r| {
            let agreeing: u64 = r.iter().map(|&c| c * c).sum::<u64>() - n;
            agreeing as f64 / (n * (n - 1)) as f64
        })
        .sum::<f64>()
        / items as f64;
    let p_e = square_sum as f64 / (all * all) as f64;
    Some((p_bar - p_e) / (1.0 - p_e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleiss_matches_the_published_worked_example() {
        // Wikipedia, "Fleiss' kappa", worked example: 10 subjects, 14 raters, 5
        // categories; P̄ = 0.378, P̄_e = 0.213, κ = 0.210. Exactly:
        // column totals 20, 28, 39, 21, 32 of 140, so P̄_e = 4170/19600 = 0.21276;
        // Σ_i P_i = 3.780 (rows: 1.000 .253 .308 .440 .330 .462 .242 .176 .286 .286),
        // P̄ = 0.37802…; κ = 0.20993….
        let table: Vec<Vec<u64>> = [
            [0, 0, 0, 0, 14],
            [0, 2, 6, 4, 2],
            [0, 0, 3, 5, 6],
            [0, 3, 9, 2, 0],
            [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0],
            [3, 2, 6, 3, 0],
            [2, 5, 3, 2, 2],
            [6, 5, 2, 1, 0],
            [0, 2, 2, 3, 7],
        ]
        .iter()
        .map(|r| r.to_vec())
        .collect();
        let k = fleiss_kappa(&table).expect("defined");
        // Σ_i P_i = (Σ_ij n_ij² − 10·14) / (14·13), so P̄ = (Σ − 140) / 1820.
        let sum_sq: u64 = table.iter().flatten().map(|c| c * c).sum();
        assert_eq!(sum_sq, 828);
        let p_bar = (828.0 - 140.0) / 1820.0;
        let p_e = 4170.0 / 19600.0;
        assert!((k - (p_bar - p_e) / (1.0 - p_e)).abs() < 1e-12);
        assert!((k - 0.210).abs() < 5e-4, "{k}");
    }

    #[test]
    fn cohen_matches_textbook_examples() {
        // Wikipedia, "Cohen's kappa": 50 grant proposals, both yes 20, a yes b no 5,
        // a no b yes 10, both no 15. p_o = 35/50 = 0.7; a says yes 25/50, b 30/50:
        // p_e = 0.5·0.6 + 0.5·0.4 = 0.5; κ = (0.7 − 0.5) / 0.5 = 0.4.
        let k = cohen_kappa(&[vec![20, 5], vec![10, 15]]).expect("defined");
        assert!((k - 0.4).abs() < 1e-12, "{k}");
        // Same page, equal agreement with different margins: 45 15 / 25 15 gives
        // p_o = 0.6, p_e = 0.6·0.7 + 0.4·0.3 = 0.54, κ = 0.06/0.46 ≈ 0.1304.
        let k = cohen_kappa(&[vec![45, 15], vec![25, 15]]).expect("defined");
        assert!((k - 0.06 / 0.46).abs() < 1e-12, "{k}");
        // ... and 25 35 / 5 35: p_o 0.6, p_e 0.6·0.3 + 0.4·0.7 = 0.46, κ ≈ 0.2593.
        let k = cohen_kappa(&[vec![25, 35], vec![5, 35]]).expect("defined");
        assert!((k - 0.14 / 0.54).abs() < 1e-12, "{k}");
    }

    #[test]
    fn undefined_statistics_are_none() {
        assert_eq!(ratio(3, 0), None);
        assert_eq!(ratio(0, 4), Some(0.0));
        assert_eq!(cohen_kappa(&[]), None);
        assert_eq!(cohen_kappa(&[vec![0, 0], vec![0, 0]]), None);
        // Everyone says the same single category: p_e = 1.
        assert_eq!(cohen_kappa(&[vec![7, 0], vec![0, 0]]), None);
        // Perfect agreement over two categories is 1; perfect disagreement is negative.
        assert_eq!(cohen_kappa(&[vec![3, 0], vec![0, 2]]), Some(1.0));
        assert!(cohen_kappa(&[vec![0, 3], vec![2, 0]]).is_some_and(|k| k < 0.0));
        assert_eq!(fleiss_kappa(&[]), None);
        assert_eq!(fleiss_kappa(&[vec![3, 0], vec![3, 0]]), None);
        assert_eq!(fleiss_kappa(&[vec![3, 0], vec![2, 0]]), None, "unequal n");
        assert_eq!(fleiss_kappa(&[vec![1, 0], vec![0, 1]]), None, "n = 1");
        assert_eq!(fleiss_kappa(&[vec![3, 0], vec![0, 3]]), Some(1.0));
    }
}
