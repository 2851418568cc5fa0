// SPDX-License-Identifier: GPL-2.0
/*
 * iof-fuzz: a structure-aware fuzzer of the /dev/iofilter ioctls.
 *
 *   iof-fuzz [--seed S] [--calls N] [--unpriv-calls N] [--io DEV]
 *            [--time-limit SECONDS] [--devs PATH,PATH,...] [--trace] VOLUME...
 *   iof-fuzz --cleanup VOLUME...     default pass table, every instance removed
 *   iof-fuzz --check-empty           no volume and no instance left
 *
 * Every command of include/uapi/linux/iofilter.h is built from a template
 * that is valid for the live state (the named volumes, the instances it has
 * created, the filter types, the block devices of --devs for the replicate
 * and cache parameters), so that most calls reach deep into the core and
 * the filters, and then 0 to 3 of its fields are mutated: random values,
 * boundaries (0, 1, limit, limit + 1, ~0), truncated lengths, unterminated
 * or malformed names and strings, huge counts, NULL, unmapped, read-only,
 * misaligned and kernel pointers, a struct that runs off the end of mapped
 * memory, other ABI versions, header flags and reserved fields, unknown
 * command numbers and wrong sizes.
 *
 * Alongside the root caller, a child that has dropped to nobody (setuid
 * 65534, keeping the descriptor opened as root) sends --unpriv-calls calls
 * of its own: every admin command must fail with EPERM, open() with EACCES.
 * With --io, another child keeps direct 4 KiB reads and writes going to DEV
 * (errors ignored) so table swaps and instance removals race with I/O.
 *
 * The seed is printed first; --seed S replays the same sequence of calls
 * (the kernel's answers steer it, so replay from the same starting state;
 * the concurrent children are not part of the replay).  --trace prints
 * each call before it is made.  Exit 0 when every check held, 1 when one
 * failed, 2 on a usage or setup error.  A kernel oops ends the VM; the
 * runner's log has the seed and, with --trace, the last call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/iofilter.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_VOLS	4
#define MAX_DEVS	8
#define NR_NAMES	8	/* instance names f0..f7 */
#define BIG_RULES	(IOF_MAX_RULES + 1)

static int ctl_fd = -1;
static int trace;
static unsigned long long nr_calls;
static unsigned long long nr_fail;

static const char *vols[MAX_VOLS];
static unsigned int nr_vols;
static const char *devs[MAX_DEVS];
static unsigned int nr_devs;

/* ids of the instances this process created, per volume and name */
static uint32_t ids[MAX_VOLS][NR_NAMES];
static uint64_t gens[MAX_VOLS];

/* buffers */
static struct iof_rule *rules;		/* BIG_RULES */
static char *bigbuf;			/* IOF_MAX_LIST_BYTES + a page */
static char *page_ro;			/* a read-only page */
static char *page_edge;			/* the last mapped page before a hole */
static long pagesz;

/* errno histogram */
static unsigned long long hist[2][160];	/* [ok/fail by cmd][errno] */
static unsigned long long per_cmd[16][2];
static double cmd_time[16], cmd_max[16];	/* seconds */
static char slowest[320];
static double slowest_t;

/* ---- random numbers: xorshift64* ---- */

static uint64_t rs;

static uint64_t rnd(void)
{
	rs ^= rs >> 12;
	rs ^= rs << 25;
	rs ^= rs >> 27;
	return rs * 0x2545F4914F6CDD1DULL;
}

static uint32_t below(uint32_t n)
{
	return n ? (uint32_t)(rnd() % n) : 0;
}

static int pct(unsigned int p)
{
	return below(100) < p;
}

