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
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#define IOF_BUILTIN_CACHE
#include <shared/iofilter-builtin.h>
#include "iof-cache.h"

#define DM_MSG_PREFIX "iofilter-cache"
#include <linux/device-mapper.h>

#define CC_MAX_COPIES		64	/* promotions in flight */
#define CC_MAX_WB		16	/* writeback copies in flight */
#define CC_TICK			HZ

static const char * const mode_names[] = {
	[CC_WT] = "writethrough",
	[CC_WA] = "writearound",
	[CC_WB] = "writeback",
};

static inline struct cc *to_cc(struct iofilter_instance *fi)
{
	return container_of(fi, struct cc, fi);
}

static struct cc_bucket *cc_bucket_of(struct cc *cc, u64 oblock)
{
	return &cc->buckets[hash_64(oblock, cc->hash_bits)];
}

static void kick(struct cc *cc)
{
	queue_work(cc->wq, &cc->work);
}

static void cc_set_failed(struct cc *cc, int err, const char *what)
{
	if (!READ_ONCE(cc->failed)) {
		WRITE_ONCE(cc->failed, true);
		DMERR_LIMIT("%s: cache device %s failed (%s: error %d): degraded, I/O to blocks not dirty goes to the origin",
			    iofilter_volume_name(cc->vol), cc->cache_path, what,
			    err);
	}
	if (READ_ONCE(cc->fi.vol))
		iofilter_latch_error(&cc->fi, err, what);
	wake_up_all(&cc->wait);
}

/*
 * Unhash @e and clear its flags: the start of invalidate() and
 * release_unborn().  Bucket lock and cc->lock held, interrupts off.
 */
static void unhash(struct cc *cc, struct cc_entry *e)
{
	hlist_del_init_rcu(&e->hnode);
	if (e->flags & CE_DIRTY)
		cc->nr_dirty--;
	WRITE_ONCE(e->flags, 0);
	cc->nr_used--;
}

/*
 * Take a block out of the cache: its invalid state goes to disk with the
 * next commit, and the block is reused after that (and once no bio uses
 * it: cc_commit() checks e->inflight after a full barrier, for
 * hit_lockless()).  Bucket lock held, interrupts off.
 */
static void invalidate(struct cc *cc, struct cc_entry *e)
{
	spin_lock(&cc->lock);
	unhash(cc, e);
	cc_meta_set(cc->md, cc_index(cc, e), 0, DS_INVALID);
	list_add_tail(&e->list, &cc->pending_free);
	spin_unlock(&cc->lock);
}

/*
 * Drop an entry whose data never became valid (failed or stale promotion,
 * failed whole-block write): its disk state is still invalid, so it is
 * free at once unless a bio still holds it.
 */
static void release_unborn(struct cc *cc, struct cc_entry *e)
{
	spin_lock(&cc->lock);
	unhash(cc, e);
	smp_mb();	/* flags before inflight: pairs with hit_lockless() */
	if (atomic_read(&e->inflight)) {
		list_add_tail(&e->list, &cc->pending_free);
	} else {
		list_add_tail(&e->list, &cc->free);
		cc->nr_free++;
	}
	spin_unlock(&cc->lock);
}

/* A free entry for @ob, or NULL.  Bucket lock held, interrupts off. */
static struct cc_entry *alloc_entry(struct cc *cc, struct cc_bucket *bk,
				    u64 ob, u16 flags)
{
	struct cc_entry *e;

	spin_lock(&cc->lock);
	if (cc->dying || list_empty(&cc->free)) {
		spin_unlock(&cc->lock);
		return NULL;
	}
	e = list_first_entry(&cc->free, struct cc_entry, list);
	list_del_init(&e->list);
	cc->nr_free--;
	cc->nr_used++;
	WRITE_ONCE(e->oblock, ob);
	smp_wmb();	/* oblock before flags: pairs with hit_lockless() */
	WRITE_ONCE(e->flags, CE_HASHED | flags);
	cc->policy->ops->insert(cc->policy, cc_index(cc, e));
	if (flags & CE_DIRTY)
		cc->nr_dirty++;
	if (flags & CE_PROMOTING)
		list_add_tail(&e->list, &cc->promote);
	spin_unlock(&cc->lock);
	hlist_add_head_rcu(&e->hnode, &bk->head);
	return e;
}

/* @e now holds its data: record it (bucket lock held, interrupts off). */
static void set_dstate(struct cc *cc, struct cc_entry *e, u8 ds)
{
	spin_lock(&cc->lock);
	cc_meta_set(cc->md, cc_index(cc, e), e->oblock, ds);
	cc->filled_since_commit = true;
	spin_unlock(&cc->lock);
}

/* ---- the I/O path ---- */

/* Bytes of the sequential run this bio continues (bcache-like) */
static bool seq_bypass(struct cc *cc, struct bio *bio)
{
	u64 thr = cc->seq_threshold, run;
	sector_t s = bio->bi_iter.bi_sector, end = bio_end_sector(bio);
	struct cc_seq *q;

	if (!thr)
		return false;
	q = &cc->seq[hash_64(s, ilog2(CC_SEQ_SLOTS))];
	run = bio->bi_iter.bi_size;
	if (READ_ONCE(q->next) == s)
		run += READ_ONCE(q->run);
	q = &cc->seq[hash_64(end, ilog2(CC_SEQ_SLOTS))];
	WRITE_ONCE(q->next, end);
	WRITE_ONCE(q->run, run);
	return run >= thr;
}

