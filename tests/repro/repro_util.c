// SPDX-License-Identifier: MIT
/*
 * fputrace-repro: small helpers of the parent and the child: time, errno
 * names, JSON escaping, hostile names, error messages, paths.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "repro.h"

/* --hostile-names (see repro.h) */
bool g_hostile;

/* The file a scenario creates: its usual name, or the hostile one. */
const char *file_name(const char *usual)
{
	return g_hostile ? HOSTILE_FILE : usual;
}

/* ------------------------------------------------------------------------ */
/* small helpers                                                            */

long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Polls every 10 ms until PATH exists: 0, or -1 after max_ms. */
int wait_for_path(const char *path, long max_ms)
{
	struct stat st;
	long waited;

	for (waited = 0; stat(path, &st) < 0; waited += 10) {
		if (waited >= max_ms)
			return -1;
		sleep_ms(10);
	}
	return 0;
}

const char *errno_name(int e)
{
	if (e < 0)
		return "skipped";
	static char buf[32];

	switch (e) {
	case 0: return "ok";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EINTR: return "EINTR";
	case EIO: return "EIO";
	case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case ENOTBLK: return "ENOTBLK";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case ENODEV: return "ENODEV";
	case ENOTDIR: return "ENOTDIR";
	case EINVAL: return "EINVAL";
	case ENOSPC: return "ENOSPC";
	case EROFS: return "EROFS";
	case ENAMETOOLONG: return "ENAMETOOLONG";
	case ENOSYS: return "ENOSYS";
	case ELOOP: return "ELOOP";
	case ESTALE: return "ESTALE";
	default:
		snprintf(buf, sizeof(buf), "errno_%d", e);
		return buf;
	}
}

/*
 * Append s to out as a JSON string body (without quotes), in fputrace's
 * escaping of names (docs/json-schema.md): a backslash is doubled and bytes
 * >= 0x80 are written as \xNN (fputrace writes valid UTF-8 as is, so compare
 * names after decoding both).
 */
void json_escape(char *out, size_t outlen, const char *s)
{
	size_t o = 0;

	for (; *s && o + 9 < outlen; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c == '\\') {
			memcpy(out + o, "\\\\\\\\", 4); /* the name's \\, JSON-escaped */
			o += 4;
		} else if (c >= 0x80) {
			o += (size_t)snprintf(out + o, outlen - o, "\\\\x%02x", c);
		} else if (c < 0x20) {
			o += (size_t)snprintf(out + o, outlen - o, "\\u%04x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}

/*
 * --hostile-names: ,"comm":"...","file":"..." for the attempt line: the comm
 * as the kernel keeps it (15 bytes) and the full path of the scenario's file.
 */
void hostile_names_json(char *out, size_t outlen, enum scenario sc, const char *dir)
{
	char comm[16], path[PATH_MAX + 64], comm_json[128], path_json[5 * (PATH_MAX + 64)];
	const char *usual = sc == SC_URING_REGISTERED ? "registered" : sc == SC_PLAIN_EXIT ? "plain" : "fifo";

	memcpy(comm, HOSTILE_COMM, 15); /* what PR_SET_NAME keeps */
	comm[15] = '\0';
	snprintf(path, sizeof(path), "%s/%s", dir, file_name(usual));
	json_escape(comm_json, sizeof(comm_json), comm);
	json_escape(path_json, sizeof(path_json), path);
	snprintf(out, outlen, ",\"comm\":\"%s\",\"file\":\"%s\"", comm_json, path_json);
}

/* Parent-side fatal-for-the-run message: one line on stderr. */
void setup_error(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void warnx_(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* out = dir + "/" + name; returns -1 (ENAMETOOLONG) if it does not fit. */
int join_path(char *out, size_t outlen, const char *dir, const char *name)
{
	size_t dl = strlen(dir), nl = strlen(name);

	if (dl + 1 + nl + 1 > outlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(out, dir, dl);
	out[dl] = '/';
	memcpy(out + dl + 1, name, nl + 1);
	return 0;
}
