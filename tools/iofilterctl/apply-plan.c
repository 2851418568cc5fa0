// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl apply, phase A: look, change nothing.  What the volume's
 * origin and dm device are (look_origin()), what the kernel has
 * (read_kernel_state()), and the plan against the policy (plan_volume()):
 * interrupted replacements to finish, instances to keep, create, replace
 * or remove, crypt ranges that would become unreadable, the rule table's
 * diff as canonical rule text (rule_text()).  Every planned change goes
 * into the volume's report.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "apply.h"
#include "apply-int.h"
#include "dm.h"
#include "loop.h"
#include "qnbd.h"
#include "output.h"
#include "util.h"

/* ---- canonical rule text ---- */

static void bits_text(struct sbuf *b, uint32_t mask, const char *(*name)(unsigned), const char *pfx)
{
	bool first = true;
	unsigned i;

	for (i = 0; i < 32; i++) {
		const char *n;

		if (!(mask & (1U << i)))
			continue;
		n = name(i);
		if (!first)
			sb_addc(b, ',');
		first = false;
		if (pfx)
			sb_add(b, pfx);
		if (n)
			sb_add(b, n);
		else
			sb_printf(b, "0x%x", 1U << i);
	}
}

static void flags_text(struct sbuf *b, uint32_t set, uint32_t clr)
{
	bits_text(b, set, rqflag_name, "+");
	if (set && clr)
		sb_addc(b, ',');
	bits_text(b, clr, rqflag_name, "-");
}

static void action_text(struct sbuf *b, const struct iof_rule *r, const char *const *chain)
{
	uint32_t i;

	switch (r->action) {
	case IOF_ACTION_PASS:
		sb_add(b, "pass");
		break;
	case IOF_ACTION_DENY:
		sb_add(b, "deny");
		break;
	case IOF_ACTION_FILTER:
		sb_add(b, "chain(");
		for (i = 0; i < r->nr_chain && i < IOF_MAX_CHAIN; i++) {
			if (i)
				sb_addc(b, ',');
			sb_add(b, chain[i]);
		}
		sb_addc(b, ')');
		break;
	default:
		sb_printf(b, "action%u", r->action);
	}
}

char *rule_text(const struct iof_rule *r, const char *const *chain)
{
	char s1[32], s2[32], name[IOF_RULE_NAME_LEN];
	struct sbuf b;

	sb_init(&b);
	kname(name, r->name, sizeof(name));
	if (name[0])
		sb_printf(&b, "%s: ", name);
	if (!r->start && !r->len)
		sb_add(&b, "all");
	else if (!r->len)
		sb_printf(&b, "%s..", fmt_size(r->start, s1, sizeof(s1)));
	else
		sb_printf(&b, "%s+%s", fmt_size(r->start, s1, sizeof(s1)), fmt_size(r->len, s2, sizeof(s2)));
	if (r->ops != IOF_OP_ALL) {
		sb_add(&b, " ops=");
		bits_text(&b, r->ops, op_name, NULL);
	}
	if (r->min_size || r->max_size)
		sb_printf(&b, " size=%s..%s", r->min_size ? fmt_size(r->min_size, s1, sizeof(s1)) : "",
			  r->max_size ? fmt_size(r->max_size, s2, sizeof(s2)) : "");
	if (r->flags_set || r->flags_clear) {
		sb_add(&b, " flags=");
		flags_text(&b, r->flags_set, r->flags_clear);
	}
	if (r->ioprio_classes && r->ioprio_classes != IOF_PRIO_ALL) {
		sb_add(&b, " ioprio=");
		bits_text(&b, r->ioprio_classes, prio_name, NULL);
	}
	sb_add(&b, " -> ");
	action_text(&b, r, chain);
	return sb_steal(&b);
}

static char *default_text(const struct iof_rule *r, const char *const *chain)
{
	struct sbuf b;

	sb_init(&b);
	action_text(&b, r, chain);
	return sb_steal(&b);
}

/* ---- the kernel's state ---- */

static int find_kinst(const struct vctx *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nki; i++)
		if (!c->ki[i].gone && !strcmp(c->ki[i].name, name))
			return (int)i;
	return -1;
}

