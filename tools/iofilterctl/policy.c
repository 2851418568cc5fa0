// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl policy core: parse a YAML policy (libyaml's document API, so
 * every node keeps its position) into struct policy and validate it.
 *
 * Three passes, each collecting every error it finds rather than stopping at
 * the first:
 *   policy_load       structure, types, values, names, sizes, duplicates;
 *   policy_check      what needs the filter types: chains, classes, crypt
 *                     rules, overlapping ranges;
 *   policy_check_env  what needs the system: origins, sizes, key files.
 * Nothing here talks to the kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>
#include <yaml.h>

#define IOF_BUILTIN_CRYPT
#define IOF_BUILTIN_REPLICATE
#define IOF_BUILTIN_CACHE
#define IOF_BUILTIN_BPF
#include <shared/iofilter-builtin.h>

#include "loop.h"
#include "qnbd.h"
#include "policy.h"
#include "util.h"

/* ---- diagnostics ---- */

void diags_init(struct diags *d, const char *file)
{
	memset(d, 0, sizeof(*d));
	d->file = xstrdup(file ? file : "-");
}

void diag_add(struct diags *d, enum diag_sev sev, struct pmark m, const char *hint,
	      const char *fmt, ...)
{
	struct diag *g;
	va_list ap;

	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 16;
		d->v = xreallocarray(d->v, d->cap, sizeof(*d->v));
	}
	g = &d->v[d->n];
	g->sev = sev;
	g->m = m;
	g->seq = d->n++;
	va_start(ap, fmt);
	g->msg = xvasprintf(fmt, ap);
	va_end(ap);
	g->hint = hint ? xstrdup(hint) : NULL;
	if (sev == DIAG_ERROR)
		d->nerr++;
	else
		d->nwarn++;
}

static int diag_cmp(const void *a, const void *b)
{
	const struct diag *x = a, *y = b;

	if (x->m.line != y->m.line)
		return x->m.line < y->m.line ? -1 : 1;
	if (x->m.col != y->m.col)
		return x->m.col < y->m.col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void diags_sort(struct diags *d)
{
	if (d->n)
		qsort(d->v, d->n, sizeof(*d->v), diag_cmp);
}

void diag_print(const struct diags *d, const struct diag *g, FILE *fp)
{
	const char *sev = g->sev == DIAG_WARNING ? "warning: " : "";

	if (g->m.line)
		fprintf(fp, "%s:%u:%u: %s%s\n", d->file, g->m.line, g->m.col, sev, g->msg);
	else
		fprintf(fp, "%s: %s%s\n", d->file, sev, g->msg);
	if (g->hint)
		fprintf(fp, "  hint: %s\n", g->hint);
}

void diags_print(const struct diags *d, FILE *fp)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		diag_print(d, &d->v[i], fp);
}

void diags_free(struct diags *d)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		free(d->v[i].msg);
		free(d->v[i].hint);
	}
	free(d->v);
	free(d->file);
	memset(d, 0, sizeof(*d));
}

/* ---- filter types ---- */


/* From the list the modules compile: include/shared/iofilter-builtin.h */
static const struct ftype builtin_types[] = {
	{ "count", IOF_CLASS_INSPECT, IOF_COUNT_TYPE_FLAGS, false, NULL, 0 },
	{ "crypt", IOF_CLASS_CRYPT, IOF_CRYPT_TYPE_FLAGS, false, iof_crypt_params,
	  ARRAY_SIZE(iof_crypt_params) },
	{ "replicate", IOF_CLASS_REPLICATE, IOF_REPLICATE_TYPE_FLAGS, false, iof_replicate_params,
	  ARRAY_SIZE(iof_replicate_params) },
	{ "cache", IOF_CLASS_CACHE, IOF_CACHE_TYPE_FLAGS, false, iof_cache_params,
	  ARRAY_SIZE(iof_cache_params) },
	{ "bpf", IOF_CLASS_INSPECT, IOF_BPF_TYPE_FLAGS, false, iof_bpf_params,
	  ARRAY_SIZE(iof_bpf_params) },
};

void ftypes_builtin(struct ftypes *t)
{
	t->n = ARRAY_SIZE(builtin_types);
	t->v = xcalloc(t->n, sizeof(*t->v));
	memcpy(t->v, builtin_types, sizeof(builtin_types));
}

void ftypes_merge(struct ftypes *t, const struct iof_type_info *k, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		char name[IOF_NAME_LEN];

		memcpy(name, k[i].name, sizeof(name));
		name[sizeof(name) - 1] = '\0';
		for (j = 0; j < t->n; j++)
			if (!strcmp(t->v[j].name, name))
				break;
		if (j == t->n) {
			t->v = xreallocarray(t->v, t->n + 1, sizeof(*t->v));
			memset(&t->v[j], 0, sizeof(t->v[j]));
			t->n++;
		}
		memcpy(t->v[j].name, name, sizeof(name));
		t->v[j].class = k[i].class;
		t->v[j].flags = k[i].flags;
		t->v[j].in_kernel = true;
	}
}

const struct ftype *ftypes_find(const struct ftypes *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (!strcmp(t->v[i].name, name))
			return &t->v[i];
	return NULL;
}

void ftypes_free(struct ftypes *t)
{
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

const char *class_name(unsigned class)
{
	static const char *const names[] = { "inspect", "crypt", "replicate", "cache" };

	return class < ARRAY_SIZE(names) ? names[class] : "unknown";
}

static const char *const op_names[IOF_NR_OPS] = {
	"read", "write", "discard", "write_zeroes", "flush"
};
static const char *const rq_names[] = { "sync", "fua", "preflush", "meta", "readahead" };
static const char *const prio_names[] = { "none", "rt", "be", "idle" };

const char *op_name(unsigned bit)
{
	return bit < ARRAY_SIZE(op_names) ? op_names[bit] : NULL;
}

const char *rqflag_name(unsigned bit)
{
	return bit < ARRAY_SIZE(rq_names) ? rq_names[bit] : NULL;
}

const char *prio_name(unsigned bit)
{
	return bit < ARRAY_SIZE(prio_names) ? prio_names[bit] : NULL;
}

/* ---- parsing ---- */

struct pctx {
	struct diags *d;
	yaml_document_t *doc;
	struct policy *p;
};

#define SIZE_HINT "sizes are bytes or a number with K, M, G or T (or KiB, MiB, GiB, TiB)"
#define NAME_HINT "use 1 to %d characters from A-Z a-z 0-9 _ . -"

/* A quoted, escaped copy of user text for messages (a small ring of buffers). */
static const char *Q(const char *s)
{
	static char ring[8][200];
	static unsigned r;
	char *b = ring[r++ % 8];
	size_t o = 0;

	b[o++] = '"';
	for (; *s && o < 190; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			b[o++] = '\\';
			b[o++] = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			o += (size_t)snprintf(b + o, 5, "\\x%02x", ch);
		} else {
			b[o++] = (char)ch;
		}
	}
	if (*s) {
		memcpy(b + o, "...", 3);
		o += 3;
	}
	b[o++] = '"';
	b[o] = '\0';
	return b;
}

static struct pmark mark_of(const yaml_node_t *n)
{
	struct pmark m = { (unsigned)n->start_mark.line + 1, (unsigned)n->start_mark.column + 1 };

	return m;
}

static yaml_node_t *node(struct pctx *c, int idx)
{
	return yaml_document_get_node(c->doc, idx);
}

#define ERR(c, m, hint, ...) diag_add((c)->d, DIAG_ERROR, (m), (hint), __VA_ARGS__)
#define WARN(c, m, hint, ...) diag_add((c)->d, DIAG_WARNING, (m), (hint), __VA_ARGS__)

static const char *scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static bool is_plain(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static bool is_null(const yaml_node_t *n)
{
	const char *s;

	if (!is_plain(n))
		return false;
	s = scalar(n);
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	       !strcmp(s, "NULL");
}

static const char *kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_SCALAR_NODE:
		return is_null(n) ? "empty" : "a scalar";
	default:
		return "nothing";
	}
}

/* A hint "did you mean X?" when a candidate is close enough. */
static char *suggest(const char *got, const char *const *cands, size_t n)
{
	unsigned best = 3;
	const char *pick = NULL;
	size_t i;

	/* The closest candidate within 2 edits, and closer than a rewrite. */
	for (i = 0; i < n; i++) {
		unsigned dist = edit_distance(got, cands[i]);

		if (dist < best && dist < strlen(got)) {
			best = dist;
			pick = cands[i];
		}
	}
	return pick ? xasprintf("did you mean \"%s\"?", pick) : NULL;
}

static char *list_hint(const char *prefix, const char *got, const char *const *cands, size_t n)
{
	char *dym = suggest(got, cands, n);
	struct sbuf b;
	size_t i;

	sb_init(&b);
	if (dym) {
		sb_add(&b, dym);
		sb_add(&b, " ");
		free(dym);
	}
	sb_add(&b, prefix);
	for (i = 0; i < n; i++) {
		sb_add(&b, i ? ", " : " ");
		sb_add(&b, cands[i]);
	}
	return sb_steal(&b);
}

/*
 * Check a mapping's keys against the allowed ones; vals[i] is the value of
 * keys[i] or NULL.  Unknown and duplicate keys are errors.
 */
static bool map_fields(struct pctx *c, yaml_node_t *n, const char *what,
		       const char *const *keys, size_t nkeys, yaml_node_t **vals)
{
	yaml_node_t **knodes = xcalloc(nkeys, sizeof(*knodes));
	yaml_node_pair_t *pr;
	size_t i;

	for (i = 0; i < nkeys; i++)
		vals[i] = NULL;
	if (n->type != YAML_MAPPING_NODE) {
		ERR(c, mark_of(n), NULL, "%s must be a mapping, not %s", what, kind(n));
		free(knodes);
		return false;
	}
	for (pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = node(c, pr->key), *v = node(c, pr->value);
		const char *ks;

		if (k->type != YAML_SCALAR_NODE) {
			ERR(c, mark_of(k), NULL, "keys of %s must be plain words, not %s", what, kind(k));
			continue;
		}
		ks = scalar(k);
		for (i = 0; i < nkeys; i++)
			if (!strcmp(ks, keys[i]))
				break;
		if (i == nkeys) {
			char *hint = list_hint("known keys:", ks, keys, nkeys);

			ERR(c, mark_of(k), hint, "unknown key %s in %s", Q(ks), what);
			free(hint);
			continue;
		}
		if (knodes[i]) {
			char hint[64];

			snprintf(hint, sizeof(hint), "first given at line %u", mark_of(knodes[i]).line);
			ERR(c, mark_of(k), hint, "duplicate key %s in %s", Q(ks), what);
			continue;
		}
		knodes[i] = k;
		vals[i] = v;
	}
	free(knodes);
	return true;
}

