// ops_loop: the syscall-heavy loops of scripts/bench.sh; prints a rate.
//   ops_loop open FILE SECONDS   open, read 4 KiB, close, as often as possible
//   ops_loop fork SECONDS        fork, child _exit(0), parent waitpid
// Prints one line ending in "<rate> ops/s" (the benchmark reads the second to
// last field). The clock is read every 64 iterations, so it costs nothing.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int usage(void)
{
	fprintf(stderr, "usage: ops_loop open FILE SECONDS | ops_loop fork SECONDS\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	int open_mode = strcmp(argv[1], "open") == 0;
	if (!open_mode && strcmp(argv[1], "fork") != 0)
		return usage();
	if (argc != (open_mode ? 4 : 3))
		return usage();
	const char *file = open_mode ? argv[2] : NULL;
	double secs = strtod(argv[argc - 1], NULL);
	if (!(secs > 0))
		return usage();

	static char buf[4096];
	long n = 0;
	double t0 = now_s(), t = t0;
	while (t - t0 < secs) {
		for (int i = 0; i < 64; i++, n++) {
			if (open_mode) {
				int fd = open(file, O_RDONLY);
				if (fd < 0) {
					perror(file);
					return 1;
				}
				if (read(fd, buf, sizeof buf) < 0) {
					perror("read");
					return 1;
				}
				close(fd);
			} else {
				pid_t pid = fork();
				if (pid < 0) {
					perror("fork");
					return 1;
				}
				if (pid == 0)
					_exit(0);
				if (waitpid(pid, NULL, 0) != pid) {
					perror("waitpid");
					return 1;
				}
			}
		}
		t = now_s();
	}
	double dt = t - t0;
	printf("%s: %ld in %.3f s: %.0f ops/s\n", open_mode ? "open+read+close" : "fork+exit+wait", n, dt, n / dt);
	return 0;
}
