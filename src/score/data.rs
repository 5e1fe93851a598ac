//! The data sets with exact posterior means.

use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use super::Posterior;
use crate::error::{check_count_at_least, check_finite_at_least, Error, Result};
use crate::rng::SimRng;
use crate::schedule::ForwardProcess;
use crate::stats::log_sum_exp;

fn normal(rng: &mut SimRng) -> f64 {
    StandardNormal.sample(rng)
}

/// Softmax-weighted average of `points` with logits `logit(j)`, written into `out`. Logits go to a
/// stack buffer when there are few points (no allocation in the inner loop of the samplers), and
/// the largest logit gets weight 1 without an `exp`.
fn softmax_average(points: &[Vec<f64>], logit: impl Fn(usize) -> f64, out: &mut [f64]) {
    let mut stack = [0.0f64; 32];
    let mut heap = Vec::new();
    let logits: &mut [f64] = if points.len() <= stack.len() {
        &mut stack[..points.len()]
    } else {
        heap.resize(points.len(), 0.0);
        &mut heap
    };
    let mut top = (0, f64::NEG_INFINITY);
    for (j, l) in logits.iter_mut().enumerate() {
        *l = logit(j);
        if *l > top.1 {
            top = (j, *l);
        }
    }
    out.iter_mut().for_each(|o| *o = 0.0);
    let mut total = 0.0;
    for (j, (p, l)) in points.iter().zip(logits.iter()).enumerate() {
        let w = if j == top.0 { 1.0 } else { (l - top.1).exp() };
        total += w;
        for (o, pi) in out.iter_mut().zip(p) {
            *o += w * pi;
        }
    }
    out.iter_mut().for_each(|o| *o /= total);
}

fn sq_dist_scaled(x: &[f64], m: f64, a: &[f64]) -> f64 {
    x.iter().zip(a).map(|(xi, ai)| (xi - m * ai).powi(2)).sum()
}

/// The empirical measure of a point cloud `{a_j}` (equal weights): the score of the training set.
///
/// `f(x, t) = Σ_j a_j softmax_j(−|x − m a_j|² / (2v))`.
#[derive(Debug, Clone, PartialEq)]
pub struct PointCloud {
    points: Vec<Vec<f64>>,
}

impl PointCloud {
    /// A cloud of at least one point, all of one dimension, finite.
    pub fn new(points: Vec<Vec<f64>>) -> Result<Self> {
        let first = points
            .first()
            .ok_or_else(|| Error::invalid("points", 0, "a point cloud needs at least one point"))?;
        check_count_at_least("dimension", first.len(), 1)?;
        if let Some((i, _)) = points
            .iter()
            .enumerate()
            .find(|(_, p)| p.len() != first.len() || p.iter().any(|v| !v.is_finite()))
        {
            return Err(Error::invalid(
                "point",
                i,
                format!("every point needs {} finite coordinates", first.len()),
            ));
        }
        Ok(Self { points })
    }

    /// Paper 002's eight points: `x₁ ∈ {−2, −1.2, 0, 1.2, 2}`, `x₂ = ±sqrt(4 − x₁²)` (the ends count once).
    pub fn eight_points() -> Self {
        let mut pts = Vec::new();
        for x1 in [-2.0f64, -1.2, 0.0, 1.2, 2.0] {
            let x2 = (4.0 - x1 * x1).max(0.0).sqrt();
            pts.push(vec![x1, x2]);
            if x2 > 0.0 {
                pts.push(vec![x1, -x2]);
            }
        }
        Self { points: pts }
    }

    /// The points.
    pub fn points(&self) -> &[Vec<f64>] {
        &self.points
    }

    /// Euclidean distance from `x` to the nearest point.
    pub fn distance(&self, x: &[f64]) -> f64 {
        sq_dist_scaled(x, 1.0, &self.points[self.nearest(x)]).sqrt()
    }

    /// Index of the point nearest to `x`.
    pub fn nearest(&self, x: &[f64]) -> usize {
        let mut best = (0, f64::INFINITY);
        for (j, p) in self.points.iter().enumerate() {
            let d = sq_dist_scaled(x, 1.0, p);
            if d < best.1 {
                best = (j, d);
            }
        }
        best.0
    }
}

