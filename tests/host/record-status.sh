#!/usr/bin/env bash
# record's live status line: on a terminal (a pty from script(1)) it shows the
# elapsed time, events, drops and the file's size as the recording goes, and
# clears it at the end; not on a terminal, none of it.
#   tests/host/record-status.sh FPUTRACE FPUTRACE-REPRO
set -euo pipefail
FPUTRACE=$1 REPRO=$2
fail() { echo "FAIL record-status: $*"; exit 1; }
[[ $(id -u) -eq 0 ]] || fail "needs root (BPF, mounts)"
command -v script >/dev/null || fail "missing script(1) (bsdutils)"
work=$(mktemp -d /tmp/fputrace-status.XXXXXX)
trap 'rm -rf "$work"' EXIT

script -qec "'$FPUTRACE' record -o '$work/tty.json' -- '$REPRO' uring-registered --attempts 2 --hold-ms 1500" \
  /dev/null >"$work/tty.out" </dev/null || fail "record on a pty failed: $(tail -c 300 "$work/tty.out")"
tr '\r' '\n' <"$work/tty.out" >"$work/tty.lines"
grep -Eq '^.\[Krecording: [0-9.]+ s, [1-9][0-9]* events, 0 dropped, [0-9.]+ MiB in ' "$work/tty.lines" ||
  fail "no status line with events on the terminal: $(grep -a recording "$work/tty.lines" | tail -n 2)"
grep -q 'recorded a Chrome trace' "$work/tty.lines" || fail "no 'recorded' line after the status"
# The last status line is cleared before the closing message is printed.
grep -aq $'\033\\[Kfputrace: recorded' "$work/tty.out" || fail "the status line was not cleared at the end"

"$FPUTRACE" record -o "$work/pipe.json" -- "$REPRO" uring-registered --attempts 1 >/dev/null 2>"$work/pipe.err" ||
  fail "record without a terminal failed: $(tail -n 3 "$work/pipe.err")"
! grep -q 'recording:' "$work/pipe.err" || fail "a status line on stderr that is not a terminal"
echo "PASS record-status: a status line on a terminal, none in a pipe"
