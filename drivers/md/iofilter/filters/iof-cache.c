// SPDX-License-Identifier: GPL-2.0
/*
 * iofilter "cache": a block cache on a fast device in front of the origin
 * (class cache, the last filter before the origin).
 *
 * Parameters:
 *   cache_dev=PATH          the cache device (required; opened exclusively)
 *   block_size=SIZE         4KiB..1MiB, a power of two (default 64KiB)
 *   mode=writethrough|writearound|writeback       (default writethrough)
 *   seq_threshold=SIZE      sequential streams this long bypass (0: off)
 *   low_watermark=PCT       writeback stops below this dirty share (10)
 *   high_watermark=PCT      writeback starts above it (50)
 *   promote_hits=N          read misses of a block before it is promoted (2)
 *   policy=clock            admission and eviction (iof-cache-policy.h)
 *   format=0|1              1: discard whatever the cache device holds
 * Messages: flush; mode writethrough|writearound|writeback
 * Status:   see Documentation/admin-guide.rst, "cache".
 *
 * I/O path.  Bios are cut at cache block boundaries, so each one touches
 * one cache block.  The mapping is a hash of origin block -> entry with a
 * spinlock per bucket for every change.  A read hit takes no lock (see
 * hit_lockless()): it finds the entry, raises its in-flight count and
 * remaps the bio to the cache device (the cache class is the last before
 * the origin, so the core submits the bio wherever it points).  Nothing is
 * allocated per hit.  A read miss goes to the origin; if the block is not
 * part of a sequential stream nor a background read (another filter's
 * resync, REQ_BACKGROUND) and the policy admits it, a free entry is taken
 * and dm-kcopyd copies the block from a worker: the miss never waits for it.
 * Admission and eviction are the policy's (iof-cache-policy.h; "clock":
 * promote on the promote_hits-th recent miss, CLOCK over clean blocks),
 * which keeps a one-time scan from flushing the hot set.
 *
 * Writes: writethrough sends the bio to the origin and a clone to the
 * cache; writearound sends it to the origin and invalidates the block;
 * writeback sends it to the cache.  A write to a block being promoted
 * goes to the origin and the promotion is dropped.  Writes that miss do
 * not allocate, except whole-block writes in writeback.
 *
 * Consistency (writeback), as dm-cache: a write is durable once a later
 * FLUSH (or its own FUA) completes.  A flush commits the metadata: flush
 * the cache device, write the changed mapping blocks and the superblock,
 * flush again.  Rules that make a crash at any moment safe:
 *  - after an unclean shutdown only entries dirty on disk are trusted;
 *    clean ones are dropped.  A block dirtied since the last commit is
 *    clean on disk, so a crash drops it and loses only writes that no
 *    flush covered; one dirtied before it was committed dirty by it;
 *  - a newly filled block (promotion, whole-block write) is recorded on
 *    disk only after its data completed, and the commit flushes the cache
 *    before writing the entry;
 *  - an entry is marked clean on disk only after the origin was flushed;
 *  - an invalidated block is reused only once its invalid entry is on disk;
 *  - while any entry may be dirty on disk (nr_ddirty), a FUA write that
 *    goes to the origin (bypass, writearound, degraded) completes only
 *    after the next commit, which has the invalidation of its block, and
 *    every flush commits: the disk's dirty entry would otherwise bring the
 *    old block back after a crash;
 *  - so a dirty entry on disk is never older than the origin, and a clean
 *    one (which may be, after a crash: an invalidation not yet on disk)
 *    is only trusted after a clean shutdown.
 *
 * Cache device failure: the first error makes the instance degraded.  Then
 * nothing is promoted, reads and writes of blocks that are not dirty go to
 * the origin (a failed read hit on a clean block is retried there, so no
 * I/O fails), and only I/O to dirty blocks still uses the cache device:
 * if that fails, the I/O fails, because the origin's copy is stale.
 */
#include <linux/hash.h>
#include <linux/log2.h>
#include <linux/slab.h>

