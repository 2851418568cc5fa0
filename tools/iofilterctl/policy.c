// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl policy model: the diagnostics a policy's passes collect, the
 * filter types they check against, the image formats, and freeing a policy.
 *
 * A policy goes through three passes, each collecting every error it finds
 * rather than stopping at the first:
 *   policy_load       structure, types, values, names, sizes, duplicates
 *                     (policy-parse.c over policy-yaml.c);
 *   policy_check      what needs the filter types: chains, classes, crypt
 *                     rules, overlapping ranges (policy-check.c, parameters
 *                     in policy-params.c);
 *   policy_check_env  what needs the system: origins, sizes, key files
 *                     (policy-env.c).
 * Nothing in policy*.c talks to the kernel or prints but diag_print().
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define IOF_BUILTIN_CRYPT
#define IOF_BUILTIN_REPLICATE
#define IOF_BUILTIN_CACHE
#define IOF_BUILTIN_BPF
#include <shared/iofilter-builtin.h>

#include "policy.h"
#include "policy-int.h"
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

/* ---- messages: quoting and hints ---- */

/* A quoted, escaped copy of user text for messages (a small ring of buffers). */
const char *Q(const char *s)
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

char *list_hint(const char *prefix, const char *got, const char *const *cands, size_t n)
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

const char *const image_formats[] = {
	"raw", "qcow2", "qcow", "qed", "vmdk", "vdi", "vhdx", "vpc", "parallels", NULL
};

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
			free(f->program_img);
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
