// SPDX-License-Identifier: GPL-2.0
/*
 * iofilter core: the device-mapper target and the per-bio path (its
 * control hooks, status, messages, suspend and resume: iof-target-ctl.c).
 *
 *   iofilter <origin_dev> <volume_name>
 *
 * Every bio is classified against the volume's policy table (first match
 * wins).  A bio no rule sends to a filter is remapped to the origin exactly
 * as dm-linear does: no allocation, no lock, no shared cache line written;
 * one store to its per-bio data and percpu counters.  A bio that crosses a
 * rule boundary, or the io_boundary or max_io_sectors of the chain it goes
 * to, is cut there with dm_accept_partial_bio(); dm sends the rest back
 * through map.  A REQ_NOWAIT bio is never cut: it gets BLK_STS_AGAIN.  A
 * bio bound to a chain holds a reference on the table it was classified
 * with until it completes, so a table swap never changes the rules under an
 * in-flight bio.
 */
#include <linux/module.h>
#include <linux/slab.h>

#include "iof-core.h"

/*
 * Every bio a chain runs through (a dm clone bound to a chain, a flush
 * clone, a piece of a read from below) points to its struct iof_io with
 * ->bi_private; io->flags says which kind it is.  A dm clone that goes
 * straight to the origin has none: map leaves ->bi_private NULL.  The
 * core owns ->bi_private of all of them: dm does not use its clones'
 * (bio_alloc_clone() clears it), filters are handed the bio, not its
 * ownership, and the devices below do not touch it.
 */
static inline struct iof_io *bio_io(struct bio *bio)
{
	return bio->bi_private;
}

static inline void *io_pb(struct iof_io *io, struct iofilter_instance *fi)
{
	return io->pb[fi->type->class];
}

/* The one initialisation of a bio's iof_io: it runs @c from @base on */
static void io_init(struct iof_io *io, struct bio *bio,
		    const struct iof_chain *c, struct iof_ptable *t,
		    unsigned int rule, unsigned int opi, u8 flags, u8 base)
{
	io->chain = c;
	io->table = t;
	io->parent = NULL;
	io->rule = rule;
	io->pos = base;
	io->base = base;
	io->flags = flags;
	io->opi = opi;
	bio->bi_private = io;
}

static inline unsigned int bio_opi(struct bio *bio)
{
	switch (bio_op(bio)) {
	case REQ_OP_READ:
		return IOF_OPI_READ;
	case REQ_OP_WRITE:
		if (unlikely(!bio->bi_iter.bi_size))
			return IOF_OPI_FLUSH;
		return IOF_OPI_WRITE;
	case REQ_OP_DISCARD:
	case REQ_OP_SECURE_ERASE:
		return IOF_OPI_DISCARD;
	case REQ_OP_WRITE_ZEROES:
		return IOF_OPI_WRITE_ZEROES;
	default:
		return IOF_OPI_NONE;
	}
}

static inline void count_vol(struct iof_vstats __percpu *st, unsigned int opi,
			     unsigned int bytes)
{
	this_cpu_inc(st->ios[opi]);
	this_cpu_add(st->bytes[opi], bytes);
}

/* ---- chains ---- */

/*
 * May @c's bio be associated only where it leaves (map_chain())?  Only a
 * chain of one cache-class instance: a hit goes to the cache device with
 * bio_set_dev(), which associates it there, so associating it with the
 * origin first would be paid twice on every hit.  The cache clones a bio
 * only in map (the submitter's context) and retries with bio_set_dev();
 * what it defers is continued by chain_to_origin_async().  Every other
 * chain is associated before it runs, as bio_set_dev() did: its filters
 * may clone the bio from a worker (replicate's sync leg after a deferral),
 * and a clone takes its cgroup from the bio, or else from the worker.
 */
static inline bool chain_assoc_late(const struct iof_chain *c)
{
	return c->assoc_late;	/* chain_set_flags() in iof-table.c */
}

