// SPDX-License-Identifier: GPL-2.0
/*
 * iofilter core: policy tables.
 *
 * A table is validated and built aside from the live one, then published
 * with rcu_assign_pointer().  Building flattens the rules' byte ranges into
 * a sorted array of disjoint segments, each with the (ordered) list of rules
 * whose range covers it, so that the hot path finds its candidates with one
 * binary search, whatever the number of rules.  A candidate list stops at
 * the first rule that matches every bio in its range: nothing after it can
 * ever win.
 */
#include <linux/bitmap.h>
#include <linux/log2.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/vmalloc.h>

#include "iof-core.h"

/* Bound on the flattened candidate lists (overlapping ranges multiply them) */
#define IOF_MAX_CANDS		(1U << 22)
/* The segment search index: at most 256 KiB; none up to 8 segments */
#define IOF_MAX_BKTS		(1U << 16)
#define IOF_SMALL_SEGS		8

static void iof_table_release(struct percpu_ref *ref);

/* Frees a table that was never published or has drained. May sleep. */
void iof_table_destroy(struct iof_ptable *t)
{
	unsigned int i, j;

	if (!t)
		return;
	if (t->rules) {
		for (i = 0; i <= t->nr_rules; i++) {
			struct iof_chain *c = &t->rules[i].chain;

			for (j = 0; j < c->n; j++)
				iof_inst_put(iof_fi_inst(c->fi[j]));
		}
	}
	kvfree(t->rules);
	kvfree(t->urules);
	kvfree(t->segs);
	kvfree(t->cands);
	if (t->bkt != t->bkt_one)
		kvfree(t->bkt);
	kvfree(t->flush_cands);
	kfree(t->flush_chains);
	iof_table_free_stats(t);
	percpu_ref_exit(&t->ref);
	kfree(t);
}

/*
 * iof_wq is WQ_MEM_RECLAIM: what runs there (instance destructors that
 * write back, say) may be what reclaim waits for, so nothing it allocates
 * may recurse into I/O.
 */
static void iof_table_free_work(struct work_struct *w)
{
	struct iof_ptable *t = container_of(w, struct iof_ptable, free_work);
	struct completion *drained = t->drained;
	unsigned int noio = memalloc_noio_save();

	iof_table_destroy(t);
	memalloc_noio_restore(noio);
	if (drained)
		complete(drained);
}

static void iof_table_release(struct percpu_ref *ref)
{
	struct iof_ptable *t = container_of(ref, struct iof_ptable, ref);

	/* atomic context: instance destructors may sleep */
	queue_work(iof_wq, &t->free_work);
}

static __printf(6, 7)
int rule_err(char *msg, size_t len, u32 *error_rule, u32 idx, int err,
	     const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	*error_rule = idx;
	if (idx != ~0U)
		n = scnprintf(msg, len, "rule %u: ", idx);
	else
		n = scnprintf(msg, len, "default rule: ");
	va_start(ap, fmt);
	vscnprintf(msg + n, len - n, fmt, ap);
	va_end(ap);
	return err;
}

static bool zeroed(const void *p, size_t len)
{
	return !memchr_inv(p, 0, len);
}

static int cmp_class(const void *a, const void *b)
{
	const struct iofilter_instance *x = *(struct iofilter_instance * const *)a;
	const struct iofilter_instance *y = *(struct iofilter_instance * const *)b;

	return (int)x->type->class - (int)y->type->class;
}

/* What the map path would otherwise work out per bio (iof-target.c) */
static void chain_set_flags(struct iof_chain *c)
{
	unsigned int i;

	c->nowait = true;
	for (i = 0; i < c->n; i++)
		if (!(c->fi[i]->type->flags & IOF_TYPE_NOWAIT))
			c->nowait = false;
	c->assoc_late = c->n == 1 &&
			c->fi[0]->type->class == IOF_CLASS_CACHE;
}

