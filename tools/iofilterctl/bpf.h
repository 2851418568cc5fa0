/* SPDX-License-Identifier: GPL-2.0 */
/*
 * iofilterctl: the programs of "bpf" filter instances (libbpf).
 *
 * A bpf instance's program is loaded from its object file with the
 * instance's key (the module's status "key=") written into the program's
 * "const volatile __u64 iof_key", attached as fmod_ret to iof_bpf_decide()
 * in module iofilter_bpf, and pinned so that it outlives the tool:
 *
 *	BPF_PIN_ROOT/VOLUME/INSTANCE/KEY/link	the attachment
 *	BPF_PIN_ROOT/VOLUME/INSTANCE/KEY/MAP	the program's maps, by name
 *
 * Unpinning the link detaches the program.  Documentation/bpf.rst.
 * The unit tests replace this file (tests/fake_dev.c).
 */
#ifndef IOFCTL_BPF_H
#define IOFCTL_BPF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BPF_PIN_ROOT	"/sys/fs/bpf/iofilter"

/*
 * Load, attach and pin the object @img (@len bytes, read from file @obj,
 * which names it in messages) for instance @inst (key @key) of @vol.
 * 0, or -errno with the reason in *why (malloc'd; for a program the
 * verifier refused, the end of its log).
 */
int bpf_attach(const char *vol, const char *inst, uint64_t key, const char *obj,
	       const void *img, size_t len, char **why);
/* Whether the program of (vol, inst, key) is pinned */
bool bpf_attached(const char *vol, const char *inst, uint64_t key);
/* Unpin the program of (vol, inst, key) */
void bpf_unpin_key(const char *vol, const char *inst, uint64_t key);
/* Unpin the programs of @inst but the one of key @keep (0: all of them) */
void bpf_unpin(const char *vol, const char *inst, uint64_t keep);
/* Unpin everything of @vol's instances not named in @names (n 0: all) */
void bpf_unpin_volume(const char *vol, const char *const *names, size_t n);
/*
 * What is attached for (vol, inst, key), as status words:
 * "prog_id=N maps=NAME:ID,..." or "prog_id=none".  Caller frees.
 */
char *bpf_status_words(const char *vol, const char *inst, uint64_t key);

/*
 * The contents of a program's small maps, for stats: array and hash maps
 * of at most BPF_DUMP_MAP_MAX entries are read; at most
 * BPF_DUMP_ENTRIES_MAX entries of each are kept (an array's zero values
 * are left out: they are its initial state).  A key or value of 1, 2, 4
 * or 8 bytes is a number (host order), other sizes hex bytes.
 */
#define BPF_DUMP_MAP_MAX	4096
#define BPF_DUMP_ENTRIES_MAX	64

struct bpf_kv {
	bool knum, vnum;
	uint64_t k, v;
	char *khex, *vhex;	/* when not numbers */
};

struct bpf_map_dump {
	char name[32];
	char type[24];		/* "array", "hash", "ringbuf", ... */
	uint32_t id, max_entries, key_size, value_size;
	const char *skipped;	/* why the entries are not shown, or NULL */
	struct bpf_kv *e;
	size_t n;		/* entries kept */
	size_t more;		/* entries beyond BPF_DUMP_ENTRIES_MAX */
};

/* The maps pinned for (vol, inst, key), by name; 0 or -errno */
int bpf_map_dumps(const char *vol, const char *inst, uint64_t key, struct bpf_map_dump **maps,
		  size_t *n);

#endif
