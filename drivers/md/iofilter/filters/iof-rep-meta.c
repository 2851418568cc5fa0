// SPDX-License-Identifier: GPL-2.0
/*
 * iofilter "replicate": the metadata device and the region bitmaps.
 *
 * The metadata device.  Block 0 is a header (magic, version, uuid, volume
 * name and size, region size, clean flag, crc), then the bitmap, one bit per
 * region, little endian.  A zeroed device is formatted with every region
 * dirty (full initial sync); anything else that does not match is refused.
 * The clean flag is cleared while the instance lives: after a crash every
 * region counts as dirty, because writes in flight may have reached one leg.
 *
 * What the replica has not flushed is not clean.  The regions written to
 * it since its last good flush are remembered (the unflushed bitmap) and
 * marked dirty when it goes down; resync clears a region's bit on disk,
 * and sets in-sync, only after a flush of the replica; the clean flag is
 * written after one (uf_mark(), resync_commit()).
 */
#include <linux/crc32.h>
#include <linux/dm-bufio.h>
#include <linux/uuid.h>

#include "iof-rep.h"

#define REP_MAGIC		0x31504552464f49ULL	/* "IOFREP1" */
#define REP_VERSION		1
#define REP_HDR_CLEAN		0x1

/* On disk, little endian, in block 0 of the metadata device */
struct rep_header {
	__le64 magic;
	__le32 version;
	__le32 flags;
	u8 uuid[16];
	__le64 volume_sectors;
	__le64 region_sectors;
	__le64 nr_regions;
	char volume[64];
	__le32 crc;		/* crc32 of the bytes before it */
} __packed;

/* ---- regions: the in-memory bitmap ---- */

bool range_all_dirty(struct rep_filter *rf, sector_t s, u32 nr)
{
	unsigned long r, last = region_of(rf, s + nr - 1);

	for (r = region_of(rf, s); r <= last; r++)
		if (!test_bit(r, rf->dirty))
			return false;
	return true;
}

bool range_any_dirty(struct rep_filter *rf, sector_t s, u32 nr)
{
	unsigned long first = region_of(rf, s), last = region_of(rf, s + nr - 1);

	return find_next_bit(rf->dirty, last + 1, first) <= last;
}

void set_dirty_mem(struct rep_filter *rf, sector_t s, u32 nr)
{
	unsigned long r, last = region_of(rf, s + nr - 1);

	for (r = region_of(rf, s); r <= last; r++)
		if (!test_and_set_bit(r, rf->dirty))
			atomic_long_inc(&rf->nr_dirty);
}

/* ---- the metadata device (dm-bufio) ---- */

/* Set (or clear) the on-disk bits of regions [first, last]; meta_lock held */
int meta_set_bits(struct rep_filter *rf, unsigned long first,
		  unsigned long last, bool set)
{
	struct dm_buffer *b = NULL;
	sector_t cur = 0;
	unsigned long r;
	void *data = NULL;

	for (r = first; r <= last; r++) {
		sector_t blk = 1 + r / REP_BITS_PER_BLOCK;

		if (!b || blk != cur) {
			if (b) {
				dm_bufio_mark_buffer_dirty(b);
				dm_bufio_release(b);
			}
			data = dm_bufio_read(rf->bufio, blk, &b);
			if (IS_ERR(data))
				return PTR_ERR(data);
			cur = blk;
		}
		if (set)
			__set_bit_le(r % REP_BITS_PER_BLOCK, data);
		else
			__clear_bit_le(r % REP_BITS_PER_BLOCK, data);
	}
	if (b) {
		dm_bufio_mark_buffer_dirty(b);
		dm_bufio_release(b);
	}
	return 0;
}

int meta_mark(struct rep_filter *rf, sector_t s, u32 nr)
{
	return meta_set_bits(rf, region_of(rf, s), region_of(rf, s + nr - 1),
			     true);
}

static void header_crc(struct rep_header *h)
{
	h->crc = cpu_to_le32(crc32_le(~0U, (void *)h,
				      offsetof(struct rep_header, crc)));
}

