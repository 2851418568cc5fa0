/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * iofilter control ABI: the ioctls of /dev/iofilter.
 *
 * This header is the single source of the ABI for the kernel module and for
 * iofilterctl.  Rules (see Documentation/ioctl-abi.rst):
 *
 *  - Every ioctl argument starts with struct iof_ioctl_hdr.  The caller fills
 *    in the version it was built against and the size of the whole struct.
 *    The kernel refuses another major version or a newer minor version
 *    (-ENOTTY never; -EPROTO) and always writes its own version back.
 *  - Fixed-width __u types only, explicit padding, every struct a multiple of
 *    8 bytes, pointers passed as __u64.  Reserved and padding fields must be
 *    zero on input (-EINVAL otherwise).
 *  - Every count and length is bounded by a constant below and is checked
 *    before the kernel allocates anything.
 *  - Names are NUL-terminated within their array; an unterminated or empty
 *    name is refused.
 *  - Only CAP_SYS_ADMIN may issue any ioctl except IOF_IOC_VERSION.
 *  - A command number is never reused; an incompatible change gets a new one.
 */
#ifndef _UAPI_LINUX_IOFILTER_H
#define _UAPI_LINUX_IOFILTER_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define IOFILTER_VERSION_MAJOR	1
#define IOFILTER_VERSION_MINOR	0
#define IOFILTER_VERSION_PATCH	0

/* Misc device: /dev/iofilter */
#define IOFILTER_CTL_NAME	"iofilter"
/* Name of the device-mapper target */
#define IOFILTER_TARGET_NAME	"iofilter"

/* Limits */
#define IOF_NAME_LEN		64	/* volume, instance and type names, with NUL */
#define IOF_RULE_NAME_LEN	32	/* rule labels, with NUL */
#define IOF_MSG_LEN		256	/* error/result text returned by the kernel */
#define IOF_MAX_RULES		16384	/* rules in one policy table */
#define IOF_MAX_CHAIN		4	/* filter instances in one chain */
#define IOF_MAX_INSTANCES	256	/* filter instances per volume */
#define IOF_MAX_PARAMS_LEN	4096	/* parameter block of an instance */
#define IOF_MAX_PARAMS		64	/* key=value pairs in a parameter block */
#define IOF_MAX_SECRET_LEN	256	/* secret (key material) of an instance */
#define IOF_MAX_LIST_BYTES	(4U << 20)	/* output buffer of list/stats calls */
#define IOF_MAX_TEXT_LEN	65536	/* status/message output buffers */

/* Filter classes, in the fixed order in which a chain runs them. */
#define IOF_CLASS_INSPECT	0	/* observe and count; never changes data */
#define IOF_CLASS_CRYPT		1
#define IOF_CLASS_REPLICATE	2
#define IOF_CLASS_CACHE		3
#define IOF_NR_CLASSES		4

/* Filter type flags (struct iof_type_info.flags) */
#define IOF_TYPE_RANGE_EXCLUSIVE (1U << 0) /* must see every I/O to its range */
#define IOF_TYPE_NOWAIT		(1U << 1) /* map never blocks (REQ_NOWAIT ok) */
#define IOF_TYPE_HOLDS_DIRTY	(1U << 2) /* may hold data not yet on origin */
/* must see every write, discard, write-zeroes and flush of its range */
#define IOF_TYPE_WRITE_EXCLUSIVE (1U << 3)

/* Operations (struct iof_rule.ops, stats index = bit number) */
#define IOF_OP_READ		(1U << 0)
#define IOF_OP_WRITE		(1U << 1)
#define IOF_OP_DISCARD		(1U << 2)	/* includes secure erase */
#define IOF_OP_WRITE_ZEROES	(1U << 3)
#define IOF_OP_FLUSH		(1U << 4)	/* empty REQ_PREFLUSH bio */
#define IOF_OP_ALL		0x1fU
#define IOF_NR_OPS		5

/* Request flags (struct iof_rule.flags_set / flags_clear) */
#define IOF_RQ_SYNC		(1U << 0)
#define IOF_RQ_FUA		(1U << 1)
#define IOF_RQ_PREFLUSH		(1U << 2)
#define IOF_RQ_META		(1U << 3)
#define IOF_RQ_READAHEAD	(1U << 4)
#define IOF_RQ_ALL		0x1fU

/* I/O priority classes (struct iof_rule.ioprio_classes, bit = class) */
#define IOF_PRIO_NONE		(1U << 0)
#define IOF_PRIO_RT		(1U << 1)
#define IOF_PRIO_BE		(1U << 2)
#define IOF_PRIO_IDLE		(1U << 3)
#define IOF_PRIO_ALL		0xfU

