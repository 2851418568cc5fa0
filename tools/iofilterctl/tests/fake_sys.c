// SPDX-License-Identifier: GPL-2.0
/*
 * Fake kernel for the unit tests: replaces kapi_sys.c (this file: the
 * module's state and /dev/iofilter's ioctls, and the knobs of fake.h) and,
 * in fake_dev.c, dm.c, loop.c, qnbd.c and bpf.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "../kapi.h"
#include "../util.h"
#include "fake.h"
#include "fake_int.h"

struct fake_cfg fake;
char fake_log[16384];

#define MAX_TYPES 16

struct ftype_k {
	char name[IOF_NAME_LEN];
	unsigned class, flags, ninst;
};

static struct ftype_k types[MAX_TYPES];
static size_t ntypes;
static struct ftype_k loadable[MAX_TYPES];
static size_t nloadable;
struct fvol vols[MAX_VOLS];
struct floop loops[MAX_LOOPS];
static int fail_seen;

void flog(const char *fmt, ...)
{
	size_t l = strlen(fake_log);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fake_log + l, sizeof(fake_log) - l - 1, fmt, ap);
	va_end(ap);
	l = strlen(fake_log);
	if (l < sizeof(fake_log) - 1) {
		fake_log[l] = '\n';
		fake_log[l + 1] = '\0';
	}
}

void fake_reset(void)
{
	size_t i;

	for (i = 0; i < MAX_VOLS; i++)
		free(vols[i].rules);
	memset(vols, 0, sizeof(vols));
	memset(types, 0, sizeof(types));
	memset(loadable, 0, sizeof(loadable));
	memset(loops, 0, sizeof(loops));
	ntypes = nloadable = 0;
	fake_log[0] = '\0';
	memset(&fake, 0, sizeof(fake));
	fake_bpf_reset();
	fake.loaded = true;
	fake.kmajor = IOFILTER_VERSION_MAJOR;
	fake.fail_cmd = -1;
	fail_seen = 0;
}

void fake_add_type(const char *name, unsigned class, unsigned flags)
{
	struct ftype_k *t = &types[ntypes++];

	snprintf(t->name, sizeof(t->name), "%s", name);
	t->class = class;
	t->flags = flags;
}

void fake_add_loadable(const char *name, unsigned class, unsigned flags)
{
	struct ftype_k *t = &loadable[nloadable++];

	snprintf(t->name, sizeof(t->name), "%s", name);
	t->class = class;
	t->flags = flags;
}

int iof_sys_load_module(const char *module, bool dry_run)
{
	size_t i;

	flog("modprobe%s %s", dry_run ? " -n" : "", module);
	if (strncmp(module, "iofilter-", 9))
		return -ENOENT;
	for (i = 0; i < nloadable; i++) {
		if (strcmp(loadable[i].name, module + 9))
			continue;
		if (!dry_run && ntypes < MAX_TYPES)
			types[ntypes++] = loadable[i];
		return 0;
	}
	return -ENOENT;
}

struct fvol *vol_by_name(const char *name, bool need_module)
{
	size_t i;

	for (i = 0; i < MAX_VOLS; i++)
		if ((vols[i].dm || vols[i].exists) && !strcmp(vols[i].name, name))
			return need_module && !vols[i].exists ? NULL : &vols[i];
	return NULL;
}

static struct finst *inst_by_name(struct fvol *v, const char *name)
{
	size_t i;

	for (i = 0; i < MAX_INST; i++)
		if (v->inst[i].used && !strcmp(v->inst[i].name, name))
			return &v->inst[i];
	return NULL;
}

static uint32_t users(const struct fvol *v, uint32_t id)
{
	uint32_t n = 0, j;
	size_t i;

	for (i = 0; i <= v->nrules; i++) {
		const struct iof_rule *r = i < v->nrules ? &v->rules[i] : &v->dflt;

		for (j = 0; j < r->nr_chain && j < IOF_MAX_CHAIN; j++)
			n += r->chain[j] == id;
	}
	return n;
}

void fake_set_counters(const char *vol, uint64_t base)
{
	struct fvol *v = vol_by_name(vol, true);
	uint64_t *p;
	size_t i, k;

	if (!v)
		return;
	p = (uint64_t *)&v->vc;
	for (i = 0; i < sizeof(v->vc.all) / 8 + 5; i++)
		p[i] = base + i;
	for (i = 0; i < IOF_NR_OPS; i++) {
		v->dc.ios[i] = base + 100 + i;
		v->dc.bytes[i] = (base + 100 + i) * 512;
		for (k = 0; k < 8; k++) {
			v->rc[k].ios[i] = base + 10 * (k + 1) + i;
			v->rc[k].bytes[i] = (base + 10 * (k + 1) + i) * 4096;
		}
	}
}

void fake_set_dirty(const char *vol, const char *inst)
{
	struct fvol *v = vol_by_name(vol, true);
	struct finst *x = v ? inst_by_name(v, inst) : NULL;

	if (x)
		x->flags |= IOF_INST_DIRTY;
}

void fake_set_status(const char *vol, const char *inst, const char *status)
{
	struct fvol *v = vol_by_name(vol, true);
	struct finst *x = v ? inst_by_name(v, inst) : NULL;

	if (x)
		snprintf(x->status, sizeof(x->status), "%s", status);
}

void fake_set_open(const char *vol, int count)
{
	struct fvol *v = vol_by_name(vol, false);

	if (v)
		v->open_count = count;
}

const char *fake_params(const char *vol, const char *inst, size_t *len)
{
	struct fvol *v = vol_by_name(vol, true);
	struct finst *x = v ? inst_by_name(v, inst) : NULL;

	if (!x)
		return NULL;
	*len = x->plen;
	return x->params;
}

int fake_secret_len(const char *vol, const char *inst)
{
	struct fvol *v = vol_by_name(vol, true);
	struct finst *x = v ? inst_by_name(v, inst) : NULL;

	return x ? x->secret_len : -1;
}

uint64_t fake_generation(const char *vol)
{
	struct fvol *v = vol_by_name(vol, true);

	return v ? v->gen : 0;
}

int fake_ninstances(const char *vol)
{
	struct fvol *v = vol_by_name(vol, true);
	int n = 0;
	size_t i;

	for (i = 0; v && i < MAX_INST; i++)
		n += v->inst[i].used;
	return n;
}

void fake_bump_generation(const char *vol)
{
	struct fvol *v = vol_by_name(vol, true);

	if (v)
		v->gen++;
}

void fake_interrupt_replacement(const char *vol, const char *inst)
{
	struct fvol *v = vol_by_name(vol, true);
	struct finst *x = v ? inst_by_name(v, inst) : NULL;

	/* The state after "create x.new; load": x.new live, x unused. */
	if (!x)
		return;
	size_t i;
	for (i = 0; i < MAX_INST && v->inst[i].used; i++)
		;
	v->inst[i] = *x;
	v->inst[i].id = ++v->next_id;
	snprintf(v->inst[i].name, sizeof(v->inst[i].name), "%s.new", inst);
	/* A different parameter block: the old one stays as it was. */
	x->plen = 0;
	for (size_t r = 0; r <= v->nrules; r++) {
		struct iof_rule *rule = r < v->nrules ? &v->rules[r] : &v->dflt;

		for (uint32_t j = 0; j < rule->nr_chain; j++)
			if (rule->chain[j] == x->id)
				rule->chain[j] = v->inst[i].id;
	}
	v->gen++;
}