static void remap_cache(struct cc *cc, struct bio *bio, struct cc_entry *e)
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
 * clearing e->flags (release_unborn(), cc_commit() for invalidated
 * blocks): either the block is kept for us or we see it go.  A block is
 * given a new oblock before new flags (alloc_entry()), and we read them in
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
		smp_rmb();	/* oblock before flags: see alloc_entry() */
		if (read_hits(READ_ONCE(e->flags), failed))
			return e;
	}
	atomic_dec(&e->inflight);
	return NULL;
}

static int read_hit(struct cc *cc, struct bio *bio, struct cc_pb *pb,
		    struct cc_entry *e)
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
		promote = alloc_entry(cc, bk, ob, CE_PROMOTING);
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
			invalidate(cc, e);
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
			invalidate(cc, e);
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
			invalidate(cc, e);
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
			e = alloc_entry(cc, bk, ob, CE_ALLOC | CE_DIRTY);
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
			invalidate(cc, e);
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

static int cache_map(struct iofilter_instance *fi, struct bio *bio, void *p,
		     blk_status_t *status)
{
	struct cc *cc = to_cc(fi);
	struct cc_pb *pb = p;
	sector_t s = bio->bi_iter.bi_sector;
	unsigned long flags;
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
		spin_lock_irqsave(&cc->lock, flags);
		list_add_tail(&pb->list, &cc->flush_waiters);
		spin_unlock_irqrestore(&cc->lock, flags);
		kick(cc);
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

static int cache_end_io(struct iofilter_instance *fi, struct bio *bio,
			void *p, blk_status_t *status)
{
	struct cc *cc = to_cc(fi);
	struct cc_pb *pb = p;
	struct cc_entry *e = pb->e;
	struct cc_bucket *bk;
	unsigned long flags;
	bool dirty, retry = false;

	switch (pb->kind) {
	case CK_ORIGIN_WRITE:
		atomic_dec(&pb->bk->wr_inflight);
		if (*status || !(pb->fua & CC_PB_FUA) ||
		    !cc_meta_any_dirty(cc->md))
			return IOF_ENDIO_DONE;
		/*
		 * A FUA write that went to the origin: the disk may still
		 * hold a dirty entry for its block whose invalidation is not
		 * committed, and a crash now would bring the old block back.
		 * Durable once the invalidation is (mapped before, so the
		 * next commit has it).
		 */
		spin_lock_irqsave(&cc->lock, flags);
		list_add_tail(&pb->list, &cc->fua_waiters);
		spin_unlock_irqrestore(&cc->lock, flags);
		kick(cc);
		return IOF_ENDIO_INCOMPLETE;
	case CK_READ_HIT:
		if (likely(!*status) || *status == BLK_STS_AGAIN) {
			atomic_dec(&e->inflight);
			return IOF_ENDIO_DONE;
		}
		bk = cc_bucket_of(cc, e->oblock);
		spin_lock_irqsave(&bk->lock, flags);
		dirty = e->flags & CE_DIRTY;
		if (!dirty && (e->flags & CE_HASHED))
			invalidate(cc, e);
		spin_unlock_irqrestore(&bk->lock, flags);
		atomic_dec(&e->inflight);
		cc_set_failed(cc, blk_status_to_errno(*status), "cache read");
		if (dirty)
			return IOF_ENDIO_DONE;	/* the origin's copy is stale */
		retry = true;
		break;
	case CK_CACHE_WRITE:
		bk = cc_bucket_of(cc, e->oblock);
		spin_lock_irqsave(&bk->lock, flags);
		if (pb->fua & CC_PB_ALLOC) {
			if (*status) {
				/* the block was not cached: the origin takes it */
				if (e->flags & CE_HASHED)
					release_unborn(cc, e);
				retry = *status != BLK_STS_AGAIN;
			} else if (e->flags & CE_ALLOC) {
				e->flags &= ~CE_ALLOC;
				e->flags |= CE_VALID;
				set_dstate(cc, e, DS_DIRTY);
			}
		}
		spin_unlock_irqrestore(&bk->lock, flags);
		atomic_dec(&e->inflight);
		if (*status && *status != BLK_STS_AGAIN)
			cc_set_failed(cc, blk_status_to_errno(*status),
				      "cache write");
		if (retry)
			break;
		if (!*status && (pb->fua & CC_PB_FUA)) {
			/* FUA: durable once the entry is */
			spin_lock_irqsave(&cc->lock, flags);
			list_add_tail(&pb->list, &cc->fua_waiters);
			spin_unlock_irqrestore(&cc->lock, flags);
			kick(cc);
			return IOF_ENDIO_INCOMPLETE;
		}
		return IOF_ENDIO_DONE;
	default:
		return IOF_ENDIO_DONE;
	}

	/* resubmit to the origin from the worker */
	spin_lock_irqsave(&cc->lock, flags);
	list_add_tail(&pb->list, &cc->retry);
	spin_unlock_irqrestore(&cc->lock, flags);
	kick(cc);
	return IOF_ENDIO_INCOMPLETE;
}

static void cc_release_waiters(struct cc *cc, struct list_head *flushes,
			struct list_head *fuas, int r)
{
	struct cc_pb *pb, *tmp;

	list_for_each_entry_safe(pb, tmp, fuas, list) {
		list_del(&pb->list);
		iofilter_endio_continue(pb->bio, r ? BLK_STS_IOERR : BLK_STS_OK);
	}
	list_for_each_entry_safe(pb, tmp, flushes, list) {
		list_del(&pb->list);
		if (r && (READ_ONCE(cc->mode) == CC_WB ||
			  READ_ONCE(cc->nr_dirty)))
			iofilter_complete(pb->bio, BLK_STS_IOERR);
		else
			iofilter_continue(pb->bio);
	}
}

/*
 * Make the in-memory state durable: the entries' disk state as of the
 * snapshot, the data they describe, and (with @clean) the clean-shutdown
 * flag.  Then end the bios that waited for it and free the blocks whose
 * invalidation is now on disk.  May sleep.  Serialised by commit_lock.
 */
static int cc_commit(struct cc *cc, bool clean)
{
	LIST_HEAD(flushes);
	LIST_HEAD(fuas);
	LIST_HEAD(pend);
	struct cc_entry *e, *tmp;
	bool oflush, cflush, any;
	int r = 0, ro = 0;

	mutex_lock(&cc->commit_lock);
	spin_lock_irq(&cc->lock);
	any = cc_meta_snapshot(cc->md);
	list_splice_init(&cc->pending_free, &pend);
	list_splice_init(&cc->flush_waiters, &flushes);
	list_splice_init(&cc->fua_waiters, &fuas);
	oflush = cc->wb_since_commit;
	cflush = cc->filled_since_commit;
	cc->wb_since_commit = false;
	cc->filled_since_commit = false;
	spin_unlock_irq(&cc->lock);

	if (READ_ONCE(cc->failed)) {
		r = -EIO;
		goto out;
	}
	if (!clean && !any) {
		/* nothing to record: make the cache's data durable */
		r = cc_meta_flush(cc->md);
		goto out;
	}
	/* the data the filled entries describe is durable before they are */
	if (cflush) {
		r = cc_meta_flush(cc->md);
		if (r)
			goto out;
	}
	/* and so is what writeback copied before entries say "clean" */
	if (oflush) {
		ro = blkdev_issue_flush(cc->origin);
		if (ro)
			goto out;
	}
	r = cc_meta_write(cc->md, clean);
out:
	spin_lock_irq(&cc->lock);
	cc_meta_done(cc->md, r ? r : ro);
	if (r || ro) {
		list_splice(&pend, &cc->pending_free);
		cc->wb_since_commit |= oflush;
		cc->filled_since_commit |= cflush;
	} else {
		cc->commits++;
		smp_mb();	/* invalidated flags before inflight: hit_lockless() */
		list_for_each_entry_safe(e, tmp, &pend, list) {
			list_del(&e->list);
			if (atomic_read(&e->inflight)) {
				list_add_tail(&e->list, &cc->pending_free);
			} else {
				list_add_tail(&e->list, &cc->free);
				cc->nr_free++;
			}
		}
	}
	spin_unlock_irq(&cc->lock);
	mutex_unlock(&cc->commit_lock);

	if (r)
		cc_set_failed(cc, r, "metadata commit");
	else if (ro)
		iofilter_latch_error(&cc->fi, ro, "origin flush");
	cc_release_waiters(cc, &flushes, &fuas, r ? r : ro);
	return r ? r : ro;
}

/* ---- the worker: retries, promotions, reclaim, writeback, commits ---- */

struct cc_job {
	struct cc *cc;
	struct cc_entry *e;
};

/*
 * A kcopyd job of ours has finished.  Kick the worker before the count
 * drops: once nr_copies reads zero, cache_destroy() flushes and destroys
 * the workqueue, and a kick after that would queue work on freed memory.
 * @cc itself stays valid until we return: dm_kcopyd_client_destroy()
 * waits for every callback.
 */
static void copy_done(struct cc *cc)
{
	kick(cc);
	if (atomic_dec_and_test(&cc->nr_copies))
		wake_up_all(&cc->wait);
}

static void promote_done(int read_err, unsigned long write_err, void *ctx)
{
	struct cc_job *job = ctx;
	struct cc *cc = job->cc;
	struct cc_entry *e = job->e;
	struct cc_bucket *bk = cc_bucket_of(cc, e->oblock);
	unsigned long flags;

	kfree(job);
	spin_lock_irqsave(&bk->lock, flags);
	e->flags &= ~CE_PROMOTING;
	if (read_err || write_err || (e->flags & CE_STALE) ||
	    READ_ONCE(cc->failed)) {
		release_unborn(cc, e);
	} else {
		e->flags |= CE_VALID;
		set_dstate(cc, e, DS_CLEAN);
		spin_lock(&cc->lock);
		cc->promotions++;
		spin_unlock(&cc->lock);
	}
	spin_unlock_irqrestore(&bk->lock, flags);
	if (write_err)
		cc_set_failed(cc, -EIO, "promotion write");
	copy_done(cc);
}

static void writeback_done(int read_err, unsigned long write_err, void *ctx)
{
	struct cc_job *job = ctx;
	struct cc *cc = job->cc;
	struct cc_entry *e = job->e;
	struct cc_bucket *bk = cc_bucket_of(cc, e->oblock);
	unsigned long flags;

	kfree(job);
	spin_lock_irqsave(&bk->lock, flags);
	e->flags &= ~CE_WRITEBACK;
	if (read_err || write_err) {
		spin_lock(&cc->lock);
		cc->writeback_errors++;
		spin_unlock(&cc->lock);
	} else if (e->flags & CE_REDIRTY) {
		e->flags &= ~CE_REDIRTY;
	} else {
		e->flags &= ~CE_DIRTY;
		spin_lock(&cc->lock);
		cc->nr_dirty--;
		cc->writebacks++;
		cc->wb_since_commit = true;
		cc_meta_set(cc->md, cc_index(cc, e), e->oblock, DS_CLEAN);
		spin_unlock(&cc->lock);
	}
	spin_unlock_irqrestore(&bk->lock, flags);
	if (read_err)
		cc_set_failed(cc, -EIO, "writeback read");
	else if (write_err)
		iofilter_latch_error(&cc->fi, -EIO, "writeback to the origin");
	atomic_dec(&cc->nr_wb);
	wake_up_all(&cc->wait);
	copy_done(cc);
}

static void do_retries(struct cc *cc)
{
	struct cc_pb *pb, *tmp;
	blk_status_t fua_st = BLK_STS_OK;
	bool fua = false;
	LIST_HEAD(list);

	spin_lock_irq(&cc->lock);
	list_splice_init(&cc->retry, &list);
	spin_unlock_irq(&cc->lock);
	list_for_each_entry(pb, &list, list)
		fua |= pb->fua & CC_PB_FUA;
	/*
	 * A FUA write that failed on the cache goes to the origin, and there
	 * its completion is final: as for any FUA write to the origin (see
	 * cache_end_io()), an entry of its block still dirty on disk must be
	 * invalid there first.  Without a commit it fails.
	 */
	if (fua && cc_meta_any_dirty(cc->md) && cc_commit(cc, false))
		fua_st = BLK_STS_IOERR;
	list_for_each_entry_safe(pb, tmp, &list, list) {
		struct bio *bio = pb->bio;

		list_del(&pb->list);
		if (fua_st && (pb->fua & CC_PB_FUA)) {
			iofilter_endio_continue(bio, fua_st);
			continue;
		}
		bio->bi_iter = pb->iter;
		bio_set_dev(bio, cc->origin);
		bio->bi_status = BLK_STS_OK;
		bio->bi_opf &= ~REQ_NOWAIT;	/* not in the submitter's context */
		submit_bio_noacct(bio);
	}
}

static void do_promotions(struct cc *cc)
{
	/* suspended: the origin may be changing under us (pvmove, snapshot) */
	while (!READ_ONCE(cc->suspended) &&
	       atomic_read(&cc->nr_copies) < CC_MAX_COPIES) {
		struct dm_io_region from, to;
		struct cc_entry *e;
		struct cc_job *job;

		spin_lock_irq(&cc->lock);
		e = list_first_entry_or_null(&cc->promote, struct cc_entry,
					     list);
		if (e)
			list_del_init(&e->list);
		spin_unlock_irq(&cc->lock);
		if (!e)
			return;
		job = kmalloc(sizeof(*job), GFP_NOIO);
		if (!job || READ_ONCE(cc->dying) || READ_ONCE(cc->failed) ||
		    READ_ONCE(cc->suspended)) {
			struct cc_bucket *bk = cc_bucket_of(cc, e->oblock);

			kfree(job);
			spin_lock_irq(&bk->lock);
			e->flags &= ~CE_PROMOTING;
			release_unborn(cc, e);
			spin_unlock_irq(&bk->lock);
			continue;
		}
		job->cc = cc;
		job->e = e;
		from.bdev = cc->origin;
		from.sector = e->oblock << cc->block_shift;
		from.count = cc->block_sectors;
		to.bdev = cc->cache;
		to.sector = cc_block_sector(cc, e);
		to.count = cc->block_sectors;
		atomic_inc(&cc->nr_copies);
		dm_kcopyd_copy(cc->kc, &from, 1, &to, 0, promote_done, job);
	}
}

static u64 reserve(struct cc *cc)
{
	return max_t(u64, CC_MIN_BLOCKS / 2, cc->nr_blocks / 64);
}

/*
 * Evict clean blocks, in the policy's order, until @want are on their way
 * to free.  The policy proposes and ages; only a clean block no bio uses
 * is taken.
 */
static u64 reclaim(struct cc *cc, u64 want)
{
	const struct cc_policy_ops *ops = cc->policy->ops;
	u64 got = 0, scanned = 0, limit = 4 * cc->nr_blocks;

	while (got < want && scanned++ < limit) {
		struct cc_bucket *bk;
		struct cc_entry *e;
		u64 ob, i;

		i = ops->next(cc->policy);
		e = &cc->entries[i];
		if (!(READ_ONCE(e->flags) & CE_HASHED))
			continue;
		ob = READ_ONCE(e->oblock);
		bk = cc_bucket_of(cc, ob);
		spin_lock_irq(&bk->lock);
		if ((e->flags & CE_HASHED) && e->oblock == ob &&
		    !ops->referenced(cc->policy, i)) {
			if ((e->flags & ~CE_HASHED) == CE_VALID &&
			    !atomic_read(&e->inflight)) {
				invalidate(cc, e);
				spin_lock(&cc->lock);
				cc->demotions++;
				spin_unlock(&cc->lock);
				got++;
			}
		}
		spin_unlock_irq(&bk->lock);
	}
	return got;
}

static void do_writeback(struct cc *cc)
{
	bool all = atomic_read(&cc->flushing);
	u64 dirty = READ_ONCE(cc->nr_dirty), scanned = 0;
	static const u16 want = CE_HASHED | CE_VALID | CE_DIRTY;

	if (!dirty)
		cc->wb_active = false;
	if (!dirty || READ_ONCE(cc->failed) || READ_ONCE(cc->dying) ||
	    READ_ONCE(cc->suspended))
		return;
	if (!all) {
		if (dirty * 100 >= (u64)cc->high_wm * cc->nr_blocks)
			cc->wb_active = true;
		else if (dirty * 100 <= (u64)cc->low_wm * cc->nr_blocks)
			cc->wb_active = false;
		if (!cc->wb_active)
			return;
	}
	while (atomic_read(&cc->nr_wb) < CC_MAX_WB &&
	       scanned++ < cc->nr_blocks && !READ_ONCE(cc->suspended)) {
		struct dm_io_region from, to;
		struct cc_bucket *bk;
		struct cc_entry *e;
		struct cc_job *job;
		u64 ob;

		e = &cc->entries[cc->wb_hand];
		if (++cc->wb_hand >= cc->nr_blocks)
			cc->wb_hand = 0;
		if ((READ_ONCE(e->flags) & (want | CE_WRITEBACK | CE_ALLOC)) !=
		    want)
			continue;
		job = kmalloc(sizeof(*job), GFP_NOIO);
		if (!job)
			return;
		ob = READ_ONCE(e->oblock);
		bk = cc_bucket_of(cc, ob);
		spin_lock_irq(&bk->lock);
		/*
		 * Not while a write is in flight to the block: one mapped
		 * before CE_WRITEBACK is set does not mark it CE_REDIRTY.
		 */
		if ((e->flags & (want | CE_WRITEBACK | CE_ALLOC)) != want ||
		    e->oblock != ob || atomic_read(&e->inflight)) {
			spin_unlock_irq(&bk->lock);
			kfree(job);
			continue;
		}
		e->flags |= CE_WRITEBACK;
		e->flags &= ~CE_REDIRTY;
		spin_unlock_irq(&bk->lock);
		job->cc = cc;
		job->e = e;
		from.bdev = cc->cache;
		from.sector = cc_block_sector(cc, e);
		from.count = cc->block_sectors;
		to.bdev = cc->origin;
		to.sector = ob << cc->block_shift;
		to.count = cc->block_sectors;
		atomic_inc(&cc->nr_wb);
		atomic_inc(&cc->nr_copies);
		dm_kcopyd_copy(cc->kc, &from, 1, &to, 0, writeback_done, job);
	}
}

static void cc_work(struct work_struct *w)
{
	struct cc *cc = container_of(w, struct cc, work);
	bool commit;
	u64 low;

	do_retries(cc);
	do_promotions(cc);

	spin_lock_irq(&cc->lock);
	low = cc->nr_free < reserve(cc);
	spin_unlock_irq(&cc->lock);
	if (low && !READ_ONCE(cc->dying))
		reclaim(cc, reserve(cc));
	do_writeback(cc);

	spin_lock_irq(&cc->lock);
	commit = !list_empty(&cc->flush_waiters) ||
		 !list_empty(&cc->fua_waiters) ||
		 (low && !list_empty(&cc->pending_free));
	spin_unlock_irq(&cc->lock);
	if (commit)
		cc_commit(cc, false);
}

static void cc_tick(struct work_struct *w)
{
	struct cc *cc = container_of(to_delayed_work(w), struct cc, tick);
	bool commit;

	cc->policy->ops->tick(cc->policy);
	spin_lock_irq(&cc->lock);
	commit = cc_meta_changed(cc->md) ||
		 !list_empty(&cc->pending_free);
	spin_unlock_irq(&cc->lock);
	if (commit && !READ_ONCE(cc->failed))
		cc_commit(cc, false);
	kick(cc);
	if (!READ_ONCE(cc->dying) && !READ_ONCE(cc->suspended))
		queue_delayed_work(cc->wq, &cc->tick, CC_TICK);
}

/* ---- control ---- */

/* Write back every dirty block and commit.  May sleep. */
static int do_flush(struct cc *cc, char *result, unsigned int maxlen)
{
	u64 errs = READ_ONCE(cc->writeback_errors);
	u64 start = READ_ONCE(cc->nr_dirty), left;
	int r;

	if (READ_ONCE(cc->suspended) && start) {
		scnprintf(result, maxlen,
			  "flush failed: the volume is suspended (no writeback until it resumes)");
		return -EBUSY;
	}
	atomic_inc(&cc->flushing);
	kick(cc);
	r = wait_event_killable(cc->wait, !READ_ONCE(cc->nr_dirty) ||
				READ_ONCE(cc->failed) ||
				READ_ONCE(cc->suspended) ||
				READ_ONCE(cc->writeback_errors) != errs);
	atomic_dec(&cc->flushing);
	if (r)
		return -EINTR;
	if (READ_ONCE(cc->suspended) && READ_ONCE(cc->nr_dirty)) {
		scnprintf(result, maxlen,
			  "flush failed: the volume was suspended (no writeback until it resumes)");
		return -EBUSY;
	}
	left = READ_ONCE(cc->nr_dirty);
	if (left) {
		scnprintf(result, maxlen,
			  "flush failed: %llu dirty blocks not written back (%s)",
			  left, READ_ONCE(cc->failed) ? "cache device failed" :
			  "origin write errors");
		DMERR_LIMIT("%s/%s: flush: %llu dirty blocks not written back",
			    iofilter_volume_name(cc->vol), cc->fi.name, left);
		return -EIO;
	}
	/*
	 * Entries written back are clean on disk only once committed: until
	 * then a crash would bring their old data back over newer writes to
	 * the origin.  A failed commit fails the flush (cc_commit() latched
	 * the error).
	 */
	r = cc_commit(cc, false);
	if (r) {
		scnprintf(result, maxlen,
			  "flush failed: metadata commit error %d", r);
		return r;
	}
	scnprintf(result, maxlen, "flushed %llu blocks", start);
	return 0;
}

static int parse_mode(const char *s)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(mode_names); i++)
		if (!strcasecmp(s, mode_names[i]))
			return i;
	return -EINVAL;
}

