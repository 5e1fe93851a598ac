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
