//! The DAE loss of the low-rank denoiser and Riemannian minibatch SGD on it (QR retraction on the
//! Stiefel manifold).

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};

use super::*;
use crate::error::{check_count_at_least, check_finite_at_least, Result};
use crate::molrg::model::{orthonormality_defect, random_orthonormal};
use crate::molrg::posterior::{softmax, Kernel};
use crate::rng::SimRng;
use crate::stats::{mean_sem, Estimate};
use crate::vecmath::dot;

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
        let start = dims
            .iter()
            .map(|&d| random_orthonormal(x.nrows(), d, rng))
            .collect();
        let fit = sgd_run(x, dims, cfg, lam, start, rng)?;
        if best.as_ref().is_none_or(|b| fit.captured > b.captured) {
            best = Some(fit);
        }
    }
    Ok(best.expect("at least one restart ran"))
}

/// One run of [`sgd`] from given bases instead of random ones (`cfg.restarts` is not used): the
/// check whether a point, typically the K-subspaces fit (the hard-max optimum, Thm 3), is where
/// SGD on the soft-max loss stays. Errors: a basis whose shape is not `ambient × d_k`, or whose
/// columns are not orthonormal (`‖UᵀU − I‖_max > 1e-8`), besides [`sgd`]'s.
pub fn sgd_from(x: &Mat<f64>, start: &[Mat<f64>], cfg: SgdConfig, rng: &mut SimRng) -> Result<Fit> {
    let dims: Vec<usize> = start.iter().map(|b| b.ncols()).collect();
    check_data(x, &dims)?;
    cfg.check()?;
    for (k, b) in start.iter().enumerate() {
        if b.nrows() != x.nrows() {
            return Err(Error::invalid(
                "start",
                format!("basis {k} with {} rows", b.nrows()),
                format!("expected {} rows, the data's dimension", x.nrows()),
            ));
        }
        let finite = (0..b.ncols()).all(|j| b.col_as_slice(j).iter().all(|v| v.is_finite()));
        let dev = orthonormality_defect(b.as_ref());
        if !finite || !(dev <= 1e-8) {
            return Err(Error::invalid(
                "start",
                format!("basis {k} (max |UᵀU − I| = {dev:.1e}, finite: {finite})"),
                "expected orthonormal columns (max |UᵀU − I| <= 1e-8)",
            ));
        }
    }
    let lam = top_second_moment(x);
    sgd_run(x, &dims, cfg, lam, start.to_vec(), rng)
}

/// One SGD run from `start`; the vector loops compiled for AVX2 + FMA where the CPU has
/// them (the same operations in the same order, so the same numbers: no contraction into FMA is
/// allowed without `mul_add`), baseline SSE2 otherwise.
fn sgd_run(
    x: &Mat<f64>,
    dims: &[usize],
    cfg: SgdConfig,
    lam: f64,
    start: Vec<Mat<f64>>,
    rng: &mut SimRng,
) -> Result<Fit> {
    #[cfg(target_arch = "x86_64")]
    if crate::vecmath::has_avx2_fma() {
        // SAFETY: the CPU supports the features the function was compiled for
        return unsafe { sgd_run_avx2(x, dims, cfg, lam, start, rng) };
    }
    sgd_run_body(x, dims, cfg, lam, start, rng)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn sgd_run_avx2(
    x: &Mat<f64>,
    dims: &[usize],
    cfg: SgdConfig,
    lam: f64,
    start: Vec<Mat<f64>>,
    rng: &mut SimRng,
) -> Result<Fit> {
    sgd_run_body(x, dims, cfg, lam, start, rng)
}

#[inline(always)]
fn sgd_run_body(
    x: &Mat<f64>,
    dims: &[usize],
    cfg: SgdConfig,
    lam: f64,
    start: Vec<Mat<f64>>,
    rng: &mut SimRng,
) -> Result<Fit> {
    let (n, big_n, k) = (x.nrows(), x.ncols(), dims.len());
    let mut bases = start;
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
        .map(|b| crate::molrg::model::Component::unit(b.clone(), 1.0))
        .collect();
    let model = crate::molrg::model::LowRankMixture::new(comps, 0.0)?;
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
