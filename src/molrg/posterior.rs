//! The exact posterior mean `E[x₀ | x_t]` of a [`LowRankMixture`], its Jacobian and numerical rank.
//!
//! Kernel `x_t = s x₀ + γ ε` ([`Kernel`]: VP with `s = sqrt(ᾱ)`, `γ = sqrt(1−ᾱ)`, or EDM/VE with
//! `s = 1`, `γ = σ`); signal-to-noise ratio `SNR = s²/γ²`. Given component k, `x_t` is Gaussian with
//! covariance `C_k = s² Σ_k + γ² I`, `Σ_k = U Λ Uᵀ + σ_ξ² I`, whose eigenvalues are
//! `a_j = s²(λ_j + σ_ξ²) + γ²` along `u_j` and `b = s² σ_ξ² + γ²` off the subspace. Then (paper 004,
//! Lemma 1, generalized to Λ and σ_ξ):
//!
//! - `E[x₀ | x_t, k] = A_k x_t`, `A_k = s Σ_k C_k⁻¹ = Σ_j α_j u_j u_jᵀ + β (I − UUᵀ)`,
//!   `α_j = s(λ_j + σ_ξ²)/a_j`, `β = s σ_ξ²/b`;
//! - `w_k(x_t) ∝ π_k N(x_t; 0, C_k)` (a soft-max of `ℓ_k = ln π_k − ½ ln det C_k − ½ x_tᵀ C_k⁻¹ x_t`);
//!   with `Λ = I`, `σ_ξ = 0` the x-dependent part of `ℓ_k` is `φ_t ‖U_kᵀ x_t‖²`,
//!   `φ_t = s²/(2γ²(s²+γ²))`, and `E[x₀ | x_t] = Σ_k w_k s/(s²+γ²) U_k U_kᵀ x_t` — Lemma 1;
//! - Jacobian `J = ∂E[x₀|x_t]/∂x_t = Σ_k w_k A_k + Σ_k w_k (A_k x_t)(g_k − ḡ)ᵀ`, `g_k = ∇ℓ_k =
//!   −C_k⁻¹ x_t`, `ḡ = Σ w_k g_k`. By Tweedie `J = (s/γ²) Cov[x₀ | x_t]`: symmetric, positive
//!   semi-definite, of rank at most `Σ_k d_k` when `σ_ξ = 0`.
//!
//! Numerical rank (paper 004, eq. 46): `rank_η(J) = min{r : sqrt(Σ_{i≤r} σ_i²) > η sqrt(Σ σ_i²)}`.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use rand_distr::{Distribution, StandardNormal};

use super::model::LowRankMixture;
use crate::error::{check_count_at_least, check_finite_at_least, Error, Result};
use crate::rng::SimRng;
use crate::schedule::ForwardProcess;
use crate::score::Posterior;

/// The Gaussian kernel `x_t = s x₀ + γ ε`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Kernel {
    /// Signal scale `s > 0`.
    pub s: f64,
    /// Noise scale `γ > 0`.
    pub gamma: f64,
}

impl Kernel {
    /// A kernel with `s > 0`, `γ > 0` (both finite).
    pub fn new(s: f64, gamma: f64) -> Result<Self> {
        check_finite_at_least("s", s, 0.0, true)?;
        check_finite_at_least("gamma", gamma, 0.0, true)?;
        Ok(Self { s, gamma })
    }
    /// EDM / variance-exploding kernel `x_σ = x₀ + σ ε`.
    pub fn ve(sigma: f64) -> Result<Self> {
        Self::new(1.0, sigma)
    }
    /// The EDM kernel with signal-to-noise ratio `snr = 1/σ` (paper 004's convention: its SNR axis
    /// ends at 500 = 1/σ_min for EDM's σ_min = 0.002).
    ///
    /// ```
    /// let k = difftheory::molrg::Kernel::from_snr(4.0).unwrap();
    /// assert_eq!((k.s, k.gamma), (1.0, 0.25));
    /// ```
    pub fn from_snr(snr: f64) -> Result<Self> {
        check_finite_at_least("snr", snr, 0.0, true)?;
        Self::new(1.0, 1.0 / snr)
    }
    /// The kernel of a [`ForwardProcess`] at time `t > 0`: `s = m(t)`, `γ = sqrt(v(t))`.
    pub fn of_process(process: ForwardProcess, t: f64) -> Result<Self> {
        check_finite_at_least("t", t, 0.0, true)?;
        Self::new(process.mean_coeff(t), process.variance(t).sqrt())
    }
    /// `SNR = s/γ` (for EDM `1/σ`; [`Kernel::from_snr`] inverts it).
    pub fn snr(&self) -> f64 {
        self.s / self.gamma
    }
}

