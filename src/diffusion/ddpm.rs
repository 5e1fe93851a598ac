//! The DDPM ancestral step (Ho, Jain & Abbeel 2020, eq. 6–7) as diffusers' `DDPMScheduler.step`:
//! from `x_t` and the network's output to
//! `x_{t'} = c₀ x̂₀ + c_t x_t + σ z`, `c₀ = √ᾱ_{t'} β_t / (1−ᾱ_t)`, `c_t = √α_t (1−ᾱ_{t'})/(1−ᾱ_t)`,
//! where `t'` is the next inference timestep (−1 after the last, `ᾱ_{−1} = 1`),
//! `β_t = 1 − ᾱ_t/ᾱ_{t'}`, `α_t = 1 − β_t`, and `σ² = β̃_t = (1−ᾱ_{t'})/(1−ᾱ_t) β_t` (fixed_small) or
//! `β_t` (fixed_large); no noise at t = 0.

use tch::Tensor;

use super::config::{Schedule, VarianceType};
use super::prediction::split_prediction;
use super::StepOutput;
use crate::error::{Error, Result};

/// A DDPM sampler over `n` inference timesteps of a [`Schedule`].
#[derive(Debug, Clone)]
pub struct Ddpm {
    /// The schedule and options.
    pub schedule: Schedule,
    /// Inference timesteps, descending.
    pub timesteps: Vec<i64>,
}

impl Ddpm {
    /// The sampler with `steps` inference timesteps.
    pub fn new(schedule: Schedule, steps: usize) -> Result<Self> {
        let timesteps = schedule.timesteps(steps)?;
        Ok(Self {
            schedule,
            timesteps,
        })
    }

    /// The timestep after `t` in the inference sequence (−1 after the last).
    pub fn previous_timestep(&self, t: i64) -> Result<i64> {
        let i = self.timesteps.iter().position(|&s| s == t).ok_or_else(|| {
            Error::invalid(
                "timestep",
                t,
                "not one of the sampler's inference timesteps",
            )
        })?;
        Ok(self.timesteps.get(i + 1).copied().unwrap_or(-1))
    }

    /// The reverse standard deviation `σ` of the step from `t`.
    pub fn sigma(&self, t: i64) -> Result<f64> {
        let prev = self.previous_timestep(t)?;
        let a_t = self.schedule.timestep_to_alpha_bar(t);
        let a_prev = self.schedule.timestep_to_alpha_bar(prev);
        let beta = 1.0 - a_t / a_prev;
        let var = match self.schedule.variance {
            VarianceType::FixedSmall | VarianceType::FixedSmallLog => {
                ((1.0 - a_prev) / (1.0 - a_t) * beta).max(1e-20)
            }
            VarianceType::FixedLarge => beta,
        };
        Ok(var.sqrt())
    }

    /// One step from `x_t` at timestep `t` given the network's `output`; `noise` (standard normal,
    /// the shape of `x_t`) is required for `t > 0`.
    pub fn step(
        &self,
        output: &Tensor,
        t: i64,
        x_t: &Tensor,
        noise: Option<&Tensor>,
    ) -> Result<StepOutput> {
        let prev = self.previous_timestep(t)?;
        let s = &self.schedule;
        let a_t = s.timestep_to_alpha_bar(t);
        let a_prev = s.timestep_to_alpha_bar(prev);
        let alpha = a_t / a_prev;
        let beta = 1.0 - alpha;
        let mut x0 = split_prediction(s.prediction, output, x_t, a_t).x0;
        if s.raw.clip_sample {
            let r = s.raw.clip_sample_range;
            x0 = x0.clamp(-r, r);
        }
        let c0 = a_prev.sqrt() * beta / (1.0 - a_t);
        let ct = alpha.sqrt() * (1.0 - a_prev) / (1.0 - a_t);
        let mut prev_sample = &x0 * c0 + x_t * ct;
        if t > 0 {
            let z = noise.ok_or_else(|| {
                Error::invalid(
                    "noise",
                    "none",
                    "a DDPM step at t > 0 needs standard normal noise",
                )
            })?;
            prev_sample += z * self.sigma(t)?;
        }
        Ok(StepOutput {
            prev_sample,
            pred_original_sample: x0,
        })
    }
}
