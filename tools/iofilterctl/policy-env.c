// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl policy: policy_check_env(), the checks against the system.
 * Origins exist and are what they claim (block device, or an image file in
 * a format iofilterctl serves: raw through a loop device, others through
 * qemu-nbd), their sizes against the rules' ranges, no origin used twice,
 * bpf programs and key files.  Only stat()s and reads; never changes the
 * system.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "loop.h"
#include "qnbd.h"
#include "policy.h"
#include "policy-int.h"
#include "util.h"

/*
 * The format of an image already attached the way apply attaches images:
 * raw when a loop device backs it, the format its qemu-nbd was started
 * with (and the size it serves) when iofilterctl's qemu-nbd serves it.
 */
static bool attached_format(const struct stat *st, struct image_info *ii)
{
	char dev[300], path[4096];
	dev_t rdev;

	if (loop_find(st, dev, sizeof(dev), &rdev) == 1) {
		snprintf(ii->format, sizeof(ii->format), "raw");
		return true;
	}
	if (nbd_find(st, dev, sizeof(dev), &rdev) == 1 &&
	    !nbd_backing_file(rdev, path, sizeof(path), ii->format, sizeof(ii->format)) &&
	    ii->format[0] && !blkdev_size_rdev(rdev, &ii->size))
		return true;
	memset(ii, 0, sizeof(*ii));
	return false;
}

/*
 * An image file: raw goes through a loop device; another format (qemu's
 * "qemu-img info" tells which, unless "format:" names it) through
 * qemu-nbd, with the image's virtual size.
 */
static void check_image(struct pctx *c, struct pvolume *v, const struct stat *st)
{
	struct image_info ii;
	char emsg[256];
	size_t i;
	int r;

	memset(&ii, 0, sizeof(ii));
	if (v->format && !strcmp(v->format, "raw")) {
		snprintf(ii.format, sizeof(ii.format), "raw");
	} else if (!v->format && attached_format(st, &ii)) {
		/*
		 * Already attached (a live volume): keep what it is, do not
		 * probe again (a guest may have written a header into its raw
		 * disk since, and qemu-img is slow to start).
		 */
	} else {
		r = image_probe(v->path, v->format, &ii, emsg, sizeof(emsg));
		if (r) {
			ERR(c, v->format ? v->format_m : v->origin_m,
			    r == -ENOENT && !v->format ? "or name the format: \"format: raw\"" : NULL,
			    "image %s: %s", Q(v->origin), emsg);
			return;
		}
	}
	for (i = 0; image_formats[i] && strcmp(image_formats[i], ii.format); i++)
		;
	if (!image_formats[i]) {
		ERR(c, v->origin_m, "name the format with \"format:\" if qemu-img guessed wrong",
		    "image %s is in format %s, which iofilterctl does not serve", Q(v->origin),
		    Q(ii.format));
		return;
	}
	/* a guest can write an image header into a raw image: probing must not follow it */
	if (!v->format && ii.backing) {
		ERR(c, v->origin_m, "name the format (format: ...) if the backing file is meant",
		    "image %s looks like %s with a backing file; not opened by a guess",
		    Q(v->origin), ii.format);
		return;
	}
	if (!strcmp(ii.format, "raw"))
		ii.size = (uint64_t)st->st_size;
	if (ii.size < 512) {
		ERR(c, v->origin_m, NULL, "image %s is smaller than 512 bytes", Q(v->origin));
		return;
	}
	v->origin_exists = true;
	v->origin_size = ii.size & ~511ULL;
	v->img_dev = st->st_dev;
	v->img_ino = st->st_ino;
	snprintf(v->img_format, sizeof(v->img_format), "%s", ii.format);
	v->via_nbd = strcmp(ii.format, "raw");
}

/* A volume's origin: it exists (if req), of the right kind, with a size. */
static void check_origin(struct pctx *c, struct pvolume *v, bool req)
{
	struct stat st;
	int r;

	if (!v->path)
		return;
	if (stat(v->path, &st) < 0) {
		if (errno != ENOENT || req)
			ERR(c, v->origin_m, NULL, "%s %s: %s", v->is_image ? "image" : "device",
			    Q(v->origin), strerror(errno));
	} else if (v->is_image) {
		if (!S_ISREG(st.st_mode)) {
			ERR(c, v->origin_m, "use \"device:\" for block devices",
			    "image %s is not a regular file", Q(v->origin));
		} else {
			check_image(c, v, &st);
		}
	} else if (!S_ISBLK(st.st_mode)) {
		ERR(c, v->origin_m, S_ISREG(st.st_mode) ? "use \"image:\" for files" : NULL,
		    "device %s is not a block device", Q(v->origin));
	} else if ((r = blkdev_size(v->path, &v->origin_size)) < 0) {
		if (req)
			ERR(c, v->origin_m, NULL, "device %s: cannot read its size: %s",
			    Q(v->origin), strerror(-r));
	} else if (!v->origin_size) {
		ERR(c, v->origin_m, NULL, "device %s has no size (a loop device with no file?)",
		    Q(v->origin));
	} else {
		v->origin_exists = true;
		v->origin_rdev = st.st_rdev;
	}
}

