"""numpy reference of `difftheory molrg-phase` (paper 004): the same three solvers, the same steps.

Used by benches/molrg_phase.py. Per instance: a Haar-random MoLRG (K mutually orthogonal
d-dimensional subspaces of R^n, unit variances, no noise), exactly N_k points per component, a fit,
and the subspace error under the best matching (brute force over permutations; K <= 3 here).

- pca: top-d eigenvectors of the uncentred second moment (through the N×N Gram matrix when N <= n),
  completed with standard basis vectors when the data reach fewer than d directions;
- clustering: K-subspaces with the k-means++-like seeding of the Rust code (seed point, its d−1
  most coherent points), assignment by max ‖U_kᵀx‖², per-cluster PCA, 10 starts, stop at a perfect
  fit;
- sgd: minibatch Riemannian SGD on the DAE loss of the soft-max low-rank denoiser (16 points per
  step, σ log-uniform in [0.05, 0.5], lr 0.5/λ_max decaying linearly to a tenth, QR retraction,
  300 steps, 3 starts when K > 1).
The random streams differ from Rust's (numpy's generator), so success rates agree statistically,
not draw for draw.
"""

import itertools

import numpy as np

THRESHOLD = 0.1


def haar(n, d, rng):
    q, r = np.linalg.qr(rng.standard_normal((n, d)))
    return q * np.sign(np.diag(r))


def instance(n, k, d, per, rng):
    q = haar(n, k * d, rng)
    bases = [q[:, i * d:(i + 1) * d] for i in range(k)]
    x = np.concatenate([b @ rng.standard_normal((d, per)) for b in bases], axis=1)
    return bases, x


def complete(cols, n, d):
    e = 0
    cols = list(cols)
    while len(cols) < d and e < n:
        v = np.zeros(n)
        v[e] = 1.0
        e += 1
        for _ in range(2):
            for c in cols:
                v -= (c @ v) * c
        nv = np.linalg.norm(v)
        if nv > 1e-6:
            cols.append(v / nv)
    return np.stack(cols, axis=1)


def principal(x, d):
    n, m = x.shape
    cols = []
    if m > 0:
        if m <= n:
            lam, v = np.linalg.eigh(x.T @ x)
            lam, v = lam[::-1], v[:, ::-1]
            us = x @ v
        else:
            lam, us = np.linalg.eigh(x @ x.T)
            lam, us = lam[::-1], us[:, ::-1]
        top = lam[0] if len(lam) else 0.0
        for j in range(min(d, len(lam))):
            if not (lam[j] > 1e-12 * top and lam[j] > 0):
                break
            u = us[:, j].copy()
            for c in cols:
                u -= (c @ u) * c
            nu = np.linalg.norm(u)
            if nu < 1e-8:
                break
            cols.append(u / nu)
    return complete(cols, n, d)


def proj_dist(u, v):
    dd = u.shape[1] + v.shape[1]
    return np.sqrt(max(dd - 2 * np.sum((u.T @ v) ** 2), 0.0) / dd)


def subspace_error(truth, est):
    k = len(truth)
    cost = np.array([[proj_dist(t, e) for e in est] for t in truth])
    return min(np.mean([cost[i, p[i]] for i in range(k)]) for p in itertools.permutations(range(k)))


