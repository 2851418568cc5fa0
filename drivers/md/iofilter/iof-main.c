// SPDX-License-Identifier: GPL-2.0
/*
 * iofilter core: module entry, the filter type registry and the helpers
 * exported to filter types.
 *
 * The registry follows dm-cache's policy registry: a list under a lock,
 * duplicate names refused, a module reference per live instance, and a
 * request_module("iofilter-<name>") fallback for types not loaded yet.
 */
#include <linux/ctype.h>
#include <linux/kernel.h>
#include <linux/kmod.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/ratelimit.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>

#include <shared/iofilter-builtin.h>

#include "iof-core.h"

DEFINE_MUTEX(iof_mutex);
LIST_HEAD(iof_volumes);
struct workqueue_struct *iof_wq;

static DEFINE_SPINLOCK(iof_types_lock);
static LIST_HEAD(iof_types);

static struct iofilter_type *__find_type(const char *name)
{
	struct iofilter_type *t;

	list_for_each_entry(t, &iof_types, list)
		if (!strcmp(t->name, name))
			return t;
	return NULL;
}

static struct iofilter_type *__get_type_once(const char *name)
{
	struct iofilter_type *t;

	spin_lock(&iof_types_lock);
	t = __find_type(name);
	if (t && !try_module_get(t->owner))
		t = NULL;	/* being unloaded */
	spin_unlock(&iof_types_lock);
	return t;
}

/* Find a type by name and take a reference on its module. May sleep. */
struct iofilter_type *iof_type_get(const char *name)
{
	struct iofilter_type *t = __get_type_once(name);

	if (!t) {
		request_module("iofilter-%s", name);
		t = __get_type_once(name);
	}
	return t;
}

void iof_type_put(struct iofilter_type *type)
{
	module_put(type->owner);
}

int iof_list_types(void *buf, unsigned int max, unsigned int *count)
{
	struct iof_type_info *info = buf;
	struct iofilter_type *t;
	unsigned int n = 0;

	spin_lock(&iof_types_lock);
	list_for_each_entry(t, &iof_types, list) {
		if (n < max) {
			memset(&info[n], 0, sizeof(info[n]));
			strscpy(info[n].name, t->name, sizeof(info[n].name));
			memcpy(info[n].version, t->version,
			       sizeof(info[n].version));
			info[n].class = t->class;
			info[n].flags = t->flags;
			info[n].nr_instances = atomic_read(&t->nr_instances);
		}
		n++;
	}
	spin_unlock(&iof_types_lock);
	*count = n;
	return 0;
}

unsigned int iof_nr_types(void)
{
	struct iofilter_type *t;
	unsigned int n = 0;

	spin_lock(&iof_types_lock);
	list_for_each_entry(t, &iof_types, list)
		n++;
	spin_unlock(&iof_types_lock);
	return n;
}

int iofilter_register_type(struct iofilter_type *type)
{
	int r = 0;

	if (!type->name || !type->create || type->class >= IOF_NR_CLASSES ||
	    !iof_str_valid(type->name)) {
		DMERR("refusing malformed filter type registration");
		return -EINVAL;
	}
	if (type->flags & ~(IOF_TYPE_RANGE_EXCLUSIVE | IOF_TYPE_NOWAIT |
			    IOF_TYPE_HOLDS_DIRTY | IOF_TYPE_WRITE_EXCLUSIVE)) {
		DMERR("filter type %s: unknown flags 0x%x", type->name,
		      type->flags);
		return -EINVAL;
	}
	atomic_set(&type->nr_instances, 0);

	spin_lock(&iof_types_lock);
	if (__find_type(type->name)) {
		DMERR("filter type %s already registered", type->name);
		r = -EEXIST;
	} else {
		list_add_tail(&type->list, &iof_types);
	}
	spin_unlock(&iof_types_lock);
	if (!r)
		DMINFO("filter type %s %u.%u.%u registered", type->name,
		       type->version[0], type->version[1], type->version[2]);
	return r;
}
EXPORT_SYMBOL_GPL(iofilter_register_type);

void iofilter_unregister_type(struct iofilter_type *type)
{
	spin_lock(&iof_types_lock);
	list_del_init(&type->list);
	spin_unlock(&iof_types_lock);
}
EXPORT_SYMBOL_GPL(iofilter_unregister_type);

/* A name from the kernel side: a C string of sane characters */
bool iof_str_valid(const char *name)
{
	static const char ok[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.";
	size_t len = strnlen(name, IOF_NAME_LEN);

	if (!len || len == IOF_NAME_LEN)
		return false;
	return len == strspn(name, ok);
}

bool iof_name_valid(const char *name, size_t len)
{
	size_t i;

	if (!len || !name[0])
		return false;
	for (i = 0; i < len && name[i]; i++) {
		char c = name[i];

		if (!isalnum(c) && c != '_' && c != '-' && c != '.')
			return false;
	}
	if (i == len)
		return false;		/* not terminated */
	/* the rest of the array must be zero, like any reserved field */
	for (; i < len; i++)
		if (name[i])
			return false;
	return true;
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
int iofilter_param_size(unsigned int argc, char **argv, const char *key,
			u64 def, u64 *val)
{
	static const char units[] = "KMGT";
	const char *v = iofilter_param(argc, argv, key);
	char num[24];
	const char *u;
	size_t n;
	u64 x;
	int shift = 0, r;

	if (!v) {
		*val = def;
		return 0;
	}
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

static bool choice_ok(const char *choices, const char *v)
{
	size_t vl = strlen(v);
	const char *p = choices;

	while (p) {
		size_t l = strcspn(p, "|");

		if (l == vl && !strncmp(p, v, l))
			return true;
		p = p[l] ? p + l + 1 : NULL;
	}
	return false;
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
			if (argv[i][klen] && choice_ok(p->choices, argv[i] + klen + 1))
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
			    iofilter_volume_name(fi->vol), fi->name, what, err);
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

static int __init iofilter_init(void)
{
	int r;

	iof_wq = alloc_workqueue("iofilter", WQ_MEM_RECLAIM, 0);
	if (!iof_wq)
		return -ENOMEM;

	r = iof_target_init();
	if (r)
		goto bad_target;

	r = iof_ctl_init();
	if (r)
		goto bad_ctl;

	DMINFO("version %u.%u.%u loaded", IOFILTER_VERSION_MAJOR,
	       IOFILTER_VERSION_MINOR, IOFILTER_VERSION_PATCH);
	return 0;

bad_ctl:
	iof_target_exit();
bad_target:
	destroy_workqueue(iof_wq);
	return r;
}

static void __exit iofilter_exit(void)
{
	iof_ctl_exit();
	iof_target_exit();
	destroy_workqueue(iof_wq);
}

module_init(iofilter_init);
module_exit(iofilter_exit);

MODULE_DESCRIPTION(DM_NAME " per-volume I/O filter framework");
MODULE_AUTHOR("The iofilter authors");
MODULE_LICENSE("GPL");
/* dm loads a target's module by "dm-<target>" (dm_get_target_type()). */
MODULE_ALIAS("dm-" IOFILTER_TARGET_NAME);
