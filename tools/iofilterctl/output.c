// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl output layer: the error list of a run, and the text and JSON
 * renderings of every verb's result (the JSON writer is json.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "kapi.h"
#include "output.h"
#include "util.h"

/* __u64 is unsigned long long; uint64_t may be unsigned long. */
#define U(x) ((unsigned long long)(x))

enum ofmt ofmt = OFMT_TEXT;
bool noheadings;

/* ---- errors and warnings ---- */

static struct report_entry *errs, *warns;
static size_t nerrs, nwarns;

static struct report_entry *add_entry(struct report_entry **v, size_t *n)
{
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	memset(&(*v)[*n], 0, sizeof(**v));
	return &(*v)[(*n)++];
}

int report_error(int exit_code, const char *volume, int err, const char *fmt, ...)
{
	struct report_entry *e;
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (ofmt == OFMT_TEXT) {
		if (volume)
			errmsg("%s: %s", volume, msg);
		else
			errmsg("%s", msg);
		free(msg);
		return exit_code;
	}
	e = add_entry(&errs, &nerrs);
	e->message = msg;
	e->volume = volume ? xstrdup(volume) : NULL;
	e->err = err < 0 ? -err : err;
	return exit_code;
}

void report_warning(const char *volume, const char *fmt, ...)
{
	struct report_entry *e;
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	/* Warnings always reach stderr, also with -o json. */
	if (volume)
		fprintf(err_fp, "iofilterctl: warning: %s: %s\n", volume, msg);
	else
		fprintf(err_fp, "iofilterctl: warning: %s\n", msg);
	if (ofmt == OFMT_TEXT) {
		free(msg);
		return;
	}
	e = add_entry(&warns, &nwarns);
	e->message = msg;
	e->volume = volume ? xstrdup(volume) : NULL;
}

void report_diags(const struct diags *d)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		const struct diag *g = &d->v[i];
		struct report_entry *e;

		/* Text: everything to stderr; JSON: warnings still to stderr. */
		if (ofmt == OFMT_TEXT || g->sev == DIAG_WARNING)
			diag_print(d, g, err_fp);
		if (ofmt == OFMT_TEXT)
			continue;
		e = g->sev == DIAG_ERROR ? add_entry(&errs, &nerrs) : add_entry(&warns, &nwarns);
		e->message = xstrdup(g->msg);
		e->hint = g->hint ? xstrdup(g->hint) : NULL;
		e->file = xstrdup(d->file);
		e->line = g->m.line;
		e->col = g->m.col;
	}
}

static void free_entries(struct report_entry *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].message);
		free(v[i].hint);
		free(v[i].volume);
		free(v[i].file);
	}
	free(v);
}

void report_reset(void)
{
	free_entries(errs, nerrs);
	free_entries(warns, nwarns);
	errs = warns = NULL;
	nerrs = nwarns = 0;
}

size_t report_nerrors(void)
{
	return nerrs;
}

static void json_entries(struct json *j, const char *key, const struct report_entry *v, size_t n)
{
	size_t i;

	json_arr_open(j, key);
	for (i = 0; i < n; i++) {
		json_obj_open(j, NULL);
		if (v[i].file) {
			json_str(j, "file", v[i].file);
			json_u64(j, "line", v[i].line);
			json_u64(j, "column", v[i].col);
		}
		if (v[i].volume)
			json_str(j, "volume", v[i].volume);
		json_str(j, "message", v[i].message);
		if (v[i].hint)
			json_str(j, "hint", v[i].hint);
		if (v[i].err) {
			json_u64(j, "errno", (uint64_t)v[i].err);
			json_str(j, "error", strerror(v[i].err));
		}
		json_obj_close(j);
	}
	json_arr_close(j);
}

void json_reports(struct json *j)
{
	json_entries(j, "errors", errs, nerrs);
	json_entries(j, "warnings", warns, nwarns);
}

/* The end of every document: the run's errors and warnings, then close it */
static void json_doc_end(struct json *j)
{
	json_reports(j);
	json_obj_close(j);
	json_end(j);
}

void show_errors_only(void)
{
	struct json j;

	if (ofmt != OFMT_JSON)
		return;
	json_init(&j, out_fp);
	json_obj_open(&j, NULL);
	json_doc_end(&j);
}

/* ---- key=value helpers ---- */

