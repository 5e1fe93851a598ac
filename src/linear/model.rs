//! The data, the noisy input, the OLS denoiser and the Gaussian it generates (paper 000).
//!
//! Matrices are `faer::Mat<f64>`; a data set of n points in d dimensions is an n×d matrix (one
//! point per row).

use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{matmul as tri_matmul, BlockStructure};
use faer::linalg::solvers::Solve;
use faer::{Accum, Mat, MatRef, Par, Side};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::error::{check_count_at_least, check_finite_at_least, Error, Result};

/// The parameters of the linear one-step denoiser model: dimension, training-set size, noise time
/// and scale, and the data law `N(μ1, σ²I_d)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearParams {
    /// Dimension d (>= 1).
    pub d: usize,
    /// Training points n (>= 2).
    pub n: usize,
    /// Noise time T (> 0): `a = e^{-T}`.
    pub t: f64,
    /// Noise scale λ (> 0): `s² = λ(1 − e^{-2T})`.
    pub lambda: f64,
    /// Data standard deviation σ (> 0).
    pub sigma: f64,
    /// Data mean μ (every coordinate).
    pub mu: f64,
}

impl Default for LinearParams {
    /// d = 20, n = 80, T = 1, λ = 0.1, σ = 1, μ = 3.
    fn default() -> Self {
        Self {
            d: 20,
            n: 80,
            t: 1.0,
            lambda: 0.1,
            sigma: 1.0,
            mu: 3.0,
        }
    }
}

/// `x_T = a x₀ + s z`: the scale a and the noise variance s².
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoiseScale {
    /// `a = e^{-T}`.
    pub a: f64,
    /// `s² = λ(1 − e^{-2T})`.
    pub s2: f64,
}

/// The forward noising at time `t` with scale `lambda`: `a = e^{-T}`, `s² = λ(1 − e^{-2T})`.
///
/// ```
/// let ns = difftheory::linear::model::noise_scale(1.0, 0.5);
/// assert!((ns.a - (-1f64).exp()).abs() < 1e-15);
/// assert!((ns.s2 - 0.5 * (1.0 - (-2f64).exp())).abs() < 1e-15);
/// ```
pub fn noise_scale(t: f64, lambda: f64) -> NoiseScale {
    NoiseScale {
        a: (-t).exp(),
        s2: -lambda * (-2.0 * t).exp_m1(),
    }
}

impl LinearParams {
    /// Checked constructor: names the first bad parameter and its accepted range.
    pub fn new(d: usize, n: usize, t: f64, lambda: f64, sigma: f64, mu: f64) -> Result<Self> {
        let p = Self {
            d,
            n,
            t,
            lambda,
            sigma,
            mu,
        };
        p.check()?;
        Ok(p)
    }

    /// Checks every field (the struct's fields are public, so experiments call this).
    pub fn check(&self) -> Result<()> {
        check_count_at_least("d", self.d, 1)?;
        check_count_at_least("n", self.n, 2)?;
        check_finite_at_least("t", self.t, 0.0, true)?;
        check_finite_at_least("lambda", self.lambda, 0.0, true)?;
        check_finite_at_least("sigma", self.sigma, 0.0, true)?;
        if !self.mu.is_finite() {
            return Err(Error::invalid("mu", self.mu, "expected a finite number"));
        }
        Ok(())
    }

    /// The noising of these parameters.
    pub fn noise(&self) -> NoiseScale {
        noise_scale(self.t, self.lambda)
    }

    /// `κ² = s²/(a²σ²)`: the inverse signal-to-noise ratio of the denoiser's input. Every
    /// divergence depends on `(d, n, κ²)` only.
    ///
    /// ```
    /// use difftheory::linear::LinearParams;
    /// let p = LinearParams::new(10, 50, 1.0, 0.2, 2.0, 0.0).unwrap();
    /// let k2 = 0.2 * (1.0 - (-2f64).exp()) / ((-2f64).exp() * 4.0);
    /// assert!((p.kappa2() - k2).abs() < 1e-12);
    /// ```
    pub fn kappa2(&self) -> f64 {
        let ns = self.noise();
        ns.s2 / (ns.a * ns.a * self.sigma * self.sigma)
    }

    /// λ such that `κ² = kappa2` at the same T and σ (the inverse of [`Self::kappa2`]).
    pub fn lambda_for_kappa2(kappa2: f64, t: f64, sigma: f64) -> f64 {
        let a = (-t).exp();
        kappa2 * a * a * sigma * sigma / -(-2.0 * t).exp_m1()
    }
}

