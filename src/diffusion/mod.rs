//! Discrete-time diffusion with integer timesteps t = 0..T−1 (feature `torch`): diffusers'
//! `DDPMScheduler` and `DDIMScheduler` (β schedules, timestep spacings, ε / x₀ / v prediction,
//! clipping, η), the posterior-mean predictor `x̂₀(x_t, t)`, sampling loops and DDIM inversion.
//!
//! Kept apart from [`crate::schedule`], the continuous-time forward processes of papers 002/003:
//! here a timestep is an `i64` index into `ᾱ_t`
//! ([`Schedule::timestep_to_alpha_bar`](config::Schedule::timestep_to_alpha_bar)), never a time.
//! Golden values from diffusers: `scripts/make_unet_fixtures.py`, `tests/schedulers.rs`.

pub mod config;
pub mod data;
pub mod ddim;
pub mod ddpm;
pub mod image;
pub mod prediction;
pub mod sampling;
pub mod train;

pub use config::{
    BetaSchedule, PredictionType, Schedule, SchedulerConfig, TimestepSpacing, VarianceType,
};
pub use ddim::Ddim;
pub use ddpm::Ddpm;
pub use sampling::{
    ddim_invert, ddim_invert_to, ddim_sample, ddim_sample_from, ddim_sample_from_eta, ddpm_sample,
    invert_and_reconstruct, posterior_mean_x0, Denoiser, Inversion, InvertedPath,
};

/// The shipped digits DDPM (`data/ddpm-digits`, a diffusers model folder of 1 × 8 × 8 images;
/// `data/README.md` gives the command that made it): the default model of the notebooks and the
/// editing demo.
pub fn digits_model_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/ddpm-digits")
}

/// The shipped DDPM of the `molrg` images (`data/ddpm-molrg`, 1 × 8 × 8, trained on the mixture
/// [`data::molrg_mixture`]`(1)`; `data/README.md` gives the command): the model whose Jacobian
/// rank is set beside the MoLRG closed form.
pub fn molrg_model_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/ddpm-molrg")
}

/// The result of one scheduler step.
#[derive(Debug)]
pub struct StepOutput {
    /// `x_{t'}`, the sample at the next (less noisy) timestep.
    pub prev_sample: tch::Tensor,
    /// `x̂₀` as used by the step (clipped if the config says so).
    pub pred_original_sample: tch::Tensor,
}
