// SPDX-License-Identifier: GPL-2.0
/*
 * iofilter "cache": persistent metadata on the cache device (the API:
 * iof-cache-meta.h; nothing else knows the format).
 *
 * The superblock and the mapping (one 16-byte entry per cache block) live
 * at the start of the cache device and are read and written through
 * dm-bufio in 4 KiB blocks.  Memory is authoritative while the instance
 * lives: every state change that must reach the disk is recorded with
 * cc_meta_set() (the block's state in md->cur, its metadata block marked
 * changed); a commit snapshots the changed blocks, the caller flushes what
 * must be durable first, then the blocks and the superblock are written
 * and the cache device flushed again.  The rules that make every crash
 * point safe: the "Consistency" comment in iof-cache.c.
 *
 * On-disk format (all little endian), in 4 KiB metadata blocks:
 *
 *   block 0                 superblock (struct cc_disk_sb)
 *   blocks 1..meta_blocks   mapping: one struct cc_disk_entry per cache
 *                           block, CC_ENTRIES_PER_BLOCK per metadata block
 *   data_start (sectors)    cache block 0, 1, ... (block_sectors each),
 *                           data_start aligned to the cache block size
 *
 * An entry is valid only when its flags say so and its checksum (crc32c
 * seeded with the entry's index) matches: a torn or misplaced entry counts
 * as invalid, which is always safe.
 */
/* No instance yet while the metadata loads (create()): pr_*() */
#define pr_fmt(fmt) "iofilter-cache: " fmt

#include <linux/bitmap.h>
#include <linux/build_bug.h>
#include <linux/crc32c.h>
#include <linux/dm-bufio.h>
#include <linux/err.h>
#include <linux/log2.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/vmalloc.h>

#include "iof-cache-meta.h"


#define CC_MAGIC		0x6568636163666f69ULL	/* "iofcache" */
#define CC_VERSION		1
#define CC_META_BLOCK		4096
#define CC_META_SECTORS		(CC_META_BLOCK >> SECTOR_SHIFT)

#define CC_SB_CLEAN		(1U << 0)	/* shut down cleanly */

struct cc_disk_sb {
	__le64 magic;
	__le32 version;
	__le32 flags;
	__le32 block_sectors;
	__le32 meta_blocks;
	__le64 nr_blocks;
	__le64 data_start;
	__le64 origin_sectors;	/* origin identity: size ... */
	char volume[64];	/* ... and volume name */
	__le64 generation;	/* commits since format */
	__le32 pad;
	__le32 csum;		/* crc32c of everything above */
} __packed;

#define CC_DE_VALID		(1U << 0)
#define CC_DE_DIRTY		(1U << 1)

struct cc_disk_entry {
	__le64 oblock;
	__le32 flags;
	__le32 csum;
} __packed;

#define CC_ENTRIES_PER_BLOCK	(CC_META_BLOCK / sizeof(struct cc_disk_entry))

static_assert(DS_CLEAN == CC_DE_VALID);
static_assert(DS_DIRTY == (CC_DE_VALID | CC_DE_DIRTY));

/* What a cache block must say on disk after the next commit */
struct cc_meta_state {
	u64 oblock;
	u32 ds;			/* DS_* */
};

struct cc_meta {
	struct block_device *cache;
	struct dm_bufio_client *bufio;
	char volume[64];
	const char *cache_path;
	sector_t origin_sectors;
	unsigned int block_sectors;

	/* layout */
	u64 nr_blocks;
	unsigned int meta_blocks;
	sector_t data_start;
	u64 generation;
	bool fresh;			/* formatted by this open */
	bool clean;			/* the disk said: shut down cleanly */

	struct cc_meta_state *cur;	/* caller's lock */
	struct cc_disk_entry *dimg;	/* snapshot being committed */
	unsigned long *changed;		/* metadata blocks to write */
	unsigned long *committing;
	unsigned long *ddirty;		/* entries dirty on disk */
	u64 nr_ddirty;			/* bits set in ddirty; READ_ONCE */
};

static u32 sb_csum(const struct cc_disk_sb *sb)
{
	return crc32c(~0U, sb, offsetof(struct cc_disk_sb, csum));
}

static u32 entry_csum(u64 index, const struct cc_disk_entry *de)
{
	return crc32c((u32)index ^ (u32)(index >> 32), de,
		      offsetof(struct cc_disk_entry, csum));
}