void free_kstate(struct vctx *c)
{
	size_t i;

	for (i = 0; i < c->nki; i++)
		free(c->ki[i].params);
	free(c->ki);
	free(c->cur);
	c->ki = NULL;
	c->cur = NULL;
	c->nki = c->ncur = 0;
}

/* ---- look at the origin and the dm device ---- */

static struct stat image_stat(const struct pvolume *v)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_dev = v->img_dev;
	st.st_ino = v->img_ino;
	return st;
}

/*
 * The origin of the live iofilter table of /dev/mapper/NAME into c->origin
 * and c->origin_path; 0, or the exit code of fail().
 */
static int read_live_origin(struct vctx *c, unsigned int *maj, unsigned int *min)
{
	struct pvolume *v = c->v;
	char *type = NULL, *params = NULL, vname[IOF_NAME_LEN + 1];
	int n = 0, r;

	r = dmx_table(v->name, &c->dm_sectors, &type, &params);
	if (r == -EMEDIUMTYPE)
		return fail(c, EXIT_BUSY, 0, "/dev/mapper/%s exists and is not an iofilter volume "
			    "(several targets)", v->name);
	if (r)
		return fail(c, errno_exit(r), r, "cannot read the table of /dev/mapper/%s: %s",
			    v->name, strerror(-r));
	if (strcmp(type, IOFILTER_TARGET_NAME)) {
		fail(c, EXIT_BUSY, 0, "/dev/mapper/%s exists and is not an iofilter volume (target %s)",
		     v->name, type);
		free(type);
		free(params);
		return c->rep->exit_code;
	}
	if (sscanf(params, "%u:%u %64s%n", maj, min, vname, &n) < 3 || strcmp(vname, v->name)) {
		fail(c, EXIT_BUSY, 0, "/dev/mapper/%s has an unexpected iofilter table \"%s\"",
		     v->name, params);
		free(type);
		free(params);
		return c->rep->exit_code;
	}
	free(type);
	free(params);
	c->origin = makedev(*maj, *min);
	c->origin_known = true;
	if (blkdev_path(c->origin, c->origin_path, sizeof(c->origin_path)))
		snprintf(c->origin_path, sizeof(c->origin_path), "%u:%u", *maj, *min);
	return 0;
}

/* An existing volume over qemu-nbd: the NBD device serves its image, at the same size. */
static int check_nbd_origin(struct vctx *c)
{
	struct pvolume *v = c->v;
	struct stat st = image_stat(v);
	char s1[32], s2[32];
	int r;

	if (nbd_backs(c->origin, &st) != 1)
		return fail(c, EXIT_BUSY, 0,
			    "/dev/mapper/%s exists over %s, which is not the qemu-nbd device of %s",
			    v->name, c->origin_path, v->origin);
	r = blkdev_size_rdev(c->origin, &c->loop_size);
	if (r)
		return fail(c, errno_exit(r), r, "cannot read the size of %s: %s",
			    c->origin_path, strerror(-r));
	if (c->loop_size != v->origin_size)
		return fail(c, EXIT_BUSY, 0,
			    "the virtual size of %s changed (%s -> %s): detach %s and apply again",
			    v->origin, fmt_size(c->loop_size, s1, sizeof(s1)),
			    fmt_size(v->origin_size, s2, sizeof(s2)), v->name);
	return 0;
}

/* An existing volume over a loop device: it backs its image; a new image size is a change. */
static int check_loop_origin(struct vctx *c)
{
	struct pvolume *v = c->v;
	struct stat st = image_stat(v);
	char s1[32], s2[32];
	int r;

	r = loop_backs(c->origin, &st);
	if (r < 0)
		return fail(c, errno_exit(r), r, "cannot inspect the origin %s: %s",
			    c->origin_path, strerror(-r));
	if (!r)
		return fail(c, EXIT_BUSY, 0,
			    "/dev/mapper/%s exists over %s, which is not a loop device of %s",
			    v->name, c->origin_path, v->origin);
	r = blkdev_size_rdev(c->origin, &c->loop_size);
	if (r)
		return fail(c, errno_exit(r), r, "cannot read the size of %s: %s",
			    c->origin_path, strerror(-r));
	if (c->loop_size != v->origin_size) {
		c->need_capacity = true;
		add_change(c->rep, '~', "size", NULL, "%s: %s -> %s (image %s)",
			   c->origin_path, fmt_size(c->loop_size, s1, sizeof(s1)),
			   fmt_size(v->origin_size, s2, sizeof(s2)), v->origin);
	}
	return 0;
}

