//! Gaussian kernel density estimates: overlaps, squared L² distances, and the element-wise metric.

use faer::linalg::matmul::matmul;

use faer::linalg::triangular_solve::solve_lower_triangular_in_place;
use faer::{Accum, Mat, MatRef, Par, Side};
use rayon::prelude::*;

use super::columns::clear_avx_upper;
use super::LN_2PI;
use crate::error::{Error, Result};

/// `ln Σ_k e^{x_k}` without overflow (`−∞` for an empty slice).
pub fn log_sum_exp(xs: &[f64]) -> f64 {
    let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    m + xs.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

/// `ln ∫ N(x; mean, cov) p̂(x) dx = ln (1/N) Σ_j N(x_j; mean, cov + ε²I)`: the overlap of a
/// Gaussian and the Gaussian KDE of the columns of `points` (d×N) with bandwidth ε.
/// `cov` may be singular when ε > 0. Cost `d²N + d³/3`.
///
/// ```
/// use difftheory::linear::distances::ln_gaussian_kde_overlap;
/// use faer::Mat;
/// // one point at the mean, cov = 0, ε = 1 in d = 1: N(0; 0, 1)
/// let pts = Mat::<f64>::zeros(1, 1);
/// let v = ln_gaussian_kde_overlap(&[0.0], Mat::<f64>::zeros(1, 1).as_ref(), pts.as_ref(), 1.0).unwrap();
/// assert!((v + 0.5 * (2.0 * std::f64::consts::PI).ln()).abs() < 1e-14);
/// ```
pub fn ln_gaussian_kde_overlap(
    mean: &[f64],
    cov: MatRef<'_, f64>,
    points: MatRef<'_, f64>,
    eps: f64,
) -> Result<f64> {
    let (d, n) = (points.nrows(), points.ncols());
    if mean.len() != d || cov.nrows() != d || cov.ncols() != d || n == 0 {
        return Err(Error::invalid(
            "points",
            format!("{d}x{n}"),
            format!(
                "expected d×N points (N >= 1) matching a mean of length {} and a covariance {}x{}",
                mean.len(),
                cov.nrows(),
                cov.ncols()
            ),
        ));
    }
    let mut c = cov.to_owned();
    for i in 0..d {
        c[(i, i)] += eps * eps;
    }
    let llt = c.llt(Side::Lower).map_err(|_| {
        Error::invalid(
            "cov",
            "not positive definite",
            "cov + eps² I must be positive definite (eps > 0 or a nonsingular cov)",
        )
    })?;
    let l = llt.L();
    let ln_det: f64 = 2.0 * (0..d).map(|i| l[(i, i)].ln()).sum::<f64>();
    let mut z = Mat::from_fn(d, n, |i, j| points[(i, j)] - mean[i]);
    solve_lower_triangular_in_place(l, z.as_mut(), Par::Seq);
    clear_avx_upper();
    let e: Vec<f64> = (0..n).map(|j| -0.5 * z.col(j).squared_norm_l2()).collect();
    Ok(log_sum_exp(&e) - (n as f64).ln() - 0.5 * (d as f64 * LN_2PI + ln_det))
}

/// `ln ∫ p̂² = ln (1/N²) Σ_{i,j} N(x_i − x_j; 0, 2ε²I)`: the self-overlap of the Gaussian KDE of
/// the columns of `points` (d×N), bandwidth ε. Blocked Gram products, parallel over blocks:
/// `N²d` flops.
///
/// ```
/// use difftheory::linear::distances::ln_kde_self_overlap;
/// use faer::Mat;
/// // one point in d = 2: N(0; 0, 2ε²I) = 1/(4πε²)
/// let v = ln_kde_self_overlap(Mat::<f64>::zeros(2, 1).as_ref(), 0.5).unwrap();
/// assert!((v + (std::f64::consts::PI).ln()).abs() < 1e-14);
/// ```
pub fn ln_kde_self_overlap(points: MatRef<'_, f64>, eps: f64) -> Result<f64> {
    let (d, n) = (points.nrows(), points.ncols());
    if n == 0 || d == 0 {
        return Err(Error::invalid(
            "points",
            format!("{d}x{n}"),
            "expected at least one point in d >= 1",
        ));
    }
    crate::error::check_finite_at_least("eps", eps, 0.0, true)?;
    let scale = 1.0 / (4.0 * eps * eps);
    // Σ_{ij} exp(−|x_i − x_j|²/(4ε²)): every term <= 1 and the diagonal gives N, so no overflow
    let sum = pair_kernel_sum(points, |d2| (-d2 * scale).exp());
    let df = d as f64;
    Ok(sum.ln() - 2.0 * (n as f64).ln() - 0.5 * df * (4.0 * std::f64::consts::PI * eps * eps).ln())
}

/// `Σ_{i,j} f(|x_i − x_j|²)` over all ordered pairs (i = j included) of the columns of `points`.
pub(crate) fn pair_kernel_sum(points: MatRef<'_, f64>, f: impl Fn(f64) -> f64 + Sync) -> f64 {
    let n = points.ncols();
    let norms: Vec<f64> = (0..n).map(|j| points.col(j).squared_norm_l2()).collect();
    let block = 256;
    let blocks: Vec<usize> = (0..n).step_by(block).collect();
    blocks
        .par_iter()
        .map(|&i0| {
            let bi = block.min(n - i0);
            let rows = points.subcols(i0, bi);
            let mut g = Mat::<f64>::zeros(bi, n);
            matmul(
                g.as_mut(),
                Accum::Replace,
                rows.transpose(),
                points,
                1.0,
                Par::Seq,
            );
            clear_avx_upper();
            let mut s = 0.0;
            for j in 0..n {
                for i in 0..bi {
                    let d2 = (norms[i0 + i] + norms[j] - 2.0 * g[(i, j)]).max(0.0);
                    s += f(if i0 + i == j { 0.0 } else { d2 });
                }
            }
            s
        })
        .sum()
}

/// `∫ N(x; m, Σ)² dx = (4π)^{-d/2} det Σ^{-1/2}`, as a logarithm (`∞` for a singular Σ).
pub fn ln_gaussian_self_overlap(cov: MatRef<'_, f64>) -> f64 {
    let d = cov.nrows();
    match cov.llt(Side::Lower) {
        Ok(llt) => {
            let l = llt.L();
            let ln_det: f64 = 2.0 * (0..d).map(|i| l[(i, i)].ln()).sum::<f64>();
            -0.5 * (d as f64 * (4.0 * std::f64::consts::PI).ln() + ln_det)
        }
        Err(_) => f64::INFINITY,
    }
}

/// The squared-L² distance `∫(p − p̂)² = ∫p² − 2∫p p̂ + ∫p̂²` between a Gaussian p and a KDE p̂,
/// each term kept as a logarithm (at d = 100 they are of order e^{±100}).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct L2Parts {
    /// `ln ∫p²`.
    pub ln_gauss_gauss: f64,
    /// `ln ∫p p̂`.
    pub ln_gauss_kde: f64,
    /// `ln ∫p̂²`.
    pub ln_kde_kde: f64,
}