/* IOF_RQ_* as the REQ_* flags they name: the lookup tests bi_opf */
static blk_opf_t rq_to_opf(u32 rq)
{
	blk_opf_t f = 0;

	if (rq & IOF_RQ_SYNC)
		f |= REQ_SYNC;
	if (rq & IOF_RQ_FUA)
		f |= REQ_FUA;
	if (rq & IOF_RQ_PREFLUSH)
		f |= REQ_PREFLUSH;
	if (rq & IOF_RQ_META)
		f |= REQ_META;
	if (rq & IOF_RQ_READAHEAD)
		f |= REQ_RAHEAD;
	return f;
}

/* where the errors of one rule go: the ioctl's message, the rule's index */
struct rule_ctx {
	char *msg;
	size_t msglen;
	u32 *error_rule;
	u32 idx;		/* ~0U: the default action */
};

#define BAD(c, err, ...)						\
	rule_err((c)->msg, (c)->msglen, (c)->error_rule, (c)->idx, err,	\
		 __VA_ARGS__)

/* The match fields of a rule (not of the default action), into @k. */
static int convert_match(const struct iofilter_volume *vol,
			 const struct iof_rule *u, struct iof_krule *k,
			 const struct rule_ctx *c)
{
	size_t n;

	if (!memchr(u->name, 0, sizeof(u->name)))
		return BAD(c, -EINVAL, "name not NUL-terminated");
	n = strlen(u->name);
	if (!zeroed(u->name + n, sizeof(u->name) - n))
		return BAD(c, -EINVAL, "bytes after the name's NUL must be zero");
	if (!u->ops || (u->ops & ~IOF_OP_ALL))
		return BAD(c, -EINVAL, "ops 0x%x invalid", u->ops);
	if ((u->start | u->len) & (SECTOR_SIZE - 1))
		return BAD(c, -EINVAL, "range not 512-byte aligned");
	if (u->len && u->start + u->len < u->start)
		return BAD(c, -EINVAL, "range wraps");
	if (u->len && (u->start + u->len) >> SECTOR_SHIFT > vol->sectors)
		return BAD(c, -ERANGE, "range ends at byte %llu, beyond the end of the volume (%llu bytes)",
			   u->start + u->len, (u64)vol->sectors << SECTOR_SHIFT);
	if (!u->len && u->start)
		return BAD(c, -EINVAL, "range with a start needs a length");
	if (u->max_size && u->min_size > u->max_size)
		return BAD(c, -EINVAL, "min_size above max_size");
	if ((u->flags_set | u->flags_clear) & ~IOF_RQ_ALL)
		return BAD(c, -EINVAL, "unknown request flags");
	if (u->flags_set & u->flags_clear)
		return BAD(c, -EINVAL, "a flag is both required and excluded");
	if (u->ioprio_classes & ~IOF_PRIO_ALL)
		return BAD(c, -EINVAL, "unknown ioprio classes");
	k->has_range = u->len != 0;
	k->start = u->start >> SECTOR_SHIFT;
	k->end = (u->start + u->len) >> SECTOR_SHIFT;
	k->ops = u->ops;
	k->min_size = u->min_size;
	k->max_size = u->max_size;
	k->opf_set = rq_to_opf(u->flags_set);
	k->opf_clear = rq_to_opf(u->flags_clear);
	k->ioprio_classes = u->ioprio_classes;
	return 0;
}

/*
 * A filter action's chain: one instance reference per member (dropped by
 * iof_table_destroy, also when this fails half-way), in class order.
 */
