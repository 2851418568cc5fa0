// SPDX-License-Identifier: GPL-2.0
/*
 * iof-replay: read and replay a dm-log-writes log (the crash-point replay
 * tests, tests/lib/crash.sh).
 *
 *   iof-replay list LOG               every entry: index, sector, sectors,
 *                                     flags, mark name
 *   iof-replay marks LOG              "NAME POINT" per mark
 *   iof-replay points LOG -s SEED -c COUNT [-p PREFIX] [-e]
 *                                     crash points, sorted: every mark whose
 *                                     name starts with PREFIX (default
 *                                     "iof-") and random points between,
 *                                     COUNT in all: "POINT LAST_MARK" with
 *                                     LAST_MARK the number after PREFIX of
 *                                     the last such mark inside the prefix
 *                                     (-1: none); -e: the end of the log
 *                                     (the state a clean shutdown left) is
 *                                     always one of them
 *   iof-replay replay LOG DEV [-f FROM] [-t TO] [-z] [-c COPY]
 *                                     write entries FROM..TO-1 to DEV (-z:
 *                                     zero DEV first); -c: then copy all of
 *                                     DEV to COPY
 *   iof-replay durable LOG DEV [-z]   what a device with a volatile cache
 *                                     keeps when it loses power at the end
 *                                     of the log: every entry up to its last
 *                                     FLUSH, and FUA writes after it
 *
 * A POINT is a number of entries: replaying to point P applies entries 0 to
 * P-1, the state of the disks when the power went at that place of the log.
 * dm-log-writes logs a write when a flush that follows its completion
 * completes (a FUA write when it completes), so any point is a state the
 * disks could have been left in.  Discards are replayed as zeroes.
 *
 * The format (Documentation/admin-guide/device-mapper/log-writes.rst,
 * drivers/md/dm-log-writes.c): a super block at byte 0, then per entry one
 * log sector holding struct log_write_entry (a mark's name follows it in the
 * same sector) and, for writes, the data: nr_sectors log sectors.  Sectors
 * and sizes are in units of the super's sectorsize.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <endian.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/fs.h>

#define LOG_FLUSH_FLAG		(1 << 0)
#define LOG_FUA_FLAG		(1 << 1)
#define LOG_DISCARD_FLAG	(1 << 2)
#define LOG_MARK_FLAG		(1 << 3)
#define LOG_METADATA_FLAG	(1 << 4)
#define WRITE_LOG_MAGIC		0x6a736677736872ULL
#define WRITE_LOG_VERSION	1ULL
#define MAX_IO			(1 << 20)

struct log_write_super {
	uint64_t magic;
	uint64_t version;
	uint64_t nr_entries;
	uint32_t sectorsize;
} __attribute__((packed));	/* user space: no __packed */

struct log_write_entry {
	uint64_t sector;
	uint64_t nr_sectors;
	uint64_t flags;
	uint64_t data_len;
};

struct entry {
	uint64_t off;		/* byte offset of the entry's header in the log */
	uint64_t sector;	/* in sectorsize units */
	uint64_t nr;
	uint64_t flags;
	char *mark;		/* mark name, or NULL */
};

static int logfd;
static uint32_t ssize;
static uint64_t nentries;
static struct entry *ents;

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "iof-replay: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

static void *xalloc(size_t n)
{
	void *p;

	if (posix_memalign(&p, 4096, n))
		die("out of memory");
	return p;
}

static void xpread(int fd, void *buf, size_t len, uint64_t off, const char *what)
{
	ssize_t r = pread(fd, buf, len, off);

	if (r != (ssize_t)len)
		die("read %s at %" PRIu64 ": %s", what, off,
		    r < 0 ? strerror(errno) : "short read");
}

static void xpwrite(int fd, const void *buf, size_t len, uint64_t off)
{
	ssize_t r = pwrite(fd, buf, len, off);

	if (r != (ssize_t)len)
		die("write at %" PRIu64 ": %s", off, r < 0 ? strerror(errno) : "short write");
}

/* read the super and every entry header */
static void open_log(const char *path)
{
	struct log_write_super super;
	char *sec;
	uint64_t off, i;

	logfd = open(path, O_RDONLY);
	if (logfd < 0)
		die("open %s: %s", path, strerror(errno));
	xpread(logfd, &super, sizeof(super), 0, "super");
	if (le64toh(super.magic) != WRITE_LOG_MAGIC)
		die("%s: not a dm-log-writes log (bad magic)", path);
	if (le64toh(super.version) != WRITE_LOG_VERSION)
		die("%s: log version %" PRIu64 " unknown", path, le64toh(super.version));
	ssize = le32toh(super.sectorsize);
	nentries = le64toh(super.nr_entries);
	if (ssize < 512 || ssize > 65536 || (ssize & (ssize - 1)))
		die("%s: bad sector size %u", path, ssize);
	ents = calloc(nentries + 1, sizeof(*ents));
	sec = xalloc(ssize);
	if (!ents)
		die("out of memory");
	off = ssize;
	for (i = 0; i < nentries; i++) {
		struct log_write_entry *le = (void *)sec;
		struct entry *e = &ents[i];

		xpread(logfd, sec, ssize, off, "entry");
		e->off = off;
		e->sector = le64toh(le->sector);
		e->nr = le64toh(le->nr_sectors);
		e->flags = le64toh(le->flags);
		if (e->flags & LOG_MARK_FLAG) {
			uint64_t len = le64toh(le->data_len);

			if (len > ssize - sizeof(*le) - 1)
				die("entry %" PRIu64 ": bad mark length", i);
			e->mark = strndup(sec + sizeof(*le), len);
		}
		off += ssize;
		if (!(e->flags & (LOG_DISCARD_FLAG | LOG_MARK_FLAG)))
			off += e->nr * ssize;
	}
	free(sec);
}