static int cache_message(struct iofilter_instance *fi, unsigned int argc,
			 char **argv, char *result, unsigned int maxlen)
{
	struct cc *cc = to_cc(fi);
	int m, old;

	if (argc == 1 && !strcasecmp(argv[0], "flush"))
		return do_flush(cc, result, maxlen);
	if (argc == 2 && !strcasecmp(argv[0], "mode")) {
		m = parse_mode(argv[1]);
		if (m < 0)
			return -EINVAL;
		old = xchg(&cc->mode, m);
		if (old == CC_WB && m != CC_WB)
			return do_flush(cc, result, maxlen);
		scnprintf(result, maxlen, "mode %s", mode_names[m]);
		return 0;
	}
	return -EINVAL;
}

static void cache_status(struct iofilter_instance *fi, char *result,
			 unsigned int maxlen)
{
	struct cc *cc = to_cc(fi);
	struct cc_stats s = {};
	u64 used, dirty, prom, dem, wbs, wbe, commits;
	int cpu;

	for_each_possible_cpu(cpu) {
		struct cc_stats *p = per_cpu_ptr(cc->stats, cpu);

		s.read_hits += p->read_hits;
		s.read_misses += p->read_misses;
		s.write_hits += p->write_hits;
		s.write_misses += p->write_misses;
		s.bypassed += p->bypassed;
		s.uncached += p->uncached;
	}
	spin_lock_irq(&cc->lock);
	used = cc->nr_used;
	dirty = cc->nr_dirty;
	prom = cc->promotions;
	dem = cc->demotions;
	wbs = cc->writebacks;
	wbe = cc->writeback_errors;
	commits = cc->commits;
	spin_unlock_irq(&cc->lock);
	/* append only: Documentation/admin-guide.rst */
	scnprintf(result, maxlen,
		  "mode=%s state=%s block_size=%u blocks=%llu used=%llu dirty=%llu occupancy=%llu read_hits=%llu read_misses=%llu write_hits=%llu write_misses=%llu promotions=%llu demotions=%llu writebacks=%llu writeback_errors=%llu flushing=%d bypassed=%llu uncached=%llu commits=%llu policy=%s",
		  mode_names[READ_ONCE(cc->mode)],
		  READ_ONCE(cc->failed) ? "degraded" : "ok",
		  cc->block_sectors << SECTOR_SHIFT, cc->nr_blocks, used, dirty,
		  div64_u64(used * 100, cc->nr_blocks), s.read_hits,
		  s.read_misses, s.write_hits, s.write_misses, prom, dem, wbs,
		  wbe, atomic_read(&cc->flushing) ? 1 : 0, s.bypassed,
		  s.uncached, commits, cc->policy->ops->name);
}

