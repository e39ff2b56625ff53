#!/usr/bin/env bash
# Regenerates vmlinux/ARCH/vmlinux.h from a kernel's BTF.
#   vmlinux/update.sh [BTF_FILE (default /sys/kernel/btf/vmlinux)] [ARCH (default x86)]
# The programs are CO-RE: field offsets are fixed up at load time for the running
# kernel, so the header only needs to name every type and field they use. Newer
# kernels' headers are a superset for our purposes; struct layouts that changed
# (f_count vs f_ref, f_u vs f_task_work) are handled with CO-RE flavors in bpf/.
set -euo pipefail
btf=${1:-/sys/kernel/btf/vmlinux}
arch=${2:-x86}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$here/$arch"
bpftool btf dump file "$btf" format c >"$here/$arch/vmlinux.h.tmp"
mv "$here/$arch/vmlinux.h.tmp" "$here/$arch/vmlinux.h"
echo "wrote $here/$arch/vmlinux.h from $btf"
