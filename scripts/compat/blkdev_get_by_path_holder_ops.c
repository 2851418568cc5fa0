// SPDX-License-Identifier: GPL-2.0
/* HAVE_BLKDEV_GET_BY_PATH_HOLDER_OPS: blkdev_get_by_path(path, blk_mode_t, holder, hops) (6.5-6.6) */
#include <linux/blkdev.h>
struct block_device *iof_probe(void);
struct block_device *iof_probe(void)
{
	return blkdev_get_by_path("/dev/null", BLK_OPEN_READ, NULL, NULL);
}
