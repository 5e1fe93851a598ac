//! `trained-novikov` (paper 003, feature `torch`): the paper's memorization criterion applied to
//! **trained** score networks instead of synthetic error fields.
//!
//! Setting: the nine training points on the unit sphere in R³ of the paper's Fig. 2 (drawn from
//! the seed, [`sphere_points`]); networks trained on them with paper 002's losses
//! ([`crate::trained`], OU with rate ½, `T = 10`); the exact score `s` of the nine points' empirical
//! measure. A network's drift error is its actual field `e = ŝ − s`. Per model the run records:
//!
//! - `errors`: at each time of `error_times`, on draws `X_t ~ p_t`, `E|e|²` with its standard
//!   error beside `E|s|²` — bounded (memorization) or growing as `t → 0` (the paper's Figs. 3–4
//!   ask which);
//! - `summary`: per smallest time `t_min`, the Girsanov quantities of the reverse SDE driven by the
//!   network (`girsanov_paths` with the exact drift plus `e`, Euler–Maruyama on the exponential
//!   grid from `T` to `t_min`): `ln N̂` of Novikov's quantity `N = E exp(½∫|e|² dr)` with its
//!   bootstrap interval, the energy's median, 90 % quantile and maximum, the mean Girsanov weight
//!   (1 while Novikov holds), and where the samples end: the fraction within 0.05 of a training
//!   point (`on_support`) and the mean distance to the nearest one; within 0.05 of the unit sphere
//!   (`on_sphere`) and the mean distance `| |y| − 1 |` to it (`sphere_distance`).
//!
//! The paper's statement, read on these numbers: a bounded error keeps `ln N` bounded as
//! `t_min → 0` and the samples on the training points; a network whose samples leave them must
//! have an error whose energy diverges.

use std::time::Duration;

use polars::prelude::DataFrame;

use super::contract::field;
use super::novikov::sphere_points;
use super::trained_2d::Variant;
use super::{Experiment, ExperimentOutput, Field, Outcome, RunOptions};
use crate::error::Result;
use crate::girsanov::{girsanov_paths, novikov_estimate};
use crate::rng::{rng_from_seed, task_seed};
use crate::sampler::{gaussian_starts, Drift, ExactScore, ReverseSde, Step};
use crate::schedule::{ForwardProcess, TimeGrid};
use crate::score::{sample_xt, score_batch_into, PointCloud};
use crate::stats::Welford;
use crate::sweep::{records_frame, Record, Reporter};
use crate::trained::{train, TrainConfig};

const PROCESS: ForwardProcess = ForwardProcess::OuHalf;

/// Parameters of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainedNovikov {
    /// Losses of the networks trained on the nine points.
    pub variants: Vec<Variant>,
    /// Network, optimizer and training times (objective and seed are set per model).
    pub train: TrainConfig,
    /// Smallest times of the reverse SDE.
    pub t_min: Vec<f64>,
    /// Paths per (model, t_min).
    pub paths: usize,
    /// Steps of the exponential grid from `T` to `t_min`.
    pub steps: usize,
    /// Times at which the error field is measured.
    pub error_times: Vec<f64>,
    /// Draws of `X_t` per error time.
    pub error_points: usize,
}

impl Default for TrainedNovikov {
    fn default() -> Self {
        Self {
            variants: vec![Variant::Cem, Variant::Sgm, Variant::Ddpm],
            train: TrainConfig {
                steps: 3000,
                batch: 1000,
                ..TrainConfig::default()
            },
            t_min: vec![1e-1, 1e-2, 1e-3, 1e-4],
            paths: 1000,
            steps: 200,
            error_times: vec![1e-4, 1e-3, 1e-2, 1e-1, 1.0],
            error_points: 1000,
        }
    }
}

impl Experiment for TrainedNovikov {
    const NAME: &'static str = "trained-novikov";
    const TITLE: &'static str =
        "Paper 003: Novikov's quantity and where samples end for networks trained on nine points of the sphere";
    const TRIALS: Option<usize> = None;
    type Output = TrainedNovikovOutput;

    fn fields() -> Vec<Field<Self>> {
        vec![
            field!(list "models", variants,
                "Losses (cem-uniform: the CEM with λ = 1; cem-squared: with λ²)."),
            field!(one "train_steps", train.steps, "Adam steps per model.").at_least(1.0),
            field!(one "batch", train.batch, "Examples per step.").at_least(1.0),
            field!(one "times", train.times,
                "Training times (grid:N: uniform on k·T/(N−1), k ≥ 1; log-uniform on [1e-4, T])."),
            field!(one "time_input", train.time_input, "How the time enters the network."),
            field!(list "t_min", t_min, "Smallest times of the reverse SDE.")
                .above(0.0)
                .below(10.0),
            field!(one "paths", paths, "Paths per (model, t_min).").at_least(2.0),
            field!(one "steps", steps, "Steps of the exponential grid.").at_least(2.0),
            field!(list "error_times", error_times, "Times at which the error field is measured.")
                .above(0.0),
            field!(one "error_points", error_points, "Draws of X_t per error time.")
                .at_least(2.0),
        ]
    }
    fn run(&self, opts: &RunOptions) -> Result<TrainedNovikovOutput> {
        run(self, opts)
    }
}

