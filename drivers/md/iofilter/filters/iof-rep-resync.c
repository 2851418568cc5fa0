// SPDX-License-Identifier: GPL-2.0
/*
 * iofilter "replicate": resync, and the initial sync of a new metadata
 * device (every region dirty).  Copies the dirty regions to the replica
 * under live I/O, reading them through the instances below us
 * (iofilter_read_below(): a write-back cache there holds newer data than
 * the origin), 1MiB at a time, a region larger than that locked whole.
 *
 * Resync runs only while the volume is live: it starts from the resume
 * hook (which the core also calls after create() on a live volume), and
 * stops at presuspend.
 */
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/dm-bufio.h>
#include <linux/ktime.h>

#include "iof-rep.h"

#define REP_BIND_WAIT		(HZ / 10)	/* resync: until the table chains us */

/* ---- resync ---- */

/* Suspend or teardown: the copier stops */
static inline bool copy_stop(struct rep_filter *rf)
{
	return READ_ONCE(rf->stopping) || READ_ONCE(rf->paused);
}

/*
 * Copy [lo, hi) to the replica as the volume below us holds it (not the
 * origin: a write-back cache below may hold newer data), REP_COPY_SECTORS
 * at a time: what iofilter_read_below() reads at once, and a region may be
 * larger.  The copies are written FUA: a copied range is on the replica's
 * media before writes to it resume (unlock_range()), so no later write of
 * the same sectors can be ordered before it anywhere below us (dm-log-writes
 * logs a plain write only at the next flush: a user's FUA write there would
 * be replayed before the older copy).  Returns 0, -EINTR when the copier
 * must stop first, or a negative errno with *write_err telling which side
 * failed.
 */
static int copy_range(struct rep_filter *rf, sector_t lo, sector_t hi,
		      bool *write_err)
{
	unsigned int nr, bytes;
	struct bio *bio;
	int r;

	*write_err = false;
	for (; lo < hi; lo += nr) {
		if (copy_stop(rf))
			return -EINTR;
		nr = min_t(sector_t, hi - lo, REP_COPY_SECTORS);
		bytes = nr << SECTOR_SHIFT;
		r = iofilter_read_below(&rf->fi, lo, nr, rf->copy_pages);
		if (r)
			return r;
		bio = bio_alloc(rf->replica.bdev, DIV_ROUND_UP(bytes, PAGE_SIZE),
				REQ_OP_WRITE | REQ_FUA, GFP_NOIO);
		iofilter_bio_add_pages(bio, rf->copy_pages, bytes);
		bio->bi_iter.bi_sector = lo;
		r = submit_bio_wait(bio);
		bio_put(bio);
		if (r) {
			*write_err = true;
			return r;
		}
	}
	return 0;
}

/*
 * Clear on disk the bits of the regions resync copied, once the replica
 * has made the copies durable: first a flush of the replica, then the
 * bitmap (DRBD's activity log and dm-raid1's region hash order it the same
 * way).  A region dirtied again meanwhile stays dirty: commit_work() and
 * uf_merge() set the memory bit under meta_lock, after the disk bit.
 * Process context; 0 or a negative errno (the replica or the metadata
 * failed; the bits stay set on disk).
 */
int resync_commit(struct rep_filter *rf)
{
	unsigned long r;
	int ret;

	ret = replica_flush(rf);
	if (ret)
		return ret;
	mutex_lock(&rf->meta_lock);
	for_each_set_bit(r, rf->copied, rf->nr_regions) {
		clear_bit(r, rf->copied);
		if (!ret && !test_bit(r, rf->dirty))
			ret = meta_set_bits(rf, r, r, false);
	}
	if (!ret)
		ret = dm_bufio_write_dirty_buffers(rf->bufio);
	mutex_unlock(&rf->meta_lock);
	if (ret)
		rep_latch(rf, ret, "resync: bitmap write");
	return ret;
}

