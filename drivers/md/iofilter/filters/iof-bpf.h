/* SPDX-License-Identifier: GPL-2.0 */
/*
 * iofilter "bpf": the decision point BPF programs attach to (fmod_ret).
 * Documentation/bpf.rst; the context and verdicts are in
 * include/uapi/linux/iofilter-bpf.h.
 */
#ifndef IOF_BPF_H
#define IOF_BPF_H

#include <uapi/linux/iofilter-bpf.h>

/* Answers IOF_BPF_CONTINUE unless an attached program answers otherwise */
int iof_bpf_decide(const struct iof_bpf_ctx *ctx);

#endif /* IOF_BPF_H */