/* Write the clean flag; meta_lock held or no I/O running */
int meta_set_clean(struct rep_filter *rf, bool clean)
{
	struct dm_buffer *b;
	struct rep_header *h;

	h = dm_bufio_read(rf->bufio, 0, &b);
	if (IS_ERR(h))
		return PTR_ERR(h);
	if (clean)
		h->flags |= cpu_to_le32(REP_HDR_CLEAN);
	else
		h->flags &= ~cpu_to_le32(REP_HDR_CLEAN);
	header_crc(h);
	dm_bufio_mark_buffer_dirty(b);
	dm_bufio_release(b);
	return dm_bufio_write_dirty_buffers(rf->bufio);
}

static bool all_zero(const void *p, size_t len)
{
	return !memchr_inv(p, 0, len);
}

/* A zeroed device: a new header, and every region dirty (full initial sync) */
static int meta_format(struct rep_filter *rf, struct rep_header *h,
		       struct dm_buffer *b, const char *vname,
		       char *error, size_t error_len)
{
	unsigned long nblocks = DIV_ROUND_UP(rf->nr_regions, REP_BITS_PER_BLOCK);
	unsigned long i;
	void *data;

	h->magic = cpu_to_le64(REP_MAGIC);
	h->version = cpu_to_le32(REP_VERSION);
	h->flags = 0;
	generate_random_uuid(h->uuid);
	h->volume_sectors = cpu_to_le64(rf->sectors);
	h->region_sectors = cpu_to_le64(1ULL << rf->region_shift);
	h->nr_regions = cpu_to_le64(rf->nr_regions);
	strscpy(h->volume, vname, sizeof(h->volume));
	header_crc(h);
	dm_bufio_mark_buffer_dirty(b);
	dm_bufio_release(b);
	for (i = 0; i < nblocks; i++) {
		data = dm_bufio_new(rf->bufio, 1 + i, &b);
		if (IS_ERR(data)) {
			scnprintf(error, error_len, "cannot format metadata %s: error %ld",
				  rf->meta_path, PTR_ERR(data));
			return PTR_ERR(data);
		}
		memset(data, 0xff, REP_BLOCK);
		dm_bufio_mark_buffer_dirty(b);
		dm_bufio_release(b);
	}
	bitmap_set(rf->dirty, 0, rf->nr_regions);
	atomic_long_set(&rf->nr_dirty, rf->nr_regions);
	rep_log(KERN_INFO, rf,
		"formatted metadata %s: full initial sync of %lu regions",
		rf->meta_path, rf->nr_regions);
	return 0;
}

/* A header of ours, for this volume and this region size, or -EINVAL */
static int meta_check(struct rep_filter *rf, const struct rep_header *h,
		      const char *vname, char *error, size_t error_len)
{
	if (le64_to_cpu(h->magic) != REP_MAGIC) {
		scnprintf(error, error_len,
			  "metadata %s has no replicate header and is not zeroed (zero its first 4KiB to format it)",
			  rf->meta_path);
		return -EINVAL;
	}
	if (le32_to_cpu(h->version) != REP_VERSION) {
		scnprintf(error, error_len, "metadata %s: unsupported version %u",
			  rf->meta_path, le32_to_cpu(h->version));
		return -EINVAL;
	}
	if (le32_to_cpu(h->crc) != crc32_le(~0U, (const void *)h,
					    offsetof(struct rep_header, crc))) {
		scnprintf(error, error_len, "metadata %s: header checksum mismatch",
			  rf->meta_path);
		return -EINVAL;
	}
	if (strncmp(h->volume, vname, sizeof(h->volume)) ||
	    le64_to_cpu(h->volume_sectors) != rf->sectors) {
		scnprintf(error, error_len,
			  "metadata %s belongs to volume %.63s of %llu sectors, not %s of %llu",
			  rf->meta_path, h->volume, le64_to_cpu(h->volume_sectors),
			  vname, (u64)rf->sectors);
		return -EINVAL;
	}
	if (le64_to_cpu(h->region_sectors) != (1ULL << rf->region_shift)) {
		scnprintf(error, error_len,
			  "metadata %s was formatted with region_size %llu, not %llu",
			  rf->meta_path,
			  le64_to_cpu(h->region_sectors) << SECTOR_SHIFT,
			  (1ULL << rf->region_shift) << SECTOR_SHIFT);
		return -EINVAL;
	}
	return 0;
}

