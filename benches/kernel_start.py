"""Measures how fast the "Rust (difftheory)" kernel gets a notebook going.

    .venv/bin/python benches/kernel_start.py [--runs 2]

Starts a fresh kernel per run and times: kernel start, the `:dep difftheory` cell (a full build
when the kernel's build folder is cold, a check when it is warm), the `use` cell, a cell that runs
a sweep and stores its frame (evcxr's type analysis makes the first such cell slow), and a re-run
of that cell. Run it twice: the first run after a change to the crate rebuilds it, the second
shows the warm start a user gets when opening the next notebook.

Where a warm kernel's time goes (measured 2026-12-05 on the 2-core Intel Xeon (AVX-512)
development machine, evcxr_jupyter 0.22.0; strace of the kernel's child processes and perf of the
kernel itself during the `:dep` cell): fresh kernel to its first displayed frame 38 s, of which
- kernel start 3-6 s;
- `:dep` 20-30 s: evcxr validates the dependency with `cargo metadata` on a scratch manifest
  (~4 s), loads the workspace into its embedded rust-analyzer (`cargo metadata` of the crate graph
  and the sysroot, ~5 s), then rust-analyzer reads, parses and macro-expands the ~380 crates of the
  graph (~16 s with no child process running; perf: rowan/ra_ap_parser/macro token trees, a quarter
  of it the kernel zeroing the pages rust-analyzer allocates), then cargo checks the build
  (~2 s) and compiles and links the empty cell (~0.5 s);
- the first cell that stores a variable 13-17 s: rust-analyzer's type inference warming up on the
  crate graph, once per kernel and whatever the variable's type — `let out: ExperimentOutput = ...`
  written out took 16.6 s, the next `let` without a type 1.4 s;
- later cells 0.6-1.0 s (compile and link of the cell).
So about 30 s of the 38 s is evcxr's rust-analyzer analysing the dependency graph anew in every
kernel; nothing the crate or the kernel's configuration controls removes it (a smaller dependency
graph would shrink it in proportion). The per-cell re-run (about 1 s) meets its 1 s target.
"""

import argparse
import sys
import time
from pathlib import Path

from jupyter_client.manager import start_new_kernel

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import write_row  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CELLS = [
    ("dep", f':dep difftheory = {{ path = "{ROOT}" }}'),
    ("use", "use difftheory::prelude::*;\nuse difftheory::experiments::gaussian_kl::{self, GaussianKl};"),
    ("sweep + store frame", "let out = gaussian_kl::run(&GaussianKl::default(), &RunOptions::new(2, 1).progress(Progress::Off))?;"),
    ("re-run of that cell", "let out = gaussian_kl::run(&GaussianKl::default(), &RunOptions::new(2, 1).progress(Progress::Off))?;"),
    ("a small cell", 'println!("{}", out.summary.height());'),
    ("display the frame", "out.summary.clone()"),
]
# "fresh kernel to its first displayed frame": kernel start and these cells
TO_FIRST_FRAME = ("dep", "use", "sweep + store frame", "display the frame")


def run_cell(kc, code):
    t = time.time()
    msg_id = kc.execute(code)
    errors = []
    while True:
        msg = kc.get_iopub_msg(timeout=3600)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "error" or (msg["msg_type"] == "stream" and msg["content"]["name"] == "stderr"):
            errors.append(msg["content"].get("text") or msg["content"].get("evalue"))
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    return time.time() - t, errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--json", help="append the last run's figures to this JSON-lines file (benches/all.py)")
    args = ap.parse_args()
    for run in range(1, args.runs + 1):
        t = time.time()
        km, kc = start_new_kernel(kernel_name="difftheory", startup_timeout=180)
        start = time.time() - t
        print(f"run {run}: kernel start {start:6.1f} s")
        secs = {}
        try:
            for name, code in CELLS:
                secs[name], errors = run_cell(kc, code)
                print(f"run {run}: {name:<22} {secs[name]:6.1f} s" + (f"  ERROR: {errors}" if errors else ""))
                if errors:
                    raise SystemExit(f"cell {name!r} failed: {errors}")
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
        first = start + sum(secs[k] for k in TO_FIRST_FRAME)
        print(f"run {run}: fresh kernel to its first displayed frame {first:6.1f} s")
    write_row(args.json, {"bench": "kernel: to first frame", "work": f"start, :dep, sweep, display (run {args.runs})",
                          "rust_s": first})
    write_row(args.json, {"bench": "kernel: cell re-run", "work": "the sweep cell again, same kernel",
                          "rust_s": secs["re-run of that cell"]})


if __name__ == "__main__":
    main()
