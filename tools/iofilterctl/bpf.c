// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl: load, attach, pin and unpin the programs of "bpf" filter
 * instances with libbpf (bpf.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "bpf.h"
#include "util.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

#define BPF_ATTACH_FUNC	"iof_bpf_decide"
#define BPF_KEY_VAR	"iof_key"
#define BPF_LOG_TAIL	20	/* lines of the verifier's log in an error */

/* What libbpf says while we load: kept for the error, shown with -v */
static struct sbuf libbpf_log;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *s;

	if (level == LIBBPF_DEBUG)
		return 0;
	s = xvasprintf(fmt, ap);
	sb_add(&libbpf_log, s);
	if (verbosity > 0)
		fputs(s, err_fp);
	free(s);
	return 0;
}

/* The last @n lines of @s, indented, or NULL */
static char *log_tail(const char *s, unsigned n)
{
	const char *p;
	struct sbuf b;
	size_t len;

	if (!s || !*s)
		return NULL;
	len = strlen(s);
	while (len && s[len - 1] == '\n')
		len--;
	p = s + len;
	while (p > s && n) {
		p--;
		if (*p == '\n')
			n--;
	}
	if (*p == '\n')
		p++;
	sb_init(&b);
	while (p < s + len) {
		size_t l = strcspn(p, "\n");

		if (l > (size_t)(s + len - p))
			l = s + len - p;
		sb_add(&b, "\n    ");
		sb_addn(&b, p, l);
		p += l;
		if (*p == '\n')
			p++;
	}
	return sb_steal(&b);
}

static char *inst_dir(const char *vol, const char *inst)
{
	return xasprintf("%s/%s/%s", BPF_PIN_ROOT, vol, inst);
}

static char *key_dir(const char *vol, const char *inst, uint64_t key)
{
	return xasprintf("%s/%s/%s/%llu", BPF_PIN_ROOT, vol, inst, (unsigned long long)key);
}

