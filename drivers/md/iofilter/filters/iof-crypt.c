// SPDX-License-Identifier: GPL-2.0
/*
 * iofilter "crypt": encrypt the ranges a policy sends it, on-disk
 * compatible with dm-crypt.
 *
 * Same format as a dm-crypt table
 *	0 <len> crypt <cipher> <key> <iv_offset> <origin> <offset>
 * over the same origin: sector s of the volume (s >= offset) holds the
 * sector (s - offset) of that dm-crypt device, encrypted with the IV of
 * sector (s - offset + iv_offset), counted in 512-byte sectors or, with
 * iv_large_sectors=1, in sector_size units (dm-crypt's option of the same
 * name).  Ciphers: aes-xts-plain64 (32- or 64-byte key) and
 * aes-cbc-essiv:sha256 (16, 24 or 32 bytes), through the crypto API's
 * "xts(aes)" and "essiv(cbc(aes),sha256)", so AES-NI or an accelerator is
 * used when there is one.
 *
 * Data path, per bio, with no workqueue hop where the crypto is synchronous
 * (dm-crypt's no_read_workqueue/no_write_workqueue behaviour):
 *  - write: map takes bounce pages from a mempool (GFP_NOWAIT; pages given
 *    back are kept for reuse, see crypt_page_alloc()), encrypts the
 *    data into them in the submitter's context and swaps them into the bio
 *    (the caller's pages are never changed), which then goes on down the
 *    chain; end_io gives the pages back and restores the bio's vector.
 *  - read: map remembers the bio's iterator; end_io decrypts in place in the
 *    completion context, or from a worker when that context is a hard
 *    interrupt.
 *  Asynchronous crypto (cryptd, an accelerator) completes through a
 *  callback that ends a read there and resumes a write from the worker
 *  (the rest of the chain may block); a full crypto queue or a failed
 *  atomic allocation moves the rest of the bio to the worker, which can
 *  sleep.
 *  Bios of offload_size bytes or more (default 256 KiB; 0: none) go to the
 *  worker on purpose: its workqueue is unbound, so large sequential I/O at
 *  a queue depth above one is converted on every CPU at once instead of
 *  only the submitter's (what dm-crypt's default kcryptd queue buys), while
 *  small I/O keeps the latency of the inline path.
 *  Smaller bios go there too when converting one takes longer than handing
 *  it to another CPU (spread_ns, module parameter; software AES, say) and
 *  the submitter does not wait for them (a queue depth above one): see
 *  crypt_spread().
 *
 * Reads and writes are capped at BIO_MAX_VECS pages (max_io_sectors: the
 * core cuts them) like dm-crypt's writes.  As with dm-crypt, discards
 * reach the origin only with allow_discards=1; otherwise the volume does
 * not advertise them (io_hints) and one that comes all the same (the
 * instance was created on a live volume, whose limits change at its next
 * reload) fails with BLK_STS_NOTSUPP, never reporting success for blocks
 * that still hold their data.  Write-zeroes and secure erase are never
 * advertised and get BLK_STS_NOTSUPP (zeroes on disk would not read back
 * as zeroes): blkdev_issue_zeroout() then writes zeroed pages, which are
 * encrypted.
 *
 * The rules that use an instance must cover whole crypto sectors at or
 * above offset (check_range, at table load): I/O outside them could only
 * fail.
 *
 * The key comes from the instance's secret (iofilterctl reads key_file) or
 * from the kernel keyring (key=logon:<description> or key=user:<...>).  It
 * is handed to the cipher and wiped; the crypto API keeps only the expanded
 * key in the transform, which crypto_free_skcipher() zeroes.  It is never
 * logged or shown.
 */
#include <crypto/skcipher.h>
#include <keys/user-type.h>
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/crypto.h>
#include <linux/iofilter.h>
#define IOF_BUILTIN_CRYPT
#include <shared/iofilter-builtin.h>
#include <linux/key.h>
#include <linux/mempool.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/scatterlist.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/workqueue.h>

#include "iof-compat.h"

#define CRYPT_MAX_KEY		64
#define CRYPT_IV_SIZE		16
#define CRYPT_MIN_IOS		64

struct crypt_cipher {
	const char *name;		/* as dm-crypt and policies say it */
	const char *alg;		/* crypto API algorithm */
	unsigned int key_sizes[3];	/* accepted key sizes, bytes */
};

/* In the order of cipher's choices in iof_crypt_params: the index */
static const struct crypt_cipher crypt_ciphers[] = {
	{ "aes-xts-plain64", "xts(aes)", { 32, 64 } },
	{ "aes-cbc-essiv:sha256", "essiv(cbc(aes),sha256)", { 16, 24, 32 } },
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

enum { CONV_DONE, CONV_RESUME };

static unsigned int spread_ns = 20000;
module_param(spread_ns, uint, 0644);
MODULE_PARM_DESC(spread_ns,
	"a bio whose conversion is expected to take at least this long (ns) may be converted by a worker on another CPU (default 20000; 0: never)");

static unsigned int spread_depth;
module_param(spread_depth, uint, 0644);
MODULE_PARM_DESC(spread_depth,
	"most bios of an instance spread to its workers at once (default 0: the number of online CPUs)");

#define SPREAD_SCORE_MAX	8
#define SPREAD_PROBE		256	/* when it did not pay: one bio in this many */

static inline struct iof_crypt *to_cc(struct iofilter_instance *fi)
{
	return container_of(fi, struct iof_crypt, fi);
}

/* kmalloc'ed, so aligned at least as much as a skcipher_request */
#define CR_HDR	ALIGN(sizeof(struct crypt_req), \
		      __alignof__(struct skcipher_request))

