// SPDX-License-Identifier: GPL-2.0
/*
 * Deny writes to a range of the volume, optionally from one cgroup only.
 *
 * Writes, discards and write-zeroes that touch sectors [deny_start,
 * deny_end) fail with EIO; reads and everything else continue.  With
 * deny_cgroup non-zero only the I/O of that cgroup (its id: the inode
 * number of its directory in cgroupfs, "stat -c %i") is denied.  The values
 * are the program's read-only data: edit them here and rebuild.
 */
#include "iof-bpf-prog.h"

const volatile __u64 deny_start = 2048;		/* 1 MiB */
const volatile __u64 deny_end = 4096;		/* 2 MiB */
const volatile __u64 deny_cgroup = 0;		/* 0: every cgroup */

IOF_BPF_PROGRAM(deny_writes_range)
{
	IOF_BPF_MINE_ONLY(io);
	if (!(io->op & (IOF_OP_WRITE | IOF_OP_DISCARD | IOF_OP_WRITE_ZEROES)))
		return IOF_BPF_CONTINUE;
	if (io->sector >= deny_end || io->sector + (io->size >> 9) <= deny_start)
		return IOF_BPF_CONTINUE;
	if (deny_cgroup && io->cgroup_id != deny_cgroup)
		return IOF_BPF_CONTINUE;
	return IOF_BPF_FAIL(EIO);
}
