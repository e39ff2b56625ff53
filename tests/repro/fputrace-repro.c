// SPDX-License-Identifier: MIT
/*
 * fputrace-repro: reproduce "umount fails with EBUSY after the process that
 * used the filesystem has exited and been reaped".
 *
 * The last reference of a struct file can be dropped asynchronously: io_uring
 * drops registered files and pending requests from its ring-exit work on a
 * kworker, aio drops them from the I/O completion (IRQ/softirq/kworker). Those
 * final fput()s go to the kernel's delayed_fput list and run one jiffy later,
 * so the mount reference (mntput in __fput) can outlive the process. A parent
 * that waitpid()s the child and immediately calls umount2() then gets EBUSY.
 *
 * Usage:
 *   fputrace-repro SCENARIO [--base DIR] [--attempts N] [--until-busy]
 *                           [--image FILE] [--hold-ms N] [--hostile-names]
 *
 * SCENARIO: uring-registered | uring-pending | uring-pending-thread |
 *           aio-direct | plain-exit | uring-complete
 *
 * stdout: exactly one JSON line per attempt, plus one "cleanup" JSON line for
 * each attempt whose umount failed with EBUSY. Diagnostics go to stderr.
 * Exit status: 0 if every attempt ran as intended (whether or not EBUSY was
 * seen), 1 on setup failure (with a one-line message on stderr).
 * The child exits with status 2 (and a message on stderr) if its part of the
 * scenario failed; the parent then reports a setup failure.
 *
 * Build: gcc -O2 -static -o fputrace-repro fputrace-repro.c -luring -laio -lpthread
 * Needs root (mount, loop devices).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libaio.h>
#include <limits.h>
#include <linux/loop.h>
#include <liburing.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROG "fputrace-repro"

#define TMPFS_OPTS "size=16m"
#define IMAGE_SIZE (64LL << 20)            /* image we create ourselves */
#define AIO_FILE_NAME "fputrace-repro.dat" /* data file inside the ext4 image */
#define AIO_FILE_SIZE (16LL << 20)
#define AIO_NR_READS 32
#define AIO_READ_SIZE (64 << 10) /* 4 KiB-aligned buffer, offset and size */
#define CLEANUP_STEP_MS 5
#define CLEANUP_LIMIT_MS 10000

enum scenario {
	SC_URING_REGISTERED,
	SC_URING_PENDING,
	SC_URING_PENDING_THREAD,
	SC_AIO_DIRECT,
	SC_PLAIN_EXIT,
	SC_URING_COMPLETE,
};

static const char *const scenario_names[] = {
	[SC_URING_REGISTERED] = "uring-registered",
	[SC_URING_PENDING] = "uring-pending",
	[SC_URING_PENDING_THREAD] = "uring-pending-thread",
	[SC_AIO_DIRECT] = "aio-direct",
	[SC_PLAIN_EXIT] = "plain-exit",
	[SC_URING_COMPLETE] = "uring-complete",
};
#define NR_SCENARIOS ((int)(sizeof(scenario_names) / sizeof(scenario_names[0])))

static volatile sig_atomic_t g_stop;

/*
 * --hostile-names: names that are not UTF-8, as any user can make them. The
 * child's comm holds invalid bytes, an escape sequence and a two-byte
 * character cut by the kernel's 15-byte limit; the file's name holds invalid
 * bytes, control characters and a four-byte character cut by BPF's 31/32-byte
 * dentry name limit; the mount directory holds invalid bytes, a backslash and
 * a valid two-byte character (short enough for BPF to send it whole).
 */
static bool g_hostile;
#define HOSTILE_COMM "\xff\xfe\x1b[1mfputrace\xc3\xa9" /* 16 bytes: the kernel keeps 15 */
#define HOSTILE_FILE "\xff\xfe\x1b[7m\n" "xxxxxxxxxxxxxxxxxxxxxxx" "\xf0\x9f\x98\x80-tail"
#define HOSTILE_DIR "fputrace-\xff\xfe\\\xc3\xa9.XXXXXX"

/* The file a scenario creates: its usual name, or the hostile one. */
static const char *file_name(const char *usual)
{
	return g_hostile ? HOSTILE_FILE : usual;
}
/* --hold-ms: uring-registered's child waits this long after registering the
 * file (and closing its fd) before it exits, so a tracer can start late. */
static long g_hold_ms;

/* ------------------------------------------------------------------------ */
/* small helpers                                                            */

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static const char *errno_name(int e)
{
	if (e < 0)
		return "skipped";
	static char buf[32];

	switch (e) {
	case 0: return "ok";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EINTR: return "EINTR";
	case EIO: return "EIO";
	case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case ENOTBLK: return "ENOTBLK";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case ENODEV: return "ENODEV";
	case ENOTDIR: return "ENOTDIR";
	case EINVAL: return "EINVAL";
	case ENOSPC: return "ENOSPC";
	case EROFS: return "EROFS";
	case ENAMETOOLONG: return "ENAMETOOLONG";
	case ENOSYS: return "ENOSYS";
	case ELOOP: return "ELOOP";
	case ESTALE: return "ESTALE";
	default:
		snprintf(buf, sizeof(buf), "errno_%d", e);
		return buf;
	}
}

/*
 * Append s to out as a JSON string body (without quotes), in fputrace's
 * escaping of names (docs/json-schema.md): a backslash is doubled and bytes
 * >= 0x80 are written as \xNN (fputrace writes valid UTF-8 as is, so compare
 * names after decoding both).
 */
