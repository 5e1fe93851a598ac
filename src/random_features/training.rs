//! Training the readout `A` on a fixed denoising design: normal equations, the closed-form
//! gradient flow, and plain gradient descent to check it.
//!
//! **Design.** A [`Quadrature`] `(t_j, w_j)` on `[t₀, T]`, `K` noise draws per training point and
//! node: rows `x = e^{-t_j} x_i + sqrt(Δ_{t_j}) z`, weight `ω = w_j/(n K)` (so `Σ ω = Σ_j w_j ≈ T − t₀`),
//! target `y = −z/sqrt(Δ_{t_j})` ([`DsmTarget::Denoising`], plain denoising score matching) or its
//! conditional mean given `x` under the training set's forward marginal, the empirical score
//! `∇log p̂_t(x)` ([`DsmTarget::EmpiricalScore`]: the same population minimizer of the empirical
//! loss, without the target noise). With rows pre-multiplied by `sqrt(ω)` (`Φ̃`, N × m; `Ỹ`, N × d)
//! the empirical loss is
//!
//! `L̂(A) = ½ Σ_r ‖A φ̃_r/m − ỹ_r‖² = ½ tr(A G Aᵀ)/m − tr(A Rᵀ)/m + ½ ‖Ỹ‖²`,
//! `G = Φ̃ᵀΦ̃/m` (m × m), `R = ỸᵀΦ̃` (d × m).
//!
//! **Gradient flow** (mean-field time `τ`: `dA/dτ = −m ∇_A L̂ = R − A G`). With `G = V Λ Vᵀ` and
//! `B = A V`: `B_k(τ) = B_k(0) e^{−λ_k τ} + (R V)_k (1 − e^{−λ_k τ})/λ_k` column by column, i.e.
//! `A(τ) = A* + (A(0) − A*) e^{−τ G}` with `A*` the least-squares readout; `(1 − e^{−λτ})/λ → τ` on
//! the null space, where `(R V)_k = 0`. Training starts from `A(0) = 0`. **Gradient descent** with
//! step `η`: `A ← A + η (R − A G)`, the Euler discretization of the same flow.

use faer::linalg::matmul::matmul;
use faer::prelude::{Reborrow, ReborrowMut};
use faer::{Accum, Mat, MatMut, MatRef, Par, Side};
use rand_distr::{Distribution, StandardNormal};

use super::model::RandomFeatures;
use crate::error::{check_count_at_least, check_finite_at_least, Error, Result};
use crate::rng::SimRng;
use crate::schedule::ForwardProcess;
use crate::score::{score_into, PointCloud};

/// Rows of the design generated and accumulated at a time (bounds the memory to `ROWS × m`).
const ROWS: usize = 2048;

/// Quadrature nodes `t_j` and weights `w_j` for `∫_{t₀}^{T} f(t) dt`.
#[derive(Debug, Clone, PartialEq)]
pub struct Quadrature {
    /// Nodes, increasing.
    pub times: Vec<f64>,
    /// Weights (`Σ w_j = T − t₀` up to the rule's error).
    pub weights: Vec<f64>,
}

impl Quadrature {
    /// The midpoint rule in `u = ln t`: `t_j = t₀ (T/t₀)^{(j + ½)/Q}`, `w_j = t_j ln(T/t₀)/Q`
    /// (`∫ f dt = ∫ f(e^u) e^u du`), fine where the score changes fastest, near `t₀`.
    ///
    /// ```
    /// use difftheory::random_features::Quadrature;
    /// let q = Quadrature::log_midpoint(0.01, 3.0, 64).unwrap();
    /// let total: f64 = q.weights.iter().sum();
    /// assert!((total - 2.99).abs() < 1e-3); // midpoint error O(Q⁻²)
    /// ```
    pub fn log_midpoint(t0: f64, t_final: f64, nodes: usize) -> Result<Self> {
        check_finite_at_least("t0", t0, 0.0, true)?;
        check_count_at_least("time nodes", nodes, 1)?;
        if !(t_final.is_finite() && t_final > t0) {
            return Err(Error::invalid(
                "t_final",
                t_final,
                format!("expected a finite final time > t0 = {t0}"),
            ));
        }
        let h = (t_final / t0).ln() / nodes as f64;
        let times: Vec<f64> = (0..nodes)
            .map(|j| t0 * ((j as f64 + 0.5) * h).exp())
            .collect();
        let weights = times.iter().map(|t| t * h).collect();
        Ok(Self { times, weights })
    }
}

