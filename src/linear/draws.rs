//! The reduced sampler's draws, defined once: what a trial of
//! [`trial_reduced`](super::monte_carlo::trial_reduced) draws, and in which order, so that the
//! one-trial path and the eight-lane path ([`trials_reduced`](super::lanes::trials_reduced)) draw
//! exactly the same numbers from the same stream.
//!
//! A trial's stream is [`trial_stream`] (Xoshiro256++ seeded from the sweep's generator). From it,
//! in this order:
//!
//! 1. `bidiagonal`: B row by row, `B_ii = χ_{m−i}`, then `B_{i,i+1} = χ_{d−1−i}` (0 in the last row);
//! 2. `xi`: Ξ′, d × d iid N(0, 1), column by column (rows in order within a column);
//! 3. `tail`: `χ²_{(m−d)d}` (0 when m = d), then ḡ, then z̄, each d iid N(0, 1/n).
//!
//! `xi` draws for several streams at once, element by element across the streams (independent
//! generator chains overlap in the CPU); each stream still sees the order above.

use rand::{Rng, SeedableRng};
use rand_distr::{ChiSquared, Distribution, StandardNormal};

use crate::rng::PathRng;

/// The generator a Monte Carlo trial draws from: Xoshiro256++ seeded with 256 bits of `rng`.
/// A trial draws `d²` (reduced) to `2nd` (raw) normals; ChaCha12 spends ~3 ns on each of them,
/// Xoshiro256++ ~1 ns. The stream of trial i is still fixed by the sweep's `(seed, i)`.
pub fn trial_stream<R: Rng + ?Sized>(rng: &mut R) -> PathRng {
    PathRng::from_rng(rng)
}

/// A χ²_k variate (k > 0).
pub(crate) fn chi2<R: Rng + ?Sized>(rng: &mut R, k: f64) -> f64 {
    ChiSquared::new(k).expect("k > 0").sample(rng)
}

/// One standard normal.
#[inline(always)]
pub(crate) fn normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    Distribution::<f64>::sample(&StandardNormal, rng)
}

/// Step 1: the bidiagonal B of `m = n − 1` standardised noisy points in d dimensions;
/// `put(i, B_ii, B_{i,i+1})` for i = 0 … d−1.
#[inline(always)]
pub(crate) fn bidiagonal<R: Rng + ?Sized>(
    g: &mut R,
    d: usize,
    m: usize,
    mut put: impl FnMut(usize, f64, f64),
) {
    for i in 0..d {
        let diag = chi2(g, (m - i) as f64).sqrt();
        let sup = if i + 1 < d {
            chi2(g, (d - 1 - i) as f64).sqrt()
        } else {
            0.0
        };
        put(i, diag, sup);
    }
}

/// Step 2: Ξ′ for every stream in `streams`; `put(j, i, s, x)` sets element (i, j) of stream s's
/// Ξ′. Column by column, rows in order, the streams interleaved element by element.
#[inline(always)]
pub(crate) fn xi(streams: &mut [PathRng], d: usize, mut put: impl FnMut(usize, usize, usize, f64)) {
    for j in 0..d {
        for i in 0..d {
            for (s, g) in streams.iter_mut().enumerate() {
                put(j, i, s, normal(g));
            }
        }
    }
}

/// Step 3 of one stream: `χ²_{(m−d)d}` (0 when m = d), then ḡ and z̄ (N(0, 1/n) each, written
/// through `gbar(i, x)` and `zbar(i, x)`). Returns the χ².
#[inline(always)]
pub(crate) fn tail<R: Rng + ?Sized>(
    g: &mut R,
    d: usize,
    m: usize,
    n: usize,
    mut gbar: impl FnMut(usize, f64),
    mut zbar: impl FnMut(usize, f64),
) -> f64 {
    let chi_perp = if m > d {
        chi2(g, ((m - d) * d) as f64)
    } else {
        0.0
    };
    let sqrt_n = (n as f64).sqrt();
    for i in 0..d {
        gbar(i, normal(g) / sqrt_n);
    }
    for i in 0..d {
        zbar(i, normal(g) / sqrt_n);
    }
    chi_perp
}
