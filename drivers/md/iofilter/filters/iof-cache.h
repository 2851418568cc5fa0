/* SPDX-License-Identifier: GPL-2.0 */
/*
 * iofilter "cache": the filter's state, shared by the files of the I/O
 * path, worker and control.  The metadata (iof-cache-meta.h) and the
 * policy (iof-cache-policy.h) keep theirs private.
 */
#ifndef IOF_CACHE_H
#define IOF_CACHE_H

#include <linux/bio.h>
#include <linux/hash.h>
#include <linux/blkdev.h>
#include <linux/dm-kcopyd.h>
#include <linux/iofilter.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "iof-cache-meta.h"
#include "iof-cache-policy.h"

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

struct cc_entry {
	struct hlist_node hnode;	/* bucket chain */
	struct list_head list;		/* free, pending-free, promote lists */
	u64 oblock;
	atomic_t inflight;		/* bios using the cache copy */
	u16 flags;			/* CE_* */
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

	/* layout (from the metadata) */
	u64 nr_blocks;
	sector_t data_start;

	/* metadata: disk states set under cc->lock, commits under commit_lock */
	struct cc_meta *md;
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

#define CC_TICK			HZ

static inline struct cc *to_cc(struct iofilter_instance *fi)
{
	return container_of(fi, struct cc, fi);
}

static inline struct cc_bucket *cc_bucket_of(struct cc *cc, u64 oblock)
{
	return &cc->buckets[hash_64(oblock, cc->hash_bits)];
}

/* Run the worker */
static inline void kick(struct cc *cc)
{
	queue_work(cc->wq, &cc->work);
}

/* iof-cache-work.c: block states (bucket lock held, interrupts off) */
void cc_set_failed(struct cc *cc, int err, const char *what);
void cc_invalidate(struct cc *cc, struct cc_entry *e);
void cc_release_unborn(struct cc *cc, struct cc_entry *e);
struct cc_entry *cc_alloc_entry(struct cc *cc, struct cc_bucket *bk,
				u64 ob, u16 flags);
void cc_set_dstate(struct cc *cc, struct cc_entry *e, u8 ds);
/* iof-cache-work.c: the commit and the worker (may sleep) */
int cc_commit(struct cc *cc, bool clean);
void cc_work(struct work_struct *w);
void cc_tick(struct work_struct *w);

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

/* iof-cache.c: the I/O path */
int cache_map(struct iofilter_instance *fi, struct bio *bio, void *p,
	      blk_status_t *status);
int cache_end_io(struct iofilter_instance *fi, struct bio *bio, void *p,
		 blk_status_t *status);

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
