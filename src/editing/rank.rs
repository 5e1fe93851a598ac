//! The numerical rank of the posterior-mean Jacobian along DDIM trajectories (paper 004, Fig. 3).

use tch::{Device, Kind, Tensor};

use crate::diffusion::sampling::initial_noise;
use crate::diffusion::{posterior_mean_x0, Ddim, Denoiser, Schedule};
use crate::error::{check_count_at_least, Error, Result};
use crate::jacobian::{full_jacobian, matrix_singular_values};
use crate::molrg::{numerical_rank, Kernel, LowRankMixture};
use crate::rng::task_seed;

/// The timestep whose `SNR_t = sqrt(ᾱ_t/(1 − ᾱ_t))` is nearest `snr` on a log scale: paper 004's
/// `1/σ` of the EDM noise level `σ_t = sqrt((1 − ᾱ_t)/ᾱ_t)` the timestep has once `x_t` is scaled
/// by `1/sqrt(ᾱ_t)`.
pub fn timestep_for_snr(schedule: &Schedule, snr: f64) -> Result<i64> {
    if !(snr.is_finite() && snr > 0.0) {
        return Err(Error::invalid("snr", snr, "a finite number > 0"));
    }
    let target = snr.ln();
    let best = (0..schedule.num_train_timesteps() as i64)
        .map(|t| {
            let a = schedule.timestep_to_alpha_bar(t);
            (t, (0.5 * (a / (1.0 - a)).ln() - target).abs())
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .expect("a schedule has timesteps");
    Ok(best.0)
}

/// Settings of [`rank_along_trajectories`].
#[derive(Debug, Clone)]
pub struct RankSettings {
    /// The signal-to-noise ratios to read the trajectories at.
    pub snr: Vec<f64>,
    /// Trajectories (>= 1), trajectory i from the initial noise of `task_seed(seed, i)`.
    pub samples: usize,
    /// The η of `rank_η` (0 < η <= 1; the paper: 0.99).
    pub eta: f64,
    /// Seed of the initial noise.
    pub seed: u64,
    /// VJPs per backward pass when forming the Jacobian (>= 1).
    pub batch: usize,
}

impl Default for RankSettings {
    fn default() -> Self {
        Self {
            snr: vec![0.04, 0.3, 1.67, 10.0, 50.0, 500.0],
            samples: 8,
            eta: 0.99,
            seed: 1,
            batch: 64,
        }
    }
}

/// The ranks at one SNR.
#[derive(Debug, Clone, PartialEq)]
pub struct RankPoint {
    /// The SNR asked for.
    pub snr: f64,
    /// The timestep used (the nearest in SNR; capped at the sampler's first timestep).
    pub timestep: i64,
    /// Its SNR.
    pub model_snr: f64,
    /// `rank_η` of the model's Jacobian at each trajectory's point.
    pub ranks: Vec<usize>,
    /// The same of the exact posterior mean of the training distribution (MoLRG models).
    pub closed_form_ranks: Option<Vec<usize>>,
    /// The input dimension D.
    pub dim: usize,
}

/// Runs `settings.samples` DDIM trajectories (η = 0, the sampler's timesteps) from seeded noise of
/// `shape = [C, H, W]`, reads each at the timestep of every SNR (a DDIM jump from the last step at
/// or above it), and takes the numerical rank of the full Jacobian of `x̂₀` there; with a
/// `closed_form` mixture (the model's training distribution, flattened row-major) also the rank of
/// its exact posterior mean's Jacobian at the same points.
pub fn rank_along_trajectories(
    model: &dyn Denoiser,
    ddim: &Ddim,
    shape: [i64; 3],
    device: Device,
    settings: &RankSettings,
    closed_form: Option<&LowRankMixture>,
) -> Result<Vec<RankPoint>> {
    check_count_at_least("snr", settings.snr.len(), 1)?;
    check_count_at_least("samples", settings.samples, 1)?;
    check_count_at_least("batch", settings.batch, 1)?;
    if !(settings.eta > 0.0 && settings.eta <= 1.0) {
        return Err(Error::invalid("eta", settings.eta, "0 < eta <= 1"));
    }
    let dim = (shape[0] * shape[1] * shape[2]) as usize;
    if let Some(m) = closed_form {
        if m.ambient() != dim {
            return Err(Error::invalid(
                "closed_form",
                format!("a mixture in {} dimensions", m.ambient()),
                format!("the model's {dim} pixels"),
            ));
        }
    }
    let schedule = &ddim.schedule;
    let first = ddim.timesteps[0];
    let mut targets: Vec<(usize, i64)> = settings
        .snr
        .iter()
        .enumerate()
        .map(|(i, &s)| Ok((i, timestep_for_snr(schedule, s)?.min(first))))
        .collect::<Result<_>>()?;
    targets.sort_by_key(|&(_, t)| std::cmp::Reverse(t));

    // the trajectory points at every target timestep, [samples, C, H, W] each
    let n = settings.samples as i64;
    let noise: Vec<Tensor> = (0..n)
        .map(|i| {
            initial_noise(
                &[1, shape[0], shape[1], shape[2]],
                device,
                task_seed(settings.seed, i as u64),
            )
        })
        .collect();
    let mut x = Tensor::cat(&noise, 0);
    let mut points: Vec<Option<Tensor>> = (0..settings.snr.len()).map(|_| None).collect();
    let mut next = 0;
    tch::no_grad(|| -> Result<()> {
        for &t in &ddim.timesteps {
            let prev = ddim.previous_timestep(t);
            if next >= targets.len() {
                break;
            }
            let out = model.output(&x, t)?;
            while next < targets.len() && targets[next].1 > prev {
                let (i, tt) = targets[next];
                points[i] = Some(if tt == t {
                    x.shallow_clone()
                } else {
                    ddim.jump(&out, t, tt, &x)
                });
                next += 1;
            }
            x = ddim.step(&out, t, &x, 0.0, None)?.prev_sample;
        }
        Ok(())
    })?;

    let mut result = Vec::with_capacity(settings.snr.len());
    for (i, &snr) in settings.snr.iter().enumerate() {
        let t = targets
            .iter()
            .find(|p| p.0 == i)
            .expect("every SNR has a target")
            .1;
        let a = schedule.timestep_to_alpha_bar(t);
        let pts = points[i]
            .take()
            .expect("the trajectory passes every target");
        let f = |x: &Tensor| posterior_mean_x0(model, schedule, x, t);
        let kernel = Kernel::new(a.sqrt(), (1.0 - a).sqrt())?;
        let mut ranks = Vec::with_capacity(settings.samples);
        let mut exact = closed_form.map(|_| Vec::with_capacity(settings.samples));
        for j in 0..n {
            let xj = pts.narrow(0, j, 1);
            let sv = matrix_singular_values(&full_jacobian(&f, &xj, settings.batch)?)?;
            ranks.push(numerical_rank(&sv, settings.eta)?);
            if let (Some(m), Some(e)) = (closed_form, exact.as_mut()) {
                let v: Vec<f64> = Vec::<f64>::try_from(
                    &xj.to_kind(Kind::Double)
                        .to_device(Device::Cpu)
                        .reshape([-1]),
                )?;
                let sv = m.jacobian_singular_values(kernel, &v)?;
                e.push(numerical_rank(&sv, settings.eta)?);
            }
        }
        result.push(RankPoint {
            snr,
            timestep: t,
            model_snr: (a / (1.0 - a)).sqrt(),
            ranks,
            closed_form_ranks: exact,
            dim,
        });
    }
    Ok(result)
}
