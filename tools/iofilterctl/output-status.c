// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl output: what the kernel has, as text or JSON.  status (each
 * volume, its origin and its filter instances with their status), filters
 * (the registered types) and version.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "kapi.h"
#include "output.h"
#include "output-int.h"
#include "util.h"

/* ---- status ---- */

static char *flag_list(uint32_t flags, const char *const *names, size_t n)
{
	struct sbuf b;
	size_t i;

	sb_init(&b);
	for (i = 0; i < 32; i++) {
		if (!(flags & (1U << i)))
			continue;
		if (b.len)
			sb_addc(&b, ',');
		if (i < n)
			sb_add(&b, names[i]);
		else
			sb_printf(&b, "0x%x", 1U << i);
	}
	return sb_steal(&b);
}

static void json_flags(struct json *j, const char *key, uint32_t flags, const char *const *names,
		       size_t n)
{
	size_t i;

	json_arr_open(j, key);
	for (i = 0; i < 32; i++) {
		char hex[16];

		if (!(flags & (1U << i)))
			continue;
		if (i < n) {
			json_str(j, NULL, names[i]);
		} else {
			snprintf(hex, sizeof(hex), "0x%x", 1U << i);
			json_str(j, NULL, hex);
		}
	}
	json_arr_close(j);
}

static const char *const vol_flag_names[] = { "suspended", "error" };
static const char *const inst_flag_names[] = { "error", "dirty" };
static const char *const type_flag_names[] = { "range_exclusive", "nowait", "holds_dirty",
						 "write_exclusive" };

static void devt(char *buf, size_t len, uint32_t maj, uint32_t min)
{
	snprintf(buf, len, "%u:%u", maj, min);
}

/* status -o json: one filter instance, an object of the "instances" array. */
static void json_status_instance(struct json *j, const struct show_instance *s)
{
	json_obj_open(j, NULL);
	json_str(j, "name", s->name);
	json_str(j, "type", s->type);
	json_u64(j, "id", s->info.id);
	json_str(j, "class", class_name(s->info.class));
	json_u64(j, "users", s->info.users);
	json_flags(j, "flags", s->info.flags, inst_flag_names,
		   ARRAY_SIZE(inst_flag_names));
	json_params_object(j, "params", s->params, s->params_len);
	if (s->status)
		json_kv_object(j, "status", s->status);
	else
		json_null(j, "status");
	json_obj_close(j);
}

/* status -o json: one volume, an object of the "volumes" array. */
static void json_status_volume(struct json *j, const struct show_volume *x)
{
	char b[32], *dev = xasprintf("/dev/mapper/%s", x->name);
	size_t k;

	json_obj_open(j, NULL);
	json_str(j, "name", x->name);
	json_str(j, "device", dev);
	free(dev);
	devt(b, sizeof(b), x->info.dev_major, x->info.dev_minor);
	json_str(j, "dev", b);
	json_obj_open(j, "origin");
	devt(b, sizeof(b), x->info.origin_major, x->info.origin_minor);
	json_str(j, "dev", b);
	json_str(j, "path", x->origin_path[0] ? x->origin_path : NULL);
	json_str(j, "backing_file", x->backing_file[0] ? x->backing_file : NULL);
	json_str(j, "backing_format", x->backing_format[0] ? x->backing_format :
		 x->backing_file[0] ? "raw" : NULL);
	json_obj_close(j);
	json_u64(j, "size", x->info.size);
	json_u64(j, "generation", x->info.generation);
	json_u64(j, "rules", x->info.nr_rules);
	json_flags(j, "flags", x->info.flags, vol_flag_names, ARRAY_SIZE(vol_flag_names));
	json_arr_open(j, "instances");
	for (k = 0; k < x->ninst; k++)
		json_status_instance(j, &x->inst[k]);
	json_arr_close(j);
	json_obj_close(j);
}

/* status in text: one volume, then up to three lines per instance. */
static void text_status_volume(const struct show_volume *x)
{
	char sz[32], *fl = flag_list(x->info.flags, vol_flag_names, ARRAY_SIZE(vol_flag_names));
	size_t k;

	fprintf(out_fp, "%s: /dev/mapper/%s (%u:%u)\n", x->name, x->name, x->info.dev_major,
		x->info.dev_minor);
	fprintf(out_fp, "  origin:     %s (%u:%u)%s%s%s%s%s\n", x->origin_path[0] ? x->origin_path : "?",
		x->info.origin_major, x->info.origin_minor,
		x->backing_file[0] ? ", file " : "", x->backing_file,
		x->backing_format[0] ? " (" : "", x->backing_format,
		x->backing_format[0] ? ", qemu-nbd)" : "");
	fprintf(out_fp, "  size:       %s (%" PRIu64 " bytes)\n",
		fmt_size_human(x->info.size, sz, sizeof(sz)), (uint64_t)x->info.size);
	fprintf(out_fp, "  generation: %" PRIu64 "\n", (uint64_t)x->info.generation);
	fprintf(out_fp, "  rules:      %u\n", x->info.nr_rules);
	fprintf(out_fp, "  flags:      %s\n", *fl ? fl : "-");
	free(fl);
	for (k = 0; k < x->ninst; k++) {
		const struct show_instance *s = &x->inst[k];
		char *p = params_text(s->params, s->params_len);

		fl = flag_list(s->info.flags, inst_flag_names, ARRAY_SIZE(inst_flag_names));
		fprintf(out_fp, "  instance %s: type %s, class %s, id %u, used by %u rule%s%s%s\n",
			s->name, s->type, class_name(s->info.class), s->info.id, s->info.users,
			s->info.users == 1 ? "" : "s", *fl ? ", " : "", fl);
		if (*p)
			fprintf(out_fp, "    params: %s\n", p);
		if (s->status && *s->status)
			fprintf(out_fp, "    status: %s\n", s->status);
		free(p);
		free(fl);
	}
}

