//! Jacobian products of a tensor map and its leading singular triplets (feature `torch`).
//!
//! For `f: R^D → R^D'` given as a closure on tch tensors (the posterior-mean predictor
//! `x̂₀(x_t, t)` of a diffusion model, paper 004 Sec. 4.2), everything here uses only products with
//! the Jacobian `J = ∂f/∂x` at a point, never `J` itself (unless asked for, for small D):
//!
//! - [`vjp`]: `uᵀJ` by reverse mode;
//! - [`jvp`]: `J v` by the double-backward trick (tch has no forward mode): with `g(u) = Jᵀu`
//!   computed with a graph, `J v = ∂(g(u)·v)/∂u`;
//! - both batched over directions: the point is repeated along the batch dimension, so `f` must act
//!   on each batch element independently (true of U-Nets with group norm; not of batch norm);
//! - [`full_jacobian`]: all D rows by batched VJPs, for tests and exact rank curves;
//! - [`Linearized`]: `f` at a point with its graphs kept, so that repeated JVP and VJP blocks cost
//!   one backward pass each and no forward pass;
//! - [`top_singular`]: the top-k singular triplets by randomized block subspace iteration (a JVP
//!   block for `J V`, a VJP block for `UᵀJ`, a k × k eigenproblem per iteration), stopping when the
//!   singular values change by less than a tolerance, with the residuals `‖J v_i − σ_i u_i‖` of the
//!   result reported.
//!
//! Shapes: a point `x` has the model's input shape `[1, ...]` (batch of one); directions are stacked
//! as `[k, ...]`. Flat matrices are `[D, k]` (one direction per column).

use tch::{Kind, Tensor};

use crate::error::{check_count_at_least, check_finite_at_least, Error, Result};

/// A map on tensors: input `[B, ...]` to output `[B, ...]`, each batch element independently.
pub trait TensorMap {
    /// Applies the map (with autograd: no `no_grad` inside).
    fn apply(&self, x: &Tensor) -> Result<Tensor>;
}

impl<F: Fn(&Tensor) -> Result<Tensor>> TensorMap for F {
    fn apply(&self, x: &Tensor) -> Result<Tensor> {
        self(x)
    }
}

fn check_point(x: &Tensor) -> Result<()> {
    let size = x.size();
    if size.is_empty() || size[0] != 1 {
        return Err(Error::invalid(
            "x",
            format!("{size:?}"),
            "expected one point: a tensor of shape [1, ...]",
        ));
    }
    Ok(())
}

fn check_directions(x: &Tensor, dirs: &Tensor, what: &str) -> Result<()> {
    let (xs, ds) = (x.size(), dirs.size());
    if ds.len() != xs.len() || ds[1..] != xs[1..] {
        return Err(Error::invalid(
            what,
            format!("{ds:?}"),
            format!(
                "expected [k, {:?}] (the point's shape after its batch dimension)",
                &xs[1..]
            ),
        ));
    }
    Ok(())
}

/// The point repeated k times along the batch dimension, as a fresh leaf that requires grad.
fn repeat_point(x: &Tensor, k: i64) -> Tensor {
    let reps: Vec<i64> = std::iter::once(k)
        .chain(std::iter::repeat_n(1, x.dim() - 1))
        .collect();
    x.detach().repeat(reps.as_slice()).set_requires_grad(true)
}

/// `uᵢᵀ J` for every direction `u_i` (stacked `[k, ...]`, the output's shape), at the point `x`.
pub fn vjp(f: &impl TensorMap, x: &Tensor, u: &Tensor) -> Result<Tensor> {
    check_point(x)?;
    let xb = repeat_point(x, u.size()[0]);
    let y = f.apply(&xb)?;
    check_directions(&y.narrow(0, 0, 1), u, "u")?;
    let s = (&y * u.detach()).sum(y.kind());
    let g = Tensor::f_run_backward(&[s], &[&xb], false, false)?;
    Ok(g.into_iter().next().expect("one gradient"))
}

/// `J v_i` for every direction `v_i` (stacked `[k, ...]`, the input's shape), at the point `x`, by
/// double backward.
pub fn jvp(f: &impl TensorMap, x: &Tensor, v: &Tensor) -> Result<Tensor> {
    check_point(x)?;
    check_directions(x, v, "v")?;
    let xb = repeat_point(x, v.size()[0]);
    let y = f.apply(&xb)?;
    let u = y.zeros_like().set_requires_grad(true);
    let s = (&y * &u).sum(y.kind());
    let g = Tensor::f_run_backward(&[s], &[&xb], true, true)?
        .into_iter()
        .next()
        .expect("one gradient");
    let s2 = (&g * v.detach()).sum(g.kind());
    let jv = Tensor::f_run_backward(&[s2], &[&u], false, false)?;
    Ok(jv.into_iter().next().expect("one gradient"))
}

