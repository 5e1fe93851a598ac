//! `gaussian-kl`: KL between two isotropic Gaussians, closed form against Monte Carlo.
//!
//! The end-to-end check of the pipe (sweep → frame → figure → report). Math in
//! [`crate::gaussian`]. Summary columns: `d, n_samples, mean_shift, var_ratio, trials, kl_exact,
//! kl_mc, kl_mc_sem, z_score`, where `kl_mc` is the mean of the trials' estimates, `kl_mc_sem` its
//! standard error (`sqrt(Σ sem_i²)/trials` from the per-trial standard errors) and
//! `z_score = (kl_mc − kl_exact)/kl_mc_sem`.

use super::contract::field;
use super::{Experiment, ExperimentOutput, Field, RunOptions};
use crate::error::Result;
use crate::gaussian::{kl_iso_gaussians, kl_iso_gaussians_mc, IsoGaussianPair};
use crate::plot::{prediction_vs_mc, Figure, FigureSpec, McColumns};
use crate::sweep::{f64_column, summarize, with_columns, Grid, Record, Sweep};

/// The sweep axes of `gaussian-kl` (replicates: [`RunOptions::trials`], 4 by default).
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianKl {
    /// Dimensions.
    pub d: Vec<usize>,
    /// Monte Carlo samples per trial.
    pub n_samples: Vec<usize>,
    /// Distances between the means.
    pub mean_shift: Vec<f64>,
    /// Variance ratios.
    pub var_ratio: Vec<f64>,
}

impl Default for GaussianKl {
    fn default() -> Self {
        Self {
            d: vec![1, 2, 5, 10, 20, 50],
            n_samples: vec![20_000],
            mean_shift: vec![1.0],
            var_ratio: vec![1.5],
        }
    }
}

impl Experiment for GaussianKl {
    const NAME: &'static str = "gaussian-kl";
    const TITLE: &'static str =
        "KL between two isotropic Gaussians in d dimensions: closed form against Monte Carlo";
    const TRIALS: Option<usize> = Some(4);
    type Output = ExperimentOutput;

    fn fields() -> Vec<Field<Self>> {
        vec![
            field!(list "d", d, "Dimensions.").at_least(1.0),
            field!(list "n_samples", n_samples, "Monte Carlo samples per trial.").at_least(2.0),
            field!(list "mean_shift", mean_shift, "Distance between the two means.").at_least(0.0),
            field!(list "var_ratio", var_ratio, "Variance of the second Gaussian over the first.")
                .above(0.0),
        ]
    }
    fn run(&self, opts: &RunOptions) -> Result<ExperimentOutput> {
        run(self, opts)
    }
    fn figure(&self, out: &ExperimentOutput) -> Result<Option<Figure>> {
        figure(&out.summary).map(Some)
    }
}

/// Runs the sweep; see the module docs for the columns.
pub fn run(grid: &GaussianKl, opts: &RunOptions) -> Result<ExperimentOutput> {
    grid.check()?;
    // validate every combination before any work starts
    for &d in &grid.d {
        for &m in &grid.mean_shift {
            for &r in &grid.var_ratio {
                IsoGaussianPair::new(d, m, r)?;
            }
        }
    }
    for &n in &grid.n_samples {
        crate::error::check_count_at_least("n_samples", n, 2)?;
    }
    let g = Grid::new()
        .axis("d", grid.d.iter().copied())
        .axis("n_samples", grid.n_samples.iter().copied())
        .axis("mean_shift", grid.mean_shift.iter().copied())
        .axis("var_ratio", grid.var_ratio.iter().copied());
    let out = opts.apply(grid, Sweep::new(g).label("gaussian-kl")).run(|task| {
        let p = IsoGaussianPair::new(
            task.point.usize("d")?,
            task.point.f64("mean_shift")?,
            task.point.f64("var_ratio")?,
        )?;
        let mut rng = task.rng();
        let est = kl_iso_gaussians_mc(&p, task.point.usize("n_samples")?, &mut rng)?;
        Ok(Record::new()
            .with("kl_exact", kl_iso_gaussians(&p))
            .with("kl_mc", est.mean)
            .with("kl_mc_sem", est.sem)
            .with("kl_mc_var", est.sem * est.sem))
    })?;
    let keys = ["d", "n_samples", "mean_shift", "var_ratio"];
    let s = summarize(&out.frame, &keys, &["kl_exact", "kl_mc", "kl_mc_var"])?;
    let trials = f64_column(&s, "trials")?;
    let exact = f64_column(&s, "kl_exact_mean")?;
    let mc = f64_column(&s, "kl_mc_mean")?;
    let sem: Vec<f64> = f64_column(&s, "kl_mc_var_mean")?
        .iter()
        .zip(&trials)
        .map(|(v, t)| (v / t).sqrt())
        .collect();
    let z: Vec<f64> = mc
        .iter()
        .zip(&exact)
        .zip(&sem)
        .map(|((m, e), s)| (m - e) / s)
        .collect();
    let mut keep: Vec<&str> = keys.to_vec();
    keep.push("trials");
    let summary = with_columns(
        &s,
        &keep,
        vec![
            ("kl_exact", exact),
            ("kl_mc", mc),
            ("kl_mc_sem", sem),
            ("z_score", z),
        ],
    )?;
    let raw = with_columns(
        &out.frame,
        &[
            "d",
            "n_samples",
            "mean_shift",
            "var_ratio",
            "replicate",
            "seed",
            "kl_exact",
            "kl_mc",
            "kl_mc_sem",
        ],
        vec![],
    )?;
    Ok(ExperimentOutput {
        raw,
        summary,
        complete: out.complete,
        notes: Vec::new(),
    })
}

/// Closed form as a line, Monte Carlo as points with ±2 s.e., against `d` (log axis), one series
/// per variance ratio.
pub fn figure(summary: &polars::prelude::DataFrame) -> Result<Figure> {
    prediction_vs_mc(
        summary,
        McColumns {
            x: "d",
            mc: "kl_mc",
            sem: "kl_mc_sem",
            prediction: "kl_exact",
            series: Some("var_ratio"),
        },
        &FigureSpec::new(
            "KL(N(0, I) ‖ N(m, r I)): closed form vs Monte Carlo",
            "dimension d",
            "KL (nats)",
        )
        .log_x(),
    )
}