static bool get_str(struct pctx *c, yaml_node_t *n, const char *what, const char **out)
{
	if (n->type != YAML_SCALAR_NODE || is_null(n)) {
		ERR(c, mark_of(n), NULL, "%s must be a string, not %s", what, kind(n));
		return false;
	}
	*out = scalar(n);
	return true;
}

static bool get_bool(struct pctx *c, yaml_node_t *n, const char *what, bool *out)
{
	static const char *const t[] = { "true", "True", "TRUE" }, *const f[] = { "false", "False", "FALSE" };
	size_t i;

	if (is_plain(n))
		for (i = 0; i < 3; i++) {
			if (!strcmp(scalar(n), t[i])) {
				*out = true;
				return true;
			}
			if (!strcmp(scalar(n), f[i])) {
				*out = false;
				return true;
			}
		}
	ERR(c, mark_of(n), NULL, "%s must be true or false, not %s", what,
	    n->type == YAML_SCALAR_NODE && !is_null(n) ? Q(scalar(n)) : kind(n));
	return false;
}

static bool get_size(struct pctx *c, yaml_node_t *n, const char *what, uint64_t *out)
{
	const char *s;
	int r;

	if (n->type != YAML_SCALAR_NODE || is_null(n)) {
		ERR(c, mark_of(n), SIZE_HINT, "%s must be a size, not %s", what, kind(n));
		return false;
	}
	s = scalar(n);
	r = parse_size(s, out);
	if (r == -ERANGE) {
		ERR(c, mark_of(n), NULL, "%s %s is too large", what, Q(s));
		return false;
	}
	if (r) {
		ERR(c, mark_of(n), SIZE_HINT, "invalid %s %s", what, Q(s));
		return false;
	}
	return true;
}

static bool get_aligned(struct pctx *c, yaml_node_t *n, const char *what, uint64_t *out)
{
	if (!get_size(c, n, what, out))
		return false;
	if (*out % 512) {
		ERR(c, mark_of(n), NULL, "%s %s is not a multiple of 512 bytes", what, Q(scalar(n)));
		return false;
	}
	return true;
}

/* A list of names from a fixed set, to a bit mask. */
static bool get_bits(struct pctx *c, yaml_node_t *n, const char *list, const char *what,
		     const char *const *names, size_t nnames, uint32_t *mask)
{
	yaml_node_item_t *it;
	bool ok = true;

	*mask = 0;
	if (n->type != YAML_SEQUENCE_NODE) {
		char *hint = list_hint("one or more of:", "", names, nnames);

		ERR(c, mark_of(n), hint, "%s must be a list, not %s", list, kind(n));
		free(hint);
		return false;
	}
	if (n->data.sequence.items.start == n->data.sequence.items.top) {
		ERR(c, mark_of(n), NULL, "%s must not be empty", list);
		return false;
	}
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		yaml_node_t *x = node(c, *it);
		const char *s;
		size_t i;

		if (!get_str(c, x, what, &s)) {
			ok = false;
			continue;
		}
		for (i = 0; i < nnames; i++)
			if (!strcmp(s, names[i]))
				break;
		if (i == nnames) {
			char *hint = list_hint("one of:", s, names, nnames);

			ERR(c, mark_of(x), hint, "unknown %s %s", what, Q(s));
			free(hint);
			ok = false;
			continue;
		}
		if (*mask & (1U << i)) {
			ERR(c, mark_of(x), NULL, "%s %s is listed twice", what, Q(s));
			ok = false;
			continue;
		}
		*mask |= 1U << i;
	}
	return ok;
}

static bool check_name(struct pctx *c, yaml_node_t *n, const char *what, const char *s, int maxlen,
		       const char *why)
{
	char hint[80];

	snprintf(hint, sizeof(hint), NAME_HINT, maxlen);
	if (!name_chars_ok(s) || !strcmp(s, ".") || !strcmp(s, "..")) {
		ERR(c, mark_of(n), hint, "invalid %s %s", what, Q(s));
		return false;
	}
	if (strlen(s) > (size_t)maxlen) {
		ERR(c, mark_of(n), why, "%s %s is %zu characters long; at most %d", what, Q(s), strlen(s),
		    maxlen);
		return false;
	}
	return true;
}

static bool parse_chain(struct pctx *c, yaml_node_t *n, struct pchain *ch)
{
	yaml_node_item_t *it;
	bool ok = true;

	ch->list_m = mark_of(n);
	if (n->type != YAML_SEQUENCE_NODE) {
		ERR(c, mark_of(n), NULL, "chain must be a list of filter instance names, not %s", kind(n));
		return false;
	}
	if (n->data.sequence.items.start == n->data.sequence.items.top) {
		ERR(c, mark_of(n), NULL, "chain must not be empty");
		return false;
	}
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		yaml_node_t *x = node(c, *it);
		const char *s;
		size_t i;

		if (!get_str(c, x, "a chain entry", &s)) {
			ok = false;
			continue;
		}
		if (ch->n == IOF_MAX_CHAIN) {
			ERR(c, mark_of(x), "the kernel runs at most one filter of each class per chain",
			    "chain has more than %d filter instances", IOF_MAX_CHAIN);
			return false;
		}
		for (i = 0; i < ch->n; i++)
			if (!strcmp(ch->names[i], s))
				break;
		if (i < ch->n) {
			ERR(c, mark_of(x), NULL, "filter instance %s is listed twice in the chain", Q(s));
			ok = false;
			continue;
		}
		ch->names[ch->n] = xstrdup(s);
		ch->m[ch->n] = mark_of(x);
		ch->idx[ch->n] = -1;
		ch->n++;
	}
	return ok;
}

static void parse_range(struct pctx *c, yaml_node_t *n, struct prule *r)
{
	static const char *const keys[] = { "start", "length", "end" };
	yaml_node_t *v[3];
	uint64_t start = 0, len = 0, end = 0;
	bool ok = true;

	r->range_m = mark_of(n);
	if (!map_fields(c, n, "range", keys, 3, v))
		return;
	if (!v[0]) {
		ERR(c, mark_of(n), "a range is {start: X, length: N} or {start: X, end: Y}",
		    "range is missing required key \"start\"");
		return;
	}
	ok = get_aligned(c, v[0], "range start", &start);
	if (v[1] && v[2]) {
		ERR(c, mark_of(v[2]), NULL, "range has both \"length\" and \"end\"; give one");
		return;
	}
	if (v[1]) {
		if (!get_aligned(c, v[1], "range length", &len))
			return;
		if (!len) {
			ERR(c, mark_of(v[1]), "omit \"length\" for a range that runs to the end of the volume",
			    "range length must not be 0");
			return;
		}
		if (ok && len > UINT64_MAX - start) {
			ERR(c, mark_of(v[1]), NULL, "range start + length overflows");
			return;
		}
	} else if (v[2]) {
		if (!get_aligned(c, v[2], "range end", &end))
			return;
		if (ok && end <= start) {
			char b1[32], b2[32];

			ERR(c, mark_of(v[2]), "end is exclusive and must be greater than start",
			    "range end %s is not after its start %s",
			    fmt_size(end, b1, sizeof(b1)), fmt_size(start, b2, sizeof(b2)));
			return;
		}
		len = end - start;
	}
	if (!ok)
		return;
	r->has_range = true;
	r->start = start;
	r->len = len;
}

static void parse_sizes(struct pctx *c, yaml_node_t *n, struct prule *r)
{
	static const char *const keys[] = { "min", "max" };
	yaml_node_t *v[2];
	uint64_t mn = 0, mx = 0;
	const uint64_t lim = UINT32_MAX & ~511U;

	r->size_m = mark_of(n);
	if (!map_fields(c, n, "size", keys, 2, v))
		return;
	if (!v[0] && !v[1]) {
		ERR(c, mark_of(n), NULL, "size needs \"min\" or \"max\"");
		return;
	}
	if (v[0] && get_aligned(c, v[0], "size min", &mn) && mn > lim) {
		ERR(c, mark_of(v[0]), NULL, "size min %s is too large; at most %" PRIu64, Q(scalar(v[0])), lim);
		return;
	}
	if (v[1] && get_aligned(c, v[1], "size max", &mx)) {
		if (mx > lim) {
			ERR(c, mark_of(v[1]), NULL, "size max %s is too large; at most %" PRIu64,
			    Q(scalar(v[1])), lim);
			return;
		}
		if (!mx) {
			ERR(c, mark_of(v[1]), "omit \"max\" for no upper bound", "size max must not be 0");
			return;
		}
		if (mn > mx) {
			ERR(c, mark_of(v[1]), NULL, "size max %s is less than size min %s",
			    Q(scalar(v[1])), Q(scalar(v[0])));
			return;
		}
	}
	r->size_given = true;
	r->min_size = (uint32_t)mn;
	r->max_size = (uint32_t)mx;
}

static void parse_flags(struct pctx *c, yaml_node_t *n, struct prule *r)
{
	static const char *const keys[] = { "set", "clear" };
	yaml_node_t *v[2];
	uint32_t set = 0, clr = 0;
	bool ok = true;

	r->flags_m = mark_of(n);
	if (!map_fields(c, n, "flags", keys, 2, v))
		return;
	if (!v[0] && !v[1]) {
		ERR(c, mark_of(n), NULL, "flags needs \"set\" or \"clear\"");
		return;
	}
	if (v[0])
		ok &= get_bits(c, v[0], "flags set", "request flag", rq_names, ARRAY_SIZE(rq_names), &set);
	if (v[1])
		ok &= get_bits(c, v[1], "flags clear", "request flag", rq_names, ARRAY_SIZE(rq_names), &clr);
	if (!ok)
		return;
	if (set & clr) {
		ERR(c, mark_of(v[1]), NULL, "flag %s is both in \"set\" and in \"clear\"",
		    Q(rq_names[__builtin_ctz(set & clr)]));
		return;
	}
	r->flags_given = true;
	r->flags_set = set;
	r->flags_clear = clr;
}