void fake_add_foreign_dm(const char *name)
{
	size_t i;

	for (i = 0; i < MAX_VOLS && (vols[i].dm || vols[i].exists); i++)
		;
	snprintf(vols[i].name, sizeof(vols[i].name), "%s", name);
	vols[i].dm = vols[i].live = true;
	snprintf(vols[i].dm_type, sizeof(vols[i].dm_type), "linear");
	snprintf(vols[i].dm_params, sizeof(vols[i].dm_params), "7:0 0");
	vols[i].sectors = 2048;
	vols[i].minor = (unsigned)i;
}

/* ---- /dev/iofilter ---- */

int iof_sys_open(void)
{
	if (!fake.loaded)
		return -ENOENT;
	if (fake.denied)
		return -EACCES;
	return 42;
}

void iof_sys_close(int fd)
{
	(void)fd;
}

static int check_hdr(void *arg, size_t size)
{
	struct iof_ioctl_hdr *h = arg;

	if (h->version[0] != fake.kmajor) {
		h->version[0] = fake.kmajor;
		h->version[1] = 0;
		h->version[2] = 0;
		return -EPROTO;
	}
	if (h->size != size || h->reserved || (h->flags & ~IOF_HDR_FLAGS_ALL))
		return -EINVAL;
	h->version[0] = fake.kmajor;
	h->version[1] = IOFILTER_VERSION_MINOR;
	h->version[2] = IOFILTER_VERSION_PATCH;
	return 0;
}

