/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * umount(2): its result, with the path as the caller passed it.
 */
#ifndef FPUTRACE_UMOUNT_BPF_H
#define FPUTRACE_UMOUNT_BPF_H

#include "common.bpf.h"

enum stash_id { STASH_UMOUNT = 2 };

/* Per-thread arguments carried from an entry probe to its return probe. */
struct ft_call_args {
	__u64 a[4];
};
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64); /* tid | probe id << 32 */
	__type(value, struct ft_call_args);
} call_stash SEC(".maps");

/* The stashed arguments of this thread's call, consumed; false if none. */
static __always_inline bool take_stash(__u32 id, struct ft_call_args *out)
{
	__u64 key = stash_key(id);
	struct ft_call_args *a = bpf_map_lookup_elem(&call_stash, &key);
	if (!a)
		return false;
	*out = *a;
	bpf_map_delete_elem(&call_stash, &key);
	return true;
}

static __always_inline void umount_stash(__u64 upath, __u64 flags)
{
	struct ft_call_args a = {};
	__u64 key = stash_key(STASH_UMOUNT);
	a.a[0] = upath;
	a.a[1] = flags;
	map_put(&call_stash, &key, &a);
}

static __always_inline void umount_done(__u64 upath, __u64 flags, long ret)
{
	struct ft_event *e = event_new(FT_EV_UMOUNT);
	if (!e)
		return;
	bpf_probe_read_user_str(e->path, sizeof(e->path), (void *)upath);
	e->ret = ret;
	e->detail = (__u32)flags;
	bpf_ringbuf_submit(e, 0);
}

SEC("tracepoint/syscalls/sys_enter_umount")
int tp_enter_umount(struct trace_event_raw_sys_enter *ctx)
{
	umount_stash(ctx->args[0], ctx->args[1]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_umount")
int tp_exit_umount(struct trace_event_raw_sys_exit *ctx)
{
	struct ft_call_args a;
	if (take_stash(STASH_UMOUNT, &a))
		umount_done(a.a[0], a.a[1], ctx->ret);
	return 0;
}

#endif /* FPUTRACE_UMOUNT_BPF_H */
