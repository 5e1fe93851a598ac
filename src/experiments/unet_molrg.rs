//! `unet-molrg` (feature `torch`): paper 004's U-Net experiments on MoLRG images — the GL score
//! against the training points per subspace dimension (Fig. 5a) and the Jacobian's numerical rank
//! against the training budget (Fig. 7a), from the same trained networks.
//!
//! The data are the trainer's `molrg` images ([`crate::diffusion::data::molrg_mixture`]): 8 × 8
//! pixels, K = 3 equally likely orthogonal subspaces of dimension d = 4, no off-subspace noise, the
//! subspaces drawn from each model's seed. For each training-set size n and replicate the crate's
//! small U-Net ([`crate::diffusion::train`], ε-prediction, 1000 DDPM timesteps, EMA weights) is
//! trained on n images, and at every training budget of [`UnetMolrg::budgets`] (Adam steps, in
//! increasing order; training resumes from the previous budget) the network is measured:
//!
//! - `gl`: the GL score ([`crate::molrg::gl_score`]) of `generated` images drawn by deterministic
//!   DDIM (`sampling_steps` steps): their mean distance to the nearest training image over that of
//!   fresh draws of the mixture (≈ 0 copying the training set, ≈ 1 as new as fresh data);
//! - `off_support`: the mean fraction of a generated image's energy off the nearest true subspace
//!   ([`LowRankMixture::off_support`](crate::molrg::LowRankMixture::off_support));
//! - the numerical rank `rank_η` of `∂x̂₀/∂x_t` along `rank_samples` DDIM trajectories at each SNR
//!   `1/σ` of [`UnetMolrg::snr`] ([`super::jacobian_rank::run`]), beside the rank of the exact
//!   posterior mean of the model's training distribution at the same points.
//!
//! `per_dim = n/(K d)` is the mean number of training images per component over the subspace
//! dimension, the paper's `N_k/d` axis (the components' counts are multinomial, not fixed).
//!
//! Nothing is lost: with [`RunOptions::checkpoint`] set, each model trains in
//! `checkpoint/n<n>-r<replicate>` (checkpointed as it trains) and each budget's measurement is kept
//! there (`measurement-<budget>.json`) before training goes on, so a stopped run resumes where it
//! stopped. Models are trained one after another (tch's generator is global; each model seeds it).
//! Formulas and the paper's settings: `docs/paper-004-low-rank-mixtures.md`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};
use tch::Device;

use super::contract::field;
use super::jacobian_rank::JacobianRank;
use super::pixel_memorization::images_to_columns;
use super::{Experiment, ExperimentOutput, Field, Outcome, RunOptions};
use crate::diffusion::data::{molrg_mixture, training_set, DataKind, SIDE, MOLRG_COMPONENTS, MOLRG_DIM};
use crate::diffusion::sampling::{ddim_sample, initial_noise};
use crate::diffusion::train::{
    small_unet_config, train_ddpm, trained_steps, RunSettings, TrainDdpmConfig,
};
use crate::diffusion::{Ddim, SchedulerConfig};
use crate::error::{Error, Result};
use crate::molrg::gl_score;
use crate::plot::{measured_lines, Figure, FigureSpec};
use crate::rng::{rng_from_seed, task_seed};
use crate::sweep::{f64_column, records_frame, rows_where, summarize, Progress, Record, Reporter};
use crate::torch::DeviceChoice;
use crate::unet::UNet2DModel;

/// Parameters of the run (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct UnetMolrg {
    /// Training-set sizes n (images; K = 3 components of dimension 4).
    pub n: Vec<usize>,
    /// Training budgets (Adam steps), increasing: each model is measured at every one.
    pub budgets: Vec<usize>,
    /// Images per Adam step.
    pub batch: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Generated images per measurement (GL score, off-support energy).
    pub generated: usize,
    /// DDIM steps of the sampler (generation and the rank's trajectories).
    pub sampling_steps: usize,
    /// SNRs `1/σ` at which the Jacobian's rank is taken.
    pub snr: Vec<f64>,
    /// Trajectories of the rank measurement.
    pub rank_samples: usize,
    /// The η of the numerical rank.
    pub eta: f64,
    /// Where to train and sample.
    pub device: DeviceChoice,
}

