// SPDX-License-Identifier: GPL-2.0
/*
 * iofilter "bpf": a filter whose decision is a BPF program.
 *
 * For every bio its rules send it, the instance fills a read-only struct
 * iof_bpf_ctx (include/uapi/linux/iofilter-bpf.h) and calls
 * iof_bpf_decide(), which answers IOF_BPF_CONTINUE on its own.  An
 * administrator's program attached to that function as fmod_ret (iofilterctl
 * loads and pins it) replaces the answer: continue, pass, or fail the bio
 * with an errno.  The function is registered for fmod_ret with
 * register_btf_fmodret_id_set(), which needs the module's BTF: on a kernel
 * without either (Debian's 6.1) the type registers but refuses to create
 * instances, "not supported on this kernel".  Documentation/bpf.rst.
 *
 * Parameters:   program=PATH    the program iofilterctl attaches (shown only)
 *               program_sha256=HEX  its digest, set by iofilterctl (ignored)
 * Messages:     reset           zero the counters
 * Status:       key= continued= passed= failed= bad_verdicts= program=
 */
#define pr_fmt(fmt) "iofilter-bpf: " fmt

#include <linux/iofilter.h>
#define IOF_BUILTIN_BPF
#include <shared/iofilter-builtin.h>
#include "iof-bpf.h"
#include <linux/atomic.h>
#include <linux/blk-cgroup.h>
#include <linux/cgroup.h>
#include <linux/compiler.h>
#include <linux/kdev_t.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/string.h>

#include "iof-compat.h"


#define BPF_PROGRAM_LEN	256

enum { ST_CONTINUE, ST_PASS, ST_FAIL, ST_BAD, ST_NR };

struct iofb_stats {
	u64 n[ST_NR];
};

struct iofb_filter {
	struct iofilter_instance fi;	/* first: container_of */
	struct iofb_stats __percpu *stats;
	/* What does not change per bio: copied into each bio's context */
	struct iof_bpf_ctx tmpl;
	char program[BPF_PROGRAM_LEN];
	bool bound;			/* tmpl has the core's id and volume */
};

/* The parameters (iof_bpf_params) */
struct iofb_params {
	const char *program;		/* shown in status only */
};

static const struct iofilter_param_field iofb_fields[] = {
	IOFILTER_PARAM_STR(struct iofb_params, program, "program",
			   "BPF object"),
};

static const struct iofilter_param_spec iofb_param_spec =
	IOFILTER_PARAM_SPEC(iof_bpf_params, iofb_fields);

static inline struct iofb_filter *to_bf(struct iofilter_instance *fi)
{
	return container_of(fi, struct iofb_filter, fi);
}

/* Keys name instances across volumes and module loads of one boot */
static atomic64_t iofb_next_key = ATOMIC64_INIT(0);
static bool iofb_supported;

/*
 * The decision point.  Global, not inlined, opaque to interprocedural
 * analysis (a constant answer folded into the caller, or a clone with fewer
 * arguments, would leave the attached program unused), and listed in the
 * module's BTF for fmod_ret.  Its own answer: continue.
 */
#if __has_attribute(__noipa__)
__attribute__((__noipa__))
#endif
noinline int iof_bpf_decide(const struct iof_bpf_ctx *ctx)
{
	int verdict = IOF_BPF_CONTINUE;

	OPTIMIZER_HIDE_VAR(verdict);
	return verdict;
}

#ifdef IOF_HAVE_BPF_FMODRET
BTF_SET8_START(iof_bpf_fmodret_ids)
BTF_ID_FLAGS(func, iof_bpf_decide)
BTF_SET8_END(iof_bpf_fmodret_ids)

static const struct btf_kfunc_id_set iof_bpf_fmodret_set = {
	.owner = THIS_MODULE,
	.set = &iof_bpf_fmodret_ids,
};
#endif

static u32 iofb_op(struct bio *bio)
{
	switch (bio_op(bio)) {
	case REQ_OP_READ:
		return IOF_OP_READ;
	case REQ_OP_WRITE:
		return bio->bi_iter.bi_size ? IOF_OP_WRITE : IOF_OP_FLUSH;
	case REQ_OP_DISCARD:
	case REQ_OP_SECURE_ERASE:
		return IOF_OP_DISCARD;
	case REQ_OP_WRITE_ZEROES:
		return IOF_OP_WRITE_ZEROES;
	default:
		return IOF_OP_FLUSH;
	}
}

