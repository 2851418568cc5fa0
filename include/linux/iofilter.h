/* SPDX-License-Identifier: GPL-2.0 */
/*
 * iofilter: the in-kernel API between the iofilter core and filter types.
 *
 * A filter type is a module that registers a struct iofilter_type with the
 * core (the way dm-cache policies register with dm-cache).  The core creates
 * instances of it on a volume when the control plane asks, binds instances to
 * policy rules, and hands every bio a rule matches to the rule's chain of
 * instances, always in class order (inspect, crypt, replicate, cache), then to
 * the origin.  Documentation/filter-author-guide.rst walks through an example.
 *
 * Contexts.  "May sleep" means process context without spinlocks held.
 * map and end_io run in the block I/O path and must not sleep; a filter that
 * has blocking work to do defers the bio (IOF_MAP_SUBMITTED) to its own
 * worker and resumes it later.
 */
#ifndef _LINUX_IOFILTER_H
#define _LINUX_IOFILTER_H

#include <linux/bio.h>
#include <linux/blk_types.h>
#include <linux/build_bug.h>
#include <linux/list.h>
#include <linux/spinlock_types.h>
#include <linux/module.h>
#include <linux/printk.h>
#include <linux/stddef.h>
#include <linux/types.h>
#include <uapi/linux/iofilter.h>

/*
 * Per-bio space: every bio a chain runs through carries IOFILTER_PB_SIZE
 * bytes for the filter of each class, handed to map and end_io as @pb.  It is
 * not zeroed: map initialises what end_io reads.  A type that needs more
 * keeps a pointer here to memory of its own (from a mempool).
 */
#define IOFILTER_PB_SIZE	128

struct iofilter_volume;
struct iofilter_instance;
struct queue_limits;

/* What map tells the core */
enum iofilter_map_result {
	/* Pass the bio on to the next filter (or the origin). */
	IOF_MAP_CONTINUE = 0,
	/*
	 * The filter keeps the bio; it later calls iofilter_continue() to pass
	 * it on or iofilter_complete() to end it.  VAIO's "defer".
	 */
	IOF_MAP_SUBMITTED,
	/*
	 * The filter is done with the bio: the core completes it with *status
	 * (BLK_STS_OK to complete, an error to fail).  The filter's own end_io
	 * is not called; the end_io of the filters before it is.
	 */
	IOF_MAP_COMPLETE,
};

/* What end_io tells the core */
enum iofilter_endio_result {
	IOF_ENDIO_DONE = 0,	/* carry on up the chain with *status */
	/*
	 * The filter has more to do (e.g. decrypt in a worker); it later calls
	 * iofilter_endio_continue() with the final status.
	 */
	IOF_ENDIO_INCOMPLETE,
};

/*
 * The methods of an instance.  The filter embeds struct iofilter_instance in
 * its own per-instance struct and reaches it with container_of().
 */
struct iofilter_ops {
	/*
	 * Required.  Free the instance.  Called once no bio can reach it any
	 * more and none is in flight through it.  May sleep.  Must zero any
	 * key material.
	 */
	void (*destroy)(struct iofilter_instance *fi);

	/*
	 * Required.  A bio the instance's rule matched.  bio->bi_bdev is the
	 * origin and bio->bi_iter.bi_sector the sector on the volume, which is
	 * the sector on the origin.  Empty flushes (REQ_PREFLUSH, no data)
	 * reach every instance bound to a rule that includes the flush op;
	 * a flush needs nothing from the origin, which gets its own.
	 * Must not sleep.  Returns an enum iofilter_map_result.
	 */
	int (*map)(struct iofilter_instance *fi, struct bio *bio, void *pb,
		   blk_status_t *status);

	/*
	 * Optional.  The bio has completed below this filter with *status
	 * (which it may change).  Runs in completion context (may be a
	 * softirq or hard irq): must not sleep.  Returns an enum
	 * iofilter_endio_result.
	 */
	int (*end_io)(struct iofilter_instance *fi, struct bio *bio, void *pb,
		      blk_status_t *status);

