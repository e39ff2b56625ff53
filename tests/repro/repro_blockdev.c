// SPDX-License-Identifier: MIT
/*
 * fputrace-repro aio-direct --lazy: a block device stays claimed after its
 * filesystem was lazily unmounted.
 *
 * While the child's O_DIRECT aio reads are in flight, the parent detaches the
 * ext4 mount (umount -l: it succeeds at once). The superblock lives on while
 * any file holds the detached mount: the reads' final fput runs on a kernel
 * thread, so through delayed_fput, then the mount's last reference goes
 * through delayed_mntput. Until then the loop device is claimed by ext4, and
 * an exclusive open of it (what mkfs, losetup and cryptsetup do) fails with
 * EBUSY although nothing is mounted and no process is left.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "repro.h"

bool g_lazy;

int parent_lazy_umount(struct attempt_ctx *a, int pipe_fd)
{
	int word;

	/* The child's word: its reads are submitted (EOF if it failed). */
	if (read(pipe_fd, &word, sizeof(word)) != (ssize_t)sizeof(word))
		return EPIPE;
	if (umount2(a->dir, MNT_DETACH) < 0)
		return errno;
	a->mounted = false;
	return 0;
}

int parent_try_exclusive(const struct attempt_ctx *a)
{
	int fd = open(a->loop.path, O_RDONLY | O_EXCL | O_CLOEXEC);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

int wait_for_exclusive(const struct attempt_ctx *a, const char *scenario, long attempt)
{
	long long start = now_ms(), took = -1;
	int err;

	for (;;) {
		sleep_ms(5);
		err = parent_try_exclusive(a);
		if (err == 0) {
			took = now_ms() - start;
			break;
		}
		if (err != EBUSY || now_ms() - start >= 10000)
			break;
	}
	printf("{\"scenario\":\"%s\",\"attempt\":%ld,\"exclusive_cleanup_after_ms\":%lld}\n", scenario, attempt,
	       took);
	fflush(stdout);
	if (took < 0) {
		setup_error("attempt %ld: %s stayed claimed for 10 s (leak?)", attempt, a->loop.path);
		return -1;
	}
	return 0;
}
