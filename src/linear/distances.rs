//! Distances between the original Gaussian, the generated Gaussian and kernel density estimates,
//! all in log-determinant form (paper 000).
//!
//! Points of a KDE are the columns of a d×N matrix.

use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{matmul as tri_matmul, BlockStructure};
use std::cell::RefCell;

use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::cholesky::llt::factor::{cholesky_in_place, cholesky_in_place_scratch};
use faer::linalg::lu::partial_pivoting::factor::{lu_in_place, lu_in_place_scratch};
use faer::linalg::triangular_solve::{
    solve_lower_triangular_in_place, solve_unit_lower_triangular_in_place,
    solve_upper_triangular_in_place,
};
use faer::{Accum, Mat, MatRef, Par, Side};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::vecmath::dot;

const LN_2PI: f64 = 1.837_877_066_409_345_3;

/// `KL(p_orig ‖ p_gen)` split into the paper's mean and covariance parts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KlParts {
    /// `½ δᵀΣ_g⁻¹δ`, δ the difference of the means.
    pub mean: f64,
    /// `½[σ² tr Σ_g⁻¹ − d + ln det Σ_g − d ln σ²]`.
    pub cov: f64,
}

impl KlParts {
    /// `mean + cov`.
    pub fn total(&self) -> f64 {
        self.mean + self.cov
    }
}

/// The divergences of `N(μ₀, σ²I)` from `N(μ₀ + δ, v W Wᵀ)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Divergences {
    /// KL with its two parts (`∞` when W is singular).
    pub kl: KlParts,
    /// Squared Hellinger distance `1 − ∫√(pq)` (1 when W is singular).
    pub h2: f64,
    /// Sign of det W (0 when singular): a negative sign means W crossed a singularity.
    pub det_sign: f64,
}

impl Divergences {
    /// The values for a singular generated covariance: `KL = ∞` (both parts), `H² = 1`, sign 0.
    pub fn singular() -> Self {
        Self {
            kl: KlParts {
                mean: f64::INFINITY,
                cov: f64::INFINITY,
            },
            h2: 1.0,
            det_sign: 0.0,
        }
    }
}

/// Divergences of `p = N(μ₀, σ²I_d)` from `q = N(μ₀ + δ, v W Wᵀ)`, W any d×d matrix:
///
/// `KL(p‖q) = ½[σ² tr Σ⁻¹ − d + δᵀΣ⁻¹δ + ln det Σ − d ln σ²]` with `tr Σ⁻¹ = ‖W⁻¹‖²_F/v`,
/// `ln det Σ = d ln v + 2 ln|det W|`; `H² = 1 − det(σ²I)^{1/4} det(Σ)^{1/4} det(Σ̄)^{-1/2}
/// exp(−⅛δᵀΣ̄⁻¹δ)`, `Σ̄ = (σ²I + Σ)/2`, evaluated as logarithms. One `S = W Wᵀ` (lower half,
/// d³ flops); `ln|det W|`, `‖W⁻¹‖²_F = tr S⁻¹` and `‖W⁻¹δ‖² = δᵀS⁻¹δ` from the Cholesky factor G
/// of S and a blocked `G⁻¹` (d³/3 + ≈ d³/3); the sign of det W from a Cholesky of the symmetric
/// part `(W + Wᵀ)/2` where that is positive definite (d³/3; then det W > 0), else from an LU of W
/// (2d³/3); one Cholesky of Σ̄ (d³/3): `≈ 2.5d³` flops at d = 100, in buffers kept per thread
/// (`DivergenceWork`). Where S is too badly conditioned for G to give `tr S⁻¹` to
/// [`GRAM_REL_ERR`] (checked through `cond S ≤ tr S·tr S⁻¹`), everything but Σ̄ is taken from the
/// LU of W instead, as `W⁻¹ = U⁻¹L⁻¹` (≈ 1.5d³ more).
/// Singular W: `KL = ∞`, `H² = 1`.
///
/// ```
/// use difftheory::linear::distances::divergences;
/// use faer::Mat;
/// // N(0, I) against N(δ, 2I) in d = 3: KL = ½[3/2 − 3 + |δ|²/2 + 3 ln 2]
/// let w = Mat::<f64>::identity(3, 3);
/// let delta = [1.0, 0.0, -1.0];
/// let dv = divergences(1.0, w.as_ref(), 2.0, &delta);
/// let want = 0.5 * (1.5 - 3.0 + 1.0 + 3.0 * 2f64.ln());
/// assert!((dv.kl.total() - want).abs() < 1e-12);
/// assert!((dv.kl.mean - 0.5).abs() < 1e-12);
/// assert!(dv.h2 > 0.0 && dv.h2 < 1.0 && dv.det_sign == 1.0);
/// ```
pub fn divergences(sigma2: f64, w: MatRef<'_, f64>, v: f64, delta: &[f64]) -> Divergences {
    DivergenceWork::with(w.nrows(), |ws| {
        ws.wt.copy_from(w.transpose());
        ws.divergences_of_transpose(sigma2, v, delta)
    })
}

