// SPDX-License-Identifier: GPL-2.0
/*
 * iof-stamp: a write workload whose durable state can be checked after a
 * crash (the crash-point replay tests, tests/lib/crash.sh).
 *
 *   iof-stamp write  -d DEV -S STATE [options]   stamp blocks of a device
 *   iof-stamp fswrite -D DIR -S STATE [options]  the same in files (fsync)
 *   iof-stamp verify  -d DEV -S STATE -m MARK    check a device at mark MARK
 *   iof-stamp fsverify -D DIR -S STATE -m MARK   check the files
 *   iof-stamp serve -S STATE [-l LOG -r REPLAYDEV -c WORKDEV]
 *                                    the crash-point check loop's commands
 *                                    in one process (below)
 *
 * Options of write/fswrite:
 *   -s SEED     random seed (default 1): the run is reproducible from it
 *   -n BLOCKS   4 KiB blocks to use (device mode: default the whole device)
 *   -F FILES    files of -n/FILES blocks each (fswrite; default 16)
 *   -w WRITES   writes after the initial stamping (default 2000)
 *   -j THREADS  writer threads, each owning blocks (files) j mod THREADS
 *   -y PCT      chance that a write is followed by fdatasync (default 5)
 *   -u PCT      chance that a write is O_DSYNC (RWF_DSYNC, a FUA write)
 *   -L LOGDEV   after each durable point run "dmsetup message LOGDEV 0 mark
 *               iof-N" (a dm-log-writes device: the log knows what was
 *               durable there)
 *   -T SECONDS  stop writing after SECONDS (-w stays the upper bound)
 *   -E          a device that fails (the fault tests): a failed write or
 *               fdatasync is counted, not fatal; it acknowledges nothing
 *   -R READERS  device mode: reader threads that read random blocks while
 *               the writers run and check each read (below)
 *
 * Fault runs (-E) end with one more mark, "acked": every block's last
 * acknowledged generation (no crash happened, so every completed write must
 * read back once the fault is gone), except blocks whose last write failed,
 * which a device may leave in any state: those are not checked (counted).
 * The write command prints "acked mark N" for verify -m N.
 *
 * A reader's read of a block that no write overlapped must return an intact
 * stamp of that block no older than the generation acknowledged before the
 * read was issued: anything else (stale, garbage, another block's data) is
 * counted as a wrong read and makes write exit 1.  A read that fails (-E)
 * is counted, not wrong.
 *
 * Every 4 KiB block written holds a stamp: a header (magic, seed, block
 * number, generation) and 4064 bytes generated from the same four values, so
 * a block is either an exact write of this run or reported as garbage, torn
 * or belonging to another block.  Generations are global write numbers
 * (generation 0 is the initial stamping of every block).
 *
 * STATE (a directory) records, for each durable point N (mark iof-N), the
 * generation of every block that was durable there ("mark-N": one little-
 * endian u32 per block), and which block every generation was written to
 * ("writes").  A durable point is an fdatasync (or fsync of the file) that
 * returned, covering every write that completed before it was called, or an
 * O_DSYNC write that returned, covering itself.  "verify -m N" then checks
 * that every block holds a generation written to it that is not older than
 * its durable one at N, and exits 1 listing every block that does not
 * (0: all good, 2: usage or I/O error).  In files a block may also mix
 * such generations sector by sector (a file system with 1 KiB blocks
 * writes a page in pieces).
 * serve: crash_replay (tests/lib/crash.sh) runs every step of a crash
 * point's check but "iofilterctl apply" through one process, because under
 * TCG starting a process costs 0.05-0.3 s and a point took about fifteen.
 * It reads one command per line on stdin and answers with the command's
 * output, then a line "= RC" (0 good, 1 the check failed, 2 an error):
 *   replay FROM TO        log entries FROM..TO-1 onto REPLAYDEV, then all
 *                         of it copied to WORKDEV (iof-replay replay -c)
 *   verify DEV MARK       as "verify -d DEV -m MARK"
 *   cmp A B BYTES         the first BYTES of two block devices are equal
 *   wait VOL INST KEY VALUE SECONDS
 *                         poll the instance's status (0.1 s) until its
 *                         KEY=VALUE field is there
 *   message VOL INST WORDS...   an IOF_IOC_MESSAGE ("flush", ...)
 *   remove NAME           remove a dm device (retried while busy, 10 s) and
 *                         its /dev/mapper node; rc 0 if it is not there
 *   quit
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/dm-ioctl.h>
#include <linux/fs.h>
#include <linux/iofilter.h>

#include "logwrites.h"

#define BLK		4096
#define STAMP_MAGIC	0x504d415453464f49ULL	/* "IOFSTAMP" */

