/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the unit test files share: the checks, the scratch directory, the
 * tool run with its output captured, the fake kernel's setup and the
 * groups main() runs (unit.c).
 */
#ifndef IOFCTL_UNIT_H
#define IOFCTL_UNIT_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/types.h>

void failf(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define CHECK(c) do { if (!(c)) { failf(__FILE__, __LINE__, "%s", #c); return; } } while (0)
#define CHECK_INT(a, b) do { long long _a = (a), _b = (b); if (_a != _b) { \
	failf(__FILE__, __LINE__, "%s == %lld, expected %lld", #a, _a, _b); return; } } while (0)
#define CHECK_STR(a, b) do { const char *_a = (a), *_b = (b); if (!_a || strcmp(_a, _b)) { \
	failf(__FILE__, __LINE__, "%s:\n--- got ---\n%s\n--- expected ---\n%s\n---", #a, \
	      _a ? _a : "(null)", _b); return; } } while (0)
#define CHECK_HAS(a, b) do { const char *_a = (a), *_b = (b); if (!_a || !strstr(_a, _b)) { \
	failf(__FILE__, __LINE__, "%s does not contain \"%s\":\n%s", #a, _b, _a ? _a : "(null)"); \
	return; } } while (0)
#define CHECK_HASNT(a, b) do { const char *_a = (a), *_b = (b); if (_a && strstr(_a, _b)) { \
	failf(__FILE__, __LINE__, "%s contains \"%s\":\n%s", #a, _b, _a); return; } } while (0)

/* Run one test: "not ok NAME" on stderr if a check failed. */
void run(const char *name, void (*fn)(void));
/* Tests that failed; a group that cannot run at all adds itself */
extern int nfail;

/* The scratch directory (--tmp) */
extern const char *tmpdir;
char *path_in_tmp(const char *name);
void write_file(const char *path, const void *data, size_t len, mode_t mode);
char *read_all(const char *path);
char *subst(const char *text, const char *from, const char *to);
/* Write a policy into the scratch dir (with @TMP@ replaced); returns its path. */
char *policy_file(const char *name, const char *text);
void make_image(const char *name, off_t size);

/* Run the tool; stdout and stderr captured. */
struct cap {
	char *out, *err;
	int code;
};

extern struct cap last;
struct cap *cli(const char *a0, ...);

/* unit-policy.c: sizes, JSON, fixtures, limits, validate, the command line */
/* The diagnostics of validate (no --strict) as "L:C: [warning: ]msg" lines. */
char **diag_lines(const char *file, size_t *n);
void free_lines(char **v, size_t n);
void unit_policy_tests(void);

/* unit-apply.c: apply against the fake kernel */
/* The fake kernel with the built-in types and fresh images */
void kernel_setup(void);
/* A volume with a count filter and two rules */
extern const char POL_A[];
void unit_apply_tests(void);

/* unit-verbs.c: status, stats, filters, detach, messages, version */
void unit_verb_tests(void);

#endif