#include "iof-cache.h"


/* ---- the I/O path ---- */

/* Bytes of the sequential run this bio continues (bcache-like) */
static noinline bool seq_run(struct cc *cc, struct bio *bio, u64 thr)
{
	sector_t s = bio->bi_iter.bi_sector, end = bio_end_sector(bio);
	struct cc_seq *q;
	u64 run;

	q = &cc->seq[hash_64(s, ilog2(CC_SEQ_SLOTS))];
	run = bio->bi_iter.bi_size;
	if (READ_ONCE(q->next) == s)
		run += READ_ONCE(q->run);
	q = &cc->seq[hash_64(end, ilog2(CC_SEQ_SLOTS))];
	WRITE_ONCE(q->next, end);
	WRITE_ONCE(q->run, run);
	return run >= thr;
}

/* Is @bio part of a sequential stream to bypass?  Inline when off */
static inline bool seq_bypass(struct cc *cc, struct bio *bio)
{
	u64 thr = cc->seq_threshold;

	return thr && seq_run(cc, bio, thr);
}

/* Inline: every hit takes it, and it is short beside its call */
static __always_inline void remap_cache(struct cc *cc, struct bio *bio,
					struct cc_entry *e)
{
	sector_t off = bio->bi_iter.bi_sector & (cc->block_sectors - 1);

	bio_set_dev(bio, cc->cache);
	bio->bi_iter.bi_sector = cc_block_sector(cc, e) + off;
	if (!bdev_nowait(cc->cache))
		bio->bi_opf &= ~REQ_NOWAIT;
}

/* A read may use @e's cache copy (degraded: only a dirty one) */
static bool read_hits(u16 eflags, bool failed)
{
	return (eflags & (CE_HASHED | CE_VALID)) == (CE_HASHED | CE_VALID) &&
	       (!failed || (eflags & CE_DIRTY));
}

#define CC_WALK_MAX	16

/*
 * A read hit without the bucket lock: the entry for @ob with e->inflight
 * raised, or NULL when the locked path must decide.  Entries live as long
 * as the instance, so a walk never touches freed memory, but one unhashed
 * and reused in another bucket while we stand on it leads the walk into
 * that bucket's chain: a walk that finds nothing, or walks too far, is not
 * a verdict.  A hit is confirmed after raising e->inflight, behind a full
 * barrier; whoever frees a block reads e->inflight behind one too, after
 * clearing e->flags (cc_release_unborn(), cc_commit() for invalidated
 * blocks): either the block is kept for us or we see it go.  A block is
 * given a new oblock before new flags (cc_alloc_entry()), and we read them in
 * the other order, so a new oblock never comes with an old CE_VALID.
 */
static struct cc_entry *hit_lockless(struct cc_bucket *bk, u64 ob,
				     bool failed)
{
	unsigned int n = 0;
	struct cc_entry *e;

	/* no RCU read section needed: entries are never freed under us */
	hlist_for_each_entry_rcu(e, &bk->head, hnode, true) {
		if (READ_ONCE(e->oblock) == ob || ++n > CC_WALK_MAX)
			break;
	}
	if (!e || n > CC_WALK_MAX || !read_hits(READ_ONCE(e->flags), failed))
		return NULL;
	atomic_inc(&e->inflight);
	smp_mb__after_atomic();	/* inflight before flags: see above */
	if (READ_ONCE(e->oblock) == ob) {
		smp_rmb();	/* oblock before flags: see cc_alloc_entry() */
		if (read_hits(READ_ONCE(e->flags), failed))
			return e;
	}
	atomic_dec(&e->inflight);
	return NULL;
}

/* Inline in both places that find a hit: the lock-free one is the hot one */
static __always_inline int read_hit(struct cc *cc, struct bio *bio,
				    struct cc_pb *pb, struct cc_entry *e)
{
	cc_policy_hit(cc->policy, cc_index(cc, e));
	pb->kind = CK_READ_HIT;
	pb->e = e;
	pb->iter = bio->bi_iter;
	remap_cache(cc, bio, e);
	this_cpu_inc(cc->stats->read_hits);
	return IOF_MAP_CONTINUE;
}

