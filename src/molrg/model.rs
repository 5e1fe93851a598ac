//! The mixture of low-rank Gaussians (MoLRG) and its samples.
//!
//! Component k has an orthonormal basis `U_k ∈ R^{n×d_k}`, per-direction variances `λ_k` and a
//! weight `π_k`; with isotropic noise of standard deviation `σ_ξ` a draw is
//! `x = U_k a + σ_ξ ξ`, `a ~ N(0, diag λ_k)`, `ξ ~ N(0, I_n)`, so that
//! `Cov[x | k] = U_k Λ_k U_kᵀ + σ_ξ² I_n`. Paper 004's MoLRG is `Λ_k = I`, `σ_ξ = 0` (its "noisy"
//! variant `σ_ξ > 0`); the variances are kept general because a subspace fitted by PCA comes with its
//! own eigenvalues, and the learned denoiser of the generalization experiment uses them.
//!
//! A data set is an `n × N` matrix, one point per column (the paper's `X = [x⁽¹⁾ … x⁽ᴺ⁾]`).

use faer::{Mat, MatRef};
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};

use crate::error::{check_count_at_least, check_finite_at_least, Error, Result};
use crate::rng::SimRng;
use crate::vecmath::dot;

/// How the component bases are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bases {
    /// Mutually orthogonal subspaces (the paper's experiments): needs `Σ d_k <= n`.
    Orthogonal,
    /// Each basis drawn independently from the Haar measure (subspaces in general position).
    Random,
}

impl std::str::FromStr for Bases {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "orthogonal" => Ok(Bases::Orthogonal),
            "random" => Ok(Bases::Random),
            _ => Err(Error::invalid("bases", s, "expected orthogonal or random")),
        }
    }
}

/// Parameters of a random MoLRG instance: unit variances along every basis direction.
#[derive(Debug, Clone, PartialEq)]
pub struct MolrgParams {
    /// Ambient dimension n.
    pub ambient: usize,
    /// Subspace dimension d_k of each component (its length is K).
    pub dims: Vec<usize>,
    /// Mixing weights (normalized here); `None` is uniform.
    pub weights: Option<Vec<f64>>,
    /// How the bases are drawn.
    pub bases: Bases,
    /// Standard deviation `σ_ξ` of the isotropic noise (0: exactly low rank).
    pub noise: f64,
}

impl MolrgParams {
    /// K components of dimension `subspace_dim` each in `R^ambient`, orthogonal, uniform weights,
    /// no noise.
    pub fn new(ambient: usize, components: usize, subspace_dim: usize) -> Self {
        Self {
            ambient,
            dims: vec![subspace_dim; components],
            weights: None,
            bases: Bases::Orthogonal,
            noise: 0.0,
        }
    }

    /// Checks the shapes: `n >= 1`, `K >= 1`, `1 <= d_k <= n`, `Σ d_k <= n` for orthogonal bases,
    /// positive weights, finite `noise >= 0`.
    pub fn check(&self) -> Result<()> {
        check_count_at_least("ambient", self.ambient, 1)?;
        check_count_at_least("components", self.dims.len(), 1)?;
        for &d in &self.dims {
            check_count_at_least("subspace_dim", d, 1)?;
            if d > self.ambient {
                return Err(Error::invalid(
                    "subspace_dim",
                    d,
                    format!("a subspace of R^{0} has dimension <= {0}", self.ambient),
                ));
            }
        }
        let total: usize = self.dims.iter().sum();
        if self.bases == Bases::Orthogonal && total > self.ambient {
            return Err(Error::invalid(
                "subspace_dim",
                format!("{:?} (sum {total})", self.dims),
                format!(
                    "{} mutually orthogonal subspaces of these dimensions do not fit in R^{}: \
                     need components × subspace_dim <= ambient, or random (non-orthogonal) bases",
                    self.dims.len(),
                    self.ambient
                ),
            ));
        }
        if let Some(w) = &self.weights {
            check_weights(w, self.dims.len())?;
        }
        check_finite_at_least("noise", self.noise, 0.0, false)
    }
}

fn check_weights(w: &[f64], k: usize) -> Result<()> {
    if w.len() != k {
        return Err(Error::invalid(
            "weights",
            format!("{w:?}"),
            format!("expected one weight per component ({k})"),
        ));
    }
    if w.iter().any(|&x| !(x.is_finite() && x > 0.0)) {
        return Err(Error::invalid(
            "weights",
            format!("{w:?}"),
            "expected finite positive weights",
        ));
    }
    Ok(())
}

