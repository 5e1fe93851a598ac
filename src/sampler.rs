//! Reverse-time samplers for any drift: exact, perturbed by an error field, or a trained model.
//!
//! For a forward process `dX = −b X dt + g dW` ([`ForwardProcess`]), the reverse SDE is
//! `dY = [b Y + g² s(Y, t)] dτ + g dW̄`, run from the last time of a [`TimeGrid`] down to its first.
//! Two steps from `t_{k+1}` to `t_k` (`h = t_{k+1} − t_k`, score evaluated at `t_{k+1}`):
//!
//! - [`Step::EulerMaruyama`]: `y ← y + h (b y + g² s) + g sqrt(h) ξ`;
//! - [`Step::ExactLinear`] (paper 002's CEM step): the linear part `−b y` integrated exactly,
//!   `y ← e^{−bh} [y + h (2b y + g² s)] + g sqrt((1 − e^{−2bh})/(2b)) ξ` (for OU with rate ½ this is
//!   `x ← e^{−h/2}[x − h(x ᾱ/(1−ᾱ) − sqrt(ᾱ) f/(1−ᾱ))] + sqrt(1 − e^{−h}) ξ`).
//!
//! Path `i` draws its noise from its own [`PathRng`] stream seeded by `task_seed(seed, i)`, so a
//! path is the same whatever batch or thread runs it. Paths advance in blocks of 64 whose scores
//! come from one [`Drift::score_batch`] call (vectorized for point clouds); without a callback each
//! block runs all its steps at once, with one the blocks meet after every step so that the
//! callback sees them all (for trajectories).

use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::rng::{path_rng, rng_from_seed, task_seed, PathRng};
use crate::schedule::{ForwardProcess, TimeGrid};
// The score-model trait and the exact / perturbed drifts live with the scores; re-exported here
// because the samplers are where they are used.
use crate::score::Posterior;
pub use crate::score::{Drift, ExactScore, WithError};

/// Paths advanced together by one task: their scores come from one call of [`Drift::score_batch`].
const PATH_BLOCK: usize = 64;

/// The integration step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Euler–Maruyama.
    EulerMaruyama,
    /// Exact integration of the linear part (paper 002's CEM sampler).
    ExactLinear,
}

/// What a reverse run needs besides the drift and the starting points.
#[derive(Debug, Clone)]
pub struct ReverseSde {
    /// The forward process whose reverse is simulated.
    pub process: ForwardProcess,
    /// Times, run from last to first.
    pub grid: TimeGrid,
    /// The integration step.
    pub step: Step,
    /// Base seed of the per-path noise.
    pub seed: u64,
}

/// Starting points number `range` drawn from `N(0, I_dim)`, point `i` from `task_seed(seed, i)`.
pub fn gaussian_starts(range: std::ops::Range<usize>, dim: usize, seed: u64) -> Vec<Vec<f64>> {
    range
        .map(|i| {
            let mut rng = rng_from_seed(task_seed(seed, i as u64));
            (0..dim).map(|_| StandardNormal.sample(&mut rng)).collect()
        })
        .collect()
}

/// The state of every path after one step, handed to a callback: `(k, t_k, paths)`.
pub type StepCallback<'a> = &'a (dyn Fn(usize, f64, &[Vec<f64>]) + Sync);

impl ReverseSde {
    /// Runs every path of `starts` from the last time of the grid to the first, returning the
    /// final points. The callback, if any, sees the paths after each step.
    pub fn run<D: Drift>(
        &self,
        drift: &D,
        starts: Vec<Vec<f64>>,
        callback: Option<StepCallback<'_>>,
    ) -> Result<Vec<Vec<f64>>> {
        self.run_from(drift, starts, 0, callback)
    }

