//! Training a small pixel-space DDPM (Ho, Jain & Abbeel 2020, Algorithm 1): draw `x₀` from the
//! training set, `t` uniform in 0..T−1 and `ε ~ N(0, I)`, regress the network on ε (or x₀, or v)
//! at `x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε` with the mean squared error, each image's error weighted
//! by [`LossWeight`] (1, or the SNR `ᾱ_t/(1−ᾱ_t)`: paper 002's CEM weighting); Adam with bias correction and a
//! linear warm-up, gradient norm clipped to 1, and an exponential moving average (EMA) of the
//! weights, which is the model that is saved and sampled.
//!
//! Reproducible and resumable: step k draws its batch, timesteps and noise from our generator
//! seeded with `task_seed(seed, k)` (never from tch's global one, which other threads may share;
//! the initial weights come from it seeded with `seed` under [`crate::torch::with_seed`]'s lock),
//! and a checkpoint holds the raw weights, Adam's moments and the
//! EMA, so a run stopped at step k and resumed gives the same weights as one that never stopped
//! (on the CPU). The output folder is a diffusers model folder (`config.json`,
//! `diffusion_pytorch_model.safetensors` = the EMA weights, `scheduler_config.json`) plus
//! `training.json` and `training_state.safetensors`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use rand::RngExt;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use super::config::{PredictionType, SchedulerConfig};
use super::data::{normal_tensor, training_set, DataKind};
use crate::error::{check_count_at_least, check_finite_at_least, Error, Result};
use crate::rng::{rng_from_seed, task_seed};
use crate::unet::load::save_dir;
use crate::unet::{UNet2DModel, UNetConfig};

/// What to train (everything that determines the weights, except the number of steps).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainDdpmConfig {
    /// `digits`, `gaussian` or `molrg`.
    pub data: String,
    /// Size of a synthetic training set (ignored for digits).
    pub n_train: usize,
    /// Images per step.
    pub batch: usize,
    /// Peak Adam learning rate.
    pub lr: f64,
    /// Steps of linear learning-rate warm-up.
    pub warmup: usize,
    /// EMA decay (0 keeps the raw weights).
    pub ema_decay: f64,
    /// `epsilon`, `sample` or `v_prediction` (the scheduler's `prediction_type`).
    pub prediction_type: String,
    /// The weight of each image's squared error, `uniform` or `snr` ([`LossWeight`]); absent in
    /// the folders of runs that predate it, which trained with `uniform`.
    #[serde(default = "uniform_weight", skip_serializing_if = "is_uniform_weight")]
    pub loss_weight: String,
    /// What the network is given as its time, `index` or `ou-time` ([`TimestepInput`]); absent in
    /// the folders of runs that predate it, which trained with `index`.
    #[serde(default = "index_input", skip_serializing_if = "is_index_input")]
    pub time_input: String,
    /// Seed of the initial weights, batches, timesteps and noise.
    pub seed: u64,
    /// The network.
    pub unet: UNetConfig,
    /// The noise schedule (DDPM defaults: linear β from 1e-4 to 0.02 over 1000 steps).
    pub scheduler: SchedulerConfig,
}

fn uniform_weight() -> String {
    LossWeight::Uniform.to_string()
}

fn is_uniform_weight(w: &String) -> bool {
    *w == uniform_weight()
}

fn index_input() -> String {
    TimestepInput::Index.to_string()
}

fn is_index_input(w: &String) -> bool {
    *w == index_input()
}

/// What the network receives as its time input at training timestep `k` (0..T−1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestepInput {
    /// The index k itself (diffusers' convention; every sampler of the crate feeds it).
    Index,
    /// The OU time `t = −ln ᾱ_k` as a real number (paper 002's authors feed the real time, so
    /// that a sampler can ask the network about times between and below the training ones).
    /// Models trained so are sampled by code that feeds the same
    /// ([`crate::experiments::cem_digits`]).
    OuTime,
}

