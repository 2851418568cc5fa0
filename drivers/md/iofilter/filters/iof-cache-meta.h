/* SPDX-License-Identifier: GPL-2.0 */
/*
 * iofilter "cache": the persistent metadata, opaque to the rest of the
 * filter (as dm-cache-metadata.h keeps dm-cache's).  The on-disk format is
 * private to iof-cache-meta.c.
 *
 * The cache tells the metadata, under the lock it commits under, what each
 * cache block must say on disk after the next commit (cc_meta_set()); a
 * commit is three steps so the cache keeps its own state in step:
 * cc_meta_snapshot() under that lock, cc_meta_write() (sleeps), then
 * cc_meta_done() under the lock again.  Commits are serialised by the
 * caller.
 */
#ifndef IOF_CACHE_META_H
#define IOF_CACHE_META_H

#include <linux/blkdev.h>
#include <linux/types.h>

struct cc_meta;

/* On-disk state of a cache block (the disk format's flags) */
#define DS_INVALID	0
#define DS_CLEAN	1		/* valid */
#define DS_DIRTY	3		/* valid, newer than the origin */

#define CC_MIN_BLOCKS	16

/* What the disk held for one cache block, as loading reports it */
enum cc_meta_load {
	CML_FREE,	/* never used */
	CML_DROPPED,	/* invalid, torn, or not trusted after a crash */
	CML_CLEAN,
	CML_DIRTY,
};

/*
 * Loading calls this for every cache block, in order.  For CML_CLEAN and
 * CML_DIRTY it returns false to refuse the block (e.g. a second entry for
 * one origin block), which then counts as dropped: the caller treats it as
 * such and the first commit rewrites it invalid.
 */
typedef bool (*cc_meta_load_fn)(void *ctx, u64 index, u64 oblock,
				enum cc_meta_load what);

struct cc_meta *cc_meta_open(struct block_device *cache, const char *volume,
			     const char *cache_path, sector_t origin_sectors,
			     unsigned int block_sectors, bool format,
			     char *error, size_t error_len);
int cc_meta_load(struct cc_meta *md, cc_meta_load_fn fn, void *ctx,
		 char *error, size_t error_len);
void cc_meta_close(struct cc_meta *md);

u64 cc_meta_nr_blocks(const struct cc_meta *md);
sector_t cc_meta_data_start(const struct cc_meta *md);

/* Under the caller's commit lock (a spinlock; no sleeping) */
void cc_meta_set(struct cc_meta *md, u64 index, u64 oblock, unsigned int ds);
bool cc_meta_changed(const struct cc_meta *md);
bool cc_meta_snapshot(struct cc_meta *md);
void cc_meta_done(struct cc_meta *md, int r);

/* May sleep */
int cc_meta_write(struct cc_meta *md, bool clean);
int cc_meta_flush(struct cc_meta *md);

/* Lockless: may some cache block be dirty on disk? */
bool cc_meta_any_dirty(const struct cc_meta *md);

#endif /* IOF_CACHE_META_H */
