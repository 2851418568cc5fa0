// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl verbs other than the bulk of apply (apply.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "bpf.h"
#include "commands.h"
#include "dm.h"
#include "kapi.h"
#include "loop.h"
#include "qnbd.h"
#include "output.h"
#include "policy.h"
#include "util.h"

unsigned detach_wait_ms = 30000;

/* Open /dev/iofilter; on failure report why and return the exit code. */
static int open_kernel(struct kapi *k)
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

static int kfail(struct kapi *k, const char *vol, int r, const char *what)
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

/* ---- status ---- */

static int find_volumes(struct kapi *k, const char *name, struct iof_volume_info **v, size_t *n)
{
	size_t i, m = 0;
	int r;

	r = kapi_list_volumes(k, v, n);
	if (r)
		return kfail(k, NULL, r, "list volumes");
	if (!name)
		return 0;
	for (i = 0; i < *n; i++) {
		char vn[IOF_NAME_LEN];

		kname(vn, (*v)[i].name, sizeof(vn));
		if (!strcmp(vn, name))
			(*v)[m++] = (*v)[i];
	}
	*n = m;
	if (!m) {
		free(*v);
		*v = NULL;
		return report_error(EXIT_NODEV, NULL, -ENOENT, "no such volume: %s", name);
	}
	return 0;
}

static void free_show(struct show_volume *sv, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < sv[i].ninst; j++) {
			free(sv[i].inst[j].params);
			free(sv[i].inst[j].status);
		}
		free(sv[i].inst);
	}
	free(sv);
}

/* A bpf instance's status gets what is attached: "prog_id=N maps=..." */
static void bpf_status_append(const char *vol, struct show_instance *x)
{
	const char *p = x->status;
	uint64_t key = 0;
	char *w, *s;

	for (; (p = strstr(p, "key=")); p++)
		if (p == x->status || p[-1] == ' ') {
			key = strtoull(p + 4, NULL, 10);
			break;
		}
	w = bpf_status_words(vol, x->name, key);
	s = xasprintf("%s %s", x->status, w);
	free(w);
	free(x->status);
	x->status = s;
}

int cmd_status(struct cmd *c)
{
	struct iof_volume_info *v = NULL;
	struct show_volume *sv;
	struct kapi k;
	size_t n = 0, i, j;
	int code;

	code = open_kernel(&k);
	if (code)
		goto err;
	code = find_volumes(&k, c->argc ? c->argv[0] : NULL, &v, &n);
	if (code) {
		kapi_close(&k);
		goto err;
	}
	sv = xcalloc(n + 1, sizeof(*sv));
	for (i = 0; i < n; i++) {
		struct show_volume *s = &sv[i];
		struct iof_instance_info *ii;
		dev_t od = makedev(v[i].origin_major, v[i].origin_minor);
		size_t ni;
		int r;

		s->info = v[i];
		kname(s->name, v[i].name, sizeof(s->name));
		if (blkdev_path(od, s->origin_path, sizeof(s->origin_path)))
			s->origin_path[0] = '\0';
		if (loop_backing_file(od, s->backing_file, sizeof(s->backing_file)) &&
		    nbd_backing_file(od, s->backing_file, sizeof(s->backing_file), s->backing_format,
				     sizeof(s->backing_format)))
			s->backing_file[0] = '\0';
		r = kapi_list_instances(&k, s->name, &ii, &ni);
		if (r == -ENODEV) {
			s->ninst = 0;	/* gone meanwhile */
			continue;
		}
		if (r) {
			code = kfail(&k, s->name, r, "list filter instances");
			continue;
		}
		s->inst = xcalloc(ni + 1, sizeof(*s->inst));
		for (j = 0; j < ni; j++) {
			struct show_instance *x = &s->inst[s->ninst];

			x->info = ii[j];
			kname(x->name, ii[j].name, sizeof(x->name));
			kname(x->type, ii[j].type, sizeof(x->type));
			r = kapi_instance_get(&k, s->name, x->name, &x->info, &x->params, &x->params_len,
					      &x->status);
			if (r == -ENOENT || r == -ENODEV)
				continue;	/* gone meanwhile */
			if (r) {
				char *what = xasprintf("read filter %s", x->name);

				code = kfail(&k, s->name, r, what);
				free(what);
			} else if (k.status_truncated) {
				report_warning(s->name, "filter %s: status text longer than %d bytes; the rest is cut",
					       x->name, IOF_MAX_TEXT_LEN - 1);
			} else if (!strcmp(x->type, "bpf") && x->status) {
				bpf_status_append(s->name, x);
			}
			s->ninst++;
		}
		free(ii);
	}
	show_status(sv, n);
	free_show(sv, n);
	free(v);
	kapi_close(&k);
	return code;
err:
	show_status(NULL, 0);
	return code;
}

