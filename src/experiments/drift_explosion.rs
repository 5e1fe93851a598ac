//! `drift-explosion`: the mean squared score along the forward process blows up like `(D − d)/t`
//! near a `d`-dimensional flat manifold in `D` dimensions (paper 003).
//!
//! Data: `X_0 = (a, 0)`, `a ~ N(0, I_d)`, under Brownian motion (the paper's setting) or an OU
//! process. `X_t ~ N(0, diag((m² + v) I_d, v I_{D−d}))`, so exactly
//! `E|∇log p_t(X_t)|² = tr Σ_t⁻¹ = d/(m² + v) + (D − d)/v`, whose `t → 0` asymptote is
//! `(D − d)/t` for Brownian motion. The Monte Carlo column averages the exact score (from the
//! posterior mean, [`crate::score`]) over `samples` draws of `X_t`. Summary columns: `t,
//! mean_sq_score, mean_sq_score_sem, predicted, asymptote`.

use super::contract::field;
use super::{Experiment, ExperimentOutput, Field, RunOptions};
use crate::error::{Error, Result};
use crate::plot::{prediction_vs_mc, Figure, FigureSpec, McColumns};
use crate::schedule::ForwardProcess;
use crate::score::{mean_sq_score, FlatGaussian};
use crate::sweep::{f64_column, summarize, with_columns, Grid, Record, Sweep};

/// Parameters of the drift-explosion sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftExplosion {
    /// Ambient dimension `D`.
    pub ambient: usize,
    /// Manifold dimension `d <= D`.
    pub manifold_dim: usize,
    /// Times (> 0).
    pub t: Vec<f64>,
    /// Draws of `X_t` per time and trial.
    pub samples: usize,
    /// The forward process.
    pub process: ForwardProcess,
}

impl Default for DriftExplosion {
    fn default() -> Self {
        Self {
            ambient: 10,
            manifold_dim: 2,
            t: vec![1e-4, 1e-3, 1e-2, 0.1, 1.0],
            samples: 20_000,
            process: ForwardProcess::Brownian,
        }
    }
}

impl Experiment for DriftExplosion {
    const NAME: &'static str = "drift-explosion";
    const TITLE: &'static str =
        "Paper 003: E|score|² along the forward process blows up like (D − d)/t near a flat manifold";
    const TRIALS: Option<usize> = Some(4);
    type Output = ExperimentOutput;

    fn fields() -> Vec<Field<Self>> {
        vec![
            field!(one "ambient", ambient, "Ambient dimension D.").at_least(1.0),
            field!(one "manifold_dim", manifold_dim, "Manifold dimension d (at most D).")
                .at_least(0.0),
            field!(list "t", t, "Times.").above(0.0),
            field!(one "samples", samples, "Draws of X_t per time and trial.").at_least(2.0),
            field!(one "process", process, "Forward process (ou-half: rate ½, DDPM time)."),
        ]
    }
    fn check(&self) -> Result<()> {
        super::check_fields(self)?;
        if self.manifold_dim > self.ambient {
            return Err(Error::invalid(
                "manifold_dim",
                self.manifold_dim,
                format!("expected at most the ambient dimension {}", self.ambient),
            ));
        }
        Ok(())
    }
    fn run(&self, opts: &RunOptions) -> Result<ExperimentOutput> {
        run(self, opts)
    }
    fn figure(&self, out: &ExperimentOutput) -> Result<Option<Figure>> {
        figure(&out.summary).map(Some)
    }
}

/// The Monte Carlo mean squared score with ±2 s.e. against the closed form, log–log in `t`.
pub fn figure(summary: &polars::prelude::DataFrame) -> Result<Figure> {
    prediction_vs_mc(
        summary,
        McColumns {
            x: "t",
            mc: "mean_sq_score",
            sem: "mean_sq_score_sem",
            prediction: "predicted",
            series: None,
        },
        &FigureSpec::new("Mean squared score near a flat manifold", "t", "E|∇log p_t|²").loglog(),
    )
}

/// `E|∇log p_t(X_t)|²` in closed form.
pub fn predicted(p: &DriftExplosion, t: f64) -> f64 {
    let (m, v) = (p.process.mean_coeff(t), p.process.variance(t));
    p.manifold_dim as f64 / (m * m + v) + (p.ambient - p.manifold_dim) as f64 / v
}

/// Runs the sweep over `t`.
pub fn run(p: &DriftExplosion, opts: &RunOptions) -> Result<ExperimentOutput> {
    p.check()?;
    let data = FlatGaussian::new(p.ambient, p.manifold_dim, 1.0)?;
    let out = opts
        .apply(p, Sweep::new(Grid::new().axis("t", p.t.iter().copied())).label("drift-explosion"))
        .run(|task| {
            let t = task.point.f64("t")?;
            let e = mean_sq_score(&data, p.process, t, p.samples, &mut task.rng())?;
            Ok(Record::new()
                .with("mean_sq_score", e.mean)
                .with("mean_sq_score_var", e.sem * e.sem))
        })?;
    let s = summarize(&out.frame, &["t"], &["mean_sq_score", "mean_sq_score_var"])?;
    let ts = f64_column(&s, "t")?;
    let trials = f64_column(&s, "trials")?;
    let sem = f64_column(&s, "mean_sq_score_var_mean")?
        .iter()
        .zip(&trials)
        .map(|(v, n)| (v / n).sqrt())
        .collect();
    let summary = with_columns(
        &s,
        &["t", "trials"],
        vec![
            ("mean_sq_score", f64_column(&s, "mean_sq_score_mean")?),
            ("mean_sq_score_sem", sem),
            ("predicted", ts.iter().map(|&t| predicted(p, t)).collect()),
            (
                "asymptote",
                ts.iter()
                    .map(|&t| (p.ambient - p.manifold_dim) as f64 / p.process.variance(t))
                    .collect(),
            ),
        ],
    )?;
    Ok(ExperimentOutput {
        raw: out.frame,
        summary,
        complete: out.complete,
        notes: Vec::new(),
    })
}
