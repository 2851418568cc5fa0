// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl unit tests: what needs no kernel.  The size parser, names,
 * rule text, the JSON writer, the policy fixtures (fixtures/good and
 * fixtures/bad), the shipped policies, input limits and timing bounds,
 * validate's exact output, the command line's errors.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../apply.h"
#include "../output.h"
#include "../policy.h"
#include "../util.h"
#include "fake.h"
#include "unit.h"
#include <shared/iofilter-builtin.h>

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

char **diag_lines(const char *file, size_t *n)
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

void free_lines(char **v, size_t n)
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
		{ "count", "iof-count.c", "IOF_COUNT_TYPE_FLAGS", "IOFILTER_PARAM_SPEC(iof_count_params",
		  IOF_COUNT_TYPE_FLAGS },
		{ "crypt", "iof-crypt.c", "IOF_CRYPT_TYPE_FLAGS", "IOFILTER_PARAM_SPEC(iof_crypt_params",
		  IOF_CRYPT_TYPE_FLAGS },
		{ "replicate", "iof-replicate.c", "IOF_REPLICATE_TYPE_FLAGS",
		  "IOFILTER_PARAM_SPEC(iof_replicate_params", IOF_REPLICATE_TYPE_FLAGS },
		{ "cache", "iof-cache-ctl.c", "IOF_CACHE_TYPE_FLAGS", "IOFILTER_PARAM_SPEC(iof_cache_params",
		  IOF_CACHE_TYPE_FLAGS },
		{ "bpf", "iof-bpf.c", "IOF_BPF_TYPE_FLAGS", "IOFILTER_PARAM_SPEC(iof_bpf_params",
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

void unit_policy_tests(void)
{
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
}