/*
 * A dm clone's chain ended after a deferral: on to its device.  A bio of a
 * late chain (chain_assoc_late()) has no association yet: it gets one here,
 * from a worker, so with the worker's cgroup, which dm_submit_bio_remap()
 * replaces by the original bio's on 6.1 and 6.12; any other bio is
 * associated again with its own.
 */
static void chain_to_origin_async(struct bio *bio)
{
	bio_associate_blkg(bio);
	dm_submit_bio_remap(bio, NULL);
}

/* The bio reached the end of its chain: on to the origin. */
static void chain_done_async(struct iof_io *io, struct bio *bio)
{
	if (io->flags & IOF_IO_FLUSH_CLONE)
		bio_endio(bio);		/* the parent flush goes to the origin */
	else if (io->flags & IOF_IO_BELOW)
		submit_bio_noacct(bio);	/* not a dm clone */
	else
		chain_to_origin_async(bio);
}

/*
 * Run the filters' map from io->pos on.  Returns true when the bio reached
 * the end of the chain; false when a filter kept or completed it.  Inline:
 * a call, its frame and return were measurable on a cache hit (P5 in
 * Documentation/benchmarking.rst).
 */
static __always_inline bool run_chain(struct iof_io *io, struct bio *bio)
{
	const struct iof_chain *c = io->chain;

	while (io->pos < c->n) {
		struct iofilter_instance *fi = c->fi[io->pos];
		blk_status_t st = BLK_STS_OK;
		int r;

		io->pos++;
		r = fi->ops->map(fi, bio, io_pb(io, fi), &st);
		switch (r) {
		case IOF_MAP_CONTINUE:
			continue;
		case IOF_MAP_SUBMITTED:
			return false;
		case IOF_MAP_COMPLETE:
			/* its own end_io is not called */
			io->pos--;
			bio->bi_status = st;
			bio_endio(bio);
			return false;
		default:
			DMERR_LIMIT("%s/%s: map returned %d", fi->vol->name,
				    fi->name, r);
			io->pos--;
			bio->bi_status = BLK_STS_IOERR;
			bio_endio(bio);
			return false;
		}
	}
	return true;
}

void iofilter_continue(struct bio *bio)
{
	struct iof_io *io = bio_io(bio);

	might_sleep();
	bio->bi_opf &= ~REQ_NOWAIT;
	if (run_chain(io, bio))
		chain_done_async(io, bio);
}
EXPORT_SYMBOL_GPL(iofilter_continue);

void iofilter_complete(struct bio *bio, blk_status_t status)
{
	struct iof_io *io = bio_io(bio);

	/* the filter that kept the bio does not see its end_io */
	io->pos--;
	bio->bi_status = status;
	bio_endio(bio);
}
EXPORT_SYMBOL_GPL(iofilter_complete);

/*
 * Run the filters' end_io in reverse order from io->pos down to where the
 * chain started.  Returns
 * DM_ENDIO_INCOMPLETE when a filter keeps the bio for more work.  Inline,
 * as run_chain().
 */
static __always_inline int run_endio(struct iof_io *io, struct bio *bio, blk_status_t *st)
{
	const struct iof_chain *c = io->chain;

	while (io->pos > io->base) {
		struct iofilter_instance *fi = c->fi[--io->pos];

		if (!fi->ops->end_io)
			continue;
		if (fi->ops->end_io(fi, bio, io_pb(io, fi), st) ==
		    IOF_ENDIO_INCOMPLETE)
			return DM_ENDIO_INCOMPLETE;
	}
	return DM_ENDIO_DONE;
}

void iofilter_endio_continue(struct bio *bio, blk_status_t status)
{
	/* back through bio_endio: dm's completion calls our end_io again */
	bio->bi_status = status;
	bio_endio(bio);
}
EXPORT_SYMBOL_GPL(iofilter_endio_continue);

/* ---- flushes ---- */

/* A flush clone completes: its instance's end_io, then the parent. */
static void iof_flush_endio(struct bio *bio)
{
	struct iof_io *io = bio_io(bio);
	struct bio *parent = io->parent;
	blk_status_t st = bio->bi_status;

	if (run_endio(io, bio, &st) == DM_ENDIO_INCOMPLETE)
		return;
	if (st) {
		cmpxchg(&parent->bi_status, BLK_STS_OK, st);
		this_cpu_inc(io->table->vol->stats->errors);
	}
	percpu_ref_put(&io->table->ref);
	bio_put(bio);
	bio_endio(parent);
}