impl PointCloud {
    /// `ln p_t(x)` of the noised empirical measure: a mixture of `N(m a_j, v I)`.
    pub fn log_density(&self, process: ForwardProcess, t: f64, x: &[f64]) -> f64 {
        let (m, v) = (process.mean_coeff(t), process.variance(t));
        let d = x.len() as f64;
        let norm =
            -(self.points.len() as f64).ln() - 0.5 * d * (2.0 * std::f64::consts::PI * v).ln();
        norm + log_sum_exp(
            self.points
                .iter()
                .map(|a| -sq_dist_scaled(x, m, a) / (2.0 * v)),
        )
    }
}

impl Posterior for PointCloud {
    fn dim(&self) -> usize {
        self.points[0].len()
    }
    fn sample(&self, rng: &mut SimRng) -> Vec<f64> {
        self.points[rng.random_range(0..self.points.len())].clone()
    }
    fn posterior_mean(&self, process: ForwardProcess, t: f64, x: &[f64], out: &mut [f64]) {
        let (m, v) = (process.mean_coeff(t), process.variance(t));
        softmax_average(
            &self.points,
            |j| -sq_dist_scaled(x, m, &self.points[j]) / (2.0 * v),
            out,
        );
    }
    fn posterior_mean_batch(&self, process: ForwardProcess, t: f64, xs: &[f64], out: &mut [f64]) {
        let (m, v) = (process.mean_coeff(t), process.variance(t));
        let (d, n_pts) = (self.dim(), self.points.len());
        // blocks of paths small enough that the logits (paths × points) stay in cache
        let block = (8192 / n_pts).clamp(4, 64);
        let mut buf = vec![0.0; block * (n_pts + 2 * d + 2)];
        for (x, o) in xs.chunks(block * d).zip(out.chunks_mut(block * d)) {
            #[cfg(target_arch = "x86_64")]
            if crate::vecmath::has_avx2_fma() {
                // SAFETY: the CPU supports the features the function was compiled for
                unsafe { cloud_kernel_avx2(&self.points, m, v, x, o, &mut buf) };
                continue;
            }
            cloud_kernel(&self.points, m, v, x, o, &mut buf);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn cloud_kernel_avx2(
    points: &[Vec<f64>],
    m: f64,
    v: f64,
    xs: &[f64],
    out: &mut [f64],
    buf: &mut [f64],
) {
    cloud_kernel(points, m, v, xs, out, buf)
}

/// Posterior means of `xs.len()/d` points at once, the paths in the inner loops so that they run
/// in SIMD lanes: squared distances, the maximum logit, `exp` of the whole logit block, weighted sums.
#[inline(always)]
fn cloud_kernel(points: &[Vec<f64>], m: f64, v: f64, xs: &[f64], out: &mut [f64], buf: &mut [f64]) {
    let d = points[0].len();
    let b = xs.len() / d;
    let n_pts = points.len();
    let (logits, rest) = buf.split_at_mut(n_pts * b);
    let (xt, rest) = rest.split_at_mut(d * b);
    let (acc, rest) = rest.split_at_mut(d * b);
    let (top, total) = rest.split_at_mut(b);
    let total = &mut total[..b];
    for i in 0..b {
        for k in 0..d {
            xt[k * b + i] = xs[i * d + k];
        }
    }
    let scale = -0.5 / v;
    top.fill(f64::NEG_INFINITY);
    for (a, row) in points.iter().zip(logits.chunks_exact_mut(b)) {
        row.fill(0.0);
        for (xk, ak) in xt.chunks_exact(b).zip(a) {
            let c = m * ak;
            for (r, xi) in row.iter_mut().zip(xk) {
                *r += (xi - c) * (xi - c);
            }
        }
        for (r, tp) in row.iter_mut().zip(top.iter_mut()) {
            *r *= scale;
            *tp = tp.max(*r);
        }
    }
    for row in logits.chunks_exact_mut(b) {
        for (r, tp) in row.iter_mut().zip(top.iter()) {
            *r -= tp;
        }
    }
    crate::vecmath::exp_slice(logits);
    total.fill(0.0);
    acc.fill(0.0);
    for (a, row) in points.iter().zip(logits.chunks_exact(b)) {
        for (tt, w) in total.iter_mut().zip(row) {
            *tt += w;
        }
        for (acc_k, &ak) in acc.chunks_exact_mut(b).zip(a) {
            for (s, w) in acc_k.iter_mut().zip(row) {
                *s += w * ak;
            }
        }
    }
    for i in 0..b {
        for k in 0..d {
            out[i * d + k] = acc[k * b + i] / total[i];
        }
    }
}

/// A mixture of isotropic Gaussians `Σ_j π_j N(μ_j, s_j² I)`.
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianMixture {
    weights: Vec<f64>,
    means: Vec<Vec<f64>>,
    variances: Vec<f64>,
}

impl GaussianMixture {
    /// Weights (positive, normalized here), means (one dimension) and variances (>= 0; 0 gives a
    /// point mass).
    pub fn new(weights: Vec<f64>, means: Vec<Vec<f64>>, variances: Vec<f64>) -> Result<Self> {
        if weights.is_empty() || weights.len() != means.len() || weights.len() != variances.len() {
            return Err(Error::invalid(
                "components",
                weights.len(),
                "weights, means and variances need one entry per component",
            ));
        }
        for &w in &weights {
            check_finite_at_least("weight", w, 0.0, true)?;
        }
        for &s in &variances {
            check_finite_at_least("variance", s, 0.0, false)?;
        }
        let d = means[0].len();
        check_count_at_least("dimension", d, 1)?;
        if means
            .iter()
            .any(|m| m.len() != d || m.iter().any(|v| !v.is_finite()))
        {
            return Err(Error::invalid(
                "means",
                "",
                format!("every mean needs {d} finite coordinates"),
            ));
        }
        let total: f64 = weights.iter().sum();
        Ok(Self {
            weights: weights.iter().map(|w| w / total).collect(),
            means,
            variances,
        })
    }

    /// Paper 001's two modes `½ N(−μ e₁, I) + ½ N(μ e₁, I)` in `d` dimensions.
    pub fn two_modes(d: usize, mu: f64) -> Result<Self> {
        check_count_at_least("d", d, 1)?;
        let mut a = vec![0.0; d];
        let mut b = vec![0.0; d];
        a[0] = -mu;
        b[0] = mu;
        Self::new(vec![0.5, 0.5], vec![a, b], vec![1.0, 1.0])
    }
}

impl Posterior for GaussianMixture {
    fn dim(&self) -> usize {
        self.means[0].len()
    }
    fn sample(&self, rng: &mut SimRng) -> Vec<f64> {
        let u: f64 = rng.random();
        let mut acc = 0.0;
        let j = self.weights.iter().position(|w| {
            acc += w;
            u < acc
        });
        let j = j.unwrap_or(self.weights.len() - 1);
        let s = self.variances[j].sqrt();
        self.means[j]
            .iter()
            .map(|mu| mu + s * normal(rng))
            .collect()
    }
    fn posterior_mean(&self, process: ForwardProcess, t: f64, x: &[f64], out: &mut [f64]) {
        let (m, v) = (process.mean_coeff(t), process.variance(t));
        let d = x.len() as f64;
        // component j: X_t ~ N(m μ_j, (m² s_j² + v) I); E[X_0 | x, j] = μ_j + m s_j²/(m² s_j² + v) (x − m μ_j)
        let cond: Vec<Vec<f64>> = self
            .means
            .iter()
            .zip(&self.variances)
            .map(|(mu, s2)| {
                let gain = m * s2 / (m * m * s2 + v);
                mu.iter()
                    .zip(x)
                    .map(|(mi, xi)| mi + gain * (xi - m * mi))
                    .collect()
            })
            .collect();
        softmax_average(
            &cond,
            |j| {
                let tot = m * m * self.variances[j] + v;
                self.weights[j].ln()
                    - 0.5 * d * tot.ln()
                    - sq_dist_scaled(x, m, &self.means[j]) / (2.0 * tot)
            },
            out,
        );
    }
}

/// A centred Gaussian on a `k`-dimensional coordinate subspace of `R^D`: `X_0 = (σ a, 0)`,
/// `a ~ N(0, I_k)` — the flat manifold of paper 003 (and, with `k = 1`, `D = 2`, `σ = 1`, the line
/// of paper 002). `E[X_0 | x] = m σ²/(m² σ² + v) P x`, `P` the projection on the first `k` axes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlatGaussian {
    /// Ambient dimension `D`.
    pub ambient: usize,
    /// Manifold dimension `k <= D`.
    pub manifold: usize,
    /// Standard deviation along the manifold.
    pub sigma: f64,
}

impl FlatGaussian {
    /// Checked parameters.
    pub fn new(ambient: usize, manifold: usize, sigma: f64) -> Result<Self> {
        check_count_at_least("ambient", ambient, 1)?;
        if manifold > ambient {
            return Err(Error::invalid(
                "manifold",
                manifold,
                format!("expected a manifold dimension <= ambient = {ambient}"),
            ));
        }
        check_finite_at_least("sigma", sigma, 0.0, true)?;
        Ok(Self {
            ambient,
            manifold,
            sigma,
        })
    }

    /// Paper 002's line `X_0 = (Z, 0)`, `Z ~ N(0, 1)`.
    pub fn line() -> Self {
        Self {
            ambient: 2,
            manifold: 1,
            sigma: 1.0,
        }
    }
}

impl Posterior for FlatGaussian {
    fn dim(&self) -> usize {
        self.ambient
    }
    fn sample(&self, rng: &mut SimRng) -> Vec<f64> {
        (0..self.ambient)
            .map(|i| {
                if i < self.manifold {
                    self.sigma * normal(rng)
                } else {
                    0.0
                }
            })
            .collect()
    }
    fn posterior_mean(&self, process: ForwardProcess, t: f64, x: &[f64], out: &mut [f64]) {
        let (m, v) = (process.mean_coeff(t), process.variance(t));
        let s2 = self.sigma * self.sigma;
        let gain = m * s2 / (m * m * s2 + v);
        for (i, (o, xi)) in out.iter_mut().zip(x).enumerate() {
            *o = if i < self.manifold { gain * xi } else { 0.0 };
        }
    }
}

/// The uniform measure on the unit sphere `S^{D−1}` in `R^D`. The posterior of `X_0` given
/// `X_t = x` is von Mises–Fisher with concentration `κ = m|x|/v`, so
/// `E[X_0 | x] = A_D(κ) x/|x|`, `A_D(κ) = I_{D/2}(κ) / I_{D/2−1}(κ)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sphere {
    /// Ambient dimension `D >= 2`.
    pub ambient: usize,
}

impl Sphere {
    /// The unit sphere in `R^D`, `D >= 2`.
    pub fn new(ambient: usize) -> Result<Self> {
        check_count_at_least("ambient", ambient, 2)?;
        Ok(Self { ambient })
    }
}

/// `I_ν(κ) / I_{ν−1}(κ)` for `ν > 0`, `κ >= 0`, by the continued fraction
/// `I_ν/I_{ν−1} = 1/(2ν/κ + 1/(2(ν+1)/κ + …))` (modified Lentz), exact to ~1e-14.
///
/// ```
/// // ν = 1/2: I_{1/2}/I_{-1/2} = tanh κ
/// let r = difftheory::score::bessel_ratio(0.5, 2.0);
/// assert!((r - 2.0f64.tanh()).abs() < 1e-13);
/// ```
pub fn bessel_ratio(nu: f64, kappa: f64) -> f64 {
    if kappa == 0.0 {
        return 0.0;
    }
    if kappa > 1e4 + 100.0 * nu * nu {
        // the continued fraction needs ~κ terms; use the large-argument expansion
        // I_ν(z) ∝ 1 − (μ−1)/(8z) + (μ−1)(μ−9)/(2!(8z)²) − (μ−1)(μ−9)(μ−25)/(3!(8z)³), μ = 4ν²
        let series = |n: f64| {
            let mu = 4.0 * n * n;
            let z8 = 8.0 * kappa;
            let (mut term, mut sum) = (1.0, 1.0);
            for k in 1..=4 {
                let kf = k as f64;
                term *= -(mu - (2.0 * kf - 1.0).powi(2)) / (kf * z8);
                sum += term;
            }
            sum
        };
        return series(nu) / series(nu - 1.0);
    }
    let tiny = 1e-300;
    let b = |k: usize| 2.0 * (nu + k as f64) / kappa;
    let mut f = b(0).max(tiny);
    let (mut c, mut d) = (f, 0.0);
    for k in 1..100_000 {
        d = b(k) + d;
        d = if d.abs() < tiny { tiny } else { d };
        c = b(k) + 1.0 / c;
        c = if c.abs() < tiny { tiny } else { c };
        d = 1.0 / d;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-15 {
            break;
        }
    }
    1.0 / f
}

impl Posterior for Sphere {
    fn dim(&self) -> usize {
        self.ambient
    }
    fn sample(&self, rng: &mut SimRng) -> Vec<f64> {
        let g: Vec<f64> = (0..self.ambient).map(|_| normal(rng)).collect();
        let r = g.iter().map(|v| v * v).sum::<f64>().sqrt();
        g.iter().map(|v| v / r).collect()
    }
    fn posterior_mean(&self, process: ForwardProcess, t: f64, x: &[f64], out: &mut [f64]) {
        let (m, v) = (process.mean_coeff(t), process.variance(t));
        let r = x.iter().map(|v| v * v).sum::<f64>().sqrt();
        if r == 0.0 {
            out.iter_mut().for_each(|o| *o = 0.0);
            return;
        }
        let a = bessel_ratio(self.ambient as f64 / 2.0, m * r / v);
        for (o, xi) in out.iter_mut().zip(x) {
            *o = a * xi / r;
        }
    }
}

/// Paper 002's spiral `(U cos U, U sin U)`, `U ~ Unif[u_min, u_max]` (the paper: `[1, 13]`).
/// The posterior mean is a one-dimensional integral over `U`, done by the midpoint rule on a grid
/// fine enough that the posterior's width `sqrt(v)` spans many points along the curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Curve {
    /// Lower end of `U`.
    pub u_min: f64,
    /// Upper end of `U`.
    pub u_max: f64,
}

