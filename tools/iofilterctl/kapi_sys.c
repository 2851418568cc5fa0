// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl: the real system calls behind kapi.c.  The unit tests link a
 * fake kernel instead of this file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/iofilter.h>

#include "kapi.h"
#include "util.h"

#define CTL_PATH "/dev/" IOFILTER_CTL_NAME

int iof_sys_open(void)
{
	unsigned maj, min;
	int fd;

	fd = open(CTL_PATH, O_RDWR | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	if (errno != ENOENT)
		return -errno;
	/*
	 * No node but the module is loaded: a /dev without devtmpfs or udev
	 * (the test VM).  Make the node from sysfs, root only.
	 */
	if (read_devt_file("/sys/class/misc/" IOFILTER_CTL_NAME "/dev", &maj, &min))
		return -ENOENT;
	if (mknod(CTL_PATH, S_IFCHR | 0600, makedev(maj, min)) < 0 && errno != EEXIST)
		return errno == ENOENT ? -ENODEV : -errno;
	info("created %s (%u:%u)", CTL_PATH, maj, min);
	fd = open(CTL_PATH, O_RDWR | O_CLOEXEC);
	return fd >= 0 ? fd : -errno;
}

int iof_sys_ioctl(int fd, unsigned long req, void *arg)
{
	int r;

	do
		r = ioctl(fd, req, arg);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

void iof_sys_close(int fd)
{
	close(fd);
}
