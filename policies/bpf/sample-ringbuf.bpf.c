// SPDX-License-Identifier: GPL-2.0
/*
 * Sample one bio in sample_every to a ring buffer, for tracing: every bio
 * continues.
 *
 * Map "samples" (ring buffer) gets a struct iof_sample per sampled bio;
 * map "stats" (array) counts [0] bios seen, [1] sampled, [2] dropped (ring
 * full).  A reader opens the pinned map
 * (/sys/fs/bpf/iofilter/VOLUME/INSTANCE/KEY/samples, bpf_obj_get()) and
 * polls it with libbpf's ring_buffer__new() / ring_buffer__poll().
 */
#include "iof-bpf-prog.h"
#include "sample-ringbuf.h"

const volatile __u64 sample_every = 100;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} samples SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void bump(__u32 i)
{
	__u64 *n = bpf_map_lookup_elem(&stats, &i);

	if (n)
		__sync_fetch_and_add(n, 1);
}

IOF_BPF_PROGRAM(sample_ringbuf)
{
	struct iof_sample *s;
	__u64 *seen;
	__u32 zero = 0;

	IOF_BPF_MINE_ONLY(io);
	seen = bpf_map_lookup_elem(&stats, &zero);
	if (!seen)
		return IOF_BPF_CONTINUE;
	/* the count before this bio: one bio in sample_every, exactly */
	if (sample_every > 1 && __sync_fetch_and_add(seen, 1) % sample_every)
		return IOF_BPF_CONTINUE;
	if (sample_every <= 1)
		__sync_fetch_and_add(seen, 1);
	s = bpf_ringbuf_reserve(&samples, sizeof(*s), 0);
	if (!s) {
		bump(2);
		return IOF_BPF_CONTINUE;
	}
	s->ts_ns = bpf_ktime_get_ns();
	s->sector = io->sector;
	s->cgroup_id = io->cgroup_id;
	s->size = io->size;
	s->op = io->op;
	s->flags = io->flags;
	s->cpu = io->cpu;
	bpf_ringbuf_submit(s, 0);
	bump(1);
	return IOF_BPF_CONTINUE;
}
