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
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../apply.h"
#include "../cli.h"
#include "../commands.h"
#include "../output.h"
#include "../policy.h"
#include "../util.h"
#include "fake.h"
#include <shared/iofilter-builtin.h>

static int npass, nfail;
static bool failed;
static const char *tmpdir;

static void failf(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void failf(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	failed = true;
	fprintf(stderr, "  FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

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

static void run(const char *name, void (*fn)(void))
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

static char *path_in_tmp(const char *name)
{
	return xasprintf("%s/%s", tmpdir, name);
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
		perror(path);
		exit(2);
	}
	fchmod(fd, mode);
	close(fd);
}

static char *read_all(const char *path)
{
	unsigned char *b;
	size_t n;

	if (read_file_max(path, 1 << 20, &b, &n))
		return NULL;
	b[n] = '\0';
	return (char *)b;
}

static char *subst(const char *text, const char *from, const char *to)
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

/* Write a policy into the scratch dir (with @TMP@ replaced); returns its path. */
static char *policy_file(const char *name, const char *text)
{
	char *path = path_in_tmp(name), *t = subst(text, "@TMP@", tmpdir);

	write_file(path, t, strlen(t), 0644);
	free(t);
	return path;
}

static void make_image(const char *name, off_t size)
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

/* Run the tool; stdout and stderr captured. */
struct cap {
	char *out, *err;
	int code;
};

static struct cap last;

static struct cap *cli(const char *a0, ...)
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

/* ---- sizes, names, text ---- */

static void t_parse_size(void)
{
	static const struct {
		const char *s;
		int r;
		uint64_t v;
	} cases[] = {
		{ "0", 0, 0 }, { "512", 0, 512 }, { "1K", 0, 1024 }, { "1KiB", 0, 1024 },
		{ "4M", 0, 4 << 20 }, { "1MiB", 0, 1 << 20 }, { "2G", 0, 2ULL << 30 },
		{ "1GiB", 0, 1ULL << 30 }, { "3T", 0, 3ULL << 40 }, { "1TiB", 0, 1ULL << 40 },
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "18446744073709551616", -ERANGE, 0 }, { "16777216T", -ERANGE, 0 },
		{ "", -EINVAL, 0 }, { "K", -EINVAL, 0 }, { "1MB", -EINVAL, 0 }, { "1 MiB", -EINVAL, 0 },
		{ "1k", -EINVAL, 0 }, { "-1", -EINVAL, 0 }, { "1.5G", -EINVAL, 0 }, { "0x10", -EINVAL, 0 },
		{ "1Mi", -EINVAL, 0 },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		uint64_t v = 0;
		int r = parse_size(cases[i].s, &v);

		if (r != cases[i].r || (!r && v != cases[i].v)) {
			failf(__FILE__, __LINE__, "parse_size(\"%s\") = %d, %llu", cases[i].s, r,
			      (unsigned long long)v);
			return;
		}
	}
}

static void t_fmt_size(void)
{
	char b[32];

	CHECK_STR(fmt_size(0, b, sizeof(b)), "0");
	CHECK_STR(fmt_size(512, b, sizeof(b)), "512");
	CHECK_STR(fmt_size(1536, b, sizeof(b)), "1536");
	CHECK_STR(fmt_size(1024, b, sizeof(b)), "1KiB");
	CHECK_STR(fmt_size(3 << 20, b, sizeof(b)), "3MiB");
	CHECK_STR(fmt_size(1ULL << 40, b, sizeof(b)), "1TiB");
	CHECK_STR(fmt_size((1ULL << 30) + 512, b, sizeof(b)), "1073742336");
	CHECK_STR(fmt_size_human(1536ULL << 20, b, sizeof(b)), "1.5GiB");
	CHECK_STR(fmt_size_human(100, b, sizeof(b)), "100B");
}

static void t_names(void)
{
	CHECK(name_chars_ok("vm1.data_2-x"));
	CHECK(!name_chars_ok(""));
	CHECK(!name_chars_ok("a b"));
	CHECK(!name_chars_ok("a/b"));
	CHECK(!name_chars_ok("\xc3\xa9"));
	CHECK_INT(edit_distance("range", "rnage"), 1);
	CHECK_INT(edit_distance("cache", "cahce"), 1);
	CHECK_INT(edit_distance("name", "rnage"), 2);
	CHECK_INT(edit_distance("", "abc"), 3);
}

static void t_rule_text(void)
{
	const char *chain[] = { "stats", "enc" };
	struct iof_rule r;
	char *s;

	memset(&r, 0, sizeof(r));
	r.ops = IOF_OP_ALL;
	r.action = IOF_ACTION_PASS;
	s = rule_text(&r, chain);
	CHECK_STR(s, "all -> pass");
	free(s);
	r.start = 1 << 20;
	s = rule_text(&r, chain);
	CHECK_STR(s, "1MiB.. -> pass");
	free(s);
	strcpy(r.name, "boot");
	r.start = 0;
	r.len = 1 << 20;
	r.ops = IOF_OP_WRITE | IOF_OP_DISCARD;
	r.min_size = 4096;
	r.flags_set = IOF_RQ_SYNC;
	r.flags_clear = IOF_RQ_READAHEAD | IOF_RQ_META;
	r.ioprio_classes = IOF_PRIO_RT | IOF_PRIO_IDLE;
	r.action = IOF_ACTION_FILTER;
	r.nr_chain = 2;
	s = rule_text(&r, chain);
	CHECK_STR(s, "boot: 0+1MiB ops=write,discard size=4KiB.. flags=+sync,-meta,-readahead "
		     "ioprio=rt,idle -> chain(stats,enc)");
	free(s);
}

/* ---- JSON ---- */

static char *json_capture(void (*fn)(struct json *j))
{
	char *out = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&out, &len);
	struct json j;

	json_init(&j, fp);
	fn(&j);
	fclose(fp);
	return out;
}

static void emit_strings(struct json *j)
{
	static const char bad_utf8[] = { 'a', (char)0xc3, (char)0x28, 'b', (char)0xe2, (char)0x82,
					 (char)0xac, (char)0xf0, (char)0x9f, (char)0x98, (char)0x80,
					 (char)0xed, (char)0xa0, (char)0x80, (char)0xff, '\0' };

	json_obj_open(j, NULL);
	json_str(j, "plain", "abc");
	json_str(j, "quote\"key", "say \"hi\" \\ / done");
	json_str(j, "ctl", "\x01\b\f\n\r\t\x1f\x7f");
	json_str(j, "utf8", bad_utf8);
	json_str(j, "null", NULL);
	json_arr_open(j, "empty");
	json_arr_close(j);
	json_obj_open(j, "nested");
	json_u64(j, "big", UINT64_MAX);
	json_i64(j, "neg", -5);
	json_bool(j, "t", true);
	json_double(j, "d", 2.25);
	json_obj_close(j);
	json_obj_close(j);
	json_end(j);
}

static void t_json_writer(void)
{
	char *s = json_capture(emit_strings);

	CHECK_STR(s, "{\n"
		     "  \"plain\": \"abc\",\n"
		     "  \"quote\\\"key\": \"say \\\"hi\\\" \\\\ / done\",\n"
		     "  \"ctl\": \"\\u0001\\b\\f\\n\\r\\t\\u001f\\u007f\",\n"
		     "  \"utf8\": \"a\\ufffd(b\xe2\x82\xac\xf0\x9f\x98\x80\\ufffd\\ufffd\\ufffd\\ufffd\",\n"
		     "  \"null\": null,\n"
		     "  \"empty\": [],\n"
		     "  \"nested\": {\n"
		     "    \"big\": 18446744073709551615,\n"
		     "    \"neg\": -5,\n"
		     "    \"t\": true,\n"
		     "    \"d\": 2.2\n"
		     "  }\n"
		     "}\n");
	free(s);
}

static void emit_kv(struct json *j)
{
	static const char blk[] = "mode=sectors\0dev=/dev/sdb\0flag\0";

	json_obj_open(j, NULL);
	json_kv_object(j, "status", "  state=in-sync dirty=0 neg=-12 lead=007 big=123456789012345678901 "
			  "flag text=a\"b empty=  ");
	json_params_object(j, "params", blk, sizeof(blk) - 1);
	json_kv_object(j, "none", "");
	json_obj_close(j);
	json_end(j);
}

static void t_json_kv(void)
{
	char *s = json_capture(emit_kv);

	CHECK_STR(s, "{\n"
		     "  \"status\": {\n"
		     "    \"state\": \"in-sync\",\n"
		     "    \"dirty\": 0,\n"
		     "    \"neg\": -12,\n"
		     "    \"lead\": \"007\",\n"
		     "    \"big\": \"123456789012345678901\",\n"
		     "    \"flag\": true,\n"
		     "    \"text\": \"a\\\"b\",\n"
		     "    \"empty\": \"\"\n"
		     "  },\n"
		     "  \"params\": {\n"
		     "    \"mode\": \"sectors\",\n"
		     "    \"dev\": \"/dev/sdb\",\n"
		     "    \"flag\": null\n"
		     "  },\n"
		     "  \"none\": {}\n"
		     "}\n");
	free(s);
}

/* ---- fixtures ---- */

/* The diagnostics of validate (no --strict) as "L:C: [warning: ]msg" lines. */
static char **diag_lines(const char *file, size_t *n)
{
	struct policy p;
	struct ftypes t;
	struct diags d;
	char **v;
	size_t i;

	diags_init(&d, file);
	ftypes_builtin(&t);
	policy_load(file, &p, &d);
	policy_check(&p, &t, &d);
	policy_check_env(&p, 0, &d);
	diags_sort(&d);
	v = xcalloc(d.n + 1, sizeof(*v));
	for (i = 0; i < d.n; i++)
		v[i] = xasprintf("%u:%u: %s%s", d.v[i].m.line, d.v[i].m.col,
				 d.v[i].sev == DIAG_WARNING ? "warning: " : "", d.v[i].msg);
	*n = d.n;
	policy_free(&p);
	ftypes_free(&t);
	diags_free(&d);
	return v;
}

