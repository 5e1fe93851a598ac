"""Random-feature generalization grid (paper 001) in Rust and in numpy, side by side, against the
machine's limit.

    .venv/bin/python benches/rf_generalization.py [--n 256,1024,4096] [--features 64,256,1024] [--trials 2] [--json FILE]

Both sides run the same computation for every (n, m, trial) of the grid, d = 2, modes 4 apart:
draw W, U and n training points, build the fixed denoising design (8 log-midpoint time nodes on
[0.01, 3], one noise draw per point and node), accumulate G = Φ̃ᵀΦ̃/m and R = ỸᵀΦ̃, eigendecompose
G, form the readouts A(τ) of 33 training times (one GEMM V [B(τ₁); …]ᵀ) and evaluate each one's gap
on 4000 fresh draws per population node (12 nodes): Σ_j w_j mean ‖A(τ) φ/m − ∇log p_t‖², one GEMM
Φ [A(τ₁); …]ᵀ per node. numpy uses its BLAS / LAPACK (all cores it is given) for the Gram matrices
and `eigh`; Rust uses faer (sequential GEMMs and eigensolver) and rayon across the grid's trials,
across a trial's blocks of population draws and across the two halves of each wide Gram update.
The numbers differ only by their random draws (the generators differ), so the report shows both
tables' gap_at_best next to the times.

What it prints, from one run:
- the machine (CPU model, cores, SIMD, numpy's BLAS and its thread count, load average before and
  after) and the flop limit it reaches, numpy's threaded DGEMM rate (benches/machine.py);
- per phase (design: features, G and R; eigen: eigendecomposition and R V; readouts; gap) the flops
  executed (the counts are in `phase_flops`; the same on both sides), Rust's core-seconds (the
  phase times of `Trial::run`, summed over the trials by benches/rf_phases.rs, which runs the grid as
  the CLI does) and numpy's seconds, and each one's fraction of the limit: Rust's per core (flops /
  core-second over DGEMM / cores), numpy's on all cores (flops / second over DGEMM);
- the whole grid: the CLI's wall time against numpy's, its fraction of the limit, and the ratio.

Ratios against numpy swing with the machine's load (numpy's threaded BLAS suffers most), so the
fractions of the limit are the figures to compare across machines.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import machine  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
T0, TF, TRAIN_NODES, POP_NODES, POP_SAMPLES = 0.01, 3.0, 8, 12, 4000
TAUS = 10.0 ** np.linspace(-2, 6, 33)


def log_midpoint(t0, tf, q):
    h = np.log(tf / t0) / q
    t = t0 * np.exp((np.arange(q) + 0.5) * h)
    return t, t * h


def embed(t):
    return np.array([1.0, np.exp(-t), np.sqrt(-np.expm1(-2 * t))])


def features(x, t, w, u):
    return np.maximum(x @ w.T + u @ embed(t), 0.0)


def mixture_score(x, t, mu):
    # ½N(−μe₁, I) + ½N(μe₁, I) under OU-2: unit variance kept, modes ±μ e^{-t}
    m = mu * np.exp(-t)
    s = -x.copy()
    s[:, 0] += m * np.tanh(m * x[:, 0])
    return s


def sample_target(rng, n, d, mu):
    x = rng.standard_normal((n, d))
    x[:, 0] += mu * np.where(rng.random(n) < 0.5, -1.0, 1.0)
    return x


PHASES = ("design", "eigen", "readouts", "gap")


def phase_flops(n, m, d=2, draws=1):
    """Flops of one trial per phase, counted the same way for both sides (multiply-adds count 2;
    element-wise work, the random draws and the scores are not counted):
    - design, N = n · 8 nodes · draws rows: features X Wᵀ 2 N m d, G's lower triangle N m (m + 1)
      (syrk, both sides), R 2 N m d;
    - eigen: 9 m³, the usual count of a symmetric eigendecomposition with its vectors (Golub & Van
      Loan, symmetric QR; divide and conquer does fewer), and R V 2 d m²;
    - readouts: one GEMM (d T) × m by m × m, 2 d T m² with T = 33 times;
    - gap, P = 12 nodes · 4000 draws: features 2 P m d and Φ [A(τ)]ᵀ 2 P m d T."""
    rows = n * TRAIN_NODES * draws
    pop = POP_NODES * POP_SAMPLES
    t = len(TAUS)
    return {
        "design": rows * m * (m + 1) + 4 * rows * m * d,
        "eigen": 9 * m**3 + 2 * d * m * m,
        "readouts": 2 * d * t * m * m,
        "gap": 2 * pop * m * d + 2 * pop * m * d * t,
    }


def trial(rng, d, n, m, mu, times):
    """One trial; adds each phase's wall time to `times`."""
    c0 = time.perf_counter()
    w = rng.standard_normal((m, d)) / np.sqrt(d)
    u = rng.standard_normal((m, 3))
    x0 = sample_target(rng, n, d, mu)
    g = np.zeros((m, m))
    r = np.zeros((d, m))
    for t, wt in zip(*log_midpoint(T0, TF, TRAIN_NODES)):
        z = rng.standard_normal((n, d))
        v = -np.expm1(-2 * t)
        xt = np.exp(-t) * x0 + np.sqrt(v) * z
        sw = np.sqrt(wt / n)
        phi = sw * features(xt, t, w, u)
        y = sw * (-z / np.sqrt(v))
        g += phi.T @ phi / m  # numpy calls syrk for aᵀa
        r += y.T @ phi
    c1 = time.perf_counter()
    lam, vec = np.linalg.eigh(g)
    lam = np.maximum(lam, 0.0)
    rv = r @ vec
    c2 = time.perf_counter()
    # readouts A(τ) = B(τ) Vᵀ of the whole τ grid, stacked: one GEMM (τ d) × m by m × m
    lt = lam * TAUS[:, None]
    fac = np.where(lt < 1e-12, TAUS[:, None], -np.expm1(-lt) / np.where(lam > 0, lam, 1.0))
    a = (rv[None, :, :] * fac[:, None, :]).reshape(len(TAUS) * d, m) @ vec.T
    c3 = time.perf_counter()
    gaps = np.zeros(len(TAUS))
    for t, wt in zip(*log_midpoint(T0, TF, POP_NODES)):
        xt = np.exp(-t) * sample_target(rng, POP_SAMPLES, d, mu) + np.sqrt(-np.expm1(-2 * t)) * rng.standard_normal((POP_SAMPLES, d))
        phi = features(xt, t, w, u)
        s = mixture_score(xt, t, mu)
        fit = (phi @ a.T / m).reshape(POP_SAMPLES, len(TAUS), d)
        gaps += wt / POP_SAMPLES * ((fit - s[:, None, :]) ** 2).sum(axis=(0, 2))
    c4 = time.perf_counter()
    for k, dt in zip(PHASES, (c1 - c0, c2 - c1, c3 - c2, c4 - c3)):
        times[k] += dt
    return gaps


