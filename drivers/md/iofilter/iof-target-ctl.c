// SPDX-License-Identifier: GPL-2.0
/*
 * iofilter core: the dm target's control hooks.  Status (the counters in
 * the fixed order of Documentation/admin-guide.rst), messages (stats reset,
 * and "<instance> <verb> ..." handed to the instance), the device and I/O
 * hints, and suspend and resume passed on to every instance of the volume
 * under its lock.  The I/O path and the target_type are iof-target.c's.
 */
#include <linux/mutex.h>
#include <linux/rcupdate.h>
#include <linux/string.h>

#include "iof-core.h"

void iof_status(struct dm_target *ti, status_type_t type,
		unsigned int status_flags, char *result, unsigned int maxlen)
{
	struct iof_target *tgt = ti->private;
	struct iofilter_volume *vol = tgt->vol;
	struct iof_vstats s;
	struct iof_ptable *t;
	unsigned int sz = 0, nr_rules = 0;
	u64 gen = 0;

	switch (type) {
	case STATUSTYPE_INFO:
		iof_volume_sum(vol, &s);
		rcu_read_lock();
		t = rcu_dereference(vol->table);
		if (t) {
			gen = t->generation;
			nr_rules = t->nr_rules;
		}
		rcu_read_unlock();
		/* fixed order, append only: Documentation/admin-guide.rst */
		DMEMIT("%llu %u %u %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
		       gen, nr_rules, READ_ONCE(vol->nr_instances),
		       s.ios[IOF_OPI_READ], s.ios[IOF_OPI_WRITE],
		       s.ios[IOF_OPI_DISCARD], s.ios[IOF_OPI_WRITE_ZEROES],
		       s.ios[IOF_OPI_FLUSH], s.bytes[IOF_OPI_READ],
		       s.bytes[IOF_OPI_WRITE], s.passed, s.denied, s.filtered,
		       s.errors, s.splits);
		break;
	case STATUSTYPE_TABLE:
		DMEMIT("%s %s", tgt->dev->name, vol->name);
		break;
	case STATUSTYPE_IMA:
		DMEMIT_TARGET_NAME_VERSION(ti->type);
		DMEMIT(",origin=%s,volume=%s;", tgt->dev->name, vol->name);
		break;
	}
}

int iof_message(struct dm_target *ti, unsigned int argc, char **argv,
		char *result, unsigned int maxlen)
{
	struct iof_target *tgt = ti->private;
	struct iofilter_volume *vol = tgt->vol;
	int r;

	if (argc == 2 && !strcasecmp(argv[0], "stats") &&
	    !strcasecmp(argv[1], "reset")) {
		struct iof_ptable *t;

		iof_volume_reset(vol);
		mutex_lock(&vol->lock);
		t = rcu_dereference_protected(vol->table,
					      lockdep_is_held(&vol->lock));
		if (t)
			iof_table_reset(t);
		mutex_unlock(&vol->lock);
		return 0;
	}
	/* <instance> <verb> [args...] */
	if (argc < 2) {
		DMWARN("%s: message: expected 'stats reset' or '<instance> <verb> ...'",
		       vol->name);
		return -EINVAL;
	}
	mutex_lock(&vol->lock);
	r = vol->dead ? -ENODEV :
	    iof_inst_message(vol, argv[0], argc - 1, argv + 1, result, maxlen);
	mutex_unlock(&vol->lock);
	if (r == -ENOENT)
		DMWARN("%s: message: no instance %s", vol->name, argv[0]);
	return r;
}

int iof_iterate_devices(struct dm_target *ti, iterate_devices_callout_fn fn,
			void *data)
{
	struct iof_target *tgt = ti->private;

	return fn(ti, tgt->dev, 0, ti->len, data);
}

static void hint_one(struct iofilter_instance *fi, void *limits)
{
	if (fi->ops->io_hints)
		fi->ops->io_hints(fi, limits);
}

void iof_io_hints(struct dm_target *ti, struct queue_limits *limits)
{
	struct iof_target *tgt = ti->private;
	struct iofilter_volume *vol = tgt->vol;
	struct iof_inst *inst;

	mutex_lock(&vol->lock);
	list_for_each_entry(inst, &vol->instances, list)
		hint_one(inst->fi, limits);
	mutex_unlock(&vol->lock);
}

static void presuspend_one(struct iofilter_instance *fi)
{
	if (fi->ops->presuspend)
		fi->ops->presuspend(fi);
}

static void postsuspend_one(struct iofilter_instance *fi)
{
	if (fi->ops->postsuspend)
		fi->ops->postsuspend(fi);
}

static void resume_one(struct iofilter_instance *fi)
{
	if (fi->ops->resume)
		fi->ops->resume(fi);
}

void iof_presuspend(struct dm_target *ti)
{
	struct iofilter_volume *vol = ((struct iof_target *)ti->private)->vol;

	mutex_lock(&vol->lock);
	iof_volume_call_each(vol, presuspend_one);
	mutex_unlock(&vol->lock);
}

void iof_postsuspend(struct dm_target *ti)
{
	struct iofilter_volume *vol = ((struct iof_target *)ti->private)->vol;

	mutex_lock(&vol->lock);
	vol->suspended = true;
	iof_volume_call_each(vol, postsuspend_one);
	mutex_unlock(&vol->lock);
}

int iof_preresume(struct dm_target *ti)
{
	struct iofilter_volume *vol = ((struct iof_target *)ti->private)->vol;

	/* a reload may have resized the volume */
	WRITE_ONCE(vol->sectors, ti->len);
	return 0;
}

void iof_resume(struct dm_target *ti)
{
	struct iofilter_volume *vol = ((struct iof_target *)ti->private)->vol;

	mutex_lock(&vol->lock);
	vol->suspended = false;
	iof_volume_call_each(vol, resume_one);
	mutex_unlock(&vol->lock);
}
