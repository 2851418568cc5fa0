// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl policy: the schema.  Walks the YAML document (read through
 * policy-yaml.c) into struct policy: version, volumes, filters and their
 * parameters, rules and the default, with what needs nothing but the file
 * checked on the way (names, sizes, ranges, duplicates).  policy_load() is
 * the first of the three passes (policy.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "policy-int.h"
#include "policy-yaml.h"
#include "util.h"

/* The words of a rule's ops, flags and ioprio, in IOF_OP_* / IOF_RQ_* / IOF_PRIO_* bit order */
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
		r->ioprio_m = mark_of(v[5]);
		if (get_bits(c, v[5], "ioprio", "ioprio class", prio_names, ARRAY_SIZE(prio_names),
			     &r->ioprio))
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

/* A parameter key k of f: a plain word, not given before; its text, or NULL (reported). */
static const char *param_key(struct pctx *c, yaml_node_t *k, const struct pfilter *f)
{
	const char *ks;
	size_t i;

	if (k->type != YAML_SCALAR_NODE || is_null(k)) {
		ERR(c, mark_of(k), NULL, "parameter keys must be plain words, not %s", kind(k));
		return NULL;
	}
	ks = scalar(k);
	if (!param_key_ok(ks)) {
		ERR(c, mark_of(k), "parameter keys are made of a-z, 0-9 and _",
		    "invalid parameter key %s", Q(ks));
		return NULL;
	}
	for (i = 0; i < f->nparams; i++)
		if (!strcmp(f->params[i].key, ks))
			break;
	if (i < f->nparams) {
		char hint[64];

		snprintf(hint, sizeof(hint), "first given at line %u", f->params[i].m.line);
		ERR(c, mark_of(k), hint, "duplicate parameter %s", Q(ks));
		return NULL;
	}
	return ks;
}

/*
 * The value v of parameter ks: a non-empty scalar that fits one key=value
 * word; its text, or NULL (reported).
 */
static const char *param_value(struct pctx *c, yaml_node_t *v, const char *ks)
{
	const char *vs, *p;

	if (v->type != YAML_SCALAR_NODE || is_null(v)) {
		ERR(c, mark_of(v), NULL, "value of parameter %s must be a scalar, not %s", Q(ks), kind(v));
		return NULL;
	}
	vs = scalar(v);
	if (!*vs) {
		ERR(c, mark_of(v), NULL, "value of parameter %s is empty", Q(ks));
		return NULL;
	}
	for (p = vs; *p; p++) {
		unsigned char ch = (unsigned char)*p;

		if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f') {
			ERR(c, mark_of(v), "the kernel receives parameters as key=value words",
			    "value of parameter %s contains whitespace", Q(ks));
			return NULL;
		}
		if (ch == '=') {
			ERR(c, mark_of(v), "the kernel receives parameters as key=value words",
			    "value of parameter %s contains '='", Q(ks));
			return NULL;
		}
		if (ch < 0x20 || ch == 0x7f) {
			ERR(c, mark_of(v), NULL, "value of parameter %s contains a control character",
			    Q(ks));
			return NULL;
		}
	}
	return vs;
}

/*
 * Add ks=vs (nodes k, v) to f and to the block blk; key_file and program
 * are also resolved into f, program_sha256 is refused.
 */
