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
 *              region_size= lag_bytes= max_lag= errors= resynced_bytes=
 *              replica=open|closed
 *
 * Module parameters (below): resync_throttle, sync_offload_bytes.
 *
 * The files, from the bottom up: each calls only the ones listed before
 * it (iof-rep.h holds the structs and the few inline helpers all of them
 * share):
 *   iof-rep-meta.c     the metadata device (header, dirty bitmap, clean
 *                      flag) and the unflushed bitmap
 *   iof-rep-replica.c  the replica's state: failure, down, probe, flush
 *   iof-rep-async.c    the async replica queue (mode=async)
 *   iof-rep-io.c       map and end_io: the sync leg, dirty bits committed
 *                      before an ack, epochs against the resync copier
 *   iof-rep-resync.c   resync and the initial sync
 *   iof-replicate.c    this file: create and destroy, status, messages,
 *                      suspend and resume, the type and the module
 */
#include <linux/dm-bufio.h>
#include <linux/iofilter.h>
#define IOF_BUILTIN_REPLICATE
#include <shared/iofilter-builtin.h>
#include <linux/log2.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "iof-rep.h"

#define REP_MAX_REGIONS		(1UL << 28)

unsigned int rep_resync_throttle = 100;
module_param_named(resync_throttle, rep_resync_throttle, uint, 0644);
MODULE_PARM_DESC(resync_throttle,
	"Percentage of time the resync copier may be busy (default 100)");

/* sync mode: see submit_leg() */
unsigned int rep_sync_offload_bytes = 64 << 10;
module_param_named(sync_offload_bytes, rep_sync_offload_bytes, uint, 0644);
MODULE_PARM_DESC(sync_offload_bytes,
	"sync mode: a replica write of at least this many bytes is submitted by a worker, not by the writer (default 64KiB; 0: never)");

