// SPDX-License-Identifier: MIT
/*
 * uring-storm: load for the overload tests. Until SECONDS have passed, forks
 * children one after the other; each opens FILES files in DIR (a tmpfs of
 * the caller's), registers them with an io_uring ring, does one read through
 * the ring on each, closes the fds and exits with the ring open, so every
 * child leaves registered files behind for the ring's exit work. That makes
 * fputrace send records (registrations, exits, deferrals) as fast as the
 * machine can fork. Prints how many children ran.
 *
 * Usage: uring-storm DIR SECONDS [FILES (default 32)]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_FILES 256

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void child(const char *dir, int nfiles)
{
	static struct io_uring ring;
	static char buf[MAX_FILES][16];
	int fds[MAX_FILES];
	char path[4096];

	for (int i = 0; i < nfiles; i++) {
		snprintf(path, sizeof(path), "%s/storm-%d-%d", dir, (int)getpid(), i);
		fds[i] = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
		if (fds[i] < 0 || write(fds[i], "storm\n", 6) != 6)
			_exit(2);
		unlink(path);
	}
	if (io_uring_queue_init(MAX_FILES, &ring, 0) < 0)
		_exit(2);
	if (io_uring_register_files(&ring, fds, (unsigned)nfiles) < 0)
		_exit(2);
	for (int i = 0; i < nfiles; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		if (!sqe)
			_exit(2);
		io_uring_prep_read(sqe, fds[i], buf[i], sizeof(buf[i]), 0);
	}
	if (io_uring_submit_and_wait(&ring, (unsigned)nfiles) < 0)
		_exit(2);
	for (int i = 0; i < nfiles; i++)
		close(fds[i]);
	_exit(0); /* ring still open: its exit work drops the registered files */
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: uring-storm DIR SECONDS [FILES]\n");
		return 1;
	}
	const char *dir = argv[1];
	double until = now_s() + atof(argv[2]);
	int nfiles = argc > 3 ? atoi(argv[3]) : 32;
	if (nfiles < 1 || nfiles > MAX_FILES) {
		fprintf(stderr, "uring-storm: FILES must be 1..%d\n", MAX_FILES);
		return 1;
	}
	long children = 0, failed = 0;
	while (now_s() < until) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("uring-storm: fork");
			return 1;
		}
		if (pid == 0)
			child(dir, nfiles);
		int st;
		if (waitpid(pid, &st, 0) < 0) {
			perror("uring-storm: waitpid");
			return 1;
		}
		children++;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			failed++;
	}
	printf("{\"children\":%ld,\"failed\":%ld}\n", children, failed);
	return failed ? 1 : 0;
}
