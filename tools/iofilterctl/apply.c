// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl apply: plan (read-only) then execute, per volume.
 *
 * The plan compares the policy with what the kernel has: instances by name,
 * type and parameter block (as read back with IOF_IOC_INSTANCE_GET), and
 * the rule table in name space (instance ids mapped to names), as the
 * canonical text of rule_text().  A dry run stops after the plan.
 *
 * This file runs the steps per volume and keeps the report: the changes,
 * and on failure the undo of what this run created (fail()).  The steps:
 * apply-plan.c (look and plan), apply-exec.c (execute), apply-bpf.c (the
 * bpf filters' programs).
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "apply-int.h"
#include "dm.h"
#include "loop.h"
#include "qnbd.h"
#include "output.h"
#include "util.h"

void add_change(struct vol_report *rep, char sign, const char *what, const char *name,
		const char *fmt, ...)
{
	struct change *c;
	va_list ap;

	rep->changes = xreallocarray(rep->changes, rep->nchanges + 1, sizeof(*rep->changes));
	c = &rep->changes[rep->nchanges++];
	c->sign = sign;
	c->what = xstrdup(what);
	c->name = name ? xstrdup(name) : NULL;
	va_start(ap, fmt);
	c->text = xvasprintf(fmt, ap);
	va_end(ap);
}

/* ---- failure and undo ---- */

/* Undo what this run created; true if everything was undone. */
static bool rollback(struct vctx *c)
{
	bool ok = true;
	size_t i;

	for (i = 0; i < c->v->nfilters; i++) {
		struct fstate *f = &c->fs[i];
		const char *name = f->plan == F_REPLACE ? f->tmpname : c->v->filters[i].name;
		int r;

		if (!f->created)
			continue;
		r = kapi_instance_remove(c->k, c->v->name, name);
		if (r && !c->dm_created) {
			report_error(EXIT_PARTIAL, c->v->name, r, "undo: remove filter %s: %s", name,
				     kapi_errtext(c->k, r));
			ok = false;
		}
		f->created = false;
	}
	if (c->dm_created) {
		int r = dmx_remove(c->v->name);

		if (r) {
			report_error(EXIT_PARTIAL, c->v->name, r, "undo: remove /dev/mapper/%s: %s",
				     c->v->name, strerror(-r));
			ok = false;
		} else {
			info("%s: removed /dev/mapper/%s again", c->v->name, c->v->name);
		}
		c->dm_created = false;
	}
	loop_release(c->holdfd);
	c->holdfd = -1;
	if (c->nbd_attached) {
		int r = nbd_detach(c->origin);

		if (r < 0) {
			report_error(EXIT_PARTIAL, c->v->name, r, "undo: disconnect %s: %s", c->origin_path,
				     strerror(-r));
			ok = false;
		} else {
			info("%s: disconnected %s again", c->v->name, c->origin_path);
		}
		c->nbd_attached = false;
	}
	return ok;
}

int fail(struct vctx *c, int code, int err, const char *fmt, ...)
{
	bool fresh = c->dm_created, undone;
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	report_error(code, c->v->name, err, "%s", msg);
	free(msg);
	bpf_undo(c);
	undone = rollback(c);
	c->rep->result = VOL_FAILED;
	/* Removing a device this run created undoes everything it did. */
	if (!undone || (c->changed && !fresh)) {
		c->rep->partial = true;
		c->rep->exit_code = EXIT_PARTIAL;
	} else {
		c->rep->exit_code = code;
	}
	return c->rep->exit_code;
}

static int apply_volume(struct kapi *k, const char *file, struct pvolume *v,
			const struct apply_opts *o, struct vol_report *rep)
{
	struct vctx c;
	struct fixup *fx;
	size_t nfx = 0;
	int r;

	memset(&c, 0, sizeof(c));
	c.k = k;
	c.file = file;
	c.o = o;
	c.v = v;
	c.rep = rep;
	c.holdfd = -1;
	c.cur_dflt.action = IOF_ACTION_PASS;
	c.fs = xcalloc(v->nfilters + 1, sizeof(*c.fs));
	rep->name = xstrdup(v->name);
	rep->device = xasprintf("/dev/mapper/%s", v->name);
	rep->size = v->origin_size;
	rep->nfilters = v->nfilters;
	rep->nrules = v->nrules;

	r = look_origin(&c);
	if (r)
		goto out;
	if (c.dm_exists) {
		r = read_kernel_state(&c);
		if (r) {
			r = fail(&c, errno_exit(r), r, "read volume %s: %s", v->name, kapi_errtext(k, r));
			goto out;
		}
		if (!c.vol_in_kernel) {
			r = fail(&c, EXIT_KERNEL, 0, "/dev/mapper/%s exists but the iofilter module has no such volume",
				 v->name);
			goto out;
		}
	}
	fx = xcalloc(c.nki + 1, sizeof(*fx));
	r = plan_volume(&c, fx, &nfx);
	if (!r) {
		rep->generation = c.gen;
		if (!o->dry_run && rep->nchanges) {
			/* A new volume's plan assumed an empty one: re-plan after creating it. */
			r = execute(&c, fx, nfx);
		}
	}
	free(fx);
	if (!r && !o->dry_run && (c.dm_exists || rep->nchanges)) {
		/* past the table load: nothing to undo */
		for (size_t i = 0; i < v->nfilters; i++)
			c.fs[i].bpf_key = 0;
		r = bpf_sync(&c);
	}
	if (r)
		goto out;
	rep->origin = xstrdup(c.origin_path);
	if (!rep->nchanges)
		rep->result = VOL_UNCHANGED;
	else
		rep->result = c.dm_exists ? VOL_CHANGED : VOL_CREATED;
	rep->exit_code = EXIT_OK;
out:
	if (r && !rep->origin)
		rep->origin = c.origin_path[0] ? xstrdup(c.origin_path) : NULL;
	loop_release(c.holdfd);
	free_kstate(&c);
	free(c.fs);
	return r;
}

int apply_policy(struct kapi *k, struct policy *p, const struct apply_opts *o,
		 struct apply_report *rep)
{
	bool any_change = false, any_fail = false;
	int first_code = EXIT_OK;
	size_t i;

	memset(rep, 0, sizeof(*rep));
	rep->file = p->file;
	rep->dry_run = o->dry_run;
	rep->v = xcalloc(p->nvols, sizeof(*rep->v));
	for (i = 0; i < p->nvols; i++) {
		struct vol_report *vr = &rep->v[rep->n++];
		int r = apply_volume(k, p->file, &p->vols[i], o, vr);

		if (r) {
			any_fail = true;
			if (!first_code)
				first_code = r;
			any_change |= vr->partial;
		} else if (vr->result != VOL_UNCHANGED) {
			any_change = true;
		}
	}
	if (!any_fail)
		rep->exit_code = EXIT_OK;
	else if (any_change && !o->dry_run)
		rep->exit_code = EXIT_PARTIAL;
	else
		rep->exit_code = first_code;
	return rep->exit_code;
}

void apply_report_free(struct apply_report *rep)
{
	size_t i, j;

	for (i = 0; i < rep->n; i++) {
		struct vol_report *v = &rep->v[i];

		for (j = 0; j < v->nchanges; j++) {
			free(v->changes[j].what);
			free(v->changes[j].name);
			free(v->changes[j].text);
		}
		free(v->changes);
		free(v->name);
		free(v->device);
		free(v->origin);
	}
	free(rep->v);
	memset(rep, 0, sizeof(*rep));
}
