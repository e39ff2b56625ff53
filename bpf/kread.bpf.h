/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Reading kernel memory, two ways.
 *
 * The same programs are built twice (see CMakeLists.txt):
 *  - FT_READ_CAST undefined ("kread" object): every read goes through
 *    bpf_probe_read_kernel (BPF_CORE_READ). Works from kprobes, fentry and
 *    tracepoints on every kernel that allows the helper (5.5+).
 *  - FT_READ_CAST defined ("cast" object): for kernels in lockdown
 *    "confidentiality" mode, where bpf_probe_read_kernel is withdrawn. Pointers
 *    are turned into typed, read-only BTF pointers with the bpf_rdonly_cast
 *    kfunc (6.2+) and read with plain loads, which the verifier turns into
 *    fault-safe PROBE_MEM loads.
 * The collector picks the object by asking the kernel which helper it allows.
 */
#ifndef FPUTRACE_KREAD_BPF_H
#define FPUTRACE_KREAD_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#ifdef FT_READ_CAST
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#define FT_CAST(type, ptr) \
	((type *)bpf_rdonly_cast((const void *)(ptr), bpf_core_type_id_kernel(type)))
#endif

/* Pre-6.13 kernels count file references in f_count, and pre-6.8 kernels keep
 * the task_work/llist nodes in the f_u union: CO-RE "flavors" describe them. */
struct file___old {
	atomic_long_t f_count;
} __attribute__((preserve_access_index));

struct file___oldtw {
	union {
		struct llist_node fu_llist;
		struct callback_head fu_rcuhead;
	} f_u;
} __attribute__((preserve_access_index));

/* 6.0 - 6.7: the union is anonymous and names the rcu_head f_rcuhead. */
struct file___rcu {
	struct callback_head f_rcuhead;
} __attribute__((preserve_access_index));

struct dentry___old {
	unsigned char d_iname[32];
} __attribute__((preserve_access_index));

/* Reads the 8-byte word at a kernel address. */
static __always_inline __u64 ft_read_u64(__u64 addr)
{
	__u64 val = 0;
#ifdef FT_READ_CAST
	/* Any kernel struct that starts with an 8-byte scalar does: rb_node. A
	 * pointer field (list_head.next) would come back typed as a pointer,
	 * which may not be passed to a global function. */
	struct rb_node *n = FT_CAST(struct rb_node, addr);
	val = n->__rb_parent_color;
#else
	bpf_probe_read_kernel(&val, sizeof(val), (const void *)addr);
#endif
	return val;
}

static __always_inline struct task_struct *ft_current_task(void)
{
#ifdef FT_READ_CAST
	return bpf_get_current_task_btf();
#else
	return (struct task_struct *)bpf_get_current_task();
#endif
}

static __always_inline __u32 ft_task_flags_raw(struct task_struct *t)
{
#ifdef FT_READ_CAST
	return t->flags;
#else
	return BPF_CORE_READ(t, flags);
#endif
}

/* The task's mount namespace as /proc/PID/ns/mnt names it (ns.inum); 0 once
 * exit_task_namespaces() has cleared nsproxy (a read of NULL yields 0). */
static __always_inline __u32 ft_task_mnt_ns(struct task_struct *t)
{
#ifdef FT_READ_CAST
	return t->nsproxy->mnt_ns->ns.inum;
#else
	return BPF_CORE_READ(t, nsproxy, mnt_ns, ns.inum);
#endif
}

static __always_inline struct file *ft_as_file(__u64 addr)
{
#ifdef FT_READ_CAST
	return FT_CAST(struct file, addr);
#else
	return (struct file *)addr;
#endif
}

static __always_inline __s32 ft_file_mnt_id(struct file *f)
{
	__u64 off = bpf_core_field_offset(struct mount, mnt);
#ifdef FT_READ_CAST
	struct vfsmount *vm = f->f_path.mnt;
	struct mount *m = FT_CAST(struct mount, (__u64)vm - off);
	return m->mnt_id;
#else
	struct vfsmount *vm = BPF_CORE_READ(f, f_path.mnt);
	struct mount *m = (struct mount *)((__u64)vm - off);
	return BPF_CORE_READ(m, mnt_id);
#endif
}

static __always_inline __u64 ft_file_ino(struct file *f)
{
#ifdef FT_READ_CAST
	return f->f_inode->i_ino;
#else
	return BPF_CORE_READ(f, f_inode, i_ino);
#endif
}

/* f->f_inode as a number: a file's identity, one load. */
static __always_inline __u64 ft_file_inode_addr(struct file *f)
{
#ifdef FT_READ_CAST
	return (__u64)f->f_inode;
#else
	return (__u64)BPF_CORE_READ(f, f_inode);
#endif
}

