/* SPDX-License-Identifier: GPL-2.0 */
/*
 * iofilterctl: common definitions, exit codes, small helpers.
 */
#ifndef IOFCTL_UTIL_H
#define IOFCTL_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define IOFCTL_VERSION	"0.1.0"

/*
 * Exit codes.  Documented in iofilterctl(8); never renumber.
 */
enum {
	EXIT_OK		= 0,
	EXIT_INVALID	= 1,	/* invalid input: policy or usage */
	EXIT_PERM	= 2,	/* permission denied */
	EXIT_NOMEM	= 3,	/* out of memory */
	EXIT_NODEV	= 4,	/* no such device, volume or module */
	EXIT_BUSY	= 5,	/* busy, exists, or changed concurrently */
	EXIT_KERNEL	= 6,	/* the kernel refused (other errno) */
	EXIT_PARTIAL	= 7,	/* partially applied */
};

/* Where output and diagnostics go (stdout/stderr; the unit tests swap them). */
extern FILE *out_fp;
extern FILE *err_fp;
extern int verbosity;	/* -1 quiet, 0 normal, 1+ verbose */
/*
 * Device nodes: false with --noudevsync or DM_DISABLE_UDEV=1 in the
 * environment (no udev: libdevmapper and this tool make the nodes).
 */
extern bool udev_sync;

/* Map an errno to an exit code. */
int errno_exit(int err);

/* "iofilterctl: ..." on err_fp. */
void errmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Only with -v. */
void info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Allocation: exit with EXIT_NOMEM on failure. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
void *xreallocarray(void *p, size_t n, size_t m);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Growable string buffer. */
struct sbuf {
	char *s;
	size_t len, cap;
};
void sb_init(struct sbuf *b);
void sb_add(struct sbuf *b, const char *s);
void sb_addn(struct sbuf *b, const char *s, size_t n);
void sb_addc(struct sbuf *b, char c);
void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *sb_steal(struct sbuf *b);	/* returns "" for an empty buffer, caller frees */
void sb_free(struct sbuf *b);

/*
 * Sizes: plain bytes, or a number with K, M, G, T (binary; an optional
 * "iB" may follow: KiB, MiB, ...).  Returns 0, -EINVAL (syntax) or
 * -ERANGE (overflow).
 */
int parse_size(const char *s, uint64_t *out);
/* Exact, shortest form: 1048576 -> "1MiB", 1536 -> "1536". */
char *fmt_size(uint64_t v, char *buf, size_t len);
/* Human, rounded: 1.5GiB. */
char *fmt_size_human(uint64_t v, char *buf, size_t len);

/* [A-Za-z0-9_.-]+ */
bool name_chars_ok(const char *s);

/* Copy into a fixed array, NUL-terminated; false if it does not fit. */
bool strlcpy_ok(char *dst, const char *src, size_t size);

/* Edit distance (with transpositions), for "did you mean" hints. */
unsigned edit_distance(const char *a, const char *b);

/* Read a whole small file (at most max bytes; -EFBIG beyond). */
int read_file_max(const char *path, size_t max, unsigned char **buf, size_t *len);

/* Read an unsigned "major:minor" from a sysfs dev file. */
int read_devt_file(const char *path, unsigned *major, unsigned *minor);

/*
 * Find the disk backed by image file img: walk /sys/block for disks whose
 * name starts with prefix ("loop", "nbd") and call match() for each until
 * one returns true (it fills dev, len bytes, with the device's node).
 * Returns 1 and sets *rdev for that one, 0 if none, -errno if /sys/block
 * cannot be read.
 */
struct stat;
typedef bool (*sysblock_match_fn)(const char *name, dev_t rdev,
				  const struct stat *img, char *dev, size_t len);
int sysblock_find(const char *prefix, sysblock_match_fn match,
		  const struct stat *img, char *dev, size_t len, dev_t *rdev);

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