/// The posterior mean at one point with its component weights.
#[derive(Debug, Clone, PartialEq)]
pub struct PosteriorMean {
    /// `E[x₀ | x_t]`, length n.
    pub mean: Vec<f64>,
    /// Posterior component probabilities `w_k(x_t)`, summing to 1.
    pub weights: Vec<f64>,
}

/// Per-component quantities at one point: projections, log-likelihood, `A_k x`, `C_k⁻¹ x`.
struct ComponentTerms {
    log_lik: f64,
    mean: Vec<f64>,
    precision_x: Vec<f64>,
}

impl LowRankMixture {
    fn check_point(&self, x: &[f64]) -> Result<()> {
        if x.len() != self.ambient {
            return Err(Error::invalid(
                "x_t",
                format!("{} coordinates", x.len()),
                format!("expected {} (the ambient dimension)", self.ambient),
            ));
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "x_t",
                "a non-finite coordinate",
                "expected finite numbers",
            ));
        }
        Ok(())
    }

    fn terms(&self, kernel: Kernel, x: &[f64]) -> Vec<ComponentTerms> {
        let n = self.ambient;
        let (s, g2) = (kernel.s, kernel.gamma * kernel.gamma);
        let nv = self.noise * self.noise;
        let b = s * s * nv + g2;
        let beta = s * nv / b;
        let xx: f64 = x.iter().map(|v| v * v).sum();
        self.components
            .iter()
            .map(|c| {
                let d = c.dim();
                let mut mean: Vec<f64> = x.iter().map(|v| beta * v).collect();
                let mut precision_x: Vec<f64> = x.iter().map(|v| v / b).collect();
                let (mut quad, mut logdet, mut pp) = (0.0, (n - d) as f64 * b.ln(), 0.0);
                for j in 0..d {
                    let u = c.basis.col_as_slice(j);
                    let p = crate::vecmath::dot(u, x);
                    let var = c.variances[j] + nv;
                    let a = s * s * var + g2;
                    let alpha = s * var / a;
                    quad += p * p / a;
                    pp += p * p;
                    logdet += a.ln();
                    let (cm, cp) = ((alpha - beta) * p, p / a - p / b);
                    for i in 0..n {
                        mean[i] += cm * u[i];
                        precision_x[i] += cp * u[i];
                    }
                }
                quad += (xx - pp).max(0.0) / b;
                ComponentTerms {
                    log_lik: c.weight.ln() - 0.5 * (logdet + quad),
                    mean,
                    precision_x,
                }
            })
            .collect()
    }

    /// `E[x₀ | x_t]` and the component weights `w_k(x_t)` (Lemma 1), for `x_t` of length n.
    ///
    /// ```
    /// use difftheory::molrg::{Kernel, LowRankMixture, MolrgParams};
    /// let mut rng = difftheory::rng::rng_from_seed(1);
    /// let m = LowRankMixture::random(&MolrgParams::new(6, 2, 2), &mut rng).unwrap();
    /// let x = m.sample(1, &mut rng).points.col_as_slice(0).to_vec();
    /// let pm = m.posterior(Kernel::ve(0.1).unwrap(), &x).unwrap();
    /// assert!((pm.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    /// ```
    pub fn posterior(&self, kernel: Kernel, x: &[f64]) -> Result<PosteriorMean> {
        self.check_point(x)?;
        Ok(self.posterior_unchecked(kernel, x))
    }

    pub(crate) fn posterior_unchecked(&self, kernel: Kernel, x: &[f64]) -> PosteriorMean {
        let terms = self.terms(kernel, x);
        let weights = softmax(terms.iter().map(|t| t.log_lik));
        let mut mean = vec![0.0; self.ambient];
        for (t, &w) in terms.iter().zip(&weights) {
            for (m, v) in mean.iter_mut().zip(&t.mean) {
                *m += w * v;
            }
        }
        PosteriorMean { mean, weights }
    }

    /// The Jacobian `∂E[x₀|x_t]/∂x_t` (n × n) in closed form.
    pub fn jacobian(&self, kernel: Kernel, x: &[f64]) -> Result<Mat<f64>> {
        self.check_point(x)?;
        let n = self.ambient;
        let terms = self.terms(kernel, x);
        let w = softmax(terms.iter().map(|t| t.log_lik));
        let (s, g2) = (kernel.s, kernel.gamma * kernel.gamma);
        let nv = self.noise * self.noise;
        let b = s * s * nv + g2;
        let beta = s * nv / b;
        let mut j = Mat::<f64>::zeros(n, n);
        // Σ_k w_k A_k = β I + Σ_k U_k diag(w_k (α_j − β)) U_kᵀ
        for i in 0..n {
            j[(i, i)] = beta;
        }
        for (c, &wk) in self.components.iter().zip(&w) {
            let d = c.dim();
            let mut scaled = c.basis.clone();
            for col in 0..d {
                let var = c.variances[col] + nv;
                let alpha = s * var / (s * s * var + g2);
                let f = wk * (alpha - beta);
                for v in scaled.col_as_slice_mut(col) {
                    *v *= f;
                }
            }
            matmul(
                j.as_mut(),
                Accum::Add,
                scaled.as_ref(),
                c.basis.transpose(),
                1.0,
                Par::Seq,
            );
        }
        // Σ_k w_k (A_k x)(g_k − ḡ)ᵀ with g_k = −C_k⁻¹ x
        let mut gbar = vec![0.0; n];
        for (t, &wk) in terms.iter().zip(&w) {
            for (g, p) in gbar.iter_mut().zip(&t.precision_x) {
                *g -= wk * p;
            }
        }
        for (t, &wk) in terms.iter().zip(&w) {
            if wk == 0.0 {
                continue;
            }
            for col in 0..n {
                let gc = -t.precision_x[col] - gbar[col];
                let f = wk * gc;
                for (row, m) in t.mean.iter().enumerate() {
                    j[(row, col)] += f * m;
                }
            }
        }
        Ok(j)
    }

    /// Singular values of the Jacobian at `x_t`, largest first.
    pub fn jacobian_singular_values(&self, kernel: Kernel, x: &[f64]) -> Result<Vec<f64>> {
        let j = self.jacobian(kernel, x)?;
        singular_values(&j)
    }

    /// Monte Carlo estimate of `E[x₀ | x_t]` by self-normalized importance sampling from the
    /// prior: `x₀⁽ⁱ⁾ ~ p`, weights `∝ exp(−‖x_t − s x₀⁽ⁱ⁾‖²/(2γ²))`. Returns the estimate with its
    /// delta-method standard errors and the effective sample size.
    pub fn posterior_mean_mc(
        &self,
        kernel: Kernel,
        x: &[f64],
        draws: usize,
        rng: &mut SimRng,
    ) -> Result<McPosteriorMean> {
        self.check_point(x)?;
        check_count_at_least("draws", draws, 2)?;
        let n = self.ambient;
        let mut xs = vec![0.0; n * draws];
        let mut logw = vec![0.0; draws];
        for (i, x0) in xs.chunks_exact_mut(n).enumerate() {
            let k = self.draw_label(rng);
            self.draw_from(k, rng, x0);
            let d2: f64 = x0
                .iter()
                .zip(x)
                .map(|(a, b)| (b - kernel.s * a).powi(2))
                .sum();
            logw[i] = -d2 / (2.0 * kernel.gamma * kernel.gamma);
        }
        let w = softmax(logw.into_iter());
        let mut mean = vec![0.0; n];
        for (x0, &wi) in xs.chunks_exact(n).zip(&w) {
            for (m, v) in mean.iter_mut().zip(x0) {
                *m += wi * v;
            }
        }
        let mut var = vec![0.0; n];
        for (x0, &wi) in xs.chunks_exact(n).zip(&w) {
            for ((s2, v), m) in var.iter_mut().zip(x0).zip(&mean) {
                *s2 += wi * wi * (v - m) * (v - m);
            }
        }
        let ess = 1.0 / w.iter().map(|v| v * v).sum::<f64>();
        Ok(McPosteriorMean {
            mean,
            sem: var.into_iter().map(f64::sqrt).collect(),
            ess,
        })
    }
}

