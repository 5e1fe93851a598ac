//! The sinusoidal timestep embedding and its MLP (diffusers' `Timesteps` and
//! `TimestepEmbedding`), after Ho, Jain & Abbeel (2020), itself after the Transformer's positional
//! encoding.

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// `get_timestep_embedding`: for timesteps `t` of shape `[B]` (any numeric kind) and width
/// `dim`, `h = dim / 2` frequencies `f_k = exp(−ln(10000) k / (h − freq_shift))`, k = 0..h, and
/// `[sin(t f), cos(t f)]` (`[cos, sin]` when `flip_sin_to_cos`), zero-padded to `dim` when odd.
/// Returns `[B, dim]` in f32 on the device of `t`.
pub fn timestep_embedding(
    t: &Tensor,
    dim: usize,
    flip_sin_to_cos: bool,
    freq_shift: f64,
) -> Tensor {
    let half = (dim / 2) as i64;
    // the same operations in the same order as diffusers, so that f32 rounding agrees
    let exponent = Tensor::arange(half, (Kind::Float, t.device())) * (-(10000f64.ln()))
        / (half as f64 - freq_shift);
    let freqs = exponent.exp();
    let args = t.to_kind(Kind::Float).unsqueeze(1) * freqs.unsqueeze(0);
    let emb = if flip_sin_to_cos {
        Tensor::cat(&[args.cos(), args.sin()], -1)
    } else {
        Tensor::cat(&[args.sin(), args.cos()], -1)
    };
    if dim % 2 == 1 {
        emb.constant_pad_nd([0, 1, 0, 0])
    } else {
        emb
    }
}

/// `TimestepEmbedding`: `linear_2(silu(linear_1(e)))` (SiLU whatever the U-Net's `act_fn`, as in
/// diffusers' `UNet2DModel`).
#[derive(Debug)]
pub struct TimestepMlp {
    linear_1: nn::Linear,
    linear_2: nn::Linear,
}

impl TimestepMlp {
    /// Parameters under `vs` (`linear_1`, `linear_2`).
    pub fn new(vs: nn::Path, in_dim: usize, out_dim: usize) -> Self {
        Self {
            linear_1: nn::linear(
                &vs / "linear_1",
                in_dim as i64,
                out_dim as i64,
                Default::default(),
            ),
            linear_2: nn::linear(
                &vs / "linear_2",
                out_dim as i64,
                out_dim as i64,
                Default::default(),
            ),
        }
    }

    /// `[B, in_dim] → [B, out_dim]`.
    pub fn forward(&self, e: &Tensor) -> Tensor {
        self.linear_2.forward(&self.linear_1.forward(e).silu())
    }
}
