// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl output: the results of the verbs that check or act, as text
 * or JSON.  validate (the policy's volumes, or its diagnostics), apply
 * (each volume's changes, done or planned), the answers of a message sent
 * to filter instances (message, flush, resync) and detach.
 */
#include <inttypes.h>
#include <string.h>

#include "apply.h"
#include "output.h"
#include "output-int.h"
#include "util.h"

/* ---- validate ---- */

void show_validate(const struct policy *p, const struct diags *d)
{
	size_t nf = 0, nr = 0, i;

	for (i = 0; i < p->nvols; i++) {
		nf += p->vols[i].nfilters;
		nr += p->vols[i].nrules;
	}
	if (ofmt == OFMT_JSON) {
		struct json j;

		json_init(&j, out_fp);
		json_obj_open(&j, NULL);
		json_str(&j, "file", d->file);
		json_bool(&j, "valid", d->nerr == 0);
		json_u64(&j, "volumes", p->nvols);
		json_u64(&j, "filters", nf);
		json_u64(&j, "rules", nr);
		json_doc_end(&j);
		return;
	}
	if (d->nerr)
		fprintf(err_fp, "%s: %u error%s\n", d->file, d->nerr, d->nerr == 1 ? "" : "s");
	else if (verbosity >= 0)
		fprintf(out_fp, "%s: valid (%zu volume%s, %zu filter%s, %zu rule%s)\n", d->file,
			p->nvols, p->nvols == 1 ? "" : "s", nf, nf == 1 ? "" : "s", nr, nr == 1 ? "" : "s");
}

/* ---- apply ---- */

static const char *result_name(enum vol_result r)
{
	switch (r) {
	case VOL_CREATED:
		return "created";
	case VOL_CHANGED:
		return "changed";
	case VOL_FAILED:
		return "failed";
	default:
		return "unchanged";
	}
}

static void text_change(const struct change *c)
{
	if (c->name)
		fprintf(out_fp, "  %c %s %s: %s\n", c->sign, c->what, c->name, c->text);
	else
		fprintf(out_fp, "  %c %s: %s\n", c->sign, c->what, c->text);
}

void show_apply(const struct apply_report *rep)
{
	size_t i, j;

	if (ofmt == OFMT_JSON) {
		struct json js;

		json_init(&js, out_fp);
		json_obj_open(&js, NULL);
		json_str(&js, "file", rep->file);
		json_bool(&js, "dry_run", rep->dry_run);
		json_arr_open(&js, "volumes");
		for (i = 0; i < rep->n; i++) {
			const struct vol_report *v = &rep->v[i];

			json_obj_open(&js, NULL);
			json_str(&js, "name", v->name);
			json_str(&js, "result", result_name(v->result));
			json_bool(&js, "partial", v->partial);
			json_str(&js, "device", v->device);
			json_str(&js, "origin", v->origin);
			json_u64(&js, "size", v->size);
			json_u64(&js, "generation", v->generation);
			json_u64(&js, "filters", v->nfilters);
			json_u64(&js, "rules", v->nrules);
			json_arr_open(&js, "changes");
			for (j = 0; j < v->nchanges; j++) {
				const struct change *c = &v->changes[j];
				char op[2] = { c->sign, 0 };

				json_obj_open(&js, NULL);
				json_str(&js, "op", op);
				json_str(&js, "what", c->what);
				json_str(&js, "name", c->name);
				json_str(&js, "detail", c->text);
				json_obj_close(&js);
			}
			json_arr_close(&js);
			json_obj_close(&js);
		}
		json_arr_close(&js);
		json_doc_end(&js);
		return;
	}
	for (i = 0; i < rep->n; i++) {
		const struct vol_report *v = &rep->v[i];
		char sz[32];

		if (v->result == VOL_FAILED) {
			if (v->nchanges && rep->dry_run)
				for (j = 0; j < v->nchanges; j++)
					text_change(&v->changes[j]);
			fprintf(out_fp, "%s: failed%s\n", v->name, v->partial ? " (partially applied)" : "");
			continue;
		}
		if (!v->nchanges) {
			if (verbosity >= 0)
				fprintf(out_fp, "%s: no changes\n", v->name);
			continue;
		}
		if (rep->dry_run || verbosity >= 1)
			for (j = 0; j < v->nchanges; j++)
				text_change(&v->changes[j]);
		if (rep->dry_run)
			fprintf(out_fp, "%s: %zu change%s (dry run, nothing applied)\n", v->name, v->nchanges,
				v->nchanges == 1 ? "" : "s");
		else if (verbosity < 0)
			continue;
		else if (v->result == VOL_CREATED)
			fprintf(out_fp, "%s: created %s over %s (%s): %zu filter%s, %zu rule%s, generation %" PRIu64 "\n",
				v->name, v->device, v->origin ? v->origin : "?",
				fmt_size(v->size, sz, sizeof(sz)), v->nfilters, v->nfilters == 1 ? "" : "s",
				v->nrules, v->nrules == 1 ? "" : "s", v->generation);
		else
			fprintf(out_fp, "%s: %zu change%s applied, generation %" PRIu64 "\n", v->name,
				v->nchanges, v->nchanges == 1 ? "" : "s", v->generation);
	}
}

/* apply/validate refused a policy with errors (already reported) */
void show_nothing_applied(const char *file, unsigned int nerr)
{
	if (ofmt == OFMT_TEXT)
		fprintf(err_fp, "%s: %u error%s; nothing applied\n", file, nerr,
			nerr == 1 ? "" : "s");
}

/* ---- messages (flush, writeback, ...) and detach ---- */

void show_messages(const char *vol, const char *msg, const struct msg_result *m, size_t n,
		   bool single, const char *none)
{
	size_t i;

	if (ofmt == OFMT_JSON) {
		struct json j;

		json_init(&j, out_fp);
		json_obj_open(&j, NULL);
		json_str(&j, "volume", vol);
		json_str(&j, "message", msg);
		if (single) {
			json_str(&j, "instance", n ? m[0].name : NULL);
			json_str(&j, "result", n && !m[0].err ? m[0].result : NULL);
		} else {
			json_arr_open(&j, "instances");
			for (i = 0; i < n; i++) {
				json_obj_open(&j, NULL);
				json_str(&j, "name", m[i].name);
				json_str(&j, "type", m[i].type);
				json_str(&j, "result", m[i].err ? NULL : m[i].result);
				json_str(&j, "error", m[i].err ? strerror(m[i].err) : NULL);
				json_obj_close(&j);
			}
			json_arr_close(&j);
		}
		json_doc_end(&j);
		return;
	}
	if (!n && none && verbosity >= 0)
		fprintf(out_fp, "%s: no %s filters\n", vol, none);
	for (i = 0; i < n; i++) {
		const char *res = m[i].result ? m[i].result : "";
		size_t l = strlen(res);

		if (m[i].err)
			continue;
		if (single) {
			if (l)
				fprintf(out_fp, "%s%s", res, res[l - 1] == '\n' ? "" : "\n");
		} else if (verbosity >= 0) {
			fprintf(out_fp, "%s: %s %s: done%s%s\n", vol, msg, m[i].name, l ? ": " : "", res);
		}
	}
}

void show_detach(const char *vol, const struct msg_result *m, size_t n, bool removed,
		 const char *released)
{
	size_t i;

	if (ofmt == OFMT_JSON) {
		struct json j;

		json_init(&j, out_fp);
		json_obj_open(&j, NULL);
		json_str(&j, "volume", vol);
		json_arr_open(&j, "flushed");
		for (i = 0; i < n; i++)
			if (!m[i].err)
				json_str(&j, NULL, m[i].name);
		json_arr_close(&j);
		json_bool(&j, "removed", removed);
		json_str(&j, "disconnected", released);
		json_doc_end(&j);
		return;
	}
	if (removed && verbosity >= 0)
		fprintf(out_fp, "%s: detached (/dev/mapper/%s removed%s%s%s)\n", vol, vol,
			n ? ", filters flushed first" : "",
			released ? ", qemu-nbd disconnected from " : "", released ? released : "");
}
