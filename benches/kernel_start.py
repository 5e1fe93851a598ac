"""Measures how fast the "Rust (difftheory)" kernel gets a notebook going.

    .venv/bin/python benches/kernel_start.py [--runs 2]

Starts a fresh kernel per run and times: kernel start, the `:dep difftheory` cell (a full build
when the kernel's build folder is cold, a check when it is warm), the `use` cell, a cell that runs
a sweep and stores its frame (evcxr's type analysis makes the first such cell slow), and a re-run
of that cell. Run it twice: the first run after a change to the crate rebuilds it, the second
shows the warm start a user gets when opening the next notebook.
"""

import argparse
import time
from pathlib import Path

import nbformat
from jupyter_client.manager import start_new_kernel

ROOT = Path(__file__).resolve().parent.parent
CELLS = [
    ("dep", f':dep difftheory = {{ path = "{ROOT}" }}'),
    ("use", "use difftheory::prelude::*;\nuse difftheory::experiments::gaussian_kl::{self, GaussianKl};"),
    ("sweep + store frame", "let out = gaussian_kl::run(&GaussianKl::default(), &RunOptions::new(2, 1).progress(Progress::Off))?;"),
    ("re-run of that cell", "let out = gaussian_kl::run(&GaussianKl::default(), &RunOptions::new(2, 1).progress(Progress::Off))?;"),
    ("a small cell", 'println!("{}", out.summary.height());'),
]


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
    args = ap.parse_args()
    for run in range(1, args.runs + 1):
        t = time.time()
        km, kc = start_new_kernel(kernel_name="difftheory", startup_timeout=180)
        print(f"run {run}: kernel start {time.time() - t:6.1f} s")
        try:
            for name, code in CELLS:
                secs, errors = run_cell(kc, code)
                print(f"run {run}: {name:<22} {secs:6.1f} s" + (f"  ERROR: {errors}" if errors else ""))
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)


if __name__ == "__main__":
    main()
