#!/usr/bin/env bash
# watch --metrics-file on this machine's kernel: promtool (Debian's prometheus)
# accepts the file, and every counter in it is what the JSON output of the same
# run reported: findings by kind, source and verdict, pin hold times, and the
# summary's counters.
#   tests/host/metrics.sh FPUTRACE FPUTRACE-REPRO
set -euo pipefail
FPUTRACE=$1 REPRO=$2
fail() { echo "FAIL metrics: $*"; exit 1; }
[[ $(id -u) -eq 0 ]] || fail "needs root (BPF, mounts)"
for tool in promtool jq awk; do
  command -v "$tool" >/dev/null || fail "missing $tool: run scripts/install-deps.sh"
done
work=$(mktemp -d /tmp/fputrace-metrics.XXXXXX)
trap 'rm -rf "$work"' EXIT
out=$work/watch.jsonl prom=$work/fputrace.prom

"$FPUTRACE" watch --json -o "$out" --metrics-file "$prom" -- \
  "$REPRO" uring-registered --attempts 3 --until-busy >"$work/repro.jsonl" 2>"$work/stderr" ||
  fail "fputrace watch failed: $(tail -n 3 "$work/stderr")"
promtool check metrics <"$prom" >"$work/promtool" 2>&1 || fail "promtool check metrics: $(cat "$work/promtool")"
echo "metrics: promtool check metrics: clean ($(grep -vc '^#' "$prom") samples)"

metric() {  # the value of one sample, exactly as named
  awk -v m="$1" '$1 == m {print $2; found = 1} END {if (!found) print "missing"}' "$prom"
}
count() {  # how many JSON objects of the run match a jq condition
  jq -s "[.[] | select($1)] | length" "$out"
}
checked=0
same() {  # same WHAT METRIC-VALUE JSON-VALUE
  [[ $2 == "$3" ]] || fail "$1: the metrics file says $2, the JSON output $3"
  checked=$((checked + 1))
}

(($(count '.event == "umount_busy"') > 0)) || fail "the run had no EBUSY: nothing to compare (see $work)"
for source in io_uring aio exit close other; do
  same "deferred from $source" "$(metric "fputrace_deferred_total{source=\"$source\"}")" \
    "$(count ".event == \"deferred\" and .source == \"$source\"")"
done
for verdict in child_mounts live_holder propagation deferred_release unknown; do
  same "EBUSY with verdict $verdict" "$(metric "fputrace_umount_busy_total{verdict=\"$verdict\"}")" \
    "$(count ".event == \"umount_busy\" and .verdict == \"$verdict\"")"
done
released=$(count '.event == "pin_released"')
same "pins released" "$(metric fputrace_pins_released_total)" "$released"
same "hold-time count" "$(metric fputrace_pin_hold_seconds_count)" "$released"
same "hold-time +Inf bucket" "$(metric 'fputrace_pin_hold_seconds_bucket{le="+Inf"}')" "$released"
json_sum=$(jq -s '[.[] | select(.event == "pin_released") | .held_ns] | add // 0' "$out")
awk -v m="$(metric fputrace_pin_hold_seconds_sum)" -v j="$json_sum" 'BEGIN {d = m - j / 1e9; exit !(d < 1e-6 && d > -1e-6)}' ||
  fail "hold-time sum: the metrics file says $(metric fputrace_pin_hold_seconds_sum) s, the JSON output $json_sum ns"
checked=$((checked + 1))
# The summary (the last JSON object) and the file are written from the same counters.
for key in $(jq -r 'select(.event == "summary") | keys[] | select(. != "event" and . != "trace_spans_evicted")' "$out"); do
  name=fputrace_probe_${key}_total
  [[ $key == model_evictions || $key == pins_evicted ]] && name=fputrace_${key}_total
  same "summary $key" "$(metric "$name")" "$(jq -r "select(.event == \"summary\") | .$key" "$out")"
done
echo "PASS metrics: $checked counters match the JSON output of the same run"
