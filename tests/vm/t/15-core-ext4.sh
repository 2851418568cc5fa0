#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: ext4 on an iofilter volume with a deferring chain: file workload, fsck clean
# TIMEOUT: 300
# REQUIRES: mkfs.ext4 fsck.ext4
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"

load_iofilter count
iof_volume t-ext4 128
a=$(abi create t-ext4 a count defer=1) || fail "create"
abi load t-ext4 action=pass "start=0,len=64M,ops=rwdzf,action=filter,chain=$a" > /dev/null ||
	fail "load"
run mkfs.ext4 -q -F "$DEV" || fail "mkfs"
mnt=$IOF_TMP/mnt
mkdir -p "$mnt"
run mount "$DEV" "$mnt" || fail "mount"
for i in $(seq 1 40); do
	dd if=/dev/urandom of="$mnt/f$i" bs=64k count=$((i % 7 + 1)) status=none || fail "write f$i"
done
sha1sum "$mnt"/f* > "$IOF_TMP/sums"
cp -a /usr/share/doc/bash "$mnt/" 2>/dev/null || true
rm -f "$mnt"/f1[0-9]
sync
umount "$mnt" || fail "umount"
run fsck.ext4 -fn "$DEV" || fail "fsck found problems"
run mount "$DEV" "$mnt" || fail "remount"
grep -v '/f1[0-9]$' "$IOF_TMP/sums" | sha1sum -c --quiet || fail "file contents"
umount "$mnt"
[ "$(inst_stat t-ext4 a writes)" -gt 0 ] || fail "filter saw nothing"
[ "$(inst_stat t-ext4 a flushes)" -gt 0 ] || fail "filter saw no flush"
abi load t-ext4 action=pass > /dev/null
abi remove t-ext4 a
dm_remove t-ext4
exit 0
