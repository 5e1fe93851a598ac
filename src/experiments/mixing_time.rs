//! `mixing-time`: paper 000's random-energy-model collapse time against the kernel bandwidths.
//! Math in [`crate::linear::mixing`].
//!
//! Summary columns: `d, n, sigma, t_collapse, kernel_variance, bandwidth_sq_silverman,
//! bandwidth_sq_empirical`, then `bandwidth_sq_mise, bandwidth_sq_empirical_sem, draws`
//! (`bandwidth_sq_mise`: the exact finite-n minimiser of the expected distance, which the empirical
//! optimum scatters around; Silverman's is its small-h asymptote). `kernel_variance =
//! e^{2t_C} − 1 = σ²/(n^{2/d} − 1)`; `bandwidth_sq_empirical` is the mean over `draws` data sets of
//! the h² that minimises the closed-form squared-L² distance between `N(0, σ²I)` and the KDE of
//! the n drawn points.

use super::contract::field;
use super::{Experiment, ExperimentOutput, Field, RunOptions};
use crate::error::Result;
use crate::linear::mixing::{
    empirical_bandwidth_sq, kernel_variance, mise_bandwidth_sq, silverman_bandwidth_sq, t_collapse,
};
use crate::sweep::{f64_column, summarize, with_columns, Grid, Record, Sweep};

/// The sweep axes of `mixing-time`.
#[derive(Debug, Clone, PartialEq)]
pub struct MixingTime {
    /// Dimensions.
    pub d: Vec<usize>,
    /// Sample sizes.
    pub n: Vec<usize>,
    /// Data standard deviations.
    pub sigma: Vec<f64>,
}

impl Default for MixingTime {
    fn default() -> Self {
        Self {
            d: vec![10, 100],
            n: vec![100, 1000, 10_000],
            sigma: vec![1.0],
        }
    }
}

impl Experiment for MixingTime {
    const NAME: &'static str = "mixing-time";
    const TITLE: &'static str =
        "Paper 000: collapse time against the Silverman and the empirical optimal bandwidths";
    const TRIALS: Option<usize> = Some(3);
    type Output = ExperimentOutput;

    fn fields() -> Vec<Field<Self>> {
        vec![
            field!(list "d", d, "Dimensions.").at_least(1.0),
            field!(list "n", n, "Sample sizes.").at_least(2.0),
            field!(list "sigma", sigma, "Data standard deviation σ.").above(0.0),
        ]
    }
    fn run(&self, opts: &RunOptions) -> Result<ExperimentOutput> {
        run(self, opts)
    }
}

/// Runs the sweep (one task per draw: `opts.trials` draws per point).
pub fn run(m: &MixingTime, opts: &RunOptions) -> Result<ExperimentOutput> {
    m.check()?;
    super::check_trials::<MixingTime>(opts)?;
    let g = Grid::new()
        .axis("d", m.d.iter().copied())
        .axis("n", m.n.iter().copied())
        .axis("sigma", m.sigma.iter().copied());
    let out = opts.apply(m, Sweep::new(g).label("mixing-time")).run(|task| {
        let (d, n, sigma) = (
            task.point.usize("d")?,
            task.point.usize("n")?,
            task.point.f64("sigma")?,
        );
        let fit = empirical_bandwidth_sq(n, d, sigma, &mut task.rng())?;
        Ok(Record::new()
            .with("t_collapse", t_collapse(n, d, sigma))
            .with("kernel_variance", kernel_variance(n, d, sigma))
            .with(
                "bandwidth_sq_silverman",
                silverman_bandwidth_sq(n, d, sigma),
            )
            .with("bandwidth_sq_empirical", fit.h2)
            .with("bandwidth_sq_mise", mise_bandwidth_sq(n, d, sigma))
            .with("relative_l2", fit.relative_l2))
    })?;
    let keys = ["d", "n", "sigma"];
    let cols = [
        "t_collapse",
        "kernel_variance",
        "bandwidth_sq_silverman",
        "bandwidth_sq_empirical",
        "bandwidth_sq_mise",
    ];
    let s = summarize(&out.frame, &keys, &cols)?;
    let mut new: Vec<(&str, Vec<f64>)> = Vec::new();
    for c in cols {
        new.push((c, f64_column(&s, &format!("{c}_mean"))?));
    }
    new.push((
        "bandwidth_sq_empirical_sem",
        f64_column(&s, "bandwidth_sq_empirical_sem")?,
    ));
    new.push(("draws", f64_column(&s, "trials")?));
    let summary = with_columns(&s, &keys, new)?;
    Ok(ExperimentOutput {
        raw: out.frame,
        summary,
        complete: out.complete,
        notes: Vec::new(),
    })
}