/* NUL-terminated within the array, not empty, the rest zero. */
static int name_ok(const char *n)
{
	const char *end = memchr(n, '\0', IOF_NAME_LEN);

	if (!end || !n[0])
		return 0;
	for (; end < n + IOF_NAME_LEN; end++)
		if (*end)
			return 0;
	return 1;
}

static int do_list(struct iof_list *l, int nr)
{
	size_t esize, count = 0, needed = 0, i;
	char *buf = (char *)(uintptr_t)l->buf;
	struct fvol *v = NULL;

	if (l->buf_len > IOF_MAX_LIST_BYTES || l->count || l->needed || l->entry_size)
		return -EINVAL;
	if (nr == 3) {
		if (!name_ok(l->volume))
			return -EINVAL;
		v = vol_by_name(l->volume, true);
		if (!v)
			return -ENODEV;
	} else if (l->volume[0]) {
		return -EINVAL;
	}
	esize = nr == 1 ? sizeof(struct iof_type_info) :
		nr == 2 ? sizeof(struct iof_volume_info) : sizeof(struct iof_instance_info);
	l->entry_size = (uint32_t)esize;
	if (nr == 1) {
		for (i = 0; i < ntypes; i++, needed++) {
			struct iof_type_info t;

			if ((count + 1) * esize > l->buf_len)
				continue;
			memset(&t, 0, sizeof(t));
			memcpy(t.name, types[i].name, sizeof(t.name));
			t.version[0] = 1;
			t.class = types[i].class;
			t.flags = types[i].flags;
			t.nr_instances = types[i].ninst;
			memcpy(buf + count++ * esize, &t, esize);
		}
	} else if (nr == 2) {
		for (i = 0; i < MAX_VOLS; i++) {
			struct iof_volume_info x;

			if (!vols[i].exists)
				continue;
			needed++;
			if ((count + 1) * esize > l->buf_len)
				continue;
			memset(&x, 0, sizeof(x));
			memcpy(x.name, vols[i].name, sizeof(x.name));
			x.dev_major = 253;
			x.dev_minor = vols[i].minor;
			x.origin_major = vols[i].origin_major;
			x.origin_minor = vols[i].origin_minor;
			x.size = vols[i].sectors * 512;
			x.generation = vols[i].gen;
			x.nr_rules = (uint32_t)vols[i].nrules;
			for (size_t k = 0; k < MAX_INST; k++)
				x.nr_instances += vols[i].inst[k].used;
			x.flags = vols[i].suspended ? IOF_VOL_SUSPENDED : 0;
			memcpy(buf + count++ * esize, &x, esize);
		}
	} else {
		for (i = 0; i < MAX_INST; i++) {
			struct iof_instance_info x;

			if (!v->inst[i].used)
				continue;
			needed++;
			if ((count + 1) * esize > l->buf_len)
				continue;
			memset(&x, 0, sizeof(x));
			memcpy(x.name, v->inst[i].name, sizeof(x.name));
			memcpy(x.type, v->inst[i].type, sizeof(x.type));
			x.id = v->inst[i].id;
			x.class = v->inst[i].class;
			x.users = users(v, x.id);
			x.params_len = (uint32_t)v->inst[i].plen;
			x.flags = v->inst[i].flags;
			memcpy(buf + count++ * esize, &x, esize);
		}
	}
	l->count = (uint32_t)count;
	l->needed = (uint32_t)needed;
	return 0;
}

