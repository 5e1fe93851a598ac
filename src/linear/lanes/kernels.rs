//! The dense kernels of [`super`] on [`LANES`] interleaved matrices: element `(i, j)` of a
//! `dp × dp` matrix is the vector `m[j·dp + i]`, one f64 per trial. Written once with
//! `#[inline(always)]` on `[f64; 8]` and T×T register tiles; the callers compile them under
//! AVX-512 (T = 4), AVX2 + FMA (T = 2) or no vector features. Each element's sum runs over k in
//! ascending order whatever T, so every build gives the same bits.

use std::ops::{Add, Mul, Sub};

use super::LANES;

/// One element of [`LANES`] matrices, or one scalar of [`LANES`] trials.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C, align(64))]
pub(super) struct V(pub(super) [f64; LANES]);

impl V {
    pub(super) const ZERO: V = V([0.0; LANES]);

    #[inline(always)]
    pub(super) fn splat(x: f64) -> V {
        V([x; LANES])
    }

    #[inline(always)]
    pub(super) fn map(self, f: impl Fn(f64) -> f64) -> V {
        let mut o = self.0;
        for x in &mut o {
            *x = f(*x);
        }
        V(o)
    }

    #[inline(always)]
    pub(super) fn zip(self, b: V, f: impl Fn(f64, f64) -> f64) -> V {
        let mut o = self.0;
        for (x, y) in o.iter_mut().zip(b.0) {
            *x = f(*x, y);
        }
        V(o)
    }

    /// `self·b + c`, fused per lane.
    #[inline(always)]
    pub(super) fn mul_add(self, b: V, c: V) -> V {
        let mut o = self.0;
        for l in 0..LANES {
            o[l] = o[l].mul_add(b.0[l], c.0[l]);
        }
        V(o)
    }

    /// `c − self·b`, fused per lane.
    #[inline(always)]
    pub(super) fn neg_mul_add(self, b: V, c: V) -> V {
        let mut o = self.0;
        for l in 0..LANES {
            o[l] = (-o[l]).mul_add(b.0[l], c.0[l]);
        }
        V(o)
    }
}

impl Add for V {
    type Output = V;
    #[inline(always)]
    fn add(self, b: V) -> V {
        self.zip(b, |x, y| x + y)
    }
}

impl Sub for V {
    type Output = V;
    #[inline(always)]
    fn sub(self, b: V) -> V {
        self.zip(b, |x, y| x - y)
    }
}

impl Mul for V {
    type Output = V;
    #[inline(always)]
    fn mul(self, b: V) -> V {
        self.zip(b, |x, y| x * y)
    }
}

/// `acc[a][b] ∓= Σ_{k0 ≤ k < k1} X[k, i0+a]·Y[k, j0+b]` over columns of two interleaved matrices
/// (`X[k, i]` at `x[i·dp + k]`), k ascending: the one inner kernel of every d³ step.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn tile_dot<const T: usize, const NEG: bool>(
    acc: &mut [[V; T]; T],
    x: &[V],
    i0: usize,
    y: &[V],
    j0: usize,
    dp: usize,
    k0: usize,
    k1: usize,
) {
    if k1 <= k0 {
        return;
    }
    let len = k1 - k0;
    let xc: [&[V]; T] = std::array::from_fn(|a| &x[(i0 + a) * dp + k0..][..len]);
    let yc: [&[V]; T] = std::array::from_fn(|b| &y[(j0 + b) * dp + k0..][..len]);
    for k in 0..len {
        let mut xs = [V::ZERO; T];
        for a in 0..T {
            // SAFETY: every xc[a] has exactly `len` elements and k < len.
            xs[a] = unsafe { *xc[a].get_unchecked(k) };
        }
        for b in 0..T {
            // SAFETY: as above for yc[b].
            let yv = unsafe { *yc[b].get_unchecked(k) };
            for a in 0..T {
                acc[a][b] = if NEG {
                    xs[a].neg_mul_add(yv, acc[a][b])
                } else {
                    xs[a].mul_add(yv, acc[a][b])
                };
            }
        }
    }
}

#[inline(always)]
pub(super) fn load_tile<const T: usize>(m: &[V], dp: usize, i0: usize, j0: usize) -> [[V; T]; T] {
    let mut t = [[V::ZERO; T]; T];
    for (a, row) in t.iter_mut().enumerate() {
        for (b, e) in row.iter_mut().enumerate() {
            *e = m[(j0 + b) * dp + i0 + a];
        }
    }
    t
}

#[inline(always)]
pub(super) fn store_tile<const T: usize>(
    m: &mut [V],
    dp: usize,
    i0: usize,
    j0: usize,
    t: &[[V; T]; T],
) {
    for (a, row) in t.iter().enumerate() {
        for (b, e) in row.iter().enumerate() {
            m[(j0 + b) * dp + i0 + a] = *e;
        }
    }
}

