// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl verbs that act on a live volume: message (one instance),
 * flush and resync (every instance of the classes that take them), and
 * detach (write back what filters hold, after a confirmation unless --yes,
 * then remove the dm device and release its origin).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "bpf.h"
#include "commands.h"
#include "commands-int.h"
#include "dm.h"
#include "kapi.h"
#include "loop.h"
#include "qnbd.h"
#include "output.h"
#include "util.h"

unsigned detach_wait_ms = 30000;

/* ---- messages: message, flush, resync ---- */

static char *join_words(int argc, char **argv)
{
	struct sbuf b;
	int i;

	sb_init(&b);
	for (i = 0; i < argc; i++) {
		if (i)
			sb_addc(&b, ' ');
		sb_add(&b, argv[i]);
	}
	return sb_steal(&b);
}

int cmd_message(struct cmd *c)
{
	struct msg_result m;
	struct kapi k;
	char *msg;
	int code, r;

	memset(&m, 0, sizeof(m));
	msg = join_words(c->argc - 2, c->argv + 2);
	if (strlen(msg) + 1 > IOF_MSG_LEN) {
		code = report_error(EXIT_INVALID, NULL, 0, "message is longer than %d bytes", IOF_MSG_LEN - 1);
		show_errors_only();
		free(msg);
		return code;
	}
	code = open_kernel(&k);
	if (code) {
		show_errors_only();
		free(msg);
		return code;
	}
	snprintf(m.name, sizeof(m.name), "%s", c->argv[1]);
	r = kapi_message(&k, c->argv[0], c->argv[1], msg, &m.result);
	if (r) {
		char *what = xasprintf("message to %s", c->argv[1]);

		m.err = -r;
		if (r == -ENODEV)
			code = report_error(EXIT_NODEV, NULL, r, "no such volume: %s", c->argv[0]);
		else if (r == -ENOENT)
			code = report_error(EXIT_NODEV, c->argv[0], r, "no such filter instance: %s",
					    c->argv[1]);
		else
			code = kfail(&k, c->argv[0], r, what);
		free(what);
	}
	show_messages(c->argv[0], msg, &m, 1, true, NULL);
	free(m.result);
	free(msg);
	kapi_close(&k);
	return code;
}

/* Send msg to every instance whose class is in classes (a bit mask). */
static int broadcast(struct kapi *k, const char *vol, const char *msg, unsigned classes,
		     struct msg_result **out, size_t *nout)
{
	struct iof_instance_info *ii;
	struct msg_result *m;
	size_t n, i;
	int code = 0, r;

	*out = NULL;
	*nout = 0;
	r = kapi_list_instances(k, vol, &ii, &n);
	if (r == -ENODEV || r == -ENOENT)
		return report_error(EXIT_NODEV, NULL, r, "no such volume: %s", vol);
	if (r)
		return kfail(k, vol, r, "list filter instances");
	m = xcalloc(n + 1, sizeof(*m));
	for (i = 0; i < n; i++) {
		struct msg_result *x = &m[*nout];

		if (ii[i].class >= 32 || !(classes & (1U << ii[i].class)))
			continue;
		kname(x->name, ii[i].name, sizeof(x->name));
		kname(x->type, ii[i].type, sizeof(x->type));
		info("%s: %s %s", vol, msg, x->name);
		r = kapi_message(k, vol, x->name, msg, &x->result);
		if (r) {
			char *what = xasprintf("%s %s", msg, x->name);

			x->err = -r;
			if (!code)
				code = kfail(k, vol, r, what);
			else
				kfail(k, vol, r, what);
			free(what);
		}
		(*nout)++;
	}
	free(ii);
	*out = m;
	return code;
}

static int cmd_broadcast(struct cmd *c, const char *msg, unsigned classes, const char *none)
{
	struct msg_result *m = NULL;
	struct kapi k;
	size_t n = 0, i;
	int code;

	code = open_kernel(&k);
	if (code) {
		show_errors_only();
		return code;
	}
	code = broadcast(&k, c->argv[0], msg, classes, &m, &n);
	show_messages(c->argv[0], msg, m, n, false, code ? NULL : none);
	for (i = 0; i < n; i++)
		free(m[i].result);
	free(m);
	kapi_close(&k);
	return code;
}