static bool parse_action(struct pctx *c, yaml_node_t *n, uint32_t *action)
{
	static const char *const acts[] = { "pass", "deny", "filter" };
	const char *s;
	size_t i;

	if (!get_str(c, n, "action", &s))
		return false;
	for (i = 0; i < ARRAY_SIZE(acts); i++)
		if (!strcmp(s, acts[i])) {
			*action = (uint32_t)i + IOF_ACTION_PASS;
			return true;
		}
	{
		char *hint = list_hint("one of:", s, acts, ARRAY_SIZE(acts));

		ERR(c, mark_of(n), hint, "unknown action %s", Q(s));
		free(hint);
	}
	return false;
}

static void parse_rule(struct pctx *c, yaml_node_t *n, struct prule *r)
{
	static const char *const keys[] = {
		"name", "range", "ops", "size", "flags", "ioprio", "action", "chain", "allow_overlap"
	};
	yaml_node_t *v[ARRAY_SIZE(keys)];
	bool action_ok = true, chain_ok = true;
	const char *s;

	r->m = mark_of(n);
	r->ops = IOF_OP_ALL;
	if (!map_fields(c, n, "rule", keys, ARRAY_SIZE(keys), v))
		return;
	if (v[0] && get_str(c, v[0], "rule name", &s) &&
	    check_name(c, v[0], "rule name", s, IOF_RULE_NAME_LEN - 1, NULL)) {
		strcpy(r->name, s);
		r->name_m = mark_of(v[0]);
	}
	if (v[1])
		parse_range(c, v[1], r);
	if (v[2]) {
		r->ops_m = mark_of(v[2]);
		if (get_bits(c, v[2], "ops", "op", op_names, IOF_NR_OPS, &r->ops))
			r->ops_given = true;
		else
			r->ops = IOF_OP_ALL;
	}
	if (v[3])
		parse_sizes(c, v[3], r);
	if (v[4])
		parse_flags(c, v[4], r);
	if (v[5]) {
		static const char *const prio_order[] = { "none", "rt", "be", "idle" };

		r->ioprio_m = mark_of(v[5]);
		if (get_bits(c, v[5], "ioprio", "ioprio class", prio_order, 4, &r->ioprio))
			r->ioprio_given = true;
	}
	if (v[6]) {
		r->action_m = mark_of(v[6]);
		action_ok = parse_action(c, v[6], &r->action);
	}
	if (v[7])
		chain_ok = parse_chain(c, v[7], &r->chain);
	if (v[8])
		get_bool(c, v[8], "allow_overlap", &r->allow_overlap);

	if (!action_ok || !chain_ok)
		return;
	if (v[7]) {
		if (v[6] && r->action != IOF_ACTION_FILTER)
			ERR(c, r->action_m, "a rule with a chain filters; drop \"action\" or the chain",
			    "action %s cannot have a chain", Q(scalar(v[6])));
		r->action = IOF_ACTION_FILTER;
	} else if (v[6] && r->action == IOF_ACTION_FILTER) {
		ERR(c, r->action_m, "list the filter instances to run: chain: [name, ...]",
		    "action \"filter\" needs a chain");
	} else if (!v[6]) {
		ERR(c, r->m, "add \"action: pass\", \"action: deny\" or \"chain: [...]\"",
		    "rule needs an action or a chain");
	}
}

static void parse_default(struct pctx *c, yaml_node_t *n, struct pvolume *vol)
{
	static const char *const keys[] = { "chain" };
	yaml_node_t *v[1];

	vol->default_m = mark_of(n);
	if (n->type == YAML_SCALAR_NODE && !is_null(n)) {
		const char *s = scalar(n);

		if (!strcmp(s, "pass"))
			vol->dflt.action = IOF_ACTION_PASS;
		else if (!strcmp(s, "deny"))
			vol->dflt.action = IOF_ACTION_DENY;
		else
			ERR(c, mark_of(n), "default is pass, deny or {chain: [name, ...]}",
			    "unknown default action %s", Q(s));
		return;
	}
	if (n->type != YAML_MAPPING_NODE) {
		ERR(c, mark_of(n), "default is pass, deny or {chain: [name, ...]}",
		    "default must be pass, deny or a mapping, not %s", kind(n));
		return;
	}
	if (!map_fields(c, n, "default", keys, 1, v))
		return;
	if (!v[0]) {
		ERR(c, mark_of(n), NULL, "default is missing required key \"chain\"");
		return;
	}
	if (parse_chain(c, v[0], &vol->dflt.chain))
		vol->dflt.action = IOF_ACTION_FILTER;
}

static bool param_key_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

static char *resolve_path(struct pctx *c, const char *path)
{
	if (path[0] == '/')
		return xstrdup(path);
	return xasprintf("%s/%s", c->p->dir, path);
}

static void parse_params(struct pctx *c, yaml_node_t *n, struct pfilter *f)
{
	yaml_node_pair_t *pr;
	struct sbuf blk;

	f->params_m = mark_of(n);
	if (n->type != YAML_MAPPING_NODE) {
		ERR(c, mark_of(n), "params is a mapping of key: value", "params must be a mapping, not %s",
		    kind(n));
		return;
	}
	sb_init(&blk);
	for (pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = node(c, pr->key), *v = node(c, pr->value);
		const char *ks, *vs, *p;
		bool ok = true;
		size_t i;

		if (k->type != YAML_SCALAR_NODE || is_null(k)) {
			ERR(c, mark_of(k), NULL, "parameter keys must be plain words, not %s", kind(k));
			continue;
		}
		ks = scalar(k);
		if (!param_key_ok(ks)) {
			ERR(c, mark_of(k), "parameter keys are made of a-z, 0-9 and _",
			    "invalid parameter key %s", Q(ks));
			continue;
		}
		for (i = 0; i < f->nparams; i++)
			if (!strcmp(f->params[i].key, ks))
				break;
		if (i < f->nparams) {
			char hint[64];

			snprintf(hint, sizeof(hint), "first given at line %u", f->params[i].m.line);
			ERR(c, mark_of(k), hint, "duplicate parameter %s", Q(ks));
			continue;
		}
		if (v->type != YAML_SCALAR_NODE || is_null(v)) {
			ERR(c, mark_of(v), NULL, "value of parameter %s must be a scalar, not %s", Q(ks), kind(v));
			continue;
		}
		vs = scalar(v);
		if (!*vs) {
			ERR(c, mark_of(v), NULL, "value of parameter %s is empty", Q(ks));
			continue;
		}
		for (p = vs; *p; p++) {
			unsigned char ch = (unsigned char)*p;

			if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f') {
				ERR(c, mark_of(v), "the kernel receives parameters as key=value words",
				    "value of parameter %s contains whitespace", Q(ks));
				ok = false;
				break;
			}
			if (ch == '=') {
				ERR(c, mark_of(v), "the kernel receives parameters as key=value words",
				    "value of parameter %s contains '='", Q(ks));
				ok = false;
				break;
			}
			if (ch < 0x20 || ch == 0x7f) {
				ERR(c, mark_of(v), NULL, "value of parameter %s contains a control character",
				    Q(ks));
				ok = false;
				break;
			}
		}
		if (!ok)
			continue;
		f->params = xreallocarray(f->params, f->nparams + 1, sizeof(*f->params));
		f->params[f->nparams].key = xstrdup(ks);
		f->params[f->nparams].val = xstrdup(vs);
		f->params[f->nparams].m = mark_of(k);
		f->params[f->nparams].vm = mark_of(v);
		f->nparams++;
		sb_add(&blk, ks);
		sb_addc(&blk, '=');
		sb_addn(&blk, vs, strlen(vs) + 1);	/* with the NUL */
		if (!strcmp(ks, "key_file")) {
			f->key_file = resolve_path(c, vs);
			f->key_file_m = mark_of(v);
		}
		if (!strcmp(ks, "program") && !f->program) {
			f->program = resolve_path(c, vs);
			f->program_m = mark_of(v);
		}
	}
	if (f->nparams > IOF_MAX_PARAMS)
		ERR(c, mark_of(n), NULL, "filter %s has %zu parameters; at most %d",
		    Q(f->name ? f->name : ""), f->nparams, IOF_MAX_PARAMS);
	else if (blk.len > IOF_MAX_PARAMS_LEN)
		ERR(c, mark_of(n), "the kernel takes at most 4096 bytes of \"key=value\\0\" pairs",
		    "parameters of filter %s take %zu bytes; at most %d",
		    Q(f->name ? f->name : ""), blk.len, IOF_MAX_PARAMS_LEN);
	f->params_len = blk.len;
	f->params_blk = blk.s;	/* may be NULL: no parameters */
}

static void parse_filter(struct pctx *c, yaml_node_t *n, struct pvolume *vol, struct pfilter *f)
{
	static const char *const keys[] = { "name", "type", "params" };
	yaml_node_t *v[3];
	const char *s;
	size_t i;

	f->m = mark_of(n);
	if (!map_fields(c, n, "filter", keys, 3, v))
		return;
	if (!v[0])
		ERR(c, mark_of(n), NULL, "filter is missing required key \"name\"");
	else if (get_str(c, v[0], "filter name", &s)) {
		f->name_m = mark_of(v[0]);
		if (check_name(c, v[0], "filter name", s, IOF_NAME_LEN - 5,
			       "iofilterctl needs room for a temporary \"<name>.new\" (63 characters)")) {
			size_t l = strlen(s);

			if (l >= 4 && !strcmp(s + l - 4, ".new")) {
				ERR(c, mark_of(v[0]),
				    "iofilterctl replaces an instance through a temporary \"<name>.new\"",
				    "filter name %s ends in \".new\", which is reserved", Q(s));
			} else {
				for (i = 0; vol->filters + i < f; i++)
					if (vol->filters[i].name && !strcmp(vol->filters[i].name, s))
						break;
				if (vol->filters + i < f) {
					char hint[64];

					snprintf(hint, sizeof(hint), "first defined at line %u",
						 vol->filters[i].name_m.line);
					ERR(c, mark_of(v[0]), hint, "duplicate filter name %s in volume %s",
					    Q(s), Q(vol->name ? vol->name : ""));
				} else {
					f->name = xstrdup(s);
				}
			}
		}
	}
	if (!v[1])
		ERR(c, mark_of(n), NULL, "filter is missing required key \"type\"");
	else if (get_str(c, v[1], "filter type", &s)) {
		f->type = xstrdup(s);
		f->type_m = mark_of(v[1]);
	}
	if (v[2])
		parse_params(c, v[2], f);
}