/// `f` linearized at a point for a block of k directions: one forward pass with its graph and one
/// backward pass with a graph (`g(u) = Jᵀu`), kept; then every [`Linearized::jvp`] is one backward
/// pass through `g` and every [`Linearized::vjp`] one backward pass through `f` — no forward pass
/// is repeated. What the subspace iteration runs at every step.
pub struct Linearized {
    xb: Tensor,
    y: Tensor,
    u0: Tensor,
    g: Tensor,
    k: i64,
}

impl Linearized {
    /// Linearizes `f` at `x` (`[1, ...]`) for blocks of `k` directions.
    pub fn new(f: &impl TensorMap, x: &Tensor, k: i64) -> Result<Self> {
        check_point(x)?;
        let xb = repeat_point(x, k);
        let y = f.apply(&xb)?;
        let u0 = y.zeros_like().set_requires_grad(true);
        let s = (&y * &u0).sum(y.kind());
        let g = Tensor::f_run_backward(&[s], &[&xb], true, true)?
            .into_iter()
            .next()
            .expect("one gradient");
        Ok(Self { xb, y, u0, g, k })
    }

    fn check_block(&self, t: &Tensor, like: &Tensor, what: &str) -> Result<()> {
        let (a, b) = (t.size(), like.size());
        if a != b {
            return Err(Error::invalid(
                what,
                format!("{a:?}"),
                format!("a block of {} directions shaped {b:?}", self.k),
            ));
        }
        Ok(())
    }

    /// `J v_i` for the block `v: [k, ...]` (the input's shape).
    pub fn jvp(&self, v: &Tensor) -> Result<Tensor> {
        self.check_block(v, &self.xb, "v")?;
        let s = (&self.g * v.detach()).sum(self.g.kind());
        let r = Tensor::f_run_backward(&[s], &[&self.u0], true, false)?;
        Ok(r.into_iter().next().expect("one gradient"))
    }

    /// `u_iᵀ J` for the block `u: [k, ...]` (the output's shape).
    pub fn vjp(&self, u: &Tensor) -> Result<Tensor> {
        self.check_block(u, &self.y, "u")?;
        let s = (&self.y * u.detach()).sum(self.y.kind());
        let r = Tensor::f_run_backward(&[s], &[&self.xb], true, false)?;
        Ok(r.into_iter().next().expect("one gradient"))
    }
}

/// The full Jacobian `[D', D]` (flattened output by flattened input) by VJPs in batches of
/// `batch` rows. Costs D'/batch backward passes: for small images only.
pub fn full_jacobian(f: &impl TensorMap, x: &Tensor, batch: usize) -> Result<Tensor> {
    check_point(x)?;
    check_count_at_least("batch", batch, 1)?;
    let y = tch::no_grad(|| f.apply(x))?;
    let out_shape = y.size();
    let d_out: i64 = out_shape[1..].iter().product();
    let mut rows = Vec::new();
    let mut start = 0;
    while start < d_out {
        let k = (batch as i64).min(d_out - start);
        let eye = Tensor::eye(d_out, (y.kind(), y.device())).narrow(0, start, k);
        let mut shape = vec![k];
        shape.extend_from_slice(&out_shape[1..]);
        let u = eye.reshape(shape.as_slice());
        rows.push(vjp(f, x, &u)?.reshape([k, -1]));
        start += k;
    }
    Ok(Tensor::cat(&rows, 0))
}

/// All singular values of a matrix tensor `[m, n]` (any device and float kind), largest first,
/// computed in f64 on the CPU (faer's SVD): the spectrum of a [`full_jacobian`].
pub fn matrix_singular_values(m: &Tensor) -> Result<Vec<f64>> {
    crate::molrg::singular_values(&crate::torch::matrix_from_tensor(m)?)
}

/// Settings of [`top_singular`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SubspaceIteration {
    /// Number of singular triplets k (>= 1).
    pub k: usize,
    /// Stop when every one of the k singular values changed by less than `tol` relative to the
    /// largest (> 0).
    pub tol: f64,
    /// At most this many iterations (>= 1).
    pub max_iter: usize,
    /// Seed of the random start.
    pub seed: i64,
}

impl Default for SubspaceIteration {
    fn default() -> Self {
        Self {
            k: 8,
            tol: 1e-4,
            max_iter: 50,
            seed: 1,
        }
    }
}

