// SPDX-License-Identifier: GPL-2.0
/*
 * iofilter core: the helpers exported to filter types, and the core's own
 * small helpers that depend on no other core file: parameter parsing and
 * checking, the page stash, block-device opening, the error latch, the
 * name check and the core's workqueue.
 */
#include <linux/ctype.h>
#include <linux/kernel.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>

#include <shared/iofilter-builtin.h>

#include "iof-core.h"

struct workqueue_struct *iof_wq;

int iof_lib_init(void)
{
	iof_wq = alloc_workqueue("iofilter", WQ_MEM_RECLAIM, 0);
	return iof_wq ? 0 : -ENOMEM;
}

void iof_lib_exit(void)
{
	destroy_workqueue(iof_wq);
}

/*
 * A volume, instance or type name: a C string of 1 to IOF_NAME_LEN - 1
 * characters from [A-Za-z0-9_.-].  The one check of that character set:
 * the dm table line, the ioctls and type registration all use it.
 */
bool iof_name_valid(const char *name)
{
	static const char ok[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.";
	size_t len = strnlen(name, IOF_NAME_LEN);

	if (!len || len == IOF_NAME_LEN)
		return false;
	return len == strspn(name, ok);
}

const char *iofilter_param(unsigned int argc, char **argv, const char *key)
{
	size_t klen = strlen(key);
	unsigned int i;

	for (i = 0; i < argc; i++)
		if (!strncmp(argv[i], key, klen) && argv[i][klen] == '=')
			return argv[i] + klen + 1;
	return NULL;
}
EXPORT_SYMBOL_GPL(iofilter_param);

int iofilter_param_u64(unsigned int argc, char **argv, const char *key,
		       u64 def, u64 *val)
{
	const char *v = iofilter_param(argc, argv, key);

	if (!v) {
		*val = def;
		return 0;
	}
	return kstrtoull(v, 0, val);
}
EXPORT_SYMBOL_GPL(iofilter_param_u64);

/*
 * A size: a decimal number of bytes with an optional binary suffix K, M, G
 * or T (also KiB, MiB, GiB, TiB; 1K = 1024), as policies write them.
 */
static int size_parse(const char *v, u64 *val)
{
	static const char units[] = "KMGT";
	char num[24];
	const char *u;
	size_t n;
	u64 x;
	int shift = 0, r;

	for (n = 0; isdigit(v[n]); n++)
		;
	if (!n || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, v, n);
	num[n] = '\0';
	r = kstrtoull(num, 10, &x);
	if (r)
		return r;
	if (v[n]) {
		u = strchr(units, v[n]);
		if (!u || (v[n + 1] && strcmp(v + n + 1, "iB")))
			return -EINVAL;
		shift = 10 * (int)(u - units + 1);
		if (x > (U64_MAX >> shift))
			return -ERANGE;
	}
	*val = x << shift;
	return 0;
}

int iofilter_param_size(unsigned int argc, char **argv, const char *key,
			u64 def, u64 *val)
{
	const char *v = iofilter_param(argc, argv, key);

	if (!v) {
		*val = def;
		return 0;
	}
	return size_parse(v, val);
}
EXPORT_SYMBOL_GPL(iofilter_param_size);

/* 64KiB, 1GiB...: a size as policies write it */
static void size_text(u64 v, char *out, size_t len)
{
	static const char *const units[] = { "", "KiB", "MiB", "GiB", "TiB" };
	unsigned int u = 0;

	while (u < ARRAY_SIZE(units) - 1 && v && !(v & 1023)) {
		v >>= 10;
		u++;
	}
	scnprintf(out, len, "%llu%s", v, units[u]);
}

/* "a|b|c" -> "a, b or c" */
static void choices_text(const char *c, char *out, size_t len)
{
	size_t n = 0, seen = 0, total = 1;
	const char *p;

	for (p = c; *p; p++)
		total += *p == '|';
	for (p = c; *p && n + 8 < len; p++) {
		if (*p != '|') {
			out[n++] = *p;
			continue;
		}
		n += scnprintf(out + n, len - n, ++seen == total - 1 ? " or " : ", ");
	}
	out[n] = '\0';
}

/* The index of @v among the choices "a|b|c", or -1 */
static int choice_index(const char *choices, const char *v)
{
	size_t vl = strlen(v);
	const char *p = choices;
	int i;

	for (i = 0; p; i++) {
		size_t l = strcspn(p, "|");

		if (l == vl && !strncmp(p, v, l))
			return i;
		p = p[l] ? p + l + 1 : NULL;
	}
	return -1;
}

int iofilter_params_check(const struct iof_builtin_param *tbl, unsigned int n,
			  unsigned int argc, char **argv, char *error,
			  size_t error_len)
{
	const struct iof_builtin_param *p;
	char text[128], lo[24], hi[24];
	unsigned int i, j, k;
	u64 v;
	int r;

	for (i = 0; i < argc; i++) {
		size_t klen = strcspn(argv[i], "=");

		for (j = 0; j < n; j++)
			if (strlen(tbl[j].name) == klen &&
			    !strncmp(argv[i], tbl[j].name, klen))
				break;
		if (j == n) {
			scnprintf(error, error_len, "unknown parameter '%.*s'",
				  (int)klen, argv[i]);
			return -EINVAL;
		}
		p = &tbl[j];
		for (k = 0; k < i; k++)
			if (!strncmp(argv[k], argv[i], klen + 1)) {
				scnprintf(error, error_len,
					  "parameter %s given twice", p->name);
				return -EINVAL;
			}
		switch (p->kind) {
		case IOF_PK_CHOICE:
			if (argv[i][klen] &&
			    choice_index(p->choices, argv[i] + klen + 1) >= 0)
				break;
			choices_text(p->choices, text, sizeof(text));
			scnprintf(error, error_len, "%s must be %s", p->name, text);
			return -EINVAL;
		case IOF_PK_U64:
			r = iofilter_param_u64(1, &argv[i], p->name, 0, &v);
			if (!r && v >= p->min && v <= p->max)
				break;
			if (p->max == U64_MAX)
				scnprintf(error, error_len, "%s must be a number",
					  p->name);
			else
				scnprintf(error, error_len, "%s must be a number from %llu to %llu",
					  p->name, p->min, p->max);
			return -EINVAL;
		case IOF_PK_SIZE:
		case IOF_PK_POW2:
			r = iofilter_param_size(1, &argv[i], p->name, 0, &v);
			if (!r && v >= p->min && v <= p->max &&
			    (p->kind == IOF_PK_SIZE || is_power_of_2(v)))
				break;
			size_text(p->min, lo, sizeof(lo));
			size_text(p->max, hi, sizeof(hi));
			scnprintf(error, error_len, "%s must be %s %s %s%s%s",
				  p->name, p->kind == IOF_PK_POW2 ?
				  "a power of two" : "a size",
				  p->max == U64_MAX ? "of at least" : "from", lo,
				  p->max == U64_MAX ? "" : " to ",
				  p->max == U64_MAX ? "" : hi);
			return -EINVAL;
		default:	/* strings, paths, key descriptions: the filter's */
			break;
		}
	}
	return 0;
}
EXPORT_SYMBOL_GPL(iofilter_params_check);

static const struct iof_builtin_param *
param_find(const struct iofilter_param_spec *spec, const char *key)
{
	unsigned int i;

	for (i = 0; i < spec->nr_table; i++)
		if (!strcmp(spec->table[i].name, key))
			return &spec->table[i];
	return NULL;
}

/* The C type a kind of the shared table is read into */
static unsigned int param_ctype(unsigned int kind)
{
	switch (kind) {
	case IOF_PK_U64:
	case IOF_PK_SIZE:
	case IOF_PK_POW2:
		return IOF_PF_CTYPE_U64;
	case IOF_PK_CHOICE:
		return IOF_PF_CTYPE_INDEX;
	default:
		return IOF_PF_CTYPE_STR;
	}
}

/*
 * Fill one field: the value given, else the default.  The value passed
 * iofilter_params_check(), so it parses.
 */
static void param_fill(const struct iof_builtin_param *p,
		       const struct iofilter_param_field *f, const char *v,
		       void *dst)
{
	u64 *num = dst;
	int i;

	switch (p->kind) {
	case IOF_PK_U64:
		if (!v || kstrtoull(v, 0, num))
			*num = f->def;
		break;
	case IOF_PK_SIZE:
	case IOF_PK_POW2:
		if (!v || size_parse(v, num))
			*num = f->def;
		break;
	case IOF_PK_CHOICE:
		i = v ? choice_index(p->choices, v) : -1;
		*(unsigned int *)dst = i >= 0 ? i : f->def;
		break;
	default:
		*(const char **)dst = v;
		break;
	}
}

int iofilter_params_parse(const struct iofilter_param_spec *spec,
			  unsigned int argc, char **argv, void *out,
			  char *error, size_t error_len)
{
	const struct iofilter_param_field *f;
	const struct iof_builtin_param *p;
	const char *v;
	int r;

	r = iofilter_params_check(spec->table, spec->nr_table, argc, argv,
				  error, error_len);
	if (r)
		return r;
	for (f = spec->fields; f < spec->fields + spec->nr_fields; f++) {
		p = param_find(spec, f->key);
		if (WARN_ON_ONCE(!p || param_ctype(p->kind) != f->ctype)) {
			scnprintf(error, error_len,
				  "parameter %s: the module's table is wrong",
				  f->key);
			return -EINVAL;
		}
		v = iofilter_param(argc, argv, f->key);
		if ((p->flags & IOF_PF_REQUIRED) && (!v || !*v)) {
			scnprintf(error, error_len, "%s=<%s> is required",
				  f->key, f->what ? f->what : "value");
			return -EINVAL;
		}
		param_fill(p, f, v, (char *)out + f->offset);
	}
	return 0;
}
EXPORT_SYMBOL_GPL(iofilter_params_parse);

int iofilter_bdev_open(const char *path, bool write, void *holder,
		       struct iofilter_bdev *ib)
{
	return iof_compat_bdev_open(path, write, holder, ib);
}
EXPORT_SYMBOL_GPL(iofilter_bdev_open);

void iofilter_bdev_close(struct iofilter_bdev *ib)
{
	if (ib->bdev)
		iof_compat_bdev_close(ib);
}
EXPORT_SYMBOL_GPL(iofilter_bdev_close);

void iofilter_latch_error(struct iofilter_instance *fi, int err,
			  const char *what)
{
	if (!cmpxchg(&fi->error, 0, (unsigned long)-err)) {
		if (fi->vol)
			atomic_inc(&fi->vol->nr_failed);
		DMERR_LIMIT("%s/%s: %s: error %d",
			    fi->vol ? fi->vol->name : "-", fi->name, what, err);
	}
}
EXPORT_SYMBOL_GPL(iofilter_latch_error);

void iofilter_stash_init(struct iofilter_stash *st, unsigned int max)
{
	spin_lock_init(&st->lock);
	INIT_LIST_HEAD(&st->folios);
	st->nr = 0;
	st->max = max;
}
EXPORT_SYMBOL_GPL(iofilter_stash_init);

struct page *iofilter_stash_get(struct iofilter_stash *st)
{
	struct folio *folio;
	unsigned long flags;

	if (!READ_ONCE(st->nr))
		return NULL;
	spin_lock_irqsave(&st->lock, flags);
	folio = list_first_entry_or_null(&st->folios, struct folio, lru);
	if (folio) {
		list_del(&folio->lru);
		st->nr--;
	}
	spin_unlock_irqrestore(&st->lock, flags);
	return folio ? &folio->page : NULL;
}
EXPORT_SYMBOL_GPL(iofilter_stash_get);

bool iofilter_stash_put(struct iofilter_stash *st, struct folio *folio)
{
	unsigned long flags;
	bool kept = false;

	spin_lock_irqsave(&st->lock, flags);
	if (st->nr < st->max) {
		list_add(&folio->lru, &st->folios);
		st->nr++;
		kept = true;
	}
	spin_unlock_irqrestore(&st->lock, flags);
	return kept;
}
EXPORT_SYMBOL_GPL(iofilter_stash_put);

void iofilter_stash_drain(struct iofilter_stash *st)
{
	struct folio *folio, *tmp;

	list_for_each_entry_safe(folio, tmp, &st->folios, lru) {
		list_del(&folio->lru);
		folio_put(folio);
	}
	st->nr = 0;
}
EXPORT_SYMBOL_GPL(iofilter_stash_drain);

