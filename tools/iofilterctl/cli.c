// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl command line: global options, then a verb from the action
 * table (verb, handler, argument counts, allowed options, usage).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "output.h"
#include "util.h"

enum {
	O_DRY_RUN = 1 << 0,
	O_FORCE = 1 << 1,
	O_YES = 1 << 2,
	O_WATCH = 1 << 3,
	O_COUNT = 1 << 4,
	O_RESET = 1 << 5,
	O_STRICT = 1 << 6,
};

struct action {
	const char *verb;
	int (*fn)(struct cmd *c);
	int min_args, max_args;	/* max -1: any number */
	unsigned opts;
	const char *args;
	const char *summary;
	const char *details;
};

static int cmd_help(struct cmd *c);

static const struct action actions[] = {
	{ "apply", cmd_apply, 1, 1, O_DRY_RUN | O_FORCE, "FILE [--dry-run] [--force]",
	  "validate a policy and make the kernel match it",
	  "  --dry-run   show the changes (+ add, - remove, ~ change) and change nothing\n"
	  "  --force     allow changes that make data unreadable (crypt key/cipher)\n" },
	{ "validate", cmd_validate, 1, 1, O_STRICT, "FILE [--strict]",
	  "check a policy file without the kernel",
	  "  --strict    devices, images and key files must exist (as for apply)\n" },
	{ "status", cmd_status, 0, 1, 0, "[VOLUME]",
	  "show volumes, their origin and filter instances", NULL },
	{ "stats", cmd_stats, 0, 1, O_WATCH | O_COUNT | O_RESET,
	  "[VOLUME] [--watch SECONDS [--count N]] [--reset]",
	  "show volume and per-rule counters",
	  "  --watch S   print rates every S seconds until interrupted\n"
	  "  --count N   with --watch: stop after N reports\n"
	  "  --reset     zero the counters after reading them\n" },
	{ "filters", cmd_filters, 0, 0, 0, "", "list the filter types the kernel has", NULL },
	{ "detach", cmd_detach, 1, 1, O_YES, "VOLUME [--yes]",
	  "flush filters holding data, then remove the volume's dm device",
	  "  -y, --yes   do not ask for confirmation\n" },
	{ "message", cmd_message, 3, -1, 0, "VOLUME INSTANCE WORDS...",
	  "send a message to a filter instance", NULL },
	{ "flush", cmd_flush, 1, 1, 0, "VOLUME", "send \"flush\" to the cache and replicate filters",
	  NULL },
	{ "resync", cmd_resync, 1, 1, 0, "VOLUME", "send \"resync\" to the replicate filters", NULL },
	{ "apply-all", cmd_apply_all, 1, 1, O_DRY_RUN, "DIR [--dry-run]",
	  "apply every DIR/*.yaml in name order (boot activation)",
	  "  --dry-run   show the changes and change nothing\n" },
	{ "detach-all", cmd_detach_all, 1, 1, 0, "DIR",
	  "detach every volume DIR/*.yaml names, flushing first (shutdown)", NULL },
	{ "version", cmd_version, 0, 0, 0, "", "show the tool's and the kernel module's versions",
	  NULL },
	{ "help", cmd_help, 0, 1, 0, "[VERB]", "show help for a verb", NULL },
};

static const struct option long_opts[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "noheadings", no_argument, NULL, 'H' },
	{ "dry-run", no_argument, NULL, 'n' },
	{ "force", no_argument, NULL, 'f' },
	{ "yes", no_argument, NULL, 'y' },
	{ "watch", required_argument, NULL, 'w' },
	{ "count", required_argument, NULL, 'c' },
	{ "reset", no_argument, NULL, 'r' },
	{ "strict", no_argument, NULL, 's' },
	{ "version", no_argument, NULL, 'V' },
	{ "noudevsync", no_argument, NULL, 'U' },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *fp)
{
	size_t i;

	fprintf(fp, "Usage: iofilterctl [-o text|json] [-q] [-v] VERB [ARGS]\n\nVerbs:\n");
	for (i = 0; i < ARRAY_SIZE(actions); i++)
		fprintf(fp, "  %s%s%s\n        %s\n", actions[i].verb, *actions[i].args ? " " : "",
			actions[i].args, actions[i].summary);
	fprintf(fp, "\nOptions:\n"
		"  -o, --output text|json  output format (default text)\n"
		"  -q, --quiet             print errors only\n"
		"  -v, --verbose           say what is done (twice: libdevmapper too)\n"
		"      --noheadings        no column headings in tables\n"
		"      --noudevsync        do not wait for udev; make the device nodes here\n"
		"                          (also with DM_DISABLE_UDEV=1 in the environment)\n"
		"  -h, --help              help (after a verb: help for the verb)\n"
		"Options that skip a safety check (--force, --yes) must be written in full.\n"
		"\nExit codes: 0 ok, 1 invalid input, 2 permission denied, 3 out of memory,\n"
		"4 no such device/volume/module, 5 busy/exists, 6 kernel refused, 7 partially applied.\n"
		"See iofilterctl(8).\n");
}