static __always_inline __u32 ft_file_dev(struct file *f)
{
#ifdef FT_READ_CAST
	return f->f_inode->i_sb->s_dev;
#else
	return BPF_CORE_READ(f, f_inode, i_sb, s_dev);
#endif
}

static __always_inline void *ft_file_private(struct file *f)
{
#ifdef FT_READ_CAST
	return f->private_data;
#else
	return BPF_CORE_READ(f, private_data);
#endif
}

/* How many references the file holds: f_ref (file_ref_t, 6.13+) stores
 * "references - 1" (negative once dead), f_count (older) the count itself. */
static __always_inline long ft_file_refs(struct file *f)
{
	if (bpf_core_field_exists(f->f_ref)) {
		long raw;
#ifdef FT_READ_CAST
		raw = f->f_ref.refcnt.counter;
#else
		raw = BPF_CORE_READ(f, f_ref.refcnt.counter);
#endif
		return raw < 0 ? 0 : raw + 1;
	}
	struct file___old *old = (void *)f;
#ifdef FT_READ_CAST
	old = FT_CAST(struct file___old, f);
	return old->f_count.counter;
#else
	return BPF_CORE_READ(old, f_count.counter);
#endif
}

/* The same from a BTF-typed pointer (fentry arguments): a plain load. */
static __always_inline long ft_file_refs_typed(struct file *f)
{
	if (bpf_core_field_exists(f->f_ref)) {
		long raw = f->f_ref.refcnt.counter;
		return raw < 0 ? 0 : raw + 1;
	}
	struct file___old *old = (void *)f;
	return old->f_count.counter;
}

#define FT_MNT_INTERNAL 0x4000 /* MNT_INTERNAL: kern_mount()ed, in no namespace */

/* A kernel-internal mount (pipefs, sockfs, anon_inodefs, aio...): its files
 * can never keep an umount busy. */
static __always_inline bool ft_file_mnt_internal(struct file *f)
{
	int flags;
#ifdef FT_READ_CAST
	flags = f->f_path.mnt->mnt_flags;
#else
	flags = BPF_CORE_READ(f, f_path.mnt, mnt_flags);
#endif
	return flags & FT_MNT_INTERNAL;
}

/* ---- the kernel's own test in fput: may this final fput use task work? ----
 * fput() queues ____fput as task work unless in_interrupt(), the task is a
 * kernel thread, or task_work_add() fails because the task is past
 * exit_task_work() (task_works == &work_exited, a static callback_head whose
 * func is NULL: a real queued work always has one). */

/* Interrupt context, found without the preempt count: reading it needs
 * __preempt_count (or pcpu_hot) as a typed ksym, which kernels without
 * CONFIG_KALLSYMS_ALL cannot resolve. An interrupt (and a softirq run from it
 * or from local_bh_enable, both on the per-CPU irq stack) runs on a stack
 * that is not the current task's. A program's context pointer usually lives
 * on the stack the probe fired on: the trampoline's frame (fentry), the saved
 * pt_regs (kprobe), the argument array (raw and BTF tracepoints). Not always:
 * kprobe.multi on arm64 (7.x) hands the program a per-CPU copy of the
 * registers (ftrace_partial_regs), so pt_regs programs also pass the probed
 * function's stack pointer as a second hint. So: is the context, or that
 * stack pointer, inside [task->stack, task->stack + THREAD_SIZE)? (The BPF
 * frame itself may be a private per-CPU stack on new kernels: not usable.)
 * Not caught: task code that merely has bottom halves disabled, which
 * in_interrupt() also counts. */
#define FT_THREAD_SIZE_MAX (32u << 10) /* 16 KiB, 32 KiB with KASAN */

static __always_inline bool ft_on_stack(__u64 stack_lo, __u64 addr)
{
	return addr > stack_lo && addr < stack_lo + FT_THREAD_SIZE_MAX;
}

static __always_inline bool ft_in_interrupt(struct task_struct *t, void *ctx, __u64 regs_sp)
{
	__u64 lo;
#ifdef FT_READ_CAST
	lo = (__u64)t->stack;
#else
	lo = (__u64)BPF_CORE_READ(t, stack);
#endif
	return !ft_on_stack(lo, (__u64)ctx) && !ft_on_stack(lo, regs_sp);
}

static __always_inline bool ft_task_works_closed(struct task_struct *t)
{
	struct callback_head *tw;
	void *func;
#ifdef FT_READ_CAST
	tw = t->task_works;
	if (!tw)
		return false;
	func = tw->func;
#else
	tw = BPF_CORE_READ(t, task_works);
	if (!tw)
		return false;
	func = BPF_CORE_READ(tw, func);
#endif
	return func == NULL;
}

/* Offset of the callback_head that fput hands to task_work_add; 0 if this
 * kernel's struct file has none we know. */
