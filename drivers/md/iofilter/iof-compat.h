/* SPDX-License-Identifier: GPL-2.0 */
/*
 * iofilter: every kernel-version shim in one place.
 *
 * The HAVE_* macros come from compile probes (scripts/compat/<name>.c, run by
 * scripts/compat-probe.sh for each kernel we build against), never from
 * LINUX_VERSION_CODE: distribution kernels backport API changes.
 */
#ifndef IOF_COMPAT_H
#define IOF_COMPAT_H

#include <linux/blkdev.h>
#include <linux/fs.h>
#include <linux/iofilter.h>

#include "iof-compat-gen.h"

/*
 * Opening a block device by path.
 *  <= 6.4: blkdev_get_by_path(path, fmode_t, holder), blkdev_put(bdev, mode)
 *  6.5-6.6: blkdev_get_by_path(path, blk_mode_t, holder, hops),
 *           blkdev_put(bdev, holder)
 *  6.7-6.8: bdev_open_by_path() -> struct bdev_handle, bdev_release()
 *  >= 6.9: bdev_file_open_by_path() -> struct file, fput()
 */
static inline int iof_compat_bdev_open(const char *path, bool write,
				       void *holder, struct iofilter_bdev *ib)
{
#if defined(HAVE_BDEV_FILE_OPEN_BY_PATH)
	struct file *f = bdev_file_open_by_path(path,
			BLK_OPEN_READ | (write ? BLK_OPEN_WRITE : 0),
			holder, NULL);

	if (IS_ERR(f))
		return PTR_ERR(f);
	ib->handle = f;
	ib->bdev = file_bdev(f);
#elif defined(HAVE_BDEV_OPEN_BY_PATH)
	struct bdev_handle *h = bdev_open_by_path(path,
			BLK_OPEN_READ | (write ? BLK_OPEN_WRITE : 0),
			holder, NULL);

	if (IS_ERR(h))
		return PTR_ERR(h);
	ib->handle = h;
	ib->bdev = h->bdev;
#elif defined(HAVE_BLKDEV_GET_BY_PATH_HOLDER_OPS)
	struct block_device *b = blkdev_get_by_path(path,
			BLK_OPEN_READ | (write ? BLK_OPEN_WRITE : 0),
			holder, NULL);

	if (IS_ERR(b))
		return PTR_ERR(b);
	ib->handle = holder;
	ib->bdev = b;
#elif defined(HAVE_BLKDEV_GET_BY_PATH_FMODE)
	fmode_t mode = FMODE_READ | (write ? FMODE_WRITE : 0) |
		       (holder ? FMODE_EXCL : 0);
	struct block_device *b = blkdev_get_by_path(path, mode, holder);

	if (IS_ERR(b))
		return PTR_ERR(b);
	ib->handle = (void *)(__force unsigned long)mode;
	ib->bdev = b;
#else
#error "iofilter: no known API to open a block device by path"
#endif
	return 0;
}

static inline void iof_compat_bdev_close(struct iofilter_bdev *ib)
{
#if defined(HAVE_BDEV_FILE_OPEN_BY_PATH)
	fput(ib->handle);
#elif defined(HAVE_BDEV_OPEN_BY_PATH)
	bdev_release(ib->handle);
#elif defined(HAVE_BLKDEV_GET_BY_PATH_HOLDER_OPS)
	blkdev_put(ib->bdev, ib->handle);
#elif defined(HAVE_BLKDEV_GET_BY_PATH_FMODE)
	blkdev_put(ib->bdev, (__force fmode_t)(unsigned long)ib->handle);
#endif
	ib->bdev = NULL;
	ib->handle = NULL;
}

/*
 * Asynchronous crypto completions.
 *  <= 6.2: void (*)(struct crypto_async_request *req, int err), data in
 *          req->data
 *  >= 6.3: void (*)(void *data, int err)
 * Declare a callback with IOF_CRYPTO_CALLBACK(name, arg) and get the
 * request's data pointer with iof_crypto_cb_data(arg).
 */
#include <linux/crypto.h>
#ifdef HAVE_CRYPTO_COMPLETION_DATA
#define IOF_CRYPTO_CALLBACK(fn, arg)	void fn(void *arg, int err)
#define iof_crypto_cb_data(arg)		(arg)
#else
#define IOF_CRYPTO_CALLBACK(fn, arg)	\
	void fn(struct crypto_async_request *arg, int err)
#define iof_crypto_cb_data(arg)		((arg)->data)
#endif

/*
 * BPF programs on a module function (the bpf filter type): fmod_ret needs
 * register_btf_fmodret_id_set() (6.12 has it; Debian's 6.1 does not) and
 * the module's own BTF (built only when the kernel headers ship a vmlinux:
 * Debian 6.12's do, 6.1's do not).
 */
#ifdef HAVE_REGISTER_BTF_FMODRET_ID_SET
#include <linux/btf.h>
#include <linux/btf_ids.h>
#define IOF_HAVE_BPF_FMODRET 1
static inline bool iof_compat_module_has_btf(struct module *mod)
{
#ifdef CONFIG_DEBUG_INFO_BTF_MODULES
	return mod && mod->btf_data_size;
#else
	return false;
#endif
}
#endif

/*
 * bio_set_dev() without its blkcg association (iof_map(): a chain of one
 * cache instance is associated where it leaves).  dm hands a clone over
 * unassociated (alloc_tio(): "target must bio_set_dev() before issuing
 * IO"); an association is an RCU section, a blkg reference dropped and one
 * taken, about 150 instructions.  The flag updates are bio_set_dev()'s of
 * <linux/bio.h>, identical in 6.1 and 6.12: compare it on a new kernel.
 */
static inline void bio_set_dev_unassociated(struct bio *bio,
					    struct block_device *bdev)
{
	bio_clear_flag(bio, BIO_REMAPPED);
	if (bio->bi_bdev != bdev)
		bio_clear_flag(bio, BIO_BPS_THROTTLED);
	bio->bi_bdev = bdev;
}

#endif /* IOF_COMPAT_H */