static void verb_usage(const struct action *a, FILE *fp)
{
	fprintf(fp, "Usage: iofilterctl %s %s\n%s.\n", a->verb, a->args, a->summary);
	if (a->details)
		fprintf(fp, "\nOptions:\n%s", a->details);
	fprintf(fp, "\nGlobal options: -o text|json, -q, -v; see iofilterctl --help.\n");
}

static const struct action *find_action(const char *verb)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(actions); i++)
		if (!strcmp(actions[i].verb, verb))
			return &actions[i];
	return NULL;
}

static int cmd_help(struct cmd *c)
{
	const struct action *a;

	if (!c->argc) {
		usage(out_fp);
		return EXIT_OK;
	}
	a = find_action(c->argv[0]);
	if (!a)
		return report_error(EXIT_INVALID, NULL, 0, "unknown verb \"%s\"", c->argv[0]);
	verb_usage(a, out_fp);
	return EXIT_OK;
}

static const char *opt_name(unsigned bit)
{
	switch (bit) {
	case O_DRY_RUN:
		return "--dry-run";
	case O_FORCE:
		return "--force";
	case O_YES:
		return "--yes";
	case O_WATCH:
		return "--watch";
	case O_COUNT:
		return "--count";
	case O_RESET:
		return "--reset";
	default:
		return "--strict";
	}
}