static const struct prule *name_cmp_base;

static int rule_name_cmp(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int r = strcmp(name_cmp_base[x].name, name_cmp_base[y].name);

	return r ? r : x < y ? -1 : x > y;
}

/* Duplicate rule names, sorted rather than compared pairwise. */
static void check_rule_names(struct pctx *c, struct pvolume *vol)
{
	size_t *ix = xcalloc(vol->nrules + 1, sizeof(*ix)), n = 0, i, first = 0;

	for (i = 0; i < vol->nrules; i++)
		if (vol->rules[i].name[0])
			ix[n++] = i;
	name_cmp_base = vol->rules;
	qsort(ix, n, sizeof(*ix), rule_name_cmp);
	for (i = 0; i < n; i++) {
		const struct prule *r = &vol->rules[ix[i]];
		char hint[64];

		if (!i || strcmp(vol->rules[ix[i - 1]].name, r->name)) {
			first = ix[i];
			continue;
		}
		snprintf(hint, sizeof(hint), "first used at line %u", vol->rules[first].name_m.line);
		ERR(c, r->name_m, hint, "duplicate rule name %s", Q(r->name));
	}
	free(ix);
}

static void parse_volume(struct pctx *c, yaml_node_t *n, struct pvolume *vol)
{
	static const char *const keys[] = { "name", "device", "image", "filters", "rules", "default",
					    "format" };
	yaml_node_t *v[ARRAY_SIZE(keys)];
	struct policy *p = c->p;
	yaml_node_item_t *it;
	const char *s;
	size_t i;

	vol->m = mark_of(n);
	vol->dflt.action = IOF_ACTION_PASS;
	if (!map_fields(c, n, "volume", keys, ARRAY_SIZE(keys), v))
		return;
	if (!v[0])
		ERR(c, mark_of(n), NULL, "volume is missing required key \"name\"");
	else if (get_str(c, v[0], "volume name", &s)) {
		vol->name_m = mark_of(v[0]);
		if (check_name(c, v[0], "volume name", s, IOF_NAME_LEN - 1, NULL)) {
			for (i = 0; p->vols + i < vol; i++)
				if (p->vols[i].name && !strcmp(p->vols[i].name, s))
					break;
			if (p->vols + i < vol) {
				char hint[64];

				snprintf(hint, sizeof(hint), "first defined at line %u", p->vols[i].name_m.line);
				ERR(c, mark_of(v[0]), hint, "duplicate volume name %s", Q(s));
			} else {
				vol->name = xstrdup(s);
			}
		}
	}
	if (v[1] && v[2]) {
		ERR(c, mark_of(v[2]), "a volume sits on one origin: a block device or an image file",
		    "volume has both \"device\" and \"image\"");
	} else if (!v[1] && !v[2]) {
		ERR(c, mark_of(n), "add \"device: /dev/...\" or \"image: /path/to/file\"",
		    "volume needs \"device\" or \"image\"");
	} else {
		yaml_node_t *o = v[1] ? v[1] : v[2];

		vol->is_image = !v[1];
		if (get_str(c, o, vol->is_image ? "image" : "device", &s)) {
			vol->origin = xstrdup(s);
			vol->path = resolve_path(c, s);
			vol->origin_m = mark_of(o);
			for (i = 0; p->vols + i < vol; i++)
				if (p->vols[i].path && !strcmp(p->vols[i].path, vol->path))
					break;
			if (p->vols + i < vol) {
				char hint[64];

				snprintf(hint, sizeof(hint), "first used at line %u", p->vols[i].origin_m.line);
				ERR(c, mark_of(o), hint, "%s is already the origin of volume %s",
				    Q(s), Q(p->vols[i].name ? p->vols[i].name : ""));
			}
		}
	}
	if (v[6]) {
		vol->format_m = mark_of(v[6]);
		if (!v[2]) {
			ERR(c, mark_of(v[6]), "a block device is used as it is",
			    "\"format\" applies to \"image\" only");
		} else if (get_str(c, v[6], "image format", &s)) {
			for (i = 0; image_formats[i] && strcmp(image_formats[i], s); i++)
				;
			if (image_formats[i]) {
				vol->format = xstrdup(s);
			} else {
				struct sbuf b;

				sb_init(&b);
				sb_add(&b, "one of");
				for (i = 0; image_formats[i]; i++)
					sb_printf(&b, " %s", image_formats[i]);
				ERR(c, mark_of(v[6]), b.s, "unsupported image format %s", Q(s));
				sb_free(&b);
			}
		}
	}
	if (v[3]) {
		vol->filters_m = mark_of(v[3]);
		if (v[3]->type != YAML_SEQUENCE_NODE) {
			ERR(c, mark_of(v[3]), NULL, "filters must be a list, not %s", kind(v[3]));
		} else {
			size_t cnt = (size_t)(v[3]->data.sequence.items.top - v[3]->data.sequence.items.start);

			if (cnt > IOF_MAX_INSTANCES) {
				ERR(c, mark_of(v[3]), NULL, "volume has %zu filter instances; at most %d",
				    cnt, IOF_MAX_INSTANCES);
			} else {
				vol->filters = xcalloc(cnt, sizeof(*vol->filters));
				for (it = v[3]->data.sequence.items.start; it < v[3]->data.sequence.items.top; it++)
					parse_filter(c, node(c, *it), vol, &vol->filters[vol->nfilters++]);
			}
		}
	}
	if (v[4]) {
		vol->rules_m = mark_of(v[4]);
		if (v[4]->type != YAML_SEQUENCE_NODE) {
			ERR(c, mark_of(v[4]), NULL, "rules must be a list, not %s", kind(v[4]));
		} else {
			size_t cnt = (size_t)(v[4]->data.sequence.items.top - v[4]->data.sequence.items.start);

			if (cnt > IOF_MAX_RULES) {
				ERR(c, mark_of(v[4]), NULL, "volume has %zu rules; at most %d", cnt, IOF_MAX_RULES);
			} else {
				vol->rules = xcalloc(cnt, sizeof(*vol->rules));
				for (it = v[4]->data.sequence.items.start; it < v[4]->data.sequence.items.top; it++) {
					struct prule *r = &vol->rules[vol->nrules++];
					unsigned nerr = c->d->nerr;

					parse_rule(c, node(c, *it), r);
					r->bad = c->d->nerr != nerr;
				}
				check_rule_names(c, vol);
			}
		}
	}
	if (v[5])
		parse_default(c, v[5], vol);
}

static void parse_root(struct pctx *c, yaml_node_t *root)
{
	static const char *const keys[] = { "version", "volumes" };
	struct policy *p = c->p;
	yaml_node_t *v[2];
	yaml_node_item_t *it;

	if (!map_fields(c, root, "the policy", keys, 2, v))
		return;
	if (!v[0]) {
		ERR(c, mark_of(root), "start the file with \"version: 1\"",
		    "policy is missing required key \"version\"");
	} else if (!is_plain(v[0]) || strspn(scalar(v[0]), "0123456789") != strlen(scalar(v[0])) ||
		   !*scalar(v[0])) {
		ERR(c, mark_of(v[0]), NULL, "version must be an integer, not %s",
		    v[0]->type == YAML_SCALAR_NODE && !is_null(v[0]) ? Q(scalar(v[0])) : kind(v[0]));
	} else if (strcmp(scalar(v[0]), "1")) {
		ERR(c, mark_of(v[0]), "this iofilterctl reads policy version 1",
		    "unsupported policy version %s", scalar(v[0]));
	} else {
		p->version = 1;
	}
	if (!v[1]) {
		ERR(c, mark_of(root), NULL, "policy is missing required key \"volumes\"");
		return;
	}
	if (v[1]->type != YAML_SEQUENCE_NODE) {
		ERR(c, mark_of(v[1]), NULL, "volumes must be a list, not %s", kind(v[1]));
		return;
	}
	p->nvols = (size_t)(v[1]->data.sequence.items.top - v[1]->data.sequence.items.start);
	if (!p->nvols) {
		ERR(c, mark_of(v[1]), NULL, "volumes must not be empty");
		return;
	}
	if (p->nvols > POLICY_MAX_VOLUMES) {
		ERR(c, mark_of(v[1]), NULL, "policy has %zu volumes; at most %u", p->nvols,
		    POLICY_MAX_VOLUMES);
		p->nvols = 0;
		return;
	}
	p->vols = xcalloc(p->nvols, sizeof(*p->vols));
	p->nvols = 0;
	for (it = v[1]->data.sequence.items.start; it < v[1]->data.sequence.items.top; it++)
		parse_volume(c, node(c, *it), &p->vols[p->nvols++]);
}

/*
 * YAML aliases share nodes: libyaml's document holds each node once, but
 * walking it visits an aliased node at every reference, so a small file of
 * nested aliases ("billion laughs") expands exponentially.  Count what the
 * walk would visit, each node's subtree once (memoised), and refuse the
 * document past POLICY_MAX_NODES; an alias inside its own anchor (a cycle)
 * is refused too.  Iterative: the nesting depth is the parser's to bound.
 */
