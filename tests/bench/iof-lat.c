// SPDX-License-Identifier: GPL-2.0
/*
 * iof-lat: per-I/O latency percentiles at queue depth 1, with data checks.
 *
 *   iof-lat [options] DEVICE
 *     --rw randread|randwrite|randrw   (default randread; randrw is 50/50)
 *     --bs SIZE          block size, a multiple of 512 (default 4k)
 *     --size SIZE        region from offset 0 (default: the whole device,
 *                        at most 256M)
 *     --seconds N        timed phase length (default 5)
 *     --ios N            stop after N timed I/Os (default: no limit)
 *     --no-verify        do not fill and check data (devices that store
 *                        nothing, like null_blk without memory_backed)
 *     --seed N           random seed (default 1)
 *
 * With verification (the default) it first writes a pattern to every block
 * of the region, then runs the timed phase: one io_uring request at a
 * time (O_DIRECT), its latency taken from before the submission to the
 * completion.  Every block read is compared with what was last written to
 * it; after the timed phase every block is read back and checked once more.
 * A block's pattern depends on its number and a per-block generation that
 * each timed write increments, so a stale block (an old write read back)
 * is caught as well as a misplaced or garbled one.
 *
 * Output, one line of key=value pairs:
 *   iof-lat: rw=randread bs=4096 ios=N seconds=S iops=X p50_us=...
 *            p90_us=... p99_us=... p999_us=... max_us=... verified=N errors=0
 * Exit status: 0 ok, 1 a data mismatch or an I/O error, 2 bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <liburing.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

#define MAX_SAMPLES	(16u << 20)
#define DEFAULT_MAX	(256ull << 20)

enum rw { RW_READ, RW_WRITE, RW_MIXED };

static struct io_uring ring;
static int fd = -1;
static const char *dev;
static uint32_t bs = 4096;
static uint64_t nblocks;
static uint32_t *gen;		/* per block: generation last written */
static unsigned char *buf, *want;
static unsigned long long errors, verified;
static uint64_t rng_state = 1;

static void usage(void)
{
	fprintf(stderr,
		"usage: iof-lat [--rw randread|randwrite|randrw] [--bs SIZE] [--size SIZE]\n"
		"               [--seconds N] [--ios N] [--no-verify] [--seed N] DEVICE\n");
	exit(2);
}

static uint64_t parse_size(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		usage();
	switch (*end) {
	case 'k':
	case 'K':
		v <<= 10;
		end++;
		break;
	case 'm':
	case 'M':
		v <<= 20;
		end++;
		break;
	case 'g':
	case 'G':
		v <<= 30;
		end++;
		break;
	}
	if (*end == 'i' || *end == 'B')
		end += *end == 'i' ? (end[1] == 'B' ? 2 : 1) : 1;
	if (*end)
		usage();
	return v;
}

static uint64_t next_rand(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* The content of block @blk at generation @g. */
static void pattern(unsigned char *p, uint64_t blk, uint32_t g)
{
	uint64_t x = (blk + 1) * 0x9E3779B97F4A7C15ull ^ ((uint64_t)g << 32 | g);
	uint32_t i;

	for (i = 0; i < bs; i += 16) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		memcpy(p + i, &blk, 8);	/* each 16 bytes: block number, noise */
		memcpy(p + i + 8, &x, 8);
	}
	memcpy(p + 8, &g, 4);
}