/*
 * The dirty bits of a header that passed meta_check(): the bitmap's after a
 * clean shutdown, every region after a crash (on disk first).
 */
static int meta_load_bits(struct rep_filter *rf, bool clean, char *error,
			  size_t error_len)
{
	unsigned long nblocks = DIV_ROUND_UP(rf->nr_regions, REP_BITS_PER_BLOCK);
	struct dm_buffer *b;
	unsigned long i, r;
	void *data;
	int ret;

	if (!clean) {
		rep_log(KERN_WARNING, rf,
			"metadata %s: not shut down cleanly: every region is dirty",
			rf->meta_path);
		mutex_lock(&rf->meta_lock);
		ret = meta_set_bits(rf, 0, rf->nr_regions - 1, true);
		mutex_unlock(&rf->meta_lock);
		if (ret) {
			scnprintf(error, error_len, "cannot write metadata %s: error %d",
				  rf->meta_path, ret);
			return ret;
		}
		bitmap_set(rf->dirty, 0, rf->nr_regions);
	} else {
		for (i = 0; i < nblocks; i++) {
			data = dm_bufio_read(rf->bufio, 1 + i, &b);
			if (IS_ERR(data)) {
				scnprintf(error, error_len, "cannot read metadata %s: error %ld",
					  rf->meta_path, PTR_ERR(data));
				return PTR_ERR(data);
			}
			for (r = i * REP_BITS_PER_BLOCK;
			     r < min((i + 1) * REP_BITS_PER_BLOCK, rf->nr_regions); r++)
				if (test_bit_le(r % REP_BITS_PER_BLOCK, data))
					__set_bit(r, rf->dirty);
			dm_bufio_release(b);
		}
	}
	atomic_long_set(&rf->nr_dirty, bitmap_weight(rf->dirty, rf->nr_regions));
	return 0;
}

/* Format a zeroed device (every region dirty) or load and check a header */
static int meta_load(struct rep_filter *rf, struct iofilter_volume *vol,
		     char *error, size_t error_len)
{
	const char *vname = iofilter_volume_name(vol);
	struct rep_header *h;
	struct dm_buffer *b;
	bool clean;
	int ret;

	h = dm_bufio_read(rf->bufio, 0, &b);
	if (IS_ERR(h)) {
		scnprintf(error, error_len, "cannot read metadata %s: error %ld",
			  rf->meta_path, PTR_ERR(h));
		return PTR_ERR(h);
	}
	if (all_zero(h, REP_BLOCK)) {
		/* releases b */
		ret = meta_format(rf, h, b, vname, error, error_len);
	} else {
		ret = meta_check(rf, h, vname, error, error_len);
		clean = le32_to_cpu(h->flags) & REP_HDR_CLEAN;
		dm_bufio_release(b);
		if (!ret)
			ret = meta_load_bits(rf, clean, error, error_len);
	}
	if (ret)
		return ret;
	/* not clean while we live */
	ret = meta_set_clean(rf, false);
	if (ret)
		scnprintf(error, error_len, "cannot write metadata %s: error %d",
			  rf->meta_path, ret);
	return ret;
}

/* The dm-bufio client on the metadata device, and what the device holds */
int meta_open(struct rep_filter *rf, struct iofilter_volume *vol,
	      char *error, size_t error_len)
{
	int r;

	rf->bufio = dm_bufio_client_create(rf->meta.bdev, REP_BLOCK, 1, 0,
					   NULL, NULL, 0);
	if (IS_ERR(rf->bufio)) {
		r = PTR_ERR(rf->bufio);
		rf->bufio = NULL;
		scnprintf(error, error_len, "cannot create the dm-bufio client: error %d", r);
		return r;
	}
	r = meta_load(rf, vol, error, error_len);
	if (r) {
		/* nothing of ours on it: do not write a clean flag */
		dm_bufio_client_destroy(rf->bufio);
		rf->bufio = NULL;
	}
	return r;
}

