//! `linear-transition`: paper 000's central claim on one parameter set — the memorization →
//! generalization transition (P(Δ > 0) rising) against the fall of the distance between the
//! generated and the true distribution, in the linear one-step denoiser.
//!
//! For one `(d, T, λ, σ, μ)` and every n it runs [`memorization`](super::memorization) (P(Δ > 0)
//! over re-drawn training sets against one original sample of `n_orig` points) and
//! [`linear_kl`](super::linear_kl) (KL and H² of `p_gen` to `p_orig`, Monte Carlo and prediction)
//! with the same trials, the KL on its own seed stream. Summary columns: `d, n, trials,
//! p_gen_closer, p_gen_closer_sem, hellinger2_mc, hellinger2_mc_sem, hellinger2_pred, kl_mc,
//! kl_mc_sem, kl_mc_median, kl_pred, q`; the raw table is memorization's (one row per training
//! set). Its notes give the first n where P(Δ > 0) exceeds ½ and the first where H² falls below ½.

use super::contract::field;
use super::linear_kl::LinearKl;
use super::memorization::Memorization;
use super::{Experiment, ExperimentOutput, Field, RunOptions};
use crate::error::Result;
use crate::linear::Sampler;
use crate::plot::{measured_lines, Figure, FigureSpec};
use crate::sweep::{f64_column, frame, Value};

/// Mixed into the seed of the KL part, so it never shares a stream with the Δ trials.
pub const KL_STREAM: u64 = 0x4b4c_0000_0000;

/// One parameter set of the linear denoiser and the training-set sizes.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearTransition {
    /// Dimension d.
    pub d: usize,
    /// Training-set sizes.
    pub n: Vec<usize>,
    /// Size of the original sample.
    pub n_orig: usize,
    /// Noise time T.
    pub t: f64,
    /// Noise scale λ.
    pub lambda: f64,
    /// Data standard deviation σ.
    pub sigma: f64,
    /// Data mean μ.
    pub mu: f64,
}

impl Default for LinearTransition {
    /// Memorization's setting (the paper's linear experiment: d = 20, T = 2, λ = e^{-2T}, μ = 10).
    fn default() -> Self {
        let m = Memorization::default();
        Self {
            d: 20,
            n: vec![5, 10, 20, 40, 80, 160, 320, 800],
            n_orig: m.n_orig,
            t: m.t,
            lambda: m.lambda,
            sigma: m.sigma,
            mu: m.mu,
        }
    }
}

impl Experiment for LinearTransition {
    const NAME: &'static str = "linear-transition";
    const TITLE: &'static str =
        "Paper 000: P(Δ > 0) beside the distance of p_gen to p_orig, on one parameter set";
    const TRIALS: Option<usize> = Some(200);
    const MIN_TRIALS: usize = 2;
    type Output = ExperimentOutput;

    fn fields() -> Vec<Field<Self>> {
        vec![
            field!(one "d", d, "Dimension.").at_least(1.0),
            field!(list "n", n, "Training points.").at_least(2.0),
            field!(one "n_orig", n_orig, "Points of the original sample.").at_least(2.0),
            field!(one "t", t, "Noise time T.").above(0.0),
            field!(one "lambda", lambda, "Noise scale λ; the reference uses e^{-2T}.").above(0.0),
            field!(one "sigma", sigma, "Data standard deviation σ.").above(0.0),
            field!(one "mu", mu, "Data mean μ."),
        ]
    }
    fn run(&self, opts: &RunOptions) -> Result<ExperimentOutput> {
        run(self, opts)
    }
    fn figure(&self, out: &ExperimentOutput) -> Result<Option<Figure>> {
        figure(&out.summary).map(Some)
    }
}

