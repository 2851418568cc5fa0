// SPDX-License-Identifier: GPL-2.0
/*
 * iofilter "replicate": synchronous or asynchronous replication of a
 * volume's writes to a second block device (the replica), with a persistent
 * dirty-region bitmap, a degraded mode and resync.  VAIO's replication
 * class; DRBD's protocols C (sync) and A (async) and dm-raid1's region log
 * are the references.
 *
 * Parameters:  replica=<bdev>      the replica (any block device: NBD, NVMe-oF...)
 *              metadata=<bdev>     header + dirty bitmap (dm-bufio)
 *              mode=sync|async     default sync
 *              on_error=degrade|fail  default degrade
 *              region_size=<size>  power of two >= 4KiB, default 64KiB
 *              max_lag=<size>      async: unreplicated bytes, default 8MiB
 * Messages:    resync [full], flush
 * Status:      mode= on_error= state= sync_pct= dirty_regions= regions=
 *              region_size= lag_bytes= max_lag= errors= resynced_regions=
 *              replica=open|closed
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
 * Replica failure.  degrade: the region of every write the replica missed
 * is marked dirty in the bitmap, and the write completes only once the bit
 * is on the metadata device (a region is marked before the write is
 * acknowledged, as dm-raid1 and DRBD do); the replica is closed and probed
 * every second; when it answers, resync copies the dirty regions under live
 * I/O, reading them through the instances below us (iofilter_read_below():
 * a write-back cache there holds newer data than the origin), 1MiB at a
 * time, a region larger than that locked whole.  fail: writes fail while
 * the replica is down.
 *
 * What the replica has not flushed is not clean.  The regions written to
 * it since its last good flush are remembered (the unflushed bitmap) and
 * marked dirty when it goes down; resync clears a region's bit on disk,
 * and sets in-sync, only after a flush of the replica; the clean flag is
 * written after one (uf_mark(), resync_commit()).
 *
 * Resync runs only while the volume is live: it starts from the resume
 * hook (which the core also calls after create() on a live volume), and
 * stops at presuspend.
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
 *
 * The metadata device.  Block 0 is a header (magic, version, uuid, volume
 * name and size, region size, clean flag, crc), then the bitmap, one bit per
 * region, little endian.  A zeroed device is formatted with every region
 * dirty (full initial sync); anything else that does not match is refused.
 * The clean flag is cleared while the instance lives: after a crash every
 * region counts as dirty, because writes in flight may have reached one leg.
 */
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/crc32.h>
#include <linux/dm-bufio.h>
#include <linux/interval_tree_generic.h>
#include <linux/iofilter.h>
#define IOF_BUILTIN_REPLICATE
#include <shared/iofilter-builtin.h>
#include <linux/log2.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uuid.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#define DM_MSG_PREFIX "iofilter-replicate"
#include <linux/device-mapper.h>

#define REP_MAGIC		0x31504552464f49ULL	/* "IOFREP1" */
#define REP_VERSION		1
#define REP_HDR_CLEAN		0x1
#define REP_BLOCK		4096
#define REP_BLOCK_SECTORS	(REP_BLOCK >> SECTOR_SHIFT)
#define REP_BITS_PER_BLOCK	(REP_BLOCK * 8)
#define REP_MAX_REGIONS		(1UL << 28)
#define REP_COPY_SECTORS	2048		/* resync: at most 1MiB per copy */
#define REP_COPY_PAGES		(REP_COPY_SECTORS >> PAGE_SECTORS_SHIFT)
#define REP_COPY_ORDER		8		/* async copy buffers: 1MiB folios */
#define REP_PROBE_DELAY		HZ
#define REP_BIND_WAIT		(HZ / 10)	/* resync: until the table chains us */

static unsigned int resync_throttle = 100;
module_param(resync_throttle, uint, 0644);
MODULE_PARM_DESC(resync_throttle,
	"Percentage of time the resync copier may be busy (default 100)");

enum rep_state {
	REP_IN_SYNC,
	REP_SYNCING,
	REP_DEGRADED,
	REP_FAILED,
};

static const char * const state_names[] = {
	"in-sync", "syncing", "degraded", "failed",
};

/* On disk, little endian, in block 0 of the metadata device */
struct rep_header {
	__le64 magic;
	__le32 version;
	__le32 flags;
	u8 uuid[16];
	__le64 volume_sectors;
	__le64 region_sectors;
	__le64 nr_regions;
	char volume[64];
	__le32 crc;		/* crc32 of the bytes before it */
} __packed;

struct rep_filter {
	struct iofilter_instance fi;		/* first: container_of */
	char *replica_path;
	char *meta_path;
	struct iofilter_bdev replica;		/* bdev NULL while closed */
	struct iofilter_bdev meta;
	struct iofilter_volume *vol;
	struct block_device *origin;
	sector_t sectors;
	unsigned int region_shift;		/* region = 1 << shift sectors */
	unsigned long nr_regions;
	bool async;
	bool fail_mode;
	u64 max_lag;

	int state;				/* enum rep_state, under lock */
	bool stopping;
	bool paused;				/* suspended, or not resumed yet */
	atomic_t replica_users;			/* I/O using replica.bdev */
	wait_queue_head_t wait;			/* drains of all kinds */
	spinlock_t lock;

	/* writes against the resync copier */
	unsigned int epoch;
	atomic_t epoch_count[2];
	sector_t copy_lo, copy_hi;		/* range being copied */
	struct list_head delayed;		/* rep_pb waiting for the copy */

	/* the dirty bitmap: a bit is set here once it is on disk */
	unsigned long *dirty;
	atomic_long_t nr_dirty;
	/*
	 * Regions written to the replica since its last good flush, in two
	 * generations: writes mark unflushed[uf_cur]; a flush that finds
	 * no other flush running owns the other (uf_busy, uf_old) and
	 * clears it when it succeeds (uf_flush_start()).
	 */
	unsigned long *unflushed[2];
	unsigned int uf_cur, uf_old;
	bool uf_busy;
	struct work_struct uf_work;
	/* copied by resync, still dirty on disk until the replica flushes */
	unsigned long *copied;
	struct dm_bufio_client *bufio;
	struct mutex meta_lock;			/* bufio blocks */
	struct mutex probe_lock;		/* opening/closing the replica */
	struct list_head commit_pbs;
	struct list_head commit_rios;
	struct work_struct commit_work;