static void flagstr(uint64_t f, char *out)
{
	sprintf(out, "%s%s%s%s%s", f & LOG_FLUSH_FLAG ? "FLUSH|" : "",
		f & LOG_FUA_FLAG ? "FUA|" : "", f & LOG_DISCARD_FLAG ? "DISCARD|" : "",
		f & LOG_MARK_FLAG ? "MARK|" : "", f & LOG_METADATA_FLAG ? "META|" : "");
	if (*out)
		out[strlen(out) - 1] = 0;
	else
		out[0] = '-', out[1] = 0;
}

static int cmd_list(void)
{
	char fl[64];
	uint64_t i;

	printf("# sectorsize %u entries %" PRIu64 "\n", ssize, nentries);
	for (i = 0; i < nentries; i++) {
		flagstr(ents[i].flags, fl);
		printf("%" PRIu64 " %" PRIu64 " %" PRIu64 " %s%s%s\n", i,
		       ents[i].sector, ents[i].nr, fl, ents[i].mark ? " " : "",
		       ents[i].mark ? ents[i].mark : "");
	}
	return 0;
}

static int cmd_marks(void)
{
	uint64_t i;

	for (i = 0; i < nentries; i++)
		if (ents[i].mark)
			printf("%s %" PRIu64 "\n", ents[i].mark, i + 1);
	return 0;
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* the mark number of entry i if it is one of ours, else -1 */
static long our_mark(uint64_t i, const char *prefix)
{
	size_t pl = strlen(prefix);
	char *end;
	long n;

	if (!ents[i].mark || strncmp(ents[i].mark, prefix, pl))
		return -1;
	n = strtol(ents[i].mark + pl, &end, 10);
	return *end || n < 0 ? -1 : n;
}

static int cmd_points(uint64_t seed, uint64_t count, const char *prefix,
		      int end)
{
	uint64_t *pts, n = 0, nm = 0, i, k;
	long last = -1;
	char *taken;

	if (count > nentries + 1)
		count = nentries + 1;
	pts = calloc(count + 1, sizeof(*pts));
	taken = calloc(nentries + 1, 1);
	if (!pts || !taken)
		die("out of memory");
	for (i = 0; i < nentries; i++)
		nm += our_mark(i, prefix) >= 0;
	if (end && count) {
		pts[n++] = nentries;
		taken[nentries] = 1;
	}
	/* the marks themselves (a random half when they are more than half) */
	for (i = 0; i < nentries && n < count; i++) {
		if (our_mark(i, prefix) < 0)
			continue;
		if (nm * 2 > count && splitmix(&seed) % nm >= count / 2)
			continue;
		if (taken[i + 1])
			continue;
		pts[n++] = i + 1;
		taken[i + 1] = 1;
	}
	/* the rest anywhere in the log (mostly between marks), all different */
	while (n < count) {
		k = splitmix(&seed) % (nentries + 1);
		if (!taken[k]) {
			taken[k] = 1;
			pts[n++] = k;
		}
	}
	qsort(pts, n, sizeof(*pts), cmp_u64);
	for (i = 0, k = 0; k < n; k++) {
		for (; i < pts[k]; i++)
			if (our_mark(i, prefix) >= 0)
				last = our_mark(i, prefix);
		printf("%" PRIu64 " %ld\n", pts[k], last);
	}
	free(taken);
	free(pts);
	return 0;
}

static int open_dev(const char *path, uint64_t *size)
{
	int fd = open(path, O_RDWR | O_DIRECT);

	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	if (ioctl(fd, BLKGETSIZE64, size))
		die("%s: not a block device", path);
	return fd;
}

static void zero_range(int fd, uint64_t off, uint64_t len)
{
	static char *zero;
	uint64_t n;

	if (!zero) {
		zero = xalloc(MAX_IO);
		memset(zero, 0, MAX_IO);
	}
	for (; len; off += n, len -= n) {
		n = len < MAX_IO ? len : MAX_IO;
		xpwrite(fd, zero, n, off);
	}
}

static void apply(int fd, uint64_t devsize, uint64_t i, char *buf)
{
	struct entry *e = &ents[i];
	uint64_t off = e->sector * ssize, len = e->nr * ssize, src, n;

	if (e->flags & LOG_MARK_FLAG || !len)
		return;
	if (off + len > devsize)
		die("entry %" PRIu64 ": sectors %" PRIu64 "+%" PRIu64
		    " beyond the device", i, e->sector, e->nr);
	if (e->flags & LOG_DISCARD_FLAG) {
		zero_range(fd, off, len);
		return;
	}
	src = e->off + ssize;
	for (; len; off += n, src += n, len -= n) {
		n = len < MAX_IO ? len : MAX_IO;
		xpread(logfd, buf, n, src, "data");
		xpwrite(fd, buf, n, off);
	}
}

static void finish(int fd, const char *copy, uint64_t devsize, char *buf)
{
	uint64_t off, n, csize;
	int cfd;

	if (fsync(fd))
		die("fsync: %s", strerror(errno));
	if (!copy)
		return;
	cfd = open_dev(copy, &csize);
	if (csize < devsize)
		die("%s: smaller than the replay device", copy);
	for (off = 0; off < devsize; off += n) {
		n = devsize - off < MAX_IO ? devsize - off : MAX_IO;
		xpread(fd, buf, n, off, "replay device");
		xpwrite(cfd, buf, n, off);
	}
	if (fsync(cfd))
		die("fsync %s: %s", copy, strerror(errno));
	close(cfd);
}

static int cmd_replay(const char *dev, uint64_t from, uint64_t to, int zero,
		      const char *copy)
{
	char *buf = xalloc(MAX_IO);
	uint64_t size, i;
	int fd = open_dev(dev, &size);

	if (to > nentries || from > to)
		die("bad range %" PRIu64 "..%" PRIu64 " (log has %" PRIu64 " entries)",
		    from, to, nentries);
	if (zero)
		zero_range(fd, 0, size);
	for (i = from; i < to; i++)
		apply(fd, size, i, buf);
	finish(fd, copy, size, buf);
	return 0;
}

static int cmd_durable(const char *dev, int zero)
{
	char *buf = xalloc(MAX_IO);
	uint64_t size, i, last = 0, fua = 0;
	int fd = open_dev(dev, &size);

	for (i = 0; i < nentries; i++)
		if (ents[i].flags & LOG_FLUSH_FLAG)
			last = i + 1;
	if (zero)
		zero_range(fd, 0, size);
	for (i = 0; i < nentries; i++) {
		if (i < last) {
			apply(fd, size, i, buf);
		} else if (ents[i].flags & LOG_FUA_FLAG) {
			apply(fd, size, i, buf);
			fua++;
		}
	}
	finish(fd, NULL, size, buf);
	printf("%" PRIu64 " of %" PRIu64 " entries up to the last flush, then %"
	       PRIu64 " FUA writes\n", last, nentries, fua);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: iof-replay list|marks LOG\n"
		"       iof-replay points LOG -s SEED -c COUNT [-p PREFIX] [-e]\n"
		"       iof-replay replay LOG DEV [-f FROM] [-t TO] [-z] [-c COPY]\n"
		"       iof-replay durable LOG DEV [-z]\n");
	exit(2);
}