/// A Monte Carlo estimate of the posterior mean.
#[derive(Debug, Clone, PartialEq)]
pub struct McPosteriorMean {
    /// The estimate.
    pub mean: Vec<f64>,
    /// Its standard error per coordinate (delta method for the self-normalized estimator).
    pub sem: Vec<f64>,
    /// Effective sample size `1/Σ w_i²`.
    pub ess: f64,
}

/// `softmax` of log-weights (max-shifted).
pub(crate) fn softmax(logits: impl Iterator<Item = f64>) -> Vec<f64> {
    let v: Vec<f64> = logits.collect();
    let top = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = v.iter().map(|l| (l - top).exp()).collect();
    let total: f64 = e.iter().sum();
    e.into_iter().map(|x| x / total).collect()
}

/// Singular values of a matrix, largest first.
pub fn singular_values(m: &Mat<f64>) -> Result<Vec<f64>> {
    let mut sv = m.singular_values().map_err(|e| {
        Error::invalid(
            "matrix",
            format!("{e:?}"),
            "the singular value decomposition did not converge",
        )
    })?;
    sv.sort_by(|a, b| b.total_cmp(a));
    Ok(sv)
}

/// `rank_η = min{r : sqrt(Σ_{i≤r} σ_i²) > η sqrt(Σ σ_i²)}` of singular values given largest first
/// (0 for a zero matrix); `η ∈ (0, 1]`.
///
/// ```
/// use difftheory::molrg::numerical_rank;
/// assert_eq!(numerical_rank(&[1.0, 1.0, 1.0, 0.0], 0.99).unwrap(), 3);
/// assert_eq!(numerical_rank(&[10.0, 0.1, 0.1], 0.99).unwrap(), 1);
/// ```
pub fn numerical_rank(singular_values: &[f64], eta: f64) -> Result<usize> {
    if !(eta > 0.0 && eta <= 1.0) {
        return Err(Error::invalid("eta", eta, "expected 0 < eta <= 1"));
    }
    let total: f64 = singular_values.iter().map(|s| s * s).sum();
    if total == 0.0 {
        return Ok(0);
    }
    let target = eta * eta * total;
    let mut acc = 0.0;
    for (r, s) in singular_values.iter().enumerate() {
        acc += s * s;
        if acc > target {
            return Ok(r + 1);
        }
    }
    Ok(singular_values.len())
}

impl Posterior for LowRankMixture {
    fn dim(&self) -> usize {
        self.ambient
    }
    fn sample(&self, rng: &mut SimRng) -> Vec<f64> {
        let k = self.draw_label(rng);
        let mut x = vec![0.0; self.ambient];
        self.draw_from(k, rng, &mut x);
        x
    }
    fn posterior_mean(&self, process: ForwardProcess, t: f64, x: &[f64], out: &mut [f64]) {
        let kernel = Kernel {
            s: process.mean_coeff(t),
            gamma: process.variance(t).sqrt(),
        };
        out.copy_from_slice(&self.posterior_unchecked(kernel, x).mean);
    }
}

/// `x_t = s x₀ + γ ε` for every column of `x0` (n × N), one fresh ε each.
pub fn noisy(x0: &Mat<f64>, kernel: Kernel, rng: &mut SimRng) -> Mat<f64> {
    Mat::from_fn(x0.nrows(), x0.ncols(), |i, j| {
        let z: f64 = StandardNormal.sample(&mut *rng);
        kernel.s * x0[(i, j)] + kernel.gamma * z
    })
}