/// The regression target of a design row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsmTarget {
    /// `−z/sqrt(Δ_t)`: plain denoising score matching.
    Denoising,
    /// `∇log p̂_t(x)`, the exact score of the training set's forward marginal (the conditional
    /// mean of the denoising target): same minimizer as `K → ∞`, no target noise.
    EmpiricalScore,
}

/// A fixed training design: time nodes, noise draws per (point, node), target.
#[derive(Debug, Clone, PartialEq)]
pub struct Design {
    /// Time nodes and weights on `[t₀, T]`.
    pub quadrature: Quadrature,
    /// Noise draws `K >= 1` per training point and node.
    pub noise_draws: usize,
    /// The regression target.
    pub target: DsmTarget,
}

/// The sufficient statistics of the quadratic loss: `G = Φ̃ᵀΦ̃/m`, `R = ỸᵀΦ̃`, `‖Ỹ‖²`.
#[derive(Debug, Clone)]
pub struct NormalEquations {
    /// `G` (m × m, symmetric positive semi-definite).
    pub g: Mat<f64>,
    /// `R` (d × m).
    pub r: Mat<f64>,
    /// `‖Ỹ‖²`.
    pub yy: f64,
    /// Design rows `N = n Q K`.
    pub rows: usize,
}

impl NormalEquations {
    /// The empirical loss `L̂(A) = ½ tr(A G Aᵀ)/m − tr(A Rᵀ)/m + ½ ‖Ỹ‖²` of a readout (row-major
    /// d × m).
    pub fn loss(&self, a: &[f64]) -> f64 {
        let (d, m) = (self.r.nrows(), self.g.nrows());
        let am = readout_mat(a, d, m);
        let mut ag = Mat::<f64>::zeros(d, m);
        matmul(&mut ag, Accum::Replace, &am, &self.g, 1.0, Par::Seq);
        let mut quad = 0.0;
        let mut lin = 0.0;
        for i in 0..d {
            for j in 0..m {
                quad += ag[(i, j)] * am[(i, j)];
                lin += self.r[(i, j)] * am[(i, j)];
            }
        }
        0.5 * quad / m as f64 - lin / m as f64 + 0.5 * self.yy
    }
}

/// Gram matrices at least this wide are updated in two halves on two rayon tasks.
const PAR_GRAM_MIN: usize = 256;

/// `dst += alpha pᵀ p` on the lower triangle only (half the flops of a full product; the caller
/// mirrors it with [`mirror_lower`] once all blocks are in).
///
/// From `m = PAR_GRAM_MIN` on, with `p = [p₁ p₂]` split at `h = m/2`, the two diagonal triangles
/// `p₁ᵀp₁`, `p₂ᵀp₂` and the off-diagonal block `p₂ᵀp₁` (the same flops) go to two rayon tasks
/// (`rayon::join`: a trial of a sweep whose other threads are busy runs both itself). The split
/// depends on `m` only, so the sums do not depend on the thread count.
pub(crate) fn gram_add_lower(dst: &mut Mat<f64>, p: MatRef<'_, f64>, alpha: f64) {
    let m = dst.nrows();
    if m < PAR_GRAM_MIN {
        triangle_add(dst.as_mut(), p, alpha);
        return;
    }
    let h = m / 2;
    let (top_left, _, bottom_left, bottom_right) = dst.as_mut().split_at_mut(h, h);
    let (p1, p2) = p.split_at_col(h);
    rayon::join(
        || {
            triangle_add(top_left, p1, alpha);
            triangle_add(bottom_right, p2, alpha);
        },
        || matmul(bottom_left, Accum::Add, p2.transpose(), p1, alpha, Par::Seq),
    );
}

