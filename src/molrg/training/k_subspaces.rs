//! K-subspaces clustering (paper 004, Thm 3: the hard-max DAE is subspace clustering), from
//! several random starts.

use faer::Mat;
use rand::RngExt;

use super::*;
use crate::error::{check_count_at_least, Result};
use crate::molrg::model::random_orthonormal;
use crate::rng::SimRng;
use crate::vecmath::dot;

fn energies(x: &[f64], basis: &Mat<f64>) -> f64 {
    (0..basis.ncols())
        .map(|j| dot(basis.col_as_slice(j), x).powi(2))
        .sum()
}

pub(super) fn assign(x: &Mat<f64>, bases: &[Mat<f64>], labels: &mut [usize]) -> f64 {
    let mut total = 0.0;
    for (i, l) in labels.iter_mut().enumerate() {
        let p = x.col_as_slice(i);
        let (mut best, mut arg) = (f64::NEG_INFINITY, 0);
        for (k, b) in bases.iter().enumerate() {
            let e = energies(p, b);
            if e > best {
                (best, arg) = (e, k);
            }
        }
        *l = arg;
        total += best;
    }
    total
}

pub(super) fn captured_energy(x: &Mat<f64>, bases: &[Mat<f64>], labels: &[usize]) -> f64 {
    let total: f64 = (0..x.ncols())
        .map(|i| dot(x.col_as_slice(i), x.col_as_slice(i)))
        .sum();
    let got: f64 = labels
        .iter()
        .enumerate()
        .map(|(i, &k)| energies(x.col_as_slice(i), &bases[k]))
        .sum();
    if total > 0.0 {
        got / total
    } else {
        1.0
    }
}

/// Settings of [`k_subspaces`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KSubspaces {
    /// Random starts; the best objective wins (>= 1).
    pub restarts: usize,
    /// Assignment / refit rounds per start (>= 1).
    pub max_iter: usize,
}

impl Default for KSubspaces {
    fn default() -> Self {
        Self {
            restarts: 10,
            max_iter: 50,
        }
    }
}

/// Theorem 3's minimizer: subspace clustering by K-subspaces.
///
/// Each start seeds the components one after the other: a seed point (the first uniformly, the
/// next ones with probability proportional to their squared residual off the components seeded so
/// far, as k-means++ does) and the `d_k − 1` points most coherent with it (largest `|cos|`) span
/// the component's first basis; then hard assignment
/// (`argmax_k ‖U_kᵀ x_i‖²`) and per-cluster PCA until the labels stop changing or `max_iter`
/// rounds; an emptied cluster restarts from the points worst explained. The start with the largest
/// captured energy wins; a start that captures all of it (noiseless data on the fitted subspaces)
/// ends the search, since none can do better.
pub fn k_subspaces(x: &Mat<f64>, dims: &[usize], cfg: KSubspaces, rng: &mut SimRng) -> Result<Fit> {
    check_data(x, dims)?;
    check_count_at_least("restarts", cfg.restarts, 1)?;
    check_count_at_least("max_iter", cfg.max_iter, 1)?;
    let (big_n, k) = (x.ncols(), dims.len());
    if k == 1 {
        return pca(x, dims[0]);
    }
    let total: f64 = (0..big_n)
        .map(|i| dot(x.col_as_slice(i), x.col_as_slice(i)))
        .sum();
    let mut best: Option<Fit> = None;
    for _ in 0..cfg.restarts {
        let mut bases = seeded_bases(x, dims, rng)?;
        let mut labels = vec![usize::MAX; big_n];
        let mut new = vec![0; big_n];
        let mut iterations = 0;
        let mut variances = vec![Vec::new(); k];
        for it in 0..cfg.max_iter {
            iterations = it + 1;
            assign(x, &bases, &mut new);
            let changed = new != labels;
            labels.copy_from_slice(&new);
            // refit every cluster (also on the last round, so the bases match the labels)
            for (c, &d) in dims.iter().enumerate() {
                let mut idx: Vec<usize> = (0..big_n).filter(|&i| labels[i] == c).collect();
                if idx.is_empty() {
                    idx = worst_explained(x, &bases, &labels, d);
                }
                let (b, v) = principal_subspace(x, &idx, d)?;
                bases[c] = b;
                variances[c] = v;
            }
            if !changed {
                break;
            }
        }
        let obj = assign(x, &bases, &mut labels);
        let captured = if total > 0.0 { obj / total } else { 1.0 };
        let better = best.as_ref().is_none_or(|b| captured > b.captured);
        if better {
            best = Some(Fit {
                bases,
                variances,
                labels,
                captured,
                iterations,
                losses: Vec::new(),
            });
        }
        if captured >= 1.0 - 1e-10 {
            break;
        }
    }
    Ok(best.expect("at least one restart ran"))
}

