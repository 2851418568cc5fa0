#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: replicate over a write-back cache: the initial sync and a resync copy what the cache holds (its dirty blocks), not the stale origin, and promote nothing
# TIMEOUT: 600
# REQUIRES: dmsetup fio
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/replicate.sh"

load_iofilter replicate cache
SZ=$((64 << 20)) SECT=131072
vol=t-rep-cache

iof_volume $vol 64
back=$(mkloop 64)
meta=$(mkloop 1)
cdev=$(mkloop 64)
dm_create t-rc-r "0 $SECT linear $back 0" || fail "replica dm"
R=/dev/mapper/t-rc-r

replica_table() { dm_swap t-rc-r "$1"; }

# origin_stale OFF LEN: the volume reads other data than its origin holds
# there (the cache has newer, dirty data): what makes the checks below mean
# something
origin_stale() {
	if cmp -s <(dd if="$DEV" bs=1M skip=$(($1 >> 20)) count=$(($2 >> 20)) \
			iflag=direct status=none) \
		  <(dd if="$ORIGIN" bs=1M skip=$(($1 >> 20)) count=$(($2 >> 20)) \
			iflag=direct status=none); then
		fail "the origin already holds what the cache holds at $1"
	fi
}

# a write-back cache that keeps its dirty blocks (no writeback, no bypass)
# and would promote on every read miss
cid=$(abi create $vol c cache cache_dev="$cdev" mode=writeback promote_hits=1 \
	seq_threshold=0 low_watermark=95 high_watermark=100) || fail "create cache"
abi load $vol action=pass "ops=rwdzf,action=filter,chain=$cid" > /dev/null ||
	fail "load cache rule"
wdd "$DEV" $((8 << 20)) $((4 << 20)) || fail "write through the cache"
[ "$(inst_stat $vol c dirty)" -gt 0 ] || fail "no dirty blocks in the cache"
origin_stale $((8 << 20)) $((4 << 20))

# ---- a new replica's full initial sync reads through the cache, which
# serves it but promotes nothing for it (the resync's reads are background)
p0=$(inst_stat $vol c promotions) b0=$(inst_stat $vol c bypassed)
rid=$(abi create $vol rep replicate replica=$R metadata="$meta") || fail "create replicate"
rep_wait $vol rep state in-sync 120
rep_status $vol rep
log "c: $(abi status $vol c)"
assert_eq "$p0" "$(inst_stat $vol c promotions)" "promotions during the initial sync"
[ "$(inst_stat $vol c bypassed)" -gt "$b0" ] || fail "resync reads not seen by the cache"
rep_cmp "$DEV" "$back" $SZ
abi load $vol action=pass "ops=rwdzf,action=filter,chain=$rid+$cid" > /dev/null ||
	fail "load replicate+cache rule"

# ---- degraded: writes land dirty in the cache, the replica misses them
replica_table "0 $SECT error"
wdd "$DEV" $((20 << 20)) $((4 << 20)) || fail "write while the replica fails"
rep_wait $vol rep state degraded 30
fio_verify "$DEV" 8M --offset=32M --bs=4k
d=$(inst_stat $vol rep dirty_regions)
[ "$d" -gt 0 ] || fail "no dirty regions recorded"
origin_stale $((20 << 20)) $((4 << 20))

# ---- resync under live writes copies the cache's data (throttled copier)
thr=/sys/module/iofilter_replicate/parameters/resync_throttle
[ "$(cat $thr)" = 100 ] || fail "resync_throttle default"
echo 30 > $thr || fail "set resync_throttle"
replica_table "0 $SECT linear $back 0"
abi msg $vol rep resync > /dev/null 2>&1 || true	# or the probe does it
run fio --name=live --filename="$DEV" --size=16M --rw=randwrite --bs=16k \
	--ioengine=libaio --iodepth=8 --direct=1 --runtime=3 --time_based \
	--output-format=terse > /dev/null || fail "writes during resync"
rep_wait $vol rep state in-sync 120
echo 100 > $thr
rep_status $vol rep
assert_eq 0 "$(inst_stat $vol rep dirty_regions)" "dirty after resync"
[ "$(inst_stat $vol c dirty)" -gt 0 ] || fail "the cache was written back: nothing proven"
rep_cmp "$DEV" "$back" $SZ

# ---- a suspended volume gets no background I/O: resync pauses, goes on at resume
replica_table "0 $SECT error"
wdd "$DEV" $((40 << 20)) $((8 << 20)) || fail "write while the replica fails"
rep_wait $vol rep state degraded 30
echo 1 > $thr || fail "set resync_throttle"	# slow: a rest of 99x each copy
replica_table "0 $SECT linear $back 0"
abi msg $vol rep resync > /dev/null 2>&1 || true
rep_wait $vol rep state syncing 30
run dmsetup --noudevsync suspend $vol || fail "suspend"
r1=$(inst_stat $vol rep resynced_bytes)
sleep 3
assert_eq "$r1" "$(inst_stat $vol rep resynced_bytes)" "bytes resynced while suspended"
assert_eq syncing "$(inst_stat $vol rep state)" "state while suspended"
echo 100 > $thr
run dmsetup --noudevsync resume $vol || fail "resume"
rep_wait $vol rep state in-sync 120
rep_cmp "$DEV" "$back" $SZ

# ---- the cache flushed, the origin matches the replica too
out=$(abi msg $vol c flush) || fail "cache flush"
log "$out"
rep_cmp "$ORIGIN" "$back" $SZ

abi load $vol action=pass > /dev/null
abi remove $vol rep || fail "remove replicate"
abi remove $vol c || fail "remove cache"
dm_remove $vol
dm_remove t-rc-r
losetup -d "$back" "$meta" "$cdev" "$ORIGIN"
rmmod iofilter_replicate iofilter_cache || fail "rmmod"
exit 0
