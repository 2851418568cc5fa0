/* SPDX-License-Identifier: GPL-2.0 */
/*
 * iofilter "cache": the admission and eviction policy, behind a small ops
 * table (as dm-cache's policies behind dm-cache-policy.h).  The I/O path
 * and the worker ask; the policy keeps its own state (the built-in clock's
 * is declared below only for an inline hit), indexed by cache
 * block (0 .. nr_blocks - 1) and origin block.  A second policy is a new
 * file with its ops in cc_policies[] (iof-cache-policy.c) and a choice in
 * the cache's `policy` parameter (include/shared/iofilter-builtin.h), in
 * the same place in both lists: the I/O code does not change.
 */
#ifndef IOF_CACHE_POLICY_H
#define IOF_CACHE_POLICY_H

#include <linux/atomic.h>
#include <linux/compiler.h>
#include <linux/container_of.h>
#include <linux/indirect_call_wrapper.h>
#include <linux/types.h>

struct cc_policy;

struct cc_policy_ops {
	const char *name;
	/* create: may sleep; ERR_PTR on failure */
	struct cc_policy *(*create)(u64 nr_blocks, unsigned int promote_hits);
	void (*destroy)(struct cc_policy *p);
	/*
	 * The I/O path, any context, no lock held, must not sleep; races
	 * between CPUs may lose an update, never corrupt state.
	 *   admit: a read missed @oblock: promote it?
	 *   hit:   a read hit cache block @index
	 */
	bool (*admit)(struct cc_policy *p, u64 oblock);
	void (*hit)(struct cc_policy *p, u64 index);
	/* cache block @index was just allocated (bucket lock held) */
	void (*insert)(struct cc_policy *p, u64 index);
	/*
	 * Eviction, from the cache's worker only (one at a time):
	 *   next:       the next cache block to consider
	 *   referenced: used recently, keep it (the policy ages it)
	 */
	u64 (*next)(struct cc_policy *p);
	bool (*referenced)(struct cc_policy *p, u64 index);
	/* once a second, from the worker: age whatever ages by time */
	void (*tick)(struct cc_policy *p);
};

struct cc_policy {
	const struct cc_policy_ops *ops;
};

/*
 * The default, "clock".  Its state is here rather than private to
 * iof-cache-policy.c for one reason: a read hit's only policy work is to
 * raise one byte, and when an instance's policy is the clock
 * cc_policy_hit() does that inline instead of an indirect call into
 * another object file (the hit path's budget is a few hundred
 * instructions over dm-linear: Documentation/benchmarking.rst, P5).
 * Nothing else outside iof-cache-policy.c reads it.
 */
#define CC_CLOCK_REF_MAX	3

struct cc_clock {
	struct cc_policy p;	/* first: container_of */
	u8 *ref;		/* per cache block, 0..CC_CLOCK_REF_MAX */
	u8 *dk;			/* admission: recent misses, hashed */
	unsigned int promote_hits;
	u64 nr_blocks;
	u64 hand;
	atomic_t misses;	/* since the last halving */
};

extern const struct cc_policy_ops cc_clock_ops;

/* The clock's miss, for INDIRECT_CALL_1 */
bool cc_clock_admit(struct cc_policy *p, u64 oblock);

/* The clock's hit; a lost update under a race is harmless */
static inline void cc_clock_ref_hit(struct cc_clock *cp, u64 index)
{
	u8 *r = &cp->ref[index];
	u8 v = READ_ONCE(*r);

	if (v < CC_CLOCK_REF_MAX)
		WRITE_ONCE(*r, v + 1);
}

/*
 * The policy chosen by the `policy` parameter: @index among its choices
 * (iofilter_params_parse(); 0, the default, is "clock"), or NULL
 */
const struct cc_policy_ops *cc_policy_get(unsigned int index);

static inline bool cc_policy_admit(struct cc_policy *p, u64 oblock)
{
	return INDIRECT_CALL_1(p->ops->admit, cc_clock_admit, p, oblock);
}

static inline void cc_policy_hit(struct cc_policy *p, u64 index)
{
	if (likely(p->ops == &cc_clock_ops))
		cc_clock_ref_hit(container_of(p, struct cc_clock, p), index);
	else
		p->ops->hit(p, index);
}

#endif /* IOF_CACHE_POLICY_H */
