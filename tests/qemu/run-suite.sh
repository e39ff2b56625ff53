#!/usr/bin/env bash
# Runs the reproducers under fputrace on one Debian kernel in QEMU, with the
# fentry, kprobe and tracepoint backends, and checks the attribution.
#   tests/qemu/run-suite.sh SUITE FPUTRACE FPUTRACE-REPRO FPUTRACE-CHECK
# FPUTRACE_ARCH=arm64 (default amd64): an arm64 kernel under qemu-system-aarch64;
# the binaries must then be the cross build's static aarch64 ones.
set -euo pipefail
suite=$1 fputrace=$2 repro=$3 check=$4
here=$(cd "$(dirname "$0")" && pwd)
arch=${FPUTRACE_ARCH:-amd64}
export FPUTRACE_ARCH=$arch
case $arch in
  amd64) cache=${FPUTRACE_KERNEL_CACHE:-/var/cache/fputrace/kernels} logname=$suite ;;
  arm64) cache=${FPUTRACE_KERNEL_CACHE:-/var/cache/fputrace/kernels-arm64} logname=arm64-$suite ;;
  *) echo "FAIL: FPUTRACE_ARCH '$arch' not supported (want amd64 or arm64)" >&2; exit 1 ;;
esac

if [[ $(id -u) -ne 0 ]]; then
  echo "FAIL: the QEMU tests need root (apt download into the kernel cache)" >&2
  exit 1
fi
"$here/fetch-kernels.sh" "$suite"

work=$(mktemp -d /tmp/fputrace-qemu.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/payload"
cp "$fputrace" "$repro" "$check" "$(dirname "$repro")/umount-race" "$(dirname "$repro")/ring-holder" \
  "$here/../busy-targets.sh" "$work/payload/"
# aio-direct needs a block-backed filesystem: ext4 on a loop device.
truncate -s 64M "$work/payload/ext4.img"
mkfs.ext4 -q -F "$work/payload/ext4.img"
# What this kernel cannot do, known here and told to the guest (guest-tests.sh
# reads payload/expect): the guest checks that fputrace says so, it never finds
# out by itself and skips.
: >"$work/payload/expect"
if [[ $arch == arm64 && $suite == bookworm ]]; then
  # fentry/fexit on arm64 need DYNAMIC_FTRACE_WITH_DIRECT_CALLS (6.4+): 6.1
  # refuses to attach them (524, ENOTSUPP); kprobe takes their place.
  echo "no_fentry='arm64 before 6.4 has no ftrace direct calls (DYNAMIC_FTRACE_WITH_DIRECT_CALLS)'" \
    >>"$work/payload/expect"
  # Its kallsyms lists no data symbols, so no __per_cpu_offset: the per-CPU
  # mount counts cannot be summed (references.unexplained is null).
  echo "no_mount_count='CONFIG_KALLSYMS_ALL is off: no __per_cpu_offset in /proc/kallsyms'" >>"$work/payload/expect"
fi

# How the programs read kernel memory: plain loads through bpf_rdonly_cast on
# 6.2+ (trixie, sid), bpf_probe_read_kernel before (bullseye 5.10, bookworm 6.1).
# The guest checks every start line against it, so a fallback to the helper
# object on a kernel that has the kfunc fails the case instead of hiding.
case $suite in
  bullseye | bookworm) echo "reads=kread" >>"$work/payload/expect" ;;
  *) echo "reads=cast" >>"$work/payload/expect" ;;
esac

# How the kprobe backend enters fput and __fput: a kprobe.multi link (fprobe,
# 5.18+ with CONFIG_FPROBE) where it loads, else a plain kprobe. bullseye is
# 5.10; Debian's 6.1 (amd64 and arm64) and arm64 6.12 are built without
# CONFIG_FPROBE (the attach fails with EOPNOTSUPP).
case $arch/$suite in
  */bullseye | */bookworm | arm64/trixie) echo "kprobe_entry=plain" >>"$work/payload/expect" ;;
  *) echo "kprobe_entry=multi" >>"$work/payload/expect" ;;
esac

log=${FPUTRACE_QEMU_LOG_DIR:-$work}/$logname.log
mkdir -p "$(dirname "$log")"
# A guest that dies of an int3 oops in kernel text being patched met a QEMU
# multi-threaded TCG artifact (a stale translation of cross-modified code; see
# docs/performance.md), not a fault of fputrace: a real CPU does not do it. Its
# quieter form: a vCPU keeps re-running a stale int3 that the patching CPU's
# handler accepts, and the CPUs end in soft lockups (seen twice on 2026-12-02,
# bullseye while fputrace attached, bookworm with both vCPUs in kworkers after a
# case ended; each suite passed on its next boot). boot.sh makes a soft lockup
# panic the guest at once. Those two signatures, and only once, earn a second
# boot; the first log is kept and the retry is printed. Anything else, or the
# same again, fails the suite.
tcg_patching_artifact() { grep -aq -E '(Oops: )?int3: 0000 \[#1\]|watchdog: BUG: soft lockup - CPU#' "$1"; }
boot_suite() {
  "$here/boot.sh" --suite "$suite" --payload "$work/payload" --script "$here/guest-tests.sh" \
    --out "$log" --timeout 1200
}
set +e
boot_suite
rc=$?
if [[ $rc -eq 125 || $rc -eq 124 ]] && tcg_patching_artifact "$log"; then
  cp "$log" "$log.first"
  echo "RETRY qemu $logname: the guest died of an int3 oops or a soft lockup (TCG cross-modifying-code"
  echo "  artifact); its log is $log.first; booting once more:"
  grep -a -m2 -E 'int3: 0000|soft lockup' "$log.first" | sed 's/^/  /'
  boot_suite
  rc=$?
fi
set -e
# The guest prints one line per case; show them with the kernel they ran on.
echo "== $logname: $(cat "$cache/$suite/release")"
sed -n '/FPUTRACE-GUEST-BEGIN/,/FPUTRACE-GUEST-END/p' "$log" | sed '/FPUTRACE-EVENTS-BEGIN/,/FPUTRACE-EVENTS-END/d'
# FPUTRACE_QEMU_EVENTS_DIR: keep each passing case's reproducer output and
# event log as SUITE-BACKEND.SCENARIO.jsonl (arm64-SUITE-... for arm64; how
# tests/data was captured).
if [[ -n ${FPUTRACE_QEMU_EVENTS_DIR:-} ]]; then
  mkdir -p "$FPUTRACE_QEMU_EVENTS_DIR"
  awk -v dir="$FPUTRACE_QEMU_EVENTS_DIR" -v suite="$logname" '
    /^FPUTRACE-EVENTS-BEGIN / { out = dir "/" suite "-" $2 ".jsonl"; next }
    /^FPUTRACE-EVENTS-END/ { close(out); out = ""; next }
    out != "" && /^\{/ { print > out }' "$log"
fi
if [[ $rc -ne 0 ]]; then
  echo "FAIL qemu $logname: guest exit status $rc (log: $log)"
  [[ $rc -ge 124 ]] && tail -n 40 "$log"
fi
exit $rc