/// Column block of the blocked `L⁻¹` in [`DivergenceWork::divergences_of_transpose`]: at d = 100,
/// L⁻¹ and U⁻¹ on it measured 42 µs with 32 (43 µs with 16 or 50) against 55 µs for a dense
/// solve on the identity.
const INV_BLOCK: usize = 32;

/// Largest accepted bound `d·ε·tr S·tr S⁻¹` on the relative error of `tr S⁻¹` computed from the
/// Cholesky factor of `S = W Wᵀ` (backward error of the Cholesky `≲ d·ε‖S‖`, amplified by at most
/// `cond S ≤ tr S·tr S⁻¹`); above it [`divergences`] inverts W through its LU instead. At
/// d = 100 that is `tr S·tr S⁻¹ ≤ 4.5·10⁷`: every W with `cond W ≤ 67` passes, none with
/// `cond W > 6700` (`cond S ≤ tr S·tr S⁻¹ ≤ d² cond S`). The sweeps' trials at d = 100, n ≥ 2d
/// stay below 10⁵.
pub const GRAM_REL_ERR: f64 = 1e-6;

/// Calls for which [`DivergenceWork`] skips the symmetric-part sign test after it failed (the
/// LU gives the sign then): at d = 100, κ² = 0.5 it fails in 99.5 % of the trials at n = 200 and
/// in none at n ≥ 500.
const SYM_SKIP: u32 = 16;

/// The buffers of [`divergences`] at one dimension d. The Monte Carlo evaluates it thousands of
/// times at d = 100, where faer's allocating entry points (`partial_piv_lu`, `inverse`, `llt`)
/// cost as much as the arithmetic: measured 80 µs for `partial_piv_lu` against 42 µs for the
/// in-place factorization, and `inverse()` 3× the time of the two triangular solves used here.
pub(crate) struct DivergenceWork {
    d: usize,
    /// `Wᵀ` on entry to [`Self::divergences_of_transpose`], its LU factors after.
    pub(crate) wt: Mat<f64>,
    /// Free d×d scratch for the caller (the reduced sampler's bidiagonal factor), contents unspecified.
    pub(crate) aux: Mat<f64>,
    inv: Mat<f64>,
    /// `S = W Wᵀ` (lower half), then its Cholesky factor.
    gram: Mat<f64>,
    sbar: Mat<f64>,
    rhs: Mat<f64>,
    perm: Vec<usize>,
    perm_inv: Vec<usize>,
    /// Calls left before the symmetric-part sign test is tried again.
    sym_skip: u32,
    buf: MemBuffer,
}

thread_local! {
    static DIVERGENCE_WORK: RefCell<Option<DivergenceWork>> = const { RefCell::new(None) };
}

impl DivergenceWork {
    fn new(d: usize) -> Self {
        let req = StackReq::any_of(&[
            lu_in_place_scratch::<usize, f64>(d, d, Par::Seq, Default::default()),
            cholesky_in_place_scratch::<f64>(d, Par::Seq, Default::default()),
        ]);
        Self {
            d,
            wt: Mat::zeros(d, d),
            aux: Mat::zeros(d, d),
            inv: Mat::zeros(d, d),
            gram: Mat::zeros(d, d),
            sbar: Mat::zeros(d, d),
            rhs: Mat::zeros(d, 1),
            perm: vec![0; d],
            perm_inv: vec![0; d],
            sym_skip: 0,
            buf: MemBuffer::new(req),
        }
    }

    /// Runs `f` with this thread's buffers for dimension d (made on first use or when d
    /// changes; a fresh set if the thread's are already in use).
    pub(crate) fn with<T>(d: usize, f: impl FnOnce(&mut DivergenceWork) -> T) -> T {
        DIVERGENCE_WORK.with(|cell| match cell.try_borrow_mut() {
            Ok(mut slot) => {
                if slot.as_ref().is_none_or(|ws| ws.d != d) {
                    *slot = Some(DivergenceWork::new(d));
                }
                f(slot.as_mut().expect("just filled"))
            }
            Err(_) => f(&mut DivergenceWork::new(d)),
        })
    }

