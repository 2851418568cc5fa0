// SPDX-License-Identifier: GPL-2.0
/*
 * iofilter core: volumes and filter instances.
 *
 * A volume is named by the dm table line and outlives table reloads: the
 * new target of a reload finds the volume the old one made, with its policy
 * table and its filter instances.  The last target to go tears it down.
 *
 * The list of volumes and its mutex are this file's alone: other files
 * find a volume with iof_volume_lock(), walk them with
 * iof_volume_for_each() and reach instances through the iof_inst_*()
 * helpers (like dm-ioctl.c's name hash and _hash_lock).
 *
 * Lifetimes.  volumes_lock guards the volume list and each volume's target
 * list.  vol->lock serialises control operations on one volume (instance
 * create/remove/rename, table loads, messages).  An instance is referenced
 * by the volume's list and by every table whose rules use it; it is
 * destroyed, in process context, when the last of these goes.
 */
#include <linux/ctype.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "iof-core.h"

static DEFINE_MUTEX(volumes_lock);
static LIST_HEAD(volumes);

const char *iofilter_volume_name(struct iofilter_volume *vol)
{
	return vol->name;
}
EXPORT_SYMBOL_GPL(iofilter_volume_name);

unsigned int iofilter_volume_failed(struct iofilter_volume *vol)
{
	return atomic_read(&vol->nr_failed);
}
EXPORT_SYMBOL_GPL(iofilter_volume_failed);

struct block_device *iofilter_volume_origin(struct iofilter_volume *vol)
{
	return vol->origin;
}
EXPORT_SYMBOL_GPL(iofilter_volume_origin);

sector_t iofilter_volume_sectors(struct iofilter_volume *vol)
{
	return READ_ONCE(vol->sectors);
}
EXPORT_SYMBOL_GPL(iofilter_volume_sectors);

static struct iofilter_volume *__volume_find(const char *name)
{
	struct iofilter_volume *vol;

	list_for_each_entry(vol, &volumes, list)
		if (!strcmp(vol->name, name))
			return vol;
	return NULL;
}

static struct iofilter_volume *volume_find(const char *name)
{
	struct iofilter_volume *vol;

	mutex_lock(&volumes_lock);
	vol = __volume_find(name);
	if (vol)
		kref_get(&vol->ref);
	mutex_unlock(&volumes_lock);
	return vol;
}

static void volume_free(struct kref *ref)
{
	struct iofilter_volume *vol = container_of(ref, struct iofilter_volume,
						   ref);

	bioset_exit(&vol->below_bs);
	bioset_exit(&vol->flush_bs);
	free_percpu(vol->stats);
	kfree(vol);
}

static void volume_put(struct iofilter_volume *vol)
{
	kref_put(&vol->ref, volume_free);
}

static struct iof_inst *inst_find_id(struct iofilter_volume *vol, u32 id)
{
	struct iof_inst *inst;

	list_for_each_entry(inst, &vol->instances, list)
		if (inst->id == id)
			return inst;
	return NULL;
}

/* The table builder's lookup of a chain's instance ids; vol->lock held */
static struct iofilter_instance *inst_by_id(struct iofilter_volume *vol,
					    u32 id)
{
	struct iof_inst *inst = inst_find_id(vol, id);

	return inst ? inst->fi : NULL;
}

/*
 * Publish a built table.  Caller holds vol->lock.  In-flight bios keep the
 * old table alive through their reference; it is freed when they drain.
 */
