//! `novikov`: Girsanov weights and the Novikov quantity for a bounded and an unbounded drift error
//! (paper 003, the memorization criterion).
//!
//! Setting: the empirical measure of 9 points on the unit sphere in R³ (drawn from the seed), OU
//! with rate 1 from `T = 5` down to `t_min` on an exponential grid of 200 steps, paths from
//! N(0, I₃), the exact score of the 9 points plus an error `e`:
//! - `bounded`: the constant `e = c e₁`, so `½∫|u|² = g² c² (T − t_min)/2` on every path and
//!   `ln N` equals that bound;
//! - `unbounded`: `e = c x / v(t)`, whose energy grows like `1/t_min`: `N → ∞` as `t_min → 0`.
//!
//! Summary columns: `error, t_min, paths, log_novikov, log_novikov_ci_low, log_novikov_ci_high,
//! energy_median, energy_q90, energy_max, bound, mean_weight, mean_weight_sem, on_support`
//! (`on_support`: fraction of paths ending within 0.05 of a training point).

use rand_distr::{Distribution, StandardNormal};

use super::contract::field;
use super::{Experiment, ExperimentOutput, Field, RunOptions};
use crate::error::{Error, Result};
use crate::girsanov::{girsanov_paths, novikov_estimate};
use crate::rng::{rng_from_seed, task_seed};
use crate::sampler::{gaussian_starts, ExactScore, ReverseSde, Step, WithError};
use crate::schedule::{ForwardProcess, TimeGrid};
use crate::score::{PointCloud, Posterior};
use crate::sweep::{Grid, Record, Sweep};

/// The kind of drift error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A constant error `c e₁`.
    Bounded,
    /// `c x / v(t)`, blowing up as `t → 0`.
    Unbounded,
}

impl std::str::FromStr for ErrorKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "bounded" => Ok(ErrorKind::Bounded),
            "unbounded" => Ok(ErrorKind::Unbounded),
            _ => Err(Error::invalid("error", s, "expected bounded or unbounded")),
        }
    }
}

/// Parameters of the Novikov sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct Novikov {
    /// The error kinds to run.
    pub error: Vec<ErrorKind>,
    /// Smallest times of the grid.
    pub t_min: Vec<f64>,
    /// Paths per run.
    pub paths: usize,
    /// Error scale `c`.
    pub scale: f64,
}

impl Default for Novikov {
    fn default() -> Self {
        Self {
            error: vec![ErrorKind::Bounded, ErrorKind::Unbounded],
            t_min: vec![0.1, 0.01, 0.001],
            paths: 2000,
            scale: 0.5,
        }
    }
}

impl Experiment for Novikov {
    const NAME: &'static str = "novikov";
    const TITLE: &'static str =
        "Paper 003: Girsanov weights and the Novikov quantity for a bounded or an unbounded drift error";
    const TRIALS: Option<usize> = None;
    type Output = ExperimentOutput;

    fn fields() -> Vec<Field<Self>> {
        vec![
            field!(list "error", error, "Drift errors."),
            field!(one "paths", paths, "Reverse paths per run.").at_least(2.0),
            field!(list "t_min", t_min, "Smallest times of the grid (below T = 5).")
                .above(0.0)
                .below(T_FINAL),
            field!(one "error_scale", scale, "Error scale c.").at_least(0.0),
        ]
    }
    fn run(&self, opts: &RunOptions) -> Result<ExperimentOutput> {
        run(self, opts)
    }
}

/// 9 points on the unit sphere in R³ from the seed.
pub fn sphere_points(seed: u64) -> Vec<Vec<f64>> {
    let mut rng = rng_from_seed(task_seed(seed, u64::MAX - 1));
    (0..9)
        .map(|_| {
            let g: Vec<f64> = (0..3).map(|_| StandardNormal.sample(&mut rng)).collect();
            let r = g.iter().map(|v| v * v).sum::<f64>().sqrt();
            g.iter().map(|v| v / r).collect()
        })
        .collect()
}

const T_FINAL: f64 = 5.0;

/// The bounded drift error `c e₁`: the same at every time and place.
fn constant_error(c: f64) -> impl Fn(f64, &[f64], &mut [f64]) + Sync + Copy {
    move |_t: f64, _x: &[f64], e: &mut [f64]| {
        e.iter_mut().for_each(|v| *v = 0.0);
        e[0] = c;
    }
}

