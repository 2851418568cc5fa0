// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl: images in qemu's formats through qemu-img and qemu-nbd.
 *
 * An image that is not raw is served on /dev/nbdN by "qemu-nbd --connect",
 * which iofilterctl starts with --description=iofilterctl: that argument
 * marks the qemu-nbd processes it owns (detach disconnects those, never an
 * NBD device someone else connected), and the last argument names the
 * image, so the kernel's /sys/block/nbdN/pid leads from a volume's origin
 * back to its image without a state file.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "qnbd.h"
#include "util.h"

#define NBD_MAJOR	43	/* include/uapi/linux/major.h */
#define QNBD_MARK	"--description=iofilterctl"
#define OUT_MAX		(256 << 10)

static void msleep(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* A memfd's contents as a string (at most OUT_MAX bytes). */
static char *fd_text(int fd)
{
	struct sbuf b;
	char buf[4096];
	ssize_t n;

	sb_init(&b);
	if (lseek(fd, 0, SEEK_SET) == 0)
		while (b.len < OUT_MAX && (n = read(fd, buf, sizeof(buf))) > 0)
			sb_addn(&b, buf, (size_t)n);
	return sb_steal(&b);
}

/*
 * Run argv (searched in PATH) with stdin /dev/null and stdout, stderr into
 * memory (not pipes: qemu-nbd --connect leaves a daemon holding them).
 * Returns the exit status, 127 when it could not be run, or -errno.
 */
static int run_cmd(char *const argv[], char **out, char **err)
{
	int ofd, efd, st, r;
	pid_t pid;

	*out = *err = NULL;
	ofd = memfd_create("iofctl-out", MFD_CLOEXEC);
	if (ofd < 0)
		return -errno;
	efd = memfd_create("iofctl-err", MFD_CLOEXEC);
	if (efd < 0) {
		r = -errno;
		close(ofd);
		return r;
	}
	info("running %s", argv[0]);
	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto out;
	}
	if (!pid) {
		int nfd = open("/dev/null", O_RDONLY);

		if (nfd < 0 || dup2(nfd, 0) < 0 || dup2(ofd, 1) < 0 || dup2(efd, 2) < 0)
			_exit(127);
		execvp(argv[0], argv);
		dprintf(2, "cannot run %s: %s", argv[0], strerror(errno));
		_exit(127);
	}
	while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
		;
	if (r < 0) {
		r = -errno;
		goto out;
	}
	r = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	*out = fd_text(ofd);
	*err = fd_text(efd);
out:
	close(ofd);
	close(efd);
	return r;
}

/* The first line of a tool's message, without its "qemu-img: " prefix. */
static void first_line(const char *s, char *buf, size_t len)
{
	const char *p;

	if (!s)
		s = "";
	p = strstr(s, ": ");
	if (p && p - s < 16 && !strncmp(s, "qemu-", 5))
		s = p + 2;
	snprintf(buf, len, "%.*s", (int)strcspn(s, "\n"), s);
}

/*
 * The value of a key of the outermost JSON object: a string (escapes not
 * decoded; qemu's format names have none) or a number.
 */
static bool json_top(const char *s, const char *key, char *val, size_t len)
{
	size_t klen = strlen(key);
	int depth = 0;
	const char *p = s;

	while (*p) {
		const char *q;
		size_t n;

		if (*p == '{' || *p == '[') {
			depth++;
		} else if (*p == '}' || *p == ']') {
			depth--;
		} else if (*p == '"') {
			q = ++p;
			while (*p && *p != '"')
				p += (*p == '\\' && p[1]) ? 2 : 1;
			if (!*p)
				return false;
			n = (size_t)(p - q);
			p++;
			while (isspace((unsigned char)*p))
				p++;
			if (depth != 1 || *p != ':' || n != klen || strncmp(q, key, n))
				continue;
			p++;
			while (isspace((unsigned char)*p))
				p++;
			if (*p == '"') {
				q = ++p;
				while (*p && *p != '"')
					p++;
			} else {
				q = p;
				while (isalnum((unsigned char)*p) || *p == '-' || *p == '.')
					p++;
			}
			n = (size_t)(p - q);
			if (!n || n >= len)
				return false;
			memcpy(val, q, n);
			val[n] = '\0';
			return true;
		}
		p++;
	}
	return false;
}

