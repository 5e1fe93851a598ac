#!/usr/bin/env python3
"""Numpy reference for the linear one-step denoiser model ("From memorization to
generalization"): Monte Carlo of KL(orig || gen), its mean/covariance split and the
squared Hellinger distance, plus the finite-n prediction.

Model
-----
x0 ~ N(mu 1, sigma^2 I_d); n training points X (n x d).
a = e^{-T}, s^2 = lam (1 - e^{-2T}); y_i = a x_i + s z_i.
OLS with intercept: W = (Xc^T Yc)(Yc^T Yc)^{-1}, b = xbar - W ybar.
Sampling: x_T ~ N(a xbar, v_T I), v_T = a^2 sigmahat^2 + s^2,
sigmahat^2 = mean over coordinates of the unbiased per-coordinate sample variance.
p_gen = N(mu_g, Sigma_g), mu_g = b + a W xbar, Sigma_g = v_T W W^T.

Everything depends on (d, n, kappa^2) only, kappa^2 = s^2 / (a^2 sigma^2)
(mu and the overall scale drop out exactly).

This is the numpy reference of `difftheory::linear` (src/linear/): the numpy side of the
benchmark benches/linear_kl.py and the source of the prediction copied into
tests/golden/generate.py. The derivation is in the module docs of src/linear/mod.rs.

`mc_batch` is the raw model (n points drawn, OLS fitted: Sampler::Raw in Rust),
`mc_batch_reduced` the sufficient-statistics sampler with the same joint law (Sampler::Reduced).
"""
import math

import numpy as np


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------
def noise_params(T, lam):
    a = math.exp(-T)
    s2 = lam * (1.0 - math.exp(-2.0 * T))
    return a, s2


def kappa2_of(T, lam, sigma):
    a, s2 = noise_params(T, lam)
    return s2 / (a * a * sigma * sigma)


def lam_for_kappa2(kappa2, T=1.0, sigma=1.0):
    """lam such that s^2/(a^2 sigma^2) = kappa2."""
    a = math.exp(-T)
    return kappa2 * a * a * sigma * sigma / (1.0 - math.exp(-2.0 * T))


def _gauss_divergences(sigma2, Sg, delta, logdet_Sg, tr_Sg_inv, quad_Sg_inv):
    """KL(N(m0, sigma2 I) || N(m0+delta, Sg)) split, and Hellinger^2 (batched).

    Sg: (B,d,d); delta: (B,d); logdet/tr/quad precomputed (B,)."""
    d = Sg.shape[-1]
    kl_mean = 0.5 * quad_Sg_inv
    kl_cov = 0.5 * (sigma2 * tr_Sg_inv - d + logdet_Sg - d * math.log(sigma2))
    Sbar = 0.5 * (Sg + sigma2 * np.eye(d))
    sgn, logdet_bar = np.linalg.slogdet(Sbar)
    u = np.linalg.solve(Sbar, delta[..., None])[..., 0]
    quad_bar = np.einsum("bi,bi->b", delta, u)
    log_bc = (0.25 * d * math.log(sigma2) + 0.25 * logdet_Sg
              - 0.5 * logdet_bar - 0.125 * quad_bar)
    h2 = 1.0 - np.exp(log_bc)
    return kl_mean + kl_cov, kl_mean, kl_cov, h2


# ----------------------------------------------------------------------------
# Monte Carlo: the model exactly as specified (raw data)
# ----------------------------------------------------------------------------
def mc_batch(d, n, T, lam, sigma, mu, rng, batch):
    """`batch` independent trials of the raw model. Returns 4 arrays (kl, kl_mean,
    kl_cov, h2), each of shape (batch,). Requires n > d (else KL = inf)."""
    if n <= d:
        inf = np.full(batch, np.inf)
        return inf, inf, inf, np.full(batch, np.nan)
    a, s2 = noise_params(T, lam)
    s = math.sqrt(s2)
    X = mu + sigma * rng.standard_normal((batch, n, d))
    Y = a * X + s * rng.standard_normal((batch, n, d))
    xbar = X.mean(axis=1)
    ybar = Y.mean(axis=1)
    Xc = X - xbar[:, None, :]
    Yc = Y - ybar[:, None, :]
    Yct = np.swapaxes(Yc, 1, 2)
    Cxy = np.swapaxes(Yct @ Xc, 1, 2)                 # Xc^T Yc (batched BLAS gemm)
    Cyy = Yct @ Yc                                    # Yc^T Yc
    # W = Cxy Cyy^{-1}  <=>  W^T = Cyy^{-1} Cxy^T  (Cyy symmetric)
    W = np.swapaxes(np.linalg.solve(Cyy, np.swapaxes(Cxy, 1, 2)), 1, 2)
    b = xbar - np.einsum("bij,bj->bi", W, ybar)
    sig2hat = np.einsum("bni,bni->b", Xc, Xc) / (d * (n - 1))
    vT = a * a * sig2hat + s2
    mu_g = b + a * np.einsum("bij,bj->bi", W, xbar)
    delta = mu_g - mu
    Sg = vT[:, None, None] * (W @ np.swapaxes(W, 1, 2))
    # Sigma_g^{-1} = W^{-T} W^{-1} / v_T
    sgnW, logabsdetW = np.linalg.slogdet(W)
    Winv = np.linalg.solve(W, np.broadcast_to(np.eye(d), W.shape))
    tr_inv = np.einsum("bij,bij->b", Winv, Winv) / vT
    wd = np.einsum("bij,bj->bi", Winv, delta)
    quad = np.einsum("bi,bi->b", wd, wd) / vT
    logdet_Sg = d * np.log(vT) + 2.0 * logabsdetW
    return _gauss_divergences(sigma * sigma, Sg, delta, logdet_Sg, tr_inv, quad)


