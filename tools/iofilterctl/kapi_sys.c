// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl: the real system calls behind kapi.c.  The unit tests link a
 * fake kernel instead of this file.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/iofilter.h>

#include "kapi.h"
#include "util.h"

#define CTL_PATH "/dev/" IOFILTER_CTL_NAME

/*
 * Load the core when its control device is missing, as libdevmapper loads
 * dm-mod for /dev/mapper/control: modprobe, so that its dependencies come
 * along (depmod).  The node is devtmpfs's (or udev's, then it may lag).
 */
static int load_core(void)
{
	struct stat st;
	int i;

	if (!stat("/sys/class/misc/" IOFILTER_CTL_NAME, &st))
		return 0;
	if (iof_sys_load_module("iofilter", false))
		return -ENOENT;
	for (i = 0; i < 100 && access(CTL_PATH, F_OK) < 0; i++)
		usleep(20000);
	return 0;
}

int iof_sys_open(void)
{
	unsigned maj, min;
	int fd;

	fd = open(CTL_PATH, O_RDWR | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	if (errno != ENOENT)
		return -errno;
	if (load_core())
		return -ENOENT;
	fd = open(CTL_PATH, O_RDWR | O_CLOEXEC);
	if (fd >= 0 || errno != ENOENT || udev_sync)
		return fd >= 0 ? fd : -errno;
	/*
	 * No node but the module is loaded: a /dev without devtmpfs or udev
	 * (--noudevsync).  Make the node from sysfs, root only.
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

int iof_sys_load_module(const char *module, bool dry_run)
{
	char *argv[] = { "modprobe", "-q", "--", (char *)module, NULL, NULL };
	posix_spawn_file_actions_t fa;
	extern char **environ;
	int st, r;
	pid_t pid;

	if (dry_run) {
		argv[2] = "-n";
		argv[3] = "--";
		argv[4] = (char *)module;
	}
	if (posix_spawn_file_actions_init(&fa))
		return -ENOMEM;
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	/* Where the kernel's request_module() looks first, then PATH. */
	r = posix_spawn(&pid, "/sbin/modprobe", &fa, NULL, argv, environ);
	if (r == ENOENT)
		r = posix_spawnp(&pid, "modprobe", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r)
		return -ENOENT;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -ENOENT;
	info("modprobe %s%s: %s", dry_run ? "-n " : "", module,
	     WIFEXITED(st) && !WEXITSTATUS(st) ? "ok" : "failed");
	return WIFEXITED(st) && !WEXITSTATUS(st) ? 0 : -ENOENT;
}
