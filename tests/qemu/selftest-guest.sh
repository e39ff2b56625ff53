# shellcheck shell=sh
# Guest side of selftest.sh (busybox sh, cwd /payload): exercises what BPF tests need.
set -e
echo "kernel: $(uname -r)"
./hello
ls -l /sys/kernel/btf/vmlinux
grep -q ' /sys/kernel/security ' /proc/mounts || mount -t securityfs securityfs /sys/kernel/security
echo "lockdown: $(cat /sys/kernel/security/lockdown 2>/dev/null || echo 'n/a (no lockdown LSM)')"
ls -d /sys/module/loop
ls /dev/loop*
dev=$(losetup -f)
losetup "$dev" /payload/ext4.img
mkdir -p /mnt/e
mount -t ext4 "$dev" /mnt/e
echo "written in the guest" >/mnt/e/file
sync
cat /mnt/e/file
df -k /mnt/e
umount /mnt/e
losetup -d "$dev"
echo "selftest: ok"
