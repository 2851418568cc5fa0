#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: replicate: no resync before the volume is resumed: a device created with an instance on fresh metadata and removed without a resume, repeatedly, does not oops (regression: resync read through a NULL table); an instance created while the volume is suspended starts its initial sync at resume
# CHECK: newest-kernel
# TIMEOUT: 180
# REQUIRES: dmsetup
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/replicate.sh"

load_iofilter replicate
MB=32 SECT=$((32 * 2048))
vol=t-rep-nr

ORIGIN=$(mkloop $MB)
back=$(mkloop $MB)
meta=$(mkloop 1)

# ---- 1. loaded, never resumed, removed with the instance on it
for i in 1 2 3 4 5; do
	dd if=/dev/zero of="$meta" bs=4096 count=1 oflag=direct status=none
	dmsetup --noudevsync create --notable $vol || fail "create $vol"
	dmsetup --noudevsync load $vol --table "0 $SECT iofilter $ORIGIN $vol" ||
		fail "load $vol"
	abi create $vol rep replicate replica="$back" metadata="$meta" \
		> /dev/null || fail "create instance ($i)"
	assert_eq syncing "$(inst_stat $vol rep state)" "state before the resume"
	assert_eq 0 "$(inst_stat $vol rep resynced_bytes)" "copied before the resume ($i)"
	case $i in
	2) sleep 0.5 ;;
	4) sleep 0.05 ;;
	esac
	assert_eq 0 "$(inst_stat $vol rep resynced_bytes)" "copied before the resume ($i)"
	dmsetup --noudevsync remove $vol || fail "remove $vol ($i)"
done

# ---- 2. resumed later: the initial sync starts then
dd if=/dev/zero of="$meta" bs=4096 count=1 oflag=direct status=none
dmsetup --noudevsync create --notable $vol || fail "create $vol"
dmsetup --noudevsync load $vol --table "0 $SECT iofilter $ORIGIN $vol" || fail "load"
abi create $vol rep replicate replica="$back" metadata="$meta" > /dev/null ||
	fail "create instance"
sleep 0.5
assert_eq 0 "$(inst_stat $vol rep resynced_bytes)" "copied before the resume"
run dmsetup --noudevsync resume $vol
dmsetup --noudevsync mknodes $vol
rep_wait $vol rep state in-sync 90
rep_cmp /dev/mapper/$vol "$back" $((MB << 20))
abi remove $vol rep || fail "remove instance"

# ---- 3. created while the live volume is suspended: no copy until resume
dd if=/dev/zero of="$meta" bs=4096 count=1 oflag=direct status=none
run dmsetup --noudevsync suspend $vol
abi create $vol rep replicate replica="$back" metadata="$meta" > /dev/null ||
	fail "create instance while suspended"
sleep 1
assert_eq 0 "$(inst_stat $vol rep resynced_bytes)" "copied while suspended"
run dmsetup --noudevsync resume $vol
rep_wait $vol rep state in-sync 90
abi remove $vol rep || fail "remove instance"

dm_remove $vol
losetup -d "$back" "$meta" "$ORIGIN"
rmmod iofilter_replicate || fail "rmmod"
exit 0
