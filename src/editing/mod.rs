//! The Jacobian of a pixel-space diffusion model's posterior-mean predictor at work (feature
//! `torch`; paper 004, Sec. 4.2 / App. E.4 and Fig. 3):
//!
//! - [`edit`]: invert an image with DDIM to a time t, find the leading right singular vectors `v_i`
//!   of `J = ∂x̂₀(x_t, t)/∂x_t` by block subspace iteration ([`crate::jacobian::top_singular`], never
//!   forming J), move `x_t' = x_t + λ v_i` for a list of strengths and run DDIM back to 0; a random
//!   unit direction at the same λ is the control. Per direction and strength it measures
//!   `‖x̂₀(x_t + λ v_i) − x̂₀(x_t)‖` against the first-order prediction `|λ| σ_i`.
//! - [`rank_along_trajectories`]: the numerical rank (η = 0.99) of the full Jacobian at the points a
//!   DDIM trajectory passes at chosen signal-to-noise ratios, beside the closed form of
//!   [`crate::molrg`] when the model was trained on the `molrg` images.
//!
//! Time and SNR of the discrete schedule: timestep `t` of `T` has `SNR_t = sqrt(ᾱ_t/(1 − ᾱ_t))`
//! (the kernel `x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε`, i.e. EDM's `1/σ`, paper 004's convention); "t = 0.7" in the editing settings means the inference
//! timestep nearest to 0.7 T, as the paper's `t = 0.7T`.

mod cost;
mod edit;
mod rank;

pub use cost::{jacobian, spectrum, time_products, ProductTimes};
pub use edit::{
    edit, find_directions, start_index, EditDirections, EditOutcome, EditRow, EditSettings, Region,
};
pub use rank::{rank_along_trajectories, timestep_for_snr, RankPoint, RankSettings};
