/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Work items: the delayed_fput work (it runs __fput for every deferred file)
 * and io_ring_exit_work (a ring's teardown on a kworker), seen through the
 * workqueue tracepoints (tp_btf: typed, so work->func is a plain load, also
 * under lockdown) with every backend, matched
 * against the functions' addresses from /proc/kallsyms. Every work item of
 * the system passes here, so the common case is two compares at its start and
 * a per-CPU load and a global load at its end.
 */
#ifndef FPUTRACE_WORK_BPF_H
#define FPUTRACE_WORK_BPF_H

#include "files.bpf.h"

/* Per CPU: the start time of the delayed_fput run going on here, or 0. */
struct ft_cpu_state {
	__u64 delayed_run_start;
	__u64 delayed_run_work;
	__u8 delayed_run_sent; /* its start was reported: report its end */
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ft_cpu_state);
} cpu_state SEC(".maps");

/* io_ring_exit_work items running, for their end (the end tracepoint of old
 * kernels does not name the function). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u64);
} running_ring_exits SEC(".maps");

/* Entries in running_ring_exits: while it is zero (no ring teardown of a
 * reported ring is running, nearly always) the end of a work item does not
 * look the work up. */
__s64 running_ring_exits_count = 0;

/* pin_serial when a delayed_fput run was last reported. */
__u64 pin_serial_reported = 0;

static __always_inline struct ft_cpu_state *this_cpu_state(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&cpu_state, &zero);
}

static __always_inline __u64 delayed_run_on_this_cpu(void)
{
	struct ft_cpu_state *cs = this_cpu_state();
	return cs ? cs->delayed_run_start : 0;
}

static __always_inline void report_work(__u32 type, __u64 work, __u64 ring)
{
	struct ft_event *e = event_new(type);
	if (!e)
		return;
	e->ring = ring;
	e->req = work;
	bpf_ringbuf_submit(e, 0);
}

/* A delayed_fput run is reported only if a record that may have started a
 * pin went out since the last one: on the tracepoint backend its end
 * releases those pins (inferred). */
static __always_inline void delayed_run_start(__u64 work)
{
	struct ft_cpu_state *cs = this_cpu_state();
	if (!cs)
		return;
	cs->delayed_run_start = bpf_ktime_get_ns();
	cs->delayed_run_work = work;
	cs->delayed_run_sent = 0;
	__u64 serial = pin_serial;
	if (serial == pin_serial_reported)
		return;
	pin_serial_reported = serial;
	cs->delayed_run_sent = 1;
	report_work(FT_EV_DELAYED_RUN, work, 0);
}

static __always_inline bool delayed_run_end(__u64 work)
{
	struct ft_cpu_state *cs = this_cpu_state();
	if (!cs || !cs->delayed_run_start || cs->delayed_run_work != work)
		return false;
	cs->delayed_run_start = 0;
	if (cs->delayed_run_sent)
		report_work(FT_EV_DELAYED_RUN_END, work, 0);
	return true;
}

static __always_inline void ring_exit_start(__u64 work)
{
	__u64 ring = work - bpf_core_field_offset(struct io_ring_ctx, exit_work);
	if (!bpf_map_lookup_elem(&known_rings, &ring))
		return;
	if (!map_put(&running_ring_exits, &work, &ring))
		__sync_fetch_and_add(&running_ring_exits_count, 1);
	report_work(FT_EV_RING_EXIT, work, ring);
}

static __always_inline void ring_exit_end(__u64 work)
{
	if (running_ring_exits_count <= 0)
		return;
	__u64 *ring = bpf_map_lookup_elem(&running_ring_exits, &work);
	if (!ring)
		return;
	__u64 r = *ring;
	if (!bpf_map_delete_elem(&running_ring_exits, &work))
		__sync_fetch_and_add(&running_ring_exits_count, -1);
	/* The exit work dropped the ring's files onto the delayed_fput list:
	 * the next run releases them (on the tracepoint backend that run's
	 * report is the only sign of it), so it must be reported. */
	__sync_fetch_and_add(&pin_serial, 1);
	report_work(FT_EV_RING_EXIT_END, work, r);
}

SEC("tp_btf/workqueue_execute_start")
int BPF_PROG(tp_work_start, struct work_struct *work)
{
	__u64 fn = (__u64)work->func;
	if (!fn)
		return 0;
	if (fn == addr_delayed_fput)
		delayed_run_start((__u64)work);
	else if (fn == addr_ring_exit_work)
		ring_exit_start((__u64)work);
	return 0;
}

/* workqueue_execute_end(work[, function]): the work may be freed by now
 * (io_ring_exit_work frees the ring it lives in): only its address is used. */
SEC("tp_btf/workqueue_execute_end")
int BPF_PROG(tp_work_end, struct work_struct *work)
{
	if (delayed_run_end((__u64)work))
		return 0;
	ring_exit_end((__u64)work);
	return 0;
}

#endif /* FPUTRACE_WORK_BPF_H */
