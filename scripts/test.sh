#!/usr/bin/env bash
# The test command: set everything up, then
#   1. cargo test with every feature CI can build (torch on the CPU-only libtorch),
#   2. cargo doc with every warning an error (broken links, undocumented public items),
#   3. sharded sweeps on a real single-node Slurm cluster (tests/slurm.sh, started and stopped by
#      scripts/slurm.sh), and a run whose disk fills up (tests/full_disk.sh, on a small tmpfs),
#   4. the notebook-runner tests (deliberately broken notebooks must fail, a clean one pass, its
#      page render its formulas offline) and Interrupt during a sweep in the project's kernel,
#   4b. JupyterLab (scripts/lab.sh) driven in Debian's Chromium through Playwright: the tour run
#      with Run All, its tables and charts in the DOM, a progress line streamed, Interrupt pressed,
#   5. every notebook in notebooks/ executed headlessly on the project's kernel at the small size,
#      failing on any cell error; the executed notebooks and HTML reports land in reports/,
#   6. every report page opened in headless Chromium offline: formulas typeset, charts drawn.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
t0=$(date +%s)
phases=()  # "name|seconds|free disk after it" for the table printed at the end
phase_start=$t0
phase_name=""
# Free space where the build and rustdoc's doctest binaries go: a disk that fills up shows as
# linker crashes (ld killed by SIGBUS) rather than as "no space left", so every phase line and the
# table carry it.
free_disk() {
  local p paths=()
  for p in "${CARGO_TARGET_DIR:-$here/target}" "${TMPDIR:-/tmp}"; do
    while [ ! -e "$p" ]; do p="$(dirname "$p")"; done  # the build folder is made by cargo later
    paths+=("$p")
  done
  df -Pk "${paths[@]}" 2>/dev/null \
    | awk 'NR > 1 && !seen[$6]++ { printf "%s%.1f GiB free on %s", sep, $4 / 1048576, $6; sep = ", " }' \
    || true
}
stamp() {
  local now disk; now=$(date +%s); disk=$(free_disk)
  [ -n "$phase_name" ] && phases+=("$phase_name|$(( now - phase_start ))|$disk")
  phase_name="$*"; phase_start=$now
  echo "[test $(date +%H:%M:%S), +$(( now - t0 )) s; $disk] $*"
}
table() {
  stamp "end"
  echo "time per phase (load average now: $(cut -d' ' -f1-3 /proc/loadavg)):"
  for row in "${phases[@]}"; do
    IFS='|' read -r name secs disk <<< "$row"
    printf '  %-32s %6s s   (after it: %s)\n' "$name" "$secs" "$disk"
  done
  printf '  %-32s %6s s\n' "total" "$(( $(date +%s) - t0 ))"
}
trap table EXIT

stamp "setup"
# --chromium: Debian's chromium checks the exported pages offline (21 s of apt on the development
# machine when missing)
bash scripts/setup.sh --torch "${DIFFTHEORY_TORCH:-cpu}" --chromium
# shellcheck source=scripts/env.sh
source scripts/env.sh

stamp "cargo test --all-features"
# One build from scratch: incremental compilation's caches would only add 1.3 GB to target/. Only
# for this command and cargo doc: never exported, since the kernel must not see it (kernel/launch.sh).
CARGO_INCREMENTAL=0 cargo test --all-features --locked

stamp "cargo doc (warnings are errors)"
# Cost: rustdoc needs the dependencies checked in metadata mode, which the test build does not
# share: 10.0 CPU-minutes alone in a fresh target folder (user 9 min 15 s + sys 45 s on the 2-core
# development machine); right after the test build of a clean clone it took 90 s of wall time
# (the build scripts and proc macros are shared). Seconds when warm.
CARGO_INCREMENTAL=0 RUSTDOCFLAGS="-D warnings" cargo doc --all-features --no-deps --locked

stamp "slurm (single-node cluster)"
# Cost: apt-get install slurm-wlm munge 13 s on a machine without them, the four scenarios 42 s
# (measured on the 2-core development machine); the binary is the one cargo test built.
bash tests/slurm.sh "${CARGO_TARGET_DIR:-target}/debug/difftheory"

stamp "full disk (tmpfs)"
# Cost: about 10 s: a checkpoint folder and an output folder on a 96 KiB tmpfs fill up, the run
# stops with one line naming the file, nothing partial is left, and it resumes once space is freed.
bash tests/full_disk.sh "${CARGO_TARGET_DIR:-target}/debug/difftheory"

stamp "notebook runner and kernel tests"
# tests/test_kernel_interrupt.py: Interrupt during a sweep in the project's kernel (about 30 s)
"$DT_VENV/bin/python" -m pytest -q -p no:cacheprovider tests/test_notebook_runner.py tests/test_kernel_interrupt.py

stamp "jupyterlab in chromium"
# tests/test_lab_browser.py, about 2 min with the kernel cache the runner tests warmed: JupyterLab
# started by scripts/lab.sh on a copy of the tour, driven in headless Chromium (Playwright, pointed
# at Debian's chromium); screenshots in reports/lab-*.png.
"$DT_VENV/bin/python" -m pytest -q -s -p no:cacheprovider tests/test_lab_browser.py

stamp "notebooks (size small)"
"$DT_VENV/bin/python" scripts/run_notebooks.py --size small --reports reports notebooks/*.ipynb

stamp "reports offline (chromium)"
# Cost: about 5 s a page: every exported notebook page opened in headless Chromium with the
# network cut off must typeset its formulas with no MathJax error, leave no `$…$` untypeset, and
# draw its Plotly charts (scripts/check_page.py).
"$DT_VENV/bin/python" scripts/check_page.py --min-math 1 --min-charts 1 reports/[0-9]*.html

echo "all tests passed"
