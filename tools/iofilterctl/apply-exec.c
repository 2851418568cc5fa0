// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl apply, phase B: carry out the plan against the system, in
 * the order apply.h gives: the origin (loop device or qemu-nbd) and the
 * dm device, interrupted replacements finished, instances created (key
 * files read here, wiped after), programs attached, the rule table loaded
 * (compare-and-swap on its generation), the replaced and unwanted
 * instances removed, "<name>.new" renamed, the device resumed or reloaded
 * for new queue limits.  Each step that fails calls fail(), which undoes
 * what can be undone.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "apply.h"
#include "apply-int.h"
#include "dm.h"
#include "loop.h"
#include "qnbd.h"
#include "output.h"
#include "util.h"

static int create_instance(struct vctx *c, size_t i)
{
	const struct pfilter *f = &c->v->filters[i];
	struct fstate *fs = &c->fs[i];
	const char *name = fs->plan == F_REPLACE ? fs->tmpname : f->name;
	unsigned char *secret = NULL;
	size_t slen = 0;
	int r;

	if (f->key_file) {
		r = read_file_max(f->key_file, IOF_MAX_SECRET_LEN, &secret, &slen);
		if (r)
			return fail(c, r == -EACCES || r == -EPERM ? EXIT_PERM : EXIT_INVALID, r,
				    "filter %s: key file %s: %s", f->name, f->key_file,
				    r == -EFBIG ? "larger than 256 bytes" : strerror(-r));
		if (!slen) {
			free(secret);
			return fail(c, EXIT_INVALID, 0, "filter %s: key file %s is empty", f->name,
				    f->key_file);
		}
	}
	r = kapi_instance_create(c->k, c->v->name, name, f->type, f->params_blk, f->params_len,
				 secret, slen, &fs->id);
	if (secret) {
		explicit_bzero(secret, IOF_MAX_SECRET_LEN + 1);
		free(secret);
	}
	if (r)
		return fail(c, errno_exit(r), r, "create filter %s (type %s): %s", name, f->type,
			    kapi_errtext(c->k, r));
	fs->created = true;
	info("%s: created filter %s (type %s, id %u)", c->v->name, name, f->type, fs->id);
	return 0;
}

static int load_table(struct vctx *c)
{
	struct pvolume *v = c->v;
	struct iof_rule *rules = xcalloc(v->nrules + 1, sizeof(*rules)), dflt;
	const char *ptrs[IOF_MAX_CHAIN];
	uint64_t gen = 0;
	size_t i;
	int r;

	for (i = 0; i < v->nrules; i++)
		desired_rule(c, &v->rules[i], false, &rules[i], ptrs);
	desired_rule(c, &v->dflt, true, &dflt, ptrs);
	r = kapi_table_load(c->k, v->name, rules, v->nrules, &dflt, c->gen, &gen);
	free(rules);
	if (r == -ESTALE)
		return fail(c, EXIT_BUSY, r,
			    "the rule table changed while applying (was generation %" PRIu64 "); run apply again",
			    c->gen);
	if (r && c->k->error_rule < v->nrules)
		return fail(c, errno_exit(r), r, "load rule table: rule #%u (line %u): %s",
			    c->k->error_rule + 1, v->rules[c->k->error_rule].m.line, kapi_errtext(c->k, r));
	if (r)
		return fail(c, errno_exit(r), r, "load rule table: %s", kapi_errtext(c->k, r));
	c->changed = true;
	c->rep->generation = gen;
	info("%s: loaded %zu rules (generation %" PRIu64 ")", v->name, v->nrules, gen);
	return 0;
}

