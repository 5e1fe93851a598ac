//! Paper 000's non-linear experiment (feature `torch`): memorization to generalization of a
//! trained U-Net DDPM, measured with the element-wise metric.
//!
//! Halder et al. check their linear theory against DDPMs trained on n images of independent
//! `N(0.5, 0.1²)` pixels (8 × 8; DDPM with 200 timesteps, linear β from 1e-4 to 0.02,
//! ε-prediction): the generated images are compared with the training set and with the original
//! distribution by the element-wise metric [`elementwise_l2`](crate::linear::distances::elementwise_l2)
//! `D_el(p, q) = (1/d) Σ_k ∫(p_k − q_k)²` (`docs/paper-000-linear-denoiser.md`), and the statistic of the linear
//! model, `Δ = D(gen, train) − D(gen, orig)`, goes from negative (the generated images sit on the
//! training images: memorization) to positive as n grows.
//!
//! For each training-set size n and replicate the run trains the crate's small U-Net
//! ([`crate::diffusion::train`], seeded, EMA weights) on n images, draws `generated` images with
//! DDPM ancestral sampling over all timesteps, and records `D(gen, train)`, `D(gen, orig)` (orig: one
//! set of `originals` fresh images shared by all models, its KDE built once), their difference `Δ`,
//! and the same Δ for two reference generators that need no network, which bracket it:
//!
//! - `delta_fresh`: as many fresh draws of the truth as generated images (a perfect generalizer);
//! - `delta_copies`: as many images drawn with replacement from the training set (a perfect
//!   memorizer).
//!
//! Beside them the GL score ([`crate::molrg::gl_score`]: mean nearest-training-image distance of the
//! generated images over that of fresh ones; ≈ 0 memorizing, ≈ 1 generalizing) and the generated
//! pixels' mean and standard deviation (0.5 and 0.1 for a faithful model).
//!
//! Models per size are [`RunOptions::trials`], their seeds derive from [`RunOptions::seed`].
//! Nothing is lost: with [`RunOptions::checkpoint`] set, each model is trained in
//! `checkpoint/n<n>-r<replicate>`
//! (checkpointed as it trains, resumed when run again) and its finished measurement is kept there
//! (`measurement.json`), so a run stopped half-way resumes where it stopped. Models are trained one
//! after another (tch's generator is global; each model seeds it).

use std::path::Path;
use std::time::Instant;

use faer::Mat;
use polars::prelude::DataFrame;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::diffusion::data::{pixel_images, PIXEL_MEAN, PIXEL_STD, SIDE};
use crate::diffusion::image::{self, Picture};
use crate::diffusion::train::{small_unet_config, train_ddpm, RunSettings, TrainDdpmConfig};
use crate::diffusion::{ddpm_sample, Ddpm, SchedulerConfig};
use crate::error::{check_count_at_least, Error, Result};
use crate::linear::distances::{elementwise_l2_kde, ElementwiseKde};
use crate::molrg::gl_score;
use crate::plot::{measured_lines, Figure, FigureSpec};
use crate::rng::{rng_from_seed, task_seed};
use crate::sweep::{f64_column, records_frame, summarize, Progress, Record, Reporter};
use crate::unet::UNet2DModel;
use crate::torch::DeviceChoice;
use super::contract::field;
use super::{Experiment, ExperimentOutput, Field, Outcome, RunOptions};

/// Parameters of the run (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct PixelMemorization {
    /// Training-set sizes.
    pub n: Vec<usize>,
    /// Adam steps per model.
    pub steps: usize,
    /// Images per step.
    pub batch: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Generated images per model.
    pub generated: usize,
    /// Fresh images of the original distribution (one set for all models).
    pub originals: usize,
    /// Diffusion timesteps T (the reference: 200), all of them used for sampling.
    pub timesteps: usize,
    /// Where to train and sample.
    pub device: DeviceChoice,
}

impl Default for PixelMemorization {
    fn default() -> Self {
        Self {
            n: vec![8, 32, 128, 512],
            steps: 3000,
            batch: 64,
            lr: 1e-3,
            generated: 512,
            originals: 2000,
            timesteps: 200,
            device: DeviceChoice::Auto,
        }
    }
}

