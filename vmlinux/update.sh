#!/usr/bin/env bash
# Regenerates vmlinux/ARCH/vmlinux.h from a kernel's BTF.
#   vmlinux/update.sh [BTF_FILE (default /sys/kernel/btf/vmlinux)] [ARCH (default x86)]
#   vmlinux/update.sh --qemu SUITE ARCH
# ARCH is the kernel's/libbpf's name (x86, arm64: __TARGET_ARCH_ARCH). BTF_FILE is
# any raw BTF blob, e.g. a copy of another machine's /sys/kernel/btf/vmlinux.
# --qemu boots Debian's SUITE cloud kernel for ARCH with tests/qemu/boot.sh (fetch it
# first: FPUTRACE_ARCH=arm64 tests/qemu/fetch-kernels.sh SUITE), has the guest print
# its /sys/kernel/btf/vmlinux gzip'ed and base64'ed on the serial console between
# markers, and dumps that; the host's bpftool reads any architecture's BTF.
# The programs are CO-RE: field offsets are fixed up at load time for the running
# kernel, so the header only needs to name every type and field they use. Newer
# kernels' headers are a superset for our purposes; struct layouts that changed
# (f_count vs f_ref, f_u vs f_task_work) are handled with CO-RE flavors in bpf/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmpdir=''
trap '[[ -z $tmpdir ]] || rm -rf "$tmpdir"' EXIT

if [[ ${1:-} == --qemu ]]; then
    (($# == 3)) || { echo "usage: $0 --qemu SUITE ARCH" >&2; exit 2; }
    suite=$2 arch=$3
    case $arch in
        x86) qarch=amd64 ;;
        arm64) qarch=arm64 ;;
        *) echo "update.sh: --qemu supports ARCH x86 and arm64, not $arch" >&2; exit 2 ;;
    esac
    tmpdir=$(mktemp -d)
    mkdir "$tmpdir/payload"
    cat >"$tmpdir/guest.sh" <<'EOF'
set -e
test -s /sys/kernel/btf/vmlinux
echo FPUTRACE-BTF-BEGIN
gzip -c /sys/kernel/btf/vmlinux | base64
echo FPUTRACE-BTF-END
EOF
    FPUTRACE_ARCH=$qarch "$here/../tests/qemu/boot.sh" --suite "$suite" --payload "$tmpdir/payload" \
        --script "$tmpdir/guest.sh" --out "$tmpdir/console.log" --timeout 900 ||
        { echo "update.sh: the $suite guest failed, console log:" >&2; tail -n 30 "$tmpdir/console.log" >&2; exit 1; }
    # The console may carry a kernel message between the markers; base64 lines
    # are [A-Za-z0-9+/=] only, so drop anything else (a torn line fails gunzip's CRC).
    sed -n '/^FPUTRACE-BTF-BEGIN$/,/^FPUTRACE-BTF-END$/p' "$tmpdir/console.log" | sed '1d;$d' |
        grep -E '^[A-Za-z0-9+/=]+$' | base64 -d | gzip -dc >"$tmpdir/btf"
    echo "update.sh: $(stat -c %s "$tmpdir/btf") bytes of BTF from $suite ($qarch)"
    set -- "$tmpdir/btf" "$arch"
fi

btf=${1:-/sys/kernel/btf/vmlinux}
arch=${2:-x86}
mkdir -p "$here/$arch"
bpftool btf dump file "$btf" format c >"$here/$arch/vmlinux.h.tmp"
mv "$here/$arch/vmlinux.h.tmp" "$here/$arch/vmlinux.h"
echo "wrote $here/$arch/vmlinux.h from $btf"