	/* resync */
	struct work_struct resync_work;
	struct page *copy_pages[REP_COPY_PAGES];	/* the copy buffer */
	atomic64_t resynced;

	/* the replica going away and coming back */
	struct work_struct down_work;
	struct delayed_work probe_work;

	/* async */
	struct rb_root_cached itree;		/* data in flight to the replica */
	struct list_head aqueue;		/* not issued yet, in order */
	unsigned int a_inflight;
	bool a_barrier;				/* a flush in flight */
	atomic64_t lag;
	atomic_t async_pending;			/* rep_io alive */
	struct list_head throttled;		/* rep_pb held at end_io */
	struct work_struct issue_work;
	/* async copy buffers kept for reuse (rio_free_pages()) */
	struct iofilter_stash pool[2];		/* order 0, REP_COPY_ORDER */

	/* sync: replica legs handed to another CPU (submit_leg()) */
	spinlock_t submit_lock;
	struct bio_list submit;
	struct work_struct submit_work;
	struct workqueue_struct *submit_wq;	/* unbound */

	struct bio_set bs;
	struct workqueue_struct *wq;
	atomic64_t errors;
};

/* Per-bio data, in the core's per-bio area for the replicate class */
struct rep_pb {
	struct rep_filter *rf;
	struct bio *bio;
	struct rep_io *rio;
	struct list_head list;
	sector_t sector;
	u32 nr_sectors;
	atomic_t legs;			/* sync: origin + replica */
	blk_status_t status;		/* of the origin leg, then final */
	u8 epoch;
	u8 flags;
};

#define PB_TRACKED	0x01	/* a write-like bio or flush: end_io has work */
#define PB_EPOCH	0x02	/* holds epoch_count[epoch] */
#define PB_MAP_DEFER	0x04	/* commit its dirty bits, then continue */
#define PB_ENDIO_DEFER	0x08	/* commit its dirty bits, then complete */
#define PB_UF_FLUSH	0x10	/* its replica flush owns a generation */

static_assert(sizeof(struct rep_pb) <= IOFILTER_PB_SIZE);

/* A replica leg: in the front pad of the bio sent to the replica */
struct rep_io {
	struct rep_filter *rf;
	struct rep_pb *pb;		/* sync: the original's */
	struct list_head list;
	struct rb_node rb;
	sector_t start, last, subtree_last;
	sector_t sector;
	u32 nr_sectors;
	u32 bytes;			/* counted in lag */
	atomic_t legs;			/* async: origin + replica */
	blk_status_t status;
	u8 epoch;
	bool has_epoch;
	bool async;
	bool barrier;
	bool failed;
	bool pages;
	bool uf_flush;			/* a flush owning a generation */
	struct bio bio;			/* last */
};

#define rio_start(r)	((r)->start)
#define rio_last(r)	((r)->last)
INTERVAL_TREE_DEFINE(struct rep_io, rb, sector_t, subtree_last, rio_start,
		     rio_last, static __maybe_unused, rep_it)

static inline struct rep_filter *to_rf(struct iofilter_instance *fi)
{
	return container_of(fi, struct rep_filter, fi);
}

static inline struct rep_io *to_rio(struct bio *bio)
{
	return container_of(bio, struct rep_io, bio);
}

static inline unsigned long region_of(struct rep_filter *rf, sector_t s)
{
	return s >> rf->region_shift;
}

/* Latch an error; the core names the instance only after create() */
static void rep_latch(struct rep_filter *rf, int err, const char *what)
{
	if (READ_ONCE(rf->fi.name))
		iofilter_latch_error(&rf->fi, err, what);
	else
		DMERR_LIMIT("%s: %s: error %d", iofilter_volume_name(rf->vol),
			    what, err);
}

static void rep_wake(struct rep_filter *rf)
{
	if (wq_has_sleeper(&rf->wait))
		wake_up_all(&rf->wait);
}

/*
 * The state is written under rf->lock; the I/O path reads it without.  The
 * release/acquire pair makes replica.bdev, set before a state that allows
 * replica I/O, visible to whoever sees that state.
 */
static inline int get_state(struct rep_filter *rf)
{
	/* pairs with put_state() */
	return smp_load_acquire(&rf->state);
}

static inline void put_state(struct rep_filter *rf, int state)
{
	/* pairs with get_state() */
	smp_store_release(&rf->state, state);
}

/* ---- regions: the in-memory bitmap ---- */

static bool range_all_dirty(struct rep_filter *rf, sector_t s, u32 nr)
{
	unsigned long r, last = region_of(rf, s + nr - 1);

	for (r = region_of(rf, s); r <= last; r++)
		if (!test_bit(r, rf->dirty))
			return false;
	return true;
}

static bool range_any_dirty(struct rep_filter *rf, sector_t s, u32 nr)
{
	unsigned long first = region_of(rf, s), last = region_of(rf, s + nr - 1);

	return find_next_bit(rf->dirty, last + 1, first) <= last;
}

static void set_dirty_mem(struct rep_filter *rf, sector_t s, u32 nr)
{
	unsigned long r, last = region_of(rf, s + nr - 1);

	for (r = region_of(rf, s); r <= last; r++)
		if (!test_and_set_bit(r, rf->dirty))
			atomic_long_inc(&rf->nr_dirty);
}

/* ---- the metadata device (dm-bufio) ---- */

/* Set (or clear) the on-disk bits of regions [first, last]; meta_lock held */
static int meta_set_bits(struct rep_filter *rf, unsigned long first,
			 unsigned long last, bool set)
{
	struct dm_buffer *b = NULL;
	sector_t cur = 0;
	unsigned long r;
	void *data = NULL;

	for (r = first; r <= last; r++) {
		sector_t blk = 1 + r / REP_BITS_PER_BLOCK;

		if (!b || blk != cur) {
			if (b) {
				dm_bufio_mark_buffer_dirty(b);
				dm_bufio_release(b);
			}
			data = dm_bufio_read(rf->bufio, blk, &b);
			if (IS_ERR(data))
				return PTR_ERR(data);
			cur = blk;
		}
		if (set)
			__set_bit_le(r % REP_BITS_PER_BLOCK, data);
		else
			__clear_bit_le(r % REP_BITS_PER_BLOCK, data);
	}
	if (b) {
		dm_bufio_mark_buffer_dirty(b);
		dm_bufio_release(b);
	}
	return 0;
}

