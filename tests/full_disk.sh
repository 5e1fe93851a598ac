#!/usr/bin/env bash
# A run whose checkpoint folder fills up: it stops with one error line naming the file it could not
# write, leaves no partial chunk, checksum or manifest (and no temporary file), and resumes once
# space is freed, to the same bytes as an unbroken run.
#
# The folder is a 96 KiB tmpfs mounted by this script (root, or an unprivileged user namespace via
# `unshare`), unmounted at the end. Usage: tests/full_disk.sh [BINARY]. Cost: about 10 s.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$(realpath "${1:-${CARGO_TARGET_DIR:-$here/target}/debug/difftheory}")"
work="$(mktemp -d /tmp/difftheory-fulldisk.XXXXXX)"
mnt="$work/mnt"
mkdir -p "$mnt"
cleanup() { umount "$mnt" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
if ! mount -t tmpfs -o size=96k tmpfs "$mnt" 2>/dev/null; then
  # not root, or root in a container without CAP_SYS_ADMIN: a user namespace may still mount
  if [ -z "${DT_FULLDISK_NS:-}" ] && unshare --user --map-root-user --mount true 2>/dev/null; then
    rm -rf "$work"
    DT_FULLDISK_NS=1 exec unshare --user --map-root-user --mount bash "$0" "$bin"
  fi
  echo "full-disk test: SKIPPED: no tmpfs can be mounted here (needs root with CAP_SYS_ADMIN, or user namespaces)"
  exit 0
fi

args=(gaussian-kl --d 20 --n-samples 2000 --trials 1536 --seed 4 --threads 1 --quiet)
"$bin" "${args[@]}" --out "$work/reference.csv"

fail() { echo "full-disk test: $*" >&2; exit 1; }

# 1. the checkpoint fills the disk
set +e
"$bin" "${args[@]}" --checkpoint "$mnt/ck" --out "$work/out.csv" 2>"$work/err"
code=$?
set -e
[ "$code" = 2 ] || fail "exit code $code on a full disk, expected 2: $(cat "$work/err")"
[ "$(wc -l <"$work/err")" = 1 ] || fail "not one line: $(cat "$work/err")"
grep -q "No space left on device" "$work/err" || fail "the error does not say the disk is full: $(cat "$work/err")"
grep -q "$mnt/ck/" "$work/err" || fail "the error does not name the file: $(cat "$work/err")"
echo "full disk: $(cat "$work/err")"
chunks=$(find "$mnt/ck" -name 'chunk-*.parquet' | wc -l)
[ "$chunks" -gt 0 ] || fail "no chunk was stored before the disk filled: make the tmpfs larger"
leftovers=$(find "$mnt/ck" -name '*.tmp' | wc -l)
[ "$leftovers" = 0 ] || fail "$leftovers temporary files left behind"
for c in "$mnt"/ck/chunk-*.parquet; do
  [ -f "$c.sum" ] || fail "$c has no checksum"
done
echo "  $chunks whole chunks stored, no temporary file left"

# 2. the output folder fills up: the table cannot be written, the checkpoint is intact
mkdir -p "$work/ck2"
cp -r "$mnt/ck/." "$work/ck2/"
rm -rf "$mnt/ck"
dd if=/dev/zero of="$mnt/filler" bs=1k count=1000 2>/dev/null || true
set +e
"$bin" "${args[@]}" --checkpoint "$work/ck2" --out "$mnt/out.csv" 2>"$work/err2"
code=$?
set -e
[ "$code" = 2 ] || fail "exit code $code writing the table to a full disk: $(cat "$work/err2")"
grep -q "$mnt/out.csv" "$work/err2" || fail "the error does not name the table: $(cat "$work/err2")"
echo "full output folder: $(cat "$work/err2")"

# 3. space freed: the run resumes from what it kept and writes the unbroken run's bytes
rm -f "$mnt/filler" "$mnt/out.csv"
mount -o remount,size=64m "$mnt"
"$bin" "${args[@]}" --checkpoint "$work/ck2" --out "$mnt/out.csv"
cmp "$work/reference.csv" "$mnt/out.csv" || fail "the resumed table differs from the unbroken run's"
echo "full-disk test: passed (resumed to the unbroken run's bytes)"
