// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * fputrace BPF side: one object, one header per subsystem, each with its maps.
 *
 * Cost model: fput runs millions of times a second and io_uring does millions
 * of requests a second, so state stays in the kernel and records go to user
 * space only when a finding needs them (docs/model.md, "What the BPF side
 * sends", gives the per-call cost of each hot probe):
 *  - fput.bpf.h     fput / fput_close / __fput (fentry or kprobe backends)
 *  - io_uring.bpf.h requests (raw tracepoints) and fixed file tables
 *  - aio.bpf.h      io_submit claims, aio completions (tracepoint backend)
 *  - exit.bpf.h     what a process leaves behind when its last thread exits
 *  - work.bpf.h     delayed_fput runs and ring teardown (workqueue)
 *  - umount.bpf.h   umount results; syscalls.bpf.h: the syscall wrappers
 *  - locks.bpf.h    file locks refused while a deferred release holds them
 *  - blockdev.bpf.h block device opens refused while a filesystem claims it
 * The collector enables each program with bpf_program__set_autoload.
 */
#include "common.bpf.h"
#include "files.bpf.h"
#include "work.bpf.h"
#include "io_uring.bpf.h"
#include "aio.bpf.h"
#include "exit.bpf.h"
#include "umount.bpf.h"
#include "locks.bpf.h"
#include "fput.bpf.h"
#include "syscalls.bpf.h"
#include "blockdev.bpf.h"

char LICENSE[] SEC("license") = "GPL";