/*
 * An empty flush is a barrier for the whole volume: the origin gets it and
 * so does every instance bound to a rule that includes the flush op, each
 * through a clone of its own.  The parent completes when all have.  The
 * caller holds a reference on @t; each clone takes its own.  May sleep
 * (GFP_NOIO from a bio_set: never fails).
 */
static void flush_fan_out(struct iofilter_volume *vol, struct iof_ptable *t,
			  struct bio *bio)
{
	unsigned int i;

	for (i = 0; i < t->nr_flush_fi; i++) {
		struct bio *clone;
		struct iof_io *io;

		clone = bio_alloc_clone(bio->bi_bdev, bio, GFP_NOIO,
					&vol->flush_bs);
		clone->bi_end_io = iof_flush_endio;
		io = &container_of(clone, struct iof_flush_io, bio)->io;
		io_init(io, clone, &t->flush_chains[i], t, t->nr_rules,
			IOF_OPI_FLUSH, IOF_IO_FLUSH_CLONE, 0);
		io->parent = bio;
		percpu_ref_get(&t->ref);
		bio_inc_remaining(bio);
		if (run_chain(io, clone))
			bio_endio(clone);
	}
}

/* ---- the target ---- */

static int iof_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct iof_target *t;
	int r;

	if (argc != 2) {
		ti->error = "Invalid argument count: <origin_dev> <volume_name>";
		return -EINVAL;
	}
	if (!iof_name_valid(argv[1])) {
		ti->error = "Invalid volume name";
		return -EINVAL;
	}
	if (ti->begin) {
		ti->error = "An iofilter target must start at sector 0";
		return -EINVAL;
	}

	t = kzalloc(sizeof(*t), GFP_KERNEL);
	if (!t) {
		ti->error = "Cannot allocate target context";
		return -ENOMEM;
	}
	INIT_LIST_HEAD(&t->list);
	t->ti = ti;

	r = dm_get_device(ti, argv[0], dm_table_get_mode(ti->table), &t->dev);
	if (r) {
		ti->error = "Origin device lookup failed";
		goto bad_dev;
	}
	if (ti->len > bdev_nr_sectors(t->dev->bdev)) {
		ti->error = "Origin device is smaller than the target";
		r = -EINVAL;
		goto bad_vol;
	}

	r = iof_volume_attach_target(argv[1], t, &ti->error);
	if (r)
		goto bad_vol;

	ti->private = t;
	ti->per_io_data_size = IOF_PER_IO_SIZE;
	ti->num_flush_bios = 1;
	ti->num_discard_bios = 1;
	ti->num_secure_erase_bios = 1;
	ti->num_write_zeroes_bios = 1;
	ti->accounts_remapped_io = true;
	return 0;

bad_vol:
	dm_put_device(ti, t->dev);
bad_dev:
	kfree(t);
	return r;
}

static void iof_dtr(struct dm_target *ti)
{
	struct iof_target *t = ti->private;

	iof_volume_detach_target(t->vol, t);
	dm_put_device(ti, t->dev);
	kfree(t);
}

/*
 * Where to cut @bio (sectors to accept; 0: not at all) for the limits of
 * the chain it goes to, given the table's @cut for a rule boundary.
 */
static __always_inline unsigned int chain_cut(const struct iof_chain *c,
					      struct bio *bio,
					      unsigned int cut)
{
	unsigned int n = cut ? cut : bio_sectors(bio);

	if (c->io_boundary && n) {
		unsigned int left = c->io_boundary -
			(bio->bi_iter.bi_sector & (c->io_boundary - 1));

		n = min(n, left);
	}
	if (c->max_io_sectors && bio_has_data(bio))
		n = min(n, c->max_io_sectors);
	return n < bio_sectors(bio) ? n : cut;
}