struct stamp_hdr {
	uint64_t magic;
	uint64_t seed;
	uint64_t block;
	uint64_t gen;
};

static struct {
	int fs;			/* fswrite / fsverify */
	const char *dev, *dir, *state, *logdev;
	uint64_t seed;
	uint32_t nblocks, nfiles, fblocks, writes, threads;
	unsigned int sync_pct, fua_pct;
	int fd;			/* device mode */
	int *ffd;		/* fs mode: one fd per file */
} o = { .seed = 1, .nfiles = 16, .writes = 2000, .threads = 1, .sync_pct = 5 };

static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t durable_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t *completed;	/* per block: last generation that completed */
static uint32_t *durable;	/* per block: last durable generation */
static uint32_t *gen_block;	/* per generation: its block */
static uint32_t next_gen = 1, nmarks;
static int failed_io;
static int tolerate;		/* -E */
static uint32_t time_limit, nreaders;
static volatile int writers_done;
static time_t t_end;
static uint32_t *last_failed;	/* per block: last generation that failed */
static uint32_t *wseq;		/* per block: odd while a write is in flight */
static uint64_t failed_writes, failed_syncs, reads, read_errors, read_skipped,
		wrong_reads;

#define GEN_UNKNOWN	UINT32_MAX	/* in a mark: not checked */

static jmp_buf *serving;	/* serve: die() ends the command, not the program */

