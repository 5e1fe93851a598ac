#!/usr/bin/env bash
# Idempotent set-up of everything difftheory needs on a fresh Debian/Ubuntu machine with Rust and
# Python 3: apt packages, the Python venv (.venv, pins from environment.yml), libtorch from the
# PyPI torch wheel, evcxr_jupyter, and the "Rust (difftheory)" Jupyter kernel.
#
#   scripts/setup.sh [--torch cpu|full|none] [--chromium]
#
#   --torch cpu   (default) torch==2.13.0 without its CUDA dependencies plus the two small NVIDIA
#                 runtime wheels libtorch_cpu links against: ~540 MB, enough for the CPU path.
#   --torch full  the complete torch==2.13.0 wheel with its CUDA 13 dependencies (~2.7 GB): use it
#                 on a GPU machine; the crate then links libtorch_cuda and finds the GPU.
#   --torch none  skip libtorch (the `torch` cargo feature can then not be built).
#   --chromium    also install Debian's chromium (the tests open the exported pages in it offline;
#                 scripts/check_page.py, also to screenshot them).
#
# Every step checks a stamp or a version first, so a second run does nothing and costs seconds.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
# shellcheck source=scripts/env.sh
source scripts/env.sh

torch_mode="${DIFFTHEORY_TORCH:-cpu}"
want_chromium=0
while [ $# -gt 0 ]; do
  case "$1" in
    --torch) torch_mode="${2:?--torch needs cpu, full or none}"; shift 2 ;;
    --torch=*) torch_mode="${1#--torch=}"; shift ;;
    --chromium) want_chromium=1; shift ;;
    *) echo "setup.sh: unknown option '$1' (accepted: --torch cpu|full|none, --chromium)" >&2; exit 2 ;;
  esac
done
case "$torch_mode" in cpu|full|none) ;; *)
  echo "setup.sh: --torch must be cpu, full or none, got '$torch_mode'" >&2; exit 2 ;;
esac

log() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# ---- apt: only what is missing ------------------------------------------------------------
apt_missing=()
command -v g++ >/dev/null || apt_missing+=(g++)
command -v make >/dev/null || apt_missing+=(make)
command -v pkg-config >/dev/null || apt_missing+=(pkg-config)
python3 -c 'import ensurepip, venv' 2>/dev/null || apt_missing+=(python3-venv)
if [ "$want_chromium" = 1 ] && ! command -v chromium >/dev/null; then apt_missing+=(chromium); fi
if [ ${#apt_missing[@]} -gt 0 ]; then
  log "apt-get install ${apt_missing[*]}"
  sudo_=""; [ "$(id -u)" = 0 ] || sudo_="sudo"
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends "${apt_missing[@]}"
fi

# ---- the venv -------------------------------------------------------------------------------
if [ ! -x "$DT_VENV/bin/python" ]; then
  log "creating $DT_VENV"
  python3 -m venv "$DT_VENV"
fi
pins="$("$DT_VENV/bin/python" scripts/env_pins.py environment.yml)"
stamp="$DT_VENV/.difftheory-pins"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$pins" ]; then
  log "pip install (pins from environment.yml)"
  "$DT_VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  # shellcheck disable=SC2086
  "$DT_VENV/bin/python" -m pip install -q --disable-pip-version-check $pins
  printf '%s' "$pins" >"$stamp"
fi

# ---- libtorch from the torch wheel -----------------------------------------------------------
site="$("$DT_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
tstamp="$DT_VENV/.difftheory-torch"
if [ "$torch_mode" != none ]; then
  have="$(cat "$tstamp" 2>/dev/null || true)"
  # a full install satisfies a request for cpu
  if [ "$have" != "$torch_mode" ] && [ "$have" != full ]; then
    if [ "$torch_mode" = full ]; then
      log "pip install torch==$DT_TORCH_VERSION (with CUDA dependencies)"
      "$DT_VENV/bin/python" -m pip install -q --disable-pip-version-check "torch==$DT_TORCH_VERSION"
    else
      log "pip install --no-deps torch==$DT_TORCH_VERSION + the two NVIDIA runtime wheels it links"
      "$DT_VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
        "torch==$DT_TORCH_VERSION" "nvidia-cuda-runtime==$DT_CUDART_VERSION" \
        "nvidia-cuda-cupti==$DT_CUPTI_VERSION"
    fi
    printf '%s' "$torch_mode" >"$tstamp"
  fi
  # one stable path whatever the Python minor version: .venv/libtorch -> site-packages/torch
  ln -sfn "$site/torch" "$DT_VENV/libtorch"
fi

# ---- evcxr_jupyter --------------------------------------------------------------------------
if ! cargo install --list --root "$DT_EVCXR_ROOT" 2>/dev/null | grep -q "^evcxr_jupyter v$DT_EVCXR_VERSION:"; then
  log "cargo install evcxr_jupyter $DT_EVCXR_VERSION (about 6 min on 2 cores, once per machine)"
  # The kernel's own speed does not matter (rustc does the work), so build it quickly.
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_DEBUG=0 \
    cargo install evcxr_jupyter --version "$DT_EVCXR_VERSION" --locked --root "$DT_EVCXR_ROOT"
fi

# ---- the kernel spec -------------------------------------------------------------------------
bash kernel/install.sh
log "ready: venv $DT_VENV, torch=$torch_mode, evcxr $DT_EVCXR_VERSION, kernel '$DT_KERNEL_NAME'"
