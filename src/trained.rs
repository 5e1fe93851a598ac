//! Small score networks trained on low-dimensional data with paper 002's three losses (feature
//! `torch`), usable as a [`Drift`] by the samplers.
//!
//! Forward process: OU with rate ½ (DDPM time), `X_t = m X_0 + sqrt(v) ξ`, `m = e^{−t/2}`,
//! `v = 1 − e^{−t}`. The network `g_θ(x, t)` is an MLP (SiLU) whose output means, per
//! [`Objective`]:
//!
//! - **CEM**: `f_θ ≈ E[X_0 | X_t = x]`, loss `λ(t) |X_0 − f_θ|²`, `λ(t) = 1/(e^t − 1)` (paper 002),
//!   or `λ = 1` ([`CemWeight::Uniform`], the ablation);
//! - **SGM**: `s_θ ≈ S = −∇log p_t`, loss `(1 − e^{−t}) |ξ/sqrt(1 − e^{−t}) − s_θ|²`;
//! - **DDPM**: `ε_θ ≈ E[ξ | X_t = x]`, loss `|ξ − ε_θ|²`.
//!
//! Each gives a score: CEM `−(x − m f_θ)/v`, SGM `−s_θ`, DDPM `−ε_θ/sqrt(v)`, and an implied
//! posterior mean `(x + v ŝ)/m`, so the three can be compared on the same scale.
//!
//! The defaults are the authors' 2-D design (their public code, `DiffModel_2D.ipynb` of
//! Yubin-Lu/CEM_Diffusion_Model): an MLP with three hidden layers of 32 tanh units taking the raw
//! time `t` beside `x`; training times uniform on the grid `k T/199`, `k = 1..199` (so no time below
//! `T/199 ≈ 0.050` is ever trained on, while sampling runs down to `t_1 = 1e-4`: the networks must
//! extrapolate, and only the CEM keeps the singular `1/v` factor analytic); Adam with learning rate
//! 1e-3, batches of 10 000 and 20 000 steps. Where we differ: each step draws fresh data (the
//! authors draw a fixed set of 10⁶ points once, which for these continuous laws and networks of ~2 300
//! weights is the same thing), and the time of each example is drawn afresh (the authors fix one
//! per point and shuffle them within each batch). [`TrainTimes::LogUniform`],
//! [`TimeInput::Features`] (`u = ln(t/t_min)/ln(T/t_min)` with `sin(kπu), cos(kπu)`, k = 1..4) and
//! [`Activation::Silu`] are this project's earlier design, kept for the ablations. Data, times and
//! noise come from our seeded generator and the initial weights from tch's seeded with `seed`
//! ([`crate::torch::with_seed`]), so a
//! CPU run is reproducible.

use std::sync::Mutex;

use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Kind, Tensor};

use crate::error::{check_count_at_least, check_finite_at_least, Error, Result};
use crate::rng::rng_from_seed;
use crate::schedule::ForwardProcess;
use crate::score::Drift;
use crate::score::Posterior;

/// What the network regresses on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Objective {
    /// The posterior mean `f` (conditional-expectation model).
    Cem,
    /// Paper 002's score `S = −∇log p_t`.
    Sgm,
    /// The noise `ε`.
    Ddpm,
}

impl std::str::FromStr for Objective {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "cem" => Ok(Objective::Cem),
            "sgm" => Ok(Objective::Sgm),
            "ddpm" => Ok(Objective::Ddpm),
            _ => Err(Error::invalid("objective", s, "expected cem, sgm or ddpm")),
        }
    }
}

impl std::fmt::Display for Objective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Objective::Cem => "cem",
            Objective::Sgm => "sgm",
            Objective::Ddpm => "ddpm",
        })
    }
}

/// The CEM loss weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CemWeight {
    /// `λ(t) = 1/(e^t − 1)`, paper 002.
    Paper,
    /// `λ = 1`.
    Uniform,
    /// `λ(t)² = 1/(e^t − 1)²` (the authors' third weighting).
    Squared,
}

/// How the training times are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrainTimes {
    /// Uniform on the grid `k T/(n − 1)`, `k = 1..n−1` (the authors: `n = 200`, so `t ≥ T/199`).
    Grid(usize),
    /// Log-uniform on `[t_min, T]` (the density of the exponential sampling schedule).
    LogUniform,
}