static int meta_mark(struct rep_filter *rf, sector_t s, u32 nr)
{
	return meta_set_bits(rf, region_of(rf, s), region_of(rf, s + nr - 1),
			     true);
}

static void header_crc(struct rep_header *h)
{
	h->crc = cpu_to_le32(crc32_le(~0U, (void *)h,
				      offsetof(struct rep_header, crc)));
}

/* Write the clean flag; meta_lock held or no I/O running */
static int meta_set_clean(struct rep_filter *rf, bool clean)
{
	struct dm_buffer *b;
	struct rep_header *h;

	h = dm_bufio_read(rf->bufio, 0, &b);
	if (IS_ERR(h))
		return PTR_ERR(h);
	if (clean)
		h->flags |= cpu_to_le32(REP_HDR_CLEAN);
	else
		h->flags &= ~cpu_to_le32(REP_HDR_CLEAN);
	header_crc(h);
	dm_bufio_mark_buffer_dirty(b);
	dm_bufio_release(b);
	return dm_bufio_write_dirty_buffers(rf->bufio);
}

static bool all_zero(const void *p, size_t len)
{
	return !memchr_inv(p, 0, len);
}

/* Format a zeroed device (every region dirty) or load and check a header */
static int meta_load(struct rep_filter *rf, struct iofilter_volume *vol,
		     char *error, size_t error_len)
{
	unsigned long nblocks = DIV_ROUND_UP(rf->nr_regions, REP_BITS_PER_BLOCK);
	const char *vname = iofilter_volume_name(vol);
	struct rep_header *h;
	struct dm_buffer *b;
	unsigned long i, r;
	bool fresh, clean;
	void *data;
	int ret;

	h = dm_bufio_read(rf->bufio, 0, &b);
	if (IS_ERR(h)) {
		scnprintf(error, error_len, "cannot read metadata %s: error %ld",
			  rf->meta_path, PTR_ERR(h));
		return PTR_ERR(h);
	}
	fresh = all_zero(h, REP_BLOCK);
	if (fresh) {
		h->magic = cpu_to_le64(REP_MAGIC);
		h->version = cpu_to_le32(REP_VERSION);
		h->flags = 0;
		generate_random_uuid(h->uuid);
		h->volume_sectors = cpu_to_le64(rf->sectors);
		h->region_sectors = cpu_to_le64(1ULL << rf->region_shift);
		h->nr_regions = cpu_to_le64(rf->nr_regions);
		strscpy(h->volume, vname, sizeof(h->volume));
		header_crc(h);
		dm_bufio_mark_buffer_dirty(b);
		dm_bufio_release(b);
		for (i = 0; i < nblocks; i++) {
			data = dm_bufio_new(rf->bufio, 1 + i, &b);
			if (IS_ERR(data)) {
				scnprintf(error, error_len, "cannot format metadata %s: error %ld",
					  rf->meta_path, PTR_ERR(data));
				return PTR_ERR(data);
			}
			memset(data, 0xff, REP_BLOCK);
			dm_bufio_mark_buffer_dirty(b);
			dm_bufio_release(b);
		}
		bitmap_set(rf->dirty, 0, rf->nr_regions);
		atomic_long_set(&rf->nr_dirty, rf->nr_regions);
		DMINFO("%s: formatted metadata %s: full initial sync of %lu regions",
		       vname, rf->meta_path, rf->nr_regions);
		goto write;
	}

	ret = -EINVAL;
	if (le64_to_cpu(h->magic) != REP_MAGIC) {
		scnprintf(error, error_len,
			  "metadata %s has no replicate header and is not zeroed (zero its first 4KiB to format it)",
			  rf->meta_path);
		goto bad;
	}
	if (le32_to_cpu(h->version) != REP_VERSION) {
		scnprintf(error, error_len, "metadata %s: unsupported version %u",
			  rf->meta_path, le32_to_cpu(h->version));
		goto bad;
	}
	if (le32_to_cpu(h->crc) != crc32_le(~0U, (void *)h,
					    offsetof(struct rep_header, crc))) {
		scnprintf(error, error_len, "metadata %s: header checksum mismatch",
			  rf->meta_path);
		goto bad;
	}
	if (strncmp(h->volume, vname, sizeof(h->volume)) ||
	    le64_to_cpu(h->volume_sectors) != rf->sectors) {
		scnprintf(error, error_len,
			  "metadata %s belongs to volume %.63s of %llu sectors, not %s of %llu",
			  rf->meta_path, h->volume, le64_to_cpu(h->volume_sectors),
			  vname, (u64)rf->sectors);
		goto bad;
	}
	if (le64_to_cpu(h->region_sectors) != (1ULL << rf->region_shift)) {
		scnprintf(error, error_len,
			  "metadata %s was formatted with region_size %llu, not %llu",
			  rf->meta_path,
			  le64_to_cpu(h->region_sectors) << SECTOR_SHIFT,
			  (1ULL << rf->region_shift) << SECTOR_SHIFT);
		goto bad;
	}
	clean = le32_to_cpu(h->flags) & REP_HDR_CLEAN;
	dm_bufio_release(b);

	if (!clean) {
		DMWARN("%s: metadata %s: not shut down cleanly: every region is dirty",
		       vname, rf->meta_path);
		mutex_lock(&rf->meta_lock);
		ret = meta_set_bits(rf, 0, rf->nr_regions - 1, true);
		mutex_unlock(&rf->meta_lock);
		if (ret) {
			scnprintf(error, error_len, "cannot write metadata %s: error %d",
				  rf->meta_path, ret);
			return ret;
		}
		bitmap_set(rf->dirty, 0, rf->nr_regions);
	} else {
		for (i = 0; i < nblocks; i++) {
			data = dm_bufio_read(rf->bufio, 1 + i, &b);
			if (IS_ERR(data)) {
				scnprintf(error, error_len, "cannot read metadata %s: error %ld",
					  rf->meta_path, PTR_ERR(data));
				return PTR_ERR(data);
			}
			for (r = i * REP_BITS_PER_BLOCK;
			     r < min((i + 1) * REP_BITS_PER_BLOCK, rf->nr_regions); r++)
				if (test_bit_le(r % REP_BITS_PER_BLOCK, data))
					__set_bit(r, rf->dirty);
			dm_bufio_release(b);
		}
	}
	atomic_long_set(&rf->nr_dirty, bitmap_weight(rf->dirty, rf->nr_regions));
write:
	/* not clean while we live */
	ret = meta_set_clean(rf, false);
	if (ret)
		scnprintf(error, error_len, "cannot write metadata %s: error %d",
			  rf->meta_path, ret);
	return ret;
bad:
	dm_bufio_release(b);
	return ret;
}

