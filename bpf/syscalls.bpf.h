/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * io_submit through its x86-64 syscall wrapper (fentry/kprobe).
 * Any enabled syscall tracepoint puts every syscall of every task on the slow
 * entry path; where the wrappers can be probed the collector uses these and
 * leaves the syscall tracepoints off. Arguments come from the saved user regs.
 */
#ifndef FPUTRACE_SYSCALLS_BPF_H
#define FPUTRACE_SYSCALLS_BPF_H

#include "aio.bpf.h"

#define SYS_ARG1(r) BPF_CORE_READ(r, di)
#define SYS_ARG2(r) BPF_CORE_READ(r, si)
#define SYS_ARG3(r) BPF_CORE_READ(r, dx)

SEC("fentry/__x64_sys_io_submit")
int BPF_PROG(fentry_sys_io_submit, const struct pt_regs *regs)
{
	io_submit_entry(SYS_ARG1(regs), (long)SYS_ARG2(regs), SYS_ARG3(regs));
	return 0;
}

SEC("kprobe/__x64_sys_io_submit")
int BPF_KPROBE(kprobe_sys_io_submit, const struct pt_regs *regs)
{
	io_submit_entry(SYS_ARG1(regs), (long)SYS_ARG2(regs), SYS_ARG3(regs));
	return 0;
}

#endif /* FPUTRACE_SYSCALLS_BPF_H */