static void free_lines(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int yaml_only(const struct dirent *de)
{
	size_t l = strlen(de->d_name);

	return l > 5 && !strcmp(de->d_name + l - 5, ".yaml");
}

static const char *fx_dir, *fx_name;

static void t_fixture(void)
{
	char *src = xasprintf("%s/%s", fx_dir, fx_name), *text = read_all(src), *path, *p;
	bool bad = strstr(fx_dir, "bad") != NULL;
	char **exp = NULL, **got;
	size_t nexp = 0, ngot, i, nerr = 0;

	free(src);
	CHECK(text);
	for (p = text; (p = strstr(p, "# expect: ")); p++) {
		size_t l = strcspn(p + 10, "\n");

		exp = xreallocarray(exp, nexp + 1, sizeof(*exp));
		exp[nexp++] = xstrndup(p + 10, l);
	}
	path = policy_file(fx_name, text);
	free(text);
	got = diag_lines(path, &ngot);
	free(path);
	for (i = 0; i < ngot; i++) {
		char *t = subst(got[i], tmpdir, "@TMP@");

		free(got[i]);
		got[i] = t;
		nerr += !strstr(got[i], ": warning: ");
	}
	if (bad && !nerr)
		failf(__FILE__, __LINE__, "%s/%s: a bad fixture gave no error", fx_dir, fx_name);
	if (!bad && nerr)
		failf(__FILE__, __LINE__, "%s/%s: a good fixture gave errors", fx_dir, fx_name);
	if (bad && !nexp)
		failf(__FILE__, __LINE__, "%s/%s: a bad fixture needs # expect: lines", fx_dir, fx_name);
	for (i = 0; i < nexp || i < ngot; i++)
		if (i >= nexp || i >= ngot || strcmp(exp[i], got[i])) {
			failf(__FILE__, __LINE__, "%s/%s: diagnostic %zu:\n  got:      %s\n  expected: %s",
			      fx_dir, fx_name, i + 1, i < ngot ? got[i] : "(none)",
			      i < nexp ? exp[i] : "(none)");
			break;
		}
	free_lines(exp, nexp);
	free_lines(got, ngot);
}

static void run_fixtures(const char *dir)
{
	struct dirent **list;
	int n, i;

	n = scandir(dir, &list, yaml_only, alphasort);
	if (n <= 0) {
		fprintf(stderr, "no fixtures in %s\n", dir);
		nfail++;
		return;
	}
	for (i = 0; i < n; i++) {
		char *name = xasprintf("fixture %s/%s", dir, list[i]->d_name);

		fx_dir = dir;
		fx_name = list[i]->d_name;
		run(name, t_fixture);
		free(name);
		free(list[i]);
	}
	free(list);
}

/* Every shipped example policy validates cleanly. */
static void t_shipped_policies(void)
{
	static const char *const files[] = {
		"reference.yaml", "demo.yaml", "boot-sector-protect.yaml", "count-hot-range.yaml",
		"cache-writeback.yaml", "replicate-async-lagged.yaml", "replicate-nbd.yaml",
		"crypt-data-range.yaml", "crypt-keyring.yaml", "bpf-deny-writes.yaml",
		"bpf-size-histogram.yaml",
	};
	size_t i, n;

	for (i = 0; i < ARRAY_SIZE(files); i++) {
		char *p = xasprintf("../../../policies/%s", files[i]);
		char **got = diag_lines(p, &n);

		if (n)
			failf(__FILE__, __LINE__, "%s: %s", p, got[0]);
		free_lines(got, n);
		free(p);
	}
}

/* Generated: the rule and instance limits, and a big table that is fine. */
static void t_limits(void)
{
	struct sbuf b;
	char *path, **got;
	size_t n, i;

	sb_init(&b);
	sb_add(&b, "version: 1\nvolumes:\n  - name: big\n    device: /dev/iof-test-missing\n    rules:\n");
	for (i = 0; i < IOF_MAX_RULES; i++)
		sb_printf(&b, "      - {range: {start: %zu, length: 512}, ops: [write], action: deny}\n", i * 512);
	path = policy_file("limit-ok.yaml", b.s);
	got = diag_lines(path, &n);
	free(path);
	CHECK_INT(n, 0);
	free_lines(got, n);
	sb_add(&b, "      - {action: pass}\n");
	path = policy_file("limit-rules.yaml", b.s);
	got = diag_lines(path, &n);
	free(path);
	sb_free(&b);
	CHECK_INT(n, 1);
	CHECK_STR(got[0], "6:7: volume has 16385 rules; at most 16384");
	free_lines(got, n);

	sb_add(&b, "version: 1\nvolumes:\n  - name: many\n    device: /dev/iof-test-missing\n    filters:\n");
	for (i = 0; i <= IOF_MAX_INSTANCES; i++)
		sb_printf(&b, "      - {name: f%zu, type: count}\n", i);
	sb_add(&b, "    default: {chain: [f0]}\n");
	path = policy_file("limit-instances.yaml", b.s);
	got = diag_lines(path, &n);
	free(path);
	sb_free(&b);
	CHECK(n >= 1);
	CHECK_STR(got[0], "6:7: volume has 257 filter instances; at most 256");
	free_lines(got, n);

	/*
	 * 16384 rules that all overlap, each allowed to: no error, and fast;
	 * all but the first can never match.
	 */
	sb_add(&b, "version: 1\nvolumes:\n  - name: big\n    device: /dev/iof-test-missing\n    rules:\n");
	for (i = 0; i < IOF_MAX_RULES; i++)
		sb_printf(&b, "      - {range: {start: 0, length: 1GiB}, ops: [write], action: deny, allow_overlap: %s}\n",
			  i ? "true" : "false");
	path = policy_file("limit-overlap.yaml", b.s);
	got = diag_lines(path, &n);
	free(path);
	sb_free(&b);
	CHECK_INT(n, IOF_MAX_RULES - 1);
	CHECK_STR(got[0], "7:9: warning: rule can never match: rule #1 (line 6) takes all its I/O first");
	free_lines(got, n);
}

/* CPU time of this process: what the code costs, whatever the machine's load. */
static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Under valgrind (make valgrind sets UNIT_SLOW) the timing checks are off. */
static bool fast_enough(double t, double limit)
{
	return getenv("UNIT_SLOW") || t < limit;
}

/* validate FILE through the command line, timed; returns CPU seconds. */
static double timed_validate(const char *path)
{
	double t0 = now_s();

	cli("validate", path, NULL);
	return now_s() - t0;
}

/*
 * Bounded input: a 200 KB "billion laughs" alias bomb, an alias cycle, a
 * file over the size limit, too many volumes and 100,000 rules each get one
 * clear file:line:col error, fast.
 */
static void t_bounds(void)
{
	struct sbuf b;
	char *path;
	double t;
	size_t i;
	int k;

	/* Classic: ten times ten times ... "lol" (not even walked by the schema). */
	sb_init(&b);
	sb_add(&b, "version: 1\nvolumes: []\nl0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
	for (i = 1; b.len < 200 * 1024; i++) {
		sb_printf(&b, "l%zu: &l%zu [", i, i);
		for (k = 0; k < 10; k++)
			sb_printf(&b, "%s*l%zu", k ? ", " : "", i - 1);
		sb_add(&b, "]\n");
	}
	path = policy_file("bomb.yaml", b.s);
	sb_free(&b);
	t = timed_validate(path);
	free(path);
	CHECK_INT(last.code, 1);
	CHECK_HAS(last.err, "bomb.yaml:9:5: YAML aliases expand the policy to more than 4000000 nodes\n"
			    "  hint: aliases (*name) repeat what their anchor (&name) holds; write the policy out\n");
	CHECK(fast_enough(t, 0.5));

	/*
	 * The one that hurt (200 KB): 50,000 volumes, each an alias of one
	 * with an alias of 16,384 rules: 800 million rules to allocate.
	 */
	sb_init(&b);
	sb_add(&b, "version: 1\nrule: &x {range: {start: 0, length: 512}, action: deny}\nrules: &r [*x");
	for (i = 1; i < IOF_MAX_RULES; i++)
		sb_add(&b, ",*x");
	sb_add(&b, "]\nvolumes: [&v {name: a, device: /dev/iof-test-missing, rules: *r}");
	for (i = 1; i < 50000; i++)
		sb_add(&b, ",*v");
	sb_add(&b, "]\n");
	CHECK(b.len > 150 * 1024 && b.len < 250 * 1024);
	path = policy_file("bomb2.yaml", b.s);
	sb_free(&b);
	t = timed_validate(path);
	free(path);
	CHECK_INT(last.code, 1);
	CHECK_HAS(last.err, "bomb2.yaml:4:10: YAML aliases expand the policy to more than 4000000 nodes\n");
	CHECK(fast_enough(t, 0.5));

	path = policy_file("cycle.yaml", "version: 1\nvolumes: &v\n  - name: a\n    rules: *v\n");
	cli("validate", path, NULL);
	CHECK_INT(last.code, 1);
	CHECK_HAS(last.err, "cycle.yaml:3:5: YAML alias refers to a node that contains it\n");
	free(path);

	sb_init(&b);
	sb_add(&b, "version: 1\nvolumes:\n");
	while (b.len <= POLICY_MAX_BYTES)
		sb_add(&b, "# padding padding padding padding padding padding padding padding\n");
	path = policy_file("huge.yaml", b.s);
	sb_free(&b);
	cli("validate", path, NULL);
	CHECK_INT(last.code, 1);
	CHECK_HAS(last.err, "huge.yaml: policy file is larger than 4194304 bytes (4 MiB)\n"
			    "  hint: a policy is a few kilobytes; split very large ones\n");
	free(path);

	sb_init(&b);
	sb_add(&b, "version: 1\nvolumes:\n");
	for (i = 0; i <= POLICY_MAX_VOLUMES; i++)
		sb_printf(&b, "  - {name: v%zu, device: /dev/iof-test-missing%zu}\n", i, i);
	path = policy_file("vols.yaml", b.s);
	sb_free(&b);
	cli("validate", path, NULL);
	CHECK_INT(last.code, 1);
	CHECK_HAS(last.err, "vols.yaml:3:3: policy has 1025 volumes; at most 1024\n");
	free(path);

	/* 100,000 rules: the documented cap, at once. */
	sb_init(&b);
	sb_add(&b, "version: 1\nvolumes:\n  - name: big\n    device: /dev/iof-test-missing\n    rules:\n");
	for (i = 0; i < 100000; i++)
		sb_add(&b, "      - {action: deny}\n");
	path = policy_file("rules100k.yaml", b.s);
	sb_free(&b);
	t = timed_validate(path);
	free(path);
	CHECK_INT(last.code, 1);
	CHECK_HAS(last.err, "rules100k.yaml:6:7: volume has 100000 rules; at most 16384\n");
	CHECK(fast_enough(t, 2));
}

/*
 * The checks between rules are not quadratic: 16,384 rules (the cap) that
 * all share one name, all overlap, all use one crypt filter, validate in
 * well under 2 s with one error each.
 */
static void t_many_rules_fast(void)
{
	struct sbuf b;
	char *path;
	size_t i, s;
	double t;

	for (s = 0; s < 3; s++) {
		sb_init(&b);
		sb_add(&b, "version: 1\nvolumes:\n  - name: big\n    device: /dev/iof-test-missing\n"
			   "    filters:\n      - {name: enc, type: crypt, params: {key: logon:k}}\n"
			   "    rules:\n");
		for (i = 0; i < IOF_MAX_RULES; i++)
			if (s == 0)
				sb_add(&b, "      - {name: same, range: {start: 0, length: 1GiB}, action: deny}\n");
			else if (s == 1)
				sb_printf(&b, "      - {range: {start: %zu, length: 4096}, chain: [enc]}\n",
					  (i + 1) * 4096);
			else
				sb_printf(&b, "      - {range: {start: 0, length: %zu}, chain: [enc]}\n",
					  (i + 1) * 4096);
		path = policy_file("many.yaml", b.s);
		sb_free(&b);
		t = timed_validate(path);
		free(path);
		if (getenv("UNIT_VERBOSE"))
			fprintf(stderr, "  shape %zu: %.3f s\n", s, t);
		if (!fast_enough(t, 2))
			failf(__FILE__, __LINE__, "shape %zu: validate took %.2f s", s, t);
		CHECK_INT(last.code, s == 1 ? 0 : 1);
	}
}

/*
 * The tool's built-in types cannot drift from the modules': both compile
 * include/shared/iofilter-builtin.h.  Check the tool's table has its flags
 * (every built-in type is NOWAIT), and that each module still takes its
 * flags and parameter names from there rather than from a copy.
 */
static void t_builtin_types_shared(void)
{
	static const struct {
		const char *type, *src, *flags, *params;
		unsigned want;
	} m[] = {
		{ "count", "iof-count.c", "IOF_COUNT_TYPE_FLAGS", NULL, IOF_COUNT_TYPE_FLAGS },
		{ "crypt", "iof-crypt.c", "IOF_CRYPT_TYPE_FLAGS", "iofilter_params_check(iof_crypt_params",
		  IOF_CRYPT_TYPE_FLAGS },
		{ "replicate", "iof-replicate.c", "IOF_REPLICATE_TYPE_FLAGS",
		  "iofilter_params_check(iof_replicate_params", IOF_REPLICATE_TYPE_FLAGS },
		{ "cache", "iof-cache-ctl.c", "IOF_CACHE_TYPE_FLAGS", "iofilter_params_check(iof_cache_params",
		  IOF_CACHE_TYPE_FLAGS },
		{ "bpf", "iof-bpf.c", "IOF_BPF_TYPE_FLAGS", "iofilter_params_check(iof_bpf_params",
		  IOF_BPF_TYPE_FLAGS },
	};
	struct ftypes t;
	size_t i;

	ftypes_builtin(&t);
	CHECK_INT(t.n, ARRAY_SIZE(m));
	for (i = 0; i < ARRAY_SIZE(m); i++) {
		const struct ftype *f = ftypes_find(&t, m[i].type);
		char *path = xasprintf("../../../drivers/md/iofilter/filters/%s", m[i].src);
		char *src = read_all(path), *want = xasprintf(".flags = %s", m[i].flags);

		free(path);
		if (!f || f->flags != m[i].want || !(f->flags & IOF_TYPE_NOWAIT))
			failf(__FILE__, __LINE__, "type %s: flags 0x%x, modules 0x%x", m[i].type,
			      f ? f->flags : 0, m[i].want);
		if (!src || !strstr(src, want) || (m[i].params && !strstr(src, m[i].params)))
			failf(__FILE__, __LINE__, "%s does not take %s%s%s from the shared header",
			      m[i].src, want, m[i].params ? " and " : "", m[i].params ? m[i].params : "");
		free(want);
		free(src);
	}
	ftypes_free(&t);
}

/* ---- validate through the command line: exact output ---- */

static void t_validate_text(void)
{
	char *path = policy_file("v1.yaml",
				 "version: 1\n"
				 "volumes:\n"
				 "  - name: vm1\n"
				 "    device: /dev/iof-test-missing\n"
				 "    filters:\n"
				 "      - {name: stats, type: cont}\n"
				 "    rules:\n"
				 "      - rnage: {start: 0, length: 1MiB}\n"
				 "        action: deny\n"
				 "      - range: {start: 0, length: 1000}\n"
				 "        chain: [stat]\n");
	char *exp = xasprintf(
		"%s:6:16: warning: filter instance \"stats\" is not used by any rule\n"
		"%s:6:29: unknown filter type \"cont\"\n"
		"  hint: did you mean \"count\"? known types: count, crypt, replicate, cache, bpf\n"
		"%s:8:9: unknown key \"rnage\" in rule\n"
		"  hint: did you mean \"range\"? known keys: name, range, ops, size, flags, ioprio, action, chain, allow_overlap\n"
		"%s:10:35: range length \"1000\" is not a multiple of 512 bytes\n"
		"%s:11:17: unknown filter instance \"stat\" in chain\n"
		"  hint: did you mean \"stats\"? filters of this volume: stats\n"
		"%s: 4 errors\n", path, path, path, path, path, path);

	cli("validate", path, NULL);
	CHECK_INT(last.code, 1);
	CHECK_STR(last.out, "");
	CHECK_STR(last.err, exp);
	free(exp);
	free(path);
}

static void t_validate_ok_and_json(void)
{
	char *path = policy_file("v2.yaml",
				 "version: 1\n"
				 "volumes:\n"
				 "  - name: vm1\n"
				 "    image: @TMP@/disk-8m.img\n"
				 "    filters: [{name: s, type: count, params: {key_file: @TMP@/key-0644}}]\n"
				 "    rules:\n"
				 "      - {range: {start: 1MiB, end: 16MiB}, chain: [s]}\n");
	char *exp;

	cli("validate", "-o", "json", path, NULL);
	CHECK_INT(last.code, 1);
	exp = xasprintf("{\n"
			"  \"file\": \"%s\",\n"
			"  \"valid\": false,\n"
			"  \"volumes\": 1,\n"
			"  \"filters\": 1,\n"
			"  \"rules\": 1,\n"
			"  \"errors\": [\n"
			"    {\n"
			"      \"file\": \"%s\",\n"
			"      \"line\": 7,\n"
			"      \"column\": 17,\n"
			"      \"message\": \"range ends at 16MiB, beyond the end of \\\"%s/disk-8m.img\\\" (8MiB)\"\n"
			"    }\n"
			"  ],\n"
			"  \"warnings\": [\n"
			"    {\n"
			"      \"file\": \"%s\",\n"
			"      \"line\": 5,\n"
			"      \"column\": 57,\n"
			"      \"message\": \"key file \\\"%s/key-0644\\\" is readable by group and others (mode 0644)\",\n"
			"      \"hint\": \"chmod 600 %s/key-0644\"\n"
			"    }\n"
			"  ]\n"
			"}\n", path, path, tmpdir, path, tmpdir, tmpdir);
	CHECK_STR(last.out, exp);
	free(exp);
	/* The warning also reaches stderr in JSON mode. */
	CHECK_HAS(last.err, "warning: key file");
	free(path);

	path = policy_file("v3.yaml", "version: 1\nvolumes:\n  - {name: a, image: @TMP@/disk-8m.img}\n");
	cli("validate", path, NULL);
	CHECK_INT(last.code, 0);
	exp = xasprintf("%s: valid (1 volume, 0 filters, 0 rules)\n", path);
	CHECK_STR(last.out, exp);
	CHECK_STR(last.err, "");
	free(exp);
	cli("-q", "validate", path, NULL);
	CHECK_STR(last.out, "");
	free(path);
}

static void t_validate_strict(void)
{
	char *path = policy_file("v4.yaml",
				 "version: 1\nvolumes:\n  - {name: a, image: /nonexistent/iof.img}\n");
	char *exp;

	cli("validate", path, NULL);
	CHECK_INT(last.code, 0);
	cli("validate", "--strict", path, NULL);
	CHECK_INT(last.code, 1);
	exp = xasprintf("%s:3:22: image \"/nonexistent/iof.img\": No such file or directory\n%s: 1 error\n",
			path, path);
	CHECK_STR(last.err, exp);
	free(exp);
	free(path);
	cli("validate", "/nonexistent/policy.yaml", NULL);
	CHECK_INT(last.code, 1);
	CHECK_STR(last.err, "/nonexistent/policy.yaml: cannot open: No such file or directory\n"
			    "/nonexistent/policy.yaml: 1 error\n");
}

/* format: names one of qemu's formats, applies to images only, at file:line:col */
static void t_validate_format(void)
{
	char *path, *exp;
	int col;

	path = policy_file("f1.yaml", "version: 1\nvolumes:\n"
			   "  - {name: a, image: @TMP@/disk-8m.img, format: raw}\n");
	cli("validate", "--strict", path, NULL);
	CHECK_INT(last.code, 0);
	free(path);

	path = policy_file("f2.yaml", "version: 1\nvolumes:\n"
			   "  - {name: a, image: @TMP@/disk-8m.img, format: vhd}\n");
	cli("validate", path, NULL);
	CHECK_INT(last.code, 1);
	/* the column of the format's value, after the expanded @TMP@ */
	col = (int)(strlen("  - {name: a, image: ") + strlen(tmpdir) + strlen("/disk-8m.img, format: ") + 1);
	exp = xasprintf("%s:3:%d: unsupported image format \"vhd\"\n"
			"  hint: one of raw qcow2 qcow qed vmdk vdi vhdx vpc parallels\n%s: 1 error\n",
			path, col, path);
	CHECK_STR(last.err, exp);
	free(exp);
	free(path);

	path = policy_file("f3.yaml", "version: 1\nvolumes:\n"
			   "  - {name: a, device: /dev/null, format: qcow2}\n");
	cli("validate", path, NULL);
	CHECK_INT(last.code, 1);
	CHECK_HAS(last.err, ":3:42: \"format\" applies to \"image\" only\n  hint: a block device is used as it is\n");
	free(path);

	/* what qemu-img says about the file is the error, at the format key */
	path = policy_file("f4.yaml", "version: 1\nvolumes:\n"
			   "  - {name: a, image: @TMP@/disk-8m.img, format: qcow2}\n");
	cli("validate", "--strict", path, NULL);
	CHECK_INT(last.code, 1);
	exp = xasprintf("%s:3:%d: image \"%s/disk-8m.img\": Image is not in qcow2 format\n",
			path, col, tmpdir);
	CHECK_HAS(last.err, exp);
	free(exp);
	free(path);
}

/* ---- command line ---- */

static void t_cli_errors(void)
{
	cli("frobnicate", NULL);
	CHECK_INT(last.code, 1);
	CHECK_STR(last.err, "iofilterctl: unknown verb \"frobnicate\"; see iofilterctl --help\n");
	cli("status", "a", "b", NULL);
	CHECK_INT(last.code, 1);
	CHECK_STR(last.err, "Usage: iofilterctl status [VOLUME]\niofilterctl: status: wrong number of arguments\n");
	cli("status", "--force", NULL);
	CHECK_INT(last.code, 1);
	CHECK_STR(last.err, "Usage: iofilterctl status [VOLUME]\niofilterctl: status: option --force does not apply\n");
	cli("-o", "yaml", "status", NULL);
	CHECK_INT(last.code, 1);
	CHECK_STR(last.err, "iofilterctl: unknown output format \"yaml\" (text or json)\n");
	cli("stats", "--count", "3", NULL);
	CHECK_INT(last.code, 1);
	CHECK_HAS(last.err, "--count needs --watch");
	cli("stats", "--watch", "0", NULL);
	CHECK_INT(last.code, 1);
	cli("stats", "--watch", "1", "--reset", NULL);
	CHECK_INT(last.code, 1);
	cli("-o", "json", "apply", NULL);
	CHECK_INT(last.code, 1);
	CHECK_STR(last.out, "{\n  \"errors\": [\n    {\n      \"message\": \"apply: wrong number of arguments\"\n"
			    "    }\n  ],\n  \"warnings\": []\n}\n");
	cli("--bogus", NULL);
	CHECK_INT(last.code, 1);
	CHECK_STR(last.err, "iofilterctl: unknown option --bogus\n");
	cli(NULL);
	CHECK_INT(last.code, 1);
	CHECK_HAS(last.err, "Usage: iofilterctl");
	cli("apply", "--help", NULL);
	CHECK_INT(last.code, 0);
	CHECK_HAS(last.out, "Usage: iofilterctl apply FILE [--dry-run] [--force]\n");
	cli("help", "stats", NULL);
	CHECK_INT(last.code, 0);
	CHECK_HAS(last.out, "--count N");
	cli("--help", NULL);
	CHECK_INT(last.code, 0);
	CHECK_HAS(last.out, "7 partially applied");
}

/* Options that skip a safety check are not taken from a prefix. */
static void t_cli_full_names(void)
{
	static const char *const bad[][2] = {
		{ "--fo", "force" }, { "--f", "force" }, { "--forc", "force" },
		{ "--y", "yes" }, { "--ye", "yes" },
	};
	char *a = policy_file("fn.yaml", "version: 1\nvolumes:\n  - {name: vm1, device: /dev/iof-test-missing}\n");
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		char *want = xasprintf("iofilterctl: %s: write --%s in full; it skips a safety check\n",
				       bad[i][0], bad[i][1]);

		cli(bad[i][1][0] == 'f' ? "apply" : "detach", bad[i][1][0] == 'f' ? a : "vm1", bad[i][0], NULL);
		CHECK_INT(last.code, 1);
		CHECK_STR(last.err, want);
		free(want);
	}
	/* Full names and the short -y still work; a harmless prefix too. */
	cli("detach", "vm1", "--yes", NULL);
	CHECK_HASNT(last.err, "in full");
	cli("detach", "vm1", "-y", NULL);
	CHECK_HASNT(last.err, "in full");
	cli("apply", a, "--force", NULL);
	CHECK_HASNT(last.err, "in full");
	cli("apply", a, "--dry", NULL);
	CHECK_HASNT(last.err, "in full");
	CHECK_HASNT(last.err, "unknown option");
	free(a);
}

/* ---- the fake kernel ---- */

static void kernel_setup(void)
{
	fake_reset();
	fake_add_type("count", IOF_CLASS_INSPECT, IOF_TYPE_NOWAIT);
	fake_add_type("crypt", IOF_CLASS_CRYPT, IOF_TYPE_RANGE_EXCLUSIVE);
	fake_add_type("replicate", IOF_CLASS_REPLICATE, IOF_TYPE_HOLDS_DIRTY);
	fake_add_type("cache", IOF_CLASS_CACHE, IOF_TYPE_HOLDS_DIRTY);
	make_image("disk-8m.img", 8 << 20);
	make_image("disk2.img", 4 << 20);
}

static const char POL_A[] =
	"version: 1\n"
	"volumes:\n"
	"  - name: vm1\n"
	"    image: @TMP@/disk-8m.img\n"
	"    filters:\n"
	"      - name: stats\n"
	"        type: count\n"
	"        params: {mode: sectors}\n"
	"    rules:\n"
	"      - name: boot\n"
	"        range: {start: 0, length: 1MiB}\n"
	"        ops: [write]\n"
	"        action: deny\n"
	"      - range: {start: 1MiB, end: 8MiB}\n"
	"        chain: [stats]\n";

static void t_kernel_errors(void)
{
	char *path = policy_file("ka.yaml", POL_A);

	kernel_setup();
	fake.loaded = false;
	cli("status", NULL);
	CHECK_INT(last.code, 4);
	CHECK_STR(last.err, "iofilterctl: iofilter module not loaded (modprobe iofilter)\n");
	cli("apply", path, NULL);
	CHECK_INT(last.code, 4);
	CHECK_STR(last.err, "iofilterctl: iofilter module not loaded (modprobe iofilter)\n");
	CHECK_STR(fake_log, "");
	cli("version", NULL);
	CHECK_INT(last.code, 0);
	CHECK_STR(last.out, "iofilterctl " IOFCTL_VERSION " (ABI 1.0.0)\nkernel module: not loaded\n");

	fake.loaded = true;
	fake.denied = true;
	cli("filters", NULL);
	CHECK_INT(last.code, 2);
	CHECK_STR(last.err, "iofilterctl: permission denied: iofilterctl needs CAP_SYS_ADMIN\n");
	/*
	 * apply: the missing privilege is the error, not the devices it makes
	 * unreadable (as root here: a missing image stands for one).
	 */
	{
		char *t = subst(POL_A, "disk-8m.img", "no-such.img"), *p2 = policy_file("kd.yaml", t);

		cli("apply", p2, NULL);
		CHECK_INT(last.code, 2);
		CHECK_STR(last.err, "iofilterctl: permission denied: iofilterctl needs CAP_SYS_ADMIN\n");
		CHECK_STR(fake_log, "");
		free(t);
		free(p2);
	}
	fake.denied = false;
	fake.ioctl_eperm = true;
	cli("-o", "json", "filters", NULL);
	CHECK_INT(last.code, 2);
	CHECK_STR(last.out, "{\n  \"errors\": [\n    {\n"
			    "      \"message\": \"list filter types: permission denied: iofilterctl needs CAP_SYS_ADMIN\",\n"
			    "      \"errno\": 1,\n      \"error\": \"Operation not permitted\"\n    }\n"
			    "  ],\n  \"warnings\": []\n}\n");
	fake.ioctl_eperm = false;
	fake.kmajor = 2;
	cli("status", NULL);
	CHECK_INT(last.code, 6);
	CHECK_STR(last.err, "iofilterctl: the iofilter module speaks ABI 2.0.0; iofilterctl needs 1.x "
			    "(it was built for 1.0.0)\n");
	free(path);
}

/* apply-all: name order, hidden and non-yaml files skipped, goes on after a failure. */
static void t_apply_all(void)
{
	char *dir = path_in_tmp("boot.d"), *none = path_in_tmp("no-such.d");
	char *a, *b, *c, *h, *exp;

	mkdir(dir, 0755);
	a = policy_file("boot.d/20-a.yaml", POL_A);
	b = policy_file("boot.d/10-bad.yaml", "version: 1\nvolumes: 3\n");
	c = policy_file("boot.d/README", "not a policy");
	h = policy_file("boot.d/.00-hidden.yaml", "not a policy");
	kernel_setup();
	cli("apply-all", dir, NULL);
	CHECK_INT(last.code, 1);
	exp = xasprintf("vm1: created /dev/mapper/vm1 over /dev/loop0 (8MiB): 1 filter, 2 rules, generation 1\n"
			"apply-all: %s: 2 policies, 1 failed\n", dir);
	CHECK_STR(last.out, exp);
	free(exp);
	exp = xasprintf("iofilterctl: apply-all: %s: not applied (exit 1)\n", b);
	CHECK_HAS(last.err, exp);
	free(exp);
	cli("apply-all", dir, NULL);
	CHECK_HAS(last.out, "vm1: no changes\n");
	cli("apply-all", none, NULL);
	CHECK_INT(last.code, 0);
	cli("detach-all", none, NULL);
	CHECK_INT(last.code, 0);
	cli("apply-all", NULL);
	CHECK_INT(last.code, 1);
	free(a);
	free(b);
	free(c);
	free(h);
	free(dir);
	free(none);
}

static void t_apply_create_and_idempotent(void)
{
	char *path = policy_file("kb.yaml", POL_A), *exp;

	kernel_setup();
	cli("apply", path, NULL);
	CHECK_INT(last.code, 0);
	CHECK_STR(last.err, "");
	CHECK_STR(last.out, "vm1: created /dev/mapper/vm1 over /dev/loop0 (8MiB): 1 filter, 2 rules, generation 1\n");
	exp = xasprintf("loop-attach %s/disk-8m.img /dev/loop0\n"
			"dm-create vm1 16384 7:0 vm1\n"
			"create vm1 stats count\n"
			"load vm1 rules=2 gen=1\n"
			"dm-resume vm1\n", tmpdir);
	/* Configured before the first resume: never unfiltered. */
	CHECK_STR(fake_log, exp);
	free(exp);
	{
		size_t len;
		const char *p = fake_params("vm1", "stats", &len);

		CHECK(p);
		CHECK_INT(len, 13);
		CHECK(!memcmp(p, "mode=sectors\0", 13));
	}
	fake_log[0] = '\0';
	cli("apply", path, NULL);
	CHECK_INT(last.code, 0);
	CHECK_STR(last.out, "vm1: no changes\n");
	CHECK_STR(fake_log, "");
	cli("apply", "--dry-run", path, NULL);
	CHECK_INT(last.code, 0);
	CHECK_STR(last.out, "vm1: no changes\n");
	free(path);
}

static void t_apply_register_at_resume(void)
{
	char *path = policy_file("kc.yaml", POL_A), *exp;

	kernel_setup();
	fake.register_at_resume = true;
	cli("apply", path, NULL);
	CHECK_INT(last.code, 0);
	exp = xasprintf("loop-attach %s/disk-8m.img /dev/loop0\n"
			"dm-create vm1 16384 7:0 vm1\n"
			"dm-resume vm1\n"
			"create vm1 stats count\n"
			"load vm1 rules=2 gen=1\n", tmpdir);
	CHECK_STR(fake_log, exp);
	free(exp);
	free(path);
}

static void t_apply_dry_run_new(void)
{
	char *path = policy_file("kd.yaml", POL_A), *exp;

	kernel_setup();
	cli("apply", "--dry-run", path, NULL);
	CHECK_INT(last.code, 0);
	exp = xasprintf("  + loop: attach %s/disk-8m.img to a loop device\n"
			"  + volume vm1: /dev/mapper/vm1 over a new loop device (8MiB)\n"
			"  + instance stats: count mode=sectors\n"
			"  + rule #1: boot: 0+1MiB ops=write -> deny\n"
			"  + rule #2: 1MiB+7MiB -> chain(stats)\n"
			"vm1: 5 changes (dry run, nothing applied)\n", tmpdir);
	CHECK_STR(last.out, exp);
	free(exp);
	CHECK_STR(fake_log, "");
	free(path);
}

static const char POL_B[] =
	"version: 1\n"
	"volumes:\n"
	"  - name: vm1\n"
	"    image: @TMP@/disk-8m.img\n"
	"    filters:\n"
	"      - name: stats\n"
	"        type: count\n"
	"        params: {mode: bytes}\n"
	"    rules:\n"
	"      - name: boot\n"
	"        range: {start: 0, length: 1MiB}\n"
	"        ops: [write]\n"
	"        action: deny\n"
	"      - range: {start: 1MiB, end: 8MiB}\n"
	"        chain: [stats]\n";

static void t_apply_replace_instance(void)
{
	char *a = policy_file("ke-a.yaml", POL_A), *b = policy_file("ke-b.yaml", POL_B);

	kernel_setup();
	cli("apply", a, NULL);
	CHECK_INT(last.code, 0);
	fake_log[0] = '\0';
	cli("apply", "--dry-run", b, NULL);
	CHECK_INT(last.code, 0);
	CHECK_STR(last.out, "  ~ instance stats: count mode=sectors -> count mode=bytes\n"
			    "  ~ table: reload to use the replaced filter instances\n"
			    "vm1: 2 changes (dry run, nothing applied)\n");
	CHECK_STR(fake_log, "");
	cli("-v", "apply", b, NULL);
	CHECK_INT(last.code, 0);
	/* No unfiltered moment: the new instance is live before the old goes. */
	CHECK_STR(fake_log, "create vm1 stats.new count\n"
			    "load vm1 rules=2 gen=2\n"
			    "remove vm1 stats\n"
			    "rename vm1 stats.new stats\n"
			    /* new instances' I/O limits: same table, reloaded */
			    "dm-reload vm1 16384\n"
			    "dm-resume vm1\n");
	CHECK_STR(last.out, "  ~ instance stats: count mode=sectors -> count mode=bytes\n"
			    "  ~ table: reload to use the replaced filter instances\n"
			    "vm1: 2 changes applied, generation 2\n");
	fake_log[0] = '\0';
	cli("apply", b, NULL);
	CHECK_STR(last.out, "vm1: no changes\n");
	CHECK_STR(fake_log, "");
	free(a);
	free(b);
}

static const char POL_C[] =
	"version: 1\n"
	"volumes:\n"
	"  - name: vm1\n"
	"    image: @TMP@/disk-8m.img\n"
	"    filters:\n"
	"      - name: enc\n"
	"        type: crypt\n"
	"        params: {cipher: aes-xts-plain64, key_file: @TMP@/key-0600}\n"
	"    rules:\n"
	"      - range: {start: 1MiB, end: 8MiB}\n"
	"        chain: [enc]\n";

static void t_apply_crypt_force(void)
{
	char *a = policy_file("kf-a.yaml", POL_C), *b, *t;

	kernel_setup();
	cli("apply", a, NULL);
	CHECK_INT(last.code, 0);
	/* The key went to the kernel as the secret, never to the output. */
	CHECK_INT(fake_secret_len("vm1", "enc"), 32);
	CHECK_HASNT(last.out, "KEYKEY");
	CHECK_HASNT(last.err, "KEYKEY");
	t = subst(POL_C, "aes-xts-plain64", "aes-cbc-essiv:sha256");
	b = policy_file("kf-b.yaml", t);
	free(t);
	fake_log[0] = '\0';
	cli("apply", b, NULL);
	CHECK_INT(last.code, 1);
	CHECK_STR(last.err, "iofilterctl: vm1: filter enc: changing the key/cipher of a range holding "
			    "data makes it unreadable; use --force\n");
	CHECK_STR(last.out, "vm1: failed\n");
	CHECK_STR(fake_log, "");
	cli("apply", "--force", b, NULL);
	CHECK_INT(last.code, 0);
	CHECK_STR(fake_log, "create vm1 enc.new crypt\nload vm1 rules=1 gen=2\nremove vm1 enc\n"
			    "rename vm1 enc.new enc\ndm-reload vm1 16384\ndm-resume vm1\n");
	CHECK_INT(fake_secret_len("vm1", "enc"), 32);
	free(a);
	free(b);
}

/*
 * Data-destroying changes of crypt ranges need --force and warn with it:
 * moving a crypt rule's range, routing it without crypt, and putting crypt
 * on a range an existing table routed in clear.
 */
static void t_apply_crypt_range_force(void)
{
	static const struct {
		const char *from, *to, *err;
	} cases[] = {
		{ "range: {start: 1MiB, end: 8MiB}", "range: {start: 2MiB, end: 8MiB}",
		  "vm1: crypt filter enc: range 1MiB..8MiB changes; data encrypted there would be unreadable; use --force" },
		{ "        chain: [enc]\n", "        action: pass\n",
		  "vm1: range 1MiB..8MiB would no longer go through crypt filter enc; its data stays encrypted and would be read as ciphertext; use --force" },
	};
	char *a = policy_file("kr-a.yaml", POL_C), *b, *t, *want;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		kernel_setup();
		cli("apply", a, NULL);
		CHECK_INT(last.code, 0);
		t = subst(POL_C, cases[i].from, cases[i].to);
		b = policy_file("kr-b.yaml", t);
		free(t);
		fake_log[0] = '\0';
		cli("apply", "--dry-run", b, NULL);
		CHECK_INT(last.code, 1);
		want = xasprintf("iofilterctl: %s\n", cases[i].err);
		CHECK_HAS(last.err, want);
		free(want);
		cli("apply", b, NULL);
		CHECK_INT(last.code, 1);
		CHECK_STR(fake_log, "");
		cli("apply", "--force", b, NULL);
		CHECK_INT(last.code, 0);
		CHECK_HAS(last.err, "iofilterctl: warning: vm1: ");
		CHECK_HAS(last.err, " (--force)\n");
		CHECK_HAS(fake_log, "load vm1");
		free(b);
	}

	/* Crypt onto a range that was routed in clear (through a count filter). */
	kernel_setup();
	t = subst(POL_C, "        chain: [enc]\n", "        chain: [stats]\n");
	b = subst(t, "      - name: enc\n", "      - {name: stats, type: count}\n      - name: enc\n");
	free(t);
	t = policy_file("kr-c.yaml", b);
	free(b);
	cli("apply", t, NULL);
	CHECK_INT(last.code, 0);
	free(t);
	fake_log[0] = '\0';
	cli("apply", a, NULL);
	CHECK_INT(last.code, 1);
	CHECK_STR(last.err, "iofilterctl: vm1: crypt filter enc: range 1MiB..8MiB was not encrypted by it; "
			    "its data would be read through the cipher as garbage; use --force\n");
	CHECK_STR(fake_log, "");
	cli("apply", "--force", a, NULL);
	CHECK_INT(last.code, 0);
	CHECK_HAS(last.err, "warning: vm1: crypt filter enc: range 1MiB..8MiB was not encrypted by it");
	/* The same policy again: nothing to force. */
	cli("apply", a, NULL);
	CHECK_INT(last.code, 0);
	CHECK_STR(last.err, "");
	free(a);
}