/// Runs both halves and joins them by n; see the module docs.
pub fn run(p: &LinearTransition, opts: &RunOptions) -> Result<ExperimentOutput> {
    p.check()?;
    super::check_trials::<LinearTransition>(opts)?;
    let mem = super::memorization::run(
        &Memorization {
            d: vec![p.d],
            n: p.n.clone(),
            n_orig: p.n_orig,
            t: p.t,
            lambda: p.lambda,
            sigma: p.sigma,
            mu: p.mu,
        },
        opts,
    )?;
    let kl_opts = RunOptions {
        seed: opts.seed ^ KL_STREAM,
        checkpoint: opts.checkpoint.as_ref().map(|c| c.join("kl")),
        ..opts.clone()
    };
    let kl = super::linear_kl::run(
        &LinearKl {
            d: vec![p.d],
            n: p.n.clone(),
            t: vec![p.t],
            lambda: vec![p.lambda],
            sigma: vec![p.sigma],
            mu: p.mu,
            sampler: Sampler::Reduced,
        },
        &kl_opts,
    )?;
    let reals = |v: Vec<f64>| v.into_iter().map(Value::Float).collect::<Vec<_>>();
    let ints = |v: Vec<f64>| v.into_iter().map(|x| Value::Int(x as i64)).collect::<Vec<_>>();
    let (m, k) = (&mem.summary, &kl.summary);
    let mut columns = vec![
        ("d", ints(f64_column(m, "d")?)),
        ("n", ints(f64_column(m, "n")?)),
        ("trials", ints(f64_column(m, "trials")?)),
        ("p_gen_closer", reals(f64_column(m, "p_gen_closer")?)),
        ("p_gen_closer_sem", reals(f64_column(m, "p_gen_closer_sem")?)),
    ];
    for c in [
        "hellinger2_mc",
        "hellinger2_mc_sem",
        "hellinger2_pred",
        "kl_mc",
        "kl_mc_sem",
        "kl_mc_median",
        "kl_pred",
        "q",
    ] {
        columns.push((c, reals(f64_column(k, c)?)));
    }
    let summary = frame(columns)?;
    let ns = f64_column(&summary, "n")?;
    let first = |col: &str, test: fn(f64) -> bool| -> Result<String> {
        Ok(f64_column(&summary, col)?
            .iter()
            .zip(&ns)
            .find(|(v, _)| test(**v))
            .map(|(_, n)| format!("n = {n}"))
            .unwrap_or_else(|| "no n of the grid".into()))
    };
    let notes = vec![format!(
        "P(Δ > 0) first exceeds ½ at {}; H²(p_orig, p_gen) first falls below ½ at {} (d = {})",
        first("p_gen_closer", |v| v > 0.5)?,
        first("hellinger2_mc", |v| v < 0.5)?,
        p.d
    )];
    Ok(ExperimentOutput {
        raw: mem.raw,
        summary,
        complete: mem.complete && kl.complete,
        notes,
    })
}

/// P(Δ > 0) and H²(p_orig, p_gen) against n (log x), ± 2 s.e.: both on [0, 1].
pub fn figure(summary: &polars::prelude::DataFrame) -> Result<Figure> {
    let n = f64_column(summary, "n")?;
    let mut long: Vec<(&str, Vec<Value>)> = vec![
        ("n", vec![]),
        ("value", vec![]),
        ("sem", vec![]),
        ("quantity", vec![]),
    ];
    for (col, label) in [
        ("p_gen_closer", "P(Δ > 0): generated closer to the truth"),
        ("hellinger2_mc", "H²(p_orig, p_gen)"),
    ] {
        let (v, s) = (
            f64_column(summary, col)?,
            f64_column(summary, &format!("{col}_sem"))?,
        );
        for i in 0..n.len() {
            long[0].1.push(Value::Float(n[i]));
            long[1].1.push(Value::Float(v[i]));
            long[2].1.push(Value::Float(s[i]));
            long[3].1.push(Value::from(label));
        }
    }
    measured_lines(
        &frame(long)?,
        "n",
        "value",
        "sem",
        Some("quantity"),
        &FigureSpec::new(
            "Memorization → generalization against the distance to the truth (linear denoiser)",
            "training points n",
            "probability / squared Hellinger distance",
        )
        .log_x(),
    )
}
