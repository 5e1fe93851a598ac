//! Training images for the small pixel-space DDPMs, all 1 × 8 × 8 (in [−1, 1] but for `pixels`):
//!
//! - **digits**: the 1797 8×8 handwritten digits scikit-learn bundles (`data/digits.csv.gz`,
//!   BSD-3-Clause, see `data/README.md`), grey levels 0..16 mapped to `v/8 − 1`;
//! - **gaussian**: draws of `N(0, Σ)` with `Σ_ij = s² exp(−|p_i − p_j|²/(2ℓ²))` over the pixel
//!   positions (ℓ = 1.5 px, s = 0.5): smooth random images whose exact score is known;
//! - **molrg**: paper 004's mixture of low-rank Gaussians, `x = U_k a`, k uniform among K = 3,
//!   `a ~ N(0, c² I_d)`, d = 4, with `U_k ∈ R^{64×d}` mutually orthogonal (QR of a seeded Gaussian
//!   matrix) and `c = 0.5 √(64/d)` so that pixels have standard deviation 0.5 on average: the
//!   [`LowRankMixture`] of [`molrg_mixture`], so a model trained on it can be set beside the closed
//!   forms of [`crate::molrg`] (its posterior mean, Jacobian and rank);
//! - **pixels**: paper 000's non-linear experiment, every pixel independent `N(0.5, 0.1²)`
//!   ([`PIXEL_MEAN`], [`PIXEL_STD`]) in the reference's [0, 1] grey scale, kept in that one scale
//!   for the training set, the fresh draws and the generated images alike (the reference code mixes
//!   0–255, [−1, 1] and [0, 1]).
//!
//! Synthetic sets are a fixed training set of `n` draws from `seed` (memorization can then be
//! studied), drawn with our own generator (never tch's global one); the digits are always the
//! same 1797 images.

use std::io::Read;
use std::path::Path;

use rand_distr::{Distribution, StandardNormal};
use tch::{Kind, Tensor};

use crate::error::{Error, Result};
use crate::molrg::{Component, LowRankMixture, Mat};
use crate::rng::{rng_from_seed, SimRng};

/// Which images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    /// scikit-learn's 8×8 digits.
    Digits,
    /// Smooth Gaussian images.
    Gaussian,
    /// Paper 004's mixture of low-rank Gaussians.
    Molrg,
    /// Paper 000's independent `N(0.5, 0.1²)` pixels.
    Pixels,
}

impl std::str::FromStr for DataKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "digits" => Ok(DataKind::Digits),
            "gaussian" => Ok(DataKind::Gaussian),
            "molrg" => Ok(DataKind::Molrg),
            "pixels" => Ok(DataKind::Pixels),
            _ => Err(Error::invalid(
                "data",
                s,
                "expected digits, gaussian, molrg or pixels",
            )),
        }
    }
}

impl std::fmt::Display for DataKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DataKind::Digits => "digits",
            DataKind::Gaussian => "gaussian",
            DataKind::Molrg => "molrg",
            DataKind::Pixels => "pixels",
        })
    }
}

/// Side of the square images.
pub const SIDE: i64 = 8;
/// Pixels per image.
const PIXELS: i64 = SIDE * SIDE;

/// The shipped digits file.
pub fn digits_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/digits.csv.gz")
}

/// The digits as `[1797, 1, 8, 8]` in [−1, 1] and their labels.
pub fn digits() -> Result<(Tensor, Vec<u8>)> {
    let path = digits_path();
    let file = std::fs::File::open(&path).map_err(|e| Error::io("cannot read", &path, e))?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .map_err(|e| Error::io("cannot decompress", &path, e))?;
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let v: Vec<f32> = line
            .split(',')
            .map(|x| x.trim().parse::<f32>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::BadFile {
                path: path.clone(),
                reason: format!("line {}: {e}", i + 1),
            })?;
        if v.len() != PIXELS as usize + 1 {
            return Err(Error::BadFile {
                path: path.clone(),
                reason: format!("line {}: {} values, expected 65", i + 1, v.len()),
            });
        }
        pixels.extend(v[..PIXELS as usize].iter().map(|p| p / 8.0 - 1.0));
        labels.push(v[PIXELS as usize] as u8);
    }
    let n = labels.len() as i64;
    Ok((Tensor::from_slice(&pixels).view([n, 1, SIDE, SIDE]), labels))
}

/// Digit `i` (0..1797) of the shipped data as `[1, 1, 8, 8]` in [−1, 1], with its label.
pub fn digit(i: usize) -> Result<(Tensor, u8)> {
    let (x, labels) = digits()?;
    if i >= labels.len() {
        return Err(Error::invalid(
            "digit",
            i,
            format!("an index below {}", labels.len()),
        ));
    }
    Ok((x.narrow(0, i as i64, 1), labels[i]))
}

/// Mean of every pixel of the `pixels` images (grey scale [0, 1]).
pub const PIXEL_MEAN: f64 = 0.5;
/// Standard deviation of every pixel of the `pixels` images.
pub const PIXEL_STD: f64 = 0.1;

