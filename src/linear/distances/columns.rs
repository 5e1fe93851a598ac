//! Column slices of owned faer matrices, and the AVX clean-up after faer's kernels.

use faer::Mat;

/// Column j of an owned (column-major) matrix as a slice.
pub(crate) fn column(m: &Mat<f64>, j: usize) -> &[f64] {
    m.col(j)
        .try_as_col_major()
        .expect("an owned matrix has contiguous columns")
        .as_slice()
}

/// Column j of an owned (column-major) matrix as a mutable slice.
pub(crate) fn column_mut(m: &mut Mat<f64>, j: usize) -> &mut [f64] {
    m.col_mut(j)
        .try_as_col_major_mut()
        .expect("an owned matrix has contiguous columns")
        .as_slice_mut()
}

/// Every column of an owned (column-major) matrix as a mutable slice.
pub(crate) fn columns_mut(m: &mut Mat<f64>) -> Vec<&mut [f64]> {
    m.col_iter_mut()
        .map(|c| {
            c.try_as_col_major_mut()
                .expect("an owned matrix has contiguous columns")
                .as_slice_mut()
        })
        .collect()
}

/// Clears the upper halves of the AVX registers (`vzeroupper`) after faer's AVX kernels.
///
/// faer's kernels can return with the upper register halves dirty; the scalar code that follows
/// (compiled for baseline x86-64, SSE encoding) and libm's `exp` then pay an AVX–SSE transition
/// penalty on every instruction (measured: `benches/README.md`). Call it once after a faer call
/// that is followed by a long scalar loop.
#[inline]
pub(crate) fn clear_avx_upper() {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx")]
        unsafe fn zero_upper() {
            std::arch::x86_64::_mm256_zeroupper();
        }
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU supports AVX (checked at run time); vzeroupper only clears the
            // upper halves of the vector registers, which no live Rust value occupies here.
            unsafe { zero_upper() }
        }
    }
}
