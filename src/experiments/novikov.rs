//! `novikov`: Girsanov weights and the Novikov quantity for a bounded and an unbounded drift error
//! (paper 003, the memorization criterion).
//!
//! Setting: the empirical measure of 9 points on the unit sphere in R³ (drawn from the seed), OU
//! with rate 1 from `T = 5` down to `t_min` on an exponential grid of 200 steps, paths from
//! N(0, I₃), the exact score of the 9 points plus an error `e`:
//! - `bounded`: the constant `e = c e₁`, so `½∫|u|² = g² c² (T − t_min)/2` on every path and
//!   `ln N` equals that bound;
//! - `unbounded`: `e = c x / v(t)`, whose energy grows like `1/t_min`: `N → ∞` as `t_min → 0`.
//! Summary columns: `error, t_min, paths, log_novikov, log_novikov_ci_low, log_novikov_ci_high,
//! energy_median, energy_q90, energy_max, bound, mean_weight, mean_weight_sem, on_support`
//! (`on_support`: fraction of paths ending within 0.05 of a training point).

use rand_distr::{Distribution, StandardNormal};

use super::ExperimentOutput;
use crate::error::{check_count_at_least, check_finite_at_least, Error, Result};
use crate::girsanov::{girsanov_paths, novikov_estimate};
use crate::rng::{rng_from_seed, task_seed};
use crate::sampler::{gaussian_starts, ExactScore, ReverseSde, Step};
use crate::schedule::{ForwardProcess, TimeGrid};
use crate::score::PointCloud;
use crate::sweep::{Grid, Progress, Record, Sweep};

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
    /// Seed of the points, the paths and the bootstrap.
    pub seed: u64,
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

/// Runs every (error, t_min) pair.
pub fn run(p: &Novikov, progress: Progress) -> Result<ExperimentOutput> {
    check_count_at_least("paths", p.paths, 2)?;
    check_finite_at_least("error scale", p.scale, 0.0, false)?;
    for &t in &p.t_min {
        check_finite_at_least("t_min", t, 0.0, true)?;
        if t >= T_FINAL {
            return Err(Error::invalid(
                "t_min",
                t,
                format!("expected a time below T = {T_FINAL}"),
            ));
        }
    }
    let cloud = PointCloud::new(sphere_points(p.seed))?;
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
    let res = Sweep::new(grid)
        .seed(p.seed)
        .label("novikov")
        .progress(progress)
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
                ErrorKind::Bounded => girsanov_paths(
                    &sde,
                    &drift,
                    |_, _, e: &mut [f64]| {
                        e.iter_mut().for_each(|v| *v = 0.0);
                        e[0] = c;
                    },
                    starts,
                )?,
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
    })
}
