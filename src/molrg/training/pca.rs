//! Principal subspaces (paper 004, Thm 1: the DAE of one subspace is PCA) and the basis helpers
//! the other solvers share.

use faer::{Mat, Side};

use super::*;
use crate::error::{Error, Result};
use crate::vecmath::dot;

/// Orthogonalizes `v` against the orthonormal `cols` (twice, for stability) and appends it,
/// normalized, unless it was (numerically) in their span.
pub(super) fn push_orthogonalized(cols: &mut Vec<Vec<f64>>, mut v: Vec<f64>) {
    for _ in 0..2 {
        for c in cols.iter() {
            let p = dot(c, &v);
            for (vi, ci) in v.iter_mut().zip(c) {
                *vi -= p * ci;
            }
        }
    }
    let norm = dot(&v, &v).sqrt();
    if norm > 1e-6 {
        v.iter_mut().for_each(|vi| *vi /= norm);
        cols.push(v);
    }
}

/// Completes the orthonormal columns `cols` (each of length n) to `d` columns with standard basis
/// vectors orthogonalized against them (twice, for stability), deterministically.
pub(super) fn complete_basis(mut cols: Vec<Vec<f64>>, n: usize, d: usize) -> Vec<Vec<f64>> {
    let mut e = 0;
    while cols.len() < d && e < n {
        let mut v = vec![0.0; n];
        v[e] = 1.0;
        e += 1;
        push_orthogonalized(&mut cols, v);
    }
    cols
}

/// The top-`d` principal subspace (uncentred) of the points `idx` of `x`, with the second moments
/// `λ_j/|idx|` along it. Fewer than d points (or rank-deficient data) leave directions the data
/// do not reach: they are completed deterministically and get variance 0.
pub fn principal_subspace(x: &Mat<f64>, idx: &[usize], d: usize) -> Result<(Mat<f64>, Vec<f64>)> {
    let n = x.nrows();
    let m = idx.len();
    let mut cols: Vec<Vec<f64>> = Vec::with_capacity(d);
    let mut vars: Vec<f64> = Vec::with_capacity(d);
    if m > 0 {
        let pts: Vec<&[f64]> = idx.iter().map(|&i| x.col_as_slice(i)).collect();
        let err = |e: faer::linalg::evd::EvdError| {
            Error::invalid(
                "data",
                format!("{e:?}"),
                "the eigendecomposition of the second moment did not converge",
            )
        };
        // eigen-pairs (λ, u) of Σ_i x_i x_iᵀ, largest first
        let mut pairs: Vec<(f64, Vec<f64>)> = Vec::new();
        if m <= n {
            // through the m × m Gram matrix: u = X v / sqrt(λ)
            let g = Mat::<f64>::from_fn(m, m, |a, b| dot(pts[a], pts[b]));
            let evd = g.self_adjoint_eigen(Side::Lower).map_err(err)?;
            let (v, s) = (evd.U(), evd.S().column_vector());
            for j in (0..m).rev() {
                let lam = s[j];
                let mut u = vec![0.0; n];
                for (a, p) in pts.iter().enumerate() {
                    let c = v[(a, j)];
                    for (ui, pi) in u.iter_mut().zip(*p) {
                        *ui += c * pi;
                    }
                }
                pairs.push((lam, u));
            }
        } else {
            let mut s = Mat::<f64>::zeros(n, n);
            for p in &pts {
                for b in 0..n {
                    let pb = p[b];
                    for (a, sv) in s.col_as_slice_mut(b).iter_mut().enumerate() {
                        *sv += p[a] * pb;
                    }
                }
            }
            let evd = s.self_adjoint_eigen(Side::Lower).map_err(err)?;
            let (v, sv) = (evd.U(), evd.S().column_vector());
            for j in (0..n).rev() {
                pairs.push((sv[j], (0..n).map(|i| v[(i, j)]).collect()));
            }
        }
        let top = pairs.first().map(|p| p.0).unwrap_or(0.0);
        for (lam, mut u) in pairs.into_iter().take(d) {
            if !(lam > 1e-12 * top && lam > 0.0) {
                break;
            }
            // re-orthonormalize against the accepted columns (the Gram route loses a little)
            for c in &cols {
                let p = dot(c, &u);
                for (ui, ci) in u.iter_mut().zip(c) {
                    *ui -= p * ci;
                }
            }
            let norm = dot(&u, &u).sqrt();
            if norm < 1e-8 {
                break;
            }
            u.iter_mut().for_each(|ui| *ui /= norm);
            cols.push(u);
            vars.push(lam / m as f64);
        }
    }
    let cols = complete_basis(cols, n, d);
    vars.resize(d, 0.0);
    let basis = Mat::<f64>::from_fn(n, d, |i, j| cols[j][i]);
    Ok((basis, vars))
}

/// Theorem 1's minimizer for one subspace: the top-`d` principal subspace of all points.
pub fn pca(x: &Mat<f64>, d: usize) -> Result<Fit> {
    check_data(x, &[d])?;
    let idx: Vec<usize> = (0..x.ncols()).collect();
    let (basis, variances) = principal_subspace(x, &idx, d)?;
    let captured = captured_energy(x, std::slice::from_ref(&basis), &vec![0; x.ncols()]);
    Ok(Fit {
        bases: vec![basis],
        variances: vec![variances],
        labels: vec![0; x.ncols()],
        captured,
        iterations: 1,
        losses: Vec::new(),
    })
}
