// SPDX-License-Identifier: MIT
/*
 * fputrace-repro --lock: a file lock outlives the process that took it.
 *
 * uring-registered's child takes the lock (flock, or an OFD lock) on its file
 * before it registers the file with io_uring and exits. The lock belongs to
 * the open file and goes only when that file's last reference does (__fput,
 * locks_remove_file), which the ring's exit work defers. The parent, right
 * after the reap, opens the same file and asks for the lock without waiting:
 * EWOULDBLOCK, although no process holds it any more.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "repro.h"

enum lock_mode g_lock = LOCK_MODE_NONE;
const char *const lock_names[NR_LOCK_MODES] = {
	[LOCK_MODE_NONE] = "none",
	[LOCK_MODE_FLOCK] = "flock",
	[LOCK_MODE_OFD] = "ofd",
};

/* The whole file, exclusively; wait (the child) or not (the parent). */
static int target_file(int fd, bool wait)
{
	if (g_lock == LOCK_MODE_FLOCK)
		return flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB));
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
	return fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
}

void child_take_lock(int fd, const char *path)
{
	if (g_lock != LOCK_MODE_NONE && target_file(fd, true) < 0)
		child_fail("%s lock on %s: %s", lock_names[g_lock], path, strerror(errno));
}

/* The parent's attempt: 0, or the errno (EWOULDBLOCK/EAGAIN: still held). */
int parent_try_lock(const char *dir)
{
	char path[PATH_MAX];
	int fd, err = 0;

	if (join_path(path, sizeof(path), dir, file_name("registered")) < 0)
		return ENAMETOOLONG;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (target_file(fd, false) < 0)
		err = errno;
	close(fd); /* drops the lock if it got it */
	return err;
}