static void volume_publish(struct iofilter_volume *vol, struct iof_ptable *t)
{
	struct iof_ptable *old = rcu_dereference_protected(vol->table,
					lockdep_is_held(&vol->lock));
	unsigned int i, j;

	for (i = 0; i <= t->nr_rules; i++)
		for (j = 0; j < t->rules[i].chain.n; j++)
			iof_fi_inst(t->rules[i].chain.fi[j])->users++;
	if (old)
		for (i = 0; i <= old->nr_rules; i++)
			for (j = 0; j < old->rules[i].chain.n; j++)
				iof_fi_inst(old->rules[i].chain.fi[j])->users--;
	rcu_assign_pointer(vol->table, t);
	/*
	 * A bio that still reads the old value is classified as if it had
	 * read the old table, which it could have read a moment earlier.
	 */
	WRITE_ONCE(vol->passthrough, t->trivial);
	/*
	 * Readers that still see the old table take their reference within
	 * an RCU read section; percpu_ref_kill() only drops the base
	 * reference after a grace period, so none of them can race to zero.
	 */
	if (old)
		percpu_ref_kill(&old->ref);
}

static struct iofilter_volume *volume_alloc(const char *name,
					    struct dm_target *ti,
					    struct dm_dev *dev)
{
	struct iofilter_volume *vol;
	struct iof_ptable *t;
	struct iof_rule dflt = { .action = IOF_ACTION_PASS };
	char msg[64] = "";
	u32 erule;

	vol = kzalloc(sizeof(*vol), GFP_KERNEL);
	if (!vol)
		return NULL;
	kref_init(&vol->ref);
	strscpy(vol->name, name, sizeof(vol->name));
	mutex_init(&vol->lock);
	INIT_LIST_HEAD(&vol->instances);
	INIT_LIST_HEAD(&vol->targets);
	vol->next_id = 1;
	vol->md = dm_table_get_md(ti->table);
	vol->origin_dev = dev->bdev->bd_dev;
	vol->origin = dev->bdev;
	vol->sectors = ti->len;
	/* a dm device is suspended until its first resume */
	vol->suspended = true;
	vol->stats = alloc_percpu(struct iof_vstats);
	if (!vol->stats)
		goto bad;
	if (bioset_init(&vol->flush_bs, 16, offsetof(struct iof_flush_io, bio),
			0))
		goto bad;
	if (bioset_init(&vol->below_bs, 2, offsetof(struct iof_flush_io, bio),
			BIOSET_NEED_BVECS))
		goto bad;

	t = iof_table_build(vol, NULL, inst_by_id, NULL, 0, &dflt, &erule, msg,
			    sizeof(msg));
	if (IS_ERR(t))
		goto bad;
	mutex_lock(&vol->lock);
	volume_publish(vol, t);
	mutex_unlock(&vol->lock);
	return vol;
bad:
	bioset_exit(&vol->below_bs);
	bioset_exit(&vol->flush_bs);
	free_percpu(vol->stats);
	kfree(vol);
	return NULL;
}

/*
 * Called from the target's ctr: find the volume by name or make it, and
 * put the target on its list (t->ti and t->dev set; sets t->vol).  A
 * volume belongs to one dm device; a reload may not change its origin.
 */
int iof_volume_attach_target(const char *name, struct iof_target *t,
			     char **error)
{
	struct dm_target *ti = t->ti;
	struct mapped_device *md = dm_table_get_md(ti->table);
	struct iofilter_volume *vol;
	struct iof_target *o;

	mutex_lock(&volumes_lock);
	vol = __volume_find(name);
	if (vol) {
		if (vol->md != md) {
			*error = "Volume name in use by another device";
			goto busy;
		}
		if (vol->origin_dev != t->dev->bdev->bd_dev) {
			*error = "Cannot change the origin of a live volume";
			goto busy;
		}
		list_for_each_entry(o, &vol->targets, list) {
			if (o->ti->table == ti->table) {
				*error = "Volume used twice in one table";
				goto busy;
			}
		}
		kref_get(&vol->ref);
	} else {
		vol = volume_alloc(name, ti, t->dev);
		if (!vol) {
			*error = "Cannot allocate volume";
			mutex_unlock(&volumes_lock);
			return -ENOMEM;
		}
		list_add_tail(&vol->list, &volumes);
	}
	vol->nr_targets++;
	list_add_tail(&t->list, &vol->targets);
	t->vol = vol;
	mutex_unlock(&volumes_lock);
	return 0;
busy:
	mutex_unlock(&volumes_lock);
	return -EBUSY;
}