static int convert_chain(struct iofilter_volume *vol, iof_find_fn find,
			 const struct iof_rule *u, struct iof_krule *k,
			 const struct rule_ctx *c)
{
	unsigned int i;

	if (!u->nr_chain || u->nr_chain > IOF_MAX_CHAIN)
		return BAD(c, -EINVAL, "chain length %u not in 1..%u", u->nr_chain,
			   IOF_MAX_CHAIN);
	for (i = u->nr_chain; i < IOF_MAX_CHAIN; i++)
		if (u->chain[i])
			return BAD(c, -EINVAL, "unused chain slots must be zero");
	for (i = 0; i < u->nr_chain; i++) {
		struct iofilter_instance *fi = find(vol, u->chain[i]);

		if (!fi)
			return BAD(c, -ENOENT, "no filter instance with id %u",
				   u->chain[i]);
		iof_inst_get(iof_fi_inst(fi));
		k->chain.fi[k->chain.n++] = fi;
		k->chain.io_boundary = min_not_zero(k->chain.io_boundary,
						    fi->io_boundary);
		k->chain.max_io_sectors = min_not_zero(k->chain.max_io_sectors,
						       fi->max_io_sectors);
	}
	sort(k->chain.fi, k->chain.n, sizeof(k->chain.fi[0]), cmp_class, NULL);
	chain_set_flags(&k->chain);
	for (i = 1; i < k->chain.n; i++)
		if (k->chain.fi[i]->type->class == k->chain.fi[i - 1]->type->class)
			return BAD(c, -EINVAL, "instances %s and %s are of the same class",
				   k->chain.fi[i - 1]->name, k->chain.fi[i]->name);
	return 0;
}

/*
 * A range-exclusive instance (crypt, cache) sees all I/O of its range, a
 * write-exclusive one (replicate) every write and flush: the rule that
 * carries it must match by range (and, write-exclusive, by op) alone.
 * check_exclusive() then looks at the rules before it.
 */
static int check_exclusive_rule(const struct iof_krule *k, bool is_default,
				const struct rule_ctx *c)
{
	unsigned int i;

	for (i = 0; i < k->chain.n; i++) {
		const struct iofilter_instance *fi = k->chain.fi[i];

		if (fi->type->flags & IOF_TYPE_RANGE_EXCLUSIVE) {
			if (is_default)
				return BAD(c, -EINVAL, "%s must see all I/O to its range: it cannot be the default action",
					   fi->name);
			if (!k->unconditional)
				return BAD(c, -EINVAL, "%s must see all I/O to its range: its rule may match by range only",
					   fi->name);
		} else if (fi->type->flags & IOF_TYPE_WRITE_EXCLUSIVE) {
			if (is_default)
				return BAD(c, -EINVAL, "%s must see every write and flush of its range: it cannot be the default action",
					   fi->name);
			if ((k->ops & IOF_OP_WRITES) != IOF_OP_WRITES ||
			    !k->by_op)
				return BAD(c, -EINVAL, "%s must see every write and flush of its range: its rule must list the write, discard, write_zeroes and flush ops and match by range only",
					   fi->name);
		}
	}
	return 0;
}

/* Each filter's own say on the rule's range (crypt: its sector size). */
static int check_ranges(const struct iofilter_volume *vol,
			const struct iof_krule *k, const struct rule_ctx *c)
{
	unsigned int i;

	for (i = 0; i < k->chain.n; i++) {
		struct iofilter_instance *fi = k->chain.fi[i];
		char why[128] = "";
		int r;

		if (!fi->ops->check_range)
			continue;
		r = fi->ops->check_range(fi, k->has_range ? k->start : 0,
					 k->has_range ? k->end - k->start :
					 vol->sectors, why, sizeof(why));
		if (r)
			return BAD(c, r, "%s refuses the range: %s", fi->name,
				   why);
	}
	return 0;
}

/*
 * Check one rule from userspace (@is_default: the table's default action,
 * whose match fields must be zero) and turn it into its kernel form.  Takes
 * an instance reference for each chain member (dropped by
 * iof_table_destroy).
 */