impl std::str::FromStr for TrainTimes {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim().to_ascii_lowercase();
        if s == "log-uniform" || s == "log_uniform" {
            return Ok(TrainTimes::LogUniform);
        }
        let bad = || {
            Error::invalid(
                "times",
                &s,
                "expected log-uniform or grid:N with an integer N from 2 to 10000000",
            )
        };
        let n: usize = s
            .strip_prefix("grid:")
            .ok_or_else(bad)?
            .trim()
            .parse()
            .map_err(|_| bad())?;
        if n < 2 || n as f64 > crate::experiments::MAX_COUNT {
            return Err(bad());
        }
        Ok(TrainTimes::Grid(n))
    }
}

impl std::fmt::Display for TrainTimes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrainTimes::Grid(n) => write!(f, "grid:{n}"),
            TrainTimes::LogUniform => f.write_str("log-uniform"),
        }
    }
}

/// How the time enters the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeInput {
    /// `t` itself (the authors).
    Raw,
    /// `u = ln(t/t_min)/ln(T/t_min)` with `sin(kπu), cos(kπu)`, k = 1..4.
    Features,
}

/// The nonlinearity of the hidden layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Activation {
    /// `tanh` (the authors).
    Tanh,
    /// `x σ(x)`.
    Silu,
}

/// How to train.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// The target.
    pub objective: Objective,
    /// The CEM weight (ignored by SGM and DDPM).
    pub cem_weight: CemWeight,
    /// Width of the hidden layers.
    pub hidden: usize,
    /// Number of hidden layers.
    pub depth: usize,
    /// Optimizer steps.
    pub steps: usize,
    /// Examples per step.
    pub batch: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Smallest time: the start of the sampling schedule, the lower end of log-uniform training
    /// times and of the time features.
    pub t_min: f64,
    /// Largest time `T`.
    pub t_max: f64,
    /// How the training times are drawn.
    pub times: TrainTimes,
    /// How the time enters the network.
    pub time_input: TimeInput,
    /// The hidden layers' nonlinearity.
    pub activation: Activation,
    /// Seed of the data, times, noise and initial weights.
    pub seed: u64,
    /// Where to train.
    pub device: Device,
}

/// The authors' 2-D design (see the module docs).
impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            objective: Objective::Cem,
            cem_weight: CemWeight::Paper,
            hidden: 32,
            depth: 3,
            steps: 20_000,
            batch: 10_000,
            lr: 1e-3,
            t_min: 1e-4,
            t_max: 10.0,
            times: TrainTimes::Grid(200),
            time_input: TimeInput::Raw,
            activation: Activation::Tanh,
            seed: 1,
            device: Device::Cpu,
        }
    }
}

const TIME_FREQS: usize = 4;

/// The most weights a network may have: 10⁸ (0.4 GB in f32, 1.2 GB with Adam's two moments).
pub const MAX_WEIGHTS: f64 = 1e8;

/// The most hidden activations one training step may hold, `batch × hidden × depth`: 2.5·10⁸ (1 GB
/// in f32, about as much again for their gradients). The authors' design holds 9.6·10⁵.
pub const MAX_ACTIVATIONS: f64 = 2.5e8;

struct Mlp {
    _vs: nn::VarStore,
    layers: Vec<nn::Linear>,
    activation: Activation,
}

impl Mlp {
    fn forward(&self, x: &Tensor) -> Tensor {
        let last = self.layers.len() - 1;
        let mut h = x.shallow_clone();
        for (i, l) in self.layers.iter().enumerate() {
            h = l.forward(&h);
            if i < last {
                h = match self.activation {
                    Activation::Tanh => h.tanh(),
                    Activation::Silu => h.silu(),
                };
            }
        }
        h
    }
}

/// A trained network and what it was trained for; a [`Drift`] for the samplers.
pub struct ScoreNet {
    net: Mutex<Mlp>,
    dim: usize,
    config: TrainConfig,
    losses: Vec<f64>,
}

impl std::fmt::Debug for ScoreNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScoreNet")
            .field("dim", &self.dim)
            .field("config", &self.config)
            .finish()
    }
}

const PROCESS: ForwardProcess = ForwardProcess::OuHalf;

/// Inputs the network takes for the time.
fn time_width(input: TimeInput) -> usize {
    match input {
        TimeInput::Raw => 1,
        TimeInput::Features => 1 + 2 * TIME_FREQS,
    }
}