/*
 * Call @fn for each volume, under the list's lock (@fn must not take it,
 * nor a volume's lock: a control operation may hold that and wait for a
 * target's ctr); stops at and returns @fn's first nonzero return.
 */
int iof_volume_for_each(iof_vol_fn fn, void *ctx)
{
	struct iofilter_volume *vol;
	int r = 0;

	mutex_lock(&volumes_lock);
	list_for_each_entry(vol, &volumes, list) {
		r = fn(vol, ctx);
		if (r)
			break;
	}
	mutex_unlock(&volumes_lock);
	return r;
}

/*
 * Find a live volume by name and lock it for a control operation: returns
 * it with a reference and vol->lock held, or ERR_PTR(-ENODEV).
 */
struct iofilter_volume *iof_volume_lock(const char *name)
{
	struct iofilter_volume *vol = volume_find(name);

	if (!vol)
		return ERR_PTR(-ENODEV);
	mutex_lock(&vol->lock);
	if (vol->dead) {
		mutex_unlock(&vol->lock);
		volume_put(vol);
		return ERR_PTR(-ENODEV);
	}
	return vol;
}

void iof_volume_unlock(struct iofilter_volume *vol)
{
	mutex_unlock(&vol->lock);
	volume_put(vol);
}

/* The live table; caller holds vol->lock (from iof_volume_lock()) */
struct iof_ptable *iof_volume_table(struct iofilter_volume *vol)
{
	return rcu_dereference_protected(vol->table,
					 lockdep_is_held(&vol->lock));
}

/*
 * Build a table from @rules and publish it, unless @dry (then only
 * validate).  Refused with -ESTALE when @expected_generation is set and
 * the live table has another.  *@generation: the table live afterwards.
 * Caller holds vol->lock.
 */
int iof_volume_load_table(struct iofilter_volume *vol,
			  const struct iof_rule *rules, unsigned int nr_rules,
			  const struct iof_rule *dflt, u64 expected_generation,
			  bool dry, u64 *generation, u32 *error_rule,
			  char *msg, size_t msglen)
{
	struct iof_ptable *live = iof_volume_table(vol), *t;

	if (expected_generation && expected_generation != live->generation) {
		scnprintf(msg, msglen,
			  "table changed: generation %llu, expected %llu",
			  live->generation, expected_generation);
		return -ESTALE;
	}
	t = iof_table_build(vol, live, inst_by_id, rules, nr_rules, dflt,
			    error_rule, msg, msglen);
	if (IS_ERR(t))
		return PTR_ERR(t);
	if (dry) {
		*generation = live->generation;
		iof_table_destroy(t);
		return 0;
	}
	*generation = t->generation;
	volume_publish(vol, t);
	/* rate-limited: a policy may be swapped a thousand times a second */
	DMINFO_LIMIT("%s: policy table generation %llu loaded: %u rules",
		     vol->name, t->generation, t->nr_rules);
	return 0;
}

/* The LIST_VOLUMES ioctl's entry; under the list's lock */
void iof_volume_info(struct iofilter_volume *vol, struct iof_volume_info *vi)
{
	struct iof_ptable *t;
	dev_t d = disk_devt(dm_disk(vol->md));

	memset(vi, 0, sizeof(*vi));
	strscpy(vi->name, vol->name, sizeof(vi->name));
	vi->dev_major = MAJOR(d);
	vi->dev_minor = MINOR(d);
	vi->origin_major = MAJOR(vol->origin_dev);
	vi->origin_minor = MINOR(vol->origin_dev);
	vi->size = (u64)READ_ONCE(vol->sectors) << SECTOR_SHIFT;
	vi->nr_instances = READ_ONCE(vol->nr_instances);
	rcu_read_lock();
	t = rcu_dereference(vol->table);
	if (t) {
		vi->generation = t->generation;
		vi->nr_rules = t->nr_rules;
	}
	rcu_read_unlock();
	if (READ_ONCE(vol->suspended))
		vi->flags |= IOF_VOL_SUSPENDED;
	if (atomic_read(&vol->nr_failed))
		vi->flags |= IOF_VOL_ERROR;
}

