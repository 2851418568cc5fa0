/* SPDX-License-Identifier: GPL-2.0 */
/*
 * iofilter "crypt": what its two files share.  Private to the module (the
 * filter API is include/linux/iofilter.h); the overview is at the top of
 * iof-crypt.c.
 */
#ifndef IOF_CRYPT_H
#define IOF_CRYPT_H

#include <crypto/skcipher.h>
#include <linux/bio.h>
#include <linux/cache.h>
#include <linux/iofilter.h>
#include <linux/mempool.h>
#include <linux/mutex.h>
#include <linux/scatterlist.h>
#include <linux/workqueue.h>


#define CRYPT_MAX_KEY		64
#define CRYPT_IV_SIZE		16
#define CRYPT_MIN_IOS		64
/* bounce pages kept for reuse per instance: see crypt_page_alloc() */
#define CRYPT_KEPT_PAGES	(2 * BIO_MAX_VECS)

struct crypt_cipher {
	const char *name;		/* as dm-crypt and policies say it */
	const char *alg;		/* crypto API algorithm */
	unsigned int key_sizes[3];	/* accepted key sizes, bytes */
};


struct crypt_stats {
	u64 reads;
	u64 writes;
	u64 read_bytes;
	u64 write_bytes;
	u64 deferred;		/* bios moved to the worker for want of memory */
	u64 offloaded;		/* bios of offload_size or more, to the worker */
	u64 spread;		/* smaller bios handed to the worker, see below */
	u64 async;		/* crypto requests that completed later */
	u64 discards_refused;	/* allow_discards=0 */
	u64 rejected;		/* misaligned or out-of-range bios */
	u64 errors;		/* crypto errors */
	/* not counters: ns per KiB converted on this CPU, moving average */
	u32 cost;
	u32 cost_tick;		/* conversions seen, to time one in 16 */
};

struct iof_crypt {
	struct iofilter_instance fi;	/* first: container_of */
	const struct crypt_cipher *cipher;
	struct crypto_skcipher *tfm;
	unsigned int key_bytes;
	unsigned int sector_size;
	unsigned int sector_shift;	/* log2(sector_size / 512) */
	sector_t offset;		/* 512-byte sectors */
	u64 iv_offset;			/* 512-byte sectors */
	bool iv_large_sectors;
	bool allow_discards;
	unsigned int offload_size;	/* bytes; 0: never offload */
	char key_desc[IOF_NAME_LEN + 8];	/* "logon:..." or "" */

	unsigned int req_size;		/* struct crypt_req + request + iv */
	unsigned int iv_off;		/* offset of the IV in it */
	mempool_t req_pool;
	mempool_t page_pool;
	struct iofilter_stash kept;	/* bounce pages kept for reuse */
	struct bio_set bs;		/* carrier bios: own the bounce bvecs */
	struct mutex alloc_lock;	/* see crypt_alloc_pages() */
	struct workqueue_struct *wq;
	struct crypt_stats __percpu *stats;

	/* written while spreading: away from the read-mostly fields above */
	atomic_t spreading ____cacheline_aligned_in_smp; /* not yet converted */
	bool overlap;			/* a bio came while some were spread */
	int spread_score;		/* < 0: spreading did not pay lately */
	unsigned int spread_tick;	/* bios considered, for probing */
};

/* Per-bio state, in the core's per-bio area for the crypt class */
struct crypt_io {
	struct iof_crypt *cc;
	struct bio *bio;
	struct bio *carrier;		/* write: owns the bounce pages */
	struct bio_vec *saved_vec;	/* write: the bio's own vector */
	struct bvec_iter iter;		/* the bio's iterator at map time */
	struct skcipher_request *req;	/* reusable, not in flight */
	u32 done;			/* bytes converted */
	atomic_t pending;		/* requests in flight + 1 */
	blk_status_t status;
	bool write;
	bool spread;			/* counted in cc->spreading */
	struct work_struct work;
};

static_assert(sizeof(struct crypt_io) <= IOFILTER_PB_SIZE);

/* What the request pool hands out: this, the skcipher request, the IV */
struct crypt_req {
	struct crypt_io *io;
	struct scatterlist sg_in;
	struct scatterlist sg_out;
	/* struct skcipher_request follows, aligned */
};

static inline struct iof_crypt *to_cc(struct iofilter_instance *fi)
{
	return container_of(fi, struct iof_crypt, fi);
}

/* kmalloc'ed, so aligned at least as much as a skcipher_request */
#define CR_HDR	ALIGN(sizeof(struct crypt_req), \
		      __alignof__(struct skcipher_request))

/* iof-crypt-io.c: the data path */
int crypt_map(struct iofilter_instance *fi, struct bio *bio, void *p,
	      blk_status_t *status);
int crypt_end_io(struct iofilter_instance *fi, struct bio *bio, void *p,
		 blk_status_t *status);
/* The bounce page mempool's alloc and free, over the instance's stash */
void *crypt_page_alloc(gfp_t gfp, void *data);
void crypt_page_free(void *element, void *data);

#endif /* IOF_CRYPT_H */
