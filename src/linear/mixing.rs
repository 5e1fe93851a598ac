//! Mixing (collapse) time of the random energy model and the kernel bandwidths it is compared with
//! (paper 000): `t_C`, the Silverman/Epanechnikov optimum, and the bandwidth that minimises the
//! measured squared-L² distance between the Gaussian truth and the KDE of n samples.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use crate::error::{check_count_at_least, check_finite_at_least, Result};

/// Random-energy-model collapse time: the t at which `(d/2) ln[(σ²e^{-2t} + Δ_t)/Δ_t] = ln n`
/// (`Δ_t = 1 − e^{-2t}`), i.e. `t_C = ½ ln(1 + σ²/(n^{2/d} − 1))`.
///
/// ```
/// use difftheory::linear::mixing::t_collapse;
/// let t = t_collapse(100, 10, 1.0);
/// let (a, delta) = ((-2.0 * t).exp(), -(-2.0 * t).exp_m1());
/// assert!((5.0 * ((a + delta) / delta).ln() - 100f64.ln()).abs() < 1e-12);
/// ```
pub fn t_collapse(n: usize, d: usize, sigma: f64) -> f64 {
    0.5 * kernel_variance(n, d, sigma).ln_1p()
}

/// The equivalent kernel variance at the collapse time, in data units:
/// `e^{2t_C} − 1 = σ²/(n^{2/d} − 1)`. It is `≈ σ²n^{-2/d}` only where `n^{2/d} ≫ 1` (small d);
/// at large d it is `≈ σ²d/(2 ln n)`.
///
/// ```
/// use difftheory::linear::mixing::kernel_variance;
/// assert!((kernel_variance(4, 2, 1.0) - 1.0 / 3.0).abs() < 1e-15);
/// ```
pub fn kernel_variance(n: usize, d: usize, sigma: f64) -> f64 {
    sigma * sigma / ((2.0 / d as f64) * (n as f64).ln()).exp_m1()
}

/// The Silverman/Epanechnikov optimal Gaussian-kernel bandwidth for `N(μ, σ²I_d)` data, squared:
/// `h² = σ²[4/((d+2)n)]^{2/(d+4)}`.
///
/// ```
/// use difftheory::linear::mixing::silverman_bandwidth_sq;
/// // d = 1: the familiar (4/3)^{1/5} σ n^{-1/5}
/// let h = silverman_bandwidth_sq(1000, 1, 2.0).sqrt();
/// assert!((h - 2.0 * (4.0f64 / 3.0).powf(0.2) * 1000f64.powf(-0.2)).abs() < 1e-12);
/// ```
pub fn silverman_bandwidth_sq(n: usize, d: usize, sigma: f64) -> f64 {
    sigma * sigma * (4.0 / ((d + 2) as f64 * n as f64)).powf(2.0 / (d as f64 + 4.0))
}

/// Histogram of pair squared distances with per-bin first and second moments, so that
/// `Σ_{i<j} e^{−c D_ij}` is evaluated in O(bins) to a relative error `~ (c·width)³/24`.
#[derive(Debug, Clone)]
pub struct PairDistances {
    width: f64,
    count: Vec<f64>,
    sum: Vec<f64>,
    sum_sq: Vec<f64>,
}

impl PairDistances {
    const BINS: usize = 1 << 15;

    /// Bins every `|x_i − x_j|²`, i < j, of the columns of `points` (d×n): blocked Gram
    /// products, `n²d` flops, parallel over blocks.
    pub fn new(points: MatRef<'_, f64>) -> Self {
        let n = points.ncols();
        let norms: Vec<f64> = (0..n).map(|j| points.col(j).squared_norm_l2()).collect();
        let max_norm = norms.iter().copied().fold(0.0, f64::max);
        let width = (4.0 * max_norm).max(f64::MIN_POSITIVE) / Self::BINS as f64 * (1.0 + 1e-9);
        let block = 256;
        let starts: Vec<usize> = (0..n).step_by(block).collect();
        let empty = || {
            (
                vec![0.0; Self::BINS],
                vec![0.0; Self::BINS],
                vec![0.0; Self::BINS],
            )
        };
        let (count, sum, sum_sq) = starts
            .par_iter()
            .fold(empty, |mut h, &i0| {
                let bi = block.min(n - i0);
                let mut g = Mat::<f64>::zeros(bi, n - i0);
                matmul(
                    g.as_mut(),
                    Accum::Replace,
                    points.subcols(i0, bi).transpose(),
                    points.subcols(i0, n - i0),
                    1.0,
                    Par::Seq,
                );
                super::distances::clear_avx_upper();
                for jj in 0..(n - i0) {
                    for i in 0..bi.min(jj) {
                        let d2 = (norms[i0 + i] + norms[i0 + jj] - 2.0 * g[(i, jj)]).max(0.0);
                        let b = ((d2 / width) as usize).min(Self::BINS - 1);
                        h.0[b] += 1.0;
                        h.1[b] += d2;
                        h.2[b] += d2 * d2;
                    }
                }
                h
            })
            .reduce(empty, |mut a, b| {
                for k in 0..Self::BINS {
                    a.0[k] += b.0[k];
                    a.1[k] += b.1[k];
                    a.2[k] += b.2[k];
                }
                a
            });
        Self {
            width,
            count,
            sum,
            sum_sq,
        }
    }

