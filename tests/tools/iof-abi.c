// SPDX-License-Identifier: GPL-2.0
/*
 * iof-abi: raw access to /dev/iofilter for the VM tests.
 *
 * It talks to the kernel without iofilterctl's validation in between, so
 * tests can send exactly the payloads they mean, malformed ones included.
 *
 *   iof-abi abi VOLUME                  run the ABI conformance cases
 *   iof-abi create VOLUME NAME TYPE [--secret-file F] [k=v ...]
 *                                       prints the instance id; F's bytes
 *                                       are the instance secret (a key)
 *   iof-abi remove VOLUME NAME
 *   iof-abi load VOLUME DEFAULT [RULE ...]      prints the generation
 *   iof-abi stats VOLUME                prints "key value" lines (clock_us:
 *                                       CLOCK_REALTIME when they were read)
 *   iof-abi status VOLUME NAME          prints the instance status text
 *   iof-abi msg VOLUME NAME WORDS...
 *   iof-abi swap VOLUME N RULE_A RULE_B  load A, B, A, ... N times
 *   iof-abi pace VOLUME RATE SECONDS RULE_A RULE_B
 *                                       load A, B, A, ... RATE times a
 *                                       second (absolute deadlines) for
 *                                       SECONDS (0: until SIGTERM/SIGINT);
 *                                       prints "swaps=N errors=E late=L";
 *                                       exit 1 if a load failed
 *   iof-abi table VOLUME                the live table, raw: generation,
 *                                       default and rules as hex
 *   iof-abi instances VOLUME            every instance: info fields and
 *                                       parameter block (hex)
 *
 * RULE and DEFAULT are comma-separated key=value lists:
 *   start=BYTES len=BYTES ops=[rwdzf] action=pass|deny|filter chain=ID+ID
 *   min=BYTES max=BYTES set=FLAGS clear=FLAGS prio=[nrbi] name=LABEL
 * FLAGS: s(ync) f(ua) p(reflush) m(eta) a (readahead).  Sizes take K/M/G.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <assert.h>
#include <stdint.h>
#include <linux/iofilter.h>

static_assert(sizeof(struct iof_rule) == 96, "ABI");
static_assert(sizeof(struct iof_table) == 480, "ABI");

static int ctl_fd = -1;

static void die(const char *fmt, const char *a)
{
	fprintf(stderr, "iof-abi: ");
	fprintf(stderr, fmt, a);
	fprintf(stderr, "\n");
	exit(2);
}

static int ctl(void)
{
	if (ctl_fd < 0) {
		ctl_fd = open("/dev/iofilter", O_RDWR);
		if (ctl_fd < 0)
			die("open /dev/iofilter: %s", strerror(errno));
	}
	return ctl_fd;
}

static void hdr_init(struct iof_ioctl_hdr *h, size_t size)
{
	memset(h, 0, sizeof(*h));
	h->version[0] = IOFILTER_VERSION_MAJOR;
	h->version[1] = IOFILTER_VERSION_MINOR;
	h->version[2] = IOFILTER_VERSION_PATCH;
	h->size = size;
}

#define INIT(s) do { memset(&(s), 0, sizeof(s)); hdr_init(&(s).hdr, sizeof(s)); } while (0)

static int xioctl(unsigned long cmd, void *arg)
{
	return ioctl(ctl(), cmd, arg) ? -errno : 0;
}

static unsigned long long parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);

	switch (*end) {
	case 'K': case 'k': v <<= 10; break;
	case 'M': case 'm': v <<= 20; break;
	case 'G': case 'g': v <<= 30; break;
	case 0: break;
	default: die("bad size %s", s);
	}
	return v;
}

static uint32_t letters(const char *s, const char *set, const uint32_t *bits)
{
	uint32_t v = 0;

	for (; *s; s++) {
		const char *p = strchr(set, *s);

		if (!p)
			die("bad letter in %s", s);
		v |= bits[p - set];
	}
	return v;
}

static void parse_rule(const char *spec, struct iof_rule *r)
{
	static const uint32_t opb[] = { IOF_OP_READ, IOF_OP_WRITE,
		IOF_OP_DISCARD, IOF_OP_WRITE_ZEROES, IOF_OP_FLUSH };
	static const uint32_t fb[] = { IOF_RQ_SYNC, IOF_RQ_FUA,
		IOF_RQ_PREFLUSH, IOF_RQ_META, IOF_RQ_READAHEAD };
	static const uint32_t pb[] = { IOF_PRIO_NONE, IOF_PRIO_RT,
		IOF_PRIO_BE, IOF_PRIO_IDLE };
	char *copy = strdup(spec), *tok, *save = NULL;

	memset(r, 0, sizeof(*r));
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *v = strchr(tok, '=');

		if (!v)
			die("bad rule item %s", tok);
		*v++ = 0;
		if (!strcmp(tok, "start"))
			r->start = parse_size(v);
		else if (!strcmp(tok, "len"))
			r->len = parse_size(v);
		else if (!strcmp(tok, "ops"))
			r->ops = !strcmp(v, "raw") ? strtoul(v + 3, NULL, 0) :
				 letters(v, "rwdzf", opb);
		else if (!strcmp(tok, "min"))
			r->min_size = parse_size(v);
		else if (!strcmp(tok, "max"))
			r->max_size = parse_size(v);
		else if (!strcmp(tok, "set"))
			r->flags_set = letters(v, "sfpma", fb);
		else if (!strcmp(tok, "clear"))
			r->flags_clear = letters(v, "sfpma", fb);
		else if (!strcmp(tok, "prio"))
			r->ioprio_classes = letters(v, "nrbi", pb);
		else if (!strcmp(tok, "name"))
			snprintf(r->name, sizeof(r->name), "%s", v);
		else if (!strcmp(tok, "action"))
			r->action = !strcmp(v, "pass") ? IOF_ACTION_PASS :
				    !strcmp(v, "deny") ? IOF_ACTION_DENY :
				    !strcmp(v, "filter") ? IOF_ACTION_FILTER :
				    (uint32_t)strtoul(v, NULL, 0);
		else if (!strcmp(tok, "chain")) {
			char *id, *s2 = NULL;

			for (id = strtok_r(v, "+", &s2); id;
			     id = strtok_r(NULL, "+", &s2)) {
				if (r->nr_chain >= IOF_MAX_CHAIN)
					die("chain too long: %s", spec);
				r->chain[r->nr_chain++] = strtoul(id, NULL, 0);
			}
		} else {
			die("unknown rule key %s", tok);
		}
	}
	free(copy);
}

static int do_load(const char *vol, const char *dflt, int n, char **specs,
		   uint64_t *gen, int quiet)
{
	struct iof_rule *rules = calloc(n ? n : 1, sizeof(*rules));
	struct iof_table t;
	int i, r;

	INIT(t);
	snprintf(t.volume, sizeof(t.volume), "%s", vol);
	for (i = 0; i < n; i++)
		parse_rule(specs[i], &rules[i]);
	parse_rule(dflt, &t.default_rule);
	t.rules = (uintptr_t)rules;
	t.nr_rules = n;
	t.rule_size = sizeof(struct iof_rule);
	r = xioctl(IOF_IOC_TABLE_LOAD, &t);
	if (r && !quiet)
		fprintf(stderr, "load: %s (rule %d: %s)\n", strerror(-r),
			(int)t.error_rule, t.message);
	if (gen)
		*gen = t.generation;
	free(rules);
	return r;
}

static int cmd_create(int argc, char **argv)
{
	struct iof_instance_create c;
	char params[IOF_MAX_PARAMS_LEN];
	unsigned char secret[IOF_MAX_SECRET_LEN + 1];
	size_t len = 0, slen = 0;
	int i = 3, r;

	if (argc < 3)
		die("%s", "create VOLUME NAME TYPE [--secret-file F] [k=v ...]");
	INIT(c);
	snprintf(c.volume, sizeof(c.volume), "%s", argv[0]);
	snprintf(c.name, sizeof(c.name), "%s", argv[1]);
	snprintf(c.type, sizeof(c.type), "%s", argv[2]);
	if (argc > 4 && !strcmp(argv[3], "--secret-file")) {
		FILE *f = fopen(argv[4], "rb");

		if (!f)
			die("secret file: %s", strerror(errno));
		slen = fread(secret, 1, sizeof(secret), f);
		fclose(f);
		if (slen > IOF_MAX_SECRET_LEN)
			die("%s", "secret file too long");
		c.secret = (uintptr_t)secret;
		c.secret_len = slen;
		i = 5;
	}
	for (; i < argc; i++) {
		size_t l = strlen(argv[i]) + 1;

		if (len + l > sizeof(params))
			die("%s", "params too long");
		memcpy(params + len, argv[i], l);
		len += l;
	}
	c.params = (uintptr_t)params;
	c.params_len = len;
	r = xioctl(IOF_IOC_INSTANCE_CREATE, &c);
	explicit_bzero(secret, sizeof(secret));
	if (r) {
		fprintf(stderr, "create: %s: %s\n", strerror(-r), c.message);
		return 1;
	}
	printf("%u\n", c.id);
	return 0;
}

static int cmd_remove(int argc, char **argv)
{
	struct iof_instance_remove c;
	int r;

	if (argc != 2)
		die("%s", "remove VOLUME NAME");
	INIT(c);
	snprintf(c.volume, sizeof(c.volume), "%s", argv[0]);
	snprintf(c.name, sizeof(c.name), "%s", argv[1]);
	r = xioctl(IOF_IOC_INSTANCE_REMOVE, &c);
	if (r)
		fprintf(stderr, "remove: %s\n", strerror(-r));
	return !!r;
}

static int cmd_load(int argc, char **argv)
{
	uint64_t gen;

	if (argc < 2)
		die("%s", "load VOLUME DEFAULT [RULE ...]");
	if (do_load(argv[0], argv[1], argc - 2, argv + 2, &gen, 0))
		return 1;
	printf("%llu\n", (unsigned long long)gen);
	return 0;
}

static const char *const opn[] = { "read", "write", "discard",
				   "write_zeroes", "flush" };

static int cmd_stats(int argc, char **argv)
{
	struct iof_counters rc[64];
	struct iof_stats s;
	struct timespec now;
	unsigned int i, j;
	int r;

	if (argc != 1)
		die("%s", "stats VOLUME");
	INIT(s);
	snprintf(s.volume, sizeof(s.volume), "%s", argv[0]);
	s.rules = (uintptr_t)rc;
	s.nr_rules = 64;
	r = xioctl(IOF_IOC_STATS, &s);
	clock_gettime(CLOCK_REALTIME, &now);
	if (r) {
		fprintf(stderr, "stats: %s\n", strerror(-r));
		return 1;
	}
	/* when the counters were read (the benchmarks' rates) */
	printf("clock_us %lld\n", (long long)now.tv_sec * 1000000 + now.tv_nsec / 1000);
	printf("generation %llu\n", (unsigned long long)s.generation);
	for (j = 0; j < IOF_NR_OPS; j++)
		printf("vol.%s %llu %llu\n", opn[j],
		       (unsigned long long)s.vol.all.ios[j],
		       (unsigned long long)s.vol.all.bytes[j]);
	printf("vol.passed %llu\nvol.denied %llu\nvol.filtered %llu\n"
	       "vol.errors %llu\nvol.splits %llu\n",
	       (unsigned long long)s.vol.passed,
	       (unsigned long long)s.vol.denied,
	       (unsigned long long)s.vol.filtered,
	       (unsigned long long)s.vol.errors,
	       (unsigned long long)s.vol.splits);
	for (j = 0; j < IOF_NR_OPS; j++)
		printf("default.%s %llu %llu\n", opn[j],
		       (unsigned long long)s.dflt.ios[j],
		       (unsigned long long)s.dflt.bytes[j]);
	for (i = 0; i < s.nr_rules && i < 64; i++)
		for (j = 0; j < IOF_NR_OPS; j++)
			printf("rule%u.%s %llu %llu\n", i, opn[j],
			       (unsigned long long)rc[i].ios[j],
			       (unsigned long long)rc[i].bytes[j]);
	return 0;
}

