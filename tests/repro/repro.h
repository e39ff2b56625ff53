// SPDX-License-Identifier: MIT
/*
 * fputrace-repro: what its source files share. One job per file:
 *
 *   fputrace-repro.c      usage, command line, preflight checks and main (the
 *                         attempt loop: fork, reap, umount, one JSON line)
 *   repro_util.c          small helpers: time, errno names, JSON escaping,
 *                         hostile names, error messages, paths
 *   repro_children.c      the forked child: failure reporting, the dispatch to
 *                         the scenario, aio-direct and plain-exit
 *   repro_children_uring.c  the io_uring scenarios: uring-registered (and
 *                         --register), uring-pending, uring-pending-thread,
 *                         uring-complete
 *   repro_loop.c          device nodes, loop devices, the ext4 image of
 *                         aio-direct
 *   repro_attempt.c       one attempt's mount setup and teardown, and the
 *                         parent's first umount
 *   repro_lock.c          --lock: the child's file lock, the parent's attempt
 *   repro_blockdev.c      --lazy: umount -l, then an exclusive open of the device
 *
 * Each .c file defines _GNU_SOURCE before its first system header.
 */
#ifndef FPUTRACE_REPRO_H
#define FPUTRACE_REPRO_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define PROG "fputrace-repro"

#define AIO_FILE_NAME "fputrace-repro.dat" /* data file inside the ext4 image */
#define AIO_FILE_SIZE (16LL << 20)
#define AIO_NR_READS 32

enum scenario {
	SC_URING_REGISTERED,
	SC_URING_PENDING,
	SC_URING_PENDING_THREAD,
	SC_AIO_DIRECT,
	SC_PLAIN_EXIT,
	SC_URING_COMPLETE,
};

/*
 * --hostile-names: names that are not UTF-8, as any user can make them. The
 * child's comm holds invalid bytes, an escape sequence and a two-byte
 * character cut by the kernel's 15-byte limit; the file's name holds invalid
 * bytes, control characters and a four-byte character cut by BPF's 31/32-byte
 * dentry name limit; the mount directory holds invalid bytes, a backslash and
 * a valid two-byte character (short enough for BPF to send it whole).
 */
extern bool g_hostile;
#define HOSTILE_COMM "\xff\xfe\x1b[1mfputrace\xc3\xa9" /* 16 bytes: the kernel keeps 15 */
#define HOSTILE_FILE "\xff\xfe\x1b[7m\n" "xxxxxxxxxxxxxxxxxxxxxxx" "\xf0\x9f\x98\x80-tail"
#define HOSTILE_DIR "fputrace-\xff\xfe\\\xc3\xa9.XXXXXX"

/* The file a scenario creates: its usual name, or the hostile one. */
const char *file_name(const char *usual);

/* --hold-ms: uring-registered's child waits this long after registering the
 * file (and closing its fd) before it exits, so a tracer can start late. */
extern long g_hold_ms;
extern const char *g_hold_until;

/* --register: how uring-registered puts its file into the ring's fixed file
 * table (names in repro_children_uring.c). */
enum register_mode { REG_FILES, REG_FILES2, REG_UPDATE, REG_UPDATE2, REG_OPENAT_DIRECT };
#define NR_REGISTER_MODES (REG_OPENAT_DIRECT + 1)
extern const char *const register_names[NR_REGISTER_MODES];
extern enum register_mode g_register;

/* --lock: uring-registered's child locks its file (repro_lock.c) */
enum lock_mode { LOCK_MODE_NONE, LOCK_MODE_FLOCK, LOCK_MODE_OFD };
#define NR_LOCK_MODES (LOCK_MODE_OFD + 1)
extern const char *const lock_names[NR_LOCK_MODES];
extern enum lock_mode g_lock;

/* --dir (NULL: a new directory under --base) and --relative-umount */
extern const char *fixed_dir;
extern bool g_relative_umount;

/* repro_util.c */
long long now_ms(void);
void sleep_ms(long ms);
int wait_for_path(const char *path, long max_ms);
const char *errno_name(int e);
void json_escape(char *out, size_t outlen, const char *s);
void hostile_names_json(char *out, size_t outlen, enum scenario sc, const char *dir);
void setup_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warnx_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int join_path(char *out, size_t outlen, const char *dir, const char *name);

/* repro_children.c */
void child_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void write_all_or_fail(int fd, const void *buf, size_t len, const char *what);
void child_main(enum scenario sc, const char *dir, int pipe_fd);

/* repro_children_uring.c: each exits the child (child_fail on failure) */
void child_uring_registered(const char *dir);
void child_uring_pending(const char *dir, int pipe_fd);
void child_uring_pending_thread(const char *dir, int pipe_fd);
void child_uring_complete(const char *dir);

/* repro_lock.c */
void child_take_lock(int fd, const char *path);
int parent_try_lock(const char *dir);

/* repro_blockdev.c: aio-direct --lazy (struct attempt_ctx below) */
extern bool g_lazy;
struct attempt_ctx;
int parent_lazy_umount(struct attempt_ctx *a, int pipe_fd);
int parent_try_exclusive(const struct attempt_ctx *a);
int wait_for_exclusive(const struct attempt_ctx *a, const char *scenario, long attempt);
extern const char *g_throttle_root; /* --throttle-reads: a cgroup2 mount, or NULL */
int throttle_device(const char *device);
void throttle_join(void);
void throttle_remove(void);

/* repro_loop.c */
struct loopdev {
	int fd;                 /* -1 if not attached */
	int nr;
	char path[PATH_MAX];    /* path used for mount(2) */
	bool path_tmp;          /* private node we must unlink */
};

int loop_attach(const char *image, const char *base, struct loopdev *ld);
int loop_detach(struct loopdev *ld);
int make_image(char *out, size_t outlen);

/* repro_attempt.c */
struct attempt_ctx {
	char dir[PATH_MAX];
	bool dir_created;
	bool mounted;
	struct loopdev loop;
};

int first_umount(const char *dir);
int attempt_setup(enum scenario sc, const char *base, const char *image,
		  struct attempt_ctx *a);
int attempt_teardown(struct attempt_ctx *a);

#endif /* FPUTRACE_REPRO_H */