#define CHECK_NO_SECRET(hex) do { CHECK_HASNT(last.out, "KEYKEY"); CHECK_HASNT(last.err, "KEYKEY"); \
	CHECK_HASNT(last.out, "KKKKKKKK"); CHECK_HASNT(last.err, "KKKKKKKK"); \
	CHECK_HASNT(last.out, hex); CHECK_HASNT(last.err, hex); } while (0)

/*
 * A secret never shows: not the key file's contents in a dry run (text,
 * JSON, verbose; a new instance and a forced replacement), and not key
 * material written into the policy by mistake (refused, not echoed).
 */
static void t_secret_not_shown(void)
{
	static const char hex[] = "4b45594b45594b4b4b4b4b4b4b4b4b4b";
	char *a = policy_file("ks-a.yaml", POL_C), *b, *t;

	kernel_setup();
	cli("apply", "--dry-run", a, NULL);
	CHECK_INT(last.code, 0);
	CHECK_HAS(last.out, "+ instance enc: crypt cipher=aes-xts-plain64 key_file=");
	CHECK_NO_SECRET(hex);
	cli("-o", "json", "-v", "apply", "--dry-run", a, NULL);
	CHECK_INT(last.code, 0);
	CHECK_NO_SECRET(hex);
	cli("apply", a, NULL);
	CHECK_INT(last.code, 0);
	t = subst(POL_C, "aes-xts-plain64", "aes-cbc-essiv:sha256");
	b = policy_file("ks-b.yaml", t);
	free(t);
	cli("-v", "apply", "--dry-run", "--force", b, NULL);
	CHECK_INT(last.code, 0);
	CHECK_HAS(last.out, "~ instance enc:");
	CHECK_NO_SECRET(hex);
	cli("-o", "json", "apply", "--dry-run", "--force", b, NULL);
	CHECK_NO_SECRET(hex);
	free(b);

	t = subst(POL_C, "key_file: @TMP@/key-0600", "key: 4b45594b45594b4b4b4b4b4b4b4b4b4b");
	b = policy_file("ks-c.yaml", t);
	free(t);
	cli("apply", "--dry-run", "--force", b, NULL);
	CHECK_INT(last.code, 1);
	CHECK_HAS(last.err, "key of crypt filter \"enc\" must be logon:<description> or user:<description>");
	CHECK_NO_SECRET(hex);
	cli("-o", "json", "apply", "--dry-run", b, NULL);
	CHECK_INT(last.code, 1);
	CHECK_NO_SECRET(hex);
	free(a);
	free(b);

	/* What the kernel reads back (status) is shown the same way. */
	{
		static const char blk[] = "key=4b45594b45594b4b4b4b4b4b4b4b4b4b\0cipher=x\0key=logon:vm1\0";
		char *txt = params_text(blk, sizeof(blk) - 1);

		CHECK_STR(txt, "key=(hidden) cipher=x key=logon:vm1");
		free(txt);
	}
}

