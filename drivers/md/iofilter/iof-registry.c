// SPDX-License-Identifier: GPL-2.0
/*
 * iofilter core: the filter type registry.
 *
 * Like dm-cache's policy registry (dm-cache-policy.c), and nothing else: a
 * list under a spinlock, duplicate names refused, a module reference per
 * live instance, and a request_module("iofilter-<name>") fallback for types
 * not loaded yet.
 */
#include <linux/kmod.h>
#include <linux/module.h>
#include <linux/spinlock.h>
#include <linux/string.h>

#include "iof-core.h"

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
	    !iof_name_valid(type->name)) {
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
