// SPDX-License-Identifier: GPL-2.0
/*
 * iofilter "count": the example filter type.
 *
 * Counts the I/O its rules send it, per op, in percpu counters; a template
 * to copy for a new filter type (Documentation/filter-author-guide.rst walks
 * through it).  For tests it can also defer every bio to a worker (defer=1)
 * and inject errors at map or end_io time (message "fail map|endio|off").
 *
 * Parameters:   defer=0|1       pass bios on from a workqueue
 * Messages:     reset           zero the counters
 *               fail map|endio|off
 * Status:       reads= writes= discards= write_zeroes= flushes=
 *               read_bytes= write_bytes= errors_seen= defer= fail=
 *
 * With the module parameter test_types=1 the module also registers
 * count-crypt, count-replicate and count-cache: the same filter in the
 * other classes, so tests can build chains before the real types exist.
 */
#include <linux/iofilter.h>
#define IOF_BUILTIN_COUNT
#include <shared/iofilter-builtin.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/workqueue.h>

struct count_stats {
	u64 ios[IOF_NR_OPS];
	u64 read_bytes;
	u64 write_bytes;
	u64 errors_seen;
};

enum { FAIL_OFF, FAIL_MAP, FAIL_ENDIO };

struct count_filter {
	struct iofilter_instance fi;	/* first: container_of */
	struct count_stats __percpu *stats;
	bool defer;
	int fail;
	struct workqueue_struct *wq;
};

/*
 * The parameters, filled by iofilter_params_parse() from the table
 * iofilterctl checks too (iof_count_params in <shared/iofilter-builtin.h>):
 * names, duplicates and bounds are checked there, defaults are here.
 */
struct count_params {
	u64 defer;
};

static const struct iofilter_param_field count_fields[] = {
	IOFILTER_PARAM_U64(struct count_params, defer, "defer", 0),
};

static const struct iofilter_param_spec count_param_spec =
	IOFILTER_PARAM_SPEC(iof_count_params, count_fields);

/* Per-bio data: lives in the core's per-bio area for our class */
struct count_pb {
	struct work_struct work;
	struct bio *bio;
	blk_status_t status;
};

static_assert(sizeof(struct count_pb) <= IOFILTER_PB_SIZE);

static inline struct count_filter *to_cf(struct iofilter_instance *fi)
{
	return container_of(fi, struct count_filter, fi);
}

static unsigned int op_index(struct bio *bio)
{
	switch (bio_op(bio)) {
	case REQ_OP_READ:
		return 0;
	case REQ_OP_WRITE:
		return bio->bi_iter.bi_size ? 1 : 4;
	case REQ_OP_DISCARD:
	case REQ_OP_SECURE_ERASE:
		return 2;
	case REQ_OP_WRITE_ZEROES:
		return 3;
	default:
		return 4;
	}
}

static void count_continue_work(struct work_struct *w)
{
	struct count_pb *pb = container_of(w, struct count_pb, work);
	/* a WQ_MEM_RECLAIM worker: nothing below may recurse into I/O */
	unsigned int noio = memalloc_noio_save();

	iofilter_continue(pb->bio);
	memalloc_noio_restore(noio);
}

static void count_endio_work(struct work_struct *w)
{
	struct count_pb *pb = container_of(w, struct count_pb, work);
	unsigned int noio = memalloc_noio_save();

	iofilter_endio_continue(pb->bio, pb->status);
	memalloc_noio_restore(noio);
}

static int count_map(struct iofilter_instance *fi, struct bio *bio, void *p,
		     blk_status_t *status)
{
	struct count_filter *cf = to_cf(fi);
	struct count_pb *pb = p;
	unsigned int op = op_index(bio);

	this_cpu_inc(cf->stats->ios[op]);
	if (op == 0)
		this_cpu_add(cf->stats->read_bytes, bio->bi_iter.bi_size);
	else if (op == 1)
		this_cpu_add(cf->stats->write_bytes, bio->bi_iter.bi_size);

	if (READ_ONCE(cf->fail) == FAIL_MAP) {
		*status = BLK_STS_IOERR;
		return IOF_MAP_COMPLETE;
	}
	pb->bio = bio;
	if (cf->defer) {
		INIT_WORK(&pb->work, count_continue_work);
		queue_work(cf->wq, &pb->work);
		return IOF_MAP_SUBMITTED;
	}
	return IOF_MAP_CONTINUE;
}

static int count_end_io(struct iofilter_instance *fi, struct bio *bio,
			void *p, blk_status_t *status)
{
	struct count_filter *cf = to_cf(fi);
	struct count_pb *pb = p;

	if (*status)
		this_cpu_inc(cf->stats->errors_seen);
	if (READ_ONCE(cf->fail) == FAIL_ENDIO)
		*status = BLK_STS_IOERR;
	if (cf->defer) {
		pb->status = *status;
		INIT_WORK(&pb->work, count_endio_work);
		queue_work(cf->wq, &pb->work);
		return IOF_ENDIO_INCOMPLETE;
	}
	return IOF_ENDIO_DONE;
}

static void count_sum(struct count_filter *cf, struct count_stats *s)
{
	int cpu, i;

	memset(s, 0, sizeof(*s));
	for_each_possible_cpu(cpu) {
		struct count_stats *p = per_cpu_ptr(cf->stats, cpu);

		for (i = 0; i < IOF_NR_OPS; i++)
			s->ios[i] += p->ios[i];
		s->read_bytes += p->read_bytes;
		s->write_bytes += p->write_bytes;
		s->errors_seen += p->errors_seen;
	}
}