/* Rule actions */
#define IOF_ACTION_PASS		1	/* straight to the origin */
#define IOF_ACTION_DENY		2	/* fail the bio (BLK_STS_IOERR) */
#define IOF_ACTION_FILTER	3	/* run the chain, then the origin */

/* Header flags */
#define IOF_HDR_DRY_RUN		(1U << 0) /* validate only; change nothing */
#define IOF_HDR_FLAGS_ALL	IOF_HDR_DRY_RUN

struct iof_ioctl_hdr {
	__u32 version[3];	/* in: caller's ABI version; out: kernel's */
	__u32 size;		/* in: sizeof the whole ioctl struct */
	__u32 flags;		/* IOF_HDR_* */
	__u32 reserved;		/* must be zero */
};

/* IOF_IOC_VERSION: the header alone; returns the kernel's version. */
struct iof_version {
	struct iof_ioctl_hdr hdr;
	__u32 nr_types;		/* out: registered filter types */
	__u32 nr_volumes;	/* out: volumes */
};

/* One registered filter type (IOF_IOC_LIST_TYPES) */
struct iof_type_info {
	char name[IOF_NAME_LEN];
	__u32 version[3];
	__u32 class;		/* IOF_CLASS_* */
	__u32 flags;		/* IOF_TYPE_* */
	__u32 nr_instances;	/* live instances of this type */
};

/* One volume (IOF_IOC_LIST_VOLUMES) */
struct iof_volume_info {
	char name[IOF_NAME_LEN];
	__u32 dev_major;	/* the dm device */
	__u32 dev_minor;
	__u32 origin_major;	/* the origin device */
	__u32 origin_minor;
	__u64 size;		/* bytes */
	__u64 generation;	/* bumped by every policy load */
	__u32 nr_rules;
	__u32 nr_instances;
	__u32 flags;		/* IOF_VOL_* */
	__u32 reserved;
};

#define IOF_VOL_SUSPENDED	(1U << 0)
#define IOF_VOL_ERROR		(1U << 1)	/* a filter latched an error */

/*
 * Generic list call (types, volumes, instances).  The kernel writes up to
 * buf_len bytes of fixed-size entries to buf and sets count; needed is the
 * number of entries it has, so a caller with a small buffer can retry.
 */
struct iof_list {
	struct iof_ioctl_hdr hdr;
	char volume[IOF_NAME_LEN];	/* instances: the volume; else zero */
	__u64 buf;			/* user pointer */
	__u32 buf_len;			/* bytes, <= IOF_MAX_LIST_BYTES */
	__u32 count;			/* out: entries written */
	__u32 needed;			/* out: entries available */
	__u32 entry_size;		/* out: sizeof one entry */
};

/* Create a filter instance on a volume. */
struct iof_instance_create {
	struct iof_ioctl_hdr hdr;
	char volume[IOF_NAME_LEN];
	char name[IOF_NAME_LEN];
	char type[IOF_NAME_LEN];
	__u64 params;		/* user pointer: "key=value\0key=value\0" */
	__u32 params_len;	/* bytes, <= IOF_MAX_PARAMS_LEN; 0: none */
	__u32 secret_len;	/* bytes, <= IOF_MAX_SECRET_LEN; 0: none */
	/* user pointer to key material; never stored, zeroed after use */
	__u64 secret;
	__u32 id;		/* out: instance id, used by rules */
	__u32 reserved;
	char message[IOF_MSG_LEN];	/* out: the filter's error text */
};

/* Remove a filter instance (refused with -EBUSY while a rule uses it). */
struct iof_instance_remove {
	struct iof_ioctl_hdr hdr;
	char volume[IOF_NAME_LEN];
	char name[IOF_NAME_LEN];
};

/*
 * Rename an instance.  Lets a tool replace an instance without a moment in
 * which its rules run unfiltered: create "x.new", load a table that uses it,
 * remove "x", rename "x.new" to "x".
 */
struct iof_instance_rename {
	struct iof_ioctl_hdr hdr;
	char volume[IOF_NAME_LEN];
	char name[IOF_NAME_LEN];
	char new_name[IOF_NAME_LEN];
};

/* One instance (IOF_IOC_LIST_INSTANCES entries) */
struct iof_instance_info {
	char name[IOF_NAME_LEN];
	char type[IOF_NAME_LEN];
	__u32 id;
	__u32 class;
	__u32 users;		/* rules of the live table that use it */
	__u32 params_len;	/* bytes of its parameter block */
	__u32 flags;		/* IOF_INST_* */
	__u32 reserved;
};

