//! How well subspaces were recovered: the normalized projection distance under the best matching
//! of components.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};

use super::*;
use crate::error::{Error, Result};

/// Subspace recovery error under the best matching of components.
#[derive(Debug, Clone, PartialEq)]
pub struct Recovery {
    /// Mean over true components of `‖P_k − P̂_{π(k)}‖_F / sqrt(d_k + d̂_{π(k)})`, in `[0, 1]`.
    pub error: f64,
    /// The per-component errors, in true-component order.
    pub per_component: Vec<f64>,
    /// `permutation[k]`: the estimated component matched to true component k.
    pub permutation: Vec<usize>,
}

impl Recovery {
    /// `error <= SUCCESS_THRESHOLD`.
    pub fn success(&self) -> bool {
        self.error <= SUCCESS_THRESHOLD
    }
}

/// `‖U Uᵀ − V Vᵀ‖_F / sqrt(d_U + d_V)` for orthonormal U, V: `(d_U + d_V − 2‖UᵀV‖²_F)`, normalized.
pub fn projection_distance(u: MatRef<'_, f64>, v: MatRef<'_, f64>) -> f64 {
    let mut c = Mat::<f64>::zeros(u.ncols(), v.ncols());
    matmul(c.as_mut(), Accum::Replace, u.transpose(), v, 1.0, Par::Seq);
    let f2: f64 = (0..c.ncols())
        .map(|j| c.col_as_slice(j).iter().map(|a| a * a).sum::<f64>())
        .sum();
    let dd = (u.ncols() + v.ncols()) as f64;
    ((dd - 2.0 * f2).max(0.0) / dd).sqrt()
}

/// The error of estimated bases against the truth, under the best one-to-one matching (exact, by
/// dynamic programming over subsets: K up to 16).
pub fn subspace_error(truth: &[MatRef<'_, f64>], estimate: &[Mat<f64>]) -> Result<Recovery> {
    let k = truth.len();
    if estimate.len() != k {
        return Err(Error::invalid(
            "estimate",
            format!("{} subspaces", estimate.len()),
            format!("expected {k}, one per true component"),
        ));
    }
    if k == 0 || k > 16 {
        return Err(Error::invalid(
            "components",
            k,
            "expected 1 to 16 components",
        ));
    }
    for (a, b) in truth.iter().zip(estimate) {
        if a.nrows() != b.nrows() {
            return Err(Error::invalid(
                "estimate",
                format!("{} rows", b.nrows()),
                format!("expected {} (the ambient dimension)", a.nrows()),
            ));
        }
    }
    let cost: Vec<Vec<f64>> = truth
        .iter()
        .map(|t| {
            estimate
                .iter()
                .map(|e| projection_distance(*t, e.as_ref()))
                .collect()
        })
        .collect();
    // best[mask]: least total cost matching true components 0..popcount(mask) to the set mask
    let full = 1usize << k;
    let mut best = vec![f64::INFINITY; full];
    let mut choice = vec![usize::MAX; full];
    best[0] = 0.0;
    for mask in 0..full {
        if !best[mask].is_finite() {
            continue;
        }
        let row = mask.count_ones() as usize;
        if row == k {
            continue;
        }
        for (col, c) in cost[row].iter().enumerate() {
            if mask & (1 << col) == 0 {
                let next = mask | (1 << col);
                let v = best[mask] + c;
                if v < best[next] {
                    best[next] = v;
                    choice[next] = col;
                }
            }
        }
    }
    let mut permutation = vec![0; k];
    let mut mask = full - 1;
    for row in (0..k).rev() {
        let col = choice[mask];
        permutation[row] = col;
        mask &= !(1 << col);
    }
    let per_component: Vec<f64> = (0..k).map(|r| cost[r][permutation[r]]).collect();
    Ok(Recovery {
        error: best[full - 1] / k as f64,
        per_component,
        permutation,
    })
}

/// The subspace error PCA makes from `points` noisy draws of one subspace, to first order in the
/// noise: `sqrt(σ² (n − d) / (N − d − 1))` (root mean square over instances; `n` = `ambient`, unit
/// variance along each of the `d` basis directions, isotropic noise σ = `noise`). `None` for
/// `N ≤ d + 1`, where the expectation is infinite or the noiseless error is not zero.
///
/// Derivation (docs/paper-004-low-rank-mixtures.md, "PCA with noise"): with `X = U A + Ξ`, the
/// fitted subspace tilts by `sin Θ ≈ P⊥ Ξ Aᵀ (A Aᵀ)⁻¹`, whose squared Frobenius norm has
/// expectation `σ² (n − d) tr E[(A Aᵀ)⁻¹] = σ² (n − d) d / (N − d − 1)` (inverse Wishart), and
/// the error is `‖sin Θ‖_F / sqrt(d)`.
pub fn noisy_pca_error(ambient: usize, d: usize, points: usize, noise: f64) -> Option<f64> {
    (points > d + 1 && ambient > d)
        .then(|| (noise * noise * (ambient - d) as f64 / (points - d - 1) as f64).sqrt())
}

/// The number of points per subspace at which [`noisy_pca_error`] falls to `threshold`:
/// `d + 1 + σ² (n − d) / τ²`. Without noise the theorems' `N = d`; with noise it is set by σ/τ
/// and the codimension, nearly independently of `d` once `σ² (n − d) / τ² ≫ d`.
pub fn noisy_crossing(ambient: usize, d: usize, noise: f64, threshold: f64) -> f64 {
    if noise == 0.0 {
        return d as f64;
    }
    (d + 1) as f64 + noise * noise * ambient.saturating_sub(d) as f64 / (threshold * threshold)
}