def mc_trial(d, n, T, lam, sigma, mu, rng):
    """One trial of the raw model -> (kl, kl_mean, kl_cov, h2) as floats."""
    out = mc_batch(d, n, T, lam, sigma, mu, rng, 1)
    return tuple(float(v[0]) for v in out)


# ----------------------------------------------------------------------------
# Monte Carlo: exact-in-distribution reduced sampler (O(d^3) per trial, no n)
# ----------------------------------------------------------------------------
def mc_batch_reduced(d, n, kappa2, rng, batch, return_sign=False):
    """Same joint law of (kl, kl_mean, kl_cov, h2) as mc_batch, sampled from the
    sufficient statistics (used to validate the theory cheaply for large n); the same
    algorithm as Rust's Sampler::Reduced.

    With r = 1/(1+kappa2), m = n-1, and (in units of sigma):
      Yc' = U_b B V^T (Golub-Kahan bidiagonalization; B upper bidiagonal with independent
      B_ii = chi_{m-i}, B_{i,i+1} = chi_{d-1-i}), Xi = U_b^T E' V (d x d iid N(0,1)),
      W ~ (r/a) M up to the conjugation by V, which no divergence sees, M = I + kappa Xi^T B^{-T},
      sigmahat^2/sigma^2 = [r ||B||^2 + 2 sqrt(r(1-r)) tr(Xi^T B)
                            + (1-r)(||Xi||^2 + chi2_{(m-d)d})] / (m d),
      rho = v_T / (a^2 sigma^2 + s^2) = r sigmahat^2/sigma^2 + 1 - r,
      Sigma_g/sigma^2 = r rho M M^T,  delta/sigma = gbar - kappa r M zbar,
      gbar, zbar ~ N(0, I/n) independent.
    Z = B^{-1} Xi is the two-term recursion Z_i = (Xi_i - B_{i,i+1} Z_{i+1}) / B_ii over rows,
    vectorized over the batch and the columns.
    (Until 2026-12-02 this used the Bartlett factor R of a QR of Yc' and np.linalg.solve(R, Xi):
    4.70 s for the benchmark's reduced sweep against 3.48 s now, same means within their s.e.)
    """
    m = n - 1
    r = 1.0 / (1.0 + kappa2)
    kap = math.sqrt(kappa2)
    diag = np.sqrt(rng.chisquare(m - np.arange(d), size=(batch, d)))
    sup = np.sqrt(rng.chisquare(d - 1 - np.arange(d - 1), size=(batch, d - 1)))
    Xi = rng.standard_normal((batch, d, d))
    inv = 1.0 / diag
    Z = np.empty_like(Xi)
    Z[:, d - 1, :] = Xi[:, d - 1, :] * inv[:, d - 1, None]
    for i in range(d - 2, -1, -1):
        Z[:, i, :] = (Xi[:, i, :] - sup[:, i, None] * Z[:, i + 1, :]) * inv[:, i, None]
    M = np.eye(d) + kap * np.swapaxes(Z, 1, 2)
    chi_perp = rng.chisquare((m - d) * d, size=batch)
    idx = np.arange(d)
    bb = (diag**2).sum(1) + (sup**2).sum(1)
    xb = (Xi[:, idx, idx] * diag).sum(1) + (Xi[:, idx[:-1], idx[:-1] + 1] * sup).sum(1)
    tau = (r * bb + 2.0 * math.sqrt(r * (1 - r)) * xb
           + (1 - r) * (np.einsum("bij,bij->b", Xi, Xi) + chi_perp)) / (m * d)
    rho = r * tau + 1.0 - r
    gbar = rng.standard_normal((batch, d)) / math.sqrt(n)
    zbar = rng.standard_normal((batch, d)) / math.sqrt(n)
    delta = gbar - kap * r * np.einsum("bij,bj->bi", M, zbar)
    c = r * rho
    Sg = c[:, None, None] * (M @ np.swapaxes(M, 1, 2))
    sgn, logabsdetM = np.linalg.slogdet(M)
    Minv = np.linalg.solve(M, np.broadcast_to(np.eye(d), M.shape))
    tr_inv = np.einsum("bij,bij->b", Minv, Minv) / c
    md = np.einsum("bij,bj->bi", Minv, delta)
    quad = np.einsum("bi,bi->b", md, md) / c
    logdet_Sg = d * np.log(c) + 2.0 * logabsdetM
    out = _gauss_divergences(1.0, Sg, delta, logdet_Sg, tr_inv, quad)
    if return_sign:
        return out + (sgn,)
    return out


