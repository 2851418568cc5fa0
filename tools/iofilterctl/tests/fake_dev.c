// SPDX-License-Identifier: GPL-2.0
/*
 * Fake devices for the unit tests: replaces dm.c (device-mapper: create,
 * reload, resume, remove, with the iofilter target's constructor), loop.c
 * (loop devices over the test's images, autoclear), qnbd.c (the fake
 * system has raw images only) and bpf.c (pins in memory, with fake.bpf).
 * The volumes are fake_sys.c's (fake_int.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "../bpf.h"
#include "../dm.h"
#include "../loop.h"
#include "../qnbd.h"
#include "../sha256.h"
#include "../util.h"
#include "fake.h"
#include "fake_int.h"

/* ---- device-mapper ---- */

void dmx_init(void)
{
}

void dmx_exit(void)
{
}

const char *dmx_error(void)
{
	return "";
}

int dmx_info(const char *name, struct dmx_info *info)
{
	struct fvol *v = vol_by_name(name, false);

	memset(info, 0, sizeof(*info));
	if (!v || !v->dm)
		return 0;
	info->exists = true;
	info->live_table = v->live;
	info->inactive_table = v->inactive;
	info->suspended = v->suspended;
	info->open_count = v->open_count;
	info->major = 253;
	info->minor = v->minor;
	return 0;
}

int dmx_table(const char *name, uint64_t *sectors, char **type, char **params)
{
	struct fvol *v = vol_by_name(name, false);

	if (!v || !v->dm)
		return -ENXIO;
	if (!v->live)
		return -ENODATA;
	*sectors = v->sectors;
	*type = xstrdup(v->dm_type);
	*params = xstrdup(v->dm_params);
	return 0;
}

/* The target's constructor: parse "<maj:min> <name>", register the volume. */
static int ctr(struct fvol *v, const char *params)
{
	unsigned maj, min;
	char name[IOF_NAME_LEN + 1];

	if (sscanf(params, "%u:%u %64s", &maj, &min, name) != 3 || strcmp(name, v->name))
		return -EINVAL;
	v->origin_major = maj;
	v->origin_minor = min;
	return 0;
}

int dmx_create(const char *name, uint64_t sectors, const char *params)
{
	size_t i;
	int r;

	if (vol_by_name(name, false))
		return -EEXIST;
	for (i = 0; i < MAX_VOLS && (vols[i].dm || vols[i].exists); i++)
		;
	memset(&vols[i], 0, sizeof(vols[i]));
	snprintf(vols[i].name, sizeof(vols[i].name), "%s", name);
	vols[i].dm = true;
	vols[i].minor = (unsigned)i;
	snprintf(vols[i].dm_type, sizeof(vols[i].dm_type), "iofilter");
	vols[i].dflt.action = IOF_ACTION_PASS;
	r = ctr(&vols[i], params);
	if (r) {
		vols[i].dm = false;
		return r;
	}
	vols[i].inactive = true;
	vols[i].suspended = true;
	vols[i].inactive_sectors = sectors;
	vols[i].vsectors = sectors;
	snprintf(vols[i].inactive_params, sizeof(vols[i].inactive_params), "%s", params);
	if (!fake.register_at_resume)
		vols[i].exists = true;
	flog("dm-create %s %llu %s", name, (unsigned long long)sectors, params);
	return 0;
}

int dmx_reload(const char *name, uint64_t sectors, const char *params)
{
	struct fvol *v = vol_by_name(name, false);

	if (!v || !v->dm)
		return -ENXIO;
	if (ctr(v, params))
		return -EINVAL;
	v->inactive = true;
	v->inactive_sectors = sectors;
	if (sectors > v->vsectors)
		v->vsectors = sectors;
	snprintf(v->inactive_params, sizeof(v->inactive_params), "%s", params);
	flog("dm-reload %s %llu", name, (unsigned long long)sectors);
	return 0;
}

int dmx_resume(const char *name)
{
	struct fvol *v = vol_by_name(name, false);

	if (!v || !v->dm)
		return -ENXIO;
	if (v->inactive) {
		v->live = true;
		v->inactive = false;
		v->sectors = v->vsectors = v->inactive_sectors;
		snprintf(v->dm_params, sizeof(v->dm_params), "%s", v->inactive_params);
	}
	v->suspended = false;
	v->exists = true;
	flog("dm-resume %s", name);
	return 0;
}

int dmx_remove(const char *name)
{
	struct fvol *v = vol_by_name(name, false);

	if (!v || !v->dm)
		return -ENXIO;
	if (v->open_count)
		return -EBUSY;
	/* Autoclear: the loop device goes with its last opener. */
	if (v->origin_major == 7 && v->origin_minor < MAX_LOOPS)
		loops[v->origin_minor].used = false;
	vol_drop(v);
	flog("dm-remove %s", name);
	return 0;
}

