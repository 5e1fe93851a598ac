//! Paper 002's image analogue (feature `torch`): U-Nets trained on the shipped 8 × 8 digits with
//! the CEM's objective (x₀-prediction, weight `λ(t) = 1/(e^t − 1)`) against DDPM's (ε-prediction,
//! uniform weight), compared by the Fréchet distance of their samples to the digits.
//!
//! Lu, Wang and Bal report on MNIST an FID of 56.55 for the CEM against 63.64 for DDPM. This is
//! not that experiment (no MNIST, no Inception network: 8 × 8 images, CPU training), but the same
//! question on the data this project ships. Three objectives ([`DigitsObjective`]):
//!
//! - `ddpm`: the network predicts ε, loss `|ε − ε_θ|²`;
//! - `cem`: the network predicts x₀, loss `λ(t)|x₀ − f_θ|²` with `λ = ᾱ_t/(1 − ᾱ_t)`, which is
//!   `1/(e^t − 1)` in the paper's OU time (`ᾱ_t = e^{−t}`);
//! - `cem-uniform`: x₀-prediction with `λ = 1` (the paper's weighting ablation).
//!
//! `cem` and `ddpm` minimize the same functional: image by image, `λ(t)|x₀ − f|²` equals
//! `|ε − ε̂|²` for the noise `ε̂ = (x_t − √ᾱ f)/√(1 − ᾱ)` that f implies
//! ([`LossWeight`]). They differ in what the network outputs,
//! so in how its errors reach the sampler: the score is `−ε̂/√(1 − ᾱ)`, so an error in ε_θ reaches
//! it multiplied by `1/√(1 − ᾱ)`, an error in f_θ by `√ᾱ/(1 − ᾱ)`, while f's target stays bounded.
//!
//! Two designs ([`DigitsDesign`]) for the crate's small U-Net ([`crate::diffusion::train`], EMA
//! weights) trained on all 1797 digits:
//!
//! - `authors` (the default), after the authors' public MNIST code (`MNIST/__init__.py` of
//!   Yubin-Lu/CEM_Diffusion_Model): 1000 training timesteps of constant `β = 1 − e^{−0.01}`, so OU
//!   times `t = 0.01, 0.02, …, 10` drawn uniformly, the network fed the real time t
//!   ([`TimestepInput::OuTime`]), no clipping, and sampling from `N(0, I)` at T = 10 down the
//!   exponential grid to 10⁻⁴ ([`authors_grid`], `sampling_steps` points) with the exact-linear-part
//!   step: below t = 0.01 every network extrapolates;
//! - `ddpm-schedule`: the DDPM recipe, linear β from 1e-4 to 0.02 (OU times 1e-4 … 10 all trained),
//!   the index as time input, DDPM ancestral sampling on `sampling_steps` of the 1000 timesteps with
//!   x̂₀ clipped to [−1, 1].
//!
//! Replicate r of every objective uses the same seed `task_seed(opts.seed, r)`: the same initial
//! weights, batches, timesteps and noise, and the same sampling noise, so the objectives are
//! compared in pairs. Per model the run records:
//!
//! - `fd`: the squared Fréchet distance ([`GaussianFit::frechet_distance`]) between the Gaussian
//!   fits of `generated` samples and of the 1797 digits, on the stated feature map **the 64
//!   pixels** in [−1, 1] (an Inception network has nothing to say about 8 × 8 images);
//! - `fd_floor`: the same distance for `generated` draws with replacement from the digits (a model
//!   that has learnt the training set exactly): the finite-sample floor of `fd`;
//! - `eps_mse` and `x0_mse`: the mean squared errors of the implied ε̂ and x̂₀ on fixed draws (every
//!   digit, or the first `eval_images`, one noise each, at the 20 training timesteps 0, 50, …,
//!   950), the same draws for every model: `eps_mse` is the loss `cem` and `ddpm` share (uniform
//!   in t over the grid);
//! - `final_loss` (the training loss of the last reporting interval, in the model's own objective)
//!   and `train_seconds`.
//!
//! Nothing is lost: with [`RunOptions::checkpoint`] set each model trains in
//! `checkpoint/<design>/<objective>-r<replicate>` (checkpointed, resumed when run again) and keeps
//! its measurement there (`measurement.json`). Models are trained one after another.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use polars::prelude::DataFrame;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use super::contract::field;
use super::{Experiment, ExperimentOutput, Field, Outcome, RunOptions};
use crate::diffusion::data::{digits, normal_tensor, SIDE};
use crate::diffusion::image::{self, Picture};
use crate::diffusion::prediction::split_prediction;
use crate::diffusion::sampling::{ddpm_sample, initial_noise, item_noise};
use crate::diffusion::train::{
    train_ddpm, LossWeight, RunSettings, TimestepInput, TrainDdpmConfig,
};
use crate::diffusion::{Ddpm, SchedulerConfig};
use crate::error::{Error, Result};
use crate::experiments::pixel_memorization::images_to_columns;
use crate::gaussian::GaussianFit;
use crate::plot::{scatter_groups, Figure, FigureSpec};
use crate::rng::{rng_from_seed, task_seed};
use crate::sweep::{f64_column, records_frame, summarize, Progress, Record, Reporter};
use crate::torch::DeviceChoice;
use crate::unet::UNet2DModel;