/*
 * ---- the map path ----
 *
 * iof_map() is three steps, as crypt_map() and flakey_map() are:
 * classify (the live table's rule for the bio, and where to cut it),
 * admit (may it go on in this context), dispatch (remap, fail, run the
 * chain, fan a flush out).  The first two run in one RCU read section
 * that ends in one place; dispatch runs after it, with a reference on the
 * table when it needs one, since a chain or a flush fan-out may sleep.
 */

/* What classification found; ->t and ->k only valid under RCU or a ref */
struct iof_route {
	struct iof_ptable *t;
	const struct iof_krule *k;
	unsigned int rule;
	unsigned int opi;
};

enum iof_verdict {
	IOF_V_PASS,		/* to the origin, as dm-linear does */
	IOF_V_FAN_OUT,		/* an empty flush: origin and flush instances */
	IOF_V_CHAIN,		/* through the rule's chain, then the origin */
	IOF_V_DENY,		/* failed with an I/O error */
	IOF_V_AGAIN,		/* REQ_NOWAIT and it would block */
};

/*
 * Classify: the rule of table @t for @bio.  Returns the sectors to accept
 * (the bio is cut there: the rule's range ends, or its chain's
 * io_boundary or max_io_sectors), 0 to take it whole.  Under RCU.
 */
static unsigned int map_classify(struct iof_ptable *t, struct bio *bio,
				 struct iof_route *rt)
{
	unsigned int cut;

	rt->t = t;
	cut = iof_table_lookup(t, bio, rt->opi, &rt->rule);
	rt->k = &t->rules[rt->rule];
	if (rt->k->action == IOF_ACTION_FILTER)
		cut = chain_cut(&rt->k->chain, bio, cut);
	return cut;
}

/* May every instance of @c run in the submitter's REQ_NOWAIT context? */
static inline bool chain_nowait(const struct iof_chain *c)
{
	return c->nowait;	/* chain_set_flags() in iof-table.c */
}

/*
 * Admit: may @bio, classified as @rt, go on in this context?  REQ_NOWAIT
 * is the only reason it may not.  io_uring retries a bio ended with
 * BLK_STS_AGAIN from a worker that may block, so a REQ_NOWAIT bio is
 * refused that would be cut (the rest would come back outside the
 * submitter: see iofilter_instance.io_boundary), fanned out (the clones
 * are allocated) or chained to an instance that may block.  Only
 * classified I/O pays this.  There is no suspended state to test: dm
 * holds bios back while the device is suspended.
 */
static bool map_admit(const struct iof_route *rt, struct bio *bio,
		      unsigned int cut)
{
	if (likely(!(bio->bi_opf & REQ_NOWAIT)))
		return true;
	if (cut)
		return false;
	if (rt->opi == IOF_OPI_FLUSH && rt->t->nr_flush_fi)
		return false;
	return rt->k->action != IOF_ACTION_FILTER ||
	       chain_nowait(&rt->k->chain);
}

static void map_deny_log(struct iofilter_volume *vol, struct bio *bio,
			 const struct iof_route *rt)
{
	bool dflt = rt->rule == rt->t->nr_rules;

	DMWARN_LIMIT("%s: denied %s of %u bytes at byte %llu (%s %u)",
		     vol->name, blk_op_str(bio_op(bio)), bio->bi_iter.bi_size,
		     (u64)bio->bi_iter.bi_sector << SECTOR_SHIFT,
		     dflt ? "default" : "rule", dflt ? 0 : rt->rule);
}

/*
 * Classify and admit @bio against the live table; cut and count it.
 * Under RCU (sched: see iof_map()).
 */
static enum iof_verdict map_route(struct iofilter_volume *vol,
				  struct bio *bio, struct iof_route *rt)
{
	struct iof_ptable *t = rcu_dereference_sched(vol->table);
	struct iof_vstats __percpu *st = vol->stats;
	unsigned int cut, bytes;

	cut = map_classify(t, bio, rt);
	if (!map_admit(rt, bio, cut))
		return IOF_V_AGAIN;
	if (cut) {
		dm_accept_partial_bio(bio, cut);
		this_cpu_inc(st->splits);
	}
	bytes = bio->bi_iter.bi_size;
	count_vol(st, rt->opi, bytes);
	iof_table_count(t, rt->rule, rt->opi, bytes);

