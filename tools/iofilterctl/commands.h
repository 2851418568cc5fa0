/* SPDX-License-Identifier: GPL-2.0 */
/*
 * iofilterctl verbs.  Each handler returns the process exit code.
 */
#ifndef IOFCTL_COMMANDS_H
#define IOFCTL_COMMANDS_H

#include <stdbool.h>

struct cmd {
	int argc;
	char **argv;		/* the verb's arguments, without the verb */
	bool dry_run, force, yes, reset, strict;
	double watch;		/* seconds; 0: no --watch */
	long count;		/* --count; 0: unlimited */
};

int cmd_apply(struct cmd *c);
int cmd_validate(struct cmd *c);
int cmd_status(struct cmd *c);
int cmd_stats(struct cmd *c);
int cmd_filters(struct cmd *c);
int cmd_detach(struct cmd *c);
int cmd_message(struct cmd *c);
int cmd_flush(struct cmd *c);
int cmd_resync(struct cmd *c);
int cmd_version(struct cmd *c);
/* boot.c */
int cmd_apply_all(struct cmd *c);
int cmd_detach_all(struct cmd *c);

/* For the tests: how long detach waits for a filter to become clean. */
extern unsigned detach_wait_ms;

#endif