static struct ftype_k *type_by_name(const char *n)
{
	size_t i;

	for (i = 0; i < ntypes; i++)
		if (!strcmp(types[i].name, n))
			return &types[i];
	return NULL;
}

void vol_drop(struct fvol *v)
{
	size_t i;

	for (i = 0; i < MAX_INST; i++)
		if (v->inst[i].used && type_by_name(v->inst[i].type))
			type_by_name(v->inst[i].type)->ninst--;
	free(v->rules);
	memset(v, 0, sizeof(*v));
}

static int do_create(struct iof_instance_create *c)
{
	struct fvol *v;
	struct ftype_k *t;
	const char *p = (const char *)(uintptr_t)c->params;
	size_t i;

	/* Output fields must be zero on input (Documentation/ioctl-abi.rst). */
	if (c->reserved || c->id || c->message[0] || !name_ok(c->volume) || !name_ok(c->name) ||
	    !name_ok(c->type))
		return -EINVAL;
	if (c->params_len > IOF_MAX_PARAMS_LEN || c->secret_len > IOF_MAX_SECRET_LEN)
		return -EINVAL;
	if (c->params_len && p[c->params_len - 1] != '\0')
		return -EINVAL;
	v = vol_by_name(c->volume, true);
	if (!v)
		return -ENODEV;
	t = type_by_name(c->type);
	if (!t) {
		snprintf(c->message, sizeof(c->message), "no filter type %s", c->type);
		return -ENOENT;
	}
	if (inst_by_name(v, c->name))
		return -EEXIST;
	/* A filter refusing a parameter: "bad=..." */
	for (i = 0; i < c->params_len; i += strlen(p + i) + 1)
		if (!strncmp(p + i, "bad=", 4)) {
			snprintf(c->message, sizeof(c->message), "%s: unknown parameter \"%s\"", c->type, p + i);
			return -EINVAL;
		}
	for (i = 0; i < MAX_INST && v->inst[i].used; i++)
		;
	if (i == MAX_INST)
		return -ENOSPC;
	memset(&v->inst[i], 0, sizeof(v->inst[i]));
	v->inst[i].used = true;
	memcpy(v->inst[i].name, c->name, IOF_NAME_LEN);
	memcpy(v->inst[i].type, c->type, IOF_NAME_LEN);
	v->inst[i].class = t->class;
	v->inst[i].id = c->id = ++v->next_id;
	memcpy(v->inst[i].params, p, c->params_len);
	v->inst[i].plen = c->params_len;
	v->inst[i].secret_len = c->secret ? (int)c->secret_len : 0;
	if (!strcmp(c->type, "bpf"))	/* the key apply-bpf.c reads */
		snprintf(v->inst[i].status, sizeof(v->inst[i].status),
			 "key=%llu continued=0 passed=0 failed=0 bad_verdicts=0 program=-",
			 ++fake.bpf_next_key);
	else
		snprintf(v->inst[i].status, sizeof(v->inst[i].status), "state=ok reads=0 mode=a\"b");
	t->ninst++;
	flog("create %s %s %s", c->volume, c->name, c->type);
	return 0;
}