/*
 * A type the policy uses but the kernel has not registered: apply loads its
 * module first (as request_module would); if that fails, it is an error of
 * the policy at the type, before anything changes.
 */
static void t_apply_filter_module(void)
{
	char *a = policy_file("km.yaml", POL_C), *exp;

	fake_reset();
	fake_add_type("count", IOF_CLASS_INSPECT, IOF_TYPE_NOWAIT);
	make_image("disk-8m.img", 8 << 20);
	cli("apply", a, NULL);
	CHECK_INT(last.code, 1);
	exp = xasprintf("%s:7:15: filter type \"crypt\" is not registered in the kernel and "
			"modprobe cannot load iofilter-crypt\n"
			"  hint: load the module (modprobe iofilter-crypt, or insmod iofilter-crypt.ko) "
			"and apply again\n"
			"%s: 1 error; nothing applied\n", a, a);
	CHECK_STR(last.err, exp);
	free(exp);
	CHECK_STR(fake_log, "modprobe iofilter-crypt\n");
	fake_log[0] = '\0';
	cli("apply", "--dry-run", a, NULL);
	CHECK_INT(last.code, 1);
	CHECK_STR(fake_log, "modprobe -n iofilter-crypt\n");

	/* Loadable: a dry run only asks; apply loads it, then goes on. */
	fake_add_loadable("crypt", IOF_CLASS_CRYPT, IOF_TYPE_RANGE_EXCLUSIVE);
	fake_log[0] = '\0';
	cli("apply", "--dry-run", a, NULL);
	CHECK_INT(last.code, 0);
	CHECK_STR(fake_log, "modprobe -n iofilter-crypt\n");
	fake_log[0] = '\0';
	cli("apply", a, NULL);
	CHECK_INT(last.code, 0);
	CHECK_STR(last.err, "");
	exp = xasprintf("modprobe iofilter-crypt\n"
			"loop-attach %s/disk-8m.img /dev/loop0\n"
			"dm-create vm1 16384 7:0 vm1\n"
			"create vm1 enc crypt\n"
			"load vm1 rules=1 gen=1\n"
			"dm-resume vm1\n", tmpdir);
	CHECK_STR(fake_log, exp);
	free(exp);
	/* Registered now: no modprobe the second time. */
	fake_log[0] = '\0';
	cli("apply", a, NULL);
	CHECK_INT(last.code, 0);
	CHECK_STR(last.out, "vm1: no changes\n");
	CHECK_STR(fake_log, "");
	free(a);
}