static bool cache_is_dirty(struct iofilter_instance *fi)
{
	return READ_ONCE(to_cc(fi)->nr_dirty) != 0;
}

/*
 * A suspended volume gets no background I/O from us, as dm-cache stops its
 * worker: under pvmove or an LVM snapshot the origin changes while the
 * volume is suspended.  From presuspend no promotion or writeback starts;
 * postsuspend (no bio in flight any more) waits for the copies in flight,
 * stops the tick and commits.  Bios still mapped before postsuspend get
 * their flushes and FUA commits as usual.  resume (also when dm gives the
 * suspend up) starts it all again.  A new instance starts suspended: the
 * core calls resume once it is on a live volume (at once, or when a volume
 * loaded but not yet resumed, or suspended, resumes).
 */
static void cache_presuspend(struct iofilter_instance *fi)
{
	struct cc *cc = to_cc(fi);

	WRITE_ONCE(cc->suspended, true);
	wake_up_all(&cc->wait);		/* a flush message gives up */
}

static void cache_postsuspend(struct iofilter_instance *fi)
{
	struct cc *cc = to_cc(fi);

	WRITE_ONCE(cc->suspended, true);
	wait_event(cc->wait, !atomic_read(&cc->nr_copies));
	cancel_delayed_work_sync(&cc->tick);
	flush_workqueue(cc->wq);
	if (!READ_ONCE(cc->failed))
		cc_commit(cc, false);
}

