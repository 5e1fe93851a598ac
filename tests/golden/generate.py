"""Generates the golden values the Rust tests read (run: python tests/golden/generate.py).

Independent of the Rust code: KL(N(0, I_d) || N(m, r I_d)) evaluated term by term from the general
Gaussian formula ½[tr(Σq⁻¹Σp) + (μq−μp)ᵀΣq⁻¹(μq−μp) − d + ln(det Σq / det Σp)] with explicit
diagonal matrices, in exact rational arithmetic where possible (fractions) and math.log for the
logarithm.
"""

import json
import math
from fractions import Fraction
from pathlib import Path


def kl_general(d, mean_shift, var_ratio):
    r = Fraction(var_ratio)
    m = Fraction(mean_shift)
    trace = sum(Fraction(1) / r for _ in range(d))          # tr(Σq⁻¹ Σp), Σp = I, Σq = r I
    quad = m * m / r                                        # ‖m‖² / r
    logdet = d * math.log(float(r))                         # ln det Σq − ln det Σp
    return 0.5 * (float(trace + quad - d) + logdet)


cases = [(d, m, r) for d in (1, 2, 7, 100) for (m, r) in ((0.0, 1.0), (1.0, 1.0), (0.5, 0.25), (3.0, 4.0))]
rows = [{"d": d, "mean_shift": m, "var_ratio": r, "kl": kl_general(d, m, r)} for d, m, r in cases]
out = Path(__file__).with_name("gaussian_kl.json")
out.write_text(json.dumps(rows, indent=1) + "\n")
print(f"wrote {len(rows)} cases to {out}")


# ---- time grids (paper 002): t_k written out from their definitions --------------------------
def linear(t0, t1, n):
    return [t0 + (t1 - t0) * k / n for k in range(n + 1)]


def quadratic(t0, t1, n):
    return [t0 + (t1 - t0) * (k / n) ** 2 for k in range(n + 1)]


def exponential(t_first, t_final, n):  # eq. (41): t_k = t_1 (T/t_1)^((k-1)/(N-1)), k = 1..N
    return [t_first * (t_final / t_first) ** ((k - 1) / (n - 1)) for k in range(1, n + 1)]


def power(t_final, k_max, p):  # t_k = T (k/K)^p, k = 0..K
    return [t_final * (k / k_max) ** p for k in range(k_max + 1)]


grids = {
    "linear_0.001_10_50": linear(1e-3, 10.0, 50),
    "quadratic_0.001_10_50": quadratic(1e-3, 10.0, 50),
    "exponential_0.0001_10_200": exponential(1e-4, 10.0, 200),
    "power_10_99_5": power(10.0, 99, 5.0),
}
out = Path(__file__).with_name("schedules.json")
out.write_text(json.dumps(grids, indent=1) + "\n")
print(f"wrote {len(grids)} grids to {out}")


# ---- paper 000: the linear one-step denoiser --------------------------------------------------
# Closed forms written out from their definitions with plain-Python linear algebra (Gauss-Jordan
# elimination; no numpy), and the finite-n prediction copied from the numpy reference
# benches/linear_kl_numpy.py (`predict_k2`, which uses `math` only).
def mat_mul(a, b):
    return [[sum(a[i][k] * b[k][j] for k in range(len(b))) for j in range(len(b[0]))] for i in range(len(a))]


def transpose(a):
    return [list(r) for r in zip(*a)]


def det_inv(a):
    """(det a, a⁻¹) by Gauss-Jordan with partial pivoting."""
    n = len(a)
    m = [list(map(float, r)) + [1.0 if i == j else 0.0 for j in range(n)] for i, r in enumerate(a)]
    det = 1.0
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        if p != c:
            m[c], m[p] = m[p], m[c]
            det = -det
        det *= m[c][c]
        piv = m[c][c]
        m[c] = [x / piv for x in m[c]]
        for r in range(n):
            if r != c:
                f = m[r][c]
                m[r] = [x - f * y for x, y in zip(m[r], m[c])]
    return det, [row[n:] for row in m]


def quad(inv, v):
    return sum(v[i] * inv[i][j] * v[j] for i in range(len(v)) for j in range(len(v)))