/// What the network predicts and how the loss weights it (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigitsObjective {
    /// ε-prediction, uniform weight (DDPM).
    Ddpm,
    /// x₀-prediction, weight `ᾱ/(1 − ᾱ)` (the CEM's `λ(t) = 1/(e^t − 1)`).
    Cem,
    /// x₀-prediction, weight 1.
    CemUniform,
}

impl DigitsObjective {
    /// The trainer's `prediction_type` (`epsilon` or `sample`) and [`LossWeight`].
    pub fn training(self) -> (&'static str, LossWeight) {
        match self {
            DigitsObjective::Ddpm => ("epsilon", LossWeight::Uniform),
            DigitsObjective::Cem => ("sample", LossWeight::Snr),
            DigitsObjective::CemUniform => ("sample", LossWeight::Uniform),
        }
    }
}

impl FromStr for DigitsObjective {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ddpm" => Ok(DigitsObjective::Ddpm),
            "cem" => Ok(DigitsObjective::Cem),
            "cem-uniform" | "cem_uniform" => Ok(DigitsObjective::CemUniform),
            _ => Err(Error::invalid(
                "objective",
                s,
                "expected ddpm, cem or cem-uniform",
            )),
        }
    }
}

impl std::fmt::Display for DigitsObjective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DigitsObjective::Ddpm => "ddpm",
            DigitsObjective::Cem => "cem",
            DigitsObjective::CemUniform => "cem-uniform",
        })
    }
}

/// How the models are trained and sampled (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigitsDesign {
    /// The authors' MNIST code: OU times uniform on the grid 0.01, 0.02, …, 10 (1000 timesteps of
    /// constant β = 1 − e^{−0.01}), the network fed the real time, sampled on the exponential grid
    /// from 10 down to 10⁻⁴ (then 0) with the exact-linear-part step, no clipping.
    Authors,
    /// The DDPM recipe: linear β from 1e-4 to 0.02 over 1000 timesteps, the network fed the index,
    /// DDPM ancestral sampling on `sampling_steps` of the timesteps, x̂₀ clipped to [−1, 1].
    DdpmSchedule,
}

impl FromStr for DigitsDesign {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "authors" => Ok(DigitsDesign::Authors),
            "ddpm-schedule" | "ddpm_schedule" => Ok(DigitsDesign::DdpmSchedule),
            _ => Err(Error::invalid(
                "design",
                s,
                "expected authors or ddpm-schedule",
            )),
        }
    }
}

impl std::fmt::Display for DigitsDesign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DigitsDesign::Authors => "authors",
            DigitsDesign::DdpmSchedule => "ddpm-schedule",
        })
    }
}

impl DigitsDesign {
    /// What the network is given as its time: the real OU time on the authors' design (their
    /// sampler asks it about times between and below the training ones), the index otherwise.
    pub fn time_input(self) -> TimestepInput {
        match self {
            DigitsDesign::Authors => TimestepInput::OuTime,
            DigitsDesign::DdpmSchedule => TimestepInput::Index,
        }
    }
}