/// Upper triangle (tiles with `j0 ≥ i0`) of `S = NᵀN`.
#[inline(always)]
pub(super) fn syrk_upper<const T: usize>(n: &[V], s: &mut [V], dp: usize) {
    for j0 in (0..dp).step_by(T) {
        for i0 in (0..=j0).step_by(T) {
            let mut acc = [[V::ZERO; T]; T];
            tile_dot::<T, false>(&mut acc, n, i0, n, j0, dp, 0, dp);
            store_tile(s, dp, i0, j0, &acc);
        }
    }
}

/// Upper Cholesky `A = UᵀU` in place (upper triangle of `a` read and overwritten, the strict lower
/// triangle untouched), `rinv[i] = 1/U_ii`. Lanes whose pivot is not positive and finite are
/// cleared in `ok` and go on with a unit pivot (their values are then meaningless).
#[inline(always)]
pub(super) fn cholesky_upper<const T: usize>(
    a: &mut [V],
    rinv: &mut [V],
    dp: usize,
    ok: &mut [bool; LANES],
) {
    for i0 in (0..dp).step_by(T) {
        // the diagonal tile: S − Σ_{k<i0} U[k,·]U[k,·], then its own factorization
        let mut dg = load_tile::<T>(a, dp, i0, i0);
        tile_dot::<T, true>(&mut dg, a, i0, a, i0, dp, 0, i0);
        for p in 0..T {
            for q in 0..p {
                for b in p..T {
                    dg[p][b] = dg[q][p].neg_mul_add(dg[q][b], dg[p][b]);
                }
            }
            let mut piv = dg[p][p];
            for (l, x) in piv.0.iter_mut().enumerate() {
                if !(*x > 0.0 && x.is_finite()) {
                    ok[l] = false;
                    *x = 1.0;
                }
            }
            let u = piv.map(f64::sqrt);
            let r = V::splat(1.0).zip(u, |one, u| one / u);
            dg[p][p] = u;
            rinv[i0 + p] = r;
            for b in p + 1..T {
                dg[p][b] = dg[p][b] * r;
            }
        }
        for p in 0..T {
            for b in p..T {
                a[(i0 + b) * dp + i0 + p] = dg[p][b];
            }
        }
        // the rest of block row i0
        for j0 in (i0 + T..dp).step_by(T) {
            let mut t = load_tile::<T>(a, dp, i0, j0);
            tile_dot::<T, true>(&mut t, a, i0, a, j0, dp, 0, i0);
            for p in 0..T {
                for q in 0..p {
                    for b in 0..T {
                        t[p][b] = dg[q][p].neg_mul_add(t[q][b], t[p][b]);
                    }
                }
                for b in 0..T {
                    t[p][b] = t[p][b] * rinv[i0 + p];
                }
            }
            store_tile(a, dp, i0, j0, &t);
        }
    }
}

/// `‖U⁻ᵀ‖²_F` (= tr (UᵀU)⁻¹) by blocked forward substitution `UᵀY = I`, one block column of
/// T columns of Y at a time in `y` (T·dp).
/// The squares are summed per row of Y, j ascending, into `rows`, then over the rows: the same
/// order whatever the tile size T.
#[inline(always)]
pub(super) fn inverse_norm2<const T: usize>(
    u: &[V],
    rinv: &[V],
    y: &mut [V],
    rows: &mut [V],
    dp: usize,
) -> V {
    rows.fill(V::ZERO);
    for j0 in (0..dp).step_by(T) {
        for i0 in (j0..dp).step_by(T) {
            let mut t = [[V::ZERO; T]; T];
            if i0 == j0 {
                for (p, row) in t.iter_mut().enumerate() {
                    row[p] = V::splat(1.0);
                }
            }
            tile_dot::<T, true>(&mut t, u, i0, y, 0, dp, j0, i0);
            for p in 0..T {
                for q in 0..p {
                    let upq = u[(i0 + p) * dp + i0 + q];
                    for b in 0..T {
                        t[p][b] = upq.neg_mul_add(t[q][b], t[p][b]);
                    }
                }
                for b in 0..T {
                    t[p][b] = t[p][b] * rinv[i0 + p];
                    rows[i0 + p] = t[p][b].mul_add(t[p][b], rows[i0 + p]);
                }
            }
            store_tile(y, dp, i0, 0, &t);
        }
    }
    rows.iter().fold(V::ZERO, |s, r| s + *r)
}

