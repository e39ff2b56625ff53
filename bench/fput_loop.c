// fput_loop: drives the last-reference fput path N times and prints the rate.
//   fput_loop FILE N
// Each iteration: open, mmap, close (the mapping keeps the file), munmap (the
// last reference: fput -> task_work_add -> __fput on the way back to user
// space). That is the path Guzik measured as most common (remove_vma), and the
// one fputrace's fput probes sit on.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: fput_loop FILE N\n");
		return 2;
	}
	long n = strtol(argv[2], NULL, 10);
	double t0 = now_s();
	for (long i = 0; i < n; i++) {
		int fd = open(argv[1], O_RDONLY);
		if (fd < 0) {
			perror("open");
			return 1;
		}
		void *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		close(fd);
		munmap(p, 4096);
	}
	double dt = now_s() - t0;
	printf("%ld iterations in %.3f s: %.0f ns per open+mmap+close+munmap\n", n, dt, dt * 1e9 / n);
	return 0;
}