static bool check_expansion(struct pctx *c)
{
	yaml_node_t *base = c->doc->nodes.start;
	size_t nn = (size_t)(c->doc->nodes.top - base), sp = 0;
	/* per node: 0 unseen, 1 on the stack, 2 done; its expanded size */
	unsigned char *state;
	uint64_t *size;
	struct frame { int idx; size_t next; } *st;
	bool ok = true;

	if (nn > POLICY_MAX_NODES) {
		struct pmark m = { 1, 1 };

		ERR(c, m, NULL, "policy has %zu YAML nodes; at most %u", nn, POLICY_MAX_NODES);
		return false;
	}
	state = xcalloc(nn + 1, 1);
	size = xcalloc(nn + 1, sizeof(*size));
	st = xcalloc(nn + 1, sizeof(*st));
	st[sp++] = (struct frame){ 1, 0 };
	state[0] = 1;
	while (sp && ok) {
		struct frame *f = &st[sp - 1];
		yaml_node_t *n = &base[f->idx - 1];
		size_t nkids = 0;
		int kid = 0;

		if (n->type == YAML_SEQUENCE_NODE) {
			nkids = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
			if (f->next < nkids)
				kid = n->data.sequence.items.start[f->next];
		} else if (n->type == YAML_MAPPING_NODE) {
			nkids = 2 * (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
			if (f->next < nkids) {
				yaml_node_pair_t *pr = &n->data.mapping.pairs.start[f->next / 2];

				kid = f->next % 2 ? pr->value : pr->key;
			}
		}
		if (f->next < nkids) {
			f->next++;
			if (kid < 1 || (size_t)kid > nn)
				continue;
			if (state[kid - 1] == 1) {
				ERR(c, mark_of(n), "an alias must not refer to a node that contains it",
				    "YAML alias refers to a node that contains it");
				ok = false;
			} else if (state[kid - 1] == 0) {
				state[kid - 1] = 1;
				st[sp++] = (struct frame){ kid, 0 };
			} else {
				size[f->idx - 1] += size[kid - 1];
			}
			continue;
		}
		/* Done with this node: add it to its parent. */
		size[f->idx - 1] += 1;
		state[f->idx - 1] = 2;
		if (size[f->idx - 1] > POLICY_MAX_NODES) {
			ERR(c, mark_of(n), "aliases (*name) repeat what their anchor (&name) holds; write the policy out",
			    "YAML aliases expand the policy to more than %u nodes", POLICY_MAX_NODES);
			ok = false;
		}
		sp--;
		if (sp)
			size[st[sp - 1].idx - 1] += size[f->idx - 1];
	}
	free(st);
	free(size);
	free(state);
	return ok;
}

unsigned policy_load(const char *file, struct policy *p, struct diags *d)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct pctx c = { .d = d, .doc = &doc, .p = p };
	unsigned before = d->nerr;
	unsigned char *buf;
	size_t len;
	char *tmp;
	int err;

	memset(p, 0, sizeof(*p));
	p->file = xstrdup(file);
	tmp = xstrdup(file);
	p->dir = xstrdup(dirname(tmp));
	free(tmp);

	err = read_file_max(file, POLICY_MAX_BYTES, &buf, &len);
	if (err) {
		struct pmark none = { 0, 0 };

		if (err == -EFBIG)
			diag_add(d, DIAG_ERROR, none, "a policy is a few kilobytes; split very large ones",
				 "policy file is larger than %u bytes (4 MiB)", POLICY_MAX_BYTES);
		else
			diag_add(d, DIAG_ERROR, none, NULL, "cannot open: %s", strerror(-err));
		return d->nerr - before;
	}
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		struct pmark m = { (unsigned)parser.problem_mark.line + 1,
				   (unsigned)parser.problem_mark.column + 1 };

		if (parser.error == YAML_MEMORY_ERROR) {
			errmsg("out of memory");
			exit(EXIT_NOMEM);
		}
		if (parser.context)
			diag_add(d, DIAG_ERROR, m, NULL, "YAML syntax error: %s %s", parser.problem,
				 parser.context);
		else
			diag_add(d, DIAG_ERROR, m, NULL, "YAML syntax error: %s",
				 parser.problem ? parser.problem : "unknown");
		yaml_parser_delete(&parser);
		free(buf);
		return d->nerr - before;
	}
	if (!yaml_document_get_root_node(&doc)) {
		struct pmark m = { 1, 1 };

		diag_add(d, DIAG_ERROR, m, "start the file with \"version: 1\"", "policy file is empty");
	} else if (check_expansion(&c)) {
		yaml_document_t next;

		parse_root(&c, yaml_document_get_root_node(&doc));
		if (yaml_parser_load(&parser, &next)) {
			yaml_node_t *r = yaml_document_get_root_node(&next);

			if (r)
				diag_add(d, DIAG_ERROR, mark_of(r), "put all volumes in one document",
					 "more than one YAML document in the file");
			yaml_document_delete(&next);
		} else {
			struct pmark m = { (unsigned)parser.problem_mark.line + 1,
					   (unsigned)parser.problem_mark.column + 1 };

			diag_add(d, DIAG_ERROR, m, NULL, "YAML syntax error: %s",
				 parser.problem ? parser.problem : "unknown");
		}
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	free(buf);
	return d->nerr - before;
}

/* ---- checks that need the filter types ---- */

static char *names_hint(const struct pvolume *v, const char *got)
{
	const char **names = xcalloc(v->nfilters + 1, sizeof(*names));
	char *hint, *what;
	size_t i, n = 0;

	for (i = 0; i < v->nfilters; i++)
		if (v->filters[i].name)
			names[n++] = v->filters[i].name;
	if (!n) {
		free(names);
		return xasprintf("volume %s defines no filters", Q(v->name ? v->name : ""));
	}
	what = xasprintf("filters of this volume:");
	hint = list_hint(what, got, names, n);
	free(what);
	free(names);
	return hint;
}

static int find_filter(const struct pvolume *v, const char *name)
{
	size_t i;

	for (i = 0; i < v->nfilters; i++)
		if (v->filters[i].name && !strcmp(v->filters[i].name, name))
			return (int)i;
	return -1;
}

const struct pfilter *pvolume_filter(const struct pvolume *v, const char *name)
{
	int i = find_filter(v, name);

	return i < 0 ? NULL : &v->filters[i];
}

/* Resolve a chain; report unknown names and two filters of one class. */
static void check_chain(struct pctx *c, struct pvolume *v, struct pchain *ch, bool *used)
{
	const struct pfilter *by_class[IOF_NR_CLASSES] = { NULL };
	size_t i;

	for (i = 0; i < ch->n; i++) {
		int k = find_filter(v, ch->names[i]);
		const struct pfilter *f;

		ch->idx[i] = k;
		if (k < 0) {
			char *hint = names_hint(v, ch->names[i]);

			ERR(c, ch->m[i], hint, "unknown filter instance %s in chain", Q(ch->names[i]));
			free(hint);
			continue;
		}
		used[k] = true;
		f = &v->filters[k];
		if (!f->ft || f->ft->class >= IOF_NR_CLASSES)
			continue;
		if (by_class[f->ft->class]) {
			ERR(c, ch->m[i], "a chain runs at most one filter of each class (inspect, crypt, replicate, cache)",
			    "chain has two filters of class %s: %s and %s", class_name(f->ft->class),
			    Q(by_class[f->ft->class]->name), Q(f->name));
			continue;
		}
		by_class[f->ft->class] = f;
	}
}

/*
 * The filter of the chain that must see the most of its range's I/O (a
 * range-exclusive one before a write-exclusive one), or NULL.
 */
static const struct pfilter *chain_exclusive(const struct pvolume *v, const struct pchain *ch)
{
	const struct pfilter *w = NULL;
	size_t i;

	for (i = 0; i < ch->n; i++) {
		const struct pfilter *f;

		if (ch->idx[i] < 0)
			continue;
		f = &v->filters[ch->idx[i]];
		if (ftype_range_exclusive(f->ft))
			return f;
		if (!w && ftype_write_exclusive(f->ft))
			w = f;
	}
	return w;
}

static uint64_t rule_end(const struct prule *r)
{
	return r->len ? r->start + r->len : UINT64_MAX;
}

static void rule_label(const struct prule *r, size_t idx, char *buf, size_t len)
{
	if (r->name[0])
		snprintf(buf, len, "rule #%zu \"%s\" (line %u)", idx + 1, r->name, r->m.line);
	else
		snprintf(buf, len, "rule #%zu (line %u)", idx + 1, r->m.line);
}

static const char *exclusive_why(const struct pfilter *x)
{
	if (!x->ft)
		return "";
	if (x->ft->class == IOF_CLASS_CRYPT)
		return "a crypt rule matches by range alone, so every I/O to the range is encrypted";
	if (ftype_range_exclusive(x->ft))
		return "a cache rule matches by range alone: a read or write that goes round the cache meets stale data";
	return "a replicate rule lists the write, discard, write_zeroes and flush ops and matches by range alone, so the replica gets every write";
}

/* Checks of a rule that uses a range- or write-exclusive filter */
/*
 * Earlier rules that meet a rule, for the checks between rules without
 * comparing every pair: what the loops over earlier rules would find first.
 */
struct earlier {
	size_t flush_deny;	/* first good rule that denies flushes */
	size_t *any;		/* per rule: first earlier good rule meeting it */
	size_t *writes;		/* ... of those, first with a write op (not flush) */
};

static void check_exclusive_rule(struct pctx *c, struct pvolume *v, size_t i, const struct pfilter *x,
				 const struct earlier *e, bool *reported)
{
	struct prule *r = &v->rules[i];
	bool all = ftype_range_exclusive(x->ft);
	const char *why = exclusive_why(x);
	size_t j;

	/* Crypt ranges are explicit (offset, sector_size); the others may take the volume. */
	if (!r->has_range && x->ft->class == IOF_CLASS_CRYPT)
		ERR(c, r->m, "a crypt filter is bound to an explicit range of the volume",
		    "rule uses %s filter %s but has no range", x->type, Q(x->name));
	if (r->ops_given && all && r->ops != IOF_OP_ALL)
		ERR(c, r->ops_m, why, "rule uses %s filter %s but also matches by ops", x->type,
		    Q(x->name));
	if (r->ops_given && !all && (r->ops & IOF_OP_WRITES) != IOF_OP_WRITES)
		ERR(c, r->ops_m, why,
		    "rule uses %s filter %s but does not list every write op (write, discard, write_zeroes, flush)",
		    x->type, Q(x->name));
	if (r->size_given)
		ERR(c, r->size_m, why, "rule uses %s filter %s but also matches by size", x->type,
		    Q(x->name));
	if (r->flags_given)
		ERR(c, r->flags_m, why, "rule uses %s filter %s but also matches by flags", x->type,
		    Q(x->name));
	if (r->ioprio_given && r->ioprio != IOF_PRIO_ALL)
		ERR(c, r->ioprio_m, why, "rule uses %s filter %s but also matches by ioprio", x->type,
		    Q(x->name));
	if (r->bad)
		return;
	/* Rules with errors of their own are skipped: no guesses from them. */
	j = all ? e->any[i] : e->writes[i];
	if (e->flush_deny < i && e->flush_deny <= j)
		j = e->flush_deny;
	if (j < i) {
		const struct prule *p = &v->rules[j];
		char lbl[96];

		if ((p->ops & IOF_OP_FLUSH) && p->action == IOF_ACTION_DENY) {
			rule_label(r, i, lbl, sizeof(lbl));
			ERR(c, p->ops_given ? p->ops_m : p->m,
			    "flushes have no range: the first rule that matches one decides for the whole volume; deny writes, not flushes",
			    "rule denies flushes, but %s filter %s (%s) must see every flush", x->type,
			    Q(x->name), lbl);
			reported[i] = true;
			return;
		}
		rule_label(p, j, lbl, sizeof(lbl));
		{
			ERR(c, r->has_range ? r->range_m : r->m,
			    x->ft->class == IOF_CLASS_CRYPT ?
			    "I/O matched by the earlier rule would bypass the encryption; put the crypt rule first or make the ranges disjoint" :
			    all ? "I/O matched by the earlier rule would go round the cache and meet stale data; put the cache rule first or make the ranges disjoint" :
			    "writes matched by the earlier rule would never reach the replica; put the replicate rule first or make the ranges disjoint",
			    "rule uses %s filter %s but %s covers part of its range", x->type,
			    Q(x->name), lbl);
			reported[i] = true;
		}
	}
}