static bool is_int(const char *s, size_t n)
{
	size_t i = 0;

	if (n && s[0] == '-')
		i++;
	if (i == n || n - i > 18)	/* fits in int64 */
		return false;
	if (s[i] == '0' && n - i > 1)	/* no leading zeros: keep "007" a string */
		return false;
	for (; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static void json_kv(struct json *j, const char *k, size_t kl, const char *v, size_t vl, bool has_v)
{
	char *key = xstrndup(k, kl);

	if (!has_v)
		json_bool(j, key, true);
	else if (is_int(v, vl))
		json_i64(j, key, strtoll(v, NULL, 10));
	else
		json_strn(j, key, v, vl);
	free(key);
}

void json_kv_object(struct json *j, const char *key, const char *text)
{
	const char *p = text;

	json_obj_open(j, key);
	while (p && *p) {
		const char *w, *eq;
		size_t len;

		p += strspn(p, " \t\n");
		if (!*p)
			break;
		w = p;
		len = strcspn(p, " \t\n");
		p += len;
		eq = memchr(w, '=', len);
		if (eq)
			json_kv(j, w, (size_t)(eq - w), eq + 1, len - (size_t)(eq - w) - 1, true);
		else
			json_kv(j, w, len, NULL, 0, false);
	}
	json_obj_close(j);
}

/*
 * A "key" parameter names a keyring key (logon:/user:); anything else in it
 * may be key material put there by mistake: never print it.
 */
static bool param_hidden(const char *w, size_t l)
{
	return l >= 4 && !strncmp(w, "key=", 4) &&
	       !(l > 10 && !strncmp(w + 4, "logon:", 6)) && !(l > 9 && !strncmp(w + 4, "user:", 5));
}

#define HIDDEN "(hidden)"

void json_params_object(struct json *j, const char *key, const char *blk, size_t len)
{
	size_t o = 0;

	/* Values stay strings: they are exactly what the policy said. */
	json_obj_open(j, key);
	while (blk && o < len) {
		const char *w = blk + o;
		size_t l = strnlen(w, len - o);
		const char *eq = memchr(w, '=', l);
		char *k = xstrndup(w, eq ? (size_t)(eq - w) : l);

		if (eq && param_hidden(w, l))
			json_strn(j, k, HIDDEN, strlen(HIDDEN));
		else if (eq)
			json_strn(j, k, eq + 1, l - (size_t)(eq - w) - 1);
		else
			json_null(j, k);
		free(k);
		o += l + 1;
	}
	json_obj_close(j);
}

char *params_text(const char *blk, size_t len)
{
	struct sbuf b;
	size_t o = 0;

	sb_init(&b);
	while (blk && o < len) {
		size_t l = strnlen(blk + o, len - o);

		if (b.len)
			sb_addc(&b, ' ');
		if (param_hidden(blk + o, l))
			sb_add(&b, "key=" HIDDEN);
		else
			sb_addn(&b, blk + o, l);
		o += l + 1;
	}
	return sb_steal(&b);
}

/* ---- status ---- */

static char *flag_list(uint32_t flags, const char *const *names, size_t n)
{
	struct sbuf b;
	size_t i;

	sb_init(&b);
	for (i = 0; i < 32; i++) {
		if (!(flags & (1U << i)))
			continue;
		if (b.len)
			sb_addc(&b, ',');
		if (i < n)
			sb_add(&b, names[i]);
		else
			sb_printf(&b, "0x%x", 1U << i);
	}
	return sb_steal(&b);
}

static void json_flags(struct json *j, const char *key, uint32_t flags, const char *const *names,
		       size_t n)
{
	size_t i;

	json_arr_open(j, key);
	for (i = 0; i < 32; i++) {
		char hex[16];

		if (!(flags & (1U << i)))
			continue;
		if (i < n) {
			json_str(j, NULL, names[i]);
		} else {
			snprintf(hex, sizeof(hex), "0x%x", 1U << i);
			json_str(j, NULL, hex);
		}
	}
	json_arr_close(j);
}

static const char *const vol_flag_names[] = { "suspended", "error" };
static const char *const inst_flag_names[] = { "error", "dirty" };
static const char *const type_flag_names[] = { "range_exclusive", "nowait", "holds_dirty",
						 "write_exclusive" };

static void devt(char *buf, size_t len, uint32_t maj, uint32_t min)
{
	snprintf(buf, len, "%u:%u", maj, min);
}

void show_status(const struct show_volume *v, size_t n)
{
	size_t i, k;

	if (ofmt == OFMT_JSON) {
		struct json j;

		json_init(&j, out_fp);
		json_obj_open(&j, NULL);
		json_arr_open(&j, "volumes");
		for (i = 0; i < n; i++) {
			char b[32], *dev = xasprintf("/dev/mapper/%s", v[i].name);

			json_obj_open(&j, NULL);
			json_str(&j, "name", v[i].name);
			json_str(&j, "device", dev);
			free(dev);
			devt(b, sizeof(b), v[i].info.dev_major, v[i].info.dev_minor);
			json_str(&j, "dev", b);
			json_obj_open(&j, "origin");
			devt(b, sizeof(b), v[i].info.origin_major, v[i].info.origin_minor);
			json_str(&j, "dev", b);
			json_str(&j, "path", v[i].origin_path[0] ? v[i].origin_path : NULL);
			json_str(&j, "backing_file", v[i].backing_file[0] ? v[i].backing_file : NULL);
			json_str(&j, "backing_format", v[i].backing_format[0] ? v[i].backing_format :
				 v[i].backing_file[0] ? "raw" : NULL);
			json_obj_close(&j);
			json_u64(&j, "size", v[i].info.size);
			json_u64(&j, "generation", v[i].info.generation);
			json_u64(&j, "rules", v[i].info.nr_rules);
			json_flags(&j, "flags", v[i].info.flags, vol_flag_names, ARRAY_SIZE(vol_flag_names));
			json_arr_open(&j, "instances");
			for (k = 0; k < v[i].ninst; k++) {
				const struct show_instance *s = &v[i].inst[k];

				json_obj_open(&j, NULL);
				json_str(&j, "name", s->name);
				json_str(&j, "type", s->type);
				json_u64(&j, "id", s->info.id);
				json_str(&j, "class", class_name(s->info.class));
				json_u64(&j, "users", s->info.users);
				json_flags(&j, "flags", s->info.flags, inst_flag_names,
					   ARRAY_SIZE(inst_flag_names));
				json_params_object(&j, "params", s->params, s->params_len);
				if (s->status)
					json_kv_object(&j, "status", s->status);
				else
					json_null(&j, "status");
				json_obj_close(&j);
			}
			json_arr_close(&j);
			json_obj_close(&j);
		}
		json_arr_close(&j);
		json_doc_end(&j);
		return;
	}
	if (!n && verbosity >= 0)
		fprintf(out_fp, "no iofilter volumes\n");
	for (i = 0; i < n; i++) {
		const struct show_volume *x = &v[i];
		char sz[32], *fl = flag_list(x->info.flags, vol_flag_names, ARRAY_SIZE(vol_flag_names));

		fprintf(out_fp, "%s: /dev/mapper/%s (%u:%u)\n", x->name, x->name, x->info.dev_major,
			x->info.dev_minor);
		fprintf(out_fp, "  origin:     %s (%u:%u)%s%s%s%s%s\n", x->origin_path[0] ? x->origin_path : "?",
			x->info.origin_major, x->info.origin_minor,
			x->backing_file[0] ? ", file " : "", x->backing_file,
			x->backing_format[0] ? " (" : "", x->backing_format,
			x->backing_format[0] ? ", qemu-nbd)" : "");
		fprintf(out_fp, "  size:       %s (%" PRIu64 " bytes)\n",
			fmt_size_human(x->info.size, sz, sizeof(sz)), (uint64_t)x->info.size);
		fprintf(out_fp, "  generation: %" PRIu64 "\n", (uint64_t)x->info.generation);
		fprintf(out_fp, "  rules:      %u\n", x->info.nr_rules);
		fprintf(out_fp, "  flags:      %s\n", *fl ? fl : "-");
		free(fl);
		for (k = 0; k < x->ninst; k++) {
			const struct show_instance *s = &x->inst[k];
			char *p = params_text(s->params, s->params_len);

			fl = flag_list(s->info.flags, inst_flag_names, ARRAY_SIZE(inst_flag_names));
			fprintf(out_fp, "  instance %s: type %s, class %s, id %u, used by %u rule%s%s%s\n",
				s->name, s->type, class_name(s->info.class), s->info.id, s->info.users,
				s->info.users == 1 ? "" : "s", *fl ? ", " : "", fl);
			if (*p)
				fprintf(out_fp, "    params: %s\n", p);
			if (s->status && *s->status)
				fprintf(out_fp, "    status: %s\n", s->status);
			free(p);
			free(fl);
		}
		if (i + 1 < n)
			fputc('\n', out_fp);
	}
}

/* ---- stats ---- */

static const char *const op_keys[IOF_NR_OPS] = { "read", "write", "discard", "write_zeroes", "flush" };

static void json_counters(struct json *j, const char *key, const struct iof_counters *c)
{
	unsigned i;

	json_obj_open(j, key);
	for (i = 0; i < IOF_NR_OPS; i++) {
		json_obj_open(j, op_keys[i]);
		json_u64(j, "ios", c->ios[i]);
		json_u64(j, "bytes", c->bytes[i]);
		json_obj_close(j);
	}
	json_obj_close(j);
}

static void json_rates(struct json *j, const char *key, const struct iof_counters *a,
		       const struct iof_counters *b, double secs)
{
	unsigned i;

	json_obj_open(j, key);
	for (i = 0; i < IOF_NR_OPS; i++) {
		json_obj_open(j, op_keys[i]);
		json_double(j, "ios_per_sec", (double)(b->ios[i] - a->ios[i]) / secs);
		json_double(j, "bytes_per_sec", (double)(b->bytes[i] - a->bytes[i]) / secs);
		json_obj_close(j);
	}
	json_obj_close(j);
}

static void rule_label(char *buf, size_t len, const struct stats_volume *v, size_t i)
{
	if (v->rule_names[i][0])
		snprintf(buf, len, "#%zu %s", i + 1, v->rule_names[i]);
	else
		snprintf(buf, len, "#%zu", i + 1);
}

static void text_header(void)
{
	if (!noheadings)
		fprintf(out_fp, "  %-36s %10s %14s %10s %14s %10s %14s %10s %14s %10s\n", "RULE", "READS",
			"READ_BYTES", "WRITES", "WRITE_BYTES", "DISCARDS", "DISCARD_BYTES", "WZEROES",
			"WZEROES_BYTES", "FLUSHES");
}

static void text_counters(const char *label, const struct iof_counters *c)
{
	fprintf(out_fp, "  %-36s %10llu %14llu %10llu %14llu %10llu %14llu %10llu %14llu %10llu\n",
		label, U(c->ios[0]), U(c->bytes[0]), U(c->ios[1]), U(c->bytes[1]), U(c->ios[2]),
		U(c->bytes[2]), U(c->ios[3]), U(c->bytes[3]), U(c->ios[4]));
}

static void text_rates(const char *label, const struct iof_counters *a, const struct iof_counters *b,
		       double s)
{
	fprintf(out_fp, "  %-36s %10.1f %14.1f %10.1f %14.1f %10.1f %14.1f %10.1f %14.1f %10.1f\n",
		label, (double)(b->ios[0] - a->ios[0]) / s, (double)(b->bytes[0] - a->bytes[0]) / s,
		(double)(b->ios[1] - a->ios[1]) / s, (double)(b->bytes[1] - a->bytes[1]) / s,
		(double)(b->ios[2] - a->ios[2]) / s, (double)(b->bytes[2] - a->bytes[2]) / s,
		(double)(b->ios[3] - a->ios[3]) / s, (double)(b->bytes[3] - a->bytes[3]) / s,
		(double)(b->ios[4] - a->ios[4]) / s);
}

void show_stats(const struct stats_volume *v, size_t n, bool reset)
{
	size_t i, r;

	if (ofmt == OFMT_JSON) {
		struct json j;

		json_init(&j, out_fp);
		json_obj_open(&j, NULL);
		json_bool(&j, "reset", reset);
		json_arr_open(&j, "volumes");
		for (i = 0; i < n; i++) {
			json_obj_open(&j, NULL);
			json_str(&j, "name", v[i].name);
			json_u64(&j, "generation", v[i].generation);
			json_counters(&j, "total", &v[i].vol.all);
			json_u64(&j, "passed", v[i].vol.passed);
			json_u64(&j, "denied", v[i].vol.denied);
			json_u64(&j, "filtered", v[i].vol.filtered);
			json_u64(&j, "errors", v[i].vol.errors);
			json_u64(&j, "splits", v[i].vol.splits);
			json_arr_open(&j, "rules");
			for (r = 0; r < v[i].nrules; r++) {
				json_obj_open(&j, NULL);
				json_u64(&j, "index", r + 1);
				json_str(&j, "name", v[i].rule_names[r][0] ? v[i].rule_names[r] : NULL);
				json_counters(&j, "counters", &v[i].rules[r]);
				json_obj_close(&j);
			}
			json_arr_close(&j);
			json_counters(&j, "default", &v[i].dflt);
			json_obj_close(&j);
		}
		json_arr_close(&j);
		json_doc_end(&j);
		return;
	}
	for (i = 0; i < n; i++) {
		const struct stats_volume *x = &v[i];

		fprintf(out_fp, "%s: generation %llu, passed %llu, denied %llu, filtered %llu, errors %llu, splits %llu%s\n",
			x->name, U(x->generation), U(x->vol.passed), U(x->vol.denied), U(x->vol.filtered),
			U(x->vol.errors), U(x->vol.splits), reset ? " (counters reset)" : "");
		text_header();
		text_counters("total", &x->vol.all);
		for (r = 0; r < x->nrules; r++) {
			char lbl[48];

			rule_label(lbl, sizeof(lbl), x, r);
			text_counters(lbl, &x->rules[r]);
		}
		text_counters("default", &x->dflt);
		if (i + 1 < n)
			fputc('\n', out_fp);
	}
}

/*
 * The numeric value of "key=" in a status text (space-separated key=value
 * words); false if absent or not a plain decimal number.
 */
static bool status_num(const char *st, const char *key, size_t klen, int64_t *v)
{
	const char *p = st;

	while (p && *p) {
		size_t l = strcspn(p, " ");

		if (l > klen && p[klen] == '=' && !strncmp(p, key, klen)) {
			char *end;

			if (p[klen + 1] < '0' || p[klen + 1] > '9')
				return false;
			errno = 0;
			*v = strtoll(p + klen + 1, &end, 10);
			return !errno && (end == p + l);
		}
		p += l;
		p += strspn(p, " ");
	}
	return false;
}

/* Calls fn for each numeric status field of b's instance i that changed since a. */
static void each_delta(const struct stats_volume *a, const struct stats_volume *b, size_t i,
		       void (*fn)(void *ctx, const char *key, size_t klen, int64_t delta), void *ctx)
{
	const struct stats_inst *y = &b->inst[i], *x = NULL;
	const char *p;
	size_t k;

	for (k = 0; k < a->ninst; k++)
		if (!strcmp(a->inst[k].name, y->name) && !strcmp(a->inst[k].type, y->type))
			x = &a->inst[k];
	if (!x || !x->status || !y->status)
		return;
	for (p = y->status; *p; p += strspn(p, " ")) {
		size_t l = strcspn(p, " "), klen = strcspn(p, "= ");
		int64_t u, w;

		if (klen < l && status_num(y->status, p, klen, &w) && status_num(x->status, p, klen, &u) &&
		    w != u)
			fn(ctx, p, klen, w - u);
		p += l;
	}
}

static void text_delta(void *ctx, const char *key, size_t klen, int64_t d)
{
	(void)ctx;
	fprintf(out_fp, " %.*s %+" PRId64, (int)klen, key, d);
}

static void text_filter_deltas(const struct stats_volume *a, const struct stats_volume *b)
{
	size_t i;

	for (i = 0; i < b->ninst; i++) {
		fprintf(out_fp, "  filter %s (%s):", b->inst[i].name, b->inst[i].type);
		each_delta(a, b, i, text_delta, NULL);
		fputc('\n', out_fp);
	}
}

static void json_delta(void *ctx, const char *key, size_t klen, int64_t d)
{
	char *k = xstrndup(key, klen);

	json_i64(ctx, k, d);
	free(k);
}

static void json_filter_deltas(struct json *j, const struct stats_volume *a, const struct stats_volume *b)
{
	size_t i;

	json_arr_open(j, "filters");
	for (i = 0; i < b->ninst; i++) {
		json_obj_open(j, NULL);
		json_str(j, "name", b->inst[i].name);
		json_str(j, "type", b->inst[i].type);
		json_obj_open(j, "deltas");
		each_delta(a, b, i, json_delta, j);
		json_obj_close(j);
		json_obj_close(j);
	}
	json_arr_close(j);
}

void show_stats_rates(const struct stats_volume *prev, const struct stats_volume *cur, size_t n,
		      double secs, uint64_t timestamp)
{
	size_t i, r;

	if (ofmt == OFMT_JSON) {
		struct json j;

		/* One document per line (JSON Lines), one line per sample. */
		json_init(&j, out_fp);
		j.compact = true;
		json_obj_open(&j, NULL);
		json_u64(&j, "timestamp", timestamp);
		json_double(&j, "interval", secs);
		json_arr_open(&j, "volumes");
		for (i = 0; i < n; i++) {
			const struct stats_volume *a = &prev[i], *b = &cur[i];
			bool same = a->generation == b->generation && a->nrules == b->nrules;

			json_obj_open(&j, NULL);
			json_str(&j, "name", b->name);
			json_u64(&j, "generation", b->generation);
			json_rates(&j, "total", &a->vol.all, &b->vol.all, secs);
			json_double(&j, "passed_per_sec", (double)(b->vol.passed - a->vol.passed) / secs);
			json_double(&j, "denied_per_sec", (double)(b->vol.denied - a->vol.denied) / secs);
			json_double(&j, "filtered_per_sec", (double)(b->vol.filtered - a->vol.filtered) / secs);
			json_double(&j, "errors_per_sec", (double)(b->vol.errors - a->vol.errors) / secs);
			json_double(&j, "splits_per_sec", (double)(b->vol.splits - a->vol.splits) / secs);
			/* A new table restarts the rule counters: no rates this round. */
			json_bool(&j, "table_changed", !same);
			json_arr_open(&j, "rules");
			for (r = 0; same && r < b->nrules; r++) {
				json_obj_open(&j, NULL);
				json_u64(&j, "index", r + 1);
				json_str(&j, "name", b->rule_names[r][0] ? b->rule_names[r] : NULL);
				json_rates(&j, "counters", &a->rules[r], &b->rules[r], secs);
				json_obj_close(&j);
			}
			json_arr_close(&j);
			if (same)
				json_rates(&j, "default", &a->dflt, &b->dflt, secs);
			else
				json_null(&j, "default");
			json_filter_deltas(&j, a, b);
			json_obj_close(&j);
		}
		json_arr_close(&j);
		json_doc_end(&j);
		return;
	}
	for (i = 0; i < n; i++) {
		const struct stats_volume *a = &prev[i], *b = &cur[i];
		bool same = a->generation == b->generation && a->nrules == b->nrules;

		fprintf(out_fp, "%s: per second over %.1fs: passed %.1f, denied %.1f, filtered %.1f, errors %.1f%s\n",
			b->name, secs, (double)(b->vol.passed - a->vol.passed) / secs,
			(double)(b->vol.denied - a->vol.denied) / secs,
			(double)(b->vol.filtered - a->vol.filtered) / secs,
			(double)(b->vol.errors - a->vol.errors) / secs,
			same ? "" : " (new rule table: rule rates restart)");
		text_header();
		text_rates("total", &a->vol.all, &b->vol.all, secs);
		for (r = 0; same && r < b->nrules; r++) {
			char lbl[48];

			rule_label(lbl, sizeof(lbl), b, r);
			text_rates(lbl, &a->rules[r], &b->rules[r], secs);
		}
		if (same)
			text_rates("default", &a->dflt, &b->dflt, secs);
		text_filter_deltas(a, b);
	}
	fputc('\n', out_fp);
	fflush(out_fp);
}

/* ---- filters ---- */

void show_filters(const struct iof_type_info *t, size_t n)
{
	size_t i;

	if (ofmt == OFMT_JSON) {
		struct json j;

		json_init(&j, out_fp);
		json_obj_open(&j, NULL);
		json_arr_open(&j, "filters");
		for (i = 0; i < n; i++) {
			char name[IOF_NAME_LEN], ver[48];

			kname(name, t[i].name, sizeof(name));
			snprintf(ver, sizeof(ver), "%u.%u.%u", t[i].version[0], t[i].version[1],
				 t[i].version[2]);
			json_obj_open(&j, NULL);
			json_str(&j, "name", name);
			json_str(&j, "version", ver);
			json_str(&j, "class", class_name(t[i].class));
			json_flags(&j, "flags", t[i].flags, type_flag_names, ARRAY_SIZE(type_flag_names));
			json_u64(&j, "instances", t[i].nr_instances);
			json_obj_close(&j);
		}
		json_arr_close(&j);
		json_doc_end(&j);
		return;
	}
	if (!noheadings)
		fprintf(out_fp, "%-20s %-10s %-10s %9s  %s\n", "NAME", "VERSION", "CLASS", "INSTANCES",
			"FLAGS");
	for (i = 0; i < n; i++) {
		char name[IOF_NAME_LEN], ver[48];
		char *fl = flag_list(t[i].flags, type_flag_names, ARRAY_SIZE(type_flag_names));

		kname(name, t[i].name, sizeof(name));
		snprintf(ver, sizeof(ver), "%u.%u.%u", t[i].version[0], t[i].version[1], t[i].version[2]);
		fprintf(out_fp, "%-20s %-10s %-10s %9u  %s\n", name, ver, class_name(t[i].class),
			t[i].nr_instances, *fl ? fl : "-");
		free(fl);
	}
}

/* ---- version ---- */

void show_version(const struct show_version *v)
{
	char abi[48], kabi[48];

	snprintf(abi, sizeof(abi), "%d.%d.%d", IOFILTER_VERSION_MAJOR, IOFILTER_VERSION_MINOR,
		 IOFILTER_VERSION_PATCH);
	snprintf(kabi, sizeof(kabi), "%u.%u.%u", v->kver[0], v->kver[1], v->kver[2]);
	if (ofmt == OFMT_JSON) {
		struct json j;

		json_init(&j, out_fp);
		json_obj_open(&j, NULL);
		json_str(&j, "iofilterctl", IOFCTL_VERSION);
		json_str(&j, "abi", abi);
		json_obj_open(&j, "kernel");
		json_bool(&j, "loaded", v->kernel_loaded);
		if (v->kernel_loaded) {
			json_str(&j, "abi", kabi);
			json_u64(&j, "filter_types", v->nr_types);
			json_u64(&j, "volumes", v->nr_volumes);
		}
		json_obj_close(&j);
		json_doc_end(&j);
		return;
	}
	fprintf(out_fp, "iofilterctl %s (ABI %s)\n", IOFCTL_VERSION, abi);
	if (v->kernel_loaded)
		fprintf(out_fp, "kernel module: ABI %s, %u filter type%s, %u volume%s\n", kabi,
			v->nr_types, v->nr_types == 1 ? "" : "s", v->nr_volumes,
			v->nr_volumes == 1 ? "" : "s");
	else
		fprintf(out_fp, "kernel module: not loaded\n");
}

/* ---- validate ---- */

void show_validate(const struct policy *p, const struct diags *d)
{
	size_t nf = 0, nr = 0, i;

	for (i = 0; i < p->nvols; i++) {
		nf += p->vols[i].nfilters;
		nr += p->vols[i].nrules;
	}
	if (ofmt == OFMT_JSON) {
		struct json j;

		json_init(&j, out_fp);
		json_obj_open(&j, NULL);
		json_str(&j, "file", d->file);
		json_bool(&j, "valid", d->nerr == 0);
		json_u64(&j, "volumes", p->nvols);
		json_u64(&j, "filters", nf);
		json_u64(&j, "rules", nr);
		json_doc_end(&j);
		return;
	}
	if (d->nerr)
		fprintf(err_fp, "%s: %u error%s\n", d->file, d->nerr, d->nerr == 1 ? "" : "s");
	else if (verbosity >= 0)
		fprintf(out_fp, "%s: valid (%zu volume%s, %zu filter%s, %zu rule%s)\n", d->file,
			p->nvols, p->nvols == 1 ? "" : "s", nf, nf == 1 ? "" : "s", nr, nr == 1 ? "" : "s");
}

/* ---- apply ---- */

static const char *result_name(enum vol_result r)
{
	switch (r) {
	case VOL_CREATED:
		return "created";
	case VOL_CHANGED:
		return "changed";
	case VOL_FAILED:
		return "failed";
	default:
		return "unchanged";
	}
}

static void text_change(const struct change *c)
{
	if (c->name)
		fprintf(out_fp, "  %c %s %s: %s\n", c->sign, c->what, c->name, c->text);
	else
		fprintf(out_fp, "  %c %s: %s\n", c->sign, c->what, c->text);
}

void show_apply(const struct apply_report *rep)
{
	size_t i, j;

	if (ofmt == OFMT_JSON) {
		struct json js;

		json_init(&js, out_fp);
		json_obj_open(&js, NULL);
		json_str(&js, "file", rep->file);
		json_bool(&js, "dry_run", rep->dry_run);
		json_arr_open(&js, "volumes");
		for (i = 0; i < rep->n; i++) {
			const struct vol_report *v = &rep->v[i];

			json_obj_open(&js, NULL);
			json_str(&js, "name", v->name);
			json_str(&js, "result", result_name(v->result));
			json_bool(&js, "partial", v->partial);
			json_str(&js, "device", v->device);
			json_str(&js, "origin", v->origin);
			json_u64(&js, "size", v->size);
			json_u64(&js, "generation", v->generation);
			json_u64(&js, "filters", v->nfilters);
			json_u64(&js, "rules", v->nrules);
			json_arr_open(&js, "changes");
			for (j = 0; j < v->nchanges; j++) {
				const struct change *c = &v->changes[j];
				char op[2] = { c->sign, 0 };

				json_obj_open(&js, NULL);
				json_str(&js, "op", op);
				json_str(&js, "what", c->what);
				json_str(&js, "name", c->name);
				json_str(&js, "detail", c->text);
				json_obj_close(&js);
			}
			json_arr_close(&js);
			json_obj_close(&js);
		}
		json_arr_close(&js);
		json_doc_end(&js);
		return;
	}
	for (i = 0; i < rep->n; i++) {
		const struct vol_report *v = &rep->v[i];
		char sz[32];

		if (v->result == VOL_FAILED) {
			if (v->nchanges && rep->dry_run)
				for (j = 0; j < v->nchanges; j++)
					text_change(&v->changes[j]);
			fprintf(out_fp, "%s: failed%s\n", v->name, v->partial ? " (partially applied)" : "");
			continue;
		}
		if (!v->nchanges) {
			if (verbosity >= 0)
				fprintf(out_fp, "%s: no changes\n", v->name);
			continue;
		}
		if (rep->dry_run || verbosity >= 1)
			for (j = 0; j < v->nchanges; j++)
				text_change(&v->changes[j]);
		if (rep->dry_run)
			fprintf(out_fp, "%s: %zu change%s (dry run, nothing applied)\n", v->name, v->nchanges,
				v->nchanges == 1 ? "" : "s");
		else if (verbosity < 0)
			continue;
		else if (v->result == VOL_CREATED)
			fprintf(out_fp, "%s: created %s over %s (%s): %zu filter%s, %zu rule%s, generation %" PRIu64 "\n",
				v->name, v->device, v->origin ? v->origin : "?",
				fmt_size(v->size, sz, sizeof(sz)), v->nfilters, v->nfilters == 1 ? "" : "s",
				v->nrules, v->nrules == 1 ? "" : "s", v->generation);
		else
			fprintf(out_fp, "%s: %zu change%s applied, generation %" PRIu64 "\n", v->name,
				v->nchanges, v->nchanges == 1 ? "" : "s", v->generation);
	}
}

/* apply/validate refused a policy with errors (already reported) */
void show_nothing_applied(const char *file, unsigned int nerr)
{
	if (ofmt == OFMT_TEXT)
		fprintf(err_fp, "%s: %u error%s; nothing applied\n", file, nerr,
			nerr == 1 ? "" : "s");
}

/* ---- messages (flush, writeback, ...) and detach ---- */

void show_messages(const char *vol, const char *msg, const struct msg_result *m, size_t n,
		   bool single, const char *none)
{
	size_t i;

	if (ofmt == OFMT_JSON) {
		struct json j;

		json_init(&j, out_fp);
		json_obj_open(&j, NULL);
		json_str(&j, "volume", vol);
		json_str(&j, "message", msg);
		if (single) {
			json_str(&j, "instance", n ? m[0].name : NULL);
			json_str(&j, "result", n && !m[0].err ? m[0].result : NULL);
		} else {
			json_arr_open(&j, "instances");
			for (i = 0; i < n; i++) {
				json_obj_open(&j, NULL);
				json_str(&j, "name", m[i].name);
				json_str(&j, "type", m[i].type);
				json_str(&j, "result", m[i].err ? NULL : m[i].result);
				json_str(&j, "error", m[i].err ? strerror(m[i].err) : NULL);
				json_obj_close(&j);
			}
			json_arr_close(&j);
		}
		json_doc_end(&j);
		return;
	}
	if (!n && none && verbosity >= 0)
		fprintf(out_fp, "%s: no %s filters\n", vol, none);
	for (i = 0; i < n; i++) {
		const char *res = m[i].result ? m[i].result : "";
		size_t l = strlen(res);

		if (m[i].err)
			continue;
		if (single) {
			if (l)
				fprintf(out_fp, "%s%s", res, res[l - 1] == '\n' ? "" : "\n");
		} else if (verbosity >= 0) {
			fprintf(out_fp, "%s: %s %s: done%s%s\n", vol, msg, m[i].name, l ? ": " : "", res);
		}
	}
}

void show_detach(const char *vol, const struct msg_result *m, size_t n, bool removed,
		 const char *released)
{
	size_t i;

	if (ofmt == OFMT_JSON) {
		struct json j;

		json_init(&j, out_fp);
		json_obj_open(&j, NULL);
		json_str(&j, "volume", vol);
		json_arr_open(&j, "flushed");
		for (i = 0; i < n; i++)
			if (!m[i].err)
				json_str(&j, NULL, m[i].name);
		json_arr_close(&j);
		json_bool(&j, "removed", removed);
		json_str(&j, "disconnected", released);
		json_doc_end(&j);
		return;
	}
	if (removed && verbosity >= 0)
		fprintf(out_fp, "%s: detached (/dev/mapper/%s removed%s%s%s)\n", vol, vol,
			n ? ", filters flushed first" : "",
			released ? ", qemu-nbd disconnected from " : "", released ? released : "");
}
