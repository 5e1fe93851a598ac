//! `scheduler_config.json` of diffusers' `DDPMScheduler` / `DDIMScheduler`, with their defaults,
//! and the discrete noise schedule `β_t`, `ᾱ_t = Π_{s≤t} (1 − β_s)` it defines, t = 0..T−1.
//!
//! β schedules: `linear` (Ho et al. 2020: β from 1e-4 to 0.02), `scaled_linear` (√β linear, the
//! latent-diffusion schedule), `squaredcos_cap_v2` (Nichol & Dhariwal 2021:
//! `ᾱ(t) = cos²((t/T + 0.008)/1.008 · π/2)`, β capped at 0.999). As in diffusers, β and the
//! cumulative product are computed in f32 (so that ᾱ agrees with theirs to the last bit or two);
//! they are stored as f64.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The β schedule (`beta_schedule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BetaSchedule {
    /// `linear`.
    Linear,
    /// `scaled_linear`.
    ScaledLinear,
    /// `squaredcos_cap_v2`.
    SquaredCosCapV2,
}

/// What the network predicts (`prediction_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PredictionType {
    /// `epsilon`: the noise ε.
    Epsilon,
    /// `sample`: the clean image x₀.
    Sample,
    /// `v_prediction`: `v = √ᾱ ε − √(1−ᾱ) x₀` (Salimans & Ho 2022).
    VPrediction,
}

/// How inference timesteps are spread over 0..T−1 (`timestep_spacing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestepSpacing {
    /// `leading`: `k · (T / n)` (integer division), k = n−1..0, plus `steps_offset`.
    Leading,
    /// `trailing`: `round(T − k T/n) − 1`, k = 0..n−1.
    Trailing,
    /// `linspace`: `round(linspace(0, T−1, n))`, reversed.
    Linspace,
}

/// The DDPM reverse variance (`variance_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarianceType {
    /// `fixed_small`: the posterior variance `β̃_t = (1−ᾱ_{t'})/(1−ᾱ_t) β_t`.
    FixedSmall,
    /// `fixed_small_log`: the same, computed through its logarithm.
    FixedSmallLog,
    /// `fixed_large`: `β_t` (google/ddpm-* use it).
    FixedLarge,
}

/// `scheduler_config.json`, field for field (the union of DDPM's and DDIM's options, diffusers'
/// names and defaults); unknown fields are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SchedulerConfig {
    /// T, the number of training timesteps.
    pub num_train_timesteps: usize,
    /// First β (linear / scaled_linear).
    pub beta_start: f64,
    /// Last β (linear / scaled_linear).
    pub beta_end: f64,
    /// `linear`, `scaled_linear` or `squaredcos_cap_v2`.
    pub beta_schedule: String,
    /// Explicit βs (then `beta_schedule` is ignored).
    pub trained_betas: Option<Vec<f64>>,
    /// DDPM: `fixed_small`, `fixed_small_log` or `fixed_large`.
    pub variance_type: String,
    /// Clip the predicted x₀ to `[−clip_sample_range, clip_sample_range]`.
    pub clip_sample: bool,
    /// See `clip_sample`.
    pub clip_sample_range: f64,
    /// `epsilon`, `sample` or `v_prediction`.
    pub prediction_type: String,
    /// `leading`, `trailing` or `linspace`.
    pub timestep_spacing: String,
    /// Added to `leading` timesteps.
    pub steps_offset: usize,
    /// DDIM: `ᾱ` after the last step is 1 (else `ᾱ_0`).
    pub set_alpha_to_one: bool,
    /// Dynamic thresholding (not implemented: must be false).
    pub thresholding: bool,
    /// Zero terminal SNR rescaling (not implemented: must be false).
    pub rescale_betas_zero_snr: bool,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            num_train_timesteps: 1000,
            beta_start: 1e-4,
            beta_end: 0.02,
            beta_schedule: "linear".into(),
            trained_betas: None,
            variance_type: "fixed_small".into(),
            clip_sample: true,
            clip_sample_range: 1.0,
            prediction_type: "epsilon".into(),
            timestep_spacing: "leading".into(),
            steps_offset: 0,
            set_alpha_to_one: true,
            thresholding: false,
            rescale_betas_zero_snr: false,
        }
    }
}

/// A checked [`SchedulerConfig`] with its schedule computed.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// The configuration as read.
    pub raw: SchedulerConfig,
    /// Parsed `beta_schedule` (`None` with `trained_betas`).
    pub beta_schedule: Option<BetaSchedule>,
    /// Parsed `prediction_type`.
    pub prediction: PredictionType,
    /// Parsed `timestep_spacing`.
    pub spacing: TimestepSpacing,
    /// Parsed `variance_type`.
    pub variance: VarianceType,
    /// `β_t`, t = 0..T−1.
    pub betas: Vec<f64>,
    /// `ᾱ_t`, t = 0..T−1.
    pub alphas_cumprod: Vec<f64>,
}

fn field(name: &str, value: impl std::fmt::Display, reason: impl Into<String>) -> Error {
    Error::invalid(format!("scheduler config: {name}"), value, reason)
}

