//! Samplers and inversion over a network: the posterior-mean predictor `x̂₀(x_t, t)`, DDPM and
//! DDIM sampling loops, and DDIM inversion with its reconstruction error.
//!
//! DDIM inversion (Song et al. 2021, Sec. 4.3; Dhariwal & Nichol 2021, App. F) runs the η = 0
//! update backwards: from `x_{t'}` to `x_t = √ᾱ_t x̂₀ + √(1−ᾱ_t) ε̂`, with `x̂₀, ε̂` from the
//! network at `(x_{t'}, t)` — the only approximation, exact in the limit of small steps. Sampling
//! back from the inverted latent with the same timesteps reconstructs the image up to the error
//! [`Inversion`] reports.

use rand_distr::{Distribution, StandardNormal};
use tch::{Kind, Tensor};

use super::config::Schedule;
use super::ddim::Ddim;
use super::ddpm::Ddpm;
use super::prediction::split_prediction;
use crate::error::Result;
use crate::rng::{rng_from_seed, task_seed};

/// A network of integer timesteps: `output(x_t, t)` is what the schedule's `prediction_type` says
/// (ε, x₀ or v) for the batch `x_t: [B, C, H, W]`.
pub trait Denoiser {
    /// The network's output at integer timestep `t` (0..T−1).
    fn output(&self, x_t: &Tensor, t: i64) -> Result<Tensor>;
}

impl Denoiser for crate::unet::UNet2DModel {
    fn output(&self, x_t: &Tensor, t: i64) -> Result<Tensor> {
        self.forward(x_t, &Tensor::from(t))
    }
}

impl<F: Fn(&Tensor, i64) -> Result<Tensor>> Denoiser for F {
    fn output(&self, x_t: &Tensor, t: i64) -> Result<Tensor> {
        self(x_t, t)
    }
}

/// The posterior-mean predictor `x̂₀(x_t, t)` of paper 004: for ε-prediction
/// `(x_t − √(1−ᾱ_t) ε_θ(x_t, t))/√ᾱ_t` (see [`split_prediction`] for x₀ and v). Not clipped and
/// differentiable in `x_t` (call it outside `tch::no_grad` to take its Jacobian).
pub fn posterior_mean_x0(
    model: &dyn Denoiser,
    schedule: &Schedule,
    x_t: &Tensor,
    t: i64,
) -> Result<Tensor> {
    let out = model.output(x_t, t)?;
    let a = schedule.timestep_to_alpha_bar(t);
    Ok(split_prediction(schedule.prediction, &out, x_t, a).x0)
}

/// `N(0, I)` noise of `shape = [B, …]` (f32 on `device`) for step `step` of a sampler: image i
/// draws from our generator seeded with `task_seed(task_seed(seed, i), step)`, so an image is the
/// same whatever batch it lands in, whatever the thread count, on any device.
pub fn item_noise(shape: &[i64], device: tch::Device, seed: u64, step: u64) -> Tensor {
    let per: i64 = shape[1..].iter().product();
    let mut v: Vec<f32> = Vec::with_capacity((shape[0] * per) as usize);
    for i in 0..shape[0] as u64 {
        let mut rng = rng_from_seed(task_seed(task_seed(seed, i), step));
        v.extend((0..per).map(|_| {
            let z: f64 = StandardNormal.sample(&mut rng);
            z as f32
        }));
    }
    Tensor::from_slice(&v).view(shape).to_device(device)
}

/// The initial `x_T ~ N(0, I)` of a sampler: [`item_noise`] at step 0.
pub fn initial_noise(shape: &[i64], device: tch::Device, seed: u64) -> Tensor {
    item_noise(shape, device, seed, 0)
}

/// DDIM sampling from `x_T` through all of the sampler's timesteps; with `eta > 0` step i draws its
/// noise by [`item_noise`]`(.., seed, i + 1)`. `observe(i, t, x_{t'})` is called after each step.
pub fn ddim_sample(
    model: &dyn Denoiser,
    ddim: &Ddim,
    x_t: &Tensor,
    eta: f64,
    seed: u64,
    mut observe: impl FnMut(usize, i64, &Tensor),
) -> Result<Tensor> {
    tch::no_grad(|| {
        let mut x = x_t.shallow_clone();
        for (i, &t) in ddim.timesteps.iter().enumerate() {
            let out = model.output(&x, t)?;
            let z = (eta > 0.0).then(|| item_noise(&x.size(), x.device(), seed, i as u64 + 1));
            x = ddim.step(&out, t, &x, eta, z.as_ref())?.prev_sample;
            observe(i, t, &x);
        }
        Ok(x)
    })
}

/// DDIM sampling from `x` at timestep `ddim.timesteps[start]` (η = 0) to the end: the second half
/// of an inversion–edit–regeneration.
pub fn ddim_sample_from(
    model: &dyn Denoiser,
    ddim: &Ddim,
    x: &Tensor,
    start: usize,
) -> Result<Tensor> {
    ddim_sample_from_eta(model, ddim, x, start, |_| 0.0, 0)
}

fn check_start(ddim: &Ddim, start: usize) -> Result<()> {
    if start >= ddim.timesteps.len() {
        return Err(crate::error::Error::invalid(
            "start",
            start,
            format!(
                "an index into the {} inference timesteps (0 .. {})",
                ddim.timesteps.len(),
                ddim.timesteps.len() - 1
            ),
        ));
    }
    Ok(())
}