static int mkdir_one(const char *p)
{
	if (mkdir(p, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

static int make_key_dir(const char *vol, const char *inst, uint64_t key, char **why)
{
	struct statfs sf;
	char *d;
	int r;

	if (statfs("/sys/fs/bpf", &sf) || sf.f_type != BPF_FS_MAGIC) {
		*why = xstrdup("/sys/fs/bpf is not a BPF file system (mount -t bpf bpf /sys/fs/bpf)");
		return -ENOENT;
	}
	r = mkdir_one(BPF_PIN_ROOT);
	if (!r) {
		d = xasprintf("%s/%s", BPF_PIN_ROOT, vol);
		r = mkdir_one(d);
		free(d);
	}
	if (!r) {
		d = inst_dir(vol, inst);
		r = mkdir_one(d);
		free(d);
	}
	if (!r) {
		d = key_dir(vol, inst, key);
		r = mkdir_one(d);
		free(d);
	}
	if (r)
		*why = xasprintf("cannot make a directory under %s: %s", BPF_PIN_ROOT, strerror(-r));
	return r;
}

/* Remove a directory of pins (one level of files), then the directory */
static void rm_pins(const char *dir)
{
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((e = readdir(d))) {
		char *p;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		p = xasprintf("%s/%s", dir, e->d_name);
		if (e->d_type == DT_DIR)
			rm_pins(p);
		else
			unlink(p);
		free(p);
	}
	closedir(d);
	rmdir(dir);
}

/* Write @key into the program's "const volatile __u64 iof_key" */
static int set_key(struct bpf_object *obj, const char *obj_path, uint64_t key, char **why)
{
	const struct btf_var_secinfo *vs;
	const struct btf_type *t;
	struct bpf_map *map, *rodata = NULL;
	const void *init;
	struct btf *btf;
	size_t size;
	int id, i, r;
	void *buf;

	btf = bpf_object__btf(obj);
	bpf_object__for_each_map(map, obj) {
		const char *n = bpf_map__name(map);
		size_t l = strlen(n);

		if (bpf_map__is_internal(map) && l >= 7 && !strcmp(n + l - 7, ".rodata"))
			rodata = map;
	}
	id = btf && rodata ? btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC) : -1;
	t = id > 0 ? btf__type_by_id(btf, id) : NULL;
	for (i = 0, vs = t ? btf_var_secinfos(t) : NULL; t && i < btf_vlen(t); i++, vs++) {
		const struct btf_type *v = btf__type_by_id(btf, vs->type);

		if (strcmp(btf__name_by_offset(btf, v->name_off), BPF_KEY_VAR))
			continue;
		init = bpf_map__initial_value(rodata, &size);
		if (!init || vs->size != sizeof(key) || vs->offset + sizeof(key) > size)
			break;
		buf = xmalloc(size);
		memcpy(buf, init, size);
		memcpy((char *)buf + vs->offset, &key, sizeof(key));
		r = bpf_map__set_initial_value(rodata, buf, size);
		free(buf);
		if (r) {
			*why = xasprintf("%s: cannot set %s: %s", obj_path, BPF_KEY_VAR, strerror(-r));
			return r;
		}
		return 0;
	}
	*why = xasprintf("%s has no \"const volatile __u64 %s\": the program cannot tell its "
			 "instance from the others (see policies/bpf/iof-bpf-prog.h)",
			 obj_path, BPF_KEY_VAR);
	return -EINVAL;
}

/* The object's one program, SEC("fmod_ret/" BPF_ATTACH_FUNC); NULL and *why if not so. */
static struct bpf_program *the_program(struct bpf_object *obj, const char *obj_path, char **why)
{
	struct bpf_program *prog, *the = NULL;
	int nprogs = 0;

	bpf_object__for_each_program(prog, obj) {
		nprogs++;
		the = prog;
	}
	if (nprogs != 1 || bpf_program__type(the) != BPF_PROG_TYPE_TRACING ||
	    bpf_program__expected_attach_type(the) != BPF_MODIFY_RETURN) {
		*why = xasprintf("%s must hold one program, SEC(\"fmod_ret/%s\") (it has %d)",
				 obj_path, BPF_ATTACH_FUNC, nprogs);
		return NULL;
	}
	return the;
}

/* Pin the object's maps (not its internal ones) under dir; 0 or -errno and *why. */
static int pin_maps(struct bpf_object *obj, const char *dir, char **why)
{
	struct bpf_map *map;
	char *p;
	int r;

	bpf_object__for_each_map(map, obj) {
		if (bpf_map__is_internal(map))
			continue;
		p = xasprintf("%s/%s", dir, bpf_map__name(map));
		r = bpf_map__pin(map, p);
		free(p);
		if (r) {
			*why = xasprintf("cannot pin map %s under %s: %s", bpf_map__name(map), dir,
					 strerror(-r));
			return r;
		}
	}
	return 0;
}

int bpf_attach(const char *vol, const char *inst, uint64_t key, const char *obj_path,
	       const void *img, size_t len, char **why)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = obj_path);
	struct bpf_object *obj;
	struct bpf_program *the;
	struct bpf_link *link = NULL;
	libbpf_print_fn_t old;
	char *dir = NULL, *p, *tail;
	int r;

	*why = NULL;
	sb_init(&libbpf_log);
	old = libbpf_set_print(libbpf_print);
	/* The bytes apply hashed (program_sha256=), not the file again */
	obj = bpf_object__open_mem(img, len, &opts);
	if (!obj) {
		r = -errno;
		*why = xasprintf("%s: not a BPF object libbpf can open: %s", obj_path, strerror(-r));
		goto out;
	}
	the = the_program(obj, obj_path, why);
	if (!the) {
		r = -EINVAL;
		goto out;
	}
	r = set_key(obj, obj_path, key, why);
	if (r)
		goto out;
	r = bpf_object__load(obj);
	if (r) {
		tail = log_tail(libbpf_log.s, BPF_LOG_TAIL);
		*why = xasprintf("%s: the kernel refused the program (%s)%s%s", obj_path, strerror(-r),
				 tail ? "; the end of libbpf's and the verifier's log:" : "",
				 tail ? tail : "");
		free(tail);
		goto out;
	}
	r = make_key_dir(vol, inst, key, why);
	if (r)
		goto out;
	dir = key_dir(vol, inst, key);
	link = bpf_program__attach_trace(the);
	if (!link) {
		r = -errno;
		*why = xasprintf("%s: cannot attach to %s (module iofilter_bpf loaded, with BTF?): %s",
				 obj_path, BPF_ATTACH_FUNC, strerror(-r));
		goto out;
	}
	r = pin_maps(obj, dir, why);
	if (r)
		goto out;
	/* The link last: once it is pinned, the program runs */
	p = xasprintf("%s/link", dir);
	r = bpf_link__pin(link, p);
	free(p);
	if (r)
		*why = xasprintf("cannot pin the program's link under %s: %s", dir, strerror(-r));
out:
	if (r && dir)
		rm_pins(dir);
	bpf_link__destroy(link);	/* the pin holds it */
	bpf_object__close(obj);
	libbpf_set_print(old);
	sb_free(&libbpf_log);
	free(dir);
	return r;
}