/* An existing volume: its origin must be the policy's; a new size is a change. */
static int look_existing(struct vctx *c, const struct dmx_info *di)
{
	struct pvolume *v = c->v;
	char s1[32], s2[32];
	unsigned maj, min;
	int r;

	c->dm_exists = true;
	if (!di->live_table)
		return fail(c, EXIT_BUSY, 0,
			    "/dev/mapper/%s exists without a live table; remove it (dmsetup remove %s)",
			    v->name, v->name);
	r = read_live_origin(c, &maj, &min);
	if (r)
		return r;
	if (v->is_image && v->via_nbd) {
		r = check_nbd_origin(c);
		if (r)
			return r;
	} else if (v->is_image) {
		r = check_loop_origin(c);
		if (r)
			return r;
	} else if (c->origin != v->origin_rdev) {
		return fail(c, EXIT_BUSY, 0, "/dev/mapper/%s exists over %s (%u:%u), not over %s (%u:%u)",
			    v->name, c->origin_path, maj, min, v->origin,
			    major(v->origin_rdev), minor(v->origin_rdev));
	}
	if (c->dm_sectors * 512 != v->origin_size) {
		c->need_resize = true;
		add_change(c->rep, '~', "size", NULL, "/dev/mapper/%s: %s -> %s", v->name,
			   fmt_size(c->dm_sectors * 512, s1, sizeof(s1)),
			   fmt_size(v->origin_size, s2, sizeof(s2)));
	}
	return 0;
}

/* A new volume: reuse or plan its NBD or loop device, or take its block device. */
static int look_new(struct vctx *c)
{
	struct pvolume *v = c->v;
	char s1[32];
	int r;

	if (v->is_image && v->via_nbd) {
		struct stat st = image_stat(v);

		r = nbd_find(&st, c->origin_path, sizeof(c->origin_path), &c->origin);
		if (r < 0)
			return fail(c, errno_exit(r), r, "cannot look for NBD devices: %s", strerror(-r));
		if (r) {
			c->origin_known = true;
			info("%s: reusing %s for %s", v->name, c->origin_path, v->origin);
		} else {
			c->need_nbd = true;
			snprintf(c->origin_path, sizeof(c->origin_path), "a new NBD device");
			add_change(c->rep, '+', "nbd", NULL, "serve %s (%s) on an NBD device with qemu-nbd",
				   v->origin, v->img_format);
		}
	} else if (v->is_image) {
		struct stat st = image_stat(v);

		r = loop_find(&st, c->origin_path, sizeof(c->origin_path), &c->origin);
		if (r < 0)
			return fail(c, errno_exit(r), r, "cannot look for loop devices: %s", strerror(-r));
		if (r) {
			c->origin_known = true;
			info("%s: reusing %s for %s", v->name, c->origin_path, v->origin);
		} else {
			c->need_loop = true;
			snprintf(c->origin_path, sizeof(c->origin_path), "a new loop device");
			add_change(c->rep, '+', "loop", NULL, "attach %s to a loop device", v->origin);
		}
	} else {
		c->origin = v->origin_rdev;
		c->origin_known = true;
		snprintf(c->origin_path, sizeof(c->origin_path), "%s", v->path);
	}
	add_change(c->rep, '+', "volume", v->name, "/dev/mapper/%s over %s (%s)", v->name, c->origin_path,
		   fmt_size(v->origin_size, s1, sizeof(s1)));
	return 0;
}