void die(const char *fmt, ...)
{
	FILE *f = serving ? stdout : stderr;
	va_list ap;

	va_start(ap, fmt);
	fprintf(f, "iof-stamp: ");
	vfprintf(f, fmt, ap);
	fprintf(f, "\n");
	va_end(ap);
	if (serving)
		longjmp(*serving, 1);
	exit(2);
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* the 4 KiB a write of generation GEN puts in BLOCK */
static void make_stamp(void *buf, uint64_t block, uint64_t gen)
{
	struct stamp_hdr *h = buf;
	uint64_t *w = buf, s = o.seed ^ (block * 0x100000001b3ULL) ^ (gen << 32);
	size_t i;

	h->magic = STAMP_MAGIC;
	h->seed = o.seed;
	h->block = block;
	h->gen = gen;
	for (i = sizeof(*h) / 8; i < BLK / 8; i++)
		w[i] = splitmix(&s);
}

static void *xalloc(size_t n)
{
	void *p;

	if (posix_memalign(&p, BLK, n ? n : BLK))
		die("out of memory");
	memset(p, 0, n);
	return p;
}

static char *spath(const char *name)
{
	static __thread char p[4096];

	snprintf(p, sizeof(p), "%s/%s", o.state, name);
	return p;
}

static void save(const char *name, const void *buf, size_t len)
{
	int fd = open(spath(name), O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || write(fd, buf, len) != (ssize_t)len || close(fd))
		die("write %s: %s", spath(name), strerror(errno));
}

static void *load(const char *name, size_t len)
{
	void *buf = xalloc(len);
	int fd = open(spath(name), O_RDONLY);

	if (fd < 0 || read(fd, buf, len) != (ssize_t)len)
		die("read %s: %s", spath(name), fd < 0 ? strerror(errno) : "short");
	close(fd);
	return buf;
}

/* where block B lives: fd and byte offset */
static int block_fd(uint32_t b, off_t *off)
{
	if (!o.fs) {
		*off = (off_t)b * BLK;
		return o.fd;
	}
	*off = (off_t)(b % o.fblocks) * BLK;
	return o.ffd[b / o.fblocks];
}

static void log_mark(uint32_t n)
{
	char name[32];
	pid_t pid;
	int st;

	if (!o.logdev)
		return;
	snprintf(name, sizeof(name), "iof-%u", n);
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (!pid) {
		execlp("dmsetup", "dmsetup", "message", o.logdev, "0", "mark",
		       name, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		die("dmsetup message %s 0 mark %s failed", o.logdev, name);
}

/* record durable point N (caller holds durable_lock) */
static void durable_point(void)
{
	char name[32];

	snprintf(name, sizeof(name), "mark-%u", nmarks);
	save(name, durable, (size_t)o.nblocks * 4);
	log_mark(nmarks);
	nmarks++;
}

/* fdatasync covering blocks [first, first + n): what completed before it */
static void sync_point(int fd, uint32_t first, uint32_t n)
{
	uint32_t *snap = malloc((size_t)n * 4), i;

	if (!snap)
		die("out of memory");
	pthread_mutex_lock(&durable_lock);
	pthread_mutex_lock(&state_lock);
	memcpy(snap, completed + first, (size_t)n * 4);
	pthread_mutex_unlock(&state_lock);
	if (fdatasync(fd)) {
		if (!tolerate)
			die("fdatasync: %s", strerror(errno));
		__atomic_add_fetch(&failed_syncs, 1, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&durable_lock);
		free(snap);
		return;
	}
	for (i = 0; i < n; i++)
		if (snap[i] > durable[first + i])
			durable[first + i] = snap[i];
	durable_point();
	pthread_mutex_unlock(&durable_lock);
	free(snap);
}

static void write_block(uint32_t b, uint32_t gen, void *buf, int fua)
{
	struct iovec iov = { buf, BLK };
	off_t off;
	int fd = block_fd(b, &off);
	ssize_t r;

	make_stamp(buf, b, gen);
	pthread_mutex_lock(&state_lock);
	wseq[b]++;
	pthread_mutex_unlock(&state_lock);
	r = pwritev2(fd, &iov, 1, off, fua ? RWF_DSYNC : 0);
	if (r != BLK && !tolerate)
		die("write block %u gen %u: %s", b, gen,
		    r < 0 ? strerror(errno) : "short write");
	pthread_mutex_lock(&state_lock);
	wseq[b]++;
	if (r != BLK) {
		last_failed[b] = gen;
		failed_writes++;
	} else {
		completed[b] = gen;
	}
	pthread_mutex_unlock(&state_lock);
	if (r != BLK)
		return;
	if (fua) {
		pthread_mutex_lock(&durable_lock);
		if (gen > durable[b])
			durable[b] = gen;
		durable_point();
		pthread_mutex_unlock(&durable_lock);
	}
}

struct worker {
	pthread_t th;
	uint32_t id, nwrites;
	uint64_t rnd;
};

/* units (the device, or files) owned by thread t: unit % threads == t */
static void *worker(void *arg)
{
	struct worker *w = arg;
	void *buf = xalloc(BLK);
	uint32_t units = o.fs ? o.nfiles : o.nblocks, i;

	for (i = 0; i < w->nwrites && !(time_limit && time(NULL) >= t_end); i++) {
		uint32_t mine = (units - w->id + o.threads - 1) / o.threads;
		uint32_t u = w->id + o.threads * (uint32_t)(splitmix(&w->rnd) % mine);
		uint32_t b = o.fs ? u * o.fblocks +
			(uint32_t)(splitmix(&w->rnd) % o.fblocks) : u;
		int fua = splitmix(&w->rnd) % 100 < o.fua_pct;
		int sync = splitmix(&w->rnd) % 100 < o.sync_pct;
		uint32_t gen;

		/*
		 * dm-log-writes logs a plain write at the next flush but a FUA
		 * write at once, so a FUA write over a plain one not yet
		 * flushed would be replayed before it, which no disk does:
		 * flush the plain one first.
		 */
		if (fua && completed[b] > durable[b]) {
			off_t off;

			sync_point(block_fd(b, &off), o.fs ? u * o.fblocks : 0,
				   o.fs ? o.fblocks : o.nblocks);
		}
		pthread_mutex_lock(&state_lock);
		gen = next_gen++;
		gen_block[gen] = b;
		pthread_mutex_unlock(&state_lock);
		write_block(b, gen, buf, fua);
		if (sync) {
			off_t off;
			int fd = block_fd(b, &off);

			if (o.fs)
				sync_point(fd, u * o.fblocks, o.fblocks);
			else
				sync_point(fd, 0, o.nblocks);
		}
	}
	free(buf);
	return NULL;
}

/* a reader (-R): random blocks, each read checked (see the top) */
static void *reader(void *arg)
{
	uint64_t rnd = o.seed * 0xc2b2ae3d27d4eb4fULL + (uintptr_t)arg;
	char *buf = xalloc(BLK), *exp = xalloc(BLK);
	struct stamp_hdr *h = (void *)buf;

	while (!writers_done) {
		uint32_t b = splitmix(&rnd) % o.nblocks, lo, s1, s2, top;
		const char *why = NULL;
		ssize_t r;

		pthread_mutex_lock(&state_lock);
		s1 = wseq[b];
		lo = completed[b];
		pthread_mutex_unlock(&state_lock);
		r = pread(o.fd, buf, BLK, (off_t)b * BLK);
		pthread_mutex_lock(&state_lock);
		s2 = wseq[b];
		top = next_gen;
		reads++;
		if (r != BLK)
			read_errors++;
		else if ((s1 & 1) || s1 != s2)
			read_skipped++;	/* a write overlapped: any of them */
		pthread_mutex_unlock(&state_lock);
		if (r != BLK) {
			if (!tolerate)
				die("read block %u: %s", b,
				    r < 0 ? strerror(errno) : "short read");
			continue;
		}
		if ((s1 & 1) || s1 != s2)
			continue;
		if (h->magic != STAMP_MAGIC || h->seed != o.seed)
			why = "not a stamp of this run";
		else if (h->block != b)
			why = "stamp of another block";
		else if (h->gen >= top || (h->gen && gen_block[h->gen] != b))
			why = "generation never written to this block";
		else if (h->gen < lo)
			why = "older than the acknowledged generation (stale read)";
		if (!why) {
			make_stamp(exp, b, h->gen);
			if (memcmp(exp, buf, BLK))
				why = "corrupt (header good, data differs)";
		}
		if (why) {
			pthread_mutex_lock(&state_lock);
			if (wrong_reads++ < 20)
				printf("wrong read of block %u: %s: found gen %" PRIu64
				       ", acknowledged gen %u\n", b, why,
				       h->magic == STAMP_MAGIC ? h->gen : (uint64_t)-1, lo);
			pthread_mutex_unlock(&state_lock);
		}
	}
	free(buf);
	free(exp);
	return NULL;
}

static void open_files(int create)
{
	uint32_t f;
	char p[4096];

	o.ffd = calloc(o.nfiles, sizeof(int));
	if (!o.ffd)
		die("out of memory");
	for (f = 0; f < o.nfiles; f++) {
		snprintf(p, sizeof(p), "%s/f%04u", o.dir, f);
		o.ffd[f] = open(p, create ? O_RDWR | O_CREAT | O_TRUNC : O_RDONLY, 0644);
		if (o.ffd[f] < 0)
			die("open %s: %s", p, strerror(errno));
	}
}

static void open_dev(int flags)
{
	uint64_t size;

	o.fd = open(o.dev, flags | O_DIRECT);
	if (o.fd < 0)
		die("open %s: %s", o.dev, strerror(errno));
	if (ioctl(o.fd, BLKGETSIZE64, &size))
		die("%s: not a block device", o.dev);
	if (!o.nblocks)
		o.nblocks = size / BLK;
	if ((uint64_t)o.nblocks * BLK > size)
		die("%s: smaller than %u blocks", o.dev, o.nblocks);
}

static int cmd_write(void)
{
	struct worker *w;
	pthread_t *rd;
	uint32_t i, chunk = 256, unknown = 0;
	char *buf;
	FILE *f;

	if (o.fs) {
		if (!o.nblocks)
			o.nblocks = 1024;
		o.fblocks = o.nblocks / o.nfiles;
		if (!o.fblocks)
			die("fewer blocks than files");
		o.nblocks = o.fblocks * o.nfiles;
		open_files(1);
	} else {
		open_dev(O_RDWR);
	}
	if (o.threads < 1 || o.threads > (o.fs ? o.nfiles : o.nblocks))
		die("bad thread count");
	if (nreaders && o.fs)
		die("-R: device mode only");
	completed = calloc(o.nblocks, 4);
	durable = calloc(o.nblocks, 4);
	last_failed = calloc(o.nblocks, 4);
	wseq = calloc(o.nblocks, 4);
	gen_block = calloc((size_t)o.writes + 1, 4);
	w = calloc(o.threads, sizeof(*w));
	rd = calloc(nreaders + 1, sizeof(*rd));
	buf = xalloc((size_t)chunk * BLK);
	if (!completed || !durable || !gen_block || !w || !last_failed || !wseq || !rd)
		die("out of memory");

	/* generation 0 everywhere, durable at mark 0 */
	for (i = 0; i < o.nblocks; i += chunk) {
		uint32_t n = o.nblocks - i < chunk ? o.nblocks - i : chunk, k;
		off_t off;
		int fd;

		if (o.fs && n > o.fblocks - i % o.fblocks)
			n = o.fblocks - i % o.fblocks;
		for (k = 0; k < n; k++)
			make_stamp(buf + (size_t)k * BLK, i + k, 0);
		fd = block_fd(i, &off);
		if (pwrite(fd, buf, (size_t)n * BLK, off) != (ssize_t)n * BLK)
			die("initial write at block %u: %s", i, strerror(errno));
		i -= chunk - n;
	}
	if (o.fs) {
		int dfd = open(o.dir, O_RDONLY | O_DIRECTORY);

		for (i = 0; i < o.nfiles; i++)
			if (fsync(o.ffd[i]))
				die("fsync: %s", strerror(errno));
		if (dfd < 0 || fsync(dfd))
			die("fsync %s: %s", o.dir, strerror(errno));
		close(dfd);
	} else if (fdatasync(o.fd)) {
		die("fdatasync: %s", strerror(errno));
	}
	durable_point();

	t_end = time(NULL) + time_limit;
	for (i = 0; i < nreaders; i++)
		if (pthread_create(&rd[i], NULL, reader, (void *)(uintptr_t)i))
			die("pthread_create");
	for (i = 0; i < o.threads; i++) {
		w[i].id = i;
		w[i].nwrites = o.writes / o.threads + (i < o.writes % o.threads);
		w[i].rnd = o.seed * 0x9e3779b97f4a7c15ULL + i + 1;
		if (pthread_create(&w[i].th, NULL, worker, &w[i]))
			die("pthread_create");
	}
	for (i = 0; i < o.threads; i++)
		pthread_join(w[i].th, NULL);
	writers_done = 1;
	for (i = 0; i < nreaders; i++)
		pthread_join(rd[i], NULL);

	/* a last durable point covering everything */
	if (o.fs) {
		for (i = 0; i < o.nfiles; i++)
			sync_point(o.ffd[i], i * o.fblocks, o.fblocks);
	} else {
		sync_point(o.fd, 0, o.nblocks);
	}
	if (tolerate) {
		/* "acked": what completed (see the top) */
		for (i = 0; i < o.nblocks; i++) {
			durable[i] = completed[i];
			if (last_failed[i] > completed[i]) {
				durable[i] = GEN_UNKNOWN;
				unknown++;
			}
		}
		pthread_mutex_lock(&durable_lock);
		durable_point();
		pthread_mutex_unlock(&durable_lock);
	}
	save("writes", gen_block, (size_t)next_gen * 4);
	f = fopen(spath("meta"), "w");
	if (!f)
		die("%s: %s", spath("meta"), strerror(errno));
	fprintf(f, "seed %" PRIu64 "\nblocks %u\nfiles %u\ngens %u\nmarks %u\n",
		o.seed, o.nblocks, o.fs ? o.nfiles : 0, next_gen, nmarks);
	if (fclose(f))
		die("%s: %s", spath("meta"), strerror(errno));
	printf("%u blocks, %u writes, %u durable points (marks iof-0..iof-%u)\n",
	       o.nblocks, next_gen - 1, nmarks, nmarks - 1);
	if (tolerate)
		printf("acked mark %u: %" PRIu64 " writes and %" PRIu64
		       " syncs failed, %u blocks left unchecked (last write failed)\n",
		       nmarks - 1, failed_writes, failed_syncs, unknown);
	if (nreaders)
		printf("reads: %" PRIu64 ", %" PRIu64 " failed, %" PRIu64
		       " overlapped a write, %" PRIu64 " wrong\n",
		       reads, read_errors, read_skipped, wrong_reads);
	return failed_io || wrong_reads;
}

static void read_meta(uint32_t *gens, uint32_t *marks)
{
	FILE *f = fopen(spath("meta"), "r");
	unsigned int files = 0;

	if (!f || fscanf(f, "seed %" SCNu64 " blocks %u files %u gens %u marks %u",
			 &o.seed, &o.nblocks, &files, gens, marks) != 5)
		die("%s: unreadable", spath("meta"));
	fclose(f);
	if (o.fs) {
		if (!files)
			die("state is of a device run");
		o.nfiles = files;
		o.fblocks = o.nblocks / files;
	}
}

/*
 * Files: a file system with blocks smaller than 4 KiB may write a 4 KiB
 * page in pieces, so a block may mix generations.  It is good if each of its
 * 512-byte sectors is that sector of a generation written to the block that
 * is not older than the durable one.
 */
static int mixed_ok(const void *got, uint32_t blk, uint32_t want,
		    const uint32_t *gb, uint32_t gens, char *exp)
{
	unsigned int s;
	uint32_t g;

	for (s = 0; s < BLK / 512; s++) {
		for (g = want; g < gens; g++) {
			if (g && gb[g] != blk)
				continue;
			make_stamp(exp, blk, g);
			if (!memcmp(exp + s * 512, (const char *)got + s * 512, 512))
				break;
		}
		if (g == gens)
			return 0;
	}
	return 1;
}

static int cmd_verify(int mark)
{
	uint32_t gens, marks, b, bad = 0, newer = 0, torn = 0, chunk = 256;
	uint32_t unknown = 0;
	uint32_t *want, *gb;
	char name[32], *buf, *exp;

	read_meta(&gens, &marks);
	if (mark < 0 || (uint32_t)mark >= marks)
		die("mark %d: the run has marks 0..%u", mark, marks - 1);
	snprintf(name, sizeof(name), "mark-%d", mark);
	want = load(name, (size_t)o.nblocks * 4);
	gb = load("writes", (size_t)gens * 4);
	if (o.fs)
		open_files(0);
	else
		open_dev(O_RDONLY);
	buf = xalloc((size_t)chunk * BLK);
	exp = xalloc(BLK);
	for (b = 0; b < o.nblocks; b += chunk) {
		uint32_t n = o.nblocks - b < chunk ? o.nblocks - b : chunk, k;
		off_t off;
		int fd;

		if (o.fs && n > o.fblocks - b % o.fblocks)
			n = o.fblocks - b % o.fblocks;
		fd = block_fd(b, &off);
		if (pread(fd, buf, (size_t)n * BLK, off) != (ssize_t)n * BLK)
			die("read at block %u: %s", b, strerror(errno));
		for (k = 0; k < n; k++) {
			struct stamp_hdr *h = (void *)(buf + (size_t)k * BLK);
			uint32_t blk = b + k;
			const char *why = NULL;

			if (want[blk] == GEN_UNKNOWN) {
				unknown++;
				continue;
			}
			if (h->magic != STAMP_MAGIC || h->seed != o.seed)
				why = "not a stamp of this run (garbage, zeroes or stale)";
			else if (h->block != blk)
				why = "stamp of another block";
			else if (h->gen >= gens || (h->gen && gb[h->gen] != blk))
				why = "generation never written to this block";
			else if (h->gen < want[blk])
				why = "older than the durable generation (lost write)";
			if (!why) {
				make_stamp(exp, blk, h->gen);
				if (memcmp(exp, h, BLK))
					why = "torn or corrupt (header good, data differs)";
			}
			if (why && o.fs && mixed_ok(h, blk, want[blk], gb, gens, exp)) {
				torn++;
				why = NULL;
			}
			if (why) {
				if (bad < 50)
					printf("block %u: %s: found block %" PRIu64
					       " gen %" PRIu64 ", durable gen %u\n",
					       blk, why,
					       h->magic == STAMP_MAGIC ? h->block : (uint64_t)-1,
					       h->magic == STAMP_MAGIC ? h->gen : (uint64_t)-1,
					       want[blk]);
				bad++;
			} else if (h->gen > want[blk]) {
				newer++;
			}
		}
		b -= chunk - n;
	}
	printf("mark %d: %u blocks, %u bad, %u newer than durable, %u not checked%s",
	       mark, o.nblocks, bad, newer, unknown, o.fs ? "" : "\n");
	if (o.fs)
		printf(", %u torn between generations not older than durable\n", torn);
	free(want);
	free(gb);
	free(buf);
	free(exp);
	if (o.fs) {
		for (b = 0; b < o.nfiles; b++)
			close(o.ffd[b]);
		free(o.ffd);
	} else {
		close(o.fd);
	}
	return bad ? 1 : 0;
}

static uint32_t num(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);

	if (!*s || *end || v > UINT32_MAX)
		die("bad number '%s'", s);
	return v;
}

/* ---- serve: the crash-point check loop's commands (see the top) ---- */

static const char *s_rdev, *s_wdev;

static int ctl_ioctl(unsigned long cmd, void *arg)
{
	static int fd = -1;

	if (fd < 0) {
		fd = open("/dev/iofilter", O_RDWR | O_CLOEXEC);
		if (fd < 0)
			die("open /dev/iofilter: %s", strerror(errno));
	}
	return ioctl(fd, cmd, arg) ? -errno : 0;
}

static void iof_hdr(struct iof_ioctl_hdr *h, size_t size)
{
	memset(h, 0, size);
	h->version[0] = IOFILTER_VERSION_MAJOR;
	h->version[1] = IOFILTER_VERSION_MINOR;
	h->version[2] = IOFILTER_VERSION_PATCH;
	h->size = size;
}

/* the status line of instance INST of VOL into ST; 0 or -errno */
static int inst_status(const char *vol, const char *inst, char *st, size_t len)
{
	struct iof_instance_get g;
	char params[IOF_MAX_PARAMS_LEN];

	iof_hdr(&g.hdr, sizeof(g));
	snprintf(g.volume, sizeof(g.volume), "%s", vol);
	snprintf(g.name, sizeof(g.name), "%s", inst);
	g.params = (uintptr_t)params;
	g.params_len = sizeof(params);
	g.status = (uintptr_t)st;
	g.status_len = len;
	st[0] = 0;
	return ctl_ioctl(IOF_IOC_INSTANCE_GET, &g);
}

static int s_wait(char **a, int n)
{
	char st[4096], want[256];
	unsigned int i, tenths;
	int r = 0;

	if (n != 5)
		die("usage: wait VOL INST KEY VALUE SECONDS");
	snprintf(want, sizeof(want), " %s=%s ", a[2], a[3]);
	tenths = num(a[4]) * 10;
	for (i = 0; i <= tenths; i++) {
		char line[4100];

		r = inst_status(a[0], a[1], st, sizeof(st));
		snprintf(line, sizeof(line), " %s ", st);
		if (!r && strstr(line, want))
			return 0;
		usleep(100000);
	}
	printf("%s %s: no %s=%s after %s s: %s\n", a[0], a[1], a[2], a[3], a[4],
	       r ? strerror(-r) : st);
	return 1;
}

static int s_message(char **a, int n)
{
	struct iof_message m;
	char msg[IOF_MSG_LEN], result[4096];
	int i, r;

	if (n < 3)
		die("usage: message VOL INST WORDS...");
	iof_hdr(&m.hdr, sizeof(m));
	snprintf(m.volume, sizeof(m.volume), "%s", a[0]);
	snprintf(m.name, sizeof(m.name), "%s", a[1]);
	msg[0] = 0;
	for (i = 2; i < n; i++)
		snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), "%s%s",
			 i > 2 ? " " : "", a[i]);
	m.msg = (uintptr_t)msg;
	m.msg_len = strlen(msg) + 1;
	m.result = (uintptr_t)result;
	m.result_len = sizeof(result);
	result[0] = 0;
	r = ctl_ioctl(IOF_IOC_MESSAGE, &m);
	if (result[0])
		printf("%s\n", result);
	if (r)
		printf("message %s %s \"%s\": %s\n", a[0], a[1], msg, strerror(-r));
	return !!r;
}

