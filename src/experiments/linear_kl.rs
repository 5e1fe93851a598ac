//! `linear-kl`: paper 000's KL(p_orig ‖ p_gen) for the linear one-step denoiser, Monte Carlo
//! against the finite-n prediction. Math in [`crate::linear`].
//!
//! Summary columns: `d, n, t, lambda, sigma, trials, kl_mc, kl_mc_sem, kl_mc_median, kl_pred,
//! kl_inf, kl_mean_part_mc, kl_cov_part_mc, hellinger2_mc`, then `kl_mean_part_pred,
//! kl_cov_part_pred, hellinger2_pred, hellinger2_mc_sem, kl_pred_leading, q, tail_dominated`
//! (1.0 when a trial had det W < 0 or carried > 1 % of the KL sum: the mean is then not an
//! estimate of the bulk value; read the median). E\[KL\] is infinite for every finite n: `kl_pred` is
//! the bulk value, accurate for `q < 0.35`, and `∞` for `q ≥ 1` or n < d + 7.

use super::contract::field;
use super::{Experiment, ExperimentOutput, Field, RunOptions};
use crate::error::Result;
use crate::linear::lanes::{trials_reduced, LANES};
use crate::linear::monte_carlo::{trial, McSummary, Sampler};
use crate::linear::{prediction, prediction_leading, Divergences, KlParts, LinearParams};
use crate::plot::{prediction_vs_mc, Figure, FigureSpec, McColumns};
use crate::sweep::{f64_column, frame, with_columns, Grid, Point, Record, Sweep, SweepResult, Value};
use polars::prelude::DataFrame;

/// The sweep axes and fixed settings of `linear-kl` (trials: [`RunOptions::trials`], at least 2).
#[derive(Debug, Clone, PartialEq)]
pub struct LinearKl {
    /// Dimensions.
    pub d: Vec<usize>,
    /// Training-set sizes.
    pub n: Vec<usize>,
    /// Noise times T.
    pub t: Vec<f64>,
    /// Noise scales λ.
    pub lambda: Vec<f64>,
    /// Data standard deviations σ.
    pub sigma: Vec<f64>,
    /// Data mean μ (the divergences do not depend on it).
    pub mu: f64,
    /// How trials are drawn.
    pub sampler: Sampler,
}

impl Default for LinearKl {
    fn default() -> Self {
        Self {
            d: vec![20],
            n: vec![80, 160, 800],
            t: vec![1.0],
            lambda: vec![0.1],
            sigma: vec![1.0],
            mu: 3.0,
            sampler: Sampler::Reduced,
        }
    }
}

const KEYS: [&str; 5] = ["d", "n", "t", "lambda", "sigma"];

impl Experiment for LinearKl {
    const NAME: &'static str = "linear-kl";
    const TITLE: &'static str =
        "Paper 000: KL of the linear one-step denoiser, Monte Carlo against the finite-n prediction";
    const MIN_TRIALS: usize = 2;
    const TRIALS: Option<usize> = Some(1000);
    type Output = ExperimentOutput;

    fn fields() -> Vec<Field<Self>> {
        vec![
            field!(list "d", d, "Dimensions.").at_least(1.0),
            field!(list "n", n, "Training points (n <= d gives KL = ∞, H² = 1).").at_least(2.0),
            field!(list "t", t, "Noise time T.").above(0.0),
            field!(list "lambda", lambda, "Noise scale λ: s² = λ(1 − e^{-2T}).").above(0.0),
            field!(list "sigma", sigma, "Data standard deviation σ.").above(0.0),
            field!(one "mu", mu, "Data mean μ (the divergences do not depend on it)."),
            field!(one "sampler", sampler,
                "reduced (sufficient statistics, O(d³) per trial, exact in law) or raw (n points, OLS)."),
        ]
    }
    fn run(&self, opts: &RunOptions) -> Result<ExperimentOutput> {
        run(self, opts)
    }
    fn figure(&self, out: &ExperimentOutput) -> Result<Option<Figure>> {
        figure(&out.summary).map(Some)
    }
}