impl Curve {
    /// The paper's curve, `U ~ Unif[1, 13]`.
    pub fn spiral() -> Self {
        Self {
            u_min: 1.0,
            u_max: 13.0,
        }
    }

    /// The point of the curve at parameter `u`.
    pub fn point(&self, u: f64) -> [f64; 2] {
        [u * u.cos(), u * u.sin()]
    }

    /// Euclidean distance from `x` to the curve (nearest of 20 000 points along it, then refined by
    /// golden-section search around that point).
    pub fn distance(&self, x: &[f64]) -> f64 {
        let n = 20_000;
        let h = (self.u_max - self.u_min) / n as f64;
        let dist = |u: f64| {
            let p = self.point(u);
            ((x[0] - p[0]).powi(2) + (x[1] - p[1]).powi(2)).sqrt()
        };
        // the first nearest node (each node's distance computed once)
        let mut k = 0;
        let mut best = f64::INFINITY;
        for j in 0..=n {
            let d = dist(self.u_min + j as f64 * h);
            if d < best {
                (k, best) = (j, d);
            }
        }
        let (mut lo, mut hi) = (
            (self.u_min + (k as f64 - 1.0) * h).max(self.u_min),
            (self.u_min + (k as f64 + 1.0) * h).min(self.u_max),
        );
        let g = 0.5 * (5f64.sqrt() - 1.0);
        for _ in 0..60 {
            let (a, b) = (hi - g * (hi - lo), lo + g * (hi - lo));
            if dist(a) < dist(b) {
                hi = b;
            } else {
                lo = a;
            }
        }
        dist(0.5 * (lo + hi))
    }

