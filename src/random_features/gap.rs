//! The generalization gap: the population score error of a readout, integrated over time.
//!
//! `gap(A) = ∫_{t₀}^{T} E_{p_t} ‖s_A(X_t, t) − ∇log p_t(X_t)‖² dt`, with `p_t` the OU-2 marginal of
//! the *target* (not the training set) and its exact score. For OU-2 (`g² = 2`) Girsanov gives
//! `KL(p_{t₀} ‖ p_gen) ≤ KL(p_T ‖ N(0, I)) + gap(A)` for the reverse SDE driven by `s_A` from
//! `N(0, I)` at `T`, so the gap is the generalization error the theory bounds.
//!
//! `s_A = A φ/m` is linear in `A`, so with the population moments (quadrature `(t_j, w_j)`)
//! `M = Σ_j w_j E[φ φᵀ]` (m × m), `C = Σ_j w_j E[φ ∇log p_tᵀ]` (m × d), `S = Σ_j w_j E‖∇log p_t‖²`:
//!
//! `gap(A) = tr(A M Aᵀ)/m² − 2 tr(A C)/m + S`.
//!
//! The moments are Monte Carlo averages over fresh draws of `X_t` ([`population_moments`]), computed
//! once; along the gradient flow `A(τ) = B(τ) Vᵀ`, so `gap(τ)` needs only `Vᵀ M V` and `Vᵀ C`
//! ([`GapCurve`]): `O(d m²)` per `τ`. [`gap_curve_direct`] evaluates the same estimator on the same
//! draws without the moments, `O(N m d)` per `τ` for `N` draws and none of the `O(N m²)` of `M`:
//! cheaper for a curve of fewer than about `m/(2d)` times (what `rf-generalization` uses).
//! [`gap_mc`] is the direct estimator of the same integral on its own draws (one score evaluation
//! per draw), which the tests hold the moments against.

use faer::linalg::matmul::matmul;
use faer::prelude::{Reborrow, ReborrowMut};
use faer::{Accum, Mat, MatRef, Par};
use rayon::prelude::*;

use super::model::{RandomFeatures, RfScore};
use super::training::{gram_add_lower, mirror_lower, GradientFlow, Quadrature};
use crate::error::{check_count_at_least, Error, Result};
use crate::rng::SimRng;
use crate::schedule::ForwardProcess;
use crate::score::{sample_xt, score_batch_into, score_l2_error, Posterior};
use crate::stats::Estimate;

/// Draws of `X_t` featurized at a time (bounds the memory to `BLOCK × m`).
const BLOCK: usize = 2048;

/// Draws featurized at a time by [`gap_curve_direct`]: its GEMM output is thin (`rows × d T`), so
/// unlike a Gram update nothing is amortized over many rows, and a block that stays in a core's
/// L2 cache (2 MB at m = 1024) is read back from there (measured: `benches/README.md`).
const DIRECT_BLOCK: usize = 256;

/// Time-integrated population moments of the features and the exact score.
#[derive(Debug, Clone)]
pub struct PopulationMoments {
    /// `M = Σ_j w_j E[φ φᵀ]` (m × m).
    pub second: Mat<f64>,
    /// `C = Σ_j w_j E[φ ∇log p_tᵀ]` (m × d).
    pub cross: Mat<f64>,
    /// `S = Σ_j w_j E‖∇log p_t‖²`: the gap of the zero readout.
    pub score_sq: f64,
}

