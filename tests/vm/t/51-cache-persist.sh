#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: cache filter: bad input refused with its reason, warm (and dirty data kept) after reattach and after a reboot, cache of another origin refused, detach flushes
# CHECK: newest-kernel
# TIMEOUT: 600
# REQUIRES: dmsetup tool
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/cache.sh"

load_iofilter cache
P=$IOF_PERSIST
NOWB=(low_watermark=90 high_watermark=95)	# no background writeback

# refused REASON PARAM...: creating the instance fails and says REASON
refused() {
	local why=$1
	shift
	echo "+ (expect refusal: $why) $*"
	if abi create t-cache bad cache "$@" 2> "$IOF_TMP/err"; then
		fail "accepted: $*"
	fi
	grep -q -- "$why" "$IOF_TMP/err" || { cat "$IOF_TMP/err"; fail "reason for $*"; }
}

# sum8 DEV: checksum of the first 8 MiB
sum8() {
	dd if="$1" bs=1M count=8 iflag=direct status=none | md5sum | cut -d' ' -f1
}

if [ "$IOF_PHASE" = 1 ]; then
	ORIG=$(mkloop 32 "$P/origin.img")
	CDEV=$(mkloop 16 "$P/cache.img")
	SMALL=$(mkloop 1)
	dm_create t-cache "0 $(dev_sectors "$ORIG") iofilter $ORIG t-cache" ||
		fail "create t-cache"
	refused "cache_dev=<block device> is required" mode=writeback
	refused "power of two" cache_dev="$CDEV" block_size=96K
	refused "power of two" cache_dev="$CDEV" block_size=2K
	refused "power of two" cache_dev="$CDEV" block_size=2M
	refused "is the volume's origin" cache_dev="$ORIG"
	refused "not a block device" cache_dev=/dev/no-such-disk
	refused "too small" cache_dev="$SMALL"
	refused "mode must be" cache_dev="$CDEV" mode=fast
	refused "watermarks" cache_dev="$CDEV" low_watermark=60 high_watermark=50
	refused "promote_hits" cache_dev="$CDEV" promote_hits=0
	refused "unknown parameter 'size'" cache_dev="$CDEV" size=1G
	losetup -d "$SMALL"
	dm_remove t-cache

	# writeback: 2 MiB dirty (whole-block writes), the rest promoted
	cache_volume t-cache "$ORIG" "$CDEV" mode=writeback "${NOWB[@]}" || fail "create"
	dd if=/dev/urandom of="$DEV" bs=1M count=8 oflag=direct status=none ||
		fail "fill"
	abi msg t-cache c flush > /dev/null || fail "flush"
	dd if=/dev/urandom of="$DEV" bs=1M count=2 oflag=direct status=none ||
		fail "write"
	read_all "$DEV" 8
	read_all "$DEV" 8
	cache_settle t-cache
	used=$(cstat t-cache used)
	dirty=$(cstat t-cache dirty)
	[ "$dirty" -ge 32 ] || fail "expected 2 MiB dirty, got $dirty blocks"
	[ "$used" -ge 128 ] || fail "expected 8 MiB cached, got $used blocks"
	sum=$(sum8 "$DEV")
	[ "$sum" != "$(sum8 "$ORIG")" ] || fail "origin not behind in writeback"
	echo "$sum $used $dirty" > "$P/state"
	dm_remove t-cache	# no flush: the dirty blocks stay in the cache

	# reattach: warm from the first read, dirty data served from the cache
	cache_volume t-cache "$ORIG" "$CDEV" mode=writeback "${NOWB[@]}" || fail "reattach"
	assert_eq "$used" "$(cstat t-cache used)" "used after reattach"
	assert_eq "$dirty" "$(cstat t-cache dirty)" "dirty after reattach"
	assert_eq "$sum" "$(sum8 "$DEV")" "data after reattach"
	assert_eq 0 "$(cstat t-cache read_misses)" "misses after reattach"
	dm_remove t-cache

	# a cache belongs to its origin
	OTHER=$(mkloop 32)
	dm_create t-other "0 $(dev_sectors "$OTHER") iofilter $OTHER t-other" ||
		fail "create t-other"
	expect_fail abi create t-other c cache cache_dev="$CDEV" 2> "$IOF_TMP/err"
	grep -q "belongs to volume 't-cache'" "$IOF_TMP/err" ||
		{ cat "$IOF_TMP/err"; fail "other origin: reason"; }
	C2=$(mkloop 8)
	abi create t-other c cache cache_dev="$C2" > /dev/null || fail "create on C2"
	abi remove t-other c || fail "remove"
	dm_remove t-other
	# same volume name, another origin (of another size): refused too
	OTHER2=$(mkloop 24)
	dm_create t-other "0 $(dev_sectors "$OTHER2") iofilter $OTHER2 t-other" ||
		fail "create t-other"
	expect_fail abi create t-other c cache cache_dev="$C2" 2> "$IOF_TMP/err"
	grep -q "belongs to volume 't-other' (origin of 65536 sectors)" "$IOF_TMP/err" ||
		{ cat "$IOF_TMP/err"; fail "other origin size: reason"; }
	abi create t-other c cache cache_dev="$C2" format=1 > /dev/null ||
		fail "format=1"
	abi remove t-other c || fail "remove"
	dm_remove t-other
	losetup -d "$OTHER2"
	losetup -d "$OTHER" "$C2"
	losetup -d "$ORIG" "$CDEV"
	request_reboot
fi

# after the reboot: still warm, still dirty, then detach flushes
read -r sum used dirty < "$P/state"
ORIG=$(mkloop 32 "$P/origin.img")
CDEV=$(mkloop 16 "$P/cache.img")
cache_volume t-cache "$ORIG" "$CDEV" mode=writeback "${NOWB[@]}" || fail "attach after reboot"
assert_eq "$used" "$(cstat t-cache used)" "used after reboot"
assert_eq "$dirty" "$(cstat t-cache dirty)" "dirty after reboot"
assert_eq "$sum" "$(sum8 "$DEV")" "data after reboot"
assert_eq 0 "$(cstat t-cache read_misses)" "misses after reboot"
run "$IOF_TOOL" detach --yes t-cache || fail "iofilterctl detach"
[ ! -e /dev/mapper/t-cache ] || fail "volume still there after detach"
assert_eq "$sum" "$(sum8 "$ORIG")" "origin after flush on detach"
losetup -d "$ORIG" "$CDEV"
exit 0