/* resync_throttle: after a copy that took @busy_ns, rest for the rest */
static void copy_throttle(struct rep_filter *rf, u64 busy_ns)
{
	unsigned int pct = READ_ONCE(rep_resync_throttle);
	u64 rest;

	if (!pct || pct >= 100)
		return;
	rest = min_t(u64, div_u64(busy_ns * (100 - pct), pct), NSEC_PER_SEC);
	wait_event_hrtimeout(rf->wait, copy_stop(rf), ns_to_ktime(rest));
}

/* The copy of regions [r, r + n) is done; replica user held */
static void copy_done(struct rep_filter *rf, unsigned long r, unsigned long n)
{
	sector_t s = (sector_t)r << rf->region_shift;

	/* not on the replica's disk yet: dirty again if it goes down */
	uf_mark(rf, s, n << rf->region_shift);
	/* clean in memory: writes to it go to both legs again */
	for (; n; n--, r++) {
		set_bit(r, rf->copied);
		if (test_and_clear_bit(r, rf->dirty))
			atomic_long_dec(&rf->nr_dirty);
	}
}

/* Commit what was copied every this many sectors */
#define REP_COMMIT_SECTORS	(64 * REP_COPY_SECTORS)

void resync_work(struct work_struct *w)
{
	struct rep_filter *rf = container_of(w, struct rep_filter, resync_work);
	unsigned long r = 0, n, max_n;
	sector_t lo, hi, pending = 0;
	bool write_err;
	u64 start;
	int err;

	max_n = max(1UL, (unsigned long)REP_COPY_SECTORS >> rf->region_shift);
	while (!copy_stop(rf) && get_state(rf) == REP_SYNCING) {
		r = find_next_bit(rf->dirty, rf->nr_regions, r);
		if (r >= rf->nr_regions) {
			if (atomic_long_read(&rf->nr_dirty)) {
				r = 0;
				cond_resched();
				continue;
			}
			/* in sync only once the replica has it durably */
			if (resync_commit(rf))
				break;
			set_state(rf, REP_SYNCING, REP_IN_SYNC);
			iofilter_info(&rf->fi, "replica %s in sync",
				      rf->replica_path);
			break;
		}
		for (n = 1; n < max_n && r + n < rf->nr_regions &&
		     test_bit(r + n, rf->dirty); n++)
			;
		lo = (sector_t)r << rf->region_shift;
		hi = min_t(sector_t, (sector_t)(r + n) << rf->region_shift,
			   rf->sectors);
		if (!replica_get(rf))
			break;
		/* a large region is locked whole: writes to it wait */
		lock_range(rf, lo, hi);
		start = ktime_get_ns();
		err = copy_range(rf, lo, hi, &write_err);
		if (!err) {
			copy_done(rf, r, n);
			atomic64_add(hi - lo, &rf->resynced);
			pending += hi - lo;
			r += n;
		}
		replica_put(rf);
		unlock_range(rf);
		if (err == -EINTR)
			break;
		if (err == -EAGAIN && !write_err) {
			/*
			 * No rule of the live table chains us yet (iofilterctl
			 * apply creates the instances, then loads the rules):
			 * what is below us is not known, so wait for the table.
			 */
			wait_event_timeout(rf->wait, copy_stop(rf),
					   REP_BIND_WAIT);
			continue;
		}
		if (err) {
			if (write_err) {
				replica_failed(rf, BLK_STS_IOERR);
			} else {
				rep_latch(rf, err, "resync: read");
				set_state(rf, REP_SYNCING, REP_DEGRADED);
				queue_work(rf->wq, &rf->down_work);
			}
			break;
		}
		/* keep the on-disk bitmap close to the truth */
		if (pending >= REP_COMMIT_SECTORS) {
			pending = 0;
			if (resync_commit(rf))
				break;
		}
		copy_throttle(rf, ktime_get_ns() - start);
		cond_resched();
	}
}
