/* SPDX-License-Identifier: GPL-2.0 */
/*
 * iofilter "cache": declarations shared by iof-cache.c (the I/O path,
 * policy, writeback, control) and iof-cache-meta.c (the persistent
 * metadata on the cache device).
 */
#ifndef IOF_CACHE_H
#define IOF_CACHE_H

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/dm-bufio.h>
#include <linux/dm-kcopyd.h>
#include <linux/iofilter.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "iof-cache-policy.h"

/*
 * On-disk format (all little endian), in 4 KiB metadata blocks read and
 * written through dm-bufio:
 *
 *   block 0                 superblock (struct cc_disk_sb)
 *   blocks 1..meta_blocks   mapping: one struct cc_disk_entry per cache
 *                           block, CC_ENTRIES_PER_BLOCK per metadata block
 *   data_start (sectors)    cache block 0, 1, ... (block_sectors each),
 *                           data_start aligned to the cache block size
 *
 * An entry is valid only when its flags say so and its checksum (crc32c
 * seeded with the entry's index) matches: a torn or misplaced entry counts
 * as invalid, which is always safe (see "Consistency" in iof-cache.c).
 */
#define CC_MAGIC		0x6568636163666f69ULL	/* "iofcache" */
#define CC_VERSION		1
#define CC_META_BLOCK		4096
#define CC_META_SECTORS		(CC_META_BLOCK >> SECTOR_SHIFT)
#define CC_MIN_BLOCKS		16

#define CC_SB_CLEAN		(1U << 0)	/* shut down cleanly */

struct cc_disk_sb {
	__le64 magic;
	__le32 version;
	__le32 flags;
	__le32 block_sectors;
	__le32 meta_blocks;
	__le64 nr_blocks;
	__le64 data_start;
	__le64 origin_sectors;	/* origin identity: size ... */
	char volume[64];	/* ... and volume name */
	__le64 generation;	/* commits since format */
	__le32 pad;
	__le32 csum;		/* crc32c of everything above */
} __packed;

#define CC_DE_VALID		(1U << 0)
#define CC_DE_DIRTY		(1U << 1)

struct cc_disk_entry {
	__le64 oblock;
	__le32 flags;
	__le32 csum;
} __packed;

#define CC_ENTRIES_PER_BLOCK	(CC_META_BLOCK / sizeof(struct cc_disk_entry))

/* Modes */
enum cc_mode { CC_WT = 0, CC_WA, CC_WB };

/* In-memory entry flags (protected by the bucket lock of e->oblock) */
#define CE_HASHED	(1U << 0)	/* in the hash: e->oblock is cached */
#define CE_VALID	(1U << 1)	/* data present: reads may hit */
#define CE_DIRTY	(1U << 2)	/* newer than the origin */
#define CE_PROMOTING	(1U << 3)	/* kcopyd origin -> cache in flight */
#define CE_ALLOC	(1U << 4)	/* write-allocate in flight (writeback) */
#define CE_STALE	(1U << 5)	/* origin written during promotion */
#define CE_WRITEBACK	(1U << 6)	/* kcopyd cache -> origin in flight */
#define CE_REDIRTY	(1U << 7)	/* written during writeback */

/* Disk state to commit (cc->lock) */
#define DS_INVALID	0
#define DS_CLEAN	CC_DE_VALID
#define DS_DIRTY	(CC_DE_VALID | CC_DE_DIRTY)

struct cc_entry {
	struct hlist_node hnode;	/* bucket chain */
	struct list_head list;		/* free, pending-free, promote lists */
	u64 oblock;
	u64 doblock;			/* disk state to commit */
	atomic_t inflight;		/* bios using the cache copy */
	u16 flags;			/* CE_* */
	u8 dstate;			/* DS_*, under cc->lock */
};

struct cc_bucket {
	spinlock_t lock;
	struct hlist_head head;
	atomic_t wr_inflight;		/* origin writes that missed here */
};

/* Counters bumped on the I/O path, one set per CPU */
struct cc_stats {
	u64 read_hits;
	u64 read_misses;
	u64 write_hits;
	u64 write_misses;
	u64 bypassed;
	u64 uncached;
};

#define CC_SEQ_SLOTS		32
struct cc_seq {
	sector_t next;
	u64 run;		/* bytes */
};

struct cc {
	struct iofilter_instance fi;	/* first: container_of */
	struct iofilter_volume *vol;

	/* configuration */
	char cache_path[128];
	unsigned int block_sectors;
	unsigned int block_shift;	/* sectors */
	int mode;			/* enum cc_mode, READ_ONCE */
	u64 seq_threshold;		/* bytes, 0 off */
	unsigned int low_wm, high_wm;	/* percent dirty */
	unsigned int promote_hits;

