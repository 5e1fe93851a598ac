#!/usr/bin/env bash
# Starts evcxr_jupyter for the "Rust (difftheory)" kernel with a persistent build folder.
#
# evcxr rebuilds the notebook's crates in EVCXR_TMPDIR; keeping that folder between kernels makes
# the second notebook start in seconds instead of recompiling Polars. Two kernels must not share
# one folder (they race and fail), so each kernel takes the first free slot under $DT_CACHE,
# holding a lock on it for its whole life: one kernel at a time reuses slot 0, a second kernel open
# at the same time gets slot 1, and so on.
set -euo pipefail
: "${DT_EVCXR:?DT_EVCXR is set by the kernel spec}"
: "${DT_CACHE:?DT_CACHE is set by the kernel spec}"
slot=0
while :; do
  dir="$DT_CACHE/evcxr-build-$slot"
  mkdir -p "$dir"
  exec 9>"$dir.lock"
  if flock -n 9; then break; fi
  exec 9>&-
  slot=$((slot + 1))
done
export EVCXR_TMPDIR="$dir"
# evcxr's build cache (kernel/evcxr/init.evcxr) tells a notebook's own cell crates from registry
# crates by their incremental flag; CARGO_INCREMENTAL=0 in the environment removes it, cells are
# then served from the cache as stale libraries and fail to load ("dlsym failed").
unset CARGO_INCREMENTAL
# Cells link libdifftheory.so (see Cargo.toml) from evcxr's deps folder; the RUNPATH rustc writes
# is relative to that folder while evcxr loads cells from the one above, so name it here.
export LD_LIBRARY_PATH="$dir/target/${DT_HOST:?DT_HOST is set by the kernel spec}/debug/deps${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# JupyterLab's Interrupt sends SIGINT to the kernel's whole process group. Left alone it ends evcxr
# itself (the kernel dies: every variable lost, the kernel restarted). Ignored here, evcxr and the
# compilers it runs keep going, and the process that runs the cells catches it once the crate
# armed its handler (difftheory::sweep::interrupt): the running sweep stops before its next chunk.
trap '' INT
exec "$DT_EVCXR" --control_file "$1"