impl Experiment for PixelMemorization {
    const NAME: &'static str = "pixel-memorization";
    const TITLE: &'static str =
        "Paper 000: U-Nets trained on n images of N(0.5, 0.1²) pixels, memorization to generalization";
    const TRIALS: Option<usize> = Some(1);
    const SHARDS: bool = false;
    type Output = PixelMemorizationOutput;

    fn fields() -> Vec<Field<Self>> {
        vec![
            field!(list "n", n, "Training-set sizes, each once.").at_least(2.0),
            field!(one "steps", steps, "Adam steps per model.").at_least(1.0),
            field!(one "batch", batch, "Images per step.").at_least(1.0),
            field!(one "lr", lr, "Peak Adam learning rate.").above(0.0),
            field!(one "generated", generated, "Generated images per model.").at_least(2.0),
            field!(one "n_orig", originals, "Fresh images of the original distribution.")
                .at_least(2.0),
            field!(one "timesteps", timesteps,
                "Diffusion timesteps T, all used for sampling (the reference: 200).")
                .at_least(2.0),
            field!(one "device", device, "Where to train and sample."),
        ]
    }
    fn check(&self) -> Result<()> {
        super::check_fields(self)?;
        // one model folder and one seed per (n, replicate)
        super::check_each_once("n", &self.n, "each training-set size once")
    }
    fn run(&self, opts: &RunOptions) -> Result<PixelMemorizationOutput> {
        run(self, opts)
    }
    fn figure(&self, out: &PixelMemorizationOutput) -> Result<Option<Figure>> {
        figure(&out.summary).map(Some)
    }
}

impl Outcome for PixelMemorizationOutput {
    fn into_tables(self) -> Result<ExperimentOutput> {
        let note = format!("{} model(s) on {:?}", self.raw.height(), self.device);
        Ok(ExperimentOutput {
            notes: vec![note],
            ..ExperimentOutput::new(self.raw, self.summary)
        })
    }
}

/// A run: the parameters with what the [`RunOptions`] fix (seed, models per size) and
/// the device resolved.
struct Plan<'a> {
    p: &'a PixelMemorization,
    seed: u64,
    replicates: usize,
    device: Device,
}

impl<'a> Plan<'a> {
    fn new(p: &'a PixelMemorization, opts: &RunOptions) -> Result<Self> {
        p.check()?;
        super::check_trials::<PixelMemorization>(opts)?;
        Ok(Plan {
            p,
            seed: opts.seed,
            replicates: opts.trials,
            device: p.device.resolve()?,
        })
    }

    /// What a kept measurement must match to be reused (training settings are checked by the
    /// trainer itself when it resumes).
    fn settings_key(&self) -> String {
        format!(
            "steps {} generated {} originals {} seed {}",
            self.p.steps, self.p.generated, self.p.originals, self.seed
        )
    }
}

impl std::ops::Deref for Plan<'_> {
    type Target = PixelMemorization;
    fn deref(&self) -> &PixelMemorization {
        self.p
    }
}

/// The frames of a run.
#[derive(Debug, Clone)]
pub struct PixelMemorizationOutput {
    /// One row per model: `n, replicate, seed, d_gen_train, d_gen_orig, delta, gen_closer,
    /// delta_fresh, delta_copies, gl, pixel_mean, pixel_std, final_loss, train_seconds`.
    pub raw: DataFrame,
    /// One row per n: `trials` and `_mean, _sem, _median` of every measured column
    /// (`gen_closer_mean` is P(Δ > 0)).
    pub summary: DataFrame,
    /// Where the models ran.
    pub device: Device,
}