/*
 * ---- what the replica has not made durable ----
 *
 * A replica write that completed may still sit in the replica's volatile
 * cache: it is durable only once a later flush of the replica succeeds.
 * A replica that loses power loses it, and its next I/O (often that
 * flush) fails.  So a region is clean, on disk or in memory, only for data
 * the replica has flushed (DRBD's activity log, dm-raid1's region hash):
 * the regions written since the last good flush are kept in the unflushed
 * bitmap, and when the replica goes down they are marked dirty before it
 * is used again (uf_merge()); resync clears the bits of what it copied on
 * disk only after a flush (resync_commit()).
 *
 * A flush covers the writes that completed before it was issued.  A write
 * marks the generation current when its completion runs, which is after
 * the replica completed it: a write that completed before a flush was
 * issued marks the generation that flush owns (or a later one, which is
 * only conservative), one that completes later marks the new generation.
 * Overlapping flushes: only one owns a generation; the others clear
 * nothing.
 */

/* Any context */
void uf_mark(struct rep_filter *rf, sector_t s, u32 nr)
{
	unsigned long *uf = rf->unflushed[READ_ONCE(rf->uf_cur)];
	unsigned long r, last = region_of(rf, s + nr - 1);

	for (r = region_of(rf, s); r <= last; r++)
		if (!test_bit(r, uf))
			set_bit(r, uf);
}

/* A replica flush is about to be issued: true when it owns a generation */
bool uf_flush_start_locked(struct rep_filter *rf)
{
	lockdep_assert_held(&rf->lock);
	if (rf->uf_busy)
		return false;
	rf->uf_busy = true;
	rf->uf_old = rf->uf_cur;
	WRITE_ONCE(rf->uf_cur, !rf->uf_cur);
	return true;
}

bool uf_flush_start(struct rep_filter *rf)
{
	unsigned long flags;
	bool own;

	spin_lock_irqsave(&rf->lock, flags);
	own = uf_flush_start_locked(rf);
	spin_unlock_irqrestore(&rf->lock, flags);
	return own;
}

/*
 * The flush that owns a generation is done.  On success its regions are
 * durable on the replica (cleared by a worker: the bitmap may be large);
 * on failure they stay and the replica goes down.  Any context.
 */
void uf_flush_end(struct rep_filter *rf, bool ok)
{
	unsigned long flags;

	if (ok) {
		queue_work(rf->wq, &rf->uf_work);
		return;
	}
	spin_lock_irqsave(&rf->lock, flags);
	rf->uf_busy = false;
	spin_unlock_irqrestore(&rf->lock, flags);
}

void uf_work(struct work_struct *w)
{
	struct rep_filter *rf = container_of(w, struct rep_filter, uf_work);

	/* a late mark lost here completed before the flush was issued */
	bitmap_zero(rf->unflushed[rf->uf_old], rf->nr_regions);
	spin_lock_irq(&rf->lock);
	rf->uf_busy = false;
	spin_unlock_irq(&rf->lock);
}

/*
 * The replica went down, or is about to be trusted again: every region
 * written to it since its last good flush is dirty, on disk and in memory.
 * No replica I/O may be in flight (replica_users is zero).  May sleep.
 */
void uf_merge(struct rep_filter *rf)
{
	unsigned long r, n = 0;
	unsigned int i;
	int ret = 0;

	mutex_lock(&rf->meta_lock);
	for (i = 0; i < 2; i++) {
		for_each_set_bit(r, rf->unflushed[i], rf->nr_regions) {
			clear_bit(r, rf->unflushed[i]);
			if (test_bit(r, rf->dirty))
				continue;
			if (!ret)
				ret = meta_set_bits(rf, r, r, true);
			/* in memory even if the metadata failed: resync it */
			if (!test_and_set_bit(r, rf->dirty))
				atomic_long_inc(&rf->nr_dirty);
			n++;
		}
	}
	if (n && !ret)
		ret = dm_bufio_write_dirty_buffers(rf->bufio);
	mutex_unlock(&rf->meta_lock);
	if (ret)
		rep_latch(rf, ret, "dirty bitmap write");
	if (n)
		rep_log(KERN_WARNING, rf,
			"%lu regions written to replica %s since its last flush are dirty",
			n, rf->replica_path);
}