/*
 * Take an instance off the volume and wait until it is destroyed: a retired
 * table still draining may hold the last reference, and the caller's next
 * step (rmmod, teardown) expects the instance gone.  Caller holds vol->lock;
 * it is dropped during the wait.
 */
static void inst_unlink_wait(struct iofilter_volume *vol,
			     struct iof_inst *inst)
{
	DECLARE_COMPLETION_ONSTACK(gone);

	list_del_init(&inst->list);
	vol->nr_instances--;
	inst->gone = &gone;
	iof_inst_put(inst);
	mutex_unlock(&vol->lock);
	wait_for_completion(&gone);
	mutex_lock(&vol->lock);
}

/*
 * Tear down the state of a volume whose last target goes: the table is
 * retired (no bio can be in flight: dm destroys a target only after its
 * I/O is done), then the instances are destroyed.
 */
static void volume_shutdown(struct iofilter_volume *vol)
{
	struct iof_inst *inst;
	struct iof_ptable *t;
	DECLARE_COMPLETION_ONSTACK(drained);

	mutex_lock(&vol->lock);
	vol->dead = true;
	t = rcu_dereference_protected(vol->table, lockdep_is_held(&vol->lock));
	RCU_INIT_POINTER(vol->table, NULL);
	mutex_unlock(&vol->lock);

	if (t) {
		t->drained = &drained;
		percpu_ref_kill(&t->ref);
		wait_for_completion(&drained);
	}
	/* flush any table retired earlier and still draining */
	flush_workqueue(iof_wq);

	mutex_lock(&vol->lock);
	while (!list_empty(&vol->instances)) {
		inst = list_first_entry(&vol->instances, struct iof_inst, list);
		inst_unlink_wait(vol, inst);
	}
	mutex_unlock(&vol->lock);
}

void iof_volume_detach_target(struct iofilter_volume *vol,
			      struct iof_target *t)
{
	bool last;

	mutex_lock(&volumes_lock);
	if (!list_empty(&t->list))
		list_del_init(&t->list);
	last = !--vol->nr_targets;
	if (last)
		list_del_init(&vol->list);
	mutex_unlock(&volumes_lock);

	if (last)
		volume_shutdown(vol);
	volume_put(vol);
}

/* Call fn for each instance; caller holds vol->lock. */
void iof_volume_call_each(struct iofilter_volume *vol, iof_fi_fn fn)
{
	struct iof_inst *inst;

	list_for_each_entry(inst, &vol->instances, list)
		fn(inst->fi);
}

/*
 * Does an instance of a class after @fi's hold data the origin lacks (a
 * write-back cache's dirty blocks) while no rule of @t chains it, so that
 * a read routed by @t would miss that data?  1 or 0; -EAGAIN when a
 * control operation holds the volume (it may be waiting for our caller:
 * try again later).
 */
int iof_volume_dirty_unrouted(struct iofilter_volume *vol,
			      const struct iof_ptable *t,
			      const struct iofilter_instance *fi)
{
	struct iof_inst *inst;
	int r = 0;

	if (!mutex_trylock(&vol->lock))
		return -EAGAIN;
	list_for_each_entry(inst, &vol->instances, list) {
		struct iofilter_instance *o = inst->fi;

		if (o != fi && o->type->class > fi->type->class &&
		    o->ops->is_dirty && o->ops->is_dirty(o) &&
		    !iof_table_binds(t, o)) {
			r = 1;
			break;
		}
	}
	mutex_unlock(&vol->lock);
	return r;
}

/* ---- instances ---- */

struct iof_inst *iof_inst_find(struct iofilter_volume *vol, const char *name)
{
	struct iof_inst *inst;

	list_for_each_entry(inst, &vol->instances, list)
		if (!strcmp(inst->name, name))
			return inst;
	return NULL;
}

