// SPDX-License-Identifier: GPL-2.0
/*
 * iofilter "replicate": the async replica queue (mode=async).  The data
 * is copied into pages of our own and queued to the replica; the write
 * completes when the origin has it.  The queue keeps flush order and never
 * has two overlapping writes in flight; once more than max_lag bytes are
 * unreplicated, completions wait (rep_end_io()).
 */
#include <linux/bio.h>
#include <linux/interval_tree_generic.h>

#include "iof-rep.h"

#define REP_COPY_ORDER		8		/* async copy buffers: 1MiB folios */

#define rio_start(r)	((r)->start)
#define rio_last(r)	((r)->last)
INTERVAL_TREE_DEFINE(struct rep_io, rb, sector_t, subtree_last, rio_start,
		     rio_last, static __maybe_unused, rep_it)

/*
 * The copy buffers of async writes are kept for reuse, up to
 * REP_POOL_BYTES (or max_lag, if less) of each of the two sizes
 * rio_add_pages() asks for first: 4 KiB pages and 1 MiB folios.  With
 * init_on_alloc (on by default in Debian's kernels, among others) a fresh
 * page is cleared before we copy over it, and on 1 MiB writes that
 * clearing cost as much as the copy itself.  mempool would not help: it
 * goes to the page allocator first.
 */
#define REP_POOL_BYTES		(8U << 20)

static bool pool_put(struct rep_filter *rf, struct folio *folio)
{
	unsigned int order = folio_order(folio);

	if (order != 0 && order != REP_COPY_ORDER)
		return false;
	return iofilter_stash_put(&rf->pool[order ? 1 : 0], folio);
}

void pool_init(struct rep_filter *rf)
{
	u64 bytes = min_t(u64, rf->max_lag, REP_POOL_BYTES);

	iofilter_stash_init(&rf->pool[0], bytes >> PAGE_SHIFT);
	iofilter_stash_init(&rf->pool[1],
			    bytes >> (PAGE_SHIFT + REP_COPY_ORDER));
}

void pool_exit(struct rep_filter *rf)
{
	iofilter_stash_drain(&rf->pool[0]);
	iofilter_stash_drain(&rf->pool[1]);
}

/* The copy buffer of an async write (rio_add_pages()): one folio per bvec */
static void rio_free_pages(struct rep_io *rio)
{
	struct folio_iter fi;

	if (!rio->bio.bi_vcnt)	/* bio_for_each_folio_all needs a bvec */
		return;
	bio_for_each_folio_all(fi, &rio->bio)
		if (!pool_put(rio->rf, fi.folio))
			folio_put(fi.folio);
}

/*
 * Fill @clone with @size bytes of buffer for the copy of an async write:
 * from the pool first, else as few allocations as memory allows (like
 * dm-crypt's crypt_alloc_buffer), high orders only when they come cheaply,
 * single pages with @gfp as the fallback.  Each allocation is one bvec and
 * one (compound) folio.
 */
static int rio_add_pages(struct rep_filter *rf, struct bio *clone,
			 unsigned int size, gfp_t gfp)
{
	unsigned int max_order = REP_COPY_ORDER, order, len;
	struct page *page;

	while (size) {
		order = min_t(unsigned int, max_order,
			      __fls(DIV_ROUND_UP(size, PAGE_SIZE)));
		if (order == REP_COPY_ORDER) {
			page = iofilter_stash_get(&rf->pool[1]);
		} else {
			page = iofilter_stash_get(&rf->pool[0]);
			if (page)
				order = 0;
		}
		while (order && !page) {
			page = alloc_pages((gfp & ~__GFP_DIRECT_RECLAIM) |
					   __GFP_COMP | __GFP_NOMEMALLOC |
					   __GFP_NORETRY | __GFP_NOWARN, order);
			if (!page)
				max_order = --order;
		}
		if (!page)
			page = alloc_page(gfp | __GFP_NOWARN);
		if (!page)
			return -ENOMEM;
		len = min_t(unsigned int, size, PAGE_SIZE << order);
		__bio_add_page(clone, page, len, 0);
		size -= len;
	}
	return 0;
}

