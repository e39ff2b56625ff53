/*
 * fputrace-uring-load: io_uring load for the memory tests (issue 9).
 *
 *   fputrace-uring-load DIR [--files N] [--procs P] [--rounds R | --seconds S]
 *                           [--register] [--pending]
 *
 * Creates N files in DIR once (f00000, f00001, ...; FIFOs with --pending), then
 * runs rounds: each round forks P processes at once; each raises RLIMIT_NOFILE
 * to its hard limit, opens the N files, does one io_uring read on each, and
 * exits without closing anything; the parent reaps them all before the next
 * round. Rounds run R times, or until S seconds have passed.
 *
 *   --register  the files are also registered with the rings (fixed files, 256
 *               per ring, the reads use them): what fputrace reports and pins.
 *   --pending   FIFOs instead of regular files: the reads are still in flight
 *               when the process exits.
 *
 * Prints one line at the end: rounds, processes, files opened.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PER_RING 256 /* fixed files per ring: fputrace reads this many slots */

static void die(const char *what)
{
	fprintf(stderr, "fputrace-uring-load: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void make_files(const char *dir, long n, int fifos)
{
	char path[4096];
	for (long i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/f%05ld", dir, i);
		if (fifos) {
			if (mkfifo(path, 0600) && errno != EEXIST)
				die(path);
			continue;
		}
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd < 0) {
			if (errno == EEXIST)
				continue;
			die(path);
		}
		if (write(fd, "fputrace load\n", 14) != 14)
			die("write");
		close(fd);
	}
}

/* One ring for up to PER_RING files: register them if asked, read each once. */
static void read_batch(const int *fds, int n, int reg, int pending)
{
	static char buf[PER_RING][64];
	struct io_uring ring;
	int ret = io_uring_queue_init(PER_RING, &ring, 0);
	if (ret < 0) {
		errno = -ret;
		die("io_uring_queue_init");
	}
	if (reg && (ret = io_uring_register_files(&ring, fds, n)) < 0) {
		errno = -ret;
		die("io_uring_register_files");
	}
	for (int i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		io_uring_prep_read(sqe, reg ? i : fds[i], buf[i], sizeof buf[i], 0);
		if (reg)
			sqe->flags |= IOSQE_FIXED_FILE;
	}
	if ((ret = io_uring_submit(&ring)) < 0) {
		errno = -ret;
		die("io_uring_submit");
	}
	if (pending)
		return; /* the reads wait on empty FIFOs: left in flight, ring and all */
	for (int i = 0; i < n; i++) {
		struct io_uring_cqe *cqe;
		if ((ret = io_uring_wait_cqe(&ring, &cqe)) < 0) {
			errno = -ret;
			die("io_uring_wait_cqe");
		}
		io_uring_cqe_seen(&ring, cqe);
	}
	/* The ring stays open: it goes away with the process, like the files. */
}

static void child(const char *dir, long n, int reg, int pending)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	int fds[PER_RING];
	int used = 0;
	char path[4096];
	for (long i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/f%05ld", dir, i);
		/* O_RDWR: a FIFO opened so does not wait for a writer (and, blocking,
		 * its read stays in flight rather than failing with EAGAIN). */
		fds[used] = open(path, pending ? O_RDWR : O_RDONLY);
		if (fds[used] < 0)
			die(path);
		if (++used == PER_RING || i == n - 1) {
			read_batch(fds, used, reg, pending);
			used = 0;
		}
	}
	_exit(0); /* nothing closed: exit drops it all */
}

static long arg_long(const char *s, const char *name)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*end || v <= 0) {
		fprintf(stderr, "fputrace-uring-load: bad %s '%s'\n", name, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: fputrace-uring-load DIR [--files N] [--procs P] "
				"[--rounds R | --seconds S] [--register] [--pending]\n");
		return 2;
	}
	const char *dir = argv[1];
	long files = 19000, procs = 4, rounds = 1, seconds = 0;
	int reg = 0, pending = 0;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--register"))
			reg = 1;
		else if (!strcmp(argv[i], "--pending"))
			pending = 1;
		else if (i + 1 < argc && !strcmp(argv[i], "--files"))
			files = arg_long(argv[++i], "--files");
		else if (i + 1 < argc && !strcmp(argv[i], "--procs"))
			procs = arg_long(argv[++i], "--procs");
		else if (i + 1 < argc && !strcmp(argv[i], "--rounds"))
			rounds = arg_long(argv[++i], "--rounds");
		else if (i + 1 < argc && !strcmp(argv[i], "--seconds"))
			seconds = arg_long(argv[++i], "--seconds");
		else {
			fprintf(stderr, "fputrace-uring-load: unknown argument '%s'\n", argv[i]);
			return 2;
		}
	}
	make_files(dir, files, pending);
	double start = now_s();
	long done = 0;
	for (;;) {
		if (seconds ? now_s() - start >= seconds : done >= rounds)
			break;
		for (long p = 0; p < procs; p++) {
			pid_t pid = fork();
			if (pid < 0)
				die("fork");
			if (pid == 0)
				child(dir, files, reg, pending);
		}
		int failed = 0, status;
		while (wait(&status) > 0)
			failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
		if (failed) {
			fprintf(stderr, "fputrace-uring-load: a child failed\n");
			return 1;
		}
		done++;
	}
	printf("fputrace-uring-load: %ld rounds of %ld processes x %ld files (%s%s)\n", done, procs, files,
	       reg ? "registered, " : "", pending ? "pending reads" : "reads that complete");
	return 0;
}