struct span {
	uint64_t start, end;
	size_t idx;
};

static int span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Max-end segment tree over spans sorted by start; removed leaves hold 0. */
struct mtree {
	uint64_t *t;
	size_t size;	/* leaves: a power of two */
};

static void mtree_set(struct mtree *m, size_t pos, uint64_t end)
{
	size_t k = pos + m->size;

	m->t[k] = end;
	for (k /= 2; k; k /= 2)
		m->t[k] = m->t[2 * k] > m->t[2 * k + 1] ? m->t[2 * k] : m->t[2 * k + 1];
}

/* Take (remove) every leaf below position lim whose end is above @start. */
static void mtree_take(struct mtree *m, size_t k, size_t lo, size_t hi, size_t lim, uint64_t start,
		       const struct span *s, size_t claimer, size_t *first)
{
	if (lo >= lim || m->t[k] <= start)
		return;
	if (hi - lo == 1) {
		first[s[lo].idx] = claimer;
		mtree_set(m, lo, 0);
		return;
	}
	mtree_take(m, 2 * k, lo, (lo + hi) / 2, lim, start, s, claimer, first);
	mtree_take(m, 2 * k + 1, (lo + hi) / 2, hi, lim, start, s, claimer, first);
}

/*
 * For every span, the smallest idx of an earlier span (lower idx) that
 * meets it and for which cand[idx] (NULL: all) is true; SIZE_MAX if none.
 * Taken in idx order, each earlier span claims the later ones it meets that
 * nobody claimed yet; a claimed span leaves the tree: O(n log n) in all.
 * first[] is indexed by idx and must have room for the largest.  Sorts s.
 */
static void first_meeting(struct span *s, size_t n, const bool *cand, size_t *first)
{
	struct mtree m;
	size_t *pos, i, maxidx = 0;

	qsort(s, n, sizeof(*s), span_cmp);
	for (i = 0; i < n; i++)
		if (s[i].idx > maxidx)
			maxidx = s[i].idx;
	pos = xcalloc(maxidx + 1, sizeof(*pos));
	for (m.size = 1; m.size < n; m.size *= 2)
		;
	m.t = xcalloc(2 * m.size, sizeof(*m.t));
	for (i = 0; i < n; i++) {
		pos[s[i].idx] = i;
		first[s[i].idx] = SIZE_MAX;
		m.t[m.size + i] = s[i].end;
	}
	for (i = m.size - 1; i; i--)
		m.t[i] = m.t[2 * i] > m.t[2 * i + 1] ? m.t[2 * i] : m.t[2 * i + 1];
	/* idx order: walk the spans by idx through pos[] (idx may have gaps). */
	for (i = 0; i <= maxidx; i++) {
		size_t p = pos[i], lo = 0, hi = n;
		const struct span *me;

		if (p >= n || s[p].idx != i)
			continue;
		me = &s[p];
		mtree_set(&m, p, 0);
		if (cand && !cand[i])
			continue;
		/* spans that start before my end: positions [0, lo) */
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;

			if (s[mid].start < me->end)
				lo = mid + 1;
			else
				hi = mid;
		}
		mtree_take(&m, 1, 0, m.size, lo, me->start, s, i, first);
	}
	free(m.t);
	free(pos);
}

/* Overlapping explicit ranges: error unless the later rule allows it. */
static void check_overlaps(struct pctx *c, struct pvolume *v, const bool *reported)
{
	struct span *s = xcalloc(v->nrules, sizeof(*s));
	size_t *first = xcalloc(v->nrules, sizeof(*first));
	size_t i, n = 0;

	for (i = 0; i < v->nrules; i++) {
		first[i] = SIZE_MAX;
		if (v->rules[i].has_range) {
			s[n].start = v->rules[i].start;
			s[n].end = rule_end(&v->rules[i]);
			s[n].idx = i;
			n++;
		}
	}
	first_meeting(s, n, NULL, first);
	for (i = 0; i < v->nrules; i++) {
		char lbl[96];

		if (first[i] == SIZE_MAX || v->rules[i].allow_overlap || reported[i])
			continue;
		rule_label(&v->rules[first[i]], first[i], lbl, sizeof(lbl));
		ERR(c, v->rules[i].range_m,
		    "the first matching rule wins; add \"allow_overlap: true\" to this rule if that is intended",
		    "range overlaps %s", lbl);
	}
	free(first);
	free(s);
}

/* Every rule as a span; a rule without a range meets every other. */
static struct span *rule_spans(const struct pvolume *v)
{
	struct span *s = xcalloc(v->nrules + 1, sizeof(*s));
	size_t i;

	for (i = 0; i < v->nrules; i++) {
		s[i].start = v->rules[i].has_range ? v->rules[i].start : 0;
		s[i].end = v->rules[i].has_range ? rule_end(&v->rules[i]) : UINT64_MAX;
		s[i].idx = i;
	}
	return s;
}

static void earlier_init(const struct pvolume *v, struct earlier *e)
{
	bool *cand = xcalloc(v->nrules + 1, sizeof(*cand));
	struct span *s;
	size_t i;

	e->flush_deny = SIZE_MAX;
	e->any = xcalloc(v->nrules + 1, sizeof(*e->any));
	e->writes = xcalloc(v->nrules + 1, sizeof(*e->writes));
	for (i = 0; i < v->nrules; i++) {
		const struct prule *p = &v->rules[i];

		cand[i] = !p->bad;
		if (!p->bad && (p->ops & IOF_OP_FLUSH) && p->action == IOF_ACTION_DENY &&
		    e->flush_deny == SIZE_MAX)
			e->flush_deny = i;
	}
	s = rule_spans(v);
	first_meeting(s, v->nrules, cand, e->any);
	for (i = 0; i < v->nrules; i++)
		cand[i] = !v->rules[i].bad && (v->rules[i].ops & IOF_OP_WRITES & ~IOF_OP_FLUSH);
	free(s);
	s = rule_spans(v);
	first_meeting(s, v->nrules, cand, e->writes);
	free(s);
	free(cand);
}

static void earlier_free(struct earlier *e)
{
	free(e->any);
	free(e->writes);
}

/* Matches whatever I/O of its ops falls in its range: no size, flags or ioprio test. */
static bool rule_plain(const struct prule *r)
{
	return !r->bad && !r->size_given && !r->flags_given &&
	       (!r->ioprio_given || r->ioprio == IOF_PRIO_ALL);
}

/* Matches every flush of the volume (flushes have no range and size 0). */
static bool rule_takes_flushes(const struct prule *r)
{
	return !r->bad && (r->ops & IOF_OP_FLUSH) && !r->flags_given &&
	       (!r->ioprio_given || r->ioprio == IOF_PRIO_ALL) && !(r->size_given && r->min_size);
}

/* Fenwick tree of prefix maxima (ends over sorted starts), insert only. */
static void fen_put(uint64_t *f, size_t n, size_t i, uint64_t v)
{
	for (i++; i <= n; i += i & -i)
		if (f[i] < v)
			f[i] = v;
}

static uint64_t fen_max(const uint64_t *f, size_t i)	/* over positions [0, i) */
{
	uint64_t m = 0;

	for (; i; i -= i & -i)
		if (f[i] > m)
			m = f[i];
	return m;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Warnings for rules that can never match: an earlier rule without size,
 * flags or ioprio tests, whose ops include this rule's and whose range
 * contains this one's, takes all its I/O first (a rule of flushes alone: any
 * earlier one that takes every flush).  One prefix-maximum tree per ops
 * mask: O(n log n) with 32 masks.  Then the first rule that takes every
 * flush, or the default, denying them: flushes have no range, so that
 * denies every flush of the volume.
 */
