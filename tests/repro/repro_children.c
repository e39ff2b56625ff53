// SPDX-License-Identifier: MIT
/*
 * fputrace-repro: the child side. child_main runs in the forked child and
 * exits it: status 0 when its part of the scenario is done, status 2 (and a
 * message on stderr) if it failed. The io_uring scenarios are in
 * repro_children_uring.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libaio.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "repro.h"

#define AIO_READ_SIZE (64 << 10) /* 4 KiB-aligned buffer, offset and size */

/* ------------------------------------------------------------------------ */
/* child side                                                               */

/* Report a child-side failure and exit with status 2 (never returns). */
void child_fail(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dprintf(STDERR_FILENO, PROG " [child %d]: %s\n", (int)getpid(), msg);
	_exit(2);
}

void write_all_or_fail(int fd, const void *buf, size_t len, const char *what)
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

static void child_aio_direct(const char *dir, int pipe_fd)
{
	static struct iocb cbs[AIO_NR_READS];
	struct iocb *ptrs[AIO_NR_READS];
	io_context_t ctx = 0;
	char path[PATH_MAX];
	void *buf = NULL;
	int fd, ret, i;

	throttle_join();
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
	/* --lazy: the parent detaches the mount now, with the reads in flight. */
	if (g_lazy) {
		int pid = (int)getpid();

		write_all_or_fail(pipe_fd, &pid, sizeof(pid), "pipe");
	}
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

void child_main(enum scenario sc, const char *dir, int pipe_fd)
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
	case SC_AIO_DIRECT: child_aio_direct(dir, pipe_fd); break;
	case SC_PLAIN_EXIT: child_plain_exit(dir); break;
	case SC_URING_COMPLETE: child_uring_complete(dir); break;
	}
	child_fail("unknown scenario %d", (int)sc);
}
