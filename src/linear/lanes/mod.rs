//! Eight Monte Carlo trials at once, one per SIMD lane: the reduced sampler and [`divergences`]
//! for a batch of independent d×d matrices (paper 000, issue 3's benchmark).
//!
//! A single trial at d = 100 is a chain of d³-flop kernels (syrk, three Cholesky factorizations, a
//! triangular inverse) on 80 KB matrices; faer runs them at a fraction of the machine's peak
//! because a d = 100 Cholesky or triangular solve is bound by its panels, not by its GEMM. Here
//! the matrices of [`LANES`] trials are interleaved element by element (`(i, j)` of lane l at
//! `(j·dp + i)·LANES + l`, `dp` = d rounded up to a multiple of 4), so that every scalar operation
//! of the unblocked algorithms becomes one vector operation on the eight trials, with no pivoting
//! or shuffles (the batch layout of MKL's "compact" routines). The kernels are written once on
//! `[f64; 8]` and compiled three times: with AVX-512 (4×4 register tiles of 512-bit vectors),
//! with AVX2 + FMA (2×2 tiles) and without either; which one runs is decided at run time.
//!
//! **Results do not depend on the batch or the instruction set**: a lane's arithmetic is the same
//! sequence of fused multiply-adds in every build and whatever the other lanes hold (tile shapes
//! change which elements are computed together, never the order of one element's sum), and a
//! lane only takes a different route (the per-trial LU path of [`divergences`]) because of its own
//! values. They agree with the one-trial [`trial_reduced`] for the same seed to rounding
//! (the same draws, other rounding in the kernels: see the tests).
//!
//! Route per lane, as in [`divergences`]: `S = NᵀN` with `N = Wᵀ`, its upper Cholesky factor
//! `S = UᵀU`, `tr S⁻¹ = ‖U⁻ᵀ‖²_F` (a blocked forward substitution), `δᵀS⁻¹δ = ‖U⁻ᵀδ‖²`,
//! `ln|det W| = Σ ln U_ii`, the sign of det W from a Cholesky of `(W + Wᵀ)/2` (positive definite ⇒
//! `det W > 0`) or else from an LU with partial pivoting (per-lane row swaps), and the Cholesky of
//! `Σ̄`. A lane whose S is not numerically positive definite, fails the [`GRAM_REL_ERR`] bound or
//! meets a zero pivot in the sign's LU is recomputed alone by [`divergences`]' LU route.
//! Padding rows and columns (d not a multiple of 4) hold the identity; their exact contributions
//! (1 to each trace, `ln((σ² + v)/2)` to `ln det Σ̄`) are subtracted.
//!
//! [`divergences`]: super::distances::divergences
//! [`trial_reduced`]: super::monte_carlo::trial_reduced

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use rand::Rng;

use super::distances::{divergences_from_terms, DivergenceWork, Divergences, WTerms, GRAM_REL_ERR};
use super::draws::{self, trial_stream};
use super::model::LinearParams;
use crate::error::{Error, Result};
use crate::rng::PathRng;
use faer::MatRef;

mod kernels;
use kernels::{cholesky_upper, inverse_norm2, lu_sign, solve_norm2, syrk_upper, V};

/// Trials per batch: one per lane of a 512-bit vector of f64.
pub const LANES: usize = 8;

/// Batches for which the symmetric-part sign test is skipped after it failed in some lane (the
/// LU then gives every lane's sign): at d = 100, κ² = 0.5 it fails in 99.5 % of the trials at
/// n = 200 and in none at n ≥ 500.
const SYM_SKIP: u32 = 4;

/// What the batched kernels have done in this process (all threads): trials, and the trials that
/// went through each sign test or were recomputed alone. A batch counts all its trials for the
/// sign factorizations it ran; lanes of a partial batch that hold no trial are not counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelCounts {
    /// Batches run.
    pub batches: u64,
    /// Trials in them.
    pub trials: u64,
    /// Trials in batches that ran the symmetric-part Cholesky (d³/3 flops each).
    pub sym_test_trials: u64,
    /// Trials in batches that ran the LU for the sign (2d³/3 flops each).
    pub lu_trials: u64,
    /// Trials recomputed alone on the LU route of `divergences` (S too badly conditioned).
    pub alone_trials: u64,
}

