/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A dm-log-writes log, read and replayed (iof-replay, and iof-stamp's
 * serve mode).  The format: Documentation/admin-guide/device-mapper/
 * log-writes.rst, drivers/md/dm-log-writes.c: a super block at byte 0, then
 * per entry one log sector holding struct log_write_entry (a mark's name
 * follows it in the same sector) and, for writes, the data: nr_sectors log
 * sectors.  Sectors and sizes are in units of the super's sectorsize.
 * Errors call die(), which the program defines.
 */
#ifndef IOF_LOGWRITES_H
#define IOF_LOGWRITES_H

#include <stdint.h>

#define LOG_FLUSH_FLAG		(1 << 0)
#define LOG_FUA_FLAG		(1 << 1)
#define LOG_DISCARD_FLAG	(1 << 2)
#define LOG_MARK_FLAG		(1 << 3)
#define LOG_METADATA_FLAG	(1 << 4)

struct lw_entry {
	uint64_t off;		/* byte offset of the entry's header in the log */
	uint64_t sector;	/* in sectorsize units */
	uint64_t nr;
	uint64_t flags;
	char *mark;		/* mark name, or NULL */
};

extern uint32_t lw_ssize;		/* the log's sector size */
extern uint64_t lw_nentries;
extern struct lw_entry *lw_ents;	/* lw_nentries of them */

void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* read the super and every entry header of the log at PATH */
void lw_open_log(const char *path);
/* a block device opened O_RDWR | O_DIRECT, and its size */
int lw_open_dev(const char *path, uint64_t *size);
/*
 * Write entries FROM..TO-1 to DEV (ZERO: zero DEV first), then, if COPY is
 * given, copy all of DEV to COPY; both fsync'ed.
 */
void lw_replay(const char *dev, uint64_t from, uint64_t to, int zero, const char *copy);
/*
 * What a device with a volatile cache keeps when it loses power at the end
 * of the log: every entry up to its last FLUSH, then the FUA writes after
 * it.  Returns the index after that FLUSH; *FUA counts the FUA writes.
 */
uint64_t lw_replay_durable(const char *dev, int zero, uint64_t *fua);

#endif
