#!/usr/bin/env bash
# The main job, reproduced: a process registers a file on a fresh tmpfs with
# io_uring, closes it and exits; its parent reaps it and unmounts at once,
# which fails with EBUSY. fputrace watches and explains why, and when the
# mount is finally released.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [[ $(id -u) -ne 0 ]]; then
  echo "scripts/demo.sh: run as root (BPF and mount need it)" >&2
  exit 1
fi
"$root/scripts/build.sh" >/dev/null
bin=$root/build
cat <<'TXT'
== fputrace demo: umount fails with EBUSY after the process has exited ==
A child opens a file on a fresh tmpfs, registers it with io_uring, closes its
fd and exits. The parent reaps it and calls umount at once.

TXT
"$bin/fputrace" watch "$@" -- "$bin/tests/repro/fputrace-repro" uring-registered --attempts 1