static void fail(const char *fmt, ...)
{
	va_list ap;

	nr_fail++;
	printf("FAIL call %llu: ", nr_calls);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* ---- mutations ---- */

static uint32_t boundary32(uint32_t limit)
{
	static const uint32_t v[] = { 0, 1, 2, 7, 8, 511, 512, 513, 4095, 4096,
		0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff };

	switch (below(5)) {
	case 0:
		return limit ? limit - 1 : 0;
	case 1:
		return limit;
	case 2:
		return limit + 1;
	case 3:
		return (uint32_t)rnd();
	default:
		return v[below(ARRAY_SIZE(v))];
	}
}

static uint64_t boundary64(uint64_t limit)
{
	static const uint64_t v[] = { 0, 1, 511, 512, 4096, 1ULL << 32,
		(1ULL << 63) - 512, 1ULL << 63, ~0ULL - 511, ~0ULL };

	switch (below(4)) {
	case 0:
		return limit ? limit - 1 : 0;
	case 1:
		return limit + below(2);
	case 2:
		return rnd();
	default:
		return v[below(ARRAY_SIZE(v))];
	}
}

/*
 * A user pointer for a buffer of @len bytes at @good: mostly @good, else a
 * bad one.  @out: the kernel writes there (a read-only page faults).
 */
static uint64_t bad_ptr(size_t len, int out)
{
	switch (below(10)) {
	case 0:
		return 0;
	case 1:
		return 8;
	case 2:
		return 0xffff888000000000ULL;	/* the direct map */
	case 3:
		return 0xffffffff81000000ULL;	/* kernel text */
	case 4:
		return ~0ULL - below(4096);
	case 5:		/* runs off the end of mapped memory */
		return (uintptr_t)page_edge + pagesz - (len > 1 ? below(len) + 1 : 1);
	case 6:
		return out ? (uintptr_t)page_ro : (uintptr_t)page_edge + pagesz;
	case 7:
		return rnd();
	case 8:
		return 0x00007ffffffff000ULL;	/* top of user space, unmapped */
	default:
		return (uintptr_t)page_ro + below(64);
	}
}

static uint64_t ptr(void *good, size_t len, int out)
{
	if (pct(92))
		return (uintptr_t)good;
	return bad_ptr(len, out);
}

/* A name field of @n bytes, normally @valid (may be NULL: left empty). */
static void name_mut(char *dst, size_t n, const char *valid)
{
	size_t i, l;

	memset(dst, 0, n);
	if (valid && pct(90)) {
		snprintf(dst, n, "%s", valid);
		return;
	}
	switch (below(9)) {
	case 0:		/* unterminated */
		memset(dst, 'a' + below(26), n);
		break;
	case 1:		/* empty */
		break;
	case 2:		/* longest valid */
		memset(dst, 'n', n - 1);
		break;
	case 3:
		snprintf(dst, n, "%s", (const char *[]){ "a/b", "a b", "..",
			 ".", "-", "x\n", "\xff\xfe", "%s%n" }[below(8)]);
		break;
	case 4:		/* garbage after the NUL */
		snprintf(dst, n, "%s", valid ? valid : "x");
		l = strlen(dst);
		if (l + 1 < n)
			dst[l + 1 + below(n - l - 1)] = 'G';
		break;
	case 5:
		for (i = 0; i < n; i++)
			dst[i] = (char)rnd();
		break;
	case 6:
		snprintf(dst, n, "f%u", below(NR_NAMES * 2));
		break;
	case 7:
		snprintf(dst, n, "%s", (const char *[]){ "count", "crypt",
			 "replicate", "cache", "nope", "iofilter" }[below(6)]);
		break;
	default:
		for (i = 0; i + 1 < n && i < 1 + below(n); i++)
			dst[i] = 'a' + below(26);
		break;
	}
}

static void hdr_init(struct iof_ioctl_hdr *h, size_t size)
{
	memset(h, 0, sizeof(*h));
	h->version[0] = IOFILTER_VERSION_MAJOR;
	h->version[1] = IOFILTER_VERSION_MINOR;
	h->version[2] = IOFILTER_VERSION_PATCH;
	h->size = size;
}

static void hdr_mut(struct iof_ioctl_hdr *h)
{
	switch (below(8)) {
	case 0:
		h->version[0] = boundary32(IOFILTER_VERSION_MAJOR);
		break;
	case 1:
		h->version[1] = boundary32(IOFILTER_VERSION_MINOR);
		break;
	case 2:
		h->version[2] = (uint32_t)rnd();
		break;
	case 3:
		h->size = boundary32(h->size);
		break;
	case 4:
		h->flags = 1U << below(32);
		break;
	case 5:
		h->flags = IOF_HDR_DRY_RUN;
		break;
	case 6:
		h->reserved = boundary32(1);
		break;
	default:
		h->flags = (uint32_t)rnd();
		break;
	}
}

/* ---- templates ---- */

static int vol_idx(void)
{
	return below(nr_vols);
}

static const char *vol_name(int vi)
{
	return pct(95) ? vols[vi] : "no-such-volume";
}

static void inst_name(char *dst, size_t n, int *ni)
{
	*ni = below(NR_NAMES);
	snprintf(dst, n, "f%d", *ni);
}

static const char *const types[] = { "count", "crypt", "replicate", "cache" };

static const char *dev_path(void)
{
	if (!nr_devs || pct(5))
		return (const char *[]){ "/dev/null", "/dev/nonexistent",
			"relative", "/dev/mapper/control", "" }[below(5)];
	return devs[below(nr_devs)];
}

static const char *size_val(void)
{
	static char b[32];

	switch (below(6)) {
	case 0:
		return "4096";
	case 1:
		return "4K";
	case 2:
		return "1M";
	case 3:
		snprintf(b, sizeof(b), "%llu", (unsigned long long)boundary64(4096));
		return b;
	case 4:
		return (const char *[]){ "", "-1", "1X", "0x10", "99999999999999999999", "1T" }[below(6)];
	default:
		snprintf(b, sizeof(b), "%u", 512U << below(12));
		return b;
	}
}

/* key=value\0... for a type; returns the length with the last NUL */
static size_t params_for(const char *type, char *p, size_t cap)
{
	size_t len = 0;
	int n, i;

#define ADD(...) do {							\
		int w_ = snprintf(p + len, cap - len, __VA_ARGS__);	\
		if (w_ < 0 || (size_t)w_ + 1 >= cap - len)		\
			return len;					\
		len += w_ + 1;						\
	} while (0)

	if (!strcmp(type, "crypt")) {
		ADD("cipher=%s", pct(80) ? "aes-xts-plain64" :
		    (const char *[]){ "aes-cbc-essiv:sha256", "aes-xts-plain",
				      "", "null" }[below(4)]);
		if (pct(40))
			ADD("sector_size=%s", pct(70) ? "4096" : size_val());
		if (pct(30))
			ADD("offset=%s", pct(50) ? "1M" : size_val());
		if (pct(20))
			ADD("iv_offset=%llu", (unsigned long long)boundary64(8));
		if (pct(20))
			ADD("allow_discards=%u", below(3));
		if (pct(20))
			ADD("iv_large_sectors=%u", below(3));
		if (pct(20))
			ADD("offload_size=%s", size_val());
		if (pct(5))
			ADD("key=%s", pct(50) ? "logon:iof-fuzz" : "user:none");
	} else if (!strcmp(type, "count")) {
		if (pct(30))
			ADD("defer=%u", below(3));
	} else if (!strcmp(type, "replicate")) {
		ADD("replica=%s", dev_path());
		ADD("metadata=%s", dev_path());
		if (pct(50))
			ADD("mode=%s", pct(90) ? (pct(50) ? "sync" : "async") : "x");
		if (pct(20))
			ADD("region_size=%s", size_val());
		if (pct(10))
			ADD("max_lag=%s", size_val());
		if (pct(10))
			ADD("on_error=%s", pct(50) ? "fail" : "degrade");
	} else if (!strcmp(type, "cache")) {
		ADD("cache_dev=%s", dev_path());
		if (pct(50))
			ADD("mode=%s", (const char *[]){ "writethrough",
			    "writearound", "writeback", "x" }[below(4)]);
		if (pct(30))
			ADD("block_size=%s", size_val());
		if (pct(30))
			ADD("format=%u", below(3));
		if (pct(10))
			ADD("seq_threshold=%s", size_val());
		if (pct(10))
			ADD("promote_hits=%u", below(300));
		if (pct(10))
			ADD("low_watermark=%u", below(120));
	}
	/* sometimes a random or malformed extra */
	n = pct(10) ? 1 + below(3) : 0;
	for (i = 0; i < n; i++)
		ADD("%s", (const char *[]){ "nope=1", "Bad Key=1", "=", "novalue",
			"a=b c", "cipher=", "k=\xff" }[below(7)]);
	if (pct(2)) {	/* many pairs */
		for (i = 0; i < 70; i++)
			ADD("x%d=%d", i, i);
	}
#undef ADD
	return len;
}

