#!/usr/bin/env bash
# Opens JupyterLab on the notebooks with the "Rust (difftheory)" kernel (after the same set-up).
#   scripts/lab.sh [extra jupyter lab options, e.g. --no-browser --port 8890]
# It opens notebooks/; DT_NOTEBOOK_DIR=DIR opens another folder (the browser test opens a copy).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
bash scripts/setup.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh
root_flag=()
[ "$(id -u)" = 0 ] && root_flag=(--allow-root)
exec "$DT_VENV/bin/jupyter" lab --notebook-dir "${DT_NOTEBOOK_DIR:-$here/notebooks}" "${root_flag[@]}" "$@"