/// One model's measurement (also what `measurement.json` keeps).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PixelRow {
    /// Training images.
    pub n: usize,
    /// Replicate index.
    pub replicate: usize,
    /// The model's seed.
    pub seed: u64,
    /// `D_el(gen, train)`.
    pub d_gen_train: f64,
    /// `D_el(gen, orig)`.
    pub d_gen_orig: f64,
    /// `D_el(gen, train) − D_el(gen, orig)`.
    pub delta: f64,
    /// Δ of fresh draws of the truth (perfect generalizer).
    pub delta_fresh: f64,
    /// Δ of draws with replacement from the training set (perfect memorizer).
    pub delta_copies: f64,
    /// GL score of the generated images.
    pub gl: f64,
    /// Mean generated pixel.
    pub pixel_mean: f64,
    /// Standard deviation of the generated pixels.
    pub pixel_std: f64,
    /// Mean training loss of the last reporting interval.
    pub final_loss: f64,
    /// Seconds the training took, in the run that trained the model (0 when the model was
    /// already trained and only its measurement was taken again).
    pub train_seconds: f64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Kept {
    settings: String,
    row: PixelRow,
}

const KEPT_FILE: &str = "measurement.json";

impl PixelMemorization {
    /// The trainer's settings for a model of `n` images with seed `seed`.
    pub fn train_config(&self, n: usize, seed: u64) -> TrainDdpmConfig {
        let mut unet = small_unet_config();
        unet.num_train_timesteps = Some(self.timesteps);
        let d = TrainDdpmConfig::default();
        TrainDdpmConfig {
            data: "pixels".into(),
            n_train: n,
            batch: self.batch,
            lr: self.lr,
            warmup: d.warmup.min(self.steps / 4),
            seed,
            unet,
            scheduler: SchedulerConfig {
                num_train_timesteps: self.timesteps,
                ..d.scheduler.clone()
            },
            ..d
        }
    }
}

fn model_folder(n: usize, replicate: usize) -> String {
    format!("n{n}-r{replicate}")
}

/// The seed of the model of `n` images, replicate `replicate` of the run `(p, opts)`:
/// `task_seed(opts.seed, i)` with i its index in grid order (n outermost).
pub fn model_seed(p: &PixelMemorization, opts: &RunOptions, n: usize, replicate: usize) -> Result<u64> {
    plan_seed(&Plan::new(p, opts)?, n, replicate)
}

fn plan_seed(p: &Plan<'_>, n: usize, replicate: usize) -> Result<u64> {
    let k =
        p.n.iter()
            .position(|&m| m == n)
            .filter(|_| replicate < p.replicates);
    k.map(|k| task_seed(p.seed, (k * p.replicates + replicate) as u64))
        .ok_or_else(|| {
            Error::invalid(
                "model",
                format!("n = {n}, replicate {replicate}"),
                format!(
                    "one of the run's models: n in {:?}, replicate below {}",
                    p.n, p.replicates
                ),
            )
        })
}

/// The training images and the first `count` generated images of a model that [`run`] kept in
/// `opts.checkpoint` (`[n, 1, 8, 8]` and `[count, 1, 8, 8]`, on the CPU). Sampling seeds every
/// image separately, so these are exactly the first `count` of the images the run measured.
pub fn kept_images(
    p: &PixelMemorization,
    opts: &RunOptions,
    n: usize,
    replicate: usize,
    count: usize,
) -> Result<(Tensor, Tensor)> {
    let p = &Plan::new(p, opts)?;
    let seed = plan_seed(p, n, replicate)?;
    let dir = super::kept_models_folder(opts)?.join(model_folder(n, replicate));
    check_count_at_least("count", count, 1)?;
    let model = UNet2DModel::from_dir(&dir, p.device)?;
    let gen = sample(p, &model, &dir, count, seed)?;
    Ok((pixel_images(n, seed), gen.to_device(Device::Cpu)))
}

/// [`kept_images`] as one picture: the `n` training images, then the first `count` generated ones,
/// `cols` per row, contrast stretched to `PIXEL_MEAN ± 3 PIXEL_STD` (black to white), enlarged
/// `zoom_factor` times. (A notebook cell cannot do the tensor arithmetic itself: libtch's C
/// symbols are not exported from the crate's shared library, so the picture is made here.)
pub fn kept_picture(
    p: &PixelMemorization,
    opts: &RunOptions,
    n: usize,
    replicate: usize,
    count: usize,
    cols: usize,
    zoom_factor: usize,
) -> Result<Picture> {
    let (train, gen) = kept_images(p, opts, n, replicate, count)?;
    let both = (image::stack(&[&train, &gen]) - PIXEL_MEAN) / (3.0 * PIXEL_STD);
    Picture::grid(&both, cols.max(1) as i64, zoom_factor.max(1) as i64)
}

