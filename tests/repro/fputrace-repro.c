// SPDX-License-Identifier: MIT
/*
 * fputrace-repro: reproduce "umount fails with EBUSY after the process that
 * used the filesystem has exited and been reaped".
 *
 * The last reference of a struct file can be dropped asynchronously: io_uring
 * drops registered files and pending requests from its ring-exit work on a
 * kworker, aio drops them from the I/O completion (IRQ/softirq/kworker). Those
 * final fput()s go to the kernel's delayed_fput list and run one jiffy later,
 * so the mount reference (mntput in __fput) can outlive the process. A parent
 * that waitpid()s the child and immediately calls umount2() then gets EBUSY.
 *
 * Usage:
 *   fputrace-repro SCENARIO [--base DIR] [--attempts N] [--until-busy]
 *                           [--image FILE] [--hold-ms N] [--hostile-names]
 *
 * SCENARIO: uring-registered | uring-pending | uring-pending-thread |
 *           aio-direct | plain-exit | uring-complete
 *
 * stdout: exactly one JSON line per attempt, plus one "cleanup" JSON line for
 * each attempt whose umount failed with EBUSY. Diagnostics go to stderr.
 * Exit status: 0 if every attempt ran as intended (whether or not EBUSY was
 * seen), 1 on setup failure (with a one-line message on stderr).
 * The child exits with status 2 (and a message on stderr) if its part of the
 * scenario failed; the parent then reports a setup failure.
 *
 * Build: gcc -O2 -static -o fputrace-repro fputrace-repro.c repro_*.c
 *        -luring -laio -lpthread
 * (what each source file does: see repro.h)
 * Needs root (mount, loop devices).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libaio.h>
#include <liburing.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "repro.h"

#define CLEANUP_STEP_MS 5
#define CLEANUP_LIMIT_MS 10000

static const char *const scenario_names[] = {
	[SC_URING_REGISTERED] = "uring-registered",
	[SC_URING_PENDING] = "uring-pending",
	[SC_URING_PENDING_THREAD] = "uring-pending-thread",
	[SC_AIO_DIRECT] = "aio-direct",
	[SC_PLAIN_EXIT] = "plain-exit",
	[SC_URING_COMPLETE] = "uring-complete",
};
#define NR_SCENARIOS ((int)(sizeof(scenario_names) / sizeof(scenario_names[0])))

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

/* ------------------------------------------------------------------------ */
/* main                                                                     */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " SCENARIO [--base DIR] [--attempts N] [--until-busy] [--image FILE]\n"
		"                      [--hold-ms N] [--hostile-names] [--register MODE]\n"
		"                      [--relative-umount] [--lock flock|ofd] [--lazy]\n"
		"                      [--hold-until FILE] [--throttle-reads CGROUP2]\n"
		"\n"
		"Per attempt: mount a fresh tmpfs (aio-direct: the ext4 image on a loop device)\n"
		"on a new directory under DIR (default /tmp), fork a child that runs SCENARIO\n"
		"and exits, reap it, umount at once; print one JSON line per attempt.\n"
		"\n"
		"SCENARIO:\n"
		"  uring-registered      file registered with IORING_REGISTER_FILES, fd closed\n"
		"  uring-pending         io_uring read pending on a FIFO, fd closed\n"
		"  uring-pending-thread  same, done by a non-leader thread that exits first\n"
		"  aio-direct            %d O_DIRECT aio reads in flight at exit (ext4 on loop)\n"
		"  plain-exit            exit with a plain fd open (control: never EBUSY)\n"
		"  uring-complete        io_uring reads that all complete before exit (control)\n"
		"\n"
		"  --base DIR      where to create the mount directories (default /tmp)\n"
		"  --attempts N    number of attempts (default 1)\n"
		"  --until-busy    stop after the first attempt whose umount got EBUSY\n"
		"  --keep-mounted  do not unmount: leave the mount (and its directory) to the caller\n"
		"  --dir DIR       mount at DIR (created if missing) instead of a new directory under --base\n"
		"  --image FILE    ext4 image for aio-direct (default: make a 64 MiB one in /tmp\n"
		"                  with mkfs.ext4 -q -F; it is removed at exit)\n"
		"  --register MODE uring-registered: how the file gets into the fixed file table:\n"
		"                  files (default), files2, update, update2, openat-direct\n"
		"  --relative-umount  the first umount is made from the mount's parent directory\n"
		"                  with a relative path\n"
		"  --lock MODE     uring-registered: the child locks its file (flock or ofd) before\n"
		"                  registering it; the parent tries the same lock without waiting\n"
		"                  right after the reap (\"lock\" in the line: EWOULDBLOCK or OK),\n"
		"                  then waits for it; --until-busy then stops at a refused lock\n"
		"  --lazy          umount -l instead of umount (\"lazy_umount\" in the line);\n"
		"                  aio-direct: while the reads are in flight, and after the reap\n"
		"                  the loop device is opened exclusively (as mkfs does;\n"
		"                  \"exclusive\": EBUSY or ok; --until-busy stops at an EBUSY)\n"
		"  --throttle-reads CGROUP2\n"
		"                  aio-direct: the child's reads are throttled (io.max rbps on\n"
		"                  the loop device, in a new cgroup under the cgroup2 mount\n"
		"                  CGROUP2), so they are still in flight after the reap\n"
		"  --hold-ms N     uring-registered: the child sleeps N ms after registering the\n"
		"                  file (and closing its fd) before it exits (default 0)\n"
		"  --hold-until FILE  uring-registered: then the child waits until FILE exists\n"
		"                  (at most 120 s) before it exits\n"
		"  --hostile-names names that are not UTF-8: the child's comm, the file's name\n"
		"                  and the mount directory hold invalid bytes, control characters\n"
		"                  and characters cut at the kernel's and BPF's name limits;\n"
		"                  each attempt line then also has \"comm\" and \"file\"\n"
		"\n"
		"Exit status: 0 if all attempts ran (EBUSY or not), 1 on setup failure.\n",
		AIO_NR_READS);
}

