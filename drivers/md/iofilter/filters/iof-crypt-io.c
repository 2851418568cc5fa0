// SPDX-License-Identifier: GPL-2.0
/*
 * iofilter "crypt": the data path.  Conversion (inline, asynchronous,
 * deferred, offloaded or spread to the worker), the bounce pages, map and
 * end_io; the design is described at the top of iof-crypt.c.
 */
#include <linux/blkdev.h>
#include <linux/crypto.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "iof-compat.h"
#include "iof-crypt.h"

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
 * Where crypt_convert() goes on: the source and destination vectors at
 * io->done (a write reads the caller's pages and writes the bounce pages
 * of the carrier; a read works in place).
 */
static void convert_iters(struct crypt_io *io, struct bio_vec **vin,
			  struct bio_vec **vout, struct bvec_iter *in,
			  struct bvec_iter *out)
{
	if (io->write) {
		*vin = io->saved_vec;
		*vout = io->carrier->bi_io_vec;
		*in = io->iter;
		*out = (struct bvec_iter){ .bi_size = io->iter.bi_size };
		bvec_iter_advance(*vin, in, io->done);
		bvec_iter_advance(*vout, out, io->done);
	} else {
		*vin = *vout = io->bio->bi_io_vec;
		*in = io->iter;
		bvec_iter_advance(*vin, in, io->done);
		*out = *in;
	}
}

/* One crypto sector's request: its two one-entry scatterlists and its IV. */
static void crypt_req_prepare(struct iof_crypt *cc, struct crypt_req *cr,
			      const struct bio_vec *bv_in,
			      const struct bio_vec *bv_out, sector_t s)
{
	unsigned int ss = cc->sector_size;
	u64 ivs;

	sg_init_table(&cr->sg_in, 1);
	sg_set_page(&cr->sg_in, bv_in->bv_page, ss, bv_in->bv_offset);
	sg_init_table(&cr->sg_out, 1);
	sg_set_page(&cr->sg_out, bv_out->bv_page, ss, bv_out->bv_offset);

	/* plain64: the little-endian sector number, zero-padded */
	ivs = s - cc->offset + cc->iv_offset;
	if (cc->iv_large_sectors)
		ivs >>= cc->sector_shift;
	memset(cr_iv(cc, cr), 0, CRYPT_IV_SIZE);
	*(__le64 *)cr_iv(cc, cr) = cpu_to_le64(ivs);
	skcipher_request_set_crypt(cr_req(cr), &cr->sg_in, &cr->sg_out, ss,
				   cr_iv(cc, cr));
}

/*
 * Start one request: waited for in a worker (@can_sleep), else completed
 * by crypt_done().  Returns what the cipher returned.
 */
static int crypt_req_start(struct crypt_io *io, struct skcipher_request *req,
			   bool can_sleep, struct crypto_wait *wait)
{
	if (can_sleep) {
		skcipher_request_set_callback(req,
			CRYPTO_TFM_REQ_MAY_SLEEP | CRYPTO_TFM_REQ_MAY_BACKLOG,
			crypto_req_done, wait);
		return crypto_wait_req(io->write ?
				       crypto_skcipher_encrypt(req) :
				       crypto_skcipher_decrypt(req), wait);
	}
	skcipher_request_set_callback(req, 0, crypt_done, req_cr(req));
	return io->write ? crypto_skcipher_encrypt(req) :
			   crypto_skcipher_decrypt(req);
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

	convert_iters(io, &vin, &vout, &in, &out);
	while (in.bi_size) {
		struct bio_vec bv_in = bvec_iter_bvec(vin, in);
		struct bio_vec bv_out = bvec_iter_bvec(vout, out);
		sector_t s = io->iter.bi_sector + (io->done >> SECTOR_SHIFT);
		struct skcipher_request *req = io->req;
		struct crypt_req *cr;
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
		crypt_req_prepare(cc, cr, &bv_in, &bv_out, s);

		atomic_inc(&io->pending);
		r = crypt_req_start(io, req, can_sleep, &wait);

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
void *crypt_page_alloc(gfp_t gfp, void *data)
{
	struct iof_crypt *cc = data;
	struct page *page = iofilter_stash_get(&cc->kept);

	return page ? page : alloc_page(gfp);
}

void crypt_page_free(void *element, void *data)
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

int crypt_map(struct iofilter_instance *fi, struct bio *bio, void *p,
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

int crypt_end_io(struct iofilter_instance *fi, struct bio *bio, void *p,
		 blk_status_t *status)
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
