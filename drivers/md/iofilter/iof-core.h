/* SPDX-License-Identifier: GPL-2.0 */
/*
 * iofilter core: internal declarations shared by the core's files.
 */
#ifndef IOF_CORE_H
#define IOF_CORE_H

#include <linux/bio.h>
#include <linux/device-mapper.h>
#include <linux/ioprio.h>
#include <linux/iofilter.h>
#include <linux/kref.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/percpu-refcount.h>
#include <linux/rcupdate.h>
#include <linux/workqueue.h>

#include "iof-compat.h"

#define DM_MSG_PREFIX "iofilter"

/* Ops of the stats arrays: the bit numbers of IOF_OP_* */
enum iof_op_idx {
	IOF_OPI_READ = 0,
	IOF_OPI_WRITE,
	IOF_OPI_DISCARD,
	IOF_OPI_WRITE_ZEROES,
	IOF_OPI_FLUSH,
	IOF_OPI_NONE,		/* zone management and others: never filtered */
};

/* Volume counters, one set per CPU */
struct iof_vstats {
	u64 ios[IOF_NR_OPS];
	u64 bytes[IOF_NR_OPS];
	u64 passed;
	u64 denied;
	u64 filtered;
	u64 errors;
	u64 splits;
};

/* A chain: instances in class order */
struct iof_chain {
	unsigned int n;
	unsigned int io_boundary;	/* smallest of the instances' (0: none) */
	unsigned int max_io_sectors;	/* smallest of the instances' (0: none) */
	/* known at build, read per bio (iof-target.c) */
	bool nowait;			/* every instance's type IOF_TYPE_NOWAIT */
	bool assoc_late;		/* one cache-class instance: chain_assoc_late() */
	struct iofilter_instance *fi[IOF_MAX_CHAIN];
};

/* A rule as the hot path reads it */
struct iof_krule {
	sector_t start;		/* sectors */
	sector_t end;		/* exclusive; 0 with no range */
	u32 ops;
	u32 min_size;
	u32 max_size;		/* 0: unbounded */
	blk_opf_t opf_set;	/* IOF_RQ_* flags_set as the REQ_* they name */
	blk_opf_t opf_clear;	/* and flags_clear */
	u32 ioprio_classes;
	u32 action;
	bool has_range;
	bool by_op;		/* tests nothing but the op (and the range) */
	bool unconditional;	/* matches any bio in its range */
	struct iof_chain chain;
};

/* A segment of the volume: the rules (in order) whose range covers it */
struct iof_seg {
	sector_t start;
	u32 cand;		/* first index in table->cands */
	u32 ncand;
};

/* Rule counters are kept percpu in chunks (percpu allocations are small) */
#define IOF_STATS_CHUNK		256

/*
 * A policy table.  Immutable once published; readers find it under RCU
 * and bios that run a chain hold a reference (ref) until they complete.
 */
struct iof_ptable {
	struct percpu_ref ref;
	struct iofilter_volume *vol;
	u64 generation;

	unsigned int nr_rules;
	struct iof_krule *rules;	/* nr_rules + 1: the default last */
	struct iof_rule *urules;	/* as loaded, for read back */
	struct iof_rule udflt;

	unsigned int nr_segs;
	struct iof_seg *segs;
	u32 *cands;
	unsigned int nr_cands;
	/*
	 * Where the search for a sector's segment starts: bkt[b] is the
	 * segment holding sector b << bkt_shift (b < nr_bkts), and
	 * bkt[nr_bkts] the last segment.  About one bucket per segment.
	 */
	u32 *bkt;
	unsigned int nr_bkts;
	unsigned int bkt_shift;
	u32 bkt_one[2];			/* bkt when there is one bucket */

	/* Empty flushes: candidate rules and the instances that get one */
	u32 *flush_cands;
	unsigned int nr_flush_cands;
	unsigned int nr_flush_fi;
	struct iof_chain *flush_chains;	/* one instance each */

	bool trivial;			/* no rules, default pass */

	unsigned int nr_chunks;
	struct iof_counters __percpu **rstats;

	struct work_struct free_work;
	struct completion *drained;	/* volume teardown waits on it */
};

/* iof-lib.c: the core's workqueue (WQ_MEM_RECLAIM) */
extern struct workqueue_struct *iof_wq;