    /// [`divergences`] of `N(μ₀ + δ, v W Wᵀ)` with `Wᵀ` in [`Self::wt`] (overwritten).
    pub(crate) fn divergences_of_transpose(
        &mut self,
        sigma2: f64,
        v: f64,
        delta: &[f64],
    ) -> Divergences {
        let d = self.d;
        let singular = Divergences::singular();
        // S = W Wᵀ = NᵀN with N = Wᵀ (lower half), before N is factored; Σ̄ = (σ²I + vS)/2
        tri_matmul(
            self.gram.as_mut(),
            BlockStructure::TriangularLower,
            Accum::Replace,
            self.wt.transpose(),
            BlockStructure::Rectangular,
            self.wt.as_ref(),
            BlockStructure::Rectangular,
            1.0,
            Par::Seq,
        );
        let mut tr_s = 0.0;
        for j in 0..d {
            tr_s += self.gram[(j, j)];
            for i in j..d {
                self.sbar[(i, j)] = 0.5 * v * self.gram[(i, j)];
            }
            self.sbar[(j, j)] += 0.5 * sigma2;
        }
        // ‖W⁻¹‖²_F = tr S⁻¹, ‖W⁻¹δ‖² = δᵀS⁻¹δ and |det W| from S's Cholesky factor where S is
        // well enough conditioned for it, and the sign from the symmetric part of W where that is
        // positive definite; everything from the LU of N otherwise
        let gram = self.gram_terms(tr_s, delta);
        let (sign, ln_abs_det, tr_inv, quad) = match gram {
            Some((ln_abs_det, tr_inv, quad)) => {
                let sign = if self.symmetric_part_is_positive_definite() {
                    1.0
                } else {
                    match self.lu_sign_and_ln_abs_det() {
                        Some((sign, _)) => sign,
                        None => return singular,
                    }
                };
                (sign, ln_abs_det, tr_inv, quad)
            }
            None => match self.lu_sign_and_ln_abs_det() {
                Some((sign, ln_abs_det)) => {
                    let (tr_inv, quad) = self.lu_inverse_terms(delta);
                    (sign, ln_abs_det, tr_inv, quad)
                }
                None => return singular,
            },
        };
        let w_terms = WTerms {
            sign,
            ln_abs_det,
            tr_inv,
            quad,
        };
        divergences_from_terms(d, sigma2, v, w_terms, || {
            if !cholesky_lower_in_place(&mut self.sbar, &mut self.buf) {
                return None;
            }
            let ln_det_bar: f64 = 2.0 * (0..d).map(|i| self.sbar[(i, i)].ln()).sum::<f64>();
            // δᵀΣ̄⁻¹δ = ‖L⁻¹δ‖²
            let quad_bar = lower_solve_norm2(self.sbar.as_ref(), &mut self.rhs, delta);
            Some((ln_det_bar, quad_bar))
        })
    }

    /// `(ln|det W|, tr S⁻¹, δᵀS⁻¹δ)` from the Cholesky factor `S = GGᵀ` of the Gram matrix in
    /// [`Self::gram`] (overwritten): `ln|det W| = Σ ln G_ii`, `tr S⁻¹ = ‖G⁻¹‖²_F` (a blocked
    /// triangular inverse, ≈ d³/3 flops) and `δᵀS⁻¹δ = ‖G⁻¹δ‖²`. Forming S squares the condition
    /// number of W, so the result is only returned where the bound `d·ε·tr S·tr S⁻¹ ≥ d·ε·cond S`
    /// on its relative error is below [`GRAM_REL_ERR`]; `None` (S not numerically positive
    /// definite, or that bound exceeded) sends the caller to the LU of W.
    fn gram_terms(&mut self, tr_s: f64, delta: &[f64]) -> Option<(f64, f64, f64)> {
        let d = self.d;
        if !cholesky_lower_in_place(&mut self.gram, &mut self.buf) {
            return None;
        }
        self.blocked_lower_inverse(false);
        let tr_inv = self.inv.squared_norm_l2();
        let bound = d as f64 * f64::EPSILON * tr_s * tr_inv;
        if !(bound <= GRAM_REL_ERR) {
            return None;
        }
        let ln_abs_det = (0..d).map(|i| self.gram[(i, i)].ln()).sum::<f64>();
        let quad = lower_solve_norm2(self.gram.as_ref(), &mut self.rhs, delta);
        Some((ln_abs_det, tr_inv, quad))
    }

    /// Whether `H = (W + Wᵀ)/2` (from [`Self::wt`], left intact) has a Cholesky factor, which
    /// proves `det W > 0`: for a real eigenpair `Wx = λx`, `λ|x|² = xᵀWx = xᵀHx > 0`, and the
    /// complex eigenvalues pair up into `|λ|² > 0`. Costs a d³/3 Cholesky (in [`Self::inv`])
    /// instead of the 2d³/3 LU. Where it keeps failing (small n: W far from I) the test is
    /// skipped for the next [`SYM_SKIP`] calls on this thread; which test gave the sign does not
    /// change any result.
    fn symmetric_part_is_positive_definite(&mut self) -> bool {
        if self.sym_skip > 0 {
            self.sym_skip -= 1;
            return false;
        }
        let d = self.d;
        for j in 0..d {
            let wj = column(&self.wt, j);
            for i in j..d {
                self.inv[(i, j)] = 0.5 * (wj[i] + self.wt[(j, i)]);
            }
        }
        let ok = cholesky_lower_in_place(&mut self.inv, &mut self.buf);
        if !ok {
            self.sym_skip = SYM_SKIP;
        }
        ok
    }

