#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: runner self-test: disk images survive a clean reboot and a reset (phases 1, 2, 3)
# TIMEOUT: 120
# REQUIRES: losetup
. "$IOF_ROOT/tests/lib/common.sh"
img=$IOF_PERSIST/disk.img
boot_id=$(cat /proc/sys/kernel/random/boot_id)
log "phase $IOF_PHASE, boot $boot_id"

# check_previous: another boot than the previous phase, and the data it wrote
check_previous() {
	[ "$(cat "$IOF_PERSIST/boot_id")" != "$boot_id" ] || fail "no reboot happened"
	dev=$(mkloop 64 "$img")
	run dd if="$dev" of="$IOF_TMP/back" bs=1M count=1 seek=0 skip="$1" iflag=direct status=none
	assert_cmp_files "$IOF_PERSIST/pattern$2" "$IOF_TMP/back"
	run losetup -d "$dev"
}

case "$IOF_PHASE" in
1)
	dev=$(mkloop 64 "$img")
	head -c 1M /dev/urandom > "$IOF_PERSIST/pattern1"
	run dd if="$IOF_PERSIST/pattern1" of="$dev" bs=1M seek=3 oflag=direct status=none
	run losetup -d "$dev"
	echo "$boot_id" > "$IOF_PERSIST/boot_id"
	log "asking for a reboot"
	request_reboot ;;
2)
	check_previous 3 1
	dev=$(mkloop 64 "$img")
	head -c 1M /dev/urandom > "$IOF_PERSIST/pattern2"
	run dd if="$IOF_PERSIST/pattern2" of="$dev" bs=1M seek=7 oflag=direct status=none
	echo "$boot_id" > "$IOF_PERSIST/boot_id"
	log "resetting the VM"
	crash_reboot ;;
3)
	check_previous 3 1
	check_previous 7 2
	exit 0 ;;
*)
	fail "unexpected phase $IOF_PHASE" ;;
esac