/// Estimates [`PopulationMoments`] from `samples` fresh draws of `X_t` per node of `quadrature`.
///
/// ```
/// use difftheory::random_features::{population_moments, Quadrature, RandomFeatures};
/// use difftheory::rng::rng_from_seed;
/// use difftheory::score::GaussianMixture;
/// let mut rng = rng_from_seed(1);
/// let f = RandomFeatures::new(2, 8, &mut rng).unwrap();
/// let q = Quadrature::log_midpoint(0.1, 1.0, 2).unwrap();
/// let data = GaussianMixture::two_modes(2, 0.0).unwrap(); // N(0, I) at every t: score −x
/// let mom = population_moments(&f, &data, &q, 20_000, &mut rng).unwrap();
/// assert_eq!(mom.gap(&vec![0.0; 16]), mom.score_sq); // the zero readout's gap is S
/// // S = Σ_j w_j E‖X_t‖² = d Σ_j w_j; Monte Carlo s.e. ≈ 0.01 over 2 × 20 000 draws
/// let total: f64 = q.weights.iter().sum();
/// assert!((mom.score_sq - 2.0 * total).abs() < 0.05);
/// ```
pub fn population_moments<P: Posterior + ?Sized>(
    features: &RandomFeatures,
    data: &P,
    quadrature: &Quadrature,
    samples: usize,
    rng: &mut SimRng,
) -> Result<PopulationMoments> {
    check_count_at_least("population samples", samples, 2)?;
    let (d, m) = (features.dim(), features.count());
    let mut second = Mat::<f64>::zeros(m, m);
    let mut cross = Mat::<f64>::zeros(m, d);
    let mut score_sq = 0.0;
    let block = BLOCK.min(samples);
    let mut phi = Mat::<f64>::zeros(block, m);
    let (mut xs, mut sc) = (vec![0.0; block * d], vec![0.0; block * d]);
    for (&t, &w) in quadrature.times.iter().zip(&quadrature.weights) {
        let scale = w / samples as f64;
        let mut done = 0;
        while done < samples {
            let rows = BLOCK.min(samples - done);
            let (xs, sc) = (&mut xs[..rows * d], &mut sc[..rows * d]);
            for x in xs.chunks_exact_mut(d) {
                x.copy_from_slice(&sample_xt(data, ForwardProcess::Ou, t, rng));
            }
            score_batch_into(data, ForwardProcess::Ou, t, xs, sc);
            score_sq += sc.iter().map(|v| scale * v * v).sum::<f64>();
            let mut p = phi.subrows_mut(0, rows);
            features.features_block(xs, t, 1.0, p.rb_mut());
            gram_add_lower(&mut second, p.rb(), scale);
            matmul(
                cross.as_mut(),
                Accum::Add,
                p.rb().transpose(),
                MatRef::from_row_major_slice(sc, rows, d),
                scale,
                Par::Seq,
            );
            done += rows;
        }
    }
    mirror_lower(&mut second);
    Ok(PopulationMoments {
        second,
        cross,
        score_sq,
    })
}

/// `gap(A(τ))` along a gradient flow at each of `taus`, straight from `samples` fresh draws of
/// `X_t` per node of `quadrature`: `Σ_j w_j (1/N) Σ_r ‖A(τ) φ(x_r, t_j)/m − ∇log p_{t_j}(x_r)‖²`.
///
/// It takes the same draws from `rng`, in the same order, as [`population_moments`], and expanding
/// the square gives `tr(A M Aᵀ)/m² − 2 tr(A C)/m + S` with those moments: the same estimator as
/// `GapCurve::new(flow, &population_moments(..)).gaps(taus)`, equal up to rounding. It never forms
/// `M`: per block of draws one GEMM `Φ [A(τ₁); …; A(τ_T)]ᵀ` (`rows × m` by `m × d T`), so
/// `O(N m d T)` instead of `O(N m²)` for the moments and `O(m³)` for their rotation — the cheaper
/// way when the curve has fewer than about `m/(2d)` times. Summing squares, it is also free of the
/// cancellation of the expanded form.
///
/// ```
/// use difftheory::random_features::*;
/// use difftheory::rng::rng_from_seed;
/// use difftheory::score::{GaussianMixture, Posterior};
/// let mut rng = rng_from_seed(3);
/// let data = GaussianMixture::two_modes(2, 1.0).unwrap();
/// let f = RandomFeatures::new(2, 16, &mut rng).unwrap();
/// let train: Vec<Vec<f64>> = (0..32).map(|_| data.sample(&mut rng)).collect();
/// let q = Quadrature::log_midpoint(0.05, 2.0, 4).unwrap();
/// let design = Design { quadrature: q.clone(), noise_draws: 1, target: DsmTarget::Denoising };
/// let flow = GradientFlow::new(&normal_equations(&f, &train, &design, &mut rng).unwrap()).unwrap();
/// let taus = [0.0, 1.0, 100.0];
/// let direct = gap_curve_direct(&flow, &f, &data, &q, 500, &taus, &mut rng_from_seed(9)).unwrap();
/// let mom = population_moments(&f, &data, &q, 500, &mut rng_from_seed(9)).unwrap();
/// let expanded = GapCurve::new(&flow, &mom).gaps(&taus);
/// assert!(direct.iter().zip(&expanded).all(|(a, b)| (a - b).abs() < 1e-10 * (1.0 + b)));
/// ```
pub fn gap_curve_direct<P: Posterior + ?Sized>(
    flow: &GradientFlow,
    features: &RandomFeatures,
    data: &P,
    quadrature: &Quadrature,
    samples: usize,
    taus: &[f64],
    rng: &mut SimRng,
) -> Result<Vec<f64>> {
    check_count_at_least("population samples", samples, 2)?;
    let (d, m) = (features.dim(), features.count());
    if flow.rv.nrows() != d || flow.rv.ncols() != m {
        return Err(Error::invalid(
            "gradient flow",
            format!("{} × {}", flow.rv.nrows(), flow.rv.ncols()),
            format!("expected a readout of d × m = {d} × {m}, as the features"),
        ));
    }
    let at = flow.readouts_transposed(taus)?;
    gap_curve_of_readouts(at.as_ref(), features, data, quadrature, samples, rng)
}

