/* SPDX-License-Identifier: GPL-2.0 */
/*
 * iofilterctl: the device-mapper side of a volume, through libdevmapper.
 * Table line: "0 <sectors> iofilter <major:minor of origin> <volume-name>".
 * Every call returns 0 or -errno; dmx_error() has libdevmapper's last words.
 */
#ifndef IOFCTL_DM_H
#define IOFCTL_DM_H

#include <stdbool.h>
#include <stdint.h>

struct dmx_info {
	bool exists;
	bool live_table;
	bool inactive_table;
	bool suspended;
	int open_count;
	unsigned major, minor;
};

void dmx_init(void);
void dmx_exit(void);
const char *dmx_error(void);

int dmx_info(const char *name, struct dmx_info *info);
/* The live table's single target; -ENODATA without one, -EMEDIUMTYPE for several. */
int dmx_table(const char *name, uint64_t *sectors, char **type, char **params);
/* Create the device with its table loaded but not resumed; makes /dev/mapper/<name>. */
int dmx_create(const char *name, uint64_t sectors, const char *params);
int dmx_reload(const char *name, uint64_t sectors, const char *params);
int dmx_resume(const char *name);
int dmx_remove(const char *name);

#endif
