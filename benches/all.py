"""Every benchmark of this folder at a stated size, and one table of their results.

    .venv/bin/python benches/all.py [--torch-python /tmp/ugen/bin/python] [--only rf_generalization,...] [--json FILE]

Runs each bench (the Rust side and its reference implementation in the same command, as each
bench's own docstring describes) and prints, per result: the work, the Rust time, the reference's
time, the ratio reference / Rust (> 1: Rust faster), and where the bench counts its flops the
fraction of the machine's limit each side reached (flops / second over numpy's threaded DGEMM rate,
measured once here after the benches, on all cores). Above the table: the machine (CPU model,
cores, SIMD, numpy's BLAS and threads) and the load average before and after the whole run —
ratios against a threaded reference swing with the load.

The sizes (below, `BENCHES`) are chosen to finish in about five minutes on a 2-core machine; each
bench's own command runs larger ones. The torch benches (U-Net forward and DDIM against diffusers,
the Jacobian's top singular directions against torch.func) need a Python with torch 2.13.0 and
diffusers (each bench's docstring says how to make one) and the release CLI built with the torch
feature; without `--torch-python` they are listed as not run, with the reason.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import machine  # noqa: E402

# name, script, arguments (the stated size), needs torch + diffusers
BENCHES = [
    ("rf_generalization", "rf_generalization.py", [], False),
    ("linear_kl", "linear_kl.py", ["--trials", "1000", "--numpy-trials", "100", "--repeats", "1"], False),
    # SGD at K = 2 is left out: its numpy side alone runs about 5 minutes (rust 195 s, numpy 2952 s
    # scaled from 2 of 20 instances, on 2 cores); `molrg_phase.py` runs it by default
    ("molrg_phase", "molrg_phase.py", ["--trials", "20", "--numpy-trials", "2", "--runs", "pca:1,clustering:2"], False),
    ("absorption", "absorption.py", ["--paths", "100000"], False),
    ("kernel_start", "kernel_start.py", ["--runs", "2"], False),
    ("unet", "unet.py", ["--rounds", "2", "--exe", str(ROOT / "target" / "release" / "difftheory")], True),
    ("jacobian", "jacobian.py", ["--no-full", "--iters", "3", "--exe", str(ROOT / "target" / "release" / "difftheory")], True),
]


def fmt(v, spec, suffix=""):
    """v formatted by spec (width.precision) with suffix, or a dash of the same width."""
    width = int(spec.split(".")[0])
    text = format(v, spec) + suffix if isinstance(v, (int, float)) else "—"
    return text.rjust(width + len(suffix))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--torch-python", help="a Python with torch 2.13.0 and diffusers, for the torch benches")
    ap.add_argument("--only", help="comma-separated bench names (default: all)")
    ap.add_argument("--json", help="also write the table's rows to this JSON file")
    args = ap.parse_args()
    only = set(args.only.split(",")) if args.only else None
    info = machine.describe()
    rows_file = Path(tempfile.mkdtemp(prefix="benches-")) / "rows.jsonl"
    skipped, failed = [], []
    t_all = time.perf_counter()
    logs = ROOT / "target" / "bench-logs"
    logs.mkdir(parents=True, exist_ok=True)
    if args.torch_python and (only is None or only & {"unet", "jacobian"}):
        # the torch benches run the release CLI with the torch feature
        subprocess.run(["cargo", "build", "--release", "--features", "torch", "--quiet"], cwd=ROOT, check=True)
    for name, script, extra, torch in BENCHES:
        if only is not None and name not in only:
            continue
        if torch and not args.torch_python:
            skipped.append(f"{name}: needs --torch-python (a Python with torch 2.13.0 and diffusers)")
            continue
        python = args.torch_python if torch else sys.executable
        cmd = [python, str(HERE / script), *extra, "--json", str(rows_file)]
        print(f"[all] {' '.join(cmd[1:])}", flush=True)
        t = time.perf_counter()
        res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        print(f"[all] {name}: {time.perf_counter() - t:.0f} s, exit {res.returncode}", flush=True)
        (logs / f"{name}.log").write_text(res.stdout + res.stderr)
        if res.returncode != 0:
            failed.append(f"{name}: exit {res.returncode}, last lines: {res.stderr.strip().splitlines()[-3:]}")
    time.sleep(2.0)
    limit = machine.dgemm_rate()
    load_after = os.getloadavg()
    rows = [json.loads(line) for line in rows_file.read_text().splitlines()] if rows_file.exists() else []
    print(f"\nmachine: {machine.describe_line(info)}")
    print(f"limit: numpy DGEMM 3000×3000 on all cores {limit:.1f} GFLOP/s; load average "
          f"{info['load'][0]:.2f} before, {load_after[0]:.2f} after; {time.perf_counter() - t_all:.0f} s in all")
    print(f"bench logs: {logs}/")
    head = (f"{'bench':<30} {'work':<48} {'rust s':>8} {'ref s':>8} {'ref/rust':>8} {'GFLOP':>7} "
            f"{'rust/limit':>10} {'ref/limit':>9}  reference")
    print(head)
    print("-" * len(head))
    for r in rows:
        ratio = r["ref_s"] / r["rust_s"] if r.get("ref_s") else None
        gflop = r.get("gflop")
        rf = gflop / r["rust_s"] / limit if gflop else None
        nf = gflop / r["ref_s"] / limit if gflop and r.get("ref_s") else None
        print(f"{r['bench']:<30} {r['work'][:48]:<48} {fmt(r['rust_s'], '8.3f')} {fmt(r.get('ref_s'), '8.3f')} "
              f"{fmt(ratio, '7.2f', 'x')} {fmt(gflop, '7.1f')} {fmt(rf and 100 * rf, '9.1f', '%')} "
              f"{fmt(nf and 100 * nf, '8.1f', '%')}  {r.get('ref', '—')}")
        r.update(ratio=ratio, rust_limit_fraction=rf, ref_limit_fraction=nf)
    for s in skipped:
        print(f"not run: {s}")
    for f in failed:
        print(f"FAILED: {f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "limit_gflops": limit, "load_after": load_after,
                                               "rows": rows, "skipped": skipped, "failed": failed}, indent=1))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
