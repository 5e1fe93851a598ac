//! Monte Carlo of KL(p_orig ‖ p_gen), its parts and H² for the linear denoiser: the raw model and
//! the reduced sampler that has the same joint law (see the [module docs](super)).

use std::str::FromStr;

use rand::Rng;
use rayon::prelude::*;

use super::distances::{column, column_mut, columns_mut, divergences, DivergenceWork, Divergences};
use super::draws::{self, trial_stream};
use super::lanes::{trials_reduced, LANES};
use super::model::{fit_ols, generated_gaussian, sample_training, LinearParams};
use crate::error::{check_count_at_least, Error, Result};
use crate::rng::{rng_from_seed, task_seed};
use crate::stats::{mean_sem, median, Estimate};
use crate::vecmath::dot;

/// How a trial is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sampler {
    /// From the sufficient statistics (bidiagonal B, Gaussian Ξ, χ² terms): exact in law, `O(d³)`
    /// per trial whatever n (`≈ 2.3d³` flops, 2.7d³ where W is far from I). Sweeps and
    /// [`monte_carlo`] run it [`LANES`] trials at a time, one per SIMD lane
    /// ([`trials_reduced`]); [`trial_reduced`] is the one-trial form (same draws, same values to
    /// rounding).
    #[default]
    Reduced,
    /// The model as specified: n points drawn, OLS fitted: `O(nd²)` per trial
    /// (`3nd² + ≈4.7d³` flops: the Gram matrices, a Cholesky and two triangular solves for the
    /// fit, then [`divergences`]).
    Raw,
}

impl FromStr for Sampler {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "reduced" => Ok(Sampler::Reduced),
            "raw" => Ok(Sampler::Raw),
            _ => Err(Error::invalid("sampler", s, "expected reduced or raw")),
        }
    }
}

impl Sampler {
    /// "reduced" or "raw".
    pub fn name(&self) -> &'static str {
        match self {
            Sampler::Reduced => "reduced",
            Sampler::Raw => "raw",
        }
    }
}

/// One trial of the raw model: draw n points, fit the OLS denoiser, compare the generated
/// Gaussian with the truth. n ≤ d: `KL = ∞`, `H² = 1` without drawing.
pub fn trial_raw<R: Rng + ?Sized>(p: &LinearParams, rng: &mut R) -> Result<Divergences> {
    if p.n <= p.d {
        return Ok(Divergences::singular());
    }
    let train = sample_training(p, &mut trial_stream(rng));
    let den = fit_ols(train.x.as_ref(), train.y.as_ref())?;
    let gen = generated_gaussian(&train, &den, p.noise());
    let delta: Vec<f64> = gen.mean.iter().map(|m| m - p.mu).collect();
    Ok(divergences(
        p.sigma * p.sigma,
        gen.w.as_ref(),
        gen.v_t,
        &delta,
    ))
}

