#!/usr/bin/env bash
# report of a big trace in time linear in it and memory independent of it (issue 9):
#   report-big.sh FPUTRACE FPUTRACE-BIGTRACE [MEGABYTES]
# Writes a synthetic Chrome trace (default 200 MB), then requires
#  - report --html to finish in under 60 s (it was quadratic: 17 s for 33 MB),
#  - report --json to stay under 256 MB of peak RSS (it read the whole trace
#    into one JSON document: 2.3 GB for 210 MB).
set -uo pipefail
FPUTRACE=$1 BIGTRACE=$2 MB=${3:-200}
work=$(mktemp -d /tmp/fputrace-big.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail=0

"$BIGTRACE" "$work/big.json" "$MB" || { echo "FAIL big trace: the generator failed"; exit 1; }
size=$(( $(stat -c %s "$work/big.json") >> 20 ))

# peak RSS (kB) and wall time (s) of a command, from GNU time
measure() {  # measure NAME COMMAND...
  local name=$1; shift
  /usr/bin/time -f '%e %M' -o "$work/$name.time" "$@" >"$work/$name.out" 2>"$work/$name.err"
  local st=$?
  read -r secs kb <"$work/$name.time"
  echo "$name: exit $st, ${secs} s, peak RSS $((kb / 1024)) MB for a $size MB trace"
  return $st
}

if measure html "$FPUTRACE" report --html "$work/big.html" "$work/big.json"; then
  if awk -v s="$secs" 'BEGIN { exit !(s < 60) }'; then
    echo "PASS report --html: ${secs} s (< 60 s), page $(( $(stat -c %s "$work/big.html") >> 20 )) MB"
  else
    echo "FAIL report --html: ${secs} s, not under 60 s"; fail=1
  fi
else
  echo "FAIL report --html: $(head -c 300 "$work/html.err")"; fail=1
fi

if measure json "$FPUTRACE" report --json "$work/big.json"; then
  busy=$(grep -c '"event":"umount_busy"' "$work/json.out")
  if ((kb < 256 * 1024 && busy > 0)); then
    echo "PASS report --json: peak RSS $((kb / 1024)) MB (< 256 MB), $busy EBUSYs explained"
  else
    echo "FAIL report --json: peak RSS $((kb / 1024)) MB, $busy EBUSYs"; fail=1
  fi
else
  echo "FAIL report --json: $(head -c 300 "$work/json.err")"; fail=1
fi
exit $fail
