//! Paper 000: memorization to generalization with a linear, one-step denoiser.
//!
//! Halder et al., "From memorization to generalization: a theoretical framework for diffusion-based
//! generative models" (later "A solvable generative model with a linear, one-step denoiser").
//! `docs/paper-000-linear-denoiser.md`; the finite-n prediction is the library's own derivation
//! (the paper's B.5–B.17 were not recoverable), proved here by Monte Carlo.
//!
//! # The model ([`model`])
//! Data `x₀ ~ N(μ1, σ²I_d)`, n training points. Noisy input `x_T = a x₀ + s z`, `a = e^{-T}`,
//! `s² = λ(1 − e^{-2T})`. The denoiser is ordinary least squares with intercept,
//! `W = X_cᵀY_c (Y_cᵀY_c)⁻¹`, `b = x̄₀ − W x̄_T` (minimum norm when n ≤ d). Sampling
//! `x_T ~ N(a x̄₀, v_T I)`, `v_T = a²σ̂² + s²` gives the generated Gaussian
//! `p_gen = N(μ_g, v_T W Wᵀ)`, `μ_g = b + a W x̄₀`.
//!
//! # Distances ([`distances`])
//! `KL(p_orig ‖ p_gen) = KL_μ + KL_Σ` ([`distances::KlParts`]), Hellinger `H²`, all through
//! log-determinants (the reference code underflows `det` at d = 100). n ≤ d: `Σ_g` is singular and
//! `KL = ∞`, `H² = 1` are returned as values. The squared-L² distance between a Gaussian and a
//! Gaussian KDE is a sum of Gaussian overlaps ([`distances::L2Parts`]); the element-wise metric of
//! the non-linear experiments is [`distances::elementwise_l2`].
//!
//! # The prediction ([`mod@prediction`])
//! Everything depends on `(d, n, κ²)` only, `κ² = s²/(a²σ²)`, `r = 1/(1+κ²)` (μ and the overall
//! scale drop out: the pipeline is translation- and scale-equivariant).
//!
//! *Exact reduction.* Regressing x on y in the population gives `W_pop = (r/a) I`. In the
//! (n−1)-dimensional centred space, with a QR decomposition of the standardised noisy data
//! `Y′ = U R` (`RᵀR = Q ~ Wishart(n−1, I_d)`, Bartlett law) and `Ξ = UᵀE′` (d×d iid N(0,1),
//! independent of R),
//!
//! ```text
//! W = (r/a) M,  M = I + κ G,  G = Ξᵀ R⁻ᵀ,
//! σ̂²/σ² = τ = [r‖R‖² + 2√(r(1−r)) tr(ΞᵀR) + (1−r)(‖Ξ‖² + χ²_{(m−d)d})]/(m d),   m = n − 1,
//! ρ = v_T/(a²σ² + s²) = rτ + 1 − r,   Σ_g/σ² = rρ MMᵀ,   δ/σ = ḡ − κ r M z̄,  ḡ, z̄ ~ N(0, I/n).
//! ```
//!
//! The law of (W, δ) only enters through quantities invariant under `(W, δ) → (VᵀWV, Vᵀδ)`, V
//! orthogonal, so R may be replaced by the Golub–Kahan bidiagonal factor B of `Y′ = U_b B Vᵀ`
//! (`B_ii = χ_{m−i}`, `B_{i,i+1} = χ_{d−1−i}`, independent), with `Ξ′ = U_bᵀE′V` iid in place of Ξ:
//! `G = V Ξ′ᵀB⁻ᵀ Vᵀ` and the three σ̂² terms are unchanged (`‖R‖ = ‖B‖`, `tr ΞᵀR = tr Ξ′ᵀB`).
//! This is the *reduced* sampler ([`monte_carlo::Sampler::Reduced`], O(d³) per trial whatever n,
//! `B⁻¹Ξ′` an O(d²) recursion; [`lanes`] runs eight trials at once, one per SIMD lane); the *raw*
//! sampler fits the OLS on n drawn points (O(n d²)); the tests hold the two together.
//! Then exactly `KL_Σ = ½[(1+κ²) tr(MMᵀ)⁻¹/ρ − d − d ln(1+κ²) + d ln ρ + 2 ln|det M|]` and
//! `E[KL_μ | M, ρ] = (1/2n)[(1+κ²) tr(MMᵀ)⁻¹/ρ + dκ²/((1+κ²)ρ)]`.
//!
//! *n → ∞:* `KL_∞ = (d/2)[κ² − ln(1+κ²)]`, `H²_∞ = 1 − (2√r/(1+r))^{d/2}`.
//! *Leading order:* `E[KL] ≈ KL_∞ + (d²/2n) κ²(1+κ²) + (d/n)[1 + κ² + κ⁴ − 1/(2(1+κ²))]` — the d²/n
//! excess of the paper.
//! *Finite n:* with the inverse-Wishart moments `p₂ = E tr Q⁻¹ = d/(n−d−2)`, `p₄ = E tr Q⁻²`, the
//! resummation parameter **`q = κ² p₂ = κ²d/(n−d−2)`** (squared radius of the Brown measure of κG)
//! and `w = 1/(1−q)`, a real Stein identity gives
//! `E tr(MMᵀ)⁻¹ = d w + 2q w² + 2ε w³ + O(1/d)` (`ε = dκ⁴p₄`) and `E ln|det M| = ½ ln(1−q)`;
//! the O(1/d) terms come from an exact Wick enumeration (series coefficients through κ¹⁰), the
//! O(1/n) terms from σ̂² (τ ~ χ²_{md}/(md)). [`prediction::prediction`] has the full formula.
//!
//! # Where it holds — and the heavy tail
//! **E\[KL\] is infinite for every finite n**: `tr Σ_g⁻¹ ∝ ‖W⁻¹‖²_F` and the smallest singular
//! value of W has a positive density at 0, so `P(tr(WWᵀ)⁻¹ > t) ~ c/√t`. The prediction is the bulk
//! value a finite Monte Carlo sees when near-singular draws are rare (`N·P(near-singular) ≪ 1`).
//! The controlling parameter is q, not n/d: the prediction is within ~2 s.e. of a tail-free MC
//! (4000 trials) for `q ≲ 0.35` ([`prediction::Q_ACCURATE`]); for `q ≥ 1` the bulk expectation
//! itself diverges and the prediction is `∞` (H²: NaN); it needs `n ≥ d + 7`. A Monte Carlo cell is
//! flagged *tail-dominated* when a trial has `det W < 0` (W crossed a singularity) or one trial
//! carries more than 1 % of the KL sum; its median is reported beside the mean. `ln|det W|` is
//! integrable, so `H²` (bounded) is always fine.
//!
//! # Mixing time, bandwidths, memorization ([`mixing`], [`memorization`])
//! Random-energy-model collapse time `t_C = ½ ln(1 + σ²/(n^{2/d} − 1))`, the Silverman bandwidth
//! `h² = σ²[4/((d+2)n)]^{2/(d+4)}`, and the bandwidth minimising the closed-form squared-L²
//! distance between the truth and the KDE of n samples. `Δ = D(p_gen, p_train) − D(p_gen, p_orig)`
//! with squared-L² D and KDEs of bandwidth `ε_n = σ n^{-1/d}`; `P(Δ > 0)` over re-drawn training
//! sets goes from 0 (memorization) to near 1.

pub mod distances;
pub mod draws;
pub mod lanes;
pub mod memorization;
pub mod mixing;
pub mod model;
pub mod monte_carlo;
pub mod prediction;

pub use distances::{Divergences, KlParts};
pub use model::LinearParams;
pub use monte_carlo::{monte_carlo, McSummary, Sampler};
pub use prediction::{prediction, prediction_leading, Prediction};
