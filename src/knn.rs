//! The k-nearest-neighbour estimator of `KL(P ‖ Q)` from samples of both (paper 001's sample check).
//!
//! Wang, Kulkarni, Verdú, "Divergence estimation for multidimensional densities via
//! k-nearest-neighbor distances", IEEE Trans. Inf. Theory 55 (2009), eq. (5) [recalled; checked
//! against the Gaussian closed form in `tests/random_features.rs`]: with `x_1..x_n ~ P`,
//! `y_1..y_m ~ Q` in `d` dimensions, `ρ_k(i)` the distance from `x_i` to its k-th nearest neighbour
//! among the other `x`'s and `ν_k(i)` to its k-th nearest among the `y`'s,
//!
//! `D̂ = (d/n) Σ_i ln(ν_k(i)/ρ_k(i)) + ln(m/(n − 1))`,
//!
//! consistent as `n, m → ∞` at fixed `k`. Distances by brute force (`O(n (n + m) d)`), points in
//! parallel; each point's sum is sequential, so the result does not depend on the thread count.

use rayon::prelude::*;

use crate::error::{check_count_at_least, Error, Result};

/// The k-th smallest squared distance from `x` to the points of `pts` (skipping index `skip`).
fn kth_sq_dist(x: &[f64], pts: &[Vec<f64>], skip: Option<usize>, k: usize) -> f64 {
    // the k smallest so far, sorted ascending
    let mut best = vec![f64::INFINITY; k];
    for (j, p) in pts.iter().enumerate() {
        if Some(j) == skip {
            continue;
        }
        let d2: f64 = x.iter().zip(p).map(|(a, b)| (a - b) * (a - b)).sum();
        if d2 < best[k - 1] {
            let pos = best.partition_point(|v| *v <= d2);
            best.insert(pos, d2);
            best.pop();
        }
    }
    best[k - 1]
}

/// `KL(P ‖ Q)` from samples `p` of `P` and `q` of `Q` with the k-nearest-neighbour estimator.
///
/// Needs `k >= 1`, `p.len() > k`, `q.len() >= k`, all points of one dimension; duplicated points
/// (a zero distance) are an error, since the estimator takes their logarithm.
///
/// ```
/// use difftheory::knn::kl_knn;
/// use difftheory::rng::rng_from_seed;
/// use rand_distr::{Distribution, StandardNormal};
/// let mut rng = rng_from_seed(3);
/// let mut draw = |shift: f64| -> Vec<Vec<f64>> {
///     (0..2000).map(|_| { let z: f64 = StandardNormal.sample(&mut rng); vec![z + shift] }).collect()
/// };
/// let (p, q) = (draw(0.0), draw(1.0));
/// let kl = kl_knn(&p, &q, 5).unwrap();
/// assert!((kl - 0.5).abs() < 0.15); // KL(N(0,1) ‖ N(1,1)) = ½
/// ```
pub fn kl_knn(p: &[Vec<f64>], q: &[Vec<f64>], k: usize) -> Result<f64> {
    check_count_at_least("k", k, 1)?;
    check_count_at_least("P samples", p.len(), k + 1)?;
    check_count_at_least("Q samples", q.len(), k)?;
    let d = p[0].len();
    check_count_at_least("dimension", d, 1)?;
    if let Some(x) = p.iter().chain(q).find(|x| x.len() != d) {
        return Err(Error::invalid(
            "sample point",
            x.len(),
            format!("expected {d} coordinates like the first point"),
        ));
    }
    let logs: Vec<f64> = p
        .par_iter()
        .enumerate()
        .map(|(i, x)| {
            let rho = kth_sq_dist(x, p, Some(i), k);
            let nu = kth_sq_dist(x, q, None, k);
            0.5 * (nu.ln() - rho.ln())
        })
        .collect();
    if logs.iter().any(|v| !v.is_finite()) {
        return Err(Error::invalid(
            "sample",
            "duplicate points",
            "the k-NN estimator needs distinct points (a zero distance has no logarithm)",
        ));
    }
    let n = p.len() as f64;
    Ok(d as f64 / n * logs.iter().sum::<f64>() + (q.len() as f64 / (n - 1.0)).ln())
}
