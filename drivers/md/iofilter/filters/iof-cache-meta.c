// SPDX-License-Identifier: GPL-2.0
/*
 * iofilter "cache": persistent metadata on the cache device.
 *
 * The superblock and the mapping (one 16-byte entry per cache block) live
 * at the start of the cache device and are read and written through
 * dm-bufio in 4 KiB blocks.  Memory is authoritative while the instance
 * lives: every state change that must reach the disk sets the entry's
 * dstate/doblock under cc->lock and marks its metadata block changed; a
 * commit snapshots the changed blocks, flushes the cache device (the data
 * those entries describe is durable first), writes the blocks and the
 * superblock, and flushes again.  Layout and rules: iof-cache.h and the
 * "Consistency" comment in iof-cache.c.
 */
#include <linux/bitmap.h>
#include <linux/crc32c.h>
#include <linux/log2.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/vmalloc.h>

#include "iof-cache.h"

#define DM_MSG_PREFIX "iofilter-cache"
#include <linux/device-mapper.h>

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

void cc_mark_changed(struct cc *cc, struct cc_entry *e)
{
	lockdep_assert_held(&cc->lock);
	__set_bit(cc_index(cc, e) / CC_ENTRIES_PER_BLOCK, cc->changed);
}

static int alloc_maps(struct cc *cc)
{
	u64 i;

	cc->entries = vzalloc(array_size(cc->nr_blocks, sizeof(*cc->entries)));
	cc->dimg = vzalloc(array_size(cc->meta_blocks * CC_ENTRIES_PER_BLOCK,
				      sizeof(*cc->dimg)));
	cc->changed = bitmap_zalloc(cc->meta_blocks, GFP_KERNEL);
	cc->committing = bitmap_zalloc(cc->meta_blocks, GFP_KERNEL);
	cc->ddirty = bitmap_zalloc(cc->nr_blocks, GFP_KERNEL);
	cc->hash_bits = max_t(unsigned int, 6,
			      ilog2(roundup_pow_of_two(cc->nr_blocks)));
	cc->buckets = kvcalloc(1UL << cc->hash_bits, sizeof(*cc->buckets),
			       GFP_KERNEL);
	if (!cc->entries || !cc->dimg || !cc->changed || !cc->committing ||
	    !cc->ddirty || !cc->buckets)
		return -ENOMEM;
	for (i = 0; i < (1UL << cc->hash_bits); i++) {
		spin_lock_init(&cc->buckets[i].lock);
		INIT_HLIST_HEAD(&cc->buckets[i].head);
		atomic_set(&cc->buckets[i].wr_inflight, 0);
	}
	for (i = 0; i < cc->nr_blocks; i++) {
		INIT_LIST_HEAD(&cc->entries[i].list);
		atomic_set(&cc->entries[i].inflight, 0);
	}
	return 0;
}

static void fill_sb(struct cc *cc, struct cc_disk_sb *sb, bool clean)
{
	const char *vname = iofilter_volume_name(cc->vol);

	memset(sb, 0, CC_META_BLOCK);
	sb->magic = cpu_to_le64(CC_MAGIC);
	sb->version = cpu_to_le32(CC_VERSION);
	sb->flags = cpu_to_le32(clean ? CC_SB_CLEAN : 0);
	sb->block_sectors = cpu_to_le32(cc->block_sectors);
	sb->meta_blocks = cpu_to_le32(cc->meta_blocks);
	sb->nr_blocks = cpu_to_le64(cc->nr_blocks);
	sb->data_start = cpu_to_le64(cc->data_start);
	sb->origin_sectors = cpu_to_le64(cc->origin_sectors);
	strscpy(sb->volume, vname, sizeof(sb->volume));
	sb->generation = cpu_to_le64(cc->generation);
	sb->csum = cpu_to_le32(sb_csum(sb));
}

static int write_sb(struct cc *cc, bool clean)
{
	struct dm_buffer *b;
	void *p;

	p = dm_bufio_new(cc->bufio, 0, &b);
	if (IS_ERR(p))
		return PTR_ERR(p);
	fill_sb(cc, p, clean);
	dm_bufio_mark_buffer_dirty(b);
	dm_bufio_release(b);
	return 0;
}

/* Zero the mapping of a new cache */
static int format(struct cc *cc)
{
	struct dm_buffer *b;
	unsigned int m;
	void *p;
	u64 i;

	for (i = 0; i < cc->nr_blocks; i++)
		list_add_tail(&cc->entries[i].list, &cc->free);
	cc->nr_free = cc->nr_blocks;
	for (m = 0; m < cc->meta_blocks; m++) {
		p = dm_bufio_new(cc->bufio, 1 + m, &b);
		if (IS_ERR(p))
			return PTR_ERR(p);
		memset(p, 0, CC_META_BLOCK);
		dm_bufio_mark_buffer_dirty(b);
		dm_bufio_release(b);
	}
	return 0;
}

