// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl unit tests: apply against the fake kernel (fake_sys.c): create,
 * idempotence, dry runs, replacement, crypt's --force, secrets never shown,
 * filter modules, the kernel refusing, partial and interrupted applies,
 * resize, apply-all.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../output.h"
#include "../policy.h"
#include "../sha256.h"
#include "../util.h"
#include "fake.h"
#include "unit.h"

/* ---- the fake kernel ---- */

void kernel_setup(void)
{
	fake_reset();
	fake_add_type("count", IOF_CLASS_INSPECT, IOF_TYPE_NOWAIT);
	fake_add_type("crypt", IOF_CLASS_CRYPT, IOF_TYPE_RANGE_EXCLUSIVE);
	fake_add_type("replicate", IOF_CLASS_REPLICATE, IOF_TYPE_HOLDS_DIRTY);
	fake_add_type("cache", IOF_CLASS_CACHE, IOF_TYPE_HOLDS_DIRTY);
	make_image("disk-8m.img", 8 << 20);
	make_image("disk2.img", 4 << 20);
}

const char POL_A[] =
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

/* The digest behind apply's program identity: FIPS 180-4's examples */
static void t_sha256(void)
{
	char hex[SHA256_HEX_LEN + 1];

	sha256_hex("", 0, hex);
	CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sha256_hex("abc", 3, hex);
	CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex);
	CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static const char POL_BPF[] =
	"version: 1\n"
	"volumes:\n"
	"  - name: vm1\n"
	"    image: @TMP@/disk-8m.img\n"
	"    filters:\n"
	"      - name: prog\n"
	"        type: bpf\n"
	"        params: {program: @TMP@/prog.bpf.o}\n"
	"    default: {chain: [prog]}\n";

/*
 * A bpf filter's program is known by the digest of its object: the same
 * path with other bytes (a rebuild) replaces the instance and its program,
 * live, as a changed path does; the same bytes are no change.
 */
static void t_apply_bpf_rebuilt(void)
{
	char *obj = path_in_tmp("prog.bpf.o"), *a = policy_file("kb.yaml", POL_BPF), *t, *b;
	char h1[SHA256_HEX_LEN + 1], h2[SHA256_HEX_LEN + 1], *exp;
	const char *p;
	size_t len;

	kernel_setup();
	fake_add_type("bpf", IOF_CLASS_INSPECT, IOF_TYPE_NOWAIT);
	fake.bpf = true;
	write_file(obj, "program one", 11, 0644);
	sha256_hex("program one", 11, h1);
	sha256_hex("program two", 11, h2);
	cli("-q", "apply", a, NULL);
	CHECK_INT(last.code, 0);
	exp = xasprintf("bpf attach vm1/prog key 1 %s sha256 %.12s\n", obj, h1);
	CHECK_HAS(fake_log, exp);
	free(exp);
	CHECK_INT(fake_bpf_pinned(), 1);
	p = fake_params("vm1", "prog", &len);
	exp = xasprintf("program=%s", obj);
	CHECK(p && len == strlen(exp) + 1 + strlen("program_sha256=") + SHA256_HEX_LEN + 1);
	CHECK_STR(p, exp);
	free(exp);
	exp = xasprintf("program_sha256=%s", h1);
	CHECK_STR(p + strlen(p) + 1, exp);
	free(exp);

	/* unchanged: nothing to do */
	fake_log[0] = '\0';
	cli("apply", a, NULL);
	CHECK_INT(last.code, 0);
	CHECK_STR(last.out, "vm1: no changes\n");
	CHECK_STR(fake_log, "");

	/* rebuilt: a new instance and program before the table switches, the old unpinned */
	write_file(obj, "program two", 11, 0644);
	cli("-v", "apply", a, NULL);
	CHECK_INT(last.code, 0);
	exp = xasprintf("  ~ instance prog: bpf program=%s program_sha256=%s -> bpf program=%s "
			"program_sha256=%s\n", obj, h1, obj, h2);
	CHECK_HAS(last.out, exp);
	free(exp);
	exp = xasprintf("create vm1 prog.new bpf\n"
			"bpf attach vm1/prog key 2 %s sha256 %.12s\n"
			"load vm1 rules=0 gen=2\n"
			"remove vm1 prog\n"
			"rename vm1 prog.new prog\n", obj, h2);
	CHECK_HAS(fake_log, exp);
	free(exp);
	CHECK_HAS(fake_log, "bpf unpin vm1/prog key 1\n");
	CHECK_INT(fake_bpf_pinned(), 1);
	fake_log[0] = '\0';
	cli("apply", a, NULL);
	CHECK_STR(last.out, "vm1: no changes\n");
	CHECK_STR(fake_log, "");

	/* the digest is the tool's, not the policy's */
	t = subst(POL_BPF, "prog.bpf.o}", "prog.bpf.o, program_sha256: 00}");
	b = policy_file("kb2.yaml", t);
	cli("apply", b, NULL);
	CHECK_INT(last.code, 1);
	CHECK_HAS(last.err, "parameter \"program_sha256\" is not for policies");
	free(t);
	free(b);
	free(a);
	free(obj);
}

/* stats shows the small maps of a bpf instance's program (fake: "hist") */
static void t_stats_bpf_maps(void)
{
	char *obj = path_in_tmp("prog.bpf.o"), *a = policy_file("kb.yaml", POL_BPF);

	kernel_setup();
	fake_add_type("bpf", IOF_CLASS_INSPECT, IOF_TYPE_NOWAIT);
	fake.bpf = true;
	write_file(obj, "program one", 11, 0644);
	cli("-q", "apply", a, NULL);
	CHECK_INT(last.code, 0);
	cli("stats", "vm1", NULL);
	CHECK_INT(last.code, 0);
	CHECK_HAS(last.out, "\nbpf prog map hist (array, id 7, 384 entries of 4+8 bytes)\n"
			    "  3: 5\n"
			    "  7: 2\n"
			    "bpf prog map samples (ringbuf, id 8, 4096 entries of 0+0 bytes): not shown, "
			    "not an array or hash map\n");
	cli("-o", "json", "stats", "vm1", NULL);
	CHECK_INT(last.code, 0);
	CHECK_HAS(last.out, "\"bpf\": [\n        {\n          \"instance\": \"prog\",\n");
	CHECK_HAS(last.out, "\"entries\": [\n                {\n                  \"key\": 3,\n"
			    "                  \"value\": 5\n");
	CHECK_HAS(last.out, "\"skipped\": \"not an array or hash map\"");
	free(a);
	free(obj);
}

void unit_apply_tests(void)
{
	run("stats_bpf_maps", t_stats_bpf_maps);
	run("sha256", t_sha256);
	run("apply_bpf_rebuilt", t_apply_bpf_rebuilt);
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
}