/* ---- loop devices ---- */

int loop_find(const struct stat *img, char *dev, size_t len, dev_t *rdev)
{
	size_t i;

	for (i = 0; i < MAX_LOOPS; i++)
		if (loops[i].used && loops[i].img_dev == img->st_dev && loops[i].img_ino == img->st_ino) {
			snprintf(dev, len, "/dev/loop%zu", i);
			*rdev = makedev(7, (unsigned)i);
			return 1;
		}
	return 0;
}

int loop_attach(const char *image, char *dev, size_t len, dev_t *rdev, int *holdfd)
{
	struct stat st;
	size_t i;

	if (stat(image, &st) < 0)
		return -errno;
	for (i = 0; i < MAX_LOOPS && loops[i].used; i++)
		;
	if (i == MAX_LOOPS)
		return -EBUSY;
	loops[i].used = true;
	loops[i].img_dev = st.st_dev;
	loops[i].img_ino = st.st_ino;
	loops[i].size = (uint64_t)st.st_size & ~511ULL;
	snprintf(loops[i].path, sizeof(loops[i].path), "%s", image);
	snprintf(dev, len, "/dev/loop%zu", i);
	*rdev = makedev(7, (unsigned)i);
	*holdfd = -1;
	flog("loop-attach %s /dev/loop%zu", image, i);
	return 0;
}

void loop_release(int holdfd)
{
	(void)holdfd;
}

int loop_backs(dev_t rdev, const struct stat *img)
{
	unsigned m = minor(rdev);

	return major(rdev) == 7 && m < MAX_LOOPS && loops[m].used && loops[m].img_dev == img->st_dev &&
	       loops[m].img_ino == img->st_ino;
}

int loop_set_capacity(dev_t rdev)
{
	unsigned m = minor(rdev);
	struct stat st;

	if (major(rdev) != 7 || m >= MAX_LOOPS || !loops[m].used)
		return -ENXIO;
	if (stat(loops[m].path, &st) < 0)
		return -errno;
	loops[m].size = (uint64_t)st.st_size & ~511ULL;
	flog("loop-capacity /dev/loop%u", m);
	return 0;
}

int loop_backing_file(dev_t rdev, char *buf, size_t len)
{
	unsigned m = minor(rdev);

	if (major(rdev) != 7 || m >= MAX_LOOPS || !loops[m].used)
		return -ENOENT;
	snprintf(buf, len, "%s", loops[m].path);
	return 0;
}

int blkdev_path(dev_t rdev, char *buf, size_t len)
{
	if (major(rdev) == 7)
		snprintf(buf, len, "/dev/loop%u", minor(rdev));
	else
		snprintf(buf, len, "/dev/fake%u_%u", major(rdev), minor(rdev));
	return 0;
}

int blkdev_size(const char *path, uint64_t *size)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	*size = (uint64_t)st.st_size;
	return 0;
}

int blkdev_size_rdev(dev_t rdev, uint64_t *size)
{
	unsigned m = minor(rdev);

	if (major(rdev) != 7 || m >= MAX_LOOPS || !loops[m].used)
		return -ENXIO;
	*size = loops[m].size;
	return 0;
}

/* ---- images through qemu-nbd: the fake system has raw images only ---- */

int image_probe(const char *path, const char *format, struct image_info *ii, char *err,
		size_t errlen)
{
	struct stat st;

	memset(ii, 0, sizeof(*ii));
	if (format && strcmp(format, "raw")) {
		snprintf(err, errlen, "Image is not in %s format", format);
		return -EINVAL;
	}
	if (stat(path, &st) < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -errno;
	}
	snprintf(ii->format, sizeof(ii->format), "raw");
	ii->size = (uint64_t)st.st_size;
	return 0;
}

bool is_nbd(dev_t rdev)
{
	return major(rdev) == 43;
}

int nbd_find(const struct stat *img, char *dev, size_t len, dev_t *rdev)
{
	(void)img, (void)dev, (void)len, (void)rdev;
	return 0;
}

int nbd_backs(dev_t rdev, const struct stat *img)
{
	(void)rdev, (void)img;
	return 0;
}

int nbd_attach(const char *image, const char *format, char *dev, size_t len, dev_t *rdev,
	       char *err, size_t errlen)
{
	(void)image, (void)format, (void)dev, (void)len, (void)rdev;
	snprintf(err, errlen, "no NBD devices in the fake system");
	return -ENODEV;
}

int nbd_detach(dev_t rdev)
{
	(void)rdev;
	return 0;
}

int nbd_backing_file(dev_t rdev, char *buf, size_t len, char *fmt, size_t fmtlen)
{
	(void)rdev, (void)buf, (void)len, (void)fmt, (void)fmtlen;
	return -ENOENT;
}