static inline struct skcipher_request *cr_req(struct crypt_req *cr)
{
	return (void *)cr + CR_HDR;
}

static inline struct crypt_req *req_cr(struct skcipher_request *req)
{
	return (void *)req - CR_HDR;
}

static inline u8 *cr_iv(struct iof_crypt *cc, struct crypt_req *cr)
{
	return (u8 *)cr + cc->iv_off;
}

static void crypt_rq_free(struct iof_crypt *cc, struct skcipher_request *req)
{
	if (req)
		mempool_free(req_cr(req), &cc->req_pool);
}

static void crypt_finish(struct crypt_io *io);
static void crypt_finish_work(struct work_struct *w);
static void crypt_spread_done(struct crypt_io *io);

/*
 * What converting @bytes took, synchronously, goes into this CPU's cost
 * (per CPU: a shared value written by every bio would bounce between them).
 * Preemption between the read and the write only loses a sample.
 */
static void crypt_cost(struct iof_crypt *cc, u64 ns, u32 bytes)
{
	u64 c = this_cpu_read(cc->stats->cost);
	u64 sample = div_u64(ns << 10, bytes);

	sample = min_t(u64, sample, U32_MAX);
	this_cpu_write(cc->stats->cost, c ? (c * 7 + sample) >> 3 : sample);
}

/* Completion of a request that went asynchronous in the fast path */
static IOF_CRYPTO_CALLBACK(crypt_done, data)
{
	struct crypt_req *cr = iof_crypto_cb_data(data);
	struct crypt_io *io = cr->io;
	struct iof_crypt *cc = io->cc;

	if (err == -EINPROGRESS)	/* out of a backlog: not the end */
		return;
	if (err) {
		WRITE_ONCE(io->status, BLK_STS_IOERR);
		this_cpu_inc(cc->stats->errors);
	}
	this_cpu_inc(cc->stats->async);
	mempool_free(cr, &cc->req_pool);
	if (!atomic_dec_and_test(&io->pending))
		return;
	if (io->write || in_hardirq() || irqs_disabled()) {
		/*
		 * A write goes on down the chain, which may block
		 * (iofilter_continue()): from the worker, not from this
		 * callback (cryptd runs it with bottom halves off).  A read
		 * decrypted from an accelerator's interrupt ends there too.
		 */
		INIT_WORK(&io->work, crypt_finish_work);
		queue_work(cc->wq, &io->work);
		return;
	}
	crypt_finish(io);
}

/*
 * Encrypt or decrypt what is left of the bio, one crypto sector at a time.
 * In the fast path (!can_sleep: map or end_io) nothing may sleep: a request
 * that cannot be had or queued returns CONV_RESUME with io->done where the
 * worker picks up.  In a worker, each request is waited for.
 */
