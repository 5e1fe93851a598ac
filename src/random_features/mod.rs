//! Paper 001: generalization of early-stopped random-feature score models.
//!
//! Li, Li, Zhang, Bian, "On the Generalization Properties of Diffusion Models" (NeurIPS 2023). What
//! the abstract states, and this module lets one measure: an early-stopped score model has
//! generalization error `O(n^{-2/5} + m^{-4/5})` in the sample size `n` and the number of random
//! features `m`, with no exponential dependence on the dimension; training too long memorizes; targets
//! whose modes move apart generalize worse. The paper's own equations were not recoverable: **the
//! model below is this library's own setting** [recalled; `docs/paper-001-random-features.md`], built so that every
//! quantity has a closed form and a Monte Carlo estimator that checks it.
//!
//! **Setting.** OU-2 forward process `x_t = e^{-t} x_0 + sqrt(Δ_t) z`, `Δ_t = 1 − e^{-2t}`.
//! - Score model ([`model`]): `s_A(x, t) = A φ(x, t)/m`, `φ = relu(W x/√d + U e(t))`, `W`, `U` fixed
//!   iid `N(0, 1)`, `e(t) = (1, e^{-t}, sqrt(Δ_t))`, readout `A` (d × m) trained from 0.
//! - Training ([`training`]): the denoising score-matching loss over `t ∈ [t₀, T]` on a *fixed*
//!   design (quadrature nodes in time × `K` noise draws per training point), quadratic in `A`, so
//!   gradient flow has the closed form `A(τ) = A* + (A(0) − A*) e^{−τ G}` through the
//!   eigendecomposition of the feature Gram matrix `G` (faer, sequential, so results do not depend on
//!   the thread count); plain gradient descent next to it.
//! - Generalization gap ([`gap`]): `∫_{t₀}^{T} E_{p_t}‖s_A − ∇log p_t‖² dt` against the target's exact
//!   score (Girsanov: it bounds `KL(p_{t₀} ‖ p_gen)` up to `KL(p_T ‖ N(0, I))`), from population
//!   moments estimated once, so the whole curve over training time `τ` costs `O(d m²)` per `τ`, or
//!   straight from the population draws for a short curve ([`gap_curve_direct`]), never forming
//!   the `m × m` moment.
//! - Sample check: reverse SDE driven by `s_{A(τ)}` ([`crate::sampler::ReverseSde`]) and the
//!   k-nearest-neighbour KL estimator ([`crate::knn`]).
//!
//! **Why this design.** Drawing the Monte Carlo over `(x₀, t, z)` once and keeping it fixed makes the
//! empirical loss an exact quadratic, so early stopping is a spectral filter `(1 − e^{−λτ})/λ` on `G`'s
//! eigenvalues and `τ → ∞` is the least-squares readout of the design. What that limit does depends
//! on the target of the regression (measured in `tests/random_features.rs`, d = 2, two modes 4
//! apart): with the noisy denoising targets ([`DsmTarget::Denoising`], the default) the late readout
//! fits the design's noise, the gap rises 20-fold past `τ*` (n = 64, m = 256) and, once `m` reaches
//! the number of rows `N = n Q K`, the sampler diverges; with the empirical score as target
//! ([`DsmTarget::EmpiricalScore`]: the conditional mean of the denoising target under the training
//! set, i.e. the empirical loss with the noise integrated out) and `m ≫ n` the late readout learns
//! the training set's own score and generated points collapse onto the training points (mean
//! nearest-training-point distance 0.38 of a fresh sample's at n = 16, m = 1024) — the memorization
//! the paper describes. Targets: Gaussians and the
//! two-mode mixtures `½ N(−μ e₁, I) + ½ N(μ e₁, I)` ([`crate::score::GaussianMixture::two_modes`];
//! `μ = 0` is `N(0, I)`), whose scores are bounded, so the gap is finite at every `t₀ > 0`.

pub mod gap;
pub mod model;
pub mod training;

pub use gap::{
    gap_curve_direct, gap_curve_of_readouts, gap_mc, population_moments, GapCurve,
    PopulationMoments,
};
pub use model::{time_embedding, RandomFeatures, RfScore, EMBED_DIM};
pub use training::{
    flow_factor, gradient_descent, normal_equations, Design, DsmTarget, GradientFlow,
    NormalEquations, Quadrature,
};
