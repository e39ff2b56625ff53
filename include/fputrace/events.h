/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The one header shared by the BPF programs (bpf/) and the C++ collector (src/).
 * Everything here is plain C with fixed-width types so both sides agree on the
 * layout of every record that crosses the ring buffer.
 */
#ifndef FPUTRACE_EVENTS_H
#define FPUTRACE_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define FT_COMM_LEN 16
/* A file's path is sent as up to FT_PATH_DEPTH dentry names, leaf first, each
 * cut to FT_NAME_LEN bytes. Names are only read for the rare records that
 * describe a pin, never per fput. */
#define FT_PATH_DEPTH 6
#define FT_NAME_LEN 32
#define FT_UMOUNT_PATH_LEN 128
/* How many fds one io_uring_register or io_submit call is scanned for. */
#define FT_MAX_FDS_PER_CALL 64
/* At exit: how many fds of the exiting process are looked at for io_uring
 * rings, and how many fixed-file slots of each ring. */
#define FT_EXIT_MAX_FDS 256
#define FT_EXIT_MAX_RING_SLOTS 256

enum ft_event_type {
	FT_EV_RING_FILE = 1,     /* a file on a watched mount is in a ring's fixed file table */
	FT_EV_URING_REQ = 2,     /* (old logs only) an io_uring request took a file */
	FT_EV_URING_DONE = 3,    /* a request on a file whose owner has exited completed on a kernel thread */
	FT_EV_RING_EXIT = 4,     /* io_ring_exit_work started for a ring (kworker) */
	FT_EV_RING_EXIT_END = 5, /* ...and returned */
	FT_EV_AIO_SUBMIT = 6,    /* (old logs only) io_submit of an iocb on a watched file */
	FT_EV_AIO_DONE = 7,      /* (old logs only) aio_complete_rw for a watched file */
	FT_EV_DEFERRED = 8,      /* final fput left the task: queued on delayed_fput_list */
	FT_EV_RELEASED = 9,      /* __fput ran for a reported file: mount reference dropped */
	FT_EV_DELAYED_RUN = 10,  /* the delayed_fput work item started */
	FT_EV_DELAYED_RUN_END = 11,
	FT_EV_TASK_EXIT = 12,    /* the last thread of a process that owns files exited */
	FT_EV_UMOUNT = 13,       /* umount(2) returned */
	FT_EV_PENDING_AT_EXIT = 14, /* io_uring requests on a file in flight when their owner's process exited */
	FT_EV_LOCK_BUSY = 15,       /* a non-blocking file lock was refused (flock, OFD or POSIX lock) */
	FT_EV_BDEV_BUSY = 16,       /* opening a block device failed with EBUSY (it is claimed) */
	FT_EV_TYPE_MAX = 17,
};

/* Task context flags (ft_task.flags). */
enum ft_task_flags {
	FT_TASK_KTHREAD = 1u << 0,   /* PF_KTHREAD: kworker and friends */
	FT_TASK_EXITING = 1u << 1,   /* PF_EXITING */
	FT_TASK_IO_WORKER = 1u << 2, /* PF_IO_WORKER: io-wq / sqpoll thread */
	FT_TASK_LEADER = 1u << 3,    /* tid == tgid */
};

/* Why a deferred record was sent (ft_event.detail for FT_EV_DEFERRED). The
 * first three are the kernel's own test in fput, decided at fput entry. */
enum ft_defer_reason {
	FT_DEFER_KTHREAD = 1,          /* last fput from a kernel thread */
	FT_DEFER_NO_TASK_WORK = 2,     /* interrupt context: no task work possible */
	FT_DEFER_TASK_WORK_FAILED = 3, /* task past exit_task_work (task_works == &work_exited) */
	FT_DEFER_SEEN_AT_RELEASE = 4,  /* missed at fput (it raced with another CPU's drop):
					* __fput ran from the delayed_fput work; time_ns is
					* when that run started */
	FT_DEFER_AIO_COMPLETION = 5,   /* (tracepoint backend) an aio completion in interrupt or
					* kernel-thread context held the last reference */
};

/* Who a file belongs to, from the kernel-side owners map (ft_event.origin). */
enum ft_source {
	FT_SRC_NONE = 0,       /* no owner known */
	FT_SRC_URING_REQ = 1,  /* took it for an io_uring request */
	FT_SRC_URING_REG = 2,  /* it is in a ring's fixed file table */
	FT_SRC_AIO = 3,        /* submitted an aio iocb on it */
};

enum ft_origin_flags {
	FT_ORIGIN_AT_EXIT = 1u << 0, /* found in a ring's table at exit, registration not seen */
	FT_ORIGIN_GONE = 1u << 1,    /* the owner's process has exited */
	FT_ORIGIN_NO_COMPLETIONS = 1u << 2, /* this kernel's completion tracepoint does not name
					     * the request: in-flight counts only ever grow */
};

