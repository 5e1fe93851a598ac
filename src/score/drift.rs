//! The drift of a reverse-time sampler: an estimate of the score `∇log p_t(x)`.
//!
//! [`Drift`] is the one trait every score model implements (the exact scores of [`Posterior`] data
//! through [`ExactScore`], the trained networks of `trained`, the random-feature model of
//! `random_features`, an exact score plus an error field through [`WithError`]); the samplers in
//! `sampler` and the Girsanov weights in `girsanov` take any of them.

use super::{score_batch_into, score_into, Posterior};
use crate::schedule::ForwardProcess;

/// An estimate of the score `∇log p_t(x)`.
pub trait Drift: Sync {
    /// The dimension.
    fn dim(&self) -> usize;
    /// Writes the score estimate at `(t, x)` into `out`.
    fn score(&self, t: f64, x: &[f64], out: &mut [f64]);
    /// The scores of several points at once (`xs`, `out`: `dim` numbers per point, one point after
    /// the other). Drifts with a vectorized kernel override it; the samplers call this one.
    fn score_batch(&self, t: f64, xs: &[f64], out: &mut [f64]) {
        let d = self.dim();
        for (x, o) in xs.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
            self.score(t, x, o);
        }
    }
}

/// The exact score of data with a known posterior mean.
pub struct ExactScore<'a, P: Posterior + ?Sized> {
    /// The data.
    pub data: &'a P,
    /// The forward process the score belongs to.
    pub process: ForwardProcess,
}

impl<P: Posterior + ?Sized> Drift for ExactScore<'_, P> {
    fn dim(&self) -> usize {
        self.data.dim()
    }
    fn score(&self, t: f64, x: &[f64], out: &mut [f64]) {
        score_into(self.data, self.process, t, x, out);
    }
    fn score_batch(&self, t: f64, xs: &[f64], out: &mut [f64]) {
        score_batch_into(self.data, self.process, t, xs, out);
    }
}

/// A drift plus an error field `e(t, x)` (added to the score).
pub struct WithError<D, E> {
    /// The drift being perturbed.
    pub base: D,
    /// The error field.
    pub error: E,
}

impl<D: Drift, E: Fn(f64, &[f64], &mut [f64]) + Sync> Drift for WithError<D, E> {
    fn dim(&self) -> usize {
        self.base.dim()
    }
    fn score(&self, t: f64, x: &[f64], out: &mut [f64]) {
        self.base.score(t, x, out);
        let mut e = vec![0.0; out.len()];
        (self.error)(t, x, &mut e);
        out.iter_mut().zip(&e).for_each(|(o, ei)| *o += ei);
    }
    fn score_batch(&self, t: f64, xs: &[f64], out: &mut [f64]) {
        self.base.score_batch(t, xs, out);
        let d = self.dim();
        let mut e = vec![0.0; d];
        for (x, o) in xs.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
            (self.error)(t, x, &mut e);
            o.iter_mut().zip(&e).for_each(|(oi, ei)| *oi += ei);
        }
    }
}