static int convert_rule(struct iofilter_volume *vol, iof_find_fn find,
			const struct iof_rule *u, struct iof_krule *k,
			bool is_default, u32 idx, u32 *error_rule, char *msg,
			size_t msglen)
{
	const struct rule_ctx c = {
		.msg = msg, .msglen = msglen, .error_rule = error_rule,
		.idx = is_default ? ~0U : idx,
	};
	int r;

	memset(k, 0, sizeof(*k));
	if (is_default) {
		if (u->start || u->len || u->ops || u->min_size ||
		    u->max_size || u->flags_set || u->flags_clear ||
		    u->ioprio_classes || !zeroed(u->name, sizeof(u->name)))
			return BAD(&c, -EINVAL, "match fields must be zero");
		k->ops = IOF_OP_ALL;
	} else {
		r = convert_match(vol, u, k, &c);
		if (r)
			return r;
	}
	k->by_op = !k->min_size && !k->max_size && !k->opf_set &&
		   !k->opf_clear && (!k->ioprio_classes ||
				     k->ioprio_classes == IOF_PRIO_ALL);
	k->unconditional = k->by_op && k->ops == IOF_OP_ALL;
	k->action = u->action;

	switch (u->action) {
	case IOF_ACTION_PASS:
	case IOF_ACTION_DENY:
		if (u->nr_chain || !zeroed(u->chain, sizeof(u->chain)))
			return BAD(&c, -EINVAL, "only a filter action takes a chain");
		return 0;
	case IOF_ACTION_FILTER:
		break;
	default:
		return BAD(&c, -EINVAL, "unknown action %u", u->action);
	}
	r = convert_chain(vol, find, u, k, &c);
	if (!r)
		r = check_exclusive_rule(k, is_default, &c);
	if (!r)
		r = check_ranges(vol, k, &c);
	return r;
}
#undef BAD

/*
 * The ops of its range that no earlier rule may take from an instance of
 * the rule's chain: every op for a range-exclusive one, the writes for a
 * write-exclusive one; 0 when the chain has neither.
 */
static u32 krule_exclusive(const struct iof_krule *k,
			   const struct iofilter_instance **who)
{
	u32 ops = 0;
	unsigned int j;

	for (j = 0; j < k->chain.n; j++) {
		u32 f = k->chain.fi[j]->type->flags, o = 0;

		if (f & IOF_TYPE_RANGE_EXCLUSIVE)
			o = IOF_OP_ALL;
		else if (f & IOF_TYPE_WRITE_EXCLUSIVE)
			o = IOF_OP_WRITES;
		if (o > ops) {
			ops = o;
			*who = k->chain.fi[j];
		}
	}
	return ops;
}

static bool overlaps(const struct iof_krule *a, const struct iof_krule *b)
{
	if (!a->has_range || !b->has_range)
		return true;
	return a->start < b->end && b->start < a->end;
}

/*
 * A range-exclusive instance (crypt, cache) must see every I/O of its
 * range, a write-exclusive one (replicate) every write, discard,
 * write-zeroes and flush of it: a cache that misses a write serves or
 * writes back stale data, a replica that misses one is silently wrong.
 * convert_rule() made their rules match by range alone; here no earlier
 * rule may take any part of the range (for a write-exclusive instance:
 * any write of it), and no earlier rule may deny the flushes they must
 * see (flushes have no range: the first rule listing the flush op that
 * matches one decides for the whole volume).
 */
static int check_exclusive(struct iof_ptable *t, u32 *error_rule, char *msg,
			   size_t msglen)
{
	const struct iofilter_instance *x = NULL;
	unsigned int i, j;

	for (i = 0; i < t->nr_rules; i++) {
		const struct iof_krule *k = &t->rules[i];
		u32 ops = krule_exclusive(k, &x);

		if (!ops)
			continue;
		for (j = 0; j < i; j++) {
			const struct iof_krule *p = &t->rules[j];

			if ((p->ops & IOF_OP_FLUSH) &&
			    p->action == IOF_ACTION_DENY)
				return rule_err(msg, msglen, error_rule, i,
						-EINVAL,
						"rule %u denies flushes before they reach %s, which must see every flush",
						j, x->name);
			if (ops == IOF_OP_ALL && overlaps(p, k))
				return rule_err(msg, msglen, error_rule, i,
						-EINVAL,
						"rule %u takes part of the range of range-exclusive filter %s first",
						j, x->name);
			if ((p->ops & ops & ~IOF_OP_FLUSH) && overlaps(p, k))
				return rule_err(msg, msglen, error_rule, i,
						-EINVAL,
						"rule %u takes writes of the range of write-exclusive filter %s first",
						j, x->name);
		}
	}
	return 0;
}