/// A training set: clean points `x` and their noisy versions `y = a x + s z`, both n×d.
#[derive(Debug, Clone)]
pub struct TrainingSet {
    /// Clean points, n×d.
    pub x: Mat<f64>,
    /// Noisy points, n×d.
    pub y: Mat<f64>,
}

/// Draws n points of `N(μ1, σ²I_d)` and their noisy versions.
pub fn sample_training<R: Rng + ?Sized>(p: &LinearParams, rng: &mut R) -> TrainingSet {
    let ns = p.noise();
    let s = ns.s2.sqrt();
    let (n, d) = (p.n, p.d);
    let mut x = Mat::<f64>::zeros(n, d);
    let mut y = Mat::<f64>::zeros(n, d);
    for j in 0..d {
        for i in 0..n {
            let x0 = p.mu + p.sigma * Distribution::<f64>::sample(&StandardNormal, rng);
            x[(i, j)] = x0;
            y[(i, j)] = ns.a * x0 + s * Distribution::<f64>::sample(&StandardNormal, rng);
        }
    }
    TrainingSet { x, y }
}

/// `σ̂²`: the mean over coordinates of the unbiased per-coordinate sample variance of `x` (n×d).
///
/// ```
/// use faer::mat;
/// let x = mat![[0.0, 1.0], [2.0, 3.0]];
/// // each column has variance 2 (unbiased)
/// assert!((difftheory::linear::model::sigma_hat_sq(x.as_ref()) - 2.0).abs() < 1e-15);
/// ```
pub fn sigma_hat_sq(x: MatRef<'_, f64>) -> f64 {
    let (n, d) = (x.nrows(), x.ncols());
    let mut total = 0.0;
    for j in 0..d {
        let col = x.col(j);
        let m = col.iter().sum::<f64>() / n as f64;
        total += col.iter().map(|v| (v - m) * (v - m)).sum::<f64>();
    }
    total / ((n - 1) * d) as f64
}

/// The fitted denoiser `x₀ ≈ W x_T + b`.
#[derive(Debug, Clone)]
pub struct OlsDenoiser {
    /// d×d weight matrix (rank ≤ n − 1).
    pub w: Mat<f64>,
    /// Intercept, length d.
    pub b: Vec<f64>,
}

fn column_means(m: MatRef<'_, f64>) -> Vec<f64> {
    let n = m.nrows() as f64;
    (0..m.ncols())
        .map(|j| m.col(j).iter().sum::<f64>() / n)
        .collect()
}

fn centred(m: MatRef<'_, f64>, means: &[f64]) -> Mat<f64> {
    Mat::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)] - means[j])
}

