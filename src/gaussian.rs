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

use crate::error::{check_count_at_least, check_finite_at_least, Error, Result};
use crate::rng::SimRng;
use crate::schedule::ForwardProcess;
use crate::score::{sample_xt, PointCloud};
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

/// Lower-triangular Cholesky factor of a symmetric positive-definite `d × d` matrix (row-major).
fn cholesky(a: &[f64], d: usize) -> Result<Vec<f64>> {
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let s: f64 = a[i * d + j] - (0..j).map(|k| l[i * d + k] * l[j * d + k]).sum::<f64>();
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return Err(Error::invalid(
                        "covariance",
                        s,
                        "the matrix is not positive definite",
                    ));
                }
                l[i * d + i] = s.sqrt();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    Ok(l)
}

/// The Gaussian that best fits a law (paper 003, Lemma 2): its mean and covariance.
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianFit {
    /// Mean.
    pub mean: Vec<f64>,
    /// Covariance, row-major `d × d`.
    pub cov: Vec<f64>,
}

impl GaussianFit {
    /// Mean and (population) covariance of points.
    pub fn of_points(points: &[Vec<f64>]) -> Result<Self> {
        let n = points.len();
        check_count_at_least("points", n, 1)?;
        let d = points[0].len();
        let mean: Vec<f64> = (0..d)
            .map(|k| points.iter().map(|p| p[k]).sum::<f64>() / n as f64)
            .collect();
        let mut cov = vec![0.0; d * d];
        for p in points {
            for i in 0..d {
                for j in 0..d {
                    cov[i * d + j] += (p[i] - mean[i]) * (p[j] - mean[j]) / n as f64;
                }
            }
        }
        Ok(Self { mean, cov })
    }

    /// Lemma 2: the best Gaussian fit of `p_t = law(m X_0 + sqrt(v) Z)` is `N(m E X_0, m² Cov + v I)`.
    pub fn at(&self, m: f64, v: f64) -> Self {
        let d = self.mean.len();
        let cov = (0..d * d)
            .map(|k| m * m * self.cov[k] + if k % (d + 1) == 0 { v } else { 0.0 })
            .collect();
        Self {
            mean: self.mean.iter().map(|x| m * x).collect(),
            cov,
        }
    }

    /// The squared Fréchet (2-Wasserstein) distance to `other`,
    /// `|μ₁ − μ₂|² + tr(Σ₁ + Σ₂ − 2 (Σ₁^{½} Σ₂ Σ₁^{½})^{½})`: what the FID reports, on the
    /// Gaussian fits of two point sets ([`GaussianFit::of_points`]: population covariances).
    /// The matrix square roots come from symmetric eigendecompositions, negative eigenvalues of
    /// rounding clipped to 0. Errors: a dimension mismatch, values that are not finite, or an
    /// eigendecomposition that does not converge.
    pub fn frechet_distance(&self, other: &GaussianFit) -> Result<f64> {
        use faer::{Mat, Side};
        let d = self.mean.len();
        if other.mean.len() != d || self.cov.len() != d * d || other.cov.len() != d * d {
            return Err(Error::invalid(
                "gaussians",
                format!("dimensions {} and {}", d, other.mean.len()),
                "two Gaussians of the same dimension",
            ));
        }
        let finite = |g: &GaussianFit| g.mean.iter().chain(&g.cov).all(|v| v.is_finite());
        if !finite(self) || !finite(other) {
            return Err(Error::invalid(
                "gaussians",
                "a mean or covariance with NaN or ±inf",
                "finite means and covariances",
            ));
        }
        let err = |e: faer::linalg::evd::EvdError| {
            Error::invalid(
                "covariance",
                format!("{e:?}"),
                "a symmetric matrix whose eigendecomposition converges",
            )
        };
        let sym = |c: &[f64]| Mat::<f64>::from_fn(d, d, |i, j| 0.5 * (c[i * d + j] + c[j * d + i]));
        let (a, b) = (sym(&self.cov), sym(&other.cov));
        // Σ₁^{½} = V diag(√λ) Vᵀ
        let evd = a.self_adjoint_eigen(Side::Lower).map_err(err)?;
        let (v, lam) = (evd.U(), evd.S().column_vector());
        let root = Mat::<f64>::from_fn(d, d, |i, j| {
            (0..d)
                .map(|k| v[(i, k)] * lam[k].max(0.0).sqrt() * v[(j, k)])
                .sum()
        });
        let m = &root * &b * &root;
        let m = Mat::<f64>::from_fn(d, d, |i, j| 0.5 * (m[(i, j)] + m[(j, i)]));
        let mu = m.self_adjoint_eigen(Side::Lower).map_err(err)?;
        let cross: f64 = (0..d)
            .map(|k| mu.S().column_vector()[k].max(0.0).sqrt())
            .sum();
        let trace = |c: &[f64]| (0..d).map(|i| c[i * d + i]).sum::<f64>();
        let shift: f64 = self
            .mean
            .iter()
            .zip(&other.mean)
            .map(|(x, y)| (x - y) * (x - y))
            .sum();
        Ok((shift + trace(&self.cov) + trace(&other.cov) - 2.0 * cross).max(0.0))
    }