    /// `ln Σ_{i<j} e^{−c D_ij}` (`−∞` with no pairs), per bin `N_b e^{−c D̄_b}(1 + c²V_b/2)`.
    pub fn ln_sum_exp_neg(&self, c: f64) -> f64 {
        let mut terms = Vec::new();
        for k in 0..self.count.len() {
            let nb = self.count[k];
            if nb == 0.0 {
                continue;
            }
            let mean = self.sum[k] / nb;
            let var = (self.sum_sq[k] / nb - mean * mean).max(0.0);
            terms.push(nb.ln() - c * mean + (0.5 * c * c * var).ln_1p());
        }
        super::distances::log_sum_exp(&terms)
    }

    /// The bin width.
    pub fn width(&self) -> f64 {
        self.width
    }
}

/// The optimum of one draw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BandwidthFit {
    /// The squared bandwidth `h²` minimising the L² distance.
    pub h2: f64,
    /// `∫(p − p̂_h)² / ∫p²` at the optimum.
    pub relative_l2: f64,
}

/// `∫(p − p̂_h)²/∫p²` for `p = N(0, σ²I_d)` and the KDE p̂_h of the columns of `points`, from the
/// closed form `∫p² − 2∫p p̂ + ∫p̂²` divided by `∫p² = (4πσ²)^{-d/2}`:
/// `1 − 2(2σ²/(σ²+h²))^{d/2} (1/n)Σ_i e^{−|x_i|²/(2(σ²+h²))} + (σ²/h²)^{d/2}(1/n²)[n + 2Σ_{i<j} e^{−D_ij/(4h²)}]`.
pub fn relative_l2_gaussian_kde(
    sq_norms: &[f64],
    pairs: &PairDistances,
    d: usize,
    sigma: f64,
    h2: f64,
) -> f64 {
    1.0 + relative_l2_excess(sq_norms, pairs, d, sigma, h2)
}

/// [`relative_l2_gaussian_kde`] minus 1 (`∫p²`): what the optimisers minimise. At d = 100 the
/// h-dependent part is ~1e-12 of `∫p²`, so minimising `1 + …` would lose it to rounding.
fn relative_l2_excess(
    sq_norms: &[f64],
    pairs: &PairDistances,
    d: usize,
    sigma: f64,
    h2: f64,
) -> f64 {
    let (n, df, s2) = (sq_norms.len() as f64, d as f64, sigma * sigma);
    let v = s2 + h2;
    let e: Vec<f64> = sq_norms.iter().map(|x| -x / (2.0 * v)).collect();
    let ln_t2 = 0.5 * df * (2.0 * s2 / v).ln() + super::distances::log_sum_exp(&e) - n.ln();
    let ln_pairs = pairs.ln_sum_exp_neg(1.0 / (4.0 * h2));
    let ln_inner = super::distances::log_sum_exp(&[n.ln(), 2f64.ln() + ln_pairs]);
    let ln_t3 = 0.5 * df * (s2 / h2).ln() + ln_inner - 2.0 * n.ln();
    ln_t3.exp() - 2.0 * ln_t2.exp()
}

/// Draws n points of `N(0, σ²I_d)` and finds the bandwidth minimising
/// [`relative_l2_gaussian_kde`]: a scan of 41 points over `ln h ∈ ln h_S ± 2.5` (h_S Silverman's),
/// then golden-section search on ln h around the best point down to `|Δ ln h| < 1e-7`.
/// Pair distances are binned once ([`PairDistances`], `n²d` flops), so each evaluation is O(n).
///
/// ```
/// use difftheory::linear::mixing::{empirical_bandwidth_sq, silverman_bandwidth_sq};
/// use difftheory::rng::rng_from_seed;
/// let fit = empirical_bandwidth_sq(500, 1, 1.0, &mut rng_from_seed(1)).unwrap();
/// let ratio = fit.h2 / silverman_bandwidth_sq(500, 1, 1.0);
/// assert!(ratio > 0.3 && ratio < 3.0 && fit.relative_l2 < 0.05);
/// ```
pub fn empirical_bandwidth_sq<R: Rng + ?Sized>(
    n: usize,
    d: usize,
    sigma: f64,
    rng: &mut R,
) -> Result<BandwidthFit> {
    check_count_at_least("n", n, 2)?;
    check_count_at_least("d", d, 1)?;
    check_finite_at_least("sigma", sigma, 0.0, true)?;
    let points = Mat::<f64>::from_fn(d, n, |_, _| {
        sigma * Distribution::<f64>::sample(&StandardNormal, rng)
    });
    let sq: Vec<f64> = (0..n).map(|j| points.col(j).squared_norm_l2()).collect();
    let pairs = PairDistances::new(points.as_ref());
    let f = |ln_h: f64| relative_l2_excess(&sq, &pairs, d, sigma, (2.0 * ln_h).exp());
    let x = minimize_ln_h(f, 0.5 * silverman_bandwidth_sq(n, d, sigma).ln());
    Ok(BandwidthFit {
        h2: (2.0 * x).exp(),
        relative_l2: 1.0 + f(x),
    })
}

