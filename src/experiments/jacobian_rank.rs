//! `jacobian-rank`: the numerical rank of a pixel DDPM's posterior-mean Jacobian along sampling
//! trajectories, against the SNR (paper 004, Fig. 3; feature `torch`).
//!
//! For a diffusers model folder (default: the shipped digits model), `samples` DDIM trajectories
//! of `steps` steps are read at the timestep nearest to each SNR `sqrt(ᾱ/(1 − ᾱ))` (EDM's `1/σ`,
//! paper 004's axis), and `rank_η` of
//! `J = ∂x̂₀/∂x_t` is taken there ([`crate::editing::rank_along_trajectories`]). A model trained on
//! MoLRG images (`train-ddpm --data molrg`, its training config says so) also gets the rank of the
//! exact posterior mean of its training distribution at the same points, the theory's
//! `Σ d_k` → `d_k` curve. The CLI's `jacobian-rank` and notebook 05 both call [`run`] and
//! [`figure`]. Formulas and the SNR convention: `docs/paper-004-low-rank-mixtures.md`.

use std::path::PathBuf;
use std::time::Instant;

use polars::prelude::{Column, DataFrame};

use crate::diffusion::{self, Ddim, SchedulerConfig};
use crate::editing::{rank_along_trajectories, RankPoint, RankSettings};
use super::contract::field;
use super::{Experiment, ExperimentOutput, Field, Outcome, RunOptions};
use crate::error::Result;
use crate::plot::{measured_lines, Figure, FigureSpec};
use crate::stats::{mean_sem, Estimate};
use crate::torch::DeviceChoice;
use crate::unet::UNet2DModel;

/// Parameters of the run (the trajectories' initial noise comes from [`RunOptions::seed`]).
#[derive(Debug, Clone, PartialEq)]
pub struct JacobianRank {
    /// A diffusers model folder; `None`: the shipped digits model (`data/ddpm-digits`).
    pub model: Option<PathBuf>,
    /// Signal-to-noise ratios `sqrt(ᾱ_t/(1 − ᾱ_t))` = 1/σ_t (> 0; the nearest timestep is used).
    pub snr: Vec<f64>,
    /// Sampling trajectories (>= 1).
    pub samples: usize,
    /// DDIM steps of each trajectory (1 .. the model's training timesteps).
    pub steps: usize,
    /// The η of the numerical rank (0 < η <= 1).
    pub eta: f64,
    /// Where to run.
    pub device: DeviceChoice,
}

impl Default for JacobianRank {
    fn default() -> Self {
        let r = RankSettings::default();
        Self {
            model: None,
            snr: r.snr,
            samples: r.samples,
            steps: 50,
            eta: r.eta,
            device: DeviceChoice::Auto,
        }
    }
}

impl Experiment for JacobianRank {
    const NAME: &'static str = "jacobian-rank";
    const TITLE: &'static str =
        "Paper 004: numerical rank of the denoiser's Jacobian along sampling trajectories vs SNR";
    const TRIALS: Option<usize> = None;
    type Output = JacobianRankOutput;

    fn fields() -> Vec<Field<Self>> {
        vec![
            field!(optional "model", model,
                "A diffusers model folder (default: the shipped digits model, data/ddpm-digits)."),
            field!(list "snr", snr, "Signal-to-noise ratios √(ᾱ_t/(1 − ᾱ_t)) = 1/σ_t (paper 004's axis); the nearest timestep is used.")
                .above(0.0),
            field!(one "samples", samples, "Sampling trajectories.").at_least(1.0),
            field!(one "steps", steps, "DDIM steps of each trajectory (at most the model's training timesteps).")
                .at_least(1.0),
            field!(one "eta", eta, "The η of the numerical rank.").above(0.0).at_most(1.0),
            field!(one "device", device, "Where to run."),
        ]
    }
    fn run(&self, opts: &RunOptions) -> Result<JacobianRankOutput> {
        run(self, opts)
    }
    fn figure(&self, out: &JacobianRankOutput) -> Result<Option<Figure>> {
        figure(&[("model", out)], self.eta).map(Some)
    }
}

impl Outcome for JacobianRankOutput {
    /// The per-SNR frame as the summary; one row per (SNR, trajectory) as the raw table.
    fn into_tables(self) -> Result<ExperimentOutput> {
        let (mut snr, mut timestep, mut trajectory, mut rank) = (vec![], vec![], vec![], vec![]);
        for pt in &self.points {
            for (i, &r) in pt.ranks.iter().enumerate() {
                snr.push(pt.snr);
                timestep.push(pt.timestep);
                trajectory.push(i as i64);
                rank.push(r as i64);
            }
        }
        let raw = DataFrame::new(
            snr.len(),
            vec![
                Column::new("snr".into(), snr),
                Column::new("timestep".into(), timestep),
                Column::new("trajectory".into(), trajectory),
                Column::new("rank".into(), rank),
            ],
        )?;
        let note = format!(
            "{} trajectories × {} SNRs, D = {} on {:?} in {:.1} s",
            self.points.first().map(|p| p.ranks.len()).unwrap_or(0),
            self.points.len(),
            self.dim,
            self.device,
            self.seconds
        );
        Ok(ExperimentOutput {
            notes: vec![note],
            ..ExperimentOutput::new(raw, self.frame)
        })
    }
}

impl JacobianRank {
    /// The model folder this run reads.
    pub fn model_dir(&self) -> PathBuf {
        self.model
            .clone()
            .unwrap_or_else(diffusion::digits_model_dir)
    }
}