static void check_reachable(struct pctx *c, struct pvolume *v)
{
	size_t n = v->nrules, i, nst = 0, flush_taker = SIZE_MAX;
	uint64_t *starts = xcalloc(n + 1, sizeof(*starts));
	uint64_t *fen = xcalloc((size_t)(IOF_OP_ALL + 1) * (n + 1), sizeof(*fen));
	size_t *first = xcalloc(IOF_OP_ALL + 1, sizeof(*first));
	char lbl[96];
	unsigned m;

	for (i = 0; i < n; i++)
		starts[nst++] = v->rules[i].has_range ? v->rules[i].start : 0;
	qsort(starts, nst, sizeof(*starts), u64_cmp);
	for (m = 0; m <= IOF_OP_ALL; m++)
		first[m] = SIZE_MAX;
	for (i = 0; i < n; i++) {
		const struct prule *r = &v->rules[i];
		uint64_t st = r->has_range ? r->start : 0, en = r->has_range ? rule_end(r) : UINT64_MAX;
		size_t pos, lo = 0, hi = nst, by = SIZE_MAX;

		/* starts <= st: positions [0, lo) */
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;

			if (starts[mid] <= st)
				lo = mid + 1;
			else
				hi = mid;
		}
		pos = lo;
		if (!r->bad && r->ops) {
			if (!(r->ops & ~IOF_OP_FLUSH)) {
				by = flush_taker;
			} else {
				for (m = r->ops; m <= IOF_OP_ALL; m = (m + 1) | r->ops)
					if (first[m] != SIZE_MAX &&
					    fen_max(fen + (size_t)m * (n + 1), pos) >= en) {
						by = first[m];	/* some earlier rule of mask m */
						break;
					}
			}
		}
		if (by != SIZE_MAX) {
			/* Name the earliest rule that shadows it (rare: a short scan). */
			size_t j;

			for (j = 0; j < i; j++) {
				const struct prule *p = &v->rules[j];

				if (!(r->ops & ~IOF_OP_FLUSH)) {
					if (rule_takes_flushes(p))
						break;
					continue;
				}
				if (!rule_plain(p) || (p->ops & r->ops) != r->ops)
					continue;
				if ((p->has_range ? p->start : 0) <= st &&
				    (p->has_range ? rule_end(p) : UINT64_MAX) >= en)
					break;
			}
			rule_label(&v->rules[j], j, lbl, sizeof(lbl));
			WARN(c, r->m, "it asks for a subset of what the earlier rule matches; the first matching rule wins",
			     "rule can never match: %s takes all its I/O first", lbl);
		}
		if (rule_plain(r)) {
			/* position of my own start: the first slot holding it */
			lo = 0;
			hi = nst;
			while (lo < hi) {
				size_t mid = (lo + hi) / 2;

				if (starts[mid] < st)
					lo = mid + 1;
				else
					hi = mid;
			}
			fen_put(fen + (size_t)r->ops * (n + 1), n, lo, en);
			if (first[r->ops] == SIZE_MAX)
				first[r->ops] = i;
		}
		if (flush_taker == SIZE_MAX && rule_takes_flushes(r)) {
			flush_taker = i;
			if (r->action == IOF_ACTION_DENY)
				WARN(c, r->ops_given ? r->ops_m : r->m,
				     "flushes have no range: list the ops to deny without flush, e.g. ops: [write, discard, write_zeroes]",
				     "rule denies every flush of the volume%s", r->ops_given ? "" :
				     " (it lists no ops, so flush is one of them)");
		}
	}
	if (flush_taker == SIZE_MAX && v->dflt.action == IOF_ACTION_DENY && v->default_m.line)
		WARN(c, v->default_m, "add a rule that passes flushes: {ops: [flush], action: pass}",
		     "default denies every flush of the volume: no rule takes them first");
	free(first);
	free(fen);
	free(starts);
}

/* A size parameter of a filter: @def when absent; false when it is no size. */
static bool size_param(const struct pfilter *f, const char *key, uint64_t def, uint64_t *v)
{
	size_t i;

	for (i = 0; i < f->nparams; i++)
		if (!strcmp(f->params[i].key, key))
			return !parse_size(f->params[i].val, v);
	*v = def;
	return true;
}

/*
 * A crypt rule covers whole crypto sectors at or above the filter's offset
 * (the kernel refuses anything else at load: crypt_check_range()).  A range
 * that runs to the end of the volume is checked against its size by the
 * kernel; parameters that are no sizes are the kernel's to refuse.
 */
static void check_crypt_range(struct pctx *c, const struct prule *r, const struct pfilter *x)
{
	uint64_t ss, off;
	char b1[32], b2[32], b3[32];

	if (strcmp(x->type, "crypt") || !r->has_range)
		return;
	if (!size_param(x, "sector_size", 512, &ss) || !ss || (ss & (ss - 1)) ||
	    !size_param(x, "offset", 0, &off))
		return;
	if (r->start < off)
		ERR(c, r->range_m, "the crypt filter maps the volume from its offset on: start the range there or lower the offset",
		    "range starts at %s, below offset %s of %s filter %s",
		    fmt_size(r->start, b1, sizeof(b1)), fmt_size(off, b2, sizeof(b2)), x->type, Q(x->name));
	else if ((r->start - off) % ss || r->len % ss)
		ERR(c, r->range_m, "crypt encrypts whole sectors of sector_size bytes, counted from its offset",
		    "range %s..%s is not made of whole %" PRIu64 "-byte sectors of %s filter %s (offset %s)",
		    fmt_size(r->start, b1, sizeof(b1)),
		    r->len ? fmt_size(r->start + r->len, b2, sizeof(b2)) : "end",
		    ss, x->type, Q(x->name), fmt_size(off, b3, sizeof(b3)));
}

static bool choice_ok(const char *choices, const char *v)
{
	size_t n = strlen(v);
	const char *c = choices;

	while (*c) {
		size_t l = strcspn(c, "|");

		if (l == n && !strncasecmp(c, v, n))
			return true;
		c += l + (c[l] == '|');
	}
	return false;
}

/*
 * The parameters of a built-in type against the list the module compiles
 * (include/shared/iofilter-builtin.h): names, kinds, bounds, required ones.
 * The value of "key" is never echoed: it may be key material by mistake.
 */
static void check_params(struct pctx *c, const struct pfilter *f)
{
	const struct ftype *t = f->ft;
	bool seen[64] = { false };
	size_t i, j;

	if (!t || !t->params)
		return;
	for (i = 0; i < f->nparams; i++) {
		const struct pparam *pp = &f->params[i];
		const struct iof_builtin_param *fp = NULL;
		uint64_t v = 0;
		bool bad = false;
		char b1[32], b2[32];

		for (j = 0; j < t->nparams; j++)
			if (!strcmp(t->params[j].name, pp->key)) {
				fp = &t->params[j];
				seen[j] = true;
			}
		if (!fp) {
			const char **names = xcalloc(t->nparams + 1, sizeof(*names));
			char *hint;

			for (j = 0; j < t->nparams; j++)
				names[j] = t->params[j].name;
			hint = list_hint("known parameters:", pp->key, names, t->nparams);
			ERR(c, pp->m, hint, "unknown parameter %s of %s filter %s", Q(pp->key), t->name,
			    Q(f->name ? f->name : ""));
			free(hint);
			free(names);
			continue;
		}
		switch (fp->kind) {
		case IOF_PK_CHOICE:
			if (!choice_ok(fp->choices, pp->val)) {
				char *hint = xasprintf("one of: %s", fp->choices);

				for (j = 0; hint[j]; j++)
					if (hint[j] == '|')
						hint[j] = ',';
				ERR(c, pp->vm, hint, "unsupported %s %s of %s filter %s", fp->name,
				    Q(pp->val), t->name, Q(f->name ? f->name : ""));
				free(hint);
			}
			break;
		case IOF_PK_KEYDESC:
			if ((strncmp(pp->val, "logon:", 6) || !pp->val[6]) &&
			    (strncmp(pp->val, "user:", 5) || !pp->val[5]))
				ERR(c, pp->vm, "key material goes in a key_file (mode 0600), never in the policy",
				    "%s of %s filter %s must be logon:<description> or user:<description>",
				    fp->name, t->name, Q(f->name ? f->name : ""));
			break;
		case IOF_PK_U64:
		case IOF_PK_SIZE:
		case IOF_PK_POW2:
			if (fp->kind == IOF_PK_U64) {
				char *end;

				errno = 0;
				v = strtoull(pp->val, &end, 10);
				bad = errno || *end || !(*pp->val >= '0' && *pp->val <= '9');
			} else {
				bad = parse_size(pp->val, &v) != 0;
			}
			if (bad) {
				ERR(c, pp->vm, fp->kind == IOF_PK_U64 ? NULL : SIZE_HINT,
				    "%s of %s filter %s must be a %s, not %s", fp->name, t->name,
				    Q(f->name ? f->name : ""), fp->kind == IOF_PK_U64 ? "number" : "size",
				    Q(pp->val));
			} else if (v < fp->min || v > fp->max || (fp->kind == IOF_PK_POW2 && (v & (v - 1)))) {
				if (fp->kind == IOF_PK_U64) {
					snprintf(b1, sizeof(b1), "%llu", fp->min);
					snprintf(b2, sizeof(b2), "%llu", fp->max);
				} else {
					fmt_size(fp->min, b1, sizeof(b1));
					fmt_size(fp->max, b2, sizeof(b2));
				}
				ERR(c, pp->vm, NULL, "%s of %s filter %s must be %s%s to %s, not %s", fp->name,
				    t->name, Q(f->name ? f->name : ""),
				    fp->kind == IOF_PK_POW2 ? "a power of two from " : "", b1, b2, Q(pp->val));
			}
			break;
		default:
			break;
		}
	}
	for (j = 0; j < t->nparams && j < ARRAY_SIZE(seen); j++)
		if ((t->params[j].flags & IOF_PF_REQUIRED) && !seen[j])
			ERR(c, f->params_m.line ? f->params_m : f->m, NULL,
			    "%s filter %s needs parameter %s", t->name, Q(f->name ? f->name : ""),
			    Q(t->params[j].name));
	if (!strcmp(t->name, "crypt")) {
		bool key = false, kf = false;

		for (i = 0; i < f->nparams; i++) {
			key |= !strcmp(f->params[i].key, "key");
			kf |= !strcmp(f->params[i].key, "key_file");
		}
		if (key == kf)
			ERR(c, f->params_m.line ? f->params_m : f->m,
			    "key_file: a file holding the key, or key: logon:<description> (a kernel keyring key)",
			    key ? "crypt filter %s has both key_file and key; give one" :
			    "crypt filter %s has no key: give key_file or key", Q(f->name ? f->name : ""));
	}
}

unsigned policy_check(struct policy *p, const struct ftypes *types, struct diags *d)
{
	struct pctx c = { .d = d, .p = p };
	unsigned before = d->nerr;
	size_t vi, i, j;

	for (vi = 0; vi < p->nvols; vi++) {
		struct pvolume *v = &p->vols[vi];
		bool *used = xcalloc(v->nfilters + 1, sizeof(*used));
		bool *reported = xcalloc(v->nrules + 1, sizeof(*reported));
		const struct pfilter *x;
		struct earlier e;

		for (i = 0; i < v->nfilters; i++) {
			struct pfilter *f = &v->filters[i];

			if (!f->type)
				continue;
			f->ft = ftypes_find(types, f->type);
			if (!f->ft) {
				const char **names = xcalloc(types->n + 1, sizeof(*names));
				char *hint;

				for (j = 0; j < types->n; j++)
					names[j] = types->v[j].name;
				hint = list_hint("known types:", f->type, names, types->n);
				ERR(&c, f->type_m, hint, "unknown filter type %s", Q(f->type));
				free(hint);
				free(names);
			}
			check_params(&c, f);
		}
		earlier_init(v, &e);
		for (i = 0; i < v->nrules; i++) {
			struct prule *r = &v->rules[i];

			check_chain(&c, v, &r->chain, used);
			x = chain_exclusive(v, &r->chain);
			if (x) {
				check_exclusive_rule(&c, v, i, x, &e, reported);
				check_crypt_range(&c, r, x);
			}
		}
		check_chain(&c, v, &v->dflt.chain, used);
		x = chain_exclusive(v, &v->dflt.chain);
		if (x) {
			for (i = 0; i < v->dflt.chain.n; i++)
				if (v->dflt.chain.idx[i] >= 0 && &v->filters[v->dflt.chain.idx[i]] == x)
					break;
			ERR(&c, v->dflt.chain.m[i],
			    "the default action sees only what no rule matched; give the filter a rule of its own",
			    "%s filter %s cannot be used by the default action", x->type, Q(x->name));
		}
		earlier_free(&e);
		check_overlaps(&c, v, reported);
		check_reachable(&c, v);
		for (i = 0; i < v->nfilters; i++)
			if (v->filters[i].name && !used[i])
				WARN(&c, v->filters[i].name_m, NULL,
				     "filter instance %s is not used by any rule", Q(v->filters[i].name));
		free(used);
		free(reported);
	}
	return d->nerr - before;
}