impl Default for UnetMolrg {
    fn default() -> Self {
        Self {
            n: vec![6, 12, 24, 48, 96, 384],
            budgets: vec![250, 1000, 3000],
            batch: 64,
            lr: 1e-3,
            generated: 256,
            sampling_steps: 50,
            snr: vec![0.04, 1.0, 50.0],
            rank_samples: 4,
            eta: 0.99,
            device: DeviceChoice::Auto,
        }
    }
}

impl Experiment for UnetMolrg {
    const NAME: &'static str = "unet-molrg";
    const TITLE: &'static str =
        "Paper 004: U-Nets trained on MoLRG images, GL score against N_k/d and the Jacobian's rank against the training budget";
    const TRIALS: Option<usize> = Some(1);
    const SHARDS: bool = false;
    type Output = UnetMolrgOutput;

    fn fields() -> Vec<Field<Self>> {
        vec![
            field!(list "n", n, "Training-set sizes (K = 3 subspaces of dimension 4), each once.")
                .at_least(2.0),
            field!(list "budgets", budgets,
                "Training budgets in Adam steps, increasing; every model is measured at each.")
                .at_least(1.0),
            field!(one "batch", batch, "Images per Adam step.").at_least(1.0),
            field!(one "lr", lr, "Peak Adam learning rate.").above(0.0),
            field!(one "generated", generated, "Generated images per measurement.").at_least(2.0),
            field!(one "sampling_steps", sampling_steps,
                "DDIM steps of the sampler (1 .. 1000).").at_least(1.0).at_most(1000.0),
            field!(list "snr", snr, "SNRs 1/σ at which the Jacobian's rank is taken.").above(0.0),
            field!(one "rank_samples", rank_samples, "Trajectories of the rank measurement.")
                .at_least(1.0),
            field!(one "eta", eta, "The η of the numerical rank.").above(0.0).at_most(1.0),
            field!(one "device", device, "Where to train and sample."),
        ]
    }
    fn check(&self) -> Result<()> {
        super::check_fields(self)?;
        super::check_each_once("n", &self.n, "each training-set size once")?;
        if self.budgets.windows(2).any(|w| w[1] <= w[0]) {
            return Err(Error::invalid(
                "budgets",
                format!("{:?}", self.budgets),
                "strictly increasing step counts (training resumes from one budget to the next)",
            ));
        }
        Ok(())
    }
    fn run(&self, opts: &RunOptions) -> Result<UnetMolrgOutput> {
        run(self, opts)
    }
    fn figure(&self, out: &UnetMolrgOutput) -> Result<Option<Figure>> {
        gl_figure(&out.summary).map(Some)
    }
}

/// The frames of a run.
#[derive(Debug, Clone)]
pub struct UnetMolrgOutput {
    /// One row per (model, budget): `n, per_dim, replicate, seed, budget, gl, off_support,
    /// final_loss, train_seconds`.
    pub raw: DataFrame,
    /// One row per (n, budget): the axes, `trials` and `_mean, _sem, _median` of the measured
    /// columns.
    pub summary: DataFrame,
    /// One row per (model, budget, SNR): `n, per_dim, replicate, seed, budget`, the model's
    /// measured columns again, then `snr, timestep, rank, rank_ratio, rank_closed_form,
    /// rank_closed_form_ratio` (ranks averaged over the trajectories; ratios over D = 64).
    pub ranks: DataFrame,
    /// One row per (n, budget, SNR): the same summarized over replicates.
    pub rank_summary: DataFrame,
    /// Where the models ran.
    pub device: Device,
}

