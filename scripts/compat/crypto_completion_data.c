// SPDX-License-Identifier: GPL-2.0
/* HAVE_CRYPTO_COMPLETION_DATA: crypto_completion_t takes void *data (6.3+) */
#include <linux/crypto.h>
void iof_probe_cb(void *data, int err);
void iof_probe_cb(void *data, int err)
{
}

crypto_completion_t iof_probe(void);
crypto_completion_t iof_probe(void)
{
	return iof_probe_cb;
}
