/* SPDX-License-Identifier: GPL-2.0 */
/*
 * iofilterctl apply: bring the kernel in line with a validated policy.
 *
 * Per volume: origin (loop device for images), the dm device, then the
 * diff of filter instances and rule table:
 *   1. remove unused instances the policy no longer has;
 *   2. create new instances, and "<name>.new" for changed ones;
 *   3. load the rule table (compare-and-swap on its generation) if it
 *      differs or uses a replacement;
 *   4. remove the replaced and the no longer wanted instances;
 *   5. rename each "<name>.new" to <name>.
 * Until step 3 nothing live has changed and a failure undoes steps 1-2's
 * creations; after it, a failure leaves a partly applied volume (exit 7).
 */
#ifndef IOFCTL_APPLY_H
#define IOFCTL_APPLY_H

#include <stdbool.h>
#include <stdint.h>

#include "kapi.h"
#include "policy.h"

struct change {
	char sign;		/* '+', '-', '~' */
	char *what;		/* "volume", "size", "instance", "rule", "default", "table" */
	char *name;		/* instance name, rule label (#N name), or NULL */
	char *text;
};

enum vol_result {
	VOL_UNCHANGED,
	VOL_CREATED,
	VOL_CHANGED,
	VOL_FAILED,
};

struct vol_report {
	char *name;
	enum vol_result result;
	bool partial;		/* failed after changing something */
	char *device;		/* /dev/mapper/<name> */
	char *origin;		/* origin block device path */
	uint64_t size;
	uint64_t generation;
	size_t nfilters, nrules;
	struct change *changes;
	size_t nchanges;
	int exit_code;		/* this volume's */
};

struct apply_report {
	const char *file;
	bool dry_run;
	struct vol_report *v;
	size_t n;
	int exit_code;
};

struct apply_opts {
	bool dry_run;
	bool force;
};

int apply_policy(struct kapi *k, struct policy *p, const struct apply_opts *o,
		 struct apply_report *rep);
void apply_report_free(struct apply_report *rep);

/*
 * One rule as text, the canonical form apply compares and shows:
 * "0+1MiB ops=write -> deny".  chain[] are instance names in run order.
 */
char *rule_text(const struct iof_rule *r, const char *const *chain);

#endif
