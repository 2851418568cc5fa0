// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl verbs that show what the kernel has: status (volumes, their
 * origins and filter instances, a bpf instance's program), stats (counters
 * per volume and rule; --watch samples until interrupted), filters
 * (registered types) and version.  Each gathers, output*.c renders.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "bpf.h"
#include "commands.h"
#include "commands-int.h"
#include "kapi.h"
#include "loop.h"
#include "qnbd.h"
#include "output.h"
#include "util.h"

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

/* A bpf instance's key: its status "key=" (0: none) */
static uint64_t status_key(const char *status)
{
	const char *p = status;

	for (; (p = strstr(p, "key=")); p++)
		if (p == status || p[-1] == ' ')
			return strtoull(p + 4, NULL, 10);
	return 0;
}

/* A bpf instance's status gets what is attached: "prog_id=N maps=..." */
static void bpf_status_append(const char *vol, struct show_instance *x)
{
	char *w, *s;

	w = bpf_status_words(vol, x->name, status_key(x->status));
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

static void free_map_dumps(struct bpf_map_dump *m, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < m[i].n; j++) {
			free(m[i].e[j].khex);
			free(m[i].e[j].vhex);
		}
		free(m[i].e);
	}
	free(m);
}

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
		for (k = 0; k < s[i].nbpf; k++)
			free_map_dumps(s[i].bpf[k].maps, s[i].bpf[k].nmaps);
		free(s[i].bpf);
	}
	free(s);
}

/* The small maps of the volume's bpf instances' programs (bpf.h) */
static void sample_bpf(struct kapi *k, const char *vol, struct stats_volume *s)
{
	struct iof_instance_info *ii = NULL;
	size_t n = 0, i;

	if (kapi_list_instances(k, vol, &ii, &n))
		return;		/* the counters above are what matters */
	s->bpf = xcalloc(n + 1, sizeof(*s->bpf));
	for (i = 0; i < n; i++) {
		struct stats_bpf *x = &s->bpf[s->nbpf];
		struct iof_instance_info info;
		char *params = NULL, *status = NULL;
		char type[IOF_NAME_LEN];
		size_t plen = 0;
		uint64_t key;

		kname(type, ii[i].type, sizeof(type));
		if (strcmp(type, "bpf"))
			continue;
		kname(x->name, ii[i].name, sizeof(x->name));
		if (kapi_instance_get(k, vol, x->name, &info, &params, &plen, &status))
			continue;
		key = status_key(status ? status : "");
		free(params);
		free(status);
		if (key && !bpf_map_dumps(vol, x->name, key, &x->maps, &x->nmaps))
			s->nbpf++;
	}
	free(ii);
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
		else if (!code)
			sample_bpf(&k, vn, &cur[i]);
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
