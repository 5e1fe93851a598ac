//! The random-feature score `s_A(x, t) = A φ(x, t)/m` and its fixed features.
//!
//! `φ(x, t) = relu(W x/√d + U e(t))` with `W` (m × d) and `U` (m × 3) of iid `N(0, 1)` entries, drawn
//! once and never trained, and the time embedding `e(t) = (1, e^{-t}, sqrt(Δ_t))`, `Δ_t = 1 − e^{-2t}`
//! (OU-2): the score of OU-2 marginals depends on `t` only through the mean coefficient `e^{-t}`
//! and the noise scale `sqrt(Δ_t)`, and the constant entry gives each feature a random bias. The
//! `1/√d` keeps the pre-activations `O(1)` whatever the dimension; the `1/m` in front of `A` is the
//! mean-field scale, so the score stays `O(1)` as `m` grows with `A = O(1)` entry-wise.

use faer::prelude::ReborrowMut;
use faer::MatMut;
use rand_distr::{Distribution, StandardNormal};

use crate::error::{check_count_at_least, Error, Result};
use crate::rng::SimRng;
use crate::score::Drift;

/// Length of the time embedding `e(t)`.
pub const EMBED_DIM: usize = 3;

/// The OU-2 time embedding `e(t) = (1, e^{-t}, sqrt(1 − e^{-2t}))`.
///
/// ```
/// use difftheory::random_features::time_embedding;
/// let e = time_embedding(0.0);
/// assert_eq!(e, [1.0, 1.0, 0.0]);
/// let e = time_embedding(1.0);
/// assert!((e[1] * e[1] + e[2] * e[2] - 1.0).abs() < 1e-15); // m_t² + Δ_t = 1
/// ```
pub fn time_embedding(t: f64) -> [f64; EMBED_DIM] {
    let m = (-t).exp();
    [1.0, m, (-(-2.0 * t).exp_m1()).sqrt()]
}

/// Fixed random features `φ(x, t) = relu(W x/√d + U e(t))` in `d` dimensions, `m` of them.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomFeatures {
    d: usize,
    m: usize,
    /// `W / √d`, row-major m × d.
    w: Vec<f64>,
    /// `U`, row-major m × [`EMBED_DIM`].
    u: Vec<f64>,
}

impl RandomFeatures {
    /// Draws `W` and `U` (iid `N(0, 1)`) from `rng`; `d, m >= 1`.
    pub fn new(d: usize, m: usize, rng: &mut SimRng) -> Result<Self> {
        check_count_at_least("d", d, 1)?;
        check_count_at_least("features", m, 1)?;
        let scale = 1.0 / (d as f64).sqrt();
        let w = (0..m * d)
            .map(|_| {
                let z: f64 = StandardNormal.sample(rng);
                scale * z
            })
            .collect();
        let u = (0..m * EMBED_DIM)
            .map(|_| StandardNormal.sample(rng))
            .collect();
        Ok(Self { d, m, w, u })
    }

    /// The data dimension `d`.
    pub fn dim(&self) -> usize {
        self.d
    }

    /// The number of features `m`.
    pub fn count(&self) -> usize {
        self.m
    }

    /// Writes `φ(x, t)` (length `m`) into `out`.
    ///
    /// ```
    /// use difftheory::random_features::RandomFeatures;
    /// use difftheory::rng::rng_from_seed;
    /// let f = RandomFeatures::new(2, 16, &mut rng_from_seed(1)).unwrap();
    /// let mut phi = vec![0.0; 16];
    /// f.features_into(&[0.3, -1.0], 0.5, &mut phi);
    /// assert!(phi.iter().all(|v| *v >= 0.0)); // ReLU
    /// ```
    pub fn features_into(&self, x: &[f64], t: f64, out: &mut [f64]) {
        let e = time_embedding(t);
        let d = self.d;
        for (j, o) in out.iter_mut().enumerate() {
            let wj = &self.w[j * d..(j + 1) * d];
            let uj = &self.u[j * EMBED_DIM..(j + 1) * EMBED_DIM];
            let pre: f64 = wj.iter().zip(x).map(|(a, b)| a * b).sum::<f64>()
                + uj.iter().zip(&e).map(|(a, b)| a * b).sum::<f64>();
            *o = pre.max(0.0);
        }
    }