static int s_cmp(char **a, int n)
{
	uint64_t bytes, off, sa, sb;
	size_t chunk = 1 << 20, k;
	char *x, *y;
	int fa, fb, r = 0;

	if (n != 3)
		die("usage: cmp A B BYTES");
	bytes = strtoull(a[2], NULL, 0);
	fa = lw_open_dev(a[0], &sa);
	fb = lw_open_dev(a[1], &sb);
	if (sa < bytes || sb < bytes || bytes % BLK)
		die("cmp: %s or %s smaller than %" PRIu64 " bytes", a[0], a[1], bytes);
	x = xalloc(chunk);
	y = xalloc(chunk);
	for (off = 0; off < bytes && !r; off += chunk) {
		size_t len = bytes - off < chunk ? bytes - off : chunk;

		if (pread(fa, x, len, off) != (ssize_t)len ||
		    pread(fb, y, len, off) != (ssize_t)len)
			die("cmp: read at %" PRIu64 ": %s", off, strerror(errno));
		if (!memcmp(x, y, len))
			continue;
		for (k = 0; k < len && x[k] == y[k]; k++)
			;
		printf("%s %s differ: byte %" PRIu64 "\n", a[0], a[1], off + k + 1);
		r = 1;
	}
	free(x);
	free(y);
	close(fa);
	close(fb);
	return r;
}

