#!/usr/bin/env bash
# A coverage-guided fuzzing campaign of every loader a user feeds (the longer campaign beside the
# structured fuzzing that `cargo test` runs):
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
# Targets (fuzz/fuzz_targets/): tables (read_frame on CSV / Parquet / JSON), checkpoint (a sweep
# checkpoint folder read and resumed), model_config, model_weights, scheduler_config (a diffusers
# model folder with that file replaced), png (read_png), directions (saved edit directions).
#
# It builds fuzz/ with `cargo +nightly fuzz` (libFuzzer; no sanitizer: the loaders are safe Rust,
# and a finding is a panic, an abort, an error that does not name the file, or more than 2 GiB
# resident), seeds each target's working corpus (fuzz/corpus/<target>, not committed) with the
# committed bad files of tests/corpus/ and valid files (the fixtures, and tables and a checkpoint
# made by this checkout's `difftheory`), runs each target for SECONDS_PER_TARGET (default 300), and
# prints one line per target: executions, corpus entries, findings. A finding's input is in
# fuzz/artifacts/<target>/; it joins tests/corpus/ with its fix (the corpus README says how).
# Needs the nightly toolchain (`rustup toolchain install nightly`) and `cargo install cargo-fuzz`;
# CI does not run it (it is not on stable Rust); the first build takes about 15 min on 2 cores.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
secs="${1:-300}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(tables checkpoint model_config model_weights scheduler_config png directions)
case "$secs" in ''|*[!0-9]*) echo "fuzz.sh: SECONDS_PER_TARGET must be a whole number, got '$secs'" >&2; exit 2 ;; esac
command -v cargo-fuzz >/dev/null || { echo "fuzz.sh: cargo-fuzz is missing: cargo install cargo-fuzz" >&2; exit 2; }
rustup run nightly rustc -V >/dev/null 2>&1 || { echo "fuzz.sh: no nightly toolchain: rustup toolchain install nightly" >&2; exit 2; }
# shellcheck source=scripts/env.sh
source scripts/env.sh

log() { printf '[fuzz %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

log "seeds"
cargo build --locked --features torch --bin difftheory -q
bin="${CARGO_TARGET_DIR:-target}/debug/difftheory"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
sweep=(gaussian-kl --d 1,2 --n-samples 100 --trials 2 --quiet)
"$bin" "${sweep[@]}" --checkpoint "$work/ck" --out "$work/valid.csv" --raw "$work/valid.parquet"
"$bin" "${sweep[@]}" --out "$work/valid.json"
"$DT_VENV/bin/python" - "$work" <<'EOF'
import shutil, struct, sys
from pathlib import Path
work, root = Path(sys.argv[1]), Path.cwd()
corpus = root / "fuzz" / "corpus"
def put(target, name, data):
    d = corpus / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)
pick = {".csv": 0, ".parquet": 1, ".json": 2}
for f in [*sorted((root / "tests/corpus/tables").iterdir()), *(work / f"valid{e}" for e in pick)]:
    put("tables", f.name, bytes([pick[f.suffix]]) + f.read_bytes())
manifest = (work / "ck" / "manifest.json").read_bytes()
chunk = (work / "ck" / "chunk-000000.parquet").read_bytes()
put("checkpoint", "valid", struct.pack("<H", len(manifest)) + manifest + chunk)
plain = root / "tests/fixtures/unet/plain"
put("model_config", "valid", (plain / "config.json").read_bytes())
put("model_weights", "valid", (plain / "diffusion_pytorch_model.safetensors").read_bytes())
put("scheduler_config", "valid", (root / "data/ddpm-digits/scheduler_config.json").read_bytes())
for f in sorted((root / "tests/corpus/models").iterdir()):
    for target, prefix in [("model_config", "config.json."), ("model_weights", "diffusion_pytorch_model.safetensors."),
                           ("scheduler_config", "scheduler_config.json.")]:
        if f.name.startswith(prefix):
            put(target, f.name, f.read_bytes())
for f in [*sorted((root / "tests/corpus/png").iterdir()), root / "data/ddpm-digits/samples.png"]:
    put("png", f.name, f.read_bytes())
for f in [*sorted((root / "tests/corpus/safetensors").iterdir()), plain / "io.safetensors"]:
    put("directions", f.name, f.read_bytes())
EOF

# the crate's build script puts libtorch's folder in the rpath of its own binaries only
export LD_LIBRARY_PATH="$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
log "build (cargo +nightly fuzz build -s none --dev)"
(cd fuzz && cargo +nightly fuzz build -s none --dev)

rows=()
for t in "${targets[@]}"; do
  log "$t for $secs s"
  mkdir -p "fuzz/artifacts/$t"
  before=$(find "fuzz/artifacts/$t" -type f | wc -l)
  out="$work/$t.log"
  set +e
  (cd fuzz && cargo +nightly fuzz run -s none --dev "$t" "corpus/$t" -- \
     -max_total_time="$secs" -rss_limit_mb=2048 -max_len=1048576 -print_final_stats=1) >"$out" 2>&1
  code=$?
  set -e
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out" | grep -o '[0-9]*$' | tail -n 1 || true)
  entries=$(find "fuzz/corpus/$t" -type f | wc -l)
  found=$(( $(find "fuzz/artifacts/$t" -type f | wc -l) - before ))
  if [ "$code" != 0 ] && [ "$found" = 0 ]; then
    echo "fuzz.sh: $t ended with $code and no artifact; its log:" >&2
    tail -n 30 "$out" >&2
    exit 1
  fi
  [ "$found" = 0 ] || { echo "--- $t: finding (exit $code):"; grep -E "panicked|ERROR|SUMMARY|Test unit written" "$out" | head -n 8; }
  rows+=("$(printf '%-18s %12s %9s %9s' "$t" "${runs:-?}" "$entries" "$found")")
done
echo "campaign: $secs s per target, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-18s %12s %9s %9s\n' target executions corpus findings
printf '%s\n' "${rows[@]}"
