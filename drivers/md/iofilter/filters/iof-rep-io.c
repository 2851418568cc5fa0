// SPDX-License-Identifier: GPL-2.0
/*
 * iofilter "replicate": the I/O path.  map and end_io, the sync replica
 * leg, the dirty bits a write must have on disk before it is acknowledged,
 * and the epochs that keep writes off the range resync copies.
 *
 * The write path.  Sync: a clone of the write (sharing its pages) goes to
 * the replica while the original goes on to the origin; the write completes
 * when both have (end_io returns IOF_ENDIO_INCOMPLETE until the second leg
 * is in).  Async: the data is copied into pages of our own and queued to the
 * replica; the write completes when the origin has it.  The replica queue
 * keeps flush order (a flush or FUA/PREFLUSH write is issued only once all
 * writes queued before it are done, and nothing queued after it is issued
 * before it completes) and never has two overlapping writes in flight; once
 * more than max_lag bytes are unreplicated, completions wait.  A large
 * sync replica leg is submitted by a worker (submit_leg()).
 *
 * REQ_NOWAIT (io_uring): map never sleeps; when a clone or a copy cannot be
 * allocated without waiting, the bio completes with BLK_STS_AGAIN and
 * io_uring retries it from a worker.  Once a write has its replica clone or
 * copy, both legs go down without REQ_NOWAIT (iofilter_fan_out()).
 *
 * Resync against live writes.  Every write holds one of two epoch counts
 * from map until all its legs are done.  The copier publishes the range it
 * is about to copy, flips the epoch twice and waits for the old counts to
 * drain (a small SRCU); a write that sees the range waits on a list until the
 * copy is done.  So no write to a range is in flight while it is copied.
 */
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/dm-bufio.h>

#include "iof-rep.h"

/* ---- epochs: writes against the resync copier ---- */

static inline bool overlaps_copy(struct rep_filter *rf, sector_t s, u32 nr)
{
	return s < READ_ONCE(rf->copy_hi) && s + nr > READ_ONCE(rf->copy_lo);
}

static void pb_epoch_exit(struct rep_pb *pb)
{
	if (pb->flags & PB_EPOCH) {
		pb->flags &= ~PB_EPOCH;
		epoch_put(pb->rf, pb->epoch);
	}
}

/*
 * Enter an epoch; false when the bio's range is being copied: it waits on
 * rf->delayed and is dispatched again when the copy is done.
 */
static bool pb_epoch_enter(struct rep_filter *rf, struct rep_pb *pb)
{
	unsigned long flags;
	unsigned int idx;

	for (;;) {
		idx = READ_ONCE(rf->epoch);
		atomic_inc(&rf->epoch_count[idx]);
		/* the count before the range: pairs with lock_range() */
		smp_mb__after_atomic();
		if (likely(!overlaps_copy(rf, pb->sector, pb->nr_sectors))) {
			pb->epoch = idx;
			pb->flags |= PB_EPOCH;
			return true;
		}
		epoch_put(rf, idx);
		spin_lock_irqsave(&rf->lock, flags);
		if (overlaps_copy(rf, pb->sector, pb->nr_sectors)) {
			list_add_tail(&pb->list, &rf->delayed);
			spin_unlock_irqrestore(&rf->lock, flags);
			return false;
		}
		spin_unlock_irqrestore(&rf->lock, flags);
	}
}

/* ---- committing dirty bits before a write is acknowledged ---- */

static void commit_pb(struct rep_filter *rf, struct rep_pb *pb)
{
	unsigned long flags;

	spin_lock_irqsave(&rf->lock, flags);
	list_add_tail(&pb->list, &rf->commit_pbs);
	spin_unlock_irqrestore(&rf->lock, flags);
	queue_work(rf->wq, &rf->commit_work);
}