/*
 * ---- bpf.c: without fake.bpf the fake kernel has no BPF; with it, a
 * program "attaches" and stays pinned until unpinned, and the log names
 * the start of the loaded bytes' digest.
 */

#define MAX_PINS 16

static struct fpin {
	bool used;
	char vol[IOF_NAME_LEN], inst[IOF_NAME_LEN];
	uint64_t key;
} pins[MAX_PINS];

void fake_bpf_reset(void)
{
	memset(pins, 0, sizeof(pins));
}

int fake_bpf_pinned(void)
{
	int i, n = 0;

	for (i = 0; i < MAX_PINS; i++)
		n += pins[i].used;
	return n;
}

static struct fpin *pin_find(const char *vol, const char *inst, uint64_t key)
{
	int i;

	for (i = 0; i < MAX_PINS; i++)
		if (pins[i].used && !strcmp(pins[i].vol, vol) && !strcmp(pins[i].inst, inst) &&
		    pins[i].key == key)
			return &pins[i];
	return NULL;
}

int bpf_attach(const char *vol, const char *inst, uint64_t key, const char *obj,
	       const void *img, size_t len, char **why)
{
	char hex[SHA256_HEX_LEN + 1];
	int i;

	sha256_hex(img, len, hex);
	flog("bpf attach %s/%s key %llu %s sha256 %.12s", vol, inst, (unsigned long long)key, obj,
	     hex);
	if (!fake.bpf) {
		*why = xstrdup("no BPF in the fake kernel");
		return -EOPNOTSUPP;
	}
	for (i = 0; i < MAX_PINS && pins[i].used; i++)
		;
	if (i == MAX_PINS) {
		*why = xstrdup("fake BPF: too many pins");
		return -ENOSPC;
	}
	pins[i].used = true;
	snprintf(pins[i].vol, sizeof(pins[i].vol), "%s", vol);
	snprintf(pins[i].inst, sizeof(pins[i].inst), "%s", inst);
	pins[i].key = key;
	return 0;
}

bool bpf_attached(const char *vol, const char *inst, uint64_t key)
{
	return pin_find(vol, inst, key) != NULL;
}

void bpf_unpin_key(const char *vol, const char *inst, uint64_t key)
{
	struct fpin *p = pin_find(vol, inst, key);

	if (p) {
		flog("bpf unpin %s/%s key %llu", vol, inst, (unsigned long long)key);
		p->used = false;
	}
}

void bpf_unpin(const char *vol, const char *inst, uint64_t keep)
{
	int i;

	for (i = 0; i < MAX_PINS; i++)
		if (pins[i].used && !strcmp(pins[i].vol, vol) && !strcmp(pins[i].inst, inst) &&
		    (!keep || pins[i].key != keep))
			bpf_unpin_key(vol, inst, pins[i].key);
}

void bpf_unpin_volume(const char *vol, const char *const *names, size_t n)
{
	size_t j;
	int i;

	for (i = 0; i < MAX_PINS; i++) {
		if (!pins[i].used || strcmp(pins[i].vol, vol))
			continue;
		for (j = 0; j < n && strcmp(names[j], pins[i].inst); j++)
			;
		if (j == n)
			bpf_unpin_key(vol, pins[i].inst, pins[i].key);
	}
}

char *bpf_status_words(const char *vol, const char *inst, uint64_t key)
{
	return xstrdup(bpf_attached(vol, inst, key) ? "prog_id=1 link_id=1 maps=-" : "prog_id=none");
}

/* An attached program has one array map "hist": entry 3 counts 5, entry 7 counts 2 */
int bpf_map_dumps(const char *vol, const char *inst, uint64_t key, struct bpf_map_dump **maps,
		  size_t *n)
{
	struct bpf_map_dump *d;

	*maps = NULL;
	*n = 0;
	if (!bpf_attached(vol, inst, key))
		return -ENOENT;
	d = *maps = xcalloc(2, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "hist");
	snprintf(d->type, sizeof(d->type), "array");
	d->id = 7;
	d->max_entries = 384;
	d->key_size = 4;
	d->value_size = 8;
	d->e = xcalloc(2, sizeof(*d->e));
	d->e[0] = (struct bpf_kv){ .knum = true, .vnum = true, .k = 3, .v = 5 };
	d->e[1] = (struct bpf_kv){ .knum = true, .vnum = true, .k = 7, .v = 2 };
	d->n = 2;
	d++;
	snprintf(d->name, sizeof(d->name), "samples");
	snprintf(d->type, sizeof(d->type), "ringbuf");
	d->id = 8;
	d->max_entries = 4096;
	d->skipped = "not an array or hash map";
	*n = 2;
	return 0;
}