struct iof_span {
	sector_t start, end;
};

static int cmp_span(const void *a, const void *b)
{
	const struct iof_span *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return 0;
}

static bool chain_has(const struct iof_krule *k,
		      const struct iofilter_instance *fi)
{
	unsigned int j;

	for (j = 0; j < k->chain.n; j++)
		if (k->chain.fi[j] == fi)
			return true;
	return false;
}

/*
 * Does @t bind @fi to at least the range @old bound it to?  @spans has
 * room for t->nr_rules + 1 entries.
 */
static bool still_covers(const struct iof_ptable *t, const struct iof_ptable *old,
			 const struct iofilter_instance *fi,
			 struct iof_span *spans)
{
	unsigned int i, j, n = 0;
	sector_t all = old->vol->sectors;

	for (i = 0; i <= t->nr_rules; i++) {
		const struct iof_krule *k = &t->rules[i];

		if (k->action != IOF_ACTION_FILTER || !chain_has(k, fi))
			continue;
		spans[n].start = k->has_range ? k->start : 0;
		spans[n].end = k->has_range ? k->end : all;
		n++;
	}
	sort(spans, n, sizeof(*spans), cmp_span, NULL);
	/* merge touching spans */
	for (i = 1, j = 0; i < n; i++) {
		if (spans[i].start <= spans[j].end)
			spans[j].end = max(spans[j].end, spans[i].end);
		else
			spans[++j] = spans[i];
	}
	if (n)
		n = j + 1;
	for (i = 0; i <= old->nr_rules; i++) {
		const struct iof_krule *k = &old->rules[i];
		sector_t s, e;

		if (k->action != IOF_ACTION_FILTER || !chain_has(k, fi))
			continue;
		s = k->has_range ? k->start : 0;
		e = k->has_range ? k->end : all;
		for (j = 0; j < n; j++)
			if (spans[j].start <= s && e <= spans[j].end)
				break;
		if (j == n)
			return false;
	}
	return true;
}

/*
 * A range-exclusive instance that holds data not on the origin (a
 * write-back cache's dirty blocks) must not lose any part of its range:
 * reads there would get the origin's stale data, writes would go round it,
 * and its writeback would later put the older data over them.  (A
 * replicate instance's dirty data is on its way to the replica, not the
 * origin: unbinding it only leaves the replica behind.)
 * As dm-cache users do before they uncache, flush it first ("iofilterctl
 * flush"; apply does it for an instance it removes).  The instance is
 * asked while the old table is live, so a write mapped through it between
 * this check and the swap can still dirty it: the tool flushes first and
 * the window is a bio in flight wide.
 */
#define IOF_UNBIND_CHECKED (IOF_TYPE_RANGE_EXCLUSIVE | IOF_TYPE_HOLDS_DIRTY)

static int check_unbind(struct iof_ptable *t, const struct iof_ptable *old,
			u32 *error_rule, char *msg, size_t msglen)
{
	struct iof_span *spans;
	unsigned int i, j;
	int r = 0;

	spans = kvmalloc_array(t->nr_rules + 1, sizeof(*spans), GFP_KERNEL);
	if (!spans)
		return -ENOMEM;
	for (i = 0; i <= old->nr_rules && !r; i++) {
		const struct iof_krule *k = &old->rules[i];

		for (j = 0; j < k->chain.n && !r; j++) {
			struct iofilter_instance *fi = k->chain.fi[j];

			if ((fi->type->flags & IOF_UNBIND_CHECKED) !=
			    IOF_UNBIND_CHECKED || !fi->ops->is_dirty || !fi->ops->is_dirty(fi) ||
			    still_covers(t, old, fi, spans))
				continue;
			*error_rule = ~0U;
			scnprintf(msg, msglen,
				  "%s holds data not yet on the origin and this table takes part of its range from it: flush it first",
				  fi->name);
			r = -EBUSY;
		}
	}
	kvfree(spans);
	return r;
}

