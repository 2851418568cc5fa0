// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl apply: the programs of a volume's bpf filters (bpf.h).  A new
 * or replacing instance gets its program before the table load, so that
 * no bio reaches it without one (bpf_attach_new()); after a successful
 * apply every bpf filter has its program and nothing else stays pinned
 * (bpf_sync()); a failed apply unpins what it attached (bpf_undo()).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "apply-int.h"
#include "bpf.h"
#include "output.h"
#include "sha256.h"
#include "util.h"

#define BPF_OBJ_MAX	(64u << 20)	/* a program object larger than this is refused */

static bool is_bpf(const struct pfilter *f)
{
	return f->type && !strcmp(f->type, "bpf");
}

/* The key of a bpf instance: its status "key=" (0: none) */
static uint64_t bpf_key_of(struct kapi *k, const char *vol, const char *name)
{
	struct iof_instance_info info;
	char *params = NULL, *status = NULL;
	const char *p = NULL;
	uint64_t key = 0;
	size_t plen;

	if (!kapi_instance_get(k, vol, name, &info, &params, &plen, &status) && status)
		for (p = status; (p = strstr(p, "key=")); p++)
			if (p == status || p[-1] == ' ') {
				key = strtoull(p + 4, NULL, 10);
				break;
			}
	free(params);
	free(status);
	return key;
}

/*
 * The identity of each bpf filter's program: read the object once, keep
 * its bytes (what bpf_attach() loads) and add "program_sha256=HEX" to the
 * instance's parameters.  The kernel keeps the parameters with the
 * instance, so a rebuilt object under the same path differs from the live
 * instance's parameters and the plan replaces the instance (a new key and
 * program, attached before the table switches), as for a changed path; an
 * unchanged object keeps it.  Documentation/bpf.rst.
 */
int bpf_identify(struct vctx *c)
{
	char hex[SHA256_HEX_LEN + 1];
	size_t i;
	int r;

	for (i = 0; i < c->v->nfilters; i++) {
		struct pfilter *f = &c->v->filters[i];
		struct sbuf b;

		if (!is_bpf(f) || !f->program || f->program_img)
			continue;
		r = read_file_max(f->program, BPF_OBJ_MAX, &f->program_img, &f->program_len);
		if (r)
			return fail(c, EXIT_INVALID, r, "%s:%u:%u: program %s: %s", c->file,
				    f->program_m.line, f->program_m.col, f->program,
				    r == -EFBIG ? "larger than 64 MiB" : strerror(-r));
		sha256_hex(f->program_img, f->program_len, hex);
		sb_init(&b);
		if (f->params_len)
			sb_addn(&b, f->params_blk, f->params_len);
		sb_add(&b, "program_sha256=");
		sb_addn(&b, hex, sizeof(hex));	/* with the NUL */
		free(f->params_blk);
		f->params_len = b.len;
		f->params_blk = sb_steal(&b);
	}
	return 0;
}

/* Unpin what this run attached (its instances are being undone) */
void bpf_undo(struct vctx *c)
{
	size_t i;

	for (i = 0; i < c->v->nfilters; i++) {
		if (!c->fs[i].bpf_key)
			continue;
		bpf_unpin_key(c->v->name, c->v->filters[i].name, c->fs[i].bpf_key);
		c->fs[i].bpf_key = 0;
	}
}

/*
 * Attach the program of bpf filter i, instance @kname (its name in the
 * kernel now), unless it is attached.  Before the table load for a new
 * instance: the rules never send a bio to it without its program.
 */
static int bpf_attach_one(struct vctx *c, size_t i, const char *kname)
{
	const struct pfilter *f = &c->v->filters[i];
	uint64_t key = bpf_key_of(c->k, c->v->name, kname);
	char *why = NULL;
	int r;

	if (!key)
		return fail(c, EXIT_KERNEL, 0, "filter %s: the bpf module shows no key", f->name);
	if (bpf_attached(c->v->name, f->name, key))
		return 0;
	r = bpf_attach(c->v->name, f->name, key, f->program, f->program_img, f->program_len, &why);
	if (r) {
		/* EACCES: the verifier's no; EPERM: no CAP_BPF / CAP_PERFMON */
		r = fail(c, r == -EPERM ? EXIT_PERM : EXIT_INVALID, r, "%s:%u:%u: %s",
			 c->file, f->program_m.line, f->program_m.col, why);
		free(why);
		return r;
	}
	c->fs[i].bpf_key = key;
	info("%s: attached %s to filter %s (key %llu)", c->v->name, f->program, f->name,
	     (unsigned long long)key);
	return 0;
}

int bpf_attach_new(struct vctx *c)
{
	size_t i;
	int r;

	for (i = 0; i < c->v->nfilters; i++) {
		const struct fstate *fs = &c->fs[i];

		if (!is_bpf(&c->v->filters[i]) || fs->plan == F_KEEP)
			continue;
		r = bpf_attach_one(c, i, fs->plan == F_REPLACE ? fs->tmpname : c->v->filters[i].name);
		if (r)
			return r;
	}
	return 0;
}

/*
 * After a successful apply: every bpf filter has its program (a kept one
 * whose pin went missing gets it again) and nothing else is pinned for
 * the volume (removed and replaced instances' programs are unpinned).
 */
int bpf_sync(struct vctx *c)
{
	const char **names = xcalloc(c->v->nfilters + 1, sizeof(*names));
	size_t i, n = 0;
	int r = 0;

	for (i = 0; i < c->v->nfilters && !r; i++) {
		const struct pfilter *f = &c->v->filters[i];
		uint64_t key;

		if (!is_bpf(f))
			continue;
		names[n++] = f->name;
		key = bpf_key_of(c->k, c->v->name, f->name);
		if (key && !bpf_attached(c->v->name, f->name, key)) {
			r = bpf_attach_one(c, i, f->name);
			if (!r)
				add_change(c->rep, '+', "program", f->name, "attach %s", f->program);
		}
		if (key)
			bpf_unpin(c->v->name, f->name, key);
	}
	bpf_unpin_volume(c->v->name, names, n);
	free(names);
	return r;
}
