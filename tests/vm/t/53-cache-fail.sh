#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: cache filter: the cache device fails (dm error target) in each mode; writethrough/writearound lose no I/O, writeback fails only dirty blocks, never returns stale data, and keeps its dirty data for later
# CHECK: newest-kernel
# TIMEOUT: 600
# REQUIRES: dmsetup fio
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/cache.sh"

load_iofilter cache
ORIG=$(mkloop 32)
CLOOP=$(mkloop 16)
CSZ=$(dev_sectors "$CLOOP")
CD=/dev/mapper/t-cdev

cdev_ok() {
	{ dmsetup --noudevsync reload t-cdev --table "0 $CSZ linear $CLOOP 0" &&
		dmsetup --noudevsync resume t-cdev; } || fail "cache device back"
}
cdev_fail() {
	{ dmsetup --noudevsync reload t-cdev --table "0 $CSZ error" &&
		dmsetup --noudevsync resume t-cdev; } || fail "cache device error"
}
dm_create t-cdev "0 $CSZ linear $CLOOP 0" || fail "create t-cdev"

for mode in writethrough writearound; do
	cache_volume t-cache "$ORIG" "$CD" mode=$mode promote_hits=1 format=1 ||
		fail "create $mode"
	dd if=/dev/urandom of="$DEV" bs=1M count=8 oflag=direct status=none ||
		fail "fill"
	read_all "$DEV" 8
	cache_settle t-cache
	[ "$(cstat t-cache used)" -gt 64 ] || fail "$mode: nothing cached"
	cdev_fail
	# reads of cached blocks fail on the cache and are served by the origin
	fio_verify "$DEV" 8M --randseed=3
	read_all "$DEV" 8
	assert_eq degraded "$(cstat t-cache state)" "$mode: state"
	abi status t-cache c | grep -q "flags=[13] " || fail "$mode: error not latched"
	same_data "$DEV" "$ORIG" 8
	abi load t-cache action=pass > /dev/null
	abi remove t-cache c || fail "remove"
	dm_remove t-cache
	cdev_ok
done

# writeback: 2 MiB dirty, 6 MiB clean (no background writeback)
cache_volume t-cache "$ORIG" "$CD" mode=writeback promote_hits=1 format=1 \
	low_watermark=90 high_watermark=95 ||
	fail "create writeback"
dd if=/dev/urandom of="$DEV" bs=1M count=8 oflag=direct status=none || fail "fill"
abi msg t-cache c flush > /dev/null || fail "flush"
read_all "$DEV" 8
cache_settle t-cache
# conv=fsync: a flush commits the dirty entries (a write no flush covered
# may be lost with the cache device, as after a crash: admin-guide)
dd if=/dev/urandom of="$DEV" bs=1M count=2 oflag=direct conv=fsync status=none ||
	fail "dirty"
[ "$(cstat t-cache dirty)" -ge 32 ] || fail "nothing dirty"
dd if="$DEV" bs=1M count=8 iflag=direct status=none > "$IOF_TMP/ref" || fail "ref"
cdev_fail
# the dirty blocks cannot be served: their reads fail, no stale data
expect_fail rdd "$DEV" 0 65536
expect_fail rdd "$DEV" $((1 << 20)) 4096
assert_eq degraded "$(cstat t-cache state)" "writeback: state"
# the rest is served by the origin, writes to it too
cmp <(dd if="$DEV" bs=1M skip=2 count=6 iflag=direct status=none) \
	<(tail -c +$((2 * 1048576 + 1)) "$IOF_TMP/ref") || fail "clean part"
dd if=/dev/urandom of="$IOF_TMP/new" bs=1M count=1 status=none
dd if="$IOF_TMP/new" of="$DEV" bs=1M seek=4 oflag=direct status=none ||
	fail "write to a clean block while degraded"
dd if="$IOF_TMP/new" of="$IOF_TMP/ref" bs=1M seek=4 conv=notrunc status=none
# a flush cannot empty the cache: refused, nothing lost
expect_fail abi msg t-cache c flush
abi status t-cache c | grep -q "flags=3 " || fail "not reported dirty"
# nor may a table take the dirty blocks' range from it: reads would get
# the origin's stale copy.  The volume goes as a whole.
expect_fail abi load t-cache action=pass
dm_remove t-cache

# the cache device is back: the dirty data is still there, and the clean
# blocks the origin changed meanwhile are not served stale
cdev_ok
cache_volume t-cache "$ORIG" "$CD" mode=writeback || fail "reattach"
assert_eq ok "$(cstat t-cache state)" "state after reattach"
dd if="$DEV" bs=1M count=8 iflag=direct status=none | cmp - "$IOF_TMP/ref" ||
	fail "data after reattach"
abi msg t-cache c flush > /dev/null || fail "flush after reattach"
abi load t-cache action=pass > /dev/null
abi remove t-cache c || fail "remove"
dm_remove t-cache
dd if="$ORIG" bs=1M count=8 iflag=direct status=none | cmp - "$IOF_TMP/ref" ||
	fail "origin after flush"
dm_remove t-cdev
exit 0
