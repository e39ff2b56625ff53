#!/usr/bin/env bash
# Boot a Debian cloud kernel (see fetch-kernels.sh) under QEMU TCG with a throwaway
# initramfs and run one guest shell script in it.
#
# Usage: tests/qemu/boot.sh --suite SUITE --payload DIR --script GUEST_SH --out LOG
#                           [--timeout SECONDS] [--mem 2G]
#
# The guest sees DIR at /payload (cwd), GUEST_SH as /payload/guest.sh, PATH=/payload:/bin:/sbin,
# busybox applets, proc/sys/dev/tmp, tracefs, debugfs, securityfs and bpffs mounted,
# and the loop module loaded. The whole serial console goes to LOG (without \r).
# Exit status: the guest script's, 124 on timeout, 125 if the guest never reported
# one (kernel did not boot, panicked, ...) or on any error of this script.
#
# FPUTRACE_ARCH=arm64 (default amd64) boots an arm64 kernel from
# FPUTRACE_ARCH=arm64 tests/qemu/fetch-kernels.sh with qemu-system-aarch64 (-M virt,
# TCG, console ttyAMA0) and the arm64 busybox fetched with it. Host libraries are
# amd64, so there every ELF executable in DIR must be a static arm64 one (checked);
# relocatable objects (BPF .o files) are copied as they are.
set -euo pipefail

die() { echo "boot.sh: $*" >&2; exit 125; }

SUITE='' PAYLOAD='' SCRIPT='' OUT='' TIMEOUT=600 MEM=2G
while (($#)); do
    (($# >= 2)) || die "option $1 needs a value"
    case $1 in
        --suite) SUITE=$2 ;;
        --payload) PAYLOAD=$2 ;;
        --script) SCRIPT=$2 ;;
        --out) OUT=$2 ;;
        --timeout) TIMEOUT=$2 ;;
        --mem) MEM=$2 ;;
        *) die "unknown option $1 (see the usage at the top of $0)" ;;
    esac
    shift 2
done
[[ -n $SUITE && -n $PAYLOAD && -n $SCRIPT && -n $OUT ]] || die "need --suite, --payload, --script and --out"
[[ -d $PAYLOAD ]] || die "payload $PAYLOAD is not a directory"
[[ -r $SCRIPT ]] || die "cannot read guest script $SCRIPT"
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "--timeout wants whole seconds, got $TIMEOUT"
ARCH=${FPUTRACE_ARCH:-amd64}
case $ARCH in
amd64)
    K=${FPUTRACE_KERNEL_CACHE:-/var/cache/fputrace/kernels}/$SUITE
    [[ -s $K/vmlinuz && -s $K/modules/load-order ]] || die "no kernel for '$SUITE' in $K; run tests/qemu/fetch-kernels.sh $SUITE"
    for tool in qemu-system-x86_64 busybox cpio gzip ldd timeout; do
        command -v "$tool" >/dev/null || die "missing tool: $tool (Debian: qemu-system-x86, busybox-static, cpio)"
    done
    ;;
