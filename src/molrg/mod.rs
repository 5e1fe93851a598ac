//! Paper 004: mixtures of low-rank Gaussians (MoLRG), their exact denoiser, and training it.
//!
//! Wang, Zhang, Zhang, Chen, Ma, Qu, "Diffusion Models Learn Low-Dimensional Distributions via
//! Subspace Clustering" (`docs/paper-004-low-rank-mixtures.md`).
//!
//! - [`model`]: the mixture `Σ_k π_k N(0, U_k Λ_k U_kᵀ + σ_ξ² I)` and its samples (one point per
//!   column of an `n × N` matrix).
//! - [`posterior`]: Lemma 1's posterior mean `E[x₀ | x_t]` as a soft-max mixture of projections, its
//!   Jacobian in closed form, the numerical rank `rank_η` (eq. 46), a Monte Carlo estimator of the
//!   posterior mean to hold the closed form to; the mixture is a [`crate::score::Posterior`], so
//!   every sampler of the crate runs on it.
//! - [`training`]: the DAE loss of the low-rank denoiser and its three minimizers — SGD on the loss,
//!   PCA (Thms 1–2), K-subspaces clustering (Thms 3–4) — and the permutation-invariant subspace error
//!   with its success threshold.
//! - [`generalization`]: sampling with the learned and with the empirical denoiser, the GL score.

pub mod generalization;
pub mod model;
pub mod posterior;
pub mod training;

/// The matrix type of this module (faer's), re-exported for notebooks that build bases by hand.
pub use faer::Mat;

pub use generalization::{gl_score, nearest_distances, GlScore};
pub use model::{random_orthonormal, Bases, Component, LowRankMixture, MolrgParams, Sample};
pub use posterior::{numerical_rank, singular_values, Kernel, McPosteriorMean, PosteriorMean};
pub use training::{
    dae_loss_mc, dae_loss_single, fit, k_subspaces, noisy_crossing, noisy_pca_error, pca,
    projection_distance, sgd, sgd_from, subspace_error, Fit, KSubspaces, Recovery, SgdConfig,
    Solver, SUCCESS_THRESHOLD,
};
