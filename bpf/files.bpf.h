/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Who owns a file, kept in the kernel.
 *
 * io_uring requests, ring registrations and aio submissions *claim* the file
 * they use for the task that used it: one lookup per request, a write only
 * when the owner changes. Nothing is sent to user space then. A record goes
 * out only when a finding needs it (a deferral, the owner exiting with
 * requests in flight, a completion on a kernel thread after the owner left),
 * and it carries the owner (struct ft_origin) with it.
 *
 * Bounded: 'files' is an LRU map (its evictions are counted as inserts minus
 * deletes minus live entries, by the collector); each process lists at most
 * FT_PROC_FILES files it owns, for the scan at its exit.
 */
#ifndef FPUTRACE_FILES_BPF_H
#define FPUTRACE_FILES_BPF_H

#include "common.bpf.h"

#define FT_PROC_FILES 32

enum ft_file_state_flags {
	FS_REPORTED = 1u << 0, /* a record named this file: its release is reported */
};

struct ft_file_state {
	struct ft_origin origin;
	__s32 inflight; /* io_uring requests that took it with fget and did not complete */
	__u32 flags;    /* enum ft_file_state_flags */
	/* Identity: a struct file address reused by another file is a new file
	 * (f_inode differs). */
	__u64 inode;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64); /* struct file address */
	__type(value, struct ft_file_state);
} files SEC(".maps");

/* The files a process claimed, for the scan when its last thread exits. */
struct ft_proc_files {
	__u64 file[FT_PROC_FILES];
};
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); /* tgid */
	__type(value, struct ft_proc_files);
} proc_files SEC(".maps");

static const struct ft_proc_files no_proc_files = {};

/* Entries put into 'files' minus entries deleted from it. Never below the
 * number of live entries (it is raised before an insert; an LRU eviction or
 * a replaced stale entry leaves it higher), so while it is zero __fput knows
 * without a lookup that the file it releases is not there: on a host whose
 * processes use neither io_uring nor aio a release costs no hash lookup. */
__s64 files_entries = 0;

/* Puts an entry into 'files'; 0 on success. */
static __always_inline int files_insert(__u64 *file, const struct ft_file_state *st)
{
	__sync_fetch_and_add(&files_entries, 1);
	if (map_put(&files, file, st)) {
		__sync_fetch_and_add(&files_entries, -1);
		return -1;
	}
	stat_inc(FT_STAT_FILES_INSERTED);
	return 0;
}

/* Deletes the file's entry from 'files', if it has one. */
static __always_inline void files_delete(__u64 *file)
{
	if (bpf_map_delete_elem(&files, file))
		return;
	__sync_fetch_and_add(&files_entries, -1);
	stat_inc(FT_STAT_FILES_DELETED);
}

/* files_insert() overwrote a stale entry. files_entries is left high (it
 * may only err upwards: another CPU may have deleted the entry meanwhile). */
static __always_inline void files_replaced(void)
{
	stat_inc(FT_STAT_FILES_DELETED);
}

/* The file's entry; NULL without a lookup while the map is empty. */
static __always_inline struct ft_file_state *files_lookup_if_any(__u64 *file)
{
	if (files_entries <= 0)
		return NULL;
	return bpf_map_lookup_elem(&files, file);
}

/* Entries in proc_files: while it is zero (no process owns anything) an exit
 * does not even look the exiting process up. */
__s64 proc_files_count = 0;

/* Rings that hold (or held) files fputrace reported: their teardown is news. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} known_rings SEC(".maps");

static __always_inline void note_ring(__u64 ring)
{
	__u8 one = 1;
	if (ring)
		bpf_map_update_elem(&known_rings, &ring, &one, BPF_ANY);
}

static __always_inline void fill_origin_current(struct ft_origin *o, __u32 source, __u64 ring)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	o->tgid = pid_tgid >> 32;
	o->tid = (__u32)pid_tgid;
	o->source = source;
	o->flags = 0;
	o->ring = ring;
	o->time_ns = bpf_ktime_get_ns();
	/* Where the owner ran (its container), read once per new owner: the
	 * collector names the cgroup from its id. */
	o->cgroup_id = bpf_get_current_cgroup_id();
	o->mntns = ft_task_mnt_ns(ft_current_task());
	bpf_get_current_comm(o->comm, sizeof(o->comm));
}