static void add_param(struct pctx *c, struct pfilter *f, struct sbuf *blk, yaml_node_t *k,
		      yaml_node_t *v, const char *ks, const char *vs)
{
	f->params = xreallocarray(f->params, f->nparams + 1, sizeof(*f->params));
	f->params[f->nparams].key = xstrdup(ks);
	f->params[f->nparams].val = xstrdup(vs);
	f->params[f->nparams].m = mark_of(k);
	f->params[f->nparams].vm = mark_of(v);
	f->nparams++;
	sb_add(blk, ks);
	sb_addc(blk, '=');
	sb_addn(blk, vs, strlen(vs) + 1);	/* with the NUL */
	if (!strcmp(ks, "key_file")) {
		f->key_file = resolve_path(c, vs);
		f->key_file_m = mark_of(v);
	}
	if (!strcmp(ks, "program_sha256")) {
		ERR(c, mark_of(k), "iofilterctl sets it to the digest of the object \"program\" names",
		    "parameter %s is not for policies", Q(ks));
		return;
	}
	if (!strcmp(ks, "program") && !f->program) {
		f->program = resolve_path(c, vs);
		f->program_m = mark_of(v);
	}
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
		const char *ks, *vs;

		ks = param_key(c, k, f);
		if (!ks)
			continue;
		vs = param_value(c, v, ks);
		if (!vs)
			continue;
		add_param(c, f, &blk, k, v, ks, vs);
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

/* A volume's "name" (node nn, NULL if absent): required, valid, not seen before. */
static void parse_volume_name(struct pctx *c, yaml_node_t *n, yaml_node_t *nn, struct pvolume *vol)
{
	struct policy *p = c->p;
	const char *s;
	size_t i;

	if (!nn) {
		ERR(c, mark_of(n), NULL, "volume is missing required key \"name\"");
		return;
	}
	if (!get_str(c, nn, "volume name", &s))
		return;
	vol->name_m = mark_of(nn);
	if (!check_name(c, nn, "volume name", s, IOF_NAME_LEN - 1, NULL))
		return;
	for (i = 0; p->vols + i < vol; i++)
		if (p->vols[i].name && !strcmp(p->vols[i].name, s))
			break;
	if (p->vols + i < vol) {
		char hint[64];

		snprintf(hint, sizeof(hint), "first defined at line %u", p->vols[i].name_m.line);
		ERR(c, mark_of(nn), hint, "duplicate volume name %s", Q(s));
	} else {
		vol->name = xstrdup(s);
	}
}

/* A volume's origin: exactly one of "device" (dev) and "image" (img), no other volume's. */
static void parse_volume_origin(struct pctx *c, yaml_node_t *n, yaml_node_t *dev, yaml_node_t *img,
				struct pvolume *vol)
{
	struct policy *p = c->p;
	yaml_node_t *o = dev ? dev : img;
	const char *s;
	size_t i;

	if (dev && img) {
		ERR(c, mark_of(img), "a volume sits on one origin: a block device or an image file",
		    "volume has both \"device\" and \"image\"");
		return;
	}
	if (!dev && !img) {
		ERR(c, mark_of(n), "add \"device: /dev/...\" or \"image: /path/to/file\"",
		    "volume needs \"device\" or \"image\"");
		return;
	}
	vol->is_image = !dev;
	if (!get_str(c, o, vol->is_image ? "image" : "device", &s))
		return;
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

/* A volume's "format" (node f): for an image (node img) only, one of image_formats. */
static void parse_volume_format(struct pctx *c, yaml_node_t *f, yaml_node_t *img, struct pvolume *vol)
{
	const char *s;
	size_t i;

	vol->format_m = mark_of(f);
	if (!img) {
		ERR(c, mark_of(f), "a block device is used as it is",
		    "\"format\" applies to \"image\" only");
		return;
	}
	if (!get_str(c, f, "image format", &s))
		return;
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
		ERR(c, mark_of(f), b.s, "unsupported image format %s", Q(s));
		sb_free(&b);
	}
}

/* A volume's "filters" (node f): a list of at most IOF_MAX_INSTANCES filters. */
static void parse_volume_filters(struct pctx *c, yaml_node_t *f, struct pvolume *vol)
{
	yaml_node_item_t *it;
	size_t cnt;

	vol->filters_m = mark_of(f);
	if (f->type != YAML_SEQUENCE_NODE) {
		ERR(c, mark_of(f), NULL, "filters must be a list, not %s", kind(f));
		return;
	}
	cnt = (size_t)(f->data.sequence.items.top - f->data.sequence.items.start);
	if (cnt > IOF_MAX_INSTANCES) {
		ERR(c, mark_of(f), NULL, "volume has %zu filter instances; at most %d",
		    cnt, IOF_MAX_INSTANCES);
		return;
	}
	vol->filters = xcalloc(cnt, sizeof(*vol->filters));
	for (it = f->data.sequence.items.start; it < f->data.sequence.items.top; it++)
		parse_filter(c, node(c, *it), vol, &vol->filters[vol->nfilters++]);
}

/* A volume's "rules" (node rn): a list of at most IOF_MAX_RULES rules, names unique. */
static void parse_volume_rules(struct pctx *c, yaml_node_t *rn, struct pvolume *vol)
{
	yaml_node_item_t *it;
	size_t cnt;

	vol->rules_m = mark_of(rn);
	if (rn->type != YAML_SEQUENCE_NODE) {
		ERR(c, mark_of(rn), NULL, "rules must be a list, not %s", kind(rn));
		return;
	}
	cnt = (size_t)(rn->data.sequence.items.top - rn->data.sequence.items.start);
	if (cnt > IOF_MAX_RULES) {
		ERR(c, mark_of(rn), NULL, "volume has %zu rules; at most %d", cnt, IOF_MAX_RULES);
		return;
	}
	vol->rules = xcalloc(cnt, sizeof(*vol->rules));
	for (it = rn->data.sequence.items.start; it < rn->data.sequence.items.top; it++) {
		struct prule *r = &vol->rules[vol->nrules++];
		unsigned nerr = c->d->nerr;

		parse_rule(c, node(c, *it), r);
		r->bad = c->d->nerr != nerr;
	}
	check_rule_names(c, vol);
}

static void parse_volume(struct pctx *c, yaml_node_t *n, struct pvolume *vol)
{
	static const char *const keys[] = { "name", "device", "image", "filters", "rules", "default",
					    "format" };
	yaml_node_t *v[ARRAY_SIZE(keys)];

	vol->m = mark_of(n);
	vol->dflt.action = IOF_ACTION_PASS;
	if (!map_fields(c, n, "volume", keys, ARRAY_SIZE(keys), v))
		return;
	parse_volume_name(c, n, v[0], vol);
	parse_volume_origin(c, n, v[1], v[2], vol);
	if (v[6])
		parse_volume_format(c, v[6], v[2], vol);
	if (v[3])
		parse_volume_filters(c, v[3], vol);
	if (v[4])
		parse_volume_rules(c, v[4], vol);
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