/* Call @fn for each instance; caller holds vol->lock.  Stops as above. */
int iof_inst_for_each(struct iofilter_volume *vol, iof_inst_fn fn, void *ctx)
{
	struct iof_inst *inst;
	int r = 0;

	list_for_each_entry(inst, &vol->instances, list) {
		r = fn(inst, ctx);
		if (r)
			break;
	}
	return r;
}

static void inst_destroy_work(struct work_struct *w)
{
	struct iof_inst *inst = container_of(w, struct iof_inst, destroy_work);
	struct iofilter_type *type = inst->fi->type;
	struct completion *gone = inst->gone;
	unsigned int noio;

	/* iof_wq is WQ_MEM_RECLAIM: see iof_table_free_work() */
	noio = memalloc_noio_save();
	inst->fi->ops->destroy(inst->fi);
	memalloc_noio_restore(noio);
	atomic_dec(&type->nr_instances);
	iof_type_put(type);
	kfree(inst->params);
	kfree(inst);
	if (gone)
		complete(gone);
}

/*
 * Split a parameter block "k=v\0k=v\0" into argv, checking its form:
 * keys [a-z0-9_]+, values printable without spaces.
 */
static int split_params(char *params, unsigned int len, unsigned int *argc,
			char ***argv, char *msg, size_t msglen)
{
	unsigned int n = 0, i;
	char **v, *p;

	if (!len) {
		*argc = 0;
		*argv = NULL;
		return 0;
	}
	if (params[len - 1] != '\0') {
		scnprintf(msg, msglen, "parameter block not NUL-terminated");
		return -EINVAL;
	}
	for (i = 0; i < len; i++)
		if (!params[i])
			n++;
	if (n > IOF_MAX_PARAMS) {
		scnprintf(msg, msglen, "more than %u parameters", IOF_MAX_PARAMS);
		return -E2BIG;
	}
	v = kcalloc(n, sizeof(*v), GFP_KERNEL);
	if (!v)
		return -ENOMEM;
	for (p = params, i = 0; i < n; i++) {
		char *eq = strchr(p, '='), *c;

		if (!eq || eq == p) {
			scnprintf(msg, msglen, "parameter %u is not key=value", i);
			goto bad;
		}
		for (c = p; c < eq; c++)
			if (!islower(*c) && !isdigit(*c) && *c != '_') {
				scnprintf(msg, msglen, "parameter %u: bad key", i);
				goto bad;
			}
		for (c = eq + 1; *c; c++)
			if (!isgraph(*c)) {
				scnprintf(msg, msglen, "parameter %u: bad value", i);
				goto bad;
			}
		v[i] = p;
		p += strlen(p) + 1;
	}
	*argc = n;
	*argv = v;
	return 0;
bad:
	kfree(v);
	return -EINVAL;
}