int look_origin(struct vctx *c)
{
	struct dmx_info di;
	int r;

	r = dmx_info(c->v->name, &di);
	if (r)
		return fail(c, errno_exit(r), r, "cannot query device-mapper: %s %s", strerror(-r),
			    dmx_error());
	if (di.exists)
		return look_existing(c, &di);
	return look_new(c);
}

int read_kernel_state(struct vctx *c)
{
	struct iof_instance_info *list = NULL;
	struct iof_volume_info vi;
	size_t n, i;
	int r;

	free_kstate(c);
	memset(&c->cur_dflt, 0, sizeof(c->cur_dflt));
	c->cur_dflt.action = IOF_ACTION_PASS;
	c->gen = 0;
	r = kapi_find_volume(c->k, c->v->name, &vi);
	if (r == -ENOENT) {
		c->vol_in_kernel = false;
		return 0;
	}
	if (r)
		return r;
	c->vol_in_kernel = true;
	r = kapi_list_instances(c->k, c->v->name, &list, &n);
	if (r)
		return r;
	c->ki = xcalloc(n + 1, sizeof(*c->ki));
	for (i = 0; i < n; i++) {
		struct kinst *x = &c->ki[c->nki];

		kname(x->name, list[i].name, sizeof(x->name));
		kname(x->type, list[i].type, sizeof(x->type));
		r = kapi_instance_get(c->k, c->v->name, x->name, &x->info, &x->params, &x->plen, NULL);
		if (r == -ENOENT)
			continue;	/* removed meanwhile */
		if (r == -ENODEV) {
			c->vol_in_kernel = false;	/* the volume went away meanwhile */
			free(list);
			return 0;
		}
		if (r) {
			free(list);
			return r;
		}
		x->want = -1;
		c->nki++;
	}
	free(list);
	return kapi_table_get(c->k, c->v->name, &c->cur, &c->ncur, &c->cur_dflt, &c->gen);
}

/* ---- plan ---- */

static void plan_fixups(struct vctx *c, struct fixup *fx, size_t *nfx)
{
	size_t i;

	*nfx = 0;
	for (i = 0; i < c->nki; i++) {
		struct kinst *x = &c->ki[i];
		size_t l = strlen(x->name);
		char base[IOF_NAME_LEN];
		int old;

		if (l < 5 || strcmp(x->name + l - 4, ".new") || !x->info.users)
			continue;
		memcpy(base, x->name, l - 4);
		base[l - 4] = '\0';
		if (!pvolume_filter(c->v, base))
			continue;
		old = find_kinst(c, base);
		if (old >= 0 && c->ki[old].info.users)
			continue;
		fx[*nfx].from = (int)i;
		fx[*nfx].old = old;
		(*nfx)++;
		add_change(c->rep, '~', "instance", base, "finish an interrupted replacement: %s -> %s",
			   x->name, base);
		/* From here on the plan sees the finished state. */
		if (old >= 0)
			c->ki[old].gone = true;
		snprintf(x->name, sizeof(x->name), "%s", base);
	}
}

static bool same_params(const struct pfilter *f, const struct kinst *x)
{
	return f->params_len == x->plen && (!x->plen || !memcmp(f->params_blk, x->params, x->plen));
}