static void release_throttled(struct rep_filter *rf)
{
	struct rep_pb *pb, *tmp;
	unsigned long flags;
	LIST_HEAD(list);

	spin_lock_irqsave(&rf->lock, flags);
	if (atomic64_read(&rf->lag) <= rf->max_lag)
		list_splice_init(&rf->throttled, &list);
	spin_unlock_irqrestore(&rf->lock, flags);
	list_for_each_entry_safe(pb, tmp, &list, list) {
		list_del_init(&pb->list);
		iofilter_endio_continue(pb->bio, pb->status);
	}
}

/* Both legs of an async write are done (and its bits committed) */
void rio_free(struct rep_io *rio)
{
	struct rep_filter *rf = rio->rf;
	bool throttled;

	if (rio->bytes)
		atomic64_sub(rio->bytes, &rf->lag);
	if (rio->has_epoch)
		epoch_put(rf, rio->epoch);
	if (rio->pages)
		rio_free_pages(rio);
	bio_put(&rio->bio);
	/* the lag before the list: pairs with rep_end_io() */
	smp_mb();
	throttled = !list_empty_careful(&rf->throttled);
	replica_put(rf);
	if (throttled)
		release_throttled(rf);
	if (atomic_dec_and_test(&rf->async_pending))
		rep_wake(rf);
}

void rio_put(struct rep_io *rio)
{
	struct rep_filter *rf = rio->rf;
	unsigned long flags;

	if (!atomic_dec_and_test(&rio->legs))
		return;
	if (rio->failed && rio->nr_sectors) {
		/* mark its regions before the epoch lets resync copy them */
		spin_lock_irqsave(&rf->lock, flags);
		list_add_tail(&rio->list, &rf->commit_rios);
		spin_unlock_irqrestore(&rf->lock, flags);
		queue_work(rf->wq, &rf->commit_work);
		return;
	}
	rio_free(rio);
}

/* Under rf->lock */
static bool can_issue(struct rep_filter *rf, struct rep_io *rio)
{
	if (rf->a_barrier)
		return false;
	if (rio->barrier)
		return !rf->a_inflight;
	if (!rio->nr_sectors)
		return true;
	return !rep_it_iter_first(&rf->itree, rio->start, rio->last);
}

static void mark_issued(struct rep_filter *rf, struct rep_io *rio)
{
	rf->a_inflight++;
	/* nothing else in flight: it covers every write completed so far */
	if (rio->barrier && (rio->bio.bi_opf & REQ_PREFLUSH))
		rio->uf_flush = uf_flush_start_locked(rf);
	if (rio->barrier)
		rf->a_barrier = true;
	else if (rio->nr_sectors)
		rep_it_insert(rio, &rf->itree);
}

static void async_endio(struct bio *bio)
{
	struct rep_io *rio = to_rio(bio);
	struct rep_filter *rf = rio->rf;
	blk_status_t st = bio->bi_status;
	unsigned long flags;
	bool kick;

	/* its own data is not covered by its preflush: the new generation */
	if (rio->uf_flush)
		uf_flush_end(rf, !st);
	if (!st && rio->nr_sectors)
		uf_mark(rf, rio->sector, rio->nr_sectors);
	spin_lock_irqsave(&rf->lock, flags);
	rf->a_inflight--;
	if (rio->barrier)
		rf->a_barrier = false;
	else if (rio->nr_sectors)
		rep_it_remove(rio, &rf->itree);
	kick = !list_empty(&rf->aqueue);
	spin_unlock_irqrestore(&rf->lock, flags);
	if (kick)
		queue_work(rf->wq, &rf->issue_work);
	if (unlikely(st)) {
		/* marked dirty; an unsupported discard/write-zeroes is no failure */
		rio->failed = true;
		if (st != BLK_STS_NOTSUPP || bio_op(bio) == REQ_OP_WRITE)
			replica_failed(rf, st);
	}
	rio_put(rio);
}

