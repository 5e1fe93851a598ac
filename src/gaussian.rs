//! Closed forms for Gaussians, each with its Monte Carlo estimator.
//!
//! The first experiment of the project (`difftheory gaussian-kl`): the Kullback–Leibler divergence
//! between two isotropic Gaussians in `d` dimensions,
//!
//! `P = N(0, I_d)`, `Q = N(m, r I_d)` with `‖m‖ = mean_shift`, `r = var_ratio`:
//!
//! `KL(P ‖ Q) = ½ [ d / r + ‖m‖² / r − d + d ln r ]` (nats),
//!
//! and its estimator `E_P[ln p(X) − ln q(X)]` from `n_samples` draws of `P`, where
//! `ln p(x) − ln q(x) = −½‖x‖² + ½‖x − m‖²/r + (d/2) ln r`.

use rand_distr::{Distribution, StandardNormal};

use crate::error::{check_count_at_least, check_finite_at_least, Result};
use crate::rng::SimRng;
use crate::stats::{Estimate, Welford};

/// Parameters of the isotropic Gaussian pair; build with [`IsoGaussianPair::new`] to validate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IsoGaussianPair {
    /// Dimension `d >= 1`.
    pub d: usize,
    /// Euclidean distance between the means, `>= 0`.
    pub mean_shift: f64,
    /// Variance of `Q` over variance of `P`, `> 0`.
    pub var_ratio: f64,
}

impl IsoGaussianPair {
    /// Validated parameters.
    pub fn new(d: usize, mean_shift: f64, var_ratio: f64) -> Result<Self> {
        check_count_at_least("d", d, 1)?;
        check_finite_at_least("mean_shift", mean_shift, 0.0, false)?;
        check_finite_at_least("var_ratio", var_ratio, 0.0, true)?;
        Ok(Self {
            d,
            mean_shift,
            var_ratio,
        })
    }
}

/// `KL(P ‖ Q)` in closed form (nats).
///
/// ```
/// use difftheory::gaussian::{kl_iso_gaussians, IsoGaussianPair};
/// let p = IsoGaussianPair::new(3, 0.0, 1.0).unwrap();
/// assert_eq!(kl_iso_gaussians(&p), 0.0);
/// let p = IsoGaussianPair::new(1, 2.0, 1.0).unwrap();
/// assert!((kl_iso_gaussians(&p) - 2.0).abs() < 1e-12); // ½ · 2²
/// ```
pub fn kl_iso_gaussians(p: &IsoGaussianPair) -> f64 {
    let d = p.d as f64;
    let r = p.var_ratio;
    0.5 * (d / r + p.mean_shift * p.mean_shift / r - d + d * r.ln())
}

/// Monte Carlo estimate of `KL(P ‖ Q)` from `n_samples >= 2` draws of `P`.
///
/// The mean of `Q` is put along the first axis (the divergence depends only on `‖m‖`).
pub fn kl_iso_gaussians_mc(
    p: &IsoGaussianPair,
    n_samples: usize,
    rng: &mut SimRng,
) -> Result<Estimate> {
    check_count_at_least("n_samples", n_samples, 2)?;
    let half_d_ln_r = 0.5 * p.d as f64 * p.var_ratio.ln();
    let mut acc = Welford::new();
    for _ in 0..n_samples {
        let mut sq = 0.0;
        let mut sq_shifted = 0.0;
        for k in 0..p.d {
            let x: f64 = StandardNormal.sample(rng);
            sq += x * x;
            let y = if k == 0 { x - p.mean_shift } else { x };
            sq_shifted += y * y;
        }
        acc.push(-0.5 * sq + 0.5 * sq_shifted / p.var_ratio + half_d_ln_r);
    }
    acc.estimate()
}
