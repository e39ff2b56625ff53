/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * io_submit and umount through their x86-64 syscall wrappers (fentry/kprobe).
 * Any enabled syscall tracepoint puts every syscall of every task on the slow
 * entry path; where the wrappers can be probed the collector uses these and
 * leaves the syscall tracepoints off. Arguments come from the saved user regs.
 */
#ifndef FPUTRACE_SYSCALLS_BPF_H
#define FPUTRACE_SYSCALLS_BPF_H

#include "aio.bpf.h"
#include "umount.bpf.h"

#define SYS_ARG1(r) BPF_CORE_READ(r, di)
#define SYS_ARG2(r) BPF_CORE_READ(r, si)
#define SYS_ARG3(r) BPF_CORE_READ(r, dx)

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
	struct ft_call_args a;
	if (take_stash(STASH_UMOUNT, &a))
		umount_done(a.a[0], a.a[1], ret);
	return 0;
}

#endif /* FPUTRACE_SYSCALLS_BPF_H */