/// The authors' smallest training time and the OU-time spacing of their training grid.
const AUTHORS_DT: f64 = 0.01;
/// The end of the authors' time grids, T = 10.
const AUTHORS_T: f64 = 10.0;
/// The smallest sampling time of their exponential grid.
const AUTHORS_T_MIN: f64 = 1e-4;

/// Parameters of the run (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct CemDigits {
    /// How the models are trained and sampled.
    pub design: DigitsDesign,
    /// The objectives, each trained `trials` times.
    pub objectives: Vec<DigitsObjective>,
    /// Adam steps per model.
    pub steps: usize,
    /// Images per step.
    pub batch: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Generated images per model.
    pub generated: usize,
    /// Sampling steps: points of the exponential grid (authors) or DDPM timesteps used (of 1000).
    pub sampling_steps: usize,
    /// Digits in the evaluation draws of `eps_mse` and `x0_mse` (the first ones of the file).
    pub eval_images: usize,
    /// Where to train and sample.
    pub device: DeviceChoice,
}

impl Default for CemDigits {
    fn default() -> Self {
        Self {
            design: DigitsDesign::Authors,
            objectives: vec![
                DigitsObjective::Ddpm,
                DigitsObjective::Cem,
                DigitsObjective::CemUniform,
            ],
            // the shipped digits model's budget
            steps: 2000,
            batch: 128,
            lr: 1e-3,
            generated: 1000,
            // the authors' 2-D grid (their MNIST runs use 1000)
            sampling_steps: 200,
            eval_images: 1797,
            device: DeviceChoice::Auto,
        }
    }
}

impl Experiment for CemDigits {
    const NAME: &'static str = "cem-digits";
    const TITLE: &'static str =
        "Paper 002: U-Nets on the digits with the CEM's objective (x₀, λ(t)) against DDPM's (ε), Fréchet distance of the samples";
    const TRIALS: Option<usize> = Some(1);
    const SHARDS: bool = false;
    type Output = CemDigitsOutput;

    fn fields() -> Vec<Field<Self>> {
        vec![
            field!(one "design", design,
                "authors (times on the grid 0.01..10, real-time input, exponential sampling grid to 1e-4) or ddpm-schedule (linear β, DDPM ancestral sampling)."),
            field!(list "objectives", objectives,
                "Objectives: ddpm (ε, uniform), cem (x₀, λ = ᾱ/(1 − ᾱ)), cem-uniform (x₀, λ = 1)."),
            field!(one "steps", steps, "Adam steps per model.").at_least(1.0),
            field!(one "batch", batch, "Images per step.").at_least(1.0),
            field!(one "lr", lr, "Peak Adam learning rate.").above(0.0),
            field!(one "generated", generated, "Generated images per model.").at_least(2.0),
            field!(one "sampling_steps", sampling_steps,
                "Sampling steps: points of the exponential grid (authors), or DDPM timesteps used of the 1000.")
                .at_least(1.0)
                .at_most(1000.0),
            field!(one "eval_images", eval_images,
                "Digits in the evaluation draws of eps_mse and x0_mse (the first ones).")
                .at_least(1.0)
                .at_most(1797.0),
            field!(one "device", device, "Where to train and sample."),
        ]
    }
    fn check(&self) -> Result<()> {
        super::check_fields(self)?;
        // one model folder per (objective, replicate)
        super::check_each_once("objectives", &self.objectives, "each objective once")
    }
    fn run(&self, opts: &RunOptions) -> Result<CemDigitsOutput> {
        run(self, opts)
    }
    fn figure(&self, out: &CemDigitsOutput) -> Result<Option<Figure>> {
        figure(&out.raw).map(Some)
    }
}

/// The frames of a run.
#[derive(Debug, Clone)]
pub struct CemDigitsOutput {
    /// One row per model: `objective, replicate, seed, fd, fd_floor, eps_mse, x0_mse,
    /// final_loss, train_seconds`.
    pub raw: DataFrame,
    /// One row per objective: `trials` and `_mean, _sem, _median` of every measured column.
    pub summary: DataFrame,
    /// Where the models ran.
    pub device: Device,
}