/// Runs the sweep (one task per trial; the reduced sampler's run [`LANES`] at a time); see the
/// module docs for the columns. Its note says how the batched kernels went.
pub fn run(grid: &LinearKl, opts: &RunOptions) -> Result<ExperimentOutput> {
    grid.check()?;
    let before = crate::linear::lanes::kernel_counts();
    super::check_trials::<LinearKl>(opts)?;
    let g = Grid::new()
        .axis("d", grid.d.iter().copied())
        .axis("n", grid.n.iter().copied())
        .axis("t", grid.t.iter().copied())
        .axis("lambda", grid.lambda.iter().copied())
        .axis("sigma", grid.sigma.iter().copied());
    // validate every grid point before any work starts
    for i in 0..g.len() {
        params_at(&g.point(i), grid.mu)?;
    }
    let (mu, sampler) = (grid.mu, grid.sampler);
    let sweep = opts.apply(grid, Sweep::new(g).label("linear-kl"));
    let out = match sampler {
        // LANES replicates of a point per task, each on its own seed (crate::linear::lanes)
        Sampler::Reduced => sweep.run_batched(LANES, |tasks| {
            let p = params_at(tasks[0].point, mu)?;
            let mut rngs: Vec<_> = tasks.iter().map(|t| t.rng()).collect();
            Ok(trials_reduced(&p, &mut rngs)?.iter().map(record).collect())
        })?,
        Sampler::Raw => sweep.run(|task| {
            Ok(record(&trial(
                &params_at(task.point, mu)?,
                sampler,
                &mut task.rng(),
            )?))
        })?,
    };
    let summary = summary(&sweep, &out, mu)?;
    let raw = with_columns(
        &out.frame,
        &[
            "d",
            "n",
            "t",
            "lambda",
            "sigma",
            "replicate",
            "seed",
            "kl",
            "kl_mean_part",
            "kl_cov_part",
            "hellinger2",
            "det_sign",
        ],
        vec![],
    )?;
    let c = crate::linear::lanes::kernel_counts().since(&before);
    let mut notes = Vec::new();
    if c.batches > 0 {
        notes.push(format!(
            "batched kernels ({}): {} trials in {} batches; sign of det W from the symmetric part for {} of them, from an LU for {}; {} recomputed alone (S too badly conditioned)",
            crate::linear::lanes::instruction_set(),
            c.trials,
            c.batches,
            c.sym_test_trials,
            c.lu_trials,
            c.alone_trials
        ));
    }
    Ok(ExperimentOutput {
        raw,
        summary,
        complete: out.complete,
        notes,
    })
}

fn record(dv: &Divergences) -> Record {
    Record::new()
        .with("kl", dv.kl.total())
        .with("kl_mean_part", dv.kl.mean)
        .with("kl_cov_part", dv.kl.cov)
        .with("hellinger2", dv.h2)
        .with("det_sign", dv.det_sign)
}

/// The model at a grid point.
fn params_at(point: &Point, mu: f64) -> Result<LinearParams> {
    LinearParams::new(
        point.usize("d")?,
        point.usize("n")?,
        point.f64("t")?,
        point.f64("lambda")?,
        point.f64("sigma")?,
        mu,
    )
}

/// One row per grid point: its trials' Monte Carlo summary beside the prediction of its model.
fn summary(sweep: &Sweep, out: &SweepResult, mu: f64) -> Result<DataFrame> {
    let cols: Vec<Vec<f64>> = ["kl_mean_part", "kl_cov_part", "hellinger2", "det_sign"]
        .iter()
        .map(|k| f64_column(&out.frame, k))
        .collect::<Result<_>>()?;
    let names = [
        "trials",
        "kl_mc",
        "kl_mc_sem",
        "kl_mc_median",
        "kl_pred",
        "kl_inf",
        "kl_mean_part_mc",
        "kl_cov_part_mc",
        "hellinger2_mc",
        "kl_mean_part_pred",
        "kl_cov_part_pred",
        "hellinger2_pred",
        "hellinger2_mc_sem",
        "kl_pred_leading",
        "q",
        "tail_dominated",
    ];
    let mut rows: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut keys: Vec<Vec<Value>> = vec![Vec::new(); KEYS.len()];
    for (point, range) in sweep.point_rows(out)? {
        for (k, key) in keys.iter_mut().zip(KEYS) {
            k.push(point.get(key)?.clone());
        }
        let trials: Vec<Divergences> = range
            .clone()
            .map(|i| Divergences {
                kl: KlParts {
                    mean: cols[0][i],
                    cov: cols[1][i],
                },
                h2: cols[2][i],
                det_sign: cols[3][i],
            })
            .collect();
        let mc = McSummary::from_trials(&trials)?;
        let p = params_at(&point, mu)?;
        let (pred, lead) = (prediction(&p), prediction_leading(&p));
        let row = [
            range.len() as f64,
            mc.kl.mean,
            mc.kl.sem,
            mc.kl_median,
            pred.kl,
            pred.kl_inf,
            mc.kl_mean.mean,
            mc.kl_cov.mean,
            mc.h2.mean,
            pred.kl_mean,
            pred.kl_cov,
            pred.h2,
            mc.h2.sem,
            lead.kl,
            pred.q,
            if mc.tail_dominated() { 1.0 } else { 0.0 },
        ];
        for (column, v) in rows.iter_mut().zip(row) {
            column.push(v);
        }
    }
    let trials: Vec<Value> = rows[0].iter().map(|&t| Value::Int(t as i64)).collect();
    let mut key_columns: Vec<(&str, Vec<Value>)> = KEYS.iter().copied().zip(keys).collect();
    key_columns.push(("trials", trials));
    let f = frame(key_columns)?;
    let mut keep: Vec<&str> = KEYS.to_vec();
    keep.push("trials");
    let new: Vec<(&str, Vec<f64>)> = names[1..].iter().copied().zip(rows.into_iter().skip(1)).collect();
    with_columns(&f, &keep, new)
}

/// Prediction as a line, Monte Carlo as points with ±2 s.e., against n (log axis), one series
/// per d.
pub fn figure(summary: &polars::prelude::DataFrame) -> Result<Figure> {
    prediction_vs_mc(
        summary,
        McColumns {
            x: "n",
            mc: "kl_mc",
            sem: "kl_mc_sem",
            prediction: "kl_pred",
            series: Some("d"),
        },
        &FigureSpec::new(
            "KL(p_orig ‖ p_gen), linear one-step denoiser: prediction vs Monte Carlo",
            "training points n",
            "KL (nats)",
        )
        .loglog(),
    )
}