/* A filter instance as the core keeps it */
struct iof_inst {
	struct list_head list;		/* vol->instances */
	struct kref ref;		/* the volume's list + each table */
	struct iofilter_instance *fi;
	char name[IOF_NAME_LEN];
	u32 id;
	unsigned int users;		/* rules of the live table */
	char *params;			/* as given: "k=v\0k=v\0" */
	unsigned int params_len;
	struct iofilter_volume *vol;
	struct work_struct destroy_work;
	struct completion *gone;	/* a remover waits on it */
};

static inline struct iof_inst *iof_fi_inst(struct iofilter_instance *fi)
{
	return fi->core;
}

/*
 * Instance references, taken by the volume's list and by each table that
 * chains the instance.  The last put queues inst->destroy_work (set up by
 * iof_inst_create()): it may be a table's, dropped in a work item.
 */
static inline void iof_inst_get(struct iof_inst *inst)
{
	kref_get(&inst->ref);
}

static inline void iof_inst_release(struct kref *ref)
{
	struct iof_inst *inst = container_of(ref, struct iof_inst, ref);

	queue_work(iof_wq, &inst->destroy_work);
}

static inline void iof_inst_put(struct iof_inst *inst)
{
	kref_put(&inst->ref, iof_inst_release);
}

/*
 * A volume: the state that outlives a dm table reload.  Created by the
 * first target that names it; torn down with the last one.
 */
struct iofilter_volume {
	struct list_head list;		/* iof-volume.c's list, under its lock */
	struct kref ref;		/* lookups; targets hold one each */
	char name[IOF_NAME_LEN];

	struct mutex lock;		/* control operations */
	bool dead;			/* torn down; under lock */
	struct iof_ptable __rcu *table;

	struct list_head instances;
	unsigned int nr_instances;
	u32 next_id;

	struct list_head targets;	/* struct iof_target, under that lock */
	unsigned int nr_targets;
	struct mapped_device *md;
	dev_t origin_dev;
	struct block_device *origin;	/* valid while a target lives */
	sector_t sectors;
	bool suspended;
	atomic_t nr_failed;		/* instances that latched an error */

	struct iof_vstats __percpu *stats;
	/* the live table is trivial: map passes bios without RCU or lookup */
	bool passthrough;
	struct bio_set flush_bs;	/* flush fan-out clones */
	struct bio_set below_bs;	/* iofilter_read_below() */
};

/* The ops a write-exclusive instance must see */
#define IOF_OP_WRITES	(IOF_OP_WRITE | IOF_OP_DISCARD | IOF_OP_WRITE_ZEROES | \
			 IOF_OP_FLUSH)

/* Per target (ti->private) */
struct iof_target {
	struct list_head list;		/* vol->targets */
	struct dm_target *ti;
	struct dm_dev *dev;
	struct iofilter_volume *vol;
};

struct iof_below;

/*
 * Per-bio data of the target, and the front pad of the core's own bios
 * (flush clones, reads from below an instance).  Only initialised for a
 * bio that runs a chain; the bio's ->bi_private points to it then, and is
 * NULL for a bio that goes straight through (iof-target.c, bio_io()).
 */
struct iof_io {
	const struct iof_chain *chain;
	struct iof_ptable *table;	/* holds a ref */
	union {
		struct bio *parent;	/* flush clones: the original flush */
		struct iof_below *below; /* reads from below: their waiter */
	};
	u32 rule;			/* index; nr_rules is the default */
	u8 pos;				/* filters whose map has run */
	u8 flags;
	u8 opi;
	u8 base;			/* where the chain started */
	u8 pb[IOF_NR_CLASSES][IOFILTER_PB_SIZE] __aligned(8);
};

#define IOF_IO_FLUSH_CLONE	0x1	/* ends at the chain, not the origin */
#define IOF_IO_BELOW		0x2	/* iofilter_read_below(): no dm clone */

#define IOF_PER_IO_SIZE		sizeof(struct iof_io)

/*
 * Bios of the core's own (flush clones, reads from below an instance)
 * carry their iof_io in the bio_set's front pad; io->flags tells them
 * apart from dm's clones
 */
struct iof_flush_io {
	struct iof_io io;
	struct bio bio;
};

/* iof-lib.c */
int iof_lib_init(void);
void iof_lib_exit(void);
bool iof_name_valid(const char *name);

