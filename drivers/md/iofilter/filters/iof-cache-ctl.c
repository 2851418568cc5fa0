// SPDX-License-Identifier: GPL-2.0
/*
 * iofilter "cache": control (flush, messages, status, suspend and resume),
 * parameters, creation and teardown, and the type's registration.  The
 * filter's design: iof-cache.c; parameters: the comment there and
 * Documentation/admin-guide.rst.
 */
#include <linux/log2.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#define IOF_BUILTIN_CACHE
#include <shared/iofilter-builtin.h>
#include "iof-cache.h"


static const char * const mode_names[] = {
	[CC_WT] = "writethrough",
	[CC_WA] = "writearound",
	[CC_WB] = "writeback",
};

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
		iofilter_err(&cc->fi, "flush: %llu dirty blocks not written back",
			     left);
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
		iofilter_err(fi, "final commit failed; the cache starts cold next time");
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

/*
 * The parameters (iof_cache_params: names, choices, bounds).  mode's
 * choices are in enum cc_mode's order, policy's in cc_policies[]'s.
 */
struct cache_params {
	const char *cache_dev;
	u64 block_size;
	unsigned int mode;
	u64 seq_threshold;
	u64 low_watermark, high_watermark;
	u64 promote_hits;
	unsigned int policy;
	u64 format;
};

#define CP_U64(_m, _def) \
	IOFILTER_PARAM_U64(struct cache_params, _m, #_m, _def)
static const struct iofilter_param_field cache_fields[] = {
	IOFILTER_PARAM_STR(struct cache_params, cache_dev, "cache_dev",
			   "block device"),
	CP_U64(block_size, 64 << 10),
	IOFILTER_PARAM_CHOICE(struct cache_params, mode, "mode", CC_WT),
	CP_U64(seq_threshold, 0),
	CP_U64(low_watermark, 10),
	CP_U64(high_watermark, 50),
	CP_U64(promote_hits, 2),
	IOFILTER_PARAM_CHOICE(struct cache_params, policy, "policy", 0),
	CP_U64(format, 0),
};
#undef CP_U64

static const struct iofilter_param_spec cache_param_spec =
	IOFILTER_PARAM_SPEC(iof_cache_params, cache_fields);

/* Into @cc; what the table cannot say: the path's length, lo <= hi */
static int parse_params(struct cc *cc, unsigned int argc, char **argv,
			bool *fmt, const struct cc_policy_ops **policy,
			char *error, size_t error_len)
{
	struct cache_params p;
	int r;

	r = iofilter_params_parse(&cache_param_spec, argc, argv, &p, error,
				  error_len);
	if (r)
		return r;
	if (strscpy(cc->cache_path, p.cache_dev, sizeof(cc->cache_path)) < 0) {
		scnprintf(error, error_len, "cache_dev path too long");
		return -EINVAL;
	}
	cc->block_sectors = p.block_size >> SECTOR_SHIFT;
	cc->block_shift = ilog2(cc->block_sectors);
	cc->mode = p.mode;
	cc->seq_threshold = p.seq_threshold;
	if (p.low_watermark > p.high_watermark) {
		scnprintf(error, error_len,
			  "watermarks are percentages with low_watermark <= high_watermark <= 100");
		return -EINVAL;
	}
	cc->low_wm = p.low_watermark;
	cc->high_wm = p.high_watermark;
	cc->promote_hits = p.promote_hits;
	*policy = cc_policy_get(p.policy);
	if (!*policy) {
		scnprintf(error, error_len, "policy must be clock");
		return -EINVAL;
	}
	*fmt = p.format;
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

/* A cache instance's state, its lists and work items set up, nothing open. */
static struct cc *cc_alloc(struct iofilter_volume *vol)
{
	struct cc *cc = kzalloc(sizeof(*cc), GFP_KERNEL);

	if (!cc)
		return NULL;
	cc->fi.ops = &cache_ops;
	cc->vol = vol;
	cc->origin = iofilter_volume_origin(vol);
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
	return cc;
}

/* Open cache_dev= (not the origin), and size the origin in cache blocks. */
static int cc_open_cache_dev(struct cc *cc, char *error, size_t error_len)
{
	dev_t dev;
	int r;

	r = lookup_bdev(cc->cache_path, &dev);
	if (r) {
		scnprintf(error, error_len,
			  "cache_dev %s: not a block device (error %d)",
			  cc->cache_path, r);
		return r;
	}
	if (dev == cc->origin->bd_dev) {
		scnprintf(error, error_len,
			  "cache_dev %s is the volume's origin", cc->cache_path);
		return -EINVAL;
	}
	r = iofilter_bdev_open(cc->cache_path, true, cc, &cc->cbdev);
	if (r) {
		scnprintf(error, error_len, "cannot open cache_dev %s: %s",
			  cc->cache_path, r == -EBUSY ? "device is in use" :
			  "open failed");
		return r;
	}
	cc->cache = cc->cbdev.bdev;
	cc->origin_sectors = bdev_nr_sectors(cc->origin);
	cc->origin_blocks = cc->origin_sectors >> cc->block_shift;
	return 0;
}

/* Counters, the clone bio_set, the worker and the dm-kcopyd client. */
static int cc_alloc_workers(struct cc *cc)
{
	cc->stats = alloc_percpu(struct cc_stats);
	if (!cc->stats)
		return -ENOMEM;
	if (bioset_init(&cc->bs, BIO_POOL_SIZE, 0, 0))
		return -ENOMEM;
	cc->wq = alloc_ordered_workqueue("iofilter-cache", WQ_MEM_RECLAIM);
	if (!cc->wq)
		return -ENOMEM;
	cc->kc = dm_kcopyd_client_create(NULL);
	if (IS_ERR(cc->kc)) {
		int r = PTR_ERR(cc->kc);

		cc->kc = NULL;
		return r;
	}
	return 0;
}

static struct iofilter_instance *cache_create(struct iofilter_volume *vol,
					      unsigned int argc, char **argv,
					      const u8 *secret,
					      unsigned int secret_len,
					      char *error, size_t error_len)
{
	const struct cc_policy_ops *policy;
	struct cc *cc;
	bool fmt = false;
	int r;

	if (secret_len) {
		scnprintf(error, error_len, "cache takes no secret");
		return ERR_PTR(-EINVAL);
	}
	cc = cc_alloc(vol);
	if (!cc)
		return ERR_PTR(-ENOMEM);
	r = parse_params(cc, argc, argv, &fmt, &policy, error, error_len);
	if (r)
		goto bad;
	r = cc_open_cache_dev(cc, error, error_len);
	if (r)
		goto bad;
	r = cc_alloc_workers(cc);
	if (r)
		goto nomem;
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
