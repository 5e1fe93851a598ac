#!/usr/bin/env bash
# The main job: set everything up, execute every notebook in notebooks/ headlessly on the project's
# kernel at full size, and write a self-contained HTML report per notebook plus reports/index.html.
#   scripts/run.sh [--torch cpu|full|none] [--size small|full]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
size=full
setup_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size="${2:?--size needs small or full}"; shift 2 ;;
    *) setup_args+=("$1"); shift ;;
  esac
done
t0=$(date +%s)
bash scripts/setup.sh "${setup_args[@]}"
t1=$(date +%s)
echo "setup: $(( t1 - t0 )) s"
# shellcheck source=scripts/env.sh
source scripts/env.sh
# The runner prints its plan (each notebook's measured time at this size), streams progress lines
# and slow cells while they run, and ends with a time per notebook (also in reports/timings.json).
status=0
"$DT_VENV/bin/python" scripts/run_notebooks.py --size "$size" --reports reports notebooks/*.ipynb || status=$?
echo "main job: setup $(( t1 - t0 )) s, notebooks $(( $(date +%s) - t1 )) s, total $(( $(date +%s) - t0 )) s"
echo "reports: $here/reports/index.html"
exit "$status"
