// SPDX-License-Identifier: GPL-2.0
/*
 * iofilter core: the control device /dev/iofilter.
 *
 * Every ioctl argument starts with struct iof_ioctl_hdr and is copied in
 * once, whole (no double fetch), then checked: the command's size, the ABI
 * version, flags and reserved fields, every name, count and length, all
 * before anything is allocated from a user-supplied size.  The struct is
 * copied back on success and on failure, so the kernel's version and any
 * error text reach the caller.
 */
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/nospec.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "iof-core.h"

static_assert(sizeof(struct iof_ioctl_hdr) == 24);
static_assert(sizeof(struct iof_version) == 32);
static_assert(sizeof(struct iof_type_info) == 88);
static_assert(sizeof(struct iof_volume_info) == 112);
static_assert(sizeof(struct iof_list) == 112);
static_assert(sizeof(struct iof_instance_create) == 504);
static_assert(sizeof(struct iof_instance_remove) == 152);
static_assert(sizeof(struct iof_instance_rename) == 216);
static_assert(sizeof(struct iof_instance_info) == 152);
static_assert(sizeof(struct iof_instance_get) == 328);
static_assert(sizeof(struct iof_rule) == 96);
static_assert(sizeof(struct iof_table) == 480);
static_assert(sizeof(struct iof_counters) == 80);
static_assert(sizeof(struct iof_volume_counters) == 144);
static_assert(sizeof(struct iof_stats) == 336);
static_assert(sizeof(struct iof_message) == 176);