    /// LU `P N = L U` of [`Self::wt`] in place: `(sign det W, ln|det W|)`, `None` if singular.
    fn lu_sign_and_ln_abs_det(&mut self) -> Option<(f64, f64)> {
        let d = self.d;
        let (info, _) = lu_in_place(
            self.wt.as_mut(),
            &mut self.perm,
            &mut self.perm_inv,
            Par::Seq,
            MemStack::new(&mut self.buf),
            Default::default(),
        );
        clear_avx_upper();
        let mut ln_abs_det = 0.0;
        let mut sign = if info.transposition_count % 2 == 0 {
            1.0
        } else {
            -1.0
        };
        for i in 0..d {
            let x = self.wt[(i, i)];
            if x == 0.0 || !x.is_finite() {
                return None;
            }
            ln_abs_det += x.abs().ln();
            if x < 0.0 {
                sign = -sign;
            }
        }
        Some((sign, ln_abs_det))
    }

    /// `(‖W⁻¹‖²_F, ‖W⁻¹δ‖²)` from the LU `P N = L U` in [`Self::wt`]:
    /// `X = U⁻¹L⁻¹ = N⁻¹Pᵀ`, `‖W⁻¹‖_F = ‖X‖_F` and `‖W⁻¹δ‖ = ‖N⁻ᵀδ‖ = ‖Xᵀδ‖` (P orthogonal);
    /// `L⁻¹` blocked, then U⁻¹ applied to all of it (≈ 1.5d³ flops at d = 100).
    fn lu_inverse_terms(&mut self, delta: &[f64]) -> (f64, f64) {
        let d = self.d;
        self.blocked_lower_inverse(true);
        solve_upper_triangular_in_place(self.wt.as_ref(), self.inv.as_mut(), Par::Seq);
        clear_avx_upper();
        let tr_inv = self.inv.squared_norm_l2();
        let quad = (0..d)
            .map(|j| dot(column(&self.inv, j), delta).powi(2))
            .sum::<f64>();
        (tr_inv, quad)
    }

    /// The inverse of the lower triangle of [`Self::wt`] (`unit`: its unit lower LU factor) or of
    /// [`Self::gram`] (its Cholesky factor) into [`Self::inv`]. Columns j0.. of the inverse only
    /// involve rows j0.., so it is solved in blocks of [`INV_BLOCK`] columns against the trailing
    /// part of the factor (≈ d³/3 flops plus the blocks' upper triangles, instead of d³).
    fn blocked_lower_inverse(&mut self, unit: bool) {
        let d = self.d;
        self.inv.fill(0.0);
        self.inv.diagonal_mut().fill(1.0);
        let mut j0 = 0;
        while j0 < d {
            let w = INV_BLOCK.min(d - j0);
            let rhs = self.inv.as_mut().submatrix_mut(j0, j0, d - j0, w);
            if unit {
                let l = self.wt.as_ref().submatrix(j0, j0, d - j0, d - j0);
                solve_unit_lower_triangular_in_place(l, rhs, Par::Seq);
            } else {
                let l = self.gram.as_ref().submatrix(j0, j0, d - j0, d - j0);
                solve_lower_triangular_in_place(l, rhs, Par::Seq);
            }
            j0 += w;
        }
        clear_avx_upper();
    }
}

/// What [`divergences`] takes from W: the sign and `ln|det W|`, `‖W⁻¹‖²_F` and `‖W⁻¹δ‖²`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WTerms {
    pub(crate) sign: f64,
    pub(crate) ln_abs_det: f64,
    pub(crate) tr_inv: f64,
    pub(crate) quad: f64,
}

/// The formulas of [`divergences`] from W's terms and, where the KL is finite, Σ̄'s from `bar`:
/// `(ln det Σ̄, δᵀΣ̄⁻¹δ)`, `None` where Σ̄ is not positive definite (H² is then NaN). Shared by the
/// one-matrix path and the batched one ([`super::lanes`]).
pub(crate) fn divergences_from_terms(
    d: usize,
    sigma2: f64,
    v: f64,
    w: WTerms,
    bar: impl FnOnce() -> Option<(f64, f64)>,
) -> Divergences {
    let (tr_inv, quad) = (w.tr_inv / v, w.quad / v);
    let ln_det_sg = d as f64 * v.ln() + 2.0 * w.ln_abs_det;
    let df = d as f64;
    let kl = KlParts {
        mean: 0.5 * quad,
        cov: 0.5 * (sigma2 * tr_inv - df + ln_det_sg - df * sigma2.ln()),
    };
    if !(kl.cov.is_finite() && kl.mean.is_finite()) {
        return Divergences {
            det_sign: w.sign,
            ..Divergences::singular()
        };
    }
    let h2 = match bar() {
        Some((ln_det_bar, quad_bar)) => {
            let ln_bc =
                0.25 * df * sigma2.ln() + 0.25 * ln_det_sg - 0.5 * ln_det_bar - 0.125 * quad_bar;
            -ln_bc.exp_m1()
        }
        None => f64::NAN,
    };
    Divergences {
        kl,
        h2,
        det_sign: w.sign,
    }
}