def numpy_grid(ns, ms, trials, times, d=2, mode_distance=4.0, seed=1):
    rng = np.random.default_rng(seed)
    rows = []
    for n in ns:
        for m in ms:
            curves = np.array([trial(rng, d, n, m, mode_distance / 2, times) for _ in range(trials)])
            mean = curves.mean(0)
            best = int(mean.argmin())
            rows.append((n, m, TAUS[best], curves[:, best].mean(), curves[:, -1].mean()))
    return rows


def cargo_build():
    """Builds the release CLI and the phase bench; returns their paths (CARGO_TARGET_DIR honoured)."""
    out = subprocess.run(["cargo", "build", "--release", "--bins", "--bench", "rf_phases", "--message-format=json"],
                         cwd=ROOT, check=True, capture_output=True, text=True).stdout
    exes = {}
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("executable"):
            exes[msg["target"]["name"]] = msg["executable"]
    return exes["difftheory"], exes["rf_phases"]


def timed_child(cmd):
    """Runs cmd; returns (wall seconds, CPU seconds of the child, stdout)."""
    time.sleep(1.0)  # no BLAS thread of an earlier step still spinning
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed:\n{res.stderr}")
    return wall, (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime), res.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", default="256,1024,4096")
    ap.add_argument("--features", default="64,256,1024")
    ap.add_argument("--trials", type=int, default=2)
    ap.add_argument("--json", help="append the result row to this JSON-lines file (benches/all.py)")
    args = ap.parse_args()
    ns = [int(v) for v in args.n.split(",")]
    ms = [int(v) for v in args.features.split(",")]
    cli, phases_exe = cargo_build()
    info = machine.describe()
    grid = ["--n", args.n, "--features", args.features, "--trials", str(args.trials), "--seed", "1"]
    out_csv = Path(tempfile.gettempdir()) / f"rf-bench-{os.getpid()}.csv"
    rust, rust_cpu, _ = timed_child([cli, "rf-generalization", "--d", "2", "--mode-distance", "4", "--quiet",
                                     "--out", str(out_csv)] + grid)
    _, _, phase_json = timed_child([phases_exe, "--d", "2", "--mode-distance", "4"] + grid)
    rust_phases = json.loads(phase_json)
    time.sleep(1.0)
    np_times = dict.fromkeys(PHASES, 0.0)
    t, p0 = time.perf_counter(), time.process_time()
    rows = numpy_grid(ns, ms, args.trials, np_times)
    py, py_cpu = time.perf_counter() - t, time.process_time() - p0
    time.sleep(1.0)
    limit = machine.dgemm_rate()
    load_after = os.getloadavg()
    rust_rows = {}
    for line in out_csv.read_text().splitlines()[1:]:
        c = line.split(",")
        rust_rows[(int(c[1]), int(c[2]))] = (float(c[5]), float(c[6]), float(c[8]))
    out_csv.unlink()
    cells = len(ns) * len(ms) * args.trials
    print(f"rf-generalization grid: d = 2, modes 4 apart, n ∈ {ns}, m ∈ {ms}, {args.trials} trials "
          f"({cells} trained models)")
    print(f"machine: {machine.describe_line(info)}")
    print(f"limit: numpy DGEMM 3000×3000 on all cores {limit:.1f} GFLOP/s ({limit / info['cores']:.1f} per core)")
    print(f"{'n':>6} {'m':>6} | {'rust τ*':>9} {'gap*':>8} {'end':>8} | {'numpy τ*':>9} {'gap*':>8} {'end':>8}")
    for n, m, tb, gb, gf in rows:
        rt, rg, rf = rust_rows[(n, m)]
        print(f"{n:>6} {m:>6} | {rt:>9.3g} {rg:>8.4f} {rf:>8.4f} | {tb:>9.3g} {gb:>8.4f} {gf:>8.4f}")
    # every phase's flops over the grid, and the Rust phase bench's own gaps against the CLI's
    flops = dict.fromkeys(PHASES, 0.0)
    rust_core = dict.fromkeys(PHASES, 0.0)
    for pt in rust_phases["points"]:
        per = phase_flops(pt["n"], pt["m"])
        for k in PHASES:
            flops[k] += per[k] * pt["trials"]
            rust_core[k] += pt[k]
        cli_best = rust_rows[(pt["n"], pt["m"])][1]
        if abs(pt["gap_at_best"] - cli_best) > 1e-9 * abs(cli_best):
            raise SystemExit(f"rf_phases ran other trials than the CLI: gap_at_best {pt['gap_at_best']} vs {cli_best}")
    per_core = limit / info["cores"]
    print(f"\nper phase (flops counted in phase_flops; Rust: core-seconds summed over trials, fraction of the limit "
          f"per core; numpy: seconds on {info['blas_threads']} BLAS threads, fraction of the limit on all cores)")
    print(f"  {'phase':<10} {'GFLOP':>8} | {'rust core-s':>11} {'GFLOP/s':>8} {'of limit':>9} | "
          f"{'numpy s':>8} {'GFLOP/s':>8} {'of limit':>9}")
    for k in PHASES:
        gf = flops[k] / 1e9
        rr, nr = gf / rust_core[k], gf / np_times[k]
        print(f"  {k:<10} {gf:>8.2f} | {rust_core[k]:>11.3f} {rr:>8.1f} {100 * rr / per_core:>8.1f}% | "
              f"{np_times[k]:>8.3f} {nr:>8.1f} {100 * nr / limit:>8.1f}%")
    total = sum(flops.values()) / 1e9
    gemm = (flops["design"] + flops["readouts"] + flops["gap"]) / 1e9
    gemm_core = rust_core["design"] + rust_core["readouts"] + rust_core["gap"]
    print(f"  {'GEMM-shaped (design, readouts, gap)':<36} rust {100 * gemm / gemm_core / per_core:5.1f}% of the limit per core")
    print(f"\nwhole grid, {total:.1f} GFLOP: rust CLI {rust:.2f} s wall ({rust_cpu:.2f} s CPU) = {total / rust:.1f} GFLOP/s = "
          f"{100 * total / rust / limit:.1f}% of the limit; phase bench {rust_phases['wall']:.2f} s on "
          f"{rust_phases['threads']} threads")
    print(f"  numpy {py:.2f} s wall ({py_cpu:.2f} s CPU) = {total / py:.1f} GFLOP/s = {100 * total / py / limit:.1f}% of the limit")
    print(f"  ratio numpy/rust = {py / rust:.1f}x wall, {py_cpu / rust_cpu:.1f}x CPU; load average "
          f"{info['load'][0]:.2f} before, {load_after[0]:.2f} after")
    machine.write_row(args.json, {
        "bench": "rf_generalization", "work": f"rf grid n={args.n} m={args.features} x{args.trials}, {total:.0f} GFLOP",
        "rust_s": rust, "ref_s": py, "ref": f"numpy ({info['blas_threads']} BLAS threads)",
        "gflop": total, "limit_gflops": limit, "rust_fraction": total / rust / limit, "ref_fraction": total / py / limit,
    })


if __name__ == "__main__":
    main()
