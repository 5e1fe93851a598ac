"""`linear-kl` sweep in Rust and in numpy, side by side (paper 000, issue 3).

    .venv/bin/python benches/linear_kl.py [--d 100] [--n 200,500,1000,2000] [--trials 1000]
                                          [--kappa2 0.5] [--samplers reduced,raw]

Both sides run the same algorithm per sampler:
- `reduced`: the sufficient-statistics sampler (Bartlett R, Gaussian Ξ, χ² terms), O(d³) per trial
  (Rust `--sampler reduced`, numpy `mc_batch_reduced` of benches/linear_kl_numpy.py);
- `raw`: n points drawn and the OLS fitted, O(nd²) per trial (Rust `--sampler raw`, numpy
  `mc_batch`, Gram matrices by batched BLAS matmul).
Rust runs the CLI (release build, rayon over all cores, one trial per task, faer kernels
single-threaded inside a trial); numpy runs batches of trials with its BLAS on all cores.

Flops counted per trial (the operations Rust executes; the dominant dense ops only):
- reduced: R⁻¹Ξ triangular solve d³ + MMᵀ (lower half) d³ + LU of Mᵀ 2d³/3 + M⁻¹ from two
  triangular solves on the identity 2d³ + Cholesky of Σ̄ d³/3 = 5d³;
- raw: Y_cᵀY_c (lower half) nd² + X_cᵀY_c 2nd² + Cholesky d³/3 + two triangular solves 2d³ +
  the divergences as above without the first solve 4d³ = 3nd² + 19d³/3.
(Until 2026-12-01 M⁻¹ came from faer's `inverse()`, 4d³/3 flops but 3x the time of the two dense
triangular solves at d = 100; the counts were 13d³/3 and 3nd² + 17d³/3.)
Peak = cores × GHz × 16 (AVX2 FMA, f64: 2 FMA units × 4 lanes × 2 flops), the clock read from
/proc/cpuinfo; the measured limit is numpy's threaded DGEMM on 3000×3000 matrices, which runs
above that nominal peak because the cores boost above the listed clock.

Measured 2026-12-01 23:04 UTC (load average 1.4-1.7; this command, twice), after `divergences`
moved to in-place faer calls on buffers kept per thread (LU 42 µs in place against 80 µs for
`partial_piv_lu`, the inverse from two triangular solves, the Cholesky in place):
    [reduced]  20.0 GFLOP; rust 0.72 / 0.84 s wall, 1.31 / 1.50 s CPU = 27.6 / 23.9 GFLOP/s
               (33 / 29 % of the nominal peak, 3.5x / 4.3x below the measured DGEMM limit of
               98 / 103 GFLOP/s); numpy 5.28 / 5.81 s: 7.3x / 6.9x wall, 7.9x / 7.7x CPU
    [raw]     136.3 GFLOP; rust 6.03 / 6.08 s wall = 22.6 / 22.4 GFLOP/s (4.3x / 4.6x below the
               limit); numpy 22.47 / 19.86 s: 3.7x / 3.3x wall
Same minutes, same sweep, the CLI alone, 4 alternating runs each: the previous binary 1.53 s CPU
(mean), this one 1.32 s (-14 %), its KL columns equal to 1e-15 relative; the raw sweep, 1000
trials, 3 runs each: 2.8-3.1 s CPU for both (its time is the n×d Gram products, unchanged). Both
sides ran slower than on 2026-11-23 for raw (rust 4.84 s, numpy 18.83 s then), numpy also for
reduced (4.58 s then).
The 10x target is still not met. Where the time goes now (perf): ~30 % drawing the 1.5 d² normals
(ChaCha12 + ziggurat, 3-4 ns each; Xoshiro256++ would save ~9 % but changes every seeded result),
the rest in faer's d = 100 kernels at 10-30 GFLOP/s per core against 48 for its GEMM.

Measured 2026-11-23 (2 cores at 2.60 GHz, shared with other jobs: load average 2.5; peak 83.2
GFLOP/s), after the CLI stopped glibc from trimming its arenas on every free:
    [reduced]  17.3 GFLOP; rust 0.72 s wall / 1.39 s CPU = 23.9 GFLOP/s = 28.8 % of peak;
               numpy 9.27 s wall: 12.8x wall, 9.0x CPU
    [raw]     133.7 GFLOP; rust 4.76 s wall / 9.16 s CPU = 28.1 GFLOP/s = 33.8 % of peak;
               numpy 154.8 s wall: 32.6x wall, 12.8x CPU
On a quiet machine (load 1.3, same day, after the merge) numpy's threaded BLAS is much faster and
the ratios shrink — these are the numbers to quote:
    [reduced]  rust 0.83 s wall / 1.50 s CPU = 20.9 GFLOP/s = 25.2 % of peak; numpy 4.58 s: 5.5x wall
    [raw]      rust 4.84 s wall / 9.35 s CPU = 27.6 GFLOP/s = 33.2 % of peak; numpy 18.83 s: 3.9x wall
numpy itself runs at 3.8 (reduced) and 7.1 (raw) GFLOP/s, so 10x would need 46 % (reduced) and
85 % (raw) of peak from Rust.
Before that fix (load 5.6) the same sweep took 3.66 s / 20.96 s (5.7 % / 7.7 % of peak): a
trial is a chain of small faer calls that each allocate a workspace, and the freed memory was
returned to the kernel and re-faulted every time (1 s of 2.7 s in the kernel).
"""

