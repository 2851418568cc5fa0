// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl host unit tests: no kernel, no root.
 *
 *   unit-tests --tmp DIR            run everything; last line "N passed, N failed"
 *   unit-tests --tmp DIR --print F  print the diagnostics of fixture F as
 *                                   "# expect:" lines (to write a new fixture)
 *
 * Fixtures (fixtures/good, fixtures/bad) are policies with "# expect:
 * LINE:COL: message" lines naming every diagnostic validation must give, in
 * order ("warning: " before warnings).  A bad fixture needs at least one
 * error; "@TMP@" is replaced by the scratch directory.  The rest are C
 * tests: the size parser, the JSON writer, and every verb run through
 * iofctl_main() against the fake kernel of fake_sys.c.
 *
 * This file: the checks' bookkeeping, the helpers, main().  The tests:
 * unit-policy.c, unit-apply.c, unit-verbs.c (unit.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../cli.h"
#include "../output.h"
#include "../util.h"
#include "fake.h"
#include "unit.h"

static int npass;
int nfail;
static bool failed;
const char *tmpdir;

void failf(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	failed = true;
	fprintf(stderr, "  FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void run(const char *name, void (*fn)(void))
{
	failed = false;
	fn();
	if (failed) {
		nfail++;
		fprintf(stderr, "not ok %s\n", name);
	} else {
		npass++;
		if (getenv("UNIT_VERBOSE"))
			fprintf(stderr, "ok %s\n", name);
	}
}

/* ---- helpers ---- */

char *path_in_tmp(const char *name)
{
	return xasprintf("%s/%s", tmpdir, name);
}

void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
		perror(path);
		exit(2);
	}
	fchmod(fd, mode);
	close(fd);
}

char *read_all(const char *path)
{
	unsigned char *b;
	size_t n;

	if (read_file_max(path, 1 << 20, &b, &n))
		return NULL;
	b[n] = '\0';
	return (char *)b;
}

char *subst(const char *text, const char *from, const char *to)
{
	struct sbuf b;
	const char *p;

	sb_init(&b);
	while ((p = strstr(text, from))) {
		sb_addn(&b, text, (size_t)(p - text));
		sb_add(&b, to);
		text = p + strlen(from);
	}
	sb_add(&b, text);
	return sb_steal(&b);
}

char *policy_file(const char *name, const char *text)
{
	char *path = path_in_tmp(name), *t = subst(text, "@TMP@", tmpdir);

	write_file(path, t, strlen(t), 0644);
	free(t);
	return path;
}

void make_image(const char *name, off_t size)
{
	char *p = path_in_tmp(name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || ftruncate(fd, size)) {
		perror(p);
		exit(2);
	}
	close(fd);
	free(p);
}

struct cap last;

struct cap *cli(const char *a0, ...)
{
	char *argv[40], *out = NULL, *err = NULL;
	size_t ol = 0, el = 0;
	FILE *o, *e;
	va_list ap;
	int argc = 1;
	const char *a;

	free(last.out);
	free(last.err);
	argv[0] = (char *)"iofilterctl";
	va_start(ap, a0);
	for (a = a0; a && argc < 39; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	o = open_memstream(&out, &ol);
	e = open_memstream(&err, &el);
	out_fp = o;
	err_fp = e;
	last.code = iofctl_main(argc, argv);
	fclose(o);
	fclose(e);
	out_fp = stdout;
	err_fp = stderr;
	last.out = out;
	last.err = err;
	return &last;
}

/* ---- main ---- */

static void setup_tmp(void)
{
	char *p, *cmd = xasprintf("rm -rf '%s' && mkdir -p '%s'", tmpdir, tmpdir);
	char key[300];

	if (system(cmd)) {
		fprintf(stderr, "cannot make %s\n", tmpdir);
		exit(2);
	}
	free(cmd);
	make_image("disk-8m.img", 8 << 20);
	make_image("tiny.img", 100);
	p = path_in_tmp("link-8m.img");
	if (symlink("disk-8m.img", p)) {
		perror(p);
		exit(2);
	}
	free(p);
	memset(key, 'K', sizeof(key));
	memcpy(key, "KEYKEY", 6);
	p = path_in_tmp("key-empty");
	write_file(p, "", 0, 0600);
	free(p);
	p = path_in_tmp("key-big");
	write_file(p, key, 300, 0600);
	free(p);
	p = path_in_tmp("key-0644");
	write_file(p, key, 32, 0644);
	free(p);
	p = path_in_tmp("key-0600");
	write_file(p, key, 32, 0600);
	free(p);
}

int main(int argc, char **argv)
{
	const char *print = NULL;
	char abs[4096];
	int i;

	out_fp = stdout;
	err_fp = stderr;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--tmp") && i + 1 < argc)
			tmpdir = argv[++i];
		else if (!strcmp(argv[i], "--print") && i + 1 < argc)
			print = argv[++i];
	}
	if (!tmpdir) {
		fprintf(stderr, "usage: unit-tests --tmp DIR [--print FIXTURE]\n");
		return 2;
	}
	if (tmpdir[0] != '/' && getcwd(abs, sizeof(abs) - strlen(tmpdir) - 2)) {
		strcat(abs, "/");
		strcat(abs, tmpdir);
		tmpdir = abs;
	}
	setup_tmp();
	if (print) {
		char *text = read_all(print), *path, **got, *base = strrchr(print, '/');
		size_t n, k;

		if (!text)
			return 2;
		path = policy_file(base ? base + 1 : print, text);
		got = diag_lines(path, &n);
		for (k = 0; k < n; k++) {
			char *t = subst(got[k], tmpdir, "@TMP@");

			printf("# expect: %s\n", t);
			free(t);
		}
		free_lines(got, n);
		free(path);
		free(text);
		return 0;
	}

	unit_policy_tests();
	unit_apply_tests();
	unit_verb_tests();

	free(last.out);
	free(last.err);
	fake_reset();
	printf("%d passed, %d failed\n", npass, nfail);
	return nfail ? 1 : 0;
}