	/*
	 * Optional.  Status as space-separated key=value pairs (no spaces in
	 * values), e.g. "state=in-sync dirty=0".  Never key material.  Must
	 * not sleep.
	 */
	void (*status)(struct iofilter_instance *fi, char *result,
		       unsigned int maxlen);

	/*
	 * Optional.  A control message ("flush", "resync", ...).  argv[0] is
	 * the verb.  May sleep until done.  Returns 0 or -errno; may write a
	 * text answer to result.  -EINVAL for an unknown verb.
	 */
	int (*message)(struct iofilter_instance *fi, unsigned int argc,
		       char **argv, char *result, unsigned int maxlen);

	/*
	 * Optional suspend/resume hooks, called with the volume's dm device
	 * (same contract as the target_type hooks of the same name).  May
	 * sleep.  postsuspend runs once no bio is in flight on the volume.
	 * resume also runs when dm gives a suspend up after presuspend, and
	 * once right after create() when the volume is live (resumed and
	 * not suspended).  A filter starts its background work (a resync,
	 * a writeback) from resume, never from create(): create() runs
	 * before the core has bound the instance (type, vol, name unset),
	 * maybe on a volume that is suspended or was never resumed.
	 */
	void (*presuspend)(struct iofilter_instance *fi);
	void (*postsuspend)(struct iofilter_instance *fi);
	void (*resume)(struct iofilter_instance *fi);

	/*
	 * Optional.  Adjust the volume's queue limits (e.g. block size, or
	 * no discards).  Called when dm computes the limits of a table being
	 * resumed, for every instance of the volume: an instance created on
	 * a live volume counts from its next reload, so map must still
	 * refuse what it does not support.  May sleep.
	 */
	void (*io_hints)(struct iofilter_instance *fi,
			 struct queue_limits *limits);

	/*
	 * Optional.  May a rule bind the instance to sectors [start, start +
	 * nr) of the volume (the whole volume for a rule without a range)?
	 * Called for each rule that uses it while a table is built, before
	 * anything is swapped in.  Returns 0, or -errno with a one-line
	 * reason in @error (it reaches the user as the load's message).  May
	 * sleep.
	 */
	int (*check_range)(struct iofilter_instance *fi, sector_t start,
			   sector_t nr, char *error, size_t error_len);

	/* Optional.  True while the instance holds data not on the origin. */
	bool (*is_dirty)(struct iofilter_instance *fi);
};

/*
 * A filter instance.  The filter's create() allocates its own struct with
 * this embedded and sets ops; the core fills in the rest after create()
 * returns and treats the fields as read-only for the filter.
 */
struct iofilter_instance {
	const struct iofilter_ops *ops;
	/*
	 * Optional, set by create() and fixed afterwards (0: no limit).  The
	 * core cuts a bio before the chain sees it so that no bio crosses a
	 * multiple of io_boundary sectors (a power of two; e.g. a cache
	 * block) and no read or write is longer than max_io_sectors.  A
	 * REQ_NOWAIT bio that would need cutting fails with BLK_STS_AGAIN
	 * instead (io_uring retries it from a worker), as the block layer
	 * does: the rest of a cut bio comes back later, and an EAGAIN for it
	 * would end the bio outside the submitter's context.
	 */
	unsigned int io_boundary;
	unsigned int max_io_sectors;

	/* Set by the core: */
	struct iofilter_type *type;
	struct iofilter_volume *vol;
	const char *name;
	u32 id;
	unsigned long error;	/* latched with iofilter_latch_error() */
	void *core;		/* core private */
};

/*
 * The registration record of a filter type.
 */
struct iofilter_type {
	struct list_head list;		/* core private */

	const char *name;		/* what policies say in "type:" */
	unsigned int version[3];
	unsigned int class;		/* IOF_CLASS_* */
	unsigned int flags;		/* IOF_TYPE_* */
	struct module *owner;

