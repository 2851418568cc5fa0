// SPDX-License-Identifier: GPL-2.0
/*
 * iofilter "replicate": the replica's state, its failure, and its coming
 * back.
 *
 * Replica failure.  degrade: the region of every write the replica missed
 * is marked dirty in the bitmap, and the write completes only once the bit
 * is on the metadata device (a region is marked before the write is
 * acknowledged, as dm-raid1 and DRBD do); the replica is closed and probed
 * every second; when it answers, resync copies the dirty regions under live
 * I/O, reading them through the instances below us (iofilter_read_below():
 * a write-back cache there holds newer data than the origin), 1MiB at a
 * time, a region larger than that locked whole.  fail: writes fail while
 * the replica is down.
 */
#include <linux/blkdev.h>
#include <linux/sched/mm.h>

#include "iof-rep.h"

#define REP_PROBE_DELAY		HZ

/* ---- the replica's state ---- */

/* The replica failed an I/O: stop using it.  Any context. */
void replica_failed(struct rep_filter *rf, blk_status_t st)
{
	unsigned long flags;
	bool down = false;

	atomic64_inc(&rf->errors);
	spin_lock_irqsave(&rf->lock, flags);
	if (replica_usable(rf->state) && !rf->stopping) {
		put_state(rf, rf->fail_mode ? REP_FAILED : REP_DEGRADED);
		down = true;
	}
	spin_unlock_irqrestore(&rf->lock, flags);
	if (down) {
		iofilter_err(&rf->fi, "replica %s failed (error %d): %s",
			     rf->replica_path, blk_status_to_errno(st),
			     rf->fail_mode ? "failing writes" :
			     "degraded, recording dirty regions");
		queue_work(rf->wq, &rf->down_work);
	}
}

void set_state(struct rep_filter *rf, int from, int to)
{
	spin_lock_irq(&rf->lock);
	if (rf->state == from)
		put_state(rf, to);
	spin_unlock_irq(&rf->lock);
}

/*
 * Flush the replica from process context: what it had completed is
 * durable once this returns 0.  On failure the replica goes down.
 */
int replica_flush(struct rep_filter *rf)
{
	bool own;
	int r;

	if (!replica_get(rf))
		return -EIO;
	own = uf_flush_start(rf);
	r = blkdev_issue_flush(rf->replica.bdev);
	if (own)
		uf_flush_end(rf, !r);
	replica_put(rf);
	if (r)
		replica_failed(rf, errno_to_blk_status(r));
	return r;
}

/* ---- replica down and back ---- */

void down_work(struct work_struct *w)
{
	struct rep_filter *rf = container_of(w, struct rep_filter, down_work);

	/* drop what the async queue holds, wait for the rest, let go */
	queue_work(rf->wq, &rf->issue_work);
	wait_event(rf->wait, !atomic_read(&rf->replica_users));
	mutex_lock(&rf->probe_lock);
	if (replica_usable(get_state(rf))) {
		/* came back meanwhile (a resync message) */
		mutex_unlock(&rf->probe_lock);
		return;
	}
	iofilter_bdev_close(&rf->replica);
	/* what it had not flushed may be lost with it */
	uf_merge(rf);
	mutex_unlock(&rf->probe_lock);
	if (!READ_ONCE(rf->stopping))
		queue_delayed_work(rf->wq, &rf->probe_work, REP_PROBE_DELAY);
}

static int probe_read(struct block_device *bdev)
{
	struct page *page = alloc_page(GFP_NOIO);
	struct bio *bio;
	int r;

	if (!page)
		return -ENOMEM;
	bio = bio_alloc(bdev, 1, REQ_OP_READ | REQ_SYNC, GFP_NOIO);
	bio->bi_iter.bi_sector = 0;
	__bio_add_page(bio, page, PAGE_SIZE, 0);
	r = submit_bio_wait(bio);
	bio_put(bio);
	__free_page(page);
	return r;
}

/*
 * Try the replica: open it again by path (an NBD or iSCSI device may have
 * been reconnected), check it, read a block.  Returns 0 when resync started.
 */
int try_replica(struct rep_filter *rf)
{
	struct iofilter_bdev ib = { };
	int state, r;

	state = get_state(rf);
	if (replica_usable(state))
		return 0;
	if (atomic_read(&rf->replica_users))
		return -EBUSY;		/* down_work has not let go yet */
	if (!rf->replica.bdev) {
		r = iofilter_bdev_open(rf->replica_path, true, rf, &ib);
		if (r)
			return r;
		if (ib.bdev == rf->origin || ib.bdev == rf->meta.bdev ||
		    bdev_nr_sectors(ib.bdev) < rf->sectors) {
			iofilter_bdev_close(&ib);
			return -ENOSPC;
		}
		rf->replica = ib;
	}
	r = probe_read(rf->replica.bdev);
	if (r) {
		iofilter_bdev_close(&rf->replica);
		return r;
	}
	/* nothing it had not flushed counts as clean (down_work did it) */
	uf_merge(rf);
	spin_lock_irq(&rf->lock);
	if (!replica_usable(rf->state))
		put_state(rf, REP_SYNCING);
	spin_unlock_irq(&rf->lock);
	iofilter_info(&rf->fi, "replica %s answers again: resync of %ld dirty regions",
		      rf->replica_path, atomic_long_read(&rf->nr_dirty));
	queue_work(rf->wq, &rf->resync_work);
	return 0;
}

void probe_work(struct work_struct *w)
{
	struct rep_filter *rf = container_of(to_delayed_work(w),
					     struct rep_filter, probe_work);
	/*
	 * rf->wq is WQ_MEM_RECLAIM: opening the replica allocates with
	 * GFP_KERNEL inside the block layer, which must not recurse into I/O
	 * here (the other works allocate GFP_NOIO or through dm-bufio).
	 */
	unsigned int noio = memalloc_noio_save();

	mutex_lock(&rf->probe_lock);
	if (try_replica(rf) && !READ_ONCE(rf->stopping))
		queue_delayed_work(rf->wq, &rf->probe_work, REP_PROBE_DELAY);
	mutex_unlock(&rf->probe_lock);
	memalloc_noio_restore(noio);
}