	/* devices */
	struct iofilter_bdev cbdev;
	struct block_device *cache;
	struct block_device *origin;
	sector_t origin_sectors;
	u64 origin_blocks;		/* whole cache blocks of the origin */

	/* layout */
	u64 nr_blocks;
	unsigned int meta_blocks;
	sector_t data_start;
	u64 generation;

	/* metadata */
	struct dm_bufio_client *bufio;
	struct cc_disk_entry *dimg;	/* snapshot being committed */
	unsigned long *changed;		/* metadata blocks to write */
	unsigned long *committing;
	unsigned long *ddirty;		/* entries dirty on disk (commit_lock) */
	u64 nr_ddirty;			/* bits set in ddirty; READ_ONCE */
	struct mutex commit_lock;

	/* mapping */
	struct cc_entry *entries;
	struct cc_bucket *buckets;
	unsigned int hash_bits;

	spinlock_t lock;		/* the fields below */
	struct list_head free;
	struct list_head pending_free;	/* invalid in memory, not yet on disk */
	struct list_head promote;	/* waiting for kcopyd */
	u64 nr_free;
	u64 nr_used;
	u64 nr_dirty;
	u64 promotions, demotions, writebacks, writeback_errors;
	u64 commits;
	u64 wb_hand;
	bool wb_since_commit;		/* entries cleaned: flush the origin */
	bool filled_since_commit;	/* entries filled: flush the cache */
	/* lists of struct cc_pb */
	struct list_head flush_waiters;	/* empty flushes: continue after commit */
	struct list_head fua_waiters;	/* completed FUA writes: end after commit */
	struct list_head retry;		/* resubmit to the origin */

	/* workers */
	struct workqueue_struct *wq;
	struct work_struct work;
	struct delayed_work tick;
	struct dm_kcopyd_client *kc;
	atomic_t nr_copies;		/* kcopyd jobs in flight */
	atomic_t nr_wb;			/* writeback copies in flight */
	atomic_t flushing;		/* flush requests: write back all */
	wait_queue_head_t wait;
	bool dying;
	bool suspended;			/* no promotion, writeback or tick */
	bool failed;			/* cache device failed: degraded */
	bool wb_active;			/* between the watermarks; worker only */

	struct bio_set bs;		/* writethrough clones */
	struct cc_stats __percpu *stats;
	struct cc_seq seq[CC_SEQ_SLOTS];
	struct cc_policy *policy;	/* admission and eviction */
};

/* iof-cache-meta.c */
int cc_meta_open(struct cc *cc, bool format, char *error, size_t error_len);
void cc_meta_close(struct cc *cc);
int cc_commit(struct cc *cc, bool clean);
void cc_mark_changed(struct cc *cc, struct cc_entry *e);

/* iof-cache.c */
struct cc_bucket *cc_bucket_of(struct cc *cc, u64 oblock);
void cc_hash_insert(struct cc *cc, struct cc_entry *e);
void cc_release_waiters(struct cc *cc, struct list_head *flushes,
			struct list_head *fuas, int r);
void cc_set_failed(struct cc *cc, int err, const char *what);

/* Per-bio data, in the core's per-bio space for the cache class */
enum cc_kind {
	CK_NONE = 0,
	CK_ORIGIN_WRITE,	/* holds bk->wr_inflight */
	CK_READ_HIT,		/* holds e->inflight; retried on error */
	CK_CACHE_WRITE,		/* writeback: holds e->inflight */
	CK_WT_WRITE,		/* writethrough: a clone holds e->inflight */
};

struct cc;

#define CC_PB_FUA	1	/* the write has REQ_FUA */
#define CC_PB_ALLOC	2	/* the whole-block write that allocated e */

struct cc_pb {
	struct list_head list;
	struct cc *cc;
	struct bio *bio;
	struct cc_entry *e;
	struct cc_bucket *bk;
	struct bvec_iter iter;		/* as mapped, for a retry */
	u8 kind;			/* enum cc_kind */
	u8 fua;				/* CC_PB_* */
	blk_status_t status;
};

static_assert(sizeof(struct cc_pb) <= IOFILTER_PB_SIZE);

/* Find the entry caching @oblock; bucket lock held. */
static inline struct cc_entry *cc_lookup(struct cc_bucket *bk, u64 oblock)
{
	struct cc_entry *e;

	hlist_for_each_entry(e, &bk->head, hnode)
		if (e->oblock == oblock)
			return e;
	return NULL;
}

static inline u64 cc_index(struct cc *cc, struct cc_entry *e)
{
	return e - cc->entries;
}

static inline sector_t cc_block_sector(struct cc *cc, struct cc_entry *e)
{
	return cc->data_start + (cc_index(cc, e) << cc->block_shift);
}

#endif /* IOF_CACHE_H */