/* iof-registry.c */
struct iofilter_type *iof_type_get(const char *name);
void iof_type_put(struct iofilter_type *type);
int iof_list_types(void *buf, unsigned int max, unsigned int *count);
unsigned int iof_nr_types(void);

/* iof-target-ctl.c: the target's hooks other than ctr, dtr, map, end_io */
void iof_status(struct dm_target *ti, status_type_t type,
		unsigned int status_flags, char *result, unsigned int maxlen);
int iof_message(struct dm_target *ti, unsigned int argc, char **argv,
		char *result, unsigned int maxlen);
int iof_iterate_devices(struct dm_target *ti, iterate_devices_callout_fn fn,
			void *data);
void iof_io_hints(struct dm_target *ti, struct queue_limits *limits);
void iof_presuspend(struct dm_target *ti);
void iof_postsuspend(struct dm_target *ti);
int iof_preresume(struct dm_target *ti);
void iof_resume(struct dm_target *ti);

/* iof-target.c */
int iof_target_init(void);
void iof_target_exit(void);

/* iof-table.c */
typedef struct iofilter_instance *(*iof_find_fn)(struct iofilter_volume *vol,
						 u32 id);
struct iof_ptable *iof_table_build(struct iofilter_volume *vol,
				  const struct iof_ptable *old,
				  iof_find_fn find,
				  const struct iof_rule *urules,
				  unsigned int nr_rules,
				  const struct iof_rule *dflt,
				  u32 *error_rule, char *msg, size_t msglen);
void iof_table_destroy(struct iof_ptable *table);
bool iof_table_binds(const struct iof_ptable *t,
		     const struct iofilter_instance *fi);

/* iof-stats.c */
void iof_volume_sum(struct iofilter_volume *vol, struct iof_vstats *out);
void iof_volume_reset(struct iofilter_volume *vol);
int iof_table_alloc_stats(struct iof_ptable *t);
void iof_table_free_stats(struct iof_ptable *t);
void iof_table_sum(const struct iof_ptable *t, unsigned int rule,
		   struct iof_counters *out);
void iof_table_reset(const struct iof_ptable *t);
void iof_stats_fill(struct iofilter_volume *vol, const struct iof_ptable *t,
		    struct iof_stats *s, struct iof_counters *rc,
		    unsigned int n, bool reset);

/*
 * The lookup, inline in the map path (iof-target.c).  A table flattens its
 * rules' ranges into sorted disjoint segments, each with the rules whose
 * range covers it, in order (iof-table.c, build_segments()).
 */
static inline u32 iof_bio_prio_class(const struct bio *bio)
{
	u32 c = IOPRIO_PRIO_CLASS(bio->bi_ioprio);

	return c <= IOPRIO_CLASS_IDLE ? c : IOPRIO_CLASS_NONE;
}

/* A bio's size, flags and priority are read only by a rule testing them */
static inline bool iof_rule_matches(const struct iof_krule *k,
				    unsigned int opi, const struct bio *bio)
{
	unsigned int size;
	blk_opf_t f;

	if (!(k->ops & BIT(opi)))
		return false;
	if (likely(k->by_op))
		return true;
	size = bio->bi_iter.bi_size;
	if (size < k->min_size || (k->max_size && size > k->max_size))
		return false;
	f = bio->bi_opf;
	if ((f & k->opf_set) != k->opf_set || (f & k->opf_clear))
		return false;
	if (k->ioprio_classes &&
	    !(k->ioprio_classes & BIT(iof_bio_prio_class(bio))))
		return false;
	return true;
}

/*
 * The last segment whose start <= @s: a binary search between the segments
 * of @s's bucket and of the next one (the last bucket takes the sectors
 * of a volume grown since the table was built)
 */