static uint32_t pick_id(int vi)
{
	uint32_t id = ids[vi][below(NR_NAMES)];

	if (id && pct(90))
		return id;
	return pct(50) ? boundary32(1) : id;
}

static void rule_fill(struct iof_rule *r, int vi, uint64_t vol_bytes)
{
	uint64_t blk = pct(80) ? 4096 : 512;
	uint64_t nb = vol_bytes / blk;

	memset(r, 0, sizeof(*r));
	if (pct(85) && nb) {
		r->start = below(nb) * blk;
		r->len = (1 + below(nb - r->start / blk)) * blk;
	}
	r->ops = pct(50) ? IOF_OP_ALL : 1 + below(IOF_OP_ALL);
	if (pct(10))
		r->min_size = 512U << below(4);
	if (pct(10))
		r->max_size = 4096U << below(8);
	if (pct(10))
		r->flags_set = below(IOF_RQ_ALL + 1);
	if (pct(10))
		r->flags_clear = below(IOF_RQ_ALL + 1) & ~r->flags_set;
	if (pct(10))
		r->ioprio_classes = below(IOF_PRIO_ALL + 1);
	switch (below(4)) {
	case 0:
		r->action = IOF_ACTION_PASS;
		break;
	case 1:
		r->action = IOF_ACTION_DENY;
		break;
	default: {
		unsigned int i, n = 1 + below(pct(90) ? 2 : IOF_MAX_CHAIN);

		r->action = IOF_ACTION_FILTER;
		r->nr_chain = n;
		for (i = 0; i < n; i++)
			r->chain[i] = pick_id(vi);
		break;
	}
	}
	if (pct(30))
		snprintf(r->name, sizeof(r->name), "r%u", below(100));
	if (pct(4)) {	/* one field out of bounds */
		switch (below(10)) {
		case 0: r->start = boundary64(vol_bytes); break;
		case 1: r->len = boundary64(vol_bytes); break;
		case 2: r->ops = boundary32(IOF_OP_ALL); break;
		case 3: r->flags_set = boundary32(IOF_RQ_ALL); break;
		case 4: r->ioprio_classes = boundary32(IOF_PRIO_ALL); break;
		case 5: r->action = boundary32(IOF_ACTION_FILTER); break;
		case 6: r->nr_chain = boundary32(IOF_MAX_CHAIN); break;
		case 7: r->chain[below(IOF_MAX_CHAIN)] = (uint32_t)rnd(); break;
		case 8: memset(r->name, 'x', sizeof(r->name)); break;
		default: r->min_size = (uint32_t)rnd(); break;
		}
	}
}

/* ---- the commands ---- */

struct cmd {
	const char *name;
	unsigned long nr;
	size_t size;
	int admin;
	unsigned int weight;
};

static const struct cmd cmds[] = {
	{ "version", IOF_IOC_VERSION, sizeof(struct iof_version), 0, 4 },
	{ "list_types", IOF_IOC_LIST_TYPES, sizeof(struct iof_list), 1, 4 },
	{ "list_volumes", IOF_IOC_LIST_VOLUMES, sizeof(struct iof_list), 1, 4 },
	{ "list_instances", IOF_IOC_LIST_INSTANCES, sizeof(struct iof_list), 1, 6 },
	{ "create", IOF_IOC_INSTANCE_CREATE, sizeof(struct iof_instance_create), 1, 5 },
	{ "remove", IOF_IOC_INSTANCE_REMOVE, sizeof(struct iof_instance_remove), 1, 3 },
	{ "get", IOF_IOC_INSTANCE_GET, sizeof(struct iof_instance_get), 1, 8 },
	{ "load", IOF_IOC_TABLE_LOAD, sizeof(struct iof_table), 1, 16 },
	{ "table_get", IOF_IOC_TABLE_GET, sizeof(struct iof_table), 1, 6 },
	{ "stats", IOF_IOC_STATS, sizeof(struct iof_stats), 1, 6 },
	{ "message", IOF_IOC_MESSAGE, sizeof(struct iof_message), 1, 12 },
	{ "rename", IOF_IOC_INSTANCE_RENAME, sizeof(struct iof_instance_rename), 1, 6 },
};