static void json_escape(char *out, size_t outlen, const char *s)
{
	size_t o = 0;

	for (; *s && o + 9 < outlen; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c == '\\') {
			memcpy(out + o, "\\\\\\\\", 4); /* the name's \\, JSON-escaped */
			o += 4;
		} else if (c >= 0x80) {
			o += (size_t)snprintf(out + o, outlen - o, "\\\\x%02x", c);
		} else if (c < 0x20) {
			o += (size_t)snprintf(out + o, outlen - o, "\\u%04x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}

/*
 * --hostile-names: ,"comm":"...","file":"..." for the attempt line: the comm
 * as the kernel keeps it (15 bytes) and the full path of the scenario's file.
 */
static void hostile_names_json(char *out, size_t outlen, enum scenario sc, const char *dir)
{
	char comm[16], path[PATH_MAX + 64], comm_json[128], path_json[5 * (PATH_MAX + 64)];
	const char *usual = sc == SC_URING_REGISTERED ? "registered" : sc == SC_PLAIN_EXIT ? "plain" : "fifo";

	memcpy(comm, HOSTILE_COMM, 15); /* what PR_SET_NAME keeps */
	comm[15] = '\0';
	snprintf(path, sizeof(path), "%s/%s", dir, file_name(usual));
	json_escape(comm_json, sizeof(comm_json), comm);
	json_escape(path_json, sizeof(path_json), path);
	snprintf(out, outlen, ",\"comm\":\"%s\",\"file\":\"%s\"", comm_json, path_json);
}

/* Parent-side fatal-for-the-run message: one line on stderr. */
static void setup_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void setup_error(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void warnx_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warnx_(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static pid_t my_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* out = dir + "/" + name; returns -1 (ENAMETOOLONG) if it does not fit. */
static int join_path(char *out, size_t outlen, const char *dir, const char *name)
{
	size_t dl = strlen(dir), nl = strlen(name);

	if (dl + 1 + nl + 1 > outlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(out, dir, dl);
	out[dl] = '/';
	memcpy(out + dl + 1, name, nl + 1);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* child side                                                               */

/* Report a child-side failure and exit with status 2 (never returns). */
static void child_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void child_fail(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dprintf(STDERR_FILENO, PROG " [child %d]: %s\n", (int)getpid(), msg);
	_exit(2);
}

static void write_all_or_fail(int fd, const void *buf, size_t len, const char *what)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			child_fail("write %s: %s", what, strerror(errno));
		}
		p += n;
		len -= (size_t)n;
	}
}

/* How uring-registered puts its file into the ring's fixed file table. */
enum register_mode { REG_FILES, REG_FILES2, REG_UPDATE, REG_UPDATE2, REG_OPENAT_DIRECT };
static const char *const register_names[] = {
	[REG_FILES] = "files",         /* IORING_REGISTER_FILES */
	[REG_FILES2] = "files2",       /* IORING_REGISTER_FILES2 (with tags) */
	[REG_UPDATE] = "update",       /* sparse table, then IORING_REGISTER_FILES_UPDATE */
	[REG_UPDATE2] = "update2",     /* sparse table, then IORING_REGISTER_FILES_UPDATE2 */
	[REG_OPENAT_DIRECT] = "openat-direct", /* IORING_OP_OPENAT into a fixed slot: no fd ever */
};
static enum register_mode g_register = REG_FILES;

/* Installs the file at path into slot 0 of the ring's fixed file table;
 * returns the fd to close afterwards (-1 if none was opened). */
static int register_file(struct io_uring *ring, const char *path)
{
	__u64 tag = 1;
	int fd = -1, ret;
	/* An empty table of 4 slots: -1 entries work since 5.5, unlike
	 * IORING_RSRC_REGISTER_SPARSE (5.19), so "update" runs on 5.10 too. */
	int empty[4] = {-1, -1, -1, -1};

	if (g_register != REG_OPENAT_DIRECT) {
		fd = open(path, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0)
			child_fail("open %s: %s", path, strerror(errno));
		write_all_or_fail(fd, "fputrace\n", 9, path);
	}
	switch (g_register) {
	case REG_FILES:
		ret = io_uring_register_files(ring, &fd, 1);
		break;
	case REG_FILES2:
		ret = io_uring_register_files_tags(ring, &fd, &tag, 1);
		break;
	case REG_UPDATE:
		ret = io_uring_register_files(ring, empty, 4);
		if (ret == 0)
			ret = io_uring_register_files_update(ring, 0, &fd, 1) == 1 ? 0 : -EINVAL;
		break;
	case REG_UPDATE2:
		ret = io_uring_register_files(ring, empty, 4);
		if (ret == 0)
			ret = io_uring_register_files_update_tag(ring, 0, &fd, &tag, 1) == 1 ? 0 : -EINVAL;
		break;
	case REG_OPENAT_DIRECT: {
		struct io_uring_sqe *sqe;
		struct io_uring_cqe *cqe;

		ret = io_uring_register_files(ring, empty, 4);
		if (ret < 0)
			break;
		sqe = io_uring_get_sqe(ring);
		io_uring_prep_openat_direct(sqe, AT_FDCWD, path, O_CREAT | O_RDWR, 0600, 0);
		if (io_uring_submit_and_wait(ring, 1) != 1 || io_uring_wait_cqe(ring, &cqe) < 0)
			child_fail("openat-direct: submit failed");
		ret = cqe->res;
		io_uring_cqe_seen(ring, cqe);
		break;
	}
	default:
		ret = -EINVAL;
	}
	if (ret < 0)
		child_fail("registering with %s: %s", register_names[g_register], strerror(-ret));
	return fd;
}

static void child_uring_registered(const char *dir)
{
	static struct io_uring ring;
	char path[PATH_MAX];
	int fd, ret;

	if (join_path(path, sizeof(path), dir, file_name("registered")) < 0)
		child_fail("path too long");
	ret = io_uring_queue_init(8, &ring, 0);
	if (ret < 0)
		child_fail("io_uring_queue_init: %s", strerror(-ret));
	fd = register_file(&ring, path);
	if (fd >= 0 && close(fd) < 0)
		child_fail("close %s: %s", path, strerror(errno));
	if (g_hold_ms > 0)
		sleep_ms(g_hold_ms);
	/* Exit with the ring open: the ring (and the registered file) is torn
	 * down by io_ring_exit_work on a kworker. */
	_exit(0);
}

/*
 * mkfifo + open O_RDWR + io_uring_queue_init. Returns 0, or -1 with a message
 * in err.
 */
static int uring_pending_open(const char *dir, struct io_uring *ring, int *fdp, char *err,
			      size_t errlen)
{
	char path[PATH_MAX];
	int fd, ret;

	if (join_path(path, sizeof(path), dir, file_name("fifo")) < 0) {
		snprintf(err, errlen, "path too long");
		return -1;
	}
	if (mkfifo(path, 0600) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "mkfifo %.256s: %s", path, strerror(errno));
		return -1;
	}
	/* O_RDWR on a FIFO does not block waiting for a peer (Linux). */
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "open %.256s: %s", path, strerror(errno));
		return -1;
	}
	ret = io_uring_queue_init(8, ring, 0);
	if (ret < 0) {
		snprintf(err, errlen, "io_uring_queue_init: %s", strerror(-ret));
		close(fd);
		return -1;
	}
	*fdp = fd;
	return 0;
}

/*
 * Submit one io_uring read of the FIFO that stays pending. The submitting
 * task becomes the request's owner (req->task / req->tctx->task).
 */
static int uring_pending_submit(struct io_uring *ring, int fd, char *err, size_t errlen)
{
	static char buf[64];
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	int ret;

	sqe = io_uring_get_sqe(ring);
	if (!sqe) {
		snprintf(err, errlen, "io_uring_get_sqe: no free sqe");
		return -1;
	}
	/* Nobody ever writes to the FIFO: the read stays pending (poll-armed)
	 * and holds its own reference to the file. */
	io_uring_prep_read(sqe, fd, buf, sizeof(buf), 0);
	io_uring_sqe_set_data64(sqe, 1);
	ret = io_uring_submit(ring);
	if (ret != 1) {
		snprintf(err, errlen, "io_uring_submit returned %d (%s)", ret,
			 ret < 0 ? strerror(-ret) : "expected 1");
		return -1;
	}
	/* The submit has returned; make sure the read did not complete. */
	ret = io_uring_peek_cqe(ring, &cqe);
	if (ret == 0) {
		snprintf(err, errlen, "the FIFO read completed at once (res=%d: %s)", cqe->res,
			 cqe->res < 0 ? strerror(-cqe->res) : "data?");
		return -1;
	}
	return 0;
}

/*
 * uring-pending-thread: the calling thread creates the FIFO and the ring,
 * submits the read, closes the fd and returns (then exits). The ring stays
 * open until the whole process exits.
 */
static int do_uring_pending(const char *dir, char *err, size_t errlen)
{
	static struct io_uring ring;
	int fd;

	if (uring_pending_open(dir, &ring, &fd, err, errlen) < 0)
		return -1;
	if (uring_pending_submit(&ring, fd, err, errlen) < 0)
		return -1;
	if (close(fd) < 0) {
		snprintf(err, errlen, "close fifo: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * uring-pending: the read is submitted by a short-lived helper process that
 * shares the child's ring (pre-fork style: the process that owns the ring is
 * not the one that issued the request) and has exited and been reaped before
 * the child exits with the ring still open. When the parent umounts, the
 * child and the helper are both gone; only the kernel's deferred release
 * still holds the FIFO file.
 *
 * Why not simply "child submits, closes the fd, exits"? Exit cancels a
 * pending request on a plain fd by running the cancellation as task_work of
 * the request's owner task. If that task is the exiting child itself, the
 * task_work (and the final fput) runs in the child's exit_task_work, before
 * the parent's wait returns:
 *  - 5.10 (Debian's 5.10.2xx carries the 5.15 io_uring) and 6.1:
 *    io_uring_release -> io_ring_ctx_wait_and_kill -> io_poll_remove_all()
 *    in the closing (exiting) task; measured 0% EBUSY under QEMU, even with
 *    512 pending reads or with io_uring_queue_exit before exit.
 *  - 6.12 and later: wait_and_kill only queues io_ring_exit_work, which
 *    cancels from a kworker; whether the child is still before
 *    exit_task_work is a race (io_uring_queue_exit before exit makes it
 *    worse: the child is alive and runs the cancellation itself).
 * When the owner task has already passed exit_task_work, task_work_add()
 * fails and io_uring hands the request to ctx->fallback_work (a kworker,
 * one jiffy later); its fput() from a kworker goes to delayed_fput_list
 * (another jiffy), so the mount reference outlives the child on every
 * kernel. waitpid() on the helper guarantees it is past exit_task_work
 * (a zombie); pthread_join() does not (it returns at CLONE_CHILD_CLEARTID,
 * in exit_mm), which is why uring-pending-thread is racy on 5.10 and 6.1.
 */
static void child_uring_pending(const char *dir, int pipe_fd)
{
	static struct io_uring ring;
	char err[512];
	pid_t helper;
	int fd, st;

	if (uring_pending_open(dir, &ring, &fd, err, sizeof(err)) < 0)
		child_fail("%s", err);
	helper = fork();
	if (helper < 0)
		child_fail("fork helper: %s", strerror(errno));
	if (helper == 0) {
		if (uring_pending_submit(&ring, fd, err, sizeof(err)) < 0)
			child_fail("helper: %s", err);
		/* exit with the read pending; our copies of the fds go away */
		_exit(0);
	}
	/* The helper submitted the request: it is the pin's origin. */
	int helper_pid = (int)helper;
	if (write(pipe_fd, &helper_pid, sizeof(helper_pid)) != (ssize_t)sizeof(helper_pid))
		child_fail("write helper pid to pipe: %s", strerror(errno));
	while (waitpid(helper, &st, 0) < 0) {
		if (errno != EINTR)
			child_fail("waitpid helper: %s", strerror(errno));
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		child_fail("helper %d failed (status 0x%x)", (int)helper, st);
	if (close(fd) < 0)
		child_fail("close fifo: %s", strerror(errno));
	/* Exit with the ring open: exit_files drops the last ring reference and
	 * starts the teardown; the request's owner (the helper) is gone. */
	_exit(0);
}

struct thread_arg {
	const char *dir;
	int pipe_fd;
	int tid;
	int failed;
	char err[512];
};

static void *pending_thread(void *p)
{
	struct thread_arg *a = p;
	int tid = (int)my_gettid();

	a->tid = tid;
	if (write(a->pipe_fd, &tid, sizeof(tid)) != (ssize_t)sizeof(tid)) {
		snprintf(a->err, sizeof(a->err), "write tid to pipe: %s", strerror(errno));
		a->failed = 1;
		return NULL;
	}
	if (do_uring_pending(a->dir, a->err, sizeof(a->err)) < 0)
		a->failed = 1;
	pthread_exit(NULL);
}

static void child_uring_pending_thread(const char *dir, int pipe_fd)
{
	struct thread_arg a = { .dir = dir, .pipe_fd = pipe_fd };
	pthread_t th;
	int ret;

	ret = pthread_create(&th, NULL, pending_thread, &a);
	if (ret != 0)
		child_fail("pthread_create: %s", strerror(ret));
	ret = pthread_join(th, NULL);
	if (ret != 0)
		child_fail("pthread_join: %s", strerror(ret));
	if (a.failed)
		child_fail("thread: %s", a.err);
	/* pthread_join returns when the thread clears its tid in exit_mm, before
	 * it has run its own task work; wait until it is really gone, so the
	 * cancellation cannot run in it. */
	for (int i = 0; i < 2000 && syscall(SYS_tgkill, getpid(), a.tid, 0) == 0; i++)
		usleep(500);
	/* The thread that owns the ring's requests is gone; now the process. */
	_exit(0);
}

static void child_aio_direct(const char *dir)
{
	static struct iocb cbs[AIO_NR_READS];
	struct iocb *ptrs[AIO_NR_READS];
	io_context_t ctx = 0;
	char path[PATH_MAX];
	void *buf = NULL;
	int fd, ret, i;

	if (join_path(path, sizeof(path), dir, AIO_FILE_NAME) < 0)
		child_fail("path too long");
	fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		child_fail("open %s O_DIRECT: %s", path, strerror(errno));
	ret = io_setup(AIO_NR_READS * 2, &ctx);
	if (ret < 0)
		child_fail("io_setup: %s", strerror(-ret));
	ret = posix_memalign(&buf, 4096, (size_t)AIO_NR_READS * AIO_READ_SIZE);
	if (ret != 0)
		child_fail("posix_memalign: %s", strerror(ret));
	for (i = 0; i < AIO_NR_READS; i++) {
		/* spread the reads over the whole file, 4 KiB aligned */
		long long off = (long long)i * (AIO_FILE_SIZE / AIO_NR_READS);

		io_prep_pread(&cbs[i], fd, (char *)buf + (size_t)i * AIO_READ_SIZE, AIO_READ_SIZE,
			      off);
		ptrs[i] = &cbs[i];
	}
	ret = io_submit(ctx, AIO_NR_READS, ptrs);
	if (ret < 0)
		child_fail("io_submit: %s", strerror(-ret));
	if (ret == 0)
		child_fail("io_submit: no request submitted");
	if (ret < AIO_NR_READS)
		dprintf(STDERR_FILENO, PROG " [child %d]: io_submit submitted only %d of %d\n",
			(int)getpid(), ret, AIO_NR_READS);
	if (close(fd) < 0)
		child_fail("close %s: %s", path, strerror(errno));
	/* No io_getevents, no io_destroy: exit with the reads in flight. */
	_exit(0);
}

static void child_plain_exit(const char *dir)
{
	char path[PATH_MAX];
	int fd;

	if (join_path(path, sizeof(path), dir, file_name("plain")) < 0)
		child_fail("path too long");
	fd = open(path, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		child_fail("open %s: %s", path, strerror(errno));
	write_all_or_fail(fd, "fputrace\n", 9, path);
	/* exit with the fd open: exit_files -> fput -> task work, synchronous */
	_exit(0);
}

/*
 * uring-complete (control): io_uring reads of a plain file (not registered)
 * that all complete before the child exits. Nothing pins the mount, and
 * fputrace must send nothing about the file: requests are counted in the
 * kernel, not reported.
 */
static void child_uring_complete(const char *dir)
{
	static struct io_uring ring;
	static char buf[64][64];
	char path[PATH_MAX];
	int fd, ret;

	if (join_path(path, sizeof(path), dir, "completed") < 0)
		child_fail("path too long");
	fd = open(path, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		child_fail("open %s: %s", path, strerror(errno));
	write_all_or_fail(fd, "fputrace\n", 9, path);
	ret = io_uring_queue_init(64, &ring, 0);
	if (ret < 0)
		child_fail("io_uring_queue_init: %s", strerror(-ret));
	for (int i = 0; i < 64; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		if (!sqe)
			child_fail("io_uring_get_sqe: no free sqe");
		io_uring_prep_read(sqe, fd, buf[i], sizeof(buf[i]), 0);
	}
	ret = io_uring_submit(&ring);
	if (ret != 64)
		child_fail("io_uring_submit returned %d", ret);
	for (int i = 0; i < 64; i++) {
		struct io_uring_cqe *cqe;
		ret = io_uring_wait_cqe(&ring, &cqe);
		if (ret < 0)
			child_fail("io_uring_wait_cqe: %s", strerror(-ret));
		if (cqe->res < 0)
			child_fail("read failed: %s", strerror(-cqe->res));
		io_uring_cqe_seen(&ring, cqe);
	}
	io_uring_queue_exit(&ring);
	close(fd);
	_exit(0);
}

static void child_main(enum scenario sc, const char *dir, int pipe_fd)
{
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	if (g_hostile && prctl(PR_SET_NAME, HOSTILE_COMM) < 0)
		child_fail("prctl PR_SET_NAME: %s", strerror(errno));

	switch (sc) {
	case SC_URING_REGISTERED: child_uring_registered(dir); break;
	case SC_URING_PENDING: child_uring_pending(dir, pipe_fd); break;
	case SC_URING_PENDING_THREAD: child_uring_pending_thread(dir, pipe_fd); break;
	case SC_AIO_DIRECT: child_aio_direct(dir); break;
	case SC_PLAIN_EXIT: child_plain_exit(dir); break;
	case SC_URING_COMPLETE: child_uring_complete(dir); break;
	}
	child_fail("unknown scenario %d", (int)sc);
}

/* ------------------------------------------------------------------------ */
/* device nodes and loop devices                                            */

/*
 * Open a device node. If it does not exist, wait up to wait_ms for it to
 * appear (devtmpfs creates loop nodes asynchronously). If it still does not
 * exist but sysfs knows its major:minor (e.g. no devtmpfs in a minimal
 * guest), create a private node and use that. On success *node_path holds the
 * path that was opened; *node_tmp is set if that is our own private node,
 * which the caller must unlink once done with the path.
 */
static int open_dev_node(const char *path, const char *sysfs_dev, mode_t type, int flags,
			 long wait_ms, const char *base, char *node_path, size_t node_len,
			 bool *node_tmp)
{
	const char *dirs[2] = { "/dev", base };
	unsigned int maj, min;
	long long deadline = now_ms() + wait_ms;
	FILE *f;
	int fd, i;

	*node_tmp = false;
	for (;;) {
		fd = open(path, flags);
		if (fd >= 0) {
			snprintf(node_path, node_len, "%s", path);
			return fd;
		}
		if (errno != ENOENT && errno != ENXIO)
			return -1;
		if (now_ms() >= deadline)
			break;
		sleep_ms(10);
	}
	f = fopen(sysfs_dev, "re");
	if (!f) {
		errno = ENOENT;
		return -1;
	}
	if (fscanf(f, "%u:%u", &maj, &min) != 2) {
		fclose(f);
		errno = ENOENT;
		return -1;
	}
	fclose(f);
	for (i = 0; i < 2; i++) {
		const char *slash = strrchr(path, '/');

		snprintf(node_path, node_len, "%s/.fputrace-repro-%s.%d", dirs[i],
			 slash ? slash + 1 : path, (int)getpid());
		unlink(node_path);
		if (mknod(node_path, type | 0600, makedev(maj, min)) < 0)
			continue;
		fd = open(node_path, flags);
		if (fd >= 0) {
			warnx_("%s missing, using private node %s", path, node_path);
			*node_tmp = true;
			return fd;
		}
		unlink(node_path);
	}
	errno = ENOENT;
	return -1;
}

struct loopdev {
	int fd;                 /* -1 if not attached */
	int nr;
	char path[PATH_MAX];    /* path used for mount(2) */
	bool path_tmp;          /* private node we must unlink */
};

static int loop_attach(const char *image, const char *base, struct loopdev *ld)
{
	char ctl_path[PATH_MAX], sys[PATH_MAX], dev[64];
	bool ctl_tmp = false;
	int ctl, img, tries;

	ld->fd = -1;
	ld->path_tmp = false;

	img = open(image, O_RDWR | O_CLOEXEC);
	if (img < 0) {
		setup_error("open image %s: %s", image, strerror(errno));
		return -1;
	}
	ctl = open_dev_node("/dev/loop-control", "/sys/class/misc/loop-control/dev", S_IFCHR,
			    O_RDWR | O_CLOEXEC, 0, base, ctl_path, sizeof(ctl_path), &ctl_tmp);
	if (ctl < 0) {
		setup_error("open /dev/loop-control: %s (is the loop driver loaded?)",
			    strerror(errno));
		close(img);
		return -1;
	}
	if (ctl_tmp)
		unlink(ctl_path);

	for (tries = 0; tries < 50; tries++) {
		int nr = ioctl(ctl, LOOP_CTL_GET_FREE);
		int fd;

		if (nr < 0) {
			setup_error("LOOP_CTL_GET_FREE: %s", strerror(errno));
			break;
		}
		snprintf(dev, sizeof(dev), "/dev/loop%d", nr);
		snprintf(sys, sizeof(sys), "/sys/block/loop%d/dev", nr);
		/* no /dev/loop-control node: probably no devtmpfs, don't wait */
		fd = open_dev_node(dev, sys, S_IFBLK, O_RDWR | O_CLOEXEC, ctl_tmp ? 0 : 2000, base,
				   ld->path, sizeof(ld->path), &ld->path_tmp);
		if (fd < 0) {
			setup_error("open %s: %s", dev, strerror(errno));
			break;
		}
		if (ioctl(fd, LOOP_SET_FD, img) == 0) {
			ld->fd = fd;
			ld->nr = nr;
			close(img);
			close(ctl);
			return 0;
		}
		if (errno != EBUSY) {
			setup_error("LOOP_SET_FD %s: %s", dev, strerror(errno));
			close(fd);
			if (ld->path_tmp)
				unlink(ld->path);
			break;
		}
		/* somebody else grabbed it between GET_FREE and SET_FD */
		close(fd);
		if (ld->path_tmp)
			unlink(ld->path);
		ld->path_tmp = false;
		sleep_ms(10);
	}
	if (tries == 50)
		setup_error("could not attach %s to a free loop device", image);
	close(img);
	close(ctl);
	return -1;
}

static int loop_detach(struct loopdev *ld)
{
	int i, ret = 0;

	if (ld->path_tmp) {
		unlink(ld->path);
		ld->path_tmp = false;
	}
	if (ld->fd < 0)
		return 0;
	for (i = 0; i < 200; i++) {
		if (ioctl(ld->fd, LOOP_CLR_FD) == 0)
			break;
		if (errno == ENXIO) /* already detached (autoclear) */
			break;
		if (errno != EBUSY) {
			warnx_("LOOP_CLR_FD /dev/loop%d: %s", ld->nr, strerror(errno));
			ret = -1;
			break;
		}
		sleep_ms(5);
	}
	if (i == 200) {
		warnx_("LOOP_CLR_FD /dev/loop%d: still busy after 1 s", ld->nr);
		ret = -1;
	}
	close(ld->fd);
	ld->fd = -1;
	return ret;
}

/* ------------------------------------------------------------------------ */
/* image creation (aio-direct without --image)                             */

static bool find_in_path(const char *name, char *out, size_t outlen)
{
	const char *path = getenv("PATH");
	char buf[4096];
	char *save = NULL, *d;

	/* PATH first, then the usual sbin directories (PATH of a plain root
	 * shell may lack them). */
	snprintf(buf, sizeof(buf), "%s:/usr/local/sbin:/usr/sbin:/sbin",
		 path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	for (d = strtok_r(buf, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		snprintf(out, outlen, "%s/%s", *d ? d : ".", name);
		if (access(out, X_OK) == 0)
			return true;
	}
	return false;
}

static int make_image(char *out, size_t outlen)
{
	char mkfs[PATH_MAX];
	pid_t pid;
	int fd, st;

	if (!find_in_path("mkfs.ext4", mkfs, sizeof(mkfs))) {
		setup_error("aio-direct needs an ext4 image: pass --image FILE "
			    "(mkfs.ext4 not found on PATH)");
		return -1;
	}
	snprintf(out, outlen, "/tmp/fputrace-repro-XXXXXX.img");
	fd = mkstemps(out, 4);
	if (fd < 0) {
		setup_error("mkstemps %s: %s", out, strerror(errno));
		return -1;
	}
	if (ftruncate(fd, IMAGE_SIZE) < 0) {
		setup_error("ftruncate %s: %s", out, strerror(errno));
		close(fd);
		unlink(out);
		return -1;
	}
	close(fd);

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		setup_error("fork: %s", strerror(errno));
		unlink(out);
		return -1;
	}
	if (pid == 0) {
		/* keep our stdout clean: mkfs output goes to stderr */
		dup2(STDERR_FILENO, STDOUT_FILENO);
		execl(mkfs, "mkfs.ext4", "-q", "-F", out, (char *)NULL);
		dprintf(STDERR_FILENO, PROG ": exec %s: %s\n", mkfs, strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			setup_error("waitpid mkfs: %s", strerror(errno));
			unlink(out);
			return -1;
		}
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		setup_error("%s -q -F %s failed (status 0x%x)", mkfs, out, st);
		unlink(out);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* per-attempt mount setup / teardown                                       */

struct attempt_ctx {
	char dir[PATH_MAX];
	bool dir_created;
	bool mounted;
	struct loopdev loop;
};

/* Make sure the ext4 image holds a 16 MiB data file (written and fsync'd). */
static int prepare_aio_file(const char *dir)
{
	char path[PATH_MAX];
	struct stat stb;
	char *chunk;
	long long off;
	int fd;

	if (join_path(path, sizeof(path), dir, AIO_FILE_NAME) < 0) {
		setup_error("path too long");
		return -1;
	}
	if (stat(path, &stb) == 0 && S_ISREG(stb.st_mode) && stb.st_size == AIO_FILE_SIZE)
		return 0;

	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0) {
		setup_error("create %s: %s", path, strerror(errno));
		return -1;
	}
	chunk = malloc(1 << 20);
	if (!chunk) {
		setup_error("malloc: out of memory");
		close(fd);
		return -1;
	}
	for (off = 0; off < AIO_FILE_SIZE; off += 1 << 20) {
		size_t done = 0;

		memset(chunk, (int)('a' + (off >> 20) % 26), 1 << 20);
		while (done < (1u << 20)) {
			ssize_t n = write(fd, chunk + done, (1u << 20) - done);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				setup_error("write %s: %s", path,
					    n < 0 ? strerror(errno) : "short write");
				free(chunk);
				close(fd);
				return -1;
			}
			done += (size_t)n;
		}
	}
	free(chunk);
	if (fsync(fd) < 0) {
		setup_error("fsync %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (close(fd) < 0) {
		setup_error("close %.256s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* --dir: mount exactly here (created if missing), so a caller knows the path
 * in advance. */
static const char *fixed_dir;
static bool g_relative_umount;

/* The parent's umount right after the reap: with --relative-umount from the
 * mount's parent directory by its last name, as `cd /srv && umount data`. */
static int first_umount(const char *dir)
{
	char parent[PATH_MAX];
	const char *slash = strrchr(dir, '/');
	int ret, err;

	if (!g_relative_umount || !slash || slash == dir)
		return umount2(dir, 0);
	snprintf(parent, sizeof(parent), "%.*s", (int)(slash - dir), dir);
	if (chdir(parent) < 0)
		return -1;
	ret = umount2(slash + 1, 0);
	err = errno;
	if (chdir("/") < 0)
		err = errno;
	errno = err;
	return ret;
}

static int attempt_setup(enum scenario sc, const char *base, const char *image,
			 struct attempt_ctx *a)
{
	memset(a, 0, sizeof(*a));
	a->loop.fd = -1;

	if (fixed_dir) {
		if ((size_t)snprintf(a->dir, sizeof(a->dir), "%s", fixed_dir) >= sizeof(a->dir)) {
			setup_error("--dir path too long");
			return -1;
		}
		if (mkdir(a->dir, 0700) < 0 && errno != EEXIST) {
			setup_error("mkdir %s: %s", a->dir, strerror(errno));
			return -1;
		}
	} else {
		if ((size_t)snprintf(a->dir, sizeof(a->dir), "%s/%s", base,
				     g_hostile ? HOSTILE_DIR : "fputrace-repro.XXXXXX") >=
		    sizeof(a->dir)) {
			setup_error("--base path too long");
			return -1;
		}
		if (!mkdtemp(a->dir)) {
			setup_error("mkdtemp %s: %s", a->dir, strerror(errno));
			return -1;
		}
		a->dir_created = true;
	}

	if (sc == SC_AIO_DIRECT) {
		if (loop_attach(image, base, &a->loop) < 0)
			return -1;
		if (mount(a->loop.path, a->dir, "ext4", 0, NULL) < 0) {
			setup_error("mount -t ext4 %s (%s) on %s: %s", a->loop.path, image, a->dir,
				    strerror(errno));
			return -1;
		}
		a->mounted = true;
		if (a->loop.path_tmp) {
			unlink(a->loop.path);
			a->loop.path_tmp = false;
		}
		return prepare_aio_file(a->dir);
	}

	if (mount("tmpfs", a->dir, "tmpfs", 0, TMPFS_OPTS) < 0) {
		setup_error("mount -t tmpfs -o " TMPFS_OPTS " on %s: %s", a->dir, strerror(errno));
		return -1;
	}
	a->mounted = true;
	return 0;
}

/* Undo everything; returns -1 if something could not be cleaned up. */
static int attempt_teardown(struct attempt_ctx *a)
{
	int ret = 0;

	if (a->mounted) {
		if (umount2(a->dir, 0) < 0) {
			int e = errno;

			if (umount2(a->dir, MNT_DETACH) == 0) {
				warnx_("umount %s: %s; detached lazily", a->dir, strerror(e));
			} else {
				warnx_("umount %s: %s; left mounted", a->dir, strerror(errno));
				ret = -1;
			}
		}
		a->mounted = false;
	}
	if (loop_detach(&a->loop) < 0)
		ret = -1;
	if (a->dir_created) {
		if (rmdir(a->dir) < 0) {
			warnx_("rmdir %s: %s", a->dir, strerror(errno));
			ret = -1;
		}
		a->dir_created = false;
	}
	return ret;
}

/* ------------------------------------------------------------------------ */
/* main                                                                     */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " SCENARIO [--base DIR] [--attempts N] [--until-busy] [--image FILE]\n"
		"                      [--hold-ms N] [--hostile-names] [--register MODE]\n"
		"                      [--relative-umount]\n"
		"\n"
		"Per attempt: mount a fresh tmpfs (aio-direct: the ext4 image on a loop device)\n"
		"on a new directory under DIR (default /tmp), fork a child that runs SCENARIO\n"
		"and exits, reap it, umount at once; print one JSON line per attempt.\n"
		"\n"
		"SCENARIO:\n"
		"  uring-registered      file registered with IORING_REGISTER_FILES, fd closed\n"
		"  uring-pending         io_uring read pending on a FIFO, fd closed\n"
		"  uring-pending-thread  same, done by a non-leader thread that exits first\n"
		"  aio-direct            %d O_DIRECT aio reads in flight at exit (ext4 on loop)\n"
		"  plain-exit            exit with a plain fd open (control: never EBUSY)\n"
		"  uring-complete        io_uring reads that all complete before exit (control)\n"
		"\n"
		"  --base DIR      where to create the mount directories (default /tmp)\n"
		"  --attempts N    number of attempts (default 1)\n"
		"  --until-busy    stop after the first attempt whose umount got EBUSY\n"
		"  --keep-mounted  do not unmount: leave the mount (and its directory) to the caller\n"
		"  --dir DIR       mount at DIR (created if missing) instead of a new directory under --base\n"
		"  --image FILE    ext4 image for aio-direct (default: make a 64 MiB one in /tmp\n"
		"                  with mkfs.ext4 -q -F; it is removed at exit)\n"
		"  --register MODE uring-registered: how the file gets into the fixed file table:\n"
		"                  files (default), files2, update, update2, openat-direct\n"
		"  --relative-umount  the first umount is made from the mount's parent directory\n"
		"                  with a relative path\n"
		"  --hold-ms N     uring-registered: the child sleeps N ms after registering the\n"
		"                  file (and closing its fd) before it exits (default 0)\n"
		"  --hostile-names names that are not UTF-8: the child's comm, the file's name\n"
		"                  and the mount directory hold invalid bytes, control characters\n"
		"                  and characters cut at the kernel's and BPF's name limits;\n"
		"                  each attempt line then also has \"comm\" and \"file\"\n"
		"\n"
		"Exit status: 0 if all attempts ran (EBUSY or not), 1 on setup failure.\n",
		AIO_NR_READS);
}

static int parse_scenario(const char *s)
{
	int i;

	for (i = 0; i < NR_SCENARIOS; i++)
		if (strcmp(s, scenario_names[i]) == 0)
			return i;
	return -1;
}

static int preflight(enum scenario sc)
{
	if (geteuid() != 0)
		warnx_("not running as root: mount will probably fail");

	if (sc == SC_URING_REGISTERED || sc == SC_URING_PENDING ||
	    sc == SC_URING_PENDING_THREAD || sc == SC_URING_COMPLETE) {
		struct io_uring ring;
		int ret = io_uring_queue_init(2, &ring, 0);

		if (ret < 0) {
			setup_error("io_uring unavailable: io_uring_queue_init: %s%s", strerror(-ret),
				    ret == -EPERM ? " (kernel.io_uring_disabled?)" : "");
			return -1;
		}
		io_uring_queue_exit(&ring);
	} else if (sc == SC_AIO_DIRECT) {
		io_context_t ctx = 0;
		int ret = io_setup(1, &ctx);

		if (ret < 0) {
			setup_error("aio unavailable: io_setup: %s", strerror(-ret));
			return -1;
		}
		io_destroy(ctx);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *base = "/tmp", *image = NULL;
	char made_image[PATH_MAX] = "";
	long attempts = 1, attempt;
	bool until_busy = false;
	bool keep_mounted = false;
	struct sigaction sa;
	enum scenario sc;
	int i, sci, rc = 0;

	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	if (argc < 2 || argv[1][0] == '-') {
		setup_error("missing SCENARIO (try --help)");
		return 1;
	}
	sci = parse_scenario(argv[1]);
	if (sci < 0) {
		setup_error("unknown scenario '%s' (try --help)", argv[1]);
		return 1;
	}
	sc = (enum scenario)sci;

	for (i = 2; i < argc; i++) {
		const char *opt = argv[i];
		const char *val = NULL;
		bool takes_val = !strcmp(opt, "--base") || !strcmp(opt, "--attempts") ||
				 !strcmp(opt, "--image") || !strcmp(opt, "--dir") ||
				 !strcmp(opt, "--hold-ms") || !strcmp(opt, "--register");

		if (takes_val) {
			if (i + 1 >= argc) {
				setup_error("%s needs an argument", opt);
				return 1;
			}
			val = argv[++i];
		}
		if (!strcmp(opt, "--base")) {
			base = val;
		} else if (!strcmp(opt, "--dir")) {
			fixed_dir = val;
		} else if (!strcmp(opt, "--image")) {
			image = val;
		} else if (!strcmp(opt, "--attempts")) {
			char *end;

			errno = 0;
			attempts = strtol(val, &end, 10);
			if (errno || *end || end == val || attempts < 1) {
				setup_error("--attempts: '%s' is not a positive number", val);
				return 1;
			}
		} else if (!strcmp(opt, "--hold-ms")) {
			char *end;

			errno = 0;
			g_hold_ms = strtol(val, &end, 10);
			if (errno || *end || end == val || g_hold_ms < 0) {
				setup_error("--hold-ms: '%s' is not a number of milliseconds", val);
				return 1;
			}
		} else if (!strcmp(opt, "--register")) {
			int m = -1;
			for (int k = 0; k < (int)(sizeof(register_names) / sizeof(register_names[0])); k++)
				if (!strcmp(val, register_names[k]))
					m = k;
			if (m < 0) {
				setup_error("--register: '%s' is not files, files2, update, update2 or openat-direct", val);
				return 1;
			}
			g_register = (enum register_mode)m;
		} else if (!strcmp(opt, "--relative-umount")) {
			g_relative_umount = true;
		} else if (!strcmp(opt, "--until-busy")) {
			until_busy = true;
		} else if (!strcmp(opt, "--keep-mounted")) {
			keep_mounted = true;
		} else if (!strcmp(opt, "--hostile-names")) {
			g_hostile = true;
		} else if (!strcmp(opt, "-h") || !strcmp(opt, "--help")) {
			usage(stdout);
			return 0;
		} else {
			setup_error("unknown option '%s' (try --help)", opt);
			return 1;
		}
	}
	if (image && sc != SC_AIO_DIRECT)
		warnx_("--image is only used by aio-direct; ignored");
	if (g_hold_ms && sc != SC_URING_REGISTERED)
		warnx_("--hold-ms is only used by uring-registered; ignored");

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: finish the attempt, then stop */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	if (preflight(sc) < 0)
		return 1;

	if (sc == SC_AIO_DIRECT && !image) {
		if (make_image(made_image, sizeof(made_image)) < 0)
			return 1;
		image = made_image;
	}

	for (attempt = 1; attempt <= attempts; attempt++) {
		struct attempt_ctx a;
		char dir_json[5 * PATH_MAX], names_json[12 * PATH_MAX] = "";
		int pfd[2], st, uerr, child_status, tid = 0;
		bool child_ok;
		pid_t pid;

		if (g_stop) {
			setup_error("interrupted before attempt %ld", attempt);
			rc = 1;
			break;
		}
		if (attempt_setup(sc, base, image, &a) < 0) {
			attempt_teardown(&a);
			rc = 1;
			break;
		}
		if (pipe2(pfd, O_CLOEXEC) < 0) {
			setup_error("pipe: %s", strerror(errno));
			attempt_teardown(&a);
			rc = 1;
			break;
		}

		fflush(stdout);
		fflush(stderr);
		pid = fork();
		if (pid < 0) {
			setup_error("fork: %s", strerror(errno));
			close(pfd[0]);
			close(pfd[1]);
			attempt_teardown(&a);
			rc = 1;
			break;
		}
		if (pid == 0) {
			close(pfd[0]);
			child_main(sc, a.dir, pfd[1]);
			_exit(2); /* not reached */
		}
		close(pfd[1]);

		/* Reap the child completely, then umount immediately. */
		while (waitpid(pid, &st, 0) < 0) {
			if (errno != EINTR) {
				setup_error("waitpid: %s", strerror(errno));
				st = -1;
				break;
			}
		}
		if (keep_mounted) {
			/* Leave the unmount to the caller (fputrace umount). */
			uerr = -1;
			a.mounted = false;
			a.dir_created = false;
		} else {
			uerr = first_umount(a.dir) == 0 ? 0 : errno;
			if (uerr == 0)
				a.mounted = false;
		}

		/* Everything else happens after the umount. */
		if (read(pfd[0], &tid, sizeof(tid)) != (ssize_t)sizeof(tid))
			tid = 0;
		close(pfd[0]);

		if (st == -1)
			child_status = -1;
		else if (WIFEXITED(st))
			child_status = WEXITSTATUS(st);
		else if (WIFSIGNALED(st))
			child_status = 128 + WTERMSIG(st);
		else
			child_status = -1;
		child_ok = child_status == 0;

		json_escape(dir_json, sizeof(dir_json), a.dir);
		if (g_hostile && sc != SC_AIO_DIRECT)
			hostile_names_json(names_json, sizeof(names_json), sc, a.dir);
		/* origin_tgid: the process a correct attribution names. For
		 * uring-pending that is the child's helper that submitted. */
		printf("{\"scenario\":\"%s\",\"attempt\":%ld,\"child_tgid\":%d,"
		       "\"child_thread_tid\":%d,\"origin_tgid\":%d,\"mount\":\"%s\",\"umount_errno\":%d,"
		       "\"umount\":\"%s\",\"child_status\":%d%s}\n",
		       scenario_names[sc], attempt, (int)pid,
		       sc == SC_URING_PENDING_THREAD ? tid : 0,
		       sc == SC_URING_PENDING && tid > 0 ? tid : (int)pid, dir_json, uerr, errno_name(uerr),
		       child_status, names_json);
		fflush(stdout);

		if (uerr == EBUSY) {
			long long start = now_ms(), took = -1;

			for (;;) {
				sleep_ms(CLEANUP_STEP_MS);
				if (umount2(a.dir, 0) == 0) {
					took = now_ms() - start;
					a.mounted = false;
					break;
				}
				if (errno != EBUSY) {
					warnx_("cleanup umount %s: %s", a.dir, strerror(errno));
					break;
				}
				if (now_ms() - start >= CLEANUP_LIMIT_MS)
					break;
			}
			printf("{\"scenario\":\"%s\",\"attempt\":%ld,\"cleanup_umount_after_ms\":%lld}\n",
			       scenario_names[sc], attempt, took);
			fflush(stdout);
			if (took < 0) {
				setup_error("attempt %ld: %s stayed busy for %d ms (leak?)", attempt,
					    a.dir, CLEANUP_LIMIT_MS);
				rc = 1;
			}
		} else if (uerr > 0) {
			setup_error("attempt %ld: umount %s: %s", attempt, a.dir, strerror(uerr));
			rc = 1;
		}

		if (attempt_teardown(&a) < 0 && rc == 0) {
			setup_error("attempt %ld: cleanup of %s failed", attempt, a.dir);
			rc = 1;
		}
		if (!child_ok) {
			setup_error("attempt %ld: child failed (status %d), see messages above", attempt,
				    child_status);
			rc = 1;
		}
		if (rc != 0)
			break;
		if (until_busy && uerr == EBUSY)
			break;
		if (g_stop) {
			setup_error("interrupted after attempt %ld", attempt);
			rc = 1;
			break;
		}
	}

	if (made_image[0])
		unlink(made_image);
	return rc;
}
