/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The fput family (fentry or kprobe backends): a final fput that cannot use
 * task work is seen as it happens; __fput reports the release.
 *
 * Cost per call, in order: fput reads the file's reference count and returns
 * unless it holds at most two references (one load and a compare: the fast
 * path of every non-final fput); then the kernel's own deferral test on the
 * current context (kernel thread flag, preempt count, task_works), so final
 * fputs of ordinary tasks, which run as task work and never pin, cost a few
 * loads more; only a deferral does a map lookup and sends a record. __fput
 * looks the file up in 'files' only while that map holds anything
 * (files_entries), then a per-CPU load tells whether delayed_fput is running.
 *
 * Two references at entry: another CPU may drop the other one at the same
 * moment and leave this call the last one. Such a deferral cannot be told at
 * entry; __fput catches it: a reported-nowhere file released by the
 * delayed_fput work (per-CPU flag set by the workqueue probes) was deferred,
 * and is sent as FT_DEFER_SEEN_AT_RELEASE, counted in FT_STAT_LATE_DEFERRALS.
 */
#ifndef FPUTRACE_FPUT_BPF_H
#define FPUTRACE_FPUT_BPF_H

#include "files.bpf.h"
#include "work.bpf.h"

static __always_inline void send_deferred(__u64 file, __u32 reason, __u64 since_ns)
{
	stat_inc(FT_STAT_DEFERRED);
	struct ft_event *e = event_new(FT_EV_DEFERRED);
	if (!e)
		return;
	if (since_ns)
		e->time_ns = since_ns;
	fill_file(e, file, true);
	fill_owner(e, file);
	mark_reported(file);
	e->detail = reason;
	submit_pin_record(e);
}

/* fput / fput_close entry, once the reference count said "maybe last". */
static __always_inline void on_maybe_final_fput(void *ctx, __u64 regs_sp, __u64 file, long refs)
{
	__u32 reason = deferral_reason(ctx, regs_sp);
	if (!reason || from_self())
		return;
	if (!file_watched(ft_as_file(file)))
		return;
	if (refs != 1)
		return; /* a concurrent drop may make it final: __fput will tell */
	stat_inc(FT_STAT_FINAL_FPUTS);
	send_deferred(file, reason, 0);
}

/* A final release run by delayed_fput whose fput was not seen as final. */
static __always_inline bool send_late_deferral(__u64 file)
{
	__u64 run_start = delayed_run_on_this_cpu();
	if (!run_start || !file_watched(ft_as_file(file)) || from_self())
		return false;
	stat_inc(FT_STAT_LATE_DEFERRALS);
	send_deferred(file, FT_DEFER_SEEN_AT_RELEASE, run_start);
	return true;
}

/* __fput entry: the mount reference is about to go. A late deferral (a final
 * fput that raced with another CPU's drop, so fput saw two references) is
 * sent before the file's entry is deleted: the entry holds its owner. */
static __always_inline void on_final_release(__u64 file)
{
	struct ft_file_state *st = files_lookup_if_any(&file);
	bool reported = (st && (st->flags & FS_REPORTED)) || send_late_deferral(file);
	/* send_deferred() marks the file reported, inserting an entry if it had
	 * none: delete it whichever way it came to exist. */
	if (st || reported)
		files_delete(&file);
	if (!reported)
		return; /* never reported: the collector has nothing to close */
	struct ft_event *e = event_new(FT_EV_RELEASED);
	if (!e)
		return;
	fill_file(e, file, false);
	bpf_ringbuf_submit(e, 0);
}

/* The fast path: at most two references, or nothing to do. regs_sp: the
 * probed function's stack pointer (pt_regs programs), else 0. */
static __always_inline int fput_entry(void *ctx, __u64 regs_sp, __u64 file, long refs)
{
	if (bench_empty_hooks)
		return 0;
	if (refs <= 2)
		on_maybe_final_fput(ctx, regs_sp, file, refs);
	return 0;
}

/* ---- fentry: the argument is BTF-typed, so the count is a plain load ---- */
SEC("fentry/fput")
int BPF_PROG(fentry_fput, struct file *file)
{
	return fput_entry(ctx, 0, (__u64)file, ft_file_refs_typed(file));
}

SEC("fentry/fput_close")
int BPF_PROG(fentry_fput_close, struct file *file)
{
	return fput_entry(ctx, 0, (__u64)file, ft_file_refs_typed(file));
}

SEC("fentry/__fput")
int BPF_PROG(fentry___fput, struct file *file)
{
	on_final_release((__u64)file);
	return 0;
}

/* ---- kprobe: where fentry cannot attach ---- */
SEC("kprobe/fput")
int BPF_KPROBE(kprobe_fput, struct file *file)
{
	return fput_entry(ctx, PT_REGS_SP(ctx), (__u64)file, ft_file_refs(ft_as_file((__u64)file)));
}

SEC("kprobe/fput_close")
int BPF_KPROBE(kprobe_fput_close, struct file *file)
{
	return fput_entry(ctx, PT_REGS_SP(ctx), (__u64)file, ft_file_refs(ft_as_file((__u64)file)));
}

SEC("kprobe/__fput")
int BPF_KPROBE(kprobe___fput, struct file *file)
{
	on_final_release((__u64)file);
	return 0;
}

/* ---- kprobe.multi (fprobe): the kprobe backend's cheaper entry where it loads ---- */
SEC("kprobe.multi/fput")
int BPF_KPROBE(kmulti_fput, struct file *file)
{
	return fput_entry(ctx, PT_REGS_SP(ctx), (__u64)file, ft_file_refs(ft_as_file((__u64)file)));
}

SEC("kprobe.multi/fput_close")
int BPF_KPROBE(kmulti_fput_close, struct file *file)
{
	return fput_entry(ctx, PT_REGS_SP(ctx), (__u64)file, ft_file_refs(ft_as_file((__u64)file)));
}

SEC("kprobe.multi/__fput")
int BPF_KPROBE(kmulti___fput, struct file *file)
{
	on_final_release((__u64)file);
	return 0;
}

#endif /* FPUTRACE_FPUT_BPF_H */