    /// Writes `scale · φ(x_r, t)` for the points `xs` (row-major, `rows × d`) into the rows of
    /// `out` (`rows × m`): the feature block `Φ` of a Gram matrix `ΦᵀΦ`, filled column by column
    /// (contiguous in faer's column-major storage), with the same arithmetic as
    /// [`Self::features_into`] row by row.
    ///
    /// ```
    /// use difftheory::random_features::RandomFeatures;
    /// use difftheory::rng::rng_from_seed;
    /// let f = RandomFeatures::new(2, 8, &mut rng_from_seed(1)).unwrap();
    /// let xs = [0.3, -1.0, 2.0, 0.5]; // two points
    /// let mut block = faer::Mat::<f64>::zeros(2, 8);
    /// f.features_block(&xs, 0.5, 3.0, block.as_mut());
    /// let mut phi = vec![0.0; 8];
    /// f.features_into(&xs[2..], 0.5, &mut phi);
    /// assert!((0..8).all(|j| block[(1, j)] == 3.0 * phi[j]));
    /// ```
    ///
    /// # Panics
    /// If `xs.len() != out.nrows() · d` or `out.ncols() != m`.
    pub fn features_block(&self, xs: &[f64], t: f64, scale: f64, mut out: MatMut<'_, f64>) {
        let (d, m) = (self.d, self.m);
        assert_eq!(xs.len(), out.nrows() * d, "xs must hold out.nrows() points");
        assert_eq!(out.ncols(), m, "out must have one column per feature");
        let e = time_embedding(t);
        let rows = out.nrows();
        // the points coordinate by coordinate, so that every loop below runs over contiguous rows
        let mut coords = vec![0.0; rows * d];
        for (r, x) in xs.chunks_exact(d).enumerate() {
            for (i, xi) in x.iter().enumerate() {
                coords[i * rows + r] = *xi;
            }
        }
        for j in 0..m {
            let wj = &self.w[j * d..(j + 1) * d];
            let uj = &self.u[j * EMBED_DIM..(j + 1) * EMBED_DIM];
            let bias = uj.iter().zip(&e).map(|(a, b)| a * b).sum::<f64>();
            let mut col = out.rb_mut().col_mut(j);
            match col.rb_mut().try_as_col_major_mut() {
                // the usual case, a (sub-block of a) column-major matrix: a contiguous column
                Some(c) => {
                    feature_column(wj, bias, scale, &coords, c.as_slice_mut());
                }
                None => {
                    for (r, x) in xs.chunks_exact(d).enumerate() {
                        let pre = wj.iter().zip(x).map(|(a, b)| a * b).sum::<f64>() + bias;
                        col[r] = scale * pre.max(0.0);
                    }
                }
            }
        }
    }
}

/// `c = scale · relu(w_j · x + bias)` over the rows of a block, `coords` holding the points
/// coordinate by coordinate (`d × rows`): `w_j · x` accumulated in the order of
/// [`RandomFeatures::features_into`] (so the values are the same), every loop over contiguous rows.
fn feature_column(wj: &[f64], bias: f64, scale: f64, coords: &[f64], c: &mut [f64]) {
    let rows = c.len();
    for (i, (wji, xi)) in wj.iter().zip(coords.chunks_exact(rows)).enumerate() {
        if i == 0 {
            c.iter_mut().zip(xi).for_each(|(o, x)| *o = wji * x);
        } else {
            c.iter_mut().zip(xi).for_each(|(o, x)| *o += wji * x);
        }
    }
    c.iter_mut().for_each(|o| *o = scale * (*o + bias).max(0.0));
}

/// The score model `s_A(x, t) = A φ(x, t)/m` with readout `A` (d × m, row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct RfScore<'a> {
    features: &'a RandomFeatures,
    a: Vec<f64>,
}

impl<'a> RfScore<'a> {
    /// The model with readout `a` (row-major d × m).
    pub fn new(features: &'a RandomFeatures, a: Vec<f64>) -> Result<Self> {
        let want = features.dim() * features.count();
        if a.len() != want {
            return Err(Error::invalid(
                "readout",
                a.len(),
                format!("expected d × m = {want} numbers"),
            ));
        }
        Ok(Self { features, a })
    }

    /// The readout `A` (row-major d × m).
    pub fn readout(&self) -> &[f64] {
        &self.a
    }
}

impl Drift for RfScore<'_> {
    fn dim(&self) -> usize {
        self.features.dim()
    }
    fn score(&self, t: f64, x: &[f64], out: &mut [f64]) {
        let m = self.features.count();
        let mut phi = vec![0.0; m];
        self.features.features_into(x, t, &mut phi);
        for (i, o) in out.iter_mut().enumerate() {
            let row = &self.a[i * m..(i + 1) * m];
            *o = row.iter().zip(&phi).map(|(a, p)| a * p).sum::<f64>() / m as f64;
        }
    }
    fn score_batch(&self, t: f64, xs: &[f64], out: &mut [f64]) {
        let (d, m) = (self.features.dim(), self.features.count());
        let mut phi = vec![0.0; m];
        for (x, o) in xs.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
            self.features.features_into(x, t, &mut phi);
            for (i, oi) in o.iter_mut().enumerate() {
                let row = &self.a[i * m..(i + 1) * m];
                *oi = row.iter().zip(&phi).map(|(a, p)| a * p).sum::<f64>() / m as f64;
            }
        }
    }
}
