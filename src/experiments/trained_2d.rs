//! Trained 2-D score models (paper 002, feature `torch`): the same small network trained with the
//! CEM, SGM and DDPM losses (and the CEM with `λ = 1` instead of `λ(t) = 1/(e^t − 1)`, the weighting
//! ablation) on the line, the spiral and the eight points, sampled with the exponential schedule
//! (eq. 41: `t_1 = 1e-4`, `T = 10`), and compared with the exact targets.
//!
//! Per (data, model) the run records:
//!
//! - `errors`: at each time of `error_times`, on the same draws of `X_t ~ p_t` for every model, the
//!   score error `E|ŝ − ∇log p_t|²` (with its standard error), its size relative to `E|∇log p_t|²`
//!   — the "pollution" near the manifold, where the SGM and DDPM targets are singular — and the
//!   error of the implied posterior mean `E|f̂ − f|²`;
//! - `samples`: the generated points (reverse SDE, exact-linear-part step, paths from N(0, I₂));
//! - `summary`: final training loss, mean / median distance of the samples to the data support;
//! - `losses`: the training loss averaged over windows of 50 steps.
//!
//! Models are trained one after the other (tch's generator is global: seeding it per model keeps a
//! run reproducible); every model of one data set sees the same data, times and noise draws.

use std::str::FromStr;
use std::time::Duration;

use polars::prelude::DataFrame;

use super::contract::field;
use super::{Experiment, ExperimentOutput, Field, Outcome, RunOptions};
use crate::error::{Error, Result};
use crate::rng::{rng_from_seed, task_seed};
use crate::sampler::{gaussian_starts, Drift, ReverseSde, Step};
use crate::schedule::{ForwardProcess, TimeGrid};
use crate::score::{sample_xt, score_batch_into, Curve, FlatGaussian, PointCloud, Posterior};
use crate::stats::{mean_sem, median, Welford};
use crate::sweep::{f64_column, records_frame, rows_where, Record, Reporter};
use crate::trained::{train, CemWeight, Objective, TrainConfig};

const PROCESS: ForwardProcess = ForwardProcess::OuHalf;

/// Paper 002's 2-D data sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Data2d {
    /// `X_0 = (Z, 0)`, `Z ~ N(0, 1)`.
    Line,
    /// `(U cos U, U sin U)`, `U ~ Unif[1, 13]`.
    Spiral,
    /// Eight points on the circle of radius 2.
    EightPoints,
}

impl FromStr for Data2d {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "line" => Ok(Data2d::Line),
            "spiral" | "curve" => Ok(Data2d::Spiral),
            "eight-points" | "eight_points" | "points" => Ok(Data2d::EightPoints),
            _ => Err(Error::invalid(
                "data",
                s,
                "expected line, spiral or eight-points",
            )),
        }
    }
}

impl std::fmt::Display for Data2d {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Data2d::Line => "line",
            Data2d::Spiral => "spiral",
            Data2d::EightPoints => "eight-points",
        })
    }
}

impl Data2d {
    /// The data with its exact posterior mean.
    pub fn posterior(self) -> Box<dyn Posterior> {
        match self {
            Data2d::Line => Box::new(FlatGaussian::line()),
            Data2d::Spiral => Box::new(Curve::spiral()),
            Data2d::EightPoints => Box::new(PointCloud::eight_points()),
        }
    }

    /// Euclidean distance from `x` to the support of the data.
    pub fn distance(self, x: &[f64]) -> f64 {
        match self {
            Data2d::Line => x[1].abs(),
            Data2d::Spiral => Curve::spiral().distance(x),
            Data2d::EightPoints => PointCloud::eight_points().distance(x),
        }
    }

    /// A polyline tracing the support (for the eight points: the circle they sit on), for plots.
    pub fn support(self) -> (Vec<f64>, Vec<f64>) {
        match self {
            Data2d::Line => (vec![-4.0, 4.0], vec![0.0, 0.0]),
            Data2d::Spiral => {
                let c = Curve::spiral();
                (0..=400)
                    .map(|k| c.point(1.0 + 12.0 * k as f64 / 400.0))
                    .map(|p| (p[0], p[1]))
                    .unzip()
            }
            Data2d::EightPoints => (0..=100)
                .map(|k| {
                    let a = k as f64 * std::f64::consts::TAU / 100.0;
                    (2.0 * a.cos(), 2.0 * a.sin())
                })
                .unzip(),
        }
    }
}

/// A loss and its weighting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// CEM with `λ(t) = 1/(e^t − 1)`.
    Cem,
    /// CEM with `λ = 1` (the ablation).
    CemUniform,
    /// SGM.
    Sgm,
    /// DDPM.
    Ddpm,
}