static int plan_instances(struct vctx *c)
{
	struct pvolume *v = c->v;
	size_t i;

	for (i = 0; i < v->nfilters; i++) {
		const struct pfilter *f = &v->filters[i];
		struct fstate *fs = &c->fs[i];
		int k = find_kinst(c, f->name);
		char *pt = params_text(f->params_blk, f->params_len);

		fs->kidx = k;
		if (k < 0) {
			fs->plan = F_CREATE;
			add_change(c->rep, '+', "instance", f->name, "%s%s%s", f->type, *pt ? " " : "", pt);
		} else if (!strcmp(c->ki[k].type, f->type) && same_params(f, &c->ki[k])) {
			fs->plan = F_KEEP;
			fs->id = c->ki[k].info.id;
			c->ki[k].want = (int)i;
		} else {
			struct kinst *x = &c->ki[k];
			char *old = params_text(x->params, x->plen);

			/* Class crypt transforms data: new keys cannot read the old. */
			if ((f->ft->class == IOF_CLASS_CRYPT || x->info.class == IOF_CLASS_CRYPT) &&
			    !c->o->force) {
				free(old);
				free(pt);
				return fail(c, EXIT_INVALID, 0,
					    "filter %s: changing the key/cipher of a range holding data makes it unreadable; use --force",
					    f->name);
			}
			fs->plan = F_REPLACE;
			snprintf(fs->tmpname, sizeof(fs->tmpname), "%s.new", f->name);
			x->want = (int)i;
			x->remove = true;
			add_change(c->rep, '~', "instance", f->name, "%s%s%s -> %s%s%s", x->type,
				   *old ? " " : "", old, f->type, *pt ? " " : "", pt);
			free(old);
		}
		free(pt);
	}
	for (i = 0; i < c->nki; i++) {
		struct kinst *x = &c->ki[i];

		if (x->gone || x->want >= 0)
			continue;
		if (x->info.class == IOF_CLASS_CRYPT && x->info.users && !c->o->force)
			return fail(c, EXIT_INVALID, 0,
				    "filter %s: removing a crypt filter in use makes its range unreadable; use --force",
				    x->name);
		x->remove = true;
		add_change(c->rep, '-', "instance", x->name, "%s", x->type);
	}
	/* A stale, unused instance holding a temporary name goes first. */
	for (i = 0; i < v->nfilters; i++) {
		int k;

		if (c->fs[i].plan != F_REPLACE)
			continue;
		k = find_kinst(c, c->fs[i].tmpname);
		if (k < 0)
			continue;
		if (c->ki[k].info.users)
			return fail(c, EXIT_BUSY, 0,
				    "filter %s cannot be replaced: %s exists and is in use", v->filters[i].name,
				    c->fs[i].tmpname);
		c->ki[k].remove = false;
		c->ki[k].remove_early = true;
	}
	return 0;
}

/*
 * Crypt ranges: data in a range is encrypted by the crypt instance its rule
 * runs, at that range.  Moving the range, routing it without the crypt
 * instance (pass, deny, another chain), or putting a crypt instance on a
 * range that an existing table routed without it (plaintext) makes data
 * unreadable: refused without --force, a warning with it.  A new volume
 * has no data to lose.
 */
struct crange {
	const char *inst;	/* crypt instance, or NULL: the range without crypt */
	uint64_t start, len;
};

static const char *rule_crypt(const struct vctx *c, const struct iof_rule *r)
{
	uint32_t i;
	size_t k;

	for (i = 0; r->action == IOF_ACTION_FILTER && i < r->nr_chain && i < IOF_MAX_CHAIN; i++)
		for (k = 0; k < c->nki; k++)
			if (c->ki[k].info.id == r->chain[i] && c->ki[k].info.class == IOF_CLASS_CRYPT)
				return c->ki[k].name;
	return NULL;
}

static const char *prule_crypt(const struct vctx *c, const struct prule *p)
{
	size_t i;

	for (i = 0; p->action == IOF_ACTION_FILTER && i < p->chain.n; i++)
		if (c->v->filters[p->chain.idx[i]].ft->class == IOF_CLASS_CRYPT)
			return c->v->filters[p->chain.idx[i]].name;
	return NULL;
}

static bool crange_find(const struct crange *v, size_t n, const struct crange *x, bool same_inst)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].start == x->start && v[i].len == x->len &&
		    (!same_inst || (v[i].inst && x->inst && !strcmp(v[i].inst, x->inst))))
			return true;
	return false;
}