/*
 * Read the mapping.  After a clean shutdown every valid entry is trusted
 * (the cache is warm).  After a crash only dirty entries are kept: a clean
 * entry may be older than the origin (an invalidation that never reached
 * the disk), a dirty one never is (see "Consistency" in iof-cache.c).
 */
static int load(struct cc *cc, bool clean, u64 *dropped)
{
	struct dm_buffer *b;
	unsigned int m, j;
	u64 i;

	for (m = 0; m < cc->meta_blocks; m++) {
		struct cc_disk_entry *de;

		de = dm_bufio_read(cc->bufio, 1 + m, &b);
		if (IS_ERR(de))
			return PTR_ERR(de);
		for (j = 0; j < CC_ENTRIES_PER_BLOCK; j++) {
			u32 flags = le32_to_cpu(de[j].flags);
			u64 ob = le64_to_cpu(de[j].oblock);
			struct cc_bucket *bk;
			struct cc_entry *e;

			i = (u64)m * CC_ENTRIES_PER_BLOCK + j;
			if (i >= cc->nr_blocks)
				break;
			e = &cc->entries[i];
			if (!flags) {
				list_add_tail(&e->list, &cc->free);
				cc->nr_free++;
				continue;
			}
			bk = cc_bucket_of(cc, ob);
			if (!(flags & CC_DE_VALID) ||
			    le32_to_cpu(de[j].csum) != entry_csum(i, &de[j]) ||
			    ob >= cc->origin_blocks ||
			    (!clean && !(flags & CC_DE_DIRTY)) ||
			    cc_lookup(bk, ob)) {
				/* rewritten as invalid by the first commit */
				__set_bit(m, cc->changed);
				list_add_tail(&e->list, &cc->pending_free);
				(*dropped)++;
				continue;
			}
			e->oblock = ob;
			e->doblock = ob;
			e->flags = CE_HASHED | CE_VALID;
			e->dstate = DS_CLEAN;
			cc->dimg[i] = de[j];	/* what the disk holds */
			if (flags & CC_DE_DIRTY) {
				e->flags |= CE_DIRTY;
				e->dstate = DS_DIRTY;
				cc->nr_dirty++;
				__set_bit(i, cc->ddirty);
				cc->nr_ddirty++;
			}
			cc_hash_insert(cc, e);
			cc->nr_used++;
		}
		dm_bufio_release(b);
	}
	return 0;
}

