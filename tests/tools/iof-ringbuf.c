// SPDX-License-Identifier: GPL-2.0
/*
 * iof-ringbuf PINNED_MAP [SECONDS]: drain the ring buffer of
 * policies/bpf/sample-ringbuf.bpf.c, one line per record
 * ("sample op=N sector=N size=N cpu=N"), then "records N".
 * Exit 0, or 1 with a message.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>

#include "../../policies/bpf/sample-ringbuf.h"

static unsigned long records;

static int on_sample(void *ctx, void *data, size_t len)
{
	const struct iof_sample *s = data;

	(void)ctx;
	if (len < sizeof(*s))
		return 0;
	printf("sample op=%u sector=%llu size=%u cpu=%u\n", s->op,
	       (unsigned long long)s->sector, s->size, s->cpu);
	records++;
	return 0;
}

int main(int argc, char **argv)
{
	struct ring_buffer *rb;
	int fd, secs = argc > 2 ? atoi(argv[2]) : 1, i;

	if (argc < 2) {
		fprintf(stderr, "usage: iof-ringbuf PINNED_MAP [SECONDS]\n");
		return 1;
	}
	fd = bpf_obj_get(argv[1]);
	if (fd < 0) {
		fprintf(stderr, "iof-ringbuf: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	rb = ring_buffer__new(fd, on_sample, NULL, NULL);
	if (!rb) {
		fprintf(stderr, "iof-ringbuf: %s: not a ring buffer: %s\n", argv[1],
			strerror(errno));
		return 1;
	}
	for (i = 0; i < secs * 10; i++)
		if (ring_buffer__poll(rb, 100) < 0)
			break;
	ring_buffer__free(rb);
	printf("records %lu\n", records);
	return 0;
}