static int plan_crypt_ranges(struct vctx *c)
{
	struct pvolume *v = c->v;
	struct crange *cur = xcalloc(c->ncur + 1, sizeof(*cur));
	struct crange *want = xcalloc(v->nrules + 1, sizeof(*want));
	size_t ncur = 0, nwant = 0, i;
	char *msg = NULL, s1[32], s2[32];
	int r = 0;

	if (!c->vol_in_kernel)
		goto out;
	for (i = 0; i < c->ncur; i++)
		cur[ncur++] = (struct crange){ rule_crypt(c, &c->cur[i]), c->cur[i].start, c->cur[i].len };
	for (i = 0; i < v->nrules; i++) {
		const struct prule *p = &v->rules[i];
		uint64_t len = p->len ? p->len : v->origin_size - p->start;

		want[nwant++] = (struct crange){ prule_crypt(c, p), p->has_range ? p->start : 0,
						 p->has_range ? len : 0 };
	}
	for (i = 0; i < ncur + nwant; i++) {
		const struct crange *x = i < ncur ? &cur[i] : &want[i - ncur];

		if (!x->inst || crange_find(i < ncur ? want : cur, i < ncur ? nwant : ncur, x, true))
			continue;
		fmt_size(x->start, s1, sizeof(s1));
		fmt_size(x->start + x->len, s2, sizeof(s2));
		free(msg);
		if (i >= ncur)
			msg = xasprintf("crypt filter %s: range %s..%s was not encrypted by it; its data would be read through the cipher as garbage",
					x->inst, s1, s2);
		else if (crange_find(want, nwant, x, false))
			msg = xasprintf("range %s..%s would no longer go through crypt filter %s; its data stays encrypted and would be read as ciphertext",
					s1, s2, x->inst);
		else
			msg = xasprintf("crypt filter %s: range %s..%s changes; data encrypted there would be unreadable",
					x->inst, s1, s2);
		if (!c->o->force) {
			r = fail(c, EXIT_INVALID, 0, "%s; use --force", msg);
			goto out;
		}
		report_warning(v->name, "%s (--force)", msg);
	}
out:
	free(msg);
	free(cur);
	free(want);
	return r;
}

/* Chain names of a kernel rule, in class order. */
static void kernel_chain(const struct vctx *c, const struct iof_rule *r, char names[][IOF_NAME_LEN + 8],
			 const char **ptrs)
{
	unsigned cls[IOF_MAX_CHAIN];
	uint32_t i, j, n = r->nr_chain < IOF_MAX_CHAIN ? r->nr_chain : IOF_MAX_CHAIN;

	for (i = 0; i < n; i++) {
		size_t k;

		snprintf(names[i], IOF_NAME_LEN + 8, "#%u", r->chain[i]);
		cls[i] = IOF_NR_CLASSES;
		for (k = 0; k < c->nki; k++)
			if (c->ki[k].info.id == r->chain[i]) {
				snprintf(names[i], IOF_NAME_LEN + 8, "%s", c->ki[k].name);
				cls[i] = c->ki[k].info.class;
				break;
			}
	}
	for (i = 0; i < n; i++)
		ptrs[i] = names[i];
	/* Insertion sort by (class, name). */
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && (cls[j - 1] > cls[j] ||
				      (cls[j - 1] == cls[j] && strcmp(ptrs[j - 1], ptrs[j]) > 0)); j--) {
			unsigned tc = cls[j];
			const char *tp = ptrs[j];

			cls[j] = cls[j - 1];
			ptrs[j] = ptrs[j - 1];
			cls[j - 1] = tc;
			ptrs[j - 1] = tp;
		}
}

/* A policy rule as an ABI rule (chain ids from the plan) and its chain names. */
void desired_rule(const struct vctx *c, const struct prule *p, bool is_default,
		  struct iof_rule *r, const char **names)
{
	size_t i, j, n = p->chain.n;
	int idx[IOF_MAX_CHAIN];

