/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * umount(2), as the kernel saw it.
 *
 * fentry/kprobe backends: path_umount(path, flags) (5.9+) has the mount the
 * path resolved to, in the caller's namespace and working directory. At entry
 * the mount is named and identified (id, unique id, namespace); at return,
 * if the result is EBUSY (the mount is still there), the cause is captured at
 * that instant: the kernel's reference count on the mount (mnt_get_count(),
 * what do_umount compared) and its child mounts.
 *
 * Tracepoint backend: syscalls:sys_{enter,exit}_umount; the path is the
 * caller's string, so the entry records the caller's working directory for
 * relative paths (the collector resolves the rest in the caller's namespace).
 *
 * One struct ft_umount_event per call, on the control ring buffer.
 */
#ifndef FPUTRACE_UMOUNT_BPF_H
#define FPUTRACE_UMOUNT_BPF_H

#include "common.bpf.h"

/* __per_cpu_offset from /proc/kallsyms (needs CONFIG_KALLSYMS_ALL) and the
 * possible CPUs: the per-CPU mount counts are summed with them. */
const volatile __u64 addr_per_cpu_offset = 0;
const volatile __u32 nr_cpus = 0;
#define FT_MAX_CPUS 512

/* The call in progress, per thread: from entry to return. */
struct ft_umount_call {
	__u64 mnt;   /* struct mount * */
	__u64 upath; /* tracepoint backend: the caller's string */
	__u64 flags;
	/* path_umount: the mount point named at entry. A umount that works
	 * takes the mount out of its namespace before it returns, and a walk
	 * then ends at the mount itself ("/"). */
	__u32 names_known;
	__u32 names_truncated;
	char mnt_names[FT_PATH_DEPTH][FT_NAME_LEN];
};
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32); /* tid */
	__type(value, struct ft_umount_call);
} umount_calls SEC(".maps");