/// `count` images from the model in `dir` by DDPM ancestral sampling over all timesteps.
fn sample(
    p: &Plan<'_>,
    model: &UNet2DModel,
    dir: &Path,
    count: usize,
    seed: u64,
) -> Result<Tensor> {
    let (schedule, _) = SchedulerConfig::for_model(dir)?;
    let ddpm = Ddpm::new(schedule, p.timesteps)?;
    let shape = [count as i64, 1, SIDE, SIDE];
    let x_t = crate::diffusion::sampling::initial_noise(&shape, p.device, task_seed(seed, 1));
    ddpm_sample(model, &ddpm, &x_t, task_seed(seed, 1))
}

/// `[N, 1, 8, 8]` images as the 64 × N matrix of their pixels (one image per column).
pub fn images_to_columns(x: &Tensor) -> Result<Mat<f64>> {
    let n = x.size().first().copied().unwrap_or(0);
    Ok(crate::torch::matrix_from_tensor(&x.reshape([n, -1]))?
        .transpose()
        .to_owned())
}

/// Trains, samples and measures every (n, replicate); `opts.progress` gets a line per model.
pub fn run(p: &PixelMemorization, opts: &RunOptions) -> Result<PixelMemorizationOutput> {
    super::refuse_shards::<PixelMemorization>(opts)?;
    let p = &Plan::new(p, opts)?;
    super::in_models_folder::<PixelMemorization, _>(opts, |root| run_in(p, root, opts.progress))
}

fn run_in(
    p: &Plan<'_>,
    root: &Path,
    progress: Progress,
) -> Result<PixelMemorizationOutput> {
    let orig_images = pixel_images(p.originals, task_seed(p.seed, u64::MAX));
    let orig_kde = ElementwiseKde::new(images_to_columns(&orig_images)?.as_ref())?;
    let total = p.n.len() * p.replicates;
    let mut reporter = Reporter::new(progress, "pixel-memorization", std::time::Duration::ZERO);
    let mut rows = Vec::with_capacity(total);
    for (done, (n, replicate)) in
        p.n.iter()
            .flat_map(|&n| (0..p.replicates).map(move |r| (n, r)))
            .enumerate()
    {
        let seed = plan_seed(p, n, replicate)?;
        let dir = root.join(model_folder(n, replicate));
        let key = p.settings_key();
        let row = super::kept_or_measured(
            &dir.join(KEPT_FILE),
            |k: &Kept| k.settings == key && k.row.n == n && k.row.seed == seed,
            || {
                Ok(Kept {
                    settings: key.clone(),
                    row: measure(p, n, replicate, seed, &dir, &orig_kde)?,
                })
            },
        )?
        .row;
        rows.push(row);
        reporter.update(done + 1, total);
    }
    let records: Vec<Record> = rows.iter().map(row_record).collect();
    let raw = records_frame(&records)?;
    let summary = summarize(&raw, &["n"], &MEASURED)?;
    Ok(PixelMemorizationOutput {
        raw,
        summary,
        device: p.device,
    })
}

const MEASURED: [&str; 11] = [
    "d_gen_train",
    "d_gen_orig",
    "delta",
    "gen_closer",
    "delta_fresh",
    "delta_copies",
    "gl",
    "pixel_mean",
    "pixel_std",
    "final_loss",
    "train_seconds",
];

fn row_record(r: &PixelRow) -> Record {
    Record::new()
        .with("n", r.n as i64)
        .with("replicate", r.replicate as i64)
        .with("seed", r.seed as i64)
        .with("d_gen_train", r.d_gen_train)
        .with("d_gen_orig", r.d_gen_orig)
        .with("delta", r.delta)
        .with("gen_closer", if r.delta > 0.0 { 1.0 } else { 0.0 })
        .with("delta_fresh", r.delta_fresh)
        .with("delta_copies", r.delta_copies)
        .with("gl", r.gl)
        .with("pixel_mean", r.pixel_mean)
        .with("pixel_std", r.pixel_std)
        .with("final_loss", r.final_loss)
        .with("train_seconds", r.train_seconds)
}