impl FromStr for Variant {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "cem" => Ok(Variant::Cem),
            "cem-uniform" | "cem_uniform" => Ok(Variant::CemUniform),
            "sgm" => Ok(Variant::Sgm),
            "ddpm" => Ok(Variant::Ddpm),
            _ => Err(Error::invalid(
                "model",
                s,
                "expected cem, cem-uniform, sgm or ddpm",
            )),
        }
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Variant::Cem => "cem",
            Variant::CemUniform => "cem-uniform",
            Variant::Sgm => "sgm",
            Variant::Ddpm => "ddpm",
        })
    }
}

impl Variant {
    fn objective(self) -> (Objective, CemWeight) {
        match self {
            Variant::Cem => (Objective::Cem, CemWeight::Paper),
            Variant::CemUniform => (Objective::Cem, CemWeight::Uniform),
            Variant::Sgm => (Objective::Sgm, CemWeight::Paper),
            Variant::Ddpm => (Objective::Ddpm, CemWeight::Paper),
        }
    }
}

/// Parameters of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Trained2d {
    /// Data sets.
    pub data: Vec<Data2d>,
    /// Models trained on each.
    pub variants: Vec<Variant>,
    /// Network, optimizer and training times (objective and seed are set per model).
    pub train: TrainConfig,
    /// Generated paths per model.
    pub paths: usize,
    /// Steps of the exponential sampling schedule.
    pub sample_steps: usize,
    /// Times at which the learned targets are compared with the exact ones.
    pub error_times: Vec<f64>,
    /// Draws of `X_t` per comparison time.
    pub error_points: usize,
}

impl Default for Trained2d {
    fn default() -> Self {
        Self {
            data: vec![Data2d::Line, Data2d::Spiral, Data2d::EightPoints],
            variants: vec![
                Variant::Cem,
                Variant::CemUniform,
                Variant::Sgm,
                Variant::Ddpm,
            ],
            train: TrainConfig::default(),
            paths: 2000,
            sample_steps: 200,
            error_times: vec![1e-3, 1e-2, 1e-1, 1.0],
            error_points: 1000,
        }
    }
}

impl Experiment for Trained2d {
    const NAME: &'static str = "trained-2d";
    const TITLE: &'static str =
        "Paper 002: small networks trained with the CEM, SGM and DDPM losses on 2-D data, against the exact targets";
    const TRIALS: Option<usize> = None;
    type Output = Trained2dOutput;

    fn fields() -> Vec<Field<Self>> {
        vec![
            field!(list "data", data, "Data sets."),
            field!(list "models", variants, "Losses (cem-uniform: the CEM with λ = 1)."),
            field!(one "train_steps", train.steps, "Adam steps per model.").at_least(1.0),
            field!(one "hidden", train.hidden, "Width of the hidden layers.").at_least(1.0),
            field!(one "depth", train.depth, "Hidden layers.").at_least(1.0),
            field!(one "batch", train.batch, "Examples per step.").at_least(1.0),
            field!(one "lr", train.lr, "Adam learning rate.").above(0.0),
            field!(one "paths", paths, "Generated paths per model.").at_least(2.0),
            field!(one "sample_steps", sample_steps, "Steps of the exponential sampling schedule.")
                .at_least(2.0),
            field!(list "error_times", error_times,
                "Times at which the learned targets are compared with the exact ones.")
                .above(0.0),
            field!(one "error_points", error_points, "Draws of X_t per comparison time.")
                .at_least(2.0),
        ]
    }
    fn run(&self, opts: &RunOptions) -> Result<Trained2dOutput> {
        run(self, opts)
    }
}

impl Outcome for Trained2dOutput {
    /// The summary, and the score errors as the raw table.
    fn into_tables(self) -> Result<ExperimentOutput> {
        Ok(ExperimentOutput::new(self.errors, self.summary))
    }
}

/// The frames of a run (see the module docs).
#[derive(Debug, Clone)]
pub struct Trained2dOutput {
    /// `data, model, final_loss, mean_distance, mean_distance_sem, median_distance`.
    pub summary: DataFrame,
    /// `data, model, t, score_error, score_error_sem, score_error_relative, mean_error`.
    pub errors: DataFrame,
    /// `data, model, x, y`.
    pub samples: DataFrame,
    /// `data, model, step, loss`.
    pub losses: DataFrame,
}

impl Trained2dOutput {
    /// One number of the `errors` frame: column `column` for (data, model) at time `t`.
    pub fn error_at(&self, data: &str, model: &str, t: f64, column: &str) -> Result<f64> {
        let rows = rows_where(&rows_where(&self.errors, "data", data)?, "model", model)?;
        let ts = f64_column(&rows, "t")?;
        let k = ts
            .iter()
            .position(|x| (x - t).abs() <= 1e-12 * t.abs())
            .ok_or_else(|| {
                Error::invalid(
                    "t",
                    t,
                    format!("not among the error times of {data}/{model}: {ts:?}"),
                )
            })?;
        Ok(f64_column(&rows, column)?[k])
    }