static u32 iofb_rq_flags(blk_opf_t opf)
{
	return (opf & REQ_SYNC ? IOF_RQ_SYNC : 0) |
	       (opf & REQ_FUA ? IOF_RQ_FUA : 0) |
	       (opf & REQ_PREFLUSH ? IOF_RQ_PREFLUSH : 0) |
	       (opf & REQ_META ? IOF_RQ_META : 0) |
	       (opf & REQ_RAHEAD ? IOF_RQ_READAHEAD : 0);
}

static u64 iofb_cgroup_id(struct bio *bio)
{
#ifdef CONFIG_BLK_CGROUP
	struct cgroup_subsys_state *css = bio_blkcg_css(bio);

	if (css && css->cgroup)
		return cgroup_id(css->cgroup);
#endif
	return 0;
}

/*
 * The core sets id and vol after create(): fill them in at resume, or at
 * the first bio if that comes first.
 */
static void iofb_bind(struct iofb_filter *bf)
{
	struct block_device *origin = iofilter_volume_origin(bf->fi.vol);

	bf->tmpl.instance = bf->fi.id;
	bf->tmpl.origin_dev = origin ? new_encode_dev(origin->bd_dev) : 0;
	strscpy(bf->tmpl.volume, iofilter_volume_name(bf->fi.vol),
		sizeof(bf->tmpl.volume));
	/* pairs with iofb_map(): whoever sees bound sees the fields */
	smp_store_release(&bf->bound, true);
}

static int iofb_map(struct iofilter_instance *fi, struct bio *bio, void *pb,
		   blk_status_t *status)
{
	struct iofb_filter *bf = to_bf(fi);
	struct iof_bpf_ctx ctx;
	int v;

	/* pairs with iofb_bind() */
	if (unlikely(!smp_load_acquire(&bf->bound)))
		iofb_bind(bf);	/* racing binders write the same values */
	ctx = bf->tmpl;
	ctx.sector = bio->bi_iter.bi_sector;
	ctx.size = bio->bi_iter.bi_size;
	ctx.op = iofb_op(bio);
	ctx.flags = iofb_rq_flags(bio->bi_opf);
	ctx.ioprio = bio->bi_ioprio;
	ctx.cgroup_id = iofb_cgroup_id(bio);
	ctx.cpu = raw_smp_processor_id();

	v = iof_bpf_decide(&ctx);
	switch (v) {
	case IOF_BPF_CONTINUE:
		this_cpu_inc(bf->stats->n[ST_CONTINUE]);
		return IOF_MAP_CONTINUE;
	case IOF_BPF_PASS:
		this_cpu_inc(bf->stats->n[ST_PASS]);
		return IOF_MAP_CONTINUE;
	case IOF_BPF_FAIL(EIO):
	case IOF_BPF_FAIL(ENOSPC):
	case IOF_BPF_FAIL(EOPNOTSUPP):
	case IOF_BPF_FAIL(ENODATA):
	case IOF_BPF_FAIL(EILSEQ):
		this_cpu_inc(bf->stats->n[ST_FAIL]);
		*status = errno_to_blk_status(v);
		return IOF_MAP_COMPLETE;
	default:
		/* fail closed: a broken deny program lets nothing through */
		this_cpu_inc(bf->stats->n[ST_BAD]);
		iofilter_err(fi, "program answered %d, not a verdict: failing the bio",
			     v);
		*status = BLK_STS_IOERR;
		return IOF_MAP_COMPLETE;
	}
}

static void iofb_sum(struct iofb_filter *bf, u64 *s)
{
	int cpu, i;

	memset(s, 0, ST_NR * sizeof(*s));
	for_each_possible_cpu(cpu)
		for (i = 0; i < ST_NR; i++)
			s[i] += per_cpu_ptr(bf->stats, cpu)->n[i];
}

