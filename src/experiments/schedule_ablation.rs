//! Schedule ablation (paper 002): at an equal number of steps, how close do samples of the exact
//! reverse SDE land to the data manifold under linear, quadratic and exponential time grids?
//!
//! Data: paper 002's eight points on the circle of radius 2, OU with rate ½ from `T = 10` down to
//! `t_min`, their exact score, Euler–Maruyama, paths from N(0, I₂). The measure is the mean
//! Euclidean distance of the final points to the nearest data point. The paper reports exponential
//! better than quadratic better than linear. (The spiral gives the same ordering — measured once at
//! 2000 paths: mean distance 0.17 / 0.014 / 0.008 at 200 steps — but its quadrature score makes it
//! too slow for a notebook.) Summary columns: `schedule, steps, paths, mean_distance,
//! mean_distance_sem, median_distance`.

use super::contract::field;
use super::{Experiment, ExperimentOutput, Field, RunOptions};
use crate::error::Result;
use crate::sampler::{gaussian_starts, ExactScore, ReverseSde, Step};
use crate::schedule::{ForwardProcess, ScheduleKind};
use crate::score::PointCloud;
use crate::stats::{mean_sem, median};
use crate::sweep::{Grid, Record, Sweep};

/// Parameters of the ablation.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleAblation {
    /// Step counts to compare at.
    pub steps: Vec<usize>,
    /// Paths per (schedule, steps).
    pub paths: usize,
    /// First time of the grids.
    pub t_min: f64,
}

impl Default for ScheduleAblation {
    fn default() -> Self {
        Self {
            steps: vec![20, 50, 200],
            paths: 10_000,
            t_min: 1e-4,
        }
    }
}

impl Experiment for ScheduleAblation {
    const NAME: &'static str = "schedule-ablation";
    const TITLE: &'static str =
        "Paper 002: distance to the data of the exact reverse SDE under linear, quadratic and exponential time grids";
    const TRIALS: Option<usize> = None;
    type Output = ExperimentOutput;

    fn fields() -> Vec<Field<Self>> {
        vec![
            field!(list "steps", steps, "Step counts to compare the schedules at.").at_least(1.0),
            field!(one "paths", paths, "Paths per (schedule, steps).").at_least(2.0),
            field!(one "t_min", t_min, "First time of the grids (T = 10).")
                .above(0.0)
                .below(10.0),
        ]
    }
    fn run(&self, opts: &RunOptions) -> Result<ExperimentOutput> {
        run(self, opts)
    }
}

/// Runs every (schedule, steps) pair with the same starting points and noise streams (from
/// `opts.seed`, the same for every schedule).
pub fn run(p: &ScheduleAblation, opts: &RunOptions) -> Result<ExperimentOutput> {
    p.check()?;
    let seed = opts.seed;
    let cloud = PointCloud::eight_points();
    let drift = ExactScore {
        data: &cloud,
        process: ForwardProcess::OuHalf,
    };
    let grid = Grid::new()
        .axis("schedule", ["linear", "quadratic", "exponential"])
        .axis("steps", p.steps.iter().copied());
    let res = opts
        .apply_once(p, Sweep::new(grid))
        .label("schedule-ablation")
        .run(|task| {
            let kind: ScheduleKind = task.point.text("schedule")?.parse()?;
            let steps = task.point.usize("steps")?;
            let sde = ReverseSde {
                process: ForwardProcess::OuHalf,
                grid: kind.grid(p.t_min, 10.0, steps)?,
                step: Step::EulerMaruyama,
                seed,
            };
            let ends = sde.run(&drift, gaussian_starts(0..p.paths, 2, seed), None)?;
            let dist: Vec<f64> = ends.iter().map(|y| cloud.distance(y)).collect();
            let e = mean_sem(&dist)?;
            Ok(Record::new()
                .with("paths", p.paths)
                .with("mean_distance", e.mean)
                .with("mean_distance_sem", e.sem)
                .with("median_distance", median(&dist)))
        })?;
    let summary = crate::sweep::with_columns(
        &res.frame,
        &[
            "schedule",
            "steps",
            "paths",
            "mean_distance",
            "mean_distance_sem",
            "median_distance",
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