/* Cache blocks that fit on @dev_sectors with @bsec-sector blocks */
static u64 layout(sector_t dev_sectors, unsigned int bsec,
		  unsigned int *meta_blocks, sector_t *data_start)
{
	u64 n, bytes = (u64)dev_sectors << SECTOR_SHIFT;

	if (dev_sectors <= CC_META_SECTORS)
		return 0;
	n = div64_u64(bytes - CC_META_BLOCK,
		      ((u64)bsec << SECTOR_SHIFT) + sizeof(struct cc_disk_entry));
	for (; n; n--) {
		u64 mb = DIV_ROUND_UP(n, CC_ENTRIES_PER_BLOCK);
		sector_t ds = round_up((1 + mb) * CC_META_SECTORS, bsec);

		if (ds + n * bsec <= dev_sectors) {
			*meta_blocks = mb;
			*data_start = ds;
			break;
		}
	}
	return n;
}

u64 cc_meta_nr_blocks(const struct cc_meta *md)
{
	return md->nr_blocks;
}

sector_t cc_meta_data_start(const struct cc_meta *md)
{
	return md->data_start;
}

bool cc_meta_any_dirty(const struct cc_meta *md)
{
	return READ_ONCE(md->nr_ddirty);
}

void cc_meta_set(struct cc_meta *md, u64 index, u64 oblock, unsigned int ds)
{
	md->cur[index].oblock = oblock;
	md->cur[index].ds = ds;
	__set_bit(index / CC_ENTRIES_PER_BLOCK, md->changed);
}

bool cc_meta_changed(const struct cc_meta *md)
{
	return !bitmap_empty(md->changed, md->meta_blocks);
}

static int alloc_maps(struct cc_meta *md)
{
	md->cur = vzalloc(array_size(md->nr_blocks, sizeof(*md->cur)));
	md->dimg = vzalloc(array_size(md->meta_blocks * CC_ENTRIES_PER_BLOCK,
				      sizeof(*md->dimg)));
	md->changed = bitmap_zalloc(md->meta_blocks, GFP_KERNEL);
	md->committing = bitmap_zalloc(md->meta_blocks, GFP_KERNEL);
	md->ddirty = bitmap_zalloc(md->nr_blocks, GFP_KERNEL);
	if (!md->cur || !md->dimg || !md->changed || !md->committing ||
	    !md->ddirty)
		return -ENOMEM;
	return 0;
}

static void fill_sb(struct cc_meta *md, struct cc_disk_sb *sb, bool clean)
{
	memset(sb, 0, CC_META_BLOCK);
	sb->magic = cpu_to_le64(CC_MAGIC);
	sb->version = cpu_to_le32(CC_VERSION);
	sb->flags = cpu_to_le32(clean ? CC_SB_CLEAN : 0);
	sb->block_sectors = cpu_to_le32(md->block_sectors);
	sb->meta_blocks = cpu_to_le32(md->meta_blocks);
	sb->nr_blocks = cpu_to_le64(md->nr_blocks);
	sb->data_start = cpu_to_le64(md->data_start);
	sb->origin_sectors = cpu_to_le64(md->origin_sectors);
	strscpy(sb->volume, md->volume, sizeof(sb->volume));
	sb->generation = cpu_to_le64(md->generation);
	sb->csum = cpu_to_le32(sb_csum(sb));
}

static int write_sb(struct cc_meta *md, bool clean)
{
	struct dm_buffer *b;
	void *p;

	p = dm_bufio_new(md->bufio, 0, &b);
	if (IS_ERR(p))
		return PTR_ERR(p);
	fill_sb(md, p, clean);
	dm_bufio_mark_buffer_dirty(b);
	dm_bufio_release(b);
	return 0;
}

/* Zero the mapping of a new cache: every block free */
static int format(struct cc_meta *md, cc_meta_load_fn fn, void *ctx)
{
	struct dm_buffer *b;
	unsigned int m;
	void *p;
	u64 i;

	for (i = 0; i < md->nr_blocks; i++)
		fn(ctx, i, 0, CML_FREE);
	for (m = 0; m < md->meta_blocks; m++) {
		p = dm_bufio_new(md->bufio, 1 + m, &b);
		if (IS_ERR(p))
			return PTR_ERR(p);
		memset(p, 0, CC_META_BLOCK);
		dm_bufio_mark_buffer_dirty(b);
		dm_bufio_release(b);
	}
	return 0;
}