/// `dst += alpha pᵀ p` on the lower triangle of `dst`.
fn triangle_add(dst: MatMut<'_, f64>, p: MatRef<'_, f64>, alpha: f64) {
    use faer::linalg::matmul::triangular::{matmul as tri_matmul, BlockStructure};
    tri_matmul(
        dst,
        BlockStructure::TriangularLower,
        Accum::Add,
        p.transpose(),
        BlockStructure::Rectangular,
        p,
        BlockStructure::Rectangular,
        alpha,
        Par::Seq,
    );
}

/// Copies the lower triangle of a square matrix onto its upper triangle.
pub(crate) fn mirror_lower(a: &mut Mat<f64>) {
    for j in 0..a.ncols() {
        for i in 0..j {
            a[(i, j)] = a[(j, i)];
        }
    }
}

fn readout_mat(a: &[f64], d: usize, m: usize) -> Mat<f64> {
    Mat::from_fn(d, m, |i, j| a[i * m + j])
}

fn readout_vec(a: &Mat<f64>) -> Vec<f64> {
    let (d, m) = (a.nrows(), a.ncols());
    (0..d * m).map(|k| a[(k / m, k % m)]).collect()
}

/// Builds the design of `train` (n points of dimension d) and accumulates its normal equations;
/// the noise comes from `rng`.
pub fn normal_equations(
    features: &RandomFeatures,
    train: &[Vec<f64>],
    design: &Design,
    rng: &mut SimRng,
) -> Result<NormalEquations> {
    let (d, m) = (features.dim(), features.count());
    check_count_at_least("n", train.len(), 1)?;
    check_count_at_least("noise draws", design.noise_draws, 1)?;
    if let Some(p) = train.iter().find(|p| p.len() != d) {
        return Err(Error::invalid(
            "training point",
            p.len(),
            format!("expected {d} coordinates"),
        ));
    }
    let cloud = match design.target {
        DsmTarget::EmpiricalScore => Some(PointCloud::new(train.to_vec())?),
        DsmTarget::Denoising => None,
    };
    let q = &design.quadrature;
    let (nodes, k) = (q.times.len(), design.noise_draws);
    let rows = train.len() * nodes * k;
    let mut g = Mat::<f64>::zeros(m, m);
    let mut r = Mat::<f64>::zeros(d, m);
    let mut yy = 0.0;
    let norm = 1.0 / (train.len() * k) as f64;
    // Training points are taken `group` at a time: their noise is drawn in the order point →
    // node → draw (the order of the rows of the design), then each node's `group · K` rows, which
    // share `t`, are featurized as one block and added to `G` and `R` by one GEMM each.
    let group = (ROWS / k).clamp(1, train.len());
    let block = ROWS.min(group * k);
    let mut phi = Mat::<f64>::zeros(block, m);
    let mut ybuf = vec![0.0; block * d];
    // unscaled rows x and targets y of the group, node-major: [node][point][draw][coordinate]
    let (mut xs, mut ys) = (
        vec![0.0; nodes * group * k * d],
        vec![0.0; nodes * group * k * d],
    );
    let coeffs: Vec<(f64, f64)> = q
        .times
        .iter()
        .map(|&t| {
            let p = ForwardProcess::Ou;
            (p.mean_coeff(t), p.variance(t))
        })
        .collect();
    let mut zbuf = vec![0.0; d];
    for pts in train.chunks(group) {
        let per_node = pts.len() * k * d;
        for (p, x0) in pts.iter().enumerate() {
            for (j, (&t, &(mt, vt))) in q.times.iter().zip(&coeffs).enumerate() {
                for draw in 0..k {
                    let at = j * per_node + (p * k + draw) * d;
                    let x = &mut xs[at..at + d];
                    for ((xi, zi), x0i) in x.iter_mut().zip(zbuf.iter_mut()).zip(x0) {
                        *zi = StandardNormal.sample(rng);
                        *xi = mt * x0i + vt.sqrt() * *zi;
                    }
                    let y = &mut ys[at..at + d];
                    match &cloud {
                        Some(c) => score_into(c, ForwardProcess::Ou, t, x, y),
                        None => y
                            .iter_mut()
                            .zip(&zbuf)
                            .for_each(|(yi, z)| *yi = -*z / vt.sqrt()),
                    }
                }
            }
        }
        for (j, (&t, &w)) in q.times.iter().zip(&q.weights).enumerate() {
            let sw = (w * norm).sqrt();
            let node_x = &xs[j * per_node..(j + 1) * per_node];
            let node_y = &ys[j * per_node..(j + 1) * per_node];
            for (bx, by) in node_x.chunks(block * d).zip(node_y.chunks(block * d)) {
                let n_rows = bx.len() / d;
                let yb = &mut ybuf[..n_rows * d];
                for (o, v) in yb.iter_mut().zip(by) {
                    *o = sw * v;
                    yy += sw * sw * v * v;
                }
                let mut p = phi.subrows_mut(0, n_rows);
                features.features_block(bx, t, sw, p.rb_mut());
                gram_add_lower(&mut g, p.rb(), 1.0 / m as f64);
                matmul(
                    r.as_mut(),
                    Accum::Add,
                    MatRef::from_row_major_slice(yb, n_rows, d).transpose(),
                    p.rb(),
                    1.0,
                    Par::Seq,
                );
            }
        }
    }
    mirror_lower(&mut g);
    Ok(NormalEquations { g, r, yy, rows })
}

