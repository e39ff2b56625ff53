// SPDX-License-Identifier: MIT
/*
 * fputrace-repro: device nodes, loop devices, and the ext4 image aio-direct
 * mounts when no --image is given.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "repro.h"

#define IMAGE_SIZE (64LL << 20)            /* image we create ourselves */

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

int loop_attach(const char *image, const char *base, struct loopdev *ld)
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

int loop_detach(struct loopdev *ld)
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

int make_image(char *out, size_t outlen)
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
