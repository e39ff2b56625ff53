/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Block device opens refused with EBUSY: the device is claimed.
 *
 * A mounted filesystem claims its device exclusively, and keeps it after a
 * lazy umount for as long as its detached mount lives: while a deferred
 * release holds a file on it, and then through the mount's own teardown
 * (delayed_mntput, the filesystem's shutdown). An exclusive open meanwhile
 * (mkfs, losetup, cryptsetup, mdadm) fails with EBUSY.
 *
 * blkdev_open(inode, filp) (5.10 to 7.x) is where open(2) of a block device
 * node ends up; bd_prepare_to_claim under it refuses the claim. fexit, or a
 * kprobe that keeps the arguments for its kretprobe; a record only on EBUSY.
 * Block device opens are rare: no cost on any hot path.
 */
#ifndef FPUTRACE_BLOCKDEV_BPF_H
#define FPUTRACE_BLOCKDEV_BPF_H

#include "common.bpf.h"

#define FT_EBUSY 16

/* kprobe -> kretprobe: the arguments of the call in progress, per thread. */
struct ft_bdev_call {
	__u64 inode;
	__u64 filp;
};
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32); /* tid */
	__type(value, struct ft_bdev_call);
} bdev_calls SEC(".maps");

static __always_inline void bdev_refused(struct inode *inode, struct file *filp)
{
	if (from_self())
		return;
	struct ft_bdev_event *e = bpf_ringbuf_reserve(&control_events, sizeof(*e), 0);
	if (!e) {
		stat_inc(FT_STAT_RINGBUF_DROPS);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->type = FT_EV_BDEV_BUSY;
	e->backend = fput_backend;
	e->time_ns = bpf_ktime_get_ns();
	fill_task(&e->task);
	e->ret = -FT_EBUSY;
#ifdef FT_READ_CAST
	inode = FT_CAST(struct inode, inode);
	filp = ft_as_file((__u64)filp);
	e->rdev = inode->i_rdev;
	e->f_flags = filp->f_flags;
	e->file.ino = inode->i_ino;
#else
	e->rdev = BPF_CORE_READ(inode, i_rdev);
	e->f_flags = BPF_CORE_READ(filp, f_flags);
	e->file.ino = BPF_CORE_READ(inode, i_ino);
#endif
	e->file.ptr = (__u64)filp;
	e->file.mnt_id = ft_file_mnt_id(filp);
	e->file.dev = ft_file_dev(filp);
	ft_file_path(filp, &e->file);
	ft_file_mount_path(filp, &e->file);
	e->file.flags |= FT_FILE_DESCRIBED;
	bpf_ringbuf_submit(e, 0);
}

SEC("fexit/blkdev_open")
int BPF_PROG(fexit_blkdev_open, struct inode *inode, struct file *filp, int ret)
{
	if (ret == -FT_EBUSY)
		bdev_refused(inode, filp);
	return 0;
}

SEC("kprobe/blkdev_open")
int BPF_KPROBE(kprobe_blkdev_open, struct inode *inode, struct file *filp)
{
	struct ft_bdev_call call = {.inode = (__u64)inode, .filp = (__u64)filp};
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	map_put(&bdev_calls, &tid, &call);
	return 0;
}

SEC("kretprobe/blkdev_open")
int BPF_KRETPROBE(kretprobe_blkdev_open, int ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct ft_bdev_call *call = bpf_map_lookup_elem(&bdev_calls, &tid);
	if (!call)
		return 0;
	struct ft_bdev_call c = *call;
	bpf_map_delete_elem(&bdev_calls, &tid);
	if (ret == -FT_EBUSY)
		bdev_refused((struct inode *)c.inode, (struct file *)c.filp);
	return 0;
}

#endif /* FPUTRACE_BLOCKDEV_BPF_H */