static union {
	struct iof_ioctl_hdr hdr;
	struct iof_version version;
	struct iof_list list;
	struct iof_instance_create create;
	struct iof_instance_remove remove;
	struct iof_instance_get get;
	struct iof_table table;
	struct iof_stats stats;
	struct iof_message message;
	struct iof_instance_rename rename;
	char raw[1024];
} a;

static char params[IOF_MAX_PARAMS_LEN + 64];
static unsigned char secret[IOF_MAX_SECRET_LEN + 64];
static char text[IOF_MAX_TEXT_LEN + 64];
static char msgbuf[IOF_MSG_LEN + 64];

static uint64_t vol_bytes = 64 << 20;

/* what the call was, for --trace and failures */
static char what[256];

static void build_list(const struct cmd *c, int vi)
{
	struct iof_list *l = &a.list;

	if (c->nr == IOF_IOC_LIST_INSTANCES)
		name_mut(l->volume, sizeof(l->volume), vol_name(vi));
	else if (pct(5))
		name_mut(l->volume, sizeof(l->volume), NULL);
	l->buf_len = pct(80) ? below(8192) : boundary32(IOF_MAX_LIST_BYTES);
	l->buf = ptr(bigbuf, l->buf_len, 1);
	if (pct(5))
		l->count = boundary32(1);
	if (pct(5))
		l->needed = boundary32(1);
	if (pct(5))
		l->entry_size = boundary32(1);
	snprintf(what, sizeof(what), "%s vol=%.20s buf_len=%u", c->name,
		 l->volume, l->buf_len);
}

static int build_create(int vi, int *ni)
{
	struct iof_instance_create *cr = &a.create;
	const char *type = types[below(ARRAY_SIZE(types))];
	size_t plen;

	name_mut(cr->volume, sizeof(cr->volume), vol_name(vi));
	inst_name(cr->name, sizeof(cr->name), ni);
	if (pct(5))
		name_mut(cr->name, sizeof(cr->name), NULL);
	/* an unknown type runs modprobe (request_module): rare */
	if (pct(99))
		snprintf(cr->type, sizeof(cr->type), "%s", type);
	else
		name_mut(cr->type, sizeof(cr->type), NULL);
	plen = params_for(type, params, sizeof(params));
	cr->params_len = plen;
	if (pct(10)) {
		switch (below(5)) {
		case 0: cr->params_len = plen ? plen - 1 : 0; break;	/* no final NUL */
		case 1: cr->params_len = boundary32(IOF_MAX_PARAMS_LEN); break;
		case 2: cr->params_len = below(plen + 1); break;
		case 3: cr->params_len = 0; break;
		default: memset(params, 'p', sizeof(params));
			cr->params_len = below(IOF_MAX_PARAMS_LEN + 1); break;
		}
	}
	cr->params = ptr(params, cr->params_len, 0);
	if (!strcmp(type, "crypt") || pct(5)) {
		unsigned int i;

		for (i = 0; i < 64; i++)
			secret[i] = (unsigned char)rnd();
		cr->secret_len = pct(90) ? (pct(50) ? 32 : 64) :
				 boundary32(IOF_MAX_SECRET_LEN);
		cr->secret = ptr(secret, cr->secret_len, 0);
	}
	if (pct(3))
		cr->id = boundary32(1);
	if (pct(3))
		cr->reserved = boundary32(1);
	if (pct(3))
		cr->message[below(IOF_MSG_LEN)] = 'm';
	snprintf(what, sizeof(what), "create vol=%.20s name=%.20s type=%.20s params_len=%u secret_len=%u",
		 cr->volume, cr->name, cr->type, cr->params_len, cr->secret_len);
	return 0;
}

static void build_load(int vi, int get)
{
	struct iof_table *t = &a.table;
	unsigned int i, n;

	name_mut(t->volume, sizeof(t->volume), vol_name(vi));
	n = pct(75) ? below(4) : pct(96) ? below(64) :
	    pct(50) ? boundary32(IOF_MAX_RULES) : below(IOF_MAX_RULES + 1);
	if (get) {
		t->nr_rules = pct(80) ? below(64) : boundary32(IOF_MAX_RULES);
		t->rules = ptr(rules, (size_t)t->nr_rules * sizeof(*rules), 1);
	} else {
		/* big tables: cheap copies of one rule */
		for (i = 0; i < n && i < BIG_RULES; i++) {
			if (i < 64)
				rule_fill(&rules[i], vi, vol_bytes);
			else
				rules[i] = rules[i & 63];
		}
		t->nr_rules = n;
		t->rules = ptr(rules, (size_t)n * sizeof(*rules), 0);
		t->default_rule.action = pct(80) ? IOF_ACTION_PASS :
					 pct(50) ? IOF_ACTION_DENY :
					 boundary32(IOF_ACTION_FILTER);
		if (t->default_rule.action == IOF_ACTION_FILTER) {
			t->default_rule.nr_chain = 1;
			t->default_rule.chain[0] = pick_id(vi);
		}
		if (pct(3))
			t->default_rule.ops = boundary32(1);
		if (pct(3))
			t->default_rule.start = boundary64(4096);
		if (pct(20))
			t->expected_generation = pct(70) ? gens[vi] : boundary64(gens[vi]);
	}
	t->rule_size = pct(97) ? sizeof(struct iof_rule) : boundary32(sizeof(struct iof_rule));
	if (pct(3))
		t->generation = boundary64(1);
	if (pct(3))
		t->error_rule = boundary32(1);
	if (pct(3))
		t->reserved = boundary32(1);
	if (pct(3))
		t->message[below(IOF_MSG_LEN)] = 'm';
	if (get && pct(5))
		t->expected_generation = boundary64(1);
	snprintf(what, sizeof(what), "%s vol=%.20s nr_rules=%u rule_size=%u flags=0x%x",
		 get ? "table_get" : "load", t->volume, t->nr_rules,
		 t->rule_size, t->hdr.flags);
}