/// `D(x, train) − D(x, orig)` for the image columns `x`.
fn delta_of(x: &Mat<f64>, train: &ElementwiseKde, orig: &ElementwiseKde) -> Result<(f64, f64)> {
    let kde = ElementwiseKde::new(x.as_ref())?;
    Ok((
        elementwise_l2_kde(&kde, train)?,
        elementwise_l2_kde(&kde, orig)?,
    ))
}

fn measure(
    p: &Plan<'_>,
    n: usize,
    replicate: usize,
    seed: u64,
    dir: &Path,
    orig_kde: &ElementwiseKde,
) -> Result<PixelRow> {
    let cfg = p.train_config(n, seed);
    let settings = RunSettings {
        steps: p.steps,
        device: p.device,
        report_every: (p.steps / 10).max(1),
        checkpoint_every: (p.steps / 4).max(1),
    };
    let t0 = Instant::now();
    let summary = train_ddpm(&cfg, &settings, dir, |_| {})?;
    let train_seconds = if summary.resumed_from < summary.steps {
        t0.elapsed().as_secs_f64()
    } else {
        0.0
    };
    let final_loss = summary.loss_log.last().map(|l| l.1).unwrap_or(f64::NAN);
    // the training set the trainer saw (`training_set(Pixels, n, seed)`)
    let train = images_to_columns(&pixel_images(n, seed))?;
    let train_kde = ElementwiseKde::new(train.as_ref())?;

    let model = UNet2DModel::from_dir(dir, p.device)?;
    let gen_images = sample(p, &model, dir, p.generated, seed)?;
    let gen = images_to_columns(&gen_images)?;
    let (d_gen_train, d_gen_orig) = delta_of(&gen, &train_kde, orig_kde)?;

    let fresh = images_to_columns(&pixel_images(p.generated, task_seed(seed, 2)))?;
    let (ft, fo) = delta_of(&fresh, &train_kde, orig_kde)?;
    let mut rng = rng_from_seed(task_seed(seed, 3));
    let picks: Vec<usize> = (0..p.generated).map(|_| rng.random_range(0..n)).collect();
    let copies = Mat::from_fn(train.nrows(), p.generated, |r, c| train[(r, picks[c])]);
    let (ct, co) = delta_of(&copies, &train_kde, orig_kde)?;
    let gl = gl_score(&gen, &fresh, &train)?.score;

    let mean = gen_images.mean(Kind::Double).double_value(&[]);
    let std = gen_images.to_kind(Kind::Double).std(true).double_value(&[]);
    Ok(PixelRow {
        n,
        replicate,
        seed,
        d_gen_train,
        d_gen_orig,
        delta: d_gen_train - d_gen_orig,
        delta_fresh: ft - fo,
        delta_copies: ct - co,
        gl,
        pixel_mean: mean,
        pixel_std: std,
        final_loss,
        train_seconds,
    })
}

/// Δ against n for the network and the two reference generators (mean ± 2 s.e. over replicates),
/// log x axis.
pub fn figure(summary: &DataFrame) -> Result<Figure> {
    let n = f64_column(summary, "n")?;
    let mut records = Vec::new();
    for (set, col) in [
        ("trained U-Net", "delta"),
        ("fresh draws (generalizer)", "delta_fresh"),
        ("training copies (memorizer)", "delta_copies"),
    ] {
        let m = f64_column(summary, &format!("{col}_mean"))?;
        let s = f64_column(summary, &format!("{col}_sem"))?;
        for i in 0..n.len() {
            records.push(
                Record::new()
                    .with("n", n[i])
                    .with("set", set)
                    .with("delta", m[i])
                    .with("sem", s[i]),
            );
        }
    }
    let long = records_frame(&records)?;
    measured_lines(
        &long,
        "n",
        "delta",
        "sem",
        Some("set"),
        &FigureSpec::new(
            "Δ = D_el(gen, train) − D_el(gen, orig) against the training-set size",
            "training images n",
            "Δ (element-wise metric)",
        )
        .log_x(),
    )
}
