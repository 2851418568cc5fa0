#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: replicate: initial sync, then fio writes with flushes, discard and write-zeroes leave origin and replica byte-identical, sync (replica legs from the writer and from the worker) and async (io_uring over null_blk: 16-core-nowait)
# TIMEOUT: 600
# REQUIRES: dmsetup fio blkdiscard
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/replicate.sh"

load_iofilter replicate
SZ=$((64 << 20))
OFFLOAD=/sys/module/iofilter_replicate/parameters/sync_offload_bytes
[ -w $OFFLOAD ] || fail "no $OFFLOAD"
offload_default=$(cat $OFFLOAD)

# sync: replica legs of 64 KiB and more go to a worker by default, so the
# workloads below use both paths; "sync-worker" sends every leg there
for variant in sync sync-worker async; do
	mode=${variant%-worker}
	vol=t-rep-$variant
	if [ $variant != $mode ]; then
		echo 4096 > $OFFLOAD
	else
		echo "$offload_default" > $OFFLOAD
	fi
	iof_volume "$vol" 64
	repl=$(mkloop 64)
	meta=$(mkloop 1)
	# data on the origin before the instance exists: the initial sync copies it
	wdd "$DEV" $((8 << 20)) $((4 << 20)) || fail "pre-write"
	extra=
	# async: a small max_lag (completions wait for the replica) that
	# still lets two 1 MiB copy buffers be kept for reuse
	[ $mode = async ] && extra=max_lag=2M
	id=$(abi create "$vol" rep replicate replica="$repl" metadata="$meta" \
		mode=$mode region_size=64K $extra) || fail "create ($mode)"
	rep_wait "$vol" rep state in-sync 120
	assert_eq 0 "$(inst_stat "$vol" rep dirty_regions)" "dirty after initial sync"
	assert_eq 100 "$(inst_stat "$vol" rep sync_pct)" "sync_pct"
	assert_eq $mode "$(inst_stat "$vol" rep mode)" "mode"
	rep_cmp "$ORIGIN" "$repl" $SZ

	abi load "$vol" action=pass "ops=wdzf,action=filter,chain=$id" > /dev/null ||
		fail "load"
	# random writes with fsyncs (flushes), verified through the volume;
	# a sequential pass of 1 MiB writes; mixed sizes at QD32 (one pass:
	# no two writes to a block in flight at once, whose order would be
	# undefined)
	fio_verify "$DEV" 16M --fsync=7
	run fio --name=seq --filename="$DEV" --offset=16M --size=32M --rw=write \
		--bs=1m --ioengine=libaio --iodepth=8 --direct=1 --fsync=4 \
		--output-format=terse > /dev/null || fail "fio seq"
	run fio --name=mixed --filename="$DEV" --size=48M --rw=randrw --bs=4k-64k \
		--ioengine=libaio --iodepth=32 --direct=1 --fsync=16 \
		--output-format=terse > /dev/null || fail "fio mixed"
	# dependent overwrites of one small area (QD1: each write completes
	# before the next): in async mode the replica copies overlap in flight
	# and must land in order
	run fio --name=overwrite --filename="$DEV" --offset=60M --size=64k \
		--rw=randwrite --bs=4k --norandommap --randrepeat=0 --io_size=12M \
		--ioengine=psync --direct=1 --output-format=terse > /dev/null ||
		fail "fio overwrite"
	# discard and write-zeroes reach the replica too
	run blkdiscard -o $((20 << 20)) -l $((2 << 20)) "$DEV" || fail "discard"
	run blkdiscard -z -o $((24 << 20)) -l $((2 << 20)) "$DEV" || fail "write-zeroes"
	sync
	out=$(abi msg "$vol" rep flush) || fail "flush message"
	log "flush: $out"
	rep_status "$vol" rep
	assert_eq 0 "$(inst_stat "$vol" rep lag_bytes)" "lag after flush"
	assert_eq 0 "$(inst_stat "$vol" rep errors)" "replica errors"
	# a replica that cannot write zeroes gets the region by resync
	rep_wait "$vol" rep state in-sync 60
	rep_cmp "$ORIGIN" "$repl" $SZ
	[ "$(stat_of "$vol" vol.filtered)" -gt 0 ] || fail "nothing was filtered"

	# resync full: copies everything again, ends in sync
	abi msg "$vol" rep resync full || fail "resync full"
	rep_wait "$vol" rep state in-sync 120
	rep_cmp "$ORIGIN" "$repl" $SZ
	expect_fail abi msg "$vol" rep bogus

	abi load "$vol" action=pass > /dev/null
	abi remove "$vol" rep || fail "remove"
	dm_remove "$vol"
	losetup -d "$repl" "$meta" "$ORIGIN"
done

rmmod iofilter_replicate || fail "rmmod"
exit 0
