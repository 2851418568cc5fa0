// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl policy: policy_check(), the checks that need the filter
 * types.  Chains (unknown instances, two of one class), rules of range- and
 * write-exclusive filters (ops, match tests, earlier rules that take their
 * I/O), overlapping ranges, unreachable rules, crypt ranges against the
 * sector size; each filter's parameters through policy-params.c.  The
 * rule-against-rule checks use sorted spans and trees, not every pair, so
 * IOF_MAX_RULES rules check in well under a second.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "policy-int.h"
#include "util.h"

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

/* In the sorted starts[0..nst): how many are <= st (strict: < st). */
static size_t starts_below(const uint64_t *starts, size_t nst, uint64_t st, bool strict)
{
	size_t lo = 0, hi = nst;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (strict ? starts[mid] < st : starts[mid] <= st)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Rule i (covering st..en) can never match: warn, naming the earliest rule
 * that shadows it (rare: a short scan).
 */
static void warn_shadowed(struct pctx *c, const struct pvolume *v, size_t i, uint64_t st, uint64_t en)
{
	const struct prule *r = &v->rules[i];
	char lbl[96];
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
	unsigned m;

	for (i = 0; i < n; i++)
		starts[nst++] = v->rules[i].has_range ? v->rules[i].start : 0;
	qsort(starts, nst, sizeof(*starts), u64_cmp);
	for (m = 0; m <= IOF_OP_ALL; m++)
		first[m] = SIZE_MAX;
	for (i = 0; i < n; i++) {
		const struct prule *r = &v->rules[i];
		uint64_t st = r->has_range ? r->start : 0, en = r->has_range ? rule_end(r) : UINT64_MAX;
		/* starts <= st: positions [0, pos) */
		size_t pos = starts_below(starts, nst, st, false), by = SIZE_MAX;

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
		if (by != SIZE_MAX)
			warn_shadowed(c, v, i, st, en);
		if (rule_plain(r)) {
			/* position of my own start: the first slot holding it */
			fen_put(fen + (size_t)r->ops * (n + 1), n, starts_below(starts, nst, st, true), en);
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
			check_filter_params(&c, f);
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
