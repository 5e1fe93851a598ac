//! `memorization`: paper 000's statistic `P(Δ > 0)`, `Δ = D(p_gen, p_train) − D(p_gen, p_orig)`,
//! over re-drawn training sets. Math in [`crate::linear::memorization`].
//!
//! Summary columns: `d, n, n_orig, trials, p_gen_closer, p_gen_closer_sem`. For each d one original
//! sample of `n_orig` points is drawn (seed `task_seed(seed ^ ORIG_STREAM, d)`) and its N_orig² self
//! term computed once; every trial re-draws the n training points.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::contract::field;
use super::{Experiment, ExperimentOutput, Field, RunOptions};
use crate::error::Result;
use crate::linear::memorization::{delta_trial, OriginalSet};
use crate::linear::LinearParams;
use crate::rng::{rng_from_seed, task_seed};
use crate::sweep::{f64_column, summarize, with_columns, Grid, Record, Sweep};

/// Mixed into the base seed for the original samples, so they never share a stream with a trial.
pub const ORIG_STREAM: u64 = 0x0816_0000_0000;

/// The sweep axes and fixed settings of `memorization`.
#[derive(Debug, Clone, PartialEq)]
pub struct Memorization {
    /// Dimensions.
    pub d: Vec<usize>,
    /// Training-set sizes.
    pub n: Vec<usize>,
    /// Size of the original sample.
    pub n_orig: usize,
    /// Noise time T.
    pub t: f64,
    /// Noise scale λ (the reference uses `e^{-2T}`).
    pub lambda: f64,
    /// Data standard deviation σ.
    pub sigma: f64,
    /// Data mean μ.
    pub mu: f64,
    /// Factor on both KDE bandwidths (1: the paper's rule `σ N^{-1/d}`).
    pub bandwidth_scale: f64,
}

impl Default for Memorization {
    fn default() -> Self {
        Self {
            d: vec![20],
            n: vec![5, 10, 20, 40, 80, 160],
            n_orig: 2000,
            t: 2.0,
            lambda: (-4f64).exp(),
            sigma: 1.0,
            mu: 10.0,
            bandwidth_scale: 1.0,
        }
    }
}

impl Experiment for Memorization {
    const NAME: &'static str = "memorization";
    const TITLE: &'static str =
        "Paper 000: memorization statistic P(Δ > 0) of the linear denoiser over re-drawn training sets";
    const MIN_TRIALS: usize = 2;
    const TRIALS: Option<usize> = Some(200);
    type Output = ExperimentOutput;

    fn fields() -> Vec<Field<Self>> {
        vec![
            field!(list "d", d, "Dimensions.").at_least(1.0),
            field!(list "n", n, "Training points.").at_least(2.0),
            field!(one "n_orig", n_orig, "Points of the original sample.").at_least(2.0),
            field!(one "t", t, "Noise time T.").above(0.0),
            field!(one "lambda", lambda, "Noise scale λ; the reference uses e^{-2T}.").above(0.0),
            field!(one "sigma", sigma, "Data standard deviation σ.").above(0.0),
            field!(one "mu", mu, "Data mean μ."),
            field!(one "bandwidth_scale", bandwidth_scale, "Factor on both KDE bandwidths σN^{-1/d} (1: the paper's rule).")
                .above(0.0),
        ]
    }
    fn run(&self, opts: &RunOptions) -> Result<ExperimentOutput> {
        run(self, opts)
    }
}