impl std::str::FromStr for TimestepInput {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "index" => Ok(TimestepInput::Index),
            "ou-time" => Ok(TimestepInput::OuTime),
            _ => Err(Error::invalid(
                "time_input",
                s,
                "expected index (the timestep k) or ou-time (t = −ln ᾱ_k)",
            )),
        }
    }
}

impl std::fmt::Display for TimestepInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TimestepInput::Index => "index",
            TimestepInput::OuTime => "ou-time",
        })
    }
}

/// The weight `w(t)` of an image's squared error `|output − target|²` in the training loss.
///
/// With x₀-prediction (`sample`), [`LossWeight::Snr`] is paper 002's CEM loss
/// `λ(t)|X₀ − f_θ|²`, `λ(t) = 1/(e^t − 1)`: in the OU time of that paper `ᾱ_t = e^{−t}`, so
/// `λ = ᾱ_t/(1 − ᾱ_t)`, the signal-to-noise ratio. Since `ε̂ − ε = −√(ᾱ/(1−ᾱ)) (x̂₀ − x₀)` at the
/// same `x_t`, that loss equals the uniform ε-loss `|ε − ε̂|²` of the noise the x₀-prediction
/// implies, image by image: the CEM and DDPM losses differ only in what the network outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossWeight {
    /// `w = 1` (DDPM's plain mean squared error).
    Uniform,
    /// `w = ᾱ_t/(1 − ᾱ_t)`.
    Snr,
}

impl LossWeight {
    /// `w` at cumulative `alpha_bar` in (0, 1).
    pub fn at(self, alpha_bar: f64) -> f64 {
        match self {
            LossWeight::Uniform => 1.0,
            LossWeight::Snr => alpha_bar / (1.0 - alpha_bar),
        }
    }
}

impl std::str::FromStr for LossWeight {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "uniform" => Ok(LossWeight::Uniform),
            "snr" => Ok(LossWeight::Snr),
            _ => Err(Error::invalid(
                "loss_weight",
                s,
                "expected uniform (w = 1) or snr (w = ᾱ/(1 − ᾱ), the CEM's λ(t) for x₀-prediction)",
            )),
        }
    }
}

impl std::fmt::Display for LossWeight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LossWeight::Uniform => "uniform",
            LossWeight::Snr => "snr",
        })
    }
}

/// The default network for 8×8 grey images: 32 and 64 channels, one resnet per down block,
/// attention at 4×4 and in the middle.
pub fn small_unet_config() -> UNetConfig {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
    UNetConfig {
        sample_size: Some(8),
        in_channels: 1,
        out_channels: 1,
        block_out_channels: vec![32, 64],
        layers_per_block: 1,
        down_block_types: s(&["DownBlock2D", "AttnDownBlock2D"]),
        up_block_types: s(&["AttnUpBlock2D", "UpBlock2D"]),
        norm_num_groups: Some(8),
        attention_head_dim: Some(16),
        num_train_timesteps: Some(1000),
        ..Default::default()
    }
}

impl Default for TrainDdpmConfig {
    fn default() -> Self {
        Self {
            data: "digits".into(),
            n_train: 2048,
            batch: 128,
            lr: 1e-3,
            warmup: 200,
            ema_decay: 0.999,
            prediction_type: "epsilon".into(),
            loss_weight: uniform_weight(),
            time_input: index_input(),
            seed: 1,
            unet: small_unet_config(),
            scheduler: SchedulerConfig {
                // the clean images lie in [−1, 1]
                clip_sample: true,
                ..Default::default()
            },
        }
    }
}

/// Progress of a run, handed to the observer every `report_every` steps and at the end.
#[derive(Debug, Clone)]
pub struct TrainProgress {
    /// Steps done.
    pub step: usize,
    /// Steps asked for.
    pub steps: usize,
    /// Mean loss over the steps since the last report.
    pub loss: f64,
    /// Training images per second since the last report.
    pub images_per_second: f64,
}