#define IOF_INST_ERROR		(1U << 0)	/* the filter latched an error */
#define IOF_INST_DIRTY		(1U << 1)	/* holds data not on origin */

/*
 * Read one instance back: its parameter block (never the secret) and its
 * status text: space-separated key=value pairs chosen by the filter.
 */
struct iof_instance_get {
	struct iof_ioctl_hdr hdr;
	char volume[IOF_NAME_LEN];
	char name[IOF_NAME_LEN];
	struct iof_instance_info info;	/* out */
	__u64 params;			/* user buffer for the parameter block */
	__u32 params_len;		/* in: buffer size; out: bytes needed */
	__u32 status_len;		/* in: buffer size; out: bytes needed */
	__u64 status;			/* user buffer for the status text */
};

/*
 * One rule.  A bio matches when every condition holds:
 *   op in ops; [sector, sector+len) intersects [start, start+len) (the bio
 *   is split at the boundary); min_size <= size <= max_size (0: no bound);
 *   all flags_set bits set and all flags_clear bits clear; its I/O priority
 *   class in ioprio_classes (0: any).
 * Empty flushes have no range: a rule's range does not restrict them.
 * Byte offsets and lengths are multiples of 512; start 0 with len 0 means
 * no range (the whole volume); a range with a start needs a length.
 * Output fields (marked "out") must be zero on input.
 */
struct iof_rule {
	__u64 start;		/* bytes */
	__u64 len;		/* bytes; 0 (with start 0): no range */
	__u32 ops;		/* IOF_OP_*, must not be 0 */
	__u32 min_size;		/* bytes */
	__u32 max_size;		/* bytes; 0: unbounded */
	__u32 flags_set;	/* IOF_RQ_* */
	__u32 flags_clear;	/* IOF_RQ_* */
	__u32 ioprio_classes;	/* IOF_PRIO_*; 0: any */
	__u32 action;		/* IOF_ACTION_* */
	__u32 nr_chain;		/* instances in chain[] (FILTER only) */
	/* instance ids, any order: the kernel runs them in class order */
	__u32 chain[IOF_MAX_CHAIN];
	char name[IOF_RULE_NAME_LEN];	/* label for stats; may be empty */
};

/*
 * Load (swap in) or read back a volume's policy table.
 * Load: the whole table is validated and built aside, then swapped in
 * atomically; on any error the live table is untouched.  With
 * expected_generation != 0 the load fails with -ESTALE unless the live table
 * has that generation (compare-and-swap for concurrent tools).
 */
struct iof_table {
	struct iof_ioctl_hdr hdr;
	char volume[IOF_NAME_LEN];
	__u64 rules;		/* user pointer to struct iof_rule[nr_rules] */
	__u32 nr_rules;		/* <= IOF_MAX_RULES; get: in buffer, out count */
	__u32 rule_size;	/* sizeof(struct iof_rule) */
	__u64 expected_generation;	/* load only */
	__u64 generation;	/* out */
	/* action for unmatched I/O; its match fields must be zero */
	struct iof_rule default_rule;
	__u32 error_rule;	/* out: index of the offending rule, or ~0 */
	__u32 reserved;
	char message[IOF_MSG_LEN];	/* out: why a load was refused */
};

/* Counters; index with the bit number of IOF_OP_* */
struct iof_counters {
	__u64 ios[IOF_NR_OPS];
	__u64 bytes[IOF_NR_OPS];
};

/* Volume-wide counters beyond the per-op ones */
struct iof_volume_counters {
	struct iof_counters all;	/* every bio the target saw */
	__u64 passed;		/* went straight to the origin */
	__u64 denied;		/* failed by a deny action */
	__u64 filtered;		/* handed to a filter chain */
	__u64 errors;		/* completed with an error */
	__u64 splits;		/* bios cut: rule boundary, chain limits */
	__u64 reserved[3];
};

/* IOF_IOC_STATS: a volume's counters and one entry per rule. */
struct iof_stats {
	struct iof_ioctl_hdr hdr;
	char volume[IOF_NAME_LEN];
	__u64 generation;		/* out: table the rule counters belong to */
	struct iof_volume_counters vol;	/* out */
	struct iof_counters dflt;	/* out: the default action's */
	__u64 rules;		/* user buffer: struct iof_counters[] */
	__u32 nr_rules;		/* in: buffer entries; out: rules in table */
	__u32 reset;		/* in: 1 = zero the counters after reading */
};

/*
 * IOF_IOC_MESSAGE: send a message to an instance (e.g. "flush", "resync").
 * msg is a string of space-separated words; the filter may answer in
 * result.  The call may sleep until the filter has done what it says.
 */