static int setup_origin(struct vctx *c)
{
	struct pvolume *v = c->v;
	char params[IOF_NAME_LEN + 32];
	int r;

	if (c->dm_exists) {
		if (c->need_capacity) {
			r = loop_set_capacity(c->origin);
			if (r)
				return fail(c, errno_exit(r), r, "%s: cannot update its size: %s", c->origin_path,
					    strerror(-r));
		}
		if (c->need_resize) {
			snprintf(params, sizeof(params), "%u:%u %s", major(c->origin), minor(c->origin), v->name);
			r = dmx_reload(v->name, v->origin_size / 512, params);
			if (!r)
				r = dmx_resume(v->name);
			if (r)
				return fail(c, errno_exit(r), r, "resize /dev/mapper/%s: %s %s", v->name,
					    strerror(-r), dmx_error());
			c->changed = true;
		}
		return 0;
	}
	if (c->need_loop) {
		r = loop_attach(v->path, c->origin_path, sizeof(c->origin_path), &c->origin, &c->holdfd);
		if (r)
			return fail(c, errno_exit(r), r, "attach %s to a loop device: %s%s", v->origin,
				    strerror(-r), r == -ENODEV ? " (no loop driver: modprobe loop)" : "");
		c->origin_known = true;
		info("%s: attached %s to %s", v->name, v->origin, c->origin_path);
	}
	if (c->need_nbd) {
		char emsg[256];

		r = nbd_attach(v->path, v->img_format, c->origin_path, sizeof(c->origin_path), &c->origin,
			       emsg, sizeof(emsg));
		if (r)
			return fail(c, errno_exit(r), r, "serve %s (%s) with qemu-nbd: %s", v->origin,
				    v->img_format, emsg);
		c->nbd_attached = true;
		c->origin_known = true;
		info("%s: qemu-nbd serves %s on %s", v->name, v->origin, c->origin_path);
	}
	snprintf(params, sizeof(params), "%u:%u %s", major(c->origin), minor(c->origin), v->name);
	r = dmx_create(v->name, v->origin_size / 512, params);
	if (r)
		return fail(c, errno_exit(r), r, "create /dev/mapper/%s: %s%s%s", v->name, strerror(-r),
			    *dmx_error() ? ": " : "", dmx_error());
	c->dm_created = true;
	/* The dm table holds the loop device now; autoclear takes it away with it. */
	loop_release(c->holdfd);
	c->holdfd = -1;
	info("%s: created /dev/mapper/%s over %s", v->name, v->name, c->origin_path);
	/*
	 * Configure before the first resume when the target registers its
	 * volume at table load: then no I/O ever sees the device unfiltered.
	 */
	r = read_kernel_state(c);
	if (r && r != -ENOENT)
		return fail(c, errno_exit(r), r, "read volume %s: %s", v->name, kapi_errtext(c->k, r));
	if (c->vol_in_kernel) {
		c->resume_pending = true;
		return 0;
	}
	r = dmx_resume(v->name);
	if (r)
		return fail(c, errno_exit(r), r, "resume /dev/mapper/%s: %s %s", v->name, strerror(-r),
			    dmx_error());
	r = read_kernel_state(c);
	if (!r && !c->vol_in_kernel)
		r = -ENOENT;
	if (r)
		return fail(c, r == -ENOENT ? EXIT_KERNEL : errno_exit(r), r,
			    "the iofilter module shows no volume %s after creating its dm device: %s",
			    v->name, kapi_errtext(c->k, r));
	return 0;
}

/*
 * Filter types may set the volume's queue limits (crypt raises the logical
 * block size to its sector size); device-mapper computes them when a table
 * is resumed.  A new instance on a live volume takes effect once its table
 * is reloaded unchanged and resumed (atomic under I/O, like any reload).
 */
static int reload_limits(struct vctx *c)
{
	const char *name = c->v->name;
	char *type = NULL, *params = NULL;
	uint64_t sectors;
	int r;

	r = dmx_table(name, &sectors, &type, &params);
	if (!r)
		r = dmx_reload(name, sectors, params);
	if (!r)
		r = dmx_resume(name);
	free(type);
	free(params);
	if (r)
		return fail(c, errno_exit(r), r, "reload /dev/mapper/%s for its new filters' I/O limits: %s %s",
			    name, strerror(-r), dmx_error());
	return 0;
}

/* Finish interrupted replacements: "x.new" is live, "x" unused. */
static int finish_fixups(struct vctx *c, const struct fixup *fx, size_t nfx)
{
	struct pvolume *v = c->v;
	size_t i;
	int r;

	for (i = 0; i < nfx; i++) {
		const struct kinst *from = &c->ki[fx[i].from];
		char tmp[IOF_NAME_LEN + 8];

		snprintf(tmp, sizeof(tmp), "%s.new", from->name);
		if (fx[i].old >= 0) {
			r = kapi_instance_remove(c->k, v->name, from->name);
			if (r)
				return fail(c, errno_exit(r), r, "remove filter %s: %s", from->name,
					    kapi_errtext(c->k, r));
			c->changed = true;
		}
		r = kapi_instance_rename(c->k, v->name, tmp, from->name);
		if (r)
			return fail(c, errno_exit(r), r, "rename filter %s to %s: %s", tmp, from->name,
				    kapi_errtext(c->k, r));
		c->changed = true;
	}
	return 0;
}