/*
 * The module enforces exclusivity by the RANGE_EXCLUSIVE flag: a class
 * crypt type without it (the count module's test type "count-crypt") may be
 * bound with conditions; changing its parameters still needs --force.
 */
static void t_apply_crypt_class_without_flag(void)
{
	char *a, *b, *t;
	static const char pol[] =
		"version: 1\n"
		"volumes:\n"
		"  - name: vm1\n"
		"    image: @TMP@/disk-8m.img\n"
		"    filters: [{name: cc, type: count-crypt, params: {defer: 0}}]\n"
		"    rules:\n"
		"      - {range: {start: 0, length: 1MiB}, ops: [write], action: deny}\n"
		"      - {range: {start: 0, length: 2MiB}, ops: [read], chain: [cc], allow_overlap: true}\n";

	kernel_setup();
	fake_add_type("count-crypt", IOF_CLASS_CRYPT, IOF_TYPE_NOWAIT);
	a = policy_file("kx-a.yaml", pol);
	cli("apply", a, NULL);
	CHECK_INT(last.code, 0);
	t = subst(pol, "defer: 0", "defer: 1");
	b = policy_file("kx-b.yaml", t);
	free(t);
	cli("apply", b, NULL);
	CHECK_INT(last.code, 1);
	CHECK_HAS(last.err, "use --force");
	cli("apply", "--force", b, NULL);
	CHECK_INT(last.code, 0);
	/* validate alone knows no count-crypt. */
	cli("validate", a, NULL);
	CHECK_INT(last.code, 1);
	CHECK_HAS(last.err, "unknown filter type \"count-crypt\"");
	free(a);
	free(b);
}

