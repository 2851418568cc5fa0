/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A fake /dev/iofilter, device-mapper and loop driver for the host unit
 * tests.  The fake kernel works at the ABI level: it receives the very
 * structs kapi.c builds and checks their headers, sizes, reserved fields
 * and limits the way include/uapi/linux/iofilter.h says the module will.
 * It is a model of the contract, not of the module: the VM tests check the
 * real thing.
 */
#ifndef IOFCTL_FAKE_H
#define IOFCTL_FAKE_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/iofilter.h>

struct fake_cfg {
	bool loaded;		/* /dev/iofilter exists */
	bool denied;		/* open gives EACCES */
	bool ioctl_eperm;	/* every ioctl but VERSION gives EPERM */
	uint32_t kmajor;	/* the module's ABI major (default 1) */
	bool register_at_resume;	/* volume appears at resume, not at table load */
	bool old_numbers;	/* a module from before REMOVE/RENAME were _IOWR */
	int fail_cmd;		/* _IOC_NR of an ioctl to fail once, or -1 */
	int fail_errno;
	int fail_after;		/* let this many calls of fail_cmd pass first */
	bool instances_stay_dirty;	/* "flush" does not clean */
	bool race_before_load;	/* another tool loads a table just before ours */
	const char *big_status;	/* if set: every instance's status text */
	bool status_ticks;	/* each status read: reads += 10, dirty stays 3 */
	bool bpf;		/* programs attach (fake_dev.c); otherwise no BPF */
	unsigned long long bpf_next_key;	/* the last key of a bpf instance */
};

extern struct fake_cfg fake;
/* One line per change the fake saw: "dm-create vm1", "create vm1 stats", ... */
extern char fake_log[16384];

void fake_reset(void);
void fake_add_type(const char *name, unsigned class, unsigned flags);
/* A type that "modprobe iofilter-<name>" would load (registers it). */
void fake_add_loadable(const char *name, unsigned class, unsigned flags);
/* Counters for tests of stats: every counter of volume vol gets base + i. */
void fake_set_counters(const char *vol, uint64_t base);
/* Mark an instance dirty (it holds data), or set its status text. */
void fake_set_dirty(const char *vol, const char *inst);
void fake_set_status(const char *vol, const char *inst, const char *status);
/* Give a volume's dm device an opener. */
void fake_set_open(const char *vol, int count);
/* The params block the fake stored for an instance, or NULL. */
const char *fake_params(const char *vol, const char *inst, size_t *len);
/* The secret an instance got at create (length), -1 if no such instance. */
int fake_secret_len(const char *vol, const char *inst);
uint64_t fake_generation(const char *vol);
int fake_ninstances(const char *vol);
/* Change a volume's table behind the tool's back (generation + 1). */
void fake_bump_generation(const char *vol);
/* Simulate an interrupted replacement of inst: leave "inst.new" live. */
void fake_interrupt_replacement(const char *vol, const char *inst);
/* The number of programs the fake BPF has pinned */
int fake_bpf_pinned(void);
/* Make an iofilter-less dm device (another target) named name. */
void fake_add_foreign_dm(const char *name);

#endif
