/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * aio.
 *
 * io_submit claims each iocb's file for the submitting task (no record). A
 * request holds its file until its completion, which for O_DIRECT I/O runs in
 * interrupt or kernel-thread context; the process's exit waits for its
 * requests (exit_aio, before sched_process_exit), so the last of them often
 * drops the file there and the release is deferred:
 *  - fentry/kprobe backends see that final fput itself (fput.bpf.h), and
 *    take the owner from the claim;
 *  - the tracepoint backend sees the completion through
 *    iomap:iomap_dio_complete (iomap filesystems: ext4, xfs, btrfs...) and
 *    sends FT_DEFER_AIO_COMPLETION when it holds the last references of both
 *    the request and the file in a context that cannot use task work.
 */
#ifndef FPUTRACE_AIO_BPF_H
#define FPUTRACE_AIO_BPF_H

#include "files.bpf.h"

/* One iocb of an io_submit call (global: verified once). 0 to go on, 1 to stop. */
__noinline int ft_claim_aio_iocb(__u64 ctx_id, __u64 uiocb_slot)
{
	__u64 uiocb = 0;
	__u32 fd = 0;
	if (bpf_probe_read_user(&uiocb, sizeof(uiocb), (void *)uiocb_slot))
		return 1;
	/* struct iocb: aio_data(8) aio_key(4) aio_rw_flags(4) opcode(2) prio(2) fildes(4) */
	if (bpf_probe_read_user(&fd, sizeof(fd), (void *)(uiocb + 20)))
		return 1;
	__u64 file = ft_fd_to_file((int)fd);
	if (!file || !file_watched(ft_as_file(file)))
		return 0;
	claim_file(file, FT_SRC_AIO, ctx_id, 0);
	return 0;
}

/* io_submit(ctx_id, nr, iocbpp) on entry: the iocbs name their fds. */
static __always_inline void io_submit_entry(__u64 ctx_id, long nr, __u64 iocbpp)
{
	if (from_self())
		return;
	if (nr > FT_MAX_FDS_PER_CALL) {
		stat_inc(FT_STAT_FD_SCAN_TRUNCATED);
		nr = FT_MAX_FDS_PER_CALL;
	}
	for (int i = 0; i < FT_MAX_FDS_PER_CALL; i++) {
		if (i >= nr)
			break;
		if (ft_claim_aio_iocb(ctx_id, iocbpp + i * 8))
			break;
	}
}

SEC("tracepoint/syscalls/sys_enter_io_submit")
int tp_enter_io_submit(struct trace_event_raw_sys_enter *ctx)
{
	io_submit_entry(ctx->args[0], (long)ctx->args[1], ctx->args[2]);
	return 0;
}

/* iomap_dio_complete(struct kiocb *iocb, int error, ssize_t ret): right
 * before the aio completion puts the request (and with it the file). */
SEC("raw_tp/iomap_dio_complete")
int raw_iomap_dio_complete(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 iocb = ctx->args[0];
	__u64 complete, file;
	int iocb_refs;
	if (!iocb || !addr_aio_complete_rw)
		return 0;
#ifdef FT_READ_CAST
	struct aio_kiocb *a = FT_CAST(struct aio_kiocb, iocb);
	complete = (__u64)a->rw.ki_complete;
	file = (__u64)a->rw.ki_filp;
	iocb_refs = a->ki_refcnt.refs.counter;
#else
	struct aio_kiocb *a = (struct aio_kiocb *)iocb;
	complete = (__u64)BPF_CORE_READ(a, rw.ki_complete);
	file = (__u64)BPF_CORE_READ(a, rw.ki_filp);
	iocb_refs = BPF_CORE_READ(a, ki_refcnt.refs.counter);
#endif
	/* An aio request (io_uring's kiocbs complete through task work) whose
	 * submission has already dropped its own reference. */
	if (complete != addr_aio_complete_rw || iocb_refs != 1 || !file)
		return 0;
	struct file *f = ft_as_file(file);
	if (ft_file_refs(f) != 1 || !file_watched(f) || from_self())
		return 0;
	__u32 reason = deferral_reason(ctx, 0);
	if (!reason)
		return 0;
	stat_inc(FT_STAT_DEFERRED);
	struct ft_event *e = event_new(FT_EV_DEFERRED);
	if (!e)
		return 0;
	fill_file(e, file, true);
	fill_owner(e, file);
	e->detail = FT_DEFER_AIO_COMPLETION;
	e->ret = reason;
	submit_pin_record(e);
	return 0;
}

#endif /* FPUTRACE_AIO_BPF_H */