static void t_apply_table_and_removal(void)
{
	char *a = policy_file("kg-a.yaml", POL_A), *b, *t;

	kernel_setup();
	cli("apply", a, NULL);
	CHECK_INT(last.code, 0);
	/* Drop the chain rule and the filter; add a rule. */
	t = xstrdup("version: 1\n"
		    "volumes:\n"
		    "  - name: vm1\n"
		    "    image: @TMP@/disk-8m.img\n"
		    "    rules:\n"
		    "      - name: boot\n"
		    "        range: {start: 0, length: 1MiB}\n"
		    "        ops: [write]\n"
		    "        action: deny\n"
		    "      - range: {start: 4MiB}\n"
		    "        ops: [discard]\n"
		    "        action: deny\n"
		    "    default: deny\n");
	b = policy_file("kg-b.yaml", t);
	free(t);
	fake_log[0] = '\0';
	cli("apply", "--dry-run", b, NULL);
	CHECK_STR(last.out, "  - instance stats: count\n"
			    "  - rule #2: 1MiB+7MiB -> chain(stats)\n"
			    "  + rule #2: 4MiB+4MiB ops=discard -> deny\n"
			    "  ~ default: pass -> deny\n"
			    "vm1: 4 changes (dry run, nothing applied)\n");
	cli("apply", b, NULL);
	CHECK_INT(last.code, 0);
	CHECK_STR(fake_log, "load vm1 rules=2 gen=2\nremove vm1 stats\n");
	CHECK_INT(fake_ninstances("vm1"), 0);
	free(a);
	free(b);
}

static void t_apply_stale_generation(void)
{
	char *a = policy_file("kh-a.yaml", POL_A), *b = policy_file("kh-b.yaml", POL_B);

	kernel_setup();
	cli("apply", a, NULL);
	/* Another tool loads a table between our read and our load. */
	fake.race_before_load = true;
	fake_log[0] = '\0';
	cli("apply", b, NULL);
	CHECK_INT(last.code, 5);
	CHECK_STR(last.err, "iofilterctl: vm1: the rule table changed while applying (was generation 1); "
			    "run apply again\n");
	/* The instance made for the new table is gone again. */
	CHECK_STR(fake_log, "create vm1 stats.new count\nremove vm1 stats.new\n");
	CHECK_INT(fake_ninstances("vm1"), 1);
	free(a);
	free(b);
}

static void t_apply_kernel_refuses(void)
{
	char *t = subst(POL_A, "mode: sectors", "bad: yes"), *a = policy_file("ki.yaml", t), *exp;

	free(t);
	kernel_setup();
	cli("apply", a, NULL);
	CHECK_INT(last.code, 6);
	CHECK_STR(last.err, "iofilterctl: vm1: create filter stats (type count): Invalid argument "
			    "(count: unknown parameter \"bad=yes\"; see dmesg)\n");
	/* A new volume is undone completely. */
	exp = xasprintf("loop-attach %s/disk-8m.img /dev/loop0\n"
			"dm-create vm1 16384 7:0 vm1\n"
			"dm-remove vm1\n", tmpdir);
	CHECK_STR(fake_log, exp);
	free(exp);
	cli("-o", "json", "apply", a, NULL);
	CHECK_INT(last.code, 6);
	exp = xasprintf("{\n"
			"  \"file\": \"%s\",\n"
			"  \"dry_run\": false,\n"
			"  \"volumes\": [\n"
			"    {\n"
			"      \"name\": \"vm1\",\n"
			"      \"result\": \"failed\",\n"
			"      \"partial\": false,\n"
			"      \"device\": \"/dev/mapper/vm1\",\n"
			"      \"origin\": \"/dev/loop0\",\n"
			"      \"size\": 8388608,\n"
			"      \"generation\": 0,\n"
			"      \"filters\": 1,\n"
			"      \"rules\": 2,\n"
			"      \"changes\": [\n"
			"        {\n"
			"          \"op\": \"+\",\n"
			"          \"what\": \"loop\",\n"
			"          \"name\": null,\n"
			"          \"detail\": \"attach %s/disk-8m.img to a loop device\"\n"
			"        },\n"
			"        {\n"
			"          \"op\": \"+\",\n"
			"          \"what\": \"volume\",\n"
			"          \"name\": \"vm1\",\n"
			"          \"detail\": \"/dev/mapper/vm1 over a new loop device (8MiB)\"\n"
			"        },\n"
			"        {\n"
			"          \"op\": \"+\",\n"
			"          \"what\": \"instance\",\n"
			"          \"name\": \"stats\",\n"
			"          \"detail\": \"count bad=yes\"\n"
			"        },\n"
			"        {\n"
			"          \"op\": \"+\",\n"
			"          \"what\": \"rule\",\n"
			"          \"name\": \"#1\",\n"
			"          \"detail\": \"boot: 0+1MiB ops=write -> deny\"\n"
			"        },\n"
			"        {\n"
			"          \"op\": \"+\",\n"
			"          \"what\": \"rule\",\n"
			"          \"name\": \"#2\",\n"
			"          \"detail\": \"1MiB+7MiB -> chain(stats)\"\n"
			"        }\n"
			"      ]\n"
			"    }\n"
			"  ],\n"
			"  \"errors\": [\n"
			"    {\n"
			"      \"volume\": \"vm1\",\n"
			"      \"message\": \"create filter stats (type count): Invalid argument (count: unknown parameter \\\"bad=yes\\\"; see dmesg)\",\n"
			"      \"errno\": 22,\n"
			"      \"error\": \"Invalid argument\"\n"
			"    }\n"
			"  ],\n"
			"  \"warnings\": []\n"
			"}\n", a, tmpdir);
	CHECK_STR(last.out, exp);
	free(exp);
	free(a);
}

static void t_apply_partial(void)
{
	char *a = policy_file("kj-a.yaml", POL_A), *b = policy_file("kj-b.yaml", POL_B);

	kernel_setup();
	cli("apply", a, NULL);
	fake.fail_cmd = 11;	/* RENAME, after the table load */
	fake.fail_errno = EIO;
	cli("apply", b, NULL);
	CHECK_INT(last.code, 7);
	CHECK_STR(last.err, "iofilterctl: vm1: rename filter stats.new to stats: Input/output error (see dmesg)\n");
	CHECK_STR(last.out, "vm1: failed (partially applied)\n");
	/* The next apply finishes the job. */
	fake_log[0] = '\0';
	cli("apply", b, NULL);
	CHECK_INT(last.code, 0);
	CHECK_STR(fake_log, "rename vm1 stats.new stats\n");
	fake_log[0] = '\0';
	cli("apply", b, NULL);
	CHECK_STR(last.out, "vm1: no changes\n");
	free(a);
	free(b);
}

/* A module from before REMOVE and RENAME were _IOWR: the tool retries */
static void t_apply_old_numbers(void)
{
	char *a = policy_file("ko-a.yaml", POL_A), *b = policy_file("ko-b.yaml", POL_B);

	kernel_setup();
	fake.old_numbers = true;
	cli("apply", a, NULL);
	fake_log[0] = '\0';
	cli("apply", b, NULL);
	CHECK_INT(last.code, 0);
	CHECK_HAS(fake_log, "rename vm1 stats.new stats\n");
	free(a);
	free(b);
}

static void t_apply_interrupted_recovery(void)
{
	char *a = policy_file("kk-a.yaml", POL_A);

	kernel_setup();
	cli("apply", a, NULL);
	fake_interrupt_replacement("vm1", "stats");
	fake_log[0] = '\0';
	cli("apply", "--dry-run", a, NULL);
	CHECK_STR(last.out, "  ~ instance stats: finish an interrupted replacement: stats.new -> stats\n"
			    "vm1: 1 change (dry run, nothing applied)\n");
	cli("apply", a, NULL);
	CHECK_INT(last.code, 0);
	CHECK_STR(fake_log, "remove vm1 stats\nrename vm1 stats.new stats\n");
	free(a);
}