/// The frames of a run (see the module docs).
#[derive(Debug, Clone)]
pub struct TrainedNovikovOutput {
    /// `model, t_min, paths, log_novikov, log_novikov_ci_low, log_novikov_ci_high, energy_median,
    /// energy_q90, energy_max, mean_weight, mean_weight_sem, on_support, mean_distance, on_sphere,
    /// sphere_distance`.
    pub summary: DataFrame,
    /// `model, t, error_sq, error_sq_sem, score_sq`.
    pub errors: DataFrame,
}

impl Outcome for TrainedNovikovOutput {
    /// The summary, and the error field as the raw table.
    fn into_tables(self) -> Result<ExperimentOutput> {
        Ok(ExperimentOutput::new(self.errors, self.summary))
    }
}

/// Trains every model on the nine points (seeded from `opts.seed`), then measures its error field
/// and runs its reverse SDE for every `t_min`.
pub fn run(p: &TrainedNovikov, opts: &RunOptions) -> Result<TrainedNovikovOutput> {
    p.check()?;
    let seed = opts.seed;
    let cloud = PointCloud::new(sphere_points(seed))?;
    let exact = ExactScore {
        data: &cloud,
        process: PROCESS,
    };
    let t_final = p.train.t_max;
    let total = p.variants.len() * (1 + p.t_min.len());
    let mut reporter = Reporter::new(opts.progress, "trained-novikov", Duration::ZERO);
    let (mut summary, mut errors) = (Vec::new(), Vec::new());
    let mut done = 0;
    for &variant in &p.variants {
        let (objective, cem_weight) = variant.objective();
        let net = train(
            &cloud,
            &TrainConfig {
                objective,
                cem_weight,
                seed: task_seed(seed, 1),
                ..p.train.clone()
            },
        )?;
        let model = variant.to_string();
        for (k, &t) in p.error_times.iter().enumerate() {
            let mut rng = rng_from_seed(task_seed(seed, 1000 + k as u64));
            let xs: Vec<f64> = (0..p.error_points)
                .flat_map(|_| sample_xt(&cloud, PROCESS, t, &mut rng))
                .collect();
            let (mut s, mut e) = (vec![0.0; xs.len()], vec![0.0; xs.len()]);
            score_batch_into(&cloud, PROCESS, t, &xs, &mut s);
            net.score_batch(t, &xs, &mut e);
            let (mut err, mut norm) = (Welford::new(), 0.0);
            for (a, b) in e.chunks(3).zip(s.chunks(3)) {
                err.push(a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum());
                norm += b.iter().map(|x| x * x).sum::<f64>();
            }
            let est = err.estimate()?;
            errors.push(
                Record::new()
                    .with("model", model.as_str())
                    .with("t", t)
                    .with("error_sq", est.mean)
                    .with("error_sq_sem", est.sem)
                    .with("score_sq", norm / p.error_points as f64),
            );
        }
        done += 1;
        reporter.update(done, total);
        for (k, &t_min) in p.t_min.iter().enumerate() {
            let sde = ReverseSde {
                process: PROCESS,
                grid: TimeGrid::exponential(t_min, t_final, p.steps)?,
                step: Step::EulerMaruyama,
                seed: task_seed(seed, 2000 + k as u64),
            };
            let starts = gaussian_starts(0..p.paths, 3, sde.seed);
            let error = |t: f64, x: &[f64], out: &mut [f64]| {
                let mut s = [0.0; 3];
                exact.score(t, x, &mut s);
                net.score(t, x, out);
                out.iter_mut().zip(s).for_each(|(o, si)| *o -= si);
            };
            let paths = girsanov_paths(&sde, &exact, error, starts)?;
            let est = novikov_estimate(&paths, sde.seed)?;
            let dist: Vec<f64> = paths.ends.iter().map(|y| cloud.distance(y)).collect();
            let on = dist.iter().filter(|d| **d < 0.05).count() as f64 / p.paths as f64;
            // the manifold the nine points sample: the unit sphere
            let off_sphere: Vec<f64> = paths
                .ends
                .iter()
                .map(|y| (y.iter().map(|v| v * v).sum::<f64>().sqrt() - 1.0).abs())
                .collect();
            let on_sphere =
                off_sphere.iter().filter(|d| **d < 0.05).count() as f64 / p.paths as f64;
            summary.push(
                Record::new()
                    .with("model", model.as_str())
                    .with("t_min", t_min)
                    .with("paths", p.paths)
                    .with("log_novikov", est.log_novikov)
                    .with("log_novikov_ci_low", est.log_novikov_ci.0)
                    .with("log_novikov_ci_high", est.log_novikov_ci.1)
                    .with("energy_median", est.energy_median)
                    .with("energy_q90", est.energy_q90)
                    .with("energy_max", est.energy_max)
                    .with("mean_weight", est.mean_weight)
                    .with("mean_weight_sem", est.mean_weight_sem)
                    .with("on_support", on)
                    .with("mean_distance", dist.iter().sum::<f64>() / p.paths as f64)
                    .with("on_sphere", on_sphere)
                    .with(
                        "sphere_distance",
                        off_sphere.iter().sum::<f64>() / p.paths as f64,
                    ),
            );
            done += 1;
            reporter.update(done, total);
        }
    }
    Ok(TrainedNovikovOutput {
        summary: records_frame(&summary)?,
        errors: records_frame(&errors)?,
    })
}