/// The second half of [`gap_curve_direct`]: the gap of every readout of `at` (`m × d·T`, column
/// `k d + i` row `i` of the `k`-th readout, as [`GradientFlow::readouts_transposed`] gives them) on
/// fresh population draws: per node, the features of the draws and one GEMM `Φ · at`.
pub fn gap_curve_of_readouts<P: Posterior + ?Sized>(
    at: MatRef<'_, f64>,
    features: &RandomFeatures,
    data: &P,
    quadrature: &Quadrature,
    samples: usize,
    rng: &mut SimRng,
) -> Result<Vec<f64>> {
    check_count_at_least("population samples", samples, 2)?;
    let (d, m) = (features.dim(), features.count());
    if at.nrows() != m || at.ncols() % d != 0 {
        return Err(Error::invalid(
            "readouts",
            format!("{} × {}", at.nrows(), at.ncols()),
            format!("expected m × (d · times) with m = {m}, d = {d}, as the features"),
        ));
    }
    let count = at.ncols() / d;
    let mut gaps = vec![0.0; count];
    let block = DIRECT_BLOCK.min(samples);
    let (mut xs, mut sc) = (vec![0.0; samples * d], vec![0.0; samples * d]);
    for (&t, &w) in quadrature.times.iter().zip(&quadrature.weights) {
        // the node's draws in the rng's order, then its blocks in parallel (rayon, nested in a
        // sweep's): each block's sums come back in block order, so the result does not depend
        // on the thread count
        for x in xs.chunks_exact_mut(d) {
            x.copy_from_slice(&sample_xt(data, ForwardProcess::Ou, t, rng));
        }
        score_batch_into(data, ForwardProcess::Ou, t, &xs, &mut sc);
        let sums: Vec<Vec<f64>> = xs
            .par_chunks(block * d)
            .zip(sc.par_chunks(block * d))
            .map_init(
                || {
                    (
                        Mat::<f64>::zeros(block, m),
                        Mat::<f64>::zeros(block, d * count),
                    )
                },
                |(phi, fitted), (xb, sb)| {
                    let rows = xb.len() / d;
                    let mut p = phi.subrows_mut(0, rows);
                    features.features_block(xb, t, 1.0, p.rb_mut());
                    let mut fit = fitted.subrows_mut(0, rows);
                    matmul(
                        fit.rb_mut(),
                        Accum::Replace,
                        p.rb(),
                        at,
                        1.0 / m as f64,
                        Par::Seq,
                    );
                    (0..count)
                        .map(|k| {
                            let mut sum = 0.0;
                            for i in 0..d {
                                let col = fit.rb().col(k * d + i);
                                for r in 0..rows {
                                    let e = col[r] - sb[r * d + i];
                                    sum += e * e;
                                }
                            }
                            sum
                        })
                        .collect()
                },
            )
            .collect();
        let scale = w / samples as f64;
        for block_sums in &sums {
            for (g, s) in gaps.iter_mut().zip(block_sums) {
                *g += scale * s;
            }
        }
    }
    Ok(gaps)
}