/// `n` points from `a` to `b` in f32, as `torch.linspace(a, b, n, dtype=float32)` computes them
/// (from the start for the first half, from the end for the second).
fn linspace_f32(a: f64, b: f64, n: usize) -> Vec<f32> {
    if n == 1 {
        return vec![a as f32];
    }
    let (a32, b32) = (a as f32, b as f32);
    let step = (b32 - a32) / (n - 1) as f32;
    let half = n / 2;
    (0..n)
        .map(|i| {
            if i < half {
                a32 + step * i as f32
            } else {
                b32 - step * (n - 1 - i) as f32
            }
        })
        .collect()
}

/// `β_t`, t = 0..n−1, of a named schedule, in f32 as diffusers computes them.
pub fn betas(schedule: BetaSchedule, n: usize, beta_start: f64, beta_end: f64) -> Vec<f32> {
    match schedule {
        BetaSchedule::Linear => linspace_f32(beta_start, beta_end, n),
        BetaSchedule::ScaledLinear => linspace_f32(beta_start.sqrt(), beta_end.sqrt(), n)
            .into_iter()
            .map(|b| b * b)
            .collect(),
        BetaSchedule::SquaredCosCapV2 => {
            let alpha_bar = |t: f64| {
                ((t + 0.008) / 1.008 * std::f64::consts::FRAC_PI_2)
                    .cos()
                    .powi(2)
            };
            (0..n)
                .map(|i| {
                    let (t1, t2) = (i as f64 / n as f64, (i + 1) as f64 / n as f64);
                    (1.0 - alpha_bar(t2) / alpha_bar(t1)).min(0.999) as f32
                })
                .collect()
        }
    }
}

/// `ᾱ_t = Π_{s≤t} (1 − β_s)`, accumulated in f32 like `torch.cumprod`.
pub fn alphas_cumprod(betas: &[f32]) -> Vec<f32> {
    let mut acc = 1.0f32;
    betas
        .iter()
        .map(|b| {
            acc *= 1.0 - b;
            acc
        })
        .collect()
}

/// Inference timesteps, descending: `n` of the `num_train` training timesteps spread by `spacing`
/// (diffusers' `set_timesteps`).
///
/// ```
/// use difftheory::diffusion::config::{timesteps, TimestepSpacing};
/// assert_eq!(timesteps(TimestepSpacing::Leading, 1000, 4, 1).unwrap(), [751, 501, 251, 1]);
/// assert_eq!(timesteps(TimestepSpacing::Trailing, 1000, 4, 0).unwrap(), [999, 749, 499, 249]);
/// assert_eq!(timesteps(TimestepSpacing::Linspace, 1000, 4, 0).unwrap(), [999, 666, 333, 0]);
/// ```
pub fn timesteps(
    spacing: TimestepSpacing,
    num_train: usize,
    n: usize,
    steps_offset: usize,
) -> Result<Vec<i64>> {
    if n == 0 || n > num_train {
        return Err(Error::invalid(
            "steps",
            n,
            format!("expected 1 to {num_train} (the number of training timesteps)"),
        ));
    }
    let t = num_train as f64;
    Ok(match spacing {
        TimestepSpacing::Linspace => {
            // numpy's linspace: k · step, the last point exactly T − 1
            let step = if n > 1 {
                (t - 1.0) / (n - 1) as f64
            } else {
                0.0
            };
            (0..n)
                .rev()
                .map(|k| {
                    let v = if k == n - 1 && n > 1 {
                        t - 1.0
                    } else {
                        k as f64 * step
                    };
                    v.round_ties_even() as i64
                })
                .collect()
        }
        TimestepSpacing::Leading => {
            let ratio = (num_train / n) as i64;
            (0..n as i64)
                .rev()
                .map(|k| k * ratio + steps_offset as i64)
                .collect()
        }
        TimestepSpacing::Trailing => {
            // numpy's arange(T, 0, −T/n): ceil(T / (T/n)) points T − k · T/n
            let ratio = t / n as f64;
            let len = ((0.0 - t) / -ratio).ceil() as usize;
            (0..len)
                .map(|k| (t + k as f64 * -ratio).round_ties_even() as i64 - 1)
                .collect()
        }
    })
}

