//! Memorization or generalization of a denoiser trained on a MoLRG sample (paper 004, Sec. 3).
//!
//! Two denoisers of the same N training points are run through EDM's Heun sampler
//! ([`crate::sampler::heun_edm`], 18 steps, `σ ∈ [0.002, 80]`, `ρ = 7` as in the paper's code):
//!
//! - the *empirical* one, the exact posterior mean of the training points themselves
//!   ([`crate::score::PointCloud`]): the optimum of the DAE loss over all functions, which
//!   reproduces its training points;
//! - the *learned low-rank* one: the MoLRG posterior mean with the bases fitted by PCA (K = 1) or
//!   subspace clustering (K > 1) and the variances of the fit (directions the data do not reach get
//!   variance 0), i.e. the DAE minimizer within the low-rank family.
//!
//! The GL score [inferred; `docs/paper-004-low-rank-mixtures.md`] compares nearest-training-point distances:
//! `GL = E_ŷ[min_i ‖ŷ − x⁽ⁱ⁾‖] / E_y[min_i ‖y − x⁽ⁱ⁾‖]` over generated `ŷ` and fresh draws `y` of the
//! true distribution: ≈ 0 when generated points sit on training points, ≈ 1 when they are as far
//! from them as new data.

use faer::Mat;

use super::model::{Component, LowRankMixture};
use super::training::Fit;
use crate::error::{check_count_at_least, Error, Result};

/// The distance from every column of `queries` to its nearest column of `train` (brute force).
pub fn nearest_distances(queries: &Mat<f64>, train: &Mat<f64>) -> Result<Vec<f64>> {
    if queries.nrows() != train.nrows() {
        return Err(Error::invalid(
            "queries",
            format!("{} rows", queries.nrows()),
            format!(
                "expected {} (the training points' dimension)",
                train.nrows()
            ),
        ));
    }
    check_count_at_least("training points", train.ncols(), 1)?;
    Ok((0..queries.ncols())
        .map(|q| {
            let x = queries.col_as_slice(q);
            (0..train.ncols())
                .map(|i| {
                    train
                        .col_as_slice(i)
                        .iter()
                        .zip(x)
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum::<f64>()
                })
                .fold(f64::INFINITY, f64::min)
                .sqrt()
        })
        .collect())
}

/// A GL score with its two mean distances.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GlScore {
    /// `generated / fresh`.
    pub score: f64,
    /// Mean nearest-training-point distance of the generated points.
    pub generated: f64,
    /// Mean nearest-training-point distance of fresh draws of the truth.
    pub fresh: f64,
}

/// The GL score of `generated` against `fresh` draws, both relative to `train` (all n × ·).
pub fn gl_score(generated: &Mat<f64>, fresh: &Mat<f64>, train: &Mat<f64>) -> Result<GlScore> {
    check_count_at_least("generated points", generated.ncols(), 1)?;
    check_count_at_least("fresh points", fresh.ncols(), 1)?;
    let mean = |v: Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
    let g = mean(nearest_distances(generated, train)?);
    let f = mean(nearest_distances(fresh, train)?);
    Ok(GlScore {
        score: g / f,
        generated: g,
        fresh: f,
    })
}

impl LowRankMixture {
    /// The low-rank mixture a [`Fit`] describes: its bases, its variances, weights proportional to
    /// the cluster sizes (uniform when a cluster is empty), no noise.
    pub fn from_fit(fit: &Fit) -> Result<Self> {
        let k = fit.bases.len();
        let counts: Vec<usize> = (0..k)
            .map(|c| fit.labels.iter().filter(|&&l| l == c).count())
            .collect();
        let comps = fit
            .bases
            .iter()
            .zip(&fit.variances)
            .zip(&counts)
            .map(|((b, v), &n)| Component {
                basis: b.clone(),
                variances: v.clone(),
                weight: n.max(1) as f64,
            })
            .collect();
        LowRankMixture::new(comps, 0.0)
    }
}
