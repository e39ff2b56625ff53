// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * fputrace BPF side.
 *
 * Cost model: fput runs millions of times a second, so the per-call work on the
 * hot path is "is this the last reference?" and, for last references only, one
 * map lookup for the mount filter. Records go to user space only when a final
 * release leaves its task (deferred), when such a file is finally released, and
 * for the rare events that explain who a file belongs to (ring registration,
 * io_uring/aio requests on watched mounts, ring teardown, umount).
 *
 * Probe groups (the collector enables each with bpf_program__set_autoload):
 *  - fentry_* / fexit_*    : fput, fput_close, __fput, task_work_add, aio_complete_rw
 *  - kprobe_* / kretprobe_*: the same functions where fentry cannot load
 *  - tp_*                  : tracepoints, used with every backend
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "fputrace/events.h"
#include "kread.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* ---- configuration, set by the collector before load ---- */
const volatile bool filter_mounts = false;   /* false: every mount is watched */
const volatile bool track_releases = false;  /* __fput is probed: keep 'tracked' */
const volatile __u32 fput_backend = FT_BACKEND_TRACEPOINT;
const volatile __u64 addr_task_work_fput = 0; /* ____fput, from /proc/kallsyms */
const volatile __u64 addr_delayed_fput = 0;   /* delayed_fput */
const volatile __u64 addr_ring_exit_work = 0; /* io_ring_exit_work */
const volatile __u32 self_tgid = 0; /* the collector: its own closes are not news */

#define PF_EXITING 0x00000004
#define PF_IO_WORKER 0x00000010
#define PF_KTHREAD 0x00200000

#define IORING_REGISTER_FILES 2
#define IORING_REGISTER_FILES_UPDATE 6
#define IORING_REGISTER_FILES2 13
#define IORING_REGISTER_FILES_UPDATE2 14
#define IORING_REGISTER_USE_REGISTERED_RING (1U << 31)

/* ---- maps ---- */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");

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

/* Files whose release user space wants to hear about: registered with a ring,
 * used by an io_uring/aio request, or deferred. Only used when __fput is probed. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u8);
} tracked SEC(".maps");

/* Processes that own tracked files: their exits are reported. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u8);
} tracked_tgids SEC(".maps");

/* file -> ring of registrations seen by the syscall probe, so the scan at exit
 * does not send them again. LRU: unregistrations are not traced. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} registered SEC(".maps");

/* Processes a thread of which exited holding io_uring state (task->io_uring)
 * while other threads lived on: their last thread's exit scans for rings. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} uring_tgids SEC(".maps");

/* io_uring request -> file, so completions of tracked requests are reported. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} requests SEC(".maps");

/* A final fput in progress: set at entry, read by task_work_add, decided at exit. */
struct inflight {
	__u32 task_work_seen;
	__s32 task_work_ret;
};
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct inflight);
} inflight SEC(".maps");

/* Per-thread arguments carried from an entry probe to its return probe. */
struct call_args {
	__u64 a[4];
};
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64); /* tid | probe id << 32 */
	__type(value, struct call_args);
} call_stash SEC(".maps");

/* workqueue_execute_end on old kernels lacks the function: remember the work. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u32);
} running_work SEC(".maps");

enum stash_id { STASH_REGISTER = 1, STASH_UMOUNT = 2, STASH_FPUT = 3, STASH_TWA = 4 };

/* ---- small helpers ---- */
static __always_inline void stat_inc(__u32 id)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &id);
	if (v)
		(*v)++;
}

static __always_inline int map_put(void *map, const void *key, const void *val)
{
	long err = bpf_map_update_elem(map, key, val, BPF_ANY);
	if (err)
		stat_inc(FT_STAT_MAP_FULL);
	return err;
}

static __always_inline bool mount_watched(__s32 mnt_id)
{
	if (!filter_mounts)
		return true;
	return bpf_map_lookup_elem(&watched_mounts, &mnt_id) != NULL;
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
	bpf_get_current_comm(out->comm, sizeof(out->comm));
}

