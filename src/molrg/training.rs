//! Training the low-rank denoiser: the DAE loss, and its three minimizers (paper 004, Thms 1–4).
//!
//! The network is paper 004's low-rank parameterization, the MoLRG posterior mean with unknown
//! bases: `x_θ(x_t) = Σ_k w_k(x_t) c U_k U_kᵀ x_t`, `c = s/(s²+γ²)`, `w = softmax(φ_t ‖U_kᵀ x_t‖² −
//! (d_k/2) ln((s²+γ²)/γ²))`, `φ_t = s²/(2γ²(s²+γ²))`, uniform `π`. Its denoising loss
//! `L(U) = E_{x₀, σ, ε} ‖x_θ(x₀ + σ ε) − x₀‖²` (EDM kernel, `s = 1`, `γ = σ`) is minimized
//!
//! - by [`sgd`]: minibatch SGD on the loss itself, gradients derived by hand, orthonormality kept by
//!   a QR retraction (Riemannian SGD on the Stiefel manifold);
//! - by [`pca`] (K = 1): for one subspace `L(U) = (1/N) Σ ‖x_i‖² − c s(2 − c s)(1/N) Σ ‖Uᵀx_i‖² +
//!   c²γ² d` ([`dae_loss_single`], exact in ε), so every noise level is minimized by the top-d
//!   principal subspace of the uncentred second moment (Thm 1);
//! - by [`k_subspaces`] (K > 1): with hard-max weights the loss is subspace clustering,
//!   `max Σ_k Σ_{i ∈ C_k} ‖U_kᵀ x_i‖²` (Thm 3), solved by alternating assignment and per-cluster
//!   PCA from several random starts.
//!
//! Recovery is judged by [`subspace_error`]: the normalized projection distance
//! `‖U Uᵀ − Û Ûᵀ‖_F / sqrt(d + d̂)` (0: equal, 1: orthogonal), averaged over components under the
//! best matching of estimated to true components. [`SUCCESS_THRESHOLD`] = 0.1 is our choice (the
//! paper's value was lost): in the noiseless case a fit from `N < d` points misses at least one
//! direction and completes it with a vector of overlap ρ with the missed one, an error of
//! `sqrt((1 − ρ)/d)`; the completion is generically almost orthogonal to the truth (ρ of order
//! 1/n), about `1/sqrt(d)` ≥ 0.22 for `d <= 20`, while `N >= d` is exact
//! (`docs/paper-004-low-rank-mixtures.md`).

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par, Side};
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};

use super::model::random_orthonormal;
use super::posterior::{softmax, Kernel};
use crate::error::{check_count_at_least, check_finite_at_least, Error, Result};
use crate::rng::SimRng;
use crate::stats::{mean_sem, Estimate};
use crate::vecmath::dot;

/// The subspace error below which a recovery counts as a success.
pub const SUCCESS_THRESHOLD: f64 = 0.1;

/// Subspaces fitted to data.
#[derive(Debug, Clone)]
pub struct Fit {
    /// One orthonormal basis per component (n × d_k).
    pub bases: Vec<Mat<f64>>,
    /// The data's second moment along each basis column (0 for directions the data do not reach).
    pub variances: Vec<Vec<f64>>,
    /// The component each training point is assigned to (hard max of `‖U_kᵀ x‖²`).
    pub labels: Vec<usize>,
    /// `Σ_i ‖U_{k(i)}ᵀ x_i‖² / Σ_i ‖x_i‖²`: the fraction of the data's energy captured.
    pub captured: f64,
    /// Iterations (K-subspaces: of the best restart; SGD: steps).
    pub iterations: usize,
    /// SGD: the minibatch loss at every step; empty for the other solvers.
    pub losses: Vec<f64>,
}