struct ft_origin {
	__u32 tgid;
	__u32 tid;
	__u32 source; /* enum ft_source */
	__u32 flags;  /* enum ft_origin_flags */
	__u64 ring;   /* io_ring_ctx address or aio context id */
	__u64 time_ns;
	char comm[FT_COMM_LEN];
	__u64 cgroup_id; /* cgroup2 id (bpf_get_current_cgroup_id) when it claimed the file */
	__u32 mntns;     /* its mount namespace (ns.inum, as /proc/PID/ns/mnt); 0: unknown */
	__u32 pad;
};

/* ft_event.detail for FT_EV_RING_FILE. */
enum ft_ring_file_detail {
	/* Found in the ring's fixed file table when the last thread of the ring's
	 * process exited (the registration itself was not seen): ret = -1 (no
	 * fd), user_data = the fixed-file slot. */
	FT_RING_FILE_AT_EXIT = 1u << 0,
};

/* ft_event.detail for FT_EV_TASK_EXIT. */
enum ft_task_exit_detail {
	FT_EXIT_GROUP_DEAD = 1u << 0, /* the last thread of its process: the process is gone */
};

/* ft_event.detail for FT_EV_PENDING_AT_EXIT: enum ft_source of the requests. */

/* Backend that produced a record (ft_event.backend). */
enum ft_backend {
	FT_BACKEND_TRACEPOINT = 0,
	FT_BACKEND_FENTRY = 1,
	FT_BACKEND_KPROBE = 2,
};

struct ft_task {
	__u32 tgid;
	__u32 tid;
	__u32 flags;
	__u32 mntns;     /* mount namespace inode (ns.inum); 0: none left (late in exit) */
	__u64 cgroup_id; /* cgroup2 id: the inode number of its directory */
	char comm[FT_COMM_LEN];
};

enum ft_file_flags {
	FT_FILE_DESCRIBED = 1u << 0,      /* names[] and mnt_names[] were filled */
	FT_FILE_PATH_TRUNCATED = 1u << 1, /* deeper than FT_PATH_DEPTH */
	FT_FILE_MNT_TRUNCATED = 1u << 2,
	/* The mount is in no namespace: detached by umount -l (or never
	 * attached: open_tree, fsmount); mnt_names[] then stops at it ("/"). */
	FT_FILE_MNT_DETACHED = 1u << 3,
};

struct ft_file {
	__u64 ptr;    /* struct file address: the identity that links records */
	__u64 ino;
	__u32 dev;    /* superblock s_dev */
	__s32 mnt_id; /* struct mount mnt_id, as in /proc/PID/mountinfo */
	char names[FT_PATH_DEPTH][FT_NAME_LEN]; /* dentry names, leaf first; "" ends */
	__u32 flags; /* enum ft_file_flags */
	/* The mount namespace mnt_names[] holds in: the mount's own (the walk
	 * ends at that namespace's root mount); 0 if the mount is in none. */
	__u32 mnt_ns;
	/* The mount point of the file's mount, leaf first, as the kernel names
	 * it: the collector need not find the mount in /proc before it is gone. */
	char mnt_names[FT_PATH_DEPTH][FT_NAME_LEN];
};

struct ft_event {
	__u32 type;    /* enum ft_event_type */
	__u32 backend; /* enum ft_backend of the probe that fired */
	__u64 time_ns; /* bpf_ktime_get_ns: CLOCK_MONOTONIC */
	struct ft_task task; /* current task when the probe fired */
	struct ft_file file;
	__u64 ring;      /* io_ring_ctx address (io_uring records) or aio ctx id */
	__u64 req;       /* io_kiocb / user iocb address */
	__u64 user_data; /* io_uring user_data */
	__s64 ret;       /* umount / completion result */
	__u32 detail;    /* per type: enum ft_defer_reason, umount flags, ft_ring_file_detail,
			  * ft_task_exit_detail */
	__u32 pad;
	char path[FT_UMOUNT_PATH_LEN]; /* umount target as passed by the caller */
	struct ft_origin origin;       /* FT_EV_DEFERRED, _PENDING_AT_EXIT, _URING_DONE,
					* _RING_FILE: the file's owner as the kernel side knew it */
};

/* A umount(2) result: its own record (sent on the control ring buffer). */
#define FT_UMOUNT_CHILDREN 8

enum ft_umount_info {
	FT_UMOUNT_MOUNT_KNOWN = 1u << 0,  /* the mount was identified in the kernel (path_umount) */
	FT_UMOUNT_REFS_KNOWN = 1u << 1,   /* refs holds mnt_get_count() at the EBUSY */
	FT_UMOUNT_CWD_KNOWN = 1u << 2,    /* cwd_names holds the caller's working directory */
	FT_UMOUNT_MNT_TRUNCATED = 1u << 3,
	FT_UMOUNT_CWD_TRUNCATED = 1u << 4,
	FT_UMOUNT_CHILDREN_TRUNCATED = 1u << 5, /* more children than FT_UMOUNT_CHILDREN */
};

