// SPDX-License-Identifier: MIT
/*
 * fputrace-repro: the io_uring scenarios, run in the forked child (see
 * child_main): uring-registered, uring-pending, uring-pending-thread and the
 * uring-complete control. Each one exits the child.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "repro.h"

/* --hold-ms: uring-registered's child waits this long after registering the
 * file (and closing its fd) before it exits, so a tracer can start late. */
long g_hold_ms;
const char *g_hold_until; /* --hold-until FILE: then until FILE exists */

/* How uring-registered puts its file into the ring's fixed file table. */
const char *const register_names[NR_REGISTER_MODES] = {
	[REG_FILES] = "files",         /* IORING_REGISTER_FILES */
	[REG_FILES2] = "files2",       /* IORING_REGISTER_FILES2 (with tags) */
	[REG_UPDATE] = "update",       /* sparse table, then IORING_REGISTER_FILES_UPDATE */
	[REG_UPDATE2] = "update2",     /* sparse table, then IORING_REGISTER_FILES_UPDATE2 */
	[REG_OPENAT_DIRECT] = "openat-direct", /* IORING_OP_OPENAT into a fixed slot: no fd ever */
};
enum register_mode g_register = REG_FILES;

static pid_t my_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

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
		child_take_lock(fd, path);
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

void child_uring_registered(const char *dir)
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
	/* --hold-until: a tracer started after the registration says when it is
	 * attached by making the file; a fixed hold loses to a slow start. */
	if (g_hold_until && wait_for_path(g_hold_until, 120000) < 0)
		child_fail("%s did not appear within 120 s", g_hold_until);
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
void child_uring_pending(const char *dir, int pipe_fd)
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

void child_uring_pending_thread(const char *dir, int pipe_fd)
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

/*
 * uring-complete (control): io_uring reads of a plain file (not registered)
 * that all complete before the child exits. Nothing pins the mount, and
 * fputrace must send nothing about the file: requests are counted in the
 * kernel, not reported.
 */
void child_uring_complete(const char *dir)
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