	switch (rt->k->action) {
	case IOF_ACTION_DENY:
		this_cpu_inc(st->denied);
		map_deny_log(vol, bio, rt);
		return IOF_V_DENY;
	case IOF_ACTION_FILTER:
		this_cpu_inc(st->filtered);
		break;
	default:
		this_cpu_inc(st->passed);
		break;
	}
	/* a flush goes to the origin and to every instance that takes one */
	if (unlikely(rt->opi == IOF_OPI_FLUSH) && t->nr_flush_fi)
		return IOF_V_FAN_OUT;
	return rt->k->action == IOF_ACTION_FILTER ? IOF_V_CHAIN : IOF_V_PASS;
}

/*
 * Dispatch through the rule's chain.  The bio holds the caller's table
 * reference until iof_end_io().
 */
static int map_chain(struct bio *bio, const struct iof_route *rt,
		     struct block_device *origin)
{
	struct iof_io *io = dm_per_bio_data(bio, IOF_PER_IO_SIZE);
	bool late = chain_assoc_late(&rt->k->chain);

	if (!late)
		bio_associate_blkg(bio);
	io_init(io, bio, &rt->k->chain, rt->t, rt->rule, rt->opi, 0, 0);
	if (!run_chain(io, bio))
		return DM_MAPIO_SUBMITTED;
	/* still on the origin: see chain_assoc_late() */
	if (late && bio->bi_bdev == origin)
		bio_associate_blkg(bio);
	return DM_MAPIO_REMAPPED;
}

/*
 * The bio goes to the origin unclassified: the live table is empty (the
 * volume's passthrough flag, kept by volume_publish() in iof-volume.c), or its op is
 * one no rule can name.  No table dereference, no RCU section.
 */
static inline int map_pass(struct iofilter_volume *vol, struct bio *bio,
			   unsigned int opi)
{
	struct iof_vstats __percpu *st = vol->stats;

	if (likely(opi != IOF_OPI_NONE))
		count_vol(st, opi, bio->bi_iter.bi_size);
	this_cpu_inc(st->passed);
	return DM_MAPIO_REMAPPED;
}

/*
 * The read section is rcu_read_lock_sched(), i.e. preemption off: since
 * the RCU flavours were consolidated (4.20) a grace period waits for such
 * a section as for rcu_read_lock(), which on a preemptible kernel is two
 * calls out of line on every bio.  Tables are published with
 * rcu_assign_pointer() and retired by percpu_ref_kill(), whose switch to
 * atomic mode waits for a grace period before the base reference goes.
 * Nothing in the section sleeps.
 */
static int iof_map(struct dm_target *ti, struct bio *bio)
{
	struct iof_target *tgt = ti->private;
	struct iofilter_volume *vol = tgt->vol;
	struct iof_route rt = { .opi = bio_opi(bio) };
	enum iof_verdict v;

	bio->bi_private = NULL;		/* no chain: see bio_io() */
	bio_set_dev_unassociated(bio, tgt->dev->bdev);
	bio->bi_iter.bi_sector = dm_target_offset(ti, bio->bi_iter.bi_sector);
	if (likely(READ_ONCE(vol->passthrough)) ||
	    unlikely(rt.opi == IOF_OPI_NONE)) {
		bio_associate_blkg(bio);
		return map_pass(vol, bio, rt.opi);
	}

	rcu_read_lock_sched();
	v = map_route(vol, bio, &rt);
	if (v == IOF_V_CHAIN || v == IOF_V_FAN_OUT)
		percpu_ref_get(&rt.t->ref);
	rcu_read_unlock_sched();

	switch (v) {
	case IOF_V_PASS:
		bio_associate_blkg(bio);
		return DM_MAPIO_REMAPPED;
	case IOF_V_FAN_OUT:
		bio_associate_blkg(bio);
		flush_fan_out(vol, rt.t, bio);
		percpu_ref_put(&rt.t->ref);
		return DM_MAPIO_REMAPPED;
	case IOF_V_CHAIN:
		return map_chain(bio, &rt, tgt->dev->bdev);
	case IOF_V_DENY:
		return DM_MAPIO_KILL;
	case IOF_V_AGAIN:
		break;
	}
	bio_wouldblock_error(bio);
	return DM_MAPIO_SUBMITTED;
}

