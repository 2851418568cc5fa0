// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl: ioctl wrappers for /dev/iofilter.
 *
 * Every struct starts with struct iof_ioctl_hdr, filled here with the
 * version this tool was built against and the struct's size; reserved
 * fields are zero because every struct is zeroed first.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kapi.h"
#include "util.h"

/* The ABI as this tool was built against it (include/uapi/linux/iofilter.h). */
static_assert(sizeof(struct iof_ioctl_hdr) == 24, "iof_ioctl_hdr");
static_assert(sizeof(struct iof_version) == 32, "iof_version");
static_assert(sizeof(struct iof_type_info) == 88, "iof_type_info");
static_assert(sizeof(struct iof_volume_info) == 112, "iof_volume_info");
static_assert(sizeof(struct iof_list) == 112, "iof_list");
static_assert(sizeof(struct iof_instance_create) == 504, "iof_instance_create");
static_assert(sizeof(struct iof_instance_remove) == 152, "iof_instance_remove");
static_assert(sizeof(struct iof_instance_rename) == 216, "iof_instance_rename");
static_assert(sizeof(struct iof_instance_info) == 152, "iof_instance_info");
static_assert(sizeof(struct iof_instance_get) == 328, "iof_instance_get");
static_assert(sizeof(struct iof_rule) == 96, "iof_rule");
static_assert(sizeof(struct iof_table) == 480, "iof_table");
static_assert(sizeof(struct iof_counters) == 80, "iof_counters");
static_assert(sizeof(struct iof_volume_counters) == 144, "iof_volume_counters");
static_assert(sizeof(struct iof_stats) == 336, "iof_stats");
static_assert(sizeof(struct iof_message) == 176, "iof_message");

void kname(char *dst, const char *src, size_t size)
{
	memcpy(dst, src, size);
	dst[size - 1] = '\0';
}

static void hdr_init(void *arg, size_t size)
{
	struct iof_ioctl_hdr *h = arg;

	memset(arg, 0, size);
	h->version[0] = IOFILTER_VERSION_MAJOR;
	h->version[1] = IOFILTER_VERSION_MINOR;
	h->version[2] = IOFILTER_VERSION_PATCH;
	h->size = (uint32_t)size;
}

static int call(struct kapi *k, unsigned long req, void *arg)
{
	struct iof_ioctl_hdr *h = arg;
	int r;

	k->msg[0] = '\0';
	r = iof_sys_ioctl(k->fd, req, arg);
	/* The kernel always writes its version back. */
	memcpy(k->kver, h->version, sizeof(k->kver));
	return r;
}

static int setname(char *dst, const char *src)
{
	return strlcpy_ok(dst, src, IOF_NAME_LEN) ? 0 : -ENAMETOOLONG;
}

const char *kapi_errtext(const struct kapi *k, int err)
{
	static char buf[IOF_MSG_LEN + 256];

	if (err < 0)
		err = -err;
	if (err == EPROTO && k->kver[0])
		snprintf(buf, sizeof(buf), "%s (the module speaks ABI %u.%u.%u, iofilterctl %d.%d.%d)",
			 strerror(err), k->kver[0], k->kver[1], k->kver[2], IOFILTER_VERSION_MAJOR,
			 IOFILTER_VERSION_MINOR, IOFILTER_VERSION_PATCH);
	else if (err == EPERM || err == EACCES)
		snprintf(buf, sizeof(buf), "permission denied: iofilterctl needs CAP_SYS_ADMIN");
	else if (k->msg[0])
		snprintf(buf, sizeof(buf), "%s (%s; see dmesg)", strerror(err), k->msg);
	else
		snprintf(buf, sizeof(buf), "%s (see dmesg)", strerror(err));
	return buf;
}

int kapi_open(struct kapi *k)
{
	struct iof_version v;
	int fd, r;

	memset(k, 0, sizeof(*k));
	k->fd = -1;
	fd = iof_sys_open();
	if (fd < 0)
		return fd;
	k->fd = fd;
	r = kapi_version(k, &v);
	if (r) {
		kapi_close(k);
		return r;
	}
	if (k->kver[0] != IOFILTER_VERSION_MAJOR) {
		kapi_close(k);
		return -EPROTO;
	}
	return 0;
}