static void cache_resume(struct iofilter_instance *fi)
{
	struct cc *cc = to_cc(fi);

	WRITE_ONCE(cc->suspended, false);
	if (!READ_ONCE(cc->dying))
		queue_delayed_work(cc->wq, &cc->tick, CC_TICK);
	kick(cc);
}

static void cache_io_hints(struct iofilter_instance *fi,
			   struct queue_limits *limits)
{
	struct cc *cc = to_cc(fi);
	unsigned int lbs = bdev_logical_block_size(cc->cache);

	/* hits go to the cache device: its sector size rules */
	if (limits->logical_block_size < lbs)
		limits->logical_block_size = lbs;
	if (limits->physical_block_size < lbs)
		limits->physical_block_size = lbs;
	/* a write-zeroes to part of a dirty block cannot be honoured */
	limits->max_write_zeroes_sectors = 0;
}

static void cache_free(struct cc *cc)
{
	/* kcopyd first: its callbacks kick the workqueue */
	if (cc->kc)
		dm_kcopyd_client_destroy(cc->kc);
	if (cc->wq)
		destroy_workqueue(cc->wq);
	cc_meta_close(cc->md);
	kvfree(cc->buckets);
	vfree(cc->entries);
	if (cc->cbdev.bdev)
		iofilter_bdev_close(&cc->cbdev);
	bioset_exit(&cc->bs);
	free_percpu(cc->stats);
	if (!IS_ERR_OR_NULL(cc->policy))
		cc->policy->ops->destroy(cc->policy);
	kfree(cc);
}