/* Out of line: iof_end_io() stays a leaf for the bios that had no chain */
static noinline int end_io_chain(struct iofilter_volume *vol,
				 struct iof_io *io, struct bio *bio,
				 blk_status_t *error)
{
	if (run_endio(io, bio, error) == DM_ENDIO_INCOMPLETE)
		return DM_ENDIO_INCOMPLETE;
	if (unlikely(*error))
		this_cpu_inc(vol->stats->errors);
	bio->bi_private = NULL;
	percpu_ref_put(&io->table->ref);
	return DM_ENDIO_DONE;
}

static int iof_end_io(struct dm_target *ti, struct bio *bio,
		      blk_status_t *error)
{
	struct iof_target *tgt = ti->private;
	struct iof_io *io = bio_io(bio);

	if (unlikely(io))
		return end_io_chain(tgt->vol, io, bio, error);
	if (unlikely(*error) && *error != BLK_STS_AGAIN)
		this_cpu_inc(tgt->vol->stats->errors);
	return DM_ENDIO_DONE;
}

/* ---- reads from below an instance ---- */

struct iof_below {
	atomic_t pending;		/* pieces, and one for the submitter */
	blk_status_t status;		/* the first error */
	struct completion done;
};

static void iof_below_endio(struct bio *bio)
{
	struct iof_io *io = bio_io(bio);
	struct iof_below *b = io->below;
	blk_status_t st = bio->bi_status;

	if (run_endio(io, bio, &st) == DM_ENDIO_INCOMPLETE)
		return;
	if (st)
		cmpxchg(&b->status, BLK_STS_OK, st);
	bio_put(bio);
	if (atomic_dec_and_test(&b->pending))
		complete(&b->done);
}

/* Where in @c the instances below the class of @fi begin */
static unsigned int chain_below(const struct iof_chain *c,
				const struct iofilter_instance *fi)
{
	unsigned int i;

	for (i = 0; i < c->n; i++)
		if (c->fi[i]->type->class > fi->type->class)
			break;
	return i;
}

static const struct iof_chain iof_no_chain;

/**
 * iofilter_read_below() - read a range as the instances below @fi see it
 * @fi: the instance asking; only instances of a later class are used
 * @sector: first volume sector
 * @nr_sectors: how many; @pages hold them (at most BIO_MAX_VECS pages)
 * @pages: the buffer, page by page
 *
 * The rules of the current table route the read as they route a user's
 * read of the range, split at rule boundaries and at the chains' I/O
 * limits; each piece runs the part of its chain after @fi's class (a
 * write-back cache below a replicate instance gives its dirty blocks,
 * the origin would give stale data) and then goes to the origin.  Rules
 * that pass or deny a read send the piece straight to the origin.  The
 * bios carry REQ_BACKGROUND: a cache serves them but does not promote for
 * them.  For a filter's background copies (resync): process context, may
 * sleep, never from inside a bio submission.
 * Returns 0, -ENODEV once the volume is being torn down (no table),
 * -EAGAIN while an instance of a later class holds data the origin lacks
 * and no rule of the live table chains it (try again later), or a
 * negative errno.
 */
