// SPDX-License-Identifier: GPL-2.0
/*
 * For tests/vm/t/70-bpf-filter.sh: a program the verifier must refuse, as
 * it writes to the read-only context.
 */
#include "../../policies/bpf/iof-bpf-prog.h"

IOF_BPF_PROGRAM(bad_ctx_write)
{
	IOF_BPF_MINE_ONLY(io);
	((struct iof_bpf_ctx *)io)->sector = 0;
	return IOF_BPF_CONTINUE;
}