    /// As [`ReverseSde::run`] for paths numbered from `first_path` (their noise streams), so a
    /// large run can be cut into batches with the same result.
    pub fn run_from<D: Drift>(
        &self,
        drift: &D,
        starts: Vec<Vec<f64>>,
        first_path: usize,
        callback: Option<StepCallback<'_>>,
    ) -> Result<Vec<Vec<f64>>> {
        let dim = drift.dim();
        if let Some((i, s)) = starts.iter().enumerate().find(|(_, s)| s.len() != dim) {
            return Err(Error::invalid(
                "start",
                i,
                format!(
                    "a starting point has {} coordinates, the drift {dim}",
                    s.len()
                ),
            ));
        }
        let (b, g) = (self.process.drift_rate(), self.process.diffusion());
        let times = self.grid.times();
        let n_paths = starts.len();
        // noise of path i comes from its own stream, whatever thread or block advances it
        let mut rngs: Vec<PathRng> = (first_path..first_path + n_paths)
            .map(|i| path_rng(task_seed(self.seed, i as u64 ^ 0xD1F7_0000_0000_0000)))
            .collect();
        let mut ys: Vec<f64> = starts.concat();
        let step = self.step;
        // one step from t_{k+1} to t_k for a block of paths; `s` is the block's score buffer
        let advance = |y: &mut [f64], rngs: &mut [PathRng], s: &mut [f64], k: usize| {
            let (t_hi, h) = (times[k + 1], times[k + 1] - times[k]);
            drift.score_batch(t_hi, y, s);
            let (decay, lin, sd) = match step {
                Step::EulerMaruyama => (1.0, 1.0 + h * b, g * h.sqrt()),
                Step::ExactLinear => {
                    let decay = (-b * h).exp();
                    let sd = if b > 0.0 {
                        g * (-(-2.0 * b * h).exp_m1() / (2.0 * b)).sqrt()
                    } else {
                        g * h.sqrt()
                    };
                    (decay, 1.0 + 2.0 * b * h, sd)
                }
            };
            // Euler–Maruyama: y + h (b y + g² s) + sd z; exact linear part: e^{−bh}[y + h(2b y + g² s)] + sd z
            for ((yp, sp), rng) in y.chunks_exact_mut(dim).zip(s.chunks_exact(dim)).zip(rngs) {
                for (yi, si) in yp.iter_mut().zip(sp) {
                    let z: f64 = StandardNormal.sample(rng);
                    *yi = decay * (lin * *yi + h * g * g * si) + sd * z;
                }
            }
        };
        let block = PATH_BLOCK * dim;
        match callback {
            // every block runs all its steps on its own: no barrier between steps
            None => ys
                .par_chunks_mut(block)
                .zip(rngs.par_chunks_mut(PATH_BLOCK))
                .for_each(|(y, r)| {
                    let mut s = vec![0.0; y.len()];
                    for k in (0..times.len() - 1).rev() {
                        advance(y, r, &mut s, k);
                    }
                }),
            Some(cb) => {
                for k in (0..times.len() - 1).rev() {
                    ys.par_chunks_mut(block)
                        .zip(rngs.par_chunks_mut(PATH_BLOCK))
                        .for_each(|(y, r)| {
                            let mut s = vec![0.0; y.len()];
                            advance(y, r, &mut s, k);
                        });
                    let snapshot: Vec<Vec<f64>> =
                        ys.chunks_exact(dim).map(|p| p.to_vec()).collect();
                    cb(k, times[k], &snapshot);
                }
            }
        }
        Ok(ys.chunks_exact(dim).map(|p| p.to_vec()).collect())
    }
}