static int crypt_convert(struct crypt_io *io, bool can_sleep)
{
	struct iof_crypt *cc = io->cc;
	unsigned int ss = cc->sector_size;
	struct bio_vec *vin, *vout;
	struct bvec_iter in, out;
	/* timing every bio would cost more than the hand-off decision needs */
	bool timed = !can_sleep && READ_ONCE(spread_ns) &&
		     !(this_cpu_inc_return(cc->stats->cost_tick) & 15);
	u64 t0 = timed ? ktime_get_ns() : 0;
	u32 done0 = io->done;
	bool went_async = false;
	DECLARE_CRYPTO_WAIT(wait);

	if (io->write) {
		vin = io->saved_vec;
		vout = io->carrier->bi_io_vec;
		in = io->iter;
		out = (struct bvec_iter){ .bi_size = io->iter.bi_size };
		bvec_iter_advance(vin, &in, io->done);
		bvec_iter_advance(vout, &out, io->done);
	} else {
		vin = vout = io->bio->bi_io_vec;
		in = io->iter;
		bvec_iter_advance(vin, &in, io->done);
		out = in;
	}

	while (in.bi_size) {
		struct bio_vec bv_in = bvec_iter_bvec(vin, in);
		struct bio_vec bv_out = bvec_iter_bvec(vout, out);
		sector_t s = io->iter.bi_sector + (io->done >> SECTOR_SHIFT);
		struct skcipher_request *req = io->req;
		struct crypt_req *cr;
		u64 ivs;
		int r;

		if (unlikely(bv_in.bv_len < ss || bv_out.bv_len < ss ||
			     (bv_in.bv_len & (ss - 1)))) {
			/* a sector across two pages: io_hints asks for none */
			io->status = BLK_STS_IOERR;
			this_cpu_inc(cc->stats->rejected);
			iofilter_err(&cc->fi,
				     "buffer not aligned to sector_size %u", ss);
			break;
		}
		if (!req) {
			cr = mempool_alloc(&cc->req_pool,
					   can_sleep ? GFP_NOIO : GFP_NOWAIT);
			if (!cr)
				return CONV_RESUME;
			req = cr_req(cr);
			skcipher_request_set_tfm(req, cc->tfm);
			io->req = req;
		}
		cr = req_cr(req);
		cr->io = io;

		sg_init_table(&cr->sg_in, 1);
		sg_set_page(&cr->sg_in, bv_in.bv_page, ss, bv_in.bv_offset);
		sg_init_table(&cr->sg_out, 1);
		sg_set_page(&cr->sg_out, bv_out.bv_page, ss, bv_out.bv_offset);

		/* plain64: the little-endian sector number, zero-padded */
		ivs = s - cc->offset + cc->iv_offset;
		if (cc->iv_large_sectors)
			ivs >>= cc->sector_shift;
		memset(cr_iv(cc, cr), 0, CRYPT_IV_SIZE);
		*(__le64 *)cr_iv(cc, cr) = cpu_to_le64(ivs);
		skcipher_request_set_crypt(req, &cr->sg_in, &cr->sg_out, ss,
					   cr_iv(cc, cr));

		atomic_inc(&io->pending);
		if (can_sleep) {
			skcipher_request_set_callback(req,
				CRYPTO_TFM_REQ_MAY_SLEEP |
				CRYPTO_TFM_REQ_MAY_BACKLOG,
				crypto_req_done, &wait);
			r = crypto_wait_req(io->write ?
					    crypto_skcipher_encrypt(req) :
					    crypto_skcipher_decrypt(req),
					    &wait);
		} else {
			skcipher_request_set_callback(req, 0, crypt_done, cr);
			r = io->write ? crypto_skcipher_encrypt(req) :
					crypto_skcipher_decrypt(req);
		}

		switch (r) {
		case 0:
			atomic_dec(&io->pending);
			break;
		case -EINPROGRESS:
			io->req = NULL;		/* the callback frees it */
			went_async = true;
			break;
		case -EBUSY:
		case -ENOSPC:
			/* queue full and no backlog: not queued */
			atomic_dec(&io->pending);
			return CONV_RESUME;
		default:
			atomic_dec(&io->pending);
			io->status = BLK_STS_IOERR;
			this_cpu_inc(cc->stats->errors);
			iofilter_err(&cc->fi, "%s failed: %d",
				     io->write ? "encryption" : "decryption", r);
			goto out;
		}
		io->done += ss;
		bvec_iter_advance(vin, &in, ss);
		bvec_iter_advance(vout, &out, ss);
	}
	if (timed && !went_async && io->done > done0)
		crypt_cost(cc, ktime_get_ns() - t0, io->done - done0);
out:
	crypt_rq_free(cc, io->req);
	io->req = NULL;
	return CONV_DONE;
}

/* ---- bounce pages ---- */

/*
 * Bounce pages given back are kept for reuse, up to CRYPT_KEPT_PAGES per
 * instance, behind the page mempool (its alloc and free functions): with
 * init_on_alloc (on by default in Debian's kernels, among others) a page
 * from the allocator is cleared before we get it, only to be overwritten
 * whole by the cipher; under emulation that clearing cost a sixth of a
 * 1 MiB write.  They only ever hold ciphertext.  The mempool's reserve
 * stays what guarantees progress: mempool_free() refills it before it
 * hands a page to crypt_page_free().
 */
#define CRYPT_KEPT_PAGES	(2 * BIO_MAX_VECS)

static void *crypt_page_alloc(gfp_t gfp, void *data)
{
	struct iof_crypt *cc = data;
	struct page *page = iofilter_stash_get(&cc->kept);

	return page ? page : alloc_page(gfp);
}

static void crypt_page_free(void *element, void *data)
{
	struct iof_crypt *cc = data;
	struct page *page = element;

	if (!iofilter_stash_put(&cc->kept, page_folio(page)))
		__free_page(page);
}

static void crypt_free_pages(struct iof_crypt *cc, struct bio *carrier)
{
	struct bio_vec *bv;
	struct bvec_iter_all iter_all;

	bio_for_each_segment_all(bv, carrier, iter_all)
		mempool_free(bv->bv_page, &cc->page_pool);
	bio_put(carrier);
}

/*
 * A carrier bio with bounce pages for @size bytes.  Without direct reclaim
 * this never sleeps and may fail; with it, it cannot fail, and alloc_lock
 * keeps two bios from each holding part of the pool while waiting for the
 * rest (dm-crypt's crypt_alloc_buffer()).
 */
static struct bio *crypt_alloc_pages(struct iof_crypt *cc, unsigned int size,
				     gfp_t gfp)
{
	unsigned int nr = DIV_ROUND_UP(size, PAGE_SIZE), i, len;
	struct bio *carrier;
	struct page *page;
	bool locked = gfp & __GFP_DIRECT_RECLAIM;

	if (locked)
		mutex_lock(&cc->alloc_lock);
	carrier = bio_alloc_bioset(NULL, nr, 0, gfp, &cc->bs);
	if (!carrier)
		goto out;
	for (i = 0; i < nr; i++) {
		page = mempool_alloc(&cc->page_pool, gfp);
		if (!page) {
			crypt_free_pages(cc, carrier);
			carrier = NULL;
			goto out;
		}
		len = min_t(unsigned int, size, PAGE_SIZE);
		__bio_add_page(carrier, page, len, 0);
		size -= len;
	}
out:
	if (locked)
		mutex_unlock(&cc->alloc_lock);
	return carrier;
}

