/* SPDX-License-Identifier: GPL-2.0 */
/*
 * For iofilter BPF programs (clang -target bpf): the context, the
 * verdicts, and the scoping every program needs.
 *
 *	#include "iof-bpf-prog.h"
 *
 *	IOF_BPF_PROGRAM(my_filter)
 *	{
 *		IOF_BPF_MINE_ONLY(io);
 *		...
 *		return IOF_BPF_CONTINUE;
 *	}
 *
 * iof_bpf_decide() is one function for every bpf instance of the system:
 * each attached program sees every instance's bios.  iofilterctl writes
 * the key of the program's own instance into iof_key before loading it;
 * IOF_BPF_MINE_ONLY() answers IOF_BPF_CONTINUE for the others.
 */
#ifndef IOF_BPF_PROG_H
#define IOF_BPF_PROG_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <linux/iofilter.h>
#include <linux/iofilter-bpf.h>

#ifndef EIO
#define EIO		5
#define ENODATA		61
#define EILSEQ		84
#define ENOSPC		28
#define EOPNOTSUPP	95
#endif

/* Set by iofilterctl: the key of this program's instance */
const volatile __u64 iof_key = 0;

#define IOF_BPF_PROGRAM(name)						\
SEC("fmod_ret/iof_bpf_decide")						\
int BPF_PROG(name, const struct iof_bpf_ctx *io, int ret)

#define IOF_BPF_MINE_ONLY(io)						\
	do {								\
		if ((io)->key != iof_key)				\
			return IOF_BPF_CONTINUE;			\
	} while (0)

char LICENSE[] SEC("license") = "GPL";

#endif /* IOF_BPF_PROG_H */