static const char * const fail_names[] = { "off", "map", "endio" };

static void count_status(struct iofilter_instance *fi, char *result,
			 unsigned int maxlen)
{
	struct count_filter *cf = to_cf(fi);
	struct count_stats s;

	count_sum(cf, &s);
	scnprintf(result, maxlen,
		  "reads=%llu writes=%llu discards=%llu write_zeroes=%llu flushes=%llu read_bytes=%llu write_bytes=%llu errors_seen=%llu defer=%d fail=%s",
		  s.ios[0], s.ios[1], s.ios[2], s.ios[3], s.ios[4],
		  s.read_bytes, s.write_bytes, s.errors_seen, cf->defer,
		  fail_names[READ_ONCE(cf->fail)]);
}

static int count_message(struct iofilter_instance *fi, unsigned int argc,
			 char **argv, char *result, unsigned int maxlen)
{
	struct count_filter *cf = to_cf(fi);
	int cpu, i;

	if (argc == 1 && !strcasecmp(argv[0], "reset")) {
		for_each_possible_cpu(cpu)
			memset(per_cpu_ptr(cf->stats, cpu), 0,
			       sizeof(struct count_stats));
		return 0;
	}
	if (argc == 2 && !strcasecmp(argv[0], "fail")) {
		for (i = 0; i < ARRAY_SIZE(fail_names); i++) {
			if (!strcasecmp(argv[1], fail_names[i])) {
				WRITE_ONCE(cf->fail, i);
				return 0;
			}
		}
	}
	if (argc == 1 && !strcasecmp(argv[0], "flush")) {
		/* nothing held: flushing is a no-op, but answer like others */
		scnprintf(result, maxlen, "flushed");
		return 0;
	}
	return -EINVAL;
}

static void count_destroy(struct iofilter_instance *fi)
{
	struct count_filter *cf = to_cf(fi);

	if (cf->wq)
		destroy_workqueue(cf->wq);
	free_percpu(cf->stats);
	kfree(cf);
}

static const struct iofilter_ops count_ops = {
	.destroy = count_destroy,
	.map = count_map,
	.end_io = count_end_io,
	.status = count_status,
	.message = count_message,
};

static struct iofilter_instance *count_create(struct iofilter_volume *vol,
					      unsigned int argc, char **argv,
					      const u8 *secret,
					      unsigned int secret_len,
					      char *error, size_t error_len)
{
	struct count_params p;
	struct count_filter *cf;
	int r;

	if (secret_len) {
		scnprintf(error, error_len, "count takes no secret");
		return ERR_PTR(-EINVAL);
	}
	r = iofilter_params_parse(&count_param_spec, argc, argv, &p, error,
				  error_len);
	if (r)
		return ERR_PTR(r);

	cf = kzalloc(sizeof(*cf), GFP_KERNEL);
	if (!cf)
		return ERR_PTR(-ENOMEM);
	cf->fi.ops = &count_ops;
	cf->defer = p.defer;
	cf->stats = alloc_percpu(struct count_stats);
	if (!cf->stats)
		goto bad;
	if (cf->defer) {
		cf->wq = alloc_workqueue("iofilter-count", WQ_MEM_RECLAIM, 0);
		if (!cf->wq)
			goto bad;
	}
	return &cf->fi;
bad:
	free_percpu(cf->stats);
	kfree(cf);
	scnprintf(error, error_len, "out of memory");
	return ERR_PTR(-ENOMEM);
}

#define COUNT_TYPE(_name, _class) {					\
	.name = _name,							\
	.version = { 1, 0, 0 },						\
	.class = _class,						\
	.flags = IOF_COUNT_TYPE_FLAGS,					\
	.owner = THIS_MODULE,						\
	.create = count_create,						\
}

static struct iofilter_type count_types[] = {
	COUNT_TYPE("count", IOF_CLASS_INSPECT),
	COUNT_TYPE("count-crypt", IOF_CLASS_CRYPT),
	COUNT_TYPE("count-replicate", IOF_CLASS_REPLICATE),
	COUNT_TYPE("count-cache", IOF_CLASS_CACHE),
};

static bool test_types;
module_param(test_types, bool, 0444);
MODULE_PARM_DESC(test_types, "Also register count-crypt, count-replicate and count-cache (for tests)");

static int __init count_init(void)
{
	unsigned int n = test_types ? ARRAY_SIZE(count_types) : 1, i;
	int r;

	for (i = 0; i < n; i++) {
		r = iofilter_register_type(&count_types[i]);
		if (r)
			goto bad;
	}
	return 0;
bad:
	while (i--)
		iofilter_unregister_type(&count_types[i]);
	return r;
}

static void __exit count_exit(void)
{
	unsigned int n = test_types ? ARRAY_SIZE(count_types) : 1;

	while (n--)
		iofilter_unregister_type(&count_types[n]);
}

module_init(count_init);
module_exit(count_exit);

MODULE_DESCRIPTION("iofilter example filter: count I/O");
MODULE_AUTHOR("The iofilter authors");
MODULE_LICENSE("GPL");
MODULE_ALIAS("iofilter-count");