	/*
	 * Create an instance on @vol from its parameters: argv[i] is
	 * "key=value" (key [a-z0-9_]+, value without spaces), in policy
	 * order.  @secret (may be NULL) is key material handed over by the
	 * control plane; the core zeroes it after create() returns, so the
	 * filter copies what it keeps.  On failure return an ERR_PTR and
	 * write a one-line reason to @error (it reaches the user verbatim;
	 * never put key material in it).  May sleep.
	 */
	struct iofilter_instance *(*create)(struct iofilter_volume *vol,
					    unsigned int argc, char **argv,
					    const u8 *secret,
					    unsigned int secret_len,
					    char *error, size_t error_len);

	atomic_t nr_instances;		/* core private */
};

int iofilter_register_type(struct iofilter_type *type);
void iofilter_unregister_type(struct iofilter_type *type);

/*
 * module_iofilter(type): the module init and exit of a module that holds
 * one filter type (module_dm() for a dm target): register it at load,
 * unregister it at unload.
 */
#define module_iofilter(__type)						\
static int __init __type##_init(void)					\
{									\
	return iofilter_register_type(&(__type));			\
}									\
module_init(__type##_init);						\
static void __exit __type##_exit(void)					\
{									\
	iofilter_unregister_type(&(__type));				\
}									\
module_exit(__type##_exit)

/*
 * Pass a deferred bio on down the chain.  Process context: the bio has left
 * its submitter, so it loses REQ_NOWAIT (an EAGAIN from here on would
 * reach io_uring where it does not retry) and the rest of the chain and
 * the origin may block.  A filter that itself resubmits a deferred bio
 * from a worker clears REQ_NOWAIT the same way.
 */
void iofilter_continue(struct bio *bio);
/* End a deferred bio with @status; the filters before this one see it. */
void iofilter_complete(struct bio *bio, blk_status_t status);
/* Resume end_io processing after IOF_ENDIO_INCOMPLETE.  Any context. */
void iofilter_endio_continue(struct bio *bio, blk_status_t status);
/*
 * From map, by a filter that sends a bio of its own for @bio (@leg: a
 * mirror leg, a cache copy) and ends @bio only once @leg has progressed:
 * from then on neither may end with BLK_STS_AGAIN.  That answer (a blk-mq
 * device gives it to a REQ_NOWAIT bio it would have to split or wait for)
 * would end @bio from @leg's completion, often an interrupt or another
 * thread, where io_uring does not retry, and reach the submitter as
 * EAGAIN.  Both may then block for a tag in the submitter's context.
 */
static inline void iofilter_fan_out(struct bio *bio, struct bio *leg)
{
	bio->bi_opf &= ~REQ_NOWAIT;
	leg->bi_opf &= ~REQ_NOWAIT;
}

/* The volume an instance lives on */
const char *iofilter_volume_name(struct iofilter_volume *vol);
struct block_device *iofilter_volume_origin(struct iofilter_volume *vol);
sector_t iofilter_volume_sectors(struct iofilter_volume *vol);
/*
 * How many instances of the volume latched an error (iofilter_latch_error();
 * non-zero sets IOF_VOL_ERROR): below a failed one, the volume may not hold
 * all that was sent to it.
 */
unsigned int iofilter_volume_failed(struct iofilter_volume *vol);

/*
 * Read @nr_sectors from @sector into @pages (at most BIO_MAX_VECS pages)
 * as the instances of the classes after @fi's and the origin hold them,
 * routed by the current table as a user's read would be: what a filter's
 * background copy must read instead of the origin (a write-back cache
 * below may hold newer data).  The bios carry REQ_BACKGROUND (a cache does
 * not promote for them).  Process context, not from inside a bio
 * submission, by a bound instance; 0, -ENODEV once the volume is being
 * torn down, or a negative errno.
 */
int iofilter_read_below(struct iofilter_instance *fi, sector_t sector,
			unsigned int nr_sectors, struct page **pages);

/* Add the first @bytes of a page array (whole pages, then the rest) to @bio */
static inline void iofilter_bio_add_pages(struct bio *bio, struct page **pages,
					  unsigned int bytes)
{
	unsigned int i, len;

	for (i = 0; bytes; i++, bytes -= len) {
		len = min_t(unsigned int, bytes, PAGE_SIZE);
		__bio_add_page(bio, pages[i], len, 0);
	}
}

/*
 * Logging from a filter, for an instance the core has bound (after
 * create() returned; inside create() the error text is the message): one
 * line "iofilter-<type>: <volume>/<instance>: ...", rate limited per call
 * site (the I/O path may log per bio).  Any context.  A filter needs no
 * DM_MSG_PREFIX of its own; messages not about one instance (module load)
 * use pr_*() with a pr_fmt().
 */
static inline const char *iofilter_log_volume(const struct iofilter_instance *fi)
{
	struct iofilter_volume *vol = READ_ONCE(fi->vol);

	return vol ? iofilter_volume_name(vol) : "-";
}

#define iofilter_log(level, fi, fmt, ...)				\
	printk_ratelimited(level "iofilter-%s: %s/%s: " fmt "\n",	\
			   (fi)->type->name, iofilter_log_volume(fi),	\
			   (fi)->name, ##__VA_ARGS__)
#define iofilter_err(fi, fmt, ...)					\
	iofilter_log(KERN_ERR, fi, fmt, ##__VA_ARGS__)
#define iofilter_warn(fi, fmt, ...)					\
	iofilter_log(KERN_WARNING, fi, fmt, ##__VA_ARGS__)
#define iofilter_info(fi, fmt, ...)					\
	iofilter_log(KERN_INFO, fi, fmt, ##__VA_ARGS__)

/*
 * Latch an error on the instance: shown in status (IOF_INST_ERROR) and
 * logged once, rate limited.  Any context.
 */
void iofilter_latch_error(struct iofilter_instance *fi, int err,
			  const char *what);

/* Parameter helpers for create(). */
const char *iofilter_param(unsigned int argc, char **argv, const char *key);
struct iof_builtin_param;
/*
 * Check @argc "key=value" words against a parameter table of
 * <shared/iofilter-builtin.h> (the one iofilterctl validates with): every
 * key known and given once, choices among the listed ones, numbers and sizes
 * within the table's bounds, powers of two where it says so.  Returns 0, or
 * -EINVAL with the reason in @error.  A filter still checks what the table
 * cannot say (one value against another, the page size).
 */
int iofilter_params_check(const struct iof_builtin_param *tbl, unsigned int n,
			  unsigned int argc, char **argv, char *error,
			  size_t error_len);
int iofilter_param_u64(unsigned int argc, char **argv, const char *key,
		       u64 def, u64 *val);
/* Bytes, with an optional K, M, G, T (or KiB ... TiB) suffix; 1K = 1024. */
int iofilter_param_size(unsigned int argc, char **argv, const char *key,
			u64 def, u64 *val);

/*
 * Declarative parameters, as dm_arg tables are for a target's line: a
 * filter keeps its parameters in a struct of its own and lists, per key of
 * its shared table, the member that receives the value and its default.
 * iofilter_params_parse() checks the words (iofilter_params_check()),
 * refuses an IOF_PF_REQUIRED key missing or empty ("<key>=<what> is
 * required"), then fills every listed member: the value given, else the
 * default.  The table's kind says what the member holds (the IOFILTER_PARAM_*
 * initialisers check its C type at build time):
 *   IOF_PK_U64, _SIZE, _POW2        u64, default @def
 *   IOF_PK_CHOICE                   unsigned int: the value's index in the
 *                                   table's "a|b|c" (so a module relies on
 *                                   that order), default index @def
 *   IOF_PK_STRING, _PATH, _KEYDESC  const char *, pointing into argv (valid
 *                                   during create()), NULL when not given
 * A key of the table with no field is accepted and ignored.  What a table
 * cannot say (one value against another, the page size) the filter checks
 * after.  May sleep (create() context); 0 or -EINVAL with @error set.
 */
struct iofilter_param_field {
	const char *key;		/* a key of the shared table */
	size_t offset;			/* the member in the filter's struct */
	unsigned int ctype;		/* IOF_PF_CTYPE_*: the member's type */
	u64 def;			/* numbers, sizes, choices */
	const char *what;		/* required: "<key>=<what> is required" */
};

#define IOF_PF_CTYPE_U64	0
#define IOF_PF_CTYPE_INDEX	1
#define IOF_PF_CTYPE_STR	2

#define __IOFILTER_PARAM(_st, _m, _key, _ctype, _ct, _def, _what)	\
	{								\
		.key = _key,						\
		.offset = offsetof(_st, _m) +				\
			BUILD_BUG_ON_ZERO(!__same_type(((_st *)0)->_m, _ct)), \
		.ctype = _ctype,					\
		.def = _def,						\
		.what = _what,						\
	}
/* A number or a size into u64 member @_m of struct @_st */
#define IOFILTER_PARAM_U64(_st, _m, _key, _def)				\
	__IOFILTER_PARAM(_st, _m, _key, IOF_PF_CTYPE_U64, u64, _def, NULL)
/* A choice's index into unsigned int member @_m */
#define IOFILTER_PARAM_CHOICE(_st, _m, _key, _def)			\
	__IOFILTER_PARAM(_st, _m, _key, IOF_PF_CTYPE_INDEX, unsigned int, \
			 _def, NULL)
/* A word (string, path, key description) into const char * member @_m */
#define IOFILTER_PARAM_STR(_st, _m, _key, _what)			\
	__IOFILTER_PARAM(_st, _m, _key, IOF_PF_CTYPE_STR, const char *, \
			 0, _what)

/* A type's shared table and its fields, together */
struct iofilter_param_spec {
	const struct iof_builtin_param *table;
	unsigned int nr_table;
	const struct iofilter_param_field *fields;
	unsigned int nr_fields;
};

#define IOFILTER_PARAM_SPEC(_table, _fields) {				\
	.table = _table,						\
	.nr_table = ARRAY_SIZE(_table),					\
	.fields = _fields,						\
	.nr_fields = ARRAY_SIZE(_fields),				\
}

int iofilter_params_parse(const struct iofilter_param_spec *spec,
			  unsigned int argc, char **argv, void *out,
			  char *error, size_t error_len);

/*
 * Block devices a filter opens itself (a replica, a cache device):
 * a version-independent handle over the kernel's open-by-path API.
 */
struct iofilter_bdev {
	struct block_device *bdev;
	void *handle;			/* core private */
};
int iofilter_bdev_open(const char *path, bool write, void *holder,
		       struct iofilter_bdev *ib);
void iofilter_bdev_close(struct iofilter_bdev *ib);

/*
 * Data buffers kept for reuse: folios of one order, up to @max of them.
 * With init_on_alloc (on by default in Debian's kernels, among others) a
 * fresh page is cleared before the caller overwrites it whole; a filter
 * that fills buffers itself (bounce pages, copies) keeps them here
 * instead.  Any context.  Only for buffers nobody else holds once their
 * I/O has completed.
 */
struct iofilter_stash {
	spinlock_t lock;
	struct list_head folios;
	unsigned int nr;
	unsigned int max;
};
void iofilter_stash_init(struct iofilter_stash *st, unsigned int max);
/* A kept folio's first page, or NULL when none is kept */
struct page *iofilter_stash_get(struct iofilter_stash *st);
/* Keep @folio; false (the caller frees it) when the stash is full */
bool iofilter_stash_put(struct iofilter_stash *st, struct folio *folio);
/* Free every kept folio; nothing may use the stash concurrently */
void iofilter_stash_drain(struct iofilter_stash *st);

#endif /* _LINUX_IOFILTER_H */
