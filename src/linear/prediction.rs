//! The deterministic-equivalence prediction of E\[KL\] (and its parts) and E\[H²\] for the linear
//! denoiser, as a function of `(d, n, κ²)`; derivation in the [module docs](super).
//!
//! Notation: `m = n − 1`, `u = n − d − 1`; inverse-Wishart moments for `Q ~ Wishart(m, I_d)`:
//! `p₂ = E tr Q⁻¹ = d/(u−1)`, `p₄ = E tr Q⁻² = d(m−1)/(u(u−1)(u−3))`,
//! `p₆ ≈ E tr Q⁻³ ≈ d m (m+d)/((u−1)…(u−5))`, `V₂ = Var tr Q⁻¹ = (2d² + 2d(u−1))/(u(u−1)²(u−3))`;
//! `q = κ²p₂`, `w = 1/(1−q)`, `ε = dκ⁴p₄`, `V_q = κ⁴V₂`.

use super::model::LinearParams;

/// Below this q the full prediction was within ~2 s.e. of a tail-free 4000-trial Monte Carlo at
/// every d of the validation grid (d = 5…100, κ² = 0.1…5); above it the neglected O(1/d²)·w^k and
/// O(q³) terms grow like (1−q)^{-5} and a finite Monte Carlo is often tail-dominated.
pub const Q_ACCURATE: f64 = 0.35;

/// The predicted expectations at one parameter point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// `κ² = s²/(a²σ²)`.
    pub kappa2: f64,
    /// The resummation parameter `q = κ² d/(n − d − 2)` (∞ when n ≤ d + 2).
    pub q: f64,
    /// Bulk E\[KL\] (∞ when n < d + 7 or q ≥ 1: no prediction).
    pub kl: f64,
    /// Bulk E\[KL_mean\].
    pub kl_mean: f64,
    /// Bulk E\[KL_cov\].
    pub kl_cov: f64,
    /// E\[H²\] (NaN where the expansion does not hold).
    pub h2: f64,
    /// `KL_∞ = (d/2)[κ² − ln(1+κ²)]`: the n → ∞ limit.
    pub kl_inf: f64,
    /// `H²_∞ = 1 − (2√r/(1+r))^{d/2}`.
    pub h2_inf: f64,
}

impl Prediction {
    /// Whether the formula was validated at this point: finite and `q < Q_ACCURATE`.
    pub fn accurate(&self) -> bool {
        self.kl.is_finite() && self.q < Q_ACCURATE
    }
}

/// `KL_∞ = (d/2)[κ² − ln(1+κ²)]`: the KL of `N(μ1, σ²I)` from the population denoiser's output
/// `N(μ1, σ²I/(1+κ²))` (`W_pop = (r/a)I`), the n → ∞ limit of E\[KL\].
///
/// ```
/// use difftheory::linear::prediction::kl_infinity;
/// assert!((kl_infinity(10, 1.0) - 5.0 * (1.0 - 2f64.ln())).abs() < 1e-14);
/// ```
pub fn kl_infinity(d: usize, kappa2: f64) -> f64 {
    0.5 * d as f64 * (kappa2 - kappa2.ln_1p())
}

/// `H²_∞ = 1 − (2√r/(1+r))^{d/2}`, `r = 1/(1+κ²)`.
///
/// ```
/// use difftheory::linear::prediction::hellinger2_infinity;
/// assert_eq!(hellinger2_infinity(7, 0.0), 0.0);
/// assert!(hellinger2_infinity(100, 1.0) > 0.9);
/// ```
pub fn hellinger2_infinity(d: usize, kappa2: f64) -> f64 {
    let r = 1.0 / (1.0 + kappa2);
    -(0.5 * d as f64 * (2.0 * r.sqrt() / (1.0 + r)).ln()).exp_m1()
}