static const char *const verbs[] = { "flush", "reset", "resync", "resync full",
	"fail off", "fail map", "fail endio", "mode writeback",
	"mode writethrough", "mode writearound", "bogus", "flush now",
	"  flush  ", "\t", "a b c d e f g h i j k l m n o p" };

static void build_message(int vi)
{
	struct iof_message *m = &a.message;
	int ni;
	size_t l;

	name_mut(m->volume, sizeof(m->volume), vol_name(vi));
	inst_name(m->name, sizeof(m->name), &ni);
	if (pct(5))
		name_mut(m->name, sizeof(m->name), NULL);
	memset(msgbuf, 0, sizeof(msgbuf));
	snprintf(msgbuf, sizeof(msgbuf), "%s", verbs[below(ARRAY_SIZE(verbs))]);
	/* "fail" makes a count instance fail I/O: keep it rare */
	if (!strncmp(msgbuf, "fail ", 5) && pct(80))
		snprintf(msgbuf, sizeof(msgbuf), "fail off");
	l = strlen(msgbuf);
	m->msg_len = l + 1;
	if (pct(15)) {
		switch (below(6)) {
		case 0: m->msg_len = l; break;		/* not NUL-terminated */
		case 1: memset(msgbuf, 'w', sizeof(msgbuf));
			m->msg_len = below(IOF_MSG_LEN) + 1; break;
		case 2: m->msg_len = boundary32(IOF_MSG_LEN); break;
		case 3: msgbuf[l / 2] = 0; break;	/* NUL inside */
		case 4: m->msg_len = 1; msgbuf[0] = 0; break;	/* empty */
		default: m->msg_len = 0; break;
		}
	}
	m->msg = ptr(msgbuf, m->msg_len, 0);
	m->result_len = pct(80) ? below(2048) : boundary32(IOF_MAX_TEXT_LEN);
	m->result = ptr(text, m->result_len, 1);
	snprintf(what, sizeof(what), "message vol=%.20s name=%.20s msg=\"%.40s\" msg_len=%u result_len=%u",
		 m->volume, m->name, msgbuf, m->msg_len, m->result_len);
}

