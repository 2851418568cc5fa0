/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The fake's state that its two files share: the volumes (fake_sys.c
 * keeps the module's side, fake_dev.c the dm device's) and the loop
 * devices.
 */
#ifndef IOFCTL_FAKE_INT_H
#define IOFCTL_FAKE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/iofilter.h>

#define MAX_VOLS 8
#define MAX_INST IOF_MAX_INSTANCES
#define MAX_LOOPS 16

struct finst {
	bool used;
	char name[IOF_NAME_LEN], type[IOF_NAME_LEN];
	uint32_t id, class, flags;
	char params[IOF_MAX_PARAMS_LEN];
	size_t plen;
	int secret_len;
	char status[256];
	unsigned ticks;		/* fake.status_ticks */
};

struct fvol {
	bool exists;		/* in the module */
	char name[IOF_NAME_LEN];
	/* dm */
	bool dm, live, inactive, suspended;
	char dm_type[32];
	char dm_params[128], inactive_params[128];
	uint64_t sectors, inactive_sectors;
	uint64_t vsectors;	/* the volume's size, set by the target's ctr */
	int open_count;
	unsigned minor;
	/* module */
	uint32_t origin_major, origin_minor;
	uint64_t gen;
	struct iof_rule *rules;
	size_t nrules;
	struct iof_rule dflt;
	struct finst inst[MAX_INST];
	uint32_t next_id;
	struct iof_volume_counters vc;
	struct iof_counters dc;
	struct iof_counters rc[8];
};

struct floop {
	bool used;
	dev_t img_dev;
	ino_t img_ino;
	char path[512];
	uint64_t size;
};

extern struct fvol vols[MAX_VOLS];
extern struct floop loops[MAX_LOOPS];

/* Append a line to fake_log */
void flog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A volume by name: with a dm device or in the module (need_module: in the module) */
struct fvol *vol_by_name(const char *name, bool need_module);
/* The module forgets the volume and its instances (its dm device went away) */
void vol_drop(struct fvol *v);

/* fake_dev.c: forget every pin */
void fake_bpf_reset(void);

#endif