/// One component: an orthonormal basis `U` (n × d), the variances along its columns, a weight.
#[derive(Debug, Clone)]
pub struct Component {
    /// Orthonormal basis, n × d.
    pub basis: Mat<f64>,
    /// Variance along each basis column (`>= 0`; 1 in the paper's MoLRG).
    pub variances: Vec<f64>,
    /// Mixing weight `π_k` (the mixture normalizes them).
    pub weight: f64,
}

impl Component {
    /// A component with unit variances.
    pub fn unit(basis: Mat<f64>, weight: f64) -> Self {
        let d = basis.ncols();
        Self {
            basis,
            variances: vec![1.0; d],
            weight,
        }
    }
    /// Its dimension d.
    pub fn dim(&self) -> usize {
        self.basis.ncols()
    }
}

/// A mixture of low-rank Gaussians `Σ_k π_k N(0, U_k Λ_k U_kᵀ + σ_ξ² I)`.
#[derive(Debug, Clone)]
pub struct LowRankMixture {
    pub(crate) ambient: usize,
    pub(crate) components: Vec<Component>,
    pub(crate) noise: f64,
}

/// Draws from a mixture: the points (n × N, one per column) and the component of each.
#[derive(Debug, Clone)]
pub struct Sample {
    /// n × N, one point per column.
    pub points: Mat<f64>,
    /// The component each point was drawn from.
    pub labels: Vec<usize>,
}

impl LowRankMixture {
    /// A mixture from its components (weights normalized here).
    ///
    /// Errors when the bases do not share one ambient dimension, a basis is not orthonormal
    /// (`‖UᵀU − I‖_max > 1e-8`), a variance is negative or not finite, a weight is not positive,
    /// or the noise is negative.
    pub fn new(mut components: Vec<Component>, noise: f64) -> Result<Self> {
        check_count_at_least("components", components.len(), 1)?;
        let ambient = components[0].basis.nrows();
        check_count_at_least("ambient", ambient, 1)?;
        let w: Vec<f64> = components.iter().map(|c| c.weight).collect();
        check_weights(&w, components.len())?;
        for (k, c) in components.iter().enumerate() {
            if c.basis.nrows() != ambient {
                return Err(Error::invalid(
                    "basis",
                    format!("component {k}: {} rows", c.basis.nrows()),
                    format!("expected {ambient} rows, as the first component"),
                ));
            }
            if c.variances.len() != c.dim() {
                return Err(Error::invalid(
                    "variances",
                    format!("component {k}: {} values", c.variances.len()),
                    format!("expected one per basis column ({})", c.dim()),
                ));
            }
            if c.variances.iter().any(|&v| !(v.is_finite() && v >= 0.0)) {
                return Err(Error::invalid(
                    "variances",
                    format!("component {k}: {:?}", c.variances),
                    "expected finite numbers >= 0",
                ));
            }
            let dev = orthonormality_defect(c.basis.as_ref());
            if dev > 1e-8 {
                return Err(Error::invalid(
                    "basis",
                    format!("component {k}: max |UᵀU − I| = {dev:.3e}"),
                    "expected orthonormal columns (max |UᵀU − I| <= 1e-8)",
                ));
            }
        }
        check_finite_at_least("noise", noise, 0.0, false)?;
        let total: f64 = w.iter().sum();
        for c in &mut components {
            c.weight /= total;
        }
        Ok(Self {
            ambient,
            components,
            noise,
        })
    }

    /// A random instance of `params` (unit variances).
    pub fn random(params: &MolrgParams, rng: &mut SimRng) -> Result<Self> {
        params.check()?;
        let n = params.ambient;
        let k = params.dims.len();
        let weights = params.weights.clone().unwrap_or_else(|| vec![1.0; k]);
        let bases: Vec<Mat<f64>> = match params.bases {
            Bases::Orthogonal => {
                let total: usize = params.dims.iter().sum();
                let q = random_orthonormal(n, total, rng);
                let mut start = 0;
                params
                    .dims
                    .iter()
                    .map(|&d| {
                        let b = q.subcols(start, d).to_owned();
                        start += d;
                        b
                    })
                    .collect()
            }
            Bases::Random => params
                .dims
                .iter()
                .map(|&d| random_orthonormal(n, d, rng))
                .collect(),
        };
        let comps = bases
            .into_iter()
            .zip(weights)
            .map(|(b, w)| Component::unit(b, w))
            .collect();
        Self::new(comps, params.noise)
    }

