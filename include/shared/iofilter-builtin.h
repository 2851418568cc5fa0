/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * The built-in filter types, as one list compiled by both sides: the
 * modules (drivers/md/iofilter/filters/) take their type flags from here
 * and check and read their parameters with it at create (names,
 * duplicates, choices, bounds, powers of two, required keys:
 * iofilter_params_parse(), which hands a module a choice as its index in
 * the "a|b|c" list: keep the order, append); iofilterctl
 * takes its built-in type table and the checks of "validate" from here.
 * So the tool's view cannot drift from the modules'.
 *
 * Not an ABI: nothing here crosses the ioctl boundary (the kernel still
 * reports its types' flags with IOF_IOC_LIST_TYPES).  What a table cannot
 * say (one value against another, the page size, a key's length) each
 * module still checks itself.  Plain C, no kernel or libc types.
 */
#ifndef _IOFILTER_SHARED_BUILTIN_H
#define _IOFILTER_SHARED_BUILTIN_H

#include <linux/iofilter.h>

#ifndef NULL
#define NULL ((void *)0)
#endif

/* Type flags (struct iofilter_type.flags; IOF_TYPE_*) */
#define IOF_COUNT_TYPE_FLAGS	IOF_TYPE_NOWAIT
#define IOF_CRYPT_TYPE_FLAGS	(IOF_TYPE_RANGE_EXCLUSIVE | IOF_TYPE_NOWAIT)
#define IOF_REPLICATE_TYPE_FLAGS \
	(IOF_TYPE_HOLDS_DIRTY | IOF_TYPE_NOWAIT | IOF_TYPE_WRITE_EXCLUSIVE)
#define IOF_CACHE_TYPE_FLAGS \
	(IOF_TYPE_RANGE_EXCLUSIVE | IOF_TYPE_NOWAIT | IOF_TYPE_HOLDS_DIRTY)
#define IOF_BPF_TYPE_FLAGS	IOF_TYPE_NOWAIT

/* Kinds of parameter values */
#define IOF_PK_STRING	0	/* any word */
#define IOF_PK_PATH	1	/* a path (block device or file) */
#define IOF_PK_CHOICE	2	/* one of the '|'-separated choices */
#define IOF_PK_U64	3	/* decimal number within [min, max] */
#define IOF_PK_SIZE	4	/* bytes, K/M/G/T suffixes, within [min, max] */
#define IOF_PK_POW2	5	/* IOF_PK_SIZE and a power of two */
#define IOF_PK_KEYDESC	6	/* logon:<description> or user:<description> */

#define IOF_PF_REQUIRED	1	/* must be given */

/* One parameter a built-in type takes */
struct iof_builtin_param {
	const char *name;
	unsigned int kind;		/* IOF_PK_* */
	unsigned int flags;		/* IOF_PF_* */
	unsigned long long min, max;	/* IOF_PK_U64, _SIZE, _POW2 */
	const char *choices;		/* IOF_PK_CHOICE: "a|b|c" */
};

/*
 * One table per type, compiled where its IOF_BUILTIN_<TYPE> is defined
 * (a module defines its own; iofilterctl all).  The bounds are the ones the
 * module checks with a 4 KiB page (sector_size and offload_size scale with
 * PAGE_SIZE there).
 */
#ifdef IOF_BUILTIN_CRYPT
static const struct iof_builtin_param iof_crypt_params[] = {
	{ "cipher", IOF_PK_CHOICE, 0, 0, 0, "aes-xts-plain64|aes-cbc-essiv:sha256" },
	{ "key", IOF_PK_KEYDESC, 0, 0, 0, NULL },
	{ "key_file", IOF_PK_PATH, 0, 0, 0, NULL },
	{ "sector_size", IOF_PK_POW2, 0, 512, 4096, NULL },
	{ "iv_offset", IOF_PK_U64, 0, 0, ~0ULL, NULL },
	{ "offset", IOF_PK_SIZE, 0, 0, ~0ULL, NULL },
	{ "iv_large_sectors", IOF_PK_U64, 0, 0, 1, NULL },
	{ "allow_discards", IOF_PK_U64, 0, 0, 1, NULL },
	{ "offload_size", IOF_PK_SIZE, 0, 0, 1ULL << 20, NULL },
};
#endif

#ifdef IOF_BUILTIN_REPLICATE
static const struct iof_builtin_param iof_replicate_params[] = {
	{ "replica", IOF_PK_PATH, IOF_PF_REQUIRED, 0, 0, NULL },
	{ "metadata", IOF_PK_PATH, IOF_PF_REQUIRED, 0, 0, NULL },
	{ "mode", IOF_PK_CHOICE, 0, 0, 0, "sync|async" },
	{ "on_error", IOF_PK_CHOICE, 0, 0, 0, "degrade|fail" },
	{ "region_size", IOF_PK_POW2, 0, 4096, 1ULL << 30, NULL },
	{ "max_lag", IOF_PK_SIZE, 0, 4096, ~0ULL, NULL },
};
#endif

#ifdef IOF_BUILTIN_CACHE
static const struct iof_builtin_param iof_cache_params[] = {
	{ "cache_dev", IOF_PK_PATH, IOF_PF_REQUIRED, 0, 0, NULL },
	{ "block_size", IOF_PK_POW2, 0, 4096, 1ULL << 20, NULL },
	{ "mode", IOF_PK_CHOICE, 0, 0, 0, "writethrough|writearound|writeback" },
	{ "seq_threshold", IOF_PK_SIZE, 0, 0, ~0ULL, NULL },
	{ "low_watermark", IOF_PK_U64, 0, 0, 100, NULL },
	{ "high_watermark", IOF_PK_U64, 0, 0, 100, NULL },
	{ "promote_hits", IOF_PK_U64, 0, 1, 255, NULL },
	{ "policy", IOF_PK_CHOICE, 0, 0, 0, "clock" },
	{ "format", IOF_PK_U64, 0, 0, 1, NULL },
};
#endif

/*
 * bpf: program is the BPF object iofilterctl loads and attaches after
 * creating the instance; program_sha256 is its digest, which iofilterctl
 * adds (a policy may not) so that a rebuilt object changes the instance's
 * parameters; the module only shows them.
 */
#ifdef IOF_BUILTIN_BPF
static const struct iof_builtin_param iof_bpf_params[] = {
	{ "program", IOF_PK_PATH, IOF_PF_REQUIRED, 0, 0, NULL },
	{ "program_sha256", IOF_PK_STRING, 0, 0, 0, NULL },
};
#endif

/*
 * count, the example and test type: the module checks its table;
 * iofilterctl leaves count's parameters to the module (its policy fixtures
 * use count as a neutral type with placeholder parameters).
 */
#ifdef IOF_BUILTIN_COUNT
static const struct iof_builtin_param iof_count_params[] = {
	{ "defer", IOF_PK_U64, 0, 0, 1, NULL },
};
#endif

#endif /* _IOFILTER_SHARED_BUILTIN_H */