/// `(1 − e^{−λτ})/λ`, equal to `τ` at `λ = 0` (negative rounding noise in `λ` counts as 0).
///
/// ```
/// use difftheory::random_features::flow_factor;
/// assert_eq!(flow_factor(0.0, 2.0), 2.0);
/// assert!((flow_factor(1.0, 1e9) - 1.0).abs() < 1e-12); // → 1/λ
/// ```
pub fn flow_factor(lambda: f64, tau: f64) -> f64 {
    let l = lambda.max(0.0);
    if l * tau < 1e-12 {
        tau
    } else {
        -(-l * tau).exp_m1() / l
    }
}

/// The closed-form gradient flow of the readout, in the eigenbasis of `G`.
#[derive(Debug, Clone)]
pub struct GradientFlow {
    /// Eigenvalues `λ_k` of `G`, nondecreasing.
    pub eigenvalues: Vec<f64>,
    /// Eigenvectors `V` (columns, m × m).
    pub eigenvectors: Mat<f64>,
    /// `R V` (d × m).
    pub rv: Mat<f64>,
    /// `A(0) V` (d × m).
    pub b0: Mat<f64>,
}

impl GradientFlow {
    /// The flow from `A(0) = 0`.
    pub fn new(eq: &NormalEquations) -> Result<Self> {
        let (d, m) = (eq.r.nrows(), eq.g.nrows());
        Self::with_start(eq, &vec![0.0; d * m])
    }

    /// The flow from `A(0) = a0` (row-major d × m).
    pub fn with_start(eq: &NormalEquations, a0: &[f64]) -> Result<Self> {
        let (d, m) = (eq.r.nrows(), eq.g.nrows());
        if a0.len() != d * m {
            return Err(Error::invalid(
                "A(0)",
                a0.len(),
                format!("expected d × m = {} numbers", d * m),
            ));
        }
        let evd = eq.g.self_adjoint_eigen(Side::Lower).map_err(|e| {
            Error::invalid(
                "feature Gram matrix",
                format!("{e:?}"),
                "eigendecomposition did not converge",
            )
        })?;
        let v = evd.U().to_owned();
        let s = evd.S().column_vector();
        let eigenvalues: Vec<f64> = (0..m).map(|k| s[k]).collect();
        let mut rv = Mat::<f64>::zeros(d, m);
        matmul(&mut rv, Accum::Replace, &eq.r, &v, 1.0, Par::Seq);
        let mut b0 = Mat::<f64>::zeros(d, m);
        matmul(
            &mut b0,
            Accum::Replace,
            &readout_mat(a0, d, m),
            &v,
            1.0,
            Par::Seq,
        );
        Ok(Self {
            eigenvalues,
            eigenvectors: v,
            rv,
            b0,
        })
    }

