#!/usr/bin/env bash
# The test command (README, .ci/run): sets up and runs every test.
#  - unit tests of the model, from recorded event sequences
#  - kernel tests on this machine's own kernel (root; tracepoint backend)
#  - kernel tests on Debian's 5.10, 6.1, 6.12 and sid kernels under QEMU
#    (fentry, kprobe and tracepoint backends)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [[ $(id -u) -ne 0 ]]; then
  echo "scripts/test.sh: run as root: the kernel tests load BPF programs and mount filesystems" >&2
  exit 1
fi
"$root/scripts/build.sh"
cd "$root/build"
# QEMU kernels run two at a time; each test boots its own guest.
ctest --output-on-failure -j 2 "$@"
