/* SPDX-License-Identifier: GPL-2.0 */
/* What the commands*.c files share and nothing else includes */
#ifndef IOFCTL_COMMANDS_INT_H
#define IOFCTL_COMMANDS_INT_H

#include "kapi.h"

/* Open /dev/iofilter; on failure report why and return the exit code. */
int open_kernel(struct kapi *k);
/* Report "what: <the kernel's error>" for volume vol (or none); returns the exit code */
int kfail(struct kapi *k, const char *vol, int r, const char *what);

#endif
