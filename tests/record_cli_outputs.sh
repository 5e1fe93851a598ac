#!/usr/bin/env bash
# Record every CLI experiment's output at fixed seeds and small sizes, one CSV (summary) and one
# raw CSV per experiment, plus a SHA-256 list, so that a refactor can be shown to change no number:
#
#   tests/record_cli_outputs.sh BINARY OUTDIR          # e.g. target/debug/difftheory /tmp/before
#   diff -r /tmp/before /tmp/after                     # nothing printed: byte-identical
#
# The torch experiments run where BINARY was built with the `torch` feature (pixel-memorization
# and jacobian-rank at toy sizes, on the CPU). One thread, so the lanes' batches and rayon's
# splitting are the same as in any other run; the sweeps' frames do not depend on the thread
# count anyway (tests/sweep.rs). About 1 min on 2 cores with the dev profile.
set -euo pipefail
bin="${1:?usage: record_cli_outputs.sh BINARY OUTDIR}"
out="${2:?usage: record_cli_outputs.sh BINARY OUTDIR}"
mkdir -p "$out"
run() {
  local name="$1"; shift
  "$bin" --threads 1 "$@" --quiet --out "$out/$name.csv" --raw "$out/$name.raw.csv" >/dev/null
}
run gaussian-kl gaussian-kl --d 1,5 --n-samples 2000 --trials 3 --seed 3
run absorption absorption --paths 400 --steps 40 --seed 2
run absorption-exact absorption --paths 400 --steps 40 --step exact --schedule exponential --seed 2
run drift-explosion drift-explosion --t 0.001,0.1 --samples 500 --trials 2 --seed 4
run novikov novikov --paths 200 --t-min 0.1,0.01 --seed 5
run linear-kl linear-kl --d 10 --n 15,40,200 --trials 40 --seed 6
run linear-kl-raw linear-kl --d 6 --n 10,50 --trials 20 --sampler raw --seed 6
run memorization memorization --d 5 --n 5,20 --n-orig 200 --trials 10 --seed 7
run mixing-time mixing-time --d 2,10 --n 50,500 --trials 2 --seed 8
run rf-generalization rf-generalization --d 2 --n 32,64 --features 32 --trials 2 --seed 9
run molrg-phase molrg-phase --ambient 12 --subspace-dim 2,3 --samples 1,4 --solver pca,sgd --sgd-steps 30 --trials 2 --seed 10
run molrg-phase-k2 molrg-phase --ambient 12 --components 2 --subspace-dim 2 --samples 2,4 --solver clustering --restarts 2 --trials 2 --seed 10
run molrg-rank molrg-rank --ambient 12 --subspace-dim 2 --snr 0.1,10 --samples 3 --trials 2 --seed 11
run molrg-gl molrg-gl --ambient 12 --subspace-dim 2 --samples 2,8 --generated 20 --steps 6 --trials 2 --seed 12
if "$bin" --help | grep -q "pixel-memorization"; then
  "$bin" --threads 1 pixel-memorization --n 4,8 --steps 20 --generated 16 --n-orig 64 --timesteps 20 \
    --device cpu --checkpoint "$out/.pixel-work" --out "$out/pixel-memorization.csv" \
    --raw "$out/pixel-memorization.raw.csv" >/dev/null 2>&1
  rm -rf "$out/.pixel-work"
  # train_seconds is a wall time: drop it (the columns after it are the same across runs)
  for f in "$out"/pixel-memorization*.csv; do
    python3 - "$f" <<'PY'
import csv, sys
path = sys.argv[1]
rows = list(csv.reader(open(path)))
keep = [i for i, h in enumerate(rows[0]) if not h.startswith("train_seconds")]
with open(path, "w", newline="") as f:
    csv.writer(f).writerows([[r[i] for i in keep] for r in rows])
PY
  done
  "$bin" --threads 1 jacobian-rank --snr 0.3,10 --samples 2 --device cpu --out "$out/jacobian-rank.csv" >/dev/null 2>&1
fi
(cd "$out" && sha256sum -- *.csv > SHA256SUMS)
echo "recorded $(ls "$out"/*.csv | wc -l) tables in $out"