/* The encrypted pages replace the bio's own on its way down */
static void crypt_swap_in(struct crypt_io *io)
{
	struct bio *bio = io->bio;

	bio->bi_io_vec = io->carrier->bi_io_vec;
	bio->bi_iter = (struct bvec_iter){
		.bi_sector = io->iter.bi_sector,
		.bi_size = io->iter.bi_size,
	};
}

static void crypt_release_write(struct crypt_io *io)
{
	if (!io->carrier)
		return;
	io->bio->bi_io_vec = io->saved_vec;
	io->bio->bi_iter = io->iter;
	crypt_free_pages(io->cc, io->carrier);
	io->carrier = NULL;
}

/* All requests of a bio done, outside map and end_io: resume the bio */
static void crypt_finish(struct crypt_io *io)
{
	blk_status_t st = READ_ONCE(io->status);

	if (!io->write) {
		iofilter_endio_continue(io->bio, st);
		return;
	}
	if (st) {
		crypt_release_write(io);
		iofilter_complete(io->bio, st);
		return;
	}
	crypt_swap_in(io);
	iofilter_continue(io->bio);
}

/*
 * The workers run on a WQ_MEM_RECLAIM queue: reclaim may be waiting for
 * the very bio they hold, so nothing allocated there, by us, the crypto
 * API or the rest of the chain iofilter_continue() runs, may recurse into
 * I/O.  The scope makes every allocation in it GFP_NOIO.
 */
static void crypt_finish_work(struct work_struct *w)
{
	unsigned int noio = memalloc_noio_save();

	crypt_finish(container_of(w, struct crypt_io, work));
	memalloc_noio_restore(noio);
}

static void crypt_work(struct work_struct *w)
{
	struct crypt_io *io = container_of(w, struct crypt_io, work);
	unsigned int noio = memalloc_noio_save();

	if (io->write && !io->carrier)
		io->carrier = crypt_alloc_pages(io->cc, io->iter.bi_size,
						GFP_NOIO);
	/* a spread bio is timed like an inline one: see crypt_spread() */
	if (!io->status &&
	    (!io->spread || crypt_convert(io, false) == CONV_RESUME))
		crypt_convert(io, true);
	if (io->spread)
		crypt_spread_done(io);
	if (atomic_dec_and_test(&io->pending))
		crypt_finish(io);
	memalloc_noio_restore(noio);
}

static void crypt_queue(struct crypt_io *io)
{
	INIT_WORK(&io->work, crypt_work);
	queue_work(io->cc->wq, &io->work);
}

static void crypt_defer(struct crypt_io *io)
{
	this_cpu_inc(io->cc->stats->deferred);
	crypt_queue(io);
}

/*
 * A bio whose conversion costs more than handing it to another CPU does
 * (spread_ns: software AES, for one) is converted by the unbound worker
 * while at most spread_depth others are, so that the submitter goes on with
 * the next bio while another CPU converts this one; the cost is the moving
 * average of what synchronous conversions took on this CPU (one in 16
 * timed).  A submitter that waits
 * for each bio gains nothing but the hand-off's latency:
 * crypt_spread_done() notices, and then only one bio in SPREAD_PROBE is
 * spread, to see whether that changed.
 */
static bool crypt_spread(struct crypt_io *io)
{
	struct iof_crypt *cc = io->cc;
	unsigned int min_ns = READ_ONCE(spread_ns);
	unsigned int depth = READ_ONCE(spread_depth) ?: num_online_cpus();
	unsigned int tick;
	int n;

	if (!min_ns || num_online_cpus() < 2 ||
	    (u64)this_cpu_read(cc->stats->cost) * (io->iter.bi_size >> 10) <
	    min_ns)
		return false;
	if (READ_ONCE(cc->spread_score) < 0) {
		/* a racy count: a probe more or less does not matter */
		tick = READ_ONCE(cc->spread_tick) + 1;
		WRITE_ONCE(cc->spread_tick, tick);
		if (tick % SPREAD_PROBE)
			return false;
	}
	if (atomic_read(&cc->spreading) >= depth)
		return false;
	n = atomic_inc_return(&cc->spreading);
	if (n > depth) {
		atomic_dec(&cc->spreading);
		return false;
	}
	if (n == 1)		/* a new window: will another bio come? */
		WRITE_ONCE(cc->overlap, false);
	io->spread = true;
	this_cpu_inc(cc->stats->spread);
	crypt_queue(io);
	return true;
}

/*
 * A spread bio is converted.  When none is left, score the window: did
 * the submitter send another bio while ours were on the worker?  If not, it
 * was waiting for them (a queue depth of one): the hand-off only added
 * latency, and after a few such windows bios stay inline but for a probe
 * now and then.  One window that overlapped is enough to spread again.
 */
static void crypt_spread_done(struct crypt_io *io)
{
	struct iof_crypt *cc = io->cc;
	int score;

	io->spread = false;
	if (atomic_dec_return(&cc->spreading))
		return;
	score = READ_ONCE(cc->spread_score);
	if (READ_ONCE(cc->overlap))
		score = max(score, 0) + 1;
	else
		score--;
	WRITE_ONCE(cc->spread_score, clamp(score, -SPREAD_SCORE_MAX,
					   SPREAD_SCORE_MAX));
}

