//! Distances between the original Gaussian, the generated Gaussian and kernel density estimates,
//! all in log-determinant form (paper 000). Points of a KDE are the columns of a d×N matrix.
//!
//! - [`gaussian`]: KL (mean and covariance parts) and H² between two Gaussians, one or many at a
//!   time with reused buffers;
//! - [`kde`]: Gaussian KDE overlaps, squared L² distances to a Gaussian and between KDEs, and the
//!   element-wise metric of paper 000's pixel experiment;
//! - `columns`: column slices of faer matrices and the AVX clean-up after faer's kernels.

mod columns;
pub mod gaussian;
pub mod kde;

/// `ln 2π`.
const LN_2PI: f64 = 1.837_877_066_409_345_3;

pub(crate) use columns::{clear_avx_upper, column, column_mut, columns_mut};
pub use gaussian::*;
pub use kde::*;
