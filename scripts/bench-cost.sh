#!/usr/bin/env bash
# Where fputrace's time goes on an io_uring host: each BPF program's calls and
# run time per call under one fio io_uring 4k random-read job, measured in QEMU
# (TCG) on a Debian kernel with the kernel's own counters
# (kernel.bpf_stats_enabled), for the fentry, kprobe and tracepoint backends.
# Run as root, after scripts/build.sh:
#
#   sudo scripts/bench-cost.sh
#
# Prints a markdown table: per backend and program, its calls per request, its
# run time per call and per request, and all programs' time per request. The
# IOPS ratios against untraced and bpftrace are scripts/bench.sh's job. Under
# TCG the nanoseconds are emulated ones: compare programs and backends, not
# hosts.
#
# Knobs (environment): COST_SUITE=trixie COST_BACKENDS="fentry kprobe tracepoint"
#   (add B-empty, e.g. fentry-empty: B with its fput and io_uring request
#   programs returning at once, the floor of a call under the counters)
#   COST_DURATION=5 COST_FIO_SIZE=64M COST_REGISTER=0 (1: --registerfiles)
#   COST_LOG=FILE (the guest's serial log)
set -euo pipefail

die() { echo "bench-cost.sh: $*" >&2; exit 1; }
note() { echo "bench-cost.sh: $*" >&2; }

root=$(cd "$(dirname "$0")/.." && pwd)
[[ ${1:-} == -h || ${1:-} == --help ]] && { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0; }
(($# == 0)) || die "unknown argument '$1' (see --help)"
(($(id -u) == 0)) || die "must run as root (the kernel cache in /var/cache/fputrace, the guest's initramfs)"

SUITE=${COST_SUITE:-trixie}
BACKENDS=${COST_BACKENDS:-fentry kprobe tracepoint}
DURATION=${COST_DURATION:-5}
FIO_SIZE=${COST_FIO_SIZE:-64M}
REGISTER=${COST_REGISTER:-0}
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "COST_DURATION wants a positive whole number, got '$DURATION'"
[[ $REGISTER == 0 || $REGISTER == 1 ]] || die "COST_REGISTER wants 0 or 1, got '$REGISTER'"
FPUTRACE=$root/build/fputrace
[[ -x $FPUTRACE ]] || die "missing $FPUTRACE: build first (scripts/build.sh)"
for t in fio bpftool qemu-system-x86_64; do
  command -v "$t" >/dev/null || die "missing tool: $t (scripts/install-deps.sh; fio: scripts/bench.sh installs it)"
done

work=$(mktemp -d /tmp/fputrace-cost.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$root/tests/qemu/fetch-kernels.sh" "$SUITE" >&2
p=$work/payload
mkdir -p "$p"
cp "$FPUTRACE" "$(command -v fio)" "$(command -v bpftool)" "$p/"
cat >"$p/cost.env" <<EOF
BACKENDS="$BACKENDS"
DURATION=$DURATION
FIO_SIZE=$FIO_SIZE
REGISTER=$REGISTER
EOF
log=${COST_LOG:-$work/qemu.log}
note "booting $SUITE in QEMU (TCG), about $((2 + 1 * $(wc -w <<<"$BACKENDS"))) min (serial log: $log)"
rc=0
"$root/tests/qemu/boot.sh" --suite "$SUITE" --payload "$p" --script "$root/bench/qemu-cost.sh" \
  --out "$log" --timeout 1200 --mem 3G || rc=$?
grep -aq '^COST I done' "$log" || { tail -n 30 "$log" >&2; die "the guest run failed (status $rc; log $log)"; }

kernel=$(grep -a '^COST I kernel ' "$log" | cut -d' ' -f4-)
echo "## BPF program cost per call, QEMU TCG, $SUITE ($kernel), $(date -u +%F)"
echo
echo "fio io_uring randread 4k qd32 on tmpfs, ${DURATION} s$( ((REGISTER)) && echo ', --registerfiles'); kernel.bpf_stats_enabled=1."
grep -a '^COST I skipped ' "$log" | sed 's/^COST I skipped /- does not load: /' || true
grep -a '^COST I started ' "$log" | sed 's/^COST I started /- /' || true
echo
echo "| backend | program | calls | calls per request | ns per call | ns per request |"
echo "|---|---|---:|---:|---:|---:|"
grep -a '^COST [RP] ' "$log" | awk '
  $2 == "R" { req[$3] = $4; next }
  {
    b = $3; r = req[b] > 0 ? req[b] : 1
    printf "| %s | %s | %d | %.2f | %.0f | %.0f |\n", b, $4, $5, $5 / r, $6 / $5, $6 / r
    tot[b] += $6 / r
  }
  END { for (b in tot) printf "| %s | all | | | | %.0f |\n", b, tot[b] }'
echo
grep -a '^COST R ' "$log" | awk -v d="$DURATION" '{printf "- %s: %d requests (%.0f IOPS under the counters)\n", $3, $4, $4 / d}'