def k_subspaces(x, k, d, rng, restarts=10, max_iter=50):
    n, big_n = x.shape
    if k == 1:
        return [principal(x, d)]
    total = np.sum(x * x)
    norms = np.linalg.norm(x, axis=0)
    best, best_cap = None, -1.0
    for _ in range(restarts):
        bases = []
        for _c in range(k):
            if bases:
                en = np.max([np.sum((b.T @ x) ** 2, axis=0) for b in bases], axis=0)
                res = np.maximum(np.sum(x * x, axis=0) - en, 0.0)
                s = res.sum()
                if s > 0:
                    u = rng.random() * s
                    seed = int(np.searchsorted(np.cumsum(res), u, side="right"))
                    seed = min(seed, big_n - 1)
                else:
                    seed = int(rng.integers(big_n))
            else:
                seed = int(rng.integers(big_n))
            coh = np.abs(x[:, seed] @ x) / (norms * norms[seed])
            coh[seed] = -1.0
            idx = [seed] + list(np.argsort(-coh, kind="stable")[: d - 1])
            b = principal(x[:, idx], d)
            bases.append(b)
        labels = None
        for _it in range(max_iter):
            en = np.stack([np.sum((b.T @ x) ** 2, axis=0) for b in bases])
            new = np.argmax(en, axis=0)
            changed = labels is None or np.any(new != labels)
            labels = new
            for c in range(k):
                idx = np.nonzero(labels == c)[0]
                if len(idx) == 0:
                    res = np.sum(x * x, axis=0) - en[labels, np.arange(big_n)]
                    idx = np.argsort(-res)[:d]
                bases[c] = principal(x[:, idx], d)
            if not changed:
                break
        en = np.stack([np.sum((b.T @ x) ** 2, axis=0) for b in bases])
        cap = en.max(axis=0).sum() / total
        if cap > best_cap:
            best, best_cap = bases, cap
        if cap >= 1 - 1e-10:
            break
    return best


def sgd(x, k, d, rng, steps=300, batch=16, lr=0.5, smin=0.05, smax=0.5, restarts=3):
    n, big_n = x.shape
    lam = np.linalg.eigvalsh(x @ x.T / big_n)[-1]
    runs = 1 if k == 1 else restarts
    best, best_cap = None, -1.0
    total = np.sum(x * x)
    for _ in range(runs):
        bases = [haar(n, d, rng) for _ in range(k)]
        for step in range(steps):
            idx = rng.integers(0, big_n, batch)
            x0 = x[:, idx]
            sig = np.exp(np.log(smin) + (np.log(smax) - np.log(smin)) * rng.random(batch))
            xt = x0 + sig * rng.standard_normal((n, batch))
            s2 = sig**2
            c = 1 / (1 + s2)
            phi = 1 / (2 * s2 * (1 + s2))
            ps = [b.T @ xt for b in bases]
            logits = np.stack([-np.log(k) + 0.5 * d * (np.log(s2) - np.log1p(s2)) + phi * np.sum(p * p, axis=0)
                               for p in ps])
            logits -= logits.max(axis=0)
            w = np.exp(logits)
            w /= w.sum(axis=0)
            ms = [c * (b @ p) for b, p in zip(bases, ps)]
            xth = sum(w[i] * ms[i] for i in range(k))
            r = xth - x0
            eta = lr / lam * (1 - 0.9 * step / steps) / batch
            new = []
            for i, (b, p, m) in enumerate(zip(bases, ps, ms)):
                q = b.T @ r
                delta = w[i] * np.sum(r * (m - xth), axis=0)
                g = (r * (2 * w[i] * c)) @ p.T + xt @ (q * (2 * w[i] * c) + p * (4 * phi * delta)).T
                utg = b.T @ g
                g = g - b @ (0.5 * (utg + utg.T))
                qq, rr = np.linalg.qr(b - eta * g)
                new.append(qq * np.sign(np.diag(rr)))
            bases = new
        en = np.stack([np.sum((b.T @ x) ** 2, axis=0) for b in bases])
        cap = en.max(axis=0).sum() / total
        if cap > best_cap:
            best, best_cap = bases, cap
    return best


def run_cell(n, k, d, per, solver, trials, seed):
    rng = np.random.default_rng(seed)
    succ, errs = 0, []
    for _ in range(trials):
        truth, x = instance(n, k, d, per, rng)
        if solver == "pca":
            est = [principal(x, d)]
        elif solver == "clustering":
            est = k_subspaces(x, k, d, rng)
        else:
            est = sgd(x, k, d, rng)
        e = subspace_error(truth, est)
        errs.append(e)
        succ += e <= THRESHOLD
    return succ / trials, float(np.mean(errs))