/*
 * ---- what the replica has not made durable ----
 *
 * A replica write that completed may still sit in the replica's volatile
 * cache: it is durable only once a later flush of the replica succeeds.
 * A replica that loses power loses it, and its next I/O (often that
 * flush) fails.  So a region is clean, on disk or in memory, only for data
 * the replica has flushed (DRBD's activity log, dm-raid1's region hash):
 * the regions written since the last good flush are kept in the unflushed
 * bitmap, and when the replica goes down they are marked dirty before it
 * is used again (uf_merge()); resync clears the bits of what it copied on
 * disk only after a flush (resync_commit()).
 *
 * A flush covers the writes that completed before it was issued.  A write
 * marks the generation current when its completion runs, which is after
 * the replica completed it: a write that completed before a flush was
 * issued marks the generation that flush owns (or a later one, which is
 * only conservative), one that completes later marks the new generation.
 * Overlapping flushes: only one owns a generation; the others clear
 * nothing.
 */

/* Any context */
static void uf_mark(struct rep_filter *rf, sector_t s, u32 nr)
{
	unsigned long *uf = rf->unflushed[READ_ONCE(rf->uf_cur)];
	unsigned long r, last = region_of(rf, s + nr - 1);

	for (r = region_of(rf, s); r <= last; r++)
		if (!test_bit(r, uf))
			set_bit(r, uf);
}

/* A replica flush is about to be issued: true when it owns a generation */
static bool uf_flush_start_locked(struct rep_filter *rf)
{
	lockdep_assert_held(&rf->lock);
	if (rf->uf_busy)
		return false;
	rf->uf_busy = true;
	rf->uf_old = rf->uf_cur;
	WRITE_ONCE(rf->uf_cur, !rf->uf_cur);
	return true;
}

static bool uf_flush_start(struct rep_filter *rf)
{
	unsigned long flags;
	bool own;

	spin_lock_irqsave(&rf->lock, flags);
	own = uf_flush_start_locked(rf);
	spin_unlock_irqrestore(&rf->lock, flags);
	return own;
}

/*
 * The flush that owns a generation is done.  On success its regions are
 * durable on the replica (cleared by a worker: the bitmap may be large);
 * on failure they stay and the replica goes down.  Any context.
 */
static void uf_flush_end(struct rep_filter *rf, bool ok)
{
	unsigned long flags;

	if (ok) {
		queue_work(rf->wq, &rf->uf_work);
		return;
	}
	spin_lock_irqsave(&rf->lock, flags);
	rf->uf_busy = false;
	spin_unlock_irqrestore(&rf->lock, flags);
}

static void uf_work(struct work_struct *w)
{
	struct rep_filter *rf = container_of(w, struct rep_filter, uf_work);

	/* a late mark lost here completed before the flush was issued */
	bitmap_zero(rf->unflushed[rf->uf_old], rf->nr_regions);
	spin_lock_irq(&rf->lock);
	rf->uf_busy = false;
	spin_unlock_irq(&rf->lock);
}

/*
 * The replica went down, or is about to be trusted again: every region
 * written to it since its last good flush is dirty, on disk and in memory.
 * No replica I/O may be in flight (replica_users is zero).  May sleep.
 */
static void uf_merge(struct rep_filter *rf)
{
	unsigned long r, n = 0;
	unsigned int i;
	int ret = 0;

	mutex_lock(&rf->meta_lock);
	for (i = 0; i < 2; i++) {
		for_each_set_bit(r, rf->unflushed[i], rf->nr_regions) {
			clear_bit(r, rf->unflushed[i]);
			if (test_bit(r, rf->dirty))
				continue;
			if (!ret)
				ret = meta_set_bits(rf, r, r, true);
			/* in memory even if the metadata failed: resync it */
			if (!test_and_set_bit(r, rf->dirty))
				atomic_long_inc(&rf->nr_dirty);
			n++;
		}
	}
	if (n && !ret)
		ret = dm_bufio_write_dirty_buffers(rf->bufio);
	mutex_unlock(&rf->meta_lock);
	if (ret)
		rep_latch(rf, ret, "dirty bitmap write");
	if (n)
		DMWARN_LIMIT("%s: %lu regions written to replica %s since its last flush are dirty",
			     iofilter_volume_name(rf->vol), n, rf->replica_path);
}

/* ---- the replica's state ---- */

static inline bool replica_usable(int state)
{
	return state == REP_IN_SYNC || state == REP_SYNCING;
}

/* Take a user of replica.bdev; false when the replica is down */
static bool replica_get(struct rep_filter *rf)
{
	atomic_inc(&rf->replica_users);
	/* the count before the state: pairs with down_work's wait */
	smp_mb__after_atomic();
	if (likely(replica_usable(get_state(rf))))
		return true;
	if (atomic_dec_and_test(&rf->replica_users))
		rep_wake(rf);
	return false;
}

static void replica_put(struct rep_filter *rf)
{
	if (atomic_dec_and_test(&rf->replica_users))
		rep_wake(rf);
}

/* The replica failed an I/O: stop using it.  Any context. */
static void replica_failed(struct rep_filter *rf, blk_status_t st)
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
		DMERR_LIMIT("%s: replica %s failed (error %d): %s",
			    iofilter_volume_name(rf->vol), rf->replica_path,
			    blk_status_to_errno(st),
			    rf->fail_mode ? "failing writes" :
			    "degraded, recording dirty regions");
		queue_work(rf->wq, &rf->down_work);
	}
}

static void set_state(struct rep_filter *rf, int from, int to)
{
	spin_lock_irq(&rf->lock);
	if (rf->state == from)
		put_state(rf, to);
	spin_unlock_irq(&rf->lock);
}

