// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl verbs that take a policy: validate and the bulk of apply
 * (apply*.c does the work); and opening the kernel for every verb.  The
 * verbs that show what the kernel has are in commands-show.c, those that
 * send messages to filters and detach in commands-msg.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "commands.h"
#include "commands-int.h"
#include "dm.h"
#include "kapi.h"
#include "output.h"
#include "policy.h"
#include "util.h"

/* Open /dev/iofilter; on failure report why and return the exit code. */
int open_kernel(struct kapi *k)
{
	int r = kapi_open(k);

	switch (r) {
	case 0:
		return 0;
	case -ENOENT:
	case -ENODEV:
	case -ENXIO:
		return report_error(EXIT_NODEV, NULL, r, "iofilter module not loaded (modprobe iofilter)");
	case -EPERM:
	case -EACCES:
		return report_error(EXIT_PERM, NULL, r, "permission denied: iofilterctl needs CAP_SYS_ADMIN");
	case -EPROTO:
		return report_error(EXIT_KERNEL, NULL, r,
				    "the iofilter module speaks ABI %u.%u.%u; iofilterctl needs %d.x (it was built for %d.%d.%d)",
				    k->kver[0], k->kver[1], k->kver[2], IOFILTER_VERSION_MAJOR,
				    IOFILTER_VERSION_MAJOR, IOFILTER_VERSION_MINOR, IOFILTER_VERSION_PATCH);
	default:
		return report_error(errno_exit(r), NULL, r, "cannot open /dev/%s: %s", IOFILTER_CTL_NAME,
				    strerror(-r));
	}
}

int kfail(struct kapi *k, const char *vol, int r, const char *what)
{
	return report_error(errno_exit(r), vol, r, "%s: %s", what, kapi_errtext(k, r));
}

/* ---- validate ---- */

int cmd_validate(struct cmd *c)
{
	struct policy p;
	struct ftypes t;
	struct diags d;
	int code;

	diags_init(&d, c->argv[0]);
	ftypes_builtin(&t);
	policy_load(c->argv[0], &p, &d);
	policy_check(&p, &t, &d);
	policy_check_env(&p, c->strict ? POLICY_ENV_REQUIRE : 0, &d);
	diags_sort(&d);
	report_diags(&d);
	show_validate(&p, &d);
	code = d.nerr ? EXIT_INVALID : EXIT_OK;
	policy_free(&p);
	ftypes_free(&t);
	diags_free(&d);
	return code;
}

/* ---- apply ---- */

/* Re-read the kernel's filter types into t; the policy's ft pointers follow. */
static int reload_types(struct kapi *k, struct policy *p, struct ftypes *t)
{
	struct iof_type_info *ti;
	size_t n, vi, i;
	int r = kapi_list_types(k, &ti, &n);

	if (r)
		return r;
	ftypes_merge(t, ti, n);
	free(ti);
	for (vi = 0; vi < p->nvols; vi++)
		for (i = 0; i < p->vols[vi].nfilters; i++) {
			struct pfilter *f = &p->vols[vi].filters[i];

			if (f->ft)
				f->ft = ftypes_find(t, f->type);
		}
	return 0;
}

/*
 * Filter types the policy uses that the kernel has not registered: load
 * their modules now, as the kernel's request_module("iofilter-<type>")
 * would when the instance is created, so that a type nobody can load is an
 * error of the policy, found before anything changes.  A dry run only asks
 * modprobe whether it finds the module.
 */
static int load_filter_modules(struct kapi *k, struct policy *p, struct ftypes *t, bool dry_run,
			       struct diags *d)
{
	size_t vi, i;
	int r;

	for (vi = 0; vi < p->nvols; vi++)
		for (i = 0; i < p->vols[vi].nfilters; i++) {
			struct pfilter *f = &p->vols[vi].filters[i];
			char *mod, *hint;
			bool found;
			size_t ti;

			if (!f->ft || f->ft->in_kernel)
				continue;
			mod = xasprintf("iofilter-%s", f->type);
			found = !iof_sys_load_module(mod, dry_run);
			if (found && dry_run) {
				/* apply will load it: count it as there. */
				ti = (size_t)(f->ft - t->v);
				t->v[ti].in_kernel = true;
			} else if (found) {
				r = reload_types(k, p, t);
				if (r) {
					free(mod);
					return r;
				}
			}
			if (!f->ft->in_kernel) {
				hint = xasprintf("load the module (modprobe %s, or insmod %s.ko) and apply again",
						 mod, mod);
				if (found)
					diag_add(d, DIAG_ERROR, f->type_m, hint,
						 "filter type \"%s\" is not registered in the kernel, also after modprobe %s",
						 f->type, mod);
				else
					diag_add(d, DIAG_ERROR, f->type_m, hint,
						 "filter type \"%s\" is not registered in the kernel and modprobe cannot load %s",
						 f->type, mod);
				free(hint);
				/* One error per type is enough: no second modprobe. */
				ti = (size_t)(f->ft - t->v);
				t->v[ti].in_kernel = true;
			}
			free(mod);
		}
	return 0;
}

int cmd_apply(struct cmd *c)
{
	struct apply_opts o = { .dry_run = c->dry_run, .force = c->force };
	struct apply_report rep;
	struct kapi k = { .fd = -1 };
	struct policy p;
	struct ftypes t;
	struct diags d;
	int code, kr;

	diags_init(&d, c->argv[0]);
	ftypes_builtin(&t);
	policy_load(c->argv[0], &p, &d);
	/* Errors of the file come first: they need no module (-ENODATA: not opened). */
	kr = d.nerr ? -ENODATA : kapi_open(&k);
	/*
	 * Without the privilege, say so (exit 2): the checks of devices and
	 * key files below would only fail on permissions as well.
	 */
	if (kr == -EPERM || kr == -EACCES) {
		code = open_kernel(&k);
		goto out_empty;
	}
	if (!kr) {
		struct iof_type_info *ti;
		size_t n;
		int r = kapi_list_types(&k, &ti, &n);

		if (r) {
			code = kfail(&k, NULL, r, "list filter types");
			kapi_close(&k);
			goto out_empty;
		}
		ftypes_merge(&t, ti, n);
		free(ti);
	}
	policy_check(&p, &t, &d);
	policy_check_env(&p, POLICY_ENV_REQUIRE, &d);
	if (!kr && !d.nerr) {
		int r = load_filter_modules(&k, &p, &t, c->dry_run, &d);

		if (r) {
			code = kfail(&k, NULL, r, "list filter types");
			kapi_close(&k);
			goto out_empty;
		}
	}
	diags_sort(&d);
	report_diags(&d);
	if (d.nerr) {
		show_nothing_applied(d.file, d.nerr);
		code = EXIT_INVALID;
		kapi_close(&k);
		goto out_empty;
	}
	if (kr) {
		code = open_kernel(&k);
		goto out_empty;
	}
	dmx_init();
	code = apply_policy(&k, &p, &o, &rep);
	show_apply(&rep);
	apply_report_free(&rep);
	kapi_close(&k);
	dmx_exit();
	goto out;
out_empty:
	memset(&rep, 0, sizeof(rep));
	rep.file = c->argv[0];
	rep.dry_run = c->dry_run;
	if (ofmt == OFMT_JSON)
		show_apply(&rep);
out:
	policy_free(&p);
	ftypes_free(&t);
	diags_free(&d);
	return code;
}

