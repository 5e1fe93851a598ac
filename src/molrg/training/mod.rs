//! Training the low-rank denoiser: the DAE loss, and its three minimizers (paper 004, Thms 1–4).
//!
//! The network is paper 004's low-rank parameterization, the MoLRG posterior mean with unknown
//! bases: `x_θ(x_t) = Σ_k w_k(x_t) c U_k U_kᵀ x_t`, `c = s/(s²+γ²)`, `w = softmax(φ_t ‖U_kᵀ x_t‖² −
//! (d_k/2) ln((s²+γ²)/γ²))`, `φ_t = s²/(2γ²(s²+γ²))`, uniform `π`. Its denoising loss
//! `L(U) = E_{x₀, σ, ε} ‖x_θ(x₀ + σ ε) − x₀‖²` (EDM kernel, `s = 1`, `γ = σ`) is minimized
//!
//! - by [`sgd`]: minibatch SGD on the loss itself, gradients derived by hand, orthonormality kept by
//!   a QR retraction (Riemannian SGD on the Stiefel manifold);
//! - by [`pca`] (K = 1): for one subspace `L(U) = (1/N) Σ ‖x_i‖² − c s(2 − c s)(1/N) Σ ‖Uᵀx_i‖² +
//!   c²γ² d` ([`dae_loss_single`], exact in ε), so every noise level is minimized by the top-d
//!   principal subspace of the uncentred second moment (Thm 1);
//! - by [`k_subspaces`] (K > 1): with hard-max weights the loss is subspace clustering,
//!   `max Σ_k Σ_{i ∈ C_k} ‖U_kᵀ x_i‖²` (Thm 3), solved by alternating assignment and per-cluster
//!   PCA from several random starts.
//!
//! Recovery is judged by [`subspace_error`]: the normalized projection distance
//! `‖U Uᵀ − Û Ûᵀ‖_F / sqrt(d + d̂)` (0: equal, 1: orthogonal), averaged over components under the
//! best matching of estimated to true components. [`SUCCESS_THRESHOLD`] = 0.1 is our choice (the
//! paper's value was lost): in the noiseless case a fit from `N < d` points misses at least one
//! direction and completes it with a vector of overlap ρ with the missed one, an error of
//! `sqrt((1 − ρ)/d)`; the completion is generically almost orthogonal to the truth (ρ of order
//! 1/n), about `1/sqrt(d)` ≥ 0.22 for `d <= 20`, while `N >= d` is exact
//! (`docs/paper-004-low-rank-mixtures.md`).
//!
//! Files: `pca` (one subspace, and the basis helpers), `k_subspaces` (clustering), `sgd` (the DAE
//! loss and Riemannian SGD), `recovery` (subspace errors); this file holds the fit type and the
//! solver switch.

use faer::Mat;

use crate::error::{check_count_at_least, Error, Result};
use crate::rng::SimRng;

mod k_subspaces;
mod pca;
mod recovery;
mod sgd;

use k_subspaces::{assign, captured_energy};
use pca::{complete_basis, push_orthogonalized};

pub use k_subspaces::{k_subspaces, KSubspaces};
pub use pca::{pca, principal_subspace};
pub use recovery::{
    noisy_crossing, noisy_pca_error, projection_distance, subspace_error, Recovery,
};
pub use sgd::{dae_loss_mc, dae_loss_single, sgd, sgd_from, SgdConfig};

/// The subspace error below which a recovery counts as a success.
pub const SUCCESS_THRESHOLD: f64 = 0.1;

/// Subspaces fitted to data.
#[derive(Debug, Clone)]
pub struct Fit {
    /// One orthonormal basis per component (n × d_k).
    pub bases: Vec<Mat<f64>>,
    /// The data's second moment along each basis column (0 for directions the data do not reach).
    pub variances: Vec<Vec<f64>>,
    /// The component each training point is assigned to (hard max of `‖U_kᵀ x‖²`).
    pub labels: Vec<usize>,
    /// `Σ_i ‖U_{k(i)}ᵀ x_i‖² / Σ_i ‖x_i‖²`: the fraction of the data's energy captured.
    pub captured: f64,
    /// Iterations (K-subspaces: of the best restart; SGD: steps).
    pub iterations: usize,
    /// SGD: the minibatch loss at every step; empty for the other solvers.
    pub losses: Vec<f64>,
}

fn check_data(x: &Mat<f64>, dims: &[usize]) -> Result<()> {
    check_count_at_least("components", dims.len(), 1)?;
    check_count_at_least("points", x.ncols(), 1)?;
    for &d in dims {
        check_count_at_least("subspace_dim", d, 1)?;
        if d > x.nrows() {
            return Err(Error::invalid(
                "subspace_dim",
                d,
                format!("a subspace of R^{0} has dimension <= {0}", x.nrows()),
            ));
        }
    }
    for j in 0..x.ncols() {
        if x.col_as_slice(j).iter().any(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "data",
                format!("point {j}"),
                "expected finite coordinates",
            ));
        }
    }
    Ok(())
}

/// The minimizers of the DAE loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Solver {
    /// [`pca`]: one subspace only.
    Pca,
    /// [`k_subspaces`] (PCA when K = 1).
    Clustering,
    /// [`sgd`] on the DAE loss.
    Sgd,
    /// [`sgd_from`] the [`k_subspaces`] fit: whether SGD on the soft-max loss stays at the
    /// hard-max optimum (Thm 3), separating the loss's minimizer from SGD's path to it.
    SgdFromClustering,
}

impl Solver {
    /// The name used in tables and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Solver::Pca => "pca",
            Solver::Clustering => "clustering",
            Solver::Sgd => "sgd",
            Solver::SgdFromClustering => "sgd-from-clustering",
        }
    }
}

impl std::str::FromStr for Solver {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "pca" => Ok(Solver::Pca),
            "clustering" | "k-subspaces" => Ok(Solver::Clustering),
            "sgd" => Ok(Solver::Sgd),
            "sgd-from-clustering" => Ok(Solver::SgdFromClustering),
            _ => Err(Error::invalid(
                "solver",
                s,
                "expected pca, clustering, sgd or sgd-from-clustering",
            )),
        }
    }
}

/// Fits `dims.len()` subspaces to the columns of `x` with `solver` (PCA needs one component).
pub fn fit(
    solver: Solver,
    x: &Mat<f64>,
    dims: &[usize],
    kss: KSubspaces,
    sgd_cfg: SgdConfig,
    rng: &mut SimRng,
) -> Result<Fit> {
    match solver {
        Solver::Pca if dims.len() == 1 => pca(x, dims[0]),
        Solver::Pca => Err(Error::invalid(
            "solver",
            "pca",
            format!(
                "PCA fits one subspace; with {} components use clustering or sgd",
                dims.len()
            ),
        )),
        Solver::Clustering => k_subspaces(x, dims, kss, rng),
        Solver::Sgd => sgd(x, dims, sgd_cfg, rng),
        Solver::SgdFromClustering => {
            let start = k_subspaces(x, dims, kss, rng)?;
            sgd_from(x, &start.bases, sgd_cfg, rng)
        }
    }
}
