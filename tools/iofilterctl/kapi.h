/* SPDX-License-Identifier: GPL-2.0 */
/*
 * iofilterctl: the ioctls of /dev/iofilter (include/uapi/linux/iofilter.h).
 * Every call returns 0 or -errno.  When the kernel explains a refusal
 * (instance create, table load), the text is in k->msg.
 */
#ifndef IOFCTL_KAPI_H
#define IOFCTL_KAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/iofilter.h>

struct kapi {
	int fd;
	uint32_t kver[3];		/* the kernel's ABI version, once known */
	char msg[IOF_MSG_LEN];		/* the kernel's reason for the last refusal */
	uint32_t error_rule;		/* table load: offending rule, or ~0 */
	bool status_truncated;		/* instance get: status longer than the ABI allows */
};

/* The system calls, replaceable by the unit tests' fake kernel (kapi_sys.c). */
int iof_sys_open(void);
int iof_sys_ioctl(int fd, unsigned long req, void *arg);
void iof_sys_close(int fd);
/*
 * Load a module as the kernel's request_module() would (modprobe -q), or
 * with dry_run only ask whether modprobe finds it (modprobe -n).  0 if
 * modprobe succeeded, else -ENOENT.
 */
int iof_sys_load_module(const char *module, bool dry_run);

/* Open /dev/iofilter and check the ABI version. */
int kapi_open(struct kapi *k);
void kapi_close(struct kapi *k);

/*
 * A one-line description of err for "iofilterctl: <what>: <text>":
 * strerror plus the kernel's message, and where to look.  Static buffer.
 */
const char *kapi_errtext(const struct kapi *k, int err);

int kapi_version(struct kapi *k, struct iof_version *v);
int kapi_list_types(struct kapi *k, struct iof_type_info **v, size_t *n);
int kapi_list_volumes(struct kapi *k, struct iof_volume_info **v, size_t *n);
int kapi_list_instances(struct kapi *k, const char *vol, struct iof_instance_info **v, size_t *n);
int kapi_find_volume(struct kapi *k, const char *vol, struct iof_volume_info *out);

int kapi_instance_create(struct kapi *k, const char *vol, const char *name, const char *type,
			 const char *params, size_t params_len,
			 const unsigned char *secret, size_t secret_len, uint32_t *id);
int kapi_instance_remove(struct kapi *k, const char *vol, const char *name);
int kapi_instance_rename(struct kapi *k, const char *vol, const char *name, const char *new_name);
/*
 * params: the "k=v\0" block (params_len bytes); status: NUL-terminated text.
 * A status that fills the largest buffer (IOF_MAX_TEXT_LEN) was cut by the
 * module: k->status_truncated is set and the text ends before its last,
 * partial word.
 */
int kapi_instance_get(struct kapi *k, const char *vol, const char *name,
		      struct iof_instance_info *info, char **params, size_t *params_len,
		      char **status);

int kapi_table_get(struct kapi *k, const char *vol, struct iof_rule **rules, size_t *n,
		   struct iof_rule *dflt, uint64_t *generation);
int kapi_table_load(struct kapi *k, const char *vol, const struct iof_rule *rules, size_t n,
		    const struct iof_rule *dflt, uint64_t expected_generation,
		    uint64_t *generation);

/* rules: one struct iof_counters per rule of the table of st->generation. */
int kapi_stats(struct kapi *k, const char *vol, int reset, struct iof_stats *st,
	       struct iof_counters **rules, size_t *n);

int kapi_message(struct kapi *k, const char *vol, const char *inst, const char *msg,
		 char **result);

/* Copy a fixed-size name out of an ABI struct, always terminated. */
void kname(char *dst, const char *src, size_t size);

#endif
