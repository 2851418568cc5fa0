/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * iofilter "bpf" filter type: what a BPF program attached to the module's
 * decision point sees and may answer (Documentation/bpf.rst).
 *
 * The module calls, for every bio its rules send it,
 *
 *	int iof_bpf_decide(const struct iof_bpf_ctx *ctx);
 *
 * which returns IOF_BPF_CONTINUE on its own.  A program attached to it as
 * fmod_ret (SEC("fmod_ret/iof_bpf_decide")) replaces that answer.  The
 * function is global to the module: every program attached to it sees the
 * bios of every bpf instance, so a program answers IOF_BPF_CONTINUE for the
 * instances that are not its own (ctx->key != the key iofilterctl wrote
 * into its "iof_key" before loading it; see policies/bpf/iof-bpf-prog.h).
 *
 * The context is read-only: the verifier refuses stores to it.
 */
#ifndef _UAPI_LINUX_IOFILTER_BPF_H
#define _UAPI_LINUX_IOFILTER_BPF_H

#include <linux/types.h>

#define IOF_BPF_NAME_LEN	64	/* = IOF_NAME_LEN */

struct iof_bpf_ctx {
	__u64 key;		/* the instance's system-wide key (status key=) */
	__u64 sector;		/* first 512-byte sector, on the volume */
	__u64 cgroup_id;	/* cgroup of the issuing blkcg; 0: none */
	__u32 instance;		/* instance id on its volume (status id) */
	__u32 size;		/* bytes; 0 for an empty flush */
	__u32 op;		/* one IOF_OP_* bit of <linux/iofilter.h> */
	__u32 flags;		/* IOF_RQ_* bits */
	__u32 ioprio;		/* the bio's I/O priority (class << 13 | data) */
	__u32 cpu;		/* the CPU the bio is mapped on */
	__u32 origin_dev;	/* origin device: major << 20 | minor */
	__u32 reserved;		/* zero */
	char volume[IOF_BPF_NAME_LEN];	/* volume name, NUL-terminated */
};

/*
 * Verdicts: what iof_bpf_decide() returns.
 *
 *  IOF_BPF_CONTINUE  the bio goes on down the chain (the default).
 *  IOF_BPF_PASS      the bio goes on to the origin, counted as passed.  The
 *                    filters of the later classes (crypt, replicate, cache)
 *                    still see it: skipping them would write plaintext
 *                    under a crypt or stale data around a cache, and the
 *                    filter API has no such step (Documentation/bpf.rst).
 *  IOF_BPF_FAIL(e)   the bio fails with -e, e one of EIO, ENOSPC,
 *                    EOPNOTSUPP, ENODATA, EILSEQ (the errnos a block status
 *                    carries back to the caller unchanged).
 *
 * Any other value is a refused verdict: counted (status bad_verdicts=),
 * logged (rate limited) and the bio fails with EIO (fail closed: a broken
 * deny program must not let writes through).
 */
#define IOF_BPF_CONTINUE	0
#define IOF_BPF_PASS		1
#define IOF_BPF_FAIL(err)	(-(err))

#endif /* _UAPI_LINUX_IOFILTER_BPF_H */
