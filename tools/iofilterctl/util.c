// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl: small helpers shared by the core and the tool.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "util.h"

FILE *out_fp;
FILE *err_fp;
int verbosity;
bool udev_sync = true;

int errno_exit(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return EXIT_OK;
	case EPERM:
	case EACCES:
		return EXIT_PERM;
	case ENOMEM:
		return EXIT_NOMEM;
	case ENOENT:
	case ENODEV:
	case ENXIO:
		return EXIT_NODEV;
	case EBUSY:
	case EEXIST:
	case ESTALE:
		return EXIT_BUSY;
	default:
		return EXIT_KERNEL;
	}
}

void errmsg(const char *fmt, ...)
{
	va_list ap;

	fputs("iofilterctl: ", err_fp);
	va_start(ap, fmt);
	vfprintf(err_fp, fmt, ap);
	va_end(ap);
	fputc('\n', err_fp);
}

void info(const char *fmt, ...)
{
	va_list ap;

	if (verbosity < 1)
		return;
	va_start(ap, fmt);
	vfprintf(err_fp, fmt, ap);
	va_end(ap);
	fputc('\n', err_fp);
}

static void nomem(void)
{
	fputs("iofilterctl: out of memory\n", err_fp ? err_fp : stderr);
	exit(EXIT_NOMEM);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		nomem();
	return p;
}

void *xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);

	if (!p)
		nomem();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		nomem();
	return p;
}

void *xreallocarray(void *p, size_t n, size_t m)
{
	if (m && n > SIZE_MAX / m)
		nomem();
	return xrealloc(p, n * m);
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		nomem();
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (!p)
		nomem();
	return p;
}

char *xvasprintf(const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) < 0)
		nomem();
	return s;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

void sb_init(struct sbuf *b)
{
	b->s = NULL;
	b->len = b->cap = 0;
}

static void sb_grow(struct sbuf *b, size_t more)
{
	size_t need = b->len + more + 1;

	if (need <= b->cap)
		return;
	b->cap = b->cap ? b->cap : 64;
	while (b->cap < need)
		b->cap *= 2;
	b->s = xrealloc(b->s, b->cap);
}

void sb_addn(struct sbuf *b, const char *s, size_t n)
{
	sb_grow(b, n);
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void sb_add(struct sbuf *b, const char *s)
{
	sb_addn(b, s, strlen(s));
}

void sb_addc(struct sbuf *b, char c)
{
	sb_addn(b, &c, 1);
}

void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	sb_add(b, s);
	free(s);
}

char *sb_steal(struct sbuf *b)
{
	char *s = b->s ? b->s : xstrdup("");

	sb_init(b);
	return s;
}

void sb_free(struct sbuf *b)
{
	free(b->s);
	sb_init(b);
}

static const struct {
	const char *suffix;
	unsigned shift;
} size_units[] = {
	{ "K", 10 }, { "KiB", 10 },
	{ "M", 20 }, { "MiB", 20 },
	{ "G", 30 }, { "GiB", 30 },
	{ "T", 40 }, { "TiB", 40 },
};

int parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;
	unsigned shift = 0;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	if (*p) {
		size_t i;

		for (i = 0; i < ARRAY_SIZE(size_units); i++)
			if (!strcmp(p, size_units[i].suffix))
				break;
		if (i == ARRAY_SIZE(size_units))
			return -EINVAL;
		shift = size_units[i].shift;
		if (v > (UINT64_MAX >> shift))
			return -ERANGE;
		v <<= shift;
	}
	*out = v;
	return 0;
}

char *fmt_size(uint64_t v, char *buf, size_t len)
{
	static const char *const units[] = { "TiB", "GiB", "MiB", "KiB" };
	static const unsigned shifts[] = { 40, 30, 20, 10 };
	size_t i;

	if (v)
		for (i = 0; i < ARRAY_SIZE(units); i++)
			if (!(v & ((1ULL << shifts[i]) - 1))) {
				snprintf(buf, len, "%" PRIu64 "%s",
					 v >> shifts[i], units[i]);
				return buf;
			}
	snprintf(buf, len, "%" PRIu64, v);
	return buf;
}

char *fmt_size_human(uint64_t v, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double d = (double)v;
	size_t i = 0;

	while (d >= 1024 && i + 1 < ARRAY_SIZE(units)) {
		d /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%" PRIu64 "B", v);
	else
		snprintf(buf, len, "%.1f%s", d, units[i]);
	return buf;
}

bool name_chars_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' || *s == '-'))
			return false;
	return true;
}

bool strlcpy_ok(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (n >= size)
		return false;
	memcpy(dst, src, n + 1);
	return true;
}

/* Optimal string alignment distance: a swap of two letters counts as one edit. */
unsigned edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	unsigned *d, r;

	if (la > 64 || lb > 64)
		return 1000;
	d = xcalloc((la + 1) * (lb + 1), sizeof(*d));
#define D(x, y) d[(x) * (lb + 1) + (y)]
	for (i = 0; i <= la; i++)
		D(i, 0) = (unsigned)i;
	for (j = 0; j <= lb; j++)
		D(0, j) = (unsigned)j;
	for (i = 1; i <= la; i++)
		for (j = 1; j <= lb; j++) {
			unsigned best = D(i - 1, j - 1) + (a[i - 1] != b[j - 1]);

			if (D(i - 1, j) + 1 < best)
				best = D(i - 1, j) + 1;
			if (D(i, j - 1) + 1 < best)
				best = D(i, j - 1) + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    D(i - 2, j - 2) + 1 < best)
				best = D(i - 2, j - 2) + 1;
			D(i, j) = best;
		}
	r = D(la, lb);
#undef D
	free(d);
	return r;
}

int read_file_max(const char *path, size_t max, unsigned char **buf, size_t *len)
{
	unsigned char *b = xmalloc(max + 1);
	size_t n = 0;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		err = -errno;
		free(b);
		return err;
	}
	for (;;) {
		ssize_t r = read(fd, b + n, max + 1 - n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			err = -EFBIG;
			break;
		}
	}
	close(fd);
	if (err) {
		explicit_bzero(b, max + 1);
		free(b);
		return err;
	}
	*buf = b;
	*len = n;
	return 0;
}

int read_devt_file(const char *path, unsigned *major, unsigned *minor)
{
	char buf[64];
	unsigned char *b;
	size_t n;
	int r;

	r = read_file_max(path, sizeof(buf) - 1, &b, &n);
	if (r)
		return r;
	memcpy(buf, b, n);
	buf[n] = '\0';
	free(b);
	if (sscanf(buf, "%u:%u", major, minor) != 2)
		return -EINVAL;
	return 0;
}

int sysblock_find(const char *prefix, sysblock_match_fn match,
		  const struct stat *img, char *dev, size_t len, dev_t *rdev)
{
	size_t plen = strlen(prefix);
	struct dirent *de;
	DIR *d = opendir("/sys/block");
	int found = 0;

	if (!d)
		return -errno;
	while (!found && (de = readdir(d))) {
		char path[300];
		unsigned maj, min;

		if (strncmp(de->d_name, prefix, plen))
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/dev", de->d_name);
		if (read_devt_file(path, &maj, &min))
			continue;
		if (match(de->d_name, makedev(maj, min), img, dev, len)) {
			*rdev = makedev(maj, min);
			found = 1;
		}
	}
	closedir(d);
	return found;
}