/// One trial from the sufficient statistics, in units of σ (the divergences are scale- and
/// translation-invariant): `M = I + κ(B⁻¹Ξ)ᵀ`, `Σ_g/σ² = rρ MMᵀ`, `δ/σ = ḡ − κrMz̄` (module docs).
/// Same joint law of (KL_mean, KL_cov, H², sign det W) as [`trial_raw`].
///
/// B is the Golub–Kahan bidiagonal factor of the standardised noisy data instead of its Bartlett
/// (QR) factor: `Y′ = U_b B Vᵀ` with B upper bidiagonal, `B_ii = χ_{m−i}`, `B_{i,i+1} = χ_{d−1−i}`,
/// all independent (Householder bidiagonalization of a Gaussian matrix), and then
/// `G = E′ᵀY′(Y′ᵀY′)⁻¹ = V (Ξ′ᵀB⁻ᵀ) Vᵀ` with `Ξ′ = U_bᵀE′V` iid N(0,1) and independent of (B, V).
/// The divergences are invariant under `(W, δ) → (VᵀWV, Vᵀδ)` and the σ̂² terms are the same with
/// B in place of R (`‖R‖²_F = tr Y′ᵀY′ = ‖B‖²_F`, `tr ΞᵀR = tr E′ᵀY′ = ⟨Ξ′, B⟩_F`), so V can be
/// dropped. `B⁻¹Ξ′` is a two-term recursion (O(d²)) where `R⁻¹Ξ` was a d³ triangular solve, and
/// d(d−1)/2 fewer normals are drawn. Everything is drawn from one Xoshiro256++ stream seeded from
/// `rng` ([`trial_stream`]). Works on `Mᵀ` in this thread's buffers; the cost is
/// [`divergences`]' (≈ 2.5d³–2.9d³ flops at d = 100). [`trials_reduced`] draws the same for
/// [`LANES`] trials at once and is what the sweeps run.
pub fn trial_reduced<R: Rng + ?Sized>(p: &LinearParams, rng: &mut R) -> Result<Divergences> {
    let (d, n) = (p.d, p.n);
    if n <= d {
        return Ok(Divergences::singular());
    }
    let mut streams = [trial_stream(rng)];
    let m = n - 1;
    let k2 = p.kappa2();
    let kap = k2.sqrt();
    let r = 1.0 / (1.0 + k2);
    Ok(DivergenceWork::with(d, |ws| {
        // B: diagonal in aux column 0, superdiagonal in column 1 (B_{d−1,d} = 0), 1/B_ii in 2
        draws::bidiagonal(&mut streams[0], d, m, |i, diag, sup| {
            ws.aux[(i, 0)] = diag;
            ws.aux[(i, 1)] = sup;
            ws.aux[(i, 2)] = 1.0 / diag;
        });
        // Ξ′ iid N(0,1) (in `wt`)
        {
            let mut cols = columns_mut(&mut ws.wt);
            draws::xi(&mut streams, d, |j, i, _, x| cols[j][i] = x);
        }
        let mut gbar = vec![0.0; d];
        let mut zbar = vec![0.0; d];
        let chi_perp = draws::tail(
            &mut streams[0],
            d,
            m,
            n,
            |i, x| gbar[i] = x,
            |i, x| zbar[i] = x,
        );
        let (bdiag, bsup, binv) = (column(&ws.aux, 0), column(&ws.aux, 1), column(&ws.aux, 2));
        let bb = dot(bdiag, bdiag) + dot(bsup, bsup);
        let (mut xb, mut xx) = (0.0, 0.0);
        for j in 0..d {
            let xc = column(&ws.wt, j);
            xb += xc[j] * bdiag[j] + if j > 0 { xc[j - 1] * bsup[j - 1] } else { 0.0 };
            xx += dot(xc, xc);
        }
        let tau = (r * bb + 2.0 * (r * (1.0 - r)).sqrt() * xb + (1.0 - r) * (xx + chi_perp))
            / (m * d) as f64;
        let rho = r * tau + 1.0 - r;
        // Z = B⁻¹Ξ′ in place, from the last row up: Z_i = (Ξ′_i − B_{i,i+1} Z_{i+1}) / B_ii,
        // eight columns at a time (independent chains)
        let mut cols = columns_mut(&mut ws.wt);
        for block in cols.chunks_mut(8) {
            let mut z = [0.0f64; 8];
            for i in (0..d).rev() {
                let (b, inv) = (bsup[i], binv[i]);
                for (c, zk) in block.iter_mut().zip(z.iter_mut()) {
                    let x = (c[i] - b * *zk) * inv;
                    c[i] = x;
                    *zk = x;
                }
            }
        }
        drop(cols);
        // Mᵀ = I + κZ; δ_i = ḡ_i − κr (M z̄)_i, (M z̄)_i = column i of Mᵀ · z̄
        let mut delta = gbar;
        for (i, di) in delta.iter_mut().enumerate() {
            let col = column_mut(&mut ws.wt, i);
            col.iter_mut().for_each(|x| *x *= kap);
            col[i] += 1.0;
            *di -= kap * r * dot(col, &zbar);
        }
        ws.divergences_of_transpose(1.0, r * rho, &delta)
    }))
}

/// One trial with the chosen sampler.
pub fn trial<R: Rng + ?Sized>(
    p: &LinearParams,
    sampler: Sampler,
    rng: &mut R,
) -> Result<Divergences> {
    match sampler {
        Sampler::Reduced => trial_reduced(p, rng),
        Sampler::Raw => trial_raw(p, rng),
    }
}

