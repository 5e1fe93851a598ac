//! `molrg-phase`: paper 004's phase transition of subspace recovery (Thms 2 and 4).
//!
//! For every (subspace dimension d, samples per component N_k, solver) and replicate: a random
//! MoLRG instance (K components of dimension d in `R^ambient`), exactly `N_k` training points per
//! component, a fit by the solver, and the subspace error under the best matching
//! ([`crate::molrg::subspace_error`]); success is `error <= 0.1`
//! ([`crate::molrg::SUCCESS_THRESHOLD`]). The theorems put the transition at `N_k = d`.
//!
//! Summary columns: `ambient, components, subspace_dim, samples, trials, solver, success_rate,
//! mean_error`. Raw columns: the axes, `replicate, seed, error, success, captured`. With noise
//! (`noise` = σ_ξ > 0) the points no longer lie on the subspaces and the crossing moves above
//! `N_k = d`; [`transition`] reads where each (solver, d) crosses half success.

use super::contract::field;
use super::{Experiment, ExperimentOutput, Field, RunOptions};
use crate::error::{check_count_at_least, Error, Result};
use crate::molrg::{
    fit, subspace_error, Bases, KSubspaces, LowRankMixture, MolrgParams, SgdConfig, Solver,
};
use crate::plot::{heatmap_with_line, Figure, FigureSpec};
use crate::sweep::{f64_column, records_frame, rows_where, summarize, Grid, Record, Sweep};

/// The sweep of `molrg-phase`.
#[derive(Debug, Clone, PartialEq)]
pub struct MolrgPhase {
    /// Ambient dimension n.
    pub ambient: usize,
    /// Components K.
    pub components: usize,
    /// Subspace dimensions d (every component has the same).
    pub subspace_dim: Vec<usize>,
    /// Training points per component N_k.
    pub samples: Vec<usize>,
    /// Solvers.
    pub solver: Vec<Solver>,
    /// Isotropic noise σ_ξ of the data.
    pub noise: f64,
    /// Orthogonal or random bases.
    pub bases: Bases,
    /// K-subspaces settings.
    pub clustering: KSubspaces,
    /// SGD settings.
    pub sgd: SgdConfig,
}

impl Default for MolrgPhase {
    fn default() -> Self {
        Self {
            ambient: 48,
            components: 1,
            subspace_dim: vec![2, 4, 8, 12],
            samples: vec![1, 2, 4, 8, 16, 32],
            solver: vec![Solver::Pca],
            noise: 0.0,
            bases: Bases::Orthogonal,
            clustering: KSubspaces::default(),
            sgd: SgdConfig::default(),
        }
    }
}

impl Experiment for MolrgPhase {
    const NAME: &'static str = "molrg-phase";
    const TITLE: &'static str =
        "Paper 004: success rate of subspace recovery (PCA, K-subspaces, SGD) over (d, N_k)";
    const TRIALS: Option<usize> = Some(20);
    type Output = ExperimentOutput;

    fn fields() -> Vec<Field<Self>> {
        vec![
            field!(one "ambient", ambient, "Ambient dimension n.").at_least(1.0),
            field!(one "components", components, "Components K (pca needs 1).").at_least(1.0),
            field!(list "subspace_dim", subspace_dim,
                "Subspace dimensions d (components × d <= ambient for orthogonal bases).")
                .at_least(1.0),
            field!(list "samples", samples, "Training points per component N_k.").at_least(1.0),
            field!(list "solver", solver,
                "Solvers: pca, clustering (K-subspaces), sgd (on the DAE loss, random starts), sgd-from-clustering (SGD started at the K-subspaces fit)."),
            field!(one "noise", noise, "Isotropic noise σ_ξ added to the data.").at_least(0.0),
            field!(one "bases", bases,
                "Bases: orthogonal (mutually orthogonal subspaces) or random."),
            field!(one "restarts", clustering.restarts, "K-subspaces random starts.")
                .at_least(1.0),
            field!(one "sgd_steps", sgd.steps, "SGD steps.").at_least(1.0),
            field!(one "sgd_restarts", sgd.restarts, "SGD random starts for K > 1.")
                .at_least(1.0),
            field!(one "sgd_lr", sgd.lr,
                "SGD step size in units of 1/λ_max of the data's second moment (it decays linearly to a tenth of itself).")
                .above(0.0),
        ]
    }
    fn check(&self) -> Result<()> {
        super::check_fields(self)?;
        for &d in &self.subspace_dim {
            self.params(d).check()?;
        }
        if self.solver.contains(&Solver::Pca) && self.components > 1 {
            return Err(Error::invalid(
                "solver",
                "pca",
                format!(
                    "PCA fits one subspace; with {} components use clustering or sgd",
                    self.components
                ),
            ));
        }
        self.sgd.check()?;
        check_count_at_least("max_iter", self.clustering.max_iter, 1)
    }
    fn run(&self, opts: &RunOptions) -> Result<ExperimentOutput> {
        run(self, opts)
    }
    fn figure(&self, out: &ExperimentOutput) -> Result<Option<Figure>> {
        figure(&out.summary, self.solver[0].name()).map(Some)
    }
}