/// Paper 003's Fig. 2 robustness run: the reverse SDE of OU (rate 1) with the exact score of
/// `data` plus the constant error `error · e₁`, started from `N(shift · 1, I)` instead of the
/// stationary law, Euler–Maruyama on the exponential grid from `T = 5` to `10⁻⁴` (400 steps). Path
/// `i` starts from `task_seed(seed, i)` and has its own noise stream. Returns the end points; the
/// paper's claim is that they lie on the support of `data` despite both mistakes.
pub fn wrong_start_ends<P: Posterior>(
    data: &P,
    error: f64,
    shift: f64,
    paths: usize,
    seed: u64,
) -> Result<Vec<Vec<f64>>> {
    crate::error::check_count_at_least("paths", paths, 1)?;
    let drift = WithError {
        base: ExactScore {
            data,
            process: ForwardProcess::Ou,
        },
        error: constant_error(error),
    };
    let starts = gaussian_starts(0..paths, data.dim(), seed)
        .into_iter()
        .map(|x| x.iter().map(|v| v + shift).collect())
        .collect();
    let sde = ReverseSde {
        process: ForwardProcess::Ou,
        grid: TimeGrid::exponential(1e-4, T_FINAL, 400)?,
        step: Step::EulerMaruyama,
        seed,
    };
    sde.run(&drift, starts, None)
}

/// Runs every (error, t_min) pair (the points from `opts.seed`, each pair's paths and bootstrap
/// from its task seed).
pub fn run(p: &Novikov, opts: &RunOptions) -> Result<ExperimentOutput> {
    p.check()?;
    let cloud = PointCloud::new(sphere_points(opts.seed))?;
    let process = ForwardProcess::Ou;
    let drift = ExactScore {
        data: &cloud,
        process,
    };
    let names: Vec<&str> = p
        .error
        .iter()
        .map(|e| {
            if *e == ErrorKind::Bounded {
                "bounded"
            } else {
                "unbounded"
            }
        })
        .collect();
    let grid = Grid::new()
        .axis("error", names)
        .axis("t_min", p.t_min.iter().copied());
    let c = p.scale;
    let res = opts
        .apply_once(p, Sweep::new(grid))
        .label("novikov")
        .run(|task| {
            let kind: ErrorKind = task.point.text("error")?.parse()?;
            let t_min = task.point.f64("t_min")?;
            let sde = ReverseSde {
                process,
                grid: TimeGrid::exponential(t_min, T_FINAL, 201)?,
                step: Step::EulerMaruyama,
                seed: task.seed,
            };
            let starts = gaussian_starts(0..p.paths, 3, task.seed);
            let paths = match kind {
                ErrorKind::Bounded => girsanov_paths(&sde, &drift, constant_error(c), starts)?,
                ErrorKind::Unbounded => girsanov_paths(
                    &sde,
                    &drift,
                    |t, x: &[f64], e: &mut [f64]| {
                        let v = process.variance(t);
                        e.iter_mut().zip(x).for_each(|(ei, xi)| *ei = c * xi / v);
                    },
                    starts,
                )?,
            };
            let est = novikov_estimate(&paths, task.seed)?;
            let g = process.diffusion();
            let bound = if kind == ErrorKind::Bounded {
                0.5 * g * g * c * c * (T_FINAL - t_min)
            } else {
                f64::INFINITY
            };
            let on_support = paths
                .ends
                .iter()
                .filter(|y| cloud.distance(y) < 0.05)
                .count() as f64
                / p.paths as f64;
            Ok(Record::new()
                .with("paths", p.paths)
                .with("log_novikov", est.log_novikov)
                .with("log_novikov_ci_low", est.log_novikov_ci.0)
                .with("log_novikov_ci_high", est.log_novikov_ci.1)
                .with("energy_median", est.energy_median)
                .with("energy_q90", est.energy_q90)
                .with("energy_max", est.energy_max)
                .with("bound", bound)
                .with("mean_weight", est.mean_weight)
                .with("mean_weight_sem", est.mean_weight_sem)
                .with("on_support", on_support))
        })?;
    let summary = crate::sweep::with_columns(
        &res.frame,
        &[
            "error",
            "t_min",
            "paths",
            "log_novikov",
            "log_novikov_ci_low",
            "log_novikov_ci_high",
            "energy_median",
            "energy_q90",
            "energy_max",
            "bound",
            "mean_weight",
            "mean_weight_sem",
            "on_support",
        ],
        vec![],
    )?;
    Ok(ExperimentOutput {
        raw: res.frame,
        summary,
        complete: res.complete,
        notes: Vec::new(),
    })
}