const char *const image_formats[] = {
	"raw", "qcow2", "qcow", "qed", "vmdk", "vdi", "vhdx", "vpc", "parallels", NULL
};

/* ---- checks against the system ---- */

/*
 * The format of an image already attached the way apply attaches images:
 * raw when a loop device backs it, the format its qemu-nbd was started
 * with (and the size it serves) when iofilterctl's qemu-nbd serves it.
 */
static bool attached_format(const struct stat *st, struct image_info *ii)
{
	char dev[300], path[4096];
	dev_t rdev;

	if (loop_find(st, dev, sizeof(dev), &rdev) == 1) {
		snprintf(ii->format, sizeof(ii->format), "raw");
		return true;
	}
	if (nbd_find(st, dev, sizeof(dev), &rdev) == 1 &&
	    !nbd_backing_file(rdev, path, sizeof(path), ii->format, sizeof(ii->format)) &&
	    ii->format[0] && !blkdev_size_rdev(rdev, &ii->size))
		return true;
	memset(ii, 0, sizeof(*ii));
	return false;
}

/*
 * An image file: raw goes through a loop device; another format (qemu's
 * "qemu-img info" tells which, unless "format:" names it) through
 * qemu-nbd, with the image's virtual size.
 */
static void check_image(struct pctx *c, struct pvolume *v, const struct stat *st)
{
	struct image_info ii;
	char emsg[256];
	size_t i;
	int r;

	memset(&ii, 0, sizeof(ii));
	if (v->format && !strcmp(v->format, "raw")) {
		snprintf(ii.format, sizeof(ii.format), "raw");
	} else if (!v->format && attached_format(st, &ii)) {
		/*
		 * Already attached (a live volume): keep what it is, do not
		 * probe again (a guest may have written a header into its raw
		 * disk since, and qemu-img is slow to start).
		 */
	} else {
		r = image_probe(v->path, v->format, &ii, emsg, sizeof(emsg));
		if (r) {
			ERR(c, v->format ? v->format_m : v->origin_m,
			    r == -ENOENT && !v->format ? "or name the format: \"format: raw\"" : NULL,
			    "image %s: %s", Q(v->origin), emsg);
			return;
		}
	}
	for (i = 0; image_formats[i] && strcmp(image_formats[i], ii.format); i++)
		;
	if (!image_formats[i]) {
		ERR(c, v->origin_m, "name the format with \"format:\" if qemu-img guessed wrong",
		    "image %s is in format %s, which iofilterctl does not serve", Q(v->origin),
		    Q(ii.format));
		return;
	}
	/* a guest can write an image header into a raw image: probing must not follow it */
	if (!v->format && ii.backing) {
		ERR(c, v->origin_m, "name the format (format: ...) if the backing file is meant",
		    "image %s looks like %s with a backing file; not opened by a guess",
		    Q(v->origin), ii.format);
		return;
	}
	if (!strcmp(ii.format, "raw"))
		ii.size = (uint64_t)st->st_size;
	if (ii.size < 512) {
		ERR(c, v->origin_m, NULL, "image %s is smaller than 512 bytes", Q(v->origin));
		return;
	}
	v->origin_exists = true;
	v->origin_size = ii.size & ~511ULL;
	v->img_dev = st->st_dev;
	v->img_ino = st->st_ino;
	snprintf(v->img_format, sizeof(v->img_format), "%s", ii.format);
	v->via_nbd = strcmp(ii.format, "raw");
}

unsigned policy_check_env(struct policy *p, unsigned flags, struct diags *d)
{
	struct pctx c = { .d = d, .p = p };
	unsigned before = d->nerr;
	bool req = flags & POLICY_ENV_REQUIRE;
	size_t vi, i, j;

	for (vi = 0; vi < p->nvols; vi++) {
		struct pvolume *v = &p->vols[vi];
		struct stat st;
		char b1[32], b2[32];

		if (v->path && stat(v->path, &st) < 0) {
			if (errno != ENOENT || req)
				ERR(&c, v->origin_m, NULL, "%s %s: %s", v->is_image ? "image" : "device",
				    Q(v->origin), strerror(errno));
		} else if (v->path && v->is_image) {
			if (!S_ISREG(st.st_mode)) {
				ERR(&c, v->origin_m, "use \"device:\" for block devices",
				    "image %s is not a regular file", Q(v->origin));
			} else {
				check_image(&c, v, &st);
			}
		} else if (v->path) {
			int r;

			if (!S_ISBLK(st.st_mode)) {
				ERR(&c, v->origin_m, S_ISREG(st.st_mode) ? "use \"image:\" for files" : NULL,
				    "device %s is not a block device", Q(v->origin));
			} else if ((r = blkdev_size(v->path, &v->origin_size)) < 0) {
				if (req)
					ERR(&c, v->origin_m, NULL, "device %s: cannot read its size: %s",
					    Q(v->origin), strerror(-r));
			} else if (!v->origin_size) {
				ERR(&c, v->origin_m, NULL, "device %s has no size (a loop device with no file?)",
				    Q(v->origin));
			} else {
				v->origin_exists = true;
				v->origin_rdev = st.st_rdev;
			}
		}
		if (v->origin_exists) {
			for (j = 0; j < vi; j++) {
				const struct pvolume *w = &p->vols[j];

				if (!w->origin_exists || w->is_image != v->is_image)
					continue;
				if (v->is_image ? (w->img_dev == v->img_dev && w->img_ino == v->img_ino)
						: w->origin_rdev == v->origin_rdev) {
					ERR(&c, v->origin_m, NULL, "%s is the same %s as the origin of volume %s",
					    Q(v->origin), v->is_image ? "file" : "device", Q(w->name ? w->name : ""));
					break;
				}
			}
			for (i = 0; i < v->nrules; i++) {
				const struct prule *r = &v->rules[i];

				if (!r->has_range)
					continue;
				if (r->start >= v->origin_size)
					ERR(&c, r->range_m, NULL, "range starts at %s, beyond the end of %s (%s)",
					    fmt_size(r->start, b1, sizeof(b1)), Q(v->origin),
					    fmt_size(v->origin_size, b2, sizeof(b2)));
				else if (r->len && r->start + r->len > v->origin_size)
					ERR(&c, r->range_m, NULL, "range ends at %s, beyond the end of %s (%s)",
					    fmt_size(r->start + r->len, b1, sizeof(b1)), Q(v->origin),
					    fmt_size(v->origin_size, b2, sizeof(b2)));
			}
		}
		for (i = 0; i < v->nfilters; i++) {
			const struct pfilter *f = &v->filters[i];

			/* bpf: the object iofilterctl loads after creating the instance */
			if (f->program && stat(f->program, &st) < 0) {
				if (errno != ENOENT || req)
					ERR(&c, f->program_m, NULL, "program %s: %s", Q(f->program),
					    strerror(errno));
			} else if (f->program && !S_ISREG(st.st_mode)) {
				ERR(&c, f->program_m, NULL, "program %s is not a regular file", Q(f->program));
			}
			if (!f->key_file)
				continue;
			if (stat(f->key_file, &st) < 0) {
				if (errno != ENOENT || req)
					ERR(&c, f->key_file_m, NULL, "key file %s: %s", Q(f->key_file), strerror(errno));
				continue;
			}
			if (!S_ISREG(st.st_mode)) {
				ERR(&c, f->key_file_m, NULL, "key file %s is not a regular file", Q(f->key_file));
				continue;
			}
			if (st.st_size == 0)
				ERR(&c, f->key_file_m, NULL, "key file %s is empty", Q(f->key_file));
			else if (st.st_size > IOF_MAX_SECRET_LEN)
				ERR(&c, f->key_file_m, NULL, "key file %s is %lld bytes; at most %d",
				    Q(f->key_file), (long long)st.st_size, IOF_MAX_SECRET_LEN);
			if (st.st_mode & (S_IRGRP | S_IROTH)) {
				char hint[300];

				snprintf(hint, sizeof(hint), "chmod 600 %s", f->key_file);
				WARN(&c, f->key_file_m, hint, "key file %s is readable by %s (mode %04o)",
				     Q(f->key_file),
				     (st.st_mode & S_IRGRP) && (st.st_mode & S_IROTH) ? "group and others" :
				     (st.st_mode & S_IRGRP) ? "group" : "others",
				     (unsigned)(st.st_mode & 07777));
			}
		}
	}
	return d->nerr - before;
}

/* ---- teardown ---- */

static void free_chain(struct pchain *ch)
{
	size_t i;

	for (i = 0; i < ch->n; i++)
		free(ch->names[i]);
}

void policy_free(struct policy *p)
{
	size_t vi, i, j;

	for (vi = 0; vi < p->nvols; vi++) {
		struct pvolume *v = &p->vols[vi];

		for (i = 0; i < v->nfilters; i++) {
			struct pfilter *f = &v->filters[i];

			for (j = 0; j < f->nparams; j++) {
				free(f->params[j].key);
				free(f->params[j].val);
			}
			free(f->params);
			free(f->params_blk);
			free(f->key_file);
			free(f->program);
			free(f->name);
			free(f->type);
		}
		for (i = 0; i < v->nrules; i++)
			free_chain(&v->rules[i].chain);
		free_chain(&v->dflt.chain);
		free(v->filters);
		free(v->rules);
		free(v->name);
		free(v->origin);
		free(v->path);
		free(v->format);
	}
	free(p->vols);
	free(p->file);
	free(p->dir);
	memset(p, 0, sizeof(*p));
}
