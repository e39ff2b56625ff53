#!/bin/sh
# Runs inside the QEMU guest (busybox sh), from /payload.
pass=0
fail=0

run() {  # run BACKEND SCENARIO EXPECT REPRO-ARGS...
  backend=$1 scenario=$2 expect=$3
  shift 3
  name=$backend.$scenario
  if ! fputrace watch --json --backend "$backend" -o "/tmp/$name.watch" --events "/tmp/$name.events" \
      -- fputrace-repro "$scenario" "$@" >"/tmp/$name.repro" 2>"/tmp/$name.err"; then
    echo "FAIL $name: fputrace watch failed:"
    cat "/tmp/$name.err"
    fail=$((fail + 1))
    return
  fi
  result=$(fputrace-check "$expect" "/tmp/$name.repro" "/tmp/$name.watch")
  status=$?
  echo "$name: $result"
  if [ $status -ne 0 ]; then
    fail=$((fail + 1))
    echo "--- stderr"; cat "/tmp/$name.err"
    echo "--- repro"; cat "/tmp/$name.repro"
    echo "--- watch"; cat "/tmp/$name.watch"
    echo "--- events"; cat "/tmp/$name.events"
  else
    pass=$((pass + 1))
  fi
}

uname -r
for backend in fentry kprobe tracepoint; do
  run $backend uring-registered uring --attempts 5 --until-busy
  run $backend uring-pending uring --attempts 5 --until-busy
  run $backend uring-pending-thread uring --attempts 5 --until-busy
  if [ $backend != tracepoint ]; then
    run $backend aio-direct aio --attempts 2 --image /payload/ext4.img
  fi
  run $backend plain-exit none --attempts 3
done
head -n 1 /tmp/fentry.uring-registered.err

if fputrace doctor --json >/tmp/doctor.json 2>/tmp/doctor.err; then
  echo "doctor: $(fputrace-check doctor /tmp/doctor.json fentry=1 kprobe=1 tracepoint=1 selected=fentry)" \
    && case $(fputrace-check doctor /tmp/doctor.json fentry=1 kprobe=1 tracepoint=1 selected=fentry) in
         PASS*) pass=$((pass + 1)) ;;
         *) fail=$((fail + 1)); cat /tmp/doctor.json ;;
       esac
else
  echo "FAIL doctor: $(cat /tmp/doctor.err)"
  fail=$((fail + 1))
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