    /// `ln p_t(x)` of the noised curve: `ln E_U N(x; m c(U), v I)` by the same quadrature as the
    /// posterior mean.
    pub fn log_density(&self, process: ForwardProcess, t: f64, x: &[f64]) -> f64 {
        let (m, v) = (process.mean_coeff(t), process.variance(t));
        let n = self.grid_size(v);
        let h = (self.u_max - self.u_min) / n as f64;
        let ls = (0..n).map(|k| {
            let p = self.point(self.u_min + (k as f64 + 0.5) * h);
            -((x[0] - m * p[0]).powi(2) + (x[1] - m * p[1]).powi(2)) / (2.0 * v)
        });
        log_sum_exp(ls) - (n as f64).ln() - (2.0 * std::f64::consts::PI * v).ln()
    }

    fn grid_size(&self, v: f64) -> usize {
        // arc length ≈ ∫ sqrt(1 + u²) du <= (u_max − u_min)(1 + u_max); 8 points per posterior width
        let arc = (self.u_max - self.u_min) * (1.0 + self.u_max);
        ((8.0 * arc / v.sqrt()).ceil() as usize).clamp(2_000, 2_000_000)
    }
}

impl Posterior for Curve {
    fn dim(&self) -> usize {
        2
    }
    fn sample(&self, rng: &mut SimRng) -> Vec<f64> {
        let u = self.u_min + (self.u_max - self.u_min) * rng.random::<f64>();
        self.point(u).to_vec()
    }
    fn posterior_mean(&self, process: ForwardProcess, t: f64, x: &[f64], out: &mut [f64]) {
        let (m, v) = (process.mean_coeff(t), process.variance(t));
        let n = self.grid_size(v);
        let h = (self.u_max - self.u_min) / n as f64;
        let point = |k: usize| {
            let u = self.u_min + (k as f64 + 0.5) * h;
            (u * u.cos(), u * u.sin())
        };
        let logit = |k: usize| {
            let (a, b) = point(k);
            -((x[0] - m * a).powi(2) + (x[1] - m * b).powi(2)) / (2.0 * v)
        };
        let top = (0..n).map(logit).fold(f64::NEG_INFINITY, f64::max);
        let (mut sw, mut s0, mut s1) = (0.0, 0.0, 0.0);
        for k in 0..n {
            let w = (logit(k) - top).exp();
            let (a, b) = point(k);
            sw += w;
            s0 += w * a;
            s1 += w * b;
        }
        out[0] = s0 / sw;
        out[1] = s1 / sw;
    }
    /// The same quadrature as [`Posterior::posterior_mean`] (bit for bit), with the curve's nodes
    /// computed once for the batch and the points shared out over rayon's threads.
    fn posterior_mean_batch(&self, process: ForwardProcess, t: f64, xs: &[f64], out: &mut [f64]) {
        let (m, v) = (process.mean_coeff(t), process.variance(t));
        let n = self.grid_size(v);
        let h = (self.u_max - self.u_min) / n as f64;
        let nodes: Vec<(f64, f64)> = (0..n)
            .map(|k| {
                let u = self.u_min + (k as f64 + 0.5) * h;
                (u * u.cos(), u * u.sin())
            })
            .collect();
        out.par_chunks_mut(2)
            .zip(xs.par_chunks(2))
            .for_each_init(Vec::new, |logits, (o, x)| {
                logits.clear();
                logits.extend(
                    nodes.iter().map(|&(a, b)| {
                        -((x[0] - m * a).powi(2) + (x[1] - m * b).powi(2)) / (2.0 * v)
                    }),
                );
                let top = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let (mut sw, mut s0, mut s1) = (0.0, 0.0, 0.0);
                for (&l, &(a, b)) in logits.iter().zip(&nodes) {
                    let w = (l - top).exp();
                    sw += w;
                    s0 += w * a;
                    s1 += w * b;
                }
                o[0] = s0 / sw;
                o[1] = s1 / sw;
            });
    }
}