def divergences_general(sigma2, W, v, delta):
    """KL(N(0, σ²I) ‖ N(δ, v W Wᵀ)) split, and H², from the textbook formulas."""
    d = len(W)
    S = [[v * x for x in row] for row in mat_mul(W, transpose(W))]
    detS, Sinv = det_inv(S)
    tr = sum(Sinv[i][i] for i in range(d))
    kl_mean = 0.5 * quad(Sinv, delta)
    kl_cov = 0.5 * (sigma2 * tr - d + math.log(detS) - d * math.log(sigma2))
    Sbar = [[0.5 * (S[i][j] + (sigma2 if i == j else 0.0)) for j in range(d)] for i in range(d)]
    detB, Binv = det_inv(Sbar)
    bc = sigma2 ** (d / 4) * detS ** 0.25 / math.sqrt(detB) * math.exp(-0.125 * quad(Binv, delta))
    detW, _ = det_inv(W)
    return {"kl_mean": kl_mean, "kl_cov": kl_cov, "h2": 1.0 - bc, "det_sign": math.copysign(1.0, detW)}


def gauss_pdf(x, mean, cov):
    d = len(x)
    det, inv = det_inv(cov)
    r = [a - b for a, b in zip(x, mean)]
    return math.exp(-0.5 * quad(inv, r)) / math.sqrt((2 * math.pi) ** d * det)


def ln_gauss_kde(mean, cov, pts, eps):
    d = len(mean)
    c = [[cov[i][j] + (eps * eps if i == j else 0.0) for j in range(d)] for i in range(d)]
    return math.log(sum(gauss_pdf(p, mean, c) for p in pts) / len(pts))


def ln_kde_self(pts, eps):
    d = len(pts[0])
    c = [[2 * eps * eps if i == j else 0.0 for j in range(d)] for i in range(d)]
    s = sum(gauss_pdf([a - b for a, b in zip(p, q)], [0.0] * d, c) for p in pts for q in pts)
    return math.log(s / len(pts) ** 2)


def ln_gauss_self(cov):
    d = len(cov)
    det, _ = det_inv(cov)
    return -0.5 * (d * math.log(4 * math.pi) + math.log(det))


def elementwise(P, Q):
    """(1/d) Σ_k ∫(p_k − q_k)², 1-D KDEs with bandwidth σ_k/N; P, Q lists of points."""
    d = len(P[0])

    def bw(S, k):
        xs = [p[k] for p in S]
        m = sum(xs) / len(xs)
        return xs, math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) / len(xs)

    def cross(a, ha, b, hb):
        v = ha * ha + hb * hb
        return sum(math.exp(-(x - y) ** 2 / (2 * v)) / math.sqrt(2 * math.pi * v) for x in a for y in b) / (len(a) * len(b))

    tot = 0.0
    for k in range(d):
        p, hp = bw(P, k)
        q, hq = bw(Q, k)
        tot += cross(p, hp, p, hp) - 2 * cross(p, hp, q, hq) + cross(q, hq, q, hq)
    return tot / d


