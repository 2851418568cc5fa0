// SPDX-License-Identifier: GPL-2.0
/*
 * iofilter core: the counters, all of them.
 *
 * A volume's counters (struct iof_vstats) and each rule's (struct
 * iof_counters, in chunks per table) are percpu: the hot path adds to
 * them with this_cpu ops and writes no shared cache line.  Readers sum
 * over the CPUs; a reset zeroes each CPU's copy, racing harmlessly with
 * the adds.  The hot path's adds are inline (the volume's in
 * iof-target.c, a rule's in iof-core.h, iof_table_count()); everything
 * else is here.
 */
#include <linux/percpu.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "iof-core.h"

/* ---- a volume's counters ---- */

void iof_volume_sum(struct iofilter_volume *vol, struct iof_vstats *out)
{
	int cpu, i;

	memset(out, 0, sizeof(*out));
	for_each_possible_cpu(cpu) {
		const struct iof_vstats *p = per_cpu_ptr(vol->stats, cpu);

		for (i = 0; i < IOF_NR_OPS; i++) {
			out->ios[i] += READ_ONCE(p->ios[i]);
			out->bytes[i] += READ_ONCE(p->bytes[i]);
		}
		out->passed += READ_ONCE(p->passed);
		out->denied += READ_ONCE(p->denied);
		out->filtered += READ_ONCE(p->filtered);
		out->errors += READ_ONCE(p->errors);
		out->splits += READ_ONCE(p->splits);
	}
}

void iof_volume_reset(struct iofilter_volume *vol)
{
	int cpu;

	for_each_possible_cpu(cpu)
		memset(per_cpu_ptr(vol->stats, cpu), 0, sizeof(struct iof_vstats));
}

/* ---- the rules' counters, one per rule and the default ---- */

/* Counters in chunk @i: IOF_STATS_CHUNK, fewer in the last one */
static unsigned int chunk_len(const struct iof_ptable *t, unsigned int i)
{
	return min_t(unsigned int, t->nr_rules + 1 - i * IOF_STATS_CHUNK,
		     IOF_STATS_CHUNK);
}

/*
 * Sized to the rules: a table is built on every policy swap, and a full
 * chunk (20 KiB per CPU) for a one-rule table was a third of what a swap
 * cost.  The percpu allocator returns zeroed memory.
 */
int iof_table_alloc_stats(struct iof_ptable *t)
{
	unsigned int n = t->nr_rules + 1, i;

	t->nr_chunks = DIV_ROUND_UP(n, IOF_STATS_CHUNK);
	t->rstats = kvcalloc(t->nr_chunks, sizeof(*t->rstats), GFP_KERNEL);
	if (!t->rstats)
		return -ENOMEM;
	for (i = 0; i < t->nr_chunks; i++) {
		t->rstats[i] = __alloc_percpu(sizeof(struct iof_counters) *
					      chunk_len(t, i),
					      __alignof__(u64));
		if (!t->rstats[i])
			return -ENOMEM;
	}
	return 0;
}

void iof_table_free_stats(struct iof_ptable *t)
{
	unsigned int i;

	if (!t->rstats)
		return;
	for (i = 0; i < t->nr_chunks; i++)
		free_percpu(t->rstats[i]);
	kvfree(t->rstats);
	t->rstats = NULL;
}

void iof_table_sum(const struct iof_ptable *t, unsigned int rule,
		   struct iof_counters *out)
{
	struct iof_counters __percpu *c = t->rstats[rule / IOF_STATS_CHUNK];
	unsigned int i = rule % IOF_STATS_CHUNK, op;
	int cpu;

	memset(out, 0, sizeof(*out));
	for_each_possible_cpu(cpu) {
		const struct iof_counters *p = per_cpu_ptr(&c[i], cpu);

		for (op = 0; op < IOF_NR_OPS; op++) {
			out->ios[op] += READ_ONCE(p->ios[op]);
			out->bytes[op] += READ_ONCE(p->bytes[op]);
		}
	}
}

void iof_table_reset(const struct iof_ptable *t)
{
	unsigned int i;
	int cpu;

	for (i = 0; i < t->nr_chunks; i++)
		for_each_possible_cpu(cpu)
			memset(per_cpu_ptr(t->rstats[i], cpu), 0,
			       sizeof(struct iof_counters) * chunk_len(t, i));
}

/*
 * Fill the STATS ioctl's answer: the volume's counters, the default rule's
 * and those of the first @n rules of @t into @rc; then reset all of them
 * when asked.  Caller holds vol->lock (@t is the live table).
 */
void iof_stats_fill(struct iofilter_volume *vol, const struct iof_ptable *t,
		    struct iof_stats *s, struct iof_counters *rc,
		    unsigned int n, bool reset)
{
	struct iof_vstats v;
	unsigned int i;

	iof_volume_sum(vol, &v);
	memcpy(s->vol.all.ios, v.ios, sizeof(v.ios));
	memcpy(s->vol.all.bytes, v.bytes, sizeof(v.bytes));
	s->vol.passed = v.passed;
	s->vol.denied = v.denied;
	s->vol.filtered = v.filtered;
	s->vol.errors = v.errors;
	s->vol.splits = v.splits;
	s->generation = t->generation;
	iof_table_sum(t, t->nr_rules, &s->dflt);
	for (i = 0; i < n; i++)
		iof_table_sum(t, i, &rc[i]);
	if (reset) {
		iof_volume_reset(vol);
		iof_table_reset(t);
	}
}