int cc_meta_open(struct cc *cc, bool fmt, char *error, size_t error_len)
{
	const char *vname = iofilter_volume_name(cc->vol);
	sector_t dev_sectors = bdev_nr_sectors(cc->cache), ds = 0;
	unsigned int mb = 0;
	struct cc_disk_sb *sb;
	struct dm_buffer *b;
	u64 n, dropped = 0;
	bool clean = true, fresh = fmt;
	int r;

	n = layout(dev_sectors, cc->block_sectors, &mb, &ds);
	if (n < CC_MIN_BLOCKS) {
		scnprintf(error, error_len,
			  "cache device too small: %llu sectors hold %llu blocks of %u bytes with their metadata, need at least %u",
			  (u64)dev_sectors, n,
			  cc->block_sectors << SECTOR_SHIFT, CC_MIN_BLOCKS);
		return -ENOSPC;
	}
	cc->bufio = dm_bufio_client_create(cc->cache, CC_META_BLOCK, 1, 0,
					   NULL, NULL, 0);
	if (IS_ERR(cc->bufio)) {
		r = PTR_ERR(cc->bufio);
		cc->bufio = NULL;
		scnprintf(error, error_len, "cannot create dm-bufio client: %d",
			  r);
		return r;
	}

	sb = dm_bufio_read(cc->bufio, 0, &b);
	if (IS_ERR(sb)) {
		scnprintf(error, error_len,
			  "cannot read the cache superblock: error %ld",
			  PTR_ERR(sb));
		return PTR_ERR(sb);
	}
	r = 0;
	if (!fmt && le64_to_cpu(sb->magic) == CC_MAGIC) {
		if (le32_to_cpu(sb->csum) != sb_csum(sb)) {
			scnprintf(error, error_len,
				  "cache superblock checksum mismatch (corrupt); format=1 discards the cache");
			r = -EUCLEAN;
		} else if (le32_to_cpu(sb->version) != CC_VERSION) {
			scnprintf(error, error_len,
				  "cache format version %u not supported (this module: %u)",
				  le32_to_cpu(sb->version), CC_VERSION);
			r = -EINVAL;
		} else if (strncmp(sb->volume, vname, sizeof(sb->volume)) ||
			   le64_to_cpu(sb->origin_sectors) !=
			   cc->origin_sectors) {
			scnprintf(error, error_len,
				  "cache device belongs to volume '%.63s' (origin of %llu sectors), not to this one; format=1 discards that cache",
				  sb->volume, le64_to_cpu(sb->origin_sectors));
			r = -EBUSY;
		} else if (le32_to_cpu(sb->block_sectors) !=
			   cc->block_sectors) {
			scnprintf(error, error_len,
				  "cache device was formatted with block_size=%u; use that or format=1",
				  le32_to_cpu(sb->block_sectors) << SECTOR_SHIFT);
			r = -EINVAL;
		} else {
			cc->nr_blocks = le64_to_cpu(sb->nr_blocks);
			cc->meta_blocks = le32_to_cpu(sb->meta_blocks);
			cc->data_start = le64_to_cpu(sb->data_start);
			cc->generation = le64_to_cpu(sb->generation);
			clean = le32_to_cpu(sb->flags) & CC_SB_CLEAN;
			if (cc->meta_blocks !=
			    DIV_ROUND_UP(cc->nr_blocks, CC_ENTRIES_PER_BLOCK) ||
			    cc->data_start + (cc->nr_blocks << cc->block_shift) >
			    dev_sectors) {
				scnprintf(error, error_len,
					  "cache superblock describes %llu blocks that do not fit the device (%llu sectors)",
					  cc->nr_blocks, (u64)dev_sectors);
				r = -EINVAL;
			}
		}
	} else {
		fresh = true;
	}
	dm_bufio_release(b);
	if (r)
		return r;

	if (fresh) {
		cc->nr_blocks = n;
		cc->meta_blocks = mb;
		cc->data_start = ds;
		cc->generation = 0;
	}
	r = alloc_maps(cc);
	if (r) {
		scnprintf(error, error_len, "out of memory for %llu cache blocks",
			  cc->nr_blocks);
		return r;
	}
	if (fresh)
		r = format(cc);
	else
		r = load(cc, clean, &dropped);
	if (r) {
		scnprintf(error, error_len,
			  "cannot %s the cache metadata: error %d",
			  fresh ? "write" : "read", r);
		return r;
	}
	if (!fresh && !clean)
		DMWARN("%s: cache %s was not shut down cleanly: %llu clean blocks dropped, %llu dirty kept",
		       vname, cc->cache_path, dropped, cc->nr_dirty);
	/* mark the superblock in use before any I/O depends on the cache */
	__set_bit(0, cc->changed);
	r = cc_commit(cc, false);
	if (r) {
		scnprintf(error, error_len,
			  "cannot write the cache metadata: error %d", r);
		return r;
	}
	return 0;
}

void cc_meta_close(struct cc *cc)
{
	if (cc->bufio)
		dm_bufio_client_destroy(cc->bufio);
	cc->bufio = NULL;
	kvfree(cc->buckets);
	bitmap_free(cc->ddirty);
	bitmap_free(cc->committing);
	bitmap_free(cc->changed);
	vfree(cc->dimg);
	vfree(cc->entries);
}

/*
 * Copy the disk state of the entries of metadata block @m to the image to
 * write.  An entry about to be written dirty counts in nr_ddirty from now:
 * the count never falls below what the disk may hold (commit_lock held).
 */
static void snapshot(struct cc *cc, unsigned long m)
{
	u64 i = (u64)m * CC_ENTRIES_PER_BLOCK, end;

	end = min_t(u64, i + CC_ENTRIES_PER_BLOCK, cc->nr_blocks);
	for (; i < end; i++) {
		struct cc_entry *e = &cc->entries[i];
		struct cc_disk_entry *de = &cc->dimg[i];

		if (e->dstate == DS_INVALID) {
			memset(de, 0, sizeof(*de));
			continue;
		}
		de->oblock = cpu_to_le64(e->doblock);
		de->flags = cpu_to_le32(e->dstate);
		de->csum = cpu_to_le32(entry_csum(i, de));
		if ((e->dstate & CC_DE_DIRTY) && !test_bit(i, cc->ddirty)) {
			__set_bit(i, cc->ddirty);
			WRITE_ONCE(cc->nr_ddirty, cc->nr_ddirty + 1);
		}
	}
}