/// Cholesky factor of the lower triangle of `m` in place (faer's, with the scratch in `buf`);
/// false where it is not numerically positive definite.
fn cholesky_lower_in_place(m: &mut Mat<f64>, buf: &mut MemBuffer) -> bool {
    let ok = cholesky_in_place(
        m.as_mut(),
        Default::default(),
        Par::Seq,
        MemStack::new(buf),
        Default::default(),
    )
    .is_ok();
    clear_avx_upper();
    ok
}

/// `‖L⁻¹δ‖²` for the lower triangle L of `l`, through the d×1 scratch `rhs`.
fn lower_solve_norm2(l: MatRef<'_, f64>, rhs: &mut Mat<f64>, delta: &[f64]) -> f64 {
    for (i, dl) in delta.iter().enumerate() {
        rhs[(i, 0)] = *dl;
    }
    solve_lower_triangular_in_place(l, rhs.as_mut(), Par::Seq);
    clear_avx_upper();
    rhs.squared_norm_l2()
}

/// KL and H² of `N(mu0, σ²I)` from `N(mean, cov)` for a general covariance (checked shapes).
/// A singular (not positive definite) `cov` gives `KL = ∞`, `H² = 1`.
///
/// ```
/// use difftheory::linear::distances::divergences_to_gaussian;
/// use faer::Mat;
/// let cov = Mat::from_fn(2, 2, |i, j| if i == j { 1.0 } else { 0.0 });
/// let dv = divergences_to_gaussian(1.0, &[0.0, 0.0], &[0.0, 0.0], cov.as_ref()).unwrap();
/// assert!(dv.kl.total().abs() < 1e-14 && dv.h2.abs() < 1e-14);
/// let zero = Mat::<f64>::zeros(2, 2);
/// let dv = divergences_to_gaussian(1.0, &[0.0, 0.0], &[0.0, 0.0], zero.as_ref()).unwrap();
/// assert!(dv.kl.total().is_infinite() && dv.h2 == 1.0);
/// ```
pub fn divergences_to_gaussian(
    sigma2: f64,
    mu0: &[f64],
    mean: &[f64],
    cov: MatRef<'_, f64>,
) -> Result<Divergences> {
    let d = mu0.len();
    if mean.len() != d || cov.nrows() != d || cov.ncols() != d {
        return Err(Error::invalid(
            "cov",
            format!("{}x{}", cov.nrows(), cov.ncols()),
            format!("expected mean of length {d} and a {d}x{d} covariance"),
        ));
    }
    crate::error::check_finite_at_least("sigma2", sigma2, 0.0, true)?;
    let delta: Vec<f64> = mean.iter().zip(mu0).map(|(m, o)| m - o).collect();
    match cov.llt(Side::Lower) {
        Ok(llt) => Ok(divergences(sigma2, llt.L(), 1.0, &delta)),
        Err(_) => Ok(Divergences::singular()),
    }
}