import argparse
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import linear_kl_numpy as ref  # noqa: E402


def clock_ghz():
    text = Path("/proc/cpuinfo").read_text()
    mhz = [float(m) for m in re.findall(r"cpu MHz\s*:\s*([\d.]+)", text)]
    return max(mhz) / 1000.0 if mhz else float("nan")


def flops(sampler, d, n):
    return 5 * d**3 if sampler == "reduced" else 3 * n * d * d + 19 * d**3 / 3


def dgemm_rate(size=3000, rounds=3):
    """GFLOP/s of numpy's threaded DGEMM on two size×size matrices, best of `rounds`: the flop
    limit this machine reaches in practice (the nominal clock understates it: the cores boost)."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((size, size)), rng.standard_normal((size, size))
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(rounds))
    return 2 * size**3 / best / 1e9


def _timed(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--d", type=int, default=100)
    ap.add_argument("--n", default="200,500,1000,2000")
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--kappa2", type=float, default=0.5)
    ap.add_argument("--samplers", default="reduced,raw")
    ap.add_argument("--numpy-trials", type=int, default=None,
                    help="trials per point on the numpy side (default: --trials); time is scaled")
    a = ap.parse_args()
    ns = [int(x) for x in a.n.split(",")]
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    exe = target / "release" / "difftheory"
    cores = os.cpu_count()
    ghz = clock_ghz()
    peak = cores * ghz * 16
    limit = dgemm_rate()
    lam = ref.lam_for_kappa2(a.kappa2, 1.0, 1.0)
    np_trials = a.numpy_trials or a.trials
    print(f"linear-kl sweep: d = {a.d}, n = {a.n}, {a.trials} trials per point, T = 1, κ² = {a.kappa2} "
          f"(λ = {lam:.6g}), σ = 1")
    print(f"machine: {cores} cores at {ghz:.2f} GHz; peak {peak:.1f} GFLOP/s (AVX2-FMA f64, 16 flops/cycle/core); "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"measured flop limit: numpy DGEMM 3000x3000 on all cores {limit:.1f} GFLOP/s")
    for sampler in a.samplers.split(","):
        total_flops = sum(flops(sampler, a.d, n) for n in ns) * a.trials
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        out = subprocess.run([str(exe), "linear-kl", "--d", str(a.d), "--n", a.n, "--t", "1", "--lambda", repr(lam),
                              "--sigma", "1", "--trials", str(a.trials), "--sampler", sampler, "--quiet",
                              "--out", "/tmp/linear-kl-bench.csv"], capture_output=True, text=True)
        rust = time.perf_counter() - t
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        rust_cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        if out.returncode != 0:
            raise SystemExit(out.stderr)
        rows = [line.split(",") for line in Path("/tmp/linear-kl-bench.csv").read_text().splitlines()[1:]]
        rust_kl = [float(r[6]) for r in rows]
        t, c = time.perf_counter(), time.process_time()
        np_kl = []
        for n in ns:
            means, _, _ = ref.run_mc(a.d, n, 1.0, lam, 1.0, 0.0, np_trials, seed=n, reduced=(sampler == "reduced"))
            np_kl.append(means[0])
        npy = (time.perf_counter() - t) * a.trials / np_trials
        npy_cpu = (time.process_time() - c) * a.trials / np_trials
        gflops = total_flops / rust / 1e9
        gflops_core = total_flops / rust_cpu / 1e9
        print(f"\n[{sampler}] flops counted: {total_flops / 1e9:.1f} GFLOP")
        print(f"  rust  {rust:8.2f} s wall, {rust_cpu:7.2f} s CPU   {gflops:6.1f} GFLOP/s = {100 * gflops / peak:5.1f} % of "
              f"peak (per CPU-second: {gflops_core:5.1f} GFLOP/s = {100 * gflops_core / (peak / cores):5.1f} % of one core's peak); "
              f"{limit / gflops:4.1f}x below the measured DGEMM limit")
        scaled = "" if np_trials == a.trials else f" (measured on {np_trials} trials per point, scaled)"
        print(f"  numpy {npy:8.2f} s wall, {npy_cpu:7.2f} s CPU   ratio numpy/rust = {npy / rust:5.1f}x wall, "
              f"{npy_cpu / rust_cpu:5.1f}x CPU{scaled}")
        for n, rk, nk in zip(ns, rust_kl, np_kl):
            print(f"    n = {n:5d}: KL rust {rk:.4f}, numpy {nk:.4f}")


if __name__ == "__main__":
    main()
