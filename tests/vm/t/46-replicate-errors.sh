#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: replicate: replica on dm-error and dm-flakey: degrade keeps every write and records dirty regions, resync when it answers; fail mode fails writes cleanly
# CHECK: newest-kernel
# TIMEOUT: 600
# REQUIRES: dmsetup fio mod:dm-flakey
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/replicate.sh"

load_iofilter replicate
SZ=$((64 << 20)) SECT=131072
vol=t-rep-err

iof_volume $vol 64
back=$(mkloop 64)
meta=$(mkloop 1)
dm_create t-rep-r "0 $SECT linear $back 0" || fail "replica dm"
R=/dev/mapper/t-rep-r

# replica_table TABLE: swap the replica's table under the instance
replica_table() { dm_swap t-rep-r "$1"; }

id=$(abi create $vol rep replicate replica=$R metadata="$meta") || fail "create"
rep_wait $vol rep state in-sync 120
abi load $vol action=pass "ops=wdzf,action=filter,chain=$id" > /dev/null || fail "load"

# ---- degrade: the replica fails every I/O
replica_table "0 $SECT error"
fio_verify "$DEV" 16M		# no write may fail
rep_status $vol rep
assert_eq degraded "$(inst_stat $vol rep state)" "state after replica error"
d1=$(inst_stat $vol rep dirty_regions)
[ "$d1" -gt 0 ] || fail "no dirty regions recorded"
[ "$(inst_stat $vol rep errors)" -gt 0 ] || fail "no replica error counted"
assert_eq closed "$(inst_stat $vol rep replica)" "replica released while down"
# more writes elsewhere while degraded: dirty grows
wdd "$DEV" $((40 << 20)) $((4 << 20)) || fail "write while degraded"
d2=$(inst_stat $vol rep dirty_regions)
[ "$d2" -gt "$d1" ] || fail "dirty did not grow ($d1 -> $d2)"
# resync refused while the replica does not answer
expect_fail abi msg $vol rep resync
# a flush completes while degraded
wdd "$DEV" 0 4096 conv=fsync || fail "fsync while degraded"

# ---- the replica answers again: resync on its own, under live writes
replica_table "0 $SECT linear $back 0"
run fio --name=live --filename="$DEV" --size=64M --rw=randwrite --bs=16k \
	--ioengine=libaio --iodepth=8 --direct=1 --runtime=4 --time_based \
	--output-format=terse > /dev/null || fail "writes during resync"
rep_wait $vol rep state in-sync 120
assert_eq 0 "$(inst_stat $vol rep dirty_regions)" "dirty after resync"
rep_cmp "$DEV" "$back" $SZ

# ---- flakey: up 2 s, down 1 s; degrade keeps every write
replica_table "0 $SECT flakey $back 0 2 1"
run fio --name=flaky --filename="$DEV" --size=32M --rw=randwrite --bs=4k \
	--ioengine=libaio --iodepth=16 --direct=1 --runtime=8 --time_based \
	--fsync=32 --verify=crc32c --verify_fatal=1 --do_verify=1 \
	--output-format=terse > /dev/null || fail "fio on a flakey replica"
rep_status $vol rep
[ "$(inst_stat $vol rep errors)" -gt "0" ] || fail "flakey replica never failed"
replica_table "0 $SECT linear $back 0"
abi msg $vol rep resync > /dev/null 2>&1 || true	# or the probe does it
rep_wait $vol rep state in-sync 120
rep_cmp "$DEV" "$back" $SZ

# ---- on_error=fail: writes fail while the replica is down, reads work
abi load $vol action=pass > /dev/null
abi remove $vol rep || fail "remove"
id=$(abi create $vol repf replicate replica=$R metadata="$meta" on_error=fail) ||
	fail "create fail-mode instance on the same metadata"
assert_eq in-sync "$(inst_stat $vol repf state)" "clean metadata reloaded in sync"
abi load $vol action=pass "ops=wdzf,action=filter,chain=$id" > /dev/null || fail "load"
wdd "$DEV" $((1 << 20)) 65536 || fail "write before failure"
rdd "$DEV" $((1 << 20)) 65536 "$IOF_TMP/before" || fail "read"
replica_table "0 $SECT error"
expect_fail wdd "$DEV" $((2 << 20)) 4096	# finds the failure: fails
assert_eq failed "$(inst_stat $vol repf state)" "state in fail mode"
expect_fail wdd "$DEV" $((1 << 20)) 65536	# refused before the origin
rdd "$DEV" $((1 << 20)) 65536 "$IOF_TMP/after" || fail "read while failed"
assert_cmp_files "$IOF_TMP/before" "$IOF_TMP/after"
replica_table "0 $SECT linear $back 0"
rep_wait $vol repf state in-sync 60
wdd "$DEV" $((1 << 20)) 65536 || fail "write after the replica is back"
rep_cmp "$DEV" "$back" $SZ

abi load $vol action=pass > /dev/null
abi remove $vol repf || fail "remove"
dm_remove $vol
dm_remove t-rep-r
losetup -d "$back" "$meta" "$ORIGIN"
rmmod iofilter_replicate || fail "rmmod"
exit 0
