/* SPDX-License-Identifier: GPL-2.0 */
/*
 * iofilterctl: loop devices for image-backed volumes, and small block
 * device helpers.  Calls return 0 or -errno.
 */
#ifndef IOFCTL_LOOP_H
#define IOFCTL_LOOP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* A bound loop device (offset 0, no size limit, writable) backing img: 1, none: 0. */
int loop_find(const struct stat *img, char *dev, size_t len, dev_t *rdev);
/*
 * Attach image to a free loop device (autoclear, direct I/O where it
 * works).  *holdfd keeps the device open: close it with loop_release()
 * once the dm table holds the device, and autoclear then detaches it when
 * the dm device goes away.
 */
int loop_attach(const char *image, char *dev, size_t len, dev_t *rdev, int *holdfd);
void loop_release(int holdfd);
/* Is rdev a loop device backing img?  1 yes, 0 no. */
int loop_backs(dev_t rdev, const struct stat *img);
/* Tell the loop device its file has grown or shrunk. */
int loop_set_capacity(dev_t rdev);
/* The backing file of a loop device, or -ENOENT. */
int loop_backing_file(dev_t rdev, char *buf, size_t len);

/* /dev/<name> for a block device number, from sysfs. */
int blkdev_path(dev_t rdev, char *buf, size_t len);
/* blkdev_path(), and the node made if /dev lacks it (no udev). */
int blkdev_node(dev_t rdev, char *path, size_t len);
/* Size in bytes (BLKGETSIZE64). */
int blkdev_size(const char *path, uint64_t *size);
int blkdev_size_rdev(dev_t rdev, uint64_t *size);

#endif