/* ---- epochs: writes against the resync copier ---- */

static inline bool overlaps_copy(struct rep_filter *rf, sector_t s, u32 nr)
{
	return s < READ_ONCE(rf->copy_hi) && s + nr > READ_ONCE(rf->copy_lo);
}

static void epoch_put(struct rep_filter *rf, unsigned int idx)
{
	if (atomic_dec_and_test(&rf->epoch_count[idx]))
		rep_wake(rf);
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

/* Publish the copy range and wait until no write that missed it runs */
static void lock_range(struct rep_filter *rf, sector_t lo, sector_t hi)
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

static int dispatch(struct rep_filter *rf, struct rep_pb *pb,
		    blk_status_t *status);

static void unlock_range(struct rep_filter *rf)
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

/* ---- committing dirty bits before a write is acknowledged ---- */

static void commit_pb(struct rep_filter *rf, struct rep_pb *pb)
{
	unsigned long flags;

	spin_lock_irqsave(&rf->lock, flags);
	list_add_tail(&pb->list, &rf->commit_pbs);
	spin_unlock_irqrestore(&rf->lock, flags);
	queue_work(rf->wq, &rf->commit_work);
}

static void rio_free(struct rep_io *rio);

static void commit_work(struct work_struct *w)
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
 * send) then serializes the two copies: a leg of at least this many bytes
 * goes to an unbound worker instead, which the scheduler runs on an idle
 * CPU, and the copies overlap (dm-raid1 hands every write to kmirrord;
 * DRBD sends from its own thread).  Async mode gains nothing from it: its
 * cost is the copy of the data, made by the writer before the replica
 * write exists.
 */
static unsigned int sync_offload_bytes = 64 << 10;
module_param(sync_offload_bytes, uint, 0644);
MODULE_PARM_DESC(sync_offload_bytes,
	"sync mode: a replica write of at least this many bytes is submitted by a worker, not by the writer (default 64KiB; 0: never)");

static void submit_work(struct work_struct *w)
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
	unsigned int min = READ_ONCE(sync_offload_bytes);
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

/*
 * REQ_NOWAIT bios (io_uring) must not sleep here: allocate without
 * waiting and let the caller answer BLK_STS_AGAIN when that fails.  The
 * replica leg itself is sent without REQ_NOWAIT: an EAGAIN from the replica
 * would otherwise count as a replica failure.
 */