def predict_k2(d, n, k2):
    """Finite-n prediction (copy of benches/linear_kl_numpy.py: predict_k2 + _h2_full)."""
    r = 1.0 / (1.0 + k2)
    m = n - 1
    u = m - d
    p2 = d / (u - 1.0)
    p4 = d * (m - 1.0) / (u * (u - 1.0) * (u - 3.0))
    p6 = d * m * (m + d) / ((u - 1.0) * (u - 2.0) * (u - 3.0) * (u - 4.0) * (u - 5.0))
    var_p2 = (2.0 * d * d + 2.0 * d * (u - 1.0)) / (u * (u - 1.0) ** 2 * (u - 3.0))
    q = k2 * p2
    eps = d * k2 * k2 * p4
    w = 1.0 / (1.0 - q)
    varq = k2 * k2 * var_p2
    A = d * w + 2 * q * w ** 2 + 2 * eps * w ** 3 + d * varq * w ** 3
    A += (k2 * k2 * p4) * (12 * w ** 4 - 4 * w ** 3) + 8 * d * k2 ** 3 * p6 * w ** 4 + 12 * d * k2 ** 4 * p4 * p4 * w ** 5
    cov = (-2 * r * r * q - 4 * r * (1 - r) + 2 * r * (1 - r) * q) / m * w * w
    A_rho = A + 2 * r * r / m * w - cov
    e_inv_rho = 1.0 + 2 * r * r / (m * d)
    e_lndet = 0.5 * math.log(1.0 - q) - 0.25 * varq * w * w
    kl_cov = 0.5 * ((1 + k2) * A_rho - d - d * math.log1p(k2) - r * r / m + 2 * e_lndet)
    kl_mean = 0.5 / n * ((1 + k2) * A_rho + d * k2 / (1 + k2) * e_inv_rho)
    s = r / (1.0 + r)
    f1, f2 = 0.25 - 0.5 * s, -0.5 * s * (1 - s)
    f3, f4 = f2 * (1 - 2 * s), f2 * (1 - 6 * s + 6 * s * s)
    e1 = math.log(1.0 - q) - r * r / m
    e2 = d * (2 * q + 0.5 * q * q - eps / 6.0) + 2 * q + 2 * r * r / m + 8 * r * (1 - r) / m
    e3 = d * (-3.0 * q * q)
    e4 = d * (6.0 * q * q + 2.0 * eps)
    mean = f1 * e1 + 0.5 * f2 * e2 + f3 * e3 / 6.0 + f4 * e4 / 24.0 - d * (1 + r * (1 - r)) / (4.0 * n * (1 + r))
    var = f1 * f1 * (4 * q + 2 * r * r * d / m + 8 * r * (1 - r) * d / m)
    h2 = 1.0 - math.exp(0.5 * d * math.log(2.0 * math.sqrt(r) / (1.0 + r)) + mean + 0.5 * var)
    return {"q": q, "kl": kl_cov + kl_mean, "kl_mean": kl_mean, "kl_cov": kl_cov, "h2": h2,
            "kl_inf": 0.5 * d * (k2 - math.log1p(k2)),
            "h2_inf": 1.0 - (2.0 * math.sqrt(r) / (1.0 + r)) ** (0.5 * d)}


def lcg(seed):
    """Deterministic pseudo-random numbers in (-1, 1) for the test matrices (no numpy)."""
    x = seed
    while True:
        x = (6364136223846793005 * x + 1442695040888963407) % 2 ** 64
        yield (x >> 11) / 2 ** 52 - 1.0


gen = lcg(2026)
div_cases = []
for d, v, sigma2 in ((1, 0.7, 1.0), (2, 1.3, 2.0), (3, 0.5, 0.8), (4, 2.0, 1.0)):
    W = [[(1.0 if i == j else 0.0) + 0.4 * next(gen) for j in range(d)] for i in range(d)]
    delta = [0.8 * next(gen) for _ in range(d)]
    div_cases.append({"sigma2": sigma2, "w": W, "v": v, "delta": delta, **divergences_general(sigma2, W, v, delta)})

l2_cases = []
for d, npts, eps in ((1, 3, 0.5), (2, 4, 0.7), (3, 5, 1.1)):
    A = [[0.5 * next(gen) + (0.8 if i == j else 0.0) for j in range(d)] for i in range(d)]
    cov = mat_mul(A, transpose(A))
    mean = [next(gen) for _ in range(d)]
    pts = [[1.5 * next(gen) for _ in range(d)] for _ in range(npts)]
    l2_cases.append({"mean": mean, "cov": cov, "points": pts, "eps": eps,
                     "ln_gauss_gauss": ln_gauss_self(cov), "ln_gauss_kde": ln_gauss_kde(mean, cov, pts, eps),
                     "ln_kde_kde": ln_kde_self(pts, eps)})

el_cases = []
for d, n_p, n_q in ((1, 4, 3), (3, 5, 6)):
    P = [[next(gen) for _ in range(d)] for _ in range(n_p)]
    Q = [[0.3 + 1.2 * next(gen) for _ in range(d)] for _ in range(n_q)]
    el_cases.append({"p": P, "q": Q, "value": elementwise(P, Q)})