static int map_read(struct cc *cc, struct bio *bio, struct cc_pb *pb, u64 ob)
{
	struct cc_bucket *bk = cc_bucket_of(cc, ob);
	bool bypass = seq_bypass(cc, bio), failed = READ_ONCE(cc->failed);
	bool promote = false;
	struct cc_entry *e;
	unsigned long flags;

	e = hit_lockless(bk, ob, failed);
	if (e)
		return read_hit(cc, bio, pb, e);
	/* a resync reading through us (iofilter_read_below()): no promotion */
	if (bio->bi_opf & REQ_BACKGROUND)
		bypass = true;

	spin_lock_irqsave(&bk->lock, flags);
	e = cc_lookup(bk, ob);
	if (e && read_hits(e->flags, failed)) {
		atomic_inc(&e->inflight);
		spin_unlock_irqrestore(&bk->lock, flags);
		return read_hit(cc, bio, pb, e);
	}
	if (!e && !bypass && !failed && !atomic_read(&bk->wr_inflight) &&
	    cc_policy_admit(cc->policy, ob))
		promote = cc_alloc_entry(cc, bk, ob, CE_PROMOTING);
	spin_unlock_irqrestore(&bk->lock, flags);
	this_cpu_inc(cc->stats->read_misses);
	if (bypass)
		this_cpu_inc(cc->stats->bypassed);
	if (promote)
		kick(cc);
	return IOF_MAP_CONTINUE;
}

static void wt_clone_endio(struct bio *clone)
{
	struct cc_pb *pb = clone->bi_private;
	struct cc *cc = pb->cc;
	struct cc_entry *e = pb->e;
	struct bio *parent = pb->bio;
	blk_status_t st = clone->bi_status;

	if (st) {
		struct cc_bucket *bk = cc_bucket_of(cc, e->oblock);
		unsigned long flags;

		spin_lock_irqsave(&bk->lock, flags);
		if (e->flags & CE_DIRTY)
			/* the cache holds the block: it must have this write */
			cmpxchg(&parent->bi_status, BLK_STS_OK, st);
		else if (e->flags & CE_HASHED)
			cc_invalidate(cc, e);
		spin_unlock_irqrestore(&bk->lock, flags);
		if (st != BLK_STS_AGAIN)	/* REQ_NOWAIT: not a failure */
			cc_set_failed(cc, blk_status_to_errno(st),
				      "cache write");
	}
	atomic_dec(&e->inflight);
	bio_put(clone);
	bio_endio(parent);
}

/*
 * Writethrough: the bio goes to the origin, a clone of it to the cache
 * block; the bio completes when both have.  e->inflight is held.
 */
static int wt_write(struct cc *cc, struct bio *bio, struct cc_pb *pb,
		    struct cc_entry *e)
{
	struct bio *clone;

	clone = bio_alloc_clone(cc->cache, bio, GFP_NOWAIT, &cc->bs);
	if (!clone) {
		struct cc_bucket *bk = cc_bucket_of(cc, e->oblock);
		unsigned long flags;

		spin_lock_irqsave(&bk->lock, flags);
		if (e->flags & CE_DIRTY) {
			/* the cache copy is the one that counts */
			spin_unlock_irqrestore(&bk->lock, flags);
			pb->kind = CK_CACHE_WRITE;
			pb->e = e;
			pb->iter = bio->bi_iter;
			remap_cache(cc, bio, e);
			return IOF_MAP_CONTINUE;
		}
		if (e->flags & CE_HASHED)
			cc_invalidate(cc, e);
		atomic_inc(&bk->wr_inflight);
		spin_unlock_irqrestore(&bk->lock, flags);
		atomic_dec(&e->inflight);
		pb->kind = CK_ORIGIN_WRITE;
		pb->bk = bk;
		return IOF_MAP_CONTINUE;
	}
	iofilter_fan_out(bio, clone);
	remap_cache(cc, clone, e);
	clone->bi_end_io = wt_clone_endio;
	clone->bi_private = pb;
	pb->kind = CK_WT_WRITE;
	pb->e = e;
	bio_inc_remaining(bio);
	submit_bio_noacct(clone);
	return IOF_MAP_CONTINUE;
}