struct iof_message {
	struct iof_ioctl_hdr hdr;
	char volume[IOF_NAME_LEN];
	char name[IOF_NAME_LEN];	/* instance */
	__u64 msg;		/* user pointer, NUL-terminated */
	__u32 msg_len;		/* bytes with NUL, <= IOF_MSG_LEN */
	/* in: buffer size <= IOF_MAX_TEXT_LEN; out: bytes written */
	__u32 result_len;
	__u64 result;		/* user buffer */
};

#define IOF_IOCTL_MAGIC		0xB9

/*
 * Command numbers (_IOC_NR), named as dm-ioctl.h names its DM_*_CMD: a
 * number is never reused nor renumbered; a new command takes the next.
 */
enum {
	IOF_VERSION_CMD		= 0x00,
	IOF_LIST_TYPES_CMD	= 0x01,
	IOF_LIST_VOLUMES_CMD	= 0x02,
	IOF_LIST_INSTANCES_CMD	= 0x03,
	IOF_INSTANCE_CREATE_CMD	= 0x04,
	IOF_INSTANCE_REMOVE_CMD	= 0x05,
	IOF_INSTANCE_GET_CMD	= 0x06,
	IOF_TABLE_LOAD_CMD	= 0x07,
	IOF_TABLE_GET_CMD	= 0x08,
	IOF_STATS_CMD		= 0x09,
	IOF_MESSAGE_CMD		= 0x0a,
	IOF_INSTANCE_RENAME_CMD	= 0x0b,
};

/* Every command reads its struct and writes it back: all are _IOWR. */
#define IOF_IOC_VERSION		_IOWR(IOF_IOCTL_MAGIC, IOF_VERSION_CMD, struct iof_version)
#define IOF_IOC_LIST_TYPES	_IOWR(IOF_IOCTL_MAGIC, IOF_LIST_TYPES_CMD, struct iof_list)
#define IOF_IOC_LIST_VOLUMES	_IOWR(IOF_IOCTL_MAGIC, IOF_LIST_VOLUMES_CMD, struct iof_list)
#define IOF_IOC_LIST_INSTANCES	_IOWR(IOF_IOCTL_MAGIC, IOF_LIST_INSTANCES_CMD, struct iof_list)
#define IOF_IOC_INSTANCE_CREATE	_IOWR(IOF_IOCTL_MAGIC, IOF_INSTANCE_CREATE_CMD, \
				      struct iof_instance_create)
#define IOF_IOC_INSTANCE_REMOVE	_IOWR(IOF_IOCTL_MAGIC, IOF_INSTANCE_REMOVE_CMD, \
				      struct iof_instance_remove)
#define IOF_IOC_INSTANCE_GET	_IOWR(IOF_IOCTL_MAGIC, IOF_INSTANCE_GET_CMD, \
				      struct iof_instance_get)
#define IOF_IOC_TABLE_LOAD	_IOWR(IOF_IOCTL_MAGIC, IOF_TABLE_LOAD_CMD, struct iof_table)
#define IOF_IOC_TABLE_GET	_IOWR(IOF_IOCTL_MAGIC, IOF_TABLE_GET_CMD, struct iof_table)
#define IOF_IOC_STATS		_IOWR(IOF_IOCTL_MAGIC, IOF_STATS_CMD, struct iof_stats)
#define IOF_IOC_MESSAGE		_IOWR(IOF_IOCTL_MAGIC, IOF_MESSAGE_CMD, struct iof_message)
#define IOF_IOC_INSTANCE_RENAME	_IOWR(IOF_IOCTL_MAGIC, IOF_INSTANCE_RENAME_CMD, \
				      struct iof_instance_rename)

/*
 * The first releases declared REMOVE and RENAME _IOW although the kernel
 * writes the struct back (its version, at least).  The kernel still
 * accepts these values so that binaries built then keep working; new
 * code uses the _IOWR values above.  A kernel from before the change
 * knows only these: a caller that gets -ENOTTY for the _IOWR value may
 * retry with the old one (iofilterctl does).
 */
#define IOF_IOC_INSTANCE_REMOVE_OLD _IOW(IOF_IOCTL_MAGIC, IOF_INSTANCE_REMOVE_CMD, \
					 struct iof_instance_remove)
#define IOF_IOC_INSTANCE_RENAME_OLD _IOW(IOF_IOCTL_MAGIC, IOF_INSTANCE_RENAME_CMD, \
					 struct iof_instance_rename)

#endif /* _UAPI_LINUX_IOFILTER_H */
