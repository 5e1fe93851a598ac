#!/usr/bin/env bash
# Registers the "Rust (difftheory)" Jupyter kernel in the project's venv (.venv/share/jupyter),
# writing a kernel.json whose env block sets every variable the notebooks need. Run by
# scripts/setup.sh; safe to run again.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/env.sh
source "$here/scripts/env.sh"
dest="$DT_VENV/share/jupyter/kernels/$DT_KERNEL_NAME"
mkdir -p "$dest" "$DT_CACHE"
libdir="$DT_LIBTORCH/lib"
# evcxr links each cell against the toolchain's libstd-*.so; the RUNPATH rustc writes is relative to
# target/.../deps but evcxr loads the library from the folder above, so the path only resolves when
# it happens to climb through "/". Put the toolchain's library folder on LD_LIBRARY_PATH instead.
host="$(rustc -vV | sed -n 's/^host: //p')"
rustlib="$(rustc --print sysroot)/lib/rustlib/$host/lib"
"$DT_VENV/bin/python" - "$dest/kernel.json" <<PY
import json, sys
spec = {
    "argv": ["bash", "$DT_ROOT/kernel/launch.sh", "{connection_file}"],
    "display_name": "Rust (difftheory)",
    "language": "rust",
    "env": {
        "DT_EVCXR": "$DT_EVCXR",
        "DT_CACHE": "$DT_CACHE",
        "DT_HOST": "$host",
        "DIFFTHEORY_ROOT": "$DT_ROOT",
        "EVCXR_CONFIG_DIR": "$DT_ROOT/kernel/evcxr",
        # libtorch for notebooks that use the torch feature: the build finds it through LIBTORCH,
        # the evcxr child process through LD_LIBRARY_PATH (evcxr builds its own library, which
        # does not get the crate's rpath); the toolchain's libstd likewise (see above).
        "LIBTORCH": "$DT_LIBTORCH",
        "LD_LIBRARY_PATH": "$rustlib:$libdir",
        "PATH": "$(dirname "$(command -v cargo)"):/usr/local/bin:/usr/bin:/bin",
        "RUST_BACKTRACE": "0",
        # Interrupt stops a running sweep at its next chunk (difftheory::sweep::interrupt)
        "DIFFTHEORY_KERNEL": "1",
    },
    "metadata": {"debugger": False},
}
with open(sys.argv[1], "w") as f:
    json.dump(spec, f, indent=2)
PY
cp "$here/kernel/logo-64x64.png" "$dest/" 2>/dev/null || true
echo "kernel '$DT_KERNEL_NAME' registered in $dest"