static int map_write(struct cc *cc, struct bio *bio, struct cc_pb *pb, u64 ob)
{
	struct cc_bucket *bk = cc_bucket_of(cc, ob);
	int mode = READ_ONCE(cc->mode);
	bool bypass = seq_bypass(cc, bio), failed = READ_ONCE(cc->failed);
	bool full = !(bio->bi_iter.bi_sector & (cc->block_sectors - 1)) &&
		    bio_sectors(bio) == cc->block_sectors;
	struct cc_entry *e;
	unsigned long flags;

	pb->fua = (bio->bi_opf & REQ_FUA) ? CC_PB_FUA : 0;
	spin_lock_irqsave(&bk->lock, flags);
	e = cc_lookup(bk, ob);
	if (e && (e->flags & CE_DIRTY)) {
		/* the cache copy is newer than the origin's: it gets the write */
		atomic_inc(&e->inflight);
		if (e->flags & CE_WRITEBACK)
			e->flags |= CE_REDIRTY;
		spin_unlock_irqrestore(&bk->lock, flags);
		this_cpu_inc(cc->stats->write_hits);
		if (mode != CC_WB)
			return wt_write(cc, bio, pb, e);
		pb->kind = CK_CACHE_WRITE;
		pb->e = e;
		pb->iter = bio->bi_iter;
		remap_cache(cc, bio, e);
		return IOF_MAP_CONTINUE;
	}
	if (e && (e->flags & CE_VALID)) {
		this_cpu_inc(cc->stats->write_hits);
		if (failed || mode == CC_WA || bypass) {
			cc_invalidate(cc, e);
			goto to_origin;
		}
		if (mode == CC_WT) {
			atomic_inc(&e->inflight);
			spin_unlock_irqrestore(&bk->lock, flags);
			return wt_write(cc, bio, pb, e);
		}
		/* writeback, clean block: dirty on disk with the next commit */
		e->flags |= CE_DIRTY;
		atomic_inc(&e->inflight);
		spin_lock(&cc->lock);
		cc->nr_dirty++;
		cc_meta_set(cc->md, cc_index(cc, e), e->oblock, DS_DIRTY);
		spin_unlock(&cc->lock);
		spin_unlock_irqrestore(&bk->lock, flags);
		pb->kind = CK_CACHE_WRITE;
		pb->e = e;
		pb->iter = bio->bi_iter;
		remap_cache(cc, bio, e);
		return IOF_MAP_CONTINUE;
	} else if (e) {
		/* being promoted: the copy would be stale */
		e->flags |= CE_STALE;
		this_cpu_inc(cc->stats->write_misses);
	} else {
		this_cpu_inc(cc->stats->write_misses);
		if (bypass)
			this_cpu_inc(cc->stats->bypassed);
		if (mode == CC_WB && full && !bypass && !failed) {
			e = cc_alloc_entry(cc, bk, ob, CE_ALLOC | CE_DIRTY);
			if (e) {
				atomic_inc(&e->inflight);
				spin_unlock_irqrestore(&bk->lock, flags);
				pb->kind = CK_CACHE_WRITE;
				pb->e = e;
				pb->fua |= CC_PB_ALLOC;
				pb->iter = bio->bi_iter;
				remap_cache(cc, bio, e);
				return IOF_MAP_CONTINUE;
			}
		}
	}
to_origin:
	/* no promotion of this block may start while the write is in flight */
	atomic_inc(&bk->wr_inflight);
	spin_unlock_irqrestore(&bk->lock, flags);
	pb->kind = CK_ORIGIN_WRITE;
	pb->bk = bk;
	return IOF_MAP_CONTINUE;
}