impl Outcome for UnetMolrgOutput {
    /// The command line's tables: the rank frame (one row per model, budget and SNR, with the
    /// model's GL score and off-support energy repeated on its SNR rows) and its summary.
    fn into_tables(self) -> Result<ExperimentOutput> {
        let note = format!(
            "{} measurement(s) on {:?}; one row per SNR of the rank (gl and off_support repeat across a model's SNR rows)",
            self.raw.height(),
            self.device
        );
        Ok(ExperimentOutput {
            notes: vec![note],
            ..ExperimentOutput::new(self.ranks, self.rank_summary)
        })
    }
}

/// One measurement of one model at one budget (also what `measurement-<budget>.json` keeps).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Measurement {
    settings: String,
    n: usize,
    replicate: usize,
    seed: u64,
    budget: usize,
    gl: f64,
    off_support: f64,
    final_loss: f64,
    train_seconds: f64,
    /// `(snr, timestep, mean rank, mean closed-form rank)` per SNR.
    ranks: Vec<(f64, i64, f64, f64)>,
}

impl UnetMolrg {
    /// The trainer's settings for a model of `n` images with seed `seed`: the trainer's defaults
    /// (its 200 warm-up steps whatever the budgets, so that a later budget can be added to a kept
    /// run) with this run's batch and learning rate, and no clipping of x̂₀ (the `molrg` images are
    /// unbounded).
    pub fn train_config(&self, n: usize, seed: u64) -> TrainDdpmConfig {
        let d = TrainDdpmConfig::default();
        TrainDdpmConfig {
            data: "molrg".into(),
            n_train: n,
            batch: self.batch,
            lr: self.lr,
            seed,
            unet: small_unet_config(),
            scheduler: SchedulerConfig {
                clip_sample: false,
                ..d.scheduler.clone()
            },
            ..d
        }
    }

    /// What a kept measurement must match to be reused (the trainer checks its own settings; the
    /// other budgets do not matter, so a run can add budgets to a kept one).
    fn settings_key(&self, seed: u64) -> String {
        format!(
            "generated {} sampling_steps {} snr {:?} rank_samples {} eta {} seed {seed}",
            self.generated, self.sampling_steps, self.snr, self.rank_samples, self.eta
        )
    }
}

/// The seed of the model of `n` images, replicate `replicate`: `task_seed(opts.seed, i)` with i
/// its index in grid order (n outermost).
fn model_seed(opts: &RunOptions, k: usize, replicate: usize) -> u64 {
    task_seed(opts.seed, (k * opts.trials + replicate) as u64)
}

/// The folder of one model under the run's checkpoint folder.
pub fn model_folder(root: &Path, n: usize, replicate: usize) -> PathBuf {
    root.join(format!("n{n}-r{replicate}"))
}

/// Trains and measures every (n, replicate, budget); `opts.progress` gets a line per measurement.
pub fn run(p: &UnetMolrg, opts: &RunOptions) -> Result<UnetMolrgOutput> {
    p.check()?;
    super::check_trials::<UnetMolrg>(opts)?;
    super::refuse_shards::<UnetMolrg>(opts)?;
    let device = p.device.resolve()?;
    super::in_models_folder::<UnetMolrg, _>(opts, |root| {
        run_in(p, opts, device, root, opts.progress)
    })
}

fn run_in(
    p: &UnetMolrg,
    opts: &RunOptions,
    device: Device,
    root: &Path,
    progress: Progress,
) -> Result<UnetMolrgOutput> {
    let total = p.n.len() * opts.trials * p.budgets.len();
    let mut reporter = Reporter::new(progress, "unet-molrg", std::time::Duration::ZERO);
    let mut done = 0;
    let mut kept = Vec::with_capacity(total);
    for (k, &n) in p.n.iter().enumerate() {
        for replicate in 0..opts.trials {
            let seed = model_seed(opts, k, replicate);
            let dir = model_folder(root, n, replicate);
            for &budget in &p.budgets {
                let m = super::kept_or_measured(
                    &dir.join(format!("measurement-{budget}.json")),
                    |m: &Measurement| {
                        m.settings == p.settings_key(seed) && m.n == n && m.seed == seed
                    },
                    || measure(p, device, n, replicate, seed, budget, &dir),
                )?;
                kept.push(m);
                done += 1;
                reporter.update(done, total);
            }
        }
    }
    frames(&kept, device)
}