struct iof_edge {
	sector_t at;
	u32 rule;
};

static int cmp_edge(const void *a, const void *b)
{
	const struct iof_edge *x = a, *y = b;

	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	return 0;
}

/*
 * Flatten: the boundaries of all ranges cut the volume into segments; each
 * segment lists, in rule order, the rules covering it, up to the first
 * unconditional one.  Adjacent segments with equal lists are merged.  A
 * sweep over the sorted range starts and ends keeps the set of covering
 * rules in a bitmap, so building costs O(segments * rules / BITS_PER_LONG).
 * Two passes: the first only counts, to allocate once and to refuse a table
 * whose lists would be too large.
 */
static int sweep(struct iof_ptable *t, const struct iof_edge *starts,
		 const struct iof_edge *ends, unsigned int ne,
		 unsigned long *active, struct iof_seg *segs, u32 *cands,
		 unsigned int *nsegs_out, unsigned int *ncands_out)
{
	unsigned int n = t->nr_rules, is = 0, ie = 0, i, r;
	unsigned int nsegs = 0, ncands = 0;
	sector_t lo = 0;

	bitmap_zero(active, n);
	for (i = 0; i < n; i++)
		if (!t->rules[i].has_range)
			__set_bit(i, active);

	for (;;) {
		unsigned int first = ncands;

		while (ie < ne && ends[ie].at <= lo)
			__clear_bit(ends[ie++].rule, active);
		while (is < ne && starts[is].at <= lo)
			__set_bit(starts[is++].rule, active);

		for_each_set_bit(r, active, n) {
			if (ncands >= IOF_MAX_CANDS)
				return -E2BIG;
			if (cands)
				cands[ncands] = r;
			ncands++;
			if (t->rules[r].unconditional)
				break;
		}
		if (segs) {
			if (nsegs && segs[nsegs - 1].ncand == ncands - first &&
			    !memcmp(&cands[segs[nsegs - 1].cand], &cands[first],
				    (ncands - first) * sizeof(*cands))) {
				ncands = first;
			} else {
				segs[nsegs].start = lo;
				segs[nsegs].cand = first;
				segs[nsegs].ncand = ncands - first;
				nsegs++;
			}
		} else {
			nsegs++;
		}
		/* the next boundary */
		if (is < ne && ie < ne)
			lo = min(starts[is].at, ends[ie].at);
		else if (is < ne)
			lo = starts[is].at;
		else if (ie < ne)
			lo = ends[ie].at;
		else
			break;
	}
	*nsegs_out = nsegs;
	*ncands_out = ncands;
	return 0;
}

static int build_segments(struct iof_ptable *t)
{
	unsigned int n = t->nr_rules, ne = 0, i, nsegs, ncands;
	struct iof_edge *starts = NULL, *ends = NULL;
	unsigned long *active;
	int ret = -ENOMEM;

	active = bitmap_zalloc(max(n, 1U), GFP_KERNEL);
	starts = kvmalloc_array(max(n, 1U), sizeof(*starts), GFP_KERNEL);
	ends = kvmalloc_array(max(n, 1U), sizeof(*ends), GFP_KERNEL);
	if (!active || !starts || !ends)
		goto out;
	for (i = 0; i < n; i++) {
		if (!t->rules[i].has_range)
			continue;
		starts[ne].at = t->rules[i].start;
		starts[ne].rule = i;
		ends[ne].at = t->rules[i].end;
		ends[ne].rule = i;
		ne++;
	}
	sort(starts, ne, sizeof(*starts), cmp_edge, NULL);
	sort(ends, ne, sizeof(*ends), cmp_edge, NULL);

	ret = sweep(t, starts, ends, ne, active, NULL, NULL, &nsegs, &ncands);
	if (ret)
		goto out;
	ret = -ENOMEM;
	t->segs = kvmalloc_array(nsegs, sizeof(*t->segs), GFP_KERNEL);
	t->cands = kvmalloc_array(max(ncands, 1U), sizeof(*t->cands),
				  GFP_KERNEL);
	if (!t->segs || !t->cands)
		goto out;
	ret = sweep(t, starts, ends, ne, active, t->segs, t->cands,
		    &t->nr_segs, &t->nr_cands);
out:
	kvfree(starts);
	kvfree(ends);
	bitmap_free(active);
	return ret;
}