/* Issue what the queue allows, in order; drop it all if the replica is down */
void issue_work(struct work_struct *w)
{
	struct rep_filter *rf = container_of(w, struct rep_filter, issue_work);
	struct rep_io *rio, *tmp;
	struct bio_list issue;
	LIST_HEAD(drop);
	struct bio *bio;

	bio_list_init(&issue);
	spin_lock_irq(&rf->lock);
	if (!replica_usable(rf->state)) {
		list_splice_init(&rf->aqueue, &drop);
	} else {
		while (!list_empty(&rf->aqueue)) {
			rio = list_first_entry(&rf->aqueue, struct rep_io, list);
			if (!can_issue(rf, rio))
				break;
			list_del_init(&rio->list);
			mark_issued(rf, rio);
			bio_list_add(&issue, &rio->bio);
		}
	}
	spin_unlock_irq(&rf->lock);
	while ((bio = bio_list_pop(&issue)))
		submit_bio_noacct(bio);
	list_for_each_entry_safe(rio, tmp, &drop, list) {
		list_del_init(&rio->list);
		rio->failed = true;
		rio_put(rio);
	}
}

/*
 * Queue a copy of the write (or a flush) to the replica.  The caller holds a
 * replica user, which the rep_io takes over.  pb is NULL for a flush.
 */
int async_replicate(struct rep_filter *rf, struct rep_pb *pb,
		    struct bio *bio)
{
	unsigned int size = bio->bi_iter.bi_size, nr = 0;
	bool data = bio_has_data(bio), issue = false;
	blk_opf_t opf = bio->bi_opf;
	struct rep_io *rio;
	struct bio *clone;

	if (data)
		nr = DIV_ROUND_UP(size, PAGE_SIZE);
	if (!bio_sectors(bio) && !data)
		opf = REQ_OP_WRITE | REQ_PREFLUSH | REQ_SYNC;
	clone = bio_alloc_bioset(rf->replica.bdev, nr, opf, rep_gfp(bio),
				 &rf->bs);
	if (!clone)
		goto nomem;
	rio = to_rio(clone);
	memset(rio, 0, offsetof(struct rep_io, bio));
	rio->rf = rf;
	rio->async = true;
	clone->bi_iter.bi_sector = bio->bi_iter.bi_sector;
	clone->bi_ioprio = bio->bi_ioprio;
	clone->bi_end_io = async_endio;
	if (data) {
		rio->pages = true;
		if (rio_add_pages(rf, clone, size, rep_gfp(bio)))
			goto nomem_pages;
		bio_copy_data(clone, bio);
	} else {
		clone->bi_iter.bi_size = size;
	}
	/* a throttled completion may wait for this copy */
	iofilter_fan_out(bio, clone);
	rio->barrier = !bio_sectors(bio) || (opf & (REQ_PREFLUSH | REQ_FUA));
	if (pb) {
		rio->sector = pb->sector;
		rio->nr_sectors = pb->nr_sectors;
		rio->start = pb->sector;
		rio->last = pb->sector + pb->nr_sectors - 1;
		/* the epoch lasts until the replica has it too */
		rio->epoch = pb->epoch;
		rio->has_epoch = pb->flags & PB_EPOCH;
		pb->flags &= ~PB_EPOCH;
		pb->rio = rio;
		atomic_set(&rio->legs, 2);
	} else {
		atomic_set(&rio->legs, 1);
	}
	if (data) {
		rio->bytes = size;
		atomic64_add(size, &rf->lag);
	}
	atomic_inc(&rf->async_pending);

	spin_lock_irq(&rf->lock);
	if (list_empty(&rf->aqueue) && can_issue(rf, rio)) {
		mark_issued(rf, rio);
		issue = true;
	} else {
		list_add_tail(&rio->list, &rf->aqueue);
	}
	spin_unlock_irq(&rf->lock);
	if (issue)
		submit_bio_noacct(clone);
	return IOF_MAP_CONTINUE;

nomem_pages:
	rio_free_pages(rio);
	bio_put(clone);
nomem:
	replica_put(rf);
	return bio->bi_opf & REQ_NOWAIT ? -EAGAIN : -ENOMEM;
}