/* What loading makes of entry @i: CML_* */
static enum cc_meta_load judge(struct cc_meta *md, u64 i,
			       const struct cc_disk_entry *de)
{
	u32 flags = le32_to_cpu(de->flags);
	u64 ob = le64_to_cpu(de->oblock);

	if (!flags)
		return CML_FREE;
	if (!(flags & CC_DE_VALID) ||
	    le32_to_cpu(de->csum) != entry_csum(i, de) ||
	    ob >= (md->origin_sectors >> ilog2(md->block_sectors)) ||
	    (!md->clean && !(flags & CC_DE_DIRTY)))
		return CML_DROPPED;
	return flags & CC_DE_DIRTY ? CML_DIRTY : CML_CLEAN;
}

/*
 * Read the mapping.  After a clean shutdown every valid entry is trusted
 * (the cache is warm).  After a crash only dirty entries are kept: a clean
 * entry may be older than the origin (an invalidation that never reached
 * the disk), a dirty one never is (see "Consistency" in iof-cache.c).
 */
static int load(struct cc_meta *md, cc_meta_load_fn fn, void *ctx,
		u64 *dropped, u64 *dirty)
{
	struct dm_buffer *b;
	unsigned int m, j;
	u64 i;

	for (m = 0; m < md->meta_blocks; m++) {
		struct cc_disk_entry *de;

		de = dm_bufio_read(md->bufio, 1 + m, &b);
		if (IS_ERR(de))
			return PTR_ERR(de);
		for (j = 0; j < CC_ENTRIES_PER_BLOCK; j++) {
			enum cc_meta_load what;
			u64 ob = le64_to_cpu(de[j].oblock);

			i = (u64)m * CC_ENTRIES_PER_BLOCK + j;
			if (i >= md->nr_blocks)
				break;
			what = judge(md, i, &de[j]);
			if (what == CML_FREE) {
				fn(ctx, i, 0, CML_FREE);
				continue;
			}
			if (what == CML_DROPPED || !fn(ctx, i, ob, what)) {
				if (what == CML_DROPPED)
					fn(ctx, i, ob, CML_DROPPED);
				/* rewritten as invalid by the first commit */
				__set_bit(m, md->changed);
				(*dropped)++;
				continue;
			}
			md->cur[i].oblock = ob;
			md->cur[i].ds = what == CML_DIRTY ? DS_DIRTY : DS_CLEAN;
			md->dimg[i] = de[j];	/* what the disk holds */
			if (what == CML_DIRTY) {
				__set_bit(i, md->ddirty);
				md->nr_ddirty++;
				(*dirty)++;
			}
		}
		dm_bufio_release(b);
	}
	return 0;
}

/* The superblock @sb of an existing cache: usable by this instance? */
static int check_sb(struct cc_meta *md, const struct cc_disk_sb *sb,
		    sector_t dev_sectors, char *error, size_t error_len)
{
	if (le32_to_cpu(sb->csum) != sb_csum(sb)) {
		scnprintf(error, error_len,
			  "cache superblock checksum mismatch (corrupt); format=1 discards the cache");
		return -EUCLEAN;
	}
	if (le32_to_cpu(sb->version) != CC_VERSION) {
		scnprintf(error, error_len,
			  "cache format version %u not supported (this module: %u)",
			  le32_to_cpu(sb->version), CC_VERSION);
		return -EINVAL;
	}
	if (strncmp(sb->volume, md->volume, sizeof(sb->volume)) ||
	    le64_to_cpu(sb->origin_sectors) != md->origin_sectors) {
		scnprintf(error, error_len,
			  "cache device belongs to volume '%.63s' (origin of %llu sectors), not to this one; format=1 discards that cache",
			  sb->volume, le64_to_cpu(sb->origin_sectors));
		return -EBUSY;
	}
	if (le32_to_cpu(sb->block_sectors) != md->block_sectors) {
		scnprintf(error, error_len,
			  "cache device was formatted with block_size=%u; use that or format=1",
			  le32_to_cpu(sb->block_sectors) << SECTOR_SHIFT);
		return -EINVAL;
	}
	md->nr_blocks = le64_to_cpu(sb->nr_blocks);
	md->meta_blocks = le32_to_cpu(sb->meta_blocks);
	md->data_start = le64_to_cpu(sb->data_start);
	md->generation = le64_to_cpu(sb->generation);
	md->clean = le32_to_cpu(sb->flags) & CC_SB_CLEAN;
	if (md->meta_blocks != DIV_ROUND_UP(md->nr_blocks, CC_ENTRIES_PER_BLOCK) ||
	    md->data_start + md->nr_blocks * md->block_sectors > dev_sectors) {
		scnprintf(error, error_len,
			  "cache superblock describes %llu blocks that do not fit the device (%llu sectors)",
			  md->nr_blocks, (u64)dev_sectors);
		return -EINVAL;
	}
	return 0;
}