impl Outcome for CemDigitsOutput {
    fn into_tables(self) -> Result<ExperimentOutput> {
        let note = format!("{} model(s) on {:?}", self.raw.height(), self.device);
        Ok(ExperimentOutput {
            notes: vec![note],
            ..ExperimentOutput::new(self.raw, self.summary)
        })
    }
}

/// One model's measurement (also what `measurement.json` keeps).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigitsRow {
    /// The objective's name.
    pub objective: String,
    /// Replicate index.
    pub replicate: usize,
    /// The model's seed (shared by the objectives of one replicate).
    pub seed: u64,
    /// Squared Fréchet distance of the samples to the digits (pixels).
    pub fd: f64,
    /// The same for draws with replacement from the digits.
    pub fd_floor: f64,
    /// Mean squared error of the implied ε̂ on the fixed evaluation draws.
    pub eps_mse: f64,
    /// Mean squared error of the implied x̂₀ on the same draws.
    pub x0_mse: f64,
    /// Training loss of the last reporting interval (the model's own objective).
    pub final_loss: f64,
    /// Seconds of training in the run that trained the model (0 when only measured again).
    pub train_seconds: f64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Kept {
    settings: String,
    row: DigitsRow,
}

const KEPT_FILE: &str = "measurement.json";

/// Timesteps of the evaluation draws: 0, 50, …, 950.
const EVAL_TIMESTEPS: std::ops::Range<i64> = 0..20;
const EVAL_STRIDE: i64 = 50;

impl CemDigits {
    /// The trainer's settings for `objective` with seed `seed`.
    pub fn train_config(&self, objective: DigitsObjective, seed: u64) -> TrainDdpmConfig {
        let (prediction, weight) = objective.training();
        let d = TrainDdpmConfig::default();
        let scheduler = match self.design {
            DigitsDesign::DdpmSchedule => d.scheduler.clone(),
            DigitsDesign::Authors => {
                // ᾱ_k = e^{−0.01 (k+1)}: OU times 0.01, 0.02, …, 10, drawn uniformly in training
                let beta = 1.0 - (-AUTHORS_DT).exp();
                let n = (AUTHORS_T / AUTHORS_DT).round() as usize;
                SchedulerConfig {
                    num_train_timesteps: n,
                    beta_start: beta,
                    beta_end: beta,
                    beta_schedule: "linear".into(),
                    clip_sample: false,
                    ..d.scheduler.clone()
                }
            }
        };
        TrainDdpmConfig {
            data: "digits".into(),
            batch: self.batch,
            lr: self.lr,
            warmup: d.warmup.min(self.steps / 4),
            prediction_type: prediction.into(),
            loss_weight: weight.to_string(),
            time_input: self.design.time_input().to_string(),
            seed,
            scheduler,
            ..d
        }
    }

    /// The folder of a model under the run's checkpoint: `<design>/<objective>-r<replicate>`.
    pub fn model_folder(&self, objective: DigitsObjective, replicate: usize) -> PathBuf {
        PathBuf::from(self.design.to_string()).join(format!("{objective}-r{replicate}"))
    }

    fn settings_key(&self, seed: u64) -> String {
        format!(
            "steps {} batch {} lr {} generated {} sampling_steps {} eval_images {} seed {}",
            self.steps,
            self.batch,
            self.lr,
            self.generated,
            self.sampling_steps,
            self.eval_images,
            seed
        )
    }
}

/// Trains, samples and measures every (objective, replicate); `opts.progress` gets a line per
/// model.
pub fn run(p: &CemDigits, opts: &RunOptions) -> Result<CemDigitsOutput> {
    super::refuse_shards::<CemDigits>(opts)?;
    p.check()?;
    super::check_trials::<CemDigits>(opts)?;
    let device = p.device.resolve()?;
    super::in_models_folder::<CemDigits, _>(opts, |root| {
        run_in(p, opts, device, root, opts.progress)
    })
}