static uint64_t num(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (!*s || *end || errno)
		die("bad number '%s'", s);
	return v;
}

int main(int argc, char **argv)
{
	const char *cmd, *prefix = "iof-", *copy = NULL, *dev = NULL;
	uint64_t seed = 1, count = 200, from = 0, to = UINT64_MAX;
	int c, zero = 0, end = 0, pos;

	if (argc < 3)
		usage();
	cmd = argv[1];
	open_log(argv[2]);
	pos = 3;
	if (!strcmp(cmd, "replay") || !strcmp(cmd, "durable")) {
		if (argc < 4)
			usage();
		dev = argv[3];
		pos = 4;
	}
	optind = pos;
	while ((c = getopt(argc, argv, "s:c:p:f:t:ze")) != -1) {
		switch (c) {
		case 's':
			seed = num(optarg);
			break;
		case 'c':
			if (!strcmp(cmd, "replay"))
				copy = optarg;
			else
				count = num(optarg);
			break;
		case 'p':
			prefix = optarg;
			break;
		case 'f':
			from = num(optarg);
			break;
		case 't':
			to = num(optarg);
			break;
		case 'z':
			zero = 1;
			break;
		case 'e':
			end = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (!strcmp(cmd, "list"))
		return cmd_list();
	if (!strcmp(cmd, "marks"))
		return cmd_marks();
	if (!strcmp(cmd, "points"))
		return cmd_points(seed, count, prefix, end);
	if (!strcmp(cmd, "replay"))
		return cmd_replay(dev, from, to == UINT64_MAX ? nentries : to, zero, copy);
	if (!strcmp(cmd, "durable"))
		return cmd_durable(dev, zero);
	usage();
	return 2;
}
