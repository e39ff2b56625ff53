#!/usr/bin/env bash
# Benchmarks that print figures (run as root):
#  1. the model's event throughput (Google Benchmark);
#  2. the cost fputrace adds to the last-reference fput path: an
#     open+mmap+close+munmap loop, without and with `fputrace watch` attached
#     (whatever backend auto picks here; pass --backend B to choose).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh" >/dev/null
b=$root/build
echo "== model throughput"
"$b/bench/model_bench" --benchmark_min_time=0.5

echo "== fput path cost (N=${N:=200000})"
work=$(mktemp -d /tmp/fputrace-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
head -c 4096 /dev/zero >"$work/file"
run() { "$b/bench/fput_loop" "$work/file" "$N"; }
echo -n "without fputrace:           "; run
echo -n "without fputrace (again):   "; run
"$b/fputrace" watch -o /dev/null "$@" 2>"$work/watch.err" &
pid=$!
sleep 2
echo -n "with fputrace (all mounts): "; run
kill -INT $pid; wait $pid || true
echo "   ($(head -n 1 "$work/watch.err" | cut -c1-100)...)"
"$b/fputrace" watch -o /dev/null --mount / "$@" 2>/dev/null &
pid=$!
sleep 2
echo -n "with fputrace (--mount /):  "; run
kill -INT $pid; wait $pid || true
