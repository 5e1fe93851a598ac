#!/usr/bin/env bash
# Sharded sweeps on a real Slurm cluster: a single node started by scripts/slurm.sh on this
# machine (installed if missing: a missing Slurm is a failure here, not a skip), stopped by pid at
# the end. Four scenarios, each against a one-process run of the same command:
#   1. `difftheory slurm linear-kl … --shards 4`: the merged table equals the one-process table;
#   2. the same for a molrg-phase grid;
#   3. one shard cancelled with scancel while it runs (the merge job is then cancelled too), the
#      array resubmitted with the same command: same bytes, and the finished chunks were kept;
#   4. one shard made to fail: the merge job is cancelled, `slurm status` names the missing chunk
#      and `--merge-only` exits non-zero.
# Cost on the 2-core development machine: 42 s (the cluster starts in 0.1 s; scenario 3, whose
# shards must run long enough to be cancelled, takes most of it).
#
#   tests/slurm.sh [BINARY]    (default: target/debug/difftheory, built by cargo test)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$(realpath "${1:-${CARGO_TARGET_DIR:-$here/target}/debug/difftheory}")"
[ -x "$bin" ] || { echo "tests/slurm.sh: no binary at $bin (run cargo build first)" >&2; exit 2; }
work="$(mktemp -d /tmp/difftheory-slurm-test.XXXXXX)"
cleanup() { bash "$here/scripts/slurm.sh" stop; rm -rf "$work"; }
trap cleanup EXIT
eval "$(bash "$here/scripts/slurm.sh" start)"
cd "$work"

fail() { echo "FAIL: $*" >&2; exit 1; }
# the final state of job $1 (a plain job, or the worst state among an array's tasks)
state() {
  scontrol show job "$1" | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | sort -u | tr '\n' ' '
}
wait_job() {
  local t=0
  while squeue -h -j "$1" 2>/dev/null | grep -q .; do
    sleep 0.2; t=$((t + 1)); [ "$t" -lt 1500 ] || fail "job $1 still queued after 300 s"
  done
}
submit() { # name, then the experiment and its flags; prints "array merge"
  "$bin" slurm "$@"
}

echo "== 1. linear-kl, 4 shards"
kl=(linear-kl --d 4,8,16 --n 10,20,40,80 --trials 60 --seed 3)
"$bin" "${kl[@]}" --quiet --out one.csv
read -r a m < <(submit "${kl[@]}" --shards 4 --checkpoint ck1 --out merged.csv)
wait_job "$a"; wait_job "$m"
[ "$(state "$m")" = "COMPLETED " ] || fail "merge job $m: $(state "$m")"
cmp one.csv merged.csv || fail "linear-kl: the merged table differs from the one-process table"
"$bin" slurm status ck1 | grep -q "shard 3/4: .* (done)" || fail "status after scenario 1"

echo "== 2. molrg-phase, 4 shards"
ph=(molrg-phase --subspace-dim 2,4,8 --samples 1,2,4,8,16 --solver pca,clustering --trials 4 --seed 5)
"$bin" "${ph[@]}" --quiet --out one-phase.csv
read -r a m < <(submit "${ph[@]}" --shards 4 --checkpoint ck2 --out merged-phase.csv)
wait_job "$a"; wait_job "$m"
cmp one-phase.csv merged-phase.csv || fail "molrg-phase: the merged table differs"

echo "== 3. a shard cancelled while it runs, the array resubmitted"
big=(--threads 1 linear-kl --d 60 --n 120,240,480,960 --trials 8000 --seed 4)
"$bin" "${big[@]}" --quiet --out one-big.csv
read -r a m < <(submit "${big[@]}" --shards 4 --max-parallel 1 --cpus-per-task 1 --checkpoint ck3 --out merged-big.csv)
t=0
until squeue -h -j "${a}_1" -t RUNNING 2>/dev/null | grep -q .; do
  sleep 0.1; t=$((t + 1)); [ "$t" -lt 600 ] || fail "shard 1 never started"
done
sleep 0.5
scancel "${a}_1"
wait_job "$a"; wait_job "$m"
case "$(state "$m")" in *CANCELLED*) ;; *) fail "merge job $m should be cancelled: $(state "$m")" ;; esac
[ ! -e merged-big.csv ] || fail "a merge ran although a shard was cancelled"
"$bin" slurm status ck3 | tee status3.txt
grep -q "shard 1/4: .*running or failed" status3.txt || fail "status does not show shard 1 unfinished"
read -r a m < <(submit "${big[@]}" --shards 4 --cpus-per-task 1 --checkpoint ck3 --out merged-big.csv)
wait_job "$a"; wait_job "$m"
cmp one-big.csv merged-big.csv || fail "resubmitted array: the merged table differs"
grep -q "resumed" ck3/slurm/shard-"${a}"_0.out || fail "shard 0 recomputed its finished chunks"

echo "== 4. a shard that fails"
# chunk 1 (shard 1's) cannot be read or written: a folder stands in its place
mkdir -p ck4/chunk-000001.parquet
read -r a m < <(submit "${kl[@]}" --shards 4 --checkpoint ck4 --out merged-fail.csv)
wait_job "$a"; wait_job "$m"
case "$(state "$a")" in *FAILED*) ;; *) fail "array job $a should have a failed task: $(state "$a")" ;; esac
case "$(state "$m")" in *CANCELLED*) ;; *) fail "merge job $m should be cancelled: $(state "$m")" ;; esac
"$bin" slurm status ck4 | tee status4.txt
grep -q "missing 1" status4.txt || fail "status does not name chunk 1"
if "$bin" "${kl[@]}" --checkpoint ck4 --merge-only --out never.csv 2>merge4.txt; then
  fail "--merge-only succeeded with a chunk missing"
fi
[ ! -e never.csv ] || fail "--merge-only wrote a table"
echo "slurm tests passed"