/* A large bio: convert it on the unbound workqueue (any CPU) */
static bool crypt_offload(struct crypt_io *io)
{
	struct iof_crypt *cc = io->cc;

	if (!cc->offload_size || io->iter.bi_size < cc->offload_size)
		return crypt_spread(io);
	this_cpu_inc(cc->stats->offloaded);
	crypt_queue(io);
	return true;
}

/* ---- map and end_io ---- */

static bool crypt_bad_bio(struct iof_crypt *cc, struct bio *bio)
{
	sector_t s = bio->bi_iter.bi_sector;
	unsigned int mask = (cc->sector_size >> SECTOR_SHIFT) - 1;

	if (likely(s >= cc->offset && !((s - cc->offset) & mask) &&
		   !(bio->bi_iter.bi_size & (cc->sector_size - 1))))
		return false;
	this_cpu_inc(cc->stats->rejected);
	iofilter_err(&cc->fi, "%s of %u bytes at sector %llu: not aligned to sector_size %u or below offset %llu",
		     bio_data_dir(bio) == WRITE ? "write" : "read",
		     bio->bi_iter.bi_size, (unsigned long long)s,
		     cc->sector_size, (unsigned long long)cc->offset);
	return true;
}

static int crypt_map(struct iofilter_instance *fi, struct bio *bio, void *p,
		     blk_status_t *status)
{
	struct iof_crypt *cc = to_cc(fi);
	struct crypt_io *io = p;

	io->bio = NULL;		/* end_io: nothing of ours on this bio */
	switch (bio_op(bio)) {
	case REQ_OP_READ:
	case REQ_OP_WRITE:
		break;
	case REQ_OP_DISCARD:
		if (cc->allow_discards)
			return IOF_MAP_CONTINUE;
		/* dm-crypt's answer: the blocks keep their data, say so */
		this_cpu_inc(cc->stats->discards_refused);
		*status = BLK_STS_NOTSUPP;
		return IOF_MAP_COMPLETE;
	default:	/* write-zeroes, secure erase: never advertised */
		*status = BLK_STS_NOTSUPP;
		return IOF_MAP_COMPLETE;
	}
	if (!bio->bi_iter.bi_size)	/* an empty flush */
		return IOF_MAP_CONTINUE;
	if (crypt_bad_bio(cc, bio)) {
		*status = BLK_STS_IOERR;
		return IOF_MAP_COMPLETE;
	}

	io->cc = cc;
	io->bio = bio;
	io->carrier = NULL;
	io->req = NULL;
	io->done = 0;
	io->status = BLK_STS_OK;
	io->write = bio_data_dir(bio) == WRITE;
	io->spread = false;
	if (atomic_read(&cc->spreading) && !READ_ONCE(cc->overlap))
		WRITE_ONCE(cc->overlap, true);

	if (!io->write) {
		io->iter = bio->bi_iter;
		this_cpu_inc(cc->stats->reads);
		this_cpu_add(cc->stats->read_bytes, bio->bi_iter.bi_size);
		return IOF_MAP_CONTINUE;
	}

	io->iter = bio->bi_iter;
	io->saved_vec = bio->bi_io_vec;
	this_cpu_inc(cc->stats->writes);
	this_cpu_add(cc->stats->write_bytes, bio->bi_iter.bi_size);
	atomic_set(&io->pending, 1);
	if (crypt_offload(io))
		return IOF_MAP_SUBMITTED;

	io->carrier = crypt_alloc_pages(cc, io->iter.bi_size, GFP_NOWAIT);
	if (!io->carrier || crypt_convert(io, false) == CONV_RESUME) {
		crypt_defer(io);
		return IOF_MAP_SUBMITTED;
	}
	if (!atomic_dec_and_test(&io->pending))
		return IOF_MAP_SUBMITTED;	/* crypt_done() goes on */
	if (io->status) {
		crypt_release_write(io);
		*status = io->status;
		return IOF_MAP_COMPLETE;
	}
	crypt_swap_in(io);
	return IOF_MAP_CONTINUE;
}

static int crypt_end_io(struct iofilter_instance *fi, struct bio *bio,
			void *p, blk_status_t *status)
{
	struct crypt_io *io = p;

	if (io->bio != bio)
		return IOF_ENDIO_DONE;	/* empty flush, discard passed on */

	if (io->write) {
		crypt_release_write(io);
		return IOF_ENDIO_DONE;
	}

	/* a read: decrypt what came back, in place */
	if (*status)
		return IOF_ENDIO_DONE;
	atomic_set(&io->pending, 1);
	if (crypt_offload(io))
		return IOF_ENDIO_INCOMPLETE;
	if (in_hardirq() || irqs_disabled() ||
	    crypt_convert(io, false) == CONV_RESUME) {
		crypt_defer(io);
		return IOF_ENDIO_INCOMPLETE;
	}
	if (!atomic_dec_and_test(&io->pending))
		return IOF_ENDIO_INCOMPLETE;	/* crypt_done() goes on */
	*status = io->status;
	return IOF_ENDIO_DONE;
}

/* ---- status, hints, lifetime ---- */