static __always_inline struct ft_event *event_new(__u32 type)
{
	struct ft_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
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

static __always_inline void track_file(__u64 file, __u32 tgid)
{
	__u8 one = 1;
	if (track_releases)
		map_put(&tracked, &file, &one);
	map_put(&tracked_tgids, &tgid, &one);
}

/* ---- io_uring: registered files (syscall tracepoints) ---- */

/* One registered fd: a global function, so the verifier checks it once rather
 * than once per loop iteration. Returns 0 to go on, 1 to stop. */
__noinline int ft_report_registered_fd(int ring_fd, __u64 ufd)
{
	int fd = -1;
	if (bpf_probe_read_user(&fd, sizeof(fd), (void *)ufd))
		return 1;
	__u64 file = ft_fd_to_file(fd);
	if (!file || !mount_watched(ft_file_mnt_id(ft_as_file(file))))
		return 0;
	struct ft_event *e = event_new(FT_EV_RING_FILE);
	if (!e)
		return 1;
	fill_file(e, file, true);
	/* ring_fd < 0: a registered ring index, not an fd; the ring stays unnamed. */
	__u64 ring_file = ring_fd >= 0 ? ft_fd_to_file(ring_fd) : 0;
	__u64 ring = ring_file ? (__u64)ft_file_private(ft_as_file(ring_file)) : 0;
	e->ring = ring;
	e->ret = fd;
	track_file(file, e->task.tgid);
	if (ring)
		map_put(&registered, &file, &ring);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* Sends a RING_FILE record for every fd of a registration on a watched mount. */
static __always_inline void report_registered_fds(int ring_fd, __u64 ufds, __u32 nr)
{
	if (nr > FT_MAX_FDS_PER_CALL) {
		stat_inc(FT_STAT_FD_SCAN_TRUNCATED);
		nr = FT_MAX_FDS_PER_CALL;
	}
	for (__u32 i = 0; i < FT_MAX_FDS_PER_CALL; i++) {
		if (i >= nr)
			break;
		if (ft_report_registered_fd(ring_fd, ufds + i * sizeof(int)))
			break;
	}
}

static __always_inline bool is_file_registration(__u64 opcode)
{
	opcode &= ~IORING_REGISTER_USE_REGISTERED_RING;
	return opcode == IORING_REGISTER_FILES || opcode == IORING_REGISTER_FILES2 ||
	       opcode == IORING_REGISTER_FILES_UPDATE || opcode == IORING_REGISTER_FILES_UPDATE2;
}

/* io_uring_register(ring_fd, opcode, arg, nr) on entry: keep the arguments. */
static __always_inline void register_stash(__u64 ring_fd, __u64 opcode, __u64 arg, __u64 nr)
{
	if (!is_file_registration(opcode))
		return;
	struct call_args a = {};
	__u64 key = stash_key(STASH_REGISTER);
	a.a[0] = ring_fd;
	a.a[1] = opcode;
	a.a[2] = arg;
	a.a[3] = nr;
	map_put(&call_stash, &key, &a);
}

/* A successful file registration: report each fd on a watched mount. */
static __always_inline void register_done(__u64 ring_fd, __u64 opcode, __u64 arg, __u64 nr, long ret)
{
	if (ret < 0 || !is_file_registration(opcode))
		return;
	int ring = (opcode & IORING_REGISTER_USE_REGISTERED_RING) ? -1 : (int)ring_fd;
	opcode &= ~IORING_REGISTER_USE_REGISTERED_RING;

	__u64 ufds = arg;
	if (opcode == IORING_REGISTER_FILES2 || opcode == IORING_REGISTER_FILES_UPDATE2) {
		/* struct io_uring_rsrc_register / _update2: nr and data pointer */
		struct { __u32 off_or_nr; __u32 flags; __u64 resv2; __u64 data; __u64 tags; __u32 nr; } r = {};
		if (bpf_probe_read_user(&r, sizeof(r), (void *)arg))
			return;
		ufds = r.data;
		nr = opcode == IORING_REGISTER_FILES2 ? r.off_or_nr : r.nr;
	} else if (opcode == IORING_REGISTER_FILES_UPDATE) {
		struct { __u32 offset; __u32 resv; __u64 fds; } u = {};
		if (bpf_probe_read_user(&u, sizeof(u), (void *)arg))
			return;
		ufds = u.fds;
	}
	report_registered_fds(ring, ufds, (__u32)nr);
}

/* The stashed arguments of this thread's call, consumed; false if none. */
static __always_inline bool take_stash(__u32 id, struct call_args *out)
{
	__u64 key = stash_key(id);
	struct call_args *a = bpf_map_lookup_elem(&call_stash, &key);
	if (!a)
		return false;
	*out = *a;
	bpf_map_delete_elem(&call_stash, &key);
	return true;
}

SEC("tracepoint/syscalls/sys_enter_io_uring_register")
int tp_enter_io_uring_register(struct trace_event_raw_sys_enter *ctx)
{
	register_stash(ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[3]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_io_uring_register")
int tp_exit_io_uring_register(struct trace_event_raw_sys_exit *ctx)
{
	struct call_args a;
	if (take_stash(STASH_REGISTER, &a))
		register_done(a.a[0], a.a[1], a.a[2], a.a[3], ctx->ret);
	return 0;
}

/* ---- io_uring: requests (io_uring tracepoints) ---- */

struct trace_event_raw_io_uring_file_get___old {
	void *ctx;
	int fd;
} __attribute__((preserve_access_index));

SEC("tracepoint/io_uring/io_uring_file_get")
int tp_io_uring_file_get(struct trace_event_raw_io_uring_file_get *ctx)
{
	__u64 file = ft_fd_to_file(ctx->fd);
	if (!file || !mount_watched(ft_file_mnt_id(ft_as_file(file))))
		return 0;
	__u64 req = 0, user_data = 0;
	if (bpf_core_field_exists(ctx->req)) {
		req = (__u64)ctx->req;
		user_data = ctx->user_data;
	}
	struct ft_event *e = event_new(FT_EV_URING_REQ);
	if (!e)
		return 0;
	fill_file(e, file, true);
	e->ring = (__u64)ctx->ctx;
	e->req = req;
	e->user_data = user_data;
	e->ret = ctx->fd;
	track_file(file, e->task.tgid);
	if (req)
		map_put(&requests, &req, &file);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tracepoint/io_uring/io_uring_complete")
int tp_io_uring_complete(struct trace_event_raw_io_uring_complete *ctx)
{
	if (!bpf_core_field_exists(ctx->req))
		return 0;
	__u64 req = (__u64)ctx->req;
	__u64 *file = bpf_map_lookup_elem(&requests, &req);
	if (!file)
		return 0;
	__u64 file_ptr = *file;
	bpf_map_delete_elem(&requests, &req);
	struct ft_event *e = event_new(FT_EV_URING_DONE);
	if (!e)
		return 0;
	e->file.ptr = file_ptr;
	e->ring = (__u64)ctx->ctx;
	e->req = req;
	e->user_data = ctx->user_data;
	e->ret = ctx->res;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* ---- work items: io_ring_exit_work and delayed_fput (workqueue tracepoints) ---- */

static __always_inline void report_work(__u32 type, __u64 work)
{
	struct ft_event *e = event_new(type);
	if (!e)
		return;
	if (type == FT_EV_RING_EXIT || type == FT_EV_RING_EXIT_END)
		e->ring = work - bpf_core_field_offset(struct io_ring_ctx, exit_work);
	e->req = work;
	bpf_ringbuf_submit(e, 0);
}

SEC("tracepoint/workqueue/workqueue_execute_start")
int tp_work_start(struct trace_event_raw_workqueue_execute_start *ctx)
{
	__u64 fn = (__u64)ctx->function;
	__u64 work = (__u64)ctx->work;
	__u32 type;

	if (fn && fn == addr_delayed_fput)
		type = FT_EV_DELAYED_RUN;
	else if (fn && fn == addr_ring_exit_work)
		type = FT_EV_RING_EXIT;
	else
		return 0;
	map_put(&running_work, &work, &type);
	report_work(type, work);
	return 0;
}

SEC("tracepoint/workqueue/workqueue_execute_end")
int tp_work_end(struct trace_event_raw_workqueue_execute_end *ctx)
{
	__u64 work = (__u64)ctx->work;
	__u32 *type = bpf_map_lookup_elem(&running_work, &work);
	if (!type)
		return 0;
	__u32 end = *type == FT_EV_DELAYED_RUN ? FT_EV_DELAYED_RUN_END : FT_EV_RING_EXIT_END;
	bpf_map_delete_elem(&running_work, &work);
	report_work(end, work);
	return 0;
}

/* ---- aio submission (syscall tracepoint) ---- */

/* One iocb of an io_submit call (global: verified once). 0 to go on, 1 to stop. */
__noinline int ft_report_aio_iocb(__u64 ctx_id, __u64 uiocb_slot)
{
	__u64 uiocb = 0;
	__u32 fd = 0;
	if (bpf_probe_read_user(&uiocb, sizeof(uiocb), (void *)uiocb_slot))
		return 1;
	/* struct iocb: aio_data(8) aio_key(4) aio_rw_flags(4) opcode(2) prio(2) fildes(4) */
	if (bpf_probe_read_user(&fd, sizeof(fd), (void *)(uiocb + 20)))
		return 1;
	__u64 file = ft_fd_to_file((int)fd);
	if (!file || !mount_watched(ft_file_mnt_id(ft_as_file(file))))
		return 0;
	struct ft_event *e = event_new(FT_EV_AIO_SUBMIT);
	if (!e)
		return 1;
	fill_file(e, file, true);
	e->ring = ctx_id;
	e->req = uiocb;
	e->ret = fd;
	track_file(file, e->task.tgid);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* io_submit(ctx_id, nr, iocbpp) on entry: the iocbs name their fds. */
static __always_inline void io_submit_entry(__u64 ctx_id, long nr, __u64 iocbpp)
{
	if (nr > FT_MAX_FDS_PER_CALL) {
		stat_inc(FT_STAT_FD_SCAN_TRUNCATED);
		nr = FT_MAX_FDS_PER_CALL;
	}
	for (int i = 0; i < FT_MAX_FDS_PER_CALL; i++) {
		if (i >= nr)
			break;
		if (ft_report_aio_iocb(ctx_id, iocbpp + i * 8))
			break;
	}
}

SEC("tracepoint/syscalls/sys_enter_io_submit")
int tp_enter_io_submit(struct trace_event_raw_sys_enter *ctx)
{
	io_submit_entry(ctx->args[0], (long)ctx->args[1], ctx->args[2]);
	return 0;
}

/* ---- io_uring: rings held at exit ----
 *
 * A ring's registered files are dropped by its exit work on a kworker after
 * the process is gone. When fputrace started after the registration, the
 * syscall probe never saw it: so when the last thread of a process that used
 * io_uring exits (sched_process_exit runs before exit_files: the fd table is
 * intact), its rings are looked up in the fd table and in the task's
 * registered ring fds, and each ring's fixed file table is sent as RING_FILE
 * records with detail FT_RING_FILE_AT_EXIT, before the TASK_EXIT record.
 *
 * Fixed file table layouts (CO-RE flavors; the newest is in vmlinux.h):
 *  - 6.13+: ctx->file_table.data.{nr, nodes}: struct io_rsrc_node *[nr],
 *    node->file_ptr with flag bits;
 *  - 5.15 - 6.12 (and Debian's 5.10, which carries the 5.15 io_uring):
 *    ctx->file_table.files: struct io_fixed_file { unsigned long file_ptr; }
 *    [ctx->nr_user_files], flag bits in file_ptr;
 *  - 5.5 - 5.11: ctx->file_data->table[i >> 9].files[i & 511] (struct file *),
 *    ctx->nr_user_files.
 * Anything else is counted in FT_STAT_RING_LAYOUT_UNKNOWN and skipped. */

/* 5.15 - 6.12 */
struct io_fixed_file___ft512 {
	unsigned long file_ptr;
} __attribute__((preserve_access_index));
struct io_file_table___ft512 {
	struct io_fixed_file___ft512 *files;
} __attribute__((preserve_access_index));
struct io_ring_ctx___ft512 {
	struct io_file_table___ft512 file_table;
	unsigned int nr_user_files;
} __attribute__((preserve_access_index));

/* 5.5 - 5.11 (fs/io_uring.c) */
struct fixed_file_table___ft510 {
	struct file **files;
} __attribute__((preserve_access_index));
struct fixed_file_data___ft510 {
	struct fixed_file_table___ft510 *table;
} __attribute__((preserve_access_index));
struct io_ring_ctx___ft510 {
	struct fixed_file_data___ft510 *file_data;
	unsigned int nr_user_files;
} __attribute__((preserve_access_index));

#define FT_FILE_TABLE_SHIFT 9 /* IORING_FILE_TABLE_SHIFT, 5.5 - 5.11 */
#define FT_FILE_TABLE_MASK ((1U << FT_FILE_TABLE_SHIFT) - 1)
/* Low bits of file_ptr are flags (FFS_*); struct file is cache-line aligned. */
#define FT_FFS_MASK (~0xfULL)

/* The file in fixed-file slot i of a ring; 0 if empty. The layout tests are
 * CO-RE constants, so the branches of other kernels are dead code. */
static __always_inline __u64 ft_ring_slot_file(__u64 ring, __u32 i)
{
	if (bpf_core_field_exists(struct io_ring_ctx, file_table.data.nodes)) {
		__u64 nodes = ft_read_u64(ring + bpf_core_field_offset(struct io_ring_ctx,
								       file_table.data.nodes));
		__u64 node = nodes ? ft_read_u64(nodes + (__u64)i * 8) : 0;
		if (!node)
			return 0;
		return ft_read_u64(node + bpf_core_field_offset(struct io_rsrc_node, file_ptr)) &
		       FT_FFS_MASK;
	}
	if (bpf_core_field_exists(struct io_ring_ctx___ft512, file_table.files)) {
		__u64 files = ft_read_u64(ring + bpf_core_field_offset(struct io_ring_ctx___ft512,
								       file_table.files));
		if (!files)
			return 0;
		__u64 slot = files + (__u64)i * bpf_core_type_size(struct io_fixed_file___ft512);
		return ft_read_u64(slot + bpf_core_field_offset(struct io_fixed_file___ft512,
								  file_ptr)) & FT_FFS_MASK;
	}
	if (bpf_core_field_exists(struct io_ring_ctx___ft510, file_data) &&
	    bpf_core_field_exists(struct fixed_file_data___ft510, table)) {
		__u64 data = ft_read_u64(ring + bpf_core_field_offset(struct io_ring_ctx___ft510,
								      file_data));
		__u64 table = data ? ft_read_u64(data + bpf_core_field_offset(
							       struct fixed_file_data___ft510, table))
				   : 0;
		if (!table)
			return 0;
		__u64 sub = table + (__u64)(i >> FT_FILE_TABLE_SHIFT) *
					    bpf_core_type_size(struct fixed_file_table___ft510);
		__u64 files = ft_read_u64(sub + bpf_core_field_offset(struct fixed_file_table___ft510,
								      files));
		return files ? ft_read_u64(files + (__u64)(i & FT_FILE_TABLE_MASK) * 8) : 0;
	}
	return 0;
}

/* Number of fixed-file slots of a ring; -1 if the layout is unknown. */
static __always_inline long ft_ring_nr_slots(__u64 ring)
{
	if (bpf_core_field_exists(struct io_ring_ctx, file_table.data.nr))
		return ft_read_u32(ring + bpf_core_field_offset(struct io_ring_ctx, file_table.data.nr));
	if (bpf_core_field_exists(struct io_ring_ctx___ft512, file_table.files))
		return ft_read_u32(ring + bpf_core_field_offset(struct io_ring_ctx___ft512,
							       nr_user_files));
	if (bpf_core_field_exists(struct io_ring_ctx___ft510, file_data) &&
	    bpf_core_field_exists(struct fixed_file_data___ft510, table))
		return ft_read_u32(ring + bpf_core_field_offset(struct io_ring_ctx___ft510,
							       nr_user_files));
	return -1;
}

/* One fixed-file slot of a ring found at exit (global: verified once). */
__noinline int ft_report_exit_ring_slot(__u64 ring, __u32 slot)
{
	__u64 file = ft_ring_slot_file(ring, slot);
	if (!file || !mount_watched(ft_file_mnt_id(ft_as_file(file))))
		return 0;
	__u64 *known = bpf_map_lookup_elem(&registered, &file);
	if (known && *known == ring)
		return 0; /* the registration was seen, or sent already */
	struct ft_event *e = event_new(FT_EV_RING_FILE);
	if (!e)
		return 1;
	fill_file(e, file, true);
	e->ring = ring;
	e->ret = -1;
	e->user_data = slot;
	e->detail = FT_RING_FILE_AT_EXIT;
	track_file(file, e->task.tgid);
	map_put(&registered, &file, &ring);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* A file of the exiting task: if it is an io_uring ring, report its fixed
 * files (global: verified once). Returns 1 to stop scanning. */
__noinline int ft_report_exit_ring(__u64 file)
{
	if (!file || !ft_file_is_io_uring(ft_as_file(file)))
		return 0;
	__u64 ring = ft_file_private_addr(file);
	if (!ring)
		return 0;
	long nr = ft_ring_nr_slots(ring);
	if (nr < 0) {
		stat_inc(FT_STAT_RING_LAYOUT_UNKNOWN);
		return 1;
	}
	if (nr > FT_EXIT_MAX_RING_SLOTS) {
		stat_inc(FT_STAT_FD_SCAN_TRUNCATED);
		nr = FT_EXIT_MAX_RING_SLOTS;
	}
	for (__u32 i = 0; i < FT_EXIT_MAX_RING_SLOTS; i++) {
		if (i >= nr)
			break;
		if (ft_report_exit_ring_slot(ring, i))
			return 1;
	}
	return 0;
}

/* The file in one fd slot (or registered ring slot) of the exiting task, if it
 * is a ring (global: verified once). The loops below call only this: with the
 * slot read inlined in the loop, the 5.10 and 6.1 verifiers refused the
 * program ("back-edge from insn N to N+1", check_cfg: a loop edge after a call). */
__noinline int ft_report_exit_slot(__u64 slot_addr)
{
	__u64 file = ft_read_u64(slot_addr);
	return file ? ft_report_exit_ring(file) : 0;
}

/* Rings of the exiting process: its fd table, then the ring fds registered
 * with IORING_REGISTER_RING_FDS (5.18+), which need no fd. A ring found both
 * ways is sent once ('registered' map). */
static __always_inline void report_exit_rings(struct task_struct *t, __u64 tctx)
{
	__u32 max = 0;
	__u64 fds = ft_task_fd_array(t, &max);
	if (fds) {
		if (max > FT_EXIT_MAX_FDS)
			stat_inc(FT_STAT_FD_SCAN_TRUNCATED);
		for (__u32 fd = 0; fd < FT_EXIT_MAX_FDS; fd++) {
			if (fd >= max)
				break;
			if (ft_report_exit_slot(fds + (__u64)fd * 8))
				return;
		}
	}
	if (tctx && bpf_core_field_exists(struct io_uring_task, registered_rings)) {
		__u64 rings = tctx + bpf_core_field_offset(struct io_uring_task, registered_rings);
		for (__u32 i = 0; i < 16; i++) {
			if (ft_report_exit_slot(rings + (__u64)i * 8))
				return;
		}
	}
}

/* ---- task exit and umount (tracepoints) ---- */

SEC("tracepoint/sched/sched_process_exit")
int tp_process_exit(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct task_struct *t = ft_current_task();
	bool group_dead = ft_task_group_dead(t);
	__u64 tctx = ft_task_io_uring(t);

	/* io_uring state of a thread whose process lives on: the process's
	 * last thread scans, even if it never used io_uring itself. */
	if (tctx && !group_dead) {
		__u8 one = 1;
		map_put(&uring_tgids, &tgid, &one);
	}
	if (group_dead && (tctx || bpf_map_lookup_elem(&uring_tgids, &tgid))) {
		bpf_map_delete_elem(&uring_tgids, &tgid);
		if (!(ft_task_flags_raw(t) & PF_KTHREAD))
			report_exit_rings(t, tctx);
	}

	if (!bpf_map_lookup_elem(&tracked_tgids, &tgid))
		return 0;
	struct ft_event *e = event_new(FT_EV_TASK_EXIT);
	if (!e)
		return 0;
	if (group_dead)
		e->detail |= FT_EXIT_GROUP_DEAD;
	if ((e->task.flags & FT_TASK_LEADER) || group_dead)
		bpf_map_delete_elem(&tracked_tgids, &tgid);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

static __always_inline void umount_stash(__u64 upath, __u64 flags)
{
	struct call_args a = {};
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
	struct call_args a;
	if (take_stash(STASH_UMOUNT, &a))
		umount_done(a.a[0], a.a[1], ctx->ret);
	return 0;
}

#ifndef FT_READ_CAST
/* ---- fput family: shared logic for fentry and kprobe ---- */

/* Entry of fput/fput_close: remember final references on watched mounts. */
static __always_inline void on_fput_entry(__u64 file)
{
	struct file *f = (struct file *)file;
	if ((bpf_get_current_pid_tgid() >> 32) == self_tgid)
		return;
	if (!ft_file_is_last_ref(f))
		return;
	if (!mount_watched(ft_file_mnt_id(f)))
		return;
	stat_inc(FT_STAT_FINAL_FPUTS);
	struct inflight st = {};
	map_put(&inflight, &file, &st);
}

static __always_inline bool is_fput_work(__u64 work)
{
	if (!addr_task_work_fput)
		return false;
	return (__u64)BPF_CORE_READ((struct callback_head *)work, func) == addr_task_work_fput;
}

/* task_work_add(task, work, ...) entry: is a final fput queueing ____fput? */
static __always_inline bool on_task_work_add(__u64 work)
{
	if (!is_fput_work(work))
		return false;
	__u64 file = work - ft_file_task_work_offset();
	struct inflight *st = bpf_map_lookup_elem(&inflight, &file);
	if (!st)
		return false;
	st->task_work_seen = 1;
	return true;
}

static __always_inline void on_task_work_add_ret(__u64 work, long ret)
{
	if (!is_fput_work(work))
		return;
	__u64 file = work - ft_file_task_work_offset();
	struct inflight *st = bpf_map_lookup_elem(&inflight, &file);
	if (st && st->task_work_seen)
		st->task_work_ret = (__s32)ret;
}

/* Exit of fput/fput_close: a final fput that did not queue task work went to
 * the delayed_fput list (kernel thread, interrupt, or task past its task work). */
static __always_inline void on_fput_return(__u64 file)
{
	struct inflight *st = bpf_map_lookup_elem(&inflight, &file);
	if (!st)
		return;
	struct inflight s = *st;
	bpf_map_delete_elem(&inflight, &file);
	if (s.task_work_seen && s.task_work_ret == 0)
		return; /* runs on the way back to user space: normal traffic */

	stat_inc(FT_STAT_DEFERRED);
	struct ft_event *e = event_new(FT_EV_DEFERRED);
	if (!e)
		return;
	fill_file(e, file, true);
	if (e->task.flags & FT_TASK_KTHREAD)
		e->detail = FT_DEFER_KTHREAD;
	else if (s.task_work_seen)
		e->detail = FT_DEFER_TASK_WORK_FAILED;
	else
		e->detail = FT_DEFER_NO_TASK_WORK;
	e->ret = s.task_work_ret;
	__u8 one = 1;
	map_put(&tracked, &file, &one);
	bpf_ringbuf_submit(e, 0);
}

/* __fput entry: the mount reference is about to go. */
static __always_inline void on_final_release(__u64 file)
{
	if (!bpf_map_lookup_elem(&tracked, &file))
		return;
	bpf_map_delete_elem(&tracked, &file);
	struct ft_event *e = event_new(FT_EV_RELEASED);
	if (!e)
		return;
	fill_file(e, file, false);
	bpf_ringbuf_submit(e, 0);
}

/* aio_complete_rw(kiocb, res): an aio request on a watched file completed. */
static __always_inline void on_aio_complete(__u64 kiocb, long res)
{
	__u64 file = (__u64)BPF_CORE_READ((struct kiocb *)kiocb, ki_filp);
	if (!file || !bpf_map_lookup_elem(&tracked, &file))
		return;
	struct ft_event *e = event_new(FT_EV_AIO_DONE);
	if (!e)
		return;
	fill_file(e, file, false);
	e->req = kiocb;
	e->ret = res;
	bpf_ringbuf_submit(e, 0);
}

/* ---- fentry / fexit wrappers ---- */
SEC("fentry/fput")
int BPF_PROG(fentry_fput, struct file *file) { on_fput_entry((__u64)file); return 0; }
SEC("fexit/fput")
int BPF_PROG(fexit_fput, struct file *file) { on_fput_return((__u64)file); return 0; }
SEC("fentry/fput_close")
int BPF_PROG(fentry_fput_close, struct file *file) { on_fput_entry((__u64)file); return 0; }
SEC("fexit/fput_close")
int BPF_PROG(fexit_fput_close, struct file *file) { on_fput_return((__u64)file); return 0; }
SEC("fentry/__fput")
int BPF_PROG(fentry___fput, struct file *file) { on_final_release((__u64)file); return 0; }
SEC("fentry/task_work_add")
int BPF_PROG(fentry_task_work_add, struct task_struct *task, struct callback_head *work)
{
	on_task_work_add((__u64)work);
	return 0;
}
SEC("fexit/task_work_add")
int BPF_PROG(fexit_task_work_add, struct task_struct *task, struct callback_head *work,
	     int mode, int ret)
{
	on_task_work_add_ret((__u64)work, ret);
	return 0;
}
SEC("fentry/aio_complete_rw")
int BPF_PROG(fentry_aio_complete_rw, struct kiocb *iocb, long res)
{
	on_aio_complete((__u64)iocb, res);
	return 0;
}

/* ---- kprobe / kretprobe wrappers ---- */
static __always_inline void stash_arg(__u32 id, __u64 v)
{
	struct call_args a = {};
	__u64 key = stash_key(id);
	a.a[0] = v;
	map_put(&call_stash, &key, &a);
}

static __always_inline __u64 take_arg(__u32 id)
{
	__u64 key = stash_key(id);
	struct call_args *a = bpf_map_lookup_elem(&call_stash, &key);
	if (!a)
		return 0;
	__u64 v = a->a[0];
	bpf_map_delete_elem(&call_stash, &key);
	return v;
}

static __always_inline void kprobe_fput_entry(__u64 file)
{
	on_fput_entry(file);
	if (bpf_map_lookup_elem(&inflight, &file))
		stash_arg(STASH_FPUT, file);
}

static __always_inline void kprobe_fput_return(void)
{
	__u64 file = take_arg(STASH_FPUT);
	if (file)
		on_fput_return(file);
}

SEC("kprobe/fput")
int BPF_KPROBE(kprobe_fput, struct file *file) { kprobe_fput_entry((__u64)file); return 0; }
SEC("kretprobe/fput")
int BPF_KRETPROBE(kretprobe_fput) { kprobe_fput_return(); return 0; }
SEC("kprobe/fput_close")
int BPF_KPROBE(kprobe_fput_close, struct file *file) { kprobe_fput_entry((__u64)file); return 0; }
SEC("kretprobe/fput_close")
int BPF_KRETPROBE(kretprobe_fput_close) { kprobe_fput_return(); return 0; }
SEC("kprobe/__fput")
int BPF_KPROBE(kprobe___fput, struct file *file) { on_final_release((__u64)file); return 0; }
SEC("kprobe/task_work_add")
int BPF_KPROBE(kprobe_task_work_add, struct task_struct *task, struct callback_head *work)
{
	if (on_task_work_add((__u64)work))
		stash_arg(STASH_TWA, (__u64)work);
	return 0;
}
SEC("kretprobe/task_work_add")
int BPF_KRETPROBE(kretprobe_task_work_add, int ret)
{
	__u64 work = take_arg(STASH_TWA);
	if (work)
		on_task_work_add_ret(work, ret);
	return 0;
}
SEC("kprobe/aio_complete_rw")
int BPF_KPROBE(kprobe_aio_complete_rw, struct kiocb *iocb, long res)
{
	on_aio_complete((__u64)iocb, res);
	return 0;
}
/* ---- the same three syscalls through their x86-64 wrappers ----
 * Any enabled syscall tracepoint puts every syscall of every task on the slow
 * entry path; where the wrappers can be probed the collector uses these and
 * leaves the syscall tracepoints off. Arguments come from the saved user regs. */
#define SYS_ARG1(r) BPF_CORE_READ(r, di)
#define SYS_ARG2(r) BPF_CORE_READ(r, si)
#define SYS_ARG3(r) BPF_CORE_READ(r, dx)
#define SYS_ARG4(r) BPF_CORE_READ(r, r10)

SEC("fexit/__x64_sys_io_uring_register")
int BPF_PROG(fexit_sys_io_uring_register, const struct pt_regs *regs, long ret)
{
	register_done(SYS_ARG1(regs), SYS_ARG2(regs), SYS_ARG3(regs), SYS_ARG4(regs), ret);
	return 0;
}
SEC("fentry/__x64_sys_io_submit")
int BPF_PROG(fentry_sys_io_submit, const struct pt_regs *regs)
{
	io_submit_entry(SYS_ARG1(regs), (long)SYS_ARG2(regs), SYS_ARG3(regs));
	return 0;
}
SEC("fexit/__x64_sys_umount")
int BPF_PROG(fexit_sys_umount, const struct pt_regs *regs, long ret)
{
	umount_done(SYS_ARG1(regs), SYS_ARG2(regs), ret);
	return 0;
}

SEC("kprobe/__x64_sys_io_uring_register")
int BPF_KPROBE(kprobe_sys_io_uring_register, const struct pt_regs *regs)
{
	register_stash(SYS_ARG1(regs), SYS_ARG2(regs), SYS_ARG3(regs), SYS_ARG4(regs));
	return 0;
}
SEC("kretprobe/__x64_sys_io_uring_register")
int BPF_KRETPROBE(kretprobe_sys_io_uring_register, long ret)
{
	struct call_args a;
	if (take_stash(STASH_REGISTER, &a))
		register_done(a.a[0], a.a[1], a.a[2], a.a[3], ret);
	return 0;
}
SEC("kprobe/__x64_sys_io_submit")
int BPF_KPROBE(kprobe_sys_io_submit, const struct pt_regs *regs)
{
	io_submit_entry(SYS_ARG1(regs), (long)SYS_ARG2(regs), SYS_ARG3(regs));
	return 0;
}
SEC("kprobe/__x64_sys_umount")
int BPF_KPROBE(kprobe_sys_umount, const struct pt_regs *regs)
{
	umount_stash(SYS_ARG1(regs), SYS_ARG2(regs));
	return 0;
}
SEC("kretprobe/__x64_sys_umount")
int BPF_KRETPROBE(kretprobe_sys_umount, long ret)
{
	struct call_args a;
	if (take_stash(STASH_UMOUNT, &a))
		umount_done(a.a[0], a.a[1], ret);
	return 0;
}
#endif /* !FT_READ_CAST */