/// Runs the sweep (one task per trial, at least 2); see the module docs for the columns.
pub fn run(m: &Memorization, opts: &RunOptions) -> Result<ExperimentOutput> {
    m.check()?;
    super::check_trials::<Memorization>(opts)?;
    let params = |d: usize, n: usize| LinearParams::new(d, n, m.t, m.lambda, m.sigma, m.mu);
    for &d in &m.d {
        for &n in &m.n {
            params(d, n)?;
        }
    }
    // the original sample of each dimension, drawn when a task first needs it (from its own
    // stream: the same whoever draws it), so that a sweep read back from the cache draws none
    let origs: Mutex<HashMap<usize, Arc<OriginalSet>>> = Mutex::new(HashMap::new());
    let orig_for = |d: usize| -> Result<Arc<OriginalSet>> {
        let mut all = origs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(o) = all.get(&d) {
            return Ok(o.clone());
        }
        let mut rng = rng_from_seed(task_seed(opts.seed ^ ORIG_STREAM, d as u64));
        let o = Arc::new(OriginalSet::draw_with_bandwidth(
            &params(d, 2)?,
            m.n_orig,
            m.bandwidth_scale,
            &mut rng,
        )?);
        all.insert(d, o.clone());
        Ok(o)
    };
    let g = Grid::new()
        .axis("d", m.d.iter().copied())
        .axis("n", m.n.iter().copied())
        .axis("n_orig", [m.n_orig]);
    let out = opts
        .apply(m, Sweep::new(g).label("memorization"))
        .run(|task| {
            let d = task.point.usize("d")?;
            let p = params(d, task.point.usize("n")?)?;
            let orig = orig_for(d)?;
            let delta = delta_trial(&p, &orig, &mut task.rng())?;
            Ok(Record::new()
                .with(
                    "gen_closer",
                    if delta.gen_closer_to_orig() { 1.0 } else { 0.0 },
                )
                .with("delta_scaled", delta.scaled)
                .with("delta_ln_scale", delta.ln_scale))
        })?;
    let keys = ["d", "n", "n_orig"];
    let s = summarize(&out.frame, &keys, &["gen_closer"])?;
    let summary = with_columns(
        &s,
        &["d", "n", "n_orig", "trials"],
        vec![
            ("p_gen_closer", f64_column(&s, "gen_closer_mean")?),
            ("p_gen_closer_sem", f64_column(&s, "gen_closer_sem")?),
        ],
    )?;
    let raw = with_columns(
        &out.frame,
        &[
            "d",
            "n",
            "n_orig",
            "replicate",
            "seed",
            "gen_closer",
            "delta_scaled",
            "delta_ln_scale",
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

/// `P(Δ > 0)` pooled over `samples` original samples. P is conditional on the original sample the
/// statistic compares against (one per run, from the run's seed), and it varies from one original
/// sample to another by more than its binomial error, so a single run's curve describes its sample,
/// not the method. This runs `m` with seeds `opts.seed, opts.seed + 1, …` (`opts.trials` training
/// sets each) and returns per (d, n): `d, n, samples, trials, p_pooled` (the mean of the runs' P),
/// `p_pooled_sem` (the standard error across original samples), `p_min, p_max`.
pub fn pooled(
    m: &Memorization,
    opts: &RunOptions,
    samples: usize,
) -> Result<polars::prelude::DataFrame> {
    crate::error::check_count_at_least("samples", samples, 2)?;
    let mut keys: Option<(Vec<f64>, Vec<f64>)> = None;
    let mut per_row: Vec<Vec<f64>> = Vec::new();
    for k in 0..samples as u64 {
        let run_opts = RunOptions {
            seed: opts.seed.wrapping_add(k),
            ..opts.clone()
        };
        let out = run(m, &run_opts)?;
        let p = f64_column(&out.summary, "p_gen_closer")?;
        if keys.is_none() {
            keys = Some((f64_column(&out.summary, "d")?, f64_column(&out.summary, "n")?));
            per_row = vec![Vec::with_capacity(samples); p.len()];
        }
        for (row, v) in per_row.iter_mut().zip(p) {
            row.push(v);
        }
    }
    let (d, n) = keys.unwrap_or_default();
    let est: Vec<crate::stats::Estimate> = per_row
        .iter()
        .map(|v| crate::stats::mean_sem(v))
        .collect::<Result<_>>()?;
    let ints = |v: &[f64]| {
        v.iter()
            .map(|x| crate::sweep::Value::Int(*x as i64))
            .collect::<Vec<_>>()
    };
    let reals = |v: Vec<f64>| v.into_iter().map(crate::sweep::Value::Float).collect::<Vec<_>>();
    let fold = |f: fn(f64, f64) -> f64, init: f64| -> Vec<f64> {
        per_row.iter().map(|v| v.iter().copied().fold(init, f)).collect()
    };
    crate::sweep::frame(vec![
        ("d", ints(&d)),
        ("n", ints(&n)),
        ("samples", ints(&vec![samples as f64; d.len()])),
        ("trials", ints(&vec![opts.trials as f64; d.len()])),
        ("p_pooled", reals(est.iter().map(|e| e.mean).collect())),
        ("p_pooled_sem", reals(est.iter().map(|e| e.sem).collect())),
        ("p_min", reals(fold(f64::min, f64::INFINITY))),
        ("p_max", reals(fold(f64::max, f64::NEG_INFINITY))),
    ])
}
