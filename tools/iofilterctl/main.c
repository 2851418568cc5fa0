// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl: control tool for the iofilter device-mapper target.
 */
#include <stdio.h>

#include "cli.h"
#include "util.h"

int main(int argc, char **argv)
{
	out_fp = stdout;
	err_fp = stderr;
	return iofctl_main(argc, argv);
}