    /// One number of the `summary` frame: column `column` for (data, model).
    pub fn summary_of(&self, data: &str, model: &str, column: &str) -> Result<f64> {
        let rows = rows_where(&rows_where(&self.summary, "data", data)?, "model", model)?;
        f64_column(&rows, column)?
            .first()
            .copied()
            .ok_or_else(|| Error::invalid("model", format!("{data}/{model}"), "not in this run"))
    }
}

/// Trains, samples and compares every (data, model) pair.
pub fn run(p: &Trained2d, opts: &RunOptions) -> Result<Trained2dOutput> {
    p.check()?;
    let seed = opts.seed;
    let grid = TimeGrid::exponential(p.train.t_min, p.train.t_max, p.sample_steps)?;
    let total = p.data.len() * p.variants.len();
    let mut reporter = Reporter::new(opts.progress, "trained-2d", Duration::ZERO);
    let (mut summary, mut errors, mut samples, mut losses) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut done = 0;
    for (di, &data) in p.data.iter().enumerate() {
        let target = data.posterior();
        // the same comparison points for every model of this data set, with their exact scores
        let probes: Vec<(f64, Vec<f64>, Vec<f64>)> = p
            .error_times
            .iter()
            .enumerate()
            .map(|(k, &t)| {
                let mut rng = rng_from_seed(task_seed(seed, (di * 1000 + k) as u64));
                let xs: Vec<f64> = (0..p.error_points)
                    .flat_map(|_| sample_xt(target.as_ref(), PROCESS, t, &mut rng))
                    .collect();
                let mut exact = vec![0.0; xs.len()];
                score_batch_into(target.as_ref(), PROCESS, t, &xs, &mut exact);
                (t, xs, exact)
            })
            .collect();
        for &variant in &p.variants {
            let (objective, cem_weight) = variant.objective();
            let cfg = TrainConfig {
                objective,
                cem_weight,
                seed: task_seed(seed, di as u64),
                ..p.train.clone()
            };
            let net = train(target.as_ref(), &cfg)?;
            let name = (data.to_string(), variant.to_string());
            for (w, chunk) in net.losses().chunks(50).enumerate() {
                losses.push(
                    Record::new()
                        .with("data", name.0.as_str())
                        .with("model", name.1.as_str())
                        .with("step", (w * 50 + chunk.len()) as i64)
                        .with("loss", chunk.iter().sum::<f64>() / chunk.len() as f64),
                );
            }
            for (t, xs, exact) in &probes {
                let mut est = vec![0.0; xs.len()];
                net.score_batch(*t, xs, &mut est);
                let (m, v) = (PROCESS.mean_coeff(*t), PROCESS.variance(*t));
                let (mut err, mut norm, mut f_err) = (Welford::new(), 0.0, 0.0);
                for (e, s) in est.chunks(2).zip(exact.chunks(2)) {
                    let d2: f64 = e.iter().zip(s).map(|(a, b)| (a - b).powi(2)).sum();
                    err.push(d2);
                    norm += s.iter().map(|a| a * a).sum::<f64>();
                    // f = (x + v s)/m, so f̂ − f = v (ŝ − s)/m
                    f_err += d2 * (v / m).powi(2);
                }
                let n = p.error_points as f64;
                let e = err.estimate()?;
                errors.push(
                    Record::new()
                        .with("data", name.0.as_str())
                        .with("model", name.1.as_str())
                        .with("t", *t)
                        .with("score_error", e.mean)
                        .with("score_error_sem", e.sem)
                        .with("score_error_relative", e.mean / (norm / n))
                        .with("mean_error", f_err / n),
                );
            }
            let sde = ReverseSde {
                process: PROCESS,
                grid: grid.clone(),
                step: Step::ExactLinear,
                seed,
            };
            let ends = sde.run(&net, gaussian_starts(0..p.paths, 2, seed), None)?;
            let dist: Vec<f64> = ends.iter().map(|y| data.distance(y)).collect();
            let e = mean_sem(&dist)?;
            for y in &ends {
                samples.push(
                    Record::new()
                        .with("data", name.0.as_str())
                        .with("model", name.1.as_str())
                        .with("x", y[0])
                        .with("y", y[1]),
                );
            }
            let tail = &net.losses()[net.losses().len().saturating_sub(100)..];
            summary.push(
                Record::new()
                    .with("data", name.0.as_str())
                    .with("model", name.1.as_str())
                    .with("final_loss", tail.iter().sum::<f64>() / tail.len() as f64)
                    .with("mean_distance", e.mean)
                    .with("mean_distance_sem", e.sem)
                    .with("median_distance", median(&dist)),
            );
            done += 1;
            reporter.update(done, total);
        }
    }
    Ok(Trained2dOutput {
        summary: records_frame(&summary)?,
        errors: records_frame(&errors)?,
        samples: records_frame(&samples)?,
        losses: records_frame(&losses)?,
    })
}
