#!/usr/bin/env bash
# Runs the reproducers under fputrace on one Debian kernel in QEMU, with the
# fentry, kprobe and tracepoint backends, and checks the attribution.
#   tests/qemu/run-suite.sh SUITE FPUTRACE FPUTRACE-REPRO FPUTRACE-CHECK
set -euo pipefail
suite=$1 fputrace=$2 repro=$3 check=$4
here=$(cd "$(dirname "$0")" && pwd)

if [[ $(id -u) -ne 0 ]]; then
  echo "FAIL: the QEMU tests need root (apt download into the kernel cache)" >&2
  exit 1
fi
"$here/fetch-kernels.sh" "$suite"

work=$(mktemp -d /tmp/fputrace-qemu.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/payload"
cp "$fputrace" "$repro" "$check" "$(dirname "$repro")/umount-race" "$work/payload/"
# aio-direct needs a block-backed filesystem: ext4 on a loop device.
truncate -s 64M "$work/payload/ext4.img"
mkfs.ext4 -q -F "$work/payload/ext4.img"

log=${FPUTRACE_QEMU_LOG_DIR:-$work}/$suite.log
mkdir -p "$(dirname "$log")"
# A guest that dies of an int3 oops in kernel text being patched met a QEMU
# multi-threaded TCG artifact (a stale translation of cross-modified code; see
# docs/performance.md), not a fault of fputrace: a real CPU does not do it. That
# one signature, and only once, earns a second boot; the first log is kept and the
# retry is printed. Anything else, or the same again, fails the suite.
stale_int3_oops() { grep -aq -E '(Oops: )?int3: 0000 \[#1\]' "$1"; }
boot_suite() {
  "$here/boot.sh" --suite "$suite" --payload "$work/payload" --script "$here/guest-tests.sh" \
    --out "$log" --timeout 1200
}
set +e
boot_suite
rc=$?
if [[ $rc -eq 125 ]] && stale_int3_oops "$log"; then
  cp "$log" "$log.first"
  echo "RETRY qemu $suite: the guest died of an int3 oops (TCG cross-modifying-code artifact);"
  echo "  its log is $log.first; booting once more:"
  grep -a -m1 -A1 -E 'int3: 0000' "$log.first" | sed 's/^/  /'
  boot_suite
  rc=$?
fi
set -e
# The guest prints one line per case; show them with the kernel they ran on.
echo "== $suite: $(cat "${FPUTRACE_KERNEL_CACHE:-/var/cache/fputrace/kernels}/$suite/release")"
sed -n '/FPUTRACE-GUEST-BEGIN/,/FPUTRACE-GUEST-END/p' "$log" | sed '/FPUTRACE-EVENTS-BEGIN/,/FPUTRACE-EVENTS-END/d'
# FPUTRACE_QEMU_EVENTS_DIR: keep each passing case's reproducer output and
# event log as SUITE-BACKEND.SCENARIO.jsonl (how tests/data was captured).
if [[ -n ${FPUTRACE_QEMU_EVENTS_DIR:-} ]]; then
  mkdir -p "$FPUTRACE_QEMU_EVENTS_DIR"
  awk -v dir="$FPUTRACE_QEMU_EVENTS_DIR" -v suite="$suite" '
    /^FPUTRACE-EVENTS-BEGIN / { out = dir "/" suite "-" $2 ".jsonl"; next }
    /^FPUTRACE-EVENTS-END/ { close(out); out = ""; next }
    out != "" && /^\{/ { print > out }' "$log"
fi
if [[ $rc -ne 0 ]]; then
  echo "FAIL qemu $suite: guest exit status $rc (log: $log)"
  [[ $rc -ge 124 ]] && tail -n 40 "$log"
fi
exit $rc
