#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: cache filter: while the volume is suspended with dirty blocks and writeback under way, the origin is not written (no writeback, no flush); after resume writeback completes; an instance created on a volume not yet resumed starts no writeback before the resume
# CHECK: newest-kernel
# TIMEOUT: 240
# REQUIRES: dmsetup
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/cache.sh"

load_iofilter cache
OL=$(mkloop 64)
CD=$(mkloop 64)
# a slow origin (200 ms a write) keeps writeback busy for seconds
dm_create t-sus-o "0 $(dev_sectors "$OL") delay $OL 0 0 $OL 0 200" ||
	ktap_skip "no dm-delay"
# writeback runs as soon as 1% of the blocks are dirty, down to none
cache_volume t-sus /dev/mapper/t-sus-o "$CD" mode=writeback \
	low_watermark=0 high_watermark=1 || fail "create"
dd if=/dev/urandom of="$DEV" bs=1M count=32 oflag=direct status=none || fail "write"
dd if="$DEV" bs=1M count=32 iflag=direct status=none > "$IOF_TMP/ref" || fail "ref"
for _ in $(seq 1 50); do
	[ "$(cstat t-sus writebacks)" -gt 0 ] && break
	sleep 0.1
done
[ "$(cstat t-sus writebacks)" -gt 0 ] || fail "writeback did not start"

run dmsetup --noudevsync suspend t-sus || fail "suspend"
d1=$(cstat t-sus dirty)
w1=$(cstat t-sus writebacks)
s1=$(dd if="$OL" bs=1M count=32 iflag=direct status=none | md5sum)
log "suspended: dirty=$d1 writebacks=$w1"
[ "$d1" -gt 0 ] || fail "nothing dirty left at suspend: nothing proven"
sleep 3
assert_eq "$w1" "$(cstat t-sus writebacks)" "writebacks while suspended"
assert_eq "$d1" "$(cstat t-sus dirty)" "dirty blocks while suspended"
assert_eq "$s1" "$(dd if="$OL" bs=1M count=32 iflag=direct status=none | md5sum)" \
	"origin while suspended"
# a flush cannot write back now: refused, not queued
expect_fail abi msg t-sus c flush
assert_eq "$s1" "$(dd if="$OL" bs=1M count=32 iflag=direct status=none | md5sum)" \
	"origin after a flush while suspended"

run dmsetup --noudevsync resume t-sus || fail "resume"
for _ in $(seq 1 120); do
	[ "$(cstat t-sus dirty)" = 0 ] && break
	sleep 0.5
done
assert_eq 0 "$(cstat t-sus dirty)" "dirty after resume"
log "$(abi status t-sus c)"
dd if="$OL" bs=1M count=32 iflag=direct status=none | cmp - "$IOF_TMP/ref" ||
	fail "origin after writeback"

# dirty blocks again, then the volume goes without a flush: they stay on
# the cache device for the next instance
head -c 16M /dev/urandom > "$IOF_TMP/new"
{ cat "$IOF_TMP/new"; tail -c +$((16 * 1048576 + 1)) "$IOF_TMP/ref"; } > "$IOF_TMP/ref2"
dd if="$IOF_TMP/new" of="$DEV" bs=1M oflag=direct conv=fsync status=none ||
	fail "write again"
run dmsetup --noudevsync suspend t-sus || fail "suspend"
[ "$(cstat t-sus dirty)" -gt 0 ] || fail "nothing dirty before the remove: nothing proven"
dm_remove t-sus
# a volume loaded but not resumed: the new instance finds the dirty blocks
# and must not write them back (nor tick) before the resume
dmsetup --noudevsync create --notable t-sus || fail "create t-sus"
dmsetup --noudevsync load t-sus --table "0 $(dev_sectors "$OL") iofilter /dev/mapper/t-sus-o t-sus" ||
	fail "load t-sus"
CID=$(abi create t-sus c cache cache_dev="$CD" mode=writeback low_watermark=0 high_watermark=1) ||
	fail "create the instance on the volume not resumed"
d1=$(cstat t-sus dirty)
s1=$(dd if="$OL" bs=1M count=32 iflag=direct status=none | md5sum)
log "not resumed: $(abi status t-sus c)"
[ "$d1" -gt 0 ] || fail "the new instance found no dirty blocks"
sleep 3
assert_eq 0 "$(cstat t-sus writebacks)" "writebacks before the resume"
assert_eq "$s1" "$(dd if="$OL" bs=1M count=32 iflag=direct status=none | md5sum)" \
	"origin before the resume"
abi load t-sus action=pass "ops=rwdzf,action=filter,chain=$CID" > /dev/null ||
	fail "load rules"
run dmsetup --noudevsync resume t-sus || fail "resume"
for _ in $(seq 1 120); do
	[ "$(cstat t-sus dirty)" = 0 ] && break
	sleep 0.5
done
assert_eq 0 "$(cstat t-sus dirty)" "dirty after the resume"
dd if="$OL" bs=1M count=32 iflag=direct status=none | cmp - "$IOF_TMP/ref2" ||
	fail "origin after writeback of the reloaded dirty blocks"
abi load t-sus action=pass > /dev/null || fail "unbind"
abi remove t-sus c || fail "remove"
dm_remove t-sus
dm_remove t-sus-o
losetup -d "$OL" "$CD"
exit 0
