#!/usr/bin/env bash
# Runs a test under the sanitizer build with every ASan, LeakSanitizer and
# UBSan report written to a file, and fails if any report was written: a
# test script may ignore a command's exit status or its stderr, this cannot.
# LeakSanitizer is on, with no suppressions: neither fputrace nor libbpf leaked
# in these tests; a leak at exit fails them like any other report.
#   tests/sanitize/reports.sh COMMAND ARGS...
set -uo pipefail
reports=$(mktemp -d /tmp/fputrace-sanitizer.XXXXXX)
# Programs run as nobody (the unprivileged cases) write their reports too.
chmod 1777 "$reports"
trap 'rm -rf "$reports"' EXIT
export ASAN_OPTIONS="log_path=$reports/report:detect_leaks=1:abort_on_error=0:exitcode=86${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="log_path=$reports/report:print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

"$@"
st=$?
shopt -s nullglob
found=("$reports"/report*)
if ((${#found[@]})); then
  echo "FAIL: ${#found[@]} sanitizer report(s):" >&2
  for f in "${found[@]}"; do echo "--- $(basename "$f")" >&2; cat "$f" >&2; done
  exit 1
fi
echo "sanitizers: no reports"
exit $st