fn check_data(x: &Mat<f64>, dims: &[usize]) -> Result<()> {
    check_count_at_least("components", dims.len(), 1)?;
    check_count_at_least("points", x.ncols(), 1)?;
    for &d in dims {
        check_count_at_least("subspace_dim", d, 1)?;
        if d > x.nrows() {
            return Err(Error::invalid(
                "subspace_dim",
                d,
                format!("a subspace of R^{0} has dimension <= {0}", x.nrows()),
            ));
        }
    }
    for j in 0..x.ncols() {
        if x.col_as_slice(j).iter().any(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "data",
                format!("point {j}"),
                "expected finite coordinates",
            ));
        }
    }
    Ok(())
}

/// Orthogonalizes `v` against the orthonormal `cols` (twice, for stability) and appends it,
/// normalized, unless it was (numerically) in their span.
fn push_orthogonalized(cols: &mut Vec<Vec<f64>>, mut v: Vec<f64>) {
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
fn complete_basis(mut cols: Vec<Vec<f64>>, n: usize, d: usize) -> Vec<Vec<f64>> {
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

fn energies(x: &[f64], basis: &Mat<f64>) -> f64 {
    (0..basis.ncols())
        .map(|j| dot(basis.col_as_slice(j), x).powi(2))
        .sum()
}

fn assign(x: &Mat<f64>, bases: &[Mat<f64>], labels: &mut [usize]) -> f64 {
    let mut total = 0.0;
    for (i, l) in labels.iter_mut().enumerate() {
        let p = x.col_as_slice(i);
        let (mut best, mut arg) = (f64::NEG_INFINITY, 0);
        for (k, b) in bases.iter().enumerate() {
            let e = energies(p, b);
            if e > best {
                (best, arg) = (e, k);
            }
        }
        *l = arg;
        total += best;
    }
    total
}

fn captured_energy(x: &Mat<f64>, bases: &[Mat<f64>], labels: &[usize]) -> f64 {
    let total: f64 = (0..x.ncols())
        .map(|i| dot(x.col_as_slice(i), x.col_as_slice(i)))
        .sum();
    let got: f64 = labels
        .iter()
        .enumerate()
        .map(|(i, &k)| energies(x.col_as_slice(i), &bases[k]))
        .sum();
    if total > 0.0 {
        got / total
    } else {
        1.0
    }
}

/// Settings of [`k_subspaces`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KSubspaces {
    /// Random starts; the best objective wins (>= 1).
    pub restarts: usize,
    /// Assignment / refit rounds per start (>= 1).
    pub max_iter: usize,
}

impl Default for KSubspaces {
    fn default() -> Self {
        Self {
            restarts: 10,
            max_iter: 50,
        }
    }
}

/// Theorem 3's minimizer: subspace clustering by K-subspaces.
///
/// Each start seeds the components one after the other: a seed point (the first uniformly, the
/// next ones with probability proportional to their squared residual off the components seeded so
/// far, as k-means++ does) and the `d_k − 1` points most coherent with it (largest `|cos|`) span
/// the component's first basis; then hard assignment
/// (`argmax_k ‖U_kᵀ x_i‖²`) and per-cluster PCA until the labels stop changing or `max_iter`
/// rounds; an emptied cluster restarts from the points worst explained. The start with the largest
/// captured energy wins; a start that captures all of it (noiseless data on the fitted subspaces)
/// ends the search, since none can do better.
pub fn k_subspaces(x: &Mat<f64>, dims: &[usize], cfg: KSubspaces, rng: &mut SimRng) -> Result<Fit> {
    check_data(x, dims)?;
    check_count_at_least("restarts", cfg.restarts, 1)?;
    check_count_at_least("max_iter", cfg.max_iter, 1)?;
    let (big_n, k) = (x.ncols(), dims.len());
    if k == 1 {
        return pca(x, dims[0]);
    }
    let total: f64 = (0..big_n)
        .map(|i| dot(x.col_as_slice(i), x.col_as_slice(i)))
        .sum();
    let mut best: Option<Fit> = None;
    for _ in 0..cfg.restarts {
        let mut bases = seeded_bases(x, dims, rng)?;
        let mut labels = vec![usize::MAX; big_n];
        let mut new = vec![0; big_n];
        let mut iterations = 0;
        let mut variances = vec![Vec::new(); k];
        for it in 0..cfg.max_iter {
            iterations = it + 1;
            assign(x, &bases, &mut new);
            let changed = new != labels;
            labels.copy_from_slice(&new);
            // refit every cluster (also on the last round, so the bases match the labels)
            for (c, &d) in dims.iter().enumerate() {
                let mut idx: Vec<usize> = (0..big_n).filter(|&i| labels[i] == c).collect();
                if idx.is_empty() {
                    idx = worst_explained(x, &bases, &labels, d);
                }
                let (b, v) = principal_subspace(x, &idx, d)?;
                bases[c] = b;
                variances[c] = v;
            }
            if !changed {
                break;
            }
        }
        let obj = assign(x, &bases, &mut labels);
        let captured = if total > 0.0 { obj / total } else { 1.0 };
        let better = best.as_ref().is_none_or(|b| captured > b.captured);
        if better {
            best = Some(Fit {
                bases,
                variances,
                labels,
                captured,
                iterations,
                losses: Vec::new(),
            });
        }
        if captured >= 1.0 - 1e-10 {
            break;
        }
    }
    Ok(best.expect("at least one restart ran"))
}

/// The starting bases of one K-subspaces run (see [`k_subspaces`]).
fn seeded_bases(x: &Mat<f64>, dims: &[usize], rng: &mut SimRng) -> Result<Vec<Mat<f64>>> {
    let (n, big_n) = (x.nrows(), x.ncols());
    let norms: Vec<f64> = (0..big_n)
        .map(|i| dot(x.col_as_slice(i), x.col_as_slice(i)).sqrt())
        .collect();
    let mut bases: Vec<Mat<f64>> = Vec::with_capacity(dims.len());
    for &d in dims {
        let residual: Vec<f64> = (0..big_n)
            .map(|i| {
                let p = x.col_as_slice(i);
                let best = bases.iter().map(|b| energies(p, b)).fold(0.0, f64::max);
                (dot(p, p) - best).max(0.0)
            })
            .collect();
        let total: f64 = residual.iter().sum();
        let seed = if bases.is_empty() || total <= 0.0 {
            rng.random_range(0..big_n)
        } else {
            let mut u = rng.random::<f64>() * total;
            let mut pick = big_n - 1;
            for (i, r) in residual.iter().enumerate() {
                if u < *r {
                    pick = i;
                    break;
                }
                u -= r;
            }
            pick
        };
        let s = x.col_as_slice(seed);
        let mut coherent: Vec<(f64, usize)> = (0..big_n)
            .filter(|&i| i != seed && norms[i] > 0.0 && norms[seed] > 0.0)
            .map(|i| {
                (
                    (dot(s, x.col_as_slice(i)) / (norms[i] * norms[seed])).abs(),
                    i,
                )
            })
            .collect();
        coherent.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut idx = vec![seed];
        idx.extend(coherent.into_iter().take(d - 1).map(|c| c.1));
        let (b, _) = principal_subspace(x, &idx, d)?;
        // directions the seed points do not reach: random rather than the same standard vectors
        let reached = idx.len().min(d);
        bases.push(if reached < d {
            randomize_completion(b, reached, n, rng)
        } else {
            b
        });
    }
    Ok(bases)
}

/// Replaces the columns `keep..` of an orthonormal basis by a random orthonormal completion.
fn randomize_completion(b: Mat<f64>, keep: usize, n: usize, rng: &mut SimRng) -> Mat<f64> {
    let d = b.ncols();
    let mut cols: Vec<Vec<f64>> = (0..keep).map(|j| b.col_as_slice(j).to_vec()).collect();
    let r = random_orthonormal(n, n.min(d + keep + 1).max(d), rng);
    for j in 0..r.ncols() {
        if cols.len() == d {
            break;
        }
        push_orthogonalized(&mut cols, r.col_as_slice(j).to_vec());
    }
    let cols = complete_basis(cols, n, d);
    Mat::from_fn(n, d, |i, j| cols[j][i])
}

/// The `d` points with the largest residual energy off their assigned subspace.
fn worst_explained(x: &Mat<f64>, bases: &[Mat<f64>], labels: &[usize], d: usize) -> Vec<usize> {
    let mut res: Vec<(f64, usize)> = (0..x.ncols())
        .map(|i| {
            let p = x.col_as_slice(i);
            (dot(p, p) - energies(p, &bases[labels[i]]), i)
        })
        .collect();
    res.sort_by(|a, b| b.0.total_cmp(&a.0));
    res.into_iter().take(d).map(|r| r.1).collect()
}

/// Settings of [`sgd`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdConfig {
    /// Steps (>= 1).
    pub steps: usize,
    /// Training points per step, each with its own σ and ε (>= 1).
    pub batch: usize,
    /// Step size in units of `1/λ_max` of the data's second moment (> 0); it decays linearly to a
    /// tenth of itself over the run.
    pub lr: f64,
    /// Noise levels σ are drawn log-uniformly from `[sigma_min, sigma_max]` (EDM kernel).
    pub sigma_min: f64,
    /// Independent runs from random starts; the one whose bases capture the most of the data's
    /// energy under hard assignment (the small-noise limit of the loss) is kept (>= 1; one run
    /// for K = 1, where every local minimum is global).
    pub restarts: usize,
    /// See `sigma_min`.
    pub sigma_max: f64,
}