void kapi_close(struct kapi *k)
{
	if (k->fd >= 0)
		iof_sys_close(k->fd);
	k->fd = -1;
}

int kapi_version(struct kapi *k, struct iof_version *v)
{
	hdr_init(v, sizeof(*v));
	return call(k, IOF_IOC_VERSION, v);
}

/*
 * Generic list call: grow the buffer until it holds every entry.  Entries
 * are read with the kernel's stride (entry_size), so a newer kernel with
 * longer entries still works.
 */
static int list_call(struct kapi *k, unsigned long req, const char *vol, size_t esize,
		     void **out, size_t *n)
{
	size_t want = 16, stride = esize;
	int tries;

	for (tries = 0; tries < 8; tries++) {
		struct iof_list l;
		size_t bytes = want * stride, i, cnt;
		char *buf, *res;
		int r;

		if (bytes > IOF_MAX_LIST_BYTES)
			bytes = IOF_MAX_LIST_BYTES;
		buf = xcalloc(1, bytes);
		hdr_init(&l, sizeof(l));
		if (vol && setname(l.volume, vol)) {
			free(buf);
			return -ENAMETOOLONG;
		}
		l.buf = (uint64_t)(uintptr_t)buf;
		l.buf_len = (uint32_t)bytes;
		r = call(k, req, &l);
		if (l.entry_size)
			stride = l.entry_size;
		if (l.needed > l.count && (!r || r == -ENOSPC || r == -EOVERFLOW || r == -E2BIG ||
					  r == -ENOBUFS) && l.needed * stride > bytes &&
		    bytes < IOF_MAX_LIST_BYTES) {
			free(buf);
			want = l.needed + 8;
			continue;
		}
		if (r) {
			free(buf);
			return r;
		}
		cnt = l.count;
		if (stride < 1 || cnt * stride > bytes) {
			free(buf);
			return -EPROTO;
		}
		res = xcalloc(cnt + 1, esize);
		for (i = 0; i < cnt; i++)
			memcpy(res + i * esize, buf + i * stride, stride < esize ? stride : esize);
		free(buf);
		*out = res;
		*n = cnt;
		return 0;
	}
	return -EAGAIN;
}

int kapi_list_types(struct kapi *k, struct iof_type_info **v, size_t *n)
{
	return list_call(k, IOF_IOC_LIST_TYPES, NULL, sizeof(**v), (void **)v, n);
}

int kapi_list_volumes(struct kapi *k, struct iof_volume_info **v, size_t *n)
{
	return list_call(k, IOF_IOC_LIST_VOLUMES, NULL, sizeof(**v), (void **)v, n);
}

int kapi_list_instances(struct kapi *k, const char *vol, struct iof_instance_info **v, size_t *n)
{
	return list_call(k, IOF_IOC_LIST_INSTANCES, vol, sizeof(**v), (void **)v, n);
}

int kapi_find_volume(struct kapi *k, const char *vol, struct iof_volume_info *out)
{
	struct iof_volume_info *v;
	size_t n, i;
	int r;

	r = kapi_list_volumes(k, &v, &n);
	if (r)
		return r;
	r = -ENOENT;
	for (i = 0; i < n; i++) {
		char name[IOF_NAME_LEN];

		kname(name, v[i].name, sizeof(name));
		if (!strcmp(name, vol)) {
			*out = v[i];
			r = 0;
			break;
		}
	}
	free(v);
	return r;
}

int kapi_instance_create(struct kapi *k, const char *vol, const char *name, const char *type,
			 const char *params, size_t params_len,
			 const unsigned char *secret, size_t secret_len, uint32_t *id)
{
	struct iof_instance_create c;
	int r;

	if (params_len > IOF_MAX_PARAMS_LEN || secret_len > IOF_MAX_SECRET_LEN)
		return -E2BIG;
	hdr_init(&c, sizeof(c));
	if (setname(c.volume, vol) || setname(c.name, name) || setname(c.type, type))
		return -ENAMETOOLONG;
	c.params = (uint64_t)(uintptr_t)params;
	c.params_len = (uint32_t)params_len;
	c.secret = (uint64_t)(uintptr_t)secret;
	c.secret_len = (uint32_t)secret_len;
	r = call(k, IOF_IOC_INSTANCE_CREATE, &c);
	kname(k->msg, c.message, sizeof(k->msg));
	if (!r)
		*id = c.id;
	return r;
}

