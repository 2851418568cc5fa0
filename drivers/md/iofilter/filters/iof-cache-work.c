// SPDX-License-Identifier: GPL-2.0
/*
 * iofilter "cache": block state changes, the metadata commit and the
 * worker (promotions, writeback, eviction, retries, the tick).  The rules
 * these keep: "Consistency" in iof-cache.c.  Calls the metadata and the
 * policy; the I/O path (iof-cache.c) and control (iof-cache-ctl.c) call
 * these.
 */
#define pr_fmt(fmt) "iofilter-cache: " fmt

#include <linux/slab.h>

#include "iof-cache.h"

#define CC_MAX_COPIES		64	/* promotions in flight */
#define CC_MAX_WB		16	/* writeback copies in flight */

/*
 * Also from create() (its first commit), before the core bound the
 * instance: then create() fails with the reason, and the log line names
 * the volume alone.
 */
void cc_set_failed(struct cc *cc, int err, const char *what)
{
	bool bound = READ_ONCE(cc->fi.vol);

	if (!READ_ONCE(cc->failed)) {
		WRITE_ONCE(cc->failed, true);
		if (bound)
			iofilter_err(&cc->fi, "cache device %s failed (%s: error %d): degraded, I/O to blocks not dirty goes to the origin",
				     cc->cache_path, what, err);
		else
			pr_err_ratelimited("%s: cache device %s failed (%s: error %d)\n",
					   iofilter_volume_name(cc->vol),
					   cc->cache_path, what, err);
	}
	if (bound)
		iofilter_latch_error(&cc->fi, err, what);
	wake_up_all(&cc->wait);
}

/*
 * Unhash @e and clear its flags: the start of cc_invalidate() and
 * cc_release_unborn().  Bucket lock and cc->lock held, interrupts off.
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
void cc_invalidate(struct cc *cc, struct cc_entry *e)
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
void cc_release_unborn(struct cc *cc, struct cc_entry *e)
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
struct cc_entry *cc_alloc_entry(struct cc *cc, struct cc_bucket *bk,
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
void cc_set_dstate(struct cc *cc, struct cc_entry *e, u8 ds)
{
	spin_lock(&cc->lock);
	cc_meta_set(cc->md, cc_index(cc, e), e->oblock, ds);
	cc->filled_since_commit = true;
	spin_unlock(&cc->lock);
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
int cc_commit(struct cc *cc, bool clean)
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
		cc_release_unborn(cc, e);
	} else {
		e->flags |= CE_VALID;
		cc_set_dstate(cc, e, DS_CLEAN);
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
			cc_release_unborn(cc, e);
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
				cc_invalidate(cc, e);
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

void cc_work(struct work_struct *w)
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

void cc_tick(struct work_struct *w)
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