impl Default for SgdConfig {
    fn default() -> Self {
        Self {
            steps: 300,
            batch: 16,
            lr: 0.5,
            sigma_min: 0.05,
            sigma_max: 0.5,
            restarts: 3,
        }
    }
}

impl SgdConfig {
    /// Checks every field.
    pub fn check(&self) -> Result<()> {
        check_count_at_least("steps", self.steps, 1)?;
        check_count_at_least("batch", self.batch, 1)?;
        check_count_at_least("restarts", self.restarts, 1)?;
        check_finite_at_least("lr", self.lr, 0.0, true)?;
        check_finite_at_least("sigma_min", self.sigma_min, 0.0, true)?;
        check_finite_at_least("sigma_max", self.sigma_max, self.sigma_min, false)
    }
}

/// The largest eigenvalue of `(1/N) X Xᵀ` by power iteration on the Gram side.
fn top_second_moment(x: &Mat<f64>) -> f64 {
    let (n, big_n) = (x.nrows(), x.ncols());
    let mut v = vec![1.0; n];
    let mut lam = 0.0;
    for _ in 0..30 {
        let mut w = vec![0.0; n];
        for i in 0..big_n {
            let p = x.col_as_slice(i);
            let c = dot(p, &v);
            for (wi, pi) in w.iter_mut().zip(p) {
                *wi += c * pi;
            }
        }
        let norm = dot(&w, &w).sqrt();
        if norm == 0.0 {
            return 0.0;
        }
        lam = norm / big_n as f64;
        v = w.into_iter().map(|wi| wi / norm).collect();
    }
    lam
}

