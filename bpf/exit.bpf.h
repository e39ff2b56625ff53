/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Process exit: what the process leaves behind.
 *
 * When the last thread of a process exits (signal->live has dropped to 0;
 * sched_process_exit runs before exit_files, so the fd table is intact):
 *  - the files it claimed (proc_files) with io_uring requests still in flight
 *    are sent as FT_EV_PENDING_AT_EXIT, and every file it owned is marked
 *    "owner gone" so a later completion on a kernel thread is reported;
 *  - if it used io_uring, its rings (fd table and registered ring fds) have
 *    their fixed file tables read, for registrations fputrace did not see;
 *  - then one FT_EV_TASK_EXIT, if it left requests in flight or registered
 *    files behind (the model's pins for registered files start there).
 * Processes that never used io_uring or aio cost a few loads and one hash
 * lookup at their last thread's exit.
 */
#ifndef FPUTRACE_EXIT_BPF_H
#define FPUTRACE_EXIT_BPF_H

#include "io_uring.bpf.h"

/* Processes a thread of which exited holding io_uring state (task->io_uring)
 * while other threads lived on: their last thread scans for rings. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} uring_tgids SEC(".maps");
__s64 uring_tgids_count = 0; /* its entries: zero means no lookup at exit */

/* A ring found in the exiting task's fd table (global: verified once). */
__noinline int ft_report_exit_ring(__u64 file)
{
	if (!file || !ft_file_is_io_uring(ft_as_file(file)))
		return 0;
	__u64 ring = ft_file_private_addr(file);
	if (!ring)
		return 0;
	return report_ring_table(ring, 1);
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

#define FT_EXIT_FILE_STOP 1     /* ring buffer full */
#define FT_EXIT_FILE_MATTERS 2  /* pending requests sent, or a registered file */

/* One file the exiting process claimed (global: verified once). */
__noinline int ft_report_exit_file(__u32 tgid, __u64 file)
{
	if (!file)
		return 0;
	struct ft_file_state *st = bpf_map_lookup_elem(&files, &file);
	if (!st) {
		/* Listed but gone from the owners map: __fput removed it (fput
		 * probes), or, without them, the LRU map evicted it. Then what
		 * it knew is lost: say so, and report the exit anyway. */
		if (fput_backend != FT_BACKEND_TRACEPOINT)
			return 0;
		stat_inc(FT_STAT_MAP_FULL);
		return FT_EXIT_FILE_MATTERS;
	}
	if (st->origin.tgid != tgid)
		return 0;
	st->origin.flags |= FT_ORIGIN_GONE;
	if (st->origin.source == FT_SRC_URING_REG)
		return FT_EXIT_FILE_MATTERS;
	if (st->origin.source != FT_SRC_URING_REQ || st->inflight <= 0)
		return 0;
	struct ft_event *e = event_new(FT_EV_PENDING_AT_EXIT);
	if (!e)
		return FT_EXIT_FILE_STOP;
	fill_file(e, file, true);
	e->origin = st->origin;
	e->ring = st->origin.ring;
	e->ret = st->inflight;
	e->detail = st->origin.source;
	st->flags |= FS_REPORTED;
	note_ring(st->origin.ring);
	submit_pin_record(e);
	return FT_EXIT_FILE_MATTERS;
}

/* Returns true if the process left something behind: requests in flight or
 * registered files (the collector then hears of its exit). */
static __always_inline bool report_exit_files(__u32 tgid)
{
	if (proc_files_count <= 0)
		return false;
	struct ft_proc_files *pf = bpf_map_lookup_elem(&proc_files, &tgid);
	if (!pf)
		return false;
	bool matters = false;
	for (int i = 0; i < FT_PROC_FILES; i++) {
		int r = ft_report_exit_file(tgid, pf->file[i]);
		if (r == FT_EXIT_FILE_STOP)
			break;
		if (r == FT_EXIT_FILE_MATTERS)
			matters = true;
	}
	if (!bpf_map_delete_elem(&proc_files, &tgid))
		__sync_fetch_and_add(&proc_files_count, -1);
	return matters;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(tp_process_exit)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct task_struct *t = ft_current_task();
	bool group_dead = ft_task_group_dead(t);
	__u64 tctx = ft_task_io_uring(t);

	/* io_uring state of a thread whose process lives on: the process's
	 * last thread scans, even if it never used io_uring itself. */
	if (!group_dead) {
		if (tctx) {
			__u8 one = 1;
			if (!bpf_map_update_elem(&uring_tgids, &tgid, &one, BPF_NOEXIST))
				__sync_fetch_and_add(&uring_tgids_count, 1);
		}
		return 0;
	}
	bool owned = false;
	bool had_uring = tctx;
	if (uring_tgids_count > 0 && !bpf_map_delete_elem(&uring_tgids, &tgid)) {
		__sync_fetch_and_add(&uring_tgids_count, -1);
		had_uring = true;
	}
	if (had_uring) {
		if (!(ft_task_flags_raw(t) & PF_KTHREAD) && tgid != self_tgid)
			report_exit_rings(t, tctx); /* claims what it finds: before the files */
	}
	owned = report_exit_files(tgid);
	if (!owned)
		return 0;
	struct ft_event *e = event_new(FT_EV_TASK_EXIT);
	if (!e)
		return 0;
	e->detail = FT_EXIT_GROUP_DEAD;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

#endif /* FPUTRACE_EXIT_BPF_H */