/// The end of a run.
#[derive(Debug)]
pub struct TrainSummary {
    /// The step the run resumed from (0 for a fresh run).
    pub resumed_from: usize,
    /// Steps done in total.
    pub steps: usize,
    /// Mean loss of each reporting interval, over the whole history of the folder.
    pub loss_log: Vec<(usize, f64)>,
    /// Training images per second of this run (excluding checkpoint writes).
    pub images_per_second: f64,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct TrainingJson {
    config: TrainDdpmConfig,
    step: usize,
    loss_log: Vec<(usize, f64)>,
}

const STATE_FILE: &str = "training_state.safetensors";
const JSON_FILE: &str = "training.json";
/// The training record inside the state file (the JSON text as bytes).
const RECORD_KEY: &str = "meta/training_json";

/// How to run: where, how long, how often to report and save.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Total steps (a resumed run continues up to this).
    pub steps: usize,
    /// The device.
    pub device: Device,
    /// Report every this many steps.
    pub report_every: usize,
    /// Save a checkpoint every this many steps (and at the end).
    pub checkpoint_every: usize,
}

fn check(cfg: &TrainDdpmConfig) -> Result<(DataKind, PredictionType, LossWeight, TimestepInput)> {
    check_count_at_least("batch", cfg.batch, 1)?;
    check_count_at_least("n_train", cfg.n_train, 1)?;
    check_finite_at_least("lr", cfg.lr, 0.0, true)?;
    if !(0.0..1.0).contains(&cfg.ema_decay) {
        return Err(Error::invalid(
            "ema_decay",
            cfg.ema_decay,
            "expected 0 <= ema_decay < 1",
        ));
    }
    let data: DataKind = cfg.data.parse()?;
    let mut s = cfg.scheduler.clone();
    s.prediction_type = cfg.prediction_type.clone();
    let schedule = s.check()?;
    let u = &cfg.unet;
    if u.sample_size != Some(8) || u.in_channels != 1 || u.out_channels != 1 {
        return Err(Error::invalid(
            "unet",
            format!(
                "{:?} px, {} → {} channels",
                u.sample_size, u.in_channels, u.out_channels
            ),
            "the training sets are 1 × 8 × 8 images: sample_size 8, one channel in and out",
        ));
    }
    let weight: LossWeight = cfg.loss_weight.parse()?;
    let input: TimestepInput = cfg.time_input.parse()?;
    Ok((data, schedule.prediction, weight, input))
}

fn save_state(
    dir: &Path,
    model: &UNet2DModel,
    ema: &UNet2DModel,
    adam: &BTreeMap<String, (Tensor, Tensor)>,
    json: &TrainingJson,
) -> Result<()> {
    // first the state (parameters, moments, EMA and the record, one file renamed into place
    // whole): what a resumed run reads, so a kill between the writes below loses nothing
    let mut named: Vec<(String, Tensor)> = Vec::new();
    for (k, v) in model.var_store().variables() {
        named.push((format!("param/{k}"), v.to_device(Device::Cpu)));
    }
    for (k, (m, v)) in adam {
        named.push((format!("adam_m/{k}"), m.to_device(Device::Cpu)));
        named.push((format!("adam_v/{k}"), v.to_device(Device::Cpu)));
    }
    for (k, v) in ema.var_store().variables() {
        named.push((format!("ema/{k}"), v.to_device(Device::Cpu)));
    }
    let record = serde_json::to_string(json).expect("JSON prints");
    named.push((RECORD_KEY.into(), Tensor::from_slice(record.as_bytes())));
    named.sort_by(|a, b| a.0.cmp(&b.0));
    crate::unet::load::write_safetensors_whole(&named, &dir.join(STATE_FILE))?;
    write_outputs(dir, ema, json)
}

