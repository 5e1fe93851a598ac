//! From the network's output to the two quantities every sampler uses: the predicted clean
//! image `x̂₀` and the predicted noise `ε̂`, given `x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε`.
//!
//! - ε-prediction: `x̂₀ = (x_t − √(1−ᾱ) ε̂)/√ᾱ`;
//! - x₀-prediction: `ε̂ = (x_t − √ᾱ x̂₀)/√(1−ᾱ)`;
//! - v-prediction (Salimans & Ho 2022): `x̂₀ = √ᾱ x_t − √(1−ᾱ) v̂`, `ε̂ = √ᾱ v̂ + √(1−ᾱ) x_t`.
//!
//! For ε- and v-prediction `x̂₀` is the posterior mean `E[x₀ | x_t]` of a perfectly trained model
//! (Tweedie), the predictor paper 004 differentiates.

use tch::Tensor;

use super::config::PredictionType;

/// The predicted clean image and noise at one step.
#[derive(Debug)]
pub struct Prediction {
    /// `x̂₀`.
    pub x0: Tensor,
    /// `ε̂`.
    pub eps: Tensor,
}

/// `x̂₀` and `ε̂` from the network's `output` at `x_t` with cumulative `alpha_bar` (see the module
/// docs). Differentiable in `output` and `x_t`.
pub fn split_prediction(
    kind: PredictionType,
    output: &Tensor,
    x_t: &Tensor,
    alpha_bar: f64,
) -> Prediction {
    let (a, s) = (alpha_bar.sqrt(), (1.0 - alpha_bar).sqrt());
    match kind {
        PredictionType::Epsilon => Prediction {
            x0: (x_t - output * s) / a,
            eps: output.shallow_clone(),
        },
        PredictionType::Sample => Prediction {
            x0: output.shallow_clone(),
            eps: (x_t - output * a) / s,
        },
        PredictionType::VPrediction => Prediction {
            x0: x_t * a - output * s,
            eps: output * a + x_t * s,
        },
    }
}