static void crypt_status(struct iofilter_instance *fi, char *result,
			 unsigned int maxlen)
{
	struct iof_crypt *cc = to_cc(fi);
	struct crypt_stats s = {};
	int cpu;

	for_each_possible_cpu(cpu) {
		struct crypt_stats *p = per_cpu_ptr(cc->stats, cpu);

		s.reads += p->reads;
		s.writes += p->writes;
		s.read_bytes += p->read_bytes;
		s.write_bytes += p->write_bytes;
		s.deferred += p->deferred;
		s.offloaded += p->offloaded;
		s.spread += p->spread;
		s.async += p->async;
		s.discards_refused += p->discards_refused;
		s.rejected += p->rejected;
		s.errors += p->errors;
	}
	scnprintf(result, maxlen,
		  "cipher=%s key_bits=%u key=%s sector_size=%u iv_offset=%llu offset=%llu iv_large_sectors=%d allow_discards=%d offload_size=%u driver=%s reads=%llu writes=%llu read_bytes=%llu write_bytes=%llu deferred=%llu offloaded=%llu spread=%llu async=%llu discards_refused=%llu rejected=%llu errors=%llu bounce_kept=%u",
		  cc->cipher->name, cc->key_bytes * 8,
		  cc->key_desc[0] ? cc->key_desc : "secret",
		  cc->sector_size, cc->iv_offset,
		  (unsigned long long)cc->offset, cc->iv_large_sectors,
		  cc->allow_discards, cc->offload_size,
		  crypto_tfm_alg_driver_name(crypto_skcipher_tfm(cc->tfm)),
		  s.reads, s.writes, s.read_bytes, s.write_bytes, s.deferred,
		  s.offloaded, s.spread, s.async, s.discards_refused, s.rejected, s.errors,
		  READ_ONCE(cc->kept.nr));
}

static void crypt_io_hints(struct iofilter_instance *fi,
			   struct queue_limits *limits)
{
	struct iof_crypt *cc = to_cc(fi);

	limits->logical_block_size = max_t(unsigned int,
					   limits->logical_block_size,
					   cc->sector_size);
	limits->physical_block_size = max_t(unsigned int,
					    limits->physical_block_size,
					    cc->sector_size);
	limits->io_min = max_t(unsigned int, limits->io_min, cc->sector_size);
	limits->dma_alignment = max_t(unsigned int, limits->dma_alignment,
				      limits->logical_block_size - 1);
	/*
	 * What map refuses is not advertised (dm-crypt sets no
	 * num_write_zeroes_bios, and num_discard_bios only with
	 * allow_discards); the limits are the volume's, so this holds for
	 * all of it.  blk_stack_limits() takes write-zeroes with min() but
	 * discards only from a bottom with a discard_granularity: clear it.
	 */
	limits->max_write_zeroes_sectors = 0;
	limits->max_secure_erase_sectors = 0;
	if (!cc->allow_discards) {
		limits->max_discard_sectors = 0;
		limits->max_hw_discard_sectors = 0;
		limits->discard_granularity = 0;
	}
}

/*
 * Every rule that uses the instance covers whole crypto sectors at or above
 * offset: anything else could only fail (crypt_bad_bio()) or, for a range
 * that starts below offset, be data no dm-crypt table can map.
 */
static int crypt_check_range(struct iofilter_instance *fi, sector_t start,
			     sector_t nr, char *error, size_t error_len)
{
	struct iof_crypt *cc = to_cc(fi);
	unsigned int mask = (cc->sector_size >> SECTOR_SHIFT) - 1;

	if (start < cc->offset) {
		scnprintf(error, error_len,
			  "range starts at byte %llu, below offset %llu",
			  (unsigned long long)start << SECTOR_SHIFT,
			  (unsigned long long)cc->offset << SECTOR_SHIFT);
		return -EINVAL;
	}
	if (((start - cc->offset) | nr) & mask) {
		scnprintf(error, error_len,
			  "range [%llu, %llu) is not made of whole %u-byte sectors counted from offset %llu",
			  (unsigned long long)start << SECTOR_SHIFT,
			  (unsigned long long)(start + nr) << SECTOR_SHIFT,
			  cc->sector_size,
			  (unsigned long long)cc->offset << SECTOR_SHIFT);
		return -EINVAL;
	}
	return 0;
}

static void crypt_destroy(struct iofilter_instance *fi)
{
	struct iof_crypt *cc = to_cc(fi);

	if (cc->wq)
		destroy_workqueue(cc->wq);
	bioset_exit(&cc->bs);
	mempool_exit(&cc->page_pool);
	iofilter_stash_drain(&cc->kept);	/* after: mempool_exit fills it */
	mempool_exit(&cc->req_pool);
	if (cc->tfm)
		crypto_free_skcipher(cc->tfm);	/* zeroes the key schedule */
	free_percpu(cc->stats);
	kfree_sensitive(cc);
}

static const struct iofilter_ops crypt_ops = {
	.destroy = crypt_destroy,
	.map = crypt_map,
	.end_io = crypt_end_io,
	.status = crypt_status,
	.io_hints = crypt_io_hints,
	.check_range = crypt_check_range,
};

/* ---- create ---- */

#define ERR(...) scnprintf(error, error_len, __VA_ARGS__)

