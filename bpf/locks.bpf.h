/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * File locks refused while a deferred release still holds them.
 *
 * flock and OFD locks belong to an open file, and __fput removes them
 * (locks_remove_file) only when the file's last reference goes. A process that
 * exits while io_uring or aio holds its file leaves its lock behind until the
 * deferred release runs: the next flock(LOCK_NB) fails with EWOULDBLOCK
 * although no process holds the lock.
 *
 * flock_lock_inode and posix_lock_inode (filelock tracepoints, 4.9+) give the
 * inode, the request and the result. Only a refusal (-EAGAIN) costs more than
 * a compare: then the inode's lock list is walked for the locks that
 * conflicted, and each one's file is looked up in the owners map. One raw
 * tracepoint per lock call, with every backend.
 */
#ifndef FPUTRACE_LOCKS_BPF_H
#define FPUTRACE_LOCKS_BPF_H

#include "common.bpf.h"
#include "files.bpf.h"

#define FT_EAGAIN 11
#define FT_FL_POSIX 1
#define FT_FL_FLOCK 2
#define FT_FL_OFDLCK 1024
#define FT_F_WRLCK 1
/* Locks looked at per refusal: a lock list longer than this is cut. */
#define FT_LOCK_SCAN 32

/* Before 6.9 the lock's common fields are in struct file_lock itself; 6.9
 * moved them to struct file_lock_core (file_lock.c, its first member). */
struct file_lock___old {
	struct list_head fl_list;
	fl_owner_t fl_owner;
	unsigned int fl_flags;
	unsigned char fl_type;
	unsigned int fl_pid;
	struct file *fl_file;
	loff_t fl_start;
	loff_t fl_end;
} __attribute__((preserve_access_index));

/* Where each field of a lock is, from its address, on this kernel. */
struct ft_lock_layout {
	__u64 list, owner, flags, type, pid, file, start, end;
	bool known;
};

static __always_inline struct ft_lock_layout lock_layout(void)
{
	struct ft_lock_layout l = {};
	if (bpf_core_field_exists(struct file_lock_core, flc_file)) {
		/* c is file_lock's first member: a lock and its core share an address. */
		l.list = bpf_core_field_offset(struct file_lock_core, flc_list);
		l.owner = bpf_core_field_offset(struct file_lock_core, flc_owner);
		l.flags = bpf_core_field_offset(struct file_lock_core, flc_flags);
		l.type = bpf_core_field_offset(struct file_lock_core, flc_type);
		l.pid = bpf_core_field_offset(struct file_lock_core, flc_pid);
		l.file = bpf_core_field_offset(struct file_lock_core, flc_file);
		l.start = bpf_core_field_offset(struct file_lock, fl_start);
		l.end = bpf_core_field_offset(struct file_lock, fl_end);
		l.known = true;
	} else if (bpf_core_field_exists(struct file_lock___old, fl_file)) {
		l.list = bpf_core_field_offset(struct file_lock___old, fl_list);
		l.owner = bpf_core_field_offset(struct file_lock___old, fl_owner);
		l.flags = bpf_core_field_offset(struct file_lock___old, fl_flags);
		l.type = bpf_core_field_offset(struct file_lock___old, fl_type);
		l.pid = bpf_core_field_offset(struct file_lock___old, fl_pid);
		l.file = bpf_core_field_offset(struct file_lock___old, fl_file);
		l.start = bpf_core_field_offset(struct file_lock___old, fl_start);
		l.end = bpf_core_field_offset(struct file_lock___old, fl_end);
		l.known = true;
	}
	return l;
}

/* One lock, read through the layout. */
struct ft_lock_fields {
	__u64 owner, file, start, end;
	__u32 flags, type, pid;
};

static __always_inline void read_lock(__u64 lock, const struct ft_lock_layout *l, struct ft_lock_fields *out)
{
	out->owner = ft_read_u64(lock + l->owner);
	out->file = ft_read_u64(lock + l->file);
	out->start = ft_read_u64(lock + l->start);
	out->end = ft_read_u64(lock + l->end);
	out->flags = ft_read_u32(lock + l->flags);
	out->type = ft_read_u32(lock + l->type) & 0xff; /* an unsigned char */
	out->pid = ft_read_u32(lock + l->pid);
}

static __always_inline __u32 lock_kind(__u32 flags)
{
	if (flags & FT_FL_FLOCK)
		return FT_LOCK_FLOCK;
	if (flags & FT_FL_OFDLCK)
		return FT_LOCK_OFD;
	return FT_LOCK_POSIX;
}

/* What posix_locks_conflict and flock_locks_conflict test: another owner,
 * one of the two a write lock, and (byte-range locks) overlapping ranges. */