/// `ln Σ_k e^{x_k}` without overflow (`−∞` for an empty slice).
pub fn log_sum_exp(xs: &[f64]) -> f64 {
    let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    m + xs.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

/// `ln ∫ N(x; mean, cov) p̂(x) dx = ln (1/N) Σ_j N(x_j; mean, cov + ε²I)`: the overlap of a
/// Gaussian and the Gaussian KDE of the columns of `points` (d×N) with bandwidth ε.
/// `cov` may be singular when ε > 0. Cost `d²N + d³/3`.
///
/// ```
/// use difftheory::linear::distances::ln_gaussian_kde_overlap;
/// use faer::Mat;
/// // one point at the mean, cov = 0, ε = 1 in d = 1: N(0; 0, 1)
/// let pts = Mat::<f64>::zeros(1, 1);
/// let v = ln_gaussian_kde_overlap(&[0.0], Mat::<f64>::zeros(1, 1).as_ref(), pts.as_ref(), 1.0).unwrap();
/// assert!((v + 0.5 * (2.0 * std::f64::consts::PI).ln()).abs() < 1e-14);
/// ```
pub fn ln_gaussian_kde_overlap(
    mean: &[f64],
    cov: MatRef<'_, f64>,
    points: MatRef<'_, f64>,
    eps: f64,
) -> Result<f64> {
    let (d, n) = (points.nrows(), points.ncols());
    if mean.len() != d || cov.nrows() != d || cov.ncols() != d || n == 0 {
        return Err(Error::invalid(
            "points",
            format!("{d}x{n}"),
            format!(
                "expected d×N points (N >= 1) matching a mean of length {} and a covariance {}x{}",
                mean.len(),
                cov.nrows(),
                cov.ncols()
            ),
        ));
    }
    let mut c = cov.to_owned();
    for i in 0..d {
        c[(i, i)] += eps * eps;
    }
    let llt = c.llt(Side::Lower).map_err(|_| {
        Error::invalid(
            "cov",
            "not positive definite",
            "cov + eps² I must be positive definite (eps > 0 or a nonsingular cov)",
        )
    })?;
    let l = llt.L();
    let ln_det: f64 = 2.0 * (0..d).map(|i| l[(i, i)].ln()).sum::<f64>();
    let mut z = Mat::from_fn(d, n, |i, j| points[(i, j)] - mean[i]);
    solve_lower_triangular_in_place(l, z.as_mut(), Par::Seq);
    clear_avx_upper();
    let e: Vec<f64> = (0..n).map(|j| -0.5 * z.col(j).squared_norm_l2()).collect();
    Ok(log_sum_exp(&e) - (n as f64).ln() - 0.5 * (d as f64 * LN_2PI + ln_det))
}

/// `ln ∫ p̂² = ln (1/N²) Σ_{i,j} N(x_i − x_j; 0, 2ε²I)`: the self-overlap of the Gaussian KDE of
/// the columns of `points` (d×N), bandwidth ε. Blocked Gram products, parallel over blocks:
/// `N²d` flops.
///
/// ```
/// use difftheory::linear::distances::ln_kde_self_overlap;
/// use faer::Mat;
/// // one point in d = 2: N(0; 0, 2ε²I) = 1/(4πε²)
/// let v = ln_kde_self_overlap(Mat::<f64>::zeros(2, 1).as_ref(), 0.5).unwrap();
/// assert!((v + (std::f64::consts::PI).ln()).abs() < 1e-14);
/// ```
pub fn ln_kde_self_overlap(points: MatRef<'_, f64>, eps: f64) -> Result<f64> {
    let (d, n) = (points.nrows(), points.ncols());
    if n == 0 || d == 0 {
        return Err(Error::invalid(
            "points",
            format!("{d}x{n}"),
            "expected at least one point in d >= 1",
        ));
    }
    crate::error::check_finite_at_least("eps", eps, 0.0, true)?;
    let scale = 1.0 / (4.0 * eps * eps);
    // Σ_{ij} exp(−|x_i − x_j|²/(4ε²)): every term <= 1 and the diagonal gives N, so no overflow
    let sum = pair_kernel_sum(points, |d2| (-d2 * scale).exp());
    let df = d as f64;
    Ok(sum.ln() - 2.0 * (n as f64).ln() - 0.5 * df * (4.0 * std::f64::consts::PI * eps * eps).ln())
}

/// `Σ_{i,j} f(|x_i − x_j|²)` over all ordered pairs (i = j included) of the columns of `points`.
pub(crate) fn pair_kernel_sum(points: MatRef<'_, f64>, f: impl Fn(f64) -> f64 + Sync) -> f64 {
    let n = points.ncols();
    let norms: Vec<f64> = (0..n).map(|j| points.col(j).squared_norm_l2()).collect();
    let block = 256;
    let blocks: Vec<usize> = (0..n).step_by(block).collect();
    blocks
        .par_iter()
        .map(|&i0| {
            let bi = block.min(n - i0);
            let rows = points.subcols(i0, bi);
            let mut g = Mat::<f64>::zeros(bi, n);
            matmul(
                g.as_mut(),
                Accum::Replace,
                rows.transpose(),
                points,
                1.0,
                Par::Seq,
            );
            clear_avx_upper();
            let mut s = 0.0;
            for j in 0..n {
                for i in 0..bi {
                    let d2 = (norms[i0 + i] + norms[j] - 2.0 * g[(i, j)]).max(0.0);
                    s += f(if i0 + i == j { 0.0 } else { d2 });
                }
            }
            s
        })
        .sum()
}

/// `∫ N(x; m, Σ)² dx = (4π)^{-d/2} det Σ^{-1/2}`, as a logarithm (`∞` for a singular Σ).
pub fn ln_gaussian_self_overlap(cov: MatRef<'_, f64>) -> f64 {
    let d = cov.nrows();
    match cov.llt(Side::Lower) {
        Ok(llt) => {
            let l = llt.L();
            let ln_det: f64 = 2.0 * (0..d).map(|i| l[(i, i)].ln()).sum::<f64>();
            -0.5 * (d as f64 * (4.0 * std::f64::consts::PI).ln() + ln_det)
        }
        Err(_) => f64::INFINITY,
    }
}

/// The squared-L² distance `∫(p − p̂)² = ∫p² − 2∫p p̂ + ∫p̂²` between a Gaussian p and a KDE p̂,
/// each term kept as a logarithm (at d = 100 they are of order e^{±100}).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct L2Parts {
    /// `ln ∫p²`.
    pub ln_gauss_gauss: f64,
    /// `ln ∫p p̂`.
    pub ln_gauss_kde: f64,
    /// `ln ∫p̂²`.
    pub ln_kde_kde: f64,
}

