/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What every part of the BPF side shares: the collector's settings, the ring
 * buffer and counters, and how a record is started and filled.
 */
#ifndef FPUTRACE_COMMON_BPF_H
#define FPUTRACE_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "fputrace/events.h"
#include "kread.bpf.h"
#include "kpaths.bpf.h"

/* ---- configuration, set by the collector before load ---- */
const volatile bool filter_mounts = false; /* false: every mount is watched */
const volatile __u32 fput_backend = FT_BACKEND_TRACEPOINT;
const volatile __u64 addr_delayed_fput = 0;    /* delayed_fput, from /proc/kallsyms */
const volatile __u64 addr_ring_exit_work = 0;  /* io_ring_exit_work */
const volatile __u64 addr_aio_complete_rw = 0; /* aio_complete_rw: tells aio kiocbs apart */
const volatile __u32 self_tgid = 0; /* the collector: its own files are not news */
/* Raw tracepoint argument positions, read from this kernel's BTF by the
 * collector (the io_uring tracepoints changed their prototypes). -1: absent. */
const volatile __s32 file_get_fd_arg = -1;  /* io_uring_file_get: the fd */
const volatile bool file_get_req_first = false; /* ...whose first argument is the request */
const volatile __s32 complete_req_arg = -1; /* io_uring_complete: the io_kiocb */
/* Benchmark floor (FPUTRACE_BENCH_EMPTY_HOOKS=1): the per-request and per-fput
 * programs stay attached but return at once, so a benchmark can tell the cost
 * of entering a program from the cost of its work. Never set in normal use. */
const volatile bool bench_empty_hooks = false;

#define PF_EXITING 0x00000004
#define PF_IO_WORKER 0x00000010
#define PF_KTHREAD 0x00200000

/* ---- maps ---- */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");

/* umount results and process exits: few, and each one is what a finding is
 * about, so a flood of file records in 'events' must not crowd them out. The
 * collector merges both by time. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 << 10);
} control_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FT_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* mnt_id -> 1 for the mounts given with --mount. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __s32);
	__type(value, __u8);
} watched_mounts SEC(".maps");

/* Bumped whenever a record that can start a pin is sent: the delayed_fput
 * runs that may end such pins are only reported when it moved. */
__u64 pin_serial = 0;

/* Losses, read by the collector through the mmap'ed .bss before every record
 * it handles: a drop is reported in band, where it happened, and marks the
 * findings whose evidence it may have touched. */
__u64 lost_records = 0; /* ring buffer full */
__u64 lost_items = 0;   /* a tracking map refused an item */
__u64 last_loss_ns = 0;

/* ---- small helpers ---- */
static __always_inline void stat_inc(__u32 id)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &id);
	if (v)
		(*v)++;
	if (id == FT_STAT_RINGBUF_DROPS || id == FT_STAT_MAP_FULL) {
		__sync_fetch_and_add(id == FT_STAT_RINGBUF_DROPS ? &lost_records : &lost_items, 1);
		last_loss_ns = bpf_ktime_get_ns();
	}
}

static __always_inline int map_put(void *map, const void *key, const void *val)
{
	long err = bpf_map_update_elem(map, key, val, BPF_ANY);
	if (err)
		stat_inc(FT_STAT_MAP_FULL);
	return err;
}

static __always_inline bool mount_id_watched(__s32 mnt_id)
{
	if (!filter_mounts)
		return true;
	return bpf_map_lookup_elem(&watched_mounts, &mnt_id) != NULL;
}

/* A file whose release can keep an umount busy: on a watched mount that is
 * not one of the kernel's internal ones (pipes, sockets, anon inodes, rings). */
static __always_inline bool file_watched(struct file *f)
{
	if (ft_file_mnt_internal(f))
		return false;
	return mount_id_watched(ft_file_mnt_id(f));
}

static __always_inline bool from_self(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == self_tgid;
}

static __always_inline __u64 stash_key(__u32 id)
{
	return (bpf_get_current_pid_tgid() & 0xffffffffULL) | ((__u64)id << 32);
}

static __always_inline void fill_task(struct ft_task *out)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct task_struct *t = ft_current_task();
	__u32 pf = ft_task_flags_raw(t);

	out->tgid = pid_tgid >> 32;
	out->tid = (__u32)pid_tgid;
	out->flags = 0;
	if (pf & PF_KTHREAD)
		out->flags |= FT_TASK_KTHREAD;
	if (pf & PF_EXITING)
		out->flags |= FT_TASK_EXITING;
	if (pf & PF_IO_WORKER)
		out->flags |= FT_TASK_IO_WORKER;
	if (out->tgid == out->tid)
		out->flags |= FT_TASK_LEADER;
	out->mntns = ft_task_mnt_ns(t);
	out->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(out->comm, sizeof(out->comm));
}

static __always_inline struct ft_event *event_new(__u32 type)
{
	void *rb = (type == FT_EV_UMOUNT || type == FT_EV_TASK_EXIT) ? (void *)&control_events
								     : (void *)&events;
	struct ft_event *e = bpf_ringbuf_reserve(rb, sizeof(*e), 0);
	if (!e) {
		stat_inc(FT_STAT_RINGBUF_DROPS);
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->type = type;
	e->backend = fput_backend;
	e->time_ns = bpf_ktime_get_ns();
	fill_task(&e->task);
	return e;
}

/* Identity (and, when describe is set, the path) of a file. */
static __always_inline void fill_file(struct ft_event *e, __u64 addr, bool describe)
{
	struct file *f = ft_as_file(addr);

	e->file.ptr = addr;
	e->file.mnt_id = ft_file_mnt_id(f);
	e->file.ino = ft_file_ino(f);
	e->file.dev = ft_file_dev(f);
	if (describe) {
		ft_file_path(f, &e->file);
		ft_file_mount_path(f, &e->file);
		e->file.flags |= FT_FILE_DESCRIBED;
	}
}

/* Why a final fput from the current context goes to the delayed_fput list;
 * 0 if it runs as task work (the kernel's own test in fput). regs_sp: the
 * probed function's stack pointer for pt_regs programs, else 0. */
static __always_inline __u32 deferral_reason(void *ctx, __u64 regs_sp)
{
	struct task_struct *t = ft_current_task();
	if (ft_task_flags_raw(t) & PF_KTHREAD)
		return FT_DEFER_KTHREAD;
	if (ft_in_interrupt(t, ctx, regs_sp))
		return FT_DEFER_NO_TASK_WORK;
	if (ft_task_works_closed(t))
		return FT_DEFER_TASK_WORK_FAILED;
	return 0;
}

/* Sends a record that may start a pin. */
static __always_inline void submit_pin_record(struct ft_event *e)
{
	__sync_fetch_and_add(&pin_serial, 1);
	bpf_ringbuf_submit(e, 0);
}

#endif /* FPUTRACE_COMMON_BPF_H */