    /// `B(τ) = A(τ) V` (d × m): `B_k(0) e^{−λ_k τ} + (R V)_k (1 − e^{−λ_k τ})/λ_k`.
    pub fn eigen_readout(&self, tau: f64) -> Mat<f64> {
        let (d, m) = (self.rv.nrows(), self.rv.ncols());
        Mat::from_fn(d, m, |i, k| {
            let l = self.eigenvalues[k].max(0.0);
            self.b0[(i, k)] * (-l * tau).exp() + self.rv[(i, k)] * flow_factor(l, tau)
        })
    }

    /// The readout `A(τ)` (row-major d × m), `τ >= 0` finite.
    pub fn readout(&self, tau: f64) -> Result<Vec<f64>> {
        check_finite_at_least("tau", tau, 0.0, false)?;
        let b = self.eigen_readout(tau);
        let mut a = Mat::<f64>::zeros(b.nrows(), b.ncols());
        matmul(
            &mut a,
            Accum::Replace,
            &b,
            self.eigenvectors.transpose(),
            1.0,
            Par::Seq,
        );
        Ok(readout_vec(&a))
    }

    /// The readouts of a whole grid of training times side by side, transposed: column `k d + i`
    /// of the `m × (d · len(taus))` result is row `i` of `A(τ_k)` (what [`Self::readout`] returns
    /// for `τ_k`, up to rounding). One GEMM `V [B(τ₁); …; B(τ_T)]ᵀ`, `2 d T m²` flops, instead of
    /// `T` products of a `d × m` matrix, which are too thin for the GEMM kernels.
    /// (`tests/random_features.rs` holds it against [`Self::readout`].)
    pub fn readouts_transposed(&self, taus: &[f64]) -> Result<Mat<f64>> {
        let (d, m) = (self.rv.nrows(), self.rv.ncols());
        for &tau in taus {
            check_finite_at_least("tau", tau, 0.0, false)?;
        }
        // [B(τ₁); …]ᵀ: column k d + i is row i of B(τ_k)
        let mut bt = Mat::<f64>::zeros(m, d * taus.len());
        for (k, &tau) in taus.iter().enumerate() {
            let b = self.eigen_readout(tau);
            for i in 0..d {
                for l in 0..m {
                    bt[(l, k * d + i)] = b[(i, l)];
                }
            }
        }
        let mut at = Mat::<f64>::zeros(m, d * taus.len());
        matmul(
            &mut at,
            Accum::Replace,
            &self.eigenvectors,
            &bt,
            1.0,
            Par::Seq,
        );
        Ok(at)
    }
}

/// `steps` steps of gradient descent `A ← A + η (R − A G)` from `a0` (row-major d × m); after `k`
/// steps it approximates the flow at `τ = k η` (needs `η λ_max < 2` to be stable).
pub fn gradient_descent(
    eq: &NormalEquations,
    a0: &[f64],
    lr: f64,
    steps: usize,
) -> Result<Vec<f64>> {
    let (d, m) = (eq.r.nrows(), eq.g.nrows());
    check_finite_at_least("learning rate", lr, 0.0, true)?;
    if a0.len() != d * m {
        return Err(Error::invalid(
            "A(0)",
            a0.len(),
            format!("expected d × m = {} numbers", d * m),
        ));
    }
    let mut a = readout_mat(a0, d, m);
    let mut ag = Mat::<f64>::zeros(d, m);
    for _ in 0..steps {
        matmul(&mut ag, Accum::Replace, &a, &eq.g, 1.0, Par::Seq);
        for i in 0..d {
            for j in 0..m {
                a[(i, j)] += lr * (eq.r[(i, j)] - ag[(i, j)]);
            }
        }
    }
    Ok(readout_vec(&a))
}