static const char * const state_names[] = {
	"in-sync", "syncing", "degraded", "failed",
};

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
			rep_log(KERN_ERR, rf,
				"metadata %s: cannot record a clean shutdown",
				rf->meta_path);
		} else if (rf->vol && iofilter_volume_failed(rf->vol) >
			   (READ_ONCE(rf->fi.error) ? 1 : 0)) {
			/*
			 * An instance below us failed (a write-back cache
			 * that could not be flushed): the volume below may
			 * not hold what the replica has.  Not clean, so the
			 * next instance resyncs every region from below.
			 */
			rep_log(KERN_WARNING, rf,
				"an instance of the volume failed: the next start resyncs every region");
		} else if (meta_set_clean(rf, true)) {
			rep_log(KERN_ERR, rf,
				"metadata %s: cannot record a clean shutdown",
				rf->meta_path);
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

/* The choices' indices, in the order of iof_replicate_params' lists */
enum { REP_MODE_SYNC, REP_MODE_ASYNC };
enum { REP_ON_ERROR_DEGRADE, REP_ON_ERROR_FAIL };

#define REP_MAX_LAG_DEFAULT	(8 << 20)

/* The table's parameters, checked before anything is allocated */
struct rep_args {
	const char *replica, *meta;
	unsigned int mode, on_error;
	u64 region, max_lag;		/* max_lag: 0 when not given */
};

static const struct iofilter_param_field rep_fields[] = {
	IOFILTER_PARAM_STR(struct rep_args, replica, "replica", "block device"),
	IOFILTER_PARAM_STR(struct rep_args, meta, "metadata", "block device"),
	IOFILTER_PARAM_CHOICE(struct rep_args, mode, "mode", REP_MODE_SYNC),
	IOFILTER_PARAM_CHOICE(struct rep_args, on_error, "on_error",
			      REP_ON_ERROR_DEGRADE),
	IOFILTER_PARAM_U64(struct rep_args, region, "region_size", 65536),
	/* the table's minimum refuses 0: it stands for "not given" */
	IOFILTER_PARAM_U64(struct rep_args, max_lag, "max_lag", 0),
};

static const struct iofilter_param_spec rep_param_spec =
	IOFILTER_PARAM_SPEC(iof_replicate_params, rep_fields);

/* What the table cannot say: the page size, max_lag against mode */
static int rep_parse(unsigned int argc, char **argv, struct rep_args *a,
		     char *error, size_t error_len)
{
	int r;

	r = iofilter_params_parse(&rep_param_spec, argc, argv, a, error,
				  error_len);
	if (r)
		return r;
	if (a->max_lag && a->max_lag < PAGE_SIZE) {
		scnprintf(error, error_len, "max_lag must be a size of at least 4KiB");
		return -EINVAL;
	}
	if (a->max_lag && a->mode != REP_MODE_ASYNC) {
		scnprintf(error, error_len, "max_lag applies to mode=async only");
		return -EINVAL;
	}
	if (!a->max_lag)
		a->max_lag = REP_MAX_LAG_DEFAULT;
	return 0;
}

/* The instance with its locks, lists and works: nothing here can fail */
static struct rep_filter *rep_alloc(struct iofilter_volume *vol,
				    const struct rep_args *a)
{
	struct rep_filter *rf;

	rf = kzalloc(sizeof(*rf), GFP_KERNEL);
	if (!rf)
		return NULL;
	rf->fi.ops = &rep_ops;
	rf->async = a->mode == REP_MODE_ASYNC;
	rf->fail_mode = a->on_error == REP_ON_ERROR_FAIL;
	rf->max_lag = a->max_lag;
	pool_init(rf);
	rf->vol = vol;
	rf->origin = iofilter_volume_origin(vol);
	rf->sectors = iofilter_volume_sectors(vol);
	rf->region_shift = ilog2(a->region) - SECTOR_SHIFT;
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
	return rf;
}

/* The four region bitmaps; -ENOMEM */
static int rep_alloc_bitmaps(struct rep_filter *rf)
{
	rf->dirty = kvcalloc(BITS_TO_LONGS(rf->nr_regions), sizeof(long),
			     GFP_KERNEL);
	rf->unflushed[0] = kvcalloc(BITS_TO_LONGS(rf->nr_regions),
				    sizeof(long), GFP_KERNEL);
	rf->unflushed[1] = kvcalloc(BITS_TO_LONGS(rf->nr_regions),
				    sizeof(long), GFP_KERNEL);
	rf->copied = kvcalloc(BITS_TO_LONGS(rf->nr_regions), sizeof(long),
			      GFP_KERNEL);
	if (!rf->dirty || !rf->unflushed[0] || !rf->unflushed[1] || !rf->copied)
		return -ENOMEM;
	return 0;
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

/* The replica and the metadata device, each large enough */
static int rep_open_devs(struct rep_filter *rf, const struct rep_args *a,
			 char *error, size_t error_len)
{
	u64 need;
	int r;

	r = open_dev(rf, "replica", a->replica, &rf->replica, error, error_len);
	if (r)
		return r;
	if (bdev_nr_sectors(rf->replica.bdev) < rf->sectors) {
		scnprintf(error, error_len,
			  "replica %s is smaller than the volume (%llu < %llu sectors)",
			  a->replica, (u64)bdev_nr_sectors(rf->replica.bdev),
			  (u64)rf->sectors);
		return -ENOSPC;
	}
	r = open_dev(rf, "metadata", a->meta, &rf->meta, error, error_len);
	if (r)
		return r;
	need = (1 + DIV_ROUND_UP(rf->nr_regions, REP_BITS_PER_BLOCK)) *
	       REP_BLOCK_SECTORS;
	if (bdev_nr_sectors(rf->meta.bdev) < need) {
		scnprintf(error, error_len,
			  "metadata %s is too small: %llu bytes needed",
			  a->meta, need << SECTOR_SHIFT);
		return -ENOSPC;
	}
	return 0;
}

/* The bio set, the workqueues and the resync copy buffer; -ENOMEM */
static int rep_alloc_io(struct rep_filter *rf)
{
	unsigned int i;

	if (bioset_init(&rf->bs, BIO_POOL_SIZE, offsetof(struct rep_io, bio),
			BIOSET_NEED_BVECS))
		return -ENOMEM;
	rf->wq = alloc_workqueue("iofilter-rep", WQ_MEM_RECLAIM, 0);
	if (!rf->wq)
		return -ENOMEM;
	if (!rf->async) {
		rf->submit_wq = alloc_workqueue("iofilter-rep-submit",
						WQ_MEM_RECLAIM | WQ_UNBOUND |
						WQ_HIGHPRI, 0);
		if (!rf->submit_wq)
			return -ENOMEM;
	}
	for (i = 0; i < REP_COPY_PAGES; i++) {
		rf->copy_pages[i] = alloc_page(GFP_KERNEL);
		if (!rf->copy_pages[i])
			return -ENOMEM;
	}
	return 0;
}

/*
 * On any failure after rep_alloc(), rep_teardown() and rep_free() undo
 * what was built: both take a half-built instance.
 */
static struct iofilter_instance *rep_create(struct iofilter_volume *vol,
					    unsigned int argc, char **argv,
					    const u8 *secret,
					    unsigned int secret_len,
					    char *error, size_t error_len)
{
	struct rep_filter *rf;
	struct rep_args a;
	int r;

	if (secret_len) {
		scnprintf(error, error_len, "replicate takes no secret");
		return ERR_PTR(-EINVAL);
	}
	r = rep_parse(argc, argv, &a, error, error_len);
	if (r)
		return ERR_PTR(r);
	rf = rep_alloc(vol, &a);
	if (!rf)
		return ERR_PTR(-ENOMEM);

	rf->replica_path = kstrdup(a.replica, GFP_KERNEL);
	rf->meta_path = kstrdup(a.meta, GFP_KERNEL);
	if (!rf->replica_path || !rf->meta_path)
		goto nomem;
	if (!rf->nr_regions || rf->nr_regions > REP_MAX_REGIONS) {
		scnprintf(error, error_len,
			  "the volume needs %lu regions, more than %lu: use a larger region_size",
			  rf->nr_regions, REP_MAX_REGIONS);
		r = -EINVAL;
		goto bad;
	}
	if (rep_alloc_bitmaps(rf))
		goto nomem;
	r = rep_open_devs(rf, &a, error, error_len);
	if (r)
		goto bad;
	if (rep_alloc_io(rf))
		goto nomem;
	r = meta_open(rf, vol, error, error_len);
	if (r)
		goto bad;

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

module_iofilter(rep_type);

MODULE_DESCRIPTION("iofilter replicate filter: sync/async replication with dirty-region resync");
MODULE_AUTHOR("The iofilter authors");
MODULE_LICENSE("GPL");
MODULE_ALIAS("iofilter-replicate");