impl L2Parts {
    /// `∫(p − p̂)²` (may overflow to ∞ in high dimension; differences of parts are what matter).
    pub fn value(&self) -> f64 {
        self.ln_gauss_gauss.exp() - 2.0 * self.ln_gauss_kde.exp() + self.ln_kde_kde.exp()
    }
}

/// The closed-form squared-L² distance between `N(mean, cov)` and the KDE of `points` (d×N,
/// bandwidth ε): three Gaussian-overlap sums.
///
/// ```
/// use difftheory::linear::distances::l2_sq_gaussian_kde;
/// use faer::Mat;
/// // d = 1: N(0, 1) against one kernel N(0, ε² = 1) at 0: they are equal, distance 0
/// let cov = Mat::from_fn(1, 1, |_, _| 1.0);
/// let l2 = l2_sq_gaussian_kde(&[0.0], cov.as_ref(), Mat::<f64>::zeros(1, 1).as_ref(), 1.0).unwrap();
/// assert!(l2.value().abs() < 1e-15);
/// ```
pub fn l2_sq_gaussian_kde(
    mean: &[f64],
    cov: MatRef<'_, f64>,
    points: MatRef<'_, f64>,
    eps: f64,
) -> Result<L2Parts> {
    Ok(L2Parts {
        ln_gauss_gauss: ln_gaussian_self_overlap(cov),
        ln_gauss_kde: ln_gaussian_kde_overlap(mean, cov, points, eps)?,
        ln_kde_kde: ln_kde_self_overlap(points, eps)?,
    })
}

/// The element-wise metric of the non-linear experiments: `D_el(p, q) = (1/d) Σ_k ∫(p_k − q_k)²`,
/// `p_k` the 1-D Gaussian KDE of coordinate k of the columns of `p` (d×N_p) with bandwidth
/// `σ_k/N_p` (σ_k the unbiased sample deviation of that coordinate: the `σN^{-1/d}` rule at d = 1),
/// likewise `q_k`. Closed form: `S_pp − 2S_pq + S_qq`, `S_ab = (1/N_aN_b) Σ_ij N(a_i − b_j; 0,
/// h_a² + h_b²)`. Computed through [`ElementwiseKde`] (sorted coordinates, pairs closer than
/// 38.7 kernel widths, exact in f64); to compare many sets with one reference, build the
/// reference's [`ElementwiseKde`] once and call [`elementwise_l2_kde`].
///
/// ```
/// use difftheory::linear::distances::elementwise_l2;
/// use faer::Mat;
/// let p = Mat::from_fn(2, 3, |i, j| (i + 2 * j) as f64);
/// assert!(elementwise_l2(p.as_ref(), p.as_ref()).unwrap().abs() < 1e-12);
/// ```
pub fn elementwise_l2(p: MatRef<'_, f64>, q: MatRef<'_, f64>) -> Result<f64> {
    if q.nrows() != p.nrows() {
        return Err(Error::invalid(
            "q",
            format!("{}x{}", q.nrows(), q.ncols()),
            format!(
                "expected two d×N sample sets with the same d = {} and N >= 2 each",
                p.nrows()
            ),
        ));
    }
    elementwise_l2_kde(&ElementwiseKde::new(p)?, &ElementwiseKde::new(q)?)
}

/// The per-coordinate 1-D KDEs of a sample set (d×N, one point per column) for the element-wise
/// metric: each coordinate's values sorted, its bandwidth `σ_k/N` and its self-overlap `S_kk`
/// computed once.
#[derive(Debug, Clone)]
pub struct ElementwiseKde {
    sorted: Vec<Vec<f64>>,
    bandwidth: Vec<f64>,
    self_overlap: Vec<f64>,
}

/// `exp(−x)` is exactly 0 in f64 for x > 745.2: pairs with `Δ²/(2v)` above this add nothing.
const KDE_CUTOFF: f64 = 750.0;

/// `(1/N_aN_b) Σ_ij N(a_i − b_j; 0, v)` over sorted `a` and `b`, visiting only the pairs with
/// `(a_i − b_j)² ≤ 2 v KDE_CUTOFF` (the others are 0 in f64): O(N_a + N_b + close pairs).
fn sorted_overlap(a: &[f64], b: &[f64], v: f64) -> f64 {
    let w = (2.0 * v * KDE_CUTOFF).sqrt();
    let mut lo = 0;
    let mut s = 0.0;
    for &x in a {
        while lo < b.len() && b[lo] < x - w {
            lo += 1;
        }
        for &y in &b[lo..] {
            if y > x + w {
                break;
            }
            s += (-(x - y) * (x - y) / (2.0 * v)).exp();
        }
    }
    s / (2.0 * std::f64::consts::PI * v).sqrt() / (a.len() * b.len()) as f64
}