impl L2Parts {
    /// `∫(p − p̂)²` (may overflow to ∞ in high dimension; differences of parts are what matter).
    pub fn value(&self) -> f64 {
        self.ln_gauss_gauss.exp() - 2.0 * self.ln_gauss_kde.exp() + self.ln_kde_kde.exp()
    }
}

/// The closed-form squared-L² distance between `N(mean, cov)` and the KDE of `points` (d×N,
/// bandwidth ε): three Gaussian-overlap sums.
///
/// ```
/// use difftheory::linear::distances::l2_sq_gaussian_kde;
/// use faer::Mat;
/// // d = 1: N(0, 1) against one kernel N(0, ε² = 1) at 0: they are equal, distance 0
/// let cov = Mat::from_fn(1, 1, |_, _| 1.0);
/// let l2 = l2_sq_gaussian_kde(&[0.0], cov.as_ref(), Mat::<f64>::zeros(1, 1).as_ref(), 1.0).unwrap();
/// assert!(l2.value().abs() < 1e-15);
/// ```
pub fn l2_sq_gaussian_kde(
    mean: &[f64],
    cov: MatRef<'_, f64>,
    points: MatRef<'_, f64>,
    eps: f64,
) -> Result<L2Parts> {
    Ok(L2Parts {
        ln_gauss_gauss: ln_gaussian_self_overlap(cov),
        ln_gauss_kde: ln_gaussian_kde_overlap(mean, cov, points, eps)?,
        ln_kde_kde: ln_kde_self_overlap(points, eps)?,
    })
}

/// The element-wise metric of the non-linear experiments: `D_el(p, q) = (1/d) Σ_k ∫(p_k − q_k)²`,
/// `p_k` the 1-D Gaussian KDE of coordinate k of the columns of `p` (d×N_p) with bandwidth
/// `σ_k/N_p` (σ_k the unbiased sample deviation of that coordinate: the `σN^{-1/d}` rule at d = 1),
/// likewise `q_k`. Closed form: `S_pp − 2S_pq + S_qq`, `S_ab = (1/N_aN_b) Σ_ij N(a_i − b_j; 0,
/// h_a² + h_b²)`. Computed through [`ElementwiseKde`] (sorted coordinates, pairs closer than
/// 38.7 kernel widths, exact in f64); to compare many sets with one reference, build the
/// reference's [`ElementwiseKde`] once and call [`elementwise_l2_kde`].
///
/// ```
/// use difftheory::linear::distances::elementwise_l2;
/// use faer::Mat;
/// let p = Mat::from_fn(2, 3, |i, j| (i + 2 * j) as f64);
/// assert!(elementwise_l2(p.as_ref(), p.as_ref()).unwrap().abs() < 1e-12);
/// ```
pub fn elementwise_l2(p: MatRef<'_, f64>, q: MatRef<'_, f64>) -> Result<f64> {
    if q.nrows() != p.nrows() {
        return Err(Error::invalid(
            "q",
            format!("{}x{}", q.nrows(), q.ncols()),
            format!(
                "expected two d×N sample sets with the same d = {} and N >= 2 each",
                p.nrows()
            ),
        ));
    }
    elementwise_l2_kde(&ElementwiseKde::new(p)?, &ElementwiseKde::new(q)?)
}