/* After a refused lock: how long until it is granted (the deferred release
 * ran), as a "lock_cleanup_after_ms" line; -1 if it never is (a leak). */
static int wait_for_lock(const char *dir, const char *scenario, long attempt)
{
	long long start = now_ms(), took = -1;
	int err;

	for (;;) {
		sleep_ms(CLEANUP_STEP_MS);
		err = parent_try_lock(dir);
		if (err == 0) {
			took = now_ms() - start;
			break;
		}
		if (err != EAGAIN || now_ms() - start >= CLEANUP_LIMIT_MS)
			break;
	}
	printf("{\"scenario\":\"%s\",\"attempt\":%ld,\"lock_cleanup_after_ms\":%lld}\n", scenario, attempt, took);
	fflush(stdout);
	if (took < 0) {
		setup_error("attempt %ld: the lock on %s stayed held for %d ms (leak?)", attempt, dir, CLEANUP_LIMIT_MS);
		return -1;
	}
	return 0;
}

static int parse_scenario(const char *s)
{
	int i;

	for (i = 0; i < NR_SCENARIOS; i++)
		if (strcmp(s, scenario_names[i]) == 0)
			return i;
	return -1;
}

static int preflight(enum scenario sc)
{
	if (geteuid() != 0)
		warnx_("not running as root: mount will probably fail");

	if (sc == SC_URING_REGISTERED || sc == SC_URING_PENDING ||
	    sc == SC_URING_PENDING_THREAD || sc == SC_URING_COMPLETE) {
		struct io_uring ring;
		int ret = io_uring_queue_init(2, &ring, 0);

		if (ret < 0) {
			setup_error("io_uring unavailable: io_uring_queue_init: %s%s", strerror(-ret),
				    ret == -EPERM ? " (kernel.io_uring_disabled?)" : "");
			return -1;
		}
		io_uring_queue_exit(&ring);
	} else if (sc == SC_AIO_DIRECT) {
		io_context_t ctx = 0;
		int ret = io_setup(1, &ctx);

		if (ret < 0) {
			setup_error("aio unavailable: io_setup: %s", strerror(-ret));
			return -1;
		}
		io_destroy(ctx);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *base = "/tmp", *image = NULL;
	char made_image[PATH_MAX] = "";
	long attempts = 1, attempt;
	bool until_busy = false;
	bool keep_mounted = false;
	struct sigaction sa;
	enum scenario sc;
	int i, sci, rc = 0;

	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	if (argc < 2 || argv[1][0] == '-') {
		setup_error("missing SCENARIO (try --help)");
		return 1;
	}
	sci = parse_scenario(argv[1]);
	if (sci < 0) {
		setup_error("unknown scenario '%s' (try --help)", argv[1]);
		return 1;
	}
	sc = (enum scenario)sci;

	for (i = 2; i < argc; i++) {
		const char *opt = argv[i];
		const char *val = NULL;
		bool takes_val = !strcmp(opt, "--base") || !strcmp(opt, "--attempts") ||
				 !strcmp(opt, "--image") || !strcmp(opt, "--dir") ||
				 !strcmp(opt, "--hold-ms") || !strcmp(opt, "--register") ||
				 !strcmp(opt, "--lock") || !strcmp(opt, "--throttle-reads") ||
				 !strcmp(opt, "--hold-until");

		if (takes_val) {
			if (i + 1 >= argc) {
				setup_error("%s needs an argument", opt);
				return 1;
			}
			val = argv[++i];
		}
		if (!strcmp(opt, "--base")) {
			base = val;
		} else if (!strcmp(opt, "--dir")) {
			fixed_dir = val;
		} else if (!strcmp(opt, "--image")) {
			image = val;
		} else if (!strcmp(opt, "--attempts")) {
			char *end;

			errno = 0;
			attempts = strtol(val, &end, 10);
			if (errno || *end || end == val || attempts < 1) {
				setup_error("--attempts: '%s' is not a positive number", val);
				return 1;
			}
		} else if (!strcmp(opt, "--hold-ms")) {
			char *end;

			errno = 0;
			g_hold_ms = strtol(val, &end, 10);
			if (errno || *end || end == val || g_hold_ms < 0) {
				setup_error("--hold-ms: '%s' is not a number of milliseconds", val);
				return 1;
			}
		} else if (!strcmp(opt, "--register")) {
			int m = -1;
			for (int k = 0; k < (int)(sizeof(register_names) / sizeof(register_names[0])); k++)
				if (!strcmp(val, register_names[k]))
					m = k;
			if (m < 0) {
				setup_error("--register: '%s' is not files, files2, update, update2 or openat-direct", val);
				return 1;
			}
			g_register = (enum register_mode)m;
		} else if (!strcmp(opt, "--lock")) {
			if (!strcmp(val, "flock")) {
				g_lock = LOCK_MODE_FLOCK;
			} else if (!strcmp(val, "ofd")) {
				g_lock = LOCK_MODE_OFD;
			} else {
				setup_error("--lock: '%s' is not flock or ofd", val);
				return 1;
			}
		} else if (!strcmp(opt, "--lazy")) {
			g_lazy = true;
		} else if (!strcmp(opt, "--hold-until")) {
			g_hold_until = val;
		} else if (!strcmp(opt, "--throttle-reads")) {
			g_throttle_root = val;
		} else if (!strcmp(opt, "--relative-umount")) {
			g_relative_umount = true;
		} else if (!strcmp(opt, "--until-busy")) {
			until_busy = true;
		} else if (!strcmp(opt, "--keep-mounted")) {
			keep_mounted = true;
		} else if (!strcmp(opt, "--hostile-names")) {
			g_hostile = true;
		} else if (!strcmp(opt, "-h") || !strcmp(opt, "--help")) {
			usage(stdout);
			return 0;
		} else {
			setup_error("unknown option '%s' (try --help)", opt);
			return 1;
		}
	}
	if (image && sc != SC_AIO_DIRECT)
		warnx_("--image is only used by aio-direct; ignored");
	if (g_lock && (sc != SC_URING_REGISTERED || g_register == REG_OPENAT_DIRECT)) {
		setup_error("--lock needs uring-registered with an fd (not --register openat-direct)");
		return 1;
	}
	if (g_lazy && ((sc != SC_AIO_DIRECT && sc != SC_URING_REGISTERED) || keep_mounted)) {
		setup_error("--lazy needs aio-direct or uring-registered (and no --keep-mounted)");
		return 1;
	}
	if (g_throttle_root && sc != SC_AIO_DIRECT) {
		setup_error("--throttle-reads needs aio-direct");
		return 1;
	}
	if (g_hold_until && sc != SC_URING_REGISTERED) {
		setup_error("--hold-until needs uring-registered");
		return 1;
	}
	if (g_hold_ms && sc != SC_URING_REGISTERED)
		warnx_("--hold-ms is only used by uring-registered; ignored");

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: finish the attempt, then stop */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	if (preflight(sc) < 0)
		return 1;

	if (sc == SC_AIO_DIRECT && !image) {
		if (make_image(made_image, sizeof(made_image)) < 0)
			return 1;
		image = made_image;
	}

	for (attempt = 1; attempt <= attempts; attempt++) {
		struct attempt_ctx a;
		char dir_json[5 * PATH_MAX], names_json[12 * PATH_MAX] = "";
		int pfd[2], st, uerr, lerr = 0, xerr = 0, child_status, tid = 0;
		char lock_json[96] = "", lazy_json[PATH_MAX * 5 + 128] = "";
		bool child_ok;
		pid_t pid;

		if (g_stop) {
			setup_error("interrupted before attempt %ld", attempt);
			rc = 1;
			break;
		}
		if (attempt_setup(sc, base, image, &a) < 0) {
			attempt_teardown(&a);
			rc = 1;
			break;
		}
		if (pipe2(pfd, O_CLOEXEC) < 0) {
			setup_error("pipe: %s", strerror(errno));
			attempt_teardown(&a);
			rc = 1;
			break;
		}

		fflush(stdout);
		fflush(stderr);
		pid = fork();
		if (pid < 0) {
			setup_error("fork: %s", strerror(errno));
			close(pfd[0]);
			close(pfd[1]);
			attempt_teardown(&a);
			rc = 1;
			break;
		}
		if (pid == 0) {
			close(pfd[0]);
			child_main(sc, a.dir, pfd[1]);
			_exit(2); /* not reached */
		}
		close(pfd[1]);

		/* --lazy: the mount is detached while the child's reads are in flight. */
		if (g_lazy && sc == SC_AIO_DIRECT && (xerr = parent_lazy_umount(&a, pfd[0])) != 0) {
			setup_error("attempt %ld: umount -l %s: %s", attempt, a.dir, strerror(xerr));
			rc = 1;
		}
		/* Reap the child completely, then umount immediately. */
		while (waitpid(pid, &st, 0) < 0) {
			if (errno != EINTR) {
				setup_error("waitpid: %s", strerror(errno));
				st = -1;
				break;
			}
		}
		/* --lock: the lock first, at once; the umount after it. */
		if (g_lock)
			lerr = parent_try_lock(a.dir);
		if (g_lazy && sc == SC_AIO_DIRECT) {
			/* Detached already: the exclusive open is the test. */
			uerr = -1;
			if (rc == 0)
				xerr = parent_try_exclusive(&a);
		} else if (g_lazy) {
			/* uring-registered: umount -l right after the reap. */
			uerr = -1;
			if (umount2(a.dir, MNT_DETACH) < 0) {
				setup_error("attempt %ld: umount -l %s: %s", attempt, a.dir, strerror(errno));
				rc = 1;
			} else {
				a.mounted = false;
			}
		} else if (keep_mounted) {
			/* Leave the unmount to the caller (fputrace umount). */
			uerr = -1;
			a.mounted = false;
			a.dir_created = false;
		} else {
			uerr = first_umount(a.dir) == 0 ? 0 : errno;
			if (uerr == 0)
				a.mounted = false;
		}

		/* Everything else happens after the umount. */
		if (read(pfd[0], &tid, sizeof(tid)) != (ssize_t)sizeof(tid))
			tid = 0;
		close(pfd[0]);

		if (st == -1)
			child_status = -1;
		else if (WIFEXITED(st))
			child_status = WEXITSTATUS(st);
		else if (WIFSIGNALED(st))
			child_status = 128 + WTERMSIG(st);
		else
			child_status = -1;
		child_ok = child_status == 0;

		if (g_lock)
			snprintf(lock_json, sizeof(lock_json), ",\"lock_mode\":\"%s\",\"lock_errno\":%d,\"lock\":\"%s\"",
				 lock_names[g_lock], lerr, lerr == EAGAIN ? "EWOULDBLOCK" : errno_name(lerr));
		if (g_lazy && sc != SC_AIO_DIRECT) {
			snprintf(lazy_json, sizeof(lazy_json), ",\"lazy_umount\":\"%s\"", rc ? "failed" : "ok");
		} else if (g_lazy) {
			char dev_json[PATH_MAX * 5];

			json_escape(dev_json, sizeof(dev_json), a.loop.path);
			snprintf(lazy_json, sizeof(lazy_json),
				 ",\"lazy_umount\":\"ok\",\"device\":\"%s\",\"exclusive_errno\":%d,\"exclusive\":\"%s\"",
				 dev_json, xerr, errno_name(xerr));
		}
		json_escape(dir_json, sizeof(dir_json), a.dir);
		if (g_hostile && sc != SC_AIO_DIRECT)
			hostile_names_json(names_json, sizeof(names_json), sc, a.dir);
		/* origin_tgid: the process a correct attribution names. For
		 * uring-pending that is the child's helper that submitted. */
		printf("{\"scenario\":\"%s\",\"attempt\":%ld,\"child_tgid\":%d,"
		       "\"child_thread_tid\":%d,\"origin_tgid\":%d,\"mount\":\"%s\",\"umount_errno\":%d,"
		       "\"umount\":\"%s\",\"child_status\":%d%s%s%s}\n",
		       scenario_names[sc], attempt, (int)pid,
		       sc == SC_URING_PENDING_THREAD ? tid : 0,
		       sc == SC_URING_PENDING && tid > 0 ? tid : (int)pid, dir_json, uerr, errno_name(uerr),
		       child_status, lock_json, lazy_json, names_json);
		fflush(stdout);
		if (g_lazy && xerr == EBUSY && wait_for_exclusive(&a, scenario_names[sc], attempt) < 0)
			rc = 1;
		else if (g_lazy && xerr && xerr != EBUSY && rc == 0) {
			setup_error("attempt %ld: exclusive open of %s: %s", attempt, a.loop.path, strerror(xerr));
			rc = 1;
		}
		if (lerr == EAGAIN && wait_for_lock(a.dir, scenario_names[sc], attempt) < 0)
			rc = 1;
		else if (g_lock && lerr && lerr != EAGAIN) {
			setup_error("attempt %ld: lock on %s: %s", attempt, a.dir, strerror(lerr));
			rc = 1;
		}

		if (uerr == EBUSY) {
			long long start = now_ms(), took = -1;

			for (;;) {
				sleep_ms(CLEANUP_STEP_MS);
				if (umount2(a.dir, 0) == 0) {
					took = now_ms() - start;
					a.mounted = false;
					break;
				}
				if (errno != EBUSY) {
					warnx_("cleanup umount %s: %s", a.dir, strerror(errno));
					break;
				}
				if (now_ms() - start >= CLEANUP_LIMIT_MS)
					break;
			}
			printf("{\"scenario\":\"%s\",\"attempt\":%ld,\"cleanup_umount_after_ms\":%lld}\n",
			       scenario_names[sc], attempt, took);
			fflush(stdout);
			if (took < 0) {
				setup_error("attempt %ld: %s stayed busy for %d ms (leak?)", attempt,
					    a.dir, CLEANUP_LIMIT_MS);
				rc = 1;
			}
		} else if (uerr > 0) {
			setup_error("attempt %ld: umount %s: %s", attempt, a.dir, strerror(uerr));
			rc = 1;
		}

		if (attempt_teardown(&a) < 0 && rc == 0) {
			setup_error("attempt %ld: cleanup of %s failed", attempt, a.dir);
			rc = 1;
		}
		if (!child_ok) {
			setup_error("attempt %ld: child failed (status %d), see messages above", attempt,
				    child_status);
			rc = 1;
		}
		if (rc != 0)
			break;
		if (until_busy && (g_lock ? lerr == EAGAIN : g_lazy ? xerr == EBUSY : uerr == EBUSY))
			break;
		if (g_stop) {
			setup_error("interrupted after attempt %ld", attempt);
			rc = 1;
			break;
		}
	}

	throttle_remove();
	if (made_image[0])
		unlink(made_image);
	return rc;
}
