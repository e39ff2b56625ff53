// SPDX-License-Identifier: MIT
/*
 * fputrace-repro: one attempt's mount (a fresh tmpfs, or for aio-direct the
 * ext4 image on a loop device, with its data file), its teardown, and the
 * parent's first umount right after the reap.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repro.h"

#define TMPFS_OPTS "size=16m"

/* ------------------------------------------------------------------------ */
/* per-attempt mount setup / teardown                                       */

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
const char *fixed_dir;
bool g_relative_umount;

/* The parent's umount right after the reap: with --relative-umount from the
 * mount's parent directory by its last name, as `cd /srv && umount data`. */
int first_umount(const char *dir)
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

int attempt_setup(enum scenario sc, const char *base, const char *image,
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
		if (g_throttle_root && throttle_device(a->loop.path) < 0)
			return -1;
		if (mount(a->loop.path, a->dir, "ext4", 0, NULL) < 0) {
			setup_error("mount -t ext4 %s (%s) on %s: %s", a->loop.path, image, a->dir,
				    strerror(errno));
			return -1;
		}
		a->mounted = true;
		/* --lazy opens the device node again (exclusively) after the umount. */
		if (a->loop.path_tmp && !g_lazy) {
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
int attempt_teardown(struct attempt_ctx *a)
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