/* Read the superblock (or decide to format) and size the maps. */
static int open_sb(struct cc_meta *md, bool fmt, char *error,
		   size_t error_len)
{
	sector_t dev_sectors = bdev_nr_sectors(md->cache), ds = 0;
	unsigned int mb = 0;
	struct cc_disk_sb *sb;
	struct dm_buffer *b;
	u64 n;
	int r = 0;

	n = layout(dev_sectors, md->block_sectors, &mb, &ds);
	if (n < CC_MIN_BLOCKS) {
		scnprintf(error, error_len,
			  "cache device too small: %llu sectors hold %llu blocks of %u bytes with their metadata, need at least %u",
			  (u64)dev_sectors, n,
			  md->block_sectors << SECTOR_SHIFT, CC_MIN_BLOCKS);
		return -ENOSPC;
	}
	sb = dm_bufio_read(md->bufio, 0, &b);
	if (IS_ERR(sb)) {
		scnprintf(error, error_len,
			  "cannot read the cache superblock: error %ld",
			  PTR_ERR(sb));
		return PTR_ERR(sb);
	}
	md->fresh = fmt || le64_to_cpu(sb->magic) != CC_MAGIC;
	if (!md->fresh)
		r = check_sb(md, sb, dev_sectors, error, error_len);
	dm_bufio_release(b);
	if (r)
		return r;
	if (md->fresh) {
		md->nr_blocks = n;
		md->meta_blocks = mb;
		md->data_start = ds;
		md->generation = 0;
		md->clean = true;
	}
	r = alloc_maps(md);
	if (r)
		scnprintf(error, error_len,
			  "out of memory for %llu cache blocks", md->nr_blocks);
	return r;
}

struct cc_meta *cc_meta_open(struct block_device *cache, const char *volume,
			     const char *cache_path, sector_t origin_sectors,
			     unsigned int block_sectors, bool fmt,
			     char *error, size_t error_len)
{
	struct cc_meta *md;
	int r;

	if (bdev_logical_block_size(cache) > CC_META_BLOCK) {
		scnprintf(error, error_len,
			  "cache_dev %s has %u-byte sectors; at most %u supported",
			  cache_path, bdev_logical_block_size(cache),
			  CC_META_BLOCK);
		return ERR_PTR(-EINVAL);
	}
	md = kzalloc(sizeof(*md), GFP_KERNEL);
	if (!md) {
		scnprintf(error, error_len, "out of memory");
		return ERR_PTR(-ENOMEM);
	}
	md->cache = cache;
	md->cache_path = cache_path;
	strscpy(md->volume, volume, sizeof(md->volume));
	md->origin_sectors = origin_sectors;
	md->block_sectors = block_sectors;
	md->bufio = dm_bufio_client_create(cache, CC_META_BLOCK, 1, 0,
					   NULL, NULL, 0);
	if (IS_ERR(md->bufio)) {
		r = PTR_ERR(md->bufio);
		md->bufio = NULL;
		scnprintf(error, error_len, "cannot create dm-bufio client: %d",
			  r);
		goto bad;
	}
	r = open_sb(md, fmt, error, error_len);
	if (r)
		goto bad;
	return md;
bad:
	cc_meta_close(md);
	return ERR_PTR(r);
}

/*
 * Report every cache block to @fn (format: all free) and mark the
 * superblock changed, so that the first commit records the cache in use
 * before any I/O depends on it.
 */
int cc_meta_load(struct cc_meta *md, cc_meta_load_fn fn, void *ctx,
		 char *error, size_t error_len)
{
	u64 dropped = 0, dirty = 0;
	int r;

	if (md->fresh)
		r = format(md, fn, ctx);
	else
		r = load(md, fn, ctx, &dropped, &dirty);
	if (r) {
		scnprintf(error, error_len,
			  "cannot %s the cache metadata: error %d",
			  md->fresh ? "write" : "read", r);
		return r;
	}
	if (!md->fresh && !md->clean)
		pr_warn("%s: cache %s was not shut down cleanly: %llu clean blocks dropped, %llu dirty kept\n",
			md->volume, md->cache_path, dropped, dirty);
	__set_bit(0, md->changed);
	return 0;
}

