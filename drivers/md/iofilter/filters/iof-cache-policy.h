/* SPDX-License-Identifier: GPL-2.0 */
/*
 * iofilter "cache": the admission and eviction policy, behind a small ops
 * table (as dm-cache's policies behind dm-cache-policy.h).  The I/O path
 * and the worker ask; the policy keeps its own state, indexed by cache
 * block (0 .. nr_blocks - 1) and origin block.  A second policy is a new
 * file with its ops in cc_policies[] (iof-cache-policy.c) and a choice in
 * the cache's `policy` parameter (include/shared/iofilter-builtin.h), in
 * the same place in both lists: the I/O code does not change.
 */
#ifndef IOF_CACHE_POLICY_H
#define IOF_CACHE_POLICY_H

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

/* The default, "clock"; its hot-path functions for INDIRECT_CALL_1 */
bool cc_clock_admit(struct cc_policy *p, u64 oblock);
void cc_clock_hit(struct cc_policy *p, u64 index);

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
	INDIRECT_CALL_1(p->ops->hit, cc_clock_hit, p, index);
}

#endif /* IOF_CACHE_POLICY_H */
