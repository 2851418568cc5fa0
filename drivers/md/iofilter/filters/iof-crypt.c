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
 *
 * The files (iof-crypt.h holds the structs both share):
 *   iof-crypt-io.c  the data path: conversion, bounce pages, map, end_io
 *   iof-crypt.c     this file: parameters, the key, create and destroy,
 *                   status, io_hints, check_range, the type and the module
 */
#include <keys/user-type.h>
#include <linux/blkdev.h>
#include <linux/crypto.h>
#include <linux/iofilter.h>
#define IOF_BUILTIN_CRYPT
#include <shared/iofilter-builtin.h>
#include <linux/key.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/slab.h>

#include "iof-compat.h"
#include "iof-crypt.h"

/* In the order of cipher's choices in iof_crypt_params: the index */
static const struct crypt_cipher crypt_ciphers[] = {
	{ "aes-xts-plain64", "xts(aes)", { 32, 64 } },
	{ "aes-cbc-essiv:sha256", "essiv(cbc(aes),sha256)", { 16, 24, 32 } },
};

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