/// The starting bases of one K-subspaces run (see [`k_subspaces`]).
fn seeded_bases(x: &Mat<f64>, dims: &[usize], rng: &mut SimRng) -> Result<Vec<Mat<f64>>> {
    let (n, big_n) = (x.nrows(), x.ncols());
    let norms: Vec<f64> = (0..big_n)
        .map(|i| dot(x.col_as_slice(i), x.col_as_slice(i)).sqrt())
        .collect();
    let mut bases: Vec<Mat<f64>> = Vec::with_capacity(dims.len());
    for &d in dims {
        let residual: Vec<f64> = (0..big_n)
            .map(|i| {
                let p = x.col_as_slice(i);
                let best = bases.iter().map(|b| energies(p, b)).fold(0.0, f64::max);
                (dot(p, p) - best).max(0.0)
            })
            .collect();
        let total: f64 = residual.iter().sum();
        let seed = if bases.is_empty() || total <= 0.0 {
            rng.random_range(0..big_n)
        } else {
            let mut u = rng.random::<f64>() * total;
            let mut pick = big_n - 1;
            for (i, r) in residual.iter().enumerate() {
                if u < *r {
                    pick = i;
                    break;
                }
                u -= r;
            }
            pick
        };
        let s = x.col_as_slice(seed);
        let mut coherent: Vec<(f64, usize)> = (0..big_n)
            .filter(|&i| i != seed && norms[i] > 0.0 && norms[seed] > 0.0)
            .map(|i| {
                (
                    (dot(s, x.col_as_slice(i)) / (norms[i] * norms[seed])).abs(),
                    i,
                )
            })
            .collect();
        coherent.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut idx = vec![seed];
        idx.extend(coherent.into_iter().take(d - 1).map(|c| c.1));
        let (b, _) = principal_subspace(x, &idx, d)?;
        // directions the seed points do not reach: random rather than the same standard vectors
        let reached = idx.len().min(d);
        bases.push(if reached < d {
            randomize_completion(b, reached, n, rng)
        } else {
            b
        });
    }
    Ok(bases)
}

/// Replaces the columns `keep..` of an orthonormal basis by a random orthonormal completion.
fn randomize_completion(b: Mat<f64>, keep: usize, n: usize, rng: &mut SimRng) -> Mat<f64> {
    let d = b.ncols();
    let mut cols: Vec<Vec<f64>> = (0..keep).map(|j| b.col_as_slice(j).to_vec()).collect();
    let r = random_orthonormal(n, n.min(d + keep + 1).max(d), rng);
    for j in 0..r.ncols() {
        if cols.len() == d {
            break;
        }
        push_orthogonalized(&mut cols, r.col_as_slice(j).to_vec());
    }
    let cols = complete_basis(cols, n, d);
    Mat::from_fn(n, d, |i, j| cols[j][i])
}

/// The `d` points with the largest residual energy off their assigned subspace.
fn worst_explained(x: &Mat<f64>, bases: &[Mat<f64>], labels: &[usize], d: usize) -> Vec<usize> {
    let mut res: Vec<(f64, usize)> = (0..x.ncols())
        .map(|i| {
            let p = x.col_as_slice(i);
            (dot(p, p) - energies(p, &bases[labels[i]]), i)
        })
        .collect();
    res.sort_by(|a, b| b.0.total_cmp(&a.0));
    res.into_iter().take(d).map(|r| r.1).collect()
}
