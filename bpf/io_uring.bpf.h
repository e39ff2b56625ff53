/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * io_uring.
 *
 * Requests: io_uring_file_get (an fget for a request) claims the file for the
 * submitting task and counts it in flight; io_uring_complete counts it done.
 * Raw tracepoints, so no event buffer is filled per request; the argument
 * positions come from this kernel's BTF (the collector reads them). Nothing
 * is sent per request. A record goes out when a request completes on a
 * kernel thread after its owner's process has exited (FT_EV_URING_DONE);
 * pending requests at exit are sent by the exit scan (exit.bpf.h).
 *
 * Registered (fixed) files: io_uring:io_uring_register (not a syscall
 * tracepoint: no slow path for other syscalls) reads the ring's fixed file
 * table after every file registration or update, whatever the opcode, and
 * sends each file on a watched mount not sent before (FT_EV_RING_FILE). The
 * exit scan reads the same table for rings whose registration fputrace did
 * not see (it started later, or files were installed by requests).
 *
 * Fixed file table layouts (CO-RE flavors; the newest is in vmlinux.h):
 *  - 6.13+: ctx->file_table.data.{nr, nodes}: struct io_rsrc_node *[nr],
 *    node->file_ptr with flag bits;
 *  - 5.15 - 6.12 (and Debian's 5.10, which carries the 5.15 io_uring):
 *    ctx->file_table.files: struct io_fixed_file { unsigned long file_ptr; }
 *    [ctx->nr_user_files], flag bits in file_ptr;
 *  - 5.5 - 5.11: ctx->file_data->table[i >> 9].files[i & 511] (struct file *),
 *    ctx->nr_user_files.
 * Anything else is counted in FT_STAT_RING_LAYOUT_UNKNOWN and skipped.
 */
#ifndef FPUTRACE_IO_URING_BPF_H
#define FPUTRACE_IO_URING_BPF_H

#include "files.bpf.h"

#define FT_REQ_F_FIXED_FILE 1ULL /* REQ_F_FIXED_FILE: bit 0 (IOSQE_FIXED_FILE_BIT) on every kernel */

#define IORING_REGISTER_FILES 2
#define IORING_REGISTER_FILES_UPDATE 6
#define IORING_REGISTER_FILES2 13
#define IORING_REGISTER_FILES_UPDATE2 14

/* Fixed files already sent, so neither a later update nor the scan at exit
 * sends them again. LRU: unregistrations are not traced. Rings and files are
 * freed and their addresses come back (slab reuse is last-in, first-out): a
 * new ring at a dead ring's address, given a file at the address of one of
 * the dead ring's files, must not pass for "sent already", or a real pin goes
 * unreported. So an entry names the ring's serial (which ring lived at that
 * address) and the file's inode, not just the two addresses. */
struct ft_registration {
	__u64 ring;
	__u64 ring_serial;
	__u64 inode;
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* struct file address */
	__type(value, struct ft_registration);
} registered SEC(".maps");

/* ring address -> serial, given when the ring is created (or first met, for
 * rings older than the trace). LRU: an evicted ring gets a new serial, so its
 * files are sent again rather than wrongly taken as sent. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} ring_serials SEC(".maps");

/* A ring's serial is the time it was given: two rings cannot live at one
 * address at the same instant, so it tells them apart. (Not a fetch-and-add
 * counter: 5.10's verifier has no atomic fetch.) */
static __always_inline __u64 new_ring_serial(void)
{
	return bpf_ktime_get_ns();
}

/* The serial of the ring living at this address: 0 if none could be given. */
static __always_inline __u64 ring_serial(__u64 ring)
{
	__u64 *serial = bpf_map_lookup_elem(&ring_serials, &ring);
	if (serial)
		return *serial;
	__u64 fresh = new_ring_serial();
	bpf_map_update_elem(&ring_serials, &ring, &fresh, BPF_NOEXIST);
	serial = bpf_map_lookup_elem(&ring_serials, &ring);
	return serial ? *serial : 0;
}

/* io_uring_create(fd, ctx, sq_entries, cq_entries, flags): a ring is born,
 * maybe at the address of one that died. Rare: a classic tracepoint. */
SEC("tracepoint/io_uring/io_uring_create")
int tp_io_uring_create(struct trace_event_raw_io_uring_create *ctx)
{
	__u64 ring = (__u64)ctx->ctx;
	__u64 fresh = new_ring_serial();
	bpf_map_update_elem(&ring_serials, &ring, &fresh, BPF_ANY);
	return 0;
}

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


/* One fixed-file slot of a ring (global: verified once). at_exit: found by
 * the exit scan rather than right after a registration. 0 to go on, 1 to stop. */
__noinline int ft_report_ring_slot(__u64 ring, __u32 slot, int at_exit)
{
	__u64 file = ft_ring_slot_file(ring, slot);
	if (!file || !file_watched(ft_as_file(file)))
		return 0;
	struct ft_registration reg = {
		.ring = ring,
		.ring_serial = ring_serial(ring),
		.inode = ft_file_inode_addr(ft_as_file(file)),
	};
	struct ft_registration *known = bpf_map_lookup_elem(&registered, &file);
	if (known && reg.ring_serial && known->ring == ring && known->ring_serial == reg.ring_serial &&
	    known->inode == reg.inode)
		return 0; /* sent already */
	struct ft_event *e = event_new(FT_EV_RING_FILE);
	if (!e)
		return 1;
	fill_file(e, file, true);
	e->ring = ring;
	e->ret = -1;
	e->user_data = slot;
	e->detail = at_exit ? FT_RING_FILE_AT_EXIT : 0;
	struct ft_file_state *st = claim_file(file, FT_SRC_URING_REG, ring,
					   at_exit ? FT_ORIGIN_AT_EXIT : 0);
	if (st) {
		st->flags |= FS_REPORTED;
		e->origin = st->origin;
	}
	note_ring(ring);
	map_put(&registered, &file, &reg);
	submit_pin_record(e);
	return 0;
}

/* Every slot of a ring's fixed file table, up to FT_EXIT_MAX_RING_SLOTS.
 * Returns 1 to stop scanning (ring buffer full). */
static __always_inline int report_ring_table(__u64 ring, int at_exit)
{
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
		if (ft_report_ring_slot(ring, i, at_exit))
			return 1;
	}
	return 0;
}