/* key=logon:<description> or key=user:<description> */
static int crypt_key_from_keyring(const char *spec, u8 *key, unsigned int *len,
				  char *error, size_t error_len)
{
	const struct user_key_payload *ukp;
	struct key_type *type;
	const char *desc;
	struct key *k;
	int r = 0;

	if (!strncmp(spec, "logon:", 6)) {
		type = &key_type_logon;
		desc = spec + 6;
	} else if (!strncmp(spec, "user:", 5)) {
		type = &key_type_user;
		desc = spec + 5;
	} else {
		ERR("key must be logon:<description> or user:<description>");
		return -EINVAL;
	}
	if (!*desc) {
		ERR("key %s: empty description", spec);
		return -EINVAL;
	}
	k = request_key(type, desc, NULL);
	if (IS_ERR(k)) {
		r = PTR_ERR(k);
		ERR("key %s: not found in the caller's keyrings (%d)", spec, r);
		return r;
	}
	down_read(&k->sem);
	ukp = user_key_payload_locked(k);
	if (!ukp) {
		r = -EKEYREVOKED;
		ERR("key %s: revoked", spec);
	} else if (ukp->datalen > CRYPT_MAX_KEY) {
		r = -EINVAL;
		ERR("key %s is %u bytes; at most %u", spec, ukp->datalen,
		    CRYPT_MAX_KEY);
	} else {
		memcpy(key, ukp->data, ukp->datalen);
		*len = ukp->datalen;
	}
	up_read(&k->sem);
	key_put(k);
	return r;
}

/*
 * The parameters (iof_crypt_params: names, choices, bounds); key_file is
 * iofilterctl's, it reaches us as the secret.
 */
struct crypt_params {
	unsigned int cipher;		/* index into crypt_ciphers */
	const char *key;		/* logon:<desc> or user:<desc> */
	u64 sector_size;
	u64 iv_offset;
	u64 offset;			/* bytes */
	u64 offload_size;
	u64 iv_large_sectors;
	u64 allow_discards;
};