/* Discard and (never sent: io_hints) write-zeroes, secure erase */
static int map_discard(struct cc *cc, struct bio *bio, struct cc_pb *pb,
		       u64 ob, blk_status_t *status)
{
	struct cc_bucket *bk = cc_bucket_of(cc, ob);
	bool full = !(bio->bi_iter.bi_sector & (cc->block_sectors - 1)) &&
		    bio_sectors(bio) == cc->block_sectors;
	struct cc_entry *e;
	unsigned long flags;

	spin_lock_irqsave(&bk->lock, flags);
	e = cc_lookup(bk, ob);
	if (e) {
		if (e->flags & CE_PROMOTING) {
			e->flags |= CE_STALE;
		} else if (!(e->flags & CE_DIRTY) ||
			   (full && (e->flags & CE_VALID) &&
			    !(e->flags & (CE_WRITEBACK | CE_ALLOC)))) {
			cc_invalidate(cc, e);
		} else {
			/* part of a dirty block: keep it whole */
			spin_unlock_irqrestore(&bk->lock, flags);
			if (bio_op(bio) == REQ_OP_DISCARD) {
				*status = BLK_STS_OK;	/* a hint */
				return IOF_MAP_COMPLETE;
			}
			*status = BLK_STS_NOTSUPP;
			return IOF_MAP_COMPLETE;
		}
	}
	atomic_inc(&bk->wr_inflight);
	spin_unlock_irqrestore(&bk->lock, flags);
	pb->kind = CK_ORIGIN_WRITE;
	pb->bk = bk;
	return IOF_MAP_CONTINUE;
}

/*
 * Hand a bio to the worker on one of the cache's lists (flush or FUA
 * waiters, retries): its map or end_io then reports it kept.
 */
static void cc_park(struct cc *cc, struct cc_pb *pb, struct list_head *list)
{
	unsigned long flags;

	spin_lock_irqsave(&cc->lock, flags);
	list_add_tail(&pb->list, list);
	spin_unlock_irqrestore(&cc->lock, flags);
	kick(cc);
}

int cache_map(struct iofilter_instance *fi, struct bio *bio, void *p,
	      blk_status_t *status)
{
	struct cc *cc = to_cc(fi);
	struct cc_pb *pb = p;
	sector_t s = bio->bi_iter.bi_sector;
	u64 ob;

	pb->kind = CK_NONE;
	pb->cc = cc;
	pb->bio = bio;
	pb->e = NULL;
	pb->bk = NULL;
	pb->fua = 0;

	if (!bio->bi_iter.bi_size) {
		/*
		 * A flush: only dirty blocks need one, in memory or on disk
		 * (an invalidation of a block dirty on disk must reach the
		 * disk before the flush covering the write that caused it
		 * completes; see Consistency)
		 */
		if (READ_ONCE(cc->mode) != CC_WB && !READ_ONCE(cc->nr_dirty) &&
		    !cc_meta_any_dirty(cc->md))
			return IOF_MAP_CONTINUE;
		cc_park(cc, pb, &cc->flush_waiters);
		return IOF_MAP_SUBMITTED;
	}

	ob = s >> cc->block_shift;
	if (ob >= cc->origin_blocks) {
		this_cpu_inc(cc->stats->uncached);
		return IOF_MAP_CONTINUE;
	}
	/* the core cuts bios at fi.io_boundary */
	if (WARN_ON_ONCE(bio_end_sector(bio) > (ob + 1) << cc->block_shift)) {
		*status = BLK_STS_IOERR;
		return IOF_MAP_COMPLETE;
	}
	switch (bio_op(bio)) {
	case REQ_OP_READ:
		return map_read(cc, bio, pb, ob);
	case REQ_OP_WRITE:
		return map_write(cc, bio, pb, ob);
	case REQ_OP_DISCARD:
	case REQ_OP_SECURE_ERASE:
	case REQ_OP_WRITE_ZEROES:
		return map_discard(cc, bio, pb, ob, status);
	default:
		return IOF_MAP_CONTINUE;
	}
}