impl KernelCounts {
    /// The counts since `earlier`.
    pub fn since(&self, earlier: &KernelCounts) -> KernelCounts {
        KernelCounts {
            batches: self.batches - earlier.batches,
            trials: self.trials - earlier.trials,
            sym_test_trials: self.sym_test_trials - earlier.sym_test_trials,
            lu_trials: self.lu_trials - earlier.lu_trials,
            alone_trials: self.alone_trials - earlier.alone_trials,
        }
    }
}

static COUNTS: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];

fn count(k: usize, by: usize) {
    COUNTS[k].fetch_add(by as u64, Ordering::Relaxed);
}

/// The [`KernelCounts`] so far.
pub fn kernel_counts() -> KernelCounts {
    let c = |k: usize| COUNTS[k].load(Ordering::Relaxed);
    KernelCounts {
        batches: c(0),
        trials: c(1),
        sym_test_trials: c(2),
        lu_trials: c(3),
        alone_trials: c(4),
    }
}

/// The buffers of one thread's batches at one dimension.
struct LaneWork {
    d: usize,
    dp: usize,
    /// `N = Wᵀ` of every lane (kept intact for the per-lane fallback).
    n: Vec<V>,
    /// S, then its Cholesky factor U.
    u: Vec<V>,
    /// Σ̄ and its Cholesky factor, then the symmetric part of W and its, then the LU of N.
    sbar: Vec<V>,
    /// One block column of U⁻ᵀ (4·dp).
    y: Vec<V>,
    delta: Vec<V>,
    x: Vec<V>,
    rinv: Vec<V>,
    /// The reduced sampler's bidiagonal factor: diagonal, superdiagonal, 1/diagonal.
    bd: Vec<V>,
    bs: Vec<V>,
    bi: Vec<V>,
    sym_skip: u32,
}

thread_local! {
    static LANE_WORK: RefCell<Option<LaneWork>> = const { RefCell::new(None) };
}

impl LaneWork {
    fn new(d: usize) -> Self {
        let dp = d.div_ceil(4) * 4;
        let mat = || vec![V::ZERO; dp * dp];
        let vec = || vec![V::ZERO; dp];
        Self {
            d,
            dp,
            n: mat(),
            u: mat(),
            sbar: mat(),
            y: vec![V::ZERO; 4 * dp],
            delta: vec(),
            x: vec(),
            rinv: vec(),
            bd: vec(),
            bs: vec(),
            bi: vec(),
            sym_skip: 0,
        }
    }

    fn with<T>(d: usize, f: impl FnOnce(&mut LaneWork) -> T) -> T {
        LANE_WORK.with(|cell| match cell.try_borrow_mut() {
            Ok(mut slot) => {
                if slot.as_ref().is_none_or(|w| w.d != d) {
                    *slot = Some(LaneWork::new(d));
                }
                f(slot.as_mut().expect("just filled"))
            }
            Err(_) => f(&mut LaneWork::new(d)),
        })
    }

    /// N = I (every lane, padding included) and δ = 0.
    fn reset(&mut self) {
        let dp = self.dp;
        self.n.fill(V::ZERO);
        for i in 0..dp {
            self.n[i * dp + i] = V::splat(1.0);
        }
        self.delta.fill(V::ZERO);
    }
}

/// The instruction set the kernels were compiled for, chosen once per call.
#[derive(Clone, Copy)]
enum Isa {
    #[cfg(target_arch = "x86_64")]
    Avx512,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    Portable,
}

/// Environment variable that caps the instruction set of the batched kernels: `avx2` or
/// `portable` (any other value, or none: the best the CPU has). The results are the same bit for
/// bit either way; it exists to test that and to measure what the vectors bring.
pub const SIMD_ENV: &str = "DIFFTHEORY_SIMD";

fn isa() -> Isa {
    let cap = std::env::var(SIMD_ENV).unwrap_or_default();
    if cap == "portable" {
        return Isa::Portable;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if cap != "avx2" && std::arch::is_x86_feature_detected!("avx512f") {
            return Isa::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Isa::Avx2;
        }
    }
    Isa::Portable
}

/// What the batched kernels give a lane before the per-lane assembly.
struct LaneTerms {
    /// False: recompute this lane alone.
    ok: [bool; LANES],
    sign: V,
    ln_abs_det: V,
    tr_inv: V,
    quad: V,
    /// Σ̄ positive definite.
    bar_ok: [bool; LANES],
    ln_det_bar: V,
    quad_bar: V,
}