void commit_work(struct work_struct *w)
{
	struct rep_filter *rf = container_of(w, struct rep_filter, commit_work);
	struct rep_pb *pb, *tpb;
	struct rep_io *rio, *trio;
	LIST_HEAD(pbs);
	LIST_HEAD(rios);
	blk_status_t st;
	int r = 0;

	spin_lock_irq(&rf->lock);
	list_splice_init(&rf->commit_pbs, &pbs);
	list_splice_init(&rf->commit_rios, &rios);
	spin_unlock_irq(&rf->lock);
	if (list_empty(&pbs) && list_empty(&rios))
		return;

	mutex_lock(&rf->meta_lock);
	list_for_each_entry(pb, &pbs, list)
		if (!r)
			r = meta_mark(rf, pb->sector, pb->nr_sectors);
	list_for_each_entry(rio, &rios, list)
		if (!r && rio->nr_sectors)
			r = meta_mark(rf, rio->sector, rio->nr_sectors);
	if (!r)
		r = dm_bufio_write_dirty_buffers(rf->bufio);
	/*
	 * In memory under meta_lock: resync_commit() clears a bit on disk
	 * only while it is clear in memory.
	 */
	if (!r) {
		list_for_each_entry(pb, &pbs, list)
			set_dirty_mem(rf, pb->sector, pb->nr_sectors);
		list_for_each_entry(rio, &rios, list)
			if (rio->nr_sectors)
				set_dirty_mem(rf, rio->sector, rio->nr_sectors);
	}
	mutex_unlock(&rf->meta_lock);
	if (r)
		rep_latch(rf, r, "dirty bitmap write");

	list_for_each_entry_safe(pb, tpb, &pbs, list) {
		list_del_init(&pb->list);
		if (pb->flags & PB_MAP_DEFER) {
			pb->flags &= ~PB_MAP_DEFER;
			if (r) {
				pb_epoch_exit(pb);
				iofilter_complete(pb->bio, BLK_STS_IOERR);
			} else {
				iofilter_continue(pb->bio);
			}
		} else {
			/* the origin has it, the replica may not: unsafe if r */
			pb->flags &= ~PB_ENDIO_DEFER;
			st = r ? BLK_STS_IOERR : pb->status;
			pb_epoch_exit(pb);
			iofilter_endio_continue(pb->bio, st);
		}
	}
	list_for_each_entry_safe(rio, trio, &rios, list) {
		list_del_init(&rio->list);
		rio_free(rio);
	}
	/* a write missed the replica while it was usable (no memory) */
	if (get_state(rf) == REP_IN_SYNC &&
	    atomic_long_read(&rf->nr_dirty)) {
		set_state(rf, REP_IN_SYNC, REP_SYNCING);
		queue_work(rf->wq, &rf->resync_work);
	}
}

/* ---- sync replication ---- */

/*
 * Both legs of a sync write are done.  Returns true when the final status
 * is in pb->status; false when it waits for the dirty bit to be committed.
 */
static bool sync_finish(struct rep_filter *rf, struct rep_pb *pb)
{
	struct rep_io *rio = pb->rio;
	blk_status_t rst = rio->status;

	pb->rio = NULL;
	bio_put(&rio->bio);
	if (pb->flags & PB_UF_FLUSH) {
		pb->flags &= ~PB_UF_FLUSH;
		uf_flush_end(rf, !rst);
	}
	/* before the user goes: uf_merge() runs once there are none */
	if (!rst && pb->nr_sectors)
		uf_mark(rf, pb->sector, pb->nr_sectors);
	replica_put(rf);
	if (unlikely(rst == BLK_STS_NOTSUPP) &&
	    bio_op(pb->bio) != REQ_OP_WRITE) {
		/*
		 * The replica cannot discard or write zeroes: not a failure.
		 * If the origin did it, resync copies the result.
		 */
		if (!pb->status) {
			pb->flags |= PB_ENDIO_DEFER;
			commit_pb(rf, pb);
			return false;
		}
	} else if (unlikely(rst)) {
		replica_failed(rf, rst);
		if (rf->fail_mode && !pb->status)
			pb->status = BLK_STS_IOERR;
		if (pb->nr_sectors) {
			pb->flags |= PB_ENDIO_DEFER;
			commit_pb(rf, pb);
			return false;
		}
	} else if (unlikely(pb->status) && pb->nr_sectors) {
		/*
		 * The replica has it, the volume below us failed it: the two
		 * differ where the user is told the write failed.  The region
		 * is dirty (on disk before the error is returned) and resync
		 * copies it back from below, as dm-raid1 marks a region out of
		 * sync when any leg fails.
		 */
		pb->flags |= PB_ENDIO_DEFER;
		commit_pb(rf, pb);
		return false;
	}
	pb_epoch_exit(pb);
	return true;
}