static void iofb_status(struct iofilter_instance *fi, char *result,
		       unsigned int maxlen)
{
	struct iofb_filter *bf = to_bf(fi);
	u64 s[ST_NR];

	iofb_sum(bf, s);
	scnprintf(result, maxlen,
		  "key=%llu continued=%llu passed=%llu failed=%llu bad_verdicts=%llu program=%s",
		  bf->tmpl.key, s[ST_CONTINUE], s[ST_PASS], s[ST_FAIL],
		  s[ST_BAD], bf->program[0] ? bf->program : "-");
}

static int iofb_message(struct iofilter_instance *fi, unsigned int argc,
		       char **argv, char *result, unsigned int maxlen)
{
	struct iofb_filter *bf = to_bf(fi);
	int cpu;

	if (argc == 1 && !strcasecmp(argv[0], "reset")) {
		for_each_possible_cpu(cpu)
			memset(per_cpu_ptr(bf->stats, cpu), 0,
			       sizeof(struct iofb_stats));
		return 0;
	}
	return -EINVAL;
}

/* Bound by now (the core calls it once after create() on a live volume) */
static void iofb_resume(struct iofilter_instance *fi)
{
	struct iofb_filter *bf = to_bf(fi);

	if (!bf->bound)
		iofb_bind(bf);
}

static void iofb_destroy(struct iofilter_instance *fi)
{
	struct iofb_filter *bf = to_bf(fi);

	free_percpu(bf->stats);
	kfree(bf);
}

static const struct iofilter_ops iofb_ops = {
	.destroy = iofb_destroy,
	.map = iofb_map,
	.status = iofb_status,
	.message = iofb_message,
	.resume = iofb_resume,
};

static struct iofilter_instance *iofb_create(struct iofilter_volume *vol,
					    unsigned int argc, char **argv,
					    const u8 *secret,
					    unsigned int secret_len,
					    char *error, size_t error_len)
{
	struct iofb_params p;
	struct iofb_filter *bf;
	int r;

	if (!iofb_supported) {
		scnprintf(error, error_len,
			  "bpf: not supported on this kernel (needs register_btf_fmodret_id_set() and module BTF)");
		return ERR_PTR(-EOPNOTSUPP);
	}
	if (secret_len) {
		scnprintf(error, error_len, "bpf takes no secret");
		return ERR_PTR(-EINVAL);
	}
	r = iofilter_params_parse(&iofb_param_spec, argc, argv, &p, error,
				  error_len);
	if (r)
		return ERR_PTR(r);

	bf = kzalloc(sizeof(*bf), GFP_KERNEL);
	if (!bf)
		goto nomem;
	bf->fi.ops = &iofb_ops;
	bf->stats = alloc_percpu(struct iofb_stats);
	if (!bf->stats)
		goto nomem;
	strscpy(bf->program, p.program, sizeof(bf->program));
	bf->tmpl.key = atomic64_inc_return(&iofb_next_key);
	return &bf->fi;
nomem:
	kfree(bf);
	scnprintf(error, error_len, "out of memory");
	return ERR_PTR(-ENOMEM);
}

static struct iofilter_type iofb_type = {
	.name = "bpf",
	.version = { 1, 0, 0 },
	.class = IOF_CLASS_INSPECT,
	.flags = IOF_BPF_TYPE_FLAGS,
	.owner = THIS_MODULE,
	.create = iofb_create,
};

static int __init iofb_filter_init(void)
{
#ifdef IOF_HAVE_BPF_FMODRET
	int r;

	if (iof_compat_module_has_btf(THIS_MODULE)) {
		r = register_btf_fmodret_id_set(&iof_bpf_fmodret_set);
		if (r)
			return r;
		iofb_supported = true;
	}
#endif
	if (!iofb_supported)
		pr_info("no fmod_ret for modules or no module BTF: type bpf refuses instances on this kernel\n");
	return iofilter_register_type(&iofb_type);
}

static void __exit iofb_filter_exit(void)
{
	iofilter_unregister_type(&iofb_type);
}

module_init(iofb_filter_init);
module_exit(iofb_filter_exit);

MODULE_DESCRIPTION("iofilter filter: decisions by a BPF program");
MODULE_AUTHOR("The iofilter authors");
MODULE_LICENSE("GPL");
MODULE_ALIAS("iofilter-bpf");
