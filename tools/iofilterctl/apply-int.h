/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What apply's files share and nothing else includes: the state of one
 * volume being applied (struct vctx) and the steps apply_volume() (apply.c)
 * calls in order: look (apply-plan.c), plan (apply-plan.c), execute
 * (apply-exec.c), the bpf programs (apply-bpf.c).
 */
#ifndef IOFCTL_APPLY_INT_H
#define IOFCTL_APPLY_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "apply.h"

struct kinst {
	struct iof_instance_info info;
	char name[IOF_NAME_LEN], type[IOF_NAME_LEN];
	char *params;
	size_t plen;
	int want;		/* desired filter index, or -1 */
	bool remove;		/* after the table load */
	bool remove_early;	/* before creating anything (a stale "x.new") */
	bool gone;		/* removed or renamed away (dry-run bookkeeping) */
};

enum fplan { F_KEEP, F_CREATE, F_REPLACE };

struct fstate {
	enum fplan plan;
	int kidx;		/* kernel instance (KEEP, REPLACE) */
	uint32_t id;
	bool created;
	char tmpname[IOF_NAME_LEN];
	uint64_t bpf_key;	/* bpf: the program this run attached */
};

struct vctx {
	struct kapi *k;
	const char *file;	/* the policy */
	const struct apply_opts *o;
	struct pvolume *v;
	struct vol_report *rep;

	/* origin and dm */
	bool dm_exists;
	bool dm_created;
	bool resume_pending;
	dev_t origin;
	bool origin_known;
	char origin_path[256];
	uint64_t dm_sectors;	/* existing device */
	uint64_t loop_size;	/* existing loop: its size now */
	bool need_capacity;	/* loop must learn the image's new size */
	bool need_resize;
	bool need_loop;		/* attach a new loop device */
	int holdfd;
	bool need_nbd;		/* serve the image with a new qemu-nbd */
	bool nbd_attached;	/* this run started that qemu-nbd */

	/* kernel state */
	bool vol_in_kernel;
	struct kinst *ki;
	size_t nki;
	struct iof_rule *cur;
	size_t ncur;
	struct iof_rule cur_dflt;
	uint64_t gen;

	/* plan */
	struct fstate *fs;
	bool table_changed;
	bool changed;		/* something live was changed (no undo) */
};

/*
 * An earlier apply that stopped between its table load and its renames
 * leaves "x.new" live: finish the replacement (in the plan; executed first).
 */
struct fixup {
	int from;	/* kinst "x.new" */
	int old;	/* kinst "x" or -1 */
};

/* apply.c */
void add_change(struct vol_report *rep, char sign, const char *what, const char *name,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/*
 * Report the error, undo what this run created and set the volume's result
 * and exit code (EXIT_PARTIAL when something live changed); returns it.
 */
int fail(struct vctx *c, int code, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* apply-plan.c: phase A, no changes */
int look_origin(struct vctx *c);
int read_kernel_state(struct vctx *c);
void free_kstate(struct vctx *c);
/* Fixups, instances, crypt ranges, the table: fills c->fs, fx and the report's changes */
int plan_volume(struct vctx *c, struct fixup *fx, size_t *nfx);
void desired_rule(const struct vctx *c, const struct prule *p, bool is_default,
		  struct iof_rule *r, const char **names);

/* apply-exec.c: phase B */
int execute(struct vctx *c, const struct fixup *fx, size_t nfx);

/* apply-bpf.c */
int bpf_identify(struct vctx *c);
int bpf_attach_new(struct vctx *c);
int bpf_sync(struct vctx *c);
void bpf_undo(struct vctx *c);

#endif