int kapi_instance_remove(struct kapi *k, const char *vol, const char *name)
{
	struct iof_instance_remove c;
	int r;

	hdr_init(&c, sizeof(c));
	if (setname(c.volume, vol) || setname(c.name, name))
		return -ENAMETOOLONG;
	r = call(k, IOF_IOC_INSTANCE_REMOVE, &c);
	if (r == -ENOTTY)	/* a module from before the _IOWR value */
		r = call(k, IOF_IOC_INSTANCE_REMOVE_OLD, &c);
	return r;
}

int kapi_instance_rename(struct kapi *k, const char *vol, const char *name, const char *new_name)
{
	struct iof_instance_rename c;
	int r;

	hdr_init(&c, sizeof(c));
	if (setname(c.volume, vol) || setname(c.name, name) || setname(c.new_name, new_name))
		return -ENAMETOOLONG;
	r = call(k, IOF_IOC_INSTANCE_RENAME, &c);
	if (r == -ENOTTY)	/* a module from before the _IOWR value */
		r = call(k, IOF_IOC_INSTANCE_RENAME_OLD, &c);
	return r;
}

int kapi_instance_get(struct kapi *k, const char *vol, const char *name,
		      struct iof_instance_info *info, char **params, size_t *params_len,
		      char **status)
{
	/* The module truncates status text to the buffer: offer the most. */
	uint32_t plen = IOF_MAX_PARAMS_LEN, slen = IOF_MAX_TEXT_LEN;
	int tries;

	k->status_truncated = false;
	for (tries = 0; tries < 4; tries++) {
		struct iof_instance_get g;
		char *pb = xcalloc(1, plen + 1), *sb = xcalloc(1, slen + 1);
		int r;

		hdr_init(&g, sizeof(g));
		if (setname(g.volume, vol) || setname(g.name, name)) {
			free(pb);
			free(sb);
			return -ENAMETOOLONG;
		}
		g.params = (uint64_t)(uintptr_t)pb;
		g.params_len = plen;
		g.status = (uint64_t)(uintptr_t)sb;
		g.status_len = slen;
		r = call(k, IOF_IOC_INSTANCE_GET, &g);
		if ((!r || r == -ENOSPC || r == -EOVERFLOW) &&
		    (g.params_len > plen || g.status_len > slen) && tries < 3) {
			plen = g.params_len > plen ? g.params_len : plen;
			slen = g.status_len > slen ? g.status_len : slen;
			if (plen > IOF_MAX_PARAMS_LEN)
				plen = IOF_MAX_PARAMS_LEN;
			if (slen > IOF_MAX_TEXT_LEN)
				slen = IOF_MAX_TEXT_LEN;
			free(pb);
			free(sb);
			continue;
		}
		if (r) {
			free(pb);
			free(sb);
			return r;
		}
		if (info)
			*info = g.info;
		if (params) {
			*params = pb;
			*params_len = g.params_len < plen ? g.params_len : plen;
		} else {
			free(pb);
		}
		if (status) {
			sb[g.status_len < slen ? g.status_len : slen] = '\0';
			/*
			 * The module cuts the text at the buffer and cannot
			 * say how long it was: a full buffer was cut.
			 */
			k->status_truncated = g.status_len >= slen && slen >= IOF_MAX_TEXT_LEN;
			if (k->status_truncated) {
				char *sp = strrchr(sb, ' ');

				if (sp)
					*sp = '\0';
			}
			*status = sb;
		} else {
			free(sb);
		}
		return 0;
	}
	return -EAGAIN;
}

int kapi_table_get(struct kapi *k, const char *vol, struct iof_rule **rules, size_t *n,
		   struct iof_rule *dflt, uint64_t *generation)
{
	/* The whole table fits in IOF_MAX_RULES entries: no retry, no race. */
	struct iof_rule *buf = xcalloc(IOF_MAX_RULES, sizeof(*buf));
	struct iof_table t;
	int r;