def mise(n, d, sigma, h2):
    s2 = sigma * sigma
    # without the constant ∫p² = 1: at d = 100 the h-dependent part is ~1e-12 and would be rounded away
    return (-2 * (2 * s2 / (2 * s2 + h2)) ** (d / 2) + (s2 / h2) ** (d / 2) / n
            + (1 - 1 / n) * (s2 / (s2 + h2)) ** (d / 2))


def argmin_ln(fun, lo, hi):
    """Ternary search (the function is unimodal in ln h² on the bracket)."""
    for _ in range(200):
        a, b = lo + (hi - lo) / 3, hi - (hi - lo) / 3
        if fun(a) <= fun(b):
            hi = b
        else:
            lo = a
    return 0.5 * (lo + hi)


mix_cases = []
for n, d, sigma in ((100, 10, 1.0), (1000, 10, 2.0), (10000, 100, 1.0), (50, 2, 0.5)):
    kv = sigma * sigma / (n ** (2.0 / d) - 1.0)
    mix_cases.append({"n": n, "d": d, "sigma": sigma, "t_collapse": 0.5 * math.log(1.0 + kv),
                      "kernel_variance": kv,
                      "bandwidth_sq_silverman": sigma * sigma * (4.0 / ((d + 2) * n)) ** (2.0 / (d + 4)),
                      "bandwidth_sq_mise": math.exp(argmin_ln(lambda x: mise(n, d, sigma, math.exp(x)),
                                                              math.log(sigma * sigma) - 6, math.log(sigma * sigma) + 3))})

pred_cases = []
for d, n, k2 in ((5, 40, 0.5), (10, 80, 1.0), (20, 160, 2.0), (50, 200, 0.5), (100, 400, 1.0), (100, 1600, 5.0)):
    pred_cases.append({"d": d, "n": n, "kappa2": k2, **predict_k2(d, n, k2)})

linear = {"divergences": div_cases, "l2_gaussian_kde": l2_cases, "elementwise_l2": el_cases,
          "mixing": mix_cases, "prediction": pred_cases}
out = Path(__file__).with_name("linear.json")
out.write_text(json.dumps(linear, indent=1) + "\n")
print(f"wrote {sum(len(v) for v in linear.values())} cases to {out}")


# ---- Fréchet distance between Gaussians (the FID formula) --------------------------------------
# |μ₁ − μ₂|² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁Σ₂)^{½}, the square root of the (non-symmetric) product taken
# as the FID reference code does, here by the Denman–Beavers iteration (no eigendecomposition; the
# Rust code goes through Σ₁^{½} Σ₂ Σ₁^{½} and two symmetric eigendecompositions instead).
def sqrtm_db(a, iters=60):
    n = len(a)
    y = [list(map(float, r)) for r in a]
    z = [[1.0 if i == j else 0.0 for j in range(n)] for i in range(n)]
    for _ in range(iters):
        _, yi = det_inv(y)
        _, zi = det_inv(z)
        y, z = ([[0.5 * (y[i][j] + zi[i][j]) for j in range(n)] for i in range(n)],
                [[0.5 * (z[i][j] + yi[i][j]) for j in range(n)] for i in range(n)])
    return y


def frechet(m1, s1, m2, s2):
    root = sqrtm_db(mat_mul(s1, s2))
    d = len(m1)
    return (sum((a - b) ** 2 for a, b in zip(m1, m2)) + sum(s1[i][i] + s2[i][i] - 2.0 * root[i][i]
                                                             for i in range(d)))


fgen = lcg(5)
frechet_cases = []
for d in (1, 2, 3, 5, 8):
    pair = []
    for scale in (1.0, 0.6):
        A = [[scale * next(fgen) + (0.9 if i == j else 0.0) for j in range(d)] for i in range(d)]
        pair.append(([next(fgen) for _ in range(d)],
                     [[x + (0.05 if i == j else 0.0) for j, x in enumerate(r)]
                      for i, r in enumerate(mat_mul(A, transpose(A)))]))
    (m1, s1), (m2, s2) = pair
    frechet_cases.append({"mean1": m1, "cov1": s1, "mean2": m2, "cov2": s2,
                          "frechet": frechet(m1, s1, m2, s2)})
out = Path(__file__).with_name("frechet.json")
out.write_text(json.dumps(frechet_cases, indent=1) + "\n")
print(f"wrote {len(frechet_cases)} cases to {out}")