arm64)
    K=${FPUTRACE_KERNEL_CACHE:-/var/cache/fputrace/kernels-arm64}/$SUITE
    BUSYBOX=${K%/*}/busybox/busybox
    [[ -s $K/vmlinuz && -s $K/modules/load-order && -s $BUSYBOX ]] ||
        die "no arm64 kernel for '$SUITE' in $K (or no $BUSYBOX); run FPUTRACE_ARCH=arm64 tests/qemu/fetch-kernels.sh $SUITE"
    for tool in qemu-system-aarch64 cpio gzip readelf timeout; do
        command -v "$tool" >/dev/null || die "missing tool: $tool (Debian: qemu-system-arm, cpio, binutils)"
    done
    ;;
*) die "FPUTRACE_ARCH '$ARCH' not supported (want amd64 or arm64)" ;;
esac
: >"$OUT" || die "cannot write $OUT"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,dev,proc,sys,tmp,mnt,lib/modules-fputrace}
ln -s bin "$root/sbin"

# busybox and a link for every applet it was built with (busybox --list). Hard
# links: --install makes all 269 in a few ms, where a loop of `ln -s` takes ~1.5 s.
if [[ $ARCH == amd64 ]]; then
    cp "$(command -v busybox)" "$root/bin/busybox"
    "$root/bin/busybox" --install "$root/bin"
else
    # The arm64 busybox does not run here: only /bin/sh for /init's #! line now,
    # /init makes the other links with busybox --install in the guest.
    cp "$BUSYBOX" "$root/bin/busybox"
    ln "$root/bin/busybox" "$root/bin/sh"
fi

cp -a "$PAYLOAD" "$root/payload"
cp "$SCRIPT" "$root/payload/guest.sh"
cp "$K"/modules/* "$root/lib/modules-fputrace/"

# arm64: the host's libraries are amd64 ones, so no dynamically linked programs.
# Relocatable objects (BPF .o files) and static arm64 executables are fine.
check_arm64_elf() { # FILE
    local f=$1 hdr type machine
    hdr=$(readelf -h "$f" 2>/dev/null) || die "$f: readelf cannot read this ELF file"
    type=$(awk '$1 == "Type:" {print $2; exit}' <<<"$hdr")
    [[ $type != REL ]] || return 0
    machine=$(sed -n 's/^ *Machine: *//p' <<<"$hdr")
    [[ $machine == AArch64 ]] || die "${f#"$root"/}: not an arm64 binary (Machine: $machine); FPUTRACE_ARCH=arm64 wants static aarch64 executables"
    if readelf -l "$f" 2>/dev/null | grep -q 'INTERP' || readelf -d "$f" 2>/dev/null | grep -q '(NEEDED)'; then
        die "${f#"$root"/}: dynamically linked; FPUTRACE_ARCH=arm64 accepts only static payload binaries (the host's libraries are amd64): link with -static"
    fi
}
if [[ $ARCH == arm64 ]]; then
    while IFS= read -r -d '' f; do
        cmp -s -n4 "$f" <(printf '\177ELF') || continue
        check_arm64_elf "$f"
    done < <(find "$root/payload" -type f -print0)
fi