/// Minibatch Riemannian SGD on the DAE loss of the low-rank mixture denoiser (K = `dims.len()`),
/// from Haar-random bases. Gradient of `‖r‖²`, `r = x_θ(x_t) − x₀`, w.r.t. `U_k`:
/// `2 w_k c (r p_kᵀ + x_t q_kᵀ) + 4 φ δ_k x_t p_kᵀ`, `p_k = U_kᵀ x_t`, `q_k = U_kᵀ r`,
/// `δ_k = w_k rᵀ(c U_k p_k − x_θ)`; projected on the tangent space of the Stiefel manifold and
/// retracted by QR. With K > 1 the loss has spurious minima (each learned subspace holding
/// directions of several true ones; about a third of random starts end there at K = 2): hence
/// [`SgdConfig::restarts`].
pub fn sgd(x: &Mat<f64>, dims: &[usize], cfg: SgdConfig, rng: &mut SimRng) -> Result<Fit> {
    check_data(x, dims)?;
    cfg.check()?;
    let lam = top_second_moment(x);
    // one subspace: every local minimum of the loss is global (Thm 1), restarts add nothing
    let runs = if dims.len() == 1 { 1 } else { cfg.restarts };
    let mut best: Option<Fit> = None;
    for _ in 0..runs {
        let fit = sgd_run(x, dims, cfg, lam, rng)?;
        if best.as_ref().is_none_or(|b| fit.captured > b.captured) {
            best = Some(fit);
        }
    }
    Ok(best.expect("at least one restart ran"))
}

