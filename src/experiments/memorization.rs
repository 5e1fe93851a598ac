//! `memorization`: paper 000's statistic `P(Δ > 0)`, `Δ = D(p_gen, p_train) − D(p_gen, p_orig)`,
//! over re-drawn training sets. Math in [`crate::linear::memorization`].
//!
//! Summary columns: `d, n, n_orig, trials, p_gen_closer, p_gen_closer_sem`. For each d one original
//! sample of `n_orig` points is drawn (seed `task_seed(seed ^ ORIG_STREAM, d)`) and its N_orig² self
//! term computed once; every trial re-draws the n training points.

use std::collections::HashMap;

use super::contract::field;
use super::{Experiment, ExperimentOutput, Field, RunOptions};
use crate::error::{Error, Result};
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
    let mut origs: HashMap<usize, OriginalSet> = HashMap::new();
    for &d in &m.d {
        if !origs.contains_key(&d) {
            let mut rng = rng_from_seed(task_seed(opts.seed ^ ORIG_STREAM, d as u64));
            origs.insert(d, OriginalSet::draw(&params(d, 2)?, m.n_orig, &mut rng)?);
        }
    }
    let g = Grid::new()
        .axis("d", m.d.iter().copied())
        .axis("n", m.n.iter().copied())
        .axis("n_orig", [m.n_orig]);
    let out = opts
        .apply(Sweep::new(g).label("memorization"))
        .run(|task| {
            let d = task.point.usize("d")?;
            let p = params(d, task.point.usize("n")?)?;
            let orig = origs
                .get(&d)
                .ok_or_else(|| Error::invalid("d", d, "no original sample for this dimension"))?;
            let delta = delta_trial(&p, orig, &mut task.rng())?;
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