/// The finite-n prediction (resummed, with the O(1/d) and O(1/n) corrections).
///
/// ```
/// use difftheory::linear::{prediction, LinearParams};
/// // d = 50, κ² = 1, n = 800: MC (4000 trials) 11.480 ± 0.008
/// let lam = LinearParams::lambda_for_kappa2(1.0, 1.0, 1.0);
/// let p = prediction(&LinearParams::new(50, 800, 1.0, lam, 1.0, 0.0).unwrap());
/// assert!((p.kl - 11.47).abs() < 0.01 && p.accurate());
/// // n <= d: no inverse, no prediction
/// let p = prediction(&LinearParams::new(50, 50, 1.0, lam, 1.0, 0.0).unwrap());
/// assert!(p.kl.is_infinite() && p.h2.is_nan());
/// ```
pub fn prediction(p: &LinearParams) -> Prediction {
    prediction_kappa2(p.d, p.n, p.kappa2())
}

/// [`prediction`] in terms of `(d, n, κ²)`.
pub fn prediction_kappa2(d: usize, n: usize, k2: f64) -> Prediction {
    let df = d as f64;
    let r = 1.0 / (1.0 + k2);
    let mut out = Prediction {
        kappa2: k2,
        q: f64::INFINITY,
        kl: f64::INFINITY,
        kl_mean: f64::INFINITY,
        kl_cov: f64::INFINITY,
        h2: f64::NAN,
        kl_inf: kl_infinity(d, k2),
        h2_inf: hellinger2_infinity(d, k2),
    };
    if n <= d + 6 {
        if n > d + 2 {
            out.q = k2 * df / (n - d - 2) as f64;
        }
        return out;
    }
    let m = (n - 1) as f64;
    let u = m - df;
    let p2 = df / (u - 1.0);
    let p4 = df * (m - 1.0) / (u * (u - 1.0) * (u - 3.0));
    let p6 = df * m * (m + df) / ((u - 1.0) * (u - 2.0) * (u - 3.0) * (u - 4.0) * (u - 5.0));
    let var_p2 = (2.0 * df * df + 2.0 * df * (u - 1.0)) / (u * (u - 1.0).powi(2) * (u - 3.0));
    let q = k2 * p2;
    out.q = q;
    if q >= 1.0 {
        return out;
    }
    let eps = df * k2 * k2 * p4;
    let w = 1.0 / (1.0 - q);
    let varq = k2 * k2 * var_p2;
    // E tr (MMᵀ)⁻¹: planar + O(1) + O(1/d)
    let a = df * w
        + 2.0 * q * w.powi(2)
        + 2.0 * eps * w.powi(3)
        + df * varq * w.powi(3)
        + k2 * k2 * p4 * (12.0 * w.powi(4) - 4.0 * w.powi(3))
        + 8.0 * df * k2.powi(3) * p6 * w.powi(4)
        + 12.0 * df * k2.powi(4) * p4 * p4 * w.powi(5);
    // E[tr(MMᵀ)⁻¹/ρ], ρ = v_T/(a²σ² + s²) correlated with M
    let cov = (-2.0 * r * r * q - 4.0 * r * (1.0 - r) + 2.0 * r * (1.0 - r) * q) / m * w * w;
    let a_rho = a + 2.0 * r * r / m * w - cov;
    let e_inv_rho = 1.0 + 2.0 * r * r / (m * df);
    let d_e_ln_rho = -r * r / m;
    let e_lndet = 0.5 * (1.0 - q).ln() - 0.25 * varq * w * w;
    out.kl_cov = 0.5 * ((1.0 + k2) * a_rho - df - df * k2.ln_1p() + d_e_ln_rho + 2.0 * e_lndet);
    out.kl_mean = 0.5 / n as f64 * ((1.0 + k2) * a_rho + df * k2 / (1.0 + k2) * e_inv_rho);
    out.kl = out.kl_cov + out.kl_mean;
    out.h2 = h2_full(df, n as f64, k2, q, eps);
    out
}