static void sync_endio(struct bio *clone)
{
	struct rep_io *rio = to_rio(clone);
	struct rep_pb *pb = rio->pb;

	rio->status = clone->bi_status;
	if (atomic_dec_and_test(&pb->legs) && sync_finish(rio->rf, pb))
		iofilter_endio_continue(pb->bio, pb->status);
}

/*
 * Where a sync replica leg is submitted.  In the writer's context, the two
 * legs are issued one after the other by one CPU: right for small writes,
 * where a hand-off to another thread costs more than it saves.  But a
 * device that moves the data in submit_bio (brd, pmem, zram, nbd's socket
 * send) then serializes the two copies: a leg of at least
 * sync_offload_bytes (module parameter) goes to an unbound worker
 * instead, which the scheduler runs on an idle CPU, and the copies overlap
 * (dm-raid1 hands every write to kmirrord; DRBD sends from its own
 * thread).  Async mode gains nothing from it: its
 * cost is the copy of the data, made by the writer before the replica
 * write exists.
 */
void submit_work(struct work_struct *w)
{
	struct rep_filter *rf = container_of(w, struct rep_filter, submit_work);
	struct bio_list list;
	struct blk_plug plug;
	struct bio *bio;

	spin_lock_irq(&rf->submit_lock);
	list = rf->submit;
	bio_list_init(&rf->submit);
	spin_unlock_irq(&rf->submit_lock);

	blk_start_plug(&plug);
	while ((bio = bio_list_pop(&list)))
		submit_bio_noacct(bio);
	blk_finish_plug(&plug);
}

static void submit_leg(struct rep_filter *rf, struct bio *clone)
{
	unsigned int min = READ_ONCE(rep_sync_offload_bytes);
	unsigned long flags;
	bool kick;

	if (!min || clone->bi_iter.bi_size < min) {
		submit_bio_noacct(clone);
		return;
	}
	spin_lock_irqsave(&rf->submit_lock, flags);
	kick = bio_list_empty(&rf->submit);
	bio_list_add(&rf->submit, clone);
	spin_unlock_irqrestore(&rf->submit_lock, flags);
	if (kick)
		queue_work(rf->submit_wq, &rf->submit_work);
}

static int sync_replicate(struct rep_filter *rf, struct rep_pb *pb)
{
	struct bio *clone;
	struct rep_io *rio;

	clone = bio_alloc_clone(rf->replica.bdev, pb->bio, rep_gfp(pb->bio),
				&rf->bs);
	if (!clone) {
		replica_put(rf);
		return -EAGAIN;
	}
	iofilter_fan_out(pb->bio, clone);
	rio = to_rio(clone);
	rio->rf = rf;
	rio->pb = pb;
	rio->async = false;
	rio->status = BLK_STS_OK;
	clone->bi_end_io = sync_endio;
	pb->rio = rio;
	if ((pb->bio->bi_opf & REQ_PREFLUSH) && uf_flush_start(rf))
		pb->flags |= PB_UF_FLUSH;
	atomic_set(&pb->legs, 2);
	submit_leg(rf, clone);
	return IOF_MAP_CONTINUE;
}

/* ---- the I/O path ---- */

