// SPDX-License-Identifier: MIT
/*
 * umount-race: an EBUSY whose cause goes away right after it, or that only
 * the kernel can see. Prints one JSON line: {"mount":DIR,"umount":"EBUSY"|...,
 * "holder":PID}. Needs root.
 *
 *   umount-race child DIR   DIR has a child mount; umount DIR (EBUSY), 1 ms
 *                           later the child is unmounted, then DIR
 *   umount-race holder DIR [MS]  a process holds a file on DIR; umount DIR
 *                           (EBUSY), MS (default 50) ms later the holder is
 *                           killed, then DIR
 *   umount-race loop DIR    a loop device is backed by a file on DIR (only
 *                           the kernel holds it); umount DIR (EBUSY), then
 *                           the loop device is detached, then DIR
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "umount-race: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void sleep_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void report(const char *dir, int err, int holder)
{
	printf("{\"mount\":\"%s\",\"umount\":\"%s\",\"holder\":%d}\n", dir,
	       err == 0 ? "ok" : err == EBUSY ? "EBUSY" : strerror(err), holder);
	fflush(stdout);
}

static int try_umount(const char *dir)
{
	return umount2(dir, 0) == 0 ? 0 : errno;
}

static void with_child(const char *dir)
{
	char sub[4096];
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	if (mkdir(sub, 0755) < 0 || mount("race-sub", sub, "tmpfs", 0, NULL) < 0)
		die("mount child");
	int err = try_umount(dir);
	sleep_us(1000);
	if (umount2(sub, 0) < 0)
		die("umount child");
	report(dir, err, 0);
}

static void with_holder(const char *dir, long kill_after_ms)
{
	char file[4096];
	int ready[2];
	snprintf(file, sizeof(file), "%s/held", dir);
	if (pipe(ready) < 0)
		die("pipe");
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		int fd = open(file, O_CREAT | O_RDWR, 0600);
		if (fd < 0)
			_exit(2);
		if (write(ready[1], "x", 1) != 1)
			_exit(2);
		pause();
		_exit(0);
	}
	char c;
	if (read(ready[0], &c, 1) != 1)
		die("holder did not start");
	int err = try_umount(dir);
	sleep_us(kill_after_ms * 1000);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	report(dir, err, pid);
}

static void with_loop(const char *dir)
{
	char img[4096], dev[64];
	snprintf(img, sizeof(img), "%s/img", dir);
	int fd = open(img, O_CREAT | O_RDWR, 0600);
	if (fd < 0 || ftruncate(fd, 1 << 20) < 0)
		die("image");
	int ctl = open("/dev/loop-control", O_RDWR);
	if (ctl < 0)
		die("/dev/loop-control");
	int n = ioctl(ctl, LOOP_CTL_GET_FREE);
	if (n < 0)
		die("LOOP_CTL_GET_FREE");
	snprintf(dev, sizeof(dev), "/dev/loop%d", n);
	int lfd = -1;
	for (int i = 0; i < 100 && lfd < 0; i++) { /* devtmpfs creates the node a bit later */
		lfd = open(dev, O_RDWR);
		if (lfd < 0)
			sleep_us(10000);
	}
	if (lfd < 0)
		die(dev);
	if (ioctl(lfd, LOOP_SET_FD, fd) < 0)
		die("LOOP_SET_FD");
	close(fd);
	int err = try_umount(dir);
	if (ioctl(lfd, LOOP_CLR_FD, 0) < 0)
		die("LOOP_CLR_FD");
	close(lfd);
	close(ctl);
	report(dir, err, 0);
}

int main(int argc, char **argv)
{
	if (argc != 3 && !(argc == 4 && !strcmp(argv[1], "holder"))) {
		fprintf(stderr, "usage: umount-race child|holder|loop DIR (holder: [MS])\n");
		return 1;
	}
	const char *dir = argv[2];
	mkdir(dir, 0755);
	if (mount("race", dir, "tmpfs", 0, NULL) < 0)
		die("mount");
	if (!strcmp(argv[1], "child"))
		with_child(dir);
	else if (!strcmp(argv[1], "holder"))
		with_holder(dir, argc == 4 ? atol(argv[3]) : 50);
	else if (!strcmp(argv[1], "loop"))
		with_loop(dir);
	else
		return fprintf(stderr, "umount-race: unknown mode %s\n", argv[1]), 1;
	for (int i = 0; i < 200 && umount2(dir, 0) < 0; i++)
		sleep_us(10000);
	rmdir(dir);
	return 0;
}
