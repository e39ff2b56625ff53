/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * io_submit through the architecture's syscall wrapper (fentry/kprobe):
 * __x64_sys_io_submit on x86-64, __arm64_sys_io_submit on arm64, chosen by the
 * target arch this object is built for (-D__TARGET_ARCH_*; src/probe/plan.cpp
 * names the same function for the arch the collector is built for).
 * Any enabled syscall tracepoint puts every syscall of every task on the slow
 * entry path; where the wrappers can be probed the collector uses these and
 * leaves the syscall tracepoints off. Arguments come from the saved user regs,
 * read with libbpf's arch-neutral syscall accessors (arm64: orig_x0, regs[1], regs[2]).
 */
#ifndef FPUTRACE_SYSCALLS_BPF_H
#define FPUTRACE_SYSCALLS_BPF_H

#include "aio.bpf.h"

#if defined(__TARGET_ARCH_x86)
#define FT_SYSCALL_WRAPPER(name) "__x64_sys_" #name
#elif defined(__TARGET_ARCH_arm64)
#define FT_SYSCALL_WRAPPER(name) "__arm64_sys_" #name
#else
#error "syscall wrapper prefix unknown for this __TARGET_ARCH"
#endif

#ifdef FT_READ_CAST
/* Plain loads from the wrapper's struct pt_regs, typed by a cast. */
#define SYS_REGS(r) FT_CAST(struct pt_regs, r)
#if defined(__TARGET_ARCH_x86)
#define SYS_ARG1(r) (SYS_REGS(r)->di)
#define SYS_ARG2(r) (SYS_REGS(r)->si)
#define SYS_ARG3(r) (SYS_REGS(r)->dx)
#else /* arm64: x0 is the return value by now; the first argument is orig_x0 */
#define SYS_ARG1(r) (SYS_REGS(r)->orig_x0)
#define SYS_ARG2(r) (SYS_REGS(r)->regs[1])
#define SYS_ARG3(r) (SYS_REGS(r)->regs[2])
#endif
#else
#define SYS_ARG1(r) PT_REGS_PARM1_CORE_SYSCALL(r)
#define SYS_ARG2(r) PT_REGS_PARM2_CORE_SYSCALL(r)
#define SYS_ARG3(r) PT_REGS_PARM3_CORE_SYSCALL(r)
#endif

SEC("fentry/" FT_SYSCALL_WRAPPER(io_submit))
int BPF_PROG(fentry_sys_io_submit, const struct pt_regs *regs)
{
	io_submit_entry(SYS_ARG1(regs), (long)SYS_ARG2(regs), SYS_ARG3(regs));
	return 0;
}

SEC("kprobe/" FT_SYSCALL_WRAPPER(io_submit))
int BPF_KPROBE(kprobe_sys_io_submit, const struct pt_regs *regs)
{
	io_submit_entry(SYS_ARG1(regs), (long)SYS_ARG2(regs), SYS_ARG3(regs));
	return 0;
}

#endif /* FPUTRACE_SYSCALLS_BPF_H */
