#!/usr/bin/env bash
# Soak: `fputrace watch` (all mounts) for MINUTES under io_uring load (two
# storms of short-lived processes that leave registered files behind), an
# exit storm (a shell forking /bin/true) and four reproducer loops, then
# prints fputrace's RSS (peak and at the end), its CPU time, what it lost and
# how many EBUSYs it explained. Not part of the test command: it runs for
# minutes, and its figures are for reading, not for asserting.
#
#   sudo scripts/soak.sh [MINUTES]     (default 10; builds first)
#
# Exit status: 0, or 1 if fputrace failed or an EBUSY was explained wrong by
# a finding that claims to be complete.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
minutes=${1:-10}
if ! [[ $minutes =~ ^[0-9]+$ ]] || ((minutes < 1 || minutes > 1440)); then
  echo "soak.sh: MINUTES must be a whole number from 1 to 1440, not '$minutes'" >&2
  exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "soak.sh: needs root (BPF, mounts): run it with sudo" >&2
  exit 1
fi
"$root/scripts/build.sh" >/dev/null
build=$root/build
fputrace=$build/fputrace check=$build/tests/fputrace-check
repro=$build/tests/repro/fputrace-repro storm=$build/tests/repro/uring-storm

work=$(mktemp -d /tmp/fputrace-soak.XXXXXX)
cleanup() {
  for s in "$work"/load/storm?; do mountpoint -q "$s" 2>/dev/null && umount -l "$s"; done
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/load"
seconds=$((minutes * 60))

# The load, run by watch as its command (watch stops when it ends).
load='
  storm=$1 repro=$2 dir=$3 seconds=$4
  end=$((SECONDS + seconds))
  for s in 1 2; do
    mkdir -p "$dir/storm$s" && mount -t tmpfs soak-storm "$dir/storm$s"
    "$storm" "$dir/storm$s" "$seconds" 8 >"$dir/storm$s.out" &
  done
  ( while ((SECONDS < end)); do /bin/true; done ) &
  for r in 1 2 3 4; do
    ( while ((SECONDS < end)); do
        "$repro" uring-registered --attempts 6 >>"$dir/repro$r.jsonl" 2>>"$dir/repro$r.err"
      done ) &
  done
  wait
  for s in 1 2; do umount "$dir/storm$s" || umount -l "$dir/storm$s"; done'

echo "soak: $minutes min of fputrace watch under two io_uring storms, an exit storm and four reproducer loops"
"$fputrace" watch --json -o "$work/watch.jsonl" -- bash -c "$load" soak "$storm" "$repro" "$work/load" "$seconds" \
  2>"$work/stderr" &
pid=$!

# Samples every 5 s: RSS from /proc/PID/status, CPU ticks from /proc/PID/stat.
peak_kb=0 last_kb=0 ticks=0
while kill -0 "$pid" 2>/dev/null; do
  if kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null) && [[ -n $kb ]]; then
    last_kb=$kb
    ((kb > peak_kb)) && peak_kb=$kb
  fi
  if t=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null) && [[ -n $t ]]; then ticks=$t; fi
  sleep 5
done
status=0
wait "$pid" || status=$?
if ((status != 0)); then
  echo "soak.sh: fputrace watch failed (exit $status): $(tail -n 3 "$work/stderr")" >&2
  exit 1
fi

hz=$(getconf CLK_TCK)
cpu_s=$(awk -v t="$ticks" -v hz="$hz" 'BEGIN {printf "%.1f", t / hz}')
cpu_pct=$(awk -v t="$ticks" -v hz="$hz" -v s="$seconds" 'BEGIN {printf "%.1f", 100 * t / hz / s}')
summary=$(grep '"event":"summary"' "$work/watch.jsonl" || true)
field() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" <<<"$summary"; }
cat "$work"/load/repro*.jsonl >"$work/repro.jsonl"
explained=$("$check" explained "$work/repro.jsonl" "$work/watch.jsonl") || status=1

echo "  fputrace RSS:      peak $((peak_kb / 1024)) MB, at the end $((last_kb / 1024)) MB (sampled every 5 s)"
echo "  fputrace CPU:      $cpu_s s ($cpu_pct% of one core)"
echo "  ring-buffer drops: $(field ringbuf_drops); loss records: $(grep -c '"event":"loss"' "$work/watch.jsonl" || true)"
echo "  map full:          $(field map_full); owner evictions: $(field owner_evictions); model evictions: $(field model_evictions)"
echo "  findings:          $(grep -c '"event":"umount_busy"' "$work/watch.jsonl" || true) umount_busy, $(grep -c '"complete":false' "$work/watch.jsonl" || true) marked incomplete"
echo "  EBUSY:             $explained"
echo "  load:              storms $(cat "$work"/load/storm?.out | tr '\n' ' ')"
exit "$status"