/* Adds the file to the process's list, reusing a slot whose file is no longer
 * owned by it (global: verified once). */
__noinline int ft_proc_add_file(__u32 tgid, __u64 file)
{
	struct ft_proc_files *pf = bpf_map_lookup_elem(&proc_files, &tgid);
	if (!pf) {
		/* from global data, not the stack: 5.10 allows 512 bytes of
		 * stack for the whole chain of calls */
		if (bpf_map_update_elem(&proc_files, &tgid, &no_proc_files, BPF_NOEXIST)) {
			if (!bpf_map_lookup_elem(&proc_files, &tgid))
				stat_inc(FT_STAT_MAP_FULL); /* else another CPU added it */
			return 0;
		}
		__sync_fetch_and_add(&proc_files_count, 1);
		pf = bpf_map_lookup_elem(&proc_files, &tgid);
		if (pf)
			pf->file[0] = file;
		return 0;
	}
	for (int i = 0; i < FT_PROC_FILES; i++) {
		__u64 other = pf->file[i];
		if (other == file)
			return 0;
		struct ft_file_state *st = other ? bpf_map_lookup_elem(&files, &other) : NULL;
		if (!other || !st || st->origin.tgid != tgid) {
			pf->file[i] = file;
			return 0;
		}
	}
	stat_inc(FT_STAT_FD_SCAN_TRUNCATED);
	return 0;
}

static __always_inline bool same_file(const struct ft_file_state *st, struct file *f)
{
	return st->inode == ft_file_inode_addr(f);
}

/* The current task uses the file for source: it becomes its owner. Returns
 * the state, or NULL if the file is not watched or the map refused it. The
 * common case (a file seen before, same owner as last time) is one lookup,
 * one load and a few compares; the mount filter runs only for new files. */
static __always_inline struct ft_file_state *claim_file(__u64 file, __u32 source, __u64 ring,
							__u32 origin_flags)
{
	struct file *f = ft_as_file(file);
	struct ft_file_state *st = bpf_map_lookup_elem(&files, &file);
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;

	if (st && same_file(st, f)) {
		if (st->origin.tid == (__u32)pid_tgid && st->origin.source == source &&
		    st->origin.ring == ring)
			return st;
		bool new_owner = st->origin.tgid != tgid;
		fill_origin_current(&st->origin, source, ring);
		st->origin.flags = origin_flags;
		if (new_owner)
			ft_proc_add_file(tgid, file);
		return st;
	}
	if (!file_watched(f))
		return NULL;
	struct ft_file_state fresh = {};
	fill_origin_current(&fresh.origin, source, ring);
	fresh.origin.flags = origin_flags;
	fresh.inode = ft_file_inode_addr(f);
	if (files_insert(&file, &fresh))
		return NULL;
	/* A dead file's entry at this address (struct file memory is reused
	 * at once, and nothing deletes entries on the tracepoint backend) was
	 * replaced, not evicted: count it as deleted, or the collector's
	 * evictions (inserts - deletes - live) count every reuse as a loss. */
	if (st)
		files_replaced();
	ft_proc_add_file(tgid, file);
	return bpf_map_lookup_elem(&files, &file);
}

/* The owner of a file, for a record about it; origin left zero (source
 * FT_SRC_NONE) when none is known. Marks the file reported. */
static __always_inline void fill_owner(struct ft_event *e, __u64 file)
{
	struct ft_file_state *st = bpf_map_lookup_elem(&files, &file);
	if (!st || !same_file(st, ft_as_file(file)))
		return;
	e->origin = st->origin;
	st->flags |= FS_REPORTED;
	note_ring(st->origin.ring);
}

/* A record names this file: report its release too (fput probes only). */
static __always_inline void mark_reported(__u64 file)
{
	struct ft_file_state *st = bpf_map_lookup_elem(&files, &file);
	if (st) {
		st->flags |= FS_REPORTED;
		return;
	}
	struct ft_file_state fresh = {};
	fresh.flags = FS_REPORTED;
	fresh.inode = ft_file_inode_addr(ft_as_file(file));
	files_insert(&file, &fresh);
}

#endif /* FPUTRACE_FILES_BPF_H */