int cmd_flush(struct cmd *c)
{
	return cmd_broadcast(c, "flush", (1U << IOF_CLASS_REPLICATE) | (1U << IOF_CLASS_CACHE),
			     "cache or replicate");
}

int cmd_resync(struct cmd *c)
{
	return cmd_broadcast(c, "resync", 1U << IOF_CLASS_REPLICATE, "replicate");
}

/* ---- detach ---- */

static bool confirm(const char *question)
{
	char line[16];

	if (!isatty(STDIN_FILENO))
		return false;
	fprintf(err_fp, "%s [y/N] ", question);
	fflush(err_fp);
	if (!fgets(line, sizeof(line), stdin))
		return false;
	return !strcmp(line, "y\n") || !strcmp(line, "yes\n") || !strcmp(line, "Y\n");
}

/* released: the NBD device whose qemu-nbd detach disconnected, or NULL */

/* Wait until no instance of the volume is dirty. */
static int wait_clean(struct kapi *k, const char *vol, const struct msg_result *m, size_t n)
{
	unsigned waited = 0;
	size_t i;

	for (;;) {
		bool dirty = false;
		const char *which = NULL;

		for (i = 0; i < n; i++) {
			struct iof_instance_info info;
			int r = kapi_instance_get(k, vol, m[i].name, &info, NULL, NULL, NULL);

			if (r)
				return kfail(k, vol, r, "read filter state");
			if (info.flags & IOF_INST_DIRTY) {
				dirty = true;
				which = m[i].name;
			}
		}
		if (!dirty)
			return 0;
		if (waited >= detach_wait_ms)
			return report_error(EXIT_BUSY, vol, -EBUSY,
					    "filter %s still holds data not on the origin after \"flush\"; not detaching",
					    which);
		usleep(100 * 1000);
		waited += 100;
	}
}

/*
 * detach: vol is an iofilter volume no one holds open (udev gets 2 s);
 * its table's params into *params.  0, or the exit code reported.
 */
static int detach_check_volume(const char *vol, char **type, char **params)
{
	struct dmx_info di;
	uint64_t sectors;
	size_t i;
	int r;

	r = dmx_info(vol, &di);
	if (r)
		return report_error(errno_exit(r), vol, r, "cannot query device-mapper: %s", strerror(-r));
	if (!di.exists)
		return report_error(EXIT_NODEV, vol, -ENOENT, "no such volume (no /dev/mapper/%s)", vol);
	r = dmx_table(vol, &sectors, type, params);
	if (r || strcmp(*type, IOFILTER_TARGET_NAME))
		return report_error(EXIT_NODEV, vol, 0, "/dev/mapper/%s is not an iofilter volume", vol);
	/*
	 * With udev, its probe of the device (blkid after the change event a
	 * writer's close makes, e.g. an unmount at shutdown) holds it for an
	 * instant: give it 2 s before calling the device busy.
	 */
	for (i = 0; udev_sync && di.open_count > 0 && i < 20; i++) {
		usleep(100000);
		if (dmx_info(vol, &di))
			break;
	}
	if (di.open_count > 0)
		return report_error(EXIT_BUSY, vol, -EBUSY, "/dev/mapper/%s is in use (open %d time%s)", vol,
				    di.open_count, di.open_count == 1 ? "" : "s");
	return 0;
}

/* detach: ask unless --yes; 0, or the exit code reported. */
static int detach_confirm(const struct cmd *c, const char *vol)
{
	char *q;
	bool ok;

	if (c->yes)
		return 0;
	q = xasprintf("Detach volume %s (remove /dev/mapper/%s)?", vol, vol);
	ok = confirm(q);
	free(q);
	if (!ok)
		return report_error(EXIT_INVALID, vol, 0, isatty(STDIN_FILENO) ? "not detached" :
				    "not detaching without --yes (stdin is not a terminal)");
	return 0;
}

/*
 * detach: send "flush" to each filter of vol whose type holds dirty data;
 * the messages sent into *mp / *np (freed by the caller).  0, or the exit
 * code reported.
 */