int iofilter_read_below(struct iofilter_instance *fi, sector_t sector,
			unsigned int nr_sectors, struct page **pages)
{
	struct iofilter_volume *vol = fi->vol;
	unsigned int bytes = nr_sectors << SECTOR_SHIFT, rule, cut;
	struct iof_ptable *t;
	struct iof_below b;
	struct bio *bio;
	int r;

	might_sleep();
	if (WARN_ON_ONCE(!vol))	/* not bound yet: called from create() */
		return -ENODEV;
	if (!nr_sectors || nr_sectors > (BIO_MAX_VECS << PAGE_SECTORS_SHIFT) ||
	    sector >= READ_ONCE(vol->sectors) ||
	    nr_sectors > READ_ONCE(vol->sectors) - sector)
		return -EINVAL;

	if (WARN_ON_ONCE(current->bio_list))	/* its pieces would wait on us */
		return -EDEADLK;

	/* none once the volume is going away (its last target's dtr) */
	rcu_read_lock();
	t = rcu_dereference(vol->table);
	if (t)
		percpu_ref_get(&t->ref);
	rcu_read_unlock();
	if (!t)
		return -ENODEV;
	/*
	 * A write-back cache below us holding dirty blocks (reloaded after a
	 * crash, say) that no rule of the live table chains yet: iofilterctl
	 * apply creates the instances, then loads the rules, and in between
	 * the table would send this read to the stale origin.  Wait for it.
	 */
	r = iof_volume_dirty_unrouted(vol, t, fi);
	if (r) {
		percpu_ref_put(&t->ref);
		return r < 0 ? r : -EAGAIN;
	}

	bio = bio_alloc_bioset(vol->origin, DIV_ROUND_UP(bytes, PAGE_SIZE),
			       REQ_OP_READ | REQ_BACKGROUND, GFP_NOIO,
			       &vol->below_bs);
	iofilter_bio_add_pages(bio, pages, bytes);
	bio->bi_iter.bi_sector = sector;
	/* ours: the split pieces share its bvecs and are put at their end */
	bio_get(bio);
	atomic_set(&b.pending, 1);
	b.status = BLK_STS_OK;
	init_completion(&b.done);

	do {
		const struct iof_chain *c = &iof_no_chain;
		const struct iof_krule *k;
		struct bio *piece = bio;
		struct iof_io *io;

		cut = iof_table_lookup(t, bio, IOF_OPI_READ, &rule);
		k = &t->rules[rule];
		if (k->action == IOF_ACTION_FILTER) {
			c = &k->chain;
			cut = chain_cut(c, bio, cut);
		}
		if (cut)	/* from a bio_set with GFP_NOIO: cannot fail */
			piece = bio_split(bio, cut, GFP_NOIO, &vol->below_bs);
		piece->bi_end_io = iof_below_endio;
		io = &container_of(piece, struct iof_flush_io, bio)->io;
		io_init(io, piece, c, t, rule, IOF_OPI_READ, IOF_IO_BELOW,
			chain_below(c, fi));
		io->below = &b;
		atomic_inc(&b.pending);
		if (run_chain(io, piece))
			submit_bio_noacct(piece);
	} while (cut);

	if (!atomic_dec_and_test(&b.pending))
		wait_for_completion_io(&b.done);
	percpu_ref_put(&t->ref);
	bio_put(bio);
	return blk_status_to_errno(b.status);
}
EXPORT_SYMBOL_GPL(iofilter_read_below);

static struct target_type iof_target = {
	.name = IOFILTER_TARGET_NAME,
	.version = { IOFILTER_VERSION_MAJOR, IOFILTER_VERSION_MINOR,
		     IOFILTER_VERSION_PATCH },
	.features = DM_TARGET_NOWAIT,
	.module = THIS_MODULE,
	.ctr = iof_ctr,
	.dtr = iof_dtr,
	.map = iof_map,
	.end_io = iof_end_io,
	.status = iof_status,
	.message = iof_message,
	.iterate_devices = iof_iterate_devices,
	.io_hints = iof_io_hints,
	.presuspend = iof_presuspend,
	.presuspend_undo = iof_resume,	/* a suspend given up: go on */
	.postsuspend = iof_postsuspend,
	.preresume = iof_preresume,
	.resume = iof_resume,
};

int iof_target_init(void)
{
	int r;

	BUILD_BUG_ON(sizeof(struct iof_rule) != 96);
	BUILD_BUG_ON(sizeof(struct iof_ptable) == 0);
	r = dm_register_target(&iof_target);
	if (r)
		DMERR("register failed %d", r);
	return r;
}

void iof_target_exit(void)
{
	dm_unregister_target(&iof_target);
}
