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
//! Path `i` draws its noise from `task_seed(seed, i)`, so a path is the same whatever batch or
//! thread runs it; paths advance in parallel, step by step, and an optional callback sees every
//! step (for trajectories).

use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::rng::{rng_from_seed, task_seed, SimRng};
use crate::schedule::{ForwardProcess, TimeGrid};
use crate::score::{score_into, Posterior};

/// An estimate of the score `∇log p_t(x)`.
pub trait Drift: Sync {
    /// The dimension.
    fn dim(&self) -> usize;
    /// Writes the score estimate at `(t, x)` into `out`.
    fn score(&self, t: f64, x: &[f64], out: &mut [f64]);
}

/// The exact score of data with a known posterior mean.
pub struct ExactScore<'a, P: Posterior + ?Sized> {
    /// The data.
    pub data: &'a P,
    /// The forward process the score belongs to.
    pub process: ForwardProcess,
}

impl<P: Posterior + ?Sized> Drift for ExactScore<'_, P> {
    fn dim(&self) -> usize {
        self.data.dim()
    }
    fn score(&self, t: f64, x: &[f64], out: &mut [f64]) {
        score_into(self.data, self.process, t, x, out);
    }
}

/// A drift plus an error field `e(t, x)` (added to the score).
pub struct WithError<D, E> {
    /// The drift being perturbed.
    pub base: D,
    /// The error field.
    pub error: E,
}

impl<D: Drift, E: Fn(f64, &[f64], &mut [f64]) + Sync> Drift for WithError<D, E> {
    fn dim(&self) -> usize {
        self.base.dim()
    }
    fn score(&self, t: f64, x: &[f64], out: &mut [f64]) {
        self.base.score(t, x, out);
        let mut e = vec![0.0; out.len()];
        (self.error)(t, x, &mut e);
        out.iter_mut().zip(&e).for_each(|(o, ei)| *o += ei);
    }
}

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
        // noise of path i comes from its own stream, whatever thread advances it
        let rngs: Vec<SimRng> = (first_path..first_path + starts.len())
            .map(|i| rng_from_seed(task_seed(self.seed, i as u64 ^ 0xD1F7_0000_0000_0000)))
            .collect();
        let mut state: Vec<(Vec<f64>, SimRng, Vec<f64>)> = starts
            .into_iter()
            .zip(rngs)
            .map(|(x, r)| (x, r, vec![0.0; dim]))
            .collect();
        for k in (0..times.len() - 1).rev() {
            let (t_hi, h) = (times[k + 1], times[k + 1] - times[k]);
            let step = self.step;
            state.par_iter_mut().for_each(|(y, rng, s)| {
                drift.score(t_hi, y, s);
                match step {
                    Step::EulerMaruyama => {
                        let sd = g * h.sqrt();
                        for (yi, si) in y.iter_mut().zip(s.iter()) {
                            let z: f64 = StandardNormal.sample(rng);
                            *yi += h * (b * *yi + g * g * si) + sd * z;
                        }
                    }
                    Step::ExactLinear => {
                        let decay = (-b * h).exp();
                        let sd = if b > 0.0 {
                            g * (-(-2.0 * b * h).exp_m1() / (2.0 * b)).sqrt()
                        } else {
                            g * h.sqrt()
                        };
                        for (yi, si) in y.iter_mut().zip(s.iter()) {
                            let z: f64 = StandardNormal.sample(rng);
                            *yi = decay * (*yi + h * (2.0 * b * *yi + g * g * si)) + sd * z;
                        }
                    }
                }
            });
            if let Some(cb) = callback {
                let snapshot: Vec<Vec<f64>> = state.iter().map(|(y, _, _)| y.clone()).collect();
                cb(k, times[k], &snapshot);
            }
        }
        Ok(state.into_iter().map(|(y, _, _)| y).collect())
    }
}