/// The Monte Carlo summary of one parameter point.
#[derive(Debug, Clone, PartialEq)]
pub struct McSummary {
    /// KL: mean ± s.e. (∞ when n ≤ d).
    pub kl: Estimate,
    /// Median of KL (robust where the mean is tail-dominated).
    pub kl_median: f64,
    /// KL_mean part.
    pub kl_mean: Estimate,
    /// KL_cov part.
    pub kl_cov: Estimate,
    /// H².
    pub h2: Estimate,
    /// Fraction of trials with det W < 0.
    pub neg_det_fraction: f64,
    /// Largest single-trial share of the KL sum.
    pub max_share: f64,
}

impl McSummary {
    /// A trial with det W < 0 or one trial carrying more than 1 % of the KL sum: the sample mean
    /// is driven by the heavy tail of `tr(WWᵀ)⁻¹`, not an estimate of the bulk value.
    pub fn tail_dominated(&self) -> bool {
        self.neg_det_fraction > 0.0 || self.max_share > 0.01
    }

    /// Summary of per-trial results.
    pub fn from_trials(ts: &[Divergences]) -> Result<Self> {
        check_count_at_least("trials", ts.len(), 2)?;
        let col = |f: &dyn Fn(&Divergences) -> f64| ts.iter().map(f).collect::<Vec<f64>>();
        let kl = col(&|t| t.kl.total());
        let sum: f64 = kl.iter().sum();
        let max = kl.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Ok(Self {
            kl: est(&kl)?,
            kl_median: median(&kl),
            kl_mean: est(&col(&|t| t.kl.mean))?,
            kl_cov: est(&col(&|t| t.kl.cov))?,
            h2: est(&col(&|t| t.h2))?,
            neg_det_fraction: ts.iter().filter(|t| t.det_sign < 0.0).count() as f64
                / ts.len() as f64,
            max_share: if sum.is_finite() { max / sum } else { 1.0 },
        })
    }
}

/// Mean ± s.e., with `∞ ± NaN` when a value is infinite (n ≤ d).
pub(crate) fn est(xs: &[f64]) -> Result<Estimate> {
    if xs.iter().any(|x| x.is_infinite()) {
        return Ok(Estimate {
            mean: f64::INFINITY,
            sem: f64::NAN,
            n: xs.len(),
        });
    }
    mean_sem(xs)
}

/// `trials` independent trials at `p` (trial i seeded by `task_seed(seed, i)`, in parallel; the
/// result does not depend on the thread count). The reduced sampler runs [`LANES`] trials per
/// task through [`trials_reduced`] (the values of [`trial_reduced`] to rounding, the same ones
/// whatever the batch). Takes the same parameter struct as
/// [`prediction`](super::prediction::prediction).
///
/// ```
/// use difftheory::linear::{monte_carlo, prediction, LinearParams, Sampler};
/// let lam = LinearParams::lambda_for_kappa2(0.5, 1.0, 1.0);
/// let p = LinearParams::new(10, 160, 1.0, lam, 1.0, 0.0).unwrap();
/// let mc = monte_carlo(&p, 400, Sampler::Reduced, 3).unwrap();
/// assert!(mc.kl.z_score(prediction(&p).kl).abs() < 4.0 && !mc.tail_dominated());
/// ```
pub fn monte_carlo(
    p: &LinearParams,
    trials: usize,
    sampler: Sampler,
    seed: u64,
) -> Result<McSummary> {
    p.check()?;
    check_count_at_least("trials", trials, 2)?;
    let rng = |i: usize| rng_from_seed(task_seed(seed, i as u64));
    let ts = match sampler {
        // LANES trials per task, each on its own seed (super::lanes)
        Sampler::Reduced => (0..trials.div_ceil(LANES))
            .into_par_iter()
            .map(|b| {
                let mut rngs: Vec<_> = (b * LANES..((b + 1) * LANES).min(trials))
                    .map(rng)
                    .collect();
                trials_reduced(p, &mut rngs)
            })
            .collect::<Result<Vec<_>>>()?
            .concat(),
        Sampler::Raw => (0..trials)
            .into_par_iter()
            .map(|i| trial_raw(p, &mut rng(i)))
            .collect::<Result<Vec<_>>>()?,
    };
    McSummary::from_trials(&ts)
}