/* Volume vi's existing origin is no earlier volume's (same file or same device). */
static void check_origin_unique(struct pctx *c, const struct policy *p, size_t vi)
{
	const struct pvolume *v = &p->vols[vi];
	size_t j;

	for (j = 0; j < vi; j++) {
		const struct pvolume *w = &p->vols[j];

		if (!w->origin_exists || w->is_image != v->is_image)
			continue;
		if (v->is_image ? (w->img_dev == v->img_dev && w->img_ino == v->img_ino)
				: w->origin_rdev == v->origin_rdev) {
			ERR(c, v->origin_m, NULL, "%s is the same %s as the origin of volume %s",
			    Q(v->origin), v->is_image ? "file" : "device", Q(w->name ? w->name : ""));
			break;
		}
	}
}

/* The rules' ranges lie within the volume's existing origin. */
static void check_ranges(struct pctx *c, const struct pvolume *v)
{
	char b1[32], b2[32];
	size_t i;

	for (i = 0; i < v->nrules; i++) {
		const struct prule *r = &v->rules[i];

		if (!r->has_range)
			continue;
		if (r->start >= v->origin_size)
			ERR(c, r->range_m, NULL, "range starts at %s, beyond the end of %s (%s)",
			    fmt_size(r->start, b1, sizeof(b1)), Q(v->origin),
			    fmt_size(v->origin_size, b2, sizeof(b2)));
		else if (r->len && r->start + r->len > v->origin_size)
			ERR(c, r->range_m, NULL, "range ends at %s, beyond the end of %s (%s)",
			    fmt_size(r->start + r->len, b1, sizeof(b1)), Q(v->origin),
			    fmt_size(v->origin_size, b2, sizeof(b2)));
	}
}

/* A filter's key file: exists (if req), a regular file of 1..IOF_MAX_SECRET_LEN bytes, private. */
static void check_key_file(struct pctx *c, const struct pfilter *f, bool req)
{
	struct stat st;

	if (stat(f->key_file, &st) < 0) {
		if (errno != ENOENT || req)
			ERR(c, f->key_file_m, NULL, "key file %s: %s", Q(f->key_file), strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		ERR(c, f->key_file_m, NULL, "key file %s is not a regular file", Q(f->key_file));
		return;
	}
	if (st.st_size == 0)
		ERR(c, f->key_file_m, NULL, "key file %s is empty", Q(f->key_file));
	else if (st.st_size > IOF_MAX_SECRET_LEN)
		ERR(c, f->key_file_m, NULL, "key file %s is %lld bytes; at most %d",
		    Q(f->key_file), (long long)st.st_size, IOF_MAX_SECRET_LEN);
	if (st.st_mode & (S_IRGRP | S_IROTH)) {
		char hint[300];

		snprintf(hint, sizeof(hint), "chmod 600 %s", f->key_file);
		WARN(c, f->key_file_m, hint, "key file %s is readable by %s (mode %04o)",
		     Q(f->key_file),
		     (st.st_mode & S_IRGRP) && (st.st_mode & S_IROTH) ? "group and others" :
		     (st.st_mode & S_IRGRP) ? "group" : "others",
		     (unsigned)(st.st_mode & 07777));
	}
}

/* A volume's filters: their bpf programs and key files. */
static void check_filter_files(struct pctx *c, const struct pvolume *v, bool req)
{
	struct stat st;
	size_t i;

	for (i = 0; i < v->nfilters; i++) {
		const struct pfilter *f = &v->filters[i];

		/* bpf: the object iofilterctl loads after creating the instance */
		if (f->program && stat(f->program, &st) < 0) {
			if (errno != ENOENT || req)
				ERR(c, f->program_m, NULL, "program %s: %s", Q(f->program),
				    strerror(errno));
		} else if (f->program && !S_ISREG(st.st_mode)) {
			ERR(c, f->program_m, NULL, "program %s is not a regular file", Q(f->program));
		}
		if (f->key_file)
			check_key_file(c, f, req);
	}
}

unsigned policy_check_env(struct policy *p, unsigned flags, struct diags *d)
{
	struct pctx c = { .d = d, .p = p };
	unsigned before = d->nerr;
	bool req = flags & POLICY_ENV_REQUIRE;
	size_t vi;

	for (vi = 0; vi < p->nvols; vi++) {
		struct pvolume *v = &p->vols[vi];

		check_origin(&c, v, req);
		if (v->origin_exists) {
			check_origin_unique(&c, p, vi);
			check_ranges(&c, v);
		}
		check_filter_files(&c, v, req);
	}
	return d->nerr - before;
}