/* dmsetup remove --retry, through the ioctl; the node as libdevmapper would */
static int s_remove(char **a, int n)
{
	struct dm_ioctl dmi;
	char node[512];
	int fd, i, r = 0;

	if (n != 1)
		die("usage: remove NAME");
	fd = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die("open /dev/mapper/control: %s", strerror(errno));
	for (i = 0; i < 100; i++) {
		memset(&dmi, 0, sizeof(dmi));
		dmi.version[0] = DM_VERSION_MAJOR;
		dmi.data_size = sizeof(dmi);
		dmi.data_start = sizeof(dmi);
		snprintf(dmi.name, sizeof(dmi.name), "%s", a[0]);
		r = ioctl(fd, DM_DEV_REMOVE, &dmi) ? errno : 0;
		if (r != EBUSY)
			break;
		usleep(100000);
	}
	close(fd);
	if (r == ENXIO)
		r = 0;			/* not there */
	snprintf(node, sizeof(node), "/dev/mapper/%s", a[0]);
	if (!r && unlink(node) && errno != ENOENT)
		die("unlink %s: %s", node, strerror(errno));
	if (r)
		printf("remove %s: %s\n", a[0], strerror(r));
	return !!r;
}

static int s_replay(char **a, int n)
{
	if (n != 2)
		die("usage: replay FROM TO");
	if (!s_rdev || !s_wdev || !lw_ents)
		die("replay: serve was started without -l LOG -r DEV -c DEV");
	lw_replay(s_rdev, strtoull(a[0], NULL, 0), strtoull(a[1], NULL, 0), 0, s_wdev);
	return 0;
}

