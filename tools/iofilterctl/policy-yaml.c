// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl policy: reading libyaml's document API with positions.  Typed
 * values (strings, booleans, sizes, bit lists, names) and mappings checked
 * against their allowed keys, each failure a diagnostic at its node; and the
 * alias expansion bound (check_expansion()).  Knows YAML, not the policy's
 * schema (policy-parse.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "policy-int.h"
#include "policy-yaml.h"
#include "util.h"

#define NAME_HINT "use 1 to %d characters from A-Z a-z 0-9 _ . -"

bool is_null(const yaml_node_t *n)
{
	const char *s;

	if (!is_plain(n))
		return false;
	s = scalar(n);
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	       !strcmp(s, "NULL");
}

const char *kind(const yaml_node_t *n)
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

/*
 * Check a mapping's keys against the allowed ones; vals[i] is the value of
 * keys[i] or NULL.  Unknown and duplicate keys are errors.
 */
bool map_fields(struct pctx *c, yaml_node_t *n, const char *what,
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

bool get_str(struct pctx *c, yaml_node_t *n, const char *what, const char **out)
{
	if (n->type != YAML_SCALAR_NODE || is_null(n)) {
		ERR(c, mark_of(n), NULL, "%s must be a string, not %s", what, kind(n));
		return false;
	}
	*out = scalar(n);
	return true;
}

bool get_bool(struct pctx *c, yaml_node_t *n, const char *what, bool *out)
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

bool get_size(struct pctx *c, yaml_node_t *n, const char *what, uint64_t *out)
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

bool get_aligned(struct pctx *c, yaml_node_t *n, const char *what, uint64_t *out)
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
bool get_bits(struct pctx *c, yaml_node_t *n, const char *list, const char *what,
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

bool check_name(struct pctx *c, yaml_node_t *n, const char *what, const char *s, int maxlen,
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

/*
 * YAML aliases share nodes: libyaml's document holds each node once, but
 * walking it visits an aliased node at every reference, so a small file of
 * nested aliases ("billion laughs") expands exponentially.  Count what the
 * walk would visit, each node's subtree once (memoised), and refuse the
 * document past POLICY_MAX_NODES; an alias inside its own anchor (a cycle)
 * is refused too.  Iterative: the nesting depth is the parser's to bound.
 */
bool check_expansion(struct pctx *c)
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