/* What the end_io of one kind asks for: done, kept, or resubmit */
enum { CC_END_DONE, CC_END_KEPT, CC_END_RETRY };

static inline int end_origin_write(struct cc *cc, struct cc_pb *pb,
				   blk_status_t st)
{
	atomic_dec(&pb->bk->wr_inflight);
	if (st || !(pb->fua & CC_PB_FUA) || !cc_meta_any_dirty(cc->md))
		return CC_END_DONE;
	/*
	 * A FUA write that went to the origin: the disk may still hold a
	 * dirty entry for its block whose invalidation is not committed, and
	 * a crash now would bring the old block back.  Durable once the
	 * invalidation is (mapped before, so the next commit has it).
	 */
	cc_park(cc, pb, &cc->fua_waiters);
	return CC_END_KEPT;
}

static inline int end_read_hit(struct cc *cc, struct cc_entry *e,
			       blk_status_t st)
{
	struct cc_bucket *bk;
	unsigned long flags;
	bool dirty;

	if (likely(!st) || st == BLK_STS_AGAIN) {
		atomic_dec(&e->inflight);
		return CC_END_DONE;
	}
	bk = cc_bucket_of(cc, e->oblock);
	spin_lock_irqsave(&bk->lock, flags);
	dirty = e->flags & CE_DIRTY;
	if (!dirty && (e->flags & CE_HASHED))
		cc_invalidate(cc, e);
	spin_unlock_irqrestore(&bk->lock, flags);
	atomic_dec(&e->inflight);
	cc_set_failed(cc, blk_status_to_errno(st), "cache read");
	/* a dirty block's origin copy is stale: the error stands */
	return dirty ? CC_END_DONE : CC_END_RETRY;
}

static int end_cache_write(struct cc *cc, struct cc_pb *pb, blk_status_t st)
{
	struct cc_entry *e = pb->e;
	struct cc_bucket *bk = cc_bucket_of(cc, e->oblock);
	unsigned long flags;
	bool retry = false;

	spin_lock_irqsave(&bk->lock, flags);
	if (pb->fua & CC_PB_ALLOC) {
		if (st) {
			/* the block was not cached: the origin takes it */
			if (e->flags & CE_HASHED)
				cc_release_unborn(cc, e);
			retry = st != BLK_STS_AGAIN;
		} else if (e->flags & CE_ALLOC) {
			e->flags &= ~CE_ALLOC;
			e->flags |= CE_VALID;
			cc_set_dstate(cc, e, DS_DIRTY);
		}
	}
	spin_unlock_irqrestore(&bk->lock, flags);
	atomic_dec(&e->inflight);
	if (st && st != BLK_STS_AGAIN)
		cc_set_failed(cc, blk_status_to_errno(st), "cache write");
	if (retry)
		return CC_END_RETRY;
	if (!st && (pb->fua & CC_PB_FUA)) {
		/* FUA: durable once the entry is */
		cc_park(cc, pb, &cc->fua_waiters);
		return CC_END_KEPT;
	}
	return CC_END_DONE;
}

int cache_end_io(struct iofilter_instance *fi, struct bio *bio, void *p,
		 blk_status_t *status)
{
	struct cc *cc = to_cc(fi);
	struct cc_pb *pb = p;
	int r;

	switch (pb->kind) {
	case CK_ORIGIN_WRITE:
		r = end_origin_write(cc, pb, *status);
		break;
	case CK_READ_HIT:
		r = end_read_hit(cc, pb->e, *status);
		break;
	case CK_CACHE_WRITE:
		r = end_cache_write(cc, pb, *status);
		break;
	default:
		return IOF_ENDIO_DONE;
	}
	if (likely(r == CC_END_DONE))
		return IOF_ENDIO_DONE;
	if (r == CC_END_RETRY)
		cc_park(cc, pb, &cc->retry);	/* to the origin, from the worker */
	return IOF_ENDIO_INCOMPLETE;
}
