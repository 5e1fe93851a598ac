//! Exact posterior means and scores of data whose forward marginals are known (papers 002, 003).
//!
//! Everything derives from the posterior mean `f(x, t) = E[X_0 | X_t = x]` (Tweedie): under a
//! [`ForwardProcess`] with `X_t = m(t) X_0 + sqrt(v(t)) Z`,
//!
//! - score `∇log p_t(x) = −(x − m f)/v`,
//! - paper 002's SGM target `S = (x − m f)/v = −∇log p_t` (its "score" has the opposite sign),
//! - DDPM's noise target `ε = (x − m f)/sqrt(v)`,
//! - the CEM target is `f` itself.
//!
//! Data with closed forms: point clouds / empirical measures ([`PointCloud`], softmax weights),
//! isotropic Gaussian mixtures ([`GaussianMixture`]), Gaussians on a linear subspace
//! ([`FlatGaussian`], the flat manifold of paper 003), the line of paper 002 ([`FlatGaussian::line`]),
//! the uniform measure on the unit sphere ([`Sphere`], a von Mises–Fisher posterior), and the spiral
//! curve of paper 002 ([`Curve`], exact up to a quadrature whose resolution follows `sqrt(v)`).

mod data;
mod drift;

pub use data::{bessel_ratio, Curve, FlatGaussian, GaussianMixture, PointCloud, Sphere};
pub use drift::{Drift, ExactScore, WithError};

use rand_distr::{Distribution, StandardNormal};

use crate::error::{check_count_at_least, Result};
use crate::rng::SimRng;
use crate::schedule::ForwardProcess;
use crate::stats::{Estimate, Welford};

/// Data whose posterior mean `E[X_0 | X_t = x]` is known exactly, and which can be sampled.
pub trait Posterior: Sync {
    /// The data dimension.
    fn dim(&self) -> usize;
    /// One draw of `X_0`.
    fn sample(&self, rng: &mut SimRng) -> Vec<f64>;
    /// Writes `E[X_0 | X_t = x]` at time `t > 0` of `process` into `out` (both of length `dim`).
    fn posterior_mean(&self, process: ForwardProcess, t: f64, x: &[f64], out: &mut [f64]);
    /// [`Posterior::posterior_mean`] of several points at once: `xs` and `out` hold them one after
    /// the other (`dim` numbers each). Data with a vectorized kernel override it.
    fn posterior_mean_batch(&self, process: ForwardProcess, t: f64, xs: &[f64], out: &mut [f64]) {
        let d = self.dim();
        for (x, o) in xs.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
            self.posterior_mean(process, t, x, o);
        }
    }
}

/// The three regression targets of paper 002 and the score at one point.
#[derive(Debug, Clone, PartialEq)]
pub struct Targets {
    /// CEM target `f = E[X_0 | X_t = x]`.
    pub cem: Vec<f64>,
    /// SGM target `S = (x − m f)/v`.
    pub sgm: Vec<f64>,
    /// DDPM target `ε = (x − m f)/sqrt(v)`.
    pub ddpm: Vec<f64>,
    /// The score `∇log p_t(x) = −S`.
    pub score: Vec<f64>,
}

/// All targets at `(x, t)`.
pub fn targets<P: Posterior + ?Sized>(
    data: &P,
    process: ForwardProcess,
    t: f64,
    x: &[f64],
) -> Targets {
    let mut f = vec![0.0; data.dim()];
    data.posterior_mean(process, t, x, &mut f);
    let (m, v) = (process.mean_coeff(t), process.variance(t));
    let sgm: Vec<f64> = x.iter().zip(&f).map(|(xi, fi)| (xi - m * fi) / v).collect();
    let ddpm = sgm.iter().map(|s| s * v.sqrt()).collect();
    let score = sgm.iter().map(|s| -s).collect();
    Targets {
        cem: f,
        sgm,
        ddpm,
        score,
    }
}

/// Writes the scores of the points in `xs` (one after the other) into `out`.
pub fn score_batch_into<P: Posterior + ?Sized>(
    data: &P,
    process: ForwardProcess,
    t: f64,
    xs: &[f64],
    out: &mut [f64],
) {
    data.posterior_mean_batch(process, t, xs, out);
    let (m, v) = (process.mean_coeff(t), process.variance(t));
    for (o, xi) in out.iter_mut().zip(xs) {
        *o = -(xi - m * *o) / v;
    }
}