int image_probe(const char *path, const char *format, struct image_info *ii, char *err,
		size_t errlen)
{
	char *argv[8], *out, *emsg, fmtarg[48], size[32], *end;
	int argc = 0, r;

	memset(ii, 0, sizeof(*ii));
	argv[argc++] = "qemu-img";
	argv[argc++] = "info";
	/* --force-share: the image may be in use (by our own qemu-nbd) */
	argv[argc++] = "--force-share";
	argv[argc++] = "--output=json";
	if (format) {
		snprintf(fmtarg, sizeof(fmtarg), "--format=%s", format);
		argv[argc++] = fmtarg;
	}
	argv[argc++] = (char *)path;
	argv[argc] = NULL;
	r = run_cmd(argv, &out, &emsg);
	if (r < 0) {
		snprintf(err, errlen, "cannot run qemu-img: %s", strerror(-r));
		return r;
	}
	if (r == 127) {
		snprintf(err, errlen, "qemu-img not found (install qemu-utils)");
		r = -ENOENT;
	} else if (r) {
		first_line(emsg, err, errlen);
		r = -EINVAL;
	} else if (!json_top(out, "format", ii->format, sizeof(ii->format)) ||
		   !json_top(out, "virtual-size", size, sizeof(size))) {
		snprintf(err, errlen, "cannot read the output of qemu-img info");
		r = -EPROTO;
	} else {
		char bf[4096];

		errno = 0;
		ii->size = strtoull(size, &end, 10);
		if (errno || *end) {
			snprintf(err, errlen, "qemu-img info: bad virtual size %s", size);
			r = -EPROTO;
		}
		ii->backing = json_top(out, "backing-filename", bf, sizeof(bf));
	}
	free(out);
	free(emsg);
	return r;
}

bool is_nbd(dev_t rdev)
{
	return major(rdev) == NBD_MAJOR;
}

/* The task serving an NBD device (its NBD_DO_IT caller), 0 when not connected. */
static pid_t nbd_pid(dev_t rdev)
{
	char path[96];
	unsigned char *b;
	size_t n;
	long pid;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/pid", major(rdev), minor(rdev));
	if (read_file_max(path, 64, &b, &n))
		return 0;
	b[n] = '\0';
	pid = strtol((char *)b, NULL, 10);
	free(b);
	return pid > 0 ? (pid_t)pid : 0;
}

/*
 * Is pid a qemu-nbd that iofilterctl started?  Then the image (its last
 * argument) and its format go to img and fmt.
 */
static bool qnbd_ours(pid_t pid, char *img, size_t ilen, char *fmt, size_t flen)
{
	char path[64];
	unsigned char *b;
	const char *arg, *last = NULL, *f = "";
	bool mark = false;
	size_t n, i;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if (read_file_max(path, 16384, &b, &n))
		return false;
	b[n] = '\0';	/* a zombie's is empty */
	arg = (char *)b;
	if (strcmp(arg, "qemu-nbd") && (!strrchr(arg, '/') || strcmp(strrchr(arg, '/'), "/qemu-nbd"))) {
		free(b);
		return false;
	}
	for (i = 0; i < n; i += strlen((char *)b + i) + 1) {
		arg = (char *)b + i;
		if (!strcmp(arg, QNBD_MARK))
			mark = true;
		else if (!strncmp(arg, "--format=", 9))
			f = arg + 9;
		last = arg;
	}
	if (mark && last) {
		snprintf(img, ilen, "%s", last);
		snprintf(fmt, flen, "%s", f);
	}
	free(b);
	return mark && last;
}

int nbd_backing_file(dev_t rdev, char *buf, size_t len, char *fmt, size_t fmtlen)
{
	pid_t pid = is_nbd(rdev) ? nbd_pid(rdev) : 0;

	if (!pid)
		return -ENOENT;
	return qnbd_ours(pid, buf, len, fmt, fmtlen) ? 0 : -ENOENT;
}

int nbd_backs(dev_t rdev, const struct stat *img)
{
	char path[4096], fmt[32];
	struct stat st;

	if (nbd_backing_file(rdev, path, sizeof(path), fmt, sizeof(fmt)))
		return 0;
	if (stat(path, &st) < 0)
		return 0;
	return st.st_dev == img->st_dev && st.st_ino == img->st_ino;
}

static bool nbd_match(const char *name, dev_t rdev, const struct stat *img,
		      char *dev, size_t len)
{
	(void)name;
	return nbd_backs(rdev, img) == 1 && !blkdev_node(rdev, dev, len);
}

int nbd_find(const struct stat *img, char *dev, size_t len, dev_t *rdev)
{
	return sysblock_find("nbd", nbd_match, img, dev, len, rdev);
}

/* The size of a block device in 512-byte sectors, from sysfs (0 if unknown). */
static uint64_t sysfs_sectors(dev_t rdev)
{
	char path[96];
	unsigned char *b;
	uint64_t size = 0;
	size_t len;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/size", major(rdev), minor(rdev));
	if (!read_file_max(path, 64, &b, &len)) {
		b[len] = '\0';
		size = strtoull((char *)b, NULL, 10);
		free(b);
	}
	return size;
}

/* /sys/block/nbdN: 1 free (not connected, no size), 0 in use, -ENOENT no such device. */
static int nbd_free(unsigned n, dev_t *rdev)
{
	char path[64];
	unsigned maj, min;

	snprintf(path, sizeof(path), "/sys/block/nbd%u/dev", n);
	if (read_devt_file(path, &maj, &min))
		return -ENOENT;
	*rdev = makedev(maj, min);
	snprintf(path, sizeof(path), "/sys/block/nbd%u/pid", n);
	if (!access(path, F_OK))
		return 0;
	return sysfs_sectors(*rdev) == 0;
}