#define bad_input(fmt, ...) \
	pr_warn_ratelimited("iofilter: ioctl: " fmt "\n", ##__VA_ARGS__)

/*
 * A name field of the ABI: a valid name (iof_name_valid()) whose array is
 * zero after its NUL, like any reserved field.
 */
static bool name_ok(const char *name, const char *what)
{
	size_t len = strnlen(name, IOF_NAME_LEN);

	if (len < IOF_NAME_LEN && iof_name_valid(name) &&
	    !memchr_inv(name + len, 0, IOF_NAME_LEN - len))
		return true;
	bad_input("invalid %s name", what);
	return false;
}

/* Find a volume by a name from userspace; returns with vol->lock held. */
static struct iofilter_volume *lock_volume(const char *name)
{
	if (!name_ok(name, "volume"))
		return ERR_PTR(-EINVAL);
	return iof_volume_lock(name);
}

static void unlock_volume(struct iofilter_volume *vol)
{
	iof_volume_unlock(vol);
}

static int count_one(struct iofilter_volume *vol, void *ctx)
{
	(*(unsigned int *)ctx)++;
	return 0;
}

static int ctl_version(void *arg)
{
	struct iof_version *v = arg;
	unsigned int n = 0;

	if (v->nr_types || v->nr_volumes)
		return -EINVAL;
	v->nr_types = iof_nr_types();
	iof_volume_for_each(count_one, &n);
	v->nr_volumes = n;
	return 0;
}

/* Common checks of a list call; returns the entries the buffer holds. */
static int list_check(struct iof_list *l, size_t entry, bool want_volume)
{
	if (l->count || l->needed || l->entry_size) {
		bad_input("list: output fields must be zero");
		return -EINVAL;
	}
	if (l->buf_len > IOF_MAX_LIST_BYTES) {
		bad_input("list: buffer of %u bytes above the limit", l->buf_len);
		return -EINVAL;
	}
	if (!want_volume && memchr_inv(l->volume, 0, sizeof(l->volume))) {
		bad_input("list: volume must be empty");
		return -EINVAL;
	}
	l->entry_size = entry;
	return l->buf_len / entry;
}

static int list_out(struct iof_list *l, const void *buf, unsigned int n,
		    unsigned int needed)
{
	l->count = min(n, needed);
	l->needed = needed;
	if (l->count && copy_to_user(u64_to_user_ptr(l->buf), buf,
				     (size_t)l->count * l->entry_size))
		return -EFAULT;
	return 0;
}

static int ctl_list_types(void *arg)
{
	struct iof_list *l = arg;
	unsigned int needed;
	void *buf;
	int max, r;

	max = list_check(l, sizeof(struct iof_type_info), false);
	if (max < 0)
		return max;
	max = min_t(int, max, 1024);
	buf = kvcalloc(max ? max : 1, sizeof(struct iof_type_info),
		       GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	iof_list_types(buf, max, &needed);
	r = list_out(l, buf, max, needed);
	kvfree(buf);
	return r;
}

/* A listing being filled: entries kept (up to max), entries seen */
struct list_fill {
	void *buf;
	unsigned int max;
	unsigned int n;
};

static int volume_one(struct iofilter_volume *vol, void *ctx)
{
	struct list_fill *f = ctx;

	if (f->n < f->max)
		iof_volume_info(vol, (struct iof_volume_info *)f->buf + f->n);
	f->n++;
	return 0;
}

static int instance_one(struct iof_inst *inst, void *ctx)
{
	struct list_fill *f = ctx;

	if (f->n < f->max)
		iof_inst_info(inst, (struct iof_instance_info *)f->buf + f->n);
	f->n++;
	return 0;
}

static int ctl_list_volumes(void *arg)
{
	struct iof_list *l = arg;
	struct list_fill f = {};
	int max, r;

	max = list_check(l, sizeof(struct iof_volume_info), false);
	if (max < 0)
		return max;
	f.max = min_t(int, max, 4096);
	f.buf = kvcalloc(f.max ? f.max : 1, sizeof(struct iof_volume_info),
			 GFP_KERNEL);
	if (!f.buf)
		return -ENOMEM;
	iof_volume_for_each(volume_one, &f);
	r = list_out(l, f.buf, f.max, f.n);
	kvfree(f.buf);
	return r;
}

static int ctl_list_instances(void *arg)
{
	struct iof_list *l = arg;
	struct list_fill f = {};
	struct iofilter_volume *vol;
	int max, r;

	max = list_check(l, sizeof(struct iof_instance_info), true);
	if (max < 0)
		return max;
	f.max = min_t(int, max, IOF_MAX_INSTANCES);
	f.buf = kvcalloc(f.max ? f.max : 1, sizeof(struct iof_instance_info),
			 GFP_KERNEL);
	if (!f.buf)
		return -ENOMEM;
	vol = lock_volume(l->volume);
	if (IS_ERR(vol)) {
		kvfree(f.buf);
		return PTR_ERR(vol);
	}
	iof_inst_for_each(vol, instance_one, &f);
	unlock_volume(vol);
	r = list_out(l, f.buf, f.max, f.n);
	kvfree(f.buf);
	return r;
}

static int ctl_instance_create(void *arg)
{
	struct iof_instance_create *c = arg;
	struct iofilter_volume *vol;
	char *params = NULL;
	u8 *secret = NULL;
	int r;

	if (!name_ok(c->name, "instance") || !name_ok(c->type, "type"))
		return -EINVAL;
	if (c->reserved || c->id || memchr_inv(c->message, 0,
					       sizeof(c->message))) {
		bad_input("create: reserved/output fields must be zero");
		return -EINVAL;
	}
	if (c->params_len > IOF_MAX_PARAMS_LEN ||
	    c->secret_len > IOF_MAX_SECRET_LEN) {
		bad_input("create: params %u / secret %u bytes above the limits",
			  c->params_len, c->secret_len);
		return -EINVAL;
	}
	if (c->params_len) {
		params = memdup_user(u64_to_user_ptr(c->params), c->params_len);
		if (IS_ERR(params))
			return PTR_ERR(params);
	}
	if (c->secret_len) {
		secret = kmalloc(c->secret_len, GFP_KERNEL);
		if (!secret) {
			r = -ENOMEM;
			goto out;
		}
		if (copy_from_user(secret, u64_to_user_ptr(c->secret),
				   c->secret_len)) {
			r = -EFAULT;
			goto out;
		}
	}
	vol = lock_volume(c->volume);
	if (IS_ERR(vol)) {
		r = PTR_ERR(vol);
		goto out;
	}
	/* iof_inst_create takes params over */
	r = iof_inst_create(vol, c->name, c->type, params, c->params_len,
			    secret, c->secret_len, &c->id, c->message,
			    sizeof(c->message));
	params = NULL;
	unlock_volume(vol);
out:
	kfree(params);
	kfree_sensitive(secret);
	return r;
}

static int ctl_instance_remove(void *arg)
{
	struct iof_instance_remove *c = arg;
	struct iofilter_volume *vol;
	int r;

	if (!name_ok(c->name, "instance"))
		return -EINVAL;
	vol = lock_volume(c->volume);
	if (IS_ERR(vol))
		return PTR_ERR(vol);
	r = iof_inst_remove(vol, c->name);
	unlock_volume(vol);
	return r;
}

static int ctl_instance_rename(void *arg)
{
	struct iof_instance_rename *c = arg;
	struct iofilter_volume *vol;
	int r;

	if (!name_ok(c->name, "instance") || !name_ok(c->new_name, "instance"))
		return -EINVAL;
	vol = lock_volume(c->volume);
	if (IS_ERR(vol))
		return PTR_ERR(vol);
	r = iof_inst_rename(vol, c->name, c->new_name);
	unlock_volume(vol);
	return r;
}

static int ctl_instance_get(void *arg)
{
	struct iof_instance_get *g = arg;
	struct iofilter_volume *vol;
	struct iof_inst *inst;
	char *status = NULL;
	unsigned int plen, slen = 0;
	int r = 0;

	if (!name_ok(g->name, "instance"))
		return -EINVAL;
	if (memchr_inv(&g->info, 0, sizeof(g->info))) {
		bad_input("get: info must be zero");
		return -EINVAL;
	}
	if (g->status_len > IOF_MAX_TEXT_LEN ||
	    g->params_len > IOF_MAX_PARAMS_LEN) {
		bad_input("get: buffers above the limits");
		return -EINVAL;
	}
	if (g->status_len) {
		status = kzalloc(g->status_len, GFP_KERNEL);
		if (!status)
			return -ENOMEM;
	}
	vol = lock_volume(g->volume);
	if (IS_ERR(vol)) {
		kfree(status);
		return PTR_ERR(vol);
	}
	inst = iof_inst_find(vol, g->name);
	if (!inst) {
		r = -ENOENT;
		goto out;
	}
	iof_inst_info(inst, &g->info);
	plen = inst->params_len;
	if (plen && g->params_len >= plen &&
	    copy_to_user(u64_to_user_ptr(g->params), inst->params, plen)) {
		r = -EFAULT;
		goto out;
	}
	if (status) {
		iof_inst_status(inst, status, g->status_len);
		slen = strlen(status) + 1;
	}
	if (slen && copy_to_user(u64_to_user_ptr(g->status), status, slen)) {
		r = -EFAULT;
		goto out;
	}
	g->params_len = plen;
	g->status_len = slen;
out:
	unlock_volume(vol);
	kfree(status);
	return r;
}

static int table_args_check(struct iof_table *a, bool load)
{
	if (a->reserved || a->error_rule || a->generation ||
	    memchr_inv(a->message, 0, sizeof(a->message))) {
		bad_input("table: reserved/output fields must be zero");
		return -EINVAL;
	}
	if (a->nr_rules > IOF_MAX_RULES) {
		bad_input("table: %u rules above the limit", a->nr_rules);
		return -E2BIG;
	}
	if (a->rule_size != sizeof(struct iof_rule)) {
		bad_input("table: rule size %u, expected %zu", a->rule_size,
			  sizeof(struct iof_rule));
		return -EINVAL;
	}
	if (!load && (a->expected_generation ||
		      memchr_inv(&a->default_rule, 0, sizeof(a->default_rule)))) {
		bad_input("table get: input fields must be zero");
		return -EINVAL;
	}
	return 0;
}

static int ctl_table_load(void *arg)
{
	struct iof_table *a = arg;
	struct iofilter_volume *vol;
	struct iof_rule *rules = NULL;
	bool dry = a->hdr.flags & IOF_HDR_DRY_RUN;
	int r;

	r = table_args_check(a, true);
	if (r)
		return r;
	a->error_rule = ~0U;
	if (a->nr_rules) {
		rules = kvmalloc_array(a->nr_rules, sizeof(*rules), GFP_KERNEL);
		if (!rules)
			return -ENOMEM;
		if (copy_from_user(rules, u64_to_user_ptr(a->rules),
				   (size_t)a->nr_rules * sizeof(*rules))) {
			kvfree(rules);
			return -EFAULT;
		}
	}
	vol = lock_volume(a->volume);
	if (IS_ERR(vol)) {
		kvfree(rules);
		return PTR_ERR(vol);
	}
	r = iof_volume_load_table(vol, rules, a->nr_rules, &a->default_rule,
				  a->expected_generation, dry, &a->generation,
				  &a->error_rule, a->message,
				  sizeof(a->message));
	if (r && r != -ESTALE)
		bad_input("table load on %s refused: %s", a->volume,
			  a->message);
	unlock_volume(vol);
	kvfree(rules);
	return r;
}

static int ctl_table_get(void *arg)
{
	struct iof_table *a = arg;
	struct iofilter_volume *vol;
	struct iof_ptable *t;
	int r = 0;

	r = table_args_check(a, false);
	if (r)
		return r;
	vol = lock_volume(a->volume);
	if (IS_ERR(vol))
		return PTR_ERR(vol);
	t = iof_volume_table(vol);
	a->generation = t->generation;
	a->default_rule = t->udflt;
	a->error_rule = ~0U;
	if (a->nr_rules >= t->nr_rules && t->nr_rules &&
	    copy_to_user(u64_to_user_ptr(a->rules), t->urules,
			 (size_t)t->nr_rules * sizeof(struct iof_rule)))
		r = -EFAULT;
	else if (a->nr_rules < t->nr_rules)
		r = -ENOSPC;
	a->nr_rules = t->nr_rules;
	unlock_volume(vol);
	return r;
}

static int ctl_stats(void *arg)
{
	struct iof_stats *s = arg;
	struct iof_counters *rc = NULL;
	struct iofilter_volume *vol;
	struct iof_ptable *t;
	unsigned int n;
	int r = 0;

	if (s->generation || s->reset > 1 ||
	    memchr_inv(&s->vol, 0, sizeof(s->vol)) ||
	    memchr_inv(&s->dflt, 0, sizeof(s->dflt))) {
		bad_input("stats: output fields must be zero");
		return -EINVAL;
	}
	if (s->nr_rules > IOF_MAX_RULES) {
		bad_input("stats: %u rules above the limit", s->nr_rules);
		return -E2BIG;
	}
	if (s->nr_rules) {
		rc = kvcalloc(s->nr_rules, sizeof(*rc), GFP_KERNEL);
		if (!rc)
			return -ENOMEM;
	}
	vol = lock_volume(s->volume);
	if (IS_ERR(vol)) {
		kvfree(rc);
		return PTR_ERR(vol);
	}
	t = iof_volume_table(vol);
	n = min(s->nr_rules, t->nr_rules);
	iof_stats_fill(vol, t, s, rc, n, s->reset);
	s->nr_rules = t->nr_rules;
	unlock_volume(vol);
	if (n && copy_to_user(u64_to_user_ptr(s->rules), rc,
			      (size_t)n * sizeof(*rc)))
		r = -EFAULT;
	kvfree(rc);
	return r;
}

static int ctl_message(void *arg)
{
	struct iof_message *m = arg;
	struct iofilter_volume *vol;
	char *msg = NULL, *result = NULL, **argv = NULL;
	int argc = 0, r;

	if (!name_ok(m->name, "instance"))
		return -EINVAL;
	if (!m->msg_len || m->msg_len > IOF_MSG_LEN ||
	    m->result_len > IOF_MAX_TEXT_LEN) {
		bad_input("message: lengths out of bounds");
		return -EINVAL;
	}
	msg = memdup_user(u64_to_user_ptr(m->msg), m->msg_len);
	if (IS_ERR(msg))
		return PTR_ERR(msg);
	r = -EINVAL;
	if (msg[m->msg_len - 1] != '\0' || strlen(msg) != m->msg_len - 1) {
		bad_input("message: not a NUL-terminated string");
		goto out;
	}
	r = -ENOMEM;
	argv = argv_split(GFP_KERNEL, msg, &argc);
	if (!argv)
		goto out;
	if (m->result_len) {
		result = kzalloc(m->result_len, GFP_KERNEL);
		if (!result)
			goto out;
	}
	r = -EINVAL;
	if (!argc)
		goto out;
	vol = lock_volume(m->volume);
	if (IS_ERR(vol)) {
		r = PTR_ERR(vol);
		goto out;
	}
	r = iof_inst_message(vol, m->name, argc, argv, result,
			     m->result_len);
	unlock_volume(vol);
	if (result) {
		result[m->result_len - 1] = '\0';
		m->result_len = strlen(result) + 1;
		if (copy_to_user(u64_to_user_ptr(m->result), result,
				 m->result_len))
			r = -EFAULT;
	}
out:
	if (argv)	/* argv_free() reads the word before argv: not NULL-safe */
		argv_free(argv);
	kfree(result);
	kfree(msg);
	return r;
}

struct iof_ctl_cmd {
	unsigned int cmd;
	unsigned int old_cmd;	/* also accepted: an ABI 1.0 value (_IOW) */
	int (*fn)(void *arg);
	bool admin;
	u32 flags_ok;
};

/* Indexed by command number; a hole has no fn. */
static const struct iof_ctl_cmd iof_cmds[] = {
	[IOF_VERSION_CMD] = {
		.cmd = IOF_IOC_VERSION, .fn = ctl_version,
	},
	[IOF_LIST_TYPES_CMD] = {
		.cmd = IOF_IOC_LIST_TYPES, .fn = ctl_list_types, .admin = true,
	},
	[IOF_LIST_VOLUMES_CMD] = {
		.cmd = IOF_IOC_LIST_VOLUMES, .fn = ctl_list_volumes,
		.admin = true,
	},
	[IOF_LIST_INSTANCES_CMD] = {
		.cmd = IOF_IOC_LIST_INSTANCES, .fn = ctl_list_instances,
		.admin = true,
	},
	[IOF_INSTANCE_CREATE_CMD] = {
		.cmd = IOF_IOC_INSTANCE_CREATE, .fn = ctl_instance_create,
		.admin = true,
	},
	[IOF_INSTANCE_REMOVE_CMD] = {
		.cmd = IOF_IOC_INSTANCE_REMOVE,
		.old_cmd = IOF_IOC_INSTANCE_REMOVE_OLD,
		.fn = ctl_instance_remove, .admin = true,
	},
	[IOF_INSTANCE_GET_CMD] = {
		.cmd = IOF_IOC_INSTANCE_GET, .fn = ctl_instance_get,
		.admin = true,
	},
	[IOF_TABLE_LOAD_CMD] = {
		.cmd = IOF_IOC_TABLE_LOAD, .fn = ctl_table_load, .admin = true,
		.flags_ok = IOF_HDR_DRY_RUN,
	},
	[IOF_TABLE_GET_CMD] = {
		.cmd = IOF_IOC_TABLE_GET, .fn = ctl_table_get, .admin = true,
	},
	[IOF_STATS_CMD] = {
		.cmd = IOF_IOC_STATS, .fn = ctl_stats, .admin = true,
	},
	[IOF_MESSAGE_CMD] = {
		.cmd = IOF_IOC_MESSAGE, .fn = ctl_message, .admin = true,
	},
	[IOF_INSTANCE_RENAME_CMD] = {
		.cmd = IOF_IOC_INSTANCE_RENAME,
		.old_cmd = IOF_IOC_INSTANCE_RENAME_OLD,
		.fn = ctl_instance_rename, .admin = true,
	},
};

static long iof_ctl_ioctl(struct file *file, unsigned int cmd,
			  unsigned long uarg)
{
	void __user *up = (void __user *)uarg;
	const struct iof_ctl_cmd *c = NULL;
	struct iof_ioctl_hdr *hdr;
	unsigned int nr = _IOC_NR(cmd);
	size_t size;
	void *arg;
	int r;

	if (_IOC_TYPE(cmd) != IOF_IOCTL_MAGIC || nr >= ARRAY_SIZE(iof_cmds))
		return -ENOTTY;
	/* a user-chosen index: no speculative read past the table */
	c = &iof_cmds[array_index_nospec(nr, ARRAY_SIZE(iof_cmds))];
	if (!c->fn || (cmd != c->cmd && (!c->old_cmd || cmd != c->old_cmd)))
		return -ENOTTY;	/* wrong size or direction for that number */
	if (c->admin && !capable(CAP_SYS_ADMIN))
		return -EPERM;

	size = _IOC_SIZE(cmd);
	arg = kmalloc(size, GFP_KERNEL);
	if (!arg)
		return -ENOMEM;
	if (copy_from_user(arg, up, size)) {
		kfree(arg);
		return -EFAULT;
	}
	hdr = arg;
	if (hdr->version[0] != IOFILTER_VERSION_MAJOR ||
	    hdr->version[1] > IOFILTER_VERSION_MINOR) {
		bad_input("ABI version %u.%u.%u not supported (kernel %u.%u.%u)",
			  hdr->version[0], hdr->version[1], hdr->version[2],
			  IOFILTER_VERSION_MAJOR, IOFILTER_VERSION_MINOR,
			  IOFILTER_VERSION_PATCH);
		r = -EPROTO;
	} else if (hdr->size != size) {
		bad_input("struct size %u, expected %zu", hdr->size, size);
		r = -EINVAL;
	} else if (hdr->reserved || (hdr->flags & ~c->flags_ok)) {
		bad_input("header flags 0x%x / reserved field not allowed",
			  hdr->flags);
		r = -EINVAL;
	} else {
		r = c->fn(arg);
	}
	hdr->version[0] = IOFILTER_VERSION_MAJOR;
	hdr->version[1] = IOFILTER_VERSION_MINOR;
	hdr->version[2] = IOFILTER_VERSION_PATCH;
	if (copy_to_user(up, arg, size))
		r = -EFAULT;
	kfree(arg);
	return r;
}

static const struct file_operations iof_ctl_fops = {
	.owner = THIS_MODULE,
	.open = nonseekable_open,
	.unlocked_ioctl = iof_ctl_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice iof_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = IOFILTER_CTL_NAME,
	.nodename = IOFILTER_CTL_NAME,
	.mode = 0600,
	.fops = &iof_ctl_fops,
};

int iof_ctl_init(void)
{
	return misc_register(&iof_misc);
}

void iof_ctl_exit(void)
{
	misc_deregister(&iof_misc);
}
