// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl apply-all / detach-all: every policy of a directory, for boot
 * activation (packaging/systemd/iofilter-*.service), the way the crypttab
 * and lvm units activate at boot and deactivate at shutdown.
 *
 * apply-all applies each *.yaml of DIR in name order and goes on after a
 * policy that fails, so that one bad file does not keep the other volumes
 * from coming up.  detach-all detaches, in the reverse order, every volume
 * those policies name that exists (flushing the filters that hold data
 * first, as detach does) and leaves alone the ones that do not.  Both exit
 * with the first failure's code.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "output.h"
#include "policy.h"
#include "util.h"

static int policy_file(const struct dirent *de)
{
	size_t n = strlen(de->d_name);

	if (de->d_name[0] == '.' || n < 6)
		return 0;
	if (de->d_type != DT_REG && de->d_type != DT_LNK && de->d_type != DT_UNKNOWN)
		return 0;
	return !strcmp(de->d_name + n - 5, ".yaml");
}

/* The policy files of dir, sorted by name; -errno, or their count. */
static int list_policies(const char *dir, struct dirent ***list)
{
	int n = scandir(dir, list, policy_file, alphasort);

	return n < 0 ? -errno : n;
}

static void free_list(struct dirent **list, int n)
{
	while (n-- > 0)
		free(list[n]);
	free(list);
}

static int list_or_report(const char *verb, const char *dir, struct dirent ***list)
{
	int n = list_policies(dir, list);

	if (n == -ENOENT) {
		info("%s: no %s: nothing to do", verb, dir);
		*list = NULL;
		return 0;
	}
	if (n < 0)
		report_error(errno_exit(n), NULL, n, "%s: cannot read %s: %s", verb, dir, strerror(-n));
	return n;
}

int cmd_apply_all(struct cmd *c)
{
	const char *dir = c->argv[0];
	struct dirent **list;
	int n, i, code = EXIT_OK, nfail = 0;

	n = list_or_report("apply-all", dir, &list);
	if (n < 0)
		return errno_exit(n);
	for (i = 0; i < n; i++) {
		char *file = xasprintf("%s/%s", dir, list[i]->d_name);
		char *argv[] = { file, NULL };
		struct cmd one = { .argc = 1, .argv = argv, .dry_run = c->dry_run };
		int r = cmd_apply(&one);

		if (r) {
			errmsg("apply-all: %s: not applied (exit %d)", file, r);
			nfail++;
			if (!code)
				code = r;
		}
		free(file);
	}
	free_list(list, n);
	if (verbosity >= 0)
		fprintf(out_fp, "apply-all: %s: %d polic%s, %d failed\n", dir, n, n == 1 ? "y" : "ies",
			nfail);
	return code;
}

/* Is there a dm device of this name?  (sysfs: no libdevmapper in the core.) */
static bool dm_exists(const char *name)
{
	struct dirent *de;
	DIR *d = opendir("/sys/block");
	bool found = false;

	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		char path[300], buf[256];
		FILE *fp;

		if (strncmp(de->d_name, "dm-", 3))
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/dm/name", de->d_name);
		fp = fopen(path, "re");
		if (!fp)
			continue;
		if (fgets(buf, sizeof(buf), fp)) {
			buf[strcspn(buf, "\n")] = '\0';
			found = !strcmp(buf, name);
		}
		fclose(fp);
	}
	closedir(d);
	return found;
}

int cmd_detach_all(struct cmd *c)
{
	const char *dir = c->argv[0];
	struct dirent **list;
	int n, i, code = EXIT_OK, ndet = 0, nfail = 0;

	n = list_or_report("detach-all", dir, &list);
	if (n < 0)
		return errno_exit(n);
	for (i = n - 1; i >= 0; i--) {
		char *file = xasprintf("%s/%s", dir, list[i]->d_name);
		struct policy p;
		struct diags d;
		size_t vi;

		diags_init(&d, file);
		if (policy_load(file, &p, &d)) {
			/* A volume it names may be up: say so, go on with the rest. */
			diags_print(&d, err_fp);
			errmsg("detach-all: %s: cannot read its volumes", file);
			nfail++;
			if (!code)
				code = EXIT_INVALID;
		}
		for (vi = p.nvols; vi-- > 0;) {
			char *argv[] = { p.vols[vi].name, NULL };
			struct cmd one = { .argc = 1, .argv = argv, .yes = true };
			int r;

			if (!p.vols[vi].name || !dm_exists(p.vols[vi].name))
				continue;
			r = cmd_detach(&one);
			if (r) {
				nfail++;
				if (!code)
					code = r;
			} else {
				ndet++;
			}
		}
		policy_free(&p);
		diags_free(&d);
		free(file);
	}
	free_list(list, n);
	if (verbosity >= 0)
		fprintf(out_fp, "detach-all: %s: %d volume%s detached, %d failed\n", dir, ndet,
			ndet == 1 ? "" : "s", nfail);
	return code;
}