fn time_input(config: &TrainConfig, t: f64, out: &mut Vec<f32>) {
    match config.time_input {
        TimeInput::Raw => out.push(t as f32),
        TimeInput::Features => time_features(t, config.t_min, config.t_max, out),
    }
}

fn time_features(t: f64, t_min: f64, t_max: f64, out: &mut Vec<f32>) {
    let u = ((t / t_min).ln() / (t_max / t_min).ln()).clamp(-0.5, 1.5);
    out.push(u as f32);
    for k in 1..=TIME_FREQS {
        let a = k as f64 * std::f64::consts::PI * u;
        out.push(a.sin() as f32);
        out.push(a.cos() as f32);
    }
}

/// Trains a network on draws of `data` (see the module docs); the loss of every step is kept.
pub fn train<P: Posterior + ?Sized>(data: &P, config: &TrainConfig) -> Result<ScoreNet> {
    check_count_at_least("hidden", config.hidden, 1)?;
    check_count_at_least("depth", config.depth, 1)?;
    check_count_at_least("steps", config.steps, 1)?;
    check_count_at_least("batch", config.batch, 1)?;
    check_finite_at_least("lr", config.lr, 0.0, true)?;
    check_finite_at_least("t_min", config.t_min, 0.0, true)?;
    if config.t_max <= config.t_min || !config.t_max.is_finite() {
        return Err(Error::invalid(
            "t_max",
            config.t_max,
            format!("must be finite and larger than t_min = {}", config.t_min),
        ));
    }
    if let TrainTimes::Grid(n) = config.times {
        if n < 2 || n as f64 > crate::experiments::MAX_COUNT {
            return Err(Error::invalid(
                "times",
                config.times,
                "a grid needs from 2 to 10000000 points",
            ));
        }
    }
    let dim = data.dim();
    let n_in = dim + time_width(config.time_input);
    // refuse sizes libtorch could only answer with a failed allocation (a panic inside tch)
    let (h, depth) = (config.hidden as f64, config.depth as f64);
    let weights = (n_in as f64 + 1.0) * h + (depth - 1.0) * (h + 1.0) * h + (h + 1.0) * dim as f64;
    if weights > MAX_WEIGHTS {
        return Err(Error::invalid(
            "hidden",
            config.hidden,
            format!(
                "with depth {} the network would have {weights:.3e} weights; at most {MAX_WEIGHTS:e} (4 bytes each, three copies with Adam's moments)",
                config.depth
            ),
        ));
    }
    let activations = config.batch as f64 * h * depth;
    if activations > MAX_ACTIVATIONS {
        return Err(Error::invalid(
            "batch",
            config.batch,
            format!(
                "a step would hold {activations:.3e} hidden activations (batch × hidden × depth); at most {MAX_ACTIVATIONS:e}"
            ),
        ));
    }
    let vs = nn::VarStore::new(config.device);
    let root = vs.root();
    let layers = crate::torch::with_seed(config.seed as i64, || {
        let mut layers = Vec::with_capacity(config.depth + 1);
        let mut width = n_in;
        for i in 0..config.depth {
            layers.push(nn::linear(
                &root / format!("l{i}"),
                width as i64,
                config.hidden as i64,
                Default::default(),
            ));
            width = config.hidden;
        }
        layers.push(nn::linear(
            &root / "out",
            width as i64,
            dim as i64,
            Default::default(),
        ));
        layers
    });
    let mlp = Mlp {
        _vs: vs,
        layers,
        activation: config.activation,
    };
    let mut opt = nn::Adam::default().build(&mlp._vs, config.lr)?;
    let mut rng = rng_from_seed(config.seed);
    let (lo, hi) = (config.t_min.ln(), config.t_max.ln());
    let b = config.batch;
    let mut losses = Vec::with_capacity(config.steps);
    let (mut input, mut target, mut weight) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..config.steps {
        input.clear();
        target.clear();
        weight.clear();
        for _ in 0..b {
            let t = match config.times {
                TrainTimes::LogUniform => rng.random_range(lo..hi).exp(),
                TrainTimes::Grid(n) => {
                    config.t_max * rng.random_range(1..n) as f64 / (n - 1) as f64
                }
            };
            let (m, v) = (PROCESS.mean_coeff(t), PROCESS.variance(t));
            let x0 = data.sample(&mut rng);
            let xi: Vec<f64> = (0..dim).map(|_| StandardNormal.sample(&mut rng)).collect();
            input.extend(
                x0.iter()
                    .zip(&xi)
                    .map(|(a, z)| (m * a + v.sqrt() * z) as f32),
            );
            time_input(config, t, &mut input);
            let w = match config.objective {
                Objective::Cem => {
                    target.extend(x0.iter().map(|&a| a as f32));
                    match config.cem_weight {
                        CemWeight::Paper => 1.0 / t.exp_m1(),
                        CemWeight::Uniform => 1.0,
                        CemWeight::Squared => t.exp_m1().powi(-2),
                    }
                }
                Objective::Sgm => {
                    target.extend(xi.iter().map(|z| (z / v.sqrt()) as f32));
                    v
                }
                Objective::Ddpm => {
                    target.extend(xi.iter().map(|&z| z as f32));
                    1.0
                }
            };
            weight.push(w as f32);
        }
        let x = Tensor::from_slice(&input)
            .view([b as i64, n_in as i64])
            .to_device(config.device);
        let y = Tensor::from_slice(&target)
            .view([b as i64, dim as i64])
            .to_device(config.device);
        let w = Tensor::from_slice(&weight)
            .view([b as i64, 1])
            .to_device(config.device);
        let err = (mlp.forward(&x) - y).square() * w;
        let loss = err.sum_dim_intlist(1, false, Kind::Float).mean(Kind::Float);
        opt.backward_step(&loss);
        let l = loss.double_value(&[]);
        if !l.is_finite() {
            return Err(Error::invalid(
                "lr",
                config.lr,
                format!(
                    "training diverged (loss {l} at step {}); lower the learning rate",
                    losses.len() + 1
                ),
            ));
        }
        losses.push(l);
    }
    Ok(ScoreNet {
        net: Mutex::new(mlp),
        dim,
        config: config.clone(),
        losses,
    })
}

