/* SPDX-License-Identifier: GPL-2.0 */
/*
 * iofilterctl: SHA-256 (FIPS 180-4) of a buffer, for the identity of a bpf
 * filter's program object (apply-bpf.c).  Not for secrets: no constant
 * time, no wiping.
 */
#ifndef IOFCTL_SHA256_H
#define IOFCTL_SHA256_H

#include <stddef.h>

#define SHA256_HEX_LEN	64

/* The digest of @buf[0..@len) as 64 lower-case hex digits and a NUL */
void sha256_hex(const void *buf, size_t len, char hex[SHA256_HEX_LEN + 1]);

#endif
