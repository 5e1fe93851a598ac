//! KL divergence (mean and covariance parts) and squared Hellinger distance between Gaussians, in
//! log-determinant form.

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

use super::columns::{clear_avx_upper, column};
use crate::error::{Error, Result};
use crate::vecmath::dot;

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

/// Column block of the blocked `L⁻¹` in [`DivergenceWork::divergences_of_transpose`] (chosen by
/// measurement at d = 100: `benches/README.md`).
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
/// cost as much as the arithmetic (`benches/README.md`), so it factors in place.
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