static int cmd_status(int argc, char **argv)
{
	struct iof_instance_get g;
	char params[IOF_MAX_PARAMS_LEN], status[4096];
	int r;

	if (argc != 2)
		die("%s", "status VOLUME NAME");
	INIT(g);
	snprintf(g.volume, sizeof(g.volume), "%s", argv[0]);
	snprintf(g.name, sizeof(g.name), "%s", argv[1]);
	g.params = (uintptr_t)params;
	g.params_len = sizeof(params);
	g.status = (uintptr_t)status;
	g.status_len = sizeof(status);
	r = xioctl(IOF_IOC_INSTANCE_GET, &g);
	if (r) {
		fprintf(stderr, "status: %s\n", strerror(-r));
		return 1;
	}
	printf("id=%u users=%u flags=%u %s\n", g.info.id, g.info.users,
	       g.info.flags, status);
	return 0;
}

static int cmd_msg(int argc, char **argv)
{
	struct iof_message m;
	char msg[IOF_MSG_LEN] = "", result[1024] = "";
	int i, r;

	if (argc < 3)
		die("%s", "msg VOLUME NAME WORDS...");
	INIT(m);
	snprintf(m.volume, sizeof(m.volume), "%s", argv[0]);
	snprintf(m.name, sizeof(m.name), "%s", argv[1]);
	for (i = 2; i < argc; i++) {
		strncat(msg, argv[i], sizeof(msg) - strlen(msg) - 2);
		if (i + 1 < argc)
			strcat(msg, " ");
	}
	m.msg = (uintptr_t)msg;
	m.msg_len = strlen(msg) + 1;
	m.result = (uintptr_t)result;
	m.result_len = sizeof(result);
	r = xioctl(IOF_IOC_MESSAGE, &m);
	if (r) {
		fprintf(stderr, "msg: %s\n", strerror(-r));
		return 1;
	}
	if (result[0])
		printf("%s\n", result);
	return 0;
}

