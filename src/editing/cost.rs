//! The Jacobian of a model's `x̂₀` at one point, whole, and what its products cost.

use std::time::Instant;

use tch::{Device, Kind, Tensor};

use crate::diffusion::{posterior_mean_x0, Denoiser, Schedule};
use crate::error::{check_count_at_least, Result};
use crate::jacobian::{full_jacobian, jvp, matrix_singular_values, vjp};

/// The full Jacobian `∂x̂₀(x_t, t)/∂x_t`, `[D, D]`, at `x_t: [1, C, H, W]` (D VJPs in batches of
/// 64: for small images).
pub fn jacobian(model: &dyn Denoiser, schedule: &Schedule, x_t: &Tensor, t: i64) -> Result<Tensor> {
    let f = |x: &Tensor| posterior_mean_x0(model, schedule, x, t);
    full_jacobian(&f, x_t, 64)
}

/// All singular values of [`jacobian`], largest first.
pub fn spectrum(
    model: &dyn Denoiser,
    schedule: &Schedule,
    x_t: &Tensor,
    t: i64,
) -> Result<Vec<f64>> {
    matrix_singular_values(&jacobian(model, schedule, x_t, t)?)
}

/// Seconds for one forward pass of `x̂₀` at batch 1, one block of k VJPs and one of k JVPs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProductTimes {
    /// The device.
    pub device: Device,
    /// Directions per block.
    pub k: usize,
    /// One forward pass (batch 1, no graph).
    pub forward: f64,
    /// k VJPs (one backward pass of batch k).
    pub vjp: f64,
    /// k JVPs (double backward of batch k).
    pub jvp: f64,
}

impl ProductTimes {
    /// One subspace-iteration step for the top k: a JVP block and a VJP block.
    pub fn per_iteration(&self) -> f64 {
        self.vjp + self.jvp
    }
    /// The full Jacobian of D rows by VJP blocks of k (without its SVD).
    pub fn full_jacobian(&self, d: usize) -> f64 {
        d as f64 / self.k as f64 * self.vjp
    }
}

/// Times the products at a seeded N(0, I) point of `shape = [C, H, W]` on `device` (each after one
/// untimed warm-up run).
pub fn time_products(
    model: &dyn Denoiser,
    schedule: &Schedule,
    shape: [i64; 3],
    t: i64,
    k: usize,
    device: Device,
) -> Result<ProductTimes> {
    check_count_at_least("k", k, 1)?;
    let f = |x: &Tensor| posterior_mean_x0(model, schedule, x, t);
    let (x, dirs) = crate::torch::with_seed(7, || {
        (
            Tensor::randn([1, shape[0], shape[1], shape[2]], (Kind::Float, device)),
            Tensor::randn(
                [k as i64, shape[0], shape[1], shape[2]],
                (Kind::Float, device),
            ),
        )
    });
    let time = |g: &dyn Fn() -> Result<Tensor>| -> Result<f64> {
        let _ = g()?;
        let start = Instant::now();
        let _ = g()?;
        if let Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
        }
        Ok(start.elapsed().as_secs_f64())
    };
    Ok(ProductTimes {
        device,
        k,
        forward: time(&|| tch::no_grad(|| f(&x)))?,
        vjp: time(&|| vjp(&f, &x, &dirs))?,
        jvp: time(&|| jvp(&f, &x, &dirs))?,
    })
}