fn run_in(
    p: &CemDigits,
    opts: &RunOptions,
    device: Device,
    root: &Path,
    progress: Progress,
) -> Result<CemDigitsOutput> {
    let data = digits()?.0;
    let data_cols = images_to_columns(&data)?;
    let reference = fit_of_columns(&data_cols)?;
    let eval = EvalDraws::new(
        &data.narrow(0, 0, p.eval_images as i64),
        task_seed(opts.seed, u64::MAX),
    );
    let total = p.objectives.len() * opts.trials;
    let mut reporter = Reporter::new(progress, CemDigits::NAME, std::time::Duration::ZERO);
    let mut rows = Vec::with_capacity(total);
    let mut done = 0;
    for replicate in 0..opts.trials {
        let seed = task_seed(opts.seed, replicate as u64);
        for &objective in &p.objectives {
            let dir = root.join(p.model_folder(objective, replicate));
            let key = p.settings_key(seed);
            let row = super::kept_or_measured(
                &dir.join(KEPT_FILE),
                |k: &Kept| k.settings == key && k.row.objective == objective.to_string(),
                || {
                    Ok(Kept {
                        settings: key.clone(),
                        row: measure(
                            p, objective, replicate, seed, device, &dir, &data_cols, &reference,
                            &eval,
                        )?,
                    })
                },
            )?
            .row;
            rows.push(row);
            done += 1;
            reporter.update(done, total);
        }
    }
    let records: Vec<Record> = rows.iter().map(row_record).collect();
    let raw = records_frame(&records)?;
    let summary = summarize(&raw, &["objective"], &MEASURED)?;
    Ok(CemDigitsOutput {
        raw,
        summary,
        device,
    })
}

const MEASURED: [&str; 6] = [
    "fd",
    "fd_floor",
    "eps_mse",
    "x0_mse",
    "final_loss",
    "train_seconds",
];

fn row_record(r: &DigitsRow) -> Record {
    Record::new()
        .with("objective", r.objective.as_str())
        .with("replicate", r.replicate as i64)
        .with("seed", r.seed as i64)
        .with("fd", r.fd)
        .with("fd_floor", r.fd_floor)
        .with("eps_mse", r.eps_mse)
        .with("x0_mse", r.x0_mse)
        .with("final_loss", r.final_loss)
        .with("train_seconds", r.train_seconds)
}

/// The Gaussian fit of the columns of `x` (one point per column).
fn fit_of_columns(x: &faer::Mat<f64>) -> Result<GaussianFit> {
    let points: Vec<Vec<f64>> = (0..x.ncols()).map(|j| x.col_as_slice(j).to_vec()).collect();
    GaussianFit::of_points(&points)
}

/// The fixed evaluation draws: every digit with one noise per timestep of the grid.
struct EvalDraws {
    x0: Tensor,
    noise: Vec<Tensor>,
}

impl EvalDraws {
    fn new(data: &Tensor, seed: u64) -> Self {
        let noise = EVAL_TIMESTEPS
            .map(|k| {
                let mut rng = rng_from_seed(task_seed(seed, k as u64));
                normal_tensor(&mut rng, &data.size()).to_kind(Kind::Float)
            })
            .collect();
        Self {
            x0: data.shallow_clone(),
            noise,
        }
    }

    /// Mean squared errors of ε̂ and x̂₀ over the draws.
    fn errors(&self, net: &Net<'_>, dir: &Path, device: Device) -> Result<(f64, f64)> {
        let (schedule, _) = SchedulerConfig::for_model(dir)?;
        let x0 = self.x0.to_device(device);
        let (mut eps_sum, mut x0_sum) = (0.0, 0.0);
        tch::no_grad(|| -> Result<()> {
            for (k, noise) in EVAL_TIMESTEPS.zip(&self.noise) {
                let t = k * EVAL_STRIDE;
                let ab = schedule.timestep_to_alpha_bar(t);
                let noise = noise.to_device(device);
                let x_t = &x0 * ab.sqrt() + &noise * (1.0 - ab).sqrt();
                let pred = split_prediction(schedule.prediction, &net.at_index(&x_t, t, ab)?, &x_t, ab);
                eps_sum += (pred.eps - &noise).square().mean(Kind::Double).double_value(&[]);
                x0_sum += (pred.x0 - &x0).square().mean(Kind::Double).double_value(&[]);
            }
            Ok(())
        })?;
        let n = EVAL_TIMESTEPS.count() as f64;
        Ok((eps_sum / n, x0_sum / n))
    }
}