impl ScoreNet {
    /// The training configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The loss of every training step.
    pub fn losses(&self) -> &[f64] {
        &self.losses
    }

    /// The network's raw output (its objective's target) at time `t` for the points in `xs`
    /// (`dim` numbers each, one after the other), written into `out`.
    pub fn output_batch(&self, t: f64, xs: &[f64], out: &mut [f64]) {
        let d = self.dim;
        let n = xs.len() / d;
        let mut input = Vec::with_capacity(n * (d + time_width(self.config.time_input)));
        for x in xs.chunks_exact(d) {
            input.extend(x.iter().map(|&v| v as f32));
            time_input(&self.config, t, &mut input);
        }
        let net = self.net.lock().unwrap_or_else(|e| e.into_inner());
        let y = tch::no_grad(|| {
            let x = Tensor::from_slice(&input)
                .view([n as i64, -1])
                .to_device(self.config.device);
            net.forward(&x).to_device(Device::Cpu).to_kind(Kind::Double)
        });
        drop(net);
        let flat = y.view([-1]);
        let vals: Vec<f64> = Vec::<f64>::try_from(&flat).unwrap_or_default();
        for (o, v) in out.iter_mut().zip(vals) {
            *o = v;
        }
    }

    /// The implied posterior means `(x + v ŝ)/m` of the points in `xs`.
    pub fn posterior_mean_batch(&self, t: f64, xs: &[f64], out: &mut [f64]) {
        self.score_batch(t, xs, out);
        let (m, v) = (PROCESS.mean_coeff(t), PROCESS.variance(t));
        for (o, x) in out.iter_mut().zip(xs) {
            *o = (x + v * *o) / m;
        }
    }
}

impl Drift for ScoreNet {
    fn dim(&self) -> usize {
        self.dim
    }
    fn score(&self, t: f64, x: &[f64], out: &mut [f64]) {
        self.score_batch(t, x, out)
    }
    fn score_batch(&self, t: f64, xs: &[f64], out: &mut [f64]) {
        self.output_batch(t, xs, out);
        let (m, v) = (PROCESS.mean_coeff(t), PROCESS.variance(t));
        match self.config.objective {
            Objective::Cem => {
                for (o, x) in out.iter_mut().zip(xs) {
                    *o = -(x - m * *o) / v;
                }
            }
            Objective::Sgm => out.iter_mut().for_each(|o| *o = -*o),
            Objective::Ddpm => {
                let s = v.sqrt();
                out.iter_mut().for_each(|o| *o = -*o / s);
            }
        }
    }
}
