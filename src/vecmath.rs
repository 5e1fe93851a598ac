//! Vectorized kernels for the inner loops of the samplers: `exp` over a slice, written so the
//! compiler turns it into SIMD code, with an AVX2 + FMA version chosen at run time where the CPU has
//! it (the default x86-64 target only assumes SSE2).
//!
//! `exp_in_place` is accurate to a few ulp (relative error below 4e-16 on [−708, 709], checked
//! against `f64::exp` in the tests); arguments below −708 are clamped (result ≈ 3e-308 instead of
//! a subnormal or 0), above 709 to 709. Callers use it for softmax weights after subtracting the
//! maximum, where that clamp is invisible.

const LOG2E: f64 = std::f64::consts::LOG2_E;
// ln 2 split in a high part with trailing zero bits (exact products with small integers) and the rest
const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
// 1.5·2^52: adding it rounds to the nearest integer, which then sits in the low mantissa bits
const ROUND: f64 = 6_755_399_441_055_744.0;

#[inline(always)]
fn exp_one(x: f64) -> f64 {
    let x = x.clamp(-708.0, 709.0);
    let k = x * LOG2E + ROUND;
    let n = k - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO; // |r| <= ln2/2
                                           // Taylor series to degree 13 on |r| <= 0.347: truncation error < 2e-17 relative
    let mut p = 1.0 / 6_227_020_800.0;
    p = p * r + 1.0 / 479_001_600.0;
    p = p * r + 1.0 / 39_916_800.0;
    p = p * r + 1.0 / 3_628_800.0;
    p = p * r + 1.0 / 362_880.0;
    p = p * r + 1.0 / 40_320.0;
    p = p * r + 1.0 / 5_040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // 2^n from the integer in k's low bits: (n + 1023) << 52 (n in [−1022, 1023] after the clamp)
    let scale = f64::from_bits((k.to_bits().wrapping_add(1023)) << 52);
    p * scale
}

#[inline(always)]
fn exp_slice_generic(xs: &mut [f64]) {
    for x in xs.iter_mut() {
        *x = exp_one(*x);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn exp_slice_avx2(xs: &mut [f64]) {
    exp_slice_generic(xs)
}

/// `exp` over a slice without the feature test, to be inlined into a kernel that has its own
/// AVX2 version (see [`has_avx2_fma`]).
#[inline(always)]
pub fn exp_slice(xs: &mut [f64]) {
    exp_slice_generic(xs)
}

/// Whether this CPU runs code compiled with `#[target_feature(enable = "avx2,fma")]`.
#[inline]
pub fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Replaces every element of `xs` by its exponential (see the module docs for accuracy and range).
pub fn exp_in_place(xs: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2_fma() {
            // SAFETY: the CPU supports the features the function was compiled for
            unsafe { exp_slice_avx2(xs) };
            return;
        }
    }
    exp_slice_generic(xs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_std_exp_to_a_few_ulp() {
        let xs: Vec<f64> = (0..200_001)
            .map(|i| -708.0 + 1417.0 * i as f64 / 200_000.0)
            .chain((0..20_001).map(|i| -1.0 + i as f64 / 10_000.0))
            .collect();
        let mut ys = xs.clone();
        exp_in_place(&mut ys);
        let worst = xs
            .iter()
            .zip(&ys)
            .map(|(x, y)| ((y - x.exp()) / x.exp()).abs())
            .fold(0.0, f64::max);
        assert!(worst < 4e-16, "worst relative error {worst:e}");
        let mut edge = [-1e4, 0.0, 1e4, f64::NEG_INFINITY];
        exp_in_place(&mut edge);
        assert!(edge[0] > 0.0 && edge[0] < 1e-307, "{}", edge[0]);
        assert_eq!(edge[1], 1.0);
        assert!(edge[2].is_finite() && edge[2] > 1e307);
        assert!(edge[3] < 1e-307);
    }
}

/// Dot product with eight independent partial sums, so that the compiler can keep them in SIMD
/// registers (a single running sum is a sequential dependency chain: one add per cycle at best).
#[inline(always)]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut tail = 0.0;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    (acc[0] + acc[4]) + (acc[1] + acc[5]) + (acc[2] + acc[6]) + (acc[3] + acc[7]) + tail
}
