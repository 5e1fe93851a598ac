"""Absorption run (paper 002) in Rust and in numpy, side by side: same points, schedule and sampler.

    .venv/bin/python benches/absorption.py [--paths 10000,1000000] [--steps 99]

The numpy version is a straightforward vectorized implementation of the same Euler-Maruyama
reverse SDE of OU with rate 1/2 and the exact point-cloud score (softmax over the points), all
paths advanced together. numpy's array code runs on one core, Rust (rayon) on every core, so the
report gives the wall-time ratio and the paths per second per core of each. The Rust side is timed
end to end as a user runs it (`difftheory absorption`, process start included) and, in the column
`ratio*`, with the fixed cost of starting the process (measured with 2 paths and 1 step) taken out.
The Rust binary is built in release mode first.

Measured 2026-11-23, 2 cores, quiet machine (load 1.3): 10^4 paths rust 0.03 s, numpy 0.26 s: 9.3x end
to end, 13.0x without the 8 ms process start; 10^6 paths rust 2.01 s, numpy 31.79 s: 15.8x;
Rust 246 000-250 000 paths/s per core, numpy 31 000-38 000 paths/s.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import write_row  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def numpy_absorption(points, paths, steps, t_final=10.0, power=5.0, seed=0):
    rng = np.random.default_rng(seed)
    times = t_final * (np.arange(steps + 1) / steps) ** power
    y = rng.standard_normal((paths, 2))
    for k in range(steps - 1, -1, -1):
        t, h = times[k + 1], times[k + 1] - times[k]
        m, v = np.exp(-t / 2), -np.expm1(-t)
        d2 = ((y[:, None, :] - m * points[None, :, :]) ** 2).sum(-1)  # paths × points
        logits = -d2 / (2 * v)
        logits -= logits.max(1, keepdims=True)
        w = np.exp(logits)
        w /= w.sum(1, keepdims=True)
        f = w @ points
        score = -(y - m * f) / v
        y = y + h * (0.5 * y + score) + np.sqrt(h) * rng.standard_normal(y.shape)
    nearest = ((y[:, None, :] - points[None, :, :]) ** 2).sum(-1).argmin(1)
    return np.bincount(nearest, minlength=len(points)) / paths


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--paths", default="10000,1000000")
    ap.add_argument("--steps", type=int, default=99)
    ap.add_argument("--json", help="append one result row per path count to this JSON-lines file (benches/all.py)")
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    exe = ROOT / "target" / "release" / "difftheory"
    cores = os.cpu_count()
    print(f"absorption, 5 points, {args.steps} power-5 steps, T = 10; Rust on {cores} threads, numpy on 1")
    def rust_run(paths, steps):
        t = time.perf_counter()
        out = subprocess.run([str(exe), "absorption", "--paths", str(paths), "--steps", str(steps), "--quiet", "--out", "/tmp/absorption-bench.csv"],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(out.stderr)
        return time.perf_counter() - t

    startup = min(rust_run(2, 1) for _ in range(5))
    print(f"fixed cost of a Rust run (process start, 2 paths, 1 step): {startup * 1e3:.0f} ms")
    print(f"{'paths':>9} {'rust s':>8} {'numpy s':>8} {'ratio':>7} {'ratio*':>7} {'rust paths/s/core*':>19} {'numpy paths/s':>14}")
    for paths in [int(p) for p in args.paths.split(",")]:
        rust = rust_run(paths, args.steps)
        rows = [l.split(",") for l in Path("/tmp/absorption-bench.csv").read_text().splitlines()[1:]]
        points = np.array([[float(r[1]), float(r[2])] for r in rows])
        t = time.perf_counter()
        freq = numpy_absorption(points, paths, args.steps)
        npy = time.perf_counter() - t
        rust_freq = np.array([float(r[3]) for r in rows])
        compute = max(rust - startup, 1e-9)
        print(f"{paths:>9} {rust:>8.2f} {npy:>8.2f} {npy / rust:>6.1f}x {npy / compute:>6.1f}x {paths / compute / cores:>19,.0f} {paths / npy:>14,.0f}"
              f"   max |freq rust − freq numpy| = {np.abs(rust_freq - freq).max():.4f}")
        write_row(args.json, {"bench": "absorption", "work": f"absorption {paths} paths x {args.steps} steps",
                              "rust_s": rust, "ref_s": npy, "ref": "numpy (1 thread: element-wise)"})


if __name__ == "__main__":
    main()