/* One request at QD1; returns the latency in ns, or 0 on error. */
static uint64_t do_io(int write, uint64_t blk)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	uint64_t t0, t1;
	int r, res;

	t0 = now_ns();
	sqe = io_uring_get_sqe(&ring);
	if (write)
		io_uring_prep_write(sqe, fd, buf, bs, blk * bs);
	else
		io_uring_prep_read(sqe, fd, buf, bs, blk * bs);
	r = io_uring_submit_and_wait(&ring, 1);
	if (r < 0) {
		fprintf(stderr, "iof-lat: io_uring submit: %s\n", strerror(-r));
		exit(1);
	}
	r = io_uring_wait_cqe(&ring, &cqe);
	if (r < 0) {
		fprintf(stderr, "iof-lat: io_uring wait: %s\n", strerror(-r));
		exit(1);
	}
	res = cqe->res;
	io_uring_cqe_seen(&ring, cqe);
	t1 = now_ns();
	if (res != (int)bs) {
		fprintf(stderr, "iof-lat: %s of block %" PRIu64 " (offset %" PRIu64 "): %s\n",
			write ? "write" : "read", blk, blk * bs,
			res < 0 ? strerror(-res) : "short transfer");
		errors++;
		return 0;
	}
	return t1 - t0 ? t1 - t0 : 1;
}