/*
 * The search index over the segments: about one bucket of 2^bkt_shift
 * sectors per segment (at most IOF_MAX_BKTS), so that a lookup's binary
 * search runs over the few segments of one bucket whatever the number of
 * rules.  A small table gets a single bucket, without an allocation: a
 * policy swap builds a table, and its search is short anyway.
 */
static int build_buckets(struct iof_ptable *t)
{
	sector_t last = max_t(sector_t, READ_ONCE(t->vol->sectors), 1) - 1;
	unsigned int want = 1, shift = 0, b, seg = 0;

	if (t->nr_segs > IOF_SMALL_SEGS)
		want = min_t(unsigned int, roundup_pow_of_two(t->nr_segs),
			     IOF_MAX_BKTS);
	while (last >> shift >= want)
		shift++;
	t->bkt_shift = shift;
	t->nr_bkts = (last >> shift) + 1;
	t->bkt = t->bkt_one;
	if (t->nr_bkts > 1) {
		t->bkt = kvmalloc_array(t->nr_bkts + 1, sizeof(*t->bkt),
					GFP_KERNEL);
		if (!t->bkt)
			return -ENOMEM;
	}
	for (b = 0; b < t->nr_bkts; b++) {
		sector_t at = (sector_t)b << shift;

		while (seg + 1 < t->nr_segs && t->segs[seg + 1].start <= at)
			seg++;
		t->bkt[b] = seg;
	}
	t->bkt[t->nr_bkts] = t->nr_segs - 1;
	return 0;
}

/*
 * Flushes: candidate rules, and the instances each flush fans out to.
 * The instances are collected on the stack when the flush rules' chains
 * have few slots (a policy swap builds a table: no 2 KiB array to clear).
 */
static int build_flush(struct iof_ptable *t)
{
	struct iofilter_instance *few[16], **seen = few;
	unsigned int i, j, k, nseen = 0, slots = 0;
	int ret = 0;

	t->flush_cands = kvmalloc_array(t->nr_rules + 1, sizeof(u32),
					GFP_KERNEL);
	if (!t->flush_cands)
		return -ENOMEM;
	for (i = 0; i <= t->nr_rules; i++)
		if ((t->rules[i].ops & IOF_OP_FLUSH) &&
		    t->rules[i].action == IOF_ACTION_FILTER)
			slots += t->rules[i].chain.n;
	if (slots > ARRAY_SIZE(few)) {
		seen = kmalloc_array(IOF_MAX_INSTANCES, sizeof(*seen),
				     GFP_KERNEL);
		if (!seen)
			return -ENOMEM;
	}
	for (i = 0; i <= t->nr_rules; i++) {
		const struct iof_krule *r = &t->rules[i];

		if (!(r->ops & IOF_OP_FLUSH))
			continue;
		if (i < t->nr_rules)
			t->flush_cands[t->nr_flush_cands++] = i;
		if (r->action != IOF_ACTION_FILTER)
			continue;
		for (j = 0; j < r->chain.n; j++) {
			for (k = 0; k < nseen; k++)
				if (seen[k] == r->chain.fi[j])
					break;
			if (k == nseen && nseen < IOF_MAX_INSTANCES)
				seen[nseen++] = r->chain.fi[j];
		}
	}
	if (nseen) {
		t->flush_chains = kcalloc(nseen, sizeof(*t->flush_chains),
					  GFP_KERNEL);
		if (!t->flush_chains) {
			ret = -ENOMEM;
			goto out;
		}
	}
	for (k = 0; k < nseen; k++) {
		t->flush_chains[k].n = 1;
		t->flush_chains[k].fi[0] = seen[k];
		chain_set_flags(&t->flush_chains[k]);
	}
	t->nr_flush_fi = nseen;
out:
	if (seen != few)
		kfree(seen);
	return ret;
}