static void t_apply_existing_mismatch(void)
{
	char *a = policy_file("kl-a.yaml", POL_A), *t, *b;

	kernel_setup();
	fake_add_foreign_dm("vm1");
	cli("apply", a, NULL);
	CHECK_INT(last.code, 5);
	CHECK_STR(last.err, "iofilterctl: vm1: /dev/mapper/vm1 exists and is not an iofilter volume (target linear)\n");

	kernel_setup();
	cli("apply", a, NULL);
	t = subst(POL_A, "disk-8m.img", "disk2.img");
	b = subst(t, "end: 8MiB", "end: 4MiB");
	free(t);
	t = b;
	b = policy_file("kl-b.yaml", t);
	free(t);
	/* Same volume name, another image. */
	cli("apply", b, NULL);
	CHECK_INT(last.code, 5);
	t = xasprintf("iofilterctl: vm1: /dev/mapper/vm1 exists over /dev/loop0, which is not a loop "
		      "device of %s/disk2.img\n", tmpdir);
	CHECK_STR(last.err, t);
	free(t);
	free(a);
	free(b);
}

static void t_apply_resize(void)
{
	char *a = policy_file("km.yaml", POL_A);

	kernel_setup();
	cli("apply", a, NULL);
	make_image("disk-8m.img", 16 << 20);
	fake_log[0] = '\0';
	cli("apply", "--dry-run", a, NULL);
	CHECK_HAS(last.out, "  ~ size: /dev/loop0: 8MiB -> 16MiB");
	CHECK_HAS(last.out, "  ~ size: /dev/mapper/vm1: 8MiB -> 16MiB\n");
	cli("apply", a, NULL);
	CHECK_INT(last.code, 0);
	CHECK_STR(fake_log, "loop-capacity /dev/loop0\ndm-reload vm1 32768\ndm-resume vm1\n");
	make_image("disk-8m.img", 8 << 20);
	free(a);
}

static void t_apply_validation_first(void)
{
	char *t = subst(POL_A, "end: 8MiB", "end: 9MiB"), *a = policy_file("kn.yaml", t), *exp;

	free(t);
	kernel_setup();
	cli("apply", a, NULL);
	CHECK_INT(last.code, 1);
	exp = xasprintf("%s:14:16: range ends at 9MiB, beyond the end of \"%s/disk-8m.img\" (8MiB)\n"
			"%s: 1 error; nothing applied\n", a, tmpdir, a);
	CHECK_STR(last.err, exp);
	free(exp);
	CHECK_STR(fake_log, "");
	/* With the module missing, policy errors still come first (exit 1). */
	fake.loaded = false;
	cli("apply", a, NULL);
	CHECK_INT(last.code, 1);
	free(a);
	/* A file that does not parse: exit 1 whatever the kernel (no privilege, no module). */
	a = policy_file("kn2.yaml", "version: 1\nvolumes: [ {name: x\n");
	fake.loaded = true;
	fake.denied = true;
	cli("apply", a, NULL);
	CHECK_INT(last.code, 1);
	CHECK_HAS(last.err, "nothing applied\n");
	fake.denied = false;
	cli("apply", a, NULL);
	CHECK_INT(last.code, 1);
	CHECK_HAS(last.err, ": YAML syntax error: ");
	CHECK_STR(fake_log, "");
	free(a);
}

static void t_apply_two_volumes_partial(void)
{
	char *t = xasprintf("%s"
			    "  - name: vm2\n"
			    "    image: @TMP@/disk2.img\n"
			    "    filters: [{name: s, type: count, params: {bad: x}}]\n"
			    "    default: {chain: [s]}\n", POL_A);
	char *a = policy_file("ko.yaml", t);

	free(t);
	kernel_setup();
	cli("apply", a, NULL);
	CHECK_INT(last.code, 7);
	CHECK_HAS(last.out, "vm1: created /dev/mapper/vm1");
	CHECK_HAS(last.out, "vm2: failed\n");
	free(a);
}

static void t_apply_many_instances(void)
{
	struct sbuf b;
	char *a;
	int i;

	/* More instances than the first list buffer holds (16). */
	sb_init(&b);
	sb_add(&b, "version: 1\nvolumes:\n  - name: vm1\n    image: @TMP@/disk-8m.img\n    filters:\n");
	for (i = 0; i < 40; i++)
		sb_printf(&b, "      - {name: f%d, type: count}\n", i);
	sb_add(&b, "    default: {chain: [f0]}\n");
	a = policy_file("kp.yaml", b.s);
	sb_free(&b);
	kernel_setup();
	cli("-q", "apply", a, NULL);
	CHECK_INT(last.code, 0);
	CHECK_INT(fake_ninstances("vm1"), 40);
	fake_log[0] = '\0';
	cli("apply", a, NULL);
	CHECK_STR(last.out, "vm1: no changes\n");
	CHECK_STR(fake_log, "");
	free(a);
}

/* ---- status, stats, filters ---- */

static void t_status(void)
{
	char *a = policy_file("kq.yaml", POL_A), *exp;

	kernel_setup();
	cli("apply", a, NULL);
	cli("status", NULL);
	CHECK_INT(last.code, 0);
	exp = xasprintf("vm1: /dev/mapper/vm1 (253:0)\n"
			"  origin:     /dev/loop0 (7:0), file %s/disk-8m.img\n"
			"  size:       8.0MiB (8388608 bytes)\n"
			"  generation: 1\n"
			"  rules:      2\n"
			"  flags:      -\n"
			"  instance stats: type count, class inspect, id 1, used by 1 rule\n"
			"    params: mode=sectors\n"
			"    status: state=ok reads=0 mode=a\"b\n", tmpdir);
	CHECK_STR(last.out, exp);
	free(exp);
	fake_set_dirty("vm1", "stats");
	cli("-o", "json", "status", "vm1", NULL);
	CHECK_INT(last.code, 0);
	exp = xasprintf("{\n"
			"  \"volumes\": [\n"
			"    {\n"
			"      \"name\": \"vm1\",\n"
			"      \"device\": \"/dev/mapper/vm1\",\n"
			"      \"dev\": \"253:0\",\n"
			"      \"origin\": {\n"
			"        \"dev\": \"7:0\",\n"
			"        \"path\": \"/dev/loop0\",\n"
			"        \"backing_file\": \"%s/disk-8m.img\",\n"
			"        \"backing_format\": \"raw\"\n"
			"      },\n"
			"      \"size\": 8388608,\n"
			"      \"generation\": 1,\n"
			"      \"rules\": 2,\n"
			"      \"flags\": [],\n"
			"      \"instances\": [\n"
			"        {\n"
			"          \"name\": \"stats\",\n"
			"          \"type\": \"count\",\n"
			"          \"id\": 1,\n"
			"          \"class\": \"inspect\",\n"
			"          \"users\": 1,\n"
			"          \"flags\": [\n"
			"            \"dirty\"\n"
			"          ],\n"
			"          \"params\": {\n"
			"            \"mode\": \"sectors\"\n"
			"          },\n"
			"          \"status\": {\n"
			"            \"state\": \"ok\",\n"
			"            \"reads\": 0,\n"
			"            \"mode\": \"a\\\"b\"\n"
			"          }\n"
			"        }\n"
			"      ]\n"
			"    }\n"
			"  ],\n"
			"  \"errors\": [],\n"
			"  \"warnings\": []\n"
			"}\n", tmpdir);
	CHECK_STR(last.out, exp);
	free(exp);
	cli("status", "nope", NULL);
	CHECK_INT(last.code, 4);
	CHECK_STR(last.err, "iofilterctl: no such volume: nope\n");
	free(a);

	/* A status longer than the ABI's buffer: said so, no half pair shown. */
	{
		struct sbuf b;
		char *big;
		int i;

		sb_init(&b);
		for (i = 0; b.len < IOF_MAX_TEXT_LEN + 100; i++)
			sb_printf(&b, "%scounter%d=%d", i ? " " : "", i, 1000000 + i);
		big = sb_steal(&b);
		fake.big_status = big;
		cli("status", "vm1", NULL);
		CHECK_INT(last.code, 0);
		CHECK_STR(last.err, "iofilterctl: warning: vm1: filter stats: status text longer than "
				    "65535 bytes; the rest is cut\n");
		CHECK_HAS(last.out, "    status: counter0=1000000 counter1=1000001 ");
		/* ends with a whole pair */
		CHECK(strstr(last.out, "=1000") && !strcmp(strrchr(last.out, '=') + 8, "\n"));
		cli("-o", "json", "status", "vm1", NULL);
		CHECK_INT(last.code, 0);
		CHECK_HAS(last.out, "\"warnings\": [\n    {\n      \"volume\": \"vm1\",\n"
				    "      \"message\": \"filter stats: status text longer than 65535 bytes; "
				    "the rest is cut\"\n");
		fake.big_status = NULL;
		free(big);
	}
}

