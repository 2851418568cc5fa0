#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: dm-mod loads, dmsetup works, loop + dm-linear + fio verify round trip
# TIMEOUT: 180
# REQUIRES: dmsetup losetup fio blockdev
. "$IOF_ROOT/tests/lib/common.sh"

run modprobe dm-mod || fail "dm-mod does not load"
[ -e /dev/mapper/control ] || run dmsetup mknodes
targets=$(dmsetup targets) || fail "dmsetup targets"
echo "$targets"
grep -q '^linear' <<< "$targets" || fail "no linear target"

dev=$(mkloop 128)
sectors=$(dev_sectors "$dev")
assert_eq 262144 "$sectors" "loop device size"
dm_create t-smoke "0 $sectors linear $dev 0" || fail "cannot create t-smoke"
run dmsetup table t-smoke
[ -b /dev/mapper/t-smoke ] || fail "no /dev/mapper/t-smoke node"

fio_verify /dev/mapper/t-smoke 32M

# Round trip: what goes through the mapping lands at the same offset below.
head -c 1M /dev/urandom > "$IOF_TMP/pattern"
run dd if="$IOF_TMP/pattern" of=/dev/mapper/t-smoke bs=64k seek=16 oflag=direct status=none
run dd if="$dev" of="$IOF_TMP/back" bs=64k skip=16 count=16 iflag=direct status=none
assert_cmp_files "$IOF_TMP/pattern" "$IOF_TMP/back"

dm_remove t-smoke || fail "cannot remove t-smoke"
run losetup -d "$dev"
exit 0