static int cmd_swap(int argc, char **argv)
{
	int i, n;

	if (argc != 4)
		die("%s", "swap VOLUME N RULE_A RULE_B");
	n = atoi(argv[1]);
	for (i = 0; i < n; i++) {
		char *spec = argv[2 + (i & 1)];

		if (do_load(argv[0], "action=pass", 1, &spec, NULL, 0))
			return 1;
		usleep(20000);
	}
	return 0;
}

static volatile sig_atomic_t pace_stop;

static void pace_signal(int sig)
{
	(void)sig;
	pace_stop = 1;
}

static void ts_add_ns(struct timespec *t, long long ns)
{
	ns += t->tv_nsec;
	t->tv_sec += ns / 1000000000;
	t->tv_nsec = ns % 1000000000;
}

static int ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	       (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/*
 * A policy swapper for the benchmarks: the two tables are parsed once, so
 * what a swap costs is the ioctl (and the kernel's table build, publish
 * and deferred free).  Deadlines are absolute; a swap that finds itself a
 * whole period late drops the missed deadlines (counted as "late") rather
 * than bursting to catch up.
 */
static int cmd_pace(int argc, char **argv)
{
	struct iof_rule rules[2];
	struct iof_table t;
	struct timespec next, end, now;
	unsigned long long swaps = 0, errors = 0, late = 0;
	long long period;
	double rate, secs;
	struct sigaction sa;
	int r;

	if (argc != 5)
		die("%s", "pace VOLUME RATE SECONDS RULE_A RULE_B");
	rate = atof(argv[1]);
	secs = atof(argv[2]);
	if (rate <= 0 || secs < 0)
		die("%s", "pace: RATE must be > 0, SECONDS >= 0");
	period = (long long)(1e9 / rate);
	parse_rule(argv[3], &rules[0]);
	parse_rule(argv[4], &rules[1]);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = pace_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	clock_gettime(CLOCK_MONOTONIC, &next);
	end = next;
	ts_add_ns(&end, (long long)(secs * 1e9));
	while (!pace_stop) {
		INIT(t);
		snprintf(t.volume, sizeof(t.volume), "%s", argv[0]);
		t.default_rule.action = IOF_ACTION_PASS;
		t.rules = (uintptr_t)&rules[swaps & 1];
		t.nr_rules = 1;
		t.rule_size = sizeof(struct iof_rule);
		r = xioctl(IOF_IOC_TABLE_LOAD, &t);
		if (r) {
			if (!errors)
				fprintf(stderr, "pace: load: %s (%s)\n",
					strerror(-r), t.message);
			errors++;
		}
		swaps++;
		ts_add_ns(&next, period);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (secs > 0 && !ts_before(&now, &end))
			break;
		if (ts_before(&next, &now)) {
			/* a period or more behind: drop what was missed */
			while (ts_before(&next, &now)) {
				ts_add_ns(&next, period);
				late++;
			}
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	printf("swaps=%llu errors=%llu late=%llu\n", swaps, errors, late);
	return errors ? 1 : 0;
}

/* ---- ABI conformance ---- */

static int nr_case, nr_fail;

/*
 * The ABI cases as KTAP subtests of 11-core-abi (indented four spaces, the
 * way tests/lib/common.sh's subtest prints them), with a plan: ABI_CASES
 * is how many expect() calls "iof-abi abi" makes; a run that makes another
 * number fails (a case lost, or one added without the plan).
 */
#define ABI_CASES	91

static void expect(const char *what, int got, int want)
{
	nr_case++;
	if (got == want) {
		printf("    ok %d %s\n", nr_case, what);
	} else {
		nr_fail++;
		printf("    not ok %d %s\n", nr_case, what);
		printf("    # got %d (%s), want %d (%s)\n", got, strerror(-got),
		       want, strerror(-want));
	}
	fflush(stdout);		/* before a fork, and in order with stderr */
}

static uint64_t live_generation(const char *vol)
{
	struct iof_table t;

	INIT(t);
	snprintf(t.volume, sizeof(t.volume), "%s", vol);
	t.rule_size = sizeof(struct iof_rule);
	if (xioctl(IOF_IOC_TABLE_GET, &t))
		return 0;
	return t.generation;
}

static int table_case(const char *vol, const struct iof_rule *rule,
		      unsigned int nr, void (*tweak)(struct iof_table *))
{
	struct iof_table t;

	INIT(t);
	snprintf(t.volume, sizeof(t.volume), "%s", vol);
	t.rules = (uintptr_t)rule;
	t.nr_rules = nr;
	t.rule_size = sizeof(struct iof_rule);
	t.default_rule.action = IOF_ACTION_PASS;
	if (tweak)
		tweak(&t);
	return xioctl(IOF_IOC_TABLE_LOAD, &t);
}

static void tw_rule_size(struct iof_table *t) { t->rule_size = 64; }
static void tw_too_many(struct iof_table *t) { t->nr_rules = IOF_MAX_RULES + 1; }
static void tw_reserved(struct iof_table *t) { t->reserved = 1; }
static void tw_dflt_match(struct iof_table *t) { t->default_rule.ops = IOF_OP_READ; }
static void tw_dflt_action(struct iof_table *t) { t->default_rule.action = 9; }
static void tw_badptr(struct iof_table *t) { t->rules = 8; }
static void tw_stale(struct iof_table *t) { t->expected_generation = ~0ULL; }
static void tw_dry(struct iof_table *t) { t->hdr.flags = IOF_HDR_DRY_RUN; }
static void tw_badflag(struct iof_table *t) { t->hdr.flags = 0x80; }

static int cmd_abi(int argc, char **argv)
{
	const char *vol;
	struct iof_version v;
	struct iof_list l;
	struct iof_instance_create c;
	struct iof_rule r;
	char buf[4096], *page;
	uint64_t gen0;
	int fd, rc;
	pid_t pid;

	if (argc != 1)
		die("%s", "abi VOLUME");
	vol = argv[0];
	gen0 = live_generation(vol);
	printf("    KTAP version 1\n    1..%d\n", ABI_CASES);

	INIT(v);
	expect("version", xioctl(IOF_IOC_VERSION, &v), 0);
	INIT(v);
	v.hdr.version[0] = IOFILTER_VERSION_MAJOR + 1;
	expect("version: other major refused", xioctl(IOF_IOC_VERSION, &v), -EPROTO);
	expect("version: kernel writes its version back",
	       v.hdr.version[0] == IOFILTER_VERSION_MAJOR ? 0 : -1, 0);
	INIT(v);
	v.hdr.version[1] = IOFILTER_VERSION_MINOR + 1;
	expect("version: newer minor refused", xioctl(IOF_IOC_VERSION, &v), -EPROTO);
	INIT(v);
	v.hdr.size = sizeof(v) - 8;
	expect("header size mismatch", xioctl(IOF_IOC_VERSION, &v), -EINVAL);
	INIT(v);
	v.hdr.reserved = 1;
	expect("header reserved nonzero", xioctl(IOF_IOC_VERSION, &v), -EINVAL);
	INIT(v);
	v.hdr.flags = IOF_HDR_DRY_RUN;
	expect("header flag not allowed for command", xioctl(IOF_IOC_VERSION, &v), -EINVAL);
	INIT(v);
	expect("unknown command number",
	       xioctl(_IOWR(IOF_IOCTL_MAGIC, 0x7f, struct iof_version), &v), -ENOTTY);
	expect("command with the wrong size",
	       xioctl(_IOWR(IOF_IOCTL_MAGIC, 0x00, struct iof_list), &l), -ENOTTY);
	expect("null argument", xioctl(IOF_IOC_VERSION, NULL), -EFAULT);

	/* a struct that runs off the end of mapped memory: truncated */
	page = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(page + 4096, 4096);
	INIT(v);
	memcpy(page + 4096 - 16, &v, 16);
	expect("truncated payload", xioctl(IOF_IOC_VERSION, page + 4096 - 16), -EFAULT);

	INIT(l);
	l.buf = (uintptr_t)buf;
	l.buf_len = IOF_MAX_LIST_BYTES + 1;
	expect("list: oversized buffer", xioctl(IOF_IOC_LIST_TYPES, &l), -EINVAL);
	INIT(l);
	l.buf = (uintptr_t)buf;
	l.buf_len = sizeof(buf);
	l.count = 3;
	expect("list: output field set", xioctl(IOF_IOC_LIST_TYPES, &l), -EINVAL);
	INIT(l);
	l.buf = 8;
	l.buf_len = sizeof(buf);
	rc = xioctl(IOF_IOC_LIST_TYPES, &l);
	expect("list: bad buffer pointer", rc == -EFAULT || (rc == 0 && l.needed == 0) ? -EFAULT : rc, -EFAULT);
	INIT(l);
	memcpy(l.volume, "no-such-volume", 15);
	l.buf = (uintptr_t)buf;
	l.buf_len = sizeof(buf);
	expect("list instances: unknown volume", xioctl(IOF_IOC_LIST_INSTANCES, &l), -ENODEV);
	INIT(l);
	memset(l.volume, 'a', sizeof(l.volume));
	expect("list instances: unterminated name", xioctl(IOF_IOC_LIST_INSTANCES, &l), -EINVAL);
	INIT(l);
	strcpy(l.volume, "a/b");
	expect("list instances: bad characters", xioctl(IOF_IOC_LIST_INSTANCES, &l), -EINVAL);
	INIT(l);
	strcpy(l.volume, vol);
	l.volume[strlen(vol) + 1] = 'x';
	expect("name: garbage after NUL", xioctl(IOF_IOC_LIST_INSTANCES, &l), -EINVAL);

	INIT(c);
	strcpy(c.volume, vol);
	strcpy(c.name, "x");
	strcpy(c.type, "no-such-type");
	expect("create: unknown type", xioctl(IOF_IOC_INSTANCE_CREATE, &c), -ENOENT);
	INIT(c);
	strcpy(c.volume, vol);
	strcpy(c.name, "x");
	strcpy(c.type, "count");
	c.params_len = IOF_MAX_PARAMS_LEN + 1;
	expect("create: params too long", xioctl(IOF_IOC_INSTANCE_CREATE, &c), -EINVAL);
	INIT(c);
	strcpy(c.volume, vol);
	strcpy(c.name, "x");
	strcpy(c.type, "count");
	c.secret_len = IOF_MAX_SECRET_LEN + 1;
	expect("create: secret too long", xioctl(IOF_IOC_INSTANCE_CREATE, &c), -EINVAL);
	INIT(c);
	strcpy(c.volume, vol);
	strcpy(c.name, "x");
	strcpy(c.type, "count");
	c.params = (uintptr_t)"defer=1";	/* no final NUL counted */
	c.params_len = 7;
	expect("create: params not NUL-terminated", xioctl(IOF_IOC_INSTANCE_CREATE, &c), -EINVAL);
	INIT(c);
	strcpy(c.volume, vol);
	strcpy(c.name, "x");
	strcpy(c.type, "count");
	c.params = (uintptr_t)"Bad Key=1";
	c.params_len = 10;
	expect("create: bad param key", xioctl(IOF_IOC_INSTANCE_CREATE, &c), -EINVAL);
	INIT(c);
	strcpy(c.volume, vol);
	strcpy(c.name, "x");
	strcpy(c.type, "count");
	c.params = (uintptr_t)"nope=1";
	c.params_len = 7;
	rc = xioctl(IOF_IOC_INSTANCE_CREATE, &c);
	expect("create: filter refuses unknown param", rc, -EINVAL);
	expect("create: filter's message reaches the caller",
	       strstr(c.message, "nope") ? 0 : -1, 0);
	INIT(c);
	strcpy(c.volume, vol);
	strcpy(c.name, "x");
	strcpy(c.type, "count");
	c.params = 16;
	c.params_len = 8;
	expect("create: bad params pointer", xioctl(IOF_IOC_INSTANCE_CREATE, &c), -EFAULT);
	INIT(c);
	strcpy(c.volume, vol);
	strcpy(c.name, "x");
	strcpy(c.type, "count");
	c.reserved = 1;
	expect("create: reserved nonzero", xioctl(IOF_IOC_INSTANCE_CREATE, &c), -EINVAL);

	memset(&r, 0, sizeof(r));
	r.ops = IOF_OP_ALL;
	r.action = IOF_ACTION_DENY;
	r.start = 0;
	r.len = 4096;
	expect("table: rule_size mismatch", table_case(vol, &r, 1, tw_rule_size), -EINVAL);
	expect("table: too many rules", table_case(vol, &r, 1, tw_too_many), -E2BIG);
	expect("table: reserved nonzero", table_case(vol, &r, 1, tw_reserved), -EINVAL);
	expect("table: default with match fields", table_case(vol, &r, 1, tw_dflt_match), -EINVAL);
	expect("table: default with bad action", table_case(vol, &r, 1, tw_dflt_action), -EINVAL);
	expect("table: bad rules pointer", table_case(vol, &r, 1, tw_badptr), -EFAULT);
	expect("table: stale generation", table_case(vol, &r, 1, tw_stale), -ESTALE);
	expect("table: unknown header flag", table_case(vol, &r, 1, tw_badflag), -EINVAL);
	expect("table: dry run ok", table_case(vol, &r, 1, tw_dry), 0);
	r.ops = 0;
	expect("rule: ops 0", table_case(vol, &r, 1, NULL), -EINVAL);
	r.ops = 0x100;
	expect("rule: unknown op", table_case(vol, &r, 1, NULL), -EINVAL);
	r.ops = IOF_OP_ALL;
	r.start = 100;
	expect("rule: unaligned range", table_case(vol, &r, 1, NULL), -EINVAL);
	r.start = 0;
	r.len = 1ULL << 60;
	expect("rule: range beyond the volume", table_case(vol, &r, 1, NULL), -ERANGE);
	r.len = 4096;
	r.start = ~0ULL - 511;
	expect("rule: range wraps", table_case(vol, &r, 1, NULL), -EINVAL);
	r.start = 0;
	r.min_size = 8192;
	r.max_size = 4096;
	expect("rule: min above max", table_case(vol, &r, 1, NULL), -EINVAL);
	r.min_size = r.max_size = 0;
	r.flags_set = r.flags_clear = IOF_RQ_SYNC;
	expect("rule: flag set and clear", table_case(vol, &r, 1, NULL), -EINVAL);
	r.flags_set = r.flags_clear = 0;
	r.flags_set = 0x100;
	expect("rule: unknown flag", table_case(vol, &r, 1, NULL), -EINVAL);
	r.flags_set = 0;
	r.ioprio_classes = 0x100;
	expect("rule: unknown ioprio class", table_case(vol, &r, 1, NULL), -EINVAL);
	r.ioprio_classes = 0;
	r.action = 0;
	expect("rule: action 0", table_case(vol, &r, 1, NULL), -EINVAL);
	r.action = IOF_ACTION_DENY;
	r.nr_chain = 1;
	r.chain[0] = 1;
	expect("rule: deny with a chain", table_case(vol, &r, 1, NULL), -EINVAL);
	r.action = IOF_ACTION_FILTER;
	r.chain[0] = 999999;
	expect("rule: unknown instance id", table_case(vol, &r, 1, NULL), -ENOENT);
	r.nr_chain = 0;
	r.chain[0] = 0;
	expect("rule: filter with empty chain", table_case(vol, &r, 1, NULL), -EINVAL);
	r.nr_chain = 5;
	expect("rule: chain too long", table_case(vol, &r, 1, NULL), -EINVAL);
	r.nr_chain = 0;
	r.action = IOF_ACTION_DENY;
	memset(r.name, 'n', sizeof(r.name));
	expect("rule: name not terminated", table_case(vol, &r, 1, NULL), -EINVAL);
	memset(r.name, 0, sizeof(r.name));
	expect("live table untouched by refused loads",
	       live_generation(vol) == gen0 ? 0 : -1, 0);

	/* messages, instance get/rename/remove, stats, version, table get */
	INIT(c);
	strcpy(c.volume, vol);
	strcpy(c.name, "abi-m");
	strcpy(c.type, "count");
	expect("create: a count instance for the cases below",
	       xioctl(IOF_IOC_INSTANCE_CREATE, &c), 0);
	{
		char words[] = "reset flush", res[256];
		struct iof_message m;
		struct iof_instance_get g;
		struct iof_instance_rename rn;
		struct iof_instance_remove rm;
		struct iof_stats st;
		struct iof_table tg;

#define MSG(len, ptr_, rlen) do {					\
		INIT(m);						\
		strcpy(m.volume, vol);					\
		strcpy(m.name, "abi-m");				\
		m.msg = (uintptr_t)(ptr_);				\
		m.msg_len = (len);					\
		m.result = (uintptr_t)res;				\
		m.result_len = (rlen);					\
	} while (0)
		MSG(6, "reset", sizeof(res));
		expect("message: valid", xioctl(IOF_IOC_MESSAGE, &m), 0);
		/* the regression: no NUL within msg_len oopsed the kernel */
		MSG(5, "reset", sizeof(res));
		expect("message: not NUL-terminated", xioctl(IOF_IOC_MESSAGE, &m), -EINVAL);
		words[5] = '\0';
		MSG(sizeof(words), words, sizeof(res));
		expect("message: NUL inside the text", xioctl(IOF_IOC_MESSAGE, &m), -EINVAL);
		MSG(0, "reset", sizeof(res));
		expect("message: msg_len 0", xioctl(IOF_IOC_MESSAGE, &m), -EINVAL);
		MSG(IOF_MSG_LEN + 1, buf, sizeof(res));
		expect("message: msg_len above the limit", xioctl(IOF_IOC_MESSAGE, &m), -EINVAL);
		MSG(6, "reset", IOF_MAX_TEXT_LEN + 1);
		expect("message: result buffer above the limit", xioctl(IOF_IOC_MESSAGE, &m), -EINVAL);
		MSG(4, "   ", sizeof(res));
		expect("message: no words", xioctl(IOF_IOC_MESSAGE, &m), -EINVAL);
		MSG(6, 8, sizeof(res));
		expect("message: bad msg pointer", xioctl(IOF_IOC_MESSAGE, &m), -EFAULT);
		MSG(6, "reset", sizeof(res));
		m.result = 8;
		expect("message: bad result pointer", xioctl(IOF_IOC_MESSAGE, &m), -EFAULT);
		MSG(6, "bogus", sizeof(res));
		expect("message: unknown verb", xioctl(IOF_IOC_MESSAGE, &m), -EINVAL);
		MSG(6, "reset", sizeof(res));
		strcpy(m.name, "no-such");
		expect("message: unknown instance", xioctl(IOF_IOC_MESSAGE, &m), -ENOENT);
#undef MSG
		INIT(g);
		strcpy(g.volume, vol);
		strcpy(g.name, "abi-m");
		g.status = (uintptr_t)buf;
		g.status_len = sizeof(buf);
		expect("get: valid", xioctl(IOF_IOC_INSTANCE_GET, &g), 0);
		INIT(g);
		strcpy(g.volume, vol);
		strcpy(g.name, "abi-m");
		g.info.users = 1;
		expect("get: output info set", xioctl(IOF_IOC_INSTANCE_GET, &g), -EINVAL);
		INIT(g);
		strcpy(g.volume, vol);
		strcpy(g.name, "abi-m");
		g.status_len = IOF_MAX_TEXT_LEN + 1;
		expect("get: status buffer above the limit", xioctl(IOF_IOC_INSTANCE_GET, &g), -EINVAL);
		INIT(g);
		strcpy(g.volume, vol);
		strcpy(g.name, "abi-m");
		g.status = 8;
		g.status_len = 64;
		expect("get: bad status pointer", xioctl(IOF_IOC_INSTANCE_GET, &g), -EFAULT);
		INIT(g);
		strcpy(g.volume, vol);
		memset(g.name, 'q', sizeof(g.name));
		expect("get: unterminated name", xioctl(IOF_IOC_INSTANCE_GET, &g), -EINVAL);

		INIT(rn);
		strcpy(rn.volume, vol);
		strcpy(rn.name, "no-such");
		strcpy(rn.new_name, "abi-n");
		expect("rename: unknown instance", xioctl(IOF_IOC_INSTANCE_RENAME, &rn), -ENOENT);
		INIT(rn);
		strcpy(rn.volume, vol);
		strcpy(rn.name, "abi-m");
		strcpy(rn.new_name, "abi-m");
		expect("rename: to a name in use", xioctl(IOF_IOC_INSTANCE_RENAME, &rn), -EEXIST);
		memset(rn.new_name, 'q', sizeof(rn.new_name));
		expect("rename: unterminated new name", xioctl(IOF_IOC_INSTANCE_RENAME, &rn), -EINVAL);
		/* every command _IOWR; ABI 1.0's _IOW values still accepted */
		INIT(rn);
		strcpy(rn.volume, vol);
		strcpy(rn.name, "abi-m");
		strcpy(rn.new_name, "abi-n");
		rn.hdr.version[2] = 0xff;
		expect("rename: the _IOWR value", xioctl(IOF_IOC_INSTANCE_RENAME, &rn), 0);
		expect("rename: the header is written back",
		       rn.hdr.version[2] == IOFILTER_VERSION_PATCH ? 0 : -EIO, 0);
		INIT(rn);
		strcpy(rn.volume, vol);
		strcpy(rn.name, "abi-n");
		strcpy(rn.new_name, "abi-m");
		expect("rename: ABI 1.0's _IOW value still accepted",
		       xioctl(IOF_IOC_INSTANCE_RENAME_OLD, &rn), 0);
		expect("rename: _IOR refused",
		       xioctl(_IOR(IOF_IOCTL_MAGIC, IOF_INSTANCE_RENAME_CMD,
				   struct iof_instance_rename), &rn), -ENOTTY);
		expect("get: _IOW refused (only REMOVE and RENAME have an old value)",
		       xioctl(_IOW(IOF_IOCTL_MAGIC, IOF_INSTANCE_GET_CMD,
				   struct iof_instance_get), &g), -ENOTTY);

		INIT(st);
		strcpy(st.volume, vol);
		st.reset = 2;
		expect("stats: reset above 1", xioctl(IOF_IOC_STATS, &st), -EINVAL);
		INIT(st);
		strcpy(st.volume, vol);
		st.vol.passed = 1;
		expect("stats: output field set", xioctl(IOF_IOC_STATS, &st), -EINVAL);
		INIT(st);
		strcpy(st.volume, vol);
		st.nr_rules = IOF_MAX_RULES + 1;
		expect("stats: too many rules", xioctl(IOF_IOC_STATS, &st), -E2BIG);

		INIT(tg);
		strcpy(tg.volume, vol);
		tg.rule_size = sizeof(struct iof_rule);
		tg.expected_generation = 1;
		expect("table get: input field of a load set", xioctl(IOF_IOC_TABLE_GET, &tg), -EINVAL);
		INIT(tg);
		strcpy(tg.volume, vol);
		tg.rule_size = sizeof(struct iof_rule);
		tg.hdr.flags = IOF_HDR_DRY_RUN;
		expect("table get: dry-run flag refused", xioctl(IOF_IOC_TABLE_GET, &tg), -EINVAL);

		INIT(v);
		v.nr_volumes = 1;
		expect("version: output field set", xioctl(IOF_IOC_VERSION, &v), -EINVAL);
		INIT(l);
		strcpy(l.volume, vol);
		expect("list types: volume given", xioctl(IOF_IOC_LIST_TYPES, &l), -EINVAL);

		INIT(rm);
		strcpy(rm.volume, vol);
		strcpy(rm.name, "no-such");
		expect("remove: unknown instance", xioctl(IOF_IOC_INSTANCE_REMOVE, &rm), -ENOENT);
		INIT(c);
		strcpy(c.volume, vol);
		strcpy(c.name, "abi-r");
		strcpy(c.type, "count");
		expect("create: a second count instance", xioctl(IOF_IOC_INSTANCE_CREATE, &c), 0);
		INIT(rm);
		strcpy(rm.volume, vol);
		strcpy(rm.name, "abi-r");
		expect("remove: _IOR refused",
		       xioctl(_IOR(IOF_IOCTL_MAGIC, IOF_INSTANCE_REMOVE_CMD,
				   struct iof_instance_remove), &rm), -ENOTTY);
		expect("remove: ABI 1.0's _IOW value still accepted",
		       xioctl(IOF_IOC_INSTANCE_REMOVE_OLD, &rm), 0);
		INIT(rm);
		strcpy(rm.volume, vol);
		strcpy(rm.name, "abi-m");
		expect("remove: the count instance (the _IOWR value)",
		       xioctl(IOF_IOC_INSTANCE_REMOVE, &rm), 0);
	}
	expect("unknown command number past the table",
	       xioctl(_IOWR(IOF_IOCTL_MAGIC, 0xff, struct iof_version), &v), -ENOTTY);

	/* unprivileged callers */
	pid = fork();
	if (pid == 0) {
		int bad = 0;

		if (setgid(65534) || setuid(65534))
			_exit(3);
		fd = open("/dev/iofilter", O_RDWR);
		if (fd >= 0 || errno != EACCES)
			bad |= 1;
		/* the fd opened as root, used without CAP_SYS_ADMIN */
		INIT(l);
		l.buf = (uintptr_t)buf;
		l.buf_len = sizeof(buf);
		if (ioctl(ctl_fd, IOF_IOC_LIST_TYPES, &l) == 0 || errno != EPERM)
			bad |= 2;
		INIT(v);
		if (ioctl(ctl_fd, IOF_IOC_VERSION, &v))
			bad |= 4;
		_exit(bad);
	}
	waitpid(pid, &rc, 0);
	expect("unprivileged: open refused, admin ioctls EPERM, version ok",
	       WIFEXITED(rc) && WEXITSTATUS(rc) == 0 ? 0 : -WEXITSTATUS(rc), 0);

	printf("# %d cases, %d failed\n", nr_case, nr_fail);
	if (nr_case != ABI_CASES) {
		printf("# %d cases ran, the plan (ABI_CASES) says %d\n", nr_case,
		       ABI_CASES);
		return 1;
	}
	return nr_fail ? 1 : 0;
}

static void hexdump(const char *tag, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	printf("%s ", tag);
	for (i = 0; i < n; i++)
		printf("%02x", b[i]);
	printf("\n");
}

/* The live table as the kernel returns it, byte for byte. */
static int cmd_table(int argc, char **argv)
{
	static struct iof_rule rules[IOF_MAX_RULES];
	struct iof_table t;
	unsigned int i;
	int r;

	if (argc != 1)
		die("%s", "table VOLUME");
	INIT(t);
	snprintf(t.volume, sizeof(t.volume), "%s", argv[0]);
	t.rules = (uintptr_t)rules;
	t.nr_rules = IOF_MAX_RULES;
	t.rule_size = sizeof(struct iof_rule);
	r = xioctl(IOF_IOC_TABLE_GET, &t);
	if (r) {
		fprintf(stderr, "table: %s\n", strerror(-r));
		return 1;
	}
	printf("generation %llu\nrules %u\n", (unsigned long long)t.generation, t.nr_rules);
	hexdump("default", &t.default_rule, sizeof(t.default_rule));
	for (i = 0; i < t.nr_rules && i < IOF_MAX_RULES; i++)
		hexdump("rule", &rules[i], sizeof(rules[i]));
	return 0;
}

/* Every instance: name type id class users params_len flags, params hex. */
static int cmd_instances(int argc, char **argv)
{
	static struct iof_instance_info info[IOF_MAX_INSTANCES];
	static char params[IOF_MAX_PARAMS_LEN];
	struct iof_list l;
	unsigned int i;
	int r;

	if (argc != 1)
		die("%s", "instances VOLUME");
	INIT(l);
	snprintf(l.volume, sizeof(l.volume), "%s", argv[0]);
	l.buf = (uintptr_t)info;
	l.buf_len = sizeof(info);
	r = xioctl(IOF_IOC_LIST_INSTANCES, &l);
	if (r) {
		fprintf(stderr, "instances: %s\n", strerror(-r));
		return 1;
	}
	for (i = 0; i < l.count && i < IOF_MAX_INSTANCES; i++) {
		struct iof_instance_get g;

		INIT(g);
		snprintf(g.volume, sizeof(g.volume), "%s", argv[0]);
		memcpy(g.name, info[i].name, sizeof(g.name));
		g.params = (uintptr_t)params;
		g.params_len = sizeof(params);
		r = xioctl(IOF_IOC_INSTANCE_GET, &g);
		if (r) {
			fprintf(stderr, "instance %.63s: %s\n", info[i].name, strerror(-r));
			return 1;
		}
		printf("%.63s %.63s id=%u class=%u users=%u params_len=%u flags=0x%x\n",
		       info[i].name, info[i].type, info[i].id, info[i].class,
		       info[i].users, info[i].params_len, info[i].flags);
		hexdump("params", params, g.params_len < sizeof(params) ? g.params_len : 0);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		die("%s", "usage: iof-abi abi|create|remove|load|stats|status|msg|swap|pace|table|instances ...");
	if (!strcmp(argv[1], "abi"))
		return cmd_abi(argc - 2, argv + 2);
	if (!strcmp(argv[1], "create"))
		return cmd_create(argc - 2, argv + 2);
	if (!strcmp(argv[1], "remove"))
		return cmd_remove(argc - 2, argv + 2);
	if (!strcmp(argv[1], "load"))
		return cmd_load(argc - 2, argv + 2);
	if (!strcmp(argv[1], "stats"))
		return cmd_stats(argc - 2, argv + 2);
	if (!strcmp(argv[1], "status"))
		return cmd_status(argc - 2, argv + 2);
	if (!strcmp(argv[1], "msg"))
		return cmd_msg(argc - 2, argv + 2);
	if (!strcmp(argv[1], "swap"))
		return cmd_swap(argc - 2, argv + 2);
	if (!strcmp(argv[1], "pace"))
		return cmd_pace(argc - 2, argv + 2);
	if (!strcmp(argv[1], "table"))
		return cmd_table(argc - 2, argv + 2);
	if (!strcmp(argv[1], "instances"))
		return cmd_instances(argc - 2, argv + 2);
	die("unknown command %s", argv[1]);
	return 2;
}