# Dynamically linked programs need their libraries and the loader at the same
# absolute paths as on the host. ldd lists both; files it does not understand
# (scripts, BPF objects, static binaries) are skipped.
[[ $ARCH != amd64 ]] || while IFS= read -r -d '' f; do
    cmp -s -n4 "$f" <(printf '\177ELF') || continue
    libs=$(ldd "$f" 2>/dev/null) || continue
    ! grep -q 'not found' <<<"$libs" || die "$f: missing libraries: $(grep 'not found' <<<"$libs" | tr -s ' \t\n' ' ')"
    for lib in $(awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<<"$libs"); do
        # Libraries inside the payload ($ORIGIN rpaths) are there already. -D follows symlinks, makes dirs.
        [[ $lib == "$root"/* || -e $root$lib ]] || install -D -m 0755 "$lib" "$root$lib"
    done
done < <(find "$root/payload" "$root/bin/busybox" -type f -print0)

cat >"$root/init" <<'EOF'
#!/bin/sh
# PID 1. The initramfs has no /dev/console node, so get a console from devtmpfs first.
mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
mnt() { mkdir -p "$2" && mount -t "$1" "$1" "$2" || echo "init: cannot mount $1 on $2"; }
mnt proc /proc
mnt sysfs /sys
mnt tmpfs /tmp
mnt tracefs /sys/kernel/tracing
mnt debugfs /sys/kernel/debug
mnt securityfs /sys/kernel/security
mnt bpf /sys/fs/bpf
for m in $(cat /lib/modules-fputrace/load-order); do
    insmod "/lib/modules-fputrace/$m" 2>/dev/null || echo "init: insmod $m failed (built in?)"
done
export PATH=/payload:/bin:/sbin HOME=/tmp
cd /payload
echo FPUTRACE-GUEST-BEGIN
sh /payload/guest.sh </dev/null
echo "FPUTRACE-GUEST-END rc=$?"
# poweroff -f does not wait for the serial line: drain it first (stty applies
# settings with TCSADRAIN, so re-applying the current ones waits for the output).
stty "$(stty -g)"
poweroff -f
EOF
if [[ $ARCH == arm64 ]]; then
    # Only /bin/sh and /bin/busybox exist yet (see above): link the applets first.
    sed -i '1a /bin/busybox --install /bin' "$root/init"
fi
chmod +x "$root/init" "$root/payload/guest.sh"

# -R 0:0: files belong to root in the guest whoever builds the image.
(cd "$root" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet) | gzip -1 >"$work/initrd.gz"

t0=$EPOCHREALTIME
set +e
# -nic none: no NIC, so SeaBIOS does not spend time in the iPXE option ROM.
# tsc=unstable: otherwise the kernel flips the sched_clock static key at run time
# (marks it stable at late init; on 6.12 the clocksource watchdog later finds the
# emulated TSC skewed and marks it unstable). Each flip patches kernel text through
# an int3 while the other vCPU runs, and multi-threaded TCG can execute a stale
# translation of it: a guest panicked so, in sched_clock_cpu, before any probe was
# attached. Unstable from the command line, the key is never enabled, never patched.
# softlockup_panic=1: a vCPU that has not scheduled for 20 s ends the guest at once
# (panic, no reboot) instead of at the timeout, with the lockup in the log; under
# TCG that is the same stale-translation artifact (tests/qemu/run-suite.sh boots
# such a suite once more).
# FPUTRACE_QEMU_ICOUNT=OPTS (the benchmark): -icount OPTS, so the guest's clock
# counts instructions executed, not host time; rates measured in the guest are
# then work per instruction, which the host's load does not disturb.
icount=()
[[ -z ${FPUTRACE_QEMU_ICOUNT:-} ]] || icount=(-icount "$FPUTRACE_QEMU_ICOUNT")
if [[ $ARCH == amd64 ]]; then
timeout -k 5 "$TIMEOUT" qemu-system-x86_64 -accel tcg "${icount[@]}" -m "$MEM" -smp 2 -nographic -no-reboot -nic none \
    -kernel "$K/vmlinuz" -initrd "$work/initrd.gz" -append "console=ttyS0 panic=-1 quiet tsc=unstable softlockup_panic=1" \
    </dev/null 2>&1 | tr -d '\r' >"$OUT"
qemu_rc=${PIPESTATUS[0]}
else
# arm64: the virt board boots the raw Image directly (no firmware; PSCI for poweroff).
# -cpu max emulates every feature; pauth-impdef=on replaces the architected QARMA
# pointer-authentication cipher (these kernels sign return addresses, and TCG's
# QARMA is slow) with QEMU's cheap implementation-defined one.
timeout -k 5 "$TIMEOUT" qemu-system-aarch64 -M virt -cpu max,pauth-impdef=on -accel tcg "${icount[@]}" -m "$MEM" -smp 2 \
    -nographic -no-reboot -nic none \
    -kernel "$K/vmlinuz" -initrd "$work/initrd.gz" -append "console=ttyAMA0 panic=-1 quiet softlockup_panic=1" \
    </dev/null 2>&1 | tr -d '\r' >"$OUT"
qemu_rc=${PIPESTATUS[0]}
fi
set -e
secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}')
what="$SUITE ($(<"$K/release")), initramfs $(($(stat -c %s "$work/initrd.gz") / 1024)) KiB, ${secs} s, log $OUT"

# timeout: 124 after SIGTERM, 137 if qemu also needed the SIGKILL.
((qemu_rc != 124 && qemu_rc != 137)) || { echo "boot.sh: $what: timed out after $TIMEOUT s" >&2; exit 124; }
rc=$(grep -ao 'FPUTRACE-GUEST-END rc=[0-9]*' "$OUT" | tail -n1 | cut -d= -f2 || true)
if ! grep -q FPUTRACE-GUEST-BEGIN "$OUT" || [[ -z $rc ]]; then
    die "$what: guest did not report (qemu rc $qemu_rc), see the log"
fi
echo "boot.sh: $what: guest rc=$rc" >&2
exit "$rc"
