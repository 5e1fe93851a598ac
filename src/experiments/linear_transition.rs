//! `linear-transition`: paper 000's central claim on one parameter set — the memorization →
//! generalization transition (P(Δ > 0) rising) against the fall of the distance between the
//! generated and the true distribution, in the linear one-step denoiser.
//!
//! For one `(T, λ, σ, μ)` and every (d, n) it runs [`memorization`](super::memorization) (P(Δ > 0)
//! over re-drawn training sets against one original sample of `n_orig` points) and
//! [`linear_kl`](super::linear_kl) (KL and H² of `p_gen` to `p_orig`, Monte Carlo and prediction)
//! with the same trials, the KL on its own seed stream. Summary columns: `d, n, trials,
//! p_gen_closer, p_gen_closer_sem, hellinger2_mc, hellinger2_mc_sem, hellinger2_pred, kl_mc,
//! kl_mc_sem, kl_mc_median, kl_pred, q`; the raw table is memorization's (one row per training
//! set). Its notes give, per d, the first n where P(Δ > 0) exceeds ½ and the first where H² falls
//! below 1 (it is exactly 1 while p_gen is singular, n <= d).

use super::linear_kl::LinearKl;
use super::memorization::Memorization;
use super::{Experiment, ExperimentOutput, Field, RunOptions};
use crate::error::{Error, Result};
use crate::linear::Sampler;
use crate::plot::{measured_lines, Figure, FigureSpec};
use crate::sweep::{f64_column, frame, Value};

/// Mixed into the seed of the KL part, so it never shares a stream with the Δ trials.
pub const KL_STREAM: u64 = 0x4b4c_0000_0000;

/// The parameter set: exactly memorization's (the KL half runs at the same d, n, T, λ, σ, μ).
#[derive(Debug, Clone, PartialEq)]
pub struct LinearTransition {
    /// The model, the training-set sizes and the original sample.
    pub model: Memorization,
}

impl Default for LinearTransition {
    /// Memorization's setting (the paper's linear experiment: d = 20, T = 2, λ = e^{-2T}, μ = 10)
    /// with n up to 40d.
    fn default() -> Self {
        Self {
            model: Memorization {
                n: vec![5, 10, 20, 40, 80, 160, 320, 800],
                ..Memorization::default()
            },
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
        Memorization::fields()
            .into_iter()
            .map(|f| f.within(|p: &Self| &p.model, |p: &mut Self| &mut p.model))
            .collect()
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
    let m = &p.model;
    // a shard runs its part of both sweeps before it reports that it is done
    let mem = super::memorization::run(m, opts);
    if matches!(&mem, Err(e) if !matches!(e, Error::ShardDone { .. })) {
        return mem;
    }
    let kl_opts = RunOptions {
        seed: opts.seed ^ KL_STREAM,
        checkpoint: opts.checkpoint.as_ref().map(|c| c.join("kl")),
        ..opts.clone()
    };
    let kl = super::linear_kl::run(
        &LinearKl {
            d: m.d.clone(),
            n: m.n.clone(),
            t: vec![m.t],
            lambda: vec![m.lambda],
            sigma: vec![m.sigma],
            mu: m.mu,
            sampler: Sampler::Reduced,
        },
        &kl_opts,
    )?;
    let mem = mem?;
    let reals = |v: Vec<f64>| v.into_iter().map(Value::Float).collect::<Vec<_>>();
    let ints = |v: Vec<f64>| v.into_iter().map(|x| Value::Int(x as i64)).collect::<Vec<_>>();
    let (ms, ks) = (&mem.summary, &kl.summary);
    let mut columns = vec![
        ("d", ints(f64_column(ms, "d")?)),
        ("n", ints(f64_column(ms, "n")?)),
        ("trials", ints(f64_column(ms, "trials")?)),
        ("p_gen_closer", reals(f64_column(ms, "p_gen_closer")?)),
        ("p_gen_closer_sem", reals(f64_column(ms, "p_gen_closer_sem")?)),
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
        columns.push((c, reals(f64_column(ks, c)?)));
    }
    let summary = frame(columns)?;
    // per d: the first n where P(Δ > 0) exceeds ½ and the first where H² leaves 1
    let (ds, ns) = (f64_column(&summary, "d")?, f64_column(&summary, "n")?);
    let (pg, h2) = (
        f64_column(&summary, "p_gen_closer")?,
        f64_column(&summary, "hellinger2_mc")?,
    );
    let first = |d: f64, hit: &dyn Fn(usize) -> bool| -> String {
        (0..ns.len())
            .find(|&i| ds[i] == d && hit(i))
            .map(|i| format!("n = {}", ns[i]))
            .unwrap_or_else(|| "no n of the grid".into())
    };
    let notes = m
        .d
        .iter()
        .map(|&d| {
            let d = d as f64;
            format!(
                "d = {d}: P(Δ > 0) first exceeds ½ at {}; H²(p_orig, p_gen) first falls below 1 at {}",
                first(d, &|i| pg[i] > 0.5),
                first(d, &|i| h2[i] < 1.0)
            )
        })
        .collect();
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
