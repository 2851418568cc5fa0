#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: replicate: the dirty bitmap survives a table reload, an instance re-create and a VM reboot; after a crash every region is dirty; resync then makes the replica byte-identical
# CHECK: newest-kernel
# TIMEOUT: 600
# REQUIRES: dmsetup fio
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"
. "$IOF_ROOT/tests/lib/replicate.sh"

load_iofilter replicate
SECT=32768 SZ=$((16 << 20))
vol='t-rep-pers'
P=$IOF_PERSIST

# setup REPLICA-TABLE-KIND: loops over the persistent images, the volume,
# the replica dm device (linear or error)
setup() {
	ORIGIN=$(mkloop 16 "$P/origin.img") || exit 1
	BACK=$(mkloop 16 "$P/replica.img") || exit 1
	META=$(mkloop 1 "$P/meta.img") || exit 1
	dm_create $vol "0 $SECT iofilter $ORIGIN $vol" || fail "volume"
	DEV=/dev/mapper/$vol
	replica "$1" create
}
# replica linear|error [create]
replica() {
	local t="0 $SECT linear $BACK 0"
	[ "$1" = error ] && t="0 $SECT error"
	if [ "${2:-}" = create ]; then
		dm_create t-rep-pr "$t" || fail "replica dm"
	else
		{ dmsetup --noudevsync suspend t-rep-pr &&
			dmsetup --noudevsync reload t-rep-pr --table "$t" &&
			dmsetup --noudevsync resume t-rep-pr; } || fail "replica $1"
	fi
}
teardown() {
	abi load $vol action=pass > /dev/null
	abi remove $vol rep 2> /dev/null
	dm_remove $vol
	dm_remove t-rep-pr
	losetup -d "$ORIGIN" "$BACK" "$META"
}
create() {
	abi create $vol rep replicate replica=/dev/mapper/t-rep-pr metadata="$META" \
		region_size=128K > /dev/null || fail "create"
	id=$(abi status $vol rep | tr ' ' '\n' | sed -n 's/^id=//p')
	abi load $vol action=pass "ops=wdzf,action=filter,chain=$id" > /dev/null ||
		fail "load"
}

case "$IOF_PHASE" in
1)
	rm -f "$P"/*.img
	setup linear
	create
	rep_wait $vol rep state in-sync 120
	replica error
	run fio --name=deg --filename="$DEV" --offset=2M --size=12M --rw=randwrite \
		--bs=8k --number_ios=600 --ioengine=libaio --iodepth=8 --direct=1 \
		--output-format=terse > /dev/null || fail "writes while degraded"
	assert_eq degraded "$(inst_stat $vol rep state)" "state"
	n=$(inst_stat $vol rep dirty_regions)
	[ "$n" -gt 0 ] || fail "nothing dirty"
	log "dirty regions: $n"

	# a table reload keeps the instance and its bitmap
	{ run dmsetup --noudevsync reload $vol --table "0 $SECT iofilter $ORIGIN $vol" &&
		dmsetup --noudevsync resume $vol; } || fail "reload"
	assert_eq "$n" "$(inst_stat $vol rep dirty_regions)" "dirty after reload"
	wdd "$DEV" 0 4096 || fail "write after reload"
	n=$(inst_stat $vol rep dirty_regions)

	# a new instance on the same metadata reads the bitmap back
	abi load $vol action=pass > /dev/null
	abi remove $vol rep || fail "remove"
	create
	assert_eq "$n" "$(inst_stat $vol rep dirty_regions)" "dirty after re-create"
	[ "$(inst_stat $vol rep state)" != in-sync ] || fail "in sync with dirty regions"
	echo "$n" > "$P/dirty"
	teardown
	request_reboot
	;;
2)
	n=$(cat "$P/dirty")
	setup error
	create
	rep_wait $vol rep state degraded 60
	assert_eq "$n" "$(inst_stat $vol rep dirty_regions)" "dirty after reboot"
	cmp -s <(dd if="$DEV" bs=1M count=16 iflag=direct status=none) \
		<(dd if="$BACK" bs=1M count=16 iflag=direct status=none) &&
		fail "replica already identical: the test proves nothing"
	replica linear
	rep_wait $vol rep state in-sync 120
	assert_eq 0 "$(inst_stat $vol rep dirty_regions)" "dirty after resync"
	rep_cmp "$DEV" "$BACK" $SZ
	# now crash with the instance live: its metadata says "not clean"
	fio_verify "$DEV" 4M
	crash_reboot
	;;
3)
	setup error
	dmesg -C
	create
	rep_wait $vol rep state degraded 60
	dmesg | grep -q "not shut down cleanly" || fail "no unclean-shutdown notice"
	assert_eq "$(inst_stat $vol rep regions)" "$(inst_stat $vol rep dirty_regions)" \
		"every region dirty after a crash"
	replica linear
	rep_wait $vol rep state in-sync 120
	rep_cmp "$DEV" "$BACK" $SZ
	teardown
	rm -f "$P"/*.img "$P/dirty"
	rmmod iofilter_replicate || fail "rmmod"
	exit 0
	;;
esac
fail "unexpected phase $IOF_PHASE"