#[allow(clippy::too_many_arguments)]
fn measure(
    p: &CemDigits,
    objective: DigitsObjective,
    replicate: usize,
    seed: u64,
    device: Device,
    dir: &Path,
    data: &faer::Mat<f64>,
    reference: &GaussianFit,
    eval: &EvalDraws,
) -> Result<DigitsRow> {
    let cfg = p.train_config(objective, seed);
    let settings = RunSettings {
        steps: p.steps,
        device,
        report_every: (p.steps / 10).max(1),
        checkpoint_every: (p.steps / 4).max(1),
    };
    let t0 = Instant::now();
    let summary = train_ddpm(&cfg, &settings, dir, |_| {})?;
    let train_seconds = if summary.resumed_from < summary.steps {
        t0.elapsed().as_secs_f64()
    } else {
        0.0
    };
    let final_loss = summary.loss_log.last().map(|l| l.1).unwrap_or(f64::NAN);
    let model = UNet2DModel::from_dir(dir, device)?;

    let generated = generate(p, &model, dir, p.generated, seed, device)?;
    let fd = fit_of_columns(&images_to_columns(&generated)?)?.frechet_distance(reference)?;

    let mut rng = rng_from_seed(task_seed(seed, 2));
    let picks: Vec<usize> = (0..p.generated)
        .map(|_| rng.random_range(0..data.ncols()))
        .collect();
    let copies = faer::Mat::from_fn(data.nrows(), p.generated, |r, c| data[(r, picks[c])]);
    let fd_floor = fit_of_columns(&copies)?.frechet_distance(reference)?;

    let (eps_mse, x0_mse) = eval.errors(&Net::new(p, &model), dir, device)?;
    Ok(DigitsRow {
        objective: objective.to_string(),
        replicate,
        seed,
        fd,
        fd_floor,
        eps_mse,
        x0_mse,
        final_loss,
        train_seconds,
    })
}

/// A trained model with the time input its design feeds it.
struct Net<'a> {
    model: &'a UNet2DModel,
    input: TimestepInput,
}

impl<'a> Net<'a> {
    fn new(p: &CemDigits, model: &'a UNet2DModel) -> Self {
        Self {
            model,
            input: p.design.time_input(),
        }
    }

    /// The output at training timestep `k`, whose cumulative ᾱ is `alpha_bar`.
    fn at_index(&self, x: &Tensor, k: i64, alpha_bar: f64) -> Result<Tensor> {
        match self.input {
            TimestepInput::Index => self.model.forward(x, &Tensor::from(k)),
            TimestepInput::OuTime => self.at_time(x, -alpha_bar.ln()),
        }
    }

    /// The output at OU time `t` (models fed the real time only).
    fn at_time(&self, x: &Tensor, t: f64) -> Result<Tensor> {
        self.model.forward(x, &Tensor::from(t as f32))
    }
}

/// The authors' exponential sampling grid, descending: `T, …, t_min` (`n` points,
/// `t_k = t_min (T/t_min)^{k/(n−1)}`), then 0.
pub fn authors_grid(n: usize) -> Vec<f64> {
    let n = n.max(2);
    let mut g: Vec<f64> = (0..n)
        .rev()
        .map(|k| AUTHORS_T_MIN * (AUTHORS_T / AUTHORS_T_MIN).powf(k as f64 / (n - 1) as f64))
        .collect();
    g.push(0.0);
    g
}

