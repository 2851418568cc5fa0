#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: iofilter target: passthrough data, status/table, reload keeps the volume, resize, suspend/resume
# TIMEOUT: 300
# REQUIRES: dmsetup fio
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"

load_iofilter count
iof_volume t-core 64

# no rules: plain passthrough, data intact, bytes land on the origin as is
fio_verify "$DEV" 16M
wdd "$DEV" 0 1M || fail "write"
cmp -n 1048576 "$DEV" "$ORIGIN" || fail "origin differs from the volume"

# table read back re-parses; status has the documented fields
tbl=$(dmsetup table t-core)
log "table: $tbl"
case "$tbl" in *" iofilter "*" t-core") ;; *) fail "table line: $tbl" ;; esac
st=$(dmsetup status t-core)
log "status: $st"
assert_eq 18 "$(echo "$st" | wc -w)" "status field count"
assert_eq 1 "$(dm_field t-core 1)" "generation"
[ "$(dm_field t-core 5)" -gt 0 ] || fail "writes not counted"

# volume state survives a table reload: instance and rules stay
id=$(abi create t-core c1 count) || fail "create instance"
gen=$(abi load t-core action=pass "start=0,len=1M,ops=rwdzf,action=filter,chain=$id") || fail "load"
run dmsetup --noudevsync reload t-core --table "0 $((64 * 2048)) iofilter $ORIGIN t-core" || fail "reload"
run dmsetup --noudevsync resume t-core || fail "resume"
assert_eq "$gen" "$(dm_field t-core 1)" "generation after reload"
rdd "$DEV" 0 4096 || fail "read after reload"
[ "$(inst_stat t-core c1 reads)" -ge 1 ] || fail "instance lost its rule across reload"

# a reload may not change the origin, nor may another device take the name
other=$(mkloop 64)
expect_fail dmsetup --noudevsync reload t-core --table "0 1024 iofilter $other t-core"
expect_fail dm_create t-core2 "0 1024 iofilter $other t-core"
expect_fail dm_create t-bad "0 1024 iofilter $other"
expect_fail dm_create t-bad "0 1024 iofilter /dev/nonexistent t-bad"
expect_fail dm_create t-bad "0 1024 iofilter $other bad/name"
expect_fail dm_create t-bad "0 $((200 * 2048)) iofilter $other t-bad"
dmsetup remove t-bad 2>/dev/null || true

# resize: shrink then grow back
run dmsetup --noudevsync suspend t-core || fail "suspend"
run dmsetup --noudevsync reload t-core --table "0 $((32 * 2048)) iofilter $ORIGIN t-core" || fail "reload small"
run dmsetup --noudevsync resume t-core || fail "resume small"
assert_eq $((32 * 2048)) "$(blockdev --getsz "$DEV")" "size after shrink"
expect_fail abi load t-core action=pass "start=40M,len=1M,ops=w,action=deny"
run dmsetup --noudevsync reload t-core --table "0 $((64 * 2048)) iofilter $ORIGIN t-core" || fail "reload big"
run dmsetup --noudevsync resume t-core || fail "resume big"
abi load t-core action=pass "start=40M,len=1M,ops=w,action=deny" > /dev/null || fail "rule in grown area"
expect_fail wdd "$DEV" $((40 << 20)) 4096

# suspend with I/O queued, resume: the I/O completes
abi load t-core action=pass > /dev/null
run dmsetup --noudevsync suspend t-core
( rdd "$DEV" 0 4096 ) & rd=$!
sleep 1
kill -0 $rd 2>/dev/null || fail "I/O did not wait for the suspended device"
run dmsetup --noudevsync resume t-core
wait $rd || fail "queued read failed"

# filter module unload refused while an instance exists
expect_fail rmmod iofilter_count
abi remove t-core c1 || fail "remove instance"
dm_remove t-core || fail "remove"
run rmmod iofilter_count || fail "rmmod count after its instance went"
run rmmod iofilter || fail "rmmod iofilter"
exit 0