static const struct cmd *build(int *vi_out, int *ni_out, unsigned long *nr,
			       void **argp)
{
	unsigned int total = 0, i, w;
	const struct cmd *c = NULL;
	int vi = vol_idx(), ni = -1;

	for (i = 0; i < ARRAY_SIZE(cmds); i++)
		total += cmds[i].weight;
	w = below(total);
	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		if (w < cmds[i].weight) {
			c = &cmds[i];
			break;
		}
		w -= cmds[i].weight;
	}
	memset(&a, 0, sizeof(a));
	hdr_init(&a.hdr, c->size);
	*nr = c->nr;
	*argp = &a;

	switch (c->nr) {
	case IOF_IOC_VERSION:
		if (pct(5))
			a.version.nr_types = boundary32(1);
		if (pct(5))
			a.version.nr_volumes = boundary32(1);
		snprintf(what, sizeof(what), "version");
		break;
	case IOF_IOC_LIST_TYPES:
	case IOF_IOC_LIST_VOLUMES:
	case IOF_IOC_LIST_INSTANCES:
		build_list(c, vi);
		break;
	case IOF_IOC_INSTANCE_CREATE:
		build_create(vi, &ni);
		break;
	case IOF_IOC_INSTANCE_REMOVE:
		name_mut(a.remove.volume, sizeof(a.remove.volume), vol_name(vi));
		inst_name(a.remove.name, sizeof(a.remove.name), &ni);
		if (pct(5))
			name_mut(a.remove.name, sizeof(a.remove.name), NULL);
		snprintf(what, sizeof(what), "remove vol=%.20s name=%.20s",
			 a.remove.volume, a.remove.name);
		break;
	case IOF_IOC_INSTANCE_GET: {
		struct iof_instance_get *g = &a.get;

		name_mut(g->volume, sizeof(g->volume), vol_name(vi));
		inst_name(g->name, sizeof(g->name), &ni);
		if (pct(5))
			name_mut(g->name, sizeof(g->name), NULL);
		g->params_len = pct(80) ? below(IOF_MAX_PARAMS_LEN) :
				boundary32(IOF_MAX_PARAMS_LEN);
		g->params = ptr(params, g->params_len, 1);
		g->status_len = pct(80) ? below(4096) : boundary32(IOF_MAX_TEXT_LEN);
		g->status = ptr(text, g->status_len, 1);
		if (pct(3))
			((char *)&g->info)[below(sizeof(g->info))] = 1;
		snprintf(what, sizeof(what), "get vol=%.20s name=%.20s params_len=%u status_len=%u",
			 g->volume, g->name, g->params_len, g->status_len);
		break;
	}
	case IOF_IOC_TABLE_LOAD:
		if (pct(15))
			a.hdr.flags = IOF_HDR_DRY_RUN;
		build_load(vi, 0);
		break;
	case IOF_IOC_TABLE_GET:
		build_load(vi, 1);
		break;
	case IOF_IOC_STATS: {
		struct iof_stats *s = &a.stats;

		name_mut(s->volume, sizeof(s->volume), vol_name(vi));
		s->nr_rules = pct(80) ? below(64) : boundary32(IOF_MAX_RULES);
		s->rules = ptr(bigbuf, (size_t)s->nr_rules * sizeof(struct iof_counters), 1);
		s->reset = pct(90) ? below(2) : boundary32(1);
		if (pct(3))
			s->generation = boundary64(1);
		if (pct(3))
			((char *)&s->vol)[below(sizeof(s->vol))] = 1;
		if (pct(3))
			((char *)&s->dflt)[below(sizeof(s->dflt))] = 1;
		snprintf(what, sizeof(what), "stats vol=%.20s nr_rules=%u reset=%u",
			 s->volume, s->nr_rules, s->reset);
		break;
	}
	case IOF_IOC_MESSAGE:
		build_message(vi);
		break;
	case IOF_IOC_INSTANCE_RENAME: {
		struct iof_instance_rename *rn = &a.rename;
		int nj;

		name_mut(rn->volume, sizeof(rn->volume), vol_name(vi));
		inst_name(rn->name, sizeof(rn->name), &ni);
		inst_name(rn->new_name, sizeof(rn->new_name), &nj);
		if (pct(5))
			name_mut(rn->new_name, sizeof(rn->new_name), NULL);
		snprintf(what, sizeof(what), "rename vol=%.20s %.20s -> %.20s",
			 rn->volume, rn->name, rn->new_name);
		break;
	}
	}

	if (pct(4))
		hdr_mut(&a.hdr);
	if (pct(2)) {	/* another command number, size or direction */
		switch (below(4)) {
		case 0:
			*nr = _IOWR(IOF_IOCTL_MAGIC, 0x0c + below(0xf4), struct iof_version);
			break;
		case 1:
			*nr = _IOC(_IOC_DIR(c->nr), IOF_IOCTL_MAGIC, _IOC_NR(c->nr),
				   boundary32(c->size) & _IOC_SIZEMASK);
			break;
		case 2:
			*nr = _IOC(below(4), IOF_IOCTL_MAGIC, _IOC_NR(c->nr), c->size);
			break;
		default:
			*nr = _IOC(_IOC_DIR(c->nr), below(256), _IOC_NR(c->nr), c->size);
			break;
		}
	}
	if (pct(2)) {	/* the argument itself */
		switch (below(3)) {
		case 0:
			*argp = NULL;
			break;
		case 1:	/* truncated: runs into the unmapped page */
			*argp = page_edge + pagesz - 1 - below(c->size);
			memcpy(*argp, &a, page_edge + pagesz - (char *)*argp);
			break;
		default:
			*argp = (void *)(uintptr_t)bad_ptr(c->size, 1);
			break;
		}
	}
	*vi_out = vi;
	*ni_out = ni;
	return c;
}

static void record(const struct cmd *c, int r)
{
	int e = r < 0 ? -r : 0;

	if (e >= (int)ARRAY_SIZE(hist[0]))
		e = ARRAY_SIZE(hist[0]) - 1;
	hist[0][e]++;
	per_cmd[c - cmds][r ? 1 : 0]++;
}

static int one_call(int unpriv)
{
	const struct cmd *c;
	unsigned long nr;
	void *argp;
	int vi, ni, r;

	c = build(&vi, &ni, &nr, &argp);
	nr_calls++;
	if (trace) {
		printf("call %llu: %s%s\n", nr_calls, what,
		       argp == &a && nr == c->nr ? "" : " (bad cmd or arg)");
		fflush(stdout);
	}
	{
		struct timespec t0, t1;
		double dt;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		r = ioctl(ctl_fd, nr, argp) ? -errno : 0;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		dt = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
		cmd_time[c - cmds] += dt;
		if (dt > cmd_max[c - cmds])
			cmd_max[c - cmds] = dt;
		if (dt > slowest_t) {
			slowest_t = dt;
			snprintf(slowest, sizeof(slowest), "call %llu: %s = %d",
				 nr_calls, what, r);
		}
	}
	record(c, r);

	if (unpriv) {
		if (c->admin && nr == c->nr && r != -EPERM)
			fail("unprivileged %s: got %d (%s), want EPERM", what, r,
			     strerror(-r));
		if (!c->admin && r == -EPERM)
			fail("unprivileged version: EPERM");
		return 0;
	}
	if (argp == &a && r != -EFAULT && nr == c->nr &&
	    (a.hdr.version[0] != IOFILTER_VERSION_MAJOR ||
	     a.hdr.version[1] != IOFILTER_VERSION_MINOR))
		fail("%s: the kernel did not write its version back (r=%d)",
		     what, r);
	if (r == -EPERM)
		fail("%s: EPERM for root", what);
	if (r || argp != &a || nr != c->nr)
		return 0;
	/* learn the state the next calls build on */
	switch (c->nr) {
	case IOF_IOC_INSTANCE_CREATE:
		if (ni >= 0 && !strcmp(a.create.volume, vols[vi]))
			ids[vi][ni] = a.create.id;
		break;
	case IOF_IOC_INSTANCE_REMOVE:
		if (ni >= 0 && !strcmp(a.remove.volume, vols[vi]))
			ids[vi][ni] = 0;
		break;
	case IOF_IOC_INSTANCE_RENAME: {
		unsigned int from, to;

		if (strcmp(a.rename.volume, vols[vi]) ||
		    sscanf(a.rename.name, "f%u", &from) != 1 ||
		    sscanf(a.rename.new_name, "f%u", &to) != 1 ||
		    from >= NR_NAMES || to >= NR_NAMES)
			break;
		ids[vi][to] = ids[vi][from];
		ids[vi][from] = 0;
		break;
	}
	case IOF_IOC_TABLE_LOAD:
	case IOF_IOC_TABLE_GET:
		if (!strcmp(a.table.volume, vols[vi]))
			gens[vi] = a.table.generation;
		break;
	}
	return 0;
}