    /// Ambient dimension n.
    pub fn ambient(&self) -> usize {
        self.ambient
    }
    /// The components (weights normalized).
    pub fn components(&self) -> &[Component] {
        &self.components
    }
    /// The noise standard deviation `σ_ξ`.
    pub fn noise(&self) -> f64 {
        self.noise
    }
    /// The bases `U_k`.
    pub fn bases(&self) -> Vec<MatRef<'_, f64>> {
        self.components.iter().map(|c| c.basis.as_ref()).collect()
    }
    /// `Σ_k d_k`.
    pub fn total_dim(&self) -> usize {
        self.components.iter().map(Component::dim).sum()
    }

    /// The fraction of `y`'s energy off the nearest of the subspaces:
    /// `min_k ‖y − U_k U_kᵀ y‖² / ‖y‖²` (0 for `y = 0`); 0 on the support, 1 orthogonal to it.
    pub fn off_support(&self, y: &[f64]) -> f64 {
        let norm: f64 = y.iter().map(|v| v * v).sum();
        if norm <= 0.0 {
            return 0.0;
        }
        let on = self
            .components
            .iter()
            .map(|c| {
                (0..c.dim())
                    .map(|a| dot(c.basis.col_as_slice(a), y).powi(2))
                    .sum::<f64>()
            })
            .fold(0.0, f64::max);
        (norm - on).max(0.0) / norm
    }

    /// One draw from component `k` into `out` (length n).
    pub fn draw_from(&self, k: usize, rng: &mut SimRng, out: &mut [f64]) {
        let c = &self.components[k];
        out.fill(0.0);
        for (j, &var) in c.variances.iter().enumerate() {
            let a: f64 = StandardNormal.sample(rng);
            let a = a * var.sqrt();
            for (o, &u) in out.iter_mut().zip(c.basis.col_as_slice(j)) {
                *o += a * u;
            }
        }
        if self.noise > 0.0 {
            for o in out.iter_mut() {
                let z: f64 = StandardNormal.sample(rng);
                *o += self.noise * z;
            }
        }
    }

    /// A component index drawn with the mixing weights.
    pub fn draw_label(&self, rng: &mut SimRng) -> usize {
        let u: f64 = rng.random();
        let mut acc = 0.0;
        for (k, c) in self.components.iter().enumerate() {
            acc += c.weight;
            if u < acc {
                return k;
            }
        }
        self.components.len() - 1
    }

    /// `count` i.i.d. draws (components by the mixing weights).
    pub fn sample(&self, count: usize, rng: &mut SimRng) -> Sample {
        let labels: Vec<usize> = (0..count).map(|_| self.draw_label(rng)).collect();
        self.sample_labels(labels, rng)
    }

    /// Exactly `per_component` draws from each component, grouped by component (the phase
    /// experiment's balanced training sets, `N_k = per_component`).
    pub fn sample_per_component(&self, per_component: usize, rng: &mut SimRng) -> Sample {
        let labels: Vec<usize> = (0..self.components.len())
            .flat_map(|k| std::iter::repeat_n(k, per_component))
            .collect();
        self.sample_labels(labels, rng)
    }

    fn sample_labels(&self, labels: Vec<usize>, rng: &mut SimRng) -> Sample {
        let mut points = Mat::<f64>::zeros(self.ambient, labels.len());
        for (i, &k) in labels.iter().enumerate() {
            self.draw_from(k, rng, points.col_as_slice_mut(i));
        }
        Sample { points, labels }
    }
}

/// `max |UᵀU − I|` of a basis.
pub fn orthonormality_defect(u: MatRef<'_, f64>) -> f64 {
    let g = u.transpose() * u;
    let mut dev: f64 = 0.0;
    for i in 0..g.nrows() {
        for j in 0..g.ncols() {
            let target = if i == j { 1.0 } else { 0.0 };
            dev = dev.max((g[(i, j)] - target).abs());
        }
    }
    dev
}

/// A Haar-distributed `n × d` matrix with orthonormal columns (`d <= n`): the Q factor of a
/// Gaussian matrix, its column signs fixed by R's diagonal (Mezzadri 2007).
pub fn random_orthonormal(n: usize, d: usize, rng: &mut SimRng) -> Mat<f64> {
    let g = Mat::<f64>::from_fn(n, d, |_, _| StandardNormal.sample(&mut *rng));
    let qr = g.qr();
    let mut q = qr.compute_thin_Q();
    let r = qr.thin_R();
    for j in 0..d {
        if r[(j, j)] < 0.0 {
            for i in 0..n {
                q[(i, j)] = -q[(i, j)];
            }
        }
    }
    q
}
