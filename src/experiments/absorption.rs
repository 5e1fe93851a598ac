//! `absorption`: the exact reverse SDE of an empirical measure lands on its points with equal
//! frequencies (paper 002's table: five points uniform on \[0,1\]², 10⁴ paths from N(0, I₂), T = 10,
//! power schedule `t_k = 10 (k/99)^5`, reported 0.2086 / 0.1924 / 0.2092 / 0.1977 / 0.1921 against
//! the theory's 0.2 each).
//!
//! Each path runs the reverse of OU with rate ½ (DDPM time) with the exact score of the point cloud
//! and ends at the point it is nearest to. Summary columns: `point, x, y, frequency,
//! frequency_sem` (binomial standard error `sqrt(p(1−p)/paths)`).

use rand::RngExt;

use super::contract::field;
use super::{Experiment, ExperimentOutput, Field, RunOptions};
use crate::error::Result;
use crate::rng::{rng_from_seed, task_seed};
use crate::sampler::{gaussian_starts, ExactScore, ReverseSde, Step};
use crate::schedule::{ForwardProcess, ScheduleKind};
use crate::score::PointCloud;
use crate::sweep::{frame, Grid, Record, Sweep, Value};

/// Parameters of the absorption run.
#[derive(Debug, Clone, PartialEq)]
pub struct Absorption {
    /// Number of points, drawn uniformly on \[0,1\]².
    pub points: usize,
    /// Number of reverse paths.
    pub paths: usize,
    /// Number of time steps.
    pub steps: usize,
    /// The time grid.
    pub schedule: ScheduleKind,
    /// Final time `T`.
    pub t_final: f64,
    /// First time of linear / quadratic / exponential grids.
    pub t_min: f64,
    /// Integration step.
    pub step: Step,
}

impl Default for Absorption {
    fn default() -> Self {
        Self {
            points: 5,
            paths: 10_000,
            steps: 99,
            schedule: ScheduleKind::Power(5.0),
            t_final: 10.0,
            t_min: 1e-4,
            step: Step::EulerMaruyama,
        }
    }
}

impl Experiment for Absorption {
    const NAME: &'static str = "absorption";
    const TITLE: &'static str =
        "Paper 002: the exact reverse SDE of n points lands on each with frequency 1/n";
    const TRIALS: Option<usize> = None;
    type Output = ExperimentOutput;

    fn fields() -> Vec<Field<Self>> {
        vec![
            field!(one "points", points, "Points drawn uniformly on [0,1]².").at_least(1.0),
            field!(one "paths", paths, "Reverse paths started from N(0, I₂).").at_least(2.0),
            field!(one "steps", steps, "Time steps.").at_least(1.0),
            field!(one "schedule", schedule, "Time grid."),
            field!(one "t_final", t_final, "Final time T.").above(0.0),
            field!(one "t_min", t_min, "First time of the linear, quadratic and exponential grids.")
                .above(0.0),
            field!(one "step", step,
                "Integration step: em (Euler–Maruyama) or exact (exact linear part, the CEM step)."),
        ]
    }
    fn run(&self, opts: &RunOptions) -> Result<ExperimentOutput> {
        run(self, opts)
    }
}

/// The points: uniform on \[0,1\]², from the seed.
pub fn draw_points(n: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = rng_from_seed(task_seed(seed, u64::MAX));
    (0..n)
        .map(|_| vec![rng.random::<f64>(), rng.random::<f64>()])
        .collect()
}

/// Runs the paths (the points, starting points and noise all from `opts.seed`); `raw` has one row
/// per chunk of 1000 paths (the landing counts `n0, n1, ...`), `summary` one per point. With a time
/// budget the frequencies are over the paths that ran.
pub fn run(p: &Absorption, opts: &RunOptions) -> Result<ExperimentOutput> {
    p.check()?;
    let seed = opts.seed;
    let cloud = PointCloud::new(draw_points(p.points, seed))?;
    let sde = ReverseSde {
        process: ForwardProcess::OuHalf,
        grid: p.schedule.grid(p.t_min, p.t_final, p.steps)?,
        step: p.step,
        seed,
    };
    let drift = ExactScore {
        data: &cloud,
        process: ForwardProcess::OuHalf,
    };
    // paths in chunks through a sweep: progress lines, and a result independent of the threads
    // batches of paths are the sweep's tasks (several run at once); the result does not depend
    // on how they are cut, since every path has its own noise stream
    let chunk = 1000usize;
    let n_chunks = p.paths.div_ceil(chunk);
    let res = opts
        .apply_once(p, Sweep::new(Grid::new().axis("chunk", 0..n_chunks)))
        .label("absorption")
        .chunk_size(1)
        .run(|task| {
            let c = task.point.usize("chunk")?;
            let (lo, hi) = (c * chunk, ((c + 1) * chunk).min(p.paths));
            let ends = sde.run_from(&drift, gaussian_starts(lo..hi, 2, seed), lo, None)?;
            let mut counts = vec![0i64; p.points];
            for e in &ends {
                counts[cloud.nearest(e)] += 1;
            }
            let mut r = Record::new();
            for (j, n) in counts.iter().enumerate() {
                r.push(&format!("n{j}"), *n);
            }
            Ok(r)
        })?;
    let mut counts = vec![0.0; p.points];
    for (j, c) in counts.iter_mut().enumerate() {
        *c = crate::sweep::f64_column(&res.frame, &format!("n{j}"))?
            .iter()
            .sum();
    }
    let n: f64 = counts.iter().sum();
    let freq: Vec<f64> = counts.iter().map(|c| c / n).collect();
    let sem: Vec<f64> = freq.iter().map(|f| (f * (1.0 - f) / n).sqrt()).collect();
    let pts = cloud.points();
    let reals = |v: Vec<f64>| v.into_iter().map(Value::Float).collect::<Vec<_>>();
    let summary = frame(vec![
        ("point", (0..p.points).map(Value::from).collect()),
        ("x", reals(pts.iter().map(|q| q[0]).collect())),
        ("y", reals(pts.iter().map(|q| q[1]).collect())),
        ("frequency", reals(freq)),
        ("frequency_sem", reals(sem)),
    ])?;
    Ok(ExperimentOutput {
        raw: res.frame,
        summary,
        complete: res.complete,
        notes: Vec::new(),
    })
}