/* ---- setup, children, cleanup ---- */

static int xioctl(unsigned long nr, void *arg)
{
	return ioctl(ctl_fd, nr, arg) ? -errno : 0;
}

static void open_ctl(void)
{
	ctl_fd = open("/dev/iofilter", O_RDWR | O_CLOEXEC);
	if (ctl_fd < 0) {
		fprintf(stderr, "iof-fuzz: open /dev/iofilter: %s\n", strerror(errno));
		exit(2);
	}
}

static void setup_memory(void)
{
	char *m;

	pagesz = sysconf(_SC_PAGESIZE);
	rules = calloc(BIG_RULES, sizeof(*rules));
	bigbuf = malloc(IOF_MAX_LIST_BYTES + pagesz);
	page_ro = mmap(NULL, pagesz, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	m = mmap(NULL, 2 * pagesz, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!rules || !bigbuf || page_ro == MAP_FAILED || m == MAP_FAILED) {
		fprintf(stderr, "iof-fuzz: out of memory\n");
		exit(2);
	}
	munmap(m + pagesz, pagesz);
	page_edge = m;
}

/* Direct 4 KiB I/O at random offsets until killed; errors are expected. */
static pid_t start_io(const char *dev)
{
	pid_t pid = fork();
	void *buf;
	int fd;

	if (pid)
		return pid;
	fd = open(dev, O_RDWR | O_DIRECT);
	if (fd < 0 || posix_memalign(&buf, 4096, 65536))
		_exit(2);
	memset(buf, 0x5a, 65536);
	for (;;) {
		off_t off = (off_t)below(vol_bytes / 4096) * 4096;
		size_t len = 4096 << below(4);
		ssize_t r;

		if (off + (off_t)len > (off_t)vol_bytes)
			len = 4096;
		if (below(2))
			r = pwrite(fd, buf, len, off);
		else
			r = pread(fd, buf, len, off);
		(void)r;
		if (!below(64))
			fdatasync(fd);
		usleep(2000);	/* keep the CPU for the ioctls */
	}
}

static pid_t start_unpriv(unsigned long long n, uint64_t seed)
{
	pid_t pid = fork();
	unsigned long long i;
	int fd;

	if (pid)
		return pid;
	rs = seed;
	nr_fail = 0;
	if (setgid(65534) || setuid(65534)) {
		perror("iof-fuzz: setuid nobody");
		_exit(2);
	}
	fd = open("/dev/iofilter", O_RDWR);
	if (fd >= 0 || errno != EACCES)
		fail("unprivileged open: %s", fd >= 0 ? "succeeded" : strerror(errno));
	for (i = 0; i < n; i++)
		one_call(1);
	printf("# unprivileged: %llu calls, %llu failed checks\n", n, nr_fail);
	_exit(nr_fail ? 1 : 0);
}

static void cleanup(void)
{
	static struct iof_instance_info info[IOF_MAX_INSTANCES];
	unsigned int v, i;

	for (v = 0; v < nr_vols; v++) {
		struct iof_table t;
		struct iof_list l;
		int r;

		memset(&t, 0, sizeof(t));
		hdr_init(&t.hdr, sizeof(t));
		snprintf(t.volume, sizeof(t.volume), "%s", vols[v]);
		t.rule_size = sizeof(struct iof_rule);
		t.default_rule.action = IOF_ACTION_PASS;
		r = xioctl(IOF_IOC_TABLE_LOAD, &t);
		if (r)
			fail("cleanup: pass table on %s: %s", vols[v], strerror(-r));
		memset(&l, 0, sizeof(l));
		hdr_init(&l.hdr, sizeof(l));
		snprintf(l.volume, sizeof(l.volume), "%s", vols[v]);
		l.buf = (uintptr_t)info;
		l.buf_len = sizeof(info);
		r = xioctl(IOF_IOC_LIST_INSTANCES, &l);
		if (r) {
			fail("cleanup: list instances of %s: %s", vols[v], strerror(-r));
			continue;
		}
		for (i = 0; i < l.count; i++) {
			struct iof_instance_remove rm;

			memset(&rm, 0, sizeof(rm));
			hdr_init(&rm.hdr, sizeof(rm));
			snprintf(rm.volume, sizeof(rm.volume), "%s", vols[v]);
			memcpy(rm.name, info[i].name, sizeof(rm.name));
			r = xioctl(IOF_IOC_INSTANCE_REMOVE, &rm);
			if (r)
				fail("cleanup: remove %s/%.63s: %s", vols[v],
				     info[i].name, strerror(-r));
		}
		printf("# cleanup %s: %u instances removed\n", vols[v], l.count);
	}
}

static void check_empty(void)
{
	static struct iof_type_info ti[256];
	struct iof_version v;
	struct iof_list l;
	unsigned int i;
	int r;

	memset(&v, 0, sizeof(v));
	hdr_init(&v.hdr, sizeof(v));
	r = xioctl(IOF_IOC_VERSION, &v);
	if (r)
		fail("version: %s", strerror(-r));
	else if (v.nr_volumes)
		fail("%u volumes left", v.nr_volumes);
	memset(&l, 0, sizeof(l));
	hdr_init(&l.hdr, sizeof(l));
	l.buf = (uintptr_t)ti;
	l.buf_len = sizeof(ti);
	r = xioctl(IOF_IOC_LIST_TYPES, &l);
	if (r) {
		fail("list types: %s", strerror(-r));
		return;
	}
	for (i = 0; i < l.count; i++)
		if (ti[i].nr_instances)
			fail("type %.63s: %u instances left", ti[i].name,
			     ti[i].nr_instances);
	printf("# %u volumes, %u types, no instances left\n", v.nr_volumes, l.count);
}

static void usage(void)
{
	fprintf(stderr, "usage: iof-fuzz [--seed S] [--calls N] [--unpriv-calls N] [--io DEV]\n"
		"                [--time-limit S] [--devs P,P,..] [--size BYTES] [--trace] VOLUME...\n"
		"       iof-fuzz --cleanup VOLUME...\n"
		"       iof-fuzz --check-empty\n");
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned long long calls = 10000, unpriv = 0, i;
	unsigned int time_limit = 0;
	const char *io = NULL;
	int do_cleanup = 0, do_check = 0, status;
	pid_t io_pid = 0, up_pid = 0;
	struct timeval t0, t1;
	uint64_t seed;
	double secs;
	char *d;

	gettimeofday(&t0, NULL);
	seed = ((uint64_t)t0.tv_sec << 20) ^ t0.tv_usec ^ ((uint64_t)getpid() << 40);
	for (i = 1; i < (unsigned long long)argc; i++) {
		const char *o = argv[i];

		if (!strcmp(o, "--seed") && i + 1 < (unsigned long long)argc)
			seed = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(o, "--calls") && i + 1 < (unsigned long long)argc)
			calls = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(o, "--unpriv-calls") && i + 1 < (unsigned long long)argc)
			unpriv = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(o, "--time-limit") && i + 1 < (unsigned long long)argc)
			time_limit = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(o, "--io") && i + 1 < (unsigned long long)argc)
			io = argv[++i];
		else if (!strcmp(o, "--size") && i + 1 < (unsigned long long)argc)
			vol_bytes = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(o, "--devs") && i + 1 < (unsigned long long)argc) {
			for (d = strtok(argv[++i], ","); d && nr_devs < MAX_DEVS;
			     d = strtok(NULL, ","))
				devs[nr_devs++] = d;
		} else if (!strcmp(o, "--trace"))
			trace = 1;
		else if (!strcmp(o, "--cleanup"))
			do_cleanup = 1;
		else if (!strcmp(o, "--check-empty"))
			do_check = 1;
		else if (o[0] == '-')
			usage();
		else if (nr_vols < MAX_VOLS)
			vols[nr_vols++] = o;
		else
			usage();
	}
	if (!seed)
		seed = 1;
	open_ctl();
	if (do_check) {
		check_empty();
		return nr_fail ? 1 : 0;
	}
	if (!nr_vols)
		usage();
	if (do_cleanup) {
		cleanup();
		return nr_fail ? 1 : 0;
	}
	setup_memory();
	printf("# iof-fuzz seed %llu calls %llu unpriv-calls %llu (replay: --seed %llu)\n",
	       (unsigned long long)seed, calls, unpriv, (unsigned long long)seed);
	fflush(stdout);
	rs = seed;
	if (io)
		io_pid = start_io(io);
	if (unpriv)
		up_pid = start_unpriv(unpriv, seed ^ 0x9e3779b97f4a7c15ULL);
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < calls; i++) {
		one_call(0);
		if (time_limit && !(i & 255)) {
			gettimeofday(&t1, NULL);
			if (t1.tv_sec - t0.tv_sec >= time_limit) {
				printf("# time limit of %u s reached\n", time_limit);
				calls = i + 1;
				break;
			}
		}
		if (!((i + 1) % 10000)) {
			gettimeofday(&t1, NULL);
			printf("# %llu calls, %ld s\n", i + 1,
			       (long)(t1.tv_sec - t0.tv_sec));
			fflush(stdout);
		}
	}
	if (io_pid) {
		kill(io_pid, SIGKILL);
		waitpid(io_pid, NULL, 0);
	}
	if (up_pid) {
		waitpid(up_pid, &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			fail("the unprivileged caller failed (status 0x%x)", status);
	}
	gettimeofday(&t1, NULL);
	secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_usec - t0.tv_usec) / 1e6;
	printf("# %llu calls in %.1f s\n", calls, secs);
	for (i = 0; i < ARRAY_SIZE(cmds); i++)
		printf("# %-15s ok %llu refused %llu, %.1f s, slowest %.3f s\n",
		       cmds[i].name, per_cmd[i][0], per_cmd[i][1],
		       cmd_time[i], cmd_max[i]);
	printf("# slowest: %.3f s, %s\n", slowest_t, slowest);
	printf("# errno:");
	for (i = 0; i < ARRAY_SIZE(hist[0]); i++)
		if (hist[0][i])
			printf(" %s=%llu", i ? strerrorname_np(i) ?: "?" : "0",
			       hist[0][i]);
	printf("\n# %llu failed checks (seed %llu)\n", nr_fail,
	       (unsigned long long)seed);
	return nr_fail ? 1 : 0;
}