impl SchedulerConfig {
    /// Reads `scheduler_config.json` (bad JSON or a bad value is an error naming it).
    pub fn from_file(path: &Path) -> Result<Schedule> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?;
        let raw: SchedulerConfig = serde_json::from_str(&text).map_err(|e| Error::BadFile {
            path: path.to_path_buf(),
            reason: format!("not a DDPM/DDIM scheduler_config.json: {e}"),
        })?;
        raw.check().map_err(|e| e.in_file(path))
    }

    /// The scheduler config of a model folder: `scheduler_config.json` in `dir`, or in
    /// `dir/scheduler/`, else diffusers' defaults (with `None` for where it came from).
    pub fn for_model(dir: &Path) -> Result<(Schedule, Option<std::path::PathBuf>)> {
        for p in [
            dir.join("scheduler_config.json"),
            dir.join("scheduler").join("scheduler_config.json"),
        ] {
            if p.is_file() {
                return Ok((Self::from_file(&p)?, Some(p)));
            }
        }
        Ok((Self::default().check()?, None))
    }

    /// Checks the values and computes the schedule.
    pub fn check(self) -> Result<Schedule> {
        let c = &self;
        if c.thresholding {
            return Err(field(
                "thresholding",
                true,
                "dynamic thresholding is not implemented (expected false)",
            ));
        }
        if c.rescale_betas_zero_snr {
            return Err(field(
                "rescale_betas_zero_snr",
                true,
                "not implemented (expected false)",
            ));
        }
        let prediction = match c.prediction_type.as_str() {
            "epsilon" => PredictionType::Epsilon,
            "sample" => PredictionType::Sample,
            "v_prediction" => PredictionType::VPrediction,
            s => {
                return Err(field(
                    "prediction_type",
                    s,
                    "expected epsilon, sample or v_prediction",
                ))
            }
        };
        let spacing = match c.timestep_spacing.as_str() {
            "leading" => TimestepSpacing::Leading,
            "trailing" => TimestepSpacing::Trailing,
            "linspace" => TimestepSpacing::Linspace,
            s => {
                return Err(field(
                    "timestep_spacing",
                    s,
                    "expected leading, trailing or linspace",
                ))
            }
        };
        let variance = match c.variance_type.as_str() {
            "fixed_small" => VarianceType::FixedSmall,
            "fixed_small_log" => VarianceType::FixedSmallLog,
            "fixed_large" => VarianceType::FixedLarge,
            s => {
                return Err(field(
                    "variance_type",
                    s,
                    "expected fixed_small, fixed_small_log or fixed_large (learned variances are not implemented)",
                ))
            }
        };
        if !(c.clip_sample_range.is_finite() && c.clip_sample_range > 0.0) {
            return Err(field(
                "clip_sample_range",
                c.clip_sample_range,
                "expected a finite number > 0",
            ));
        }
        let (beta_schedule, b32) = match &c.trained_betas {
            Some(b) => {
                if b.is_empty() {
                    return Err(field(
                        "trained_betas",
                        "[]",
                        "expected one β per training timestep",
                    ));
                }
                (None, b.iter().map(|&x| x as f32).collect::<Vec<f32>>())
            }
            None => {
                if !(1..=1_000_000).contains(&c.num_train_timesteps) {
                    return Err(field(
                        "num_train_timesteps",
                        c.num_train_timesteps,
                        "expected 1 to 10⁶ (diffusers' models use 1000 to 4000)",
                    ));
                }
                let s = match c.beta_schedule.as_str() {
                    "linear" => BetaSchedule::Linear,
                    "scaled_linear" => BetaSchedule::ScaledLinear,
                    "squaredcos_cap_v2" => BetaSchedule::SquaredCosCapV2,
                    s => {
                        return Err(field(
                            "beta_schedule",
                            s,
                            "expected linear, scaled_linear or squaredcos_cap_v2",
                        ))
                    }
                };
                (
                    Some(s),
                    betas(s, c.num_train_timesteps, c.beta_start, c.beta_end),
                )
            }
        };
        if b32.len() != c.num_train_timesteps && c.trained_betas.is_some() {
            return Err(field(
                "trained_betas",
                format!("{} values", b32.len()),
                format!(
                    "expected num_train_timesteps = {} values",
                    c.num_train_timesteps
                ),
            ));
        }
        if let Some(b) = b32
            .iter()
            .find(|b| !(b.is_finite() && **b > 0.0 && **b < 1.0))
        {
            return Err(field(
                "beta_start",
                format!("{} .. {} (a β of {b})", c.beta_start, c.beta_end),
                "every β must lie in (0, 1)",
            ));
        }
        let ac = alphas_cumprod(&b32);
        Ok(Schedule {
            beta_schedule,
            prediction,
            spacing,
            variance,
            betas: b32.iter().map(|&b| b as f64).collect(),
            alphas_cumprod: ac.iter().map(|&a| a as f64).collect(),
            raw: self,
        })
    }
}

impl Schedule {
    /// T, the number of training timesteps.
    pub fn num_train_timesteps(&self) -> usize {
        self.alphas_cumprod.len()
    }

    /// `ᾱ_t` of an integer timestep; `t < 0` is "before the first step": `ᾱ = 1`.
    pub fn timestep_to_alpha_bar(&self, t: i64) -> f64 {
        if t < 0 {
            1.0
        } else {
            self.alphas_cumprod[t as usize]
        }
    }

    /// Inference timesteps, descending, by this config's spacing and offset.
    pub fn timesteps(&self, n: usize) -> Result<Vec<i64>> {
        let ts = timesteps(
            self.spacing,
            self.num_train_timesteps(),
            n,
            self.raw.steps_offset,
        )?;
        if let Some(&t) = ts
            .iter()
            .find(|&&t| t as usize >= self.num_train_timesteps())
        {
            return Err(field(
                "steps_offset",
                self.raw.steps_offset,
                format!("gives timestep {t}, beyond the last training timestep"),
            ));
        }
        Ok(ts)
    }
}