/// The batched kernels on `w.n`, `w.delta` for `active` lanes (the others hold N = I, δ = 0).
#[inline(always)]
fn lane_terms<const T: usize>(w: &mut LaneWork, sigma2: f64, v: V, active: usize) -> LaneTerms {
    let (d, dp) = (w.d, w.dp);
    let pad = (dp - d) as f64;
    syrk_upper::<T>(&w.n, &mut w.u, dp);
    let mut tr_s = V::ZERO;
    let half_v = v * V::splat(0.5);
    for j in 0..dp {
        tr_s = tr_s + w.u[j * dp + j];
        for i in 0..=j {
            w.sbar[j * dp + i] = half_v * w.u[j * dp + i];
        }
        w.sbar[j * dp + j] = w.sbar[j * dp + j] + V::splat(0.5 * sigma2);
    }
    let tr_s = tr_s - V::splat(pad);
    // Σ̄ first, so that its buffer is free for the sign's factorizations
    let mut bar_ok = [true; LANES];
    cholesky_upper::<T>(&mut w.sbar, &mut w.rinv, dp, &mut bar_ok);
    let pad_bar = (v + V::splat(sigma2)).map(|x| pad * (0.5 * x).ln());
    let ln_det_bar =
        (0..dp).fold(V::ZERO, |s, i| s + w.sbar[i * dp + i].map(f64::ln)) * V::splat(2.0) - pad_bar;
    let quad_bar = solve_norm2(&w.sbar, &w.rinv, &w.delta, &mut w.x, dp);
    let mut ok = [true; LANES];
    cholesky_upper::<T>(&mut w.u, &mut w.rinv, dp, &mut ok);
    let tr_inv = inverse_norm2::<T>(&w.u, &w.rinv, &mut w.y, &mut w.x, dp) - V::splat(pad);
    for l in 0..LANES {
        let bound = d as f64 * f64::EPSILON * tr_s.0[l] * tr_inv.0[l];
        if !(bound <= GRAM_REL_ERR) {
            ok[l] = false;
        }
    }
    let ln_abs_det = (0..dp).fold(V::ZERO, |s, i| s + w.u[i * dp + i].map(f64::ln));
    let quad = solve_norm2(&w.u, &w.rinv, &w.delta, &mut w.x, dp);
    // sign of det W: the symmetric part's Cholesky, else the LU (both in Σ̄'s buffer)
    let mut sym_ok = [false; LANES];
    let tried = w.sym_skip == 0;
    if tried {
        for j in 0..dp {
            for i in 0..=j {
                w.sbar[j * dp + i] = (w.n[j * dp + i] + w.n[i * dp + j]) * V::splat(0.5);
            }
        }
        sym_ok = [true; LANES];
        cholesky_upper::<T>(&mut w.sbar, &mut w.rinv, dp, &mut sym_ok);
        count(2, active);
    } else {
        w.sym_skip -= 1;
    }
    let mut sign = V::splat(1.0);
    if (0..active).any(|l| ok[l] && !sym_ok[l]) {
        if tried {
            w.sym_skip = SYM_SKIP;
        }
        w.sbar.copy_from_slice(&w.n);
        let mut lu_ok = [true; LANES];
        let lu = lu_sign::<T>(&mut w.sbar, dp, &mut lu_ok);
        count(3, active);
        for l in 0..LANES {
            if !sym_ok[l] {
                sign.0[l] = lu.0[l];
                ok[l] &= lu_ok[l];
            }
        }
    }
    LaneTerms {
        ok,
        sign,
        ln_abs_det,
        tr_inv,
        quad,
        bar_ok,
        ln_det_bar,
        quad_bar,
    }
}

