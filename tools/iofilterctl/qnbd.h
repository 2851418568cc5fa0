/* SPDX-License-Identifier: GPL-2.0 */
/*
 * iofilterctl: disk images in formats other than raw (qcow2, vmdk, ...),
 * served by qemu-nbd on a local /dev/nbdN.  The format is qemu's business:
 * "qemu-img info" reads it and qemu-nbd serves it; nothing here parses an
 * image.  Calls return 0 or -errno.
 */
#ifndef IOFCTL_QNBD_H
#define IOFCTL_QNBD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

struct image_info {
	char format[32];	/* qemu's name: raw, qcow2, ... */
	uint64_t size;		/* virtual size in bytes */
	bool backing;		/* has a backing file */
};

/*
 * "qemu-img info" of path, with format (NULL: qemu detects it).  On failure
 * err holds qemu-img's message (or why it could not run).
 */
int image_probe(const char *path, const char *format, struct image_info *ii, char *err,
		size_t errlen);

/* Is rdev an NBD device?  (The block major of nbd.) */
bool is_nbd(dev_t rdev);
/* An NBD device served by a qemu-nbd that iofilterctl started for img: 1, none: 0. */
int nbd_find(const struct stat *img, char *dev, size_t len, dev_t *rdev);
/* Does such a qemu-nbd serve img on rdev?  1 yes, 0 no. */
int nbd_backs(dev_t rdev, const struct stat *img);
/*
 * Serve image (in format) on a free /dev/nbdN with "qemu-nbd --connect";
 * loads the nbd module when needed.  err: qemu-nbd's message on failure.
 */
int nbd_attach(const char *image, const char *format, char *dev, size_t len, dev_t *rdev,
	       char *err, size_t errlen);
/*
 * Disconnect rdev and wait for its qemu-nbd to exit (the image closed),
 * when iofilterctl attached it: 1 done, 0 not ours (left alone).
 */
int nbd_detach(dev_t rdev);
/* The image (and its format) that iofilterctl's qemu-nbd serves on rdev, or -ENOENT. */
int nbd_backing_file(dev_t rdev, char *buf, size_t len, char *fmt, size_t fmtlen);

#endif
