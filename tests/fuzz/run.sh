#!/usr/bin/env bash
# One fuzz target's test (ctest label "fuzz"):
#   1. replays every input in tests/fuzz/regressions/TARGET/ (inputs that once
#      crashed it: each must now pass), then
#   2. fuzzes for SECONDS from the seed corpus, keeping what it learns in
#      WORK/corpus (the build tree; the source tree is never written).
# Any crash, sanitizer report, leak, timeout or failed check fails the test,
# and the input is left in WORK/artifacts/.
#   tests/fuzz/run.sh FUZZER SEEDS REGRESSIONS WORK SECONDS [LIBFUZZER-OPTION...]
set -euo pipefail
fuzzer=$1 seeds=$2 regressions=$3 work=$4 seconds=$5
shift 5
name=$(basename "$fuzzer")

[[ -x $fuzzer ]] || { echo "FAIL $name: $fuzzer is not built" >&2; exit 1; }
if ! compgen -G "$seeds/*" >/dev/null; then
  echo "FAIL $name: no seed corpus in $seeds" >&2
  exit 1
fi
mkdir -p "$work/corpus" "$work/artifacts"

inputs=()
if [[ -d $regressions ]]; then
  while IFS= read -r -d '' f; do inputs+=("$f"); done < <(find "$regressions" -type f ! -name '*.md' -print0 | sort -z)
fi
if ((${#inputs[@]})); then
  echo "== $name: replaying ${#inputs[@]} regression input(s) from $regressions"
  "$fuzzer" -timeout=10 "${inputs[@]}" || { echo "FAIL $name: a regression input fails again" >&2; exit 1; }
else
  echo "== $name: no regression inputs in $regressions"
fi

echo "== $name: fuzzing for $seconds s from $seeds"
opts=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
      -artifact_prefix="$work/artifacts/" "$@")
if ! "$fuzzer" "${opts[@]}" "$work/corpus" "$seeds"; then
  echo "FAIL $name: the input that failed is in $work/artifacts/:" >&2
  ls -l "$work/artifacts/" >&2
  echo "Reproduce with: $fuzzer FILE; once fixed, keep it in $regressions/" >&2
  exit 1
fi