static void cache_destroy(struct iofilter_instance *fi)
{
	struct cc *cc = to_cc(fi);

	WRITE_ONCE(cc->dying, true);
	cancel_delayed_work_sync(&cc->tick);
	flush_workqueue(cc->wq);
	wait_event(cc->wait, !atomic_read(&cc->nr_copies));
	flush_workqueue(cc->wq);
	if (!READ_ONCE(cc->failed) && cc_commit(cc, true))
		DMERR("%s/%s: final commit failed; the cache starts cold next time",
		      iofilter_volume_name(cc->vol), fi->name);
	cache_free(cc);
}

static const struct iofilter_ops cache_ops = {
	.destroy = cache_destroy,
	.map = cache_map,
	.end_io = cache_end_io,
	.status = cache_status,
	.message = cache_message,
	.presuspend = cache_presuspend,
	.postsuspend = cache_postsuspend,
	.resume = cache_resume,
	.io_hints = cache_io_hints,
	.is_dirty = cache_is_dirty,
};

static int parse_params(struct cc *cc, unsigned int argc, char **argv,
			bool *fmt, const struct cc_policy_ops **policy,
			char *error, size_t error_len)
{
	const char *path, *mode;
	u64 v, lo, hi;
	int r;

	r = iofilter_params_check(iof_cache_params, ARRAY_SIZE(iof_cache_params),
				  argc, argv, error, error_len);
	if (r)
		return r;
	path = iofilter_param(argc, argv, "cache_dev");
	if (!path || !*path) {
		scnprintf(error, error_len, "cache_dev=<block device> is required");
		return -EINVAL;
	}
	if (strscpy(cc->cache_path, path, sizeof(cc->cache_path)) < 0) {
		scnprintf(error, error_len, "cache_dev path too long");
		return -EINVAL;
	}
	if (iofilter_param_size(argc, argv, "block_size", 64 << 10, &v) ||
	    v < 4096 || v > (1 << 20) || !is_power_of_2(v)) {
		scnprintf(error, error_len,
			  "block_size must be a power of two from 4KiB to 1MiB");
		return -EINVAL;
	}
	cc->block_sectors = v >> SECTOR_SHIFT;
	cc->block_shift = ilog2(cc->block_sectors);
	mode = iofilter_param(argc, argv, "mode");
	cc->mode = mode ? parse_mode(mode) : CC_WT;
	if (cc->mode < 0) {
		scnprintf(error, error_len,
			  "mode must be writethrough, writearound or writeback");
		return -EINVAL;
	}
	if (iofilter_param_size(argc, argv, "seq_threshold", 0,
				&cc->seq_threshold)) {
		scnprintf(error, error_len, "seq_threshold must be a size");
		return -EINVAL;
	}
	if (iofilter_param_u64(argc, argv, "low_watermark", 10, &lo) ||
	    iofilter_param_u64(argc, argv, "high_watermark", 50, &hi) ||
	    lo > hi || hi > 100) {
		scnprintf(error, error_len,
			  "watermarks are percentages with low_watermark <= high_watermark <= 100");
		return -EINVAL;
	}
	cc->low_wm = lo;
	cc->high_wm = hi;
	if (iofilter_param_u64(argc, argv, "promote_hits", 2, &v) || !v ||
	    v > 255) {
		scnprintf(error, error_len, "promote_hits must be 1 to 255");
		return -EINVAL;
	}
	cc->promote_hits = v;
	*policy = cc_policy_find(iofilter_param(argc, argv, "policy"));
	if (!*policy) {
		scnprintf(error, error_len, "policy must be clock");
		return -EINVAL;
	}
	if (iofilter_param_u64(argc, argv, "format", 0, &v) || v > 1) {
		scnprintf(error, error_len, "format must be 0 or 1");
		return -EINVAL;
	}
	*fmt = v;
	return 0;
}

