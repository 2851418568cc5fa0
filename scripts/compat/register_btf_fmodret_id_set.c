// SPDX-License-Identifier: GPL-2.0
/* HAVE_REGISTER_BTF_FMODRET_ID_SET: modules may register fmod_ret targets (6.12 has it, 6.1 not) */
#include <linux/btf.h>
#include <linux/btf_ids.h>
#include <linux/module.h>
int iof_probe(const struct btf_kfunc_id_set *s);
int iof_probe(const struct btf_kfunc_id_set *s)
{
	return register_btf_fmodret_id_set(s);
}
