//! The paper-000 subcommands: `linear-kl`, `memorization`, `mixing-time`.

use clap::Args;

use super::args::{self, List};
use super::{finish, Common};
use crate::error::Result;
use crate::experiments::{linear_kl, memorization, mixing_time};
use crate::linear::Sampler;

/// Keeps freed memory in glibc's arenas instead of returning it to the kernel.
///
/// A Monte Carlo trial at d = 100 is a chain of small faer calls that each allocate and free a
/// workspace; with glibc's default thresholds the worker threads' arenas are trimmed after every
/// free and re-faulted on the next allocation: `linear-kl --d 100` spent 1.0 s of 2.7 s in the
/// kernel (page faults, TLB flushes). Fixed thresholds (32 MiB mmap, 64 MiB trim) remove that
/// (sys time 0.01 s, wall 1.5 s). Only the CLI does this (for every subcommand, before any
/// thread starts): it owns the process.
pub(super) fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_MMAP_THRESHOLD: i32 = -3;
        // SAFETY: mallopt only changes glibc's allocation thresholds; it is called before the
        // worker threads start allocating and takes plain integers.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 32 << 20);
            mallopt(M_TRIM_THRESHOLD, 64 << 20);
        }
    }
}

/// A finite number (any sign).
fn finite(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!("expected a finite number, got '{s}'")),
    }
}

fn sampler(s: &str) -> Result<Sampler, String> {
    s.parse()
        .map_err(|_| format!("expected reduced or raw, got '{s}'"))
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub(super) struct LinearKlArgs {
    /// Dimensions (integers >= 1).
    #[arg(long, default_value = "20", value_parser = args::counts(1))]
    d: List<usize>,
    /// Training points (integers >= 2; n <= d gives KL = ∞, H² = 1).
    #[arg(long, default_value = "80,160,800", value_parser = args::counts(2))]
    n: List<usize>,
    /// Noise time T (> 0).
    #[arg(long, default_value = "1", value_parser = args::reals(0.0, true))]
    t: List<f64>,
    /// Noise scale λ (> 0): s² = λ(1 − e^{-2T}).
    #[arg(long, default_value = "0.1", value_parser = args::reals(0.0, true))]
    lambda: List<f64>,
    /// Data standard deviation σ (> 0).
    #[arg(long, default_value = "1", value_parser = args::reals(0.0, true))]
    sigma: List<f64>,
    /// Data mean μ (finite; the divergences do not depend on it).
    #[arg(long, default_value = "3", value_parser = finite)]
    mu: f64,
    /// Trials per grid point (>= 2).
    #[arg(long, default_value = "1000", value_parser = args::count(2))]
    trials: usize,
    /// reduced (sufficient statistics, O(d³) per trial, exact in law) or raw (n points, OLS).
    #[arg(long, default_value = "reduced", value_parser = sampler)]
    sampler: Sampler,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub(super) struct MemorizationArgs {
    /// Dimensions (integers >= 1).
    #[arg(long, default_value = "20", value_parser = args::counts(1))]
    d: List<usize>,
    /// Training points (integers >= 2).
    #[arg(long, default_value = "5,10,20,40,80,160", value_parser = args::counts(2))]
    n: List<usize>,
    /// Points of the original sample (>= 2).
    #[arg(long, default_value = "2000", value_parser = args::count(2))]
    n_orig: usize,
    /// Noise time T (> 0).
    #[arg(long, default_value = "2", value_parser = args::real(0.0, true))]
    t: f64,
    /// Noise scale λ (> 0); the reference uses e^{-2T}.
    #[arg(long, default_value = "0.0183", value_parser = args::real(0.0, true))]
    lambda: f64,
    /// Data standard deviation σ (> 0).
    #[arg(long, default_value = "1", value_parser = args::real(0.0, true))]
    sigma: f64,
    /// Data mean μ (finite).
    #[arg(long, default_value = "10", value_parser = finite)]
    mu: f64,
    /// Re-drawn training sets per grid point (>= 2).
    #[arg(long, default_value = "200", value_parser = args::count(2))]
    trials: usize,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub(super) struct MixingTimeArgs {
    /// Dimensions (integers >= 1).
    #[arg(long, default_value = "10,100", value_parser = args::counts(1))]
    d: List<usize>,
    /// Sample sizes (integers >= 2).
    #[arg(long, default_value = "100,1000,10000", value_parser = args::counts(2))]
    n: List<usize>,
    /// Data standard deviation σ (> 0).
    #[arg(long, default_value = "1", value_parser = args::reals(0.0, true))]
    sigma: List<f64>,
    /// Data sets drawn per point for the empirical bandwidth (>= 1).
    #[arg(long, default_value = "3", value_parser = args::count(1))]
    trials: usize,
    #[command(flatten)]
    common: Common,
}

pub(super) fn linear_kl(a: LinearKlArgs) -> Result<()> {
    let grid = linear_kl::LinearKlGrid {
        d: a.d.0,
        n: a.n.0,
        t: a.t.0,
        lambda: a.lambda.0,
        sigma: a.sigma.0,
        mu: a.mu,
        sampler: a.sampler,
    };
    let before = crate::linear::lanes::kernel_counts();
    let out = linear_kl::run(&grid, &a.common.options(a.trials))?;
    let c = crate::linear::lanes::kernel_counts().since(&before);
    if !a.common.quiet && c.batches > 0 {
        eprintln!(
            "[linear-kl] batched kernels ({}): {} trials in {} batches; sign of det W from the symmetric part for {} of them, from an LU for {}; {} recomputed alone (S too badly conditioned)",
            crate::linear::lanes::instruction_set(),
            c.trials,
            c.batches,
            c.sym_test_trials,
            c.lu_trials,
            c.alone_trials
        );
    }
    let fig = linear_kl::figure(&out.summary)?;
    finish(
        "linear-kl",
        "KL of the linear one-step denoiser: prediction against Monte Carlo (paper 000)",
        &out,
        Some(&fig),
        &a.common,
    )
}

pub(super) fn memorization(a: MemorizationArgs) -> Result<()> {
    let m = memorization::Memorization {
        d: a.d.0,
        n: a.n.0,
        n_orig: a.n_orig,
        t: a.t,
        lambda: a.lambda,
        sigma: a.sigma,
        mu: a.mu,
    };
    let out = memorization::run(&m, &a.common.options(a.trials))?;
    finish(
        "memorization",
        "Memorization statistic P(Δ > 0) of the linear denoiser (paper 000)",
        &out,
        None,
        &a.common,
    )
}

pub(super) fn mixing_time(a: MixingTimeArgs) -> Result<()> {
    let m = mixing_time::MixingTime {
        d: a.d.0,
        n: a.n.0,
        sigma: a.sigma.0,
    };
    let out = mixing_time::run(&m, &a.common.options(a.trials))?;
    finish(
        "mixing-time",
        "Collapse time and kernel bandwidths (paper 000)",
        &out,
        None,
        &a.common,
    )
}