bool bpf_attached(const char *vol, const char *inst, uint64_t key)
{
	char *d = key_dir(vol, inst, key), *p = xasprintf("%s/link", d);
	bool yes = !access(p, F_OK);

	free(p);
	free(d);
	return yes;
}

void bpf_unpin_key(const char *vol, const char *inst, uint64_t key)
{
	char *d = key_dir(vol, inst, key);

	rm_pins(d);
	free(d);
	d = inst_dir(vol, inst);
	rmdir(d);	/* when empty */
	free(d);
}

void bpf_unpin(const char *vol, const char *inst, uint64_t keep)
{
	char *dir = inst_dir(vol, inst);
	struct dirent *e;
	DIR *d = opendir(dir);
	char k[32];

	snprintf(k, sizeof(k), "%llu", (unsigned long long)keep);
	while (d && (e = readdir(d))) {
		char *p;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    (keep && !strcmp(e->d_name, k)))
			continue;
		p = xasprintf("%s/%s", dir, e->d_name);
		rm_pins(p);
		free(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);	/* when empty */
	free(dir);
}

void bpf_unpin_volume(const char *vol, const char *const *names, size_t n)
{
	char *dir = xasprintf("%s/%s", BPF_PIN_ROOT, vol);
	struct dirent *e;
	DIR *d = opendir(dir);
	size_t i;

	while (d && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		for (i = 0; i < n && strcmp(names[i], e->d_name); i++)
			;
		if (i == n)
			bpf_unpin(vol, e->d_name, 0);
	}
	if (d)
		closedir(d);
	rmdir(dir);
	free(dir);
}

char *bpf_status_words(const char *vol, const char *inst, uint64_t key)
{
	char *dir = key_dir(vol, inst, key), *p;
	struct bpf_link_info li;
	struct bpf_map_info mi;
	__u32 len = sizeof(li);
	struct dirent *e;
	struct sbuf b;
	DIR *d;
	int fd, n = 0;

	sb_init(&b);
	p = xasprintf("%s/link", dir);
	fd = bpf_obj_get(p);
	free(p);
	memset(&li, 0, sizeof(li));
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &li, &len)) {
		sb_add(&b, "prog_id=none");
		if (fd >= 0)
			close(fd);
		free(dir);
		return sb_steal(&b);
	}
	close(fd);
	sb_printf(&b, "prog_id=%u link_id=%u maps=", li.prog_id, li.id);
	d = opendir(dir);
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' || !strcmp(e->d_name, "link"))
			continue;
		p = xasprintf("%s/%s", dir, e->d_name);
		fd = bpf_obj_get(p);
		free(p);
		len = sizeof(mi);
		memset(&mi, 0, sizeof(mi));
		if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &mi, &len))
			sb_printf(&b, "%s%s:%u", n++ ? "," : "", e->d_name, mi.id);
		if (fd >= 0)
			close(fd);
	}
	if (d)
		closedir(d);
	if (!n)
		sb_add(&b, "-");
	free(dir);
	return sb_steal(&b);
}

