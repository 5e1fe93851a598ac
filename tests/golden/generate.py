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