/// One SGD run from a random start; the vector loops compiled for AVX2 + FMA where the CPU has
/// them (the same operations in the same order, so the same numbers: no contraction into FMA is
/// allowed without `mul_add`), baseline SSE2 otherwise.
fn sgd_run(
    x: &Mat<f64>,
    dims: &[usize],
    cfg: SgdConfig,
    lam: f64,
    rng: &mut SimRng,
) -> Result<Fit> {
    #[cfg(target_arch = "x86_64")]
    if crate::vecmath::has_avx2_fma() {
        // SAFETY: the CPU supports the features the function was compiled for
        return unsafe { sgd_run_avx2(x, dims, cfg, lam, rng) };
    }
    sgd_run_body(x, dims, cfg, lam, rng)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn sgd_run_avx2(
    x: &Mat<f64>,
    dims: &[usize],
    cfg: SgdConfig,
    lam: f64,
    rng: &mut SimRng,
) -> Result<Fit> {
    sgd_run_body(x, dims, cfg, lam, rng)
}

#[inline(always)]
fn sgd_run_body(
    x: &Mat<f64>,
    dims: &[usize],
    cfg: SgdConfig,
    lam: f64,
    rng: &mut SimRng,
) -> Result<Fit> {
    let (n, big_n, k) = (x.nrows(), x.ncols(), dims.len());
    let mut bases: Vec<Mat<f64>> = dims
        .iter()
        .map(|&d| random_orthonormal(n, d, rng))
        .collect();
    let mut losses = Vec::with_capacity(cfg.steps);
    if lam == 0.0 {
        return finish_fit(x, bases, losses, 0);
    }
    let log_pi = -(k as f64).ln();
    let (ls_min, ls_max) = (cfg.sigma_min.ln(), cfg.sigma_max.ln());
    let bsz = cfg.batch;
    // the minibatch as n × B matrices, so that every product with a basis is one small GEMM
    let zeros = |r: usize| Mat::<f64>::zeros(r, bsz);
    let (mut x0b, mut xt, mut xth, mut r) = (zeros(n), zeros(n), zeros(n), zeros(n));
    let mut ps: Vec<Mat<f64>> = dims.iter().map(|&d| zeros(d)).collect();
    let mut qs: Vec<Mat<f64>> = dims.iter().map(|&d| zeros(d)).collect();
    let mut aw: Vec<Mat<f64>> = dims.iter().map(|&d| zeros(d)).collect();
    let mut bw: Vec<Mat<f64>> = dims.iter().map(|&d| zeros(d)).collect();
    let mut ms: Vec<Mat<f64>> = (0..k).map(|_| zeros(n)).collect();
    let mut grads: Vec<Mat<f64>> = dims.iter().map(|&d| Mat::zeros(n, d)).collect();
    let (mut cs, mut phis, mut half_log) = (vec![0.0; bsz], vec![0.0; bsz], vec![0.0; bsz]);
    let mut w = vec![vec![0.0; bsz]; k];
    let mut logits = vec![0.0; k];
    let mut moved: Vec<f64> = Vec::new();
    // the minibatch noise: a fast generator seeded from the caller's
    let mut fast = crate::rng::path_rng(rng.random::<u64>());
    for step in 0..cfg.steps {
        for b in 0..bsz {
            let i = fast.random_range(0..big_n);
            let sigma = (ls_min + (ls_max - ls_min) * fast.random::<f64>()).exp();
            let s2 = sigma * sigma;
            cs[b] = 1.0 / (1.0 + s2);
            phis[b] = 1.0 / (2.0 * s2 * (1.0 + s2));
            half_log[b] = 0.5 * (s2.ln() - (1.0 + s2).ln());
            let x0 = x.col_as_slice(i);
            x0b.col_as_slice_mut(b).copy_from_slice(x0);
            for (xi, x0i) in xt.col_as_slice_mut(b).iter_mut().zip(x0) {
                let z: f64 = StandardNormal.sample(&mut fast);
                *xi = x0i + sigma * z;
            }
        }
        // P_k = U_kᵀ X_t, soft-max weights, M_k = c U_k P_k, X_θ = Σ w_k M_k, R = X_θ − X_0
        for c_ in 0..k {
            matmul(
                ps[c_].as_mut(),
                Accum::Replace,
                bases[c_].transpose(),
                xt.as_ref(),
                1.0,
                Par::Seq,
            );
            matmul(
                ms[c_].as_mut(),
                Accum::Replace,
                bases[c_].as_ref(),
                ps[c_].as_ref(),
                1.0,
                Par::Seq,
            );
        }
        for b in 0..bsz {
            for c_ in 0..k {
                let pb = ps[c_].col_as_slice(b);
                logits[c_] = log_pi + dims[c_] as f64 * half_log[b] + phis[b] * dot(pb, pb);
            }
            let wb = softmax(logits.iter().copied());
            for c_ in 0..k {
                w[c_][b] = wb[c_];
                for v in ms[c_].col_as_slice_mut(b) {
                    *v *= cs[b];
                }
            }
        }
        let mut loss = 0.0;
        for b in 0..bsz {
            let t = xth.col_as_slice_mut(b);
            t.fill(0.0);
            for c_ in 0..k {
                let wk = w[c_][b];
                for (a, m) in t.iter_mut().zip(ms[c_].col_as_slice(b)) {
                    *a += wk * m;
                }
            }
            let rb = r.col_as_slice_mut(b);
            for ((ri, a), z) in rb
                .iter_mut()
                .zip(xth.col_as_slice(b))
                .zip(x0b.col_as_slice(b))
            {
                *ri = a - z;
            }
            loss += dot(r.col_as_slice(b), r.col_as_slice(b));
        }
        // gradient: G_k = R A_kᵀ + X_t B_kᵀ, A = 2 w c P, B = 2 w c Q + 4 φ δ P
        for c_ in 0..k {
            matmul(
                qs[c_].as_mut(),
                Accum::Replace,
                bases[c_].transpose(),
                r.as_ref(),
                1.0,
                Par::Seq,
            );
            for b in 0..bsz {
                let (wk, c, phi) = (w[c_][b], cs[b], phis[b]);
                let delta = wk
                    * r.col_as_slice(b)
                        .iter()
                        .zip(ms[c_].col_as_slice(b))
                        .zip(xth.col_as_slice(b))
                        .map(|((ri, mi), ti)| ri * (mi - ti))
                        .sum::<f64>();
                let (pb, qb) = (ps[c_].col_as_slice(b), qs[c_].col_as_slice(b));
                let f = 2.0 * wk * c;
                let e = 4.0 * phi * delta;
                for ((a, bb), (pj, qj)) in aw[c_]
                    .col_as_slice_mut(b)
                    .iter_mut()
                    .zip(bw[c_].col_as_slice_mut(b).iter_mut())
                    .zip(pb.iter().zip(qb))
                {
                    *a = f * pj;
                    *bb = f * qj + e * pj;
                }
            }
            matmul(
                grads[c_].as_mut(),
                Accum::Replace,
                r.as_ref(),
                aw[c_].transpose(),
                1.0,
                Par::Seq,
            );
            matmul(
                grads[c_].as_mut(),
                Accum::Add,
                xt.as_ref(),
                bw[c_].transpose(),
                1.0,
                Par::Seq,
            );
        }
        losses.push(loss / bsz as f64);
        let eta = cfg.lr / lam * (1.0 - 0.9 * step as f64 / cfg.steps as f64) / bsz as f64;
        for (u, g) in bases.iter_mut().zip(&grads) {
            stiefel_step(u, g, eta, &mut moved);
        }
    }
    finish_fit(x, bases, losses, cfg.steps)
}

/// One Riemannian step on the Stiefel manifold: the Euclidean gradient G projected on the tangent
/// space at U (`G − U sym(UᵀG)`), the step `U − η·that`, and the QR retraction — the Q factor with
/// a positive diagonal of R, computed by Gram–Schmidt with re-orthogonalization (the same Q as a
/// sign-fixed Householder QR, without a workspace to allocate).
#[inline(always)]
fn stiefel_step(u: &mut Mat<f64>, g: &Mat<f64>, eta: f64, buf: &mut Vec<f64>) {
    let (n, d) = (u.nrows(), u.ncols());
    let mut utg = vec![0.0; d * d];
    for a in 0..d {
        for b in 0..d {
            utg[a * d + b] = dot(u.col_as_slice(a), g.col_as_slice(b));
        }
    }
    buf.clear();
    buf.resize(n * d, 0.0);
    for b in 0..d {
        let col = &mut buf[b * n..(b + 1) * n];
        for ((w, ui), gi) in col.iter_mut().zip(u.col_as_slice(b)).zip(g.col_as_slice(b)) {
            *w = ui - eta * gi;
        }
        for a in 0..d {
            let sym = 0.5 * (utg[a * d + b] + utg[b * d + a]);
            let f = eta * sym;
            for (w, ua) in col.iter_mut().zip(u.col_as_slice(a)) {
                *w += f * ua;
            }
        }
    }
    for j in 0..d {
        let (done, rest) = buf.split_at_mut(j * n);
        let v = &mut rest[..n];
        for _ in 0..2 {
            for i in 0..j {
                let q = &done[i * n..(i + 1) * n];
                let p = dot(q, v);
                for (vi, qi) in v.iter_mut().zip(q) {
                    *vi -= p * qi;
                }
            }
        }
        let norm = dot(v, v).sqrt();
        for vi in v.iter_mut() {
            *vi /= norm;
        }
    }
    for b in 0..d {
        u.col_as_slice_mut(b)
            .copy_from_slice(&buf[b * n..(b + 1) * n]);
    }
}

fn finish_fit(
    x: &Mat<f64>,
    bases: Vec<Mat<f64>>,
    losses: Vec<f64>,
    iterations: usize,
) -> Result<Fit> {
    let mut labels = vec![0; x.ncols()];
    assign(x, &bases, &mut labels);
    let captured = captured_energy(x, &bases, &labels);
    let variances = bases
        .iter()
        .enumerate()
        .map(|(c, b)| {
            let idx: Vec<usize> = (0..x.ncols()).filter(|&i| labels[i] == c).collect();
            (0..b.ncols())
                .map(|j| {
                    if idx.is_empty() {
                        0.0
                    } else {
                        idx.iter()
                            .map(|&i| dot(b.col_as_slice(j), x.col_as_slice(i)).powi(2))
                            .sum::<f64>()
                            / idx.len() as f64
                    }
                })
                .collect()
        })
        .collect();
    Ok(Fit {
        bases,
        variances,
        labels,
        captured,
        iterations,
        losses,
    })
}

/// The DAE loss of one subspace model `x_θ = c U Uᵀ x_t` (`c = s/(s²+γ²)`), exact in ε:
/// `(1/N) Σ_i [‖x_i‖² − c s(2 − c s) ‖Uᵀ x_i‖²] + c² γ² d`.
pub fn dae_loss_single(u: MatRef<'_, f64>, x: &Mat<f64>, kernel: Kernel) -> f64 {
    let (s, g2) = (kernel.s, kernel.gamma * kernel.gamma);
    let c = s / (s * s + g2);
    let d = u.ncols();
    let big_n = x.ncols() as f64;
    let mut acc = 0.0;
    for i in 0..x.ncols() {
        let p = x.col_as_slice(i);
        let e: f64 = (0..d)
            .map(|j| {
                let col = u.col(j);
                (0..p.len()).map(|a| col[a] * p[a]).sum::<f64>().powi(2)
            })
            .sum();
        acc += dot(p, p) - c * s * (2.0 - c * s) * e;
    }
    acc / big_n + c * c * g2 * d as f64
}

/// Monte Carlo estimate of the DAE loss of the K-subspace model (soft-max weights, uniform π) at
/// one kernel: `noise_draws` draws of ε per training point.
pub fn dae_loss_mc(
    bases: &[Mat<f64>],
    x: &Mat<f64>,
    kernel: Kernel,
    noise_draws: usize,
    rng: &mut SimRng,
) -> Result<Estimate> {
    let dims: Vec<usize> = bases.iter().map(|b| b.ncols()).collect();
    check_data(x, &dims)?;
    check_count_at_least("noise_draws", noise_draws, 1)?;
    let comps = bases
        .iter()
        .map(|b| super::model::Component::unit(b.clone(), 1.0))
        .collect();
    let model = super::model::LowRankMixture::new(comps, 0.0)?;
    let n = x.nrows();
    let mut xt = vec![0.0; n];
    let mut vals = Vec::with_capacity(x.ncols() * noise_draws);
    for i in 0..x.ncols() {
        let x0 = x.col_as_slice(i);
        for _ in 0..noise_draws {
            for (a, b) in xt.iter_mut().zip(x0) {
                let z: f64 = StandardNormal.sample(&mut *rng);
                *a = kernel.s * b + kernel.gamma * z;
            }
            let pm = model.posterior_unchecked(kernel, &xt);
            vals.push(
                pm.mean
                    .iter()
                    .zip(x0)
                    .map(|(a, b)| (a - b).powi(2))
                    .sum::<f64>(),
            );
        }
    }
    mean_sem(&vals)
}

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

/// The three minimizers of the DAE loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Solver {
    /// [`pca`]: one subspace only.
    Pca,
    /// [`k_subspaces`] (PCA when K = 1).
    Clustering,
    /// [`sgd`] on the DAE loss.
    Sgd,
}

