// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl policy: a filter instance's parameters against its built-in
 * type's table (include/shared/iofilter-builtin.h, the list the module
 * compiles): names, kinds, bounds, required ones, crypt's key.  Types the
 * tool has no table for are the kernel's to check.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <shared/iofilter-builtin.h>

#include "policy.h"
#include "policy-int.h"
#include "util.h"

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

/* An unknown parameter pp of f: the error names the known ones. */
static void unknown_param(struct pctx *c, const struct pfilter *f, const struct pparam *pp)
{
	const struct ftype *t = f->ft;
	const char **names = xcalloc(t->nparams + 1, sizeof(*names));
	char *hint;
	size_t j;

	for (j = 0; j < t->nparams; j++)
		names[j] = t->params[j].name;
	hint = list_hint("known parameters:", pp->key, names, t->nparams);
	ERR(c, pp->m, hint, "unknown parameter %s of %s filter %s", Q(pp->key), t->name,
	    Q(f->name ? f->name : ""));
	free(hint);
	free(names);
}

/* A number, size or power-of-two parameter pp (described by fp) of f: parses and is in bounds. */
static void check_number_param(struct pctx *c, const struct pfilter *f,
			       const struct iof_builtin_param *fp, const struct pparam *pp)
{
	const struct ftype *t = f->ft;
	uint64_t v = 0;
	bool bad = false;
	char b1[32], b2[32];

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
}

/* The value of a known parameter pp (described by fp) of f, by its kind. */
static void check_param_value(struct pctx *c, const struct pfilter *f,
			      const struct iof_builtin_param *fp, const struct pparam *pp)
{
	const struct ftype *t = f->ft;
	size_t j;

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
		check_number_param(c, f, fp, pp);
		break;
	default:
		break;
	}
}

/* A crypt filter has exactly one of key_file and key. */
static void check_crypt_key(struct pctx *c, const struct pfilter *f)
{
	bool key = false, kf = false;
	size_t i;

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

/*
 * The parameters of a built-in type against the list the module compiles
 * (include/shared/iofilter-builtin.h): names, kinds, bounds, required ones.
 * The value of "key" is never echoed: it may be key material by mistake.
 */
void check_filter_params(struct pctx *c, const struct pfilter *f)
{
	const struct ftype *t = f->ft;
	bool seen[64] = { false };
	size_t i, j;

	if (!t || !t->params)
		return;
	for (i = 0; i < f->nparams; i++) {
		const struct pparam *pp = &f->params[i];
		const struct iof_builtin_param *fp = NULL;

		for (j = 0; j < t->nparams; j++)
			if (!strcmp(t->params[j].name, pp->key)) {
				fp = &t->params[j];
				seen[j] = true;
			}
		if (fp)
			check_param_value(c, f, fp, pp);
		else
			unknown_param(c, f, pp);
	}
	for (j = 0; j < t->nparams && j < ARRAY_SIZE(seen); j++)
		if ((t->params[j].flags & IOF_PF_REQUIRED) && !seen[j])
			ERR(c, f->params_m.line ? f->params_m : f->m, NULL,
			    "%s filter %s needs parameter %s", t->name, Q(f->name ? f->name : ""),
			    Q(t->params[j].name));
	if (!strcmp(t->name, "crypt"))
		check_crypt_key(c, f);
}