static int do_remove(struct iof_instance_remove *c)
{
	struct fvol *v;
	struct finst *x;

	if (!name_ok(c->volume) || !name_ok(c->name))
		return -EINVAL;
	v = vol_by_name(c->volume, true);
	if (!v)
		return -ENODEV;
	x = inst_by_name(v, c->name);
	if (!x)
		return -ENOENT;
	if (users(v, x->id))
		return -EBUSY;
	if (type_by_name(x->type))
		type_by_name(x->type)->ninst--;
	x->used = false;
	flog("remove %s %s", c->volume, c->name);
	return 0;
}

static int do_rename(struct iof_instance_rename *c)
{
	struct fvol *v;
	struct finst *x;

	if (!name_ok(c->volume) || !name_ok(c->name) || !name_ok(c->new_name))
		return -EINVAL;
	v = vol_by_name(c->volume, true);
	if (!v)
		return -ENODEV;
	x = inst_by_name(v, c->name);
	if (!x)
		return -ENOENT;
	if (inst_by_name(v, c->new_name))
		return -EEXIST;
	memcpy(x->name, c->new_name, IOF_NAME_LEN);
	flog("rename %s %s %s", c->volume, c->name, c->new_name);
	return 0;
}

/* Like ctl_instance_get(): lengths out, params only if they fit, status cut. */
static int do_get(struct iof_instance_get *g)
{
	struct fvol *v;
	struct finst *x;
	size_t sl = 0;

	if (!name_ok(g->volume) || !name_ok(g->name) || g->info.name[0] || g->info.id)
		return -EINVAL;
	if (g->status_len > IOF_MAX_TEXT_LEN || g->params_len > IOF_MAX_PARAMS_LEN)
		return -EINVAL;
	v = vol_by_name(g->volume, true);
	if (!v)
		return -ENODEV;
	x = inst_by_name(v, g->name);
	if (!x)
		return -ENOENT;
	memset(&g->info, 0, sizeof(g->info));
	memcpy(g->info.name, x->name, IOF_NAME_LEN);
	memcpy(g->info.type, x->type, IOF_NAME_LEN);
	g->info.id = x->id;
	g->info.class = x->class;
	g->info.users = users(v, x->id);
	g->info.params_len = (uint32_t)x->plen;
	g->info.flags = x->flags;
	if (x->plen && g->params_len >= x->plen)
		memcpy((void *)(uintptr_t)g->params, x->params, x->plen);
	if (g->status_len) {
		char *st = (char *)(uintptr_t)g->status;

		if (fake.status_ticks)
			snprintf(st, g->status_len, "state=ok reads=%u dirty=3 mode=a", 10 * x->ticks++);
		else
			snprintf(st, g->status_len, "%s", fake.big_status ? fake.big_status : x->status);
		sl = strlen(st) + 1;
	}
	g->params_len = (uint32_t)x->plen;
	g->status_len = (uint32_t)sl;
	return 0;
}

static bool id_exists(const struct fvol *v, uint32_t id)
{
	size_t i;

	for (i = 0; i < MAX_INST; i++)
		if (v->inst[i].used && v->inst[i].id == id)
			return true;
	return false;
}

static int check_rule(const struct fvol *v, const struct iof_rule *r, bool dflt)
{
	uint32_t j;

	if (dflt && (r->start || r->len || r->ops || r->min_size || r->max_size || r->flags_set ||
		     r->flags_clear || r->ioprio_classes || r->name[0]))
		return -EINVAL;
	if (!dflt && (!r->ops || (r->ops & ~IOF_OP_ALL) || r->start % 512 || r->len % 512 ||
		      !memchr(r->name, '\0', IOF_RULE_NAME_LEN) || (!r->len && r->start)))
		return -EINVAL;	/* like convert_rule(): a start needs a length */
	if (!dflt && r->len && (r->start + r->len) / 512 > v->vsectors)
		return -ERANGE;
	if (r->action < IOF_ACTION_PASS || r->action > IOF_ACTION_FILTER || r->nr_chain > IOF_MAX_CHAIN)
		return -EINVAL;
	if ((r->action == IOF_ACTION_FILTER) != (r->nr_chain > 0))
		return -EINVAL;
	for (j = 0; j < r->nr_chain; j++)
		if (!id_exists(v, r->chain[j]))
			return -ENOENT;
	for (j = r->nr_chain; j < IOF_MAX_CHAIN; j++)
		if (r->chain[j])
			return -EINVAL;
	return 0;
}

