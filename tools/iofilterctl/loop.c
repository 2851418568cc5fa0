// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl: loop devices and block device helpers.
 */
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/loop.h>

#include "kapi.h"
#include "loop.h"
#include "util.h"

/* The kernel's encoding of dev_t in struct loop_info64 (new_encode_dev). */
static dev_t kdev_decode(uint64_t d)
{
	unsigned maj = (unsigned)((d & 0xfff00) >> 8);
	unsigned min = (unsigned)((d & 0xff) | ((d >> 12) & 0xfff00));

	return makedev(maj, min);
}

int blkdev_path(dev_t rdev, char *buf, size_t len)
{
	char path[64], line[256];
	int r = -ENOENT;
	FILE *fp;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/uevent", major(rdev), minor(rdev));
	fp = fopen(path, "re");
	if (!fp)
		return -errno;
	while (fgets(line, sizeof(line), fp))
		if (!strncmp(line, "DEVNAME=", 8)) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(buf, len, "/dev/%s", line + 8);
			r = 0;
			break;
		}
	fclose(fp);
	return r;
}

/* The node of a block device; made if /dev lacks it (--noudevsync only). */
int blkdev_node(dev_t rdev, char *path, size_t len)
{
	struct stat st;
	int r;

	r = blkdev_path(rdev, path, len);
	if (r)
		return r;
	if (stat(path, &st) < 0 && errno == ENOENT) {
		if (udev_sync)
			return -ENOENT;
		if (mknod(path, S_IFBLK | 0600, rdev) < 0 && errno != EEXIST)
			return -errno;
	} else if (!S_ISBLK(st.st_mode) || st.st_rdev != rdev) {
		return -ENODEV;
	}
	return 0;
}

/* Open a block device by number; make the node if /dev lacks it (no udev). */
static int open_rdev(dev_t rdev, int flags, char *name, size_t len)
{
	char path[300];
	int fd, r;

	r = blkdev_node(rdev, path, sizeof(path));
	if (r)
		return r;
	fd = open(path, flags | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (name)
		snprintf(name, len, "%s", path);
	return fd;
}

int blkdev_size(const char *path, uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (ioctl(fd, BLKGETSIZE64, size) < 0)
		r = -errno;
	close(fd);
	return r;
}

int blkdev_size_rdev(dev_t rdev, uint64_t *size)
{
	int fd = open_rdev(rdev, O_RDONLY | O_NONBLOCK, NULL, 0), r = 0;

	if (fd < 0)
		return fd;
	if (ioctl(fd, BLKGETSIZE64, size) < 0)
		r = -errno;
	close(fd);
	return r;
}

static int loop_status(int fd, struct loop_info64 *li)
{
	memset(li, 0, sizeof(*li));
	return ioctl(fd, LOOP_GET_STATUS64, li) < 0 ? -errno : 0;
}

static int status_backs(const struct loop_info64 *li, const struct stat *img)
{
	return kdev_decode(li->lo_device) == img->st_dev && li->lo_inode == img->st_ino &&
	       li->lo_offset == 0 && li->lo_sizelimit == 0 &&
	       !(li->lo_flags & LO_FLAGS_READ_ONLY);
}

int loop_backs(dev_t rdev, const struct stat *img)
{
	struct loop_info64 li;
	int fd, r;

	if (major(rdev) != 7 && major(rdev) != 259)	/* LOOP_MAJOR, or extended minors */
		return 0;
	fd = open_rdev(rdev, O_RDONLY | O_NONBLOCK, NULL, 0);
	if (fd < 0)
		return fd;
	r = loop_status(fd, &li);
	close(fd);
	if (r == -ENXIO || r == -ENOTTY || r == -EINVAL)
		return 0;
	return r ? r : status_backs(&li, img);
}

static bool loop_match(const char *name, dev_t rdev, const struct stat *img,
		       char *dev, size_t len)
{
	char path[300];
	struct loop_info64 li;
	bool ours;
	int fd;

	snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file", name);
	if (access(path, F_OK))
		return false;	/* not bound */
	fd = open_rdev(rdev, O_RDONLY | O_NONBLOCK, dev, len);
	if (fd < 0)
		return false;
	ours = !loop_status(fd, &li) && status_backs(&li, img);
	close(fd);
	return ours;
}

int loop_find(const struct stat *img, char *dev, size_t len, dev_t *rdev)
{
	return sysblock_find("loop", loop_match, img, dev, len, rdev);
}

#define LOOP_CTRL_MAJOR	10	/* misc */
#define LOOP_CTRL_MINOR	237	/* fixed: include/linux/miscdevice.h */

/*
 * /dev/loop-control; without udev (the test VM) make the node.  When the
 * loop driver is a module not yet loaded, sysfs does not know the device:
 * make the node with its fixed number, as kmod's static nodes do, and the
 * open loads the module (char-major-10-237).  -ENODEV: no loop driver.
 */
static int open_loop_control(void)
{
	unsigned maj = LOOP_CTRL_MAJOR, min = LOOP_CTRL_MINOR;
	bool made = false;
	int fd = open("/dev/loop-control", O_RDWR | O_CLOEXEC);

	if (fd >= 0 || errno != ENOENT)
		return fd >= 0 ? fd : -errno;
	if (udev_sync) {
		/* Not a node of ours to make: load the driver, devtmpfs makes it. */
		if (iof_sys_load_module("loop", false))
			return -ENODEV;
		fd = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
		return fd >= 0 ? fd : errno == ENOENT ? -ENODEV : -errno;
	}
	read_devt_file("/sys/class/misc/loop-control/dev", &maj, &min);
	if (mknod("/dev/loop-control", S_IFCHR | 0600, makedev(maj, min)) < 0) {
		if (errno != EEXIST)
			return -errno;
	} else {
		made = true;
	}
	fd = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		info("made /dev/loop-control (%u:%u)", maj, min);
		return fd;
	}
	if (made)
		unlink("/dev/loop-control");
	return errno == ENXIO || errno == ENODEV ? -ENODEV : -errno;
}