/* The mapping for nr_blocks cache blocks: entries and hash buckets */
static int alloc_map(struct cc *cc)
{
	u64 i;

	cc->entries = vzalloc(array_size(cc->nr_blocks, sizeof(*cc->entries)));
	cc->hash_bits = max_t(unsigned int, 6,
			      ilog2(roundup_pow_of_two(cc->nr_blocks)));
	cc->buckets = kvcalloc(1UL << cc->hash_bits, sizeof(*cc->buckets),
			       GFP_KERNEL);
	if (!cc->entries || !cc->buckets)
		return -ENOMEM;
	for (i = 0; i < (1UL << cc->hash_bits); i++) {
		spin_lock_init(&cc->buckets[i].lock);
		INIT_HLIST_HEAD(&cc->buckets[i].head);
		atomic_set(&cc->buckets[i].wr_inflight, 0);
	}
	for (i = 0; i < cc->nr_blocks; i++) {
		INIT_LIST_HEAD(&cc->entries[i].list);
		atomic_set(&cc->entries[i].inflight, 0);
	}
	return 0;
}

/* cc_meta_load()'s callback: one cache block as the disk holds it */
static bool load_block(void *ctx, u64 i, u64 ob, enum cc_meta_load what)
{
	struct cc *cc = ctx;
	struct cc_entry *e = &cc->entries[i];
	struct cc_bucket *bk;

	switch (what) {
	case CML_FREE:
		list_add_tail(&e->list, &cc->free);
		cc->nr_free++;
		return true;
	case CML_DROPPED:
		/* free once its invalid entry is on disk */
		list_add_tail(&e->list, &cc->pending_free);
		return true;
	case CML_CLEAN:
	case CML_DIRTY:
		break;
	}
	bk = cc_bucket_of(cc, ob);
	if (cc_lookup(bk, ob)) {
		/* a second entry for one origin block: drop it */
		list_add_tail(&e->list, &cc->pending_free);
		return false;
	}
	e->oblock = ob;
	e->flags = CE_HASHED | CE_VALID;
	if (what == CML_DIRTY) {
		e->flags |= CE_DIRTY;
		cc->nr_dirty++;
	}
	hlist_add_head_rcu(&e->hnode, &bk->head);
	cc->nr_used++;
	return true;
}