/*
 * Send a write (already in an epoch) where it goes.  Returns an
 * IOF_MAP_* value; from map, or from a worker for a delayed bio.
 */
static int dispatch(struct rep_filter *rf, struct rep_pb *pb,
		    blk_status_t *status)
{
	int state = get_state(rf);
	int r;

	if (replica_usable(state) &&
	    (state == REP_IN_SYNC ||
	     !range_any_dirty(rf, pb->sector, pb->nr_sectors)) &&
	    replica_get(rf)) {
		if (rf->async)
			r = async_replicate(rf, pb, pb->bio);
		else
			r = sync_replicate(rf, pb);
		if (r >= 0)
			return r;
		if (r == -EAGAIN) {
			/* REQ_NOWAIT: io_uring retries from a worker */
			pb_epoch_exit(pb);
			*status = BLK_STS_AGAIN;
			return IOF_MAP_COMPLETE;
		}
		/* no memory for the copy: treat it as a missed write */
	} else if (state == REP_FAILED) {
		pb_epoch_exit(pb);
		*status = BLK_STS_IOERR;
		return IOF_MAP_COMPLETE;
	}
	/* to the origin only: its regions must be dirty on disk first */
	if (range_all_dirty(rf, pb->sector, pb->nr_sectors))
		return IOF_MAP_CONTINUE;
	pb->flags |= PB_MAP_DEFER;
	commit_pb(rf, pb);
	return IOF_MAP_SUBMITTED;
}

static int rep_flush(struct rep_filter *rf, struct bio *bio,
		     struct rep_pb *pb)
{
	pb->flags = 0;
	if (!replica_get(rf))
		return IOF_MAP_CONTINUE;
	if (rf->async) {
		/* queued as a barrier; the volume's flush does not wait */
		async_replicate(rf, NULL, bio);
		return IOF_MAP_CONTINUE;
	}
	pb->flags = PB_TRACKED;
	pb->sector = 0;
	pb->nr_sectors = 0;
	if (sync_replicate(rf, pb) < 0)
		pb->flags = 0;
	return IOF_MAP_CONTINUE;
}

int rep_map(struct iofilter_instance *fi, struct bio *bio, void *p,
	    blk_status_t *status)
{
	struct rep_filter *rf = to_rf(fi);
	struct rep_pb *pb = p;

	switch (bio_op(bio)) {
	case REQ_OP_WRITE:
	case REQ_OP_DISCARD:
	case REQ_OP_SECURE_ERASE:
	case REQ_OP_WRITE_ZEROES:
		break;
	default:
		pb->flags = 0;
		return IOF_MAP_CONTINUE;
	}
	pb->rf = rf;
	pb->bio = bio;
	pb->rio = NULL;
	pb->status = BLK_STS_OK;
	if (!bio_sectors(bio))
		return rep_flush(rf, bio, pb);

	pb->flags = PB_TRACKED;
	if (unlikely(bio_end_sector(bio) > rf->sectors)) {
		iofilter_err(fi, "write beyond the replicated range (%llu sectors)",
			     (u64)rf->sectors);
		pb->flags = 0;
		*status = BLK_STS_IOERR;
		return IOF_MAP_COMPLETE;
	}
	pb->sector = bio->bi_iter.bi_sector;
	pb->nr_sectors = bio_sectors(bio);
	if (!pb_epoch_enter(rf, pb))
		return IOF_MAP_SUBMITTED;
	return dispatch(rf, pb, status);
}

