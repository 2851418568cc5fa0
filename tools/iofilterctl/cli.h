/* SPDX-License-Identifier: GPL-2.0 */
#ifndef IOFCTL_CLI_H
#define IOFCTL_CLI_H

/* The whole tool: parse argv, run a verb, return the exit code. */
int iofctl_main(int argc, char **argv);

#endif