/// The per-coordinate 1-D KDEs of a sample set (d×N, one point per column) for the element-wise
/// metric: each coordinate's values sorted, its bandwidth `σ_k/N` and its self-overlap `S_kk`
/// computed once.
#[derive(Debug, Clone)]
pub struct ElementwiseKde {
    sorted: Vec<Vec<f64>>,
    bandwidth: Vec<f64>,
    self_overlap: Vec<f64>,
}

/// `exp(−x)` is exactly 0 in f64 for x > 745.2: pairs with `Δ²/(2v)` above this add nothing.
const KDE_CUTOFF: f64 = 750.0;

/// `(1/N_aN_b) Σ_ij N(a_i − b_j; 0, v)` over sorted `a` and `b`, visiting only the pairs with
/// `(a_i − b_j)² ≤ 2 v KDE_CUTOFF` (the others are 0 in f64): O(N_a + N_b + close pairs).
fn sorted_overlap(a: &[f64], b: &[f64], v: f64) -> f64 {
    let w = (2.0 * v * KDE_CUTOFF).sqrt();
    let mut lo = 0;
    let mut s = 0.0;
    for &x in a {
        while lo < b.len() && b[lo] < x - w {
            lo += 1;
        }
        for &y in &b[lo..] {
            if y > x + w {
                break;
            }
            s += (-(x - y) * (x - y) / (2.0 * v)).exp();
        }
    }
    s / (2.0 * std::f64::consts::PI * v).sqrt() / (a.len() * b.len()) as f64
}

impl ElementwiseKde {
    /// The KDEs of the columns of `points` (d×N, N ≥ 2, every coordinate with a nonzero spread).
    pub fn new(points: MatRef<'_, f64>) -> Result<Self> {
        let (d, n) = (points.nrows(), points.ncols());
        if d == 0 || n < 2 {
            return Err(Error::invalid(
                "samples",
                format!("{d}x{n}"),
                "expected a d×N sample set with d >= 1 and N >= 2 points (columns)",
            ));
        }
        let (mut sorted, mut bandwidth, mut self_overlap) = (vec![], vec![], vec![]);
        for k in 0..d {
            let mut row: Vec<f64> = (0..n).map(|j| points[(k, j)]).collect();
            if let Some(j) = row.iter().position(|x| !x.is_finite()) {
                return Err(Error::invalid(
                    "samples",
                    format!("coordinate {k} of point {j} = {}", row[j]),
                    "every value must be finite",
                ));
            }
            let mean = row.iter().sum::<f64>() / n as f64;
            let var = row.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0);
            let h = var.sqrt() / n as f64;
            if h == 0.0 {
                return Err(Error::invalid(
                    "samples",
                    format!("coordinate {k}"),
                    "every coordinate needs a nonzero spread (its bandwidth is σ_k/N)",
                ));
            }
            row.sort_by(f64::total_cmp);
            self_overlap.push(sorted_overlap(&row, &row, 2.0 * h * h));
            sorted.push(row);
            bandwidth.push(h);
        }
        Ok(Self {
            sorted,
            bandwidth,
            self_overlap,
        })
    }

    /// Coordinates d.
    pub fn dim(&self) -> usize {
        self.sorted.len()
    }

    /// Points N.
    pub fn len(&self) -> usize {
        self.sorted[0].len()
    }

    /// Always false (a KDE holds at least two points).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The bandwidth `σ_k/N` of coordinate k.
    pub fn bandwidth(&self, k: usize) -> f64 {
        self.bandwidth[k]
    }
}

/// [`elementwise_l2`] between two prepared KDEs (of the same dimension).
pub fn elementwise_l2_kde(p: &ElementwiseKde, q: &ElementwiseKde) -> Result<f64> {
    if p.dim() != q.dim() {
        return Err(Error::invalid(
            "q",
            format!("{} coordinates", q.dim()),
            format!("expected the same d = {} as p", p.dim()),
        ));
    }
    let total: f64 = (0..p.dim())
        .map(|k| {
            let v = p.bandwidth[k].powi(2) + q.bandwidth[k].powi(2);
            p.self_overlap[k] - 2.0 * sorted_overlap(&p.sorted[k], &q.sorted[k], v)
                + q.self_overlap[k]
        })
        .sum();
    Ok(total / p.dim() as f64)
}
