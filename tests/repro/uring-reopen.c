// SPDX-License-Identifier: MIT
/*
 * uring-reopen: N times, opens one of two files in DIR (in turn), reads it
 * once through an io_uring ring by fd (not a fixed file) and closes it. The
 * kernel reuses a freed struct file at once, so the two files take turns at
 * the same address: fputrace's owners map sees each open as a new file at an
 * address it already holds. Prints {"reads":N}.
 *
 * Usage: uring-reopen DIR N
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int fail(const char *what)
{
	fprintf(stderr, "uring-reopen: %s failed\n", what);
	return 1;
}

static int read_once(struct io_uring *ring, const char *path)
{
	char buf[16];
	struct io_uring_cqe *cqe;
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return fail("open");
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	if (!sqe)
		return fail("io_uring_get_sqe");
	io_uring_prep_read(sqe, fd, buf, sizeof(buf), 0);
	if (io_uring_submit_and_wait(ring, 1) < 0 || io_uring_wait_cqe(ring, &cqe) < 0)
		return fail("io_uring read");
	int res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	close(fd);
	return res < 0 ? fail("the read") : 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: uring-reopen DIR N\n");
		return 2;
	}
	long n = strtol(argv[2], NULL, 10);
	char paths[2][4096];
	for (int i = 0; i < 2; i++) {
		snprintf(paths[i], sizeof(paths[i]), "%s/reopen-%d", argv[1], i);
		int fd = open(paths[i], O_CREAT | O_WRONLY | O_TRUNC, 0600);
		if (fd < 0 || write(fd, "reopen\n", 7) != 7)
			return fail("creating the files");
		close(fd);
	}
	struct io_uring ring;
	if (io_uring_queue_init(4, &ring, 0) < 0)
		return fail("io_uring_queue_init");
	for (long i = 0; i < n; i++)
		if (read_once(&ring, paths[i % 2]))
			return 1;
	io_uring_queue_exit(&ring);
	printf("{\"reads\":%ld}\n", n);
	return 0;
}
