#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: replicate: regions larger than one 1 MiB copy (4 MiB, 1 GiB) resync to in-sync under live writes and the pair is identical (regression: resync of a region above 1 MiB failed, degraded and retried for ever)
# CHECK: newest-kernel
# TIMEOUT: 240
# REQUIRES: dmsetup fio
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/replicate.sh"

load_iofilter replicate
SZ=$((32 << 20))
vol=t-rep-big

iof_volume $vol 32
back=$(mkloop 32)
meta=$(mkloop 1)
# data on the origin before the instance exists: the initial sync copies it
run dd if=/dev/urandom of="$DEV" bs=1M count=32 oflag=direct status=none

for rs in 4M 1G; do
	dd if=/dev/zero of="$meta" bs=4096 count=1 oflag=direct status=none
	id=$(abi create $vol rep replicate replica="$back" metadata="$meta" \
		region_size=$rs) || fail "create region_size=$rs"
	abi load $vol action=pass "ops=wdzf,action=filter,chain=$id" > /dev/null ||
		fail "load"
	# writes while the big regions are copied: they wait for the copy of
	# their region, or go to both legs once it is clean
	run fio --name=live --filename="$DEV" --size=$SZ --rw=randwrite \
		--bsrange=4k-256k --ioengine=libaio --iodepth=8 --direct=1 \
		--runtime=3 --time_based --output-format=terse > /dev/null ||
		fail "writes during the initial sync (region_size=$rs)"
	rep_wait $vol rep state in-sync 90
	rep_status $vol rep
	assert_eq 0 "$(inst_stat $vol rep errors)" "replica errors (region_size=$rs)"
	assert_eq 0 "$(inst_stat $vol rep dirty_regions)" "dirty regions (region_size=$rs)"
	rep_cmp "$DEV" "$back" $SZ
	abi load $vol action=pass > /dev/null || fail "unload"
	abi remove $vol rep || fail "remove"
done

dm_remove $vol
losetup -d "$back" "$meta" "$ORIGIN"
rmmod iofilter_replicate || fail "rmmod"
exit 0
