//! The DDIM step (Song, Meng & Ermon 2021, eq. 12) as diffusers' `DDIMScheduler.step`:
//! `x_{t'} = √ᾱ_{t'} x̂₀ + √(1 − ᾱ_{t'} − σ²) ε̂ + σ z`,
//! `σ = η √((1−ᾱ_{t'})/(1−ᾱ_t)) √(1 − ᾱ_t/ᾱ_{t'})`, with `t' = t − T/n` (integer division, as
//! diffusers does for every spacing) and `ᾱ_{t'} = 1` (`set_alpha_to_one`) or `ᾱ_0` when `t' < 0`.
//! η = 0 is the deterministic DDIM; η = 1 has DDPM's `fixed_small` variance.

use tch::Tensor;

use super::config::Schedule;
use super::prediction::split_prediction;
use super::StepOutput;
use crate::error::{Error, Result};

/// A DDIM sampler over `n` inference timesteps of a [`Schedule`].
#[derive(Debug, Clone)]
pub struct Ddim {
    /// The schedule and options.
    pub schedule: Schedule,
    /// Inference timesteps, descending.
    pub timesteps: Vec<i64>,
}

impl Ddim {
    /// The sampler with `steps` inference timesteps.
    pub fn new(schedule: Schedule, steps: usize) -> Result<Self> {
        let timesteps = schedule.timesteps(steps)?;
        Ok(Self {
            schedule,
            timesteps,
        })
    }

    /// `T / n` (integer division).
    pub fn stride(&self) -> i64 {
        (self.schedule.num_train_timesteps() / self.timesteps.len()) as i64
    }

    /// `t' = t − T/n`.
    pub fn previous_timestep(&self, t: i64) -> i64 {
        t - self.stride()
    }

    /// `ᾱ` of a timestep, with DDIM's final value for negative ones.
    pub fn alpha_bar(&self, t: i64) -> f64 {
        if t >= 0 {
            self.schedule.alphas_cumprod[t as usize]
        } else if self.schedule.raw.set_alpha_to_one {
            1.0
        } else {
            self.schedule.alphas_cumprod[0]
        }
    }

    /// The deterministic DDIM move (η = 0, no clipping) from `x_t` at timestep `t` to any timestep
    /// `to` (earlier or later; negative for the end): `√ᾱ_to x̂₀ + √(1−ᾱ_to) ε̂` with `x̂₀, ε̂` from
    /// the network's `output` at `t`. The sampler's step is this with `to = t − T/n`; a trajectory
    /// can be read at any timestep between two of its steps with it.
    pub fn jump(&self, output: &Tensor, t: i64, to: i64, x_t: &Tensor) -> Tensor {
        let p = split_prediction(self.schedule.prediction, output, x_t, self.alpha_bar(t));
        let a = self.alpha_bar(to);
        p.x0 * a.sqrt() + p.eps * (1.0 - a).sqrt()
    }

    /// One step from `x_t` at timestep `t` with the network's `output`; `noise` is required when
    /// `eta > 0`.
    pub fn step(
        &self,
        output: &Tensor,
        t: i64,
        x_t: &Tensor,
        eta: f64,
        noise: Option<&Tensor>,
    ) -> Result<StepOutput> {
        if !(eta.is_finite() && eta >= 0.0) {
            return Err(Error::invalid("eta", eta, "expected a finite number >= 0"));
        }
        if t < 0 || t as usize >= self.schedule.num_train_timesteps() {
            return Err(Error::invalid(
                "timestep",
                t,
                format!("expected 0..{}", self.schedule.num_train_timesteps()),
            ));
        }
        let s = &self.schedule;
        let a_t = self.alpha_bar(t);
        let a_prev = self.alpha_bar(self.previous_timestep(t));
        let p = split_prediction(s.prediction, output, x_t, a_t);
        let x0 = if s.raw.clip_sample {
            let r = s.raw.clip_sample_range;
            p.x0.clamp(-r, r)
        } else {
            p.x0
        };
        let variance = (1.0 - a_prev) / (1.0 - a_t) * (1.0 - a_t / a_prev);
        let std = eta * variance.sqrt();
        let direction = &p.eps * (1.0 - a_prev - std * std).max(0.0).sqrt();
        let mut prev_sample = &x0 * a_prev.sqrt() + direction;
        if eta > 0.0 {
            let z = noise.ok_or_else(|| {
                Error::invalid(
                    "noise",
                    "none",
                    "a DDIM step with eta > 0 needs standard normal noise",
                )
            })?;
            prev_sample += z * std;
        }
        Ok(StepOutput {
            prev_sample,
            pred_original_sample: x0,
        })
    }
}
