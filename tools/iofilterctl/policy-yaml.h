/* SPDX-License-Identifier: GPL-2.0 */
/*
 * policy-yaml.c: libyaml nodes read with their positions, each failure a
 * diagnostic at the node.  For policy-parse.c only.
 */
#ifndef IOFCTL_POLICY_YAML_H
#define IOFCTL_POLICY_YAML_H

#include <stdbool.h>
#include <stdint.h>
#include <yaml.h>

#include "policy-int.h"

static inline struct pmark mark_of(const yaml_node_t *n)
{
	struct pmark m = { (unsigned)n->start_mark.line + 1, (unsigned)n->start_mark.column + 1 };

	return m;
}

static inline yaml_node_t *node(struct pctx *c, int idx)
{
	return yaml_document_get_node(c->doc, idx);
}

static inline const char *scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static inline bool is_plain(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* Empty, ~ or null, unquoted */
bool is_null(const yaml_node_t *n);
/* "a mapping", "a list", "a scalar", "empty": for "must be X, not Y" */
const char *kind(const yaml_node_t *n);

/*
 * Check a mapping's keys against the allowed ones; vals[i] is the value of
 * keys[i] or NULL.  Unknown and duplicate keys are errors.
 */
bool map_fields(struct pctx *c, yaml_node_t *n, const char *what,
		const char *const *keys, size_t nkeys, yaml_node_t **vals);
bool get_str(struct pctx *c, yaml_node_t *n, const char *what, const char **out);
bool get_bool(struct pctx *c, yaml_node_t *n, const char *what, bool *out);
bool get_size(struct pctx *c, yaml_node_t *n, const char *what, uint64_t *out);
/* A size that is a multiple of 512 */
bool get_aligned(struct pctx *c, yaml_node_t *n, const char *what, uint64_t *out);
/* A list of names from a fixed set, to a bit mask. */
bool get_bits(struct pctx *c, yaml_node_t *n, const char *list, const char *what,
	      const char *const *names, size_t nnames, uint32_t *mask);
/* A name of 1 to @maxlen characters (name_chars_ok()); @why: the hint when too long */
bool check_name(struct pctx *c, yaml_node_t *n, const char *what, const char *s, int maxlen,
		const char *why);
/* The document, aliases expanded, within POLICY_MAX_NODES and without cycles */
bool check_expansion(struct pctx *c);

#endif