/// Ordinary least squares with intercept of `x` on `y` (both n×d):
/// `W = X_cᵀY_c (Y_cᵀY_c)⁻¹`, `b = x̄ − W ȳ`. For n ≤ d (`Y_cᵀY_c` singular) the minimum-norm
/// solution `Wᵀ = Y_cᵀ(Y_cY_cᵀ + 11ᵀ/n)⁻¹X_c` (the `11ᵀ/n` term fills the null direction of the
/// centred Gram matrix and drops out because `Y_cᵀ1 = 0`). Flops: `3nd² + 7d³/3` for n > d.
///
/// Errors when the Gram matrix is not positive definite (collinear noisy points).
///
/// ```
/// use faer::Mat;
/// use difftheory::linear::model::fit_ols;
/// // exact linear data: x = 2 y + 1 is recovered
/// let y = Mat::from_fn(5, 1, |i, _| i as f64);
/// let x = Mat::from_fn(5, 1, |i, _| 2.0 * i as f64 + 1.0);
/// let den = fit_ols(x.as_ref(), y.as_ref()).unwrap();
/// assert!((den.w[(0, 0)] - 2.0).abs() < 1e-12 && (den.b[0] - 1.0).abs() < 1e-12);
/// ```
pub fn fit_ols(x: MatRef<'_, f64>, y: MatRef<'_, f64>) -> Result<OlsDenoiser> {
    let (n, d) = (x.nrows(), x.ncols());
    if y.nrows() != n || y.ncols() != d || n < 2 {
        return Err(Error::invalid(
            "y",
            format!("{}x{}", y.nrows(), y.ncols()),
            format!("expected the shape of x ({n}x{d}) with at least 2 rows"),
        ));
    }
    let xbar = column_means(x);
    let ybar = column_means(y);
    let xc = centred(x, &xbar);
    let yc = centred(y, &ybar);
    let w = if n > d {
        // Gram matrices: Y_cᵀY_c (lower half only) and Y_cᵀX_c = (X_cᵀY_c)ᵀ
        let mut cyy = Mat::<f64>::zeros(d, d);
        tri_matmul(
            cyy.as_mut(),
            BlockStructure::TriangularLower,
            Accum::Replace,
            yc.transpose(),
            BlockStructure::Rectangular,
            yc.as_ref(),
            BlockStructure::Rectangular,
            1.0,
            Par::Seq,
        );
        let mut wt = Mat::<f64>::zeros(d, d);
        matmul(
            wt.as_mut(),
            Accum::Replace,
            yc.transpose(),
            xc.as_ref(),
            1.0,
            Par::Seq,
        );
        let llt = cyy.llt(Side::Lower).map_err(|_| singular_gram())?;
        llt.solve_in_place(wt.as_mut()); // Wᵀ = (Y_cᵀY_c)⁻¹ Y_cᵀX_c
        wt.transpose().to_owned()
    } else {
        let mut k = Mat::<f64>::zeros(n, n);
        matmul(
            k.as_mut(),
            Accum::Replace,
            yc.as_ref(),
            yc.transpose(),
            1.0,
            Par::Seq,
        );
        for i in 0..n {
            for j in 0..n {
                k[(i, j)] += 1.0 / n as f64;
            }
        }
        let llt = k.llt(Side::Lower).map_err(|_| singular_gram())?;
        let mut kx = xc.clone();
        llt.solve_in_place(kx.as_mut()); // (Y_cY_cᵀ + 11ᵀ/n)⁻¹ X_c
        let mut wt = Mat::<f64>::zeros(d, d);
        matmul(
            wt.as_mut(),
            Accum::Replace,
            yc.transpose(),
            kx.as_ref(),
            1.0,
            Par::Seq,
        );
        wt.transpose().to_owned()
    };
    super::distances::clear_avx_upper();
    let b = (0..d)
        .map(|i| xbar[i] - (0..d).map(|j| w[(i, j)] * ybar[j]).sum::<f64>())
        .collect();
    Ok(OlsDenoiser { w, b })
}

fn singular_gram() -> Error {
    Error::invalid(
        "training set",
        "collinear",
        "the noisy training points' Gram matrix is singular; use n >= 2 distinct points",
    )
}

/// The generated distribution `p_gen = N(mean, v_T W Wᵀ)`.
#[derive(Debug, Clone)]
pub struct GeneratedGaussian {
    /// `μ_g = b + a W x̄₀`, length d.
    pub mean: Vec<f64>,
    /// The factor W (d×d) of the covariance.
    pub w: Mat<f64>,
    /// `v_T = a²σ̂² + s²`: the variance of the sampler's input.
    pub v_t: f64,
}

impl GeneratedGaussian {
    /// `Σ_g = v_T W Wᵀ` (d×d).
    pub fn cov(&self) -> Mat<f64> {
        let d = self.w.nrows();
        let mut s = Mat::<f64>::zeros(d, d);
        matmul(
            s.as_mut(),
            Accum::Replace,
            self.w.as_ref(),
            self.w.transpose(),
            self.v_t,
            Par::Seq,
        );
        s
    }
}

/// The Gaussian generated by the denoiser fitted on `train`: sampling `x_T ~ N(a x̄₀, v_T I)` and
/// denoising once gives `N(b + a W x̄₀, v_T W Wᵀ)`, `v_T = a²σ̂² + s²` (σ̂² of the clean points,
/// [`sigma_hat_sq`]). The reference code writes `WᵀW`: same det and trace, wrong quadratic form.
pub fn generated_gaussian(
    train: &TrainingSet,
    den: &OlsDenoiser,
    noise: NoiseScale,
) -> GeneratedGaussian {
    let d = den.w.nrows();
    let xbar = column_means(train.x.as_ref());
    let mean = (0..d)
        .map(|i| den.b[i] + noise.a * (0..d).map(|j| den.w[(i, j)] * xbar[j]).sum::<f64>())
        .collect();
    let v_t = noise.a * noise.a * sigma_hat_sq(train.x.as_ref()) + noise.s2;
    GeneratedGaussian {
        mean,
        w: den.w.clone(),
        v_t,
    }
}
