// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl output layer: the error list of a run, the end every JSON
 * document shares, and the key=value helpers of status and parameter text.
 * The renderings of the verbs' results, text and JSON side by side: status,
 * filters and version in output-status.c, counters in output-stats.c,
 * validate, apply, messages and detach in output-actions.c.  The JSON
 * writer is json.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "output-int.h"
#include "util.h"

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
void json_doc_end(struct json *j)
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
