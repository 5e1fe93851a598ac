//! The memorization → generalization statistic of paper 000:
//! `Δ = D(p_gen, p_train) − D(p_gen, p_orig)`, D the squared-L² distance, p_train and p_orig the
//! Gaussian KDEs of the n training points and of N_orig fresh points with bandwidth
//! `ε_N = σ N^{-1/d}`. `P(Δ > 0)` over re-drawn training sets: ≪ 1 memorization, ≈ 1
//! non-memorization (½ exactly only where p_gen no longer depends on the training set and
//! n = N_orig; `docs/paper-000-linear-denoiser.md`, §2.8).
//!
//! With `D(p, q) = ∫p² − 2∫pq + ∫q²` the gen–gen term cancels in Δ:
//! `Δ = (−2∫p_gen p_train + ∫p_train²) − (−2∫p_gen p_orig + ∫p_orig²)`. The last term (an N_orig²
//! sum) is fixed by the original sample, so [`OriginalSet`] computes it once; a trial costs
//! `d²N_orig` flops (one triangular solve of the original points).

use faer::Mat;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use super::distances::{ln_gaussian_kde_overlap, ln_kde_self_overlap};
use super::model::{fit_ols, generated_gaussian, sample_training, LinearParams};
use crate::error::{check_count_at_least, Result};

/// The KDE bandwidth rule `ε_N = σ N^{-1/d}` (true σ).
///
/// ```
/// use difftheory::linear::memorization::kde_bandwidth;
/// assert!((kde_bandwidth(100, 2, 3.0) - 0.3).abs() < 1e-15);
/// ```
pub fn kde_bandwidth(n: usize, d: usize, sigma: f64) -> f64 {
    sigma * (n as f64).powf(-1.0 / d as f64)
}

/// The original sample: N_orig points of the data law as the columns of a d×N matrix, their
/// bandwidth and the self-overlap `ln ∫p_orig²`, computed once.
#[derive(Debug, Clone)]
pub struct OriginalSet {
    /// The points, d×N_orig.
    pub points: Mat<f64>,
    /// `ε = σ N_orig^{-1/d}`.
    pub eps: f64,
    /// `ln ∫p_orig²`.
    pub ln_self: f64,
    /// The factor on both bandwidths (this sample's and every training set's): 1 is the paper's
    /// rule `σ N^{-1/d}`.
    pub bandwidth_scale: f64,
}

impl OriginalSet {
    /// Draws `n_orig` points of `N(μ1, σ²I_d)` (the data law of `p`) and computes the self term
    /// (`N²d` flops, parallel).
    pub fn draw<R: Rng + ?Sized>(p: &LinearParams, n_orig: usize, rng: &mut R) -> Result<Self> {
        Self::draw_with_bandwidth(p, n_orig, 1.0, rng)
    }

    /// [`OriginalSet::draw`] with both KDE bandwidths multiplied by `scale` (> 0): this sample's
    /// and, in [`delta_trial`], every training set's.
    pub fn draw_with_bandwidth<R: Rng + ?Sized>(
        p: &LinearParams,
        n_orig: usize,
        scale: f64,
        rng: &mut R,
    ) -> Result<Self> {
        p.check()?;
        check_count_at_least("n_orig", n_orig, 2)?;
        if !(scale.is_finite() && scale > 0.0) {
            return Err(crate::error::Error::invalid(
                "bandwidth_scale",
                scale,
                "expected a finite number > 0",
            ));
        }
        let points = Mat::<f64>::from_fn(p.d, n_orig, |_, _| {
            p.mu + p.sigma * Distribution::<f64>::sample(&StandardNormal, rng)
        });
        let eps = scale * kde_bandwidth(n_orig, p.d, p.sigma);
        let ln_self = ln_kde_self_overlap(points.as_ref(), eps)?;
        Ok(Self {
            points,
            eps,
            ln_self,
            bandwidth_scale: scale,
        })
    }
}

/// Δ kept as `scaled · e^{ln_scale}` (its terms are of order e^{±d} in high dimension).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeltaStatistic {
    /// The logarithm of the largest of the four overlap terms.
    pub ln_scale: f64,
    /// Δ divided by `e^{ln_scale}`.
    pub scaled: f64,
}

impl DeltaStatistic {
    /// Δ itself (may overflow or underflow; the sign is always right).
    pub fn value(&self) -> f64 {
        self.scaled * self.ln_scale.exp()
    }
    /// `Δ > 0`: the generated distribution is closer to the original sample than to the training
    /// set (no memorization).
    pub fn gen_closer_to_orig(&self) -> bool {
        self.scaled > 0.0
    }
}

/// Δ from the four log-overlaps: `(−2e^{a_t} + e^{b_t}) − (−2e^{a_o} + e^{b_o})`.
///
/// ```
/// use difftheory::linear::memorization::delta_from_overlaps;
/// let d = delta_from_overlaps(0.0, 1.0, 2.0, 3.0);
/// let want = -2.0 + 1f64.exp() + 2.0 * 2f64.exp() - 3f64.exp();
/// assert!((d.value() - want).abs() < 1e-12);
/// ```
pub fn delta_from_overlaps(
    ln_gen_train: f64,
    ln_train_train: f64,
    ln_gen_orig: f64,
    ln_orig_orig: f64,
) -> DeltaStatistic {
    let m = ln_gen_train
        .max(ln_train_train)
        .max(ln_gen_orig)
        .max(ln_orig_orig);
    let e = |x: f64| (x - m).exp();
    DeltaStatistic {
        ln_scale: m,
        scaled: -2.0 * e(ln_gen_train) + e(ln_train_train) + 2.0 * e(ln_gen_orig) - e(ln_orig_orig),
    }
}

/// One trial: draw a training set of `p.n` points, fit the OLS denoiser (minimum norm when
/// n ≤ d), and compute Δ against the fixed original sample.
pub fn delta_trial<R: Rng + ?Sized>(
    p: &LinearParams,
    orig: &OriginalSet,
    rng: &mut R,
) -> Result<DeltaStatistic> {
    let train = sample_training(p, rng);
    let den = fit_ols(train.x.as_ref(), train.y.as_ref())?;
    let gen = generated_gaussian(&train, &den, p.noise());
    let cov = gen.cov();
    let pts = train.x.transpose().to_owned();
    let eps_n = orig.bandwidth_scale * kde_bandwidth(p.n, p.d, p.sigma);
    let ln_gt = ln_gaussian_kde_overlap(&gen.mean, cov.as_ref(), pts.as_ref(), eps_n)?;
    let ln_tt = ln_kde_self_overlap(pts.as_ref(), eps_n)?;
    let ln_go = ln_gaussian_kde_overlap(&gen.mean, cov.as_ref(), orig.points.as_ref(), orig.eps)?;
    Ok(delta_from_overlaps(ln_gt, ln_tt, ln_go, orig.ln_self))
}