/// `‖U⁻ᵀδ‖²`: forward substitution `Uᵀx = δ`, x into `x`.
#[inline(always)]
pub(super) fn solve_norm2(u: &[V], rinv: &[V], delta: &[V], x: &mut [V], dp: usize) -> V {
    let mut norm = V::ZERO;
    for i in 0..dp {
        let col = &u[i * dp..][..i];
        let mut acc = delta[i];
        for (uk, xk) in col.iter().zip(&x[..i]) {
            acc = uk.neg_mul_add(*xk, acc);
        }
        let xi = acc * rinv[i];
        x[i] = xi;
        norm = xi.mul_add(xi, norm);
    }
    norm
}

/// Columns per panel of [`lu_sign`] (a multiple of 4; fixed, so that every build sums the same
/// terms in the same order).
const LU_PANEL: usize = 8;

/// Sign of det A from an LU with partial pivoting of `a` (destroyed), each lane pivoting on its
/// own; a lane with a zero or non-finite pivot is cleared in `ok`. Blocked right-looking
/// (LAPACK's getrf): a panel of [`LU_PANEL`] columns is factored with its row swaps, the swaps are
/// applied to the trailing columns, `U₁₂ = L₁₁⁻¹A₁₂`, and `A₂₂ −= L₂₁U₁₂` runs on T×T register
/// tiles (the unblocked form was bound by moving the trailing matrix through the cache d times).
#[inline(always)]
pub(super) fn lu_sign<const T: usize>(a: &mut [V], dp: usize, ok: &mut [bool; LANES]) -> V {
    let mut sign = V::splat(1.0);
    let mut piv = [[0usize; LANES]; LU_PANEL];
    for k0 in (0..dp).step_by(LU_PANEL) {
        let k1 = (k0 + LU_PANEL).min(dp);
        for k in k0..k1 {
            let mut best = a[k * dp + k].map(f64::abs);
            let mut at = [k; LANES];
            for i in k + 1..dp {
                let v = a[k * dp + i].map(f64::abs);
                for l in 0..LANES {
                    if v.0[l] > best.0[l] {
                        best.0[l] = v.0[l];
                        at[l] = i;
                    }
                }
            }
            piv[k - k0] = at;
            for (l, &p) in at.iter().enumerate() {
                if p != k {
                    sign.0[l] = -sign.0[l];
                    for c in k0..k1 {
                        let (x, y) = (a[c * dp + k].0[l], a[c * dp + p].0[l]);
                        a[c * dp + k].0[l] = y;
                        a[c * dp + p].0[l] = x;
                    }
                }
            }
            let mut pv = a[k * dp + k];
            for l in 0..LANES {
                if pv.0[l] == 0.0 || !pv.0[l].is_finite() {
                    ok[l] = false;
                    pv.0[l] = 1.0;
                } else if pv.0[l] < 0.0 {
                    sign.0[l] = -sign.0[l];
                }
            }
            let r = V::splat(1.0).zip(pv, |one, p| one / p);
            let (head, tail) = a.split_at_mut((k + 1) * dp);
            let colk = &mut head[k * dp + k + 1..];
            for x in colk.iter_mut() {
                *x = *x * r;
            }
            for c in tail.chunks_exact_mut(dp).take(k1 - k - 1) {
                let f = c[k];
                for (x, m) in c[k + 1..].iter_mut().zip(colk.iter()) {
                    *x = m.neg_mul_add(f, *x);
                }
            }
        }
        if k1 == dp {
            break;
        }
        // the panel's swaps on the trailing columns, then U₁₂ = L₁₁⁻¹A₁₂ (unit lower L₁₁)
        let (left, right) = a.split_at_mut(k1 * dp);
        for c in right.chunks_exact_mut(dp) {
            for k in k0..k1 {
                for (l, &p) in piv[k - k0].iter().enumerate() {
                    if p != k {
                        let x = c[k].0[l];
                        c[k].0[l] = c[p].0[l];
                        c[p].0[l] = x;
                    }
                }
            }
            for i in k0..k1 {
                let mut x = c[i];
                for q in k0..i {
                    x = left[q * dp + i].neg_mul_add(c[q], x);
                }
                c[i] = x;
            }
        }
        // A₂₂ −= L₂₁U₁₂
        for j0 in (k1..dp).step_by(T) {
            for i0 in (k1..dp).step_by(T) {
                let mut t = load_tile::<T>(a, dp, i0, j0);
                for q in k0..k1 {
                    let xq = &a[q * dp + i0..][..T];
                    for b in 0..T {
                        let yv = a[(j0 + b) * dp + q];
                        for (p, x) in xq.iter().enumerate() {
                            t[p][b] = x.neg_mul_add(yv, t[p][b]);
                        }
                    }
                }
                store_tile(a, dp, i0, j0, &t);
            }
        }
    }
    sign
}
