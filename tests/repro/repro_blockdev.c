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
#include <sys/stat.h>
#include <sys/sysmacros.h>
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

/*
 * --throttle-reads CGROUP2: the child's O_DIRECT reads go through blk-throttle
 * (io.max rbps on the loop device, in a cgroup of its own), so they are still
 * in flight after umount -l and the reap (5.10 and sid under TCG: refused at
 * the first attempt 10 times of 10, the device free 12-45 ms later). Without
 * it the race is the machine's: the reads, their completion, the deferred
 * __fput and the filesystem's teardown can all finish during umount -l's RCU
 * wait (sid under TCG lost 30 of 30 races), and
 * the exclusive open then finds nothing to be refused by.
 */
const char *g_throttle_root;
static char throttle_dir[PATH_MAX];

#define THROTTLE_RBPS (1 << 20) /* 1 MiB/s; the child reads 2 MiB */

static int write_text(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	int fd, err = 0;
	ssize_t len = (ssize_t)strlen(text);

	if (join_path(path, sizeof(path), dir, name) < 0)
		return ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (write(fd, text, (size_t)len) != len)
		err = errno ? errno : EIO;
	close(fd);
	return err;
}

int throttle_device(const char *device)
{
	char rule[64];
	struct stat st;
	int err;

	if (!throttle_dir[0]) {
		if ((size_t)snprintf(throttle_dir, sizeof(throttle_dir), "%s/fputrace-repro.%d", g_throttle_root,
				     (int)getpid()) >= sizeof(throttle_dir)) {
			setup_error("--throttle-reads path too long");
			return -1;
		}
		if ((err = write_text(g_throttle_root, "cgroup.subtree_control", "+io")) != 0) {
			setup_error("enable the io controller in %s/cgroup.subtree_control (a cgroup2 mount?): %s",
				    g_throttle_root, strerror(err));
			return -1;
		}
		if (mkdir(throttle_dir, 0755) < 0 && errno != EEXIST) {
			setup_error("mkdir %s: %s", throttle_dir, strerror(errno));
			return -1;
		}
	}
	if (stat(device, &st) < 0) {
		setup_error("stat %s: %s", device, strerror(errno));
		return -1;
	}
	snprintf(rule, sizeof(rule), "%u:%u rbps=%d", major(st.st_rdev), minor(st.st_rdev), THROTTLE_RBPS);
	if ((err = write_text(throttle_dir, "io.max", rule)) != 0) {
		setup_error("write \"%s\" to %s/io.max: %s", rule, throttle_dir, strerror(err));
		return -1;
	}
	return 0;
}

/* In the child, before its reads: into the throttled cgroup. */
void throttle_join(void)
{
	int err;

	if (throttle_dir[0] && (err = write_text(throttle_dir, "cgroup.procs", "0")) != 0)
		child_fail("join %s: %s", throttle_dir, strerror(err));
}

/* After the last attempt: its processes are all reaped. */
void throttle_remove(void)
{
	if (throttle_dir[0] && rmdir(throttle_dir) < 0)
		warnx_("rmdir %s: %s", throttle_dir, strerror(errno));
	throttle_dir[0] = '\0';
}