/*
 * Build a table for @vol from rules as userspace gave them.  @find turns
 * a chain's instance id into the instance (the volume owns the instances
 * and passes its lookup); the table takes a reference on each instance it
 * chains.  Publishing is the volume's (iof_volume_load_table()).
 */
struct iof_ptable *iof_table_build(struct iofilter_volume *vol,
				  const struct iof_ptable *old,
				  iof_find_fn find,
				  const struct iof_rule *urules,
				  unsigned int nr_rules,
				  const struct iof_rule *dflt,
				  u32 *error_rule, char *msg, size_t msglen)
{
	struct iof_ptable *t;
	unsigned int i;
	int r;

	*error_rule = ~0U;
	t = kzalloc(sizeof(*t), GFP_KERNEL);
	if (!t)
		return ERR_PTR(-ENOMEM);
	t->vol = vol;
	t->generation = old ? old->generation + 1 : 1;
	INIT_WORK(&t->free_work, iof_table_free_work);
	r = percpu_ref_init(&t->ref, iof_table_release, 0, GFP_KERNEL);
	if (r) {
		kfree(t);
		return ERR_PTR(r);
	}

	r = -ENOMEM;
	t->rules = kvcalloc(nr_rules + 1, sizeof(*t->rules), GFP_KERNEL);
	if (!t->rules)
		goto bad;
	/*
	 * From here destroy walks all nr_rules + 1 entries: those not yet
	 * converted are zero and hold no instance reference.
	 */
	t->nr_rules = nr_rules;
	if (nr_rules) {
		t->urules = kvmalloc_array(nr_rules, sizeof(*urules),
					   GFP_KERNEL);
		if (!t->urules)
			goto bad;
		memcpy(t->urules, urules, nr_rules * sizeof(*urules));
	}
	t->udflt = *dflt;
	for (i = 0; i < nr_rules; i++) {
		r = convert_rule(vol, find, &urules[i], &t->rules[i], false,
				 i, error_rule, msg, msglen);
		if (r)
			goto bad;
	}
	/* the default goes last, at index nr_rules */
	r = convert_rule(vol, find, dflt, &t->rules[nr_rules], true, ~0U,
			 error_rule, msg, msglen);
	if (r)
		goto bad;
	t->trivial = !nr_rules && t->rules[nr_rules].action == IOF_ACTION_PASS;

	r = check_exclusive(t, error_rule, msg, msglen);
	if (r)
		goto bad;
	if (old) {
		r = check_unbind(t, old, error_rule, msg, msglen);
		if (r)
			goto bad;
	}
	r = build_segments(t);
	if (r == -E2BIG)
		scnprintf(msg, msglen, "overlapping ranges make the table too large");
	if (r)
		goto bad;
	r = build_buckets(t);
	if (r)
		goto bad;
	r = build_flush(t);
	if (r)
		goto bad;
	r = iof_table_alloc_stats(t);
	if (r)
		goto bad;
	return t;

bad:
	if (!msg[0])
		scnprintf(msg, msglen, "cannot build table: error %d", r);
	iof_table_destroy(t);
	return ERR_PTR(r);
}

/* Does a rule of @t (the default included) chain @fi? */
bool iof_table_binds(const struct iof_ptable *t,
		     const struct iofilter_instance *fi)
{
	unsigned int i, j;

	for (i = 0; i <= t->nr_rules; i++)
		for (j = 0; j < t->rules[i].chain.n; j++)
			if (t->rules[i].chain.fi[j] == fi)
				return true;
	return false;
}