static int do_table(struct iof_table *t, bool load)
{
	struct fvol *v;
	struct iof_rule *rules = (struct iof_rule *)(uintptr_t)t->rules;
	size_t i;
	int r;

	if (!name_ok(t->volume) || t->reserved || t->rule_size != sizeof(struct iof_rule) ||
	    t->nr_rules > IOF_MAX_RULES || t->generation || t->error_rule || t->message[0])
		return -EINVAL;
	v = vol_by_name(t->volume, true);
	if (!v)
		return -ENODEV;
	if (!load) {
		if (t->expected_generation || t->default_rule.action)
			return -EINVAL;
		if (t->nr_rules < v->nrules) {
			t->nr_rules = (uint32_t)v->nrules;
			return -ENOSPC;
		}
		memcpy(rules, v->rules, v->nrules * sizeof(*rules));
		t->nr_rules = (uint32_t)v->nrules;
		t->default_rule = v->dflt;
		t->generation = v->gen;
		t->error_rule = ~0U;
		return 0;
	}
	if (fake.race_before_load) {
		fake.race_before_load = false;
		v->gen++;
	}
	if (t->expected_generation && t->expected_generation != v->gen) {
		snprintf(t->message, sizeof(t->message), "generation is %llu", (unsigned long long)v->gen);
		return -ESTALE;
	}
	for (i = 0; i < t->nr_rules; i++) {
		r = check_rule(v, &rules[i], false);
		if (r) {
			t->error_rule = (uint32_t)i;
			snprintf(t->message, sizeof(t->message), "rule %zu is invalid", i);
			return r;
		}
	}
	r = check_rule(v, &t->default_rule, true);
	if (r) {
		snprintf(t->message, sizeof(t->message), "bad default rule");
		return r;
	}
	free(v->rules);
	v->rules = xcalloc(t->nr_rules + 1, sizeof(*rules));
	memcpy(v->rules, rules, t->nr_rules * sizeof(*rules));
	v->nrules = t->nr_rules;
	v->dflt = t->default_rule;
	t->generation = ++v->gen;
	memset(v->rc, 0, sizeof(v->rc));
	flog("load %s rules=%u gen=%llu", t->volume, t->nr_rules, (unsigned long long)v->gen);
	return 0;
}

static int do_stats(struct iof_stats *s)
{
	struct fvol *v;
	size_t i;

	if (!name_ok(s->volume) || s->reset > 1 || s->generation || s->vol.passed || s->dflt.ios[0])
		return -EINVAL;
	v = vol_by_name(s->volume, true);
	if (!v)
		return -ENODEV;
	if (s->nr_rules < v->nrules) {
		s->nr_rules = (uint32_t)v->nrules;
		return -ENOSPC;
	}
	s->generation = v->gen;
	s->vol = v->vc;
	s->dflt = v->dc;
	for (i = 0; i < v->nrules; i++)
		((struct iof_counters *)(uintptr_t)s->rules)[i] = i < 8 ? v->rc[i] : (struct iof_counters){ { 0 }, { 0 } };
	s->nr_rules = (uint32_t)v->nrules;
	if (s->reset) {
		memset(&v->vc, 0, sizeof(v->vc));
		memset(&v->dc, 0, sizeof(v->dc));
		memset(v->rc, 0, sizeof(v->rc));
		flog("reset %s", s->volume);
	}
	return 0;
}