static int s_verify(char **a, int n)
{
	if (n != 2)
		die("usage: verify DEV MARK");
	o.dev = a[0];
	o.nblocks = 0;
	return cmd_verify(num(a[1]));
}

static int cmd_serve(void)
{
	static const struct {
		const char *name;
		int (*fn)(char **a, int n);
	} cmds[] = {
		{ "replay", s_replay }, { "verify", s_verify }, { "cmp", s_cmp },
		{ "wait", s_wait }, { "message", s_message }, { "remove", s_remove },
	};
	char line[4096], *a[16], *save;
	jmp_buf env;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin)) {
		volatile int rc = 2;
		unsigned int i;
		int n = 0;
		char *w;

		for (w = strtok_r(line, " \t\n", &save); w && n < 16;
		     w = strtok_r(NULL, " \t\n", &save))
			a[n++] = w;
		if (!n)
			continue;
		if (!strcmp(a[0], "quit"))
			break;
		serving = &env;
		if (!setjmp(env)) {
			for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
				if (!strcmp(a[0], cmds[i].name))
					break;
			if (i < sizeof(cmds) / sizeof(cmds[0]))
				rc = cmds[i].fn(a + 1, n - 1);
			else
				printf("iof-stamp: unknown command %s\n", a[0]);
		}
		serving = NULL;
		printf("= %d\n", rc);
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: iof-stamp write -d DEV -S STATE [-s SEED] [-n BLOCKS] [-w WRITES]\n"
		"                 [-j THREADS] [-y SYNC%%] [-u FUA%%] [-L LOGDEV]\n"
		"                 [-T SECONDS] [-E] [-R READERS]\n"
		"       iof-stamp fswrite -D DIR -S STATE [-F FILES] [same options]\n"
		"       iof-stamp verify -d DEV -S STATE -m MARK\n"
		"       iof-stamp fsverify -D DIR -S STATE -m MARK\n"
		"       iof-stamp serve -S STATE [-l LOG -r REPLAYDEV -c WORKDEV]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *cmd, *log_path = NULL;
	int c, mark = -1;

	if (argc < 2)
		usage();
	cmd = argv[1];
	o.fs = !strcmp(cmd, "fswrite") || !strcmp(cmd, "fsverify");
	optind = 2;
	while ((c = getopt(argc, argv, "d:D:S:s:n:F:w:j:y:u:L:m:T:ER:l:r:c:")) != -1) {
		switch (c) {
		case 'l':
			log_path = optarg;
			break;
		case 'r':
			s_rdev = optarg;
			break;
		case 'c':
			s_wdev = optarg;
			break;
		case 'd':
			o.dev = optarg;
			break;
		case 'D':
			o.dir = optarg;
			break;
		case 'S':
			o.state = optarg;
			break;
		case 's':
			o.seed = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			o.nblocks = num(optarg);
			break;
		case 'F':
			o.nfiles = num(optarg);
			break;
		case 'w':
			o.writes = num(optarg);
			break;
		case 'j':
			o.threads = num(optarg);
			break;
		case 'y':
			o.sync_pct = num(optarg);
			break;
		case 'u':
			o.fua_pct = num(optarg);
			break;
		case 'L':
			o.logdev = optarg;
			break;
		case 'm':
			mark = num(optarg);
			break;
		case 'T':
			time_limit = num(optarg);
			break;
		case 'E':
			tolerate = 1;
			break;
		case 'R':
			nreaders = num(optarg);
			break;
		default:
			usage();
		}
	}
	if (!strcmp(cmd, "serve")) {
		if (optind != argc || !o.state || !log_path != !s_rdev || !s_rdev != !s_wdev)
			usage();
		if (log_path)
			lw_open_log(log_path);
		return cmd_serve();
	}
	if (optind != argc || !o.state || (o.fs ? !o.dir : !o.dev) || !o.nfiles)
		usage();
	if (!strcmp(cmd, "write") || !strcmp(cmd, "fswrite")) {
		if (mkdir(o.state, 0755) && errno != EEXIST)
			die("mkdir %s: %s", o.state, strerror(errno));
		return cmd_write();
	}
	if (!strcmp(cmd, "verify") || !strcmp(cmd, "fsverify"))
		return cmd_verify(mark);
	usage();
	return 2;
}
