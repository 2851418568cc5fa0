// SPDX-License-Identifier: GPL-2.0
/*
 * For tests/vm/t/70-bpf-filter.sh: answers the verdict in map "verdict"
 * (key 0, an __s32 the test sets with bpftool) for writes, continue for
 * everything else; counts the bios it saw of its own instance in "seen".
 */
#include "../../policies/bpf/iof-bpf-prog.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __s32);
} verdict SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} seen SEC(".maps");

IOF_BPF_PROGRAM(test_verdict)
{
	__u32 zero = 0;
	__s32 *v;
	__u64 *n;

	IOF_BPF_MINE_ONLY(io);
	n = bpf_map_lookup_elem(&seen, &zero);
	if (n)
		__sync_fetch_and_add(n, 1);
	if (io->op != IOF_OP_WRITE)
		return IOF_BPF_CONTINUE;
	v = bpf_map_lookup_elem(&verdict, &zero);
	return v ? *v : IOF_BPF_CONTINUE;
}
