/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One record of sample-ringbuf.bpf.c's ring buffer: written by the
 * program, read by whoever polls the map (tests/tools/iof-ringbuf.c).
 */
#ifndef IOF_SAMPLE_RINGBUF_H
#define IOF_SAMPLE_RINGBUF_H

#include <linux/types.h>

struct iof_sample {
	__u64 ts_ns;		/* bpf_ktime_get_ns() */
	__u64 sector;
	__u64 cgroup_id;
	__u32 size;
	__u32 op;
	__u32 flags;
	__u32 cpu;
};

#endif /* IOF_SAMPLE_RINGBUF_H */