fn measure(
    p: &UnetMolrg,
    device: Device,
    n: usize,
    replicate: usize,
    seed: u64,
    budget: usize,
    dir: &Path,
) -> Result<Measurement> {
    let reached = trained_steps(dir)?;
    if reached > budget {
        return Err(Error::Checkpoint {
            path: dir.to_path_buf(),
            reason: format!(
                "the model trained to step {reached}, past the budget {budget} whose measurement is not kept there; remove the folder to measure that budget"
            ),
        });
    }
    let cfg = p.train_config(n, seed);
    let settings = RunSettings {
        steps: budget,
        device,
        report_every: (budget / 10).max(1),
        checkpoint_every: (budget / 4).max(1),
    };
    let t0 = Instant::now();
    let summary = train_ddpm(&cfg, &settings, dir, |_| {})?;
    let train_seconds = if summary.resumed_from < summary.steps {
        t0.elapsed().as_secs_f64()
    } else {
        0.0
    };
    let final_loss = summary.loss_log.last().map(|l| l.1).unwrap_or(f64::NAN);

    let truth = molrg_mixture(seed)?;
    let train = images_to_columns(&training_set(DataKind::Molrg, n, seed)?)?;
    let model = UNet2DModel::from_dir(dir, device)?;
    let (schedule, _) = SchedulerConfig::for_model(dir)?;
    let ddim = Ddim::new(schedule, p.sampling_steps)?;
    let shape = [p.generated as i64, 1, SIDE, SIDE];
    let x_t = initial_noise(&shape, device, task_seed(seed, 5));
    let generated = images_to_columns(
        &ddim_sample(&model, &ddim, &x_t, 0.0, task_seed(seed, 5), |_, _, _| {})?
            .to_device(Device::Cpu),
    )?;
    let fresh = truth
        .sample(p.generated, &mut rng_from_seed(task_seed(seed, 6)))
        .points;
    let gl = gl_score(&generated, &fresh, &train)?.score;
    let off_support = (0..generated.ncols())
        .map(|j| truth.off_support(generated.col_as_slice(j)))
        .sum::<f64>()
        / generated.ncols() as f64;

    let rank = super::jacobian_rank::run(
        &JacobianRank {
            model: Some(dir.to_path_buf()),
            snr: p.snr.clone(),
            samples: p.rank_samples,
            steps: p.sampling_steps,
            eta: p.eta,
            device: p.device,
        },
        &RunOptions::new(1, task_seed(seed, 7)).progress(Progress::Off),
    )?;
    let mean = |v: &[usize]| v.iter().sum::<usize>() as f64 / v.len().max(1) as f64;
    let ranks = rank
        .points
        .iter()
        .map(|pt| {
            (
                pt.snr,
                pt.timestep,
                mean(&pt.ranks),
                pt.closed_form_ranks.as_deref().map(mean).unwrap_or(f64::NAN),
            )
        })
        .collect();
    Ok(Measurement {
        settings: p.settings_key(seed),
        n,
        replicate,
        seed,
        budget,
        gl,
        off_support,
        final_loss,
        train_seconds,
        ranks,
    })
}

const MEASURED: [&str; 4] = ["gl", "off_support", "final_loss", "train_seconds"];
const RANKS: [&str; 4] = [
    "rank",
    "rank_ratio",
    "rank_closed_form",
    "rank_closed_form_ratio",
];