/// Minimises `f(ln h)`: a scan of 41 points over `centre ± 2.5`, then golden-section search
/// around the best point down to `|Δ ln h| < 1e-7`.
fn minimize_ln_h(f: impl Fn(f64) -> f64, centre: f64) -> f64 {
    let (steps, half) = (40, 2.5);
    let grid: Vec<f64> = (0..=steps)
        .map(|k| centre - half + 2.0 * half * k as f64 / steps as f64)
        .collect();
    let vals: Vec<f64> = grid.iter().map(|&x| f(x)).collect();
    let best = (0..grid.len())
        .min_by(|&a, &b| vals[a].total_cmp(&vals[b]))
        .unwrap_or(0);
    let step = 2.0 * half / steps as f64;
    let (mut lo, mut hi) = (grid[best] - step, grid[best] + step);
    let g = 0.5 * (5f64.sqrt() - 1.0);
    let (mut x1, mut x2) = (hi - g * (hi - lo), lo + g * (hi - lo));
    let (mut f1, mut f2) = (f(x1), f(x2));
    while hi - lo > 1e-7 {
        if f1 <= f2 {
            hi = x2;
            x2 = x1;
            f2 = f1;
            x1 = hi - g * (hi - lo);
            f1 = f(x1);
        } else {
            lo = x1;
            x1 = x2;
            f1 = f2;
            x2 = lo + g * (hi - lo);
            f2 = f(x2);
        }
    }
    0.5 * (lo + hi)
}

/// The exact mean integrated squared error of the Gaussian KDE of n draws of `N(0, σ²I_d)`,
/// relative to `∫p²`: `1 − 2(2σ²/(2σ²+h²))^{d/2} + (1/n)(σ²/h²)^{d/2} + (1 − 1/n)(σ²/(σ²+h²))^{d/2}`
/// (the expectation of [`relative_l2_gaussian_kde`] over the draws).
///
/// ```
/// use difftheory::linear::mixing::mise_relative;
/// // h → ∞: the KDE vanishes and the error is ∫p²
/// assert!((mise_relative(10, 3, 1.0, 1e12) - 1.0).abs() < 1e-9);
/// ```
pub fn mise_relative(n: usize, d: usize, sigma: f64, h2: f64) -> f64 {
    1.0 + mise_excess(n, d, sigma, h2)
}

/// [`mise_relative`] minus 1, kept apart for the optimiser (see [`relative_l2_excess`]).
fn mise_excess(n: usize, d: usize, sigma: f64, h2: f64) -> f64 {
    let (nf, half_d, s2) = (n as f64, 0.5 * d as f64, sigma * sigma);
    let p = |x: f64| (half_d * x.ln()).exp();
    p(s2 / h2) / nf + (1.0 - 1.0 / nf) * p(s2 / (s2 + h2)) - 2.0 * p(2.0 * s2 / (2.0 * s2 + h2))
}

/// The h² minimising [`mise_relative`]: the exact finite-n optimum that the empirical optimum
/// scatters around (Silverman's is its small-h asymptote and is off at large d, where h ~ σ).
///
/// ```
/// use difftheory::linear::mixing::{mise_bandwidth_sq, silverman_bandwidth_sq};
/// // d = 1, large n: the exact optimum approaches Silverman's
/// let r = mise_bandwidth_sq(1_000_000, 1, 1.0) / silverman_bandwidth_sq(1_000_000, 1, 1.0);
/// assert!((r - 1.0).abs() < 0.05);
/// ```
pub fn mise_bandwidth_sq(n: usize, d: usize, sigma: f64) -> f64 {
    let f = |ln_h: f64| mise_excess(n, d, sigma, (2.0 * ln_h).exp());
    (2.0 * minimize_ln_h(f, 0.5 * silverman_bandwidth_sq(n, d, sigma).ln())).exp()
}