/// The top-k singular triplets of `J` at a point.
#[derive(Debug)]
pub struct SingularTriplets {
    /// `σ_1 >= ... >= σ_k`.
    pub values: Vec<f64>,
    /// Left singular vectors `u_i`, stacked `[k, ...]` in the output's shape.
    pub left: Tensor,
    /// Right singular vectors `v_i`, stacked `[k, ...]` in the input's shape (edit directions).
    pub right: Tensor,
    /// `‖J v_i − σ_i u_i‖ / σ_1` for each triplet.
    pub residuals: Vec<f64>,
    /// Iterations run.
    pub iterations: usize,
    /// Whether the tolerance was met before `max_iter`.
    pub converged: bool,
}

fn orthonormal_columns(a: &Tensor) -> Result<Tensor> {
    let (q, _) = Tensor::f_linalg_qr(a, "reduced")?;
    Ok(q)
}

/// Randomized block subspace iteration for the top-k singular triplets of `J = ∂f/∂x` at `x`:
/// `V ← QR(randn)`; repeat { `U ← QR(J V)` (k JVPs); `W = JᵀU` (k VJPs); from `WᵀW = B S² Bᵀ`:
/// `σ = S`, `V ← W B S⁻¹`, `U ← U B` } until the σ change by less than `tol·σ_1`.
///
/// Computed in the point's dtype and device (use f64 for tests and checks against the full SVD).
pub fn top_singular(
    f: &impl TensorMap,
    x: &Tensor,
    cfg: SubspaceIteration,
) -> Result<SingularTriplets> {
    check_point(x)?;
    check_count_at_least("k", cfg.k, 1)?;
    check_count_at_least("max_iter", cfg.max_iter, 1)?;
    check_finite_at_least("tol", cfg.tol, 0.0, true)?;
    let in_shape = x.size();
    let d: i64 = in_shape[1..].iter().product();
    let k = cfg.k as i64;
    if k > d {
        return Err(Error::invalid(
            "k",
            cfg.k,
            format!("at most the input dimension {d}"),
        ));
    }
    let y = tch::no_grad(|| f.apply(x))?;
    let out_shape = y.size();
    let stack = |flat: &Tensor, shape: &[i64]| -> Tensor {
        let mut s = vec![k];
        s.extend_from_slice(&shape[1..]);
        flat.transpose(0, 1).reshape(s.as_slice())
    };
    let flat = |t: &Tensor| -> Tensor { t.reshape([k, -1]).transpose(0, 1) };
    let start = crate::torch::with_seed(cfg.seed, || Tensor::randn([d, k], (x.kind(), x.device())));
    let mut v = orthonormal_columns(&start)?;
    let mut values: Vec<f64> = vec![0.0; cfg.k];
    let mut u = Tensor::zeros([1], (x.kind(), x.device()));
    let (mut iterations, mut converged) = (0, false);
    let lin = Linearized::new(f, x, k)?;
    for it in 0..cfg.max_iter {
        iterations = it + 1;
        let jv = flat(&lin.jvp(&stack(&v, &in_shape))?);
        let uq = orthonormal_columns(&jv)?;
        let w = flat(&lin.vjp(&stack(&uq, &out_shape))?); // [D, k] = Jᵀ U
        let (evals, evecs) = Tensor::f_linalg_eigh(&w.transpose(0, 1).matmul(&w), "L")?;
        // ascending → descending
        let order = Tensor::arange_start_step(k - 1, -1, -1, (Kind::Int64, x.device()));
        let s2 = evals.index_select(0, &order).clamp_min(0.0);
        let b = evecs.index_select(1, &order);
        let s = s2.sqrt();
        let new: Vec<f64> =
            Vec::<f64>::try_from(&s.to_kind(Kind::Double).to_device(tch::Device::Cpu))?;
        let top = new[0].max(f64::MIN_POSITIVE);
        let change = new
            .iter()
            .zip(&values)
            .map(|(a, b)| (a - b).abs() / top)
            .fold(0.0, f64::max);
        values = new;
        let inv = s.clamp_min(top * 1e-12).reciprocal();
        v = w.matmul(&b) * inv.unsqueeze(0);
        u = uq.matmul(&b);
        if change < cfg.tol {
            converged = true;
            break;
        }
    }
    let right = stack(&v, &in_shape);
    let left = stack(&u, &out_shape);
    let jv = flat(&lin.jvp(&right)?);
    let sig = Tensor::from_slice(&values)
        .to_kind(x.kind())
        .to_device(x.device());
    let res = (jv - &u * sig.unsqueeze(0))
        .square()
        .sum_dim_intlist([0i64].as_slice(), false, x.kind())
        .sqrt();
    let top = values[0].max(f64::MIN_POSITIVE);
    let residuals: Vec<f64> =
        Vec::<f64>::try_from(&res.to_kind(Kind::Double).to_device(tch::Device::Cpu))?
            .into_iter()
            .map(|r| r / top)
            .collect();
    Ok(SingularTriplets {
        values,
        left: left.detach(),
        right: right.detach(),
        residuals,
        iterations,
        converged,
    })
}
