// SPDX-License-Identifier: GPL-2.0
/* HAVE_BLKDEV_GET_BY_PATH_FMODE: blkdev_get_by_path(path, fmode_t, holder), blkdev_put(bdev, mode) (<= 6.4) */
#include <linux/blkdev.h>
struct block_device *iof_probe(void);
struct block_device *iof_probe(void)
{
	struct block_device *b = blkdev_get_by_path("/dev/null", FMODE_READ, NULL);

	blkdev_put(b, FMODE_READ);
	return b;
}
