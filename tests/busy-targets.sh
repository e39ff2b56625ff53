#!/bin/sh
# fputrace busy on a block device and on a locked file (issue 14), on a real
# kernel: the host's (tests/host/run.sh) and each QEMU guest's
# (tests/qemu/guest-tests.sh). POSIX sh, so busybox runs it.
#   tests/busy-targets.sh FPUTRACE RING-HOLDER EXT4-IMAGE BACKEND WORKDIR
# ring-holder (tests/repro/ring-holder.c) leaves a file whose last reference
# is in an io_uring ring that another process keeps: no process has the file
# open, yet it holds its flock, its mount and the loop device.
# Prints one PASS/FAIL line per case; exits with the number of failures.
FPUTRACE=$1 HOLDER=$2 IMAGE=$3 BACKEND=$4 WORK=$5
fails=0
mkdir -p "$WORK"

pass() { echo "PASS busy.$BACKEND.$1: $2"; }
fail() {
  echo "FAIL busy.$BACKEND.$1: $2"
  fails=$((fails + 1))
  for f in "$WORK"/*.json "$WORK"/*.err; do [ -s "$f" ] && { echo "--- $f"; cat "$f"; }; done
}

# field NAME FILE: the value of a top-level number field of a compact JSON line.
field() { sed -n "s/.*\"$1\":\([0-9-]*\).*/\1/p" "$2" | head -n 1; }
# section FILE FROM TO: the text between two keys (nlohmann sorts keys).
section() { sed -n "s/.*\"$2\":\(.*\)\"$3\":.*/\1/p" "$1"; }

# start_holder NAME OPTIONS...: ring-holder in the background, its stdin a
# FIFO this script keeps open for writing (fd 8): closing it lets it go.
start_holder() {
  name=$1
  shift
  rm -f "$WORK/go" "$WORK/stdin"
  mkfifo "$WORK/stdin"
  "$HOLDER" --image "$IMAGE" --dir "$WORK/mnt" --go "$WORK/go" "$@" <"$WORK/stdin" >"$WORK/$name.holder.json" \
    2>"$WORK/$name.holder.err" &
  holder_pid=$!
  exec 8>"$WORK/stdin"
}
wait_holder_line() {
  i=0
  while [ $i -lt 300 ] && ! grep -q holder "$WORK/$1.holder.json" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
  grep -q holder "$WORK/$1.holder.json"
}
release_holder() {
  exec 8>&-
  wait $holder_pid
}

# busy_traced NAME TARGET: busy on TARGET while the registrar exits (the go
# file is made once fputrace says it traces).
busy_traced() {
  timeout 120 "$FPUTRACE" busy "$2" --backend "$BACKEND" --watch-ms 4000 --json >"$WORK/$1.json" 2>"$WORK/$1.err" &
  bp=$!
  i=0
  while [ $i -lt 600 ] && ! grep -q "tracing with" "$WORK/$1.err"; do sleep 0.1; i=$((i + 1)); done
  touch "$WORK/go"
  wait $bp
}

# 1. umount -l: the device's filesystem lives on, held by the ring.
start_holder lazy --lazy
# The registrar waits for the go file before umount -l: take the device from
# its mount.
node=
i=0
while [ $i -lt 100 ] && [ -z "$node" ]; do
  node=$(awk -v m="$WORK/mnt" '$2 == m { print $1 }' /proc/mounts | tail -n 1)
  [ -z "$node" ] && { sleep 0.1; i=$((i + 1)); }
done
if [ -z "$node" ] || [ ! -b "$node" ]; then
  fail device-lazy "ring-holder did not mount the image (device '$node')"
else
  busy_traced device-lazy "$node"
  wait_holder_line lazy
  reg=$(field registrar "$WORK/lazy.holder.json")
  pins=$(section "$WORK/device-lazy.json" pins released_during_watch)
  if grep -q '"verdict":"detached"' "$WORK/device-lazy.json" && echo "$pins" | grep -q "\"tgid\":$reg[,}]" &&
    echo "$pins" | grep -q '"source":"io_uring"'; then
    pass device-lazy "a lazily unmounted mount of $node, listed as detached and held by the ring of pid $reg"
  else
    fail device-lazy "expected verdict detached with a pin from pid $reg via io_uring"
  fi
  # Untraced (the registrar is gone): still detached; who holds it is not known.
  "$FPUTRACE" busy "$node" --backend "$BACKEND" --watch-ms 300 --json >"$WORK/device-late.json" 2>"$WORK/device-late.err"
  if grep -q '"verdict":"detached"' "$WORK/device-late.json" && grep -q '"pins":\[\]' "$WORK/device-late.json"; then
    pass device-late "still detached when fputrace starts late, with no pin it could not have seen"
  else
    fail device-late "expected verdict detached and no pins"
  fi
  release_holder
  # The ring goes on a kworker, then the mount, the filesystem and the loop
  # device: wait for the superblock's sysfs directory to go (not by running
  # fputrace in a loop: attaching and detaching fentry dozens of times a second
  # oopsed 5.10 and 6.1 under QEMU TCG, a patched call left pointing at a freed
  # trampoline), then ask once.
  name=$(sed -n 's/.*"name":"\([^"]*\)".*/\1/p' "$WORK/device-late.json")
  i=0
  while [ $i -lt 100 ] && [ -n "$name" ] && ls -d /sys/fs/*/"$name" >/dev/null 2>&1; do
    sleep 0.1
    i=$((i + 1))
  done
  "$FPUTRACE" busy "$node" --backend "$BACKEND" --watch-ms 300 --json >"$WORK/device-free.json" 2>"$WORK/device-free.err"
  if grep -q '"verdict":"free"' "$WORK/device-free.json"; then
    pass device-free "free once the ring's owner exited"
  else
    fail device-free "not free after the ring's last process exited (superblock $name gone within 10 s?)"
  fi
fi

# 2. A flock kept by the ring's file after the process that took it exited.
start_holder lock --lock
i=0
while [ $i -lt 100 ] && [ ! -e "$WORK/mnt/held" ]; do sleep 0.1; i=$((i + 1)); done
busy_traced file-lock "$WORK/mnt/held"
if wait_holder_line lock; then
  reg=$(field registrar "$WORK/lock.holder.json")
  pins=$(section "$WORK/file-lock.json" pins released_during_watch)
  locks=$(section "$WORK/file-lock.json" locks pins)
  if grep -q '"verdict":"deferred_release"' "$WORK/file-lock.json" && echo "$pins" | grep -q "\"tgid\":$reg[,}]" &&
    echo "$locks" | grep -q "\"pid\":$reg," && echo "$locks" | grep -q '"pid_alive":false'; then
    pass file-lock "the flock of exited pid $reg, held through the ring its file was registered in"
  else
    fail file-lock "expected verdict deferred_release, a FLOCK of exited pid $reg and a pin from it"
  fi
  "$FPUTRACE" busy "$WORK/mnt/held" --backend "$BACKEND" --watch-ms 300 --json >"$WORK/file-late.json" \
    2>"$WORK/file-late.err"
  if grep -q '"verdict":"unseen_holder"' "$WORK/file-late.json"; then
    pass file-late "locked with no process holding the file, and fputrace says it did not see where it went"
  else
    fail file-late "expected verdict unseen_holder"
  fi
else
  fail file-lock "ring-holder --lock did not start: $(cat "$WORK/lock.holder.err")"
fi
release_holder
i=0
while [ $i -lt 50 ] && grep -q " $WORK/mnt " /proc/mounts; do
  umount "$WORK/mnt" 2>/dev/null || sleep 0.2
  i=$((i + 1))
done
grep -q " $WORK/mnt " /proc/mounts && fail cleanup "$WORK/mnt is still mounted"
exit $fails