int rep_end_io(struct iofilter_instance *fi, struct bio *bio, void *p,
	       blk_status_t *status)
{
	struct rep_filter *rf = to_rf(fi);
	struct rep_pb *pb = p;
	struct rep_io *rio;
	unsigned long flags;

	if (!(pb->flags & PB_TRACKED))
		return IOF_ENDIO_DONE;
	if (pb->flags & PB_ENDIO_DEFER) {
		/* back from commit_work: the final status is set */
		return IOF_ENDIO_DONE;
	}
	rio = pb->rio;
	if (rio && !rio->async) {
		pb->status = *status;
		if (!atomic_dec_and_test(&pb->legs))
			return IOF_ENDIO_INCOMPLETE;
		if (!sync_finish(rf, pb))
			return IOF_ENDIO_INCOMPLETE;
		*status = pb->status;
		pb->flags = 0;
		return IOF_ENDIO_DONE;
	}
	if (rio) {
		/* async: the origin has it; the replica leg runs on */
		pb->rio = NULL;
		rio_put(rio);
		pb->flags = 0;
		if (unlikely(*status) && pb->nr_sectors) {
			/*
			 * ... or the origin failed it while the replica gets
			 * it: dirty, as in sync_finish().  The epoch went with
			 * the copy (rio).
			 */
			pb->status = *status;
			pb->flags = PB_TRACKED | PB_ENDIO_DEFER;
			commit_pb(rf, pb);
			return IOF_ENDIO_INCOMPLETE;
		}
		if (atomic64_read(&rf->lag) > rf->max_lag) {
			/*
			 * On the list first, then the lag again: rio_free()
			 * lowers the lag, then looks at the list without the
			 * lock, so either it sees us or we see its lag.
			 */
			spin_lock_irqsave(&rf->lock, flags);
			pb->status = *status;
			list_add_tail(&pb->list, &rf->throttled);
			/* the list before the lag: pairs with rio_free() */
			smp_mb();
			if (atomic64_read(&rf->lag) > rf->max_lag) {
				spin_unlock_irqrestore(&rf->lock, flags);
				return IOF_ENDIO_INCOMPLETE;
			}
			list_del_init(&pb->list);
			spin_unlock_irqrestore(&rf->lock, flags);
		}
		return IOF_ENDIO_DONE;
	}
	pb_epoch_exit(pb);
	pb->flags = 0;
	return IOF_ENDIO_DONE;
}

/* ---- the copier's side of the epochs (resync_work()) ---- */

/* Publish the copy range and wait until no write that missed it runs */
void lock_range(struct rep_filter *rf, sector_t lo, sector_t hi)
{
	unsigned int i, old;

	spin_lock_irq(&rf->lock);
	WRITE_ONCE(rf->copy_lo, lo);
	WRITE_ONCE(rf->copy_hi, hi);
	spin_unlock_irq(&rf->lock);
	/* twice: a write may enter the old epoch after a flip (see SRCU) */
	for (i = 0; i < 2; i++) {
		old = rf->epoch;
		/* the range before the epoch: a write in the new one sees it */
		smp_wmb();
		WRITE_ONCE(rf->epoch, !old);
		/* the flip before the count: pairs with pb_epoch_enter() */
		smp_mb();
		wait_event(rf->wait, !atomic_read(&rf->epoch_count[old]));
	}
}

void unlock_range(struct rep_filter *rf)
{
	struct rep_pb *pb, *tmp;
	blk_status_t st;
	LIST_HEAD(list);

	spin_lock_irq(&rf->lock);
	WRITE_ONCE(rf->copy_lo, 0);
	WRITE_ONCE(rf->copy_hi, 0);
	list_splice_init(&rf->delayed, &list);
	spin_unlock_irq(&rf->lock);

	list_for_each_entry_safe(pb, tmp, &list, list) {
		list_del_init(&pb->list);
		if (!pb_epoch_enter(rf, pb))
			continue;
		/* an EAGAIN from here would not be retried */
		pb->bio->bi_opf &= ~REQ_NOWAIT;
		st = BLK_STS_OK;
		switch (dispatch(rf, pb, &st)) {
		case IOF_MAP_CONTINUE:
			iofilter_continue(pb->bio);
			break;
		case IOF_MAP_COMPLETE:
			iofilter_complete(pb->bio, st);
			break;
		}
	}
}
