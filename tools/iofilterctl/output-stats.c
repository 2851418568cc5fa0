// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl output: stats, as text or JSON.  The counters of each volume,
 * its rules and its default (show_stats()), and under --watch the rates
 * between two samples and the changes of the numeric fields of each filter
 * instance's status (show_stats_rates(), JSON: one line per sample).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bpf.h"
#include "output.h"
#include "output-int.h"
#include "util.h"

/* __u64 is unsigned long long; uint64_t may be unsigned long. */
#define U(x) ((unsigned long long)(x))

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

static void json_kv(struct json *j, const char *key, bool num, uint64_t v, const char *hex)
{
	if (num)
		json_u64(j, key, v);
	else
		json_str(j, key, hex);
}

/* "bpf": [{"instance": NAME, "maps": [{...entries...}]}] */
static void json_bpf(struct json *j, const struct stats_volume *v)
{
	size_t i, m, e;

	json_arr_open(j, "bpf");
	for (i = 0; i < v->nbpf; i++) {
		json_obj_open(j, NULL);
		json_str(j, "instance", v->bpf[i].name);
		json_arr_open(j, "maps");
		for (m = 0; m < v->bpf[i].nmaps; m++) {
			const struct bpf_map_dump *d = &v->bpf[i].maps[m];

			json_obj_open(j, NULL);
			json_str(j, "name", d->name);
			json_str(j, "type", d->type);
			json_u64(j, "id", d->id);
			json_u64(j, "max_entries", d->max_entries);
			json_u64(j, "key_size", d->key_size);
			json_u64(j, "value_size", d->value_size);
			json_str(j, "skipped", d->skipped);
			json_arr_open(j, "entries");
			for (e = 0; e < d->n; e++) {
				json_obj_open(j, NULL);
				json_kv(j, "key", d->e[e].knum, d->e[e].k, d->e[e].khex);
				json_kv(j, "value", d->e[e].vnum, d->e[e].v, d->e[e].vhex);
				json_obj_close(j);
			}
			json_arr_close(j);
			json_u64(j, "more", d->more);
			json_obj_close(j);
		}
		json_arr_close(j);
		json_obj_close(j);
	}
	json_arr_close(j);
}

static void text_kv(bool num, uint64_t v, const char *hex)
{
	if (num)
		fprintf(out_fp, "%llu", U(v));
	else
		fputs(hex, out_fp);
}

static void text_bpf(const struct stats_volume *v)
{
	size_t i, m, e;

	for (i = 0; i < v->nbpf; i++)
		for (m = 0; m < v->bpf[i].nmaps; m++) {
			const struct bpf_map_dump *d = &v->bpf[i].maps[m];

			fprintf(out_fp, "bpf %s map %s (%s, id %u, %u entries of %u+%u bytes)%s%s\n",
				v->bpf[i].name, d->name, d->type, d->id, d->max_entries, d->key_size,
				d->value_size, d->skipped ? ": not shown, " : "",
				d->skipped ? d->skipped : "");
			for (e = 0; e < d->n; e++) {
				fputs("  ", out_fp);
				text_kv(d->e[e].knum, d->e[e].k, d->e[e].khex);
				fputs(": ", out_fp);
				text_kv(d->e[e].vnum, d->e[e].v, d->e[e].vhex);
				fputc('\n', out_fp);
			}
			if (d->more)
				fprintf(out_fp, "  ... %zu more (at most %d entries shown)\n", d->more,
					BPF_DUMP_ENTRIES_MAX);
		}
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
			json_bpf(&j, &v[i]);
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
		text_bpf(x);
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