impl ElementwiseKde {
    /// The KDEs of the columns of `points` (d×N, N ≥ 2, every coordinate with a nonzero spread).
    pub fn new(points: MatRef<'_, f64>) -> Result<Self> {
        let (d, n) = (points.nrows(), points.ncols());
        if d == 0 || n < 2 {
            return Err(Error::invalid(
                "samples",
                format!("{d}x{n}"),
                "expected a d×N sample set with d >= 1 and N >= 2 points (columns)",
            ));
        }
        let (mut sorted, mut bandwidth, mut self_overlap) = (vec![], vec![], vec![]);
        for k in 0..d {
            let mut row: Vec<f64> = (0..n).map(|j| points[(k, j)]).collect();
            if let Some(j) = row.iter().position(|x| !x.is_finite()) {
                return Err(Error::invalid(
                    "samples",
                    format!("coordinate {k} of point {j} = {}", row[j]),
                    "every value must be finite",
                ));
            }
            let mean = row.iter().sum::<f64>() / n as f64;
            let var = row.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0);
            let h = var.sqrt() / n as f64;
            if h == 0.0 {
                return Err(Error::invalid(
                    "samples",
                    format!("coordinate {k}"),
                    "every coordinate needs a nonzero spread (its bandwidth is σ_k/N)",
                ));
            }
            row.sort_by(f64::total_cmp);
            self_overlap.push(sorted_overlap(&row, &row, 2.0 * h * h));
            sorted.push(row);
            bandwidth.push(h);
        }
        Ok(Self {
            sorted,
            bandwidth,
            self_overlap,
        })
    }

    /// Coordinates d.
    pub fn dim(&self) -> usize {
        self.sorted.len()
    }

    /// Points N.
    pub fn len(&self) -> usize {
        self.sorted[0].len()
    }

    /// Always false (a KDE holds at least two points).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The bandwidth `σ_k/N` of coordinate k.
    pub fn bandwidth(&self, k: usize) -> f64 {
        self.bandwidth[k]
    }
}

/// [`elementwise_l2`] between two prepared KDEs (of the same dimension).
pub fn elementwise_l2_kde(p: &ElementwiseKde, q: &ElementwiseKde) -> Result<f64> {
    if p.dim() != q.dim() {
        return Err(Error::invalid(
            "q",
            format!("{} coordinates", q.dim()),
            format!("expected the same d = {} as p", p.dim()),
        ));
    }
    let total: f64 = (0..p.dim())
        .map(|k| {
            let v = p.bandwidth[k].powi(2) + q.bandwidth[k].powi(2);
            p.self_overlap[k] - 2.0 * sorted_overlap(&p.sorted[k], &q.sorted[k], v)
                + q.self_overlap[k]
        })
        .sum();
    Ok(total / p.dim() as f64)
}

/// Column j of an owned (column-major) matrix as a slice.
pub(crate) fn column(m: &Mat<f64>, j: usize) -> &[f64] {
    m.col(j)
        .try_as_col_major()
        .expect("an owned matrix has contiguous columns")
        .as_slice()
}

/// Column j of an owned (column-major) matrix as a mutable slice.
pub(crate) fn column_mut(m: &mut Mat<f64>, j: usize) -> &mut [f64] {
    m.col_mut(j)
        .try_as_col_major_mut()
        .expect("an owned matrix has contiguous columns")
        .as_slice_mut()
}

/// Every column of an owned (column-major) matrix as a mutable slice.
pub(crate) fn columns_mut(m: &mut Mat<f64>) -> Vec<&mut [f64]> {
    m.col_iter_mut()
        .map(|c| {
            c.try_as_col_major_mut()
                .expect("an owned matrix has contiguous columns")
                .as_slice_mut()
        })
        .collect()
}

/// Clears the upper halves of the AVX registers (`vzeroupper`) after faer's AVX kernels.
///
/// faer's kernels can return with the upper register halves dirty; the scalar code that follows
/// (compiled for baseline x86-64, SSE encoding) and libm's `exp` then pay an AVX–SSE transition
/// penalty on every instruction: measured here as `exp` taking ~150 ns instead of ~5 ns in the
/// KDE pair sums. Call it once after a faer call that is followed by a long scalar loop.
#[inline]
pub(crate) fn clear_avx_upper() {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx")]
        unsafe fn zero_upper() {
            std::arch::x86_64::_mm256_zeroupper();
        }
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU supports AVX (checked at run time); vzeroupper only clears the
            // upper halves of the vector registers, which no live Rust value occupies here.
            unsafe { zero_upper() }
        }
    }
}
