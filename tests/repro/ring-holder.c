// SPDX-License-Identifier: MIT
/*
 * ring-holder: a file whose last reference sits in an io_uring ring that
 * outlives the process that set it up, for the tests of `fputrace busy` on a
 * block device and on a locked file.
 *
 *   ring-holder --image EXT4-IMAGE --dir DIR [--lock] [--lazy] [--go FILE]
 *
 * The registrar attaches the image to a free loop device (autoclear), mounts
 * it on DIR, creates DIR/held (flock LOCK_EX with --lock), registers it in a
 * ring's fixed file table and closes its fd, then forks the holder, which
 * inherits only the ring. With --go it waits until FILE exists (so a tracer
 * can start first); with --lazy it detaches DIR (umount -l); then it exits.
 * The holder waits until it is reparented, prints one JSON line
 *   {"device":NODE,"file":"DIR/held","registrar":PID,"holder":PID}
 * and waits for EOF on stdin. Until then no process has the file open (lsof
 * and fuser see only an io_uring fd), yet it keeps its lock, the mount and the
 * loop device. At EOF the holder exits: the ring's teardown, on a kworker,
 * drops the file through delayed_fput.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repro.h"

const char *fixed_dir;
bool g_relative_umount;

static void usage_exit(void)
{
	fprintf(stderr, "usage: ring-holder --image EXT4-IMAGE --dir DIR [--lock] [--lazy] [--go FILE]\n");
	exit(2);
}

static void __attribute__((noreturn)) die(const char *what)
{
	fprintf(stderr, "ring-holder: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void wait_for_file(const char *path)
{
	if (wait_for_path(path, 60000) < 0) {
		fprintf(stderr, "ring-holder: %s did not appear within 60 s\n", path);
		exit(1);
	}
}

/* The holder: keeps the ring (and through it the file) until stdin closes. */
static void __attribute__((noreturn)) hold(pid_t registrar, const struct loopdev *ld, const char *file)
{
	char buf[64];
	char dev_json[PATH_MAX * 2], file_json[PATH_MAX * 2];

	while (getppid() == registrar)
		sleep_ms(5);
	json_escape(dev_json, sizeof(dev_json), ld->path);
	json_escape(file_json, sizeof(file_json), file);
	printf("{\"device\":\"%s\",\"file\":\"%s\",\"registrar\":%d,\"holder\":%d}\n", dev_json, file_json,
	       (int)registrar, (int)getpid());
	fflush(stdout);
	while (read(0, buf, sizeof(buf)) > 0)
		;
	if (ld->path_tmp)
		unlink(ld->path);
	_exit(0);
}

int main(int argc, char **argv)
{
	const char *image = NULL, *dir = NULL, *go = NULL;
	bool lock = false, lazy = false;
	static struct io_uring ring;
	struct loopdev ld;
	char file[PATH_MAX];
	int i, fd, ret;
	pid_t registrar = getpid();

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--image") && i + 1 < argc)
			image = argv[++i];
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			dir = argv[++i];
		else if (!strcmp(argv[i], "--go") && i + 1 < argc)
			go = argv[++i];
		else if (!strcmp(argv[i], "--lock"))
			lock = true;
		else if (!strcmp(argv[i], "--lazy"))
			lazy = true;
		else
			usage_exit();
	}
	if (!image || !dir)
		usage_exit();
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		die(dir);
	if (loop_attach(image, "/tmp", &ld) < 0)
		return 1;
	if (mount(ld.path, dir, "ext4", 0, NULL) < 0)
		die("mount");
	/* Mounted, so LOOP_CLR_FD only sets autoclear: the device goes with
	 * the filesystem's last reference, and no fd of ours keeps it open. */
	if (ioctl(ld.fd, LOOP_CLR_FD) < 0)
		die("LOOP_CLR_FD");
	close(ld.fd);
	ld.fd = -1;

	if (join_path(file, sizeof(file), dir, "held") < 0)
		die("path");
	fd = open(file, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die(file);
	if (lock && flock(fd, LOCK_EX | LOCK_NB) < 0)
		die("flock");
	ret = io_uring_queue_init(4, &ring, 0);
	if (ret < 0) {
		errno = -ret;
		die("io_uring_queue_init");
	}
	ret = io_uring_register_files(&ring, &fd, 1);
	if (ret < 0) {
		errno = -ret;
		die("io_uring_register_files");
	}
	close(fd);

	pid_t holder = fork();
	if (holder < 0)
		die("fork");
	if (holder == 0)
		hold(registrar, &ld, file);
	if (go)
		wait_for_file(go);
	if (lazy && umount2(dir, MNT_DETACH) < 0)
		die("umount -l");
	return 0;
}