	memset(r, 0, sizeof(*r));
	if (!is_default) {
		if (p->has_range) {
			r->start = p->start;
			r->len = p->len;
			/*
			 * "To the end of the volume": the module takes len 0
			 * only for a rule without a range, so spell it out.
			 */
			if (!r->len)
				r->len = c->v->origin_size - p->start;
		}
		r->ops = p->ops;
		r->min_size = p->min_size;
		r->max_size = p->max_size;
		r->flags_set = p->flags_set;
		r->flags_clear = p->flags_clear;
		r->ioprio_classes = p->ioprio == IOF_PRIO_ALL ? 0 : p->ioprio;
		memcpy(r->name, p->name, sizeof(r->name));
	}
	r->action = p->action;
	if (p->action != IOF_ACTION_FILTER)
		return;
	for (i = 0; i < n; i++)
		idx[i] = p->chain.idx[i];
	for (i = 1; i < n; i++)
		for (j = i; j > 0; j--) {
			const struct pfilter *a = &c->v->filters[idx[j - 1]], *b = &c->v->filters[idx[j]];
			int t;

			if (a->ft->class < b->ft->class ||
			    (a->ft->class == b->ft->class && strcmp(a->name, b->name) <= 0))
				break;
			t = idx[j];
			idx[j] = idx[j - 1];
			idx[j - 1] = t;
		}
	r->nr_chain = (uint32_t)n;
	for (i = 0; i < n; i++) {
		r->chain[i] = c->fs[idx[i]].id;
		names[i] = c->v->filters[idx[i]].name;
	}
}

static bool uses_replacement(const struct vctx *c, const struct prule *p)
{
	size_t i;

	for (i = 0; i < p->chain.n; i++)
		if (c->fs[p->chain.idx[i]].plan == F_REPLACE)
			return true;
	return false;
}

static void plan_table(struct vctx *c)
{
	struct pvolume *v = c->v;
	size_t na = c->ncur, nb = v->nrules, pre = 0, suf = 0, i;
	char **a = xcalloc(na + 1, sizeof(*a)), **b = xcalloc(nb + 1, sizeof(*b));
	char names[IOF_MAX_CHAIN][IOF_NAME_LEN + 8];
	const char *ptrs[IOF_MAX_CHAIN];
	struct iof_rule r;
	char *da, *db;
	bool repl = false;

	for (i = 0; i < na; i++) {
		kernel_chain(c, &c->cur[i], names, ptrs);
		a[i] = rule_text(&c->cur[i], ptrs);
	}
	for (i = 0; i < nb; i++) {
		desired_rule(c, &v->rules[i], false, &r, ptrs);
		b[i] = rule_text(&r, ptrs);
		repl |= uses_replacement(c, &v->rules[i]);
	}
	while (pre < na && pre < nb && !strcmp(a[pre], b[pre]))
		pre++;
	while (suf < na - pre && suf < nb - pre && !strcmp(a[na - 1 - suf], b[nb - 1 - suf]))
		suf++;
	for (i = pre; i < na - suf; i++) {
		char lbl[24];

		snprintf(lbl, sizeof(lbl), "#%zu", i + 1);
		add_change(c->rep, '-', "rule", lbl, "%s", a[i]);
	}
	for (i = pre; i < nb - suf; i++) {
		char lbl[24];

		snprintf(lbl, sizeof(lbl), "#%zu", i + 1);
		add_change(c->rep, '+', "rule", lbl, "%s", b[i]);
	}
	c->table_changed = pre != na || pre != nb;

	kernel_chain(c, &c->cur_dflt, names, ptrs);
	da = default_text(&c->cur_dflt, ptrs);
	desired_rule(c, &v->dflt, true, &r, ptrs);
	db = default_text(&r, ptrs);
	if (strcmp(da, db)) {
		add_change(c->rep, '~', "default", NULL, "%s -> %s", da, db);
		c->table_changed = true;
	}
	repl |= uses_replacement(c, &v->dflt);
	/* A new volume always gets its table: whatever the module starts with. */
	if (!c->dm_exists)
		c->table_changed = true;
	if (repl && !c->table_changed) {
		add_change(c->rep, '~', "table", NULL, "reload to use the replaced filter instances");
		c->table_changed = true;
	}
	free(da);
	free(db);
	for (i = 0; i < na; i++)
		free(a[i]);
	for (i = 0; i < nb; i++)
		free(b[i]);
	free(a);
	free(b);
}

int plan_volume(struct vctx *c, struct fixup *fx, size_t *nfx)
{
	int r;

	plan_fixups(c, fx, nfx);
	r = bpf_identify(c);
	if (!r)
		r = plan_instances(c);
	if (!r)
		r = plan_crypt_ranges(c);
	if (!r)
		plan_table(c);
	return r;
}