/// `n` images of independent `N(PIXEL_MEAN, PIXEL_STD²)` pixels from `seed`, `[n, 1, 8, 8]` f32.
///
/// ```
/// let x = difftheory::diffusion::data::pixel_images(4000, 3);
/// let (m, s) = (x.mean(tch::Kind::Double).double_value(&[]), x.std(true).double_value(&[]));
/// assert!((m - 0.5).abs() < 1e-3 && (s - 0.1).abs() < 1e-3);
/// ```
pub fn pixel_images(n: usize, seed: u64) -> Tensor {
    let n = n as i64;
    (normal_tensor(&mut rng_from_seed(seed), &[n, PIXELS]) * PIXEL_STD + PIXEL_MEAN)
        .to_kind(Kind::Float)
        .view([n, 1, SIDE, SIDE])
}

/// The covariance of the `gaussian` images, `[64, 64]` (f64).
pub fn gaussian_covariance() -> Tensor {
    let (ell, s) = (1.5f64, 0.5f64);
    let mut c = Vec::with_capacity((PIXELS * PIXELS) as usize);
    for i in 0..PIXELS {
        for j in 0..PIXELS {
            let (dy, dx) = ((i / SIDE - j / SIDE) as f64, (i % SIDE - j % SIDE) as f64);
            c.push(s * s * (-(dx * dx + dy * dy) / (2.0 * ell * ell)).exp());
        }
    }
    Tensor::from_slice(&c).view([PIXELS, PIXELS])
}

/// Standard normal draws from our generator as an f64 tensor of `shape` on the CPU (not tch's
/// global generator, which other threads may be using).
pub fn normal_tensor(rng: &mut SimRng, shape: &[i64]) -> Tensor {
    let n: i64 = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| StandardNormal.sample(rng)).collect();
    Tensor::from_slice(&v).view(shape)
}

/// Components K of the `molrg` images.
pub const MOLRG_COMPONENTS: usize = 3;
/// Subspace dimension d of the `molrg` images.
pub const MOLRG_DIM: usize = 4;

/// The orthonormal bases `U_k`, `[K, 64, d]`, of the `molrg` images for `seed`.
pub fn molrg_bases(seed: u64, k: i64, d: i64) -> Tensor {
    let mut rng = rng_from_seed(seed);
    let g = normal_tensor(&mut rng, &[PIXELS, k * d]);
    let (q, _) = Tensor::linalg_qr(&g, "reduced");
    q.view([PIXELS, k, d]).permute([1, 0, 2]).contiguous()
}

/// The distribution of the `molrg` images of `seed` (pixels flattened row-major, 64 dimensions):
/// K = 3 equally likely components, d = 4, variance `c² = 0.25 · 64/d` along every basis vector, no
/// off-subspace noise.
pub fn molrg_mixture(seed: u64) -> Result<LowRankMixture> {
    let (k, d) = (MOLRG_COMPONENTS as i64, MOLRG_DIM as i64);
    let u = molrg_bases(seed, k, d);
    let var = 0.25 * PIXELS as f64 / d as f64;
    let comps = (0..k)
        .map(|j| {
            let b = u.get(j).to_kind(Kind::Double).contiguous();
            let v: Vec<f64> = Vec::<f64>::try_from(&b.view([-1]))?;
            // row-major [64, d] → faer column-major
            let basis = Mat::from_fn(PIXELS as usize, d as usize, |r, c| v[r * d as usize + c]);
            Ok(Component {
                basis,
                variances: vec![var; d as usize],
                weight: 1.0,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    LowRankMixture::new(comps, 0.0)
}

/// A training set of `n` images of `kind` (`n` is ignored for digits), `[N, 1, 8, 8]` f32 on the CPU.
pub fn training_set(kind: DataKind, n: usize, seed: u64) -> Result<Tensor> {
    let n = n as i64;
    match kind {
        DataKind::Digits => Ok(digits()?.0),
        DataKind::Gaussian => {
            let l = gaussian_covariance().linalg_cholesky(false);
            let z = normal_tensor(&mut rng_from_seed(seed), &[n, PIXELS]);
            Ok(z.matmul(&l.tr())
                .to_kind(Kind::Float)
                .view([n, 1, SIDE, SIDE]))
        }
        DataKind::Molrg => {
            let mix = molrg_mixture(seed)?;
            let mut rng = rng_from_seed(crate::rng::task_seed(seed, 1));
            let pts = mix.sample(n as usize, &mut rng).points; // 64 × n, one image per column
            let v: Vec<f32> = (0..n as usize)
                .flat_map(|i| pts.col_as_slice(i).iter().map(|&x| x as f32))
                .collect();
            Ok(Tensor::from_slice(&v).view([n, 1, SIDE, SIDE]))
        }
        DataKind::Pixels => Ok(pixel_images(n as usize, seed)),
    }
}