/* Bind ffd to the loop device lfd; LOOP_CONFIGURE, else the old two-step way. */
static int loop_bind(int lfd, int ffd, const char *image)
{
	struct loop_config cfg;
	struct loop_info64 li;
	int r;

	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = (uint32_t)ffd;
	cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO;
	snprintf((char *)cfg.info.lo_file_name, sizeof(cfg.info.lo_file_name), "%s", image);
	if (!ioctl(lfd, LOOP_CONFIGURE, &cfg))
		return 0;
	r = -errno;
	if (r == -EINVAL) {
		/* Direct I/O refused (file system or alignment): buffered. */
		cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
		if (!ioctl(lfd, LOOP_CONFIGURE, &cfg))
			return 0;
		r = -errno;
	}
	if (r != -EINVAL && r != -ENOTTY)
		return r;
	/* Kernels before 5.8 have no LOOP_CONFIGURE. */
	if (ioctl(lfd, LOOP_SET_FD, ffd) < 0)
		return -errno;
	memset(&li, 0, sizeof(li));
	li.lo_flags = LO_FLAGS_AUTOCLEAR;
	snprintf((char *)li.lo_file_name, sizeof(li.lo_file_name), "%s", image);
	if (ioctl(lfd, LOOP_SET_STATUS64, &li) < 0) {
		r = -errno;
		ioctl(lfd, LOOP_CLR_FD, 0);
		return r;
	}
	if (ioctl(lfd, LOOP_SET_DIRECT_IO, 1UL) < 0)
		info("loop: direct I/O not available for %s; using buffered I/O", image);
	return 0;
}

int loop_attach(const char *image, char *dev, size_t len, dev_t *rdev, int *holdfd)
{
	int ctl, ffd, tries, r = -EBUSY;

	ffd = open(image, O_RDWR | O_CLOEXEC);
	if (ffd < 0)
		return -errno;
	ctl = open_loop_control();
	if (ctl < 0) {
		close(ffd);
		return ctl;
	}
	for (tries = 0; tries < 16; tries++) {
		struct stat st;
		char path[64], sys[96];
		unsigned maj, min;
		int n, lfd;

		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0) {
			r = -errno;
			break;
		}
		snprintf(sys, sizeof(sys), "/sys/block/loop%d/dev", n);
		if (read_devt_file(sys, &maj, &min)) {
			snprintf(path, sizeof(path), "/dev/loop%d", n);
			if (stat(path, &st) < 0) {
				r = -errno;
				break;
			}
			maj = major(st.st_rdev);
			min = minor(st.st_rdev);
		}
		lfd = open_rdev(makedev(maj, min), O_RDWR, dev, len);
		if (lfd < 0) {
			r = lfd;
			break;
		}
		r = loop_bind(lfd, ffd, image);
		if (!r) {
			*rdev = makedev(maj, min);
			*holdfd = lfd;
			break;
		}
		close(lfd);
		if (r != -EBUSY)	/* EBUSY: another process took it first */
			break;
	}
	close(ctl);
	close(ffd);
	return r;
}

void loop_release(int holdfd)
{
	if (holdfd >= 0)
		close(holdfd);
}

int loop_set_capacity(dev_t rdev)
{
	int fd = open_rdev(rdev, O_RDONLY | O_NONBLOCK, NULL, 0), r = 0;

	if (fd < 0)
		return fd;
	if (ioctl(fd, LOOP_SET_CAPACITY, 0) < 0)
		r = -errno;
	close(fd);
	return r;
}

int loop_backing_file(dev_t rdev, char *buf, size_t len)
{
	char path[96];
	unsigned char *b;
	size_t n;
	int r;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/loop/backing_file", major(rdev), minor(rdev));
	r = read_file_max(path, 4096, &b, &n);
	if (r)
		return r;
	while (n && (b[n - 1] == '\n'))
		n--;
	snprintf(buf, len, "%.*s", (int)n, (char *)b);
	free(b);
	return 0;
}