/// Writes the score `∇log p_t(x)` into `out`.
pub fn score_into<P: Posterior + ?Sized>(
    data: &P,
    process: ForwardProcess,
    t: f64,
    x: &[f64],
    out: &mut [f64],
) {
    data.posterior_mean(process, t, x, out);
    let (m, v) = (process.mean_coeff(t), process.variance(t));
    for (o, xi) in out.iter_mut().zip(x) {
        *o = -(xi - m * *o) / v;
    }
}

/// One draw of `X_t = m(t) X_0 + sqrt(v(t)) Z` for data `data`.
pub fn sample_xt<P: Posterior + ?Sized>(
    data: &P,
    process: ForwardProcess,
    t: f64,
    rng: &mut SimRng,
) -> Vec<f64> {
    let (m, v) = (process.mean_coeff(t), process.variance(t));
    data.sample(rng)
        .into_iter()
        .map(|x0| {
            let z: f64 = StandardNormal.sample(rng);
            m * x0 + v.sqrt() * z
        })
        .collect()
}

/// Self-normalized importance sampling of `E[X_0 | X_t = x]` from `n` prior draws `draw(rng)`,
/// each weighted by the Gaussian transition density `N(x; m x_0, v I)`: per coordinate the estimate
/// and its delta-method standard error `sqrt(Σ w_i² (x_0,i − mean)²) / Σ w_i`. It needs no closed
/// form, so it is the independent check of every [`Posterior::posterior_mean`].
pub fn posterior_mean_importance(
    process: ForwardProcess,
    t: f64,
    x: &[f64],
    n: usize,
    rng: &mut SimRng,
    mut draw: impl FnMut(&mut SimRng) -> Vec<f64>,
) -> Result<Vec<Estimate>> {
    check_count_at_least("n", n, 2)?;
    let (m, v) = (process.mean_coeff(t), process.variance(t));
    let d = x.len();
    let mut points = Vec::with_capacity(n * d);
    let mut log_w = Vec::with_capacity(n);
    for _ in 0..n {
        let x0 = draw(rng);
        if x0.len() != d {
            return Err(crate::error::Error::invalid(
                "draw",
                x0.len(),
                format!("a prior draw must have the {d} coordinates of x"),
            ));
        }
        log_w.push(
            -x.iter()
                .zip(&x0)
                .map(|(a, b)| (a - m * b).powi(2))
                .sum::<f64>()
                / (2.0 * v),
        );
        points.extend_from_slice(&x0);
    }
    let top = log_w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = log_w.iter().map(|l| (l - top).exp()).collect();
    let sw: f64 = w.iter().sum();
    Ok((0..d)
        .map(|k| {
            let col = || points.iter().skip(k).step_by(d);
            let mean = col().zip(&w).map(|(p, wi)| wi * p).sum::<f64>() / sw;
            let var: f64 = col().zip(&w).map(|(p, wi)| (wi * (p - mean)).powi(2)).sum();
            Estimate {
                mean,
                sem: var.sqrt() / sw,
                n,
            }
        })
        .collect())
}

/// `E_{p_t} |∇log p_t(X_t)|²` (the drift's energy) from `n` draws of `X_t`.
pub fn mean_sq_score<P: Posterior + ?Sized>(
    data: &P,
    process: ForwardProcess,
    t: f64,
    n: usize,
    rng: &mut SimRng,
) -> Result<Estimate> {
    let mut s = vec![0.0; data.dim()];
    let mut acc = Welford::new();
    for _ in 0..n {
        let x = sample_xt(data, process, t, rng);
        score_into(data, process, t, &x, &mut s);
        acc.push(s.iter().map(|v| v * v).sum());
    }
    acc.estimate()
}

/// The L² error of a score estimate at time `t`: `E_{p_t} |ŝ(X_t) − ∇log p_t(X_t)|²`, from `n`
/// draws of `X_t`.
pub fn score_l2_error<D: Drift + ?Sized, P: Posterior + ?Sized>(
    estimate: &D,
    data: &P,
    process: ForwardProcess,
    t: f64,
    n: usize,
    rng: &mut SimRng,
) -> Result<Estimate> {
    check_count_at_least("n", n, 2)?;
    let d = data.dim();
    let (mut a, mut b) = (vec![0.0; d], vec![0.0; d]);
    let mut acc = Welford::new();
    for _ in 0..n {
        let x = sample_xt(data, process, t, rng);
        estimate.score(t, &x, &mut a);
        score_into(data, process, t, &x, &mut b);
        acc.push(a.iter().zip(&b).map(|(p, q)| (p - q).powi(2)).sum());
    }
    acc.estimate()
}
