// SPDX-License-Identifier: GPL-2.0
/*
 * iofilter "cache": the "clock" policy (see iof-cache-policy.h).
 *
 * Admission: a block is promoted on its promote_hits-th recent read miss,
 * counted in 64K hashed one-byte counters that halve every 64K misses
 * (ageing by misses, not time).  A one-time scan therefore does not push
 * the hot set out.
 * Eviction: CLOCK with a two-bit frequency per cache block: a hit raises
 * it (to 3), the hand lowers it; a block whose frequency is 0 when the
 * hand passes is a victim (if the cache may drop it: clean, unused).
 */
#include <linux/atomic.h>
#include <linux/err.h>
#include <linux/hash.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "iof-cache-policy.h"

#define CLOCK_DK_BITS	16	/* admission counters: 64 KiB */

/* struct cc_clock is in iof-cache-policy.h: see there why */
static inline struct cc_clock *to_clock(struct cc_policy *p)
{
	return container_of(p, struct cc_clock, p);
}

bool cc_clock_admit(struct cc_policy *p, u64 oblock)
{
	struct cc_clock *cp = to_clock(p);
	u8 *c = &cp->dk[hash_64(oblock, CLOCK_DK_BITS)];
	unsigned int n = READ_ONCE(*c) + 1;

	atomic_inc(&cp->misses);
	if (n >= cp->promote_hits) {
		WRITE_ONCE(*c, 0);
		return true;
	}
	WRITE_ONCE(*c, min(n, 255U));
	return false;
}

/* Through the ops table; cc_policy_hit() inlines it for the clock */
static void clock_hit(struct cc_policy *p, u64 index)
{
	cc_clock_ref_hit(to_clock(p), index);
}

static void clock_insert(struct cc_policy *p, u64 index)
{
	WRITE_ONCE(to_clock(p)->ref[index], 0);
}

static u64 clock_next(struct cc_policy *p)
{
	struct cc_clock *cp = to_clock(p);
	u64 i = cp->hand;

	if (++cp->hand >= cp->nr_blocks)
		cp->hand = 0;
	return i;
}

static bool clock_referenced(struct cc_policy *p, u64 index)
{
	u8 *r = &to_clock(p)->ref[index];
	u8 v = READ_ONCE(*r);

	if (!v)
		return false;
	WRITE_ONCE(*r, v - 1);
	return true;
}

static void clock_tick(struct cc_policy *p)
{
	struct cc_clock *cp = to_clock(p);
	unsigned int i;

	if (atomic_read(&cp->misses) < (1 << CLOCK_DK_BITS))
		return;
	atomic_set(&cp->misses, 0);
	for (i = 0; i < (1U << CLOCK_DK_BITS); i++)
		WRITE_ONCE(cp->dk[i], READ_ONCE(cp->dk[i]) >> 1);
}

static void clock_destroy(struct cc_policy *p)
{
	struct cc_clock *cp = to_clock(p);

	kvfree(cp->ref);
	kvfree(cp->dk);
	kfree(cp);
}

static struct cc_policy *clock_create(u64 nr_blocks, unsigned int promote_hits);

const struct cc_policy_ops cc_clock_ops = {
	.name = "clock",
	.create = clock_create,
	.destroy = clock_destroy,
	.admit = cc_clock_admit,
	.hit = clock_hit,
	.insert = clock_insert,
	.next = clock_next,
	.referenced = clock_referenced,
	.tick = clock_tick,
};

static struct cc_policy *clock_create(u64 nr_blocks, unsigned int promote_hits)
{
	struct cc_clock *cp;

	cp = kzalloc(sizeof(*cp), GFP_KERNEL);
	if (!cp)
		return ERR_PTR(-ENOMEM);
	cp->p.ops = &cc_clock_ops;
	cp->nr_blocks = nr_blocks;
	cp->promote_hits = promote_hits;
	atomic_set(&cp->misses, 0);
	cp->ref = kvcalloc(nr_blocks, sizeof(*cp->ref), GFP_KERNEL);
	cp->dk = kvzalloc(1U << CLOCK_DK_BITS, GFP_KERNEL);
	if (!cp->ref || !cp->dk) {
		clock_destroy(&cp->p);
		return ERR_PTR(-ENOMEM);
	}
	return &cp->p;
}

/* The policies, the default first, in the order of `policy`'s choices */
static const struct cc_policy_ops *const cc_policies[] = {
	&cc_clock_ops,
};

const struct cc_policy_ops *cc_policy_get(unsigned int index)
{
	return index < ARRAY_SIZE(cc_policies) ? cc_policies[index] : NULL;
}
