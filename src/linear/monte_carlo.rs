//! Monte Carlo of KL(p_orig ‖ p_gen), its parts and H² for the linear denoiser: the raw model and
//! the reduced sampler that has the same joint law (see the [module docs](super)).

use std::str::FromStr;

use faer::linalg::triangular_solve::solve_upper_triangular_in_place;
use faer::{Mat, Par};
use rand::Rng;
use rand_distr::{ChiSquared, Distribution, StandardNormal};
use rayon::prelude::*;

use super::distances::{divergences, Divergences, KlParts};
use super::model::{fit_ols, generated_gaussian, sample_training, LinearParams};
use crate::error::{check_count_at_least, Error, Result};
use crate::rng::{rng_from_seed, task_seed};
use crate::stats::{mean_sem, median, Estimate};

/// How a trial is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sampler {
    /// From the sufficient statistics (Bartlett R, Gaussian Ξ, χ² terms): exact in law, `O(d³)`
    /// per trial whatever n (`≈ 13d³/3` flops).
    #[default]
    Reduced,
    /// The model as specified: n points drawn, OLS fitted: `O(nd²)` per trial
    /// (`3nd² + 17d³/3` flops).
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

fn singular() -> Divergences {
    Divergences {
        kl: KlParts {
            mean: f64::INFINITY,
            cov: f64::INFINITY,
        },
        h2: 1.0,
        det_sign: 0.0,
    }
}

/// One trial of the raw model: draw n points, fit the OLS denoiser, compare the generated
/// Gaussian with the truth. n ≤ d: `KL = ∞`, `H² = 1` without drawing.
pub fn trial_raw<R: Rng + ?Sized>(p: &LinearParams, rng: &mut R) -> Result<Divergences> {
    if p.n <= p.d {
        return Ok(singular());
    }
    let train = sample_training(p, rng);
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
/// translation-invariant): `M = I + κ(R⁻¹Ξ)ᵀ`, `Σ_g/σ² = rρ MMᵀ`, `δ/σ = ḡ − κrMz̄` (module docs).
/// Same joint law of (KL_mean, KL_cov, H², sign det W) as [`trial_raw`].
pub fn trial_reduced<R: Rng + ?Sized>(p: &LinearParams, rng: &mut R) -> Result<Divergences> {
    let (d, n) = (p.d, p.n);
    if n <= d {
        return Ok(singular());
    }
    let m = n - 1;
    let k2 = p.kappa2();
    let kap = k2.sqrt();
    let r = 1.0 / (1.0 + k2);
    // Bartlett: R upper triangular, R_ii = sqrt(χ²_{m−i}), R_ij ~ N(0,1) for i < j
    let mut big_r = Mat::<f64>::zeros(d, d);
    for j in 0..d {
        for i in 0..j {
            big_r[(i, j)] = Distribution::<f64>::sample(&StandardNormal, rng);
        }
        big_r[(j, j)] = chi2(rng, (m - j) as f64).sqrt();
    }
    let xi = Mat::<f64>::from_fn(d, d, |_, _| {
        Distribution::<f64>::sample(&StandardNormal, rng)
    });
    let chi_perp = if m > d {
        chi2(rng, ((m - d) * d) as f64)
    } else {
        0.0
    };
    let gbar: Vec<f64> = (0..d)
        .map(|_| Distribution::<f64>::sample(&StandardNormal, rng) / (n as f64).sqrt())
        .collect();
    let zbar: Vec<f64> = (0..d)
        .map(|_| Distribution::<f64>::sample(&StandardNormal, rng) / (n as f64).sqrt())
        .collect();
    // Z = R⁻¹Ξ, M = I + κ Zᵀ
    let mut z = xi.clone();
    solve_upper_triangular_in_place(big_r.as_ref(), z.as_mut(), Par::Seq);
    super::distances::clear_avx_upper();
    let mut mm = Mat::<f64>::from_fn(d, d, |i, j| kap * z[(j, i)]);
    for i in 0..d {
        mm[(i, i)] += 1.0;
    }
    let (mut rr, mut xr, mut xx) = (0.0, 0.0, 0.0);
    for j in 0..d {
        for i in 0..d {
            let (a, b) = (big_r[(i, j)], xi[(i, j)]);
            rr += a * a;
            xr += a * b;
            xx += b * b;
        }
    }
    let tau =
        (r * rr + 2.0 * (r * (1.0 - r)).sqrt() * xr + (1.0 - r) * (xx + chi_perp)) / (m * d) as f64;
    let rho = r * tau + 1.0 - r;
    let delta: Vec<f64> = (0..d)
        .map(|i| gbar[i] - kap * r * (0..d).map(|j| mm[(i, j)] * zbar[j]).sum::<f64>())
        .collect();
    Ok(divergences(1.0, mm.as_ref(), r * rho, &delta))
}

fn chi2<R: Rng + ?Sized>(rng: &mut R, k: f64) -> f64 {
    ChiSquared::new(k).expect("k > 0").sample(rng)
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
/// result does not depend on the thread count). Takes the same parameter struct as
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
    let ts = (0..trials)
        .into_par_iter()
        .map(|i| trial(p, sampler, &mut rng_from_seed(task_seed(seed, i as u64))))
        .collect::<Result<Vec<_>>>()?;
    McSummary::from_trials(&ts)
}
