"""Times a notebook run twice in one kernel: the first run, then a re-run on the warm kernel.

    .venv/bin/python benches/notebook_rerun.py notebooks/01_linear_denoiser.ipynb --size full

Starts one "Rust (difftheory)" kernel with DIFFTHEORY_SIZE set, runs every code cell of the
notebook in order (as "Run All" does), then runs them all again in the same kernel, and prints each
cell's time in both runs, the totals and their ratio. The second run is what a user waits for
after changing a plotting cell and pressing "Run All": the kernel is warm and, with the sweep cache
on (the kernel's default), every unchanged sweep is read back instead of recomputed. `--cache off`
sets DIFFTHEORY_CACHE=off for the kernel, to time the same re-run without the cache. Both runs'
printed output is compared line by line (minus timing lines) and the number of differing lines is
reported: a cache that changed a number would show here. A cell error stops the script (exit 1).
"""

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from jupyter_client.manager import start_new_kernel

ROOT = Path(__file__).resolve().parent.parent


def run_cell(kc, code):
    t = time.time()
    msg_id = kc.execute(code)
    out, error = [], None
    while True:
        msg = kc.get_iopub_msg(timeout=7200)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "error":
            error = f'{msg["content"]["ename"]}: {msg["content"]["evalue"]}'
        elif kind == "stream":
            out.append(msg["content"]["text"])
        elif kind in ("execute_result", "display_data"):
            out.append(msg["content"]["data"].get("text/plain", ""))
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            break
    return time.time() - t, "".join(out), error


# lines that carry a wall time (progress lines, "took 3.1 s") differ between runs by nature
TIMING = re.compile(r"\b(\d+(\.\d+)?\s?(s|ms|min)\b|ETA|elapsed|took|/s\b)")


def comparable(text):
    return [l for l in text.splitlines() if l.strip() and not TIMING.search(l)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("notebook")
    ap.add_argument("--size", choices=["small", "full"], default="full")
    ap.add_argument("--cache", choices=["on", "off"], default="on")
    args = ap.parse_args()
    nb = nbformat.read(args.notebook, as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code"]
    env = dict(os.environ, DIFFTHEORY_SIZE=args.size)
    reports = tempfile.mkdtemp(prefix="dt-rerun-")
    env["DIFFTHEORY_REPORTS"] = reports
    if args.cache == "off":
        env["DIFFTHEORY_CACHE"] = "off"
    t = time.time()
    km, kc = start_new_kernel(kernel_name="difftheory", startup_timeout=300, env=env,
                              cwd=str(Path(args.notebook).resolve().parent))
    print(f"{args.notebook}, size {args.size}, cache {args.cache}: kernel start {time.time() - t:.1f} s",
          flush=True)
    times, outputs = [[], []], [[], []]
    try:
        for run in range(2):
            for i, code in enumerate(cells):
                secs, out, error = run_cell(kc, code)
                if error:
                    print(f"run {run + 1}, cell {i + 1}: {error}", file=sys.stderr)
                    sys.exit(1)
                times[run].append(secs)
                outputs[run].append(out)
            print(f"run {run + 1}: {sum(times[run]):.1f} s", flush=True)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    print(f"{'cell':>4} {'first s':>8} {'re-run s':>9}  first line")
    for i, code in enumerate(cells):
        head = code.strip().splitlines()[0][:60] if code.strip() else ""
        print(f"{i + 1:>4} {times[0][i]:>8.1f} {times[1][i]:>9.1f}  {head}")
    first, again = sum(times[0]), sum(times[1])
    differ = sum(
        1
        for a, b in zip(outputs[0], outputs[1])
        for x, y in zip(comparable(a), comparable(b))
        if x != y
    ) + sum(abs(len(comparable(a)) - len(comparable(b))) for a, b in zip(*outputs))
    print(f"total: first run {first:.1f} s, re-run {again:.1f} s (re-run / first = {again / first:.3f}); "
          f"printed lines that differ between the runs: {differ}")


if __name__ == "__main__":
    main()