void cc_meta_close(struct cc_meta *md)
{
	if (!md)
		return;
	if (md->bufio)
		dm_bufio_client_destroy(md->bufio);
	bitmap_free(md->ddirty);
	bitmap_free(md->committing);
	bitmap_free(md->changed);
	vfree(md->dimg);
	vfree(md->cur);
	kfree(md);
}

/*
 * Copy the disk state of the entries of metadata block @m to the image to
 * write.  An entry about to be written dirty counts in nr_ddirty from now:
 * the count never falls below what the disk may hold.
 */
static void snapshot(struct cc_meta *md, unsigned long m)
{
	u64 i = (u64)m * CC_ENTRIES_PER_BLOCK, end;

	end = min_t(u64, i + CC_ENTRIES_PER_BLOCK, md->nr_blocks);
	for (; i < end; i++) {
		struct cc_meta_state *st = &md->cur[i];
		struct cc_disk_entry *de = &md->dimg[i];

		if (st->ds == DS_INVALID) {
			memset(de, 0, sizeof(*de));
			continue;
		}
		de->oblock = cpu_to_le64(st->oblock);
		de->flags = cpu_to_le32(st->ds);
		de->csum = cpu_to_le32(entry_csum(i, de));
		if ((st->ds & CC_DE_DIRTY) && !test_bit(i, md->ddirty)) {
			__set_bit(i, md->ddirty);
			WRITE_ONCE(md->nr_ddirty, md->nr_ddirty + 1);
		}
	}
}

/*
 * Take the changed metadata blocks for this commit (caller's lock).
 * False: nothing to write.
 */
bool cc_meta_snapshot(struct cc_meta *md)
{
	unsigned long m;

	bitmap_copy(md->committing, md->changed, md->meta_blocks);
	bitmap_zero(md->changed, md->meta_blocks);
	for_each_set_bit(m, md->committing, md->meta_blocks)
		snapshot(md, m);
	return !bitmap_empty(md->committing, md->meta_blocks);
}

/* Block @m is on disk: entries it wrote not dirty leave nr_ddirty */
static void committed(struct cc_meta *md, unsigned long m)
{
	u64 i = (u64)m * CC_ENTRIES_PER_BLOCK, end;

	end = min_t(u64, i + CC_ENTRIES_PER_BLOCK, md->nr_blocks);
	for (; i < end; i++) {
		if (!(le32_to_cpu(md->dimg[i].flags) & CC_DE_DIRTY) &&
		    test_bit(i, md->ddirty)) {
			__clear_bit(i, md->ddirty);
			WRITE_ONCE(md->nr_ddirty, md->nr_ddirty - 1);
		}
	}
}

/* The commit's end (caller's lock): @r 0 or its error */
void cc_meta_done(struct cc_meta *md, int r)
{
	unsigned long m;

	if (r) {
		/* written again by the next commit */
		bitmap_or(md->changed, md->changed, md->committing,
			  md->meta_blocks);
		return;
	}
	for_each_set_bit(m, md->committing, md->meta_blocks)
		committed(md, m);
}

static int write_block(struct cc_meta *md, unsigned long m)
{
	struct dm_buffer *b;
	void *p;

	p = dm_bufio_new(md->bufio, 1 + m, &b);
	if (IS_ERR(p))
		return PTR_ERR(p);
	memset(p, 0, CC_META_BLOCK);
	memcpy(p, &md->dimg[(u64)m * CC_ENTRIES_PER_BLOCK],
	       min_t(u64, CC_ENTRIES_PER_BLOCK,
		     md->nr_blocks - (u64)m * CC_ENTRIES_PER_BLOCK) *
	       sizeof(struct cc_disk_entry));
	dm_bufio_mark_buffer_dirty(b);
	dm_bufio_release(b);
	return 0;
}

/*
 * Write the snapshot's blocks and the superblock (with @clean, the
 * clean-shutdown flag), then flush the cache device: the entries and all
 * data written before are durable when it returns 0.  May sleep.
 */
int cc_meta_write(struct cc_meta *md, bool clean)
{
	unsigned long m;
	int r;

	for_each_set_bit(m, md->committing, md->meta_blocks) {
		r = write_block(md, m);
		if (r)
			return r;
	}
	md->generation++;
	r = write_sb(md, clean);
	if (!r)
		r = dm_bufio_write_dirty_buffers(md->bufio);
	if (!r)
		r = dm_bufio_issue_flush(md->bufio);
	return r;
}

/* Flush the cache device.  May sleep. */
int cc_meta_flush(struct cc_meta *md)
{
	return dm_bufio_issue_flush(md->bufio);
}