/* Remove the stale instances ("x.new") the plan removes before creating any. */
static int remove_stale(struct vctx *c)
{
	size_t i;
	int r;

	for (i = 0; i < c->nki; i++) {
		if (!c->ki[i].remove_early)
			continue;
		r = kapi_instance_remove(c->k, c->v->name, c->ki[i].name);
		if (r)
			return fail(c, errno_exit(r), r, "remove stale filter %s: %s", c->ki[i].name,
				    kapi_errtext(c->k, r));
		c->changed = true;
	}
	return 0;
}

/*
 * The kernel refuses to unbind a filter that holds data not on the
 * origin (writes would go round it and its writeback would later put
 * older data over them): write it back first, as detach does.
 */
static int flush_before_unbind(struct vctx *c)
{
	size_t i;
	int r;

	for (i = 0; c->table_changed && i < c->nki; i++) {
		struct kinst *x = &c->ki[i];
		char *res = NULL;

		if (!x->remove || x->gone || !x->info.users ||
		    (!(x->info.flags & IOF_INST_DIRTY) && x->info.class != IOF_CLASS_CACHE))
			continue;
		info("%s: flush %s before unbinding it", c->v->name, x->name);
		r = kapi_message(c->k, c->v->name, x->name, "flush", &res);
		free(res);
		if (r)
			return fail(c, errno_exit(r), r, "flush filter %s before removing it: %s",
				    x->name, kapi_errtext(c->k, r));
	}
	return 0;
}

/* After the new table is live: remove the instances it no longer uses. */
static int remove_unused(struct vctx *c)
{
	size_t i;
	int r;

	for (i = 0; i < c->nki; i++) {
		if (!c->ki[i].remove || c->ki[i].gone)
			continue;
		r = kapi_instance_remove(c->k, c->v->name, c->ki[i].name);
		if (r)
			return fail(c, errno_exit(r), r, "remove filter %s: %s", c->ki[i].name,
				    kapi_errtext(c->k, r));
		c->changed = true;
		info("%s: removed filter %s", c->v->name, c->ki[i].name);
	}
	return 0;
}

/* Give each replacement instance ("x.new") its policy name. */
static int rename_replacements(struct vctx *c)
{
	struct pvolume *v = c->v;
	size_t i;
	int r;

	for (i = 0; i < v->nfilters; i++) {
		if (c->fs[i].plan != F_REPLACE)
			continue;
		r = kapi_instance_rename(c->k, v->name, c->fs[i].tmpname, v->filters[i].name);
		if (r)
			return fail(c, errno_exit(r), r, "rename filter %s to %s: %s", c->fs[i].tmpname,
				    v->filters[i].name, kapi_errtext(c->k, r));
		c->changed = true;
		info("%s: renamed filter %s to %s", v->name, c->fs[i].tmpname, v->filters[i].name);
	}
	return 0;
}

int execute(struct vctx *c, const struct fixup *fx, size_t nfx)
{
	struct pvolume *v = c->v;
	size_t i;
	int r;

	r = setup_origin(c);
	if (r)
		return r;
	r = finish_fixups(c, fx, nfx);
	if (r)
		return r;
	r = remove_stale(c);
	if (r)
		return r;
	for (i = 0; i < v->nfilters; i++)
		if (c->fs[i].plan != F_KEEP && (r = create_instance(c, i)))
			return r;
	r = bpf_attach_new(c);
	if (r)
		return r;
	r = flush_before_unbind(c);
	if (r)
		return r;
	if (c->table_changed && (r = load_table(c)))
		return r;
	/* Live now: an undo must not try to remove what the table uses. */
	if (!c->dm_created)
		for (i = 0; i < v->nfilters; i++)
			c->fs[i].created = false;
	r = remove_unused(c);
	if (r)
		return r;
	r = rename_replacements(c);
	if (r)
		return r;
	if (c->resume_pending) {
		r = dmx_resume(v->name);
		if (r)
			return fail(c, errno_exit(r), r, "resume /dev/mapper/%s: %s %s", v->name,
				    strerror(-r), dmx_error());
		c->resume_pending = false;
	} else if (!c->dm_created) {
		for (i = 0; i < v->nfilters; i++)
			if (c->fs[i].plan != F_KEEP)
				return reload_limits(c);
	}
	return 0;
}
