// SPDX-License-Identifier: GPL-2.0
/*
 * iof-replay: read and replay a dm-log-writes log (the crash-point replay
 * tests, tests/lib/crash.sh).
 *
 *   iof-replay list LOG               every entry: index, sector, sectors,
 *                                     flags, mark name
 *   iof-replay marks LOG              "NAME POINT" per mark
 *   iof-replay points LOG -s SEED -c COUNT [-p PREFIX] [-e]
 *                                     crash points, sorted: every mark whose
 *                                     name starts with PREFIX (default
 *                                     "iof-") and random points between,
 *                                     COUNT in all: "POINT LAST_MARK" with
 *                                     LAST_MARK the number after PREFIX of
 *                                     the last such mark inside the prefix
 *                                     (-1: none); -e: the end of the log
 *                                     (the state a clean shutdown left) is
 *                                     always one of them
 *   iof-replay replay LOG DEV [-f FROM] [-t TO] [-z] [-c COPY]
 *                                     write entries FROM..TO-1 to DEV (-z:
 *                                     zero DEV first); -c: then copy all of
 *                                     DEV to COPY
 *   iof-replay durable LOG DEV [-z]   what a device with a volatile cache
 *                                     keeps when it loses power at the end
 *                                     of the log: every entry up to its last
 *                                     FLUSH, and FUA writes after it
 *
 * A POINT is a number of entries: replaying to point P applies entries 0 to
 * P-1, the state of the disks when the power went at that place of the log.
 * dm-log-writes logs a write when a flush that follows its completion
 * completes (a FUA write when it completes), so any point is a state the
 * disks could have been left in.  Discards are replayed as zeroes.
 *
 * The log format: logwrites.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logwrites.h"

void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "iof-replay: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

static void flagstr(uint64_t f, char *out)
{
	sprintf(out, "%s%s%s%s%s", f & LOG_FLUSH_FLAG ? "FLUSH|" : "",
		f & LOG_FUA_FLAG ? "FUA|" : "", f & LOG_DISCARD_FLAG ? "DISCARD|" : "",
		f & LOG_MARK_FLAG ? "MARK|" : "", f & LOG_METADATA_FLAG ? "META|" : "");
	if (*out)
		out[strlen(out) - 1] = 0;
	else
		out[0] = '-', out[1] = 0;
}

static int cmd_list(void)
{
	char fl[64];
	uint64_t i;

	printf("# sectorsize %u entries %" PRIu64 "\n", lw_ssize, lw_nentries);
	for (i = 0; i < lw_nentries; i++) {
		flagstr(lw_ents[i].flags, fl);
		printf("%" PRIu64 " %" PRIu64 " %" PRIu64 " %s%s%s\n", i,
		       lw_ents[i].sector, lw_ents[i].nr, fl, lw_ents[i].mark ? " " : "",
		       lw_ents[i].mark ? lw_ents[i].mark : "");
	}
	return 0;
}

static int cmd_marks(void)
{
	uint64_t i;

	for (i = 0; i < lw_nentries; i++)
		if (lw_ents[i].mark)
			printf("%s %" PRIu64 "\n", lw_ents[i].mark, i + 1);
	return 0;
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* the mark number of entry i if it is one of ours, else -1 */
static long our_mark(uint64_t i, const char *prefix)
{
	size_t pl = strlen(prefix);
	char *end;
	long n;

	if (!lw_ents[i].mark || strncmp(lw_ents[i].mark, prefix, pl))
		return -1;
	n = strtol(lw_ents[i].mark + pl, &end, 10);
	return *end || n < 0 ? -1 : n;
}

static int cmd_points(uint64_t seed, uint64_t count, const char *prefix,
		      int end)
{
	uint64_t *pts, n = 0, nm = 0, i, k;
	long last = -1;
	char *taken;

	if (count > lw_nentries + 1)
		count = lw_nentries + 1;
	pts = calloc(count + 1, sizeof(*pts));
	taken = calloc(lw_nentries + 1, 1);
	if (!pts || !taken)
		die("out of memory");
	for (i = 0; i < lw_nentries; i++)
		nm += our_mark(i, prefix) >= 0;
	if (end && count) {
		pts[n++] = lw_nentries;
		taken[lw_nentries] = 1;
	}
	/* the marks themselves (a random half when they are more than half) */
	for (i = 0; i < lw_nentries && n < count; i++) {
		if (our_mark(i, prefix) < 0)
			continue;
		if (nm * 2 > count && splitmix(&seed) % nm >= count / 2)
			continue;
		if (taken[i + 1])
			continue;
		pts[n++] = i + 1;
		taken[i + 1] = 1;
	}
	/* the rest anywhere in the log (mostly between marks), all different */
	while (n < count) {
		k = splitmix(&seed) % (lw_nentries + 1);
		if (!taken[k]) {
			taken[k] = 1;
			pts[n++] = k;
		}
	}
	qsort(pts, n, sizeof(*pts), cmp_u64);
	for (i = 0, k = 0; k < n; k++) {
		for (; i < pts[k]; i++)
			if (our_mark(i, prefix) >= 0)
				last = our_mark(i, prefix);
		printf("%" PRIu64 " %ld\n", pts[k], last);
	}
	free(taken);
	free(pts);
	return 0;
}

static int cmd_durable(const char *dev, int zero)
{
	uint64_t fua, last = lw_replay_durable(dev, zero, &fua);

	printf("%" PRIu64 " of %" PRIu64 " entries up to the last flush, then %"
	       PRIu64 " FUA writes\n", last, lw_nentries, fua);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: iof-replay list|marks LOG\n"
		"       iof-replay points LOG -s SEED -c COUNT [-p PREFIX] [-e]\n"
		"       iof-replay replay LOG DEV [-f FROM] [-t TO] [-z] [-c COPY]\n"
		"       iof-replay durable LOG DEV [-z]\n");
	exit(2);
}

static uint64_t num(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (!*s || *end || errno)
		die("bad number '%s'", s);
	return v;
}

int main(int argc, char **argv)
{
	const char *cmd, *prefix = "iof-", *copy = NULL, *dev = NULL;
	uint64_t seed = 1, count = 200, from = 0, to = UINT64_MAX;
	int c, zero = 0, end = 0, pos;

	if (argc < 3)
		usage();
	cmd = argv[1];
	lw_open_log(argv[2]);
	pos = 3;
	if (!strcmp(cmd, "replay") || !strcmp(cmd, "durable")) {
		if (argc < 4)
			usage();
		dev = argv[3];
		pos = 4;
	}
	optind = pos;
	while ((c = getopt(argc, argv, "s:c:p:f:t:ze")) != -1) {
		switch (c) {
		case 's':
			seed = num(optarg);
			break;
		case 'c':
			if (!strcmp(cmd, "replay"))
				copy = optarg;
			else
				count = num(optarg);
			break;
		case 'p':
			prefix = optarg;
			break;
		case 'f':
			from = num(optarg);
			break;
		case 't':
			to = num(optarg);
			break;
		case 'z':
			zero = 1;
			break;
		case 'e':
			end = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (!strcmp(cmd, "list"))
		return cmd_list();
	if (!strcmp(cmd, "marks"))
		return cmd_marks();
	if (!strcmp(cmd, "points"))
		return cmd_points(seed, count, prefix, end);
	if (!strcmp(cmd, "replay")) {
		lw_replay(dev, from, to == UINT64_MAX ? lw_nentries : to, zero, copy);
		return 0;
	}
	if (!strcmp(cmd, "durable"))
		return cmd_durable(dev, zero);
	usage();
	return 2;
}