#define CP_U64(_m, _def) \
	IOFILTER_PARAM_U64(struct crypt_params, _m, #_m, _def)
static const struct iofilter_param_field crypt_fields[] = {
	IOFILTER_PARAM_CHOICE(struct crypt_params, cipher, "cipher", 0),
	IOFILTER_PARAM_STR(struct crypt_params, key, "key", NULL),
	CP_U64(sector_size, SECTOR_SIZE),
	CP_U64(iv_offset, 0),
	CP_U64(offset, 0),
	CP_U64(offload_size, SZ_256K),
	CP_U64(iv_large_sectors, 0),
	CP_U64(allow_discards, 0),
};
#undef CP_U64

static const struct iofilter_param_spec crypt_param_spec =
	IOFILTER_PARAM_SPEC(iof_crypt_params, crypt_fields);

/* What the table cannot say: the page size, the volume, sector_size */
static int crypt_parse(struct iof_crypt *cc, struct iofilter_volume *vol,
		       unsigned int argc, char **argv, struct crypt_params *p,
		       char *error, size_t error_len)
{
	sector_t vol_sectors = iofilter_volume_sectors(vol);
	int r;

	r = iofilter_params_parse(&crypt_param_spec, argc, argv, p, error,
				  error_len);
	if (r)
		return r;
	if (p->cipher >= ARRAY_SIZE(crypt_ciphers)) {
		ERR("unsupported cipher (aes-xts-plain64 or aes-cbc-essiv:sha256)");
		return -EINVAL;
	}
	cc->cipher = &crypt_ciphers[p->cipher];

	if (p->sector_size > PAGE_SIZE) {
		ERR("sector_size must be a power of two from 512 to %lu",
		    PAGE_SIZE);
		return -EINVAL;
	}
	cc->sector_size = p->sector_size;
	cc->sector_shift = __ffs(cc->sector_size) - SECTOR_SHIFT;
	cc->iv_offset = p->iv_offset;

	if (p->offset & (cc->sector_size - 1)) {
		ERR("offset must be a byte offset, a multiple of sector_size");
		return -EINVAL;
	}
	cc->offset = p->offset >> SECTOR_SHIFT;
	if (cc->offset >= vol_sectors) {
		ERR("offset %llu is beyond the volume (%llu bytes)",
		    (unsigned long long)p->offset,
		    (unsigned long long)vol_sectors << SECTOR_SHIFT);
		return -EINVAL;
	}
	if (p->offload_size > (BIO_MAX_VECS << PAGE_SHIFT)) {
		ERR("offload_size must be a size up to %lu bytes (0: never)",
		    (unsigned long)BIO_MAX_VECS << PAGE_SHIFT);
		return -EINVAL;
	}
	cc->offload_size = p->offload_size;
	cc->iv_large_sectors = p->iv_large_sectors;
	cc->allow_discards = p->allow_discards;
	return 0;
}

static int crypt_set_key(struct iof_crypt *cc, const char *spec,
			 const u8 *secret, unsigned int secret_len,
			 char *error, size_t error_len)
{
	unsigned int len = 0, i;
	u8 *key;
	int r;

	if (spec && secret_len) {
		ERR("give the key either as key=%s or as a secret (key_file), not both",
		    spec);
		return -EINVAL;
	}
	if (!spec && !secret_len) {
		ERR("no key: give key_file (a secret) or key=logon:<description>");
		return -ENOKEY;
	}
	if (spec && strlen(spec) >= sizeof(cc->key_desc)) {
		ERR("key description too long");
		return -EINVAL;
	}

	key = kzalloc(CRYPT_MAX_KEY, GFP_KERNEL);
	if (!key) {
		ERR("out of memory");
		return -ENOMEM;
	}
	if (spec) {
		r = crypt_key_from_keyring(spec, key, &len, error, error_len);
		if (r)
			goto out;
		strscpy(cc->key_desc, spec, sizeof(cc->key_desc));
	} else if (secret_len > CRYPT_MAX_KEY) {
		r = -EINVAL;
		ERR("key is %u bytes; at most %u", secret_len, CRYPT_MAX_KEY);
		goto out;
	} else {
		memcpy(key, secret, secret_len);
		len = secret_len;
	}

	for (i = 0; i < ARRAY_SIZE(cc->cipher->key_sizes); i++)
		if (cc->cipher->key_sizes[i] == len)
			break;
	if (i == ARRAY_SIZE(cc->cipher->key_sizes) || !len) {
		r = -EINVAL;
		if (cc->cipher->key_sizes[2])
			ERR("key is %u bytes; %s takes %u, %u or %u", len,
			    cc->cipher->name, cc->cipher->key_sizes[0],
			    cc->cipher->key_sizes[1], cc->cipher->key_sizes[2]);
		else
			ERR("key is %u bytes; %s takes %u or %u", len,
			    cc->cipher->name, cc->cipher->key_sizes[0],
			    cc->cipher->key_sizes[1]);
		goto out;
	}
	r = crypto_skcipher_setkey(cc->tfm, key, len);
	if (r) {
		ERR("%s rejected the key (%d)", cc->cipher->name, r);
		goto out;
	}
	cc->key_bytes = len;
out:
	kfree_sensitive(key);
	return r;
}

static struct iofilter_instance *crypt_create(struct iofilter_volume *vol,
					      unsigned int argc, char **argv,
					      const u8 *secret,
					      unsigned int secret_len,
					      char *error, size_t error_len)
{
	struct crypt_params p;
	struct iof_crypt *cc;
	unsigned int reqsize;
	int r;

	cc = kzalloc(sizeof(*cc), GFP_KERNEL);
	if (!cc) {
		ERR("out of memory");
		return ERR_PTR(-ENOMEM);
	}
	cc->fi.ops = &crypt_ops;
	mutex_init(&cc->alloc_lock);
	iofilter_stash_init(&cc->kept, CRYPT_KEPT_PAGES);

	r = crypt_parse(cc, vol, argc, argv, &p, error, error_len);
	if (r)
		goto bad;

	/*
	 * Like dm-crypt: no implementation that allocates memory per request
	 * (it could deadlock writing out pages under memory pressure).
	 */
	cc->tfm = crypto_alloc_skcipher(cc->cipher->alg, 0,
					CRYPTO_ALG_ALLOCATES_MEMORY);
	if (IS_ERR(cc->tfm)) {
		r = PTR_ERR(cc->tfm);
		cc->tfm = NULL;
		ERR("cipher %s (%s) not available in this kernel (%d)",
		    cc->cipher->name, cc->cipher->alg, r);
		goto bad;
	}
	if (crypto_skcipher_ivsize(cc->tfm) != CRYPT_IV_SIZE) {
		r = -EINVAL;
		ERR("%s: unexpected IV size %u", cc->cipher->alg,
		    crypto_skcipher_ivsize(cc->tfm));
		goto bad;
	}
	r = crypt_set_key(cc, p.key, secret, secret_len, error, error_len);
	if (r)
		goto bad;

	reqsize = CR_HDR + sizeof(struct skcipher_request) +
		  crypto_skcipher_reqsize(cc->tfm);
	cc->iv_off = ALIGN(reqsize, max_t(unsigned int, sizeof(u64),
					  crypto_skcipher_alignmask(cc->tfm) + 1));
	cc->req_size = cc->iv_off + CRYPT_IV_SIZE;

	r = -ENOMEM;
	cc->stats = alloc_percpu(struct crypt_stats);
	if (!cc->stats ||
	    mempool_init_kmalloc_pool(&cc->req_pool, CRYPT_MIN_IOS,
				      cc->req_size) ||
	    mempool_init(&cc->page_pool, BIO_MAX_VECS, crypt_page_alloc,
			 crypt_page_free, cc) ||
	    bioset_init(&cc->bs, CRYPT_MIN_IOS, 0, BIOSET_NEED_BVECS)) {
		ERR("out of memory");
		goto bad;
	}
	cc->wq = alloc_workqueue("iofcrypt/%s", WQ_UNBOUND | WQ_HIGHPRI |
				 WQ_CPU_INTENSIVE | WQ_MEM_RECLAIM, 0,
				 iofilter_volume_name(vol));
	if (!cc->wq) {
		ERR("out of memory");
		goto bad;
	}
	/* one bounce page per page of a write, as dm-crypt */
	cc->fi.max_io_sectors = (BIO_MAX_VECS << PAGE_SHIFT) >> SECTOR_SHIFT;
	return &cc->fi;
bad:
	crypt_destroy(&cc->fi);
	return ERR_PTR(r);
}

static struct iofilter_type crypt_type = {
	.name = "crypt",
	.version = { 1, 0, 0 },
	.class = IOF_CLASS_CRYPT,
	.flags = IOF_CRYPT_TYPE_FLAGS,
	.owner = THIS_MODULE,
	.create = crypt_create,
};

module_iofilter(crypt_type);

MODULE_DESCRIPTION("iofilter crypt filter: AES-XTS, on-disk compatible with dm-crypt");
MODULE_AUTHOR("The iofilter authors");
MODULE_LICENSE("GPL");
MODULE_ALIAS("iofilter-crypt");