static inline unsigned int iof_seg_find(const struct iof_ptable *t,
					sector_t s)
{
	sector_t b = min_t(sector_t, s >> t->bkt_shift, t->nr_bkts - 1);
	unsigned int lo = t->bkt[b], hi = t->bkt[b + 1] + 1;

	while (hi - lo > 1) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (t->segs[mid].start <= s)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* The first candidate of segment @seg that matches; else the default */
static inline unsigned int iof_seg_match(const struct iof_ptable *t,
					 unsigned int seg, unsigned int opi,
					 const struct bio *bio)
{
	const struct iof_seg *sg = &t->segs[seg];
	const u32 *c = &t->cands[sg->cand];
	unsigned int i;

	for (i = 0; i < sg->ncand; i++)
		if (iof_rule_matches(&t->rules[c[i]], opi, bio))
			return c[i];
	return t->nr_rules;
}

/*
 * Find the rule of @t for @bio (sector relative to the volume), op index
 * @opi: its index in *@rule (nr_rules: the default).  Returns the number
 * of sectors the rule covers from the bio's start (the bio must be cut
 * there), or 0 when it covers the whole bio.
 */
static __always_inline unsigned int
iof_table_lookup(const struct iof_ptable *t, const struct bio *bio,
		 unsigned int opi, unsigned int *rule)
{
	sector_t s = bio->bi_iter.bi_sector, end;
	unsigned int seg, r, i;

	if (unlikely(opi == IOF_OPI_FLUSH)) {
		for (i = 0; i < t->nr_flush_cands; i++) {
			r = t->flush_cands[i];
			if (iof_rule_matches(&t->rules[r], opi, bio)) {
				*rule = r;
				return 0;
			}
		}
		*rule = t->nr_rules;
		return 0;
	}

	seg = iof_seg_find(t, s);
	r = iof_seg_match(t, seg, opi, bio);
	*rule = r;
	end = bio_end_sector(bio);
	/* extend over following segments while the outcome is the same */
	while (seg + 1 < t->nr_segs && t->segs[seg + 1].start < end) {
		seg++;
		if (iof_seg_match(t, seg, opi, bio) != r)
			return t->segs[seg].start - s;
	}
	return 0;
}

/* Count a bio in its rule's per-CPU counters */
static inline void iof_table_count(const struct iof_ptable *t,
				   unsigned int rule, unsigned int opi,
				   unsigned int bytes)
{
	struct iof_counters __percpu *c = t->rstats[rule / IOF_STATS_CHUNK];
	unsigned int i = rule % IOF_STATS_CHUNK;

	this_cpu_inc(c[i].ios[opi]);
	this_cpu_add(c[i].bytes[opi], bytes);
}

/* iof-volume.c */
int iof_volume_attach_target(const char *name, struct iof_target *t,
			     char **error);
void iof_volume_detach_target(struct iofilter_volume *vol, struct iof_target *t);
typedef int (*iof_vol_fn)(struct iofilter_volume *vol, void *ctx);
int iof_volume_for_each(iof_vol_fn fn, void *ctx);
struct iofilter_volume *iof_volume_lock(const char *name);	/* +ref */
void iof_volume_unlock(struct iofilter_volume *vol);
struct iof_ptable *iof_volume_table(struct iofilter_volume *vol);
int iof_volume_load_table(struct iofilter_volume *vol,
			  const struct iof_rule *rules, unsigned int nr_rules,
			  const struct iof_rule *dflt, u64 expected_generation,
			  bool dry, u64 *generation, u32 *error_rule,
			  char *msg, size_t msglen);
void iof_volume_info(struct iofilter_volume *vol, struct iof_volume_info *vi);
struct iof_inst *iof_inst_find(struct iofilter_volume *vol, const char *name);
typedef int (*iof_inst_fn)(struct iof_inst *inst, void *ctx);
int iof_inst_for_each(struct iofilter_volume *vol, iof_inst_fn fn, void *ctx);
int iof_inst_create(struct iofilter_volume *vol, const char *name,
		    const char *type, char *params, unsigned int params_len,
		    const u8 *secret, unsigned int secret_len, u32 *id,
		    char *msg, size_t msglen);
int iof_inst_remove(struct iofilter_volume *vol, const char *name);
int iof_inst_rename(struct iofilter_volume *vol, const char *name,
		    const char *new_name);
int iof_inst_message(struct iofilter_volume *vol, const char *name,
		     unsigned int argc, char **argv, char *result,
		     unsigned int maxlen);
void iof_inst_info(struct iof_inst *inst, struct iof_instance_info *info);
void iof_inst_status(struct iof_inst *inst, char *result, unsigned int maxlen);
typedef void (*iof_fi_fn)(struct iofilter_instance *fi);
void iof_volume_call_each(struct iofilter_volume *vol, iof_fi_fn fn);
int iof_volume_dirty_unrouted(struct iofilter_volume *vol,
			      const struct iof_ptable *t,
			      const struct iofilter_instance *fi);

/* iof-ctl.c */
int iof_ctl_init(void);
void iof_ctl_exit(void);

#endif /* IOF_CORE_H */