def run_mc(d, n, T, lam, sigma, mu, trials, seed, reduced=False, chunk_elems=2_000_000):
    """Mean and standard error of (kl, kl_mean, kl_cov, h2) over `trials` trials."""
    rng = np.random.default_rng(seed)
    per = max(1, chunk_elems // (n * d if not reduced else d * d * 4))
    res = [[], [], [], []]
    done = 0
    k2 = kappa2_of(T, lam, sigma)
    while done < trials:
        B = min(per, trials - done)
        out = (mc_batch_reduced(d, n, k2, rng, B) if reduced
               else mc_batch(d, n, T, lam, sigma, mu, rng, B))
        for lst, v in zip(res, out):
            lst.append(v)
        done += B
    arr = [np.concatenate(v) for v in res]
    means = [float(v.mean()) for v in arr]
    sems = [float(v.std(ddof=1) / math.sqrt(len(v))) for v in arr]
    return means, sems, arr


# ----------------------------------------------------------------------------
# Prediction
# ----------------------------------------------------------------------------
def predict(d, n, T, lam, sigma, order="full"):
    """Finite-n prediction of E[KL], E[KL_mean], E[KL_cov], E[H^2].

    order="full": resummed (free-probability + 1/d corrections) formula;
    order="leading": the O(d^2/n, d/n) expansion around n = infinity.
    See derivation.md. Returns a dict; values are inf when n <= d + 2 (or the
    resummation parameter q >= 1), where the formal expansion breaks down."""
    k2 = kappa2_of(T, lam, sigma)
    return predict_k2(d, n, k2, order)


def predict_k2(d, n, k2, order="full"):
    """predict() in terms of kappa2 = s^2/(a^2 sigma^2). order: "full" or "leading"."""
    r = 1.0 / (1.0 + k2)
    kl_inf = 0.5 * d * (k2 - math.log1p(k2))
    bc_inf = (2.0 * math.sqrt(r) / (1.0 + r)) ** (0.5 * d)
    out = {"kappa2": k2, "r": r, "kl_inf": kl_inf, "h2_inf": 1.0 - bc_inf}
    if order == "leading":
        kl = kl_inf + d * d / (2.0 * n) * k2 * (1 + k2) \
            + d / n * (1 + k2 + k2 * k2 - 1.0 / (2 * (1 + k2)))
        klm = d / (2.0 * n) * ((1 + k2) + k2 / (1 + k2))
        out.update(kl=kl, kl_mean=klm, kl_cov=kl - klm, q=k2 * d / n)
        out["h2"] = _h2_leading(d, n, k2)
        return out
    m = n - 1
    u = m - d                                   # n - d - 1
    if u <= 3:
        out.update(kl=math.inf, kl_mean=math.inf, kl_cov=math.inf, q=math.inf,
                   h2=math.nan)
        return out
    p2 = d / (u - 1.0)                                   # E tr Q^{-1}
    p4 = d * (m - 1.0) / (u * (u - 1.0) * (u - 3.0))     # E tr Q^{-2}
    var_p2 = (2.0 * d * d + 2.0 * d * (u - 1.0)) / (u * (u - 1.0) ** 2 * (u - 3.0))
    q = k2 * p2
    out["q"] = q
    if q >= 1.0:
        out.update(kl=math.inf, kl_mean=math.inf, kl_cov=math.inf, h2=math.nan)
        return out
    eps = d * k2 * k2 * p4
    w = 1.0 / (1.0 - q)
    varq = k2 * k2 * var_p2
    # E tr (M M^T)^{-1}
    A = d * w + 2 * q * w ** 2 + 2 * eps * w ** 3 + d * varq * w ** 3
    if order == "full":
        # O(1/d) terms (exact series coefficients from Wick enumeration, resummed)
        p6 = d * m * (m + d) / ((u - 1.0) * (u - 2.0) * (u - 3.0) * (u - 4.0) * (u - 5.0)) \
            if u > 5 else math.inf                       # ~ E tr Q^{-3}
        A += (k2 * k2 * p4) * (12 * w ** 4 - 4 * w ** 3) \
            + 8 * d * k2 ** 3 * p6 * w ** 4 + 12 * d * k2 ** 4 * p4 * p4 * w ** 5
    # E[ tr(MM^T)^{-1} / rho ],  rho = v_T/(a^2 sigma^2 + s^2)
    cov = (-2 * r * r * q - 4 * r * (1 - r) + 2 * r * (1 - r) * q) / m * w * w
    A_rho = A + 2 * r * r / m * w - cov
    e_inv_rho = 1.0 + 2 * r * r / (m * d)
    d_e_ln_rho = -r * r / m
    e_lndet = 0.5 * math.log(1.0 - q) - 0.25 * varq * w * w   # E ln|det M|
    kl_cov = 0.5 * ((1 + k2) * A_rho - d - d * math.log1p(k2) + d_e_ln_rho
                    + 2 * e_lndet)
    kl_mean = 0.5 / n * ((1 + k2) * A_rho + d * k2 / (1 + k2) * e_inv_rho)
    out.update(kl=kl_cov + kl_mean, kl_mean=kl_mean, kl_cov=kl_cov,
               tr_minv=A, e_lndet=e_lndet)
    out["h2"] = _h2_full(d, n, k2)
    return out


def _phi_derivs(r):
    """Derivatives at y=0 of phi(y) = y/4 - ln(1 + r e^y)/2 (per-eigenvalue log-BC)."""
    s = r / (1.0 + r)
    p1 = 0.25 - 0.5 * s
    p2 = -0.5 * s * (1 - s)
    p3 = -0.5 * s * (1 - s) * (1 - 2 * s)
    p4 = -0.5 * s * (1 - s) * (1 - 6 * s + 6 * s * s)
    return p1, p2, p3, p4


def _h2_leading(d, n, k2):
    """E[H^2] to first order in d/n (terms d^2/n... in the exponent: d q, q)."""
    r = 1.0 / (1.0 + k2)
    q = k2 * d / n
    f1, f2, _, _ = _phi_derivs(r)
    log_bc_inf = 0.5 * d * math.log(2.0 * math.sqrt(r) / (1.0 + r))
    mean = -f1 * q + f2 * (d + 1) * q - d * (1 + r * (1 - r)) / (4.0 * n * (1 + r))
    var = 4 * f1 * f1 * q
    return 1.0 - math.exp(log_bc_inf + mean + 0.5 * var)


def _h2_full(d, n, k2):
    """E[H^2] = 1 - E exp(l), l = log Bhattacharyya coefficient, via
    E exp(l) ~ exp(E l + Var l / 2) with E l to O(q^2) planar + O(q), O(1/n)."""
    r = 1.0 / (1.0 + k2)
    m = n - 1
    u = m - d
    if u <= 3:
        return math.nan
    p2 = d / (u - 1.0)
    p4 = d * (m - 1.0) / (u * (u - 1.0) * (u - 3.0))
    q = k2 * p2
    if q >= 1.0:
        return math.nan
    eps = d * k2 * k2 * p4
    f1, f2, f3, f4 = _phi_derivs(r)
    log_bc_inf = 0.5 * d * math.log(2.0 * math.sqrt(r) / (1.0 + r))
    # y_i = ln rho + ln mu_i, mu_i = eigenvalues of M M^T
    e_sum_y = math.log(1.0 - q) - r * r / m
    e_sum_y2 = d * (2 * q + 0.5 * q * q - eps / 6.0) + 2 * q \
        + 2 * r * r / m + 8 * r * (1 - r) / m
    e_sum_y3 = d * (-3.0 * q * q)
    e_sum_y4 = d * (6.0 * q * q + 2.0 * eps)
    mean = (f1 * e_sum_y + 0.5 * f2 * e_sum_y2 + f3 * e_sum_y3 / 6.0
            + f4 * e_sum_y4 / 24.0)
    # mean-shift term  -1/4 delta'^T (I+B)^{-1} delta'
    mean -= d * (1 + r * (1 - r)) / (4.0 * n * (1 + r))
    var = f1 * f1 * (4 * q + 2 * r * r * d / m + 8 * r * (1 - r) * d / m)
    return 1.0 - math.exp(log_bc_inf + mean + 0.5 * var)