static int usage_error(const struct action *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Report a command line error (in the JSON document too) and return 1. */
static int usage_error(const struct action *a, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (a && ofmt == OFMT_TEXT)
		fprintf(err_fp, "Usage: iofilterctl %s %s\n", a->verb, a->args);
	report_error(EXIT_INVALID, NULL, 0, "%s", msg);
	free(msg);
	show_errors_only();
	return EXIT_INVALID;
}

/*
 * getopt_long takes any unambiguous prefix ("--fo" for "--force").  Options
 * that skip a safety check must be written in full: a typo must not destroy
 * data.  @arg is the argument getopt_long just consumed.
 */
static const char *const full_name_only[] = { "force", "yes" };

static const char *abbreviated(const char *arg)
{
	size_t i, n;

	if (strncmp(arg, "--", 2))
		return NULL;	/* -y: a short option, deliberate */
	arg += 2;
	n = strcspn(arg, "=");
	for (i = 0; i < ARRAY_SIZE(full_name_only); i++)
		if (n < strlen(full_name_only[i]) && !strncmp(arg, full_name_only[i], n))
			return full_name_only[i];
	return NULL;
}

/* What the option loop gathers besides struct cmd. */
struct parsed {
	char **rest;	/* the verb and its arguments, in order */
	int nrest;
	unsigned int used;	/* O_* bits of the verb options given */
	bool help, version;
};

/* -o FORMAT into ofmt; -1, or the exit code of a usage error. */
static int take_output_format(const char *arg)
{
	if (!strcmp(arg, "json"))
		ofmt = OFMT_JSON;
	else if (!strcmp(arg, "text"))
		ofmt = OFMT_TEXT;
	else
		return usage_error(NULL, "unknown output format \"%s\" (text or json)", arg);
	return -1;
}

/* --watch SECONDS into c->watch; -1, or the exit code of a usage error. */
static int take_watch(struct cmd *c, const char *arg)
{
	char *end;

	errno = 0;
	c->watch = strtod(arg, &end);
	if (errno || *end || end == arg || !(c->watch >= 0.1 && c->watch <= 86400))
		return usage_error(NULL, "--watch needs a number of seconds (0.1 to 86400), not \"%s\"",
				   arg);
	return -1;
}

/* --count N into c->count; -1, or the exit code of a usage error. */
static int take_count(struct cmd *c, const char *arg)
{
	char *end;

	errno = 0;
	c->count = strtol(arg, &end, 10);
	if (errno || *end || end == arg || c->count < 1)
		return usage_error(NULL, "--count needs a positive number, not \"%s\"", arg);
	return -1;
}

/* One result of getopt_long into c and p; -1, or the exit code of a usage error. */
static int take_option(int opt, char **argv, struct cmd *c, struct parsed *p)
{
	unsigned int bit = 0;
	int code = -1;

	if ((opt == 'f' || opt == 'y') && abbreviated(argv[optind - 1]))
		return usage_error(NULL, "%s: write --%s in full; it skips a safety check",
				   argv[optind - 1], abbreviated(argv[optind - 1]));
	switch (opt) {
	case 1:
		p->rest[p->nrest++] = optarg;
		break;
	case 'o':
		code = take_output_format(optarg);
		break;
	case 'q':
		verbosity = -1;
		break;
	case 'v':
		verbosity = verbosity < 0 ? 1 : verbosity + 1;
		break;
	case 'h':
		p->help = true;
		break;
	case 'H':
		noheadings = true;
		break;
	case 'V':
		p->version = true;
		break;
	case 'U':
		udev_sync = false;
		break;
	case 'n':
		bit = O_DRY_RUN;
		c->dry_run = true;
		break;
	case 'f':
		bit = O_FORCE;
		c->force = true;
		break;
	case 'y':
		bit = O_YES;
		c->yes = true;
		break;
	case 'r':
		bit = O_RESET;
		c->reset = true;
		break;
	case 's':
		bit = O_STRICT;
		c->strict = true;
		break;
	case 'w':
		bit = O_WATCH;
		code = take_watch(c, optarg);
		break;
	case 'c':
		bit = O_COUNT;
		code = take_count(c, optarg);
		break;
	case ':':
		return usage_error(NULL, "option %s needs an argument", argv[optind - 1]);
	default:
		if (optopt)
			return usage_error(NULL, "unknown option -%c", optopt);
		return usage_error(NULL, "unknown option %s", argv[optind - 1]);
	}
	p->used |= bit;
	return code;
}

/* Verb options a does not take, or that conflict; -1, or the exit code of a usage error. */
static int check_verb_options(const struct action *a, unsigned int used)
{
	unsigned int bit;

	for (bit = 1; bit <= O_STRICT; bit <<= 1)
		if ((used & bit) && !(a->opts & bit))
			return usage_error(a, "%s: option %s does not apply", a->verb, opt_name(bit));
	if ((used & O_COUNT) && !(used & O_WATCH))
		return usage_error(a, "stats: --count needs --watch");
	if ((used & O_WATCH) && (used & O_RESET))
		return usage_error(a, "stats: --watch and --reset do not go together");
	return -1;
}

static int parse_and_run(int argc, char **argv)
{
	const struct action *a = NULL;
	struct parsed p = { .rest = xcalloc((size_t)argc + 1, sizeof(*p.rest)) };
	int opt, code, i;
	struct cmd c;

	memset(&c, 0, sizeof(c));
	optind = 0;	/* a full reset of getopt: iofctl_main may run again (tests) */
	opterr = 0;
	/* "-": options may come anywhere; non-options arrive as 1, in order. */
	while ((opt = getopt_long(argc, argv, "-:o:qvhyV", long_opts, NULL)) != -1) {
		code = take_option(opt, argv, &c, &p);
		if (code >= 0)
			goto out;
	}
	/* After "--": arguments only. */
	for (i = optind; i < argc; i++)
		p.rest[p.nrest++] = argv[i];

	if (p.version && !p.nrest) {
		code = cmd_version(&c);
		goto out;
	}
	if (!p.nrest) {
		usage(p.help ? out_fp : err_fp);
		code = p.help ? EXIT_OK : EXIT_INVALID;
		goto out;
	}
	a = find_action(p.rest[0]);
	if (!a) {
		code = usage_error(NULL, "unknown verb \"%s\"; see iofilterctl --help", p.rest[0]);
		goto out;
	}
	if (p.help) {
		verb_usage(a, out_fp);
		code = EXIT_OK;
		goto out;
	}
	code = check_verb_options(a, p.used);
	if (code >= 0)
		goto out;
	c.argc = p.nrest - 1;
	c.argv = p.rest + 1;
	if (c.argc < a->min_args || (a->max_args >= 0 && c.argc > a->max_args)) {
		code = usage_error(a, "%s: wrong number of arguments", a->verb);
		goto out;
	}
	code = a->fn(&c);
out:
	free(p.rest);
	return code;
}

int iofctl_main(int argc, char **argv)
{
	int code;

	ofmt = OFMT_TEXT;
	verbosity = 0;
	noheadings = false;
	/*
	 * libdevmapper's own switch, set at all (as dmsetup and lvm read it):
	 * no udev, the library makes the nodes.
	 */
	udev_sync = !getenv("DM_DISABLE_UDEV");
	report_reset();
	if (!out_fp)
		out_fp = stdout;
	if (!err_fp)
		err_fp = stderr;
	code = parse_and_run(argc, argv);
	report_reset();
	fflush(out_fp);
	fflush(err_fp);
	return code;
}
