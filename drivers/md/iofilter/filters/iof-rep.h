/* SPDX-License-Identifier: GPL-2.0 */
/*
 * iofilter "replicate": what its files share.  Private to the module (the
 * filter API is include/linux/iofilter.h); the map of the files is at the
 * top of iof-replicate.c.
 */
#ifndef IOF_REP_H
#define IOF_REP_H

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/iofilter.h>
#include <linux/mutex.h>
#include <linux/rbtree.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

struct dm_bufio_client;

/* The metadata device's block: header in block 0, then the bitmap */
#define REP_BLOCK		4096
#define REP_BLOCK_SECTORS	(REP_BLOCK >> SECTOR_SHIFT)
#define REP_BITS_PER_BLOCK	(REP_BLOCK * 8)
#define REP_COPY_SECTORS	2048		/* resync: at most 1MiB per copy */
#define REP_COPY_PAGES		(REP_COPY_SECTORS >> PAGE_SECTORS_SHIFT)

enum rep_state {
	REP_IN_SYNC,
	REP_SYNCING,
	REP_DEGRADED,
	REP_FAILED,
};

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

/*
 * The core binds the instance (its type, volume and name) only after
 * create() returns: code that also runs inside create() or while it
 * unwinds (metadata load, teardown, the latch) logs with rep_log(), which
 * names the volume alone until then.  Elsewhere: iofilter_err() and co.
 */
static inline bool rep_bound(struct rep_filter *rf)
{
	return READ_ONCE(rf->fi.name);
}

#define rep_log(level, rf, fmt, ...)					\
do {									\
	if (rep_bound(rf))						\
		iofilter_log(level, &(rf)->fi, fmt, ##__VA_ARGS__);	\
	else								\
		printk_ratelimited(level "iofilter-replicate: %s: " fmt "\n", \
				   iofilter_volume_name((rf)->vol),	\
				   ##__VA_ARGS__);			\
} while (0)

/* Latch an error; before the core bound the instance, only log it */
static inline void rep_latch(struct rep_filter *rf, int err, const char *what)
{
	if (rep_bound(rf))
		iofilter_latch_error(&rf->fi, err, what);
	else
		rep_log(KERN_ERR, rf, "%s: error %d", what, err);
}

static inline void rep_wake(struct rep_filter *rf)
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

/* ---- the replica's users (iof-rep-replica.c has the rest) ---- */

static inline bool replica_usable(int state)
{
	return state == REP_IN_SYNC || state == REP_SYNCING;
}

/* Take a user of replica.bdev; false when the replica is down */
static inline bool replica_get(struct rep_filter *rf)
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

static inline void replica_put(struct rep_filter *rf)
{
	if (atomic_dec_and_test(&rf->replica_users))
		rep_wake(rf);
}

/* ---- epochs (iof-rep-io.c): a write's or a copy's count drops ---- */

static inline void epoch_put(struct rep_filter *rf, unsigned int idx)
{
	if (atomic_dec_and_test(&rf->epoch_count[idx]))
		rep_wake(rf);
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

/* iof-replicate.c: the module parameters */
extern unsigned int rep_resync_throttle;
extern unsigned int rep_sync_offload_bytes;

/* iof-rep-meta.c: the metadata device and the region bitmaps */
bool range_all_dirty(struct rep_filter *rf, sector_t s, u32 nr);
bool range_any_dirty(struct rep_filter *rf, sector_t s, u32 nr);
void set_dirty_mem(struct rep_filter *rf, sector_t s, u32 nr);
int meta_set_bits(struct rep_filter *rf, unsigned long first,
		  unsigned long last, bool set);
int meta_mark(struct rep_filter *rf, sector_t s, u32 nr);
int meta_set_clean(struct rep_filter *rf, bool clean);
int meta_open(struct rep_filter *rf, struct iofilter_volume *vol,
	      char *error, size_t error_len);
void uf_mark(struct rep_filter *rf, sector_t s, u32 nr);
bool uf_flush_start_locked(struct rep_filter *rf);
bool uf_flush_start(struct rep_filter *rf);
void uf_flush_end(struct rep_filter *rf, bool ok);
void uf_work(struct work_struct *w);
void uf_merge(struct rep_filter *rf);

/* iof-rep-replica.c: the replica failing, going down and coming back */
void replica_failed(struct rep_filter *rf, blk_status_t st);
void set_state(struct rep_filter *rf, int from, int to);
int replica_flush(struct rep_filter *rf);
void down_work(struct work_struct *w);
int try_replica(struct rep_filter *rf);
void probe_work(struct work_struct *w);

/* iof-rep-async.c: the async replica queue */
void pool_init(struct rep_filter *rf);
void pool_exit(struct rep_filter *rf);
void rio_free(struct rep_io *rio);
void rio_put(struct rep_io *rio);
void issue_work(struct work_struct *w);
int async_replicate(struct rep_filter *rf, struct rep_pb *pb,
		    struct bio *bio);

/* iof-rep-io.c: the I/O path */
void commit_work(struct work_struct *w);
void submit_work(struct work_struct *w);
int rep_map(struct iofilter_instance *fi, struct bio *bio, void *p,
	    blk_status_t *status);
int rep_end_io(struct iofilter_instance *fi, struct bio *bio, void *p,
	       blk_status_t *status);
void lock_range(struct rep_filter *rf, sector_t lo, sector_t hi);
void unlock_range(struct rep_filter *rf);

/* iof-rep-resync.c: resync */
int resync_commit(struct rep_filter *rf);
void resync_work(struct work_struct *w);

#endif /* IOF_REP_H */
