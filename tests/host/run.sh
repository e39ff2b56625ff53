#!/usr/bin/env bash
# Real-kernel tests on this machine's own kernel (tracepoint backend; both ways
# of reading kernel memory), plus doctor checked against what the kernel allows.
#   tests/host/run.sh FPUTRACE FPUTRACE-REPRO FPUTRACE-CHECK
set -uo pipefail
FPUTRACE=$1 REPRO=$2 CHECK=$3
SKEL_DIR=$(dirname "$FPUTRACE")/skel

if [[ $(id -u) -ne 0 ]]; then
  echo "FAIL: the kernel tests need root (BPF, mount); run them as root" >&2
  exit 1
fi

work=$(mktemp -d /tmp/fputrace-host.XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0 passes=0

record() {  # record NAME STATUS
  if [[ $2 -eq 0 ]]; then passes=$((passes + 1)); else failures=$((failures + 1)); echo "  ^ $1 failed" >&2; fi
}

run_case() {  # run_case READS BACKEND SCENARIO EXPECT ATTEMPTS
  local reads=$1 backend=$2 scenario=$3 expect=$4 attempts=$5
  local name="$reads.$backend.$scenario" until=()
  [[ $expect == uring ]] && until=(--until-busy)
  if ! FPUTRACE_READS=$reads "$FPUTRACE" watch --json --backend "$backend" -o "$work/$name.watch.jsonl" \
      --events "$work/$name.events.jsonl" -- "$REPRO" "$scenario" --attempts "$attempts" "${until[@]}" \
      >"$work/$name.repro.jsonl" 2>"$work/$name.stderr"; then
    echo "FAIL $name: fputrace watch failed: $(tail -n 3 "$work/$name.stderr")"
    record "$name" 1
    return
  fi
  echo -n "$name: "
  "$CHECK" "$expect" "$work/$name.repro.jsonl" "$work/$name.watch.jsonl"
  local st=$?
  [[ $st -ne 0 ]] && { echo "--- watch output:"; cat "$work/$name.watch.jsonl"; echo "--- stderr:"; cat "$work/$name.stderr"; }
  record "$name" $st
}

for reads in kread cast; do
  for backend in tracepoint auto; do
    run_case $reads $backend uring-registered uring 5
    run_case $reads $backend uring-pending uring 5
    run_case $reads $backend uring-pending-thread uring 5
    run_case $reads $backend plain-exit none 5
  done
done

# doctor versus the kernel: fentry is judged by bpftool loading the full object
# (it holds fentry programs), kprobes by the kprobe PMU, tracepoints by a real
# watch with that backend.
fentry=0; bpftool prog loadall "$SKEL_DIR/fputrace_kread.bpf.o" /sys/fs/bpf/fputrace-host-check >/dev/null 2>&1 && fentry=1
rm -rf /sys/fs/bpf/fputrace-host-check
kprobe=0; [[ -e /sys/bus/event_source/devices/kprobe/type ]] && kprobe=1
tracepoint=0; "$FPUTRACE" watch --backend tracepoint -o /dev/null -- true 2>/dev/null && tracepoint=1
selected=tracepoint
[[ $kprobe == 1 ]] && selected=kprobe
[[ $fentry == 1 ]] && selected=fentry
if "$FPUTRACE" doctor --json >"$work/doctor.json" 2>"$work/doctor.stderr"; then
  echo -n "doctor: "
  "$CHECK" doctor "$work/doctor.json" fentry=$fentry kprobe=$kprobe tracepoint=$tracepoint selected=$selected
  record doctor $?
else
  echo "FAIL doctor: exit status non-zero: $(cat "$work/doctor.stderr")"
  record doctor 1
fi

# SIGINT and SIGTERM: detach, drain, flush, exit 0 (the summary line is the flush).
for sig in INT TERM; do
  "$FPUTRACE" watch --json -o "$work/sig$sig.jsonl" 2>"$work/sig$sig.stderr" &
  pid=$!
  sleep 3
  kill -s $sig $pid
  wait $pid
  st=$?
  if [[ $st -eq 0 ]] && grep -q '"event":"summary"' "$work/sig$sig.jsonl"; then
    echo "PASS SIG$sig: exit 0, summary flushed"; record "sig$sig" 0
  else
    echo "FAIL SIG$sig: exit $st; output: $(cat "$work/sig$sig.jsonl") $(cat "$work/sig$sig.stderr")"; record "sig$sig" 1
  fi
done

# Bad input: one line, non-zero.
bad() {  # bad NAME COMMAND...
  local name=$1; shift
  if "$@" >/dev/null 2>"$work/bad.stderr"; then
    echo "FAIL bad-input $name: exited 0"; record "bad-$name" 1
  elif [[ $(wc -l <"$work/bad.stderr") -ne 1 ]]; then
    echo "FAIL bad-input $name: expected one line, got:"; cat "$work/bad.stderr"; record "bad-$name" 1
  else
    echo "PASS bad-input $name: $(cat "$work/bad.stderr")"; record "bad-$name" 0
  fi
}
bad unknown-mount "$FPUTRACE" watch --mount /definitely/not/here -- true
bad not-a-mountpoint "$FPUTRACE" watch --mount /usr/share -- true
bad command-cannot-start "$FPUTRACE" watch -o /dev/null -- /nonexistent/command
bad unknown-backend "$FPUTRACE" watch --backend bogus -- true
bad not-root setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$FPUTRACE" watch -- true

echo "$passes passed, $failures failed"
[[ $failures -eq 0 ]]
