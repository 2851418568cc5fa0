// SPDX-License-Identifier: GPL-2.0
/* HAVE_BDEV_FILE_OPEN_BY_PATH: bdev_file_open_by_path() returns a file (6.9) */
#include <linux/blkdev.h>
#include <linux/fs.h>
struct file *iof_probe(void);
struct file *iof_probe(void)
{
	return bdev_file_open_by_path("/dev/null", BLK_OPEN_READ, NULL, NULL);
}