static __always_inline __u64 ft_file_task_work_offset(void)
{
	if (bpf_core_field_exists(struct file, f_task_work))
		return bpf_core_field_offset(struct file, f_task_work);
	if (bpf_core_field_exists(struct file___rcu, f_rcuhead))
		return bpf_core_field_offset(struct file___rcu, f_rcuhead);
	if (bpf_core_field_exists(struct file___oldtw, f_u.fu_rcuhead))
		return bpf_core_field_offset(struct file___oldtw, f_u.fu_rcuhead);
	return 0;
}

/* fd -> struct file in the current task's table; 0 if none. */
static __always_inline __u64 ft_fd_to_file(int fd)
{
	struct task_struct *t = ft_current_task();
	struct fdtable *fdt;
	__u64 arr;
	unsigned int max;

	if (fd < 0)
		return 0;
#ifdef FT_READ_CAST
	fdt = t->files->fdt;
	max = fdt->max_fds;
	arr = (__u64)fdt->fd;
#else
	fdt = BPF_CORE_READ(t, files, fdt);
	max = BPF_CORE_READ(fdt, max_fds);
	arr = (__u64)BPF_CORE_READ(fdt, fd);
#endif
	if ((unsigned int)fd >= max || !arr)
		return 0;
	return ft_read_u64(arr + (__u64)fd * 8);
}

/* ---- task exit: the exiting task's io_uring state and fd table ---- */

#define FT_ANON_INODE_FS_MAGIC 0x09041934

/* The 4-byte word at a kernel address (x86 is little-endian: the low half). */
static __always_inline __u32 ft_read_u32(__u64 addr)
{
	return (__u32)ft_read_u64(addr);
}

/* file->private_data as a plain number (a scalar in both builds). */
static __always_inline __u64 ft_file_private_addr(__u64 file)
{
	return ft_read_u64(file + bpf_core_field_offset(struct file, private_data));
}

/* task->io_uring (struct io_uring_task *), 0 if none or no CONFIG_IO_URING. */
static __always_inline __u64 ft_task_io_uring(struct task_struct *t)
{
	if (!bpf_core_field_exists(t->io_uring))
		return 0;
#ifdef FT_READ_CAST
	/* read as a number: a typed pointer may not be passed to global functions */
	return ft_read_u64((__u64)t + bpf_core_field_offset(struct task_struct, io_uring));
#else
	return (__u64)BPF_CORE_READ(t, io_uring);
#endif
}

/* True in the last thread of a thread group to exit: do_exit decrements
 * signal->live before the sched_process_exit tracepoint. */
static __always_inline bool ft_task_group_dead(struct task_struct *t)
{
#ifdef FT_READ_CAST
	return t->signal->live.counter == 0;
#else
	return BPF_CORE_READ(t, signal, live.counter) == 0;
#endif
}

/* The task's fd array (struct file *[max_fds]) and its size; 0 if none.
 * Returned as a number, for global functions. */
static __always_inline __u64 ft_task_fd_array(struct task_struct *t, __u32 *max)
{
	struct fdtable *fdt;
	__u64 arr;
#ifdef FT_READ_CAST
	fdt = t->files->fdt;
	*max = fdt->max_fds;
	arr = ft_read_u64((__u64)fdt + bpf_core_field_offset(struct fdtable, fd));
#else
	fdt = BPF_CORE_READ(t, files, fdt);
	*max = BPF_CORE_READ(fdt, max_fds);
	arr = (__u64)BPF_CORE_READ(fdt, fd);
#endif
	return arr;
}

/* An io_uring ring's file: an anon inode named "[io_uring]" (anon_inode_getfile
 * and anon_inode_create_getfile name the dentry so on every kernel). */
static __always_inline bool ft_file_is_io_uring(struct file *f)
{
	unsigned long magic;
	__u32 len;
	__u64 name;
#ifdef FT_READ_CAST
	magic = f->f_inode->i_sb->s_magic;
	struct dentry *d = f->f_path.dentry;
	len = d->d_name.len;
	name = (__u64)d->d_name.name;
#else
	magic = BPF_CORE_READ(f, f_inode, i_sb, s_magic);
	struct dentry *d = BPF_CORE_READ(f, f_path.dentry);
	len = BPF_CORE_READ(d, d_name.len);
	name = (__u64)BPF_CORE_READ(d, d_name.name);
#endif
	if (magic != FT_ANON_INODE_FS_MAGIC || len != 10 || !name)
		return false;
	/* "[io_urin" and "g]" as little-endian words */
	return ft_read_u64(name) == 0x6e6972755f6f695bULL &&
	       (ft_read_u64(name + 8) & 0xffff) == 0x5d67;
}

#endif /* FPUTRACE_KREAD_BPF_H */