/*
 * Open the metadata, build the mapping from it and commit once: the
 * superblock says "in use" before any I/O depends on the cache.
 */
static int open_meta(struct cc *cc, bool fmt, char *error, size_t error_len)
{
	int r;

	cc->md = cc_meta_open(cc->cache, iofilter_volume_name(cc->vol),
			      cc->cache_path, cc->origin_sectors,
			      cc->block_sectors, fmt, error, error_len);
	if (IS_ERR(cc->md)) {
		r = PTR_ERR(cc->md);
		cc->md = NULL;
		return r;
	}
	cc->nr_blocks = cc_meta_nr_blocks(cc->md);
	cc->data_start = cc_meta_data_start(cc->md);
	r = alloc_map(cc);
	if (r) {
		scnprintf(error, error_len, "out of memory for %llu cache blocks",
			  cc->nr_blocks);
		return r;
	}
	r = cc_meta_load(cc->md, load_block, cc, error, error_len);
	if (r)
		return r;
	r = cc_commit(cc, false);
	if (r)
		scnprintf(error, error_len,
			  "cannot write the cache metadata: error %d", r);
	return r;
}

static struct iofilter_instance *cache_create(struct iofilter_volume *vol,
					      unsigned int argc, char **argv,
					      const u8 *secret,
					      unsigned int secret_len,
					      char *error, size_t error_len)
{
	struct block_device *origin = iofilter_volume_origin(vol);
	const struct cc_policy_ops *policy;
	struct cc *cc;
	bool fmt = false;
	dev_t dev;
	int r;

	if (secret_len) {
		scnprintf(error, error_len, "cache takes no secret");
		return ERR_PTR(-EINVAL);
	}
	cc = kzalloc(sizeof(*cc), GFP_KERNEL);
	if (!cc)
		return ERR_PTR(-ENOMEM);
	cc->fi.ops = &cache_ops;
	cc->vol = vol;
	cc->origin = origin;
	spin_lock_init(&cc->lock);
	mutex_init(&cc->commit_lock);
	INIT_LIST_HEAD(&cc->free);
	INIT_LIST_HEAD(&cc->pending_free);
	INIT_LIST_HEAD(&cc->promote);
	INIT_LIST_HEAD(&cc->flush_waiters);
	INIT_LIST_HEAD(&cc->fua_waiters);
	INIT_LIST_HEAD(&cc->retry);
	INIT_WORK(&cc->work, cc_work);
	INIT_DELAYED_WORK(&cc->tick, cc_tick);
	init_waitqueue_head(&cc->wait);
	atomic_set(&cc->nr_copies, 0);
	atomic_set(&cc->nr_wb, 0);
	atomic_set(&cc->flushing, 0);

	r = parse_params(cc, argc, argv, &fmt, &policy, error, error_len);
	if (r)
		goto bad;
	r = lookup_bdev(cc->cache_path, &dev);
	if (r) {
		scnprintf(error, error_len,
			  "cache_dev %s: not a block device (error %d)",
			  cc->cache_path, r);
		goto bad;
	}
	if (dev == origin->bd_dev) {
		scnprintf(error, error_len,
			  "cache_dev %s is the volume's origin", cc->cache_path);
		r = -EINVAL;
		goto bad;
	}
	r = iofilter_bdev_open(cc->cache_path, true, cc, &cc->cbdev);
	if (r) {
		scnprintf(error, error_len, "cannot open cache_dev %s: %s",
			  cc->cache_path, r == -EBUSY ? "device is in use" :
			  "open failed");
		goto bad;
	}
	cc->cache = cc->cbdev.bdev;
	cc->origin_sectors = bdev_nr_sectors(origin);
	cc->origin_blocks = cc->origin_sectors >> cc->block_shift;

	r = -ENOMEM;
	cc->stats = alloc_percpu(struct cc_stats);
	if (!cc->stats)
		goto nomem;
	if (bioset_init(&cc->bs, BIO_POOL_SIZE, 0, 0))
		goto nomem;
	cc->wq = alloc_ordered_workqueue("iofilter-cache", WQ_MEM_RECLAIM);
	if (!cc->wq)
		goto nomem;
	cc->kc = dm_kcopyd_client_create(NULL);
	if (IS_ERR(cc->kc)) {
		r = PTR_ERR(cc->kc);
		cc->kc = NULL;
		goto nomem;
	}
	r = open_meta(cc, fmt, error, error_len);
	if (r)
		goto bad;
	cc->policy = policy->create(cc->nr_blocks, cc->promote_hits);
	if (IS_ERR(cc->policy)) {
		r = PTR_ERR(cc->policy);
		goto nomem;
	}
	/* no tick, promotion or writeback before resume (see presuspend) */
	cc->suspended = true;
	cc->fi.io_boundary = cc->block_sectors;	/* one block per bio */
	return &cc->fi;

nomem:
	scnprintf(error, error_len, "out of memory");
bad:
	cache_free(cc);
	return ERR_PTR(r);
}

static struct iofilter_type cache_type = {
	.name = "cache",
	.version = { 1, 0, 0 },
	.class = IOF_CLASS_CACHE,
	.flags = IOF_CACHE_TYPE_FLAGS,
	.owner = THIS_MODULE,
	.create = cache_create,
};

module_iofilter(cache_type);

MODULE_DESCRIPTION("iofilter cache filter: writethrough, writearound and writeback block cache");
MODULE_AUTHOR("The iofilter authors");
MODULE_LICENSE("GPL");
MODULE_ALIAS("iofilter-cache");
