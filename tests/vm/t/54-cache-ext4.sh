#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: cache filter: ext4 on a writeback cache with 4 KiB blocks (write-allocate, flush/FUA commits), fsck clean through the cache and, after leaving writeback, on the origin alone
# TIMEOUT: 600
# REQUIRES: dmsetup fio mkfs.ext4 fsck.ext4
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/cache.sh"

load_iofilter cache
ORIG=$(mkloop 64)
CDEV=$(mkloop 16)
MNT=$IOF_TMP/mnt
mkdir -p "$MNT"

cache_volume t-cache "$ORIG" "$CDEV" mode=writeback block_size=4K \
	low_watermark=20 high_watermark=60 || fail "create"
run mkfs.ext4 -q -F "$DEV" || fail "mkfs"
run mount "$DEV" "$MNT" || fail "mount"
dd if=/dev/urandom of="$MNT/a" bs=1M count=6 status=none || fail "write a"
cp "$MNT/a" "$MNT/b" || fail "cp"
run fio --name=fs --directory="$MNT" --size=4M --rw=randwrite --bs=4k \
	--ioengine=psync --fsync=8 --verify=crc32c --do_verify=1 \
	--verify_fatal=1 --output="$IOF_TMP/fio.out" ||
	{ cat "$IOF_TMP/fio.out"; fail "fio on ext4"; }
sum=$(md5sum < "$MNT/a")
sync
[ "$(cstat t-cache dirty)" -gt 0 ] || fail "nothing dirty"
[ "$(cstat t-cache commits)" -gt 1 ] || fail "no commits"
run umount "$MNT" || fail "umount"
run fsck.ext4 -fn "$DEV" || fail "fsck through the cache"

# leaving writeback writes everything back: the origin alone is consistent
abi msg t-cache c mode writethrough || fail "mode writethrough"
assert_eq 0 "$(cstat t-cache dirty)" "dirty"
run fsck.ext4 -fn "$ORIG" || fail "fsck of the origin"
run mount "$DEV" "$MNT" || fail "mount again"
assert_eq "$sum" "$(md5sum < "$MNT/a")" "file a"
cmp "$MNT/a" "$MNT/b" || fail "file b"
run umount "$MNT"
abi load t-cache action=pass > /dev/null
abi remove t-cache c || fail "remove"
dm_remove t-cache
exit 0