void show_status(const struct show_volume *v, size_t n)
{
	size_t i;

	if (ofmt == OFMT_JSON) {
		struct json j;

		json_init(&j, out_fp);
		json_obj_open(&j, NULL);
		json_arr_open(&j, "volumes");
		for (i = 0; i < n; i++)
			json_status_volume(&j, &v[i]);
		json_arr_close(&j);
		json_doc_end(&j);
		return;
	}
	if (!n && verbosity >= 0)
		fprintf(out_fp, "no iofilter volumes\n");
	for (i = 0; i < n; i++) {
		text_status_volume(&v[i]);
		if (i + 1 < n)
			fputc('\n', out_fp);
	}
}

/* ---- filters ---- */

void show_filters(const struct iof_type_info *t, size_t n)
{
	size_t i;

	if (ofmt == OFMT_JSON) {
		struct json j;

		json_init(&j, out_fp);
		json_obj_open(&j, NULL);
		json_arr_open(&j, "filters");
		for (i = 0; i < n; i++) {
			char name[IOF_NAME_LEN], ver[48];

			kname(name, t[i].name, sizeof(name));
			snprintf(ver, sizeof(ver), "%u.%u.%u", t[i].version[0], t[i].version[1],
				 t[i].version[2]);
			json_obj_open(&j, NULL);
			json_str(&j, "name", name);
			json_str(&j, "version", ver);
			json_str(&j, "class", class_name(t[i].class));
			json_flags(&j, "flags", t[i].flags, type_flag_names, ARRAY_SIZE(type_flag_names));
			json_u64(&j, "instances", t[i].nr_instances);
			json_obj_close(&j);
		}
		json_arr_close(&j);
		json_doc_end(&j);
		return;
	}
	if (!noheadings)
		fprintf(out_fp, "%-20s %-10s %-10s %9s  %s\n", "NAME", "VERSION", "CLASS", "INSTANCES",
			"FLAGS");
	for (i = 0; i < n; i++) {
		char name[IOF_NAME_LEN], ver[48];
		char *fl = flag_list(t[i].flags, type_flag_names, ARRAY_SIZE(type_flag_names));

		kname(name, t[i].name, sizeof(name));
		snprintf(ver, sizeof(ver), "%u.%u.%u", t[i].version[0], t[i].version[1], t[i].version[2]);
		fprintf(out_fp, "%-20s %-10s %-10s %9u  %s\n", name, ver, class_name(t[i].class),
			t[i].nr_instances, *fl ? fl : "-");
		free(fl);
	}
}

/* ---- version ---- */

void show_version(const struct show_version *v)
{
	char abi[48], kabi[48];

	snprintf(abi, sizeof(abi), "%d.%d.%d", IOFILTER_VERSION_MAJOR, IOFILTER_VERSION_MINOR,
		 IOFILTER_VERSION_PATCH);
	snprintf(kabi, sizeof(kabi), "%u.%u.%u", v->kver[0], v->kver[1], v->kver[2]);
	if (ofmt == OFMT_JSON) {
		struct json j;

		json_init(&j, out_fp);
		json_obj_open(&j, NULL);
		json_str(&j, "iofilterctl", IOFCTL_VERSION);
		json_str(&j, "abi", abi);
		json_obj_open(&j, "kernel");
		json_bool(&j, "loaded", v->kernel_loaded);
		if (v->kernel_loaded) {
			json_str(&j, "abi", kabi);
			json_u64(&j, "filter_types", v->nr_types);
			json_u64(&j, "volumes", v->nr_volumes);
		}
		json_obj_close(&j);
		json_doc_end(&j);
		return;
	}
	fprintf(out_fp, "iofilterctl %s (ABI %s)\n", IOFCTL_VERSION, abi);
	if (v->kernel_loaded)
		fprintf(out_fp, "kernel module: ABI %s, %u filter type%s, %u volume%s\n", kabi,
			v->nr_types, v->nr_types == 1 ? "" : "s", v->nr_volumes,
			v->nr_volumes == 1 ? "" : "s");
	else
		fprintf(out_fp, "kernel module: not loaded\n");
}