/// The diffusers files a model folder is read through (the EMA weights, `config.json`,
/// `scheduler_config.json`) and `training.json`, from the state just written or read back.
/// `training.json` goes last: once it records the state's step, every output is that step's.
fn write_outputs(dir: &Path, ema: &UNet2DModel, json: &TrainingJson) -> Result<()> {
    save_dir(ema.var_store(), &json.config.unet, dir)?;
    let mut sched = json.config.scheduler.clone();
    sched.prediction_type = json.config.prediction_type.clone();
    let mut sj = serde_json::to_value(&sched).expect("a config serializes");
    sj["_class_name"] = "DDPMScheduler".into();
    let write = |name: &str, text: String| {
        crate::sweep::io::write_whole(&dir.join(name), (text + "\n").as_bytes())
    };
    write(
        "scheduler_config.json",
        serde_json::to_string_pretty(&sj).expect("JSON prints"),
    )?;
    write(
        JSON_FILE,
        serde_json::to_string_pretty(json).expect("JSON prints"),
    )
}

/// Trains (or resumes training in) `dir`; `observe` receives the progress reports.
///
/// A folder that already holds `training.json` is resumed when its configuration equals `cfg`
/// (else an error says which differs); `run.steps` may then exceed its earlier target.
pub fn train_ddpm(
    cfg: &TrainDdpmConfig,
    run: &RunSettings,
    dir: &Path,
    mut observe: impl FnMut(&TrainProgress),
) -> Result<TrainSummary> {
    let (data_kind, prediction, weight, input) = check(cfg)?;
    check_count_at_least("steps", run.steps, 1)?;
    let unet_cfg = cfg.unet.clone().check()?;
    let dev = run.device;
    // the EMA's own initial weights are drawn too (under the lock: a draw from the global
    // generator anywhere else would shift another thread's seeded stream), then replaced
    let (model, mut ema) = crate::torch::with_seed(cfg.seed as i64, || {
        (
            UNet2DModel::new(unet_cfg.clone(), dev),
            UNet2DModel::new(unet_cfg, dev),
        )
    });
    ema.var_store_mut().copy(model.var_store())?;
    let mut adam: BTreeMap<String, (Tensor, Tensor)> = model
        .var_store()
        .variables()
        .into_iter()
        .map(|(k, v)| (k, (v.zeros_like(), v.zeros_like())))
        .collect();
    let mut json = TrainingJson {
        config: cfg.clone(),
        step: 0,
        loss_log: Vec::new(),
    };
    let state_path = dir.join(STATE_FILE);
    if state_path.is_file() {
        // the state file alone is the run: parameters, Adam moments, EMA weights and the training
        // record, written whole; the diffusers files beside it are outputs, rewritten at each save
        let bad = |reason: String| Error::BadFile {
            path: state_path.clone(),
            reason,
        };
        let state: BTreeMap<String, Tensor> = Tensor::read_safetensors(&state_path)
            .map_err(|e| bad(format!("cannot read: {e}")))?
            .into_iter()
            .collect();
        let get = |k: &str| {
            state.get(k).ok_or_else(|| {
                bad(format!(
                    "tensor {k} missing (a folder of an older difftheory, or damaged: train into a new --out)"
                ))
            })
        };
        let record: Vec<u8> =
            Vec::<u8>::try_from(&get(RECORD_KEY)?.to_kind(Kind::Uint8).reshape([-1]))
                .map_err(|e| bad(format!("unreadable training record: {e}")))?;
        let old: TrainingJson = serde_json::from_slice(&record)
            .map_err(|e| bad(format!("not a training record: {e}")))?;
        if old.config != *cfg {
            return Err(Error::Checkpoint {
                path: dir.to_path_buf(),
                reason: "holds a run with other settings (data, seed, batch, lr, network, …); choose another --out".into(),
            });
        }
        let put = |dst: &mut Tensor, key: &str| -> Result<()> {
            let src = get(key)?;
            if src.size() != dst.size() {
                return Err(bad(format!(
                    "tensor {key} has shape {:?}, the network needs {:?}",
                    src.size(),
                    dst.size()
                )));
            }
            if src.isfinite().all().int64_value(&[]) == 0 {
                return Err(bad(format!(
                    "tensor {key} holds values that are not finite: damaged"
                )));
            }
            dst.f_copy_(&src.to_kind(dst.kind()).to_device(dev))?;
            Ok(())
        };
        tch::no_grad(|| -> Result<()> {
            for (k, mut v) in model.var_store().variables() {
                put(&mut v, &format!("param/{k}"))?;
                let (m, s) = adam.get_mut(&k).expect("the same variables");
                put(m, &format!("adam_m/{k}"))?;
                put(s, &format!("adam_v/{k}"))?;
            }
            for (k, mut v) in ema.var_store().variables() {
                put(&mut v, &format!("ema/{k}"))?;
            }
            Ok(())
        })?;
        json = old;
        // A kill after the state file was renamed into place but before the outputs were all
        // rewritten leaves them at the previous checkpoint; a run that has no step left to train
        // would then never rewrite them, and the folder would be read as an older model.
        if training_record(dir).ok().flatten().as_ref() != Some(&json) {
            write_outputs(dir, &ema, &json)?;
        }
    } else {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    }
    let resumed_from = json.step;
    let data = training_set(data_kind, cfg.n_train, cfg.seed)?.to_device(dev);
    let n = data.size()[0];
    let mut sched = cfg.scheduler.clone();
    sched.prediction_type = cfg.prediction_type.clone();
    let schedule = sched.check()?;
    let t_max = schedule.num_train_timesteps() as i64;
    let ab = Tensor::from_slice(&schedule.alphas_cumprod)
        .to_kind(Kind::Float)
        .to_device(dev);
    let params: Vec<(String, Tensor)> = model.var_store().variables().into_iter().collect();
    let ema_vars = ema.var_store().variables();
    for (_, p) in &params {
        let _ = p.set_requires_grad(true);
    }
    let (b1, b2, eps_adam) = (0.9f64, 0.999f64, 1e-8f64);
    let b = cfg.batch as i64;
    let mut interval_loss = 0.0;
    let mut interval_steps = 0usize;
    let mut interval_start = Instant::now();
    let mut train_time = 0.0f64;
    let mut trained = 0usize;
    for k in json.step..run.steps {
        let mut rng = rng_from_seed(task_seed(cfg.seed, k as u64));
        let idx: Vec<i64> = (0..b).map(|_| rng.random_range(0..n)).collect();
        let t: Vec<i64> = (0..b).map(|_| rng.random_range(0..t_max)).collect();
        let idx = Tensor::from_slice(&idx).to_device(dev);
        let t = Tensor::from_slice(&t).to_device(dev);
        let x0 = data.index_select(0, &idx);
        let noise = normal_tensor(&mut rng, &x0.size())
            .to_kind(Kind::Float)
            .to_device(dev);
        let a = ab.index_select(0, &t).view([b, 1, 1, 1]);
        let (sa, sb) = (a.sqrt(), (a.ones_like() - &a).sqrt());
        let x_t = &x0 * &sa + &noise * &sb;
        let target = match prediction {
            PredictionType::Epsilon => noise.shallow_clone(),
            PredictionType::Sample => x0.shallow_clone(),
            PredictionType::VPrediction => &noise * &sa - &x0 * &sb,
        };
        for (_, p) in &params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
        let t_in = match input {
            TimestepInput::Index => t.shallow_clone(),
            TimestepInput::OuTime => a.view([b]).log().neg(),
        };
        let out = model.forward_t(&x_t, &t_in, true)?;
        let loss = match weight {
            LossWeight::Uniform => (out - target).square().mean(Kind::Float),
            LossWeight::Snr => {
                let w = &a / (a.ones_like() - &a);
                ((out - target).square() * w).mean(Kind::Float)
            }
        };
        loss.backward();
        let l = loss.double_value(&[]);
        if !l.is_finite() && resumed_from > 0 && k == resumed_from {
            // the first step after a resume: the stored state is as suspect as the learning rate
            return Err(Error::BadFile {
                path: dir.join(STATE_FILE),
                reason: format!(
                    "the first step after resuming gave the loss {l}: the stored state is damaged \
                     (finite but absurd values), or the learning rate {} is too high; \
                     train into a new --out",
                    cfg.lr
                ),
            });
        }
        if !l.is_finite() {
            return Err(Error::invalid(
                "lr",
                cfg.lr,
                format!(
                    "training diverged (loss {l} at step {}); lower the learning rate",
                    k + 1
                ),
            ));
        }
        let step = (k + 1) as f64;
        let lr = cfg.lr * (step / cfg.warmup.max(1) as f64).min(1.0);
        let decay = cfg.ema_decay.min((1.0 + step) / (10.0 + step));
        tch::no_grad(|| {
            // global gradient norm clipped to 1
            let norm2: f64 = params
                .iter()
                .map(|(_, p)| p.grad().square().sum(Kind::Float).double_value(&[]))
                .sum();
            let scale = (1.0 / norm2.sqrt().max(1e-12)).min(1.0);
            for (name, p) in &params {
                let g = p.grad() * scale;
                let (m, v) = adam.get_mut(name).expect("a moment per variable");
                let _ = m.g_mul_scalar_(b1).g_add_(&(&g * (1.0 - b1)));
                let _ = v.g_mul_scalar_(b2).g_add_(&(g.square() * (1.0 - b2)));
                let mhat = &*m / (1.0 - b1.powf(step));
                let vhat = &*v / (1.0 - b2.powf(step));
                let mut p = p.shallow_clone();
                let _ = p.g_sub_(&(mhat / (vhat.sqrt() + eps_adam) * lr));
                let mut e = ema_vars[name].shallow_clone();
                let _ = e.g_mul_scalar_(decay).g_add_(&(&p * (1.0 - decay)));
            }
        });
        interval_loss += l;
        interval_steps += 1;
        trained += 1;
        let done = k + 1;
        if done % run.report_every.max(1) == 0 || done == run.steps {
            let secs = interval_start.elapsed().as_secs_f64();
            train_time += secs;
            let mean = interval_loss / interval_steps as f64;
            json.loss_log.push((done, mean));
            observe(&TrainProgress {
                step: done,
                steps: run.steps,
                loss: mean,
                images_per_second: (interval_steps as f64 * b as f64) / secs.max(1e-9),
            });
            interval_loss = 0.0;
            interval_steps = 0;
            interval_start = Instant::now();
        }
        if done % run.checkpoint_every.max(1) == 0 || done == run.steps {
            json.step = done;
            let t0 = Instant::now();
            save_state(dir, &model, &ema, &adam, &json)?;
            interval_start += t0.elapsed();
        }
    }
    Ok(TrainSummary {
        resumed_from,
        steps: json.step,
        loss_log: json.loss_log,
        images_per_second: trained as f64 * b as f64 / train_time.max(1e-9),
    })
}

/// The settings a model folder was trained with (its `training.json`), `None` for a folder this
/// trainer did not write (a downloaded model).
pub fn training_config(dir: &Path) -> Result<Option<TrainDdpmConfig>> {
    Ok(training_record(dir)?.map(|json| json.config))
}

/// The steps a model folder's training has reached (`training.json`; 0 where there is none).
pub fn trained_steps(dir: &Path) -> Result<usize> {
    Ok(training_record(dir)?.map_or(0, |json| json.step))
}

fn training_record(dir: &Path) -> Result<Option<TrainingJson>> {
    let path = dir.join(JSON_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io("cannot read", &path, e))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::BadFile {
            path: path.clone(),
            reason: format!("not a training record: {e}"),
        })
}