/* Block @m is on disk: entries it wrote not dirty leave nr_ddirty */
static void committed(struct cc *cc, unsigned long m)
{
	u64 i = (u64)m * CC_ENTRIES_PER_BLOCK, end;

	end = min_t(u64, i + CC_ENTRIES_PER_BLOCK, cc->nr_blocks);
	for (; i < end; i++) {
		if (!(le32_to_cpu(cc->dimg[i].flags) & CC_DE_DIRTY) &&
		    test_bit(i, cc->ddirty)) {
			__clear_bit(i, cc->ddirty);
			WRITE_ONCE(cc->nr_ddirty, cc->nr_ddirty - 1);
		}
	}
}

static int write_block(struct cc *cc, unsigned long m)
{
	struct dm_buffer *b;
	void *p;

	p = dm_bufio_new(cc->bufio, 1 + m, &b);
	if (IS_ERR(p))
		return PTR_ERR(p);
	memset(p, 0, CC_META_BLOCK);
	memcpy(p, &cc->dimg[(u64)m * CC_ENTRIES_PER_BLOCK],
	       min_t(u64, CC_ENTRIES_PER_BLOCK,
		     cc->nr_blocks - (u64)m * CC_ENTRIES_PER_BLOCK) *
	       sizeof(struct cc_disk_entry));
	dm_bufio_mark_buffer_dirty(b);
	dm_bufio_release(b);
	return 0;
}

/*
 * Make the in-memory state durable: the entries' disk state as of the
 * snapshot, the data they describe, and (with @clean) the clean-shutdown
 * flag.  Then end the bios that waited for it and free the blocks whose
 * invalidation is now on disk.  May sleep.  Serialised by commit_lock.
 */
int cc_commit(struct cc *cc, bool clean)
{
	LIST_HEAD(flushes);
	LIST_HEAD(fuas);
	LIST_HEAD(pend);
	struct cc_entry *e, *tmp;
	bool oflush, cflush;
	unsigned long m;
	int r = 0, ro = 0;

	mutex_lock(&cc->commit_lock);
	spin_lock_irq(&cc->lock);
	bitmap_copy(cc->committing, cc->changed, cc->meta_blocks);
	bitmap_zero(cc->changed, cc->meta_blocks);
	for_each_set_bit(m, cc->committing, cc->meta_blocks)
		snapshot(cc, m);
	list_splice_init(&cc->pending_free, &pend);
	list_splice_init(&cc->flush_waiters, &flushes);
	list_splice_init(&cc->fua_waiters, &fuas);
	oflush = cc->wb_since_commit;
	cflush = cc->filled_since_commit;
	cc->wb_since_commit = false;
	cc->filled_since_commit = false;
	spin_unlock_irq(&cc->lock);

	if (READ_ONCE(cc->failed)) {
		r = -EIO;
		goto out;
	}
	if (!clean && bitmap_empty(cc->committing, cc->meta_blocks)) {
		/* nothing to record: make the cache's data durable */
		r = dm_bufio_issue_flush(cc->bufio);
		goto out;
	}
	/* the data the filled entries describe is durable before they are */
	if (cflush) {
		r = dm_bufio_issue_flush(cc->bufio);
		if (r)
			goto out;
	}
	/* and so is what writeback copied before entries say "clean" */
	if (oflush) {
		ro = blkdev_issue_flush(cc->origin);
		if (ro)
			goto out;
	}
	for_each_set_bit(m, cc->committing, cc->meta_blocks) {
		r = write_block(cc, m);
		if (r)
			goto out;
	}
	cc->generation++;
	r = write_sb(cc, clean);
	if (!r)
		r = dm_bufio_write_dirty_buffers(cc->bufio);
	/* the entries and all data written before the commit are durable */
	if (!r)
		r = dm_bufio_issue_flush(cc->bufio);
out:
	spin_lock_irq(&cc->lock);
	if (r || ro) {
		bitmap_or(cc->changed, cc->changed, cc->committing,
			  cc->meta_blocks);
		list_splice(&pend, &cc->pending_free);
		cc->wb_since_commit |= oflush;
		cc->filled_since_commit |= cflush;
	} else {
		for_each_set_bit(m, cc->committing, cc->meta_blocks)
			committed(cc, m);
		cc->commits++;
		smp_mb();	/* invalidated flags before inflight: hit_lockless() */
		list_for_each_entry_safe(e, tmp, &pend, list) {
			list_del(&e->list);
			if (atomic_read(&e->inflight)) {
				list_add_tail(&e->list, &cc->pending_free);
			} else {
				list_add_tail(&e->list, &cc->free);
				cc->nr_free++;
			}
		}
	}
	spin_unlock_irq(&cc->lock);
	mutex_unlock(&cc->commit_lock);

	if (r)
		cc_set_failed(cc, r, "metadata commit");
	else if (ro)
		iofilter_latch_error(&cc->fi, ro, "origin flush");
	cc_release_waiters(cc, &flushes, &fuas, r ? r : ro);
	return r ? r : ro;
}
