#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: policy hot swap under live I/O: fio verify while tables swap many times a second; no error
# TIMEOUT: 400
# REQUIRES: dmsetup fio
. "$IOF_ROOT/tests/lib/common.sh"
. "$IOF_ROOT/tests/lib/iof.sh"

load_iofilter count
iof_volume t-swap 64
a=$(abi create t-swap a count) || fail "create a"
b=$(abi create t-swap b count defer=1) || fail "create b"

# two writers on disjoint halves; each verifies as it goes (backlog) and
# reads everything back at the end of each loop
fio --name=swap --filename="$DEV" --size=24M --offset_increment=24M \
	--numjobs=2 --rw=randwrite --bs=4k --ioengine=libaio --iodepth=16 \
	--direct=1 --verify=crc32c --verify_backlog=64 --verify_fatal=1 \
	--loops=3 --group_reporting --output="$IOF_TMP/fio.txt" & fio=$!
sleep 2
n0=$(abi stats t-swap | awk '$1 == "generation" { print $2 }')
abi swap t-swap 300 "start=0,len=24M,ops=rwdzf,action=filter,chain=$a" \
	"start=8M,len=32M,ops=rwdzf,action=filter,chain=$b" || fail "swap"
n1=$(abi stats t-swap | awk '$1 == "generation" { print $2 }')
wait $fio || { cat "$IOF_TMP/fio.txt"; fail "fio failed during swaps"; }
grep -E "err= *[1-9]" "$IOF_TMP/fio.txt" && fail "fio reported errors"
[ $((n1 - n0)) -ge 300 ] || fail "only $((n1 - n0)) swaps"
assert_eq 0 "$(stat_of t-swap vol.errors)" "volume errors"
log "swaps: $((n1 - n0)); filtered: $(stat_of t-swap vol.filtered)"
abi load t-swap action=pass > /dev/null
{ abi remove t-swap a && abi remove t-swap b; } || fail "remove instances"
dm_remove t-swap
exit 0
