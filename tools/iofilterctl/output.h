/* SPDX-License-Identifier: GPL-2.0 */
/*
 * iofilterctl output layer (output*.c): one place that turns results into
 * text or JSON (chosen by -o, like nvme-cli).  Every JSON document is one object that
 * carries the errors of the run in "errors" (and "warnings"), so a script
 * reading stdout sees why a command failed; in text mode errors go to
 * stderr as "iofilterctl: ...".
 */
#ifndef IOFCTL_OUTPUT_H
#define IOFCTL_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/iofilter.h>

#include "json.h"
#include "policy.h"

enum ofmt { OFMT_TEXT, OFMT_JSON };
extern enum ofmt ofmt;
extern bool noheadings;

/* ---- errors and warnings of the run ---- */
struct report_entry {
	char *message;
	char *hint;
	char *volume;	/* or NULL */
	char *file;	/* policy diagnostics */
	unsigned line, col;
	int err;	/* errno, 0 if none */
};

/*
 * Report an error: text mode prints "iofilterctl: [VOLUME: ]message",
 * JSON mode keeps it for the document.  Returns exit_code, for
 * "return report_error(...)".
 */
int report_error(int exit_code, const char *volume, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void report_warning(const char *volume, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Policy diagnostics: printed as FILE:LINE:COL: message in text mode. */
void report_diags(const struct diags *d);
void report_reset(void);
size_t report_nerrors(void);
/* "errors": [...], "warnings": [...] */
void json_reports(struct json *j);

/* Split "k=v k=v" status text into a JSON object (integers as numbers). */
void json_kv_object(struct json *j, const char *key, const char *text);
/* A "k=v\0k=v\0" parameter block as a JSON object. */
void json_params_object(struct json *j, const char *key, const char *blk, size_t len);
/* The same block as "k=v k=v" text (caller frees). */
char *params_text(const char *blk, size_t len);

/* ---- what the verbs show ---- */
struct show_instance {
	struct iof_instance_info info;
	char name[IOF_NAME_LEN], type[IOF_NAME_LEN];
	char *params;
	size_t params_len;
	char *status;		/* may be NULL if it could not be read */
};

struct show_volume {
	struct iof_volume_info info;
	char name[IOF_NAME_LEN];
	char origin_path[256];		/* "" if unknown */
	char backing_file[4096];	/* loop or qemu-nbd devices: the image, else "" */
	char backing_format[32];	/* qemu-nbd devices: the image's format, else "" */
	struct show_instance *inst;
	size_t ninst;
};

void show_status(const struct show_volume *v, size_t n);

/* A filter instance's status text, for --watch deltas */
struct stats_inst {
	char name[IOF_NAME_LEN];
	char type[IOF_NAME_LEN];
	char *status;
};

struct bpf_map_dump;

/* A bpf instance's small maps (bpf.h: bpf_map_dumps()) */
struct stats_bpf {
	char name[IOF_NAME_LEN];
	struct bpf_map_dump *maps;
	size_t nmaps;
};

struct stats_volume {
	char name[IOF_NAME_LEN];
	uint64_t generation;
	struct iof_volume_counters vol;
	struct iof_counters dflt;
	struct iof_counters *rules;
	char (*rule_names)[IOF_RULE_NAME_LEN];
	size_t nrules;
	struct stats_inst *inst;	/* --watch only */
	size_t ninst;
	struct stats_bpf *bpf;		/* not --watch */
	size_t nbpf;
};

void show_stats(const struct stats_volume *v, size_t n, bool reset);
/*
 * --watch: rates between two samples taken secs apart, and the changes of
 * the numeric fields of each filter instance's status; JSON: one line each.
 */
void show_stats_rates(const struct stats_volume *prev, const struct stats_volume *cur, size_t n,
		      double secs, uint64_t timestamp);

void show_filters(const struct iof_type_info *t, size_t n);

struct show_version {
	bool kernel_loaded;
	uint32_t kver[3];
	uint32_t nr_types, nr_volumes;
};
void show_version(const struct show_version *v);

void show_validate(const struct policy *p, const struct diags *d);

/* What apply did (or would do, dry run) to each volume */
struct apply_report;
void show_apply(const struct apply_report *rep);

/* One instance's answer to a message (commands that broadcast one) */
struct msg_result {
	char name[IOF_NAME_LEN], type[IOF_NAME_LEN];
	char *result;
	int err;
};
/* apply/validate: a policy with errors, nothing applied (text: one line) */
void show_nothing_applied(const char *file, unsigned int nerr);
/*
 * single: one instance asked, its answer alone (text); none: the filter
 * kind to name when there was no instance to ask (text), or NULL
 */
void show_messages(const char *vol, const char *msg, const struct msg_result *m, size_t n,
		   bool single, const char *none);
void show_detach(const char *vol, const struct msg_result *m, size_t n, bool removed,
		 const char *released);

/* A document with nothing but the errors (a verb that failed early). */
void show_errors_only(void);

#endif