int nbd_attach(const char *image, const char *format, char *dev, size_t len, dev_t *rdev,
	       char *err, size_t errlen)
{
	char fmtarg[48], conn[300], *out, *emsg;
	char *argv[8];
	unsigned n;
	int r = -EBUSY;

	if (access("/sys/block/nbd0", F_OK)) {
		char *mp[] = { "modprobe", "nbd", NULL };

		r = run_cmd(mp, &out, &emsg);
		free(out);
		free(emsg);
		if (access("/sys/block/nbd0", F_OK)) {
			snprintf(err, errlen, "no NBD devices (modprobe nbd failed)");
			return -ENODEV;
		}
	}
	snprintf(fmtarg, sizeof(fmtarg), "--format=%s", format);
	for (n = 0;; n++) {
		dev_t d;
		int fr = nbd_free(n, &d);

		if (fr == -ENOENT)
			break;
		if (fr != 1)
			continue;
		r = blkdev_node(d, dev, len);
		if (r)
			break;
		snprintf(conn, sizeof(conn), "--connect=%s", dev);
		argv[0] = "qemu-nbd";
		argv[1] = QNBD_MARK;
		argv[2] = fmtarg;
		argv[3] = "--discard=unmap";
		argv[4] = conn;
		argv[5] = (char *)image;
		argv[6] = NULL;
		r = run_cmd(argv, &out, &emsg);
		if (r == 0) {
			unsigned waited;

			free(out);
			free(emsg);
			/*
			 * qemu-nbd's parent exits once the device is set up; the
			 * kernel sets the size when the connection starts.
			 */
			for (waited = 0; (!nbd_pid(d) || !sysfs_sectors(d)) && waited < 10000; waited += 50)
				msleep(50);
			if (!nbd_pid(d) || !sysfs_sectors(d)) {
				snprintf(err, errlen, "qemu-nbd exited but %s is not connected", dev);
				return -EIO;
			}
			*rdev = d;
			return 0;
		}
		if (r < 0) {
			snprintf(err, errlen, "cannot run qemu-nbd: %s", strerror(-r));
			return r;
		}
		if (r == 127) {
			free(out);
			free(emsg);
			snprintf(err, errlen, "qemu-nbd not found (install qemu-utils)");
			return -ENOENT;
		}
		first_line(emsg, err, errlen);
		/* another process took the device first: try the next one */
		r = strstr(emsg, "busy") || strstr(emsg, "Busy") ? -EBUSY : -EIO;
		free(out);
		free(emsg);
		if (r != -EBUSY)
			return r;
	}
	if (r == -EBUSY)
		snprintf(err, errlen, "no free NBD device (modprobe nbd nbds_max=N for more)");
	return r;
}

/* Thread group of a task; 0 if gone. */
static pid_t tgid_of(pid_t pid)
{
	char path[64], line[128];
	pid_t tgid = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fp = fopen(path, "re");
	if (!fp)
		return 0;
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "Tgid: %d", &tgid) == 1)
			break;
	fclose(fp);
	return tgid;
}

/* Gone or a zombie (the image closed). */
static bool proc_gone(pid_t pid)
{
	char path[64], line[128];
	bool gone = true;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fp = fopen(path, "re");
	if (!fp)
		return true;
	while (fgets(line, sizeof(line), fp))
		if (!strncmp(line, "State:", 6)) {
			gone = strchr(line, 'Z') || strchr(line, 'X');
			break;
		}
	fclose(fp);
	return gone;
}

int nbd_detach(dev_t rdev)
{
	char img[4096], fmt[32], dev[300], *out, *emsg;
	char *argv[4];
	unsigned waited;
	pid_t pid, tgid;
	int r;

	pid = is_nbd(rdev) ? nbd_pid(rdev) : 0;
	if (!pid || !qnbd_ours(pid, img, sizeof(img), fmt, sizeof(fmt)))
		return 0;
	tgid = tgid_of(pid);
	r = blkdev_node(rdev, dev, sizeof(dev));
	if (r)
		return r;
	argv[0] = "qemu-nbd";
	argv[1] = "--disconnect";
	argv[2] = dev;
	argv[3] = NULL;
	r = run_cmd(argv, &out, &emsg);
	if (r) {
		if (r > 0)
			errmsg("qemu-nbd --disconnect %s: %s", dev, emsg && *emsg ? emsg : "failed");
		free(out);
		free(emsg);
		return r < 0 ? r : -EIO;
	}
	free(out);
	free(emsg);
	/* qemu-nbd flushes and closes the image when it exits */
	for (waited = 0; tgid && !proc_gone(tgid) && waited < 30000; waited += 50)
		msleep(50);
	if (tgid && !proc_gone(tgid))
		return -ETIMEDOUT;
	info("disconnected %s (%s, %s)", dev, img, fmt);
	return 1;
}