static inline gfp_t rep_gfp(struct bio *bio)
{
	return bio->bi_opf & REQ_NOWAIT ? GFP_NOWAIT | __GFP_NOWARN : GFP_NOIO;
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

/* ---- async replication ---- */

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

static void pool_init(struct rep_filter *rf)
{
	u64 bytes = min_t(u64, rf->max_lag, REP_POOL_BYTES);

	iofilter_stash_init(&rf->pool[0], bytes >> PAGE_SHIFT);
	iofilter_stash_init(&rf->pool[1],
			    bytes >> (PAGE_SHIFT + REP_COPY_ORDER));
}

static void pool_exit(struct rep_filter *rf)
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
static void rio_free(struct rep_io *rio)
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

static void rio_put(struct rep_io *rio)
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
static void issue_work(struct work_struct *w)
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
static int async_replicate(struct rep_filter *rf, struct rep_pb *pb,
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

static int rep_map(struct iofilter_instance *fi, struct bio *bio, void *p,
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
		DMERR_LIMIT("%s/%s: write beyond the replicated range (%llu sectors)",
			    iofilter_volume_name(fi->vol), fi->name,
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

static int rep_end_io(struct iofilter_instance *fi, struct bio *bio, void *p,
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
 * larger.  Returns 0, -EINTR when the copier must stop first, or a
 * negative errno with *write_err telling which side failed.
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
				REQ_OP_WRITE, GFP_NOIO);
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
 * Flush the replica from process context: what it had completed is
 * durable once this returns 0.  On failure the replica goes down.
 */
static int replica_flush(struct rep_filter *rf)
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

/*
 * Clear on disk the bits of the regions resync copied, once the replica
 * has made the copies durable: first a flush of the replica, then the
 * bitmap (DRBD's activity log and dm-raid1's region hash order it the same
 * way).  A region dirtied again meanwhile stays dirty: commit_work() and
 * uf_merge() set the memory bit under meta_lock, after the disk bit.
 * Process context; 0 or a negative errno (the replica or the metadata
 * failed; the bits stay set on disk).
 */
static int resync_commit(struct rep_filter *rf)
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
	unsigned int pct = READ_ONCE(resync_throttle);
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

static void resync_work(struct work_struct *w)
{
	struct rep_filter *rf = container_of(w, struct rep_filter, resync_work);
	unsigned long r = 0, n, max_n;
	const char *vname = iofilter_volume_name(rf->vol);
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
			DMINFO("%s: replica %s in sync", vname, rf->replica_path);
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

/* ---- replica down and back ---- */

static void down_work(struct work_struct *w)
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
static int try_replica(struct rep_filter *rf)
{
	const char *vname = iofilter_volume_name(rf->vol);
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
	DMINFO("%s: replica %s answers again: resync of %ld dirty regions",
	       vname, rf->replica_path,
	       atomic_long_read(&rf->nr_dirty));
	queue_work(rf->wq, &rf->resync_work);
	return 0;
}

static void probe_work(struct work_struct *w)
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

/* ---- control ---- */

static void rep_status(struct iofilter_instance *fi, char *result,
		       unsigned int maxlen)
{
	struct rep_filter *rf = to_rf(fi);
	long dirty = atomic_long_read(&rf->nr_dirty);
	int state = READ_ONCE(rf->state);

	scnprintf(result, maxlen,
		  "mode=%s on_error=%s state=%s sync_pct=%lu dirty_regions=%ld regions=%lu region_size=%llu lag_bytes=%lld max_lag=%llu errors=%lld resynced_bytes=%lld replica=%s",
		  rf->async ? "async" : "sync",
		  rf->fail_mode ? "fail" : "degrade", state_names[state],
		  (unsigned long)div64_u64((u64)(rf->nr_regions - dirty) * 100,
					   rf->nr_regions),
		  dirty, rf->nr_regions,
		  (1ULL << rf->region_shift) << SECTOR_SHIFT,
		  atomic64_read(&rf->lag), rf->async ? rf->max_lag : 0,
		  atomic64_read(&rf->errors),
		  atomic64_read(&rf->resynced) << SECTOR_SHIFT,
		  READ_ONCE(rf->replica.bdev) ? "open" : "closed");
}

static int process_resync_mesg(struct rep_filter *rf, bool full, char *result,
			       unsigned int maxlen)
{
	unsigned long r0;
	int state, r = 0;

	if (full) {
		mutex_lock(&rf->meta_lock);
		r = meta_set_bits(rf, 0, rf->nr_regions - 1, true);
		if (!r)
			r = dm_bufio_write_dirty_buffers(rf->bufio);
		if (!r)
			for (r0 = 0; r0 < rf->nr_regions; r0++)
				if (!test_and_set_bit(r0, rf->dirty))
					atomic_long_inc(&rf->nr_dirty);
		mutex_unlock(&rf->meta_lock);
		if (r) {
			scnprintf(result, maxlen, "metadata write failed: error %d", r);
			return r;
		}
	}
	mutex_lock(&rf->probe_lock);
	state = get_state(rf);
	if (state == REP_DEGRADED || state == REP_FAILED) {
		r = try_replica(rf);
		mutex_unlock(&rf->probe_lock);
		if (r) {
			scnprintf(result, maxlen, "replica %s not usable: error %d",
				  rf->replica_path, r);
			return -EIO;
		}
	} else {
		mutex_unlock(&rf->probe_lock);
		if (atomic_long_read(&rf->nr_dirty)) {
			set_state(rf, REP_IN_SYNC, REP_SYNCING);
			queue_work(rf->wq, &rf->resync_work);
		}
	}
	scnprintf(result, maxlen, "%s: %ld dirty regions",
		  atomic_long_read(&rf->nr_dirty) ? "resync running" : "in sync",
		  atomic_long_read(&rf->nr_dirty));
	return 0;
}

static int process_flush_mesg(struct rep_filter *rf, char *result,
			      unsigned int maxlen)
{
	int r = 0;

	/* the async queue drains unless the replica hangs */
	if (!wait_event_timeout(rf->wait, !atomic_read(&rf->async_pending),
				60 * HZ)) {
		scnprintf(result, maxlen, "replica queue did not drain");
		return -ETIMEDOUT;
	}
	if (replica_usable(get_state(rf)))
		r = replica_flush(rf);
	mutex_lock(&rf->meta_lock);
	if (!r)
		r = dm_bufio_write_dirty_buffers(rf->bufio);
	mutex_unlock(&rf->meta_lock);
	if (r) {
		scnprintf(result, maxlen, "flush failed: error %d", r);
		return r;
	}
	scnprintf(result, maxlen, "flushed: state=%s dirty_regions=%ld",
		  state_names[READ_ONCE(rf->state)],
		  atomic_long_read(&rf->nr_dirty));
	return 0;
}

static int rep_message(struct iofilter_instance *fi, unsigned int argc,
		       char **argv, char *result, unsigned int maxlen)
{
	struct rep_filter *rf = to_rf(fi);

	if (!strcasecmp(argv[0], "resync")) {
		if (argc == 1)
			return process_resync_mesg(rf, false, result, maxlen);
		if (argc == 2 && !strcasecmp(argv[1], "full"))
			return process_resync_mesg(rf, true, result, maxlen);
		return -EINVAL;
	}
	if (argc == 1 && !strcasecmp(argv[0], "flush"))
		return process_flush_mesg(rf, result, maxlen);
	return -EINVAL;
}

/*
 * A suspended volume gets no background I/O from us (dm-raid1 stops its
 * recovery the same way): resync stops after the copy in progress and
 * goes on from the bitmap at resume.  Writes still go to both legs.
 */
static void rep_presuspend(struct iofilter_instance *fi)
{
	struct rep_filter *rf = to_rf(fi);

	WRITE_ONCE(rf->paused, true);
	rep_wake(rf);		/* out of a throttle rest */
	cancel_work_sync(&rf->resync_work);
}

/* Also right after create() on a live volume: resync starts here */
static void rep_resume(struct iofilter_instance *fi)
{
	struct rep_filter *rf = to_rf(fi);

	WRITE_ONCE(rf->paused, false);
	if (get_state(rf) == REP_SYNCING && !READ_ONCE(rf->stopping))
		queue_work(rf->wq, &rf->resync_work);
}

static bool rep_is_dirty(struct iofilter_instance *fi)
{
	return atomic_read(&to_rf(fi)->async_pending) > 0;
}

static void rep_teardown(struct rep_filter *rf)
{
	WRITE_ONCE(rf->stopping, true);
	if (rf->wq) {
		cancel_delayed_work_sync(&rf->probe_work);
		cancel_work_sync(&rf->resync_work);
		/* async replica legs may outlive their bios */
		wait_event(rf->wait, !atomic_read(&rf->async_pending));
		flush_workqueue(rf->wq);
		cancel_delayed_work_sync(&rf->probe_work);
		wait_event(rf->wait, !atomic_read(&rf->replica_users));
	}
	if (rf->submit_wq)	/* its last run may outlast its last leg */
		flush_workqueue(rf->submit_wq);
	if (rf->bufio) {
		/*
		 * Clean only with everything durable on the replica: flush
		 * it (sync writes were acknowledged without), then clear what
		 * resync copied; if it cannot, what it may have lost is dirty.
		 */
		if (!replica_usable(get_state(rf)) || resync_commit(rf))
			uf_merge(rf);
		mutex_lock(&rf->meta_lock);
		if (dm_bufio_write_dirty_buffers(rf->bufio)) {
			DMERR("%s: metadata %s: cannot record a clean shutdown",
			      rf->replica_path, rf->meta_path);
		} else if (rf->vol && iofilter_volume_failed(rf->vol) >
			   (READ_ONCE(rf->fi.error) ? 1 : 0)) {
			/*
			 * An instance below us failed (a write-back cache
			 * that could not be flushed): the volume below may
			 * not hold what the replica has.  Not clean, so the
			 * next instance resyncs every region from below.
			 */
			DMWARN("%s: an instance of the volume failed: the next start resyncs every region",
			       iofilter_volume_name(rf->vol));
		} else if (meta_set_clean(rf, true)) {
			DMERR("%s: metadata %s: cannot record a clean shutdown",
			      rf->replica_path, rf->meta_path);
		}
		mutex_unlock(&rf->meta_lock);
	}
}

static void rep_free(struct rep_filter *rf)
{
	unsigned int i;

	for (i = 0; i < REP_COPY_PAGES; i++)
		if (rf->copy_pages[i])
			__free_page(rf->copy_pages[i]);
	if (rf->bufio)
		dm_bufio_client_destroy(rf->bufio);
	if (rf->wq)		/* runs a last uf_work */
		destroy_workqueue(rf->wq);
	if (rf->submit_wq)
		destroy_workqueue(rf->submit_wq);
	iofilter_bdev_close(&rf->replica);
	iofilter_bdev_close(&rf->meta);
	bioset_exit(&rf->bs);
	pool_exit(rf);
	kvfree(rf->dirty);
	kvfree(rf->unflushed[0]);
	kvfree(rf->unflushed[1]);
	kvfree(rf->copied);
	kfree(rf->replica_path);
	kfree(rf->meta_path);
	kfree(rf);
}

static void rep_destroy(struct iofilter_instance *fi)
{
	struct rep_filter *rf = to_rf(fi);

	rep_teardown(rf);
	rep_free(rf);
}

static const struct iofilter_ops rep_ops = {
	.destroy = rep_destroy,
	.map = rep_map,
	.end_io = rep_end_io,
	.status = rep_status,
	.message = rep_message,
	.is_dirty = rep_is_dirty,
	.presuspend = rep_presuspend,
	.resume = rep_resume,
};

static int check_params(unsigned int argc, char **argv, char *error,
			size_t error_len)
{
	return iofilter_params_check(iof_replicate_params,
				     ARRAY_SIZE(iof_replicate_params), argc,
				     argv, error, error_len);
}

/* Open a device by path after checking it is none of the others */
static int open_dev(struct rep_filter *rf, const char *what, const char *path,
		    struct iofilter_bdev *ib, char *error, size_t error_len)
{
	dev_t dev;
	int r;

	r = lookup_bdev(path, &dev);
	if (r) {
		scnprintf(error, error_len, "%s %s: not a block device (error %d)",
			  what, path, r);
		return r;
	}
	if (dev == rf->origin->bd_dev) {
		scnprintf(error, error_len, "%s %s is the volume's origin",
			  what, path);
		return -EINVAL;
	}
	if (rf->replica.bdev && dev == rf->replica.bdev->bd_dev) {
		scnprintf(error, error_len, "%s %s is the replica", what, path);
		return -EINVAL;
	}
	r = iofilter_bdev_open(path, true, rf, ib);
	if (r) {
		scnprintf(error, error_len, "cannot open %s %s: %s (error %d)",
			  what, path, r == -EBUSY ? "in use" :
			  r == -EACCES || r == -EROFS ? "read-only" :
			  "open failed", r);
		return r;
	}
	if (bdev_read_only(ib->bdev)) {
		scnprintf(error, error_len, "%s %s is read-only", what, path);
		iofilter_bdev_close(ib);
		return -EROFS;
	}
	return 0;
}

static struct iofilter_instance *rep_create(struct iofilter_volume *vol,
					    unsigned int argc, char **argv,
					    const u8 *secret,
					    unsigned int secret_len,
					    char *error, size_t error_len)
{
	const char *replica, *meta, *mode, *on_error;
	struct rep_filter *rf;
	u64 region, max_lag, need;
	unsigned int i;
	int r;

	if (secret_len) {
		scnprintf(error, error_len, "replicate takes no secret");
		return ERR_PTR(-EINVAL);
	}
	r = check_params(argc, argv, error, error_len);
	if (r)
		return ERR_PTR(r);
	replica = iofilter_param(argc, argv, "replica");
	meta = iofilter_param(argc, argv, "metadata");
	mode = iofilter_param(argc, argv, "mode");
	on_error = iofilter_param(argc, argv, "on_error");
	if (!replica || !*replica) {
		scnprintf(error, error_len, "replica=<block device> is required");
		return ERR_PTR(-EINVAL);
	}
	if (!meta || !*meta) {
		scnprintf(error, error_len, "metadata=<block device> is required");
		return ERR_PTR(-EINVAL);
	}
	if (mode && strcmp(mode, "sync") && strcmp(mode, "async")) {
		scnprintf(error, error_len, "mode must be sync or async, not '%s'",
			  mode);
		return ERR_PTR(-EINVAL);
	}
	if (on_error && strcmp(on_error, "degrade") && strcmp(on_error, "fail")) {
		scnprintf(error, error_len,
			  "on_error must be degrade or fail, not '%s'", on_error);
		return ERR_PTR(-EINVAL);
	}
	if (iofilter_param_size(argc, argv, "region_size", 65536, &region) ||
	    region < REP_BLOCK || region > (1ULL << 30) ||
	    !is_power_of_2(region)) {
		scnprintf(error, error_len,
			  "region_size must be a power of two from 4KiB to 1GiB");
		return ERR_PTR(-EINVAL);
	}
	if (iofilter_param_size(argc, argv, "max_lag", 8 << 20, &max_lag) ||
	    max_lag < PAGE_SIZE) {
		scnprintf(error, error_len, "max_lag must be a size of at least 4KiB");
		return ERR_PTR(-EINVAL);
	}
	if (iofilter_param(argc, argv, "max_lag") &&
	    (!mode || strcmp(mode, "async"))) {
		scnprintf(error, error_len, "max_lag applies to mode=async only");
		return ERR_PTR(-EINVAL);
	}

	rf = kzalloc(sizeof(*rf), GFP_KERNEL);
	if (!rf)
		return ERR_PTR(-ENOMEM);
	rf->fi.ops = &rep_ops;
	rf->async = mode && !strcmp(mode, "async");
	rf->fail_mode = on_error && !strcmp(on_error, "fail");
	rf->max_lag = max_lag;
	pool_init(rf);
	rf->vol = vol;
	rf->origin = iofilter_volume_origin(vol);
	rf->sectors = iofilter_volume_sectors(vol);
	rf->region_shift = ilog2(region) - SECTOR_SHIFT;
	rf->nr_regions = DIV_ROUND_UP_ULL(rf->sectors, 1ULL << rf->region_shift);
	spin_lock_init(&rf->lock);
	mutex_init(&rf->meta_lock);
	mutex_init(&rf->probe_lock);
	init_waitqueue_head(&rf->wait);
	INIT_LIST_HEAD(&rf->delayed);
	INIT_LIST_HEAD(&rf->commit_pbs);
	INIT_LIST_HEAD(&rf->commit_rios);
	INIT_LIST_HEAD(&rf->aqueue);
	INIT_LIST_HEAD(&rf->throttled);
	INIT_WORK(&rf->commit_work, commit_work);
	INIT_WORK(&rf->resync_work, resync_work);
	INIT_WORK(&rf->down_work, down_work);
	INIT_WORK(&rf->issue_work, issue_work);
	INIT_WORK(&rf->submit_work, submit_work);
	INIT_WORK(&rf->uf_work, uf_work);
	spin_lock_init(&rf->submit_lock);
	bio_list_init(&rf->submit);
	INIT_DELAYED_WORK(&rf->probe_work, probe_work);
	rf->itree = RB_ROOT_CACHED;

	r = -ENOMEM;
	rf->replica_path = kstrdup(replica, GFP_KERNEL);
	rf->meta_path = kstrdup(meta, GFP_KERNEL);
	if (!rf->replica_path || !rf->meta_path)
		goto nomem;
	if (!rf->nr_regions || rf->nr_regions > REP_MAX_REGIONS) {
		scnprintf(error, error_len,
			  "the volume needs %lu regions, more than %lu: use a larger region_size",
			  rf->nr_regions, REP_MAX_REGIONS);
		r = -EINVAL;
		goto bad;
	}
	rf->dirty = kvcalloc(BITS_TO_LONGS(rf->nr_regions), sizeof(long),
			     GFP_KERNEL);
	rf->unflushed[0] = kvcalloc(BITS_TO_LONGS(rf->nr_regions),
				    sizeof(long), GFP_KERNEL);
	rf->unflushed[1] = kvcalloc(BITS_TO_LONGS(rf->nr_regions),
				    sizeof(long), GFP_KERNEL);
	rf->copied = kvcalloc(BITS_TO_LONGS(rf->nr_regions), sizeof(long),
			      GFP_KERNEL);
	if (!rf->dirty || !rf->unflushed[0] || !rf->unflushed[1] || !rf->copied)
		goto nomem;

	r = open_dev(rf, "replica", replica, &rf->replica, error, error_len);
	if (r)
		goto bad;
	if (bdev_nr_sectors(rf->replica.bdev) < rf->sectors) {
		scnprintf(error, error_len,
			  "replica %s is smaller than the volume (%llu < %llu sectors)",
			  replica, (u64)bdev_nr_sectors(rf->replica.bdev),
			  (u64)rf->sectors);
		r = -ENOSPC;
		goto bad;
	}
	r = open_dev(rf, "metadata", meta, &rf->meta, error, error_len);
	if (r)
		goto bad;
	need = (1 + DIV_ROUND_UP(rf->nr_regions, REP_BITS_PER_BLOCK)) *
	       REP_BLOCK_SECTORS;
	if (bdev_nr_sectors(rf->meta.bdev) < need) {
		scnprintf(error, error_len,
			  "metadata %s is too small: %llu bytes needed",
			  meta, need << SECTOR_SHIFT);
		r = -ENOSPC;
		goto bad;
	}

	r = bioset_init(&rf->bs, BIO_POOL_SIZE, offsetof(struct rep_io, bio),
			BIOSET_NEED_BVECS);
	if (r)
		goto nomem;
	rf->wq = alloc_workqueue("iofilter-rep", WQ_MEM_RECLAIM, 0);
	if (!rf->wq)
		goto nomem;
	if (!rf->async) {
		rf->submit_wq = alloc_workqueue("iofilter-rep-submit",
						WQ_MEM_RECLAIM | WQ_UNBOUND |
						WQ_HIGHPRI, 0);
		if (!rf->submit_wq)
			goto nomem;
	}
	for (i = 0; i < REP_COPY_PAGES; i++) {
		rf->copy_pages[i] = alloc_page(GFP_KERNEL);
		if (!rf->copy_pages[i])
			goto nomem;
	}
	rf->bufio = dm_bufio_client_create(rf->meta.bdev, REP_BLOCK, 1, 0,
					   NULL, NULL, 0);
	if (IS_ERR(rf->bufio)) {
		r = PTR_ERR(rf->bufio);
		rf->bufio = NULL;
		scnprintf(error, error_len, "cannot create the dm-bufio client: error %d", r);
		goto bad;
	}
	r = meta_load(rf, vol, error, error_len);
	if (r) {
		/* nothing of ours on it: do not write a clean flag */
		dm_bufio_client_destroy(rf->bufio);
		rf->bufio = NULL;
		goto bad;
	}

	/*
	 * No background work yet: the core has not bound us, and the volume
	 * may be suspended or never resumed.  rep_resume() starts resync.
	 */
	rf->paused = true;
	rf->state = atomic_long_read(&rf->nr_dirty) ? REP_SYNCING : REP_IN_SYNC;
	if (rf->async)	/* async copies go out in one bio each */
		rf->fi.max_io_sectors = (BIO_MAX_VECS * PAGE_SIZE) >>
					SECTOR_SHIFT;
	return &rf->fi;

nomem:
	r = -ENOMEM;
	scnprintf(error, error_len, "out of memory");
bad:
	rep_teardown(rf);
	rep_free(rf);
	return ERR_PTR(r);
}

static struct iofilter_type rep_type = {
	.name = "replicate",
	.version = { 1, 0, 0 },
	.class = IOF_CLASS_REPLICATE,
	.flags = IOF_REPLICATE_TYPE_FLAGS,
	.owner = THIS_MODULE,
	.create = rep_create,
};

static int __init rep_init(void)
{
	return iofilter_register_type(&rep_type);
}

static void __exit rep_exit(void)
{
	iofilter_unregister_type(&rep_type);
}

module_init(rep_init);
module_exit(rep_exit);

MODULE_DESCRIPTION("iofilter replicate filter: sync/async replication with dirty-region resync");
MODULE_AUTHOR("The iofilter authors");
MODULE_LICENSE("GPL");
MODULE_ALIAS("iofilter-replicate");