    /// `ln` of this Gaussian's density at `x`.
    pub fn log_density(&self, x: &[f64]) -> Result<f64> {
        Ok(self.density()?.log_density(x))
    }

    /// The density, factored once for many evaluations.
    pub fn density(&self) -> Result<GaussianDensity> {
        let d = self.mean.len();
        let l = cholesky(&self.cov, d)?;
        let logdet: f64 = (0..d).map(|i| 2.0 * l[i * d + i].ln()).sum();
        let norm = -0.5 * (logdet + d as f64 * (2.0 * std::f64::consts::PI).ln());
        Ok(GaussianDensity {
            mean: self.mean.clone(),
            chol: l,
            norm,
        })
    }
}

/// A Gaussian density with its covariance factored (see [`GaussianFit::density`]).
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianDensity {
    mean: Vec<f64>,
    chol: Vec<f64>,
    norm: f64,
}

impl GaussianDensity {
    /// `ln` of the density at `x`.
    pub fn log_density(&self, x: &[f64]) -> f64 {
        let (d, l) = (self.mean.len(), &self.chol);
        // solve L y = x − mean
        let mut y = vec![0.0; d];
        for i in 0..d {
            y[i] = (x[i] - self.mean[i] - (0..i).map(|k| l[i * d + k] * y[k]).sum::<f64>())
                / l[i * d + i];
        }
        self.norm - 0.5 * y.iter().map(|v| v * v).sum::<f64>()
    }
}

/// Lemma 3's bound `KL(p_t ‖ N(m E X_0, m² Cov + v I)) <= ½ ln det(I + m² Cov / v)`
/// (`= ½ Σ ln(1 + λ_i/t)` for Brownian motion): the fit's entropy minus that of the noise, since
/// `h(p_t) >= h(N(0, v I))`.
pub fn lemma3_bound(fit: &GaussianFit, m: f64, v: f64) -> Result<f64> {
    let d = fit.mean.len();
    let a: Vec<f64> = (0..d * d)
        .map(|k| m * m * fit.cov[k] / v + if k % (d + 1) == 0 { 1.0 } else { 0.0 })
        .collect();
    let l = cholesky(&a, d)?;
    Ok((0..d).map(|i| l[i * d + i].ln()).sum())
}

/// Monte Carlo `KL(p_t ‖ best Gaussian fit)` for the empirical measure `cloud` at time `t` of
/// `process`: `E_{p_t}[ln p_t(X) − ln q(X)]` with the exact mixture density `ln p_t`, from `n` draws.
pub fn kl_to_gaussian_fit_mc(
    cloud: &PointCloud,
    process: ForwardProcess,
    t: f64,
    n: usize,
    rng: &mut SimRng,
) -> Result<Estimate> {
    check_count_at_least("n", n, 2)?;
    let (m, v) = (process.mean_coeff(t), process.variance(t));
    let q = GaussianFit::of_points(cloud.points())?.at(m, v).density()?;
    let mut acc = Welford::new();
    for _ in 0..n {
        let x = sample_xt(cloud, process, t, rng);
        acc.push(cloud.log_density(process, t, &x) - q.log_density(&x));
    }
    acc.estimate()
}
