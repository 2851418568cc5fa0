// SPDX-License-Identifier: GPL-2.0
/*
 * A size histogram per range of the volume, for reads and writes: an
 * inspection program, every bio continues.
 *
 * Map "hist" (array, __u64 counts), index
 *	(dir * HIST_RANGES + range) * HIST_BUCKETS + bucket
 * dir 0 read, 1 write; range = sector / range_sectors (the last range takes
 * everything beyond); bucket = log2(size) - 9 (512 bytes: 0, 4 KiB: 3,
 * 1 MiB and larger: 11).  Read it with iofilterctl stats VOLUME (the
 * non-zero counts by index) or bpftool map dump pinned
 * /sys/fs/bpf/iofilter/VOLUME/INSTANCE/KEY/hist (iofilterctl status shows
 * the map's id).
 */
#include "iof-bpf-prog.h"

#define HIST_RANGES	16
#define HIST_BUCKETS	12

const volatile __u64 range_sectors = 2048;	/* 1 MiB per range */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * HIST_RANGES * HIST_BUCKETS);
	__type(key, __u32);
	__type(value, __u64);
} hist SEC(".maps");

static __always_inline __u32 size_bucket(__u32 size)
{
	__u32 b = 0;

	size >>= 10;	/* < 1 KiB: bucket 0 */
	if (size >= 1 << 8) {
		b += 8;
		size >>= 8;
	}
	if (size >= 1 << 4) {
		b += 4;
		size >>= 4;
	}
	if (size >= 1 << 2) {
		b += 2;
		size >>= 2;
	}
	if (size >= 1 << 1) {
		b += 1;
		size >>= 1;
	}
	if (size)
		b += 1;
	return b < HIST_BUCKETS ? b : HIST_BUCKETS - 1;
}

IOF_BPF_PROGRAM(size_hist)
{
	__u64 range, *n;
	__u32 idx, dir;

	IOF_BPF_MINE_ONLY(io);
	if (io->op == IOF_OP_READ)
		dir = 0;
	else if (io->op == IOF_OP_WRITE)
		dir = 1;
	else
		return IOF_BPF_CONTINUE;
	range = range_sectors ? io->sector / range_sectors : 0;
	if (range >= HIST_RANGES)
		range = HIST_RANGES - 1;
	idx = (dir * HIST_RANGES + (__u32)range) * HIST_BUCKETS + size_bucket(io->size);
	n = bpf_map_lookup_elem(&hist, &idx);
	if (n)
		__sync_fetch_and_add(n, 1);
	return IOF_BPF_CONTINUE;
}