/* A key or value of @len bytes: a number when it has an integer's size */
static void kv_set(const unsigned char *b, uint32_t len, bool *num, uint64_t *v, char **hex)
{
	uint64_t x = 0;
	uint32_t x32;
	uint16_t x16;
	uint32_t i;
	struct sbuf s;

	switch (len) {
	case 1:
		x = *b;
		break;
	case 2:
		memcpy(&x16, b, 2);
		x = x16;
		break;
	case 4:
		memcpy(&x32, b, 4);
		x = x32;
		break;
	case 8:
		memcpy(&x, b, 8);
		break;
	default:
		sb_init(&s);
		sb_add(&s, "0x");
		for (i = 0; i < len; i++)
			sb_printf(&s, "%02x", b[i]);
		*hex = sb_steal(&s);
		return;
	}
	*num = true;
	*v = x;
}

static bool all_zero(const unsigned char *b, uint32_t len)
{
	while (len--)
		if (*b++)
			return false;
	return true;
}

/* Read the entries of the map behind @fd (array or hash, small) into @d */
static void dump_entries(int fd, const struct bpf_map_info *mi, struct bpf_map_dump *d)
{
	unsigned char *k = xcalloc(1, mi->key_size), *next = xcalloc(1, mi->key_size);
	unsigned char *v = xcalloc(1, mi->value_size);
	bool array = mi->type == BPF_MAP_TYPE_ARRAY;
	void *prev = NULL;
	uint32_t seen = 0;

	d->e = xcalloc(BPF_DUMP_ENTRIES_MAX, sizeof(*d->e));
	/* bounded: a map of BPF_DUMP_MAP_MAX entries at most */
	while (seen++ < mi->max_entries && !bpf_map_get_next_key(fd, prev, next)) {
		memcpy(k, next, mi->key_size);
		prev = k;
		if (bpf_map_lookup_elem(fd, k, v))
			continue;	/* deleted meanwhile */
		if (array && all_zero(v, mi->value_size))
			continue;
		if (d->n == BPF_DUMP_ENTRIES_MAX) {
			d->more++;
			continue;
		}
		kv_set(k, mi->key_size, &d->e[d->n].knum, &d->e[d->n].k, &d->e[d->n].khex);
		kv_set(v, mi->value_size, &d->e[d->n].vnum, &d->e[d->n].v, &d->e[d->n].vhex);
		d->n++;
	}
	free(k);
	free(next);
	free(v);
}

int bpf_map_dumps(const char *vol, const char *inst, uint64_t key, struct bpf_map_dump **maps,
		  size_t *n)
{
	char *dir = key_dir(vol, inst, key), *p;
	struct dirent **ents = NULL;
	struct bpf_map_dump *d;
	int i, ne, fd;

	*maps = NULL;
	*n = 0;
	ne = scandir(dir, &ents, NULL, alphasort);
	free(dir);
	if (ne < 0)
		return -errno;
	*maps = xcalloc(ne + 1, sizeof(**maps));
	for (i = 0; i < ne; i++) {
		struct bpf_map_info mi;
		__u32 len = sizeof(mi);
		const char *t;

		if (ents[i]->d_name[0] == '.' || !strcmp(ents[i]->d_name, "link"))
			continue;
		p = xasprintf("%s/%s/%s/%llu/%s", BPF_PIN_ROOT, vol, inst, (unsigned long long)key,
			      ents[i]->d_name);
		fd = bpf_obj_get(p);
		free(p);
		memset(&mi, 0, sizeof(mi));
		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &mi, &len)) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		d = &(*maps)[(*n)++];
		snprintf(d->name, sizeof(d->name), "%.31s", ents[i]->d_name);
		t = libbpf_bpf_map_type_str(mi.type);
		snprintf(d->type, sizeof(d->type), "%s", t ? t : "unknown");
		d->id = mi.id;
		d->max_entries = mi.max_entries;
		d->key_size = mi.key_size;
		d->value_size = mi.value_size;
		if (mi.type != BPF_MAP_TYPE_ARRAY && mi.type != BPF_MAP_TYPE_HASH)
			d->skipped = "not an array or hash map";
		else if (mi.max_entries > BPF_DUMP_MAP_MAX)
			d->skipped = "more than 4096 entries";
		else
			dump_entries(fd, &mi, d);
		close(fd);
	}
	for (i = 0; i < ne; i++)
		free(ents[i]);
	free(ents);
	return 0;
}
