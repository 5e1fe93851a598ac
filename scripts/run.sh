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
bash scripts/setup.sh "${setup_args[@]}"
# shellcheck source=scripts/env.sh
source scripts/env.sh
"$DT_VENV/bin/python" scripts/run_notebooks.py --size "$size" --reports reports notebooks/*.ipynb
echo "reports: $here/reports/index.html"