/// DDIM sampling from `x` at timestep `ddim.timesteps[start]` to the end with the step's η given by
/// `eta(t)` (peers switch from η = 0 to η = 1 below 0.2 T after an edit); step i draws its noise by
/// [`item_noise`]`(.., seed, i + 1)`, i counted from the first inference timestep, so runs that
/// start at the same step share their noise.
pub fn ddim_sample_from_eta(
    model: &dyn Denoiser,
    ddim: &Ddim,
    x: &Tensor,
    start: usize,
    eta: impl Fn(i64) -> f64,
    seed: u64,
) -> Result<Tensor> {
    check_start(ddim, start)?;
    tch::no_grad(|| {
        let mut x = x.shallow_clone();
        for (i, &t) in ddim.timesteps.iter().enumerate().skip(start) {
            let out = model.output(&x, t)?;
            let e = eta(t);
            let z = (e > 0.0).then(|| item_noise(&x.size(), x.device(), seed, i as u64 + 1));
            x = ddim.step(&out, t, &x, e, z.as_ref())?.prev_sample;
        }
        Ok(x)
    })
}

/// DDPM ancestral sampling from `x_T`; step i draws its noise by [`item_noise`]`(.., seed, i + 1)`.
pub fn ddpm_sample(model: &dyn Denoiser, ddpm: &Ddpm, x_t: &Tensor, seed: u64) -> Result<Tensor> {
    tch::no_grad(|| {
        let mut x = x_t.shallow_clone();
        for (i, &t) in ddpm.timesteps.iter().enumerate() {
            let out = model.output(&x, t)?;
            let z = (t > 0).then(|| item_noise(&x.size(), x.device(), seed, i as u64 + 1));
            x = ddpm.step(&out, t, &x, z.as_ref())?.prev_sample;
        }
        Ok(x)
    })
}

/// The latents of a DDIM inversion, one per inference timestep, ascending in noise.
#[derive(Debug)]
pub struct InvertedPath {
    /// Timesteps, ascending (the sampler's, reversed).
    pub timesteps: Vec<i64>,
    /// `x_t` at each of them.
    pub latents: Vec<Tensor>,
}

impl InvertedPath {
    /// The most noisy latent, taken out of the path.
    pub fn into_latent(mut self) -> Tensor {
        self.latents
            .pop()
            .expect("an inversion has at least one step")
    }

    /// The most noisy latent `x_{t_max}`.
    pub fn latent(&self) -> &Tensor {
        self.latents
            .last()
            .expect("an inversion has at least one step")
    }
}

/// DDIM inversion of clean images `x0` through the sampler's timesteps (see the module docs).
/// Clipping is not applied.
pub fn ddim_invert(model: &dyn Denoiser, ddim: &Ddim, x0: &Tensor) -> Result<InvertedPath> {
    ddim_invert_to(model, ddim, x0, 0)
}

/// DDIM inversion of `x0` up to the sampler's timestep `ddim.timesteps[start]` (the descending
/// index [`ddim_sample_from`] starts at; 0 inverts all the way): the first half of an
/// inversion–edit–regeneration.
pub fn ddim_invert_to(
    model: &dyn Denoiser,
    ddim: &Ddim,
    x0: &Tensor,
    start: usize,
) -> Result<InvertedPath> {
    check_start(ddim, start)?;
    let pred = ddim.schedule.prediction;
    tch::no_grad(|| {
        let mut x = x0.shallow_clone();
        let mut timesteps = Vec::with_capacity(ddim.timesteps.len());
        let mut latents = Vec::with_capacity(ddim.timesteps.len());
        for &t in ddim.timesteps[start..].iter().rev() {
            let a_prev = ddim.alpha_bar(ddim.previous_timestep(t));
            let a_t = ddim.alpha_bar(t);
            let out = model.output(&x, t)?;
            let p = split_prediction(pred, &out, &x, a_prev);
            x = p.x0 * a_t.sqrt() + p.eps * (1.0 - a_t).sqrt();
            timesteps.push(t);
            latents.push(x.shallow_clone());
        }
        Ok(InvertedPath { timesteps, latents })
    })
}

/// An inversion and its round trip.
#[derive(Debug)]
pub struct Inversion {
    /// The inverted path.
    pub path: InvertedPath,
    /// DDIM (η = 0) from the last latent back to t = 0.
    pub reconstruction: Tensor,
    /// Root mean square of `reconstruction − x0` over all pixels.
    pub rmse: f64,
    /// Largest `|reconstruction − x0|`.
    pub max_abs: f64,
}

/// Inverts `x0`, samples back with the same sampler (η = 0) and measures the error.
pub fn invert_and_reconstruct(model: &dyn Denoiser, ddim: &Ddim, x0: &Tensor) -> Result<Inversion> {
    let path = ddim_invert(model, ddim, x0)?;
    let reconstruction = ddim_sample_from(model, ddim, path.latent(), 0)?;
    let diff = (&reconstruction - x0.to_device(reconstruction.device())).to_kind(Kind::Double);
    let rmse = diff.square().mean(Kind::Double).sqrt().double_value(&[]);
    let max_abs = diff.abs().max().double_value(&[]);
    Ok(Inversion {
        path,
        reconstruction,
        rmse,
        max_abs,
    })
}