	hdr_init(&t, sizeof(t));
	if (setname(t.volume, vol)) {
		free(buf);
		return -ENAMETOOLONG;
	}
	t.rules = (uint64_t)(uintptr_t)buf;
	t.nr_rules = IOF_MAX_RULES;
	t.rule_size = sizeof(struct iof_rule);
	r = call(k, IOF_IOC_TABLE_GET, &t);
	kname(k->msg, t.message, sizeof(k->msg));
	if (r) {
		free(buf);
		return r;
	}
	if (t.nr_rules > IOF_MAX_RULES) {
		free(buf);
		return -EPROTO;
	}
	*rules = xreallocarray(buf, t.nr_rules + 1, sizeof(*buf));
	*n = t.nr_rules;
	if (dflt)
		*dflt = t.default_rule;
	if (generation)
		*generation = t.generation;
	return 0;
}

int kapi_table_load(struct kapi *k, const char *vol, const struct iof_rule *rules, size_t n,
		    const struct iof_rule *dflt, uint64_t expected_generation,
		    uint64_t *generation)
{
	struct iof_table t;
	int r;

	if (n > IOF_MAX_RULES)
		return -E2BIG;
	hdr_init(&t, sizeof(t));
	if (setname(t.volume, vol))
		return -ENAMETOOLONG;
	t.rules = (uint64_t)(uintptr_t)rules;
	t.nr_rules = (uint32_t)n;
	t.rule_size = sizeof(struct iof_rule);
	t.expected_generation = expected_generation;
	t.default_rule = *dflt;
	/* error_rule is an output: zero on input, like every output field. */
	r = call(k, IOF_IOC_TABLE_LOAD, &t);
	kname(k->msg, t.message, sizeof(k->msg));
	k->error_rule = r ? t.error_rule : ~0U;
	if (!r && generation)
		*generation = t.generation;
	return r;
}

int kapi_stats(struct kapi *k, const char *vol, int reset, struct iof_stats *st,
	       struct iof_counters **rules, size_t *n)
{
	/* Room for the largest table: a reset must not need a second call. */
	struct iof_counters *buf = xcalloc(IOF_MAX_RULES, sizeof(*buf));
	int r;

	hdr_init(st, sizeof(*st));
	if (setname(st->volume, vol)) {
		free(buf);
		return -ENAMETOOLONG;
	}
	st->rules = (uint64_t)(uintptr_t)buf;
	st->nr_rules = IOF_MAX_RULES;
	st->reset = reset ? 1 : 0;
	r = call(k, IOF_IOC_STATS, st);
	if (r || st->nr_rules > IOF_MAX_RULES) {
		free(buf);
		return r ? r : -EPROTO;
	}
	*rules = xreallocarray(buf, st->nr_rules + 1, sizeof(*buf));
	*n = st->nr_rules;
	return 0;
}

int kapi_message(struct kapi *k, const char *vol, const char *inst, const char *msg,
		 char **result)
{
	size_t len = strlen(msg) + 1;
	struct iof_message m;
	char *res;
	int r;

	if (len > IOF_MSG_LEN)
		return -E2BIG;
	hdr_init(&m, sizeof(m));
	if (setname(m.volume, vol) || setname(m.name, inst))
		return -ENAMETOOLONG;
	res = xcalloc(1, IOF_MAX_TEXT_LEN + 1);
	m.msg = (uint64_t)(uintptr_t)msg;
	m.msg_len = (uint32_t)len;
	m.result = (uint64_t)(uintptr_t)res;
	m.result_len = IOF_MAX_TEXT_LEN;
	r = call(k, IOF_IOC_MESSAGE, &m);
	if (r) {
		/* A filter may explain a refusal in result. */
		res[IOF_MAX_TEXT_LEN] = '\0';
		if (res[0])
			snprintf(k->msg, sizeof(k->msg), "%s", res);
		free(res);
		return r;
	}
	res[m.result_len < IOF_MAX_TEXT_LEN ? m.result_len : IOF_MAX_TEXT_LEN] = '\0';
	*result = res;
	return 0;
}