static int detach_flush_holders(struct kapi *k, const char *vol, struct msg_result **mp, size_t *np)
{
	struct iof_type_info *t = NULL;
	struct iof_instance_info *ii = NULL;
	size_t nt = 0, ni = 0, i, j;
	struct msg_result *m;
	int code = 0, r;

	r = kapi_list_types(k, &t, &nt);
	if (!r)
		r = kapi_list_instances(k, vol, &ii, &ni);
	if (r) {
		code = kfail(k, vol, r, "list filters");
		goto out;
	}
	m = *mp = xcalloc(ni + 1, sizeof(*m));
	for (i = 0; i < ni; i++) {
		char tn[IOF_NAME_LEN];
		bool holds = false;

		kname(tn, ii[i].type, sizeof(tn));
		for (j = 0; j < nt; j++) {
			char name[IOF_NAME_LEN];

			kname(name, t[j].name, sizeof(name));
			if (!strcmp(name, tn))
				holds = t[j].flags & IOF_TYPE_HOLDS_DIRTY;
		}
		if (!holds)
			continue;
		kname(m[*np].name, ii[i].name, sizeof(m[*np].name));
		snprintf(m[*np].type, sizeof(m[*np].type), "%s", tn);
		info("%s: flush %s", vol, m[*np].name);
		r = kapi_message(k, vol, m[*np].name, "flush", &m[*np].result);
		if (r) {
			char *what = xasprintf("flush %s", m[*np].name);

			code = kfail(k, vol, r, what);
			free(what);
			(*np)++;
			goto out;
		}
		(*np)++;
	}
out:
	free(t);
	free(ii);
	return code;
}

/*
 * detach, after the dm device went: an image apply served with qemu-nbd
 * (origin maj:min in params) is disconnected, which closes the image; its
 * device name into nbd and *released.  0, or the exit code reported.
 */
static int detach_release_nbd(const char *vol, const char *params, char *nbd, size_t size,
			      const char **released)
{
	unsigned maj, min;
	int r;

	if (sscanf(params, "%u:%u", &maj, &min) != 2)
		return 0;
	if (blkdev_path(makedev(maj, min), nbd, size))
		snprintf(nbd, size, "%u:%u", maj, min);
	r = nbd_detach(makedev(maj, min));
	if (r < 0)
		return report_error(errno_exit(r), vol, r, "disconnect %s (qemu-nbd): %s", nbd,
				    strerror(-r));
	if (r)
		*released = nbd;
	return 0;
}

int cmd_detach(struct cmd *c)
{
	const char *vol = c->argv[0];
	struct msg_result *m = NULL;
	struct kapi k;
	size_t n = 0, i;
	char *type = NULL, *params = NULL;
	char nbd[300];
	const char *released = NULL;
	bool removed = false;
	int code, r;

	code = open_kernel(&k);
	if (code) {
		show_detach(vol, NULL, 0, false, NULL);
		return code;
	}
	dmx_init();
	code = detach_check_volume(vol, &type, &params);
	if (code)
		goto out;
	code = detach_confirm(c, vol);
	if (code)
		goto out;
	/* Write back what a filter holds before the device goes. */
	code = detach_flush_holders(&k, vol, &m, &n);
	if (code)
		goto out;
	code = wait_clean(&k, vol, m, n);
	if (code)
		goto out;
	r = dmx_remove(vol);
	if (r) {
		code = report_error(errno_exit(r), vol, r, "remove /dev/mapper/%s: %s%s%s", vol,
				    r == -EBUSY ? "device is busy" : strerror(-r), *dmx_error() ? "; " : "",
				    dmx_error());
		goto out;
	}
	removed = true;
	bpf_unpin_volume(vol, NULL, 0);	/* the programs of its bpf filters */
	code = detach_release_nbd(vol, params, nbd, sizeof(nbd), &released);
out:
	show_detach(vol, m, n, removed, released);
	for (i = 0; i < n; i++)
		free(m[i].result);
	free(m);
	free(type);
	free(params);
	kapi_close(&k);
	dmx_exit();
	return code;
}
