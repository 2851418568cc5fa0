// SPDX-License-Identifier: GPL-2.0
/* A dm-log-writes log, read and replayed: see logwrites.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <endian.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/fs.h>

#include "logwrites.h"

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

static int logfd = -1;
uint32_t lw_ssize;
uint64_t lw_nentries;
struct lw_entry *lw_ents;

static void *lw_alloc(size_t n)
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

void lw_open_log(const char *path)
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
	lw_ssize = le32toh(super.sectorsize);
	lw_nentries = le64toh(super.nr_entries);
	if (lw_ssize < 512 || lw_ssize > 65536 || (lw_ssize & (lw_ssize - 1)))
		die("%s: bad sector size %u", path, lw_ssize);
	lw_ents = calloc(lw_nentries + 1, sizeof(*lw_ents));
	sec = lw_alloc(lw_ssize);
	if (!lw_ents)
		die("out of memory");
	off = lw_ssize;
	for (i = 0; i < lw_nentries; i++) {
		struct log_write_entry *le = (void *)sec;
		struct lw_entry *e = &lw_ents[i];

		xpread(logfd, sec, lw_ssize, off, "entry");
		e->off = off;
		e->sector = le64toh(le->sector);
		e->nr = le64toh(le->nr_sectors);
		e->flags = le64toh(le->flags);
		if (e->flags & LOG_MARK_FLAG) {
			uint64_t len = le64toh(le->data_len);

			if (len > lw_ssize - sizeof(*le) - 1)
				die("entry %" PRIu64 ": bad mark length", i);
			e->mark = strndup(sec + sizeof(*le), len);
		}
		off += lw_ssize;
		if (!(e->flags & (LOG_DISCARD_FLAG | LOG_MARK_FLAG)))
			off += e->nr * lw_ssize;
	}
	free(sec);
}

int lw_open_dev(const char *path, uint64_t *size)
{
	int fd = open(path, O_RDWR | O_DIRECT);

	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	if (ioctl(fd, BLKGETSIZE64, size)) {
		close(fd);
		die("%s: not a block device", path);
	}
	return fd;
}

static void zero_range(int fd, uint64_t off, uint64_t len)
{
	static char *zero;
	uint64_t n;

	if (!zero) {
		zero = lw_alloc(MAX_IO);
		memset(zero, 0, MAX_IO);
	}
	for (; len; off += n, len -= n) {
		n = len < MAX_IO ? len : MAX_IO;
		xpwrite(fd, zero, n, off);
	}
}

static void apply(int fd, uint64_t devsize, uint64_t i, char *buf)
{
	struct lw_entry *e = &lw_ents[i];
	uint64_t off = e->sector * lw_ssize, len = e->nr * lw_ssize, src, n;

	if (e->flags & LOG_MARK_FLAG || !len)
		return;
	if (off + len > devsize)
		die("entry %" PRIu64 ": sectors %" PRIu64 "+%" PRIu64
		    " beyond the device", i, e->sector, e->nr);
	if (e->flags & LOG_DISCARD_FLAG) {
		zero_range(fd, off, len);
		return;
	}
	src = e->off + lw_ssize;
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
	cfd = lw_open_dev(copy, &csize);
	if (csize < devsize) {
		close(cfd);
		die("%s: smaller than the replay device", copy);
	}
	for (off = 0; off < devsize; off += n) {
		n = devsize - off < MAX_IO ? devsize - off : MAX_IO;
		xpread(fd, buf, n, off, "replay device");
		xpwrite(cfd, buf, n, off);
	}
	if (fsync(cfd))
		die("fsync %s: %s", copy, strerror(errno));
	close(cfd);
}

/* one buffer for the life of the program (the serve mode replays often) */
static char *io_buf(void)
{
	static char *buf;

	if (!buf)
		buf = lw_alloc(MAX_IO);
	return buf;
}

void lw_replay(const char *dev, uint64_t from, uint64_t to, int zero, const char *copy)
{
	char *buf = io_buf();
	uint64_t size, i;
	int fd;

	if (to > lw_nentries || from > to)
		die("bad range %" PRIu64 "..%" PRIu64 " (log has %" PRIu64 " entries)",
		    from, to, lw_nentries);
	fd = lw_open_dev(dev, &size);
	if (zero)
		zero_range(fd, 0, size);
	for (i = from; i < to; i++)
		apply(fd, size, i, buf);
	finish(fd, copy, size, buf);
	close(fd);
}

uint64_t lw_replay_durable(const char *dev, int zero, uint64_t *fua)
{
	char *buf = io_buf();
	uint64_t size, i, last = 0;
	int fd = lw_open_dev(dev, &size);

	*fua = 0;
	for (i = 0; i < lw_nentries; i++)
		if (lw_ents[i].flags & LOG_FLUSH_FLAG)
			last = i + 1;
	if (zero)
		zero_range(fd, 0, size);
	for (i = 0; i < lw_nentries; i++) {
		if (i < last) {
			apply(fd, size, i, buf);
		} else if (lw_ents[i].flags & LOG_FUA_FLAG) {
			apply(fd, size, i, buf);
			(*fua)++;
		}
	}
	finish(fd, NULL, size, buf);
	close(fd);
	return last;
}
