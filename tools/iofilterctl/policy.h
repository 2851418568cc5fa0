/* SPDX-License-Identifier: GPL-2.0 */
/*
 * iofilterctl policy core: YAML policy file -> in-memory policy, and its
 * validation.  No kernel access here: the kernel's filter types come in as
 * a table, the environment checks (devices, images, key files) only stat
 * and read.
 */
#ifndef IOFCTL_POLICY_H
#define IOFCTL_POLICY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <linux/iofilter.h>

/* 1-based position of a YAML node; 0:0 when there is none. */
struct pmark {
	unsigned line, col;
};

enum diag_sev { DIAG_ERROR, DIAG_WARNING };

struct diag {
	enum diag_sev sev;
	struct pmark m;
	char *msg;
	char *hint;	/* may be NULL */
	size_t seq;	/* order of detection, for a stable sort */
};

struct diags {
	char *file;
	struct diag *v;
	size_t n, cap;
	unsigned nerr, nwarn;
};

void diags_init(struct diags *d, const char *file);
void diag_add(struct diags *d, enum diag_sev sev, struct pmark m, const char *hint,
	      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Sort by position (line, column, then detection order). */
void diags_sort(struct diags *d);
/*
 * "FILE:LINE:COL: message" (warnings: "FILE:LINE:COL: warning: message"),
 * then "  hint: ..." when there is one.
 */
void diag_print(const struct diags *d, const struct diag *g, FILE *fp);
void diags_print(const struct diags *d, FILE *fp);
void diags_free(struct diags *d);

struct iof_builtin_param;

/* Filter types: the built-in list (validate) or the kernel's (apply). */
struct ftype {
	char name[IOF_NAME_LEN];
	unsigned class;
	unsigned flags;		/* IOF_TYPE_* */
	bool in_kernel;
	const struct iof_builtin_param *params;	/* built-in types (shared/iofilter-builtin.h) */
	size_t nparams;
};

struct ftypes {
	struct ftype *v;
	size_t n;
};

void ftypes_builtin(struct ftypes *t);
/* Add or override with the kernel's registered types. */
void ftypes_merge(struct ftypes *t, const struct iof_type_info *k, size_t n);
const struct ftype *ftypes_find(const struct ftypes *t, const char *name);
void ftypes_free(struct ftypes *t);
const char *class_name(unsigned class);

/*
 * Must see every I/O to its range: what the type flags say (the module
 * checks the flag, not the class), and "crypt" and "cache" whatever an
 * older kernel says.
 */
static inline bool ftype_range_exclusive(const struct ftype *t)
{
	return t && ((t->flags & IOF_TYPE_RANGE_EXCLUSIVE) || !strcmp(t->name, "crypt") ||
		     !strcmp(t->name, "cache"));
}

/*
 * Must see every write, discard, write-zeroes and flush of its range
 * (replicate); reads may go round it.
 */
static inline bool ftype_write_exclusive(const struct ftype *t)
{
	return t && !ftype_range_exclusive(t) &&
	       ((t->flags & IOF_TYPE_WRITE_EXCLUSIVE) || !strcmp(t->name, "replicate"));
}

/* The ops a write-exclusive filter's rule must list */
#define IOF_OP_WRITES (IOF_OP_WRITE | IOF_OP_DISCARD | IOF_OP_WRITE_ZEROES | IOF_OP_FLUSH)

struct pparam {
	char *key, *val;
	struct pmark m;		/* the key */
	struct pmark vm;	/* the value */
};

struct pfilter {
	char *name;
	char *type;
	struct pmark m, name_m, type_m, params_m;
	struct pparam *params;
	size_t nparams;
	char *params_blk;	/* "key=value\0key=value\0" */
	size_t params_len;
	char *key_file;		/* resolved path of params.key_file, or NULL */
	struct pmark key_file_m;
	char *program;		/* bpf: resolved path of params.program, or NULL */
	struct pmark program_m;
	/*
	 * bpf, set by apply (bpf_identify()): the object's bytes as read once,
	 * hashed into params_blk's "program_sha256=" and loaded from memory.
	 */
	unsigned char *program_img;
	size_t program_len;
	/* After policy_check: */
	const struct ftype *ft;	/* NULL: unknown type */
};

struct pchain {
	size_t n;
	char *names[IOF_MAX_CHAIN + 1];	/* +1: room to report "too long" */
	struct pmark m[IOF_MAX_CHAIN + 1];
	int idx[IOF_MAX_CHAIN + 1];	/* filter index, -1 unknown */
	struct pmark list_m;
};

struct prule {
	struct pmark m;
	char name[IOF_RULE_NAME_LEN];
	struct pmark name_m;
	bool has_range;
	uint64_t start, len;	/* bytes; len 0: to the end of the volume */
	struct pmark range_m;
	uint32_t ops;		/* IOF_OP_* */
	bool ops_given;
	struct pmark ops_m;
	uint32_t min_size, max_size;
	bool size_given;
	struct pmark size_m;
	uint32_t flags_set, flags_clear;
	bool flags_given;
	struct pmark flags_m;
	uint32_t ioprio;	/* IOF_PRIO_*, 0: any */
	bool ioprio_given;
	struct pmark ioprio_m;
	uint32_t action;	/* IOF_ACTION_* */
	struct pmark action_m;
	struct pchain chain;
	bool allow_overlap;
	bool bad;		/* parsing it reported an error */
};

struct pvolume {
	char *name;
	struct pmark m, name_m;
	bool is_image;
	char *origin;		/* as written */
	char *path;		/* resolved against the policy's directory */
	struct pmark origin_m;
	char *format;		/* image: "format:" as written, NULL: detect */
	struct pmark format_m;
	struct pfilter *filters;
	size_t nfilters;
	struct pmark filters_m;
	struct prule *rules;
	size_t nrules;
	struct pmark rules_m;
	struct prule dflt;	/* action and chain only */
	struct pmark default_m;
	/* Environment (policy_check_env) */
	bool origin_exists;
	uint64_t origin_size;	/* bytes; valid when origin_exists */
	dev_t origin_rdev;	/* device */
	dev_t img_dev;		/* image: st_dev, st_ino */
	ino_t img_ino;
	char img_format[32];	/* image: raw (loop device) or another (qemu-nbd) */
	bool via_nbd;		/* image: not raw, served by qemu-nbd */
};

struct policy {
	char *file;
	char *dir;
	unsigned version;
	struct pvolume *vols;
	size_t nvols;
};

/*
 * Input bounds (iofilterctl(8), LIMITS): a policy is read whole, at most
 * POLICY_MAX_BYTES (room for IOF_MAX_RULES rules of one line each); its YAML, with every alias expanded, at most
 * POLICY_MAX_NODES nodes; at most POLICY_MAX_VOLUMES volumes.  Per volume
 * the ABI's IOF_MAX_RULES and IOF_MAX_INSTANCES apply.
 */
#define POLICY_MAX_BYTES	(4U << 20)
#define POLICY_MAX_NODES	4000000U
#define POLICY_MAX_VOLUMES	1024U

/* Parse and check what needs nothing but the file.  Returns the error count. */
unsigned policy_load(const char *file, struct policy *p, struct diags *d);
/* Checks that need the filter types: chains, classes, crypt rules, overlaps. */
unsigned policy_check(struct policy *p, const struct ftypes *types, struct diags *d);

#define POLICY_ENV_REQUIRE	(1U << 0)	/* devices, images, key files must exist */
/* Checks against the system: origins exist, ranges fit, key files. */
unsigned policy_check_env(struct policy *p, unsigned flags, struct diags *d);

void policy_free(struct policy *p);

/* Image formats a policy may name in "format:" (qemu's names); NULL-terminated. */
extern const char *const image_formats[];

const struct pfilter *pvolume_filter(const struct pvolume *v, const char *name);

/* Names of IOF_OP_* / IOF_RQ_* / IOF_PRIO_* bits, NULL for none. */
const char *op_name(unsigned bit);
const char *rqflag_name(unsigned bit);
const char *prio_name(unsigned bit);

#endif