impl PopulationMoments {
    /// `gap(A) = tr(A M Aᵀ)/m² − 2 tr(A C)/m + S` for a readout `a` (row-major d × m).
    pub fn gap(&self, a: &[f64]) -> f64 {
        let (m, d) = (self.cross.nrows(), self.cross.ncols());
        let am = Mat::from_fn(d, m, |i, j| a[i * m + j]);
        quadratic_gap(&am, &self.second, &self.cross, self.score_sq)
    }
}

/// `tr(B M Bᵀ)/m² − 2 tr(B C)/m + S` for B (d × m), M (m × m), C (m × d).
fn quadratic_gap(b: &Mat<f64>, second: &Mat<f64>, cross: &Mat<f64>, s: f64) -> f64 {
    let (d, m) = (b.nrows(), b.ncols());
    let mut bm = Mat::<f64>::zeros(d, m);
    matmul(&mut bm, Accum::Replace, b, second, 1.0, Par::Seq);
    let (mut quad, mut lin) = (0.0, 0.0);
    for i in 0..d {
        for j in 0..m {
            quad += bm[(i, j)] * b[(i, j)];
            lin += b[(i, j)] * cross[(j, i)];
        }
    }
    let mf = m as f64;
    // a sum of squares: clamp the rounding below zero
    (quad / (mf * mf) - 2.0 * lin / mf + s).max(0.0)
}

/// The gap along a gradient flow: the moments rotated once into the flow's eigenbasis.
#[derive(Debug, Clone)]
pub struct GapCurve<'a> {
    flow: &'a GradientFlow,
    second: Mat<f64>,
    cross: Mat<f64>,
    score_sq: f64,
}

impl<'a> GapCurve<'a> {
    /// Rotates `M` and `C` into the eigenbasis `V` of the flow: `Vᵀ M V`, `Vᵀ C`.
    pub fn new(flow: &'a GradientFlow, moments: &PopulationMoments) -> Self {
        let v = &flow.eigenvectors;
        let m = v.nrows();
        let mut mv = Mat::<f64>::zeros(m, m);
        matmul(&mut mv, Accum::Replace, &moments.second, v, 1.0, Par::Seq);
        let mut second = Mat::<f64>::zeros(m, m);
        matmul(
            &mut second,
            Accum::Replace,
            v.transpose(),
            &mv,
            1.0,
            Par::Seq,
        );
        let mut cross = Mat::<f64>::zeros(m, moments.cross.ncols());
        matmul(
            &mut cross,
            Accum::Replace,
            v.transpose(),
            &moments.cross,
            1.0,
            Par::Seq,
        );
        Self {
            flow,
            second,
            cross,
            score_sq: moments.score_sq,
        }
    }

    /// `gap(A(τ))`.
    pub fn gap(&self, tau: f64) -> f64 {
        quadratic_gap(
            &self.flow.eigen_readout(tau),
            &self.second,
            &self.cross,
            self.score_sq,
        )
    }

    /// `gap(A(τ))` at each of `taus`.
    pub fn gaps(&self, taus: &[f64]) -> Vec<f64> {
        taus.iter().map(|&t| self.gap(t)).collect()
    }
}

/// Direct Monte Carlo of the gap: `Σ_j w_j E_{p_{t_j}} ‖s_A − ∇log p_{t_j}‖²` from `samples` draws
/// per node; the standard error combines the nodes' (`sqrt(Σ w_j² sem_j²)`).
pub fn gap_mc<P: Posterior + ?Sized>(
    model: &RfScore<'_>,
    data: &P,
    quadrature: &Quadrature,
    samples: usize,
    rng: &mut SimRng,
) -> Result<Estimate> {
    let (mut mean, mut var) = (0.0, 0.0);
    for (&t, &w) in quadrature.times.iter().zip(&quadrature.weights) {
        let e = score_l2_error(model, data, ForwardProcess::Ou, t, samples, rng)?;
        mean += w * e.mean;
        var += w * w * e.sem * e.sem;
    }
    Ok(Estimate {
        mean,
        sem: var.sqrt(),
        n: samples * quadrature.times.len(),
    })
}
