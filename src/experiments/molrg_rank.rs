//! `molrg-rank`: numerical rank of the MoLRG denoiser's Jacobian against the signal-to-noise ratio
//! (paper 004, Fig. 3's MoLRG version).
//!
//! For every SNR and replicate: a random MoLRG instance, `samples` draws `x_t = x₀ + σ ε`
//! (`σ = 1/sqrt(SNR)`, EDM kernel) and `rank_η` (η = 0.99) of the closed-form Jacobian at each.
//! Theory: `≈ d_k` at high SNR (one component's weight → 1), `Σ_k d_k` at low SNR (weights → π).
//! The probability-flow ODE of the exact denoiser has the marginals `p_σ`, so this is also the rank
//! along a sampling trajectory at those noise levels.
//!
//! Summary columns: `snr, rank, rank_ratio, rank_sem, rank_ratio_sem` (`rank_ratio = rank/ambient`;
//! rank: mean over the replicates of each instance's mean over its draws; sem over replicates). Raw: `snr, replicate, seed, rank`.

use super::contract::field;
use super::{Experiment, ExperimentOutput, Field, RunOptions};
use crate::error::Result;
use crate::molrg::{numerical_rank, posterior::noisy, Bases, Kernel, LowRankMixture, MolrgParams};
use crate::plot::{Figure, FigureSpec};
use crate::sweep::{f64_column, summarize, with_columns, Grid, Record, Sweep};

/// The sweep of `molrg-rank`.
#[derive(Debug, Clone, PartialEq)]
pub struct MolrgRank {
    /// Ambient dimension n.
    pub ambient: usize,
    /// Components K.
    pub components: usize,
    /// Subspace dimension of every component.
    pub subspace_dim: usize,
    /// Signal-to-noise ratios `1/σ` (paper 004's convention).
    pub snr: Vec<f64>,
    /// Draws of `x_t` per instance.
    pub samples: usize,
    /// The η of `rank_η`.
    pub eta: f64,
    /// Orthogonal or random bases.
    pub bases: Bases,
    /// Data noise σ_ξ.
    pub noise: f64,
}

impl Default for MolrgRank {
    fn default() -> Self {
        Self {
            ambient: 48,
            components: 2,
            subspace_dim: 6,
            snr: vec![0.01, 0.1, 1.0, 10.0, 100.0],
            samples: 16,
            eta: 0.99,
            bases: Bases::Orthogonal,
            noise: 0.0,
        }
    }
}

impl Experiment for MolrgRank {
    const NAME: &'static str = "molrg-rank";
    const TITLE: &'static str = "Paper 004: numerical rank of the MoLRG denoiser's Jacobian against SNR";
    const TRIALS: Option<usize> = Some(4);
    type Output = ExperimentOutput;

    fn fields() -> Vec<Field<Self>> {
        vec![
            field!(one "ambient", ambient, "Ambient dimension n.").at_least(1.0),
            field!(one "components", components, "Components K.").at_least(1.0),
            field!(one "subspace_dim", subspace_dim, "Subspace dimension of every component.")
                .at_least(1.0),
            field!(list "snr", snr, "Signal-to-noise ratios 1/σ (paper 004's axis).").above(0.0),
            field!(one "samples", samples, "Draws of x_t per instance.").at_least(1.0),
            field!(one "eta", eta, "η of the numerical rank.").above(0.0).at_most(1.0),
            field!(one "bases", bases, "Bases: orthogonal or random."),
            field!(one "noise", noise, "Isotropic noise σ_ξ of the data.").at_least(0.0),
        ]
    }
    fn run(&self, opts: &RunOptions) -> Result<ExperimentOutput> {
        run(self, opts)
    }
    fn figure(&self, out: &ExperimentOutput) -> Result<Option<Figure>> {
        figure(&out.summary, self).map(Some)
    }
}

/// Runs the sweep (`opts.trials` instances per SNR, `samples` draws each).
pub fn run(p: &MolrgRank, opts: &RunOptions) -> Result<ExperimentOutput> {
    p.check()?;
    let params = MolrgParams {
        ambient: p.ambient,
        dims: vec![p.subspace_dim; p.components],
        weights: None,
        bases: p.bases,
        noise: p.noise,
    };
    params.check()?;
    super::check_trials::<MolrgRank>(opts)?;
    let g = Grid::new().axis("snr", p.snr.iter().copied());
    let out = opts.apply(p, Sweep::new(g).label("molrg-rank")).run(|task| {
        let snr = task.point.f64("snr")?;
        let mut rng = task.rng();
        let m = LowRankMixture::random(&params, &mut rng)?;
        let kernel = Kernel::from_snr(snr)?;
        let xt = noisy(&m.sample(p.samples, &mut rng).points, kernel, &mut rng);
        let mut total = 0.0;
        for i in 0..p.samples {
            let sv = m.jacobian_singular_values(kernel, xt.col_as_slice(i))?;
            total += numerical_rank(&sv, p.eta)? as f64;
        }
        Ok(Record::new().with("rank", total / p.samples as f64))
    })?;
    let s = summarize(&out.frame, &["snr"], &["rank"])?;
    let rank = f64_column(&s, "rank_mean")?;
    let ratio: Vec<f64> = rank.iter().map(|r| r / p.ambient as f64).collect();
    let sem = f64_column(&s, "rank_sem")?;
    let summary = with_columns(
        &s,
        &["snr"],
        vec![
            ("rank", rank),
            ("rank_ratio", ratio),
            ("rank_sem", sem.clone()),
            (
                "rank_ratio_sem",
                sem.iter().map(|v| v / p.ambient as f64).collect(),
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

/// Rank ratio against SNR (log x) with the two theory levels `d_k/n` and `Σ d_k/n`.
pub fn figure(summary: &polars::prelude::DataFrame, p: &MolrgRank) -> Result<Figure> {
    let snr = f64_column(summary, "snr")?;
    let (lo, hi) = snr
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let n = p.ambient as f64;
    let one = p.subspace_dim as f64 / n;
    let all = (p.subspace_dim * p.components) as f64 / n;
    let mut spec = FigureSpec::new(
        "Numerical rank of the MoLRG denoiser's Jacobian",
        "SNR = 1/σ",
        "rank / ambient dimension",
    );
    spec.log_x = true;
    let fig =
        crate::plot::measured_lines(summary, "snr", "rank_ratio", "rank_ratio_sem", None, &spec)?;
    Ok(fig
        .with_line(&[lo, hi], &[one, one], "d_k / n (one component)")
        .with_line(&[lo, hi], &[all, all], "Σ d_k / n (all components)"))
}