static __always_inline struct ft_umount_event *umount_event_new(void)
{
	struct ft_umount_event *e = bpf_ringbuf_reserve(&control_events, sizeof(*e), 0);
	if (!e) {
		stat_inc(FT_STAT_RINGBUF_DROPS);
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->type = FT_EV_UMOUNT;
	e->backend = fput_backend;
	e->time_ns = bpf_ktime_get_ns();
	fill_task(&e->task);
	return e;
}

static __always_inline struct mount *as_mount(__u64 addr)
{
#ifdef FT_READ_CAST
	return FT_CAST(struct mount, addr);
#else
	return (struct mount *)addr;
#endif
}

/* The mount's identity and mount point. */
static __always_inline void fill_mount(struct ft_umount_event *e, __u64 mnt)
{
	struct mount *m = as_mount(mnt);
#ifdef FT_READ_CAST
	e->mnt_id = m->mnt_id;
	e->mnt_ns = m->mnt_ns ? m->mnt_ns->ns.inum : 0;
#else
	e->mnt_id = BPF_CORE_READ(m, mnt_id);
	e->mnt_ns = BPF_CORE_READ(m, mnt_ns, ns.inum);
#endif
	if (bpf_core_field_exists(m->mnt_id_unique)) {
#ifdef FT_READ_CAST
		e->mnt_unique = m->mnt_id_unique;
#else
		e->mnt_unique = BPF_CORE_READ(m, mnt_id_unique);
#endif
	} else {
		e->mnt_unique = mnt; /* changes when the id is reused by another mount */
	}
	if (ft_walk_names(m, ft_mount_root(m), e->mnt_names))
		e->info |= FT_UMOUNT_MNT_TRUNCATED;
	e->info |= FT_UMOUNT_MOUNT_KNOWN;
}

/* Up to 6.x: one count per CPU. A flavor, so that it builds against headers
 * of kernels that no longer have the field (vmlinux/arm64 is 7.2's). */
struct mnt_pcp___cnt {
	int mnt_count;
} __attribute__((preserve_access_index));

/* 7.x counts gets and puts per CPU instead of one count. */
struct mnt_pcp___gp {
	unsigned int mnt_gets;
	unsigned int mnt_puts;
} __attribute__((preserve_access_index));

/* Whether this kernel's per-CPU mount count is a layout we know. */
static __always_inline bool mount_count_known(void)
{
	return bpf_core_field_exists(struct mnt_pcp___cnt, mnt_count) ||
	       (bpf_core_field_exists(struct mnt_pcp___gp, mnt_gets) &&
		bpf_core_field_exists(struct mnt_pcp___gp, mnt_puts));
}

/* One CPU's share of the mount's count (global: verified once). */
__noinline int ft_mount_count_on(__u64 pcp, __u32 cpu)
{
	__u64 offset = ft_read_u64(addr_per_cpu_offset + (__u64)cpu * 8);
	__u64 at = pcp + offset;
	if (bpf_core_field_exists(struct mnt_pcp___cnt, mnt_count))
		return (int)ft_read_u32(at + bpf_core_field_offset(struct mnt_pcp___cnt, mnt_count));
	if (bpf_core_field_exists(struct mnt_pcp___gp, mnt_gets)) {
		__u32 gets = ft_read_u32(at + bpf_core_field_offset(struct mnt_pcp___gp, mnt_gets));
		__u32 puts = ft_read_u32(at + bpf_core_field_offset(struct mnt_pcp___gp, mnt_puts));
		return (int)(gets - puts);
	}
	return 0;
}

/* mnt_get_count(): the per-CPU counts summed, -1 when this kernel's per-CPU
 * offsets are not known. */
static __always_inline __s64 mount_count(__u64 mnt)
{
	if (!addr_per_cpu_offset || !nr_cpus || !mount_count_known())
		return -1;
	/* As a number: a typed per-CPU pointer may not go to a global function. */
	__u64 pcp = ft_read_u64(mnt + bpf_core_field_offset(struct mount, mnt_pcp));
	if (!pcp)
		return -1;
	__s64 sum = 0;
	for (__u32 cpu = 0; cpu < FT_MAX_CPUS; cpu++) {
		if (cpu >= nr_cpus)
			break;
		sum += ft_mount_count_on(pcp, cpu);
	}
	return sum;
}

/* The mount's children: what do_umount saw in mnt_mounts. */
static __always_inline void fill_children(struct ft_umount_event *e, __u64 mnt)
{
	__u64 head = mnt + bpf_core_field_offset(struct mount, mnt_mounts);
	__u64 child_off = bpf_core_field_offset(struct mount, mnt_child);
	__u64 node = ft_read_u64(head); /* list_head.next */
	for (int i = 0; i < 64; i++) {
		if (!node || node == head)
			return;
		__u64 child = node - child_off;
		if (e->nr_children < FT_UMOUNT_CHILDREN) {
			__u32 k = e->nr_children;
			struct mount *c = as_mount(child);
			struct dentry *mp;
#ifdef FT_READ_CAST
			e->child_ids[k & (FT_UMOUNT_CHILDREN - 1)] = c->mnt_id;
			mp = FT_CAST(struct dentry, c->mnt_mountpoint);
#else
			e->child_ids[k & (FT_UMOUNT_CHILDREN - 1)] = BPF_CORE_READ(c, mnt_id);
			mp = BPF_CORE_READ(c, mnt_mountpoint);
#endif
			if (mp)
				ft_dentry_name(mp, e->child_names[k & (FT_UMOUNT_CHILDREN - 1)]);
		} else {
			e->info |= FT_UMOUNT_CHILDREN_TRUNCATED;
		}
		e->nr_children++;
		node = ft_read_u64(node);
	}
	e->info |= FT_UMOUNT_CHILDREN_TRUNCATED;
}

/* ---- fentry / kprobe: path_umount ---- */

static __always_inline void path_umount_entry(__u64 mnt, __u64 flags)
{
	struct ft_umount_call call = {.mnt = mnt, .flags = flags};
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	if (map_put(&umount_calls, &tid, &call))
		return;
	struct ft_umount_call *c = bpf_map_lookup_elem(&umount_calls, &tid);
	if (!c)
		return;
	struct mount *m = as_mount(mnt);
	c->names_truncated = ft_walk_names(m, ft_mount_root(m), c->mnt_names);
	c->names_known = 1;
}

static __always_inline void path_umount_return(long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct ft_umount_call *call = bpf_map_lookup_elem(&umount_calls, &tid);
	if (!call)
		return;
	__u64 mnt = call->mnt, flags = call->flags;
	struct ft_umount_event *e = umount_event_new();
	if (!e) {
		bpf_map_delete_elem(&umount_calls, &tid);
		return;
	}
	e->ret = ret;
	e->flags = (__u32)flags;
	/* Identified at return: on success the mount is detached but its memory
	 * lives until an RCU grace period, and these loads are fault-safe. On
	 * EBUSY it is still mounted: the count and children are what
	 * do_umount saw, give or take this instant. */
	fill_mount(e, mnt);
	if (ret == 0 && call->names_known) {
		/* Gone from its namespace: the name it had at entry. */
		__builtin_memcpy(e->mnt_names, call->mnt_names, sizeof(e->mnt_names));
		e->info &= ~FT_UMOUNT_MNT_TRUNCATED;
		if (call->names_truncated)
			e->info |= FT_UMOUNT_MNT_TRUNCATED;
	}
	bpf_map_delete_elem(&umount_calls, &tid);
	if (ret == -16 /* EBUSY */) {
		/* + 1: umount's own reference from the path lookup, which
		 * do_umount counted and path_umount dropped just before
		 * returning. */
		__s64 count = mount_count(mnt);
		if (count >= 0) {
			e->refs = count + 1;
			e->info |= FT_UMOUNT_REFS_KNOWN;
		}
		fill_children(e, mnt);
	}
	bpf_ringbuf_submit(e, 0);
}

/* The mount of a path, as a number (it is kept in a map until the return). */
static __always_inline __u64 path_mount(const struct path *p)
{
	__u64 vm = ft_read_u64((__u64)p + bpf_core_field_offset(struct path, mnt));
	return vm - bpf_core_field_offset(struct mount, mnt);
}

SEC("fentry/path_umount")
int BPF_PROG(fentry_path_umount, struct path *path, int flags)
{
	path_umount_entry(path_mount(path), flags);
	return 0;
}

SEC("fexit/path_umount")
int BPF_PROG(fexit_path_umount, struct path *path, int flags, int ret)
{
	path_umount_return(ret);
	return 0;
}

SEC("kprobe/path_umount")
int BPF_KPROBE(kprobe_path_umount, struct path *path, int flags)
{
	path_umount_entry(path_mount(path), flags);
	return 0;
}

SEC("kretprobe/path_umount")
int BPF_KRETPROBE(kretprobe_path_umount, int ret)
{
	path_umount_return(ret);
	return 0;
}

/* ---- tracepoint backend: the syscall, and the caller's cwd ---- */

SEC("tracepoint/syscalls/sys_enter_umount")
int tp_enter_umount(struct trace_event_raw_sys_enter *ctx)
{
	struct ft_umount_call call = {.upath = ctx->args[0], .flags = ctx->args[1]};
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	map_put(&umount_calls, &tid, &call);
	return 0;
}

/* The caller's working directory, leaf first, in its namespace. */
static __always_inline void fill_cwd(struct ft_umount_event *e)
{
	struct task_struct *t = ft_current_task();
	struct vfsmount *vm;
	struct dentry *d;
#ifdef FT_READ_CAST
	vm = t->fs->pwd.mnt;
	d = t->fs->pwd.dentry;
#else
	vm = BPF_CORE_READ(t, fs, pwd.mnt);
	d = BPF_CORE_READ(t, fs, pwd.dentry);
#endif
	if (!vm)
		return;
	if (ft_walk_names(ft_real_mount(vm), d, e->cwd_names))
		e->info |= FT_UMOUNT_CWD_TRUNCATED;
	e->info |= FT_UMOUNT_CWD_KNOWN;
}

SEC("tracepoint/syscalls/sys_exit_umount")
int tp_exit_umount(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct ft_umount_call *call = bpf_map_lookup_elem(&umount_calls, &tid);
	if (!call)
		return 0;
	__u64 upath = call->upath, flags = call->flags;
	bpf_map_delete_elem(&umount_calls, &tid);
	struct ft_umount_event *e = umount_event_new();
	if (!e)
		return 0;
	e->ret = ctx->ret;
	e->flags = (__u32)flags;
	bpf_probe_read_user_str(e->path, sizeof(e->path), (void *)upath);
	if (e->path[0] != '/')
		fill_cwd(e);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

#endif /* FPUTRACE_UMOUNT_BPF_H */