/// Karras et al. (EDM, 2022, eq. 5) noise levels `σ_i = (σ_max^{1/ρ} + i/(N−1) (σ_min^{1/ρ} −
/// σ_max^{1/ρ}))^ρ`, `i = 0..N−1`, followed by `σ_N = 0`: `steps + 1` values, decreasing.
///
/// ```
/// let s = difftheory::sampler::karras_sigmas(18, 0.002, 80.0, 7.0).unwrap();
/// assert_eq!(s.len(), 19);
/// assert!((s[0] - 80.0).abs() < 1e-12 && (s[17] - 0.002).abs() < 1e-12 && s[18] == 0.0);
/// ```
pub fn karras_sigmas(steps: usize, sigma_min: f64, sigma_max: f64, rho: f64) -> Result<Vec<f64>> {
    crate::error::check_count_at_least("steps", steps, 1)?;
    crate::error::check_finite_at_least("sigma_min", sigma_min, 0.0, true)?;
    crate::error::check_finite_at_least("sigma_max", sigma_max, sigma_min, false)?;
    crate::error::check_finite_at_least("rho", rho, 0.0, true)?;
    let (a, b) = (sigma_max.powf(1.0 / rho), sigma_min.powf(1.0 / rho));
    let mut s: Vec<f64> = (0..steps)
        .map(|i| {
            let f = if steps == 1 {
                0.0
            } else {
                i as f64 / (steps - 1) as f64
            };
            (a + f * (b - a)).powf(rho)
        })
        .collect();
    s.push(0.0);
    Ok(s)
}

/// EDM's deterministic Heun sampler (Karras et al. 2022, Algorithm 1 without churn) of the
/// probability-flow ODE `dx/dσ = (x − D(x, σ))/σ` of the variance-exploding kernel
/// `x_σ = x₀ + σ ε`, with the exact denoiser `D(x, σ) = E[X₀ | X_{σ²} = x]` of `data` under
/// [`ForwardProcess::Brownian`] (time `t = σ²`).
///
/// `xs` holds the starting points one after the other (`dim` numbers each; start them at
/// `σ_0 · N(0, I)`) and is overwritten with the final ones. Points advance in parallel blocks of
/// 64 through [`Posterior::posterior_mean_batch`]; the ODE has no noise, so the result does not
/// depend on the blocking. `sigmas` must decrease to a last value `>= 0` (see [`karras_sigmas`]).
pub fn heun_edm<P: Posterior + ?Sized>(data: &P, sigmas: &[f64], xs: &mut [f64]) -> Result<()> {
    let dim = data.dim();
    if sigmas.len() < 2
        || sigmas.windows(2).any(|w| !(w[1] < w[0]))
        || sigmas[sigmas.len() - 1] < 0.0
    {
        return Err(Error::invalid(
            "sigmas",
            format!("{sigmas:?}"),
            "expected at least two decreasing noise levels ending at a value >= 0",
        ));
    }
    if xs.len() % dim != 0 {
        return Err(Error::invalid(
            "xs",
            format!("{} numbers", xs.len()),
            format!("expected a multiple of the dimension {dim}"),
        ));
    }
    xs.par_chunks_mut(64 * dim).for_each(|block| {
        let mut den = vec![0.0; block.len()];
        let mut d1 = vec![0.0; block.len()];
        let mut trial = vec![0.0; block.len()];
        for w in sigmas.windows(2) {
            let (s0, s1) = (w[0], w[1]);
            let h = s1 - s0;
            data.posterior_mean_batch(ForwardProcess::Brownian, s0 * s0, block, &mut den);
            for ((d, x), m) in d1.iter_mut().zip(block.iter()).zip(&den) {
                *d = (x - m) / s0;
            }
            for ((t, x), d) in trial.iter_mut().zip(block.iter()).zip(&d1) {
                *t = x + h * d;
            }
            if s1 > 0.0 {
                data.posterior_mean_batch(ForwardProcess::Brownian, s1 * s1, &trial, &mut den);
                for (((x, t), m), d) in block.iter_mut().zip(&trial).zip(&den).zip(&d1) {
                    let d2 = (t - m) / s1;
                    *x += 0.5 * h * (d + d2);
                }
            } else {
                block.copy_from_slice(&trial);
            }
        }
    });
    Ok(())
}