/// Derivatives at y = 0 of `φ(y) = y/4 − ½ ln((1 + r e^y)/(1+r))` (the per-eigenvalue log
/// Bhattacharyya coefficient).
fn phi_derivs(r: f64) -> [f64; 4] {
    let s = r / (1.0 + r);
    let p2 = -0.5 * s * (1.0 - s);
    [
        0.25 - 0.5 * s,
        p2,
        p2 * (1.0 - 2.0 * s),
        p2 * (1.0 - 6.0 * s + 6.0 * s * s),
    ]
}

/// `E[H²] = 1 − E exp(l) ≈ 1 − exp(E l + Var l/2)`, l the log Bhattacharyya coefficient.
fn h2_full(d: f64, n: f64, k2: f64, q: f64, eps: f64) -> f64 {
    let r = 1.0 / (1.0 + k2);
    let m = n - 1.0;
    let [f1, f2, f3, f4] = phi_derivs(r);
    let log_bc_inf = 0.5 * d * (2.0 * r.sqrt() / (1.0 + r)).ln();
    let s1 = (1.0 - q).ln() - r * r / m;
    let s2 = d * (2.0 * q + 0.5 * q * q - eps / 6.0)
        + 2.0 * q
        + 2.0 * r * r / m
        + 8.0 * r * (1.0 - r) / m;
    let s3 = d * (-3.0 * q * q);
    let s4 = d * (6.0 * q * q + 2.0 * eps);
    let mean = f1 * s1 + 0.5 * f2 * s2 + f3 * s3 / 6.0 + f4 * s4 / 24.0
        - d * (1.0 + r * (1.0 - r)) / (4.0 * n * (1.0 + r));
    let var = f1 * f1 * (4.0 * q + 2.0 * r * r * d / m + 8.0 * r * (1.0 - r) * d / m);
    -(log_bc_inf + mean + 0.5 * var).exp_m1()
}

/// The leading-order expansion around n = ∞ (for comparison; off by 13–400 s.e. on the
/// validation grid): `E[KL] ≈ KL_∞ + (d²/2n)κ²(1+κ²) + (d/n)[1 + κ² + κ⁴ − 1/(2(1+κ²))]`,
/// `E[KL_mean] ≈ (d/2n)[(1+κ²) + κ²/(1+κ²)]`, `q = κ²d/n`.
///
/// ```
/// use difftheory::linear::{prediction_leading, LinearParams};
/// let lam = LinearParams::lambda_for_kappa2(0.5, 1.0, 1.0);
/// let p = prediction_leading(&LinearParams::new(10, 1_000_000, 1.0, lam, 1.0, 0.0).unwrap());
/// assert!((p.kl - p.kl_inf).abs() < 1e-3);
/// ```
pub fn prediction_leading(p: &LinearParams) -> Prediction {
    let (d, n, k2) = (p.d as f64, p.n as f64, p.kappa2());
    let r = 1.0 / (1.0 + k2);
    let kl_inf = kl_infinity(p.d, k2);
    let kl = kl_inf
        + d * d / (2.0 * n) * k2 * (1.0 + k2)
        + d / n * (1.0 + k2 + k2 * k2 - 1.0 / (2.0 * (1.0 + k2)));
    let kl_mean = d / (2.0 * n) * ((1.0 + k2) + k2 / (1.0 + k2));
    let q = k2 * d / n;
    let [f1, f2, _, _] = phi_derivs(r);
    let log_bc_inf = 0.5 * d * (2.0 * r.sqrt() / (1.0 + r)).ln();
    let mean = -f1 * q + f2 * (d + 1.0) * q - d * (1.0 + r * (1.0 - r)) / (4.0 * n * (1.0 + r));
    let h2 = -(log_bc_inf + mean + 2.0 * f1 * f1 * q).exp_m1();
    Prediction {
        kappa2: k2,
        q,
        kl,
        kl_mean,
        kl_cov: kl - kl_mean,
        h2,
        kl_inf,
        h2_inf: hellinger2_infinity(p.d, k2),
    }
}
