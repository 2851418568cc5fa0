// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl unit tests: the verbs that show and act on live volumes,
 * against the fake kernel: status, stats, filters, detach, message, flush,
 * resync, version.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../commands.h"
#include "../util.h"
#include "fake.h"
#include "unit.h"

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

void unit_verb_tests(void)
{
	run("status", t_status);
	run("stats", t_stats);
	run("filters", t_filters);
	run("detach", t_detach);
	run("messages", t_messages);
	run("version", t_version);
}