/// [`reduced_algebra`] where `draws` are given (v is then its result), then [`lane_terms`].
#[inline(always)]
fn kernels<const T: usize>(
    w: &mut LaneWork,
    sigma2: f64,
    v: V,
    draws: Option<&ReducedDraws>,
    active: usize,
) -> (LaneTerms, V) {
    let v = match draws {
        Some(dr) => reduced_algebra(w, dr),
        None => v,
    };
    (lane_terms::<T>(w, sigma2, v, active), v)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn kernels_avx512(
    w: &mut LaneWork,
    sigma2: f64,
    v: V,
    draws: Option<&ReducedDraws>,
    active: usize,
) -> (LaneTerms, V) {
    kernels::<4>(w, sigma2, v, draws, active)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn kernels_avx2(
    w: &mut LaneWork,
    sigma2: f64,
    v: V,
    draws: Option<&ReducedDraws>,
    active: usize,
) -> (LaneTerms, V) {
    kernels::<2>(w, sigma2, v, draws, active)
}

/// Without FMA in hardware (x86-64 before 2013) `mul_add` is a library call and this build is
/// ~20× slower than the vector ones; on aarch64 it compiles to the vector FMA.
fn kernels_portable(
    w: &mut LaneWork,
    sigma2: f64,
    v: V,
    draws: Option<&ReducedDraws>,
    active: usize,
) -> (LaneTerms, V) {
    kernels::<2>(w, sigma2, v, draws, active)
}

/// The divergences of every active lane of `w` (`N`, `δ` filled): [`lane_terms`] on the best
/// instruction set, then the per-lane formulas of [`divergences`](super::distances::divergences)
/// (or its LU route for a lane the batch could not take).
fn lane_divergences(
    w: &mut LaneWork,
    sigma2: f64,
    v: V,
    draws: Option<&ReducedDraws>,
    active: usize,
) -> Vec<Divergences> {
    let (t, v) = match isa() {
        // SAFETY: the CPU has the features these functions were compiled for (checked by isa()).
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { kernels_avx512(w, sigma2, v, draws, active) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { kernels_avx2(w, sigma2, v, draws, active) },
        Isa::Portable => kernels_portable(w, sigma2, v, draws, active),
    };
    super::distances::clear_avx_upper();
    count(0, 1);
    count(1, active);
    count(4, (0..active).filter(|&l| !t.ok[l]).count());
    let (d, dp) = (w.d, w.dp);
    (0..active)
        .map(|l| {
            let vl = v.0[l];
            if !t.ok[l] {
                let delta: Vec<f64> = (0..d).map(|i| w.delta[i].0[l]).collect();
                return DivergenceWork::with(d, |ws| {
                    for j in 0..d {
                        for i in 0..d {
                            ws.wt[(i, j)] = w.n[j * dp + i].0[l];
                        }
                    }
                    ws.divergences_of_transpose(sigma2, vl, &delta)
                });
            }
            let w_terms = WTerms {
                sign: t.sign.0[l],
                ln_abs_det: t.ln_abs_det.0[l],
                tr_inv: t.tr_inv.0[l],
                quad: t.quad.0[l],
            };
            divergences_from_terms(d, sigma2, vl, w_terms, || {
                t.bar_ok[l].then(|| (t.ln_det_bar.0[l], t.quad_bar.0[l]))
            })
        })
        .collect()
}

/// [`divergences`](super::distances::divergences) of `N(μ₀, σ²I)` from `N(μ₀ + δ_l, v_l W_l W_lᵀ)`
/// for every l, [`LANES`] matrices at a time (same values to rounding; shapes checked).
///
/// ```
/// use difftheory::linear::distances::divergences;
/// use difftheory::linear::lanes::divergences_batch;
/// use faer::Mat;
/// let ws: Vec<Mat<f64>> = (0..3)
///     .map(|k| Mat::from_fn(5, 5, |i, j| if i == j { 1.0 + k as f64 } else { 0.1 * (i + 2 * j) as f64 }))
///     .collect();
/// let deltas = vec![vec![0.5; 5]; 3];
/// let vs = [1.0, 2.0, 0.5];
/// let refs: Vec<_> = ws.iter().map(|w| w.as_ref()).collect();
/// let dref: Vec<&[f64]> = deltas.iter().map(|d| d.as_slice()).collect();
/// let batch = divergences_batch(0.8, &refs, &vs, &dref).unwrap();
/// for k in 0..3 {
///     let one = divergences(0.8, ws[k].as_ref(), vs[k], &deltas[k]);
///     assert!((batch[k].kl.total() - one.kl.total()).abs() < 1e-12 * one.kl.total().abs());
///     assert_eq!(batch[k].det_sign, one.det_sign);
/// }
/// ```
pub fn divergences_batch(
    sigma2: f64,
    w: &[MatRef<'_, f64>],
    v: &[f64],
    delta: &[&[f64]],
) -> Result<Vec<Divergences>> {
    let Some(d) = w.first().map(|m| m.nrows()) else {
        return Ok(Vec::new());
    };
    if v.len() != w.len() || delta.len() != w.len() {
        return Err(Error::invalid(
            "batch",
            format!(
                "{} matrices, {} scales, {} shifts",
                w.len(),
                v.len(),
                delta.len()
            ),
            "one scale v and one shift δ per matrix",
        ));
    }
    if let Some(k) =
        (0..w.len()).find(|&k| w[k].nrows() != d || w[k].ncols() != d || delta[k].len() != d)
    {
        return Err(Error::invalid(
            "batch",
            format!(
                "matrix {k} is {}×{} with a shift of length {}",
                w[k].nrows(),
                w[k].ncols(),
                delta[k].len()
            ),
            format!("every W square of the first one's size {d}, every δ of length {d}"),
        ));
    }
    let mut out = Vec::with_capacity(w.len());
    LaneWork::with(d, |lw| {
        let dp = lw.dp;
        for start in (0..w.len()).step_by(LANES) {
            let active = LANES.min(w.len() - start);
            lw.reset();
            let mut vv = V::splat(1.0);
            for l in 0..active {
                let (wk, dk) = (w[start + l], delta[start + l]);
                vv.0[l] = v[start + l];
                for j in 0..d {
                    for i in 0..d {
                        lw.n[j * dp + i].0[l] = wk[(j, i)];
                    }
                    lw.delta[j].0[l] = dk[j];
                }
            }
            out.extend(lane_divergences(lw, sigma2, vv, None, active));
        }
    });
    Ok(out)
}

/// [`trial_reduced`](super::monte_carlo::trial_reduced) for one trial per generator in `rngs`,
/// [`LANES`] at a time: lane l draws exactly what `trial_reduced(p, &mut rngs[l])` draws, and its
/// result agrees with it to rounding whatever the other lanes hold.
///
/// ```
/// use difftheory::linear::lanes::trials_reduced;
/// use difftheory::linear::monte_carlo::trial_reduced;
/// use difftheory::linear::LinearParams;
/// use difftheory::rng::rng_from_seed;
/// let p = LinearParams::new(12, 60, 1.0, 0.1, 1.0, 0.0).unwrap();
/// let mut rngs: Vec<_> = (0..5).map(rng_from_seed).collect();
/// let batch = trials_reduced(&p, &mut rngs).unwrap();
/// for (k, b) in batch.iter().enumerate() {
///     let one = trial_reduced(&p, &mut rng_from_seed(k as u64)).unwrap();
///     assert!((b.kl.total() - one.kl.total()).abs() < 1e-11 * one.kl.total());
///     assert!((b.h2 - one.h2).abs() < 1e-11);
/// }
/// ```
pub fn trials_reduced<R: Rng>(p: &LinearParams, rngs: &mut [R]) -> Result<Vec<Divergences>> {
    let (d, n) = (p.d, p.n);
    if n <= d {
        return Ok(vec![Divergences::singular(); rngs.len()]);
    }
    let m = n - 1;
    let k2 = p.kappa2();
    let kap = k2.sqrt();
    let r = 1.0 / (1.0 + k2);
    let mut out = Vec::with_capacity(rngs.len());
    LaneWork::with(d, |w| {
        let dp = w.dp;
        for batch in rngs.chunks_mut(LANES) {
            let active = batch.len();
            let mut streams: Vec<PathRng> = batch.iter_mut().map(|g| trial_stream(g)).collect();
            w.reset();
            // unused lanes: B = I, Ξ′ = 0, so N = I and δ = 0
            w.bd.fill(V::splat(1.0));
            w.bs.fill(V::ZERO);
            // each lane draws in trial_reduced's order (super::draws): B, Ξ′, then the tail
            for (l, g) in streams.iter_mut().enumerate() {
                draws::bidiagonal(g, d, m, |i, diag, sup| {
                    w.bd[i].0[l] = diag;
                    w.bs[i].0[l] = sup;
                });
            }
            // element-major: the eight streams interleave (independent chains)
            draws::xi(&mut streams, d, |j, i, l, x| w.n[j * dp + i].0[l] = x);
            let mut dr = ReducedDraws {
                gbar: vec![V::ZERO; d],
                zbar: vec![V::ZERO; d],
                chi_perp: V::ZERO,
                m,
                kap,
                r,
            };
            for (l, g) in streams.iter_mut().enumerate() {
                dr.chi_perp.0[l] = draws::tail(
                    g,
                    d,
                    m,
                    n,
                    |i, x| dr.gbar[i].0[l] = x,
                    |i, x| dr.zbar[i].0[l] = x,
                );
            }
            let out_lanes = lane_divergences(w, 1.0, V::ZERO, Some(&dr), active);
            out.extend(out_lanes);
        }
    });
    Ok(out)
}

/// The reduced sampler's draws of one batch besides B and Ξ′ (which are in [`LaneWork`]).
struct ReducedDraws {
    gbar: Vec<V>,
    zbar: Vec<V>,
    chi_perp: V,
    m: usize,
    kap: f64,
    r: f64,
}

/// The reduced sampler's algebra on the drawn B, Ξ′ (in `w.n`), ḡ, z̄: τ and ρ, `Z = B⁻¹Ξ′`,
/// `Mᵀ = I + κZ` into `w.n`, `δ = ḡ − κr M z̄` into `w.delta`; returns `v = rρ`.
#[inline(always)]
fn reduced_algebra(w: &mut LaneWork, dr: &ReducedDraws) -> V {
    let (gbar, zbar, chi_perp, m, kap, r) = (&dr.gbar, &dr.zbar, dr.chi_perp, dr.m, dr.kap, dr.r);
    let (d, dp) = (w.d, w.dp);
    for i in 0..d {
        w.bi[i] = V::splat(1.0).zip(w.bd[i], |one, b| one / b);
    }
    let mut bb = V::ZERO;
    for i in 0..d {
        bb = w.bd[i].mul_add(w.bd[i], bb);
        bb = w.bs[i].mul_add(w.bs[i], bb);
    }
    let (mut xb, mut xx) = (V::ZERO, V::ZERO);
    for j in 0..d {
        let c = &w.n[j * dp..][..d];
        xb = c[j].mul_add(w.bd[j], xb);
        if j > 0 {
            xb = c[j - 1].mul_add(w.bs[j - 1], xb);
        }
        for x in c {
            xx = x.mul_add(*x, xx);
        }
    }
    let md = (m * d) as f64;
    let s = 2.0 * (r * (1.0 - r)).sqrt();
    let tau =
        (bb * V::splat(r) + xb * V::splat(s) + (xx + chi_perp) * V::splat(1.0 - r)).map(|x| x / md);
    let rho = tau.map(|t| r * t + 1.0 - r);
    // Z = B⁻¹Ξ′ from the last row up, four columns at a time (independent chains)
    for j0 in (0..d).step_by(4) {
        let cols = 4.min(d - j0);
        let mut z = [V::ZERO; 4];
        for i in (0..d).rev() {
            let (b, inv) = (w.bs[i], w.bi[i]);
            for (c, zc) in z.iter_mut().enumerate().take(cols) {
                let e = &mut w.n[(j0 + c) * dp + i];
                let x = b.neg_mul_add(*zc, *e) * inv;
                *e = x;
                *zc = x;
            }
        }
    }
    // Mᵀ = I + κZ; δ_i = ḡ_i − κr (column i of Mᵀ)·z̄
    let (kv, krv) = (V::splat(kap), V::splat(kap * r));
    for i in 0..d {
        let col = &mut w.n[i * dp..][..d];
        let mut dot = V::ZERO;
        for (k, x) in col.iter_mut().enumerate() {
            *x = *x * kv;
            if k == i {
                *x = *x + V::splat(1.0);
            }
            dot = x.mul_add(zbar[k], dot);
        }
        w.delta[i] = krv.neg_mul_add(dot, gbar[i]);
    }
    rho.map(|x| r * x)
}

/// The build of the batched kernels that runs here: "avx512", "avx2" (with FMA) or "portable"
/// (the best the CPU has, capped by [`SIMD_ENV`]; for `difftheory doctor` and the benches).
pub fn instruction_set() -> &'static str {
    match isa() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => "avx512",
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => "avx2",
        Isa::Portable => "portable",
    }
}
