#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: replicate async with the smallest max_lag under fio verify at QD32 from two jobs, then at QD1 from one: every throttled completion is released (regression: a lost wakeup between a replica copy's free and the throttle check hung writes)
# CHECK: newest-kernel
# TIMEOUT: 150
# REQUIRES: dmsetup fio
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/replicate.sh"

load_iofilter replicate
vol=t-rep-thr

iof_volume $vol 64
back=$(mkloop 64)
meta=$(mkloop 1)
# completions where the device completes them, not steered back to the
# submitting CPU: the origin's and the replica's of one write can then
# run at the same time, as on a multi-queue device
for d in "$ORIGIN" "$back"; do
	echo 0 > "/sys/block/${d#/dev/}/queue/rq_affinity" || fail "rq_affinity"
done
id=$(abi create $vol rep replicate replica="$back" metadata="$meta" \
	mode=async max_lag=4K) || fail "create"
rep_wait $vol rep state in-sync 90
abi load $vol action=pass "ops=wdzf,action=filter,chain=$id" > /dev/null || fail "load"

# two writers on their own halves, so completions race on both CPUs;
# every completion past max_lag is held until a replica copy is freed
for j in 0 1; do
	fio --name=thr$j --filename="$DEV" --offset=$((j * 32))M --size=32M \
		--rw=randwrite --bsrange=4k-64k --ioengine=libaio --iodepth=32 \
		--direct=1 --runtime=6 --time_based --verify=crc32c \
		--verify_fatal=1 --do_verify=1 --verify_backlog=256 \
		--output-format=terse > "$IOF_TMP/fio$j.out" 2>&1 &
	pids[j]=$!
done
for j in 0 1; do
	wait "${pids[j]}" || { cat "$IOF_TMP/fio$j.out"; fail "fio job $j"; }
done
# one write at a time, from one writer: each write is the last in
# flight, and a completion whose wakeup is lost has nobody after it to
# release it
run fio --name=qd1 --filename="$DEV" --size=64M --rw=randwrite \
	--bsrange=8k-64k --ioengine=libaio --iodepth=1 --direct=1 \
	--runtime=8 --time_based --output-format=terse > /dev/null ||
	fail "fio QD1"
rep_status $vol rep
rep_wait $vol rep lag_bytes 0 30
abi msg $vol rep flush > /dev/null || fail "flush"
rep_cmp "$DEV" "$back" $((64 << 20))

abi load $vol action=pass > /dev/null
abi remove $vol rep || fail "remove"
dm_remove $vol
losetup -d "$back" "$meta" "$ORIGIN"
rmmod iofilter_replicate || fail "rmmod"
exit 0