/* io_uring_register(ctx, opcode, nr_files, nr_bufs, [eventfd,] ret), after
 * the registration: rare, so a classic tracepoint. */
SEC("tracepoint/io_uring/io_uring_register")
int tp_io_uring_register(struct trace_event_raw_io_uring_register *ctx)
{
	__u32 op = ctx->opcode;
	if (ctx->ret < 0 || from_self())
		return 0;
	if (op != IORING_REGISTER_FILES && op != IORING_REGISTER_FILES2 &&
	    op != IORING_REGISTER_FILES_UPDATE && op != IORING_REGISTER_FILES_UPDATE2)
		return 0;
	report_ring_table((__u64)ctx->ctx, 0);
	return 0;
}

/* ---- requests ---- */

/* Raw tracepoint arguments by fixed position, as separate loads: the
 * compiler would otherwise merge the positions chosen by a .rodata constant
 * into one variable-offset context load, which the verifier refuses. */
static __always_inline __u64 raw_arg1(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 v;
	asm volatile("%0 = *(u64 *)(%1 + 8)" : "=r"(v) : "r"(ctx));
	return v;
}

static __always_inline __u64 raw_arg3(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 v;
	asm volatile("%0 = *(u64 *)(%1 + 24)" : "=r"(v) : "r"(ctx));
	return v;
}

static __always_inline __u64 req_ring(__u64 req)
{
#ifdef FT_READ_CAST
	return (__u64)FT_CAST(struct io_kiocb, req)->ctx;
#else
	return (__u64)BPF_CORE_READ((struct io_kiocb *)req, ctx);
#endif
}

/* io_uring_file_get: (req, fd) 6.3+, (ctx, req, user_data, fd) 5.18 - 6.2,
 * (ctx, fd) before. The fd is in the submitter's table. */
SEC("raw_tp/io_uring_file_get")
int raw_io_uring_file_get(struct bpf_raw_tracepoint_args *ctx)
{
	int fd;
	if (bench_empty_hooks)
		return 0;
	if (file_get_fd_arg == 1)
		fd = (int)raw_arg1(ctx);
	else if (file_get_fd_arg == 3)
		fd = (int)raw_arg3(ctx);
	else
		return 0;
	__u64 file = ft_fd_to_file(fd);
	if (!file)
		return 0;
	__u64 ring = ctx->args[0];
	if (file_get_req_first)
		ring = req_ring(ring);
	struct ft_file_state *st = claim_file(file, FT_SRC_URING_REQ, ring,
					   complete_req_arg < 0 ? FT_ORIGIN_NO_COMPLETIONS : 0);
	if (!st)
		return 0;
	__sync_fetch_and_add(&st->inflight, 1);
	stat_inc(FT_STAT_URING_REQUESTS);
	return 0;
}

static __always_inline void read_req(__u64 req, __u64 *file, __u64 *flags)
{
#ifdef FT_READ_CAST
	struct io_kiocb *r = FT_CAST(struct io_kiocb, req);
	*file = (__u64)r->file;
	*flags = r->flags;
#else
	struct io_kiocb *r = (struct io_kiocb *)req;
	*file = (__u64)BPF_CORE_READ(r, file);
	*flags = BPF_CORE_READ(r, flags);
#endif
}

/* io_uring_complete: (ctx, req, ...) 5.18+. A request that took its file with
 * fget (not a fixed file) is done with it. */
SEC("raw_tp/io_uring_complete")
int raw_io_uring_complete(struct bpf_raw_tracepoint_args *ctx)
{
	if (bench_empty_hooks || complete_req_arg != 1)
		return 0;
	__u64 req = raw_arg1(ctx), file = 0, flags = 0;
	if (!req)
		return 0;
	read_req(req, &file, &flags);
	if (!file || (flags & FT_REQ_F_FIXED_FILE))
		return 0;
	struct ft_file_state *st = bpf_map_lookup_elem(&files, &file);
	if (!st)
		return 0;
	__sync_fetch_and_add(&st->inflight, -1);
	if (!(st->origin.flags & FT_ORIGIN_GONE))
		return 0;
	/* The owner is gone: a completion on a kernel thread (the ring's exit
	 * work, or its fallback) drops the file there: deferred. */
	struct task_struct *t = ft_current_task();
	if (!(ft_task_flags_raw(t) & PF_KTHREAD))
		return 0;
	struct ft_event *e = event_new(FT_EV_URING_DONE);
	if (!e)
		return 0;
	fill_file(e, file, true);
	e->origin = st->origin;
	st->flags |= FS_REPORTED;
	e->ring = req_ring(req);
	e->req = req;
	submit_pin_record(e);
	return 0;
}

#endif /* FPUTRACE_IO_URING_BPF_H */