static __always_inline bool locks_conflict(const struct ft_lock_fields *req, const struct ft_lock_fields *held,
					   bool ranges)
{
	if (held->owner == req->owner)
		return false;
	if (req->type != FT_F_WRLCK && held->type != FT_F_WRLCK)
		return false;
	if (ranges && ((__s64)held->end < (__s64)req->start || (__s64)req->end < (__s64)held->start))
		return false;
	return true;
}

static __always_inline void add_holder(struct ft_lock_event *e, const struct ft_lock_fields *held)
{
	__u32 k = e->nr_holders++;
	if (k >= FT_LOCK_HOLDERS) {
		e->info |= FT_LOCK_HOLDERS_TRUNCATED;
		return;
	}
	struct ft_lock_holder *h = &e->holders[k & (FT_LOCK_HOLDERS - 1)];
	h->file = held->file;
	h->pid = held->pid;
	h->kind = lock_kind(held->flags);
	h->type = held->type;
	if (!held->file)
		return;
	struct file *f = ft_as_file(held->file);
	h->mnt_id = ft_file_mnt_id(f);
	h->ino = ft_file_ino(f);
	struct ft_file_state *st = bpf_map_lookup_elem(&files, &held->file);
	if (st && same_file(st, f)) {
		h->origin = st->origin;
		h->has_origin = 1;
	}
}

/* The locks of the inode's list (flock or posix) that conflict with req. */
static __always_inline void find_holders(struct ft_lock_event *e, __u64 head, const struct ft_lock_layout *l,
					 const struct ft_lock_fields *req, bool ranges)
{
	__u64 node = ft_read_u64(head); /* list_head.next */
	for (int i = 0; i < FT_LOCK_SCAN; i++) {
		if (!node || node == head)
			return;
		struct ft_lock_fields held = {};
		read_lock(node - l->list, l, &held);
		if (locks_conflict(req, &held, ranges))
			add_holder(e, &held);
		node = ft_read_u64(node);
	}
	e->info |= FT_LOCK_HOLDERS_TRUNCATED;
}

static __always_inline void lock_refused(__u64 inode, __u64 request, bool posix)
{
	if (from_self())
		return;
	struct ft_lock_layout l = lock_layout();
	struct ft_lock_fields req = {};
	if (l.known)
		read_lock(request, &l, &req);
	if (req.file && !file_watched(ft_as_file(req.file)))
		return;
	struct ft_lock_event *e = bpf_ringbuf_reserve(&control_events, sizeof(*e), 0);
	if (!e) {
		stat_inc(FT_STAT_RINGBUF_DROPS);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->type = FT_EV_LOCK_BUSY;
	e->backend = fput_backend;
	e->time_ns = bpf_ktime_get_ns();
	fill_task(&e->task);
	e->ret = -FT_EAGAIN;
	if (!l.known) {
		e->info |= FT_LOCK_LIST_UNKNOWN;
		e->kind = posix ? FT_LOCK_POSIX : FT_LOCK_FLOCK;
		bpf_ringbuf_submit(e, 0);
		return;
	}
	e->kind = lock_kind(req.flags);
	e->lock_type = req.type;
	if (req.file) {
		struct file *f = ft_as_file(req.file);
		e->file.ptr = req.file;
		e->file.mnt_id = ft_file_mnt_id(f);
		e->file.ino = ft_file_ino(f);
		e->file.dev = ft_file_dev(f);
		ft_file_path(f, &e->file);
		ft_file_mount_path(f, &e->file);
		e->file.flags |= FT_FILE_DESCRIBED;
	}
	__u64 flctx = ft_read_u64(inode + bpf_core_field_offset(struct inode, i_flctx));
	if (flctx) {
		__u64 head = flctx + (posix ? bpf_core_field_offset(struct file_lock_context, flc_posix)
					    : bpf_core_field_offset(struct file_lock_context, flc_flock));
		find_holders(e, head, &l, &req, posix);
	}
	bpf_ringbuf_submit(e, 0);
}

/* flock_lock_inode(inode, request, ret) and posix_lock_inode(inode, request,
 * ret): a refusal is -EAGAIN (a blocking request waits instead). */
SEC("raw_tp/flock_lock_inode")
int raw_flock_lock_inode(struct bpf_raw_tracepoint_args *ctx)
{
	if ((int)ctx->args[2] != -FT_EAGAIN)
		return 0;
	lock_refused(ctx->args[0], ctx->args[1], false);
	return 0;
}

SEC("raw_tp/posix_lock_inode")
int raw_posix_lock_inode(struct bpf_raw_tracepoint_args *ctx)
{
	if ((int)ctx->args[2] != -FT_EAGAIN)
		return 0;
	lock_refused(ctx->args[0], ctx->args[1], true);
	return 0;
}

#endif /* FPUTRACE_LOCKS_BPF_H */