impl MolrgPhase {

    fn params(&self, d: usize) -> MolrgParams {
        MolrgParams {
            ambient: self.ambient,
            dims: vec![d; self.components],
            weights: None,
            bases: self.bases,
            noise: self.noise,
        }
    }
}

/// Runs the sweep (`opts.trials` instances per cell).
pub fn run(p: &MolrgPhase, opts: &RunOptions) -> Result<ExperimentOutput> {
    p.check()?;
    super::check_trials::<MolrgPhase>(opts)?;
    let g = Grid::new()
        .axis("subspace_dim", p.subspace_dim.iter().copied())
        .axis("samples", p.samples.iter().copied())
        .axis("solver", p.solver.iter().map(|s| s.name()));
    let out = opts.apply(p, Sweep::new(g).label("molrg-phase")).run(|task| {
        let d = task.point.usize("subspace_dim")?;
        let per = task.point.usize("samples")?;
        let solver: Solver = task.point.text("solver")?.parse()?;
        let mut rng = task.rng();
        let truth = LowRankMixture::random(&p.params(d), &mut rng)?;
        let x = truth.sample_per_component(per, &mut rng).points;
        let f = fit(
            solver,
            &x,
            &vec![d; p.components],
            p.clustering,
            p.sgd,
            &mut rng,
        )?;
        let rec = subspace_error(&truth.bases(), &f.bases)?;
        Ok(Record::new()
            .with("error", rec.error)
            .with("success", if rec.success() { 1.0 } else { 0.0 })
            .with("captured", f.captured))
    })?;
    let keys = ["subspace_dim", "samples", "solver"];
    let s = summarize(&out.frame, &keys, &["error", "success"])?;
    let dims = f64_column(&s, "subspace_dim")?;
    let samples = f64_column(&s, "samples")?;
    let trials = f64_column(&s, "trials")?;
    let rate = f64_column(&s, "success_mean")?;
    let err = f64_column(&s, "error_mean")?;
    let solvers = s.column("solver")?.str()?.clone();
    let rows: Vec<Record> = (0..s.height())
        .map(|i| {
            Record::new()
                .with("ambient", p.ambient)
                .with("components", p.components)
                .with("subspace_dim", dims[i] as usize)
                .with("samples", samples[i] as usize)
                .with("trials", trials[i] as usize)
                .with("solver", solvers.get(i).unwrap_or(""))
                .with("success_rate", rate[i])
                .with("mean_error", err[i])
        })
        .collect();
    Ok(ExperimentOutput {
        raw: out.frame,
        summary: records_frame(&rows)?,
        complete: out.complete,
        notes: Vec::new(),
    })
}

/// The success-rate heat map of one solver (samples per component across, subspace dimension up)
/// with the line `N_k = d` of Thms 2 and 4.
pub fn figure(summary: &polars::prelude::DataFrame, solver: &str) -> Result<Figure> {
    let rows = rows_where(summary, "solver", solver)?;
    let dims = f64_column(&rows, "subspace_dim")?;
    let (lo, hi) = dims
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &d| {
            (a.min(d), b.max(d))
        });
    let line: Vec<f64> = vec![lo, hi];
    let spec = FigureSpec::new(
        &format!("Success rate of {solver} (error ≤ 0.1)"),
        "training points per component N_k",
        "subspace dimension d",
    );
    heatmap_with_line(
        &rows,
        "samples",
        "subspace_dim",
        "success_rate",
        Some((&line, &line, "N_k = d")),
        &spec,
    )
}

/// Where each (solver, d) of a summary crosses half success: the smallest `N_k` of the grid with
/// `success_rate >= 0.5` (NaN where no `N_k` of the grid reaches it), and that `N_k/d`. The
/// theorems put it at `N_k = d` without noise. Columns: `solver, subspace_dim, samples_at_half,
/// ratio_at_half`, in the summary's order.
pub fn transition(summary: &polars::prelude::DataFrame) -> Result<polars::prelude::DataFrame> {
    let solvers = crate::sweep::str_column(summary, "solver")?;
    let dims = f64_column(summary, "subspace_dim")?;
    let samples = f64_column(summary, "samples")?;
    let rate = f64_column(summary, "success_rate")?;
    let mut cells: Vec<(String, f64, f64)> = Vec::new();
    for i in 0..summary.height() {
        let key = (solvers[i].clone(), dims[i]);
        let reached = if rate[i] >= 0.5 { samples[i] } else { f64::NAN };
        match cells.iter_mut().find(|c| (c.0.as_str(), c.1) == (key.0.as_str(), key.1)) {
            Some(c) => {
                if reached < c.2 || (c.2.is_nan() && !reached.is_nan()) {
                    c.2 = reached;
                }
            }
            None => cells.push((key.0, key.1, reached)),
        }
    }
    let rows: Vec<Record> = cells
        .into_iter()
        .map(|(solver, d, n)| {
            Record::new()
                .with("solver", solver)
                .with("subspace_dim", d as usize)
                .with("samples_at_half", n)
                .with("ratio_at_half", n / d)
        })
        .collect();
    records_frame(&rows)
}