impl Solver {
    /// The name used in tables and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Solver::Pca => "pca",
            Solver::Clustering => "clustering",
            Solver::Sgd => "sgd",
        }
    }
}

impl std::str::FromStr for Solver {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "pca" => Ok(Solver::Pca),
            "clustering" | "k-subspaces" => Ok(Solver::Clustering),
            "sgd" => Ok(Solver::Sgd),
            _ => Err(Error::invalid(
                "solver",
                s,
                "expected pca, clustering or sgd",
            )),
        }
    }
}

/// Fits `dims.len()` subspaces to the columns of `x` with `solver` (PCA needs one component).
pub fn fit(
    solver: Solver,
    x: &Mat<f64>,
    dims: &[usize],
    kss: KSubspaces,
    sgd_cfg: SgdConfig,
    rng: &mut SimRng,
) -> Result<Fit> {
    match solver {
        Solver::Pca if dims.len() == 1 => pca(x, dims[0]),
        Solver::Pca => Err(Error::invalid(
            "solver",
            "pca",
            format!(
                "PCA fits one subspace; with {} components use clustering or sgd",
                dims.len()
            ),
        )),
        Solver::Clustering => k_subspaces(x, dims, kss, rng),
        Solver::Sgd => sgd(x, dims, sgd_cfg, rng),
    }
}
