// SPDX-License-Identifier: GPL-2.0
/* HAVE_BDEV_OPEN_BY_PATH: bdev_open_by_path() returns a bdev_handle (6.7-6.8) */
#include <linux/blkdev.h>
struct bdev_handle *iof_probe(void);
struct bdev_handle *iof_probe(void)
{
	return bdev_open_by_path("/dev/null", BLK_OPEN_READ, NULL, NULL);
}