static int do_message(struct iof_message *m)
{
	const char *msg = (const char *)(uintptr_t)m->msg;
	char *res = (char *)(uintptr_t)m->result;
	struct fvol *v;
	struct finst *x;

	if (!name_ok(m->volume) || !name_ok(m->name) || m->msg_len > IOF_MSG_LEN || !m->msg_len ||
	    msg[m->msg_len - 1] || m->result_len > IOF_MAX_TEXT_LEN)
		return -EINVAL;
	v = vol_by_name(m->volume, true);
	if (!v)
		return -ENODEV;
	x = inst_by_name(v, m->name);
	if (!x)
		return -ENOENT;
	flog("message %s %s %s", m->volume, m->name, msg);
	if (!strcmp(msg, "flush")) {
		if (!fake.instances_stay_dirty)
			x->flags &= ~IOF_INST_DIRTY;
		m->result_len = (uint32_t)snprintf(res, m->result_len, "flushed=3");
		return 0;
	}
	if (!strcmp(msg, "resync") && x->class == IOF_CLASS_REPLICATE) {
		m->result_len = 0;
		return 0;
	}
	if (!strncmp(msg, "echo ", 5)) {
		m->result_len = (uint32_t)snprintf(res, m->result_len, "%s", msg + 5);
		return 0;
	}
	m->result_len = (uint32_t)snprintf(res, m->result_len, "unknown message");
	return -EINVAL;
}

int iof_sys_ioctl(int fd, unsigned long req, void *arg)
{
	int nr = (int)_IOC_NR(req), r;
	static const size_t sizes[] = {
		sizeof(struct iof_version), sizeof(struct iof_list), sizeof(struct iof_list),
		sizeof(struct iof_list), sizeof(struct iof_instance_create),
		sizeof(struct iof_instance_remove), sizeof(struct iof_instance_get),
		sizeof(struct iof_table), sizeof(struct iof_table), sizeof(struct iof_stats),
		sizeof(struct iof_message), sizeof(struct iof_instance_rename),
	};

	if (fd != 42 || _IOC_TYPE(req) != IOF_IOCTL_MAGIC || nr < 0 || nr > 0x0b ||
	    _IOC_SIZE(req) != sizes[nr])
		return -ENOTTY;
	/* like the kernel: every command _IOWR, REMOVE and RENAME also _IOW */
	if (_IOC_DIR(req) != (_IOC_READ | _IOC_WRITE) &&
	    (_IOC_DIR(req) != _IOC_WRITE || (nr != 5 && nr != 11)))
		return -ENOTTY;
	if (fake.old_numbers && (nr == 5 || nr == 11) && _IOC_DIR(req) != _IOC_WRITE)
		return -ENOTTY;
	r = check_hdr(arg, sizes[nr]);
	if (r)
		return r;
	if (nr && fake.ioctl_eperm)
		return -EPERM;
	if (nr == fake.fail_cmd && fail_seen++ >= fake.fail_after) {
		fake.fail_cmd = -1;
		return -fake.fail_errno;
	}
	switch (nr) {
	case 0: {
		struct iof_version *v = arg;
		size_t i;

		v->nr_types = (uint32_t)ntypes;
		v->nr_volumes = 0;
		for (i = 0; i < MAX_VOLS; i++)
			v->nr_volumes += vols[i].exists;
		return 0;
	}
	case 1:
	case 2:
	case 3:
		return do_list(arg, nr);
	case 4:
		return do_create(arg);
	case 5:
		return do_remove(arg);
	case 6:
		return do_get(arg);
	case 7:
		return do_table(arg, true);
	case 8:
		return do_table(arg, false);
	case 9:
		return do_stats(arg);
	case 10:
		return do_message(arg);
	case 11:
		return do_rename(arg);
	}
	return -ENOTTY;
}