/// What [`run`] returns.
#[derive(Debug, Clone)]
pub struct JacobianRankOutput {
    /// One row per SNR: `snr, rank, rank_ratio, rank_sem, rank_ratio_sem, timestep, model_snr`,
    /// then `rank_closed_form, rank_closed_form_sem` for a MoLRG model, then `samples`
    /// (`rank_ratio = rank / D`).
    pub frame: DataFrame,
    /// The per-SNR ranks of every trajectory.
    pub points: Vec<RankPoint>,
    /// Whether the closed-form columns are there (a model trained on MoLRG images).
    pub closed_form: bool,
    /// The input dimension D = C·H·W.
    pub dim: f64,
    /// Wall time of the trajectories and Jacobians.
    pub seconds: f64,
    /// Where they ran (`device` resolved).
    pub device: tch::Device,
}

/// Mean and standard error of ranks (sem NaN for a single trajectory).
fn rank_estimate(ranks: &[usize]) -> Result<Estimate> {
    let r: Vec<f64> = ranks.iter().map(|&r| r as f64).collect();
    if r.len() < 2 {
        return Ok(Estimate {
            mean: r.first().copied().unwrap_or(f64::NAN),
            sem: f64::NAN,
            n: r.len(),
        });
    }
    mean_sem(&r)
}

/// Runs the trajectories and returns the table (see the module docs).
pub fn run(p: &JacobianRank, opts: &RunOptions) -> Result<JacobianRankOutput> {
    p.check()?;
    let dir = p.model_dir();
    let dev = p.device.resolve()?;
    let model = UNet2DModel::from_dir(&dir, dev)?;
    let (schedule, _) = SchedulerConfig::for_model(&dir)?;
    let (c, s) = model.image_shape()?;
    let ddim = Ddim::new(schedule, p.steps)?;
    let mixture = match diffusion::train::training_config(&dir)? {
        Some(cfg) if cfg.data == "molrg" => Some(diffusion::data::molrg_mixture(cfg.seed)?),
        _ => None,
    };
    let settings = RankSettings {
        snr: p.snr.clone(),
        samples: p.samples,
        eta: p.eta,
        seed: opts.seed,
        ..Default::default()
    };
    let start = Instant::now();
    let points =
        rank_along_trajectories(&model, &ddim, [c, s, s], dev, &settings, mixture.as_ref())?;
    let seconds = start.elapsed().as_secs_f64();
    let dim = (c * s * s) as f64;
    let mut cols: Vec<(&str, Vec<f64>)> = [
        "snr",
        "rank",
        "rank_ratio",
        "rank_sem",
        "rank_ratio_sem",
        "timestep",
        "model_snr",
    ]
    .into_iter()
    .map(|n| (n, Vec::with_capacity(points.len())))
    .collect();
    let mut closed: Vec<(&str, Vec<f64>)> = vec![
        ("rank_closed_form", vec![]),
        ("rank_closed_form_sem", vec![]),
    ];
    for pt in &points {
        let e = rank_estimate(&pt.ranks)?;
        let row = [
            pt.snr,
            e.mean,
            e.mean / dim,
            e.sem,
            e.sem / dim,
            pt.timestep as f64,
            pt.model_snr,
        ];
        for (col, v) in cols.iter_mut().zip(row) {
            col.1.push(v);
        }
        if let Some(r) = &pt.closed_form_ranks {
            let e = rank_estimate(r)?;
            closed[0].1.push(e.mean);
            closed[1].1.push(e.sem);
        }
    }
    if mixture.is_some() {
        cols.extend(closed);
    }
    let mut columns: Vec<Column> = cols
        .into_iter()
        .map(|(n, v)| Column::new(n.into(), v))
        .collect();
    columns.push(Column::new(
        "samples".into(),
        vec![p.samples as i64; points.len()],
    ));
    Ok(JacobianRankOutput {
        frame: DataFrame::new(points.len(), columns)?,
        points,
        closed_form: mixture.is_some(),
        dim,
        seconds,
        device: dev,
    })
}

/// rank / D against the SNR (log x), one series per `(label, run)` and, for a MoLRG model, one
/// more for its exact posterior mean (`"<label>: exact posterior mean"`); error bars ± 2 s.e.
pub fn figure(runs: &[(&str, &JacobianRankOutput)], eta: f64) -> Result<Figure> {
    let (mut x, mut y, mut e, mut src): (Vec<f64>, Vec<f64>, Vec<f64>, Vec<String>) =
        (vec![], vec![], vec![], vec![]);
    for (label, out) in runs {
        let col = |n: &str| crate::sweep::f64_column(&out.frame, n);
        let snr = col("snr")?;
        x.extend(&snr);
        y.extend(col("rank_ratio")?);
        e.extend(col("rank_ratio_sem")?);
        src.extend(vec![label.to_string(); snr.len()]);
        if out.closed_form {
            x.extend(&snr);
            y.extend(col("rank_closed_form")?.iter().map(|v| v / out.dim));
            e.extend(col("rank_closed_form_sem")?.iter().map(|v| v / out.dim));
            src.extend(vec![format!("{label}: exact posterior mean"); snr.len()]);
        }
    }
    let long = DataFrame::new(
        x.len(),
        vec![
            Column::new("snr".into(), x),
            Column::new("rank_ratio".into(), y),
            Column::new("sem".into(), e),
            Column::new("source".into(), src),
        ],
    )?;
    let spec = FigureSpec::new(
        &format!("numerical rank of ∂x̂₀/∂x_t along DDIM trajectories (η = {eta})"),
        "SNR = √(ᾱ/(1 − ᾱ)) = 1/σ",
        "rank / D",
    )
    .log_x();
    measured_lines(&long, "snr", "rank_ratio", "sem", Some("source"), &spec)
}
