"""`linear-kl` sweep in Rust and in numpy, side by side (paper 000, issue 3).

    .venv/bin/python benches/linear_kl.py [--d 100] [--n 200,500,1000,2000] [--trials 1000]
                                          [--kappa2 0.5] [--samplers reduced,raw]

Both sides run the same algorithm per sampler:
- `reduced`: the sufficient-statistics sampler (Golub–Kahan bidiagonal B, Gaussian Ξ, χ² terms),
  O(d³) per trial (Rust `--sampler reduced`, numpy `mc_batch_reduced` of benches/linear_kl_numpy.py);
- `raw`: n points drawn and the OLS fitted, O(nd²) per trial (Rust `--sampler raw`, numpy
  `mc_batch`, Gram matrices by batched BLAS matmul).
Rust runs the CLI (release build, rayon over all cores); the reduced sampler runs eight trials per
task, one per lane of a 512-bit vector (src/linear/lanes.rs: the eight trials' matrices
interleaved element by element, so every scalar step of Cholesky, triangular inverse and LU is one
vector operation; AVX-512 with 4×4 register tiles, AVX2 with 2×2, chosen at run time), the raw
sampler one trial per task with faer kernels single-threaded inside it; numpy runs batches of
trials with its BLAS on all cores.

Flops counted (the operations Rust executes; the dominant dense ops only):
- reduced (`reduced_flops`, from the kernel counts the CLI prints): every trial S = MMᵀ (upper
  half) d³ + Cholesky of S d³/3 + the inverse of its factor d³/3 + Cholesky of Σ̄ d³/3 = 2d³
  (B⁻¹Ξ is an O(d²) recursion); the trials of batches that ran the Cholesky of the symmetric part
  of M (the det-sign test) d³/3 more, of batches that ran the sign's LU 2d³/3 more (at d = 100,
  κ² = 0.5: the LU at n = 2d, the symmetric test at n ≥ 5d, so ≈ 2.43d³ per trial on average);
  trials recomputed alone on the per-trial LU route are not counted;
(Until 2026-12-02 13:00 UTC the reduced sampler ran one trial per task through faer, 2.51d³ counted
as below for `divergences`.)
- raw: Y_cᵀY_c (lower half) nd² + X_cᵀY_c 2nd² + Cholesky d³/3 + two triangular solves 2d³ +
  faer's `divergences` (S d³, its Cholesky d³/3, the inverse in column blocks of 32 0.51d³, the
  symmetric-part Cholesky d³/3, Σ̄'s d³/3 = 2.51d³; the LU where the sign test fails not counted)
  = 3nd² + 4.84d³ at d = 100.
(From 2026-12-02 03:00 to 06:45 UTC the divergences took W⁻¹ from the LU, 3.51d³ and
3nd² + 5.84d³.)
(Until 2026-12-02 the reduced sampler used the Bartlett factor R and a d³ triangular solve R⁻¹Ξ,
and M⁻¹ came from two dense triangular solves on the identity: 5d³ and 3nd² + 19d³/3.)
Nominal peak = cores × GHz × flops/cycle (2 FMA units × SIMD lanes × 2: 32 with AVX-512, 16 with
AVX2, 8 on AMD's first Zen generation, whose FMA units are 128 bits wide), the clock read from
/proc/cpuinfo; the measured limit is numpy's
threaded DGEMM on 3000×3000 matrices (OpenBLAS's SkylakeX kernel here).

Measured 2026-12-02 13:15-13:35 UTC on this session's machine (AMD EPYC, family 0x1A (Zen 5): 2
vCPUs at 2.6 GHz with AVX-512, nominal peak 166 GFLOP/s, numpy's DGEMM 98-107 GFLOP/s; two
single-threaded runs side by side take 0.51 s each against 0.39 s alone, so the two vCPUs share a
core's resources), after the reduced sampler moved to eight trials per SIMD vector (this command):
    --samplers reduced --repeats 5:
    [reduced]   9.7 GFLOP; rust 0.25 s wall (0.21-0.32), 0.45 s CPU = 38.9 GFLOP/s; numpy 3.18 s
                (2.89-3.53): 12.7x wall, 13.9x CPU; 2.7x below the DGEMM limit of 105.4
    --repeats 3 (both samplers):
    [reduced]   rust 0.28 s (0.26-0.36), 34.2 GFLOP/s; numpy 3.85 s: 13.5x wall, 14.8x CPU;
                2.9x below the limit of 98.5
    [raw]     130.4 GFLOP; rust 3.15 s wall = 41.4 GFLOP/s; numpy 17.45 s: 5.5x; 2.4x below
The per-trial faer path on the same machine, same minutes (the previous binary, the CLI alone,
`--threads 1`, 2000 trials at d = 100): n = 500 0.26-0.28 s CPU against 0.17-0.18 s batched;
the whole reduced sweep (1000 trials per n, both threads) 0.29-0.38 s wall before, 0.25-0.29 s
after. Where a batched trial's time goes (perf, one thread): ~55 % the kernels, ~30 % drawing the d² normals and
2d χ² variates lane by lane with rand_distr's ziggurat (kept, so that a lane draws exactly what
the one-trial sampler draws), the rest the sweep. The 3 MB of per-thread buffers first made the
two threads contend (0.52 s CPU for 0.39 s of work): Σ̄'s buffer now also holds the sign's
factorizations and U⁻ᵀ is kept one block column at a time (1.9 MB; 0.44-0.46 s CPU).

Measured 2026-12-02 06:40 UTC on a different machine (AMD EPYC, first Zen generation: 2 cores at
2.0 GHz, AVX2 on 128-bit FMA units, nominal peak 32 GFLOP/s, DGEMM limit 33.7; a shared host:
the same binary varies by ±20 % between runs), after the divergences moved to the Cholesky
factor of S = MMᵀ and the symmetric-part sign test (this command, --repeats 3):
    [reduced]  10.0 GFLOP; rust 1.25 s wall (1.02-1.41), 2.40 s CPU = 8.1 GFLOP/s; numpy 7.81 s
               (7.77-9.02): 6.3x wall, 6.5x CPU; 4.2x below the DGEMM limit
    [raw]     130.4 GFLOP; rust 12.58 s wall = 10.4 GFLOP/s; numpy 41.11 s: 3.3x; 3.3x below
The previous binary (W⁻¹ from the LU) against this one, the CLI alone, 6 alternating runs:
reduced sweep 1.28-1.30 s → 1.04-1.17 s wall (min-median), 2.27-2.48 → 1.99-2.25 s CPU; the
KL columns agree to 1e-14 relative. On this machine the time is in the kernels' flops (faer's
GEMM microkernels ~40 % of the samples): syrk 75-80 µs, LU 100 µs, each Cholesky ~50 µs, the
blocked triangular inverse ~60 µs, 10 000 normals ~65 µs per trial.

Measured 2026-12-02 02:55 UTC (this command; load average 1.2), after the reduced sampler moved to
the bidiagonal factor and per-trial Xoshiro256++ streams and the blocked L⁻¹ (both sides' reduced
samplers changed; numpy's went from 4.70 s to 3.48 s on its own that day):
    [reduced]  14.0 GFLOP; rust 0.46 s wall (0.46-0.47 over 3 runs), 0.86 s CPU = 30.4 GFLOP/s;
               numpy 3.99 s (3.87-4.11): 8.6x wall, 9.2x CPU; 4.6x below the DGEMM limit of 140.5
    [raw]     134.4 GFLOP; rust 4.05 s wall, 7.77 s CPU = 33.2 GFLOP/s; numpy 20.50 s: 5.1x wall,
               5.2x CPU; 4.2x below the limit
Earlier the same day with the previous binary (Bartlett sampler, ChaCha12 draws): reduced rust
0.64 s wall / 1.12 s CPU against numpy 4.72 s (7.4x). The CLI alone, quiet machine: 0.40-0.43 s
wall, 0.74-0.81 s CPU for the reduced sweep. Runs of the same binary vary by ±8 % here.
Where a reduced trial's ~200 µs CPU go (perf, faer kernels timed alone at d = 100): LU 39 µs,
L⁻¹ and U⁻¹ 42 µs, MMᵀ 22 µs, Cholesky 20 µs, the d² normals 26 µs (rand_distr's ziggurat on
Xoshiro256++), the B⁻¹Ξ recursion and the χ² draws ~13 µs, the rest small. Tried and left:
faer's `nightly` feature (AVX-512 in pulp): no change, its GEMM kernels already dispatch to
AVX-512 at run time (private-gemm-x86: 70 GFLOP/s on one core at d = 100) and the LU and
Cholesky are panel-bound; LU/Cholesky recursion thresholds: within 3 µs; eight Xoshiro256++
streams in lock step feeding the same ziggurat: no faster in portable code, 17 µs instead of
26 µs for 10 000 normals with AVX-512 intrinsics (≈ 4 % of a trial: not taken).

Before 2026-12-02 (Bartlett sampler, ChaCha12 draws, dense L⁻¹; flops 5d³ and 3nd² + 19d³/3; the
peak was then counted as AVX2, 16 flops/cycle/core, and the DGEMM limit measured first, right
before the Rust run, which OpenBLAS's spinning threads can slow):
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
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import linear_kl_numpy as ref  # noqa: E402
from machine import clock_ghz, dgemm_rate, simd_flops_per_cycle, write_row  # noqa: E402


INV_BLOCK = 32  # src/linear/distances.rs: the column block of the blocked L^-1


def divergence_flops(d):
    """Flops every call of `divergences` does at dimension d: S = W W^T lower half d^3, its
    Cholesky d^3/3, the blocked inverse of that factor (sum over column blocks of (rows left)^2 x
    block width), the Cholesky of the symmetric part of W d^3/3 (the sign test), the Cholesky of
    Sigma-bar d^3/3. Where the sign test fails (most trials at n = 2d) an LU (2d^3/3) follows; it
    is not counted, so the GFLOP/s reported for such cells are a lower bound."""
    blocked = sum((d - j0) ** 2 * min(INV_BLOCK, d - j0) for j0 in range(0, d, INV_BLOCK))
    return d**3 + d**3 / 3 + blocked + d**3 / 3 + d**3 / 3


def flops(sampler, d, n):
    """Raw sampler, per trial. The reduced sampler's flops are counted from what its kernels
    report having run (`reduced_flops`)."""
    # Y_c^T Y_c (lower half) n d^2 + X_c^T Y_c 2 n d^2 + Cholesky d^3/3 + two triangular solves 2d^3
    return 3 * n * d * d + d**3 / 3 + 2 * d**3 + divergence_flops(d)


def reduced_flops(d, counts):
    """The batched reduced sampler (src/linear/lanes.rs), from the CLI's kernel counts: every trial
    S = N^T N (upper half) d^3, the Cholesky of S d^3/3, the inverse of its factor d^3/3, the
    Cholesky of Sigma-bar d^3/3; the trials of batches that ran the symmetric-part Cholesky d^3/3
    more, of batches that ran the sign's LU 2d^3/3 more. Trials recomputed alone and the empty
    lanes of partial batches are not counted (a lower bound)."""
    return counts["trials"] * 2 * d**3 + counts["sym"] * d**3 / 3 + counts["lu"] * 2 * d**3 / 3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--d", type=int, default=100)
    ap.add_argument("--n", default="200,500,1000,2000")
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--kappa2", type=float, default=0.5)
    ap.add_argument("--samplers", default="reduced,raw")
    ap.add_argument("--repeats", type=int, default=3, help="alternating runs of each side; medians reported")
    ap.add_argument("--numpy-trials", type=int, default=None,
                    help="trials per point on the numpy side (default: --trials); time is scaled")
    ap.add_argument("--json", help="append one result row per sampler to this JSON-lines file (benches/all.py)")
    a = ap.parse_args()
    ns = [int(x) for x in a.n.split(",")]
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    exe = target / "release" / "difftheory"
    cores = os.cpu_count()
    ghz = clock_ghz()
    per_cycle, isa = simd_flops_per_cycle()
    peak = cores * ghz * per_cycle
    lam = ref.lam_for_kappa2(a.kappa2, 1.0, 1.0)
    np_trials = a.numpy_trials or a.trials
    results = []
    print(f"linear-kl sweep: d = {a.d}, n = {a.n}, {a.trials} trials per point, T = 1, κ² = {a.kappa2} "
          f"(λ = {lam:.6g}), σ = 1")
    print(f"machine: {cores} cores at {ghz:.2f} GHz; nominal peak {peak:.1f} GFLOP/s ({isa} FMA f64, {per_cycle} flops/cycle/core); "
          f"load average {os.getloadavg()[0]:.1f}")
    for sampler in a.samplers.split(","):
        total_flops = sum(flops(sampler, a.d, n) for n in ns) * a.trials
        runs = []
        for _ in range(a.repeats):
            rust, rust_cpu, rust_kl, counts = run_rust(exe, a, lam, sampler)
            npy, npy_cpu, np_kl = run_numpy(a, ns, lam, sampler, np_trials)
            runs.append((rust, rust_cpu, npy, npy_cpu))
        if sampler == "reduced":
            total_flops = reduced_flops(a.d, counts)
            print(f"\n[reduced] kernels ({counts['isa']}): {counts['trials']} trials, symmetric-part "
                  f"Cholesky for {counts['sym']}, sign LU for {counts['lu']}, {counts['alone']} recomputed alone")
        rust, rust_cpu, npy, npy_cpu = (statistics.median(r[k] for r in runs) for k in range(4))
        gflops = total_flops / rust / 1e9
        gflops_core = total_flops / rust_cpu / 1e9
        print(f"\n[{sampler}] flops counted: {total_flops / 1e9:.1f} GFLOP; medians of {a.repeats} alternating runs "
              f"(wall rust {', '.join(f'{r[0]:.2f}' for r in runs)} s, numpy {', '.join(f'{r[2]:.2f}' for r in runs)} s)")
        print(f"  rust  {rust:8.2f} s wall, {rust_cpu:7.2f} s CPU   {gflops:6.1f} GFLOP/s = {100 * gflops / peak:5.1f} % of "
              f"the nominal peak (per CPU-second: {gflops_core:5.1f} GFLOP/s)")
        scaled = "" if np_trials == a.trials else f" (measured on {np_trials} trials per point, scaled)"
        print(f"  numpy {npy:8.2f} s wall, {npy_cpu:7.2f} s CPU   ratio numpy/rust = {npy / rust:5.1f}x wall, "
              f"{npy_cpu / rust_cpu:5.1f}x CPU{scaled}")
        for n, rk, nk in zip(ns, rust_kl, np_kl):
            print(f"    n = {n:5d}: KL rust {rk:.4f}, numpy {nk:.4f}")
        results.append((sampler, gflops, total_flops / 1e9, rust, npy))
    # measured last: OpenBLAS's threads keep spinning for a while after a DGEMM and would slow
    # whatever runs next
    limit = dgemm_rate()
    print(f"\nmeasured flop limit: numpy DGEMM 3000x3000 on all cores {limit:.1f} GFLOP/s")
    for sampler, gflops, gflop, rust, npy in results:
        print(f"  [{sampler}] rust {gflops:.1f} GFLOP/s: {limit / gflops:.1f}x below it")
        write_row(a.json, {
            "bench": f"linear_kl [{sampler}]", "work": f"linear-kl d={a.d} n={a.n} x{a.trials}, {gflop:.1f} GFLOP",
            "rust_s": rust, "ref_s": npy, "ref": "numpy", "gflop": gflop, "limit_gflops": limit,
            "rust_fraction": gflops / limit, "ref_fraction": gflop / npy / limit,
        })


def run_rust(exe, a, lam, sampler):
    """One timed run of the CLI (after a pause, so that no thread of the previous run still spins)."""
    time.sleep(1.0)
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = subprocess.run([str(exe), "linear-kl", "--d", str(a.d), "--n", a.n, "--t", "1", "--lambda", repr(lam),
                          "--sigma", "1", "--trials", str(a.trials), "--sampler", sampler,
                          "--out", "/tmp/linear-kl-bench.csv"], capture_output=True, text=True)
    wall = time.perf_counter() - t
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    rows = [line.split(",") for line in Path("/tmp/linear-kl-bench.csv").read_text().splitlines()[1:]]
    m = re.search(r"batched kernels \((\w+)\): (\d+) trials in \d+ batches; .* symmetric part for (\d+) of them, "
                  r"from an LU for (\d+); (\d+) recomputed alone", out.stderr)
    counts = None
    if m:
        counts = {"isa": m[1], "trials": int(m[2]), "sym": int(m[3]), "lu": int(m[4]), "alone": int(m[5])}
    elif sampler == "reduced":
        raise SystemExit(f"no kernel counts in the CLI's output:\n{out.stderr}")
    return (wall, (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime),
            [float(r[6]) for r in rows], counts)


def run_numpy(a, ns, lam, sampler, np_trials):
    """One timed run of the numpy sweep (same pause first), scaled to a.trials trials per point."""
    time.sleep(1.0)
    t, c = time.perf_counter(), time.process_time()
    kl = [ref.run_mc(a.d, n, 1.0, lam, 1.0, 0.0, np_trials, seed=n, reduced=(sampler == "reduced"))[0][0]
          for n in ns]
    scale = a.trials / np_trials
    return (time.perf_counter() - t) * scale, (time.process_time() - c) * scale, kl


if __name__ == "__main__":
    main()
