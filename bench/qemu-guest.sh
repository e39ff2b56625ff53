#!/bin/sh
# Runs in a QEMU guest (tests/qemu/boot.sh): the fput path cost per backend.
# Under TCG absolute times are meaningless; compare the rows with each other.
N=${N:-50000}
head -c 4096 /dev/zero >/tmp/file
echo "kernel $(uname -r), N=$N"
echo "none:       $(fput_loop /tmp/file $N)"
for b in fentry kprobe tracepoint; do
  fputrace watch --backend $b -o /dev/null 2>/dev/null &
  pid=$!
  sleep 3
  echo "$b: $(fput_loop /tmp/file $N)"
  kill -INT $pid
  wait $pid
done
echo "none again: $(fput_loop /tmp/file $N)"
