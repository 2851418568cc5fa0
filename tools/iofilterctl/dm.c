// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl: device-mapper through libdevmapper.
 *
 * With udev (the default, as dmsetup, cryptsetup and lvm do it): resume and
 * remove carry a udev cookie and wait for udev to finish, so
 * /dev/mapper/<name> (a udev symlink, made on the resume's change event) is
 * there when apply returns and gone when detach does.  When udev is not
 * running, libdevmapper notices and makes the nodes itself.  Without udev
 * (--noudevsync, DM_DISABLE_UDEV=1: the test VMs) sync is off, the library
 * makes the nodes at once (dm_task_update_nodes()), and if a node is still
 * missing after that, we make it: only in this mode does the tool mknod.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <libdevmapper.h>
#include <linux/iofilter.h>

#include "dm.h"
#include "util.h"

static char last_error[512];

/* libdevmapper logs through here: keep its last error, show all with -vv. */
__attribute__((format(printf, 5, 0)))
static void dm_log(int level, const char *file, int line, int dm_errno, const char *f, ...)
{
	char buf[512];
	va_list ap;

	(void)file;
	(void)line;
	(void)dm_errno;
	va_start(ap, f);
	vsnprintf(buf, sizeof(buf), f, ap);
	va_end(ap);
	if (level <= 3)	/* _LOG_ERR */
		snprintf(last_error, sizeof(last_error), "%s", buf);
	if (verbosity >= 2)
		fprintf(err_fp, "libdevmapper: %s\n", buf);
}

void dmx_init(void)
{
	dm_log_with_errno_init(dm_log);
	dm_udev_set_sync_support(udev_sync);
	if (udev_sync && !dm_udev_get_sync_support())
		info("udev is not running: libdevmapper makes the device nodes");
}

void dmx_exit(void)
{
	dm_lib_release();
}

const char *dmx_error(void)
{
	return last_error;
}

static int task_errno(struct dm_task *dmt)
{
	int e = dm_task_get_errno(dmt);

	return e > 0 ? -e : -EIO;
}

static struct dm_task *task(int type, const char *name)
{
	struct dm_task *dmt = dm_task_create(type);

	if (!dmt)
		return NULL;
	if (name && !dm_task_set_name(dmt, name)) {
		dm_task_destroy(dmt);
		return NULL;
	}
	return dmt;
}

int dmx_info(const char *name, struct dmx_info *info)
{
	struct dm_task *dmt = task(DM_DEVICE_INFO, name);
	struct dm_info di;
	int r = 0;

	memset(info, 0, sizeof(*info));
	if (!dmt)
		return -ENOMEM;
	if (!dm_task_run(dmt) || !dm_task_get_info(dmt, &di)) {
		r = task_errno(dmt);
	} else if (di.exists) {
		info->exists = true;
		info->live_table = di.live_table;
		info->inactive_table = di.inactive_table;
		info->suspended = di.suspended;
		info->open_count = di.open_count;
		info->major = di.major;
		info->minor = di.minor;
	}
	dm_task_destroy(dmt);
	return r;
}

int dmx_table(const char *name, uint64_t *sectors, char **type, char **params)
{
	struct dm_task *dmt = task(DM_DEVICE_TABLE, name);
	uint64_t start, len;
	char *ttype = NULL, *tparams = NULL;
	void *next;
	int r = 0;

	if (!dmt)
		return -ENOMEM;
	if (!dm_task_run(dmt)) {
		r = task_errno(dmt);
		goto out;
	}
	next = dm_get_next_target(dmt, NULL, &start, &len, &ttype, &tparams);
	if (!ttype) {
		r = -ENODATA;
		goto out;
	}
	if (next || start) {
		r = -EMEDIUMTYPE;
		goto out;
	}
	*sectors = len;
	*type = xstrdup(ttype);
	*params = xstrdup(tparams ? tparams : "");
out:
	dm_task_destroy(dmt);
	return r;
}

/*
 * Run a task that makes a uevent (resume, remove) and, with udev
 * sync, wait until udev has processed it (95-dm-notify.rules releases the
 * cookie).  The wait follows a failed run too: it drops the cookie.
 */
static int run_synced(struct dm_task *dmt)
{
	uint32_t cookie = 0;
	int r = 0;

	if (udev_sync && !dm_task_set_cookie(dmt, &cookie, 0))
		return -ENOMEM;
	if (!dm_task_run(dmt))
		r = task_errno(dmt);
	if (udev_sync)
		dm_udev_wait(cookie);
	return r;
}

static int add_target(struct dm_task *dmt, uint64_t sectors, const char *params)
{
	return dm_task_add_target(dmt, 0, sectors, IOFILTER_TARGET_NAME, params) ? 0 : -ENOMEM;
}

/* Without udev: make sure /dev/mapper/<name> exists after create. */
static int ensure_node(const char *name)
{
	struct dmx_info di;
	struct stat st;
	char *path;
	int r;

	if (udev_sync)
		return 0;	/* udev makes it on resume: check_node() */
	dm_task_update_nodes();
	path = xasprintf("%s/%s", dm_dir(), name);
	if (!stat(path, &st) && S_ISBLK(st.st_mode)) {
		free(path);
		return 0;
	}
	r = dmx_info(name, &di);
	if (!r && !di.exists)
		r = -ENODEV;
	if (!r) {
		if (mkdir(dm_dir(), 0755) < 0 && errno != EEXIST)
			r = -errno;
		else if (mknod(path, S_IFBLK | 0600, makedev(di.major, di.minor)) < 0 && errno != EEXIST)
			r = -errno;
		else
			info("created %s (%u:%u)", path, di.major, di.minor);
	}
	if (r)
		snprintf(last_error, sizeof(last_error), "cannot create %s: %s", path, strerror(-r));
	free(path);
	return r;
}

int dmx_create(const char *name, uint64_t sectors, const char *params)
{
	struct dm_task *dmt = task(DM_DEVICE_CREATE, name);
	char uuid[IOF_NAME_LEN + 16];
	int r = 0;

	if (!dmt)
		return -ENOMEM;
	/* A uuid prefix names the owner, like CRYPT- and LVM-. */
	snprintf(uuid, sizeof(uuid), "IOFILTER-%s", name);
	/*
	 * No cookie: a create without a table makes no uevent of dm's own
	 * (udev ignores the disk's "add" until the resume's "change"), so
	 * nobody would release it (dmsetup create --notable does the same).
	 */
	if (!dm_task_set_uuid(dmt, uuid))
		r = -ENOMEM;
	else if (!dm_task_run(dmt))
		r = task_errno(dmt);
	dm_task_destroy(dmt);
	if (r)
		return r;
	/* Load the table separately: the device stays suspended until resumed. */
	r = dmx_reload(name, sectors, params);
	if (!r)
		r = ensure_node(name);
	if (r) {
		int e = r;
		char keep[sizeof(last_error)];

		memcpy(keep, last_error, sizeof(keep));
		dmx_remove(name);
		memcpy(last_error, keep, sizeof(keep));
		return e;
	}
	return 0;
}

int dmx_reload(const char *name, uint64_t sectors, const char *params)
{
	struct dm_task *dmt = task(DM_DEVICE_RELOAD, name);
	int r;

	if (!dmt)
		return -ENOMEM;
	r = add_target(dmt, sectors, params);
	if (!r && !dm_task_run(dmt))
		r = task_errno(dmt);
	dm_task_destroy(dmt);
	return r;
}

/*
 * With udev sync: after the resume's wait the node must be there; if it is
 * not, udev runs without the device-mapper rules (55-dm.rules,
 * 95-dm-notify.rules) and nobody will make it.
 */
static int check_node(const char *name)
{
	struct stat st;
	char *path;
	int r = 0;

	if (!udev_sync || !dm_udev_get_sync_support())
		return 0;
	path = xasprintf("%s/%s", dm_dir(), name);
	if (stat(path, &st) < 0 || !S_ISBLK(st.st_mode)) {
		r = -ENODEV;
		snprintf(last_error, sizeof(last_error),
			 "udev did not make %s (device-mapper udev rules missing? --noudevsync makes the nodes without udev)",
			 path);
	}
	free(path);
	return r;
}

int dmx_resume(const char *name)
{
	struct dm_task *dmt = task(DM_DEVICE_RESUME, name);
	int r;

	if (!dmt)
		return -ENOMEM;
	r = run_synced(dmt);
	dm_task_destroy(dmt);
	if (!udev_sync)
		dm_task_update_nodes();
	return r ? r : check_node(name);
}

int dmx_remove(const char *name)
{
	struct dm_task *dmt = task(DM_DEVICE_REMOVE, name);
	struct dmx_info di;
	struct stat st;
	char *path;
	int r = 0;

	if (!dmt)
		return -ENOMEM;
	if (dmx_info(name, &di))
		di.exists = false;
	dm_task_retry_remove(dmt);
	r = run_synced(dmt);
	dm_task_destroy(dmt);
	if (udev_sync)
		return r;
	dm_task_update_nodes();
	if (r || !di.exists)
		return r;
	/* Remove a node we may have made ourselves. */
	path = xasprintf("%s/%s", dm_dir(), name);
	if (!lstat(path, &st) && S_ISBLK(st.st_mode) && st.st_rdev == makedev(di.major, di.minor))
		unlink(path);
	free(path);
	return 0;
}