static void t_stats(void)
{
	char *a = policy_file("kr.yaml", POL_A);

	kernel_setup();
	cli("apply", a, NULL);
	fake_set_counters("vm1", 1);
	cli("--noheadings", "stats", NULL);
	CHECK_INT(last.code, 0);
	CHECK_STR(last.out,
		  "vm1: generation 1, passed 11, denied 12, filtered 13, errors 14, splits 15\n"
		  "  total                                         1              6          2              7          3              8          4              9          5\n"
		  "  #1 boot                                      11          45056         12          49152         13          53248         14          57344         15\n"
		  "  #2                                           21          86016         22          90112         23          94208         24          98304         25\n"
		  "  default                                     101          51712        102          52224        103          52736        104          53248        105\n");
	cli("-o", "json", "stats", "vm1", "--reset", NULL);
	CHECK_INT(last.code, 0);
	CHECK_HAS(fake_log, "reset vm1\n");
	CHECK_HAS(last.out, "{\n  \"reset\": true,\n  \"volumes\": [\n    {\n      \"name\": \"vm1\",\n"
			    "      \"generation\": 1,\n      \"total\": {\n        \"read\": {\n"
			    "          \"ios\": 1,\n          \"bytes\": 6\n        },\n");
	CHECK_HAS(last.out, "      \"passed\": 11,\n      \"denied\": 12,\n      \"filtered\": 13,\n"
			    "      \"errors\": 14,\n      \"splits\": 15,\n      \"rules\": [\n        {\n"
			    "          \"index\": 1,\n          \"name\": \"boot\",\n          \"counters\": {\n"
			    "            \"read\": {\n              \"ios\": 11,\n              \"bytes\": 45056\n");
	CHECK_HAS(last.out, "          \"index\": 2,\n          \"name\": null,\n");
	CHECK_HAS(last.out, "      \"default\": {\n        \"read\": {\n          \"ios\": 101,\n");
	cli("-o", "json", "stats", NULL);
	CHECK_HAS(last.out, "          \"ios\": 0,\n");
	CHECK_HASNT(last.out, "\"ios\": 1,");
	fake.status_ticks = true;
	cli("-o", "json", "stats", "--watch", "0.1", "--count", "2", NULL);
	CHECK_INT(last.code, 0);
	{
		/* JSON Lines: one object per line, one line per report */
		const char *nl = strchr(last.out, '\n');

		CHECK(last.out[0] == '{' && nl && nl[-1] == '}');
		CHECK(nl[1] == '{');
		nl = strchr(nl + 1, '\n');
		CHECK(nl && nl[-1] == '}' && !nl[1]);
	}
	CHECK_HAS(last.out, "\"total\": {\"read\": {\"ios_per_sec\": 0.0, \"bytes_per_sec\": 0.0}, ");
	CHECK_HAS(last.out, "\"table_changed\": false, ");
	/* per filter: the numeric status fields that changed, as deltas */
	CHECK_HAS(last.out, "\"filters\": [{\"name\": \"stats\", \"type\": \"count\", \"deltas\": {\"reads\": 10}}]");
	cli("stats", "--watch", "0.1", "--count", "1", NULL);
	CHECK_INT(last.code, 0);
	CHECK_HAS(last.out, "vm1: per second over ");
	CHECK_HAS(last.out, "\n  filter stats (count): reads +10\n");
	fake.status_ticks = false;

	/* Ctrl-C ends --watch with status 0. */
	free(a);
	{
		int st = -1;
		pid_t pid = fork();

		if (!pid) {
			cli("stats", "--watch", "0.1", NULL);
			_exit(last.code);
		}
		CHECK(pid > 0);
		usleep(getenv("UNIT_SLOW") ? 3000 * 1000 : 400 * 1000);
		kill(pid, SIGINT);
		CHECK(waitpid(pid, &st, 0) == pid);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
}

static void t_filters(void)
{
	kernel_setup();
	cli("filters", NULL);
	CHECK_INT(last.code, 0);
	CHECK_STR(last.out, "NAME                 VERSION    CLASS      INSTANCES  FLAGS\n"
			    "count                1.0.0      inspect            0  nowait\n"
			    "crypt                1.0.0      crypt              0  range_exclusive\n"
			    "replicate            1.0.0      replicate          0  holds_dirty\n"
			    "cache                1.0.0      cache              0  holds_dirty\n");
	cli("-o", "json", "filters", NULL);
	CHECK_HAS(last.out, "{\n  \"filters\": [\n    {\n      \"name\": \"count\",\n      \"version\": \"1.0.0\",\n"
			    "      \"class\": \"inspect\",\n      \"flags\": [\n        \"nowait\"\n      ],\n"
			    "      \"instances\": 0\n    },\n");
}

/* ---- detach, message, flush, resync ---- */

static const char POL_D[] =
	"version: 1\n"
	"volumes:\n"
	"  - name: vm1\n"
	"    image: @TMP@/disk-8m.img\n"
	"    filters:\n"
	"      - {name: stats, type: count}\n"
	"      - {name: rep, type: replicate, params: {replica: /dev/iof-test-replica, metadata: /dev/iof-test-meta}}\n"
	"      - {name: ssd, type: cache, params: {cache_dev: /dev/iof-test-ssd}}\n"
	"    rules:\n"
	"      - range: {start: 1MiB, end: 8MiB}\n"
	"        chain: [ssd, rep, stats]\n";

static void t_detach(void)
{
	char *a = policy_file("ks.yaml", POL_D);

	kernel_setup();
	cli("apply", a, NULL);
	CHECK_INT(last.code, 0);
	cli("detach", "vm1", NULL);	/* stdin is no terminal under make */
	if (!isatty(0)) {
		CHECK_INT(last.code, 1);
		CHECK_STR(last.err, "iofilterctl: vm1: not detaching without --yes (stdin is not a terminal)\n");
	}
	fake_set_open("vm1", 1);
	cli("detach", "--yes", "vm1", NULL);
	CHECK_INT(last.code, 5);
	CHECK_STR(last.err, "iofilterctl: vm1: /dev/mapper/vm1 is in use (open 1 time)\n");
	fake_set_open("vm1", 0);
	fake_set_dirty("vm1", "ssd");
	fake.instances_stay_dirty = true;
	detach_wait_ms = 200;
	cli("detach", "--yes", "vm1", NULL);
	CHECK_INT(last.code, 5);
	CHECK_STR(last.err, "iofilterctl: vm1: filter ssd still holds data not on the origin after \"flush\"; "
			    "not detaching\n");
	fake.instances_stay_dirty = false;
	fake_log[0] = '\0';
	cli("detach", "-y", "vm1", NULL);
	CHECK_INT(last.code, 0);
	CHECK_STR(last.out, "vm1: detached (/dev/mapper/vm1 removed, filters flushed first)\n");
	CHECK_STR(fake_log, "message vm1 rep flush\nmessage vm1 ssd flush\ndm-remove vm1\n");
	cli("detach", "-y", "vm1", NULL);
	CHECK_INT(last.code, 4);
	CHECK_STR(last.err, "iofilterctl: vm1: no such volume (no /dev/mapper/vm1)\n");
	/* The image can be applied again: the loop device went with it. */
	cli("-q", "apply", a, NULL);
	CHECK_INT(last.code, 0);
	cli("-o", "json", "detach", "--yes", "vm1", NULL);
	CHECK_STR(last.out, "{\n  \"volume\": \"vm1\",\n  \"flushed\": [\n    \"rep\",\n    \"ssd\"\n  ],\n"
			    "  \"removed\": true,\n  \"disconnected\": null,\n  \"errors\": [],\n"
			    "  \"warnings\": []\n}\n");
	free(a);
}

static void t_messages(void)
{
	char *a = policy_file("kt.yaml", POL_D);

	kernel_setup();
	cli("apply", a, NULL);
	fake_log[0] = '\0';
	cli("message", "vm1", "stats", "echo", "hello", "world", NULL);
	CHECK_INT(last.code, 0);
	CHECK_STR(last.out, "hello world\n");
	cli("message", "vm1", "stats", "frobnicate", NULL);
	CHECK_INT(last.code, 6);
	CHECK_STR(last.err, "iofilterctl: vm1: message to stats: Invalid argument (unknown message; see dmesg)\n");
	cli("message", "vm1", "nope", "flush", NULL);
	CHECK_INT(last.code, 4);
	CHECK_STR(last.err, "iofilterctl: vm1: no such filter instance: nope\n");
	cli("message", "vm9", "stats", "flush", NULL);
	CHECK_INT(last.code, 4);
	CHECK_STR(last.err, "iofilterctl: no such volume: vm9\n");
	cli("message", "vm1", "stats", "--", "-x", NULL);
	CHECK_INT(last.code, 6);
	CHECK_HAS(fake_log, "message vm1 stats -x\n");
	cli("-o", "json", "message", "vm1", "stats", "echo", "a\"b", NULL);
	CHECK_STR(last.out, "{\n  \"volume\": \"vm1\",\n  \"message\": \"echo a\\\"b\",\n"
			    "  \"instance\": \"stats\",\n  \"result\": \"a\\\"b\",\n  \"errors\": [],\n"
			    "  \"warnings\": []\n}\n");
	fake_log[0] = '\0';
	cli("flush", "vm1", NULL);
	CHECK_INT(last.code, 0);
	CHECK_STR(last.out, "vm1: flush rep: done: flushed=3\nvm1: flush ssd: done: flushed=3\n");
	CHECK_STR(fake_log, "message vm1 rep flush\nmessage vm1 ssd flush\n");
	fake_log[0] = '\0';
	cli("-o", "json", "resync", "vm1", NULL);
	CHECK_INT(last.code, 0);
	CHECK_STR(fake_log, "message vm1 rep resync\n");
	CHECK_STR(last.out, "{\n  \"volume\": \"vm1\",\n  \"message\": \"resync\",\n  \"instances\": [\n"
			    "    {\n      \"name\": \"rep\",\n      \"type\": \"replicate\",\n"
			    "      \"result\": \"\",\n      \"error\": null\n    }\n  ],\n"
			    "  \"errors\": [],\n  \"warnings\": []\n}\n");
	cli("flush", "nope", NULL);
	CHECK_INT(last.code, 4);
	CHECK_STR(last.err, "iofilterctl: no such volume: nope\n");
	free(a);
}

static void t_version(void)
{
	kernel_setup();
	cli("-o", "json", "version", NULL);
	CHECK_INT(last.code, 0);
	CHECK_STR(last.out, "{\n  \"iofilterctl\": \"" IOFCTL_VERSION "\",\n  \"abi\": \"1.0.0\",\n"
			    "  \"kernel\": {\n    \"loaded\": true,\n    \"abi\": \"1.0.0\",\n"
			    "    \"filter_types\": 4,\n    \"volumes\": 0\n  },\n  \"errors\": [],\n"
			    "  \"warnings\": []\n}\n");
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

	run("parse_size", t_parse_size);
	run("fmt_size", t_fmt_size);
	run("names", t_names);
	run("rule_text", t_rule_text);
	run("json_writer", t_json_writer);
	run("json_kv", t_json_kv);
	run_fixtures("fixtures/good");
	run_fixtures("fixtures/bad");
	run("shipped_policies", t_shipped_policies);
	run("limits", t_limits);
	run("bounds", t_bounds);
	run("many_rules_fast", t_many_rules_fast);
	run("builtin_types_shared", t_builtin_types_shared);
	run("validate_text", t_validate_text);
	run("validate_ok_and_json", t_validate_ok_and_json);
	run("validate_strict", t_validate_strict);
	run("validate_format", t_validate_format);
	run("cli_errors", t_cli_errors);
	run("cli_full_names", t_cli_full_names);
	run("kernel_errors", t_kernel_errors);
	run("apply_create_and_idempotent", t_apply_create_and_idempotent);
	run("apply_register_at_resume", t_apply_register_at_resume);
	run("apply_dry_run_new", t_apply_dry_run_new);
	run("apply_replace_instance", t_apply_replace_instance);
	run("apply_crypt_force", t_apply_crypt_force);
	run("secret_not_shown", t_secret_not_shown);
	run("apply_crypt_range_force", t_apply_crypt_range_force);
	run("apply_crypt_class_without_flag", t_apply_crypt_class_without_flag);
	run("apply_filter_module", t_apply_filter_module);
	run("apply_table_and_removal", t_apply_table_and_removal);
	run("apply_stale_generation", t_apply_stale_generation);
	run("apply_kernel_refuses", t_apply_kernel_refuses);
	run("apply_partial", t_apply_partial);
	run("apply_old_numbers", t_apply_old_numbers);
	run("apply_interrupted_recovery", t_apply_interrupted_recovery);
	run("apply_existing_mismatch", t_apply_existing_mismatch);
	run("apply_resize", t_apply_resize);
	run("apply_validation_first", t_apply_validation_first);
	run("apply_two_volumes_partial", t_apply_two_volumes_partial);
	run("apply_many_instances", t_apply_many_instances);
	run("apply_all", t_apply_all);
	run("status", t_status);
	run("stats", t_stats);
	run("filters", t_filters);
	run("detach", t_detach);
	run("messages", t_messages);
	run("version", t_version);

	free(last.out);
	free(last.err);
	fake_reset();
	printf("%d passed, %d failed\n", npass, nfail);
	return nfail ? 1 : 0;
}