/* Caller holds vol->lock.  Takes ownership of params (kmalloc'ed). */
int iof_inst_create(struct iofilter_volume *vol, const char *name,
		    const char *type_name, char *params,
		    unsigned int params_len, const u8 *secret,
		    unsigned int secret_len, u32 *id, char *msg, size_t msglen)
{
	struct iofilter_type *type;
	struct iofilter_instance *fi;
	struct iof_inst *inst;
	unsigned int argc;
	char **argv = NULL, *pcopy = NULL;
	int r;

	if (vol->dead) {
		kfree(params);
		return -ENODEV;
	}
	if (iof_inst_find(vol, name)) {
		scnprintf(msg, msglen, "instance %s exists", name);
		kfree(params);
		return -EEXIST;
	}
	if (vol->nr_instances >= IOF_MAX_INSTANCES) {
		scnprintf(msg, msglen, "too many instances");
		kfree(params);
		return -ENOSPC;
	}
	type = iof_type_get(type_name);
	if (!type) {
		scnprintf(msg, msglen, "unknown filter type %s", type_name);
		kfree(params);
		return -ENOENT;
	}
	inst = kzalloc(sizeof(*inst), GFP_KERNEL);
	if (params_len)
		pcopy = kmemdup(params, params_len, GFP_KERNEL);
	r = -ENOMEM;
	if (!inst || (params_len && !pcopy))
		goto bad;
	/* argv points into params (split in place); pcopy is the read-back */
	r = split_params(params, params_len, &argc, &argv, msg, msglen);
	if (r)
		goto bad;

	fi = type->create(vol, argc, argv, secret, secret_len, msg, msglen);
	if (IS_ERR(fi)) {
		r = PTR_ERR(fi);
		if (!msg[0])
			scnprintf(msg, msglen, "%s: cannot create instance: error %d",
				  type_name, r);
		goto bad;
	}
	kref_init(&inst->ref);
	/* the last iof_inst_put() queues it, maybe from a table's work */
	INIT_WORK(&inst->destroy_work, inst_destroy_work);
	strscpy(inst->name, name, sizeof(inst->name));
	inst->id = vol->next_id++;
	inst->vol = vol;
	inst->params = pcopy;
	inst->params_len = params_len;
	inst->fi = fi;
	fi->type = type;
	fi->vol = vol;
	fi->name = inst->name;
	fi->id = inst->id;
	fi->core = inst;
	atomic_inc(&type->nr_instances);
	list_add_tail(&inst->list, &vol->instances);
	vol->nr_instances++;
	/* bound now: a live volume lets it start its background work */
	if (!vol->suspended && fi->ops->resume)
		fi->ops->resume(fi);
	*id = inst->id;
	kfree(argv);
	kfree(params);
	return 0;
bad:
	kfree(argv);
	kfree(params);
	kfree(pcopy);
	kfree(inst);
	iof_type_put(type);
	return r;
}

/* Caller holds vol->lock; drops it while waiting for the destruction. */
int iof_inst_remove(struct iofilter_volume *vol, const char *name)
{
	struct iof_inst *inst = iof_inst_find(vol, name);

	if (!inst)
		return -ENOENT;
	if (inst->users)
		return -EBUSY;
	inst_unlink_wait(vol, inst);
	return 0;
}

/*
 * Rename an instance: it keeps its id, so the live table's rules still
 * chain it.  Caller holds vol->lock.
 */
int iof_inst_rename(struct iofilter_volume *vol, const char *name,
		    const char *new_name)
{
	struct iof_inst *inst = iof_inst_find(vol, name);

	if (!inst)
		return -ENOENT;
	if (iof_inst_find(vol, new_name))
		return -EEXIST;
	strscpy(inst->name, new_name, sizeof(inst->name));
	return 0;
}

/* Caller holds vol->lock. */
int iof_inst_message(struct iofilter_volume *vol, const char *name,
		     unsigned int argc, char **argv, char *result,
		     unsigned int maxlen)
{
	struct iof_inst *inst = iof_inst_find(vol, name);

	if (!inst)
		return -ENOENT;
	if (!inst->fi->ops->message || !argc)
		return -EINVAL;
	return inst->fi->ops->message(inst->fi, argc, argv, result, maxlen);
}

void iof_inst_info(struct iof_inst *inst, struct iof_instance_info *info)
{
	struct iofilter_instance *fi = inst->fi;

	memset(info, 0, sizeof(*info));
	strscpy(info->name, inst->name, sizeof(info->name));
	strscpy(info->type, fi->type->name, sizeof(info->type));
	info->id = inst->id;
	info->class = fi->type->class;
	info->users = inst->users;
	info->params_len = inst->params_len;
	if (READ_ONCE(fi->error))
		info->flags |= IOF_INST_ERROR;
	if (fi->ops->is_dirty && fi->ops->is_dirty(fi))
		info->flags |= IOF_INST_DIRTY;
}

/* The instance's status text ("" without a status method); vol->lock held */
void iof_inst_status(struct iof_inst *inst, char *result, unsigned int maxlen)
{
	struct iofilter_instance *fi = inst->fi;

	result[0] = '\0';
	if (fi->ops->status)
		fi->ops->status(fi, result, maxlen);
	result[maxlen - 1] = '\0';
}