fn frames(kept: &[Measurement], device: Device) -> Result<UnetMolrgOutput> {
    let per_dim = |n: usize| n as f64 / (MOLRG_COMPONENTS * MOLRG_DIM) as f64;
    let dim = (SIDE * SIDE) as f64;
    let model = |m: &Measurement| {
        Record::new()
            .with("n", m.n as i64)
            .with("per_dim", per_dim(m.n))
            .with("replicate", m.replicate as i64)
            .with("seed", m.seed as i64)
            .with("budget", m.budget as i64)
    };
    let rows: Vec<Record> = kept
        .iter()
        .map(|m| {
            model(m)
                .with("gl", m.gl)
                .with("off_support", m.off_support)
                .with("final_loss", m.final_loss)
                .with("train_seconds", m.train_seconds)
        })
        .collect();
    let rank_rows: Vec<Record> = kept
        .iter()
        .flat_map(|m| {
            m.ranks.iter().map(move |&(snr, t, r, c)| {
                model(m)
                    .with("gl", m.gl)
                    .with("off_support", m.off_support)
                    .with("final_loss", m.final_loss)
                    .with("train_seconds", m.train_seconds)
                    .with("snr", snr)
                    .with("timestep", t)
                    .with("rank", r)
                    .with("rank_ratio", r / dim)
                    .with("rank_closed_form", c)
                    .with("rank_closed_form_ratio", c / dim)
            })
        })
        .collect();
    let raw = records_frame(&rows)?;
    let ranks = records_frame(&rank_rows)?;
    let summary = summarize(&raw, &["n", "per_dim", "budget"], &MEASURED)?;
    let all: Vec<&str> = MEASURED.iter().chain(RANKS.iter()).copied().collect();
    let rank_summary = summarize(&ranks, &["n", "per_dim", "budget", "snr"], &all)?;
    Ok(UnetMolrgOutput {
        raw,
        summary,
        ranks,
        rank_summary,
        device,
    })
}

/// GL score against `N_k/d` (log x), one line per training budget, mean ± 2 s.e. over replicates.
pub fn gl_figure(summary: &DataFrame) -> Result<Figure> {
    measured_lines(
        summary,
        "per_dim",
        "gl_mean",
        "gl_sem",
        Some("budget"),
        &FigureSpec::new(
            "U-Nets on MoLRG images: GL score against training images per component over d",
            "N_k/d = n/(K d)",
            "GL score (≈ 0 memorizing, ≈ 1 generalizing)",
        )
        .log_x(),
    )
}

/// The rank ratio `rank_η/D` against the SNR (log x) for the models of `n` images, one line per
/// training budget, and the exact posterior mean's beside them.
pub fn rank_figure(rank_summary: &DataFrame, n: usize) -> Result<Figure> {
    let rows = rows_where(rank_summary, "n", n as i64)?;
    if rows.height() == 0 {
        return Err(Error::invalid(
            "n",
            n,
            "a training-set size of the run (the rank frame has no row for it)",
        ));
    }
    let budgets = f64_column(&rows, "budget")?;
    let snr = f64_column(&rows, "snr")?;
    let (r, rs) = (
        f64_column(&rows, "rank_ratio_mean")?,
        f64_column(&rows, "rank_ratio_sem")?,
    );
    let (c, cs) = (
        f64_column(&rows, "rank_closed_form_ratio_mean")?,
        f64_column(&rows, "rank_closed_form_ratio_sem")?,
    );
    let last = budgets.iter().cloned().fold(f64::NAN, f64::max);
    let mut records = Vec::new();
    for i in 0..rows.height() {
        records.push(
            Record::new()
                .with("snr", snr[i])
                .with("line", format!("U-Net after {} steps", budgets[i]))
                .with("ratio", r[i])
                .with("sem", rs[i]),
        );
        if budgets[i] == last {
            records.push(
                Record::new()
                    .with("snr", snr[i])
                    .with("line", "exact posterior mean (MoLRG)")
                    .with("ratio", c[i])
                    .with("sem", cs[i]),
            );
        }
    }
    measured_lines(
        &records_frame(&records)?,
        "snr",
        "ratio",
        "sem",
        Some("line"),
        &FigureSpec::new(
            &format!("Jacobian rank of U-Nets trained on n = {n} MoLRG images, by training budget"),
            "SNR 1/σ",
            "rank_0.99 / D",
        )
        .log_x(),
    )
}
