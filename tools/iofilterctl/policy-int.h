/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the policy*.c files share and nothing else includes: the context of
 * a pass, its diagnostics macros, the message helpers (policy.c) and the
 * parameter check (policy-params.c) policy_check() calls.
 */
#ifndef IOFCTL_POLICY_INT_H
#define IOFCTL_POLICY_INT_H

#include "policy.h"

struct yaml_document_s;

struct pctx {
	struct diags *d;
	struct yaml_document_s *doc;	/* policy_load only */
	struct policy *p;
};

#define ERR(c, m, hint, ...) diag_add((c)->d, DIAG_ERROR, (m), (hint), __VA_ARGS__)
#define WARN(c, m, hint, ...) diag_add((c)->d, DIAG_WARNING, (m), (hint), __VA_ARGS__)

#define SIZE_HINT "sizes are bytes or a number with K, M, G or T (or KiB, MiB, GiB, TiB)"

/* A quoted, escaped copy of user text for messages (a small ring of buffers). */
const char *Q(const char *s);
/* "did you mean X? PREFIX a, b, c": the candidates, the closest first if close enough */
char *list_hint(const char *prefix, const char *got, const char *const *cands, size_t n);

/* policy-params.c: a filter's parameters against its built-in type's table */
void check_filter_params(struct pctx *c, const struct pfilter *f);

#endif