struct ft_umount_event {
	__u32 type;    /* FT_EV_UMOUNT */
	__u32 backend;
	__u64 time_ns;
	struct ft_task task; /* the caller */
	__s64 ret;
	__u32 flags; /* umount flags (MNT_FORCE, MNT_DETACH...) */
	__u32 info;  /* enum ft_umount_info */
	char path[FT_UMOUNT_PATH_LEN]; /* as the caller passed it ("" if not read) */
	/* The mount, as path_umount saw it (FT_UMOUNT_MOUNT_KNOWN). */
	__u64 mnt_unique; /* mnt_id_unique (6.8+), else the struct mount address */
	__s32 mnt_id;
	__u32 mnt_ns;   /* inode of the mount's namespace */
	__s64 refs;     /* FT_UMOUNT_REFS_KNOWN: the kernel's count on the mount */
	__u32 nr_children;
	__u32 pad;
	__s32 child_ids[FT_UMOUNT_CHILDREN];
	char child_names[FT_UMOUNT_CHILDREN][FT_NAME_LEN]; /* leaf of each child's mount point */
	char mnt_names[FT_PATH_DEPTH][FT_NAME_LEN];        /* the mount point, leaf first */
	/* The caller's working directory, leaf first (FT_UMOUNT_CWD_KNOWN): a
	 * relative path is resolved against it. */
	char cwd_names[FT_PATH_DEPTH][FT_NAME_LEN];
};

/* A file lock refused with EAGAIN/EWOULDBLOCK: its own record (control ring
 * buffer), with the locks that conflicted. A lock lives on its file (flock,
 * OFD) until __fput's locks_remove_file: a deferred release keeps it. */
#define FT_LOCK_HOLDERS 4

enum ft_lock_kind {
	FT_LOCK_FLOCK = 1, /* flock(2) */
	FT_LOCK_OFD = 2,   /* fcntl F_OFD_SETLK: owned by the open file */
	FT_LOCK_POSIX = 3, /* fcntl F_SETLK: owned by the process's file table */
};

enum ft_lock_info {
	FT_LOCK_HOLDERS_TRUNCATED = 1u << 0, /* more conflicting locks than FT_LOCK_HOLDERS */
	FT_LOCK_LIST_UNKNOWN = 1u << 1,      /* this kernel's lock layout is not known: no holders */
};

struct ft_lock_holder {
	__u64 file;  /* the struct file the conflicting lock lives on */
	__u64 ino;
	__u32 pid;   /* the lock's fl_pid: the process that took it */
	__u32 kind;  /* enum ft_lock_kind */
	__u32 type;  /* F_RDLCK 0, F_WRLCK 1 */
	__s32 mnt_id;
	__u32 has_origin; /* origin holds the kernel side's owner of the file */
	__u32 pad;
	struct ft_origin origin;
};

struct ft_lock_event {
	__u32 type;    /* FT_EV_LOCK_BUSY */
	__u32 backend;
	__u64 time_ns;
	struct ft_task task; /* the caller whose lock was refused */
	struct ft_file file; /* the caller's file, described */
	__s64 ret;           /* -EAGAIN */
	__u32 kind;          /* enum ft_lock_kind of the request */
	__u32 lock_type;     /* F_RDLCK 0, F_WRLCK 1 */
	__u32 info;          /* enum ft_lock_info */
	__u32 nr_holders;    /* conflicting locks seen (may exceed FT_LOCK_HOLDERS) */
	struct ft_lock_holder holders[FT_LOCK_HOLDERS];
};

/* An open of a block device refused with EBUSY (blkdev_open): the device is
 * claimed, by a filesystem that lives on (a detached mount held by a deferred
 * release) or by another exclusive opener. Control ring buffer. */
struct ft_bdev_event {
	__u32 type;    /* FT_EV_BDEV_BUSY */
	__u32 backend;
	__u64 time_ns;
	struct ft_task task; /* the opener */
	struct ft_file file; /* the device node it opened, described */
	__s64 ret;           /* -EBUSY */
	__u32 rdev;          /* the device (kernel dev_t: major << 20 | minor) */
	__u32 f_flags;       /* the open's flags (O_EXCL: an exclusive claim) */
};

/* Counters the BPF side keeps so that nothing is lost silently. */
enum ft_stat {
	FT_STAT_RINGBUF_DROPS = 0, /* bpf_ringbuf_reserve failed: collector too slow */
	FT_STAT_MAP_FULL = 1,      /* a tracking map refused an item: it went untracked */
	FT_STAT_FINAL_FPUTS = 2,   /* final fputs on watched mounts seen leaving their task */
	FT_STAT_DEFERRED = 3,      /* deferred records sent (all reasons) */
	FT_STAT_FD_SCAN_TRUNCATED = 4, /* more fds / ring slots / files per process than scanned */
	FT_STAT_RING_LAYOUT_UNKNOWN = 5, /* a ring found at exit: fixed file table layout unknown */
	FT_STAT_FILES_INSERTED = 6, /* entries added to the owners map (LRU) */
	FT_STAT_FILES_DELETED = 7,  /* entries removed from it by __fput, or replaced by a new file at the address */
	FT_STAT_LATE_DEFERRALS = 8, /* deferrals only seen at release (FT_DEFER_SEEN_AT_RELEASE) */
	FT_STAT_URING_REQUESTS = 9, /* io_uring requests on watched files counted in the kernel */
	FT_STAT_MAX = 10,
};

#endif /* FPUTRACE_EVENTS_H */