/* ---- stats ---- */

static void free_stats(struct stats_volume *s, size_t n)
{
	size_t i;

	size_t k;

	for (i = 0; s && i < n; i++) {
		free(s[i].rules);
		free(s[i].rule_names);
		for (k = 0; k < s[i].ninst; k++)
			free(s[i].inst[k].status);
		free(s[i].inst);
	}
	free(s);
}

/* --watch: every instance's status text, for the deltas of its counters. */
static void sample_instances(struct kapi *k, const char *vol, struct stats_volume *s)
{
	struct iof_instance_info *ii = NULL;
	size_t n = 0, i;

	if (kapi_list_instances(k, vol, &ii, &n))
		return;		/* the counters above are what matters */
	s->inst = xcalloc(n + 1, sizeof(*s->inst));
	for (i = 0; i < n; i++) {
		struct stats_inst *x = &s->inst[s->ninst];
		struct iof_instance_info info;
		char *params = NULL;
		size_t plen = 0;

		kname(x->name, ii[i].name, sizeof(x->name));
		kname(x->type, ii[i].type, sizeof(x->type));
		if (kapi_instance_get(k, vol, x->name, &info, &params, &plen, &x->status))
			continue;
		free(params);
		s->ninst++;
	}
	free(ii);
}

/* One sample of a volume: counters plus the rule names of the same table. */
static int sample(struct kapi *k, const char *vol, bool reset, struct stats_volume *s)
{
	int tries, r = 0;

	snprintf(s->name, sizeof(s->name), "%s", vol);
	for (tries = 0; tries < 4; tries++) {
		struct iof_rule *rules, dflt;
		struct iof_stats st;
		uint64_t gen;
		size_t n, i;

		r = kapi_table_get(k, vol, &rules, &n, &dflt, &gen);
		if (r)
			return kfail(k, vol, r, "read rule table");
		free(s->rules);
		free(s->rule_names);
		s->rules = NULL;
		r = kapi_stats(k, vol, reset, &st, &s->rules, &s->nrules);
		if (r) {
			free(rules);
			return kfail(k, vol, r, "read counters");
		}
		s->generation = st.generation;
		s->vol = st.vol;
		s->dflt = st.dflt;
		s->rule_names = xcalloc(s->nrules + 1, sizeof(*s->rule_names));
		for (i = 0; i < s->nrules && i < n; i++)
			kname(s->rule_names[i], rules[i].name, sizeof(s->rule_names[i]));
		free(rules);
		/* A reset already happened: take the names as they are. */
		if (st.generation == gen || reset)
			return 0;
	}
	return 0;
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int cmd_stats(struct cmd *c)
{
	struct stats_volume *cur, *prev = NULL;
	struct iof_volume_info *v = NULL;
	struct sigaction sa, old_int, old_term;
	struct kapi k;
	size_t n = 0, i;
	long rounds = 0;
	double t0;
	int code;

	code = open_kernel(&k);
	if (code) {
		show_errors_only();
		return code;
	}
	code = find_volumes(&k, c->argc ? c->argv[0] : NULL, &v, &n);
	if (code) {
		show_errors_only();
		kapi_close(&k);
		return code;
	}
	cur = xcalloc(n + 1, sizeof(*cur));
	for (i = 0; i < n && !code; i++) {
		char vn[IOF_NAME_LEN];

		kname(vn, v[i].name, sizeof(vn));
		code = sample(&k, vn, c->reset, &cur[i]);
		if (!code && c->watch)
			sample_instances(&k, vn, &cur[i]);
	}
	if (code || !c->watch) {
		if (code)
			show_errors_only();
		else
			show_stats(cur, n, c->reset);
		goto out;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	stop = 0;
	t0 = now();
	while (!stop && (!c->count || rounds < c->count)) {
		struct timespec ts;
		double t1, wait = c->watch;

		ts.tv_sec = (time_t)wait;
		ts.tv_nsec = (long)((wait - (double)ts.tv_sec) * 1e9);
		while (!stop && nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		if (stop)
			break;
		free_stats(prev, n);
		prev = cur;
		cur = xcalloc(n + 1, sizeof(*cur));
		for (i = 0; i < n && !code; i++) {
			code = sample(&k, prev[i].name, false, &cur[i]);
			if (!code)
				sample_instances(&k, prev[i].name, &cur[i]);
		}
		if (code) {
			show_errors_only();
			break;
		}
		t1 = now();
		show_stats_rates(prev, cur, n, t1 - t0 > 0 ? t1 - t0 : c->watch, (uint64_t)time(NULL));
		t0 = t1;
		rounds++;
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
out:
	free_stats(prev, n);
	free_stats(cur, n);
	free(v);
	kapi_close(&k);
	return code;
}

/* ---- filters ---- */

int cmd_filters(struct cmd *c)
{
	struct iof_type_info *t;
	struct kapi k;
	size_t n;
	int code, r;

	(void)c;
	code = open_kernel(&k);
	if (code) {
		show_errors_only();
		return code;
	}
	r = kapi_list_types(&k, &t, &n);
	kapi_close(&k);
	if (r) {
		code = kfail(&k, NULL, r, "list filter types");
		show_errors_only();
		return code;
	}
	show_filters(t, n);
	free(t);
	return 0;
}

/* ---- messages: message, flush, resync, detach ---- */



static char *join_words(int argc, char **argv)
{
	struct sbuf b;
	int i;

	sb_init(&b);
	for (i = 0; i < argc; i++) {
		if (i)
			sb_addc(&b, ' ');
		sb_add(&b, argv[i]);
	}
	return sb_steal(&b);
}

int cmd_message(struct cmd *c)
{
	struct msg_result m;
	struct kapi k;
	char *msg;
	int code, r;

	memset(&m, 0, sizeof(m));
	msg = join_words(c->argc - 2, c->argv + 2);
	if (strlen(msg) + 1 > IOF_MSG_LEN) {
		code = report_error(EXIT_INVALID, NULL, 0, "message is longer than %d bytes", IOF_MSG_LEN - 1);
		show_errors_only();
		free(msg);
		return code;
	}
	code = open_kernel(&k);
	if (code) {
		show_errors_only();
		free(msg);
		return code;
	}
	snprintf(m.name, sizeof(m.name), "%s", c->argv[1]);
	r = kapi_message(&k, c->argv[0], c->argv[1], msg, &m.result);
	if (r) {
		char *what = xasprintf("message to %s", c->argv[1]);

		m.err = -r;
		if (r == -ENODEV)
			code = report_error(EXIT_NODEV, NULL, r, "no such volume: %s", c->argv[0]);
		else if (r == -ENOENT)
			code = report_error(EXIT_NODEV, c->argv[0], r, "no such filter instance: %s",
					    c->argv[1]);
		else
			code = kfail(&k, c->argv[0], r, what);
		free(what);
	}
	show_messages(c->argv[0], msg, &m, 1, true, NULL);
	free(m.result);
	free(msg);
	kapi_close(&k);
	return code;
}

/* Send msg to every instance whose class is in classes (a bit mask). */
static int broadcast(struct kapi *k, const char *vol, const char *msg, unsigned classes,
		     struct msg_result **out, size_t *nout)
{
	struct iof_instance_info *ii;
	struct msg_result *m;
	size_t n, i;
	int code = 0, r;

	*out = NULL;
	*nout = 0;
	r = kapi_list_instances(k, vol, &ii, &n);
	if (r == -ENODEV || r == -ENOENT)
		return report_error(EXIT_NODEV, NULL, r, "no such volume: %s", vol);
	if (r)
		return kfail(k, vol, r, "list filter instances");
	m = xcalloc(n + 1, sizeof(*m));
	for (i = 0; i < n; i++) {
		struct msg_result *x = &m[*nout];

		if (ii[i].class >= 32 || !(classes & (1U << ii[i].class)))
			continue;
		kname(x->name, ii[i].name, sizeof(x->name));
		kname(x->type, ii[i].type, sizeof(x->type));
		info("%s: %s %s", vol, msg, x->name);
		r = kapi_message(k, vol, x->name, msg, &x->result);
		if (r) {
			char *what = xasprintf("%s %s", msg, x->name);

			x->err = -r;
			if (!code)
				code = kfail(k, vol, r, what);
			else
				kfail(k, vol, r, what);
			free(what);
		}
		(*nout)++;
	}
	free(ii);
	*out = m;
	return code;
}

static int cmd_broadcast(struct cmd *c, const char *msg, unsigned classes, const char *none)
{
	struct msg_result *m = NULL;
	struct kapi k;
	size_t n = 0, i;
	int code;

	code = open_kernel(&k);
	if (code) {
		show_errors_only();
		return code;
	}
	code = broadcast(&k, c->argv[0], msg, classes, &m, &n);
	show_messages(c->argv[0], msg, m, n, false, code ? NULL : none);
	for (i = 0; i < n; i++)
		free(m[i].result);
	free(m);
	kapi_close(&k);
	return code;
}

int cmd_flush(struct cmd *c)
{
	return cmd_broadcast(c, "flush", (1U << IOF_CLASS_REPLICATE) | (1U << IOF_CLASS_CACHE),
			     "cache or replicate");
}

int cmd_resync(struct cmd *c)
{
	return cmd_broadcast(c, "resync", 1U << IOF_CLASS_REPLICATE, "replicate");
}

static bool confirm(const char *question)
{
	char line[16];

	if (!isatty(STDIN_FILENO))
		return false;
	fprintf(err_fp, "%s [y/N] ", question);
	fflush(err_fp);
	if (!fgets(line, sizeof(line), stdin))
		return false;
	return !strcmp(line, "y\n") || !strcmp(line, "yes\n") || !strcmp(line, "Y\n");
}

/* released: the NBD device whose qemu-nbd detach disconnected, or NULL */

/* Wait until no instance of the volume is dirty. */
static int wait_clean(struct kapi *k, const char *vol, const struct msg_result *m, size_t n)
{
	unsigned waited = 0;
	size_t i;

	for (;;) {
		bool dirty = false;
		const char *which = NULL;

		for (i = 0; i < n; i++) {
			struct iof_instance_info info;
			int r = kapi_instance_get(k, vol, m[i].name, &info, NULL, NULL, NULL);

			if (r)
				return kfail(k, vol, r, "read filter state");
			if (info.flags & IOF_INST_DIRTY) {
				dirty = true;
				which = m[i].name;
			}
		}
		if (!dirty)
			return 0;
		if (waited >= detach_wait_ms)
			return report_error(EXIT_BUSY, vol, -EBUSY,
					    "filter %s still holds data not on the origin after \"flush\"; not detaching",
					    which);
		usleep(100 * 1000);
		waited += 100;
	}
}

int cmd_detach(struct cmd *c)
{
	const char *vol = c->argv[0];
	struct msg_result *m = NULL;
	struct iof_type_info *t = NULL;
	struct iof_instance_info *ii = NULL;
	struct dmx_info di;
	struct kapi k;
	size_t nt = 0, ni = 0, n = 0, i, j;
	char *type = NULL, *params = NULL;
	uint64_t sectors;
	unsigned maj, min;
	char nbd[300];
	const char *released = NULL;
	bool removed = false;
	int code, r;

	code = open_kernel(&k);
	if (code) {
		show_detach(vol, NULL, 0, false, NULL);
		return code;
	}
	dmx_init();
	r = dmx_info(vol, &di);
	if (r) {
		code = report_error(errno_exit(r), vol, r, "cannot query device-mapper: %s", strerror(-r));
		goto out;
	}
	if (!di.exists) {
		code = report_error(EXIT_NODEV, vol, -ENOENT, "no such volume (no /dev/mapper/%s)", vol);
		goto out;
	}
	r = dmx_table(vol, &sectors, &type, &params);
	if (r || strcmp(type, IOFILTER_TARGET_NAME)) {
		code = report_error(EXIT_NODEV, vol, 0, "/dev/mapper/%s is not an iofilter volume", vol);
		goto out;
	}
	/*
	 * With udev, its probe of the device (blkid after the change event a
	 * writer's close makes, e.g. an unmount at shutdown) holds it for an
	 * instant: give it 2 s before calling the device busy.
	 */
	for (i = 0; udev_sync && di.open_count > 0 && i < 20; i++) {
		usleep(100000);
		if (dmx_info(vol, &di))
			break;
	}
	if (di.open_count > 0) {
		code = report_error(EXIT_BUSY, vol, -EBUSY, "/dev/mapper/%s is in use (open %d time%s)", vol,
				    di.open_count, di.open_count == 1 ? "" : "s");
		goto out;
	}
	if (!c->yes) {
		char *q = xasprintf("Detach volume %s (remove /dev/mapper/%s)?", vol, vol);
		bool ok = confirm(q);

		free(q);
		if (!ok) {
			code = report_error(EXIT_INVALID, vol, 0, isatty(STDIN_FILENO) ? "not detached" :
					    "not detaching without --yes (stdin is not a terminal)");
			goto out;
		}
	}
	/* Write back what a filter holds before the device goes. */
	r = kapi_list_types(&k, &t, &nt);
	if (!r)
		r = kapi_list_instances(&k, vol, &ii, &ni);
	if (r) {
		code = kfail(&k, vol, r, "list filters");
		goto out;
	}
	m = xcalloc(ni + 1, sizeof(*m));
	for (i = 0; i < ni; i++) {
		char tn[IOF_NAME_LEN];
		bool holds = false;

		kname(tn, ii[i].type, sizeof(tn));
		for (j = 0; j < nt; j++) {
			char name[IOF_NAME_LEN];

			kname(name, t[j].name, sizeof(name));
			if (!strcmp(name, tn))
				holds = t[j].flags & IOF_TYPE_HOLDS_DIRTY;
		}
		if (!holds)
			continue;
		kname(m[n].name, ii[i].name, sizeof(m[n].name));
		snprintf(m[n].type, sizeof(m[n].type), "%s", tn);
		info("%s: flush %s", vol, m[n].name);
		r = kapi_message(&k, vol, m[n].name, "flush", &m[n].result);
		if (r) {
			char *what = xasprintf("flush %s", m[n].name);

			code = kfail(&k, vol, r, what);
			free(what);
			n++;
			goto out;
		}
		n++;
	}
	code = wait_clean(&k, vol, m, n);
	if (code)
		goto out;
	r = dmx_remove(vol);
	if (r) {
		code = report_error(errno_exit(r), vol, r, "remove /dev/mapper/%s: %s%s%s", vol,
				    r == -EBUSY ? "device is busy" : strerror(-r), *dmx_error() ? "; " : "",
				    dmx_error());
		goto out;
	}
	removed = true;
	bpf_unpin_volume(vol, NULL, 0);	/* the programs of its bpf filters */
	/* An image apply served with qemu-nbd: disconnect it, which closes the image. */
	if (sscanf(params, "%u:%u", &maj, &min) == 2) {
		if (blkdev_path(makedev(maj, min), nbd, sizeof(nbd)))
			snprintf(nbd, sizeof(nbd), "%u:%u", maj, min);
		r = nbd_detach(makedev(maj, min));
		if (r < 0)
			code = report_error(errno_exit(r), vol, r, "disconnect %s (qemu-nbd): %s", nbd,
					    strerror(-r));
		else if (r)
			released = nbd;
	}
out:
	show_detach(vol, m, n, removed, released);
	for (i = 0; i < n; i++)
		free(m[i].result);
	free(m);
	free(t);
	free(ii);
	free(type);
	free(params);
	kapi_close(&k);
	dmx_exit();
	return code;
}

/* ---- version ---- */

int cmd_version(struct cmd *c)
{
	struct show_version sv;
	struct kapi k;
	int r;

	(void)c;
	memset(&sv, 0, sizeof(sv));
	r = kapi_open(&k);
	if (!r) {
		struct iof_version v;

		if (!kapi_version(&k, &v)) {
			sv.kernel_loaded = true;
			memcpy(sv.kver, v.hdr.version, sizeof(sv.kver));
			sv.nr_types = v.nr_types;
			sv.nr_volumes = v.nr_volumes;
		}
		kapi_close(&k);
	} else if (r == -EPROTO) {
		report_warning(NULL, "the iofilter module speaks ABI %u.%u.%u, which this iofilterctl cannot use",
			       k.kver[0], k.kver[1], k.kver[2]);
	} else if (r != -ENOENT) {
		report_warning(NULL, "cannot open /dev/%s: %s", IOFILTER_CTL_NAME, strerror(-r));
	}
	show_version(&sv);
	return EXIT_OK;
}