static void check_block(uint64_t blk)
{
	pattern(want, blk, gen[blk]);
	verified++;
	if (memcmp(buf, want, bs)) {
		uint64_t got_blk;
		uint32_t got_gen;

		memcpy(&got_blk, buf, 8);
		memcpy(&got_gen, buf + 8, 4);
		if (errors < 10)
			fprintf(stderr, "iof-lat: data mismatch at block %" PRIu64
				" (offset %" PRIu64 "): want generation %u, found block %"
				PRIu64 " generation %u\n", blk, blk * bs, gen[blk],
				got_blk, got_gen);
		errors++;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct(const uint64_t *s, size_t n, double p)
{
	size_t i;

	if (!n)
		return 0;
	i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return s[i] / 1000.0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rw", required_argument, NULL, 'r' },
		{ "bs", required_argument, NULL, 'b' },
		{ "size", required_argument, NULL, 's' },
		{ "seconds", required_argument, NULL, 't' },
		{ "ios", required_argument, NULL, 'n' },
		{ "no-verify", no_argument, NULL, 'V' },
		{ "seed", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *rwname = "randread";
	enum rw rw = RW_READ;
	uint64_t size = 0, devsize, max_ios = 0, blk, t_start, t_end, lat;
	uint64_t *samples, chunk;
	unsigned char *big;
	size_t nsamples = 0;
	double seconds = 5, elapsed;
	int verify = 1, c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			rwname = optarg;
			if (!strcmp(optarg, "randread"))
				rw = RW_READ;
			else if (!strcmp(optarg, "randwrite"))
				rw = RW_WRITE;
			else if (!strcmp(optarg, "randrw"))
				rw = RW_MIXED;
			else
				usage();
			break;
		case 'b':
			bs = (uint32_t)parse_size(optarg);
			break;
		case 's':
			size = parse_size(optarg);
			break;
		case 't':
			seconds = atof(optarg);
			break;
		case 'n':
			max_ios = parse_size(optarg);
			break;
		case 'V':
			verify = 0;
			break;
		case 'S':
			rng_state = parse_size(optarg) | 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1 || !bs || bs % 512 || bs > (64u << 20) || seconds <= 0)
		usage();
	dev = argv[optind];

	fd = open(dev, (rw == RW_READ && !verify ? O_RDONLY : O_RDWR) | O_DIRECT);
	if (fd < 0) {
		fprintf(stderr, "iof-lat: open %s: %s\n", dev, strerror(errno));
		return 1;
	}
	if (ioctl(fd, BLKGETSIZE64, &devsize)) {
		struct stat st;

		if (fstat(fd, &st)) {
			fprintf(stderr, "iof-lat: %s: %s\n", dev, strerror(errno));
			return 1;
		}
		devsize = st.st_size;
	}
	if (!size)
		size = devsize < DEFAULT_MAX ? devsize : DEFAULT_MAX;
	if (size > devsize) {
		fprintf(stderr, "iof-lat: --size %" PRIu64 " is beyond %s (%" PRIu64 " bytes)\n",
			size, dev, devsize);
		return 2;
	}
	nblocks = size / bs;
	if (!nblocks) {
		fprintf(stderr, "iof-lat: region smaller than one block\n");
		return 2;
	}
	chunk = bs >= (1u << 20) ? 1 : (1u << 20) / bs;
	gen = calloc(nblocks, sizeof(*gen));
	samples = malloc(MAX_SAMPLES * sizeof(*samples));
	if (!gen || !samples || posix_memalign((void **)&buf, 4096, bs) ||
	    posix_memalign((void **)&want, 4096, bs) ||
	    posix_memalign((void **)&big, 4096, (size_t)chunk * bs)) {
		fprintf(stderr, "iof-lat: out of memory\n");
		return 1;
	}
	r = io_uring_queue_init(4, &ring, 0);
	if (r) {
		fprintf(stderr, "iof-lat: io_uring_queue_init: %s\n", strerror(-r));
		return 1;
	}

	/* Fill: every block at generation 1, in chunks of up to 1 MiB. */
	if (verify) {
		for (blk = 0; blk < nblocks; blk += chunk) {
			uint64_t i, n = nblocks - blk < chunk ? nblocks - blk : chunk;

			for (i = 0; i < n; i++) {
				gen[blk + i] = 1;
				pattern(big + i * bs, blk + i, 1);
			}
			if (pwrite(fd, big, n * bs, blk * bs) != (ssize_t)(n * bs)) {
				fprintf(stderr, "iof-lat: fill at offset %" PRIu64 ": %s\n",
					blk * bs, strerror(errno));
				return 1;
			}
		}
		if (fsync(fd)) {
			fprintf(stderr, "iof-lat: fsync: %s\n", strerror(errno));
			return 1;
		}
	}

	t_start = now_ns();
	t_end = t_start + (uint64_t)(seconds * 1e9);
	for (;;) {
		int write;

		if (max_ios && nsamples >= max_ios)
			break;
		if (nsamples >= MAX_SAMPLES || now_ns() >= t_end)
			break;
		blk = next_rand() % nblocks;
		write = rw == RW_WRITE || (rw == RW_MIXED && (next_rand() & 1));
		if (write && verify) {
			gen[blk]++;
			pattern(buf, blk, gen[blk]);
		}
		lat = do_io(write, blk);
		if (!lat)
			break;
		samples[nsamples++] = lat;
		if (!write && verify)
			check_block(blk);
		if (errors >= 10)
			break;
	}
	elapsed = (now_ns() - t_start) / 1e9;

	/* Read everything back once more, in chunks of up to 1 MiB. */
	if (verify && !errors) {
		unsigned char *keep = buf;

		for (blk = 0; blk < nblocks && errors < 10; blk += chunk) {
			uint64_t i, n = nblocks - blk < chunk ? nblocks - blk : chunk;

			if (pread(fd, big, n * bs, blk * bs) != (ssize_t)(n * bs)) {
				fprintf(stderr, "iof-lat: read back at offset %" PRIu64 ": %s\n",
					blk * bs, strerror(errno));
				errors++;
				break;
			}
			for (i = 0; i < n; i++) {
				buf = big + i * bs;
				check_block(blk + i);
			}
		}
		buf = keep;
	}

	qsort(samples, nsamples, sizeof(*samples), cmp_u64);
	printf("iof-lat: rw=%s bs=%u ios=%zu seconds=%.2f iops=%.0f p50_us=%.1f "
	       "p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f verified=%llu errors=%llu\n",
	       rwname, bs, nsamples, elapsed, nsamples / (elapsed > 0 ? elapsed : 1),
	       pct(samples, nsamples, 50), pct(samples, nsamples, 90),
	       pct(samples, nsamples, 99), pct(samples, nsamples, 99.9),
	       nsamples ? samples[nsamples - 1] / 1000.0 : 0.0,
	       verify ? verified : 0, errors);
	io_uring_queue_exit(&ring);
	close(fd);
	free(samples);
	free(gen);
	free(buf);
	free(want);
	free(big);
	return errors ? 1 : 0;
}