/// `count` images from the model in `dir` (on the CPU). Every image draws its own noise, so these
/// are the first `count` of the images a measurement used.
///
/// - `ddpm-schedule`: DDPM ancestral sampling on `sampling_steps` of the timesteps;
/// - `authors`: from `x ~ N(0, I)` at T = 10 down the exponential grid ([`authors_grid`]) with the
///   exact-linear-part step of the authors' CEM sampler, for every objective:
///   `x ← e^{Δt/2}(x − Δt s) + √(1 − e^{−Δt}) ξ`, `s = (x − √ᾱ x̂₀)/(1 − ᾱ) = ε̂/√(1 − ᾱ)`,
///   `ᾱ = e^{−t}`, the network asked at the real time t; the last step (to t = 0) adds no noise.
fn generate(
    p: &CemDigits,
    model: &UNet2DModel,
    dir: &Path,
    count: usize,
    seed: u64,
    device: Device,
) -> Result<Tensor> {
    let (schedule, _) = SchedulerConfig::for_model(dir)?;
    let shape = [count as i64, 1, SIDE, SIDE];
    let x_t = initial_noise(&shape, device, task_seed(seed, 1));
    match p.design {
        DigitsDesign::DdpmSchedule => {
            let ddpm = Ddpm::new(schedule, p.sampling_steps)?;
            Ok(ddpm_sample(model, &ddpm, &x_t, task_seed(seed, 1))?.to_device(Device::Cpu))
        }
        DigitsDesign::Authors => {
            let net = Net::new(p, model);
            let grid = authors_grid(p.sampling_steps);
            tch::no_grad(|| {
                let mut x = x_t;
                for (i, w) in grid.windows(2).enumerate() {
                    let (t, next) = (w[0], w[1]);
                    let (ab, dt) = ((-t).exp(), t - next);
                    let pred = split_prediction(schedule.prediction, &net.at_time(&x, t)?, &x, ab);
                    let s = pred.eps / (1.0 - ab).sqrt();
                    x = (&x - s * dt) * (0.5 * dt).exp();
                    if next > 0.0 {
                        let z = item_noise(&shape, device, task_seed(seed, 1), i as u64 + 1);
                        x += z * (1.0 - (-dt).exp()).sqrt();
                    }
                }
                Ok(x.to_device(Device::Cpu))
            })
        }
    }
}

/// The first `count` samples of replicate `replicate` of every objective of a run that [`run`]
/// kept in `opts.checkpoint`, one row per objective (in the order of `p.objectives`), enlarged
/// `zoom_factor` times; black is −1, white 1. (A notebook cell cannot do the tensor arithmetic
/// itself: libtch's C symbols are not exported from the crate's shared library.)
pub fn kept_picture(
    p: &CemDigits,
    opts: &RunOptions,
    replicate: usize,
    count: usize,
    zoom_factor: usize,
) -> Result<Picture> {
    p.check()?;
    let root = super::kept_models_folder(opts)?;
    if replicate >= opts.trials || count == 0 {
        return Err(Error::invalid(
            "picture",
            format!("replicate {replicate}, {count} images"),
            format!("a replicate below {} and at least one image", opts.trials),
        ));
    }
    let device = p.device.resolve()?;
    let seed = task_seed(opts.seed, replicate as u64);
    let mut rows = Vec::with_capacity(p.objectives.len());
    for objective in &p.objectives {
        let dir = root.join(p.model_folder(*objective, replicate));
        let model = UNet2DModel::from_dir(&dir, device)?;
        rows.push(generate(p, &model, &dir, count, seed, device)?);
    }
    let refs: Vec<&Tensor> = rows.iter().collect();
    Picture::grid(&image::stack(&refs), count as i64, zoom_factor.max(1) as i64)
}

/// Each model's Fréchet distance against its replicate, one colour per objective, over the floor
/// of exact copies (the mean over replicates, dashed).
pub fn figure(raw: &DataFrame) -> Result<Figure> {
    let floor = f64_column(raw, "fd_floor")?;
    let reps = f64_column(raw, "replicate")?;
    let level = floor.iter().sum::<f64>() / floor.len().max(1) as f64;
    let top = reps.iter().cloned().fold(0.0, f64::max);
    let (xs, ys) = ([-0.25, top + 0.25], [level, level]);
    scatter_groups(
        raw,
        "replicate",
        "fd",
        Some("objective"),
        Some((&xs, &ys, "floor: copies of the digits")),
        &FigureSpec::new(
            "Fréchet distance (64 pixels) of 8 × 8 digit samples, per objective",
            "replicate (shared seed)",
            "squared Fréchet distance to the digits",
        ),
    )
}
