// SPDX-License-Identifier: GPL-2.0
/*
 * iofilter core: module entry.  Brings up the files that need it in
 * dependency order (see Documentation/design.rst, "The core's files").
 */
#include <linux/module.h>

#include "iof-core.h"

static int __init iofilter_init(void)
{
	int r;

	r = iof_lib_init();
	if (r)
		return r;

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
	iof_lib_exit();
	return r;
}

static void __exit iofilter_exit(void)
{
	iof_ctl_exit();
	iof_target_exit();
	iof_lib_exit();
}

module_init(iofilter_init);
module_exit(iofilter_exit);

MODULE_DESCRIPTION(DM_NAME " per-volume I/O filter framework");
MODULE_AUTHOR("The iofilter authors");
MODULE_LICENSE("GPL");
/* dm loads a target's module by "dm-<target>" (dm_get_target_type()). */
MODULE_ALIAS("dm-" IOFILTER_TARGET_NAME);
